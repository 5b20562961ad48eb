/*
 * admin.c - the admin listener: metrics and the ban table over plain HTTP,
 * served by libevent's evhttp on the main thread.
 *
 * Requests are small (8 KiB of head, 1 KiB of body at most: writes take
 * none) and slow clients are dropped after ADMIN_TIMEOUT.  What a web page
 * in the operator's browser could send is refused (admin_refused()).  Answers are JSON, except
 * the metrics; every body ends with a newline.  Addresses are taken as
 * "ADDR[/N]": IPv4 or IPv6, the whole address without /N, host bits
 * cleared, an IPv4-mapped IPv6 address taken as the IPv4 one.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "proxy/admin.h"
#include "proxy/conf.h"
#include "proxy/log.h"

#define ADMIN_BACKLOG		16
#define ADMIN_MAX_HEADERS	(8 * 1024)	/* request line and headers */
#define ADMIN_MAX_BODY		1024		/* refused, but read */
#define ADMIN_TIMEOUT		10		/* seconds, per read or write */

#define CT_METRICS	"text/plain; version=0.0.4; charset=utf-8"
#define CT_JSON		"application/json"

/* No HEAD: evhttp 2.1 sends the body of a HEAD response. */
#define ALLOW_METRICS	"GET"
#define ALLOW_BANS	"GET, POST, DELETE"

/* Longest "ADDR/N" we print: an IPv6 address and "/128". */
#define PREFIX_STRLEN	(INET6_ADDRSTRLEN + 4)

struct admin {
	struct evhttp		*http;	/* owned; owns the listening socket */
	const struct admin_ops	*ops;	/* borrowed */
	char			 name[128];	/* admin_listen, for logs */
	unsigned		 port;	/* of the listener, for Host */
};

/* Opens a nonblocking listening socket on sa; the fd, or -1 after logging. */
static int
admin_socket(const struct sockaddr *sa, socklen_t salen, const char *name)
{
	int	 fd, one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_err("admin_listen %s: socket: %s", name, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
		log_err("admin_listen %s: SO_REUSEADDR: %s", name,
		    strerror(errno));
		goto out_close;
	}
	if (bind(fd, sa, salen) != 0) {
		log_err("admin_listen %s: bind: %s", name, strerror(errno));
		goto out_close;
	}
	if (listen(fd, ADMIN_BACKLOG) != 0) {
		log_err("admin_listen %s: listen: %s", name, strerror(errno));
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return -1;
}

/* Sends code with body (may be NULL) as content type ctype. */
static void
admin_send(struct evhttp_request *req, int code, const char *ctype,
    struct evbuffer *body)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	/* evhttp 2.1 would send a body after the head of a HEAD answer. */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
		body = NULL;
	evhttp_send_reply(req, code, NULL, body);
}

/* Sends a bare 500: no memory for a body. */
static void
admin_send_nomem(struct evhttp_request *req)
{
	evhttp_send_reply(req, HTTP_INTERNAL, NULL, NULL);
}

/* Sends 200 with {"KEY":"PREFIX"TAIL} (TAIL: more members, or ""). */
static void
admin_send_done(struct evhttp_request *req, const char *key, const char *pfx,
    const char *tail)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL) {
		admin_send_nomem(req);
		return;
	}
	if (evbuffer_add_printf(b, "{\"%s\":", key) < 0 ||
	    log_json_str(b, pfx, SIZE_MAX) != 0 ||
	    evbuffer_add_printf(b, "%s}\n", tail) < 0)
		admin_send_nomem(req);
	else
		admin_send(req, HTTP_OK, CT_JSON, b);
	evbuffer_free(b);
}

static void admin_error(struct evhttp_request *req, int code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sends code with {"error":"MESSAGE"}. */
static void
admin_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct evbuffer	*b;
	char		 msg[256];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((b = evbuffer_new()) == NULL) {
		admin_send_nomem(req);
		return;
	}
	if (evbuffer_add_printf(b, "{\"error\":") < 0 ||
	    log_json_str(b, msg, SIZE_MAX) != 0 ||
	    evbuffer_add_printf(b, "}\n") < 0)
		admin_send_nomem(req);
	else
		admin_send(req, code, CT_JSON, b);
	evbuffer_free(b);
}

