/*
 * test_admin.c - unit tests for proxy/admin.c: the admin listener on
 * 127.0.0.1 with a free port, stub admin_ops recording their calls, driven
 * by libevent's HTTP client on the same event base.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "proxy/admin.h"
#include "proxy/log.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define CT_JSON		"application/json"
#define CT_METRICS	"text/plain; version=0.0.4; charset=utf-8"
#define CT_FORM		"application/x-www-form-urlencoded"

/* What the stub ops were called with, and what they answer. */
static struct {
	int			 metrics_calls, list_calls;
	int			 add_calls, remove_calls;
	struct sockaddr_storage	 sa;		/* of the last add or remove */
	unsigned		 plen;
	uint64_t		 ttl_ms;
	int			 metrics_rc, add_rc, remove_rc;
	int			 nbans;		/* listed by ban_list: 0..2 */
} stub;

static int
stub_metrics(struct evbuffer *out)
{
	stub.metrics_calls++;
	if (stub.metrics_rc != 0)
		return stub.metrics_rc;
	evbuffer_add_printf(out, "# TYPE h2guard_test gauge\nh2guard_test 1\n");
	return 0;
}

static void
stub_ban_list(admin_ban_fn *fn, void *arg)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct sockaddr		 unknown;

	stub.list_calls++;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.0", &sin.sin_addr);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::", &sin6.sin6_addr);
	memset(&unknown, 0, sizeof(unknown));
	unknown.sa_family = AF_UNIX;		/* not listed */
	if (stub.nbans > 0)
		fn(arg, (struct sockaddr *)&sin, 24, 12345);
	if (stub.nbans > 1) {
		fn(arg, &unknown, 0, 1);
		fn(arg, (struct sockaddr *)&sin6, 64, 500);
	}
}

static void
stub_record(const struct sockaddr *sa, unsigned plen)
{
	memset(&stub.sa, 0, sizeof(stub.sa));
	memcpy(&stub.sa, sa, sa->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	stub.plen = plen;
}

static int
stub_ban_add(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms)
{
	stub.add_calls++;
	stub_record(sa, plen);
	stub.ttl_ms = ttl_ms;
	return stub.add_rc;
}

static int
stub_ban_remove(const struct sockaddr *sa, unsigned plen)
{
	stub.remove_calls++;
	stub_record(sa, plen);
	return stub.remove_rc;
}

static const char *stub_token_value;	/* NULL: no admin_token */

static const char *
stub_token(void)
{
	return stub_token_value;
}

static const struct admin_ops stub_ops = {
	.metrics = stub_metrics,
	.ban_list = stub_ban_list,
	.ban_add = stub_ban_add,
	.ban_remove = stub_ban_remove,
	.token = stub_token,
};

static struct event_base	*base;
static struct admin		*adm;
static uint16_t			 port;

/* A port free on 127.0.0.1 a moment ago; the address in sin. */
static uint16_t
free_port(struct sockaddr_in *sin)
{
	socklen_t	 len = sizeof(*sin);
	int		 fd;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	close(fd);
	return ntohs(sin->sin_port);
}

static void
setup(void)
{
	struct sockaddr_in	 sin;

	log_set_level(LOG_ERR);	/* no line per ban */
	memset(&stub, 0, sizeof(stub));
	stub_token_value = NULL;
	stub.nbans = 2;
	stub.remove_rc = 1;
	ck_assert_ptr_nonnull(base = event_base_new());
	port = free_port(&sin);
	adm = admin_new(base, (struct sockaddr *)&sin, sizeof(sin),
	    "127.0.0.1:test", &stub_ops);
	ck_assert_ptr_nonnull(adm);
}

static void
teardown(void)
{
	admin_free(adm);
	adm = NULL;
	event_base_free(base);
	base = NULL;
}

/* One answer as the client saw it. */
struct reply {
	int	 done;
	int	 code;		/* -1: no answer */
	char	 body[4096];
	char	 ctype[128];
	char	 allow[128];
};

static void
copy_header(struct evhttp_request *req, const char *name, char *buf,
    size_t len)
{
	const char	*v = evhttp_find_header(
	    evhttp_request_get_input_headers(req), name);

	snprintf(buf, len, "%s", v != NULL ? v : "");
}

static void
on_reply(struct evhttp_request *req, void *arg)
{
	struct reply	*r = arg;
	struct evbuffer	*in;
	size_t		 len;

	r->done = 1;
	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		r->code = -1;
		return;
	}
	r->code = evhttp_request_get_response_code(req);
	copy_header(req, "Content-Type", r->ctype, sizeof(r->ctype));
	copy_header(req, "Allow", r->allow, sizeof(r->allow));
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	ck_assert_uint_lt(len, sizeof(r->body));
	evbuffer_remove(in, r->body, len);
	r->body[len] = '\0';
}