/* Sends 405 with the methods path allows. */
static void
admin_not_allowed(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow);
	admin_error(req, HTTP_BADMETHOD, "method not allowed");
}

/* The client's "ADDR:PORT" for logs, in buf. */
static const char *
admin_peer(struct evhttp_request *req, char *buf, size_t len)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char			*host = NULL;
	ev_uint16_t		 port = 0;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(buf, len, "%s:%u", host != NULL ? host : "?", port);
	return buf;
}

/* Writes "ADDR/plen" for sa into buf (PREFIX_STRLEN); 0 or -1. */
static int
admin_fmt_prefix(const struct sockaddr *sa, unsigned plen, char *buf,
    size_t len)
{
	const void	*a;
	size_t		 n;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return -1;
	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		return -1;
	n = strlen(buf);
	snprintf(buf + n, len - n, "/%u", plen);
	return 0;
}

/* Clears the bits of the n-byte address a past its first plen. */
static void
admin_mask(uint8_t *a, size_t n, unsigned plen)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (plen >= 8) {
			plen -= 8;
			continue;
		}
		a[i] &= (uint8_t)(0xff00 >> plen);
		plen = 0;
	}
}

/*
 * Parses "ADDR[/N]" into ss and *plen (see the top of the file).  Returns
 * NULL, or what is wrong with it.
 */
static const char *
admin_parse_prefix(const char *s, struct sockaddr_storage *ss, unsigned *plen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	const char		*slash = strchr(s, '/'), *p;
	char			 buf[INET6_ADDRSTRLEN];
	uint8_t			 v4[4];
	size_t			 len = slash ? (size_t)(slash - s) : strlen(s);
	unsigned		 max, n;

	memset(ss, 0, sizeof(*ss));
	if (len == 0 || len >= sizeof(buf))
		return "bad address";
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		max = 128;
	} else
		return "bad address";

	n = max;
	if (slash != NULL) {
		/* Digits only, no sign or space: at most 3 of them. */
		for (n = 0, p = slash + 1; *p >= '0' && *p <= '9' &&
		    p - slash <= 3; p++)
			n = n * 10 + (unsigned)(*p - '0');
		if (p == slash + 1 || *p != '\0' || n < 1 || n > max)
			return max == 32 ? "prefix length must be 1..32" :
			    "prefix length must be 1..128";
	}

	if (max == 128 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		if (n < 97)
			return "prefix length of an IPv4-mapped address must "
			    "be 97..128";
		memcpy(v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
		memset(ss, 0, sizeof(*ss));
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, v4, sizeof(v4));
		n -= 96;
		max = 32;
	}
	if (max == 32)
		admin_mask((uint8_t *)&sin->sin_addr, 4, n);
	else
		admin_mask(sin6->sin6_addr.s6_addr, 16, n);
	*plen = n;
	return NULL;
}

/* The parameters of a ban request: the query string's. */
struct admin_params {
	struct evkeyvalq query;		/* owned */
};

/* Fills p from req; 0, or -1 after replying 400. */
static int
admin_params_get(struct evhttp_request *req, struct admin_params *p)
{
	const char	*q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(
	    req));

	TAILQ_INIT(&p->query);
	if (q != NULL && evhttp_parse_query_str(q, &p->query) != 0) {
		admin_error(req, HTTP_BADREQUEST, "bad query string");
		return -1;
	}
	return 0;
}

static const char *
admin_param(struct admin_params *p, const char *key)
{
	return evhttp_find_header(&p->query, key);
}

static void
admin_params_free(struct admin_params *p)
{
	evhttp_clear_headers(&p->query);
}

static void
admin_metrics(struct admin *a, struct evhttp_request *req)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL) {
		admin_send_nomem(req);
		return;
	}
	if (a->ops->metrics(b) != 0)
		admin_error(req, HTTP_INTERNAL, "out of memory");
	else
		admin_send(req, HTTP_OK, CT_METRICS, b);
	evbuffer_free(b);
}

/* The listing of GET /bans in progress. */
struct admin_list {
	struct evbuffer	*b;
	unsigned	 n;		/* bans listed so far */
	int		 err;		/* -1: out of memory */
};

static void
admin_list_one(void *arg, const struct sockaddr *sa, unsigned plen,
    uint64_t left_ms)
{
	struct admin_list	*l = arg;
	char			 pfx[PREFIX_STRLEN];

	if (l->err != 0 || admin_fmt_prefix(sa, plen, pfx, sizeof(pfx)) != 0)
		return;
	if (evbuffer_add_printf(l->b, "%s{\"address\":", l->n ? "," : "") < 0 ||
	    log_json_str(l->b, pfx, SIZE_MAX) != 0 ||
	    evbuffer_add_printf(l->b, ",\"ttl_ms\":%" PRIu64 "}", left_ms) < 0)
		l->err = -1;
	l->n++;
}

static void
admin_bans_list(struct admin *a, struct evhttp_request *req)
{
	struct admin_list	 l = { NULL, 0, 0 };

	if ((l.b = evbuffer_new()) == NULL) {
		admin_send_nomem(req);
		return;
	}
	if (evbuffer_add_printf(l.b, "{\"bans\":[") < 0)
		l.err = -1;
	else
		a->ops->ban_list(admin_list_one, &l);
	if (l.err == 0 && evbuffer_add_printf(l.b, "]}\n") < 0)
		l.err = -1;
	if (l.err != 0)
		admin_error(req, HTTP_INTERNAL, "out of memory");
	else
		admin_send(req, HTTP_OK, CT_JSON, l.b);
	evbuffer_free(l.b);
}

/*
 * Reads the address parameter of p into ss, *plen and pfx (its text);
 * 0, or -1 after replying 400.
 */
static int
admin_address(struct evhttp_request *req, struct admin_params *p,
    struct sockaddr_storage *ss, unsigned *plen, char *pfx, size_t len)
{
	const char	*s, *err;

	if ((s = admin_param(p, "address")) == NULL) {
		admin_error(req, HTTP_BADREQUEST, "missing address");
		return -1;
	}
	if ((err = admin_parse_prefix(s, ss, plen)) != NULL) {
		admin_error(req, HTTP_BADREQUEST, "%s: %s", err, s);
		return -1;
	}
	if (admin_fmt_prefix((struct sockaddr *)ss, *plen, pfx, len) != 0) {
		admin_error(req, HTTP_INTERNAL, "cannot format address");
		return -1;
	}
	return 0;
}

static void
admin_bans_add(struct admin *a, struct evhttp_request *req)
{
	struct admin_params	 p;
	struct sockaddr_storage	 ss;
	const char		*s;
	char			 pfx[PREFIX_STRLEN], peer[PREFIX_STRLEN + 8], tail[48];
	uint64_t		 ttl;
	unsigned		 plen;
	int			 rc;

	if (admin_params_get(req, &p) != 0)
		return;
	if (admin_address(req, &p, &ss, &plen, pfx, sizeof(pfx)) != 0)
		goto out;
	if ((s = admin_param(&p, "ttl")) == NULL) {
		admin_error(req, HTTP_BADREQUEST, "missing ttl");
		goto out;
	}
	if ((rc = conf_parse_duration(s, &ttl)) != 0 || ttl == 0) {
		admin_error(req, HTTP_BADREQUEST, "%s: %s",
		    rc == -ERANGE ? "ttl out of range" : "bad ttl (a positive "
		    "duration: 500ms, 10s, 5m, 1h, 2d)", s);
		goto out;
	}
	rc = a->ops->ban_add((struct sockaddr *)&ss, plen, ttl);
	if (rc == -ENOMEM) {
		admin_error(req, HTTP_INTERNAL, "out of memory");
		goto out;
	}
	if (rc != 0) {
		admin_error(req, HTTP_BADREQUEST, "the ban table cannot hold "
		    "%s (prefix shorter than it allows?)", pfx);
		goto out;
	}
	log_info("admin %s: banned %s for %" PRIu64 " ms",
	    admin_peer(req, peer, sizeof(peer)), pfx, ttl);
	snprintf(tail, sizeof(tail), ",\"ttl_ms\":%" PRIu64, ttl);
	admin_send_done(req, "banned", pfx, tail);
out:
	admin_params_free(&p);
}