/*
 * Sends method uri (with body of content type ctype when body is not
 * NULL, and the fields of extra: name, value, ..., NULL; Host is
 * 127.0.0.1:port unless extra has one) on a new connection and waits for
 * the answer in r.
 */
static void
request_with(enum evhttp_cmd_type method, const char *uri, const char *ctype,
    const char *body, const char *const *extra, struct reply *r)
{
	struct evhttp_connection	*c;
	struct evhttp_request		*req;
	struct evkeyvalq		*h;
	char				 len[32], host[32];

	memset(r, 0, sizeof(*r));
	c = evhttp_connection_base_new(base, NULL, "127.0.0.1", port);
	ck_assert_ptr_nonnull(c);
	evhttp_connection_set_timeout(c, 3);
	ck_assert_ptr_nonnull(req = evhttp_request_new(on_reply, r));
	h = evhttp_request_get_output_headers(req);
	for (; extra != NULL && extra[0] != NULL; extra += 2)
		evhttp_add_header(h, extra[0], extra[1]);
	if (evhttp_find_header(h, "Host") == NULL) {
		snprintf(host, sizeof(host), "127.0.0.1:%u", port);
		evhttp_add_header(h, "Host", host);
	}
	if (body != NULL) {
		if (ctype != NULL)
			evhttp_add_header(h, "Content-Type", ctype);
		snprintf(len, sizeof(len), "%zu", strlen(body));
		evhttp_add_header(h, "Content-Length", len);
		evbuffer_add(evhttp_request_get_output_buffer(req), body,
		    strlen(body));
	}
	ck_assert_int_eq(evhttp_make_request(c, req, method, uri), 0);
	while (!r->done)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_ONCE), 0);
	evhttp_connection_free(c);
}

static void
request(enum evhttp_cmd_type method, const char *uri, const char *ctype,
    const char *body, struct reply *r)
{
	request_with(method, uri, ctype, body, NULL, r);
}

/* Checks r is a JSON error answer with code. */
static void
assert_error(const struct reply *r, int code, const char *what)
{
	size_t	 len = strlen(r->body);

	ck_assert_msg(r->code == code, "%s: %d, not %d (%s)", what, r->code,
	    code, r->body);
	ck_assert_str_eq(r->ctype, CT_JSON);
	ck_assert_msg(strncmp(r->body, "{\"error\":\"", 10) == 0 && len > 13 &&
	    strcmp(r->body + len - 3, "\"}\n") == 0, "%s: body %s", what,
	    r->body);
}

/* Whether the stub's last address is the text a with plen. */
static void
assert_stub_prefix(const char *a, unsigned plen)
{
	char	 buf[INET6_ADDRSTRLEN];
	const void *p;

	if (stub.sa.ss_family == AF_INET)
		p = &((struct sockaddr_in *)&stub.sa)->sin_addr;
	else {
		ck_assert_int_eq(stub.sa.ss_family, AF_INET6);
		p = &((struct sockaddr_in6 *)&stub.sa)->sin6_addr;
	}
	ck_assert_ptr_nonnull(inet_ntop(stub.sa.ss_family, p, buf,
	    sizeof(buf)));
	ck_assert_str_eq(buf, a);
	ck_assert_uint_eq(stub.plen, plen);
}

START_TEST(test_metrics)
{
	struct reply	 r;

	request(EVHTTP_REQ_GET, "/metrics", NULL, NULL, &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.ctype, CT_METRICS);
	ck_assert_str_eq(r.body, "# TYPE h2guard_test gauge\nh2guard_test 1\n");
	ck_assert_int_eq(stub.metrics_calls, 1);

	/* The query string does not matter. */
	request(EVHTTP_REQ_GET, "/metrics?name=x", NULL, NULL, &r);
	ck_assert_int_eq(r.code, 200);

	stub.metrics_rc = -ENOMEM;
	request(EVHTTP_REQ_GET, "/metrics", NULL, NULL, &r);
	assert_error(&r, 500, "metrics -ENOMEM");
}
END_TEST

START_TEST(test_bans_list)
{
	struct reply	 r;

	request(EVHTTP_REQ_GET, "/bans", NULL, NULL, &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.ctype, CT_JSON);
	ck_assert_str_eq(r.body, "{\"bans\":["
	    "{\"address\":\"192.0.2.0/24\",\"ttl_ms\":12345},"
	    "{\"address\":\"2001:db8::/64\",\"ttl_ms\":500}]}\n");
	ck_assert_int_eq(stub.list_calls, 1);

	stub.nbans = 1;
	request(EVHTTP_REQ_GET, "/bans", NULL, NULL, &r);
	ck_assert_str_eq(r.body, "{\"bans\":["
	    "{\"address\":\"192.0.2.0/24\",\"ttl_ms\":12345}]}\n");

	stub.nbans = 0;
	request(EVHTTP_REQ_GET, "/bans", NULL, NULL, &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.body, "{\"bans\":[]}\n");
	ck_assert_int_eq(stub.add_calls + stub.remove_calls, 0);
}
END_TEST

START_TEST(test_bans_add)
{
	static const struct {
		const char	*uri;
		const char	*body;		/* a form, or NULL */
		const char	*answer;
		const char	*addr;		/* as ban_add got it */
		unsigned	 plen;
		uint64_t	 ttl_ms;
	} t[] = {
		{ "/bans?address=192.0.2.7&ttl=10s", NULL,
		  "{\"banned\":\"192.0.2.7/32\",\"ttl_ms\":10000}\n",
		  "192.0.2.7", 32, 10000 },
		/* Host bits cleared. */
		{ "/bans?address=192.0.2.7/24&ttl=500ms", NULL,
		  "{\"banned\":\"192.0.2.0/24\",\"ttl_ms\":500}\n",
		  "192.0.2.0", 24, 500 },
		{ "/bans?address=198.51.100.255/1&ttl=5m", NULL,
		  "{\"banned\":\"128.0.0.0/1\",\"ttl_ms\":300000}\n",
		  "128.0.0.0", 1, 300000 },
		{ "/bans?ttl=1h&address=2001:db8::1", NULL,
		  "{\"banned\":\"2001:db8::1/128\",\"ttl_ms\":3600000}\n",
		  "2001:db8::1", 128, 3600000 },
		/* Percent-encoded. */
		{ "/bans?address=2001%3Adb8%3Aab%3Acd%3A%3A1%2F48&ttl=2d", NULL,
		  "{\"banned\":\"2001:db8:ab::/48\",\"ttl_ms\":172800000}\n",
		  "2001:db8:ab::", 48, 172800000 },
		{ "/bans?address=2001:db8::ff/121&ttl=30", NULL,
		  "{\"banned\":\"2001:db8::80/121\",\"ttl_ms\":30000}\n",
		  "2001:db8::80", 121, 30000 },
		/* IPv4-mapped: the IPv4 address. */
		{ "/bans?address=::ffff:192.0.2.9&ttl=1s", NULL,
		  "{\"banned\":\"192.0.2.9/32\",\"ttl_ms\":1000}\n",
		  "192.0.2.9", 32, 1000 },
		{ "/bans?address=::ffff:192.0.2.9/120&ttl=1s", NULL,
		  "{\"banned\":\"192.0.2.0/24\",\"ttl_ms\":1000}\n",
		  "192.0.2.0", 24, 1000 },
	};
	struct reply	 r;
	size_t		 i;

	for (i = 0; i < NELEM(t); i++) {
		request(EVHTTP_REQ_POST, t[i].uri, NULL, t[i].body, &r);
		ck_assert_msg(r.code == 200, "%s: %d %s", t[i].uri, r.code,
		    r.body);
		ck_assert_str_eq(r.ctype, CT_JSON);
		ck_assert_str_eq(r.body, t[i].answer);
		ck_assert_int_eq(stub.add_calls, (int)i + 1);
		assert_stub_prefix(t[i].addr, t[i].plen);
		ck_assert_uint_eq(stub.ttl_ms, t[i].ttl_ms);
	}
	ck_assert_int_eq(stub.remove_calls, 0);
}
END_TEST