static void
admin_bans_remove(struct admin *a, struct evhttp_request *req)
{
	struct admin_params	 p;
	struct sockaddr_storage	 ss;
	char			 pfx[PREFIX_STRLEN], peer[PREFIX_STRLEN + 8];
	unsigned		 plen;

	if (admin_params_get(req, &p) != 0)
		return;
	if (admin_address(req, &p, &ss, &plen, pfx, sizeof(pfx)) != 0)
		goto out;
	if (a->ops->ban_remove((struct sockaddr *)&ss, plen) == 0) {
		admin_error(req, HTTP_NOTFOUND, "not banned");
		goto out;
	}
	log_info("admin %s: lifted the ban of %s",
	    admin_peer(req, peer, sizeof(peer)), pfx);
	admin_send_done(req, "removed", pfx, "");
out:
	admin_params_free(&p);
}

/*
 * admin_host_ok() tells whether a Host field names this listener by
 * address: an IP literal or localhost, with its port (none: 80).  A name
 * is what DNS rebinding uses to make a page of another site same-origin
 * with us, so none is taken.
 */
static int
admin_host_ok(const struct admin *a, const char *host)
{
	char		 h[INET6_ADDRSTRLEN + 2], addr[16];
	const char	*port = NULL, *end;
	size_t		 len;

	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL)
			return 0;
		len = (size_t)(end - host - 1);
		if (len >= sizeof(h))
			return 0;
		memcpy(h, host + 1, len);
		h[len] = '\0';
		if (inet_pton(AF_INET6, h, addr) != 1)
			return 0;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return 0;
	} else {
		end = strchr(host, ':');
		len = end ? (size_t)(end - host) : strlen(host);
		if (len >= sizeof(h))
			return 0;
		memcpy(h, host, len);
		h[len] = '\0';
		if (inet_pton(AF_INET, h, addr) != 1 &&
		    strcasecmp(h, "localhost") != 0)
			return 0;
		port = end ? end + 1 : NULL;
	}
	if (port == NULL)
		return a->port == 80;
	return strspn(port, "0123456789") == strlen(port) && port[0] != '\0' &&
	    strlen(port) <= 5 && (unsigned)atoi(port) == a->port;
}

/* Compares two strings in time that depends on their lengths only. */
static int
admin_token_eq(const char *a, const char *b)
{
	size_t		 la = strlen(a), lb = strlen(b), i;
	unsigned char	 d = la != lb;

	for (i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

/*
 * admin_refused() answers a request that must not reach the API, and
 * returns 1 (0: go on):
 *  - a Host that is not this listener's address (DNS rebinding): 403;
 *  - with admin_token, no "Authorization: Bearer TOKEN" with it: 401;
 *  - a write (any method but GET) that a page of another site could have
 *    made the browser send: an Origin other than this listener, a
 *    Sec-Fetch-Site other than same-origin or none (403), a body or the
 *    content type of an HTML form or a simple fetch (415).  Writes take
 *    their parameters in the query string, nowhere else.
 */
static int
admin_refused(const struct admin *a, struct evhttp_request *req)
{
	static const char *const simple[] = {
		"application/x-www-form-urlencoded", "multipart/form-data",
		"text/plain",
	};
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	const char		*host = evhttp_find_header(in, "Host");
	const char		*v, *token = a->ops->token();
	size_t			 i;

	if (host != NULL && !admin_host_ok(a, host)) {
		admin_error(req, 403, "Host must be this listener's address "
		    "(an IP address or localhost, and its port)");
		return 1;
	}
	if (token != NULL && ((v = evhttp_find_header(in, "Authorization")) ==
	    NULL || strncasecmp(v, "Bearer ", 7) != 0 ||
	    !admin_token_eq(v + 7 + strspn(v + 7, " "), token))) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer");
		admin_error(req, 401, "a valid Authorization: Bearer token is "
		    "required (admin_token)");
		return 1;
	}
	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET)
		return 0;
	if ((v = evhttp_find_header(in, "Origin")) != NULL &&
	    (host == NULL || strncasecmp(v, "http://", 7) != 0 ||
	    strcasecmp(v + 7, host) != 0)) {
		admin_error(req, 403, "a write from another origin (%s)", v);
		return 1;
	}
	if ((v = evhttp_find_header(in, "Sec-Fetch-Site")) != NULL &&
	    strcasecmp(v, "same-origin") != 0 && strcasecmp(v, "none") != 0) {
		admin_error(req, 403, "a write from a %s page", v);
		return 1;
	}
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0) {
		admin_error(req, 415, "parameters go in the query string: "
		    "no body");
		return 1;
	}
	if ((v = evhttp_find_header(in, "Content-Type")) != NULL)
		for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
			if (strncasecmp(v, simple[i], strlen(simple[i])) == 0) {
				admin_error(req, 415, "a write with the content "
				    "type of a form (%s)", simple[i]);
				return 1;
			}
	return 0;
}