START_TEST(test_bans_add_bad)
{
	static const struct {
		const char	*uri;
		const char	*body;
		int		 code;
	} t[] = {
		{ "/bans?address=999.1.1.1&ttl=10s", NULL, 400 },
		{ "/bans?address=192.0.2.1/33&ttl=10s", NULL, 400 },
		{ "/bans?address=192.0.2.1/0&ttl=10s", NULL, 400 },
		{ "/bans?address=192.0.2.1/&ttl=10s", NULL, 400 },
		{ "/bans?address=192.0.2.1/24x&ttl=10s", NULL, 400 },
		{ "/bans?address=192.0.2.1/-1&ttl=10s", NULL, 400 },
		{ "/bans?address=192.0.2.1/0024&ttl=10s", NULL, 400 },
		{ "/bans?address=192.0.2.1/24/8&ttl=10s", NULL, 400 },
		{ "/bans?address=2001:db8::/129&ttl=10s", NULL, 400 },
		{ "/bans?address=::ffff:192.0.2.9/96&ttl=10s", NULL, 400 },
		{ "/bans?address=192.0.2.1%20&ttl=10s", NULL, 400 },
		{ "/bans?address=fe80::1%25eth0&ttl=10s", NULL, 400 },
		{ "/bans?address=example.com&ttl=10s", NULL, 400 },
		{ "/bans?address=&ttl=10s", NULL, 400 },
		{ "/bans?address=/24&ttl=10s", NULL, 400 },
		{ "/bans?ttl=10s", NULL, 400 },			/* no address */
		{ "/bans?address=192.0.2.1&ttl=abc", NULL, 400 },
		{ "/bans?address=192.0.2.1&ttl=0", NULL, 400 },
		{ "/bans?address=192.0.2.1&ttl=0s", NULL, 400 },
		{ "/bans?address=192.0.2.1&ttl=-5s", NULL, 400 },
		{ "/bans?address=192.0.2.1&ttl=", NULL, 400 },
		{ "/bans?address=192.0.2.1&ttl=99999999999999999999d", NULL,
		  400 },
		{ "/bans?address=192.0.2.1", NULL, 400 },	/* no ttl */
		{ "/bans", NULL, 400 },
		{ "/bans?address", NULL, 400 },		/* bad query string */
		/* No body: what an HTML form posts (curl -d) is refused. */
		{ "/bans", "address=192.0.2.1&ttl=1s", 415 },
		{ "/bans?address=192.0.2.1&ttl=1s", "x", 415 },
		{ "/bans?address=192.0.2.1&ttl=1s", "", 415 },
	};
	struct reply	 r;
	char		 big[2048];
	size_t		 i;

	for (i = 0; i < NELEM(t); i++) {
		request(EVHTTP_REQ_POST, t[i].uri, CT_FORM, t[i].body, &r);
		assert_error(&r, t[i].code, t[i].uri);
	}
	/* A body of any type. */
	request(EVHTTP_REQ_POST, "/bans", "application/json",
	    "{\"address\":\"192.0.2.1\",\"ttl\":\"1s\"}", &r);
	assert_error(&r, 415, "json body");
	/* Over the body size cap: evhttp refuses it. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "address=192.0.2.1&ttl=1s&x=", 27);
	request(EVHTTP_REQ_POST, "/bans", CT_FORM, big, &r);
	ck_assert_int_ne(r.code, 200);
	ck_assert_int_eq(stub.add_calls, 0);

	/* What the ops refuse. */
	stub.add_rc = -EINVAL;
	request(EVHTTP_REQ_POST, "/bans?address=10.0.0.0/8&ttl=1s", NULL,
	    NULL, &r);
	assert_error(&r, 400, "ban_add -EINVAL");
	ck_assert_int_eq(stub.add_calls, 1);
	stub.add_rc = -ENOMEM;
	request(EVHTTP_REQ_POST, "/bans?address=10.0.0.1&ttl=1s", NULL,
	    NULL, &r);
	assert_error(&r, 500, "ban_add -ENOMEM");
	ck_assert_int_eq(stub.add_calls, 2);
}
END_TEST

/*
 * What a web page in the operator's browser could make it send: a Host
 * that is a name (DNS rebinding), a write from another origin, a form.
 */
START_TEST(test_refused)
{
	char		 ok_host[48], ok6[48], ok_origin[64], other_port[48];
	struct reply	 r;
	size_t		 i;

	snprintf(ok_host, sizeof(ok_host), "localhost:%u", port);
	snprintf(ok6, sizeof(ok6), "[::1]:%u", port);
	snprintf(other_port, sizeof(other_port), "127.0.0.1:%u", port + 1);
	{
		const char *const good[] = { ok_host, ok6 };
		const char *const bad[] = {
			"evil.example:80", "evil.example", "127.0.0.1",
			other_port, "127.0.0.1:", "[::1", "[::1]x", "localhost.",
			"127.0.0.1:99999999", "1.2.3",
		};

		for (i = 0; i < 2; i++) {
			const char *const h[] = { "Host", good[i], NULL };

			request_with(EVHTTP_REQ_GET, "/bans", NULL, NULL, h, &r);
			ck_assert_msg(r.code == 200, "Host %s: %d", good[i],
			    r.code);
		}
		for (i = 0; i < NELEM(bad); i++) {
			const char *const h[] = { "Host", bad[i], NULL };

			request_with(EVHTTP_REQ_GET, "/metrics", NULL, NULL, h,
			    &r);
			assert_error(&r, 403, bad[i]);
		}
	}
	/* Writes from another origin, or from a browser's cross-site page. */
	snprintf(ok_origin, sizeof(ok_origin), "http://127.0.0.1:%u", port);
	{
		const char *const cross[][4] = {
			{ "Origin", "http://evil.example", NULL },
			{ "Origin", "null", NULL },
			{ "Origin", "https://127.0.0.1", NULL },
			{ "Sec-Fetch-Site", "cross-site", NULL },
			{ "Sec-Fetch-Site", "same-site", NULL },
			{ "Origin", ok_origin, "Sec-Fetch-Site", "cross-site" },
		};

		for (i = 0; i < NELEM(cross); i++) {
			const char *h[5] = { cross[i][0], cross[i][1],
			    cross[i][2], cross[i][3], NULL };

			request_with(EVHTTP_REQ_POST,
			    "/bans?address=0.0.0.0/1&ttl=30d", NULL, NULL, h, &r);
			assert_error(&r, 403, cross[i][1]);
			request_with(EVHTTP_REQ_DELETE, "/bans?address=192.0.2.1",
			    NULL, NULL, h, &r);
			assert_error(&r, 403, cross[i][1]);
		}
		ck_assert_int_eq(stub.add_calls + stub.remove_calls, 0);
	}
	/* A form's content type, even with no body. */
	request(EVHTTP_REQ_POST, "/bans?address=192.0.2.1&ttl=1s",
	    "text/plain", "", &r);
	assert_error(&r, 415, "text/plain");
	request(EVHTTP_REQ_POST, "/bans?address=192.0.2.1&ttl=1s",
	    "multipart/form-data; boundary=x", "", &r);
	assert_error(&r, 415, "multipart");
	ck_assert_int_eq(stub.add_calls, 0);
	/* The same origin, or a page typed in: taken. */
	{
		const char *const h[] = { "Origin", ok_origin,
		    "Sec-Fetch-Site", "same-origin", NULL };
		const char *const n[] = { "Sec-Fetch-Site", "none", NULL };

		request_with(EVHTTP_REQ_POST, "/bans?address=192.0.2.1&ttl=1s",
		    NULL, NULL, h, &r);
		ck_assert_int_eq(r.code, 200);
		request_with(EVHTTP_REQ_POST, "/bans?address=192.0.2.2&ttl=1s",
		    NULL, NULL, n, &r);
		ck_assert_int_eq(r.code, 200);
		ck_assert_int_eq(stub.add_calls, 2);
	}
}
END_TEST