static void
admin_handle(struct evhttp_request *req, void *arg)
{
	struct admin		*a = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type	 m = evhttp_request_get_command(req);

	if (admin_refused(a, req))
		return;
	if (path == NULL)
		admin_error(req, HTTP_NOTFOUND, "not found");
	else if (strcmp(path, "/metrics") == 0) {
		if (m == EVHTTP_REQ_GET)
			admin_metrics(a, req);
		else
			admin_not_allowed(req, ALLOW_METRICS);
	} else if (strcmp(path, "/bans") == 0) {
		if (m == EVHTTP_REQ_GET)
			admin_bans_list(a, req);
		else if (m == EVHTTP_REQ_POST)
			admin_bans_add(a, req);
		else if (m == EVHTTP_REQ_DELETE)
			admin_bans_remove(a, req);
		else
			admin_not_allowed(req, ALLOW_BANS);
	} else
		admin_error(req, HTTP_NOTFOUND, "not found");
}

struct admin *
admin_new(struct event_base *base, const struct sockaddr *sa,
    socklen_t salen, const char *name, const struct admin_ops *ops)
{
	struct admin		*a;
	struct evconnlistener	*evl;
	int			 fd;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		log_err("admin_listen %s: out of memory", name);
		return NULL;
	}
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->ops = ops;
	a->port = ntohs(sa->sa_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)sa)->sin6_port :
	    ((const struct sockaddr_in *)sa)->sin_port);
	if ((a->http = evhttp_new(base)) == NULL) {
		log_err("admin_listen %s: out of memory", name);
		goto out_free;
	}
	/*
	 * Every method reaches admin_handle, which answers 405 with Allow;
	 * evhttp answers 501 to the others (TRACE, CONNECT).
	 */
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS);
	evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY);
	evhttp_set_timeout(a->http, ADMIN_TIMEOUT);
	evhttp_set_gencb(a->http, admin_handle, a);

	if ((fd = admin_socket(sa, salen, name)) == -1)
		goto out_free_http;
	/*
	 * Our own listener rather than evhttp_accept_socket_with_handle(),
	 * whose failures may or may not have closed fd.  Backlog 0: already
	 * listening.
	 */
	evl = evconnlistener_new(base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (evl == NULL) {
		log_err("admin_listen %s: cannot make a listener", name);
		close(fd);
		goto out_free_http;
	}
	if (evhttp_bind_listener(a->http, evl) == NULL) {
		log_err("admin_listen %s: out of memory", name);
		evconnlistener_free(evl);	/* closes fd */
		goto out_free_http;
	}
	return a;

out_free_http:
	evhttp_free(a->http);
out_free:
	free(a);
	return NULL;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	evhttp_free(a->http);	/* and the listener, which closes the socket */
	free(a);
}