/* admin_token: every request carries "Authorization: Bearer TOKEN". */
START_TEST(test_token)
{
	static const char *const wrong[] = {
		NULL, "Bearer", "Bearer ", "Bearer 0123456789abcdeX",
		"Bearer 0123456789abcde", "Bearer 0123456789abcdef0",
		"Basic 0123456789abcdef", "0123456789abcdef",
	};
	struct reply	 r;
	size_t		 i;

	stub_token_value = "0123456789abcdef";
	for (i = 0; i < NELEM(wrong); i++) {
		const char *const h[] = { "Authorization", wrong[i], NULL };

		request_with(EVHTTP_REQ_GET, "/metrics", NULL, NULL,
		    wrong[i] ? h : NULL, &r);
		assert_error(&r, 401, wrong[i] ? wrong[i] : "no token");
		request_with(EVHTTP_REQ_POST, "/bans?address=192.0.2.1&ttl=1s",
		    NULL, NULL, wrong[i] ? h : NULL, &r);
		assert_error(&r, 401, wrong[i] ? wrong[i] : "no token");
	}
	ck_assert_int_eq(stub.add_calls, 0);
	{
		const char *const h[] = { "Authorization",
		    "bearer 0123456789abcdef", NULL };

		request_with(EVHTTP_REQ_GET, "/bans", NULL, NULL, h, &r);
		ck_assert_int_eq(r.code, 200);
		request_with(EVHTTP_REQ_POST, "/bans?address=192.0.2.1&ttl=1s",
		    NULL, NULL, h, &r);
		ck_assert_int_eq(r.code, 200);
		ck_assert_int_eq(stub.add_calls, 1);
	}
}
END_TEST

START_TEST(test_error_escaped)
{
	struct reply	 r;

	/* The bad value is echoed, escaped: a quote, a backslash, a tab. */
	request(EVHTTP_REQ_POST, "/bans?address=a%22b%5Cc%09&ttl=1s", NULL,
	    NULL, &r);
	assert_error(&r, 400, "escaping");
	ck_assert_ptr_nonnull(strstr(r.body, "a\\\"b\\\\c\\u0009\"}\n"));
}
END_TEST

START_TEST(test_bans_remove)
{
	struct reply	 r;

	request(EVHTTP_REQ_DELETE, "/bans?address=192.0.2.0/24", NULL, NULL,
	    &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.ctype, CT_JSON);
	ck_assert_str_eq(r.body, "{\"removed\":\"192.0.2.0/24\"}\n");
	ck_assert_int_eq(stub.remove_calls, 1);
	assert_stub_prefix("192.0.2.0", 24);

	request(EVHTTP_REQ_DELETE, "/bans?address=2001:db8::5", NULL, NULL,
	    &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.body, "{\"removed\":\"2001:db8::5/128\"}\n");
	assert_stub_prefix("2001:db8::5", 128);

	stub.remove_rc = 0;
	request(EVHTTP_REQ_DELETE, "/bans?address=198.51.100.1", NULL, NULL,
	    &r);
	assert_error(&r, 404, "missing ban");
	ck_assert_str_eq(r.body, "{\"error\":\"not banned\"}\n");
	ck_assert_int_eq(stub.remove_calls, 3);

	request(EVHTTP_REQ_DELETE, "/bans?address=999.1.1.1", NULL, NULL,
	    &r);
	assert_error(&r, 400, "delete bad address");
	request(EVHTTP_REQ_DELETE, "/bans", NULL, NULL, &r);
	assert_error(&r, 400, "delete without address");
	ck_assert_int_eq(stub.remove_calls, 3);
	ck_assert_int_eq(stub.add_calls, 0);
}
END_TEST

START_TEST(test_methods_paths)
{
	struct reply	 r;

	request(EVHTTP_REQ_PUT, "/bans?address=192.0.2.1&ttl=1s", NULL, NULL,
	    &r);
	assert_error(&r, 405, "PUT /bans");
	ck_assert_str_eq(r.allow, "GET, POST, DELETE");
	request(EVHTTP_REQ_PATCH, "/bans", NULL, NULL, &r);
	assert_error(&r, 405, "PATCH /bans");
	ck_assert_str_eq(r.allow, "GET, POST, DELETE");
	request(EVHTTP_REQ_POST, "/metrics", NULL, NULL, &r);
	assert_error(&r, 405, "POST /metrics");
	ck_assert_str_eq(r.allow, "GET");
	request(EVHTTP_REQ_DELETE, "/metrics", NULL, NULL, &r);
	assert_error(&r, 405, "DELETE /metrics");
	/* HEAD: the head alone. */
	request(EVHTTP_REQ_HEAD, "/metrics", NULL, NULL, &r);
	ck_assert_int_eq(r.code, 405);
	ck_assert_str_eq(r.allow, "GET");
	ck_assert_str_eq(r.body, "");

	request(EVHTTP_REQ_GET, "/nope", NULL, NULL, &r);
	assert_error(&r, 404, "/nope");
	request(EVHTTP_REQ_GET, "/", NULL, NULL, &r);
	assert_error(&r, 404, "/");
	request(EVHTTP_REQ_GET, "/metrics/", NULL, NULL, &r);
	assert_error(&r, 404, "/metrics/");
	request(EVHTTP_REQ_GET, "/bansx", NULL, NULL, &r);
	assert_error(&r, 404, "/bansx");
	request(EVHTTP_REQ_POST, "/nope?address=192.0.2.1&ttl=1s", NULL, NULL,
	    &r);
	assert_error(&r, 404, "POST /nope");
	ck_assert_int_eq(stub.add_calls + stub.remove_calls +
	    stub.metrics_calls + stub.list_calls, 0);
}
END_TEST

START_TEST(test_listen_fails)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct admin		*a;
	struct reply		 r;
	int			 fd;

	/* A port someone listens on. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	a = admin_new(base, (struct sockaddr *)&sin, sizeof(sin), "busy",
	    &stub_ops);
	ck_assert_ptr_null(a);
	close(fd);

	/* Ours still answers; NULL frees nothing. */
	request(EVHTTP_REQ_GET, "/bans", NULL, NULL, &r);
	ck_assert_int_eq(r.code, 200);
	admin_free(NULL);
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite	*s = suite_create("admin");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_bans_list);
	tcase_add_test(tc, test_bans_add);
	tcase_add_test(tc, test_bans_add_bad);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_token);
	tcase_add_test(tc, test_error_escaped);
	tcase_add_test(tc, test_bans_remove);
	tcase_add_test(tc, test_methods_paths);
	tcase_add_test(tc, test_listen_fails);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(admin_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
