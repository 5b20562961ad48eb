/*
 * test_conf.c - unit tests for proxy/conf.c: the example configuration,
 * defaults, sizes and durations, addresses, quoting, flood limits, and every
 * error message.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "proxy/conf.h"
#include "proxy/hdr.h"
#include "proxy/rules.h"

#define EXAMPLE								\
	"listen 127.0.0.1:8443 tls          # TLS, ALPN h2 and http/1.1\n" \
	"listen [::1]:8443 tls\n"					\
	"listen 127.0.0.1:8080              # clear text: h2c (prior "	\
	"knowledge) and HTTP/1.1 on the same port\n"			\
	"tls_certificate conf/demo-cert.pem\n"				\
	"tls_certificate_key conf/demo-key.pem\n"			\
	"upstream 127.0.0.1:8000            # repeatable; also "	\
	"unix:/run/app.sock\n"

/* The lines every test file needs, appended where a test wants them. */
#define MINIMAL "listen 127.0.0.1:8080\nupstream 127.0.0.1:8000\n"

static struct conf *
parse_ok(const char *text)
{
	struct conf	*conf;
	char		*errors;

	conf = conf_parse("t.conf", text, strlen(text), &errors);
	ck_assert_msg(conf != NULL, "unexpected errors:\n%s", errors);
	ck_assert_ptr_null(errors);
	return conf;
}

/* Parses len bytes of text, which must fail with exactly expect. */
static void
expect_errors_n(const char *text, size_t len, const char *expect)
{
	struct conf	*conf;
	char		*errors;

	conf = conf_parse("t.conf", text, len, &errors);
	ck_assert_ptr_null(conf);
	ck_assert_ptr_nonnull(errors);
	ck_assert_str_eq(errors, expect);
	free(errors);
}

static void
expect_errors(const char *text, const char *expect)
{
	expect_errors_n(text, strlen(text), expect);
}

/* MINIMAL plus line, whose error is expected at line 3. */
static void
expect_error3(const char *line, const char *msg)
{
	char text[1024], expect[1024];

	snprintf(text, sizeof(text), MINIMAL "%s\n", line);
	snprintf(expect, sizeof(expect), "t.conf:3: %s\n", msg);
	expect_errors(text, expect);
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void
check_defaults(const struct conf *conf)
{
	ck_assert_uint_eq(conf->max_concurrent_streams, 128);
	ck_assert_uint_eq(conf->max_header_list_size, 64 * 1024);
	ck_assert_uint_eq(conf->h2_stream_window, 256 * 1024);
	ck_assert_uint_eq(conf->h2_connection_window, 1024 * 1024);
	ck_assert_uint_eq(conf->handshake_timeout, 10000);
	ck_assert_uint_eq(conf->first_request_timeout, 10000);
	ck_assert_uint_eq(conf->keepalive_timeout, 75000);
	ck_assert_uint_eq(conf->body_read_timeout, 60000);
	ck_assert_uint_eq(conf->upstream_connect_timeout, 5000);
	ck_assert_uint_eq(conf->upstream_response_timeout, 60000);
	ck_assert_uint_eq(conf->upstream_keepalive, 32);
	ck_assert_uint_eq(conf->upstream_max_connections, 64);
	ck_assert_uint_eq(conf->upstream_idle_timeout, 60000);
	ck_assert_int_eq(conf->log_level, LOG_INFO);
	ck_assert_ptr_nonnull(conf->rules);
	ck_assert_uint_eq(rules_count(conf->rules), 0);
	ck_assert_int_eq(conf->ban_close, CONF_BAN_RESET);
	ck_assert_int_eq(conf->dry_run, 0);
	ck_assert_uint_eq(conf->ban_table_size, 100000);
	ck_assert_uint_eq(conf->ban_prefix_v4, 32);
	ck_assert_uint_eq(conf->ban_prefix_v6, 64);
	ck_assert_str_eq(conf->ban_log, "stderr");
	ck_assert_int_eq(conf->ban_log_line, 0);
}

/* The flood limits and the keys that go with them, at their defaults. */
static void
check_flood_defaults(const struct conf *conf)
{
	struct limit	 def[LIM_N];
	int		 i;

	ck_assert_uint_eq(conf->header_timeout, 10000);
	ck_assert_uint_eq(conf->send_timeout, 60000);
	ck_assert_uint_eq(conf->flood_ban_ttl, 0);
	ck_assert_uint_eq(conf->client_table_size, 100000);
	limit_defaults(def);
	for (i = 0; i < LIM_N; i++) {
		ck_assert_msg(conf->limits[i].count == def[i].count &&
		    conf->limits[i].window_ms == def[i].window_ms,
		    "limit %s: %u/%u", limit_name((enum limit_id)i),
		    conf->limits[i].count, conf->limits[i].window_ms);
	}
	/* Spot checks, in case limit_defaults() itself went wrong. */
	ck_assert_uint_eq(conf->limits[LIM_PING_RATE].count, 100);
	ck_assert_uint_eq(conf->limits[LIM_PING_RATE].window_ms, 10000);
	ck_assert_uint_eq(conf->limits[LIM_STREAMS].count, 100000);
	ck_assert_uint_eq(conf->limits[LIM_STREAMS].window_ms, 0);
	ck_assert_uint_eq(conf->limits[LIM_HEADER_BYTES].count, 256 * 1024);
}

START_TEST(test_example)
{
	struct conf		*conf = parse_ok(EXAMPLE);
	struct conf_listen	*cl;
	struct conf_upstream	*cu;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	ck_assert_str_eq(conf->path, "t.conf");
	cl = STAILQ_FIRST(&conf->listens);
	ck_assert_str_eq(cl->name, "127.0.0.1:8443");
	ck_assert_int_eq(cl->tls, 1);
	ck_assert_int_eq(cl->line, 1);
	sin = (struct sockaddr_in *)&cl->addr;
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(cl->addrlen, sizeof(*sin));
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_uint_eq(port_of(&cl->addr), 8443);

	cl = STAILQ_NEXT(cl, link);
	ck_assert_str_eq(cl->name, "[::1]:8443");
	ck_assert_int_eq(cl->tls, 1);
	ck_assert_int_eq(cl->line, 2);
	sin6 = (struct sockaddr_in6 *)&cl->addr;
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_uint_eq(cl->addrlen, sizeof(*sin6));
	ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	ck_assert_uint_eq(port_of(&cl->addr), 8443);

	cl = STAILQ_NEXT(cl, link);
	ck_assert_str_eq(cl->name, "127.0.0.1:8080");
	ck_assert_int_eq(cl->tls, 0);
	ck_assert_int_eq(cl->line, 3);
	ck_assert_uint_eq(port_of(&cl->addr), 8080);
	ck_assert_ptr_null(STAILQ_NEXT(cl, link));

	ck_assert_str_eq(conf->tls_certificate, "conf/demo-cert.pem");
	ck_assert_int_eq(conf->tls_certificate_line, 4);
	ck_assert_str_eq(conf->tls_certificate_key, "conf/demo-key.pem");
	ck_assert_int_eq(conf->tls_certificate_key_line, 5);

	cu = STAILQ_FIRST(&conf->upstreams);
	ck_assert_str_eq(cu->name, "127.0.0.1:8000");
	ck_assert_int_eq(cu->line, 6);
	sin = (struct sockaddr_in *)&cu->addr;
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(cu->addrlen, sizeof(*sin));
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_uint_eq(port_of(&cu->addr), 8000);
	ck_assert_ptr_null(STAILQ_NEXT(cu, link));

	check_defaults(conf);
	check_flood_defaults(conf);
	conf_free(conf);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf *conf = parse_ok(MINIMAL);

	check_defaults(conf);
	check_flood_defaults(conf);
	ck_assert_ptr_null(conf->tls_certificate);
	ck_assert_ptr_null(conf->tls_certificate_key);
	ck_assert_int_eq(conf->tls_certificate_line, 0);
	ck_assert_int_eq(conf->tls_certificate_key_line, 0);
	conf_free(conf);
	conf_free(NULL);
}
END_TEST

START_TEST(test_all_keys)
{
	struct conf *conf = parse_ok(MINIMAL
	    "max_concurrent_streams 2147483647\n"
	    "max_header_list_size 16m\n"
	    "h2_stream_window 65535\n"
	    "h2_connection_window 2147483647\n"
	    "handshake_timeout 1ms\n"
	    "first_request_timeout 24h\n"
	    "keepalive_timeout 1d\n"
	    "body_read_timeout 90\n"
	    "upstream_connect_timeout 250ms\n"
	    "upstream_response_timeout 2m\n"
	    "upstream_keepalive 0\n"
	    "upstream_idle_timeout 1h\n"
	    "log_level debug\n");

	ck_assert_uint_eq(conf->max_concurrent_streams, 2147483647);
	ck_assert_uint_eq(conf->max_header_list_size, 16 << 20);
	ck_assert_uint_eq(conf->h2_stream_window, 65535);
	ck_assert_uint_eq(conf->h2_connection_window, 2147483647);
	ck_assert_uint_eq(conf->handshake_timeout, 1);
	ck_assert_uint_eq(conf->first_request_timeout, 86400000);
	ck_assert_uint_eq(conf->keepalive_timeout, 86400000);
	ck_assert_uint_eq(conf->body_read_timeout, 90000);
	ck_assert_uint_eq(conf->upstream_connect_timeout, 250);
	ck_assert_uint_eq(conf->upstream_response_timeout, 120000);
	ck_assert_uint_eq(conf->upstream_keepalive, 0);
	ck_assert_uint_eq(conf->upstream_idle_timeout, 3600000);
	ck_assert_int_eq(conf->log_level, LOG_DEBUG);
	conf_free(conf);
}
END_TEST

START_TEST(test_ban_keys)
{
	struct conf *conf = parse_ok(MINIMAL
	    "ban_close fin\n"
	    "dry_run on\n"
	    "ban_table_size 10000000\n"
	    "ban_prefix_v4 24\n"
	    "ban_prefix_v6 64\n"
	    "ban_log \"/var/log/h2guard bans.json\"\n");

	ck_assert_int_eq(conf->ban_close, CONF_BAN_FIN);
	ck_assert_int_eq(conf->dry_run, 1);
	ck_assert_uint_eq(conf->ban_table_size, 10000000);
	ck_assert_uint_eq(conf->ban_prefix_v4, 24);
	ck_assert_uint_eq(conf->ban_prefix_v6, 64);
	ck_assert_str_eq(conf->ban_log, "/var/log/h2guard bans.json");
	ck_assert_int_eq(conf->ban_log_line, 8);
	conf_free(conf);

	conf = parse_ok(MINIMAL "ban_close reset\ndry_run off\n"
	    "ban_table_size 1\nban_prefix_v4 1\nban_prefix_v6 1\n"
	    "ban_log off\n");
	ck_assert_int_eq(conf->ban_close, CONF_BAN_RESET);
	ck_assert_int_eq(conf->dry_run, 0);
	ck_assert_uint_eq(conf->ban_table_size, 1);
	ck_assert_uint_eq(conf->ban_prefix_v4, 1);
	ck_assert_uint_eq(conf->ban_prefix_v6, 1);
	ck_assert_str_eq(conf->ban_log, "off");
	conf_free(conf);

	conf = parse_ok(MINIMAL "ban_prefix_v4 32\nban_prefix_v6 128\n"
	    "ban_log stderr\n");
	ck_assert_uint_eq(conf->ban_prefix_v4, 32);
	ck_assert_uint_eq(conf->ban_prefix_v6, 128);
	ck_assert_str_eq(conf->ban_log, "stderr");
	conf_free(conf);
}
END_TEST

#define RULES_EXAMPLE							\
	"ban_close reset                                   # reset "	\
	"(SO_LINGER 0, TCP RST) | fin\n"				\
	"rule office   client 10.0.0.0/8                   allow\n"	\
	"rule wp       path prefix /wp-login.php           ban\n"	\
	"rule sqlmap   header user-agent regex \"(?i)sqlmap|nikto\"   "	\
	"ban ttl 10m\n"							\
	"rule admin    method DELETE path prefix /admin    ban ttl 1h\n" \
	"rule env      path regex \"\\.env$\"                 log\n"

/* Which rule of conf matches a request from client for method and path. */
static const char *
rule_for(const struct conf *conf, const char *client, const char *method,
    const char *path, const char *ua)
{
	struct sockaddr_in	 sin;
	struct hdrlist		 h;
	struct rule_input	 in;
	const struct rule	*r;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, client, &sin.sin_addr), 1);
	memset(&h, 0, sizeof(h));
	if (ua != NULL)
		ck_assert_int_eq(hdrlist_add(&h, "User-Agent", 10, ua,
		    strlen(ua), 1), 0);
	memset(&in, 0, sizeof(in));
	in.method = method;
	in.path = path;
	in.pathlen = strlen(path);
	in.query = "";
	in.headers = &h;
	in.client = (const struct sockaddr *)&sin;
	in.proto = PROTO_H1;
	r = rules_match(conf->rules, &in, NULL);
	hdrlist_clear(&h);
	free(h.v);
	return r ? rule_name(r) : NULL;
}

START_TEST(test_rules_example)
{
	static const struct {
		const char		*name;
		int			 line;
		enum rule_action	 action;
		uint32_t		 ttl;
	} t[] = {
		{ "office", 4, RULE_ALLOW, 0 },
		{ "wp", 5, RULE_BAN, 0 },
		{ "sqlmap", 6, RULE_BAN, 600000 },
		{ "admin", 7, RULE_BAN, 3600000 },
		{ "env", 8, RULE_LOG, 0 },
	};
	struct conf		*conf = parse_ok(MINIMAL RULES_EXAMPLE);
	const struct rule	*r;
	size_t			 i;

	ck_assert_int_eq(conf->ban_close, CONF_BAN_RESET);
	ck_assert_uint_eq(rules_count(conf->rules), 5);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		r = rules_find(conf->rules, t[i].name);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(rule_line(r), t[i].line);
		ck_assert_int_eq(rule_action(r), t[i].action);
		ck_assert_uint_eq(rule_ttl(r), t[i].ttl);
	}
	ck_assert_str_eq(rule_for(conf, "10.1.1.1", "GET", "/wp-login.php",
	    NULL), "office");
	ck_assert_str_eq(rule_for(conf, "192.0.2.1", "GET", "/wp-login.php",
	    NULL), "wp");
	ck_assert_str_eq(rule_for(conf, "192.0.2.1", "GET", "/",
	    "Nikto/2.1"), "sqlmap");
	ck_assert_str_eq(rule_for(conf, "192.0.2.1", "DELETE", "/admin/x",
	    NULL), "admin");
	ck_assert_ptr_null(rule_for(conf, "192.0.2.1", "GET", "/admin/x",
	    NULL));
	/* The backslash arrives: "\.env$" does not match "/xenv". */
	ck_assert_str_eq(rule_for(conf, "192.0.2.1", "GET", "/app/.env",
	    NULL), "env");
	ck_assert_ptr_null(rule_for(conf, "192.0.2.1", "GET", "/xenv", NULL));
	ck_assert_ptr_null(rule_for(conf, "192.0.2.1", "GET", "/.env.old",
	    NULL));
	conf_free(conf);
}
END_TEST

START_TEST(test_err_rules)
{
	char	line[512], expect[1024];
	int	n, i;

	expect_error3("rule", "rule: expected NAME COND... ACTION");
	expect_error3("rule x method GET",
	    "rule x: expected an action: ban, ban ttl DURATION, allow or log");
	expect_error3("rule x frob 1 ban", "rule x: unknown condition \"frob\"");
	expect_error3("rule x path regex \"(\" ban", "rule x: bad regex "
	    "\"(\": missing closing parenthesis at offset 1");
	expect_error3("rule x client 10.0.0.0/40 ban",
	    "rule x: invalid CIDR \"10.0.0.0/40\"");
	expect_error3("rule x method GET ban ttl 31d",
	    "rule x: ttl 31d out of range (1s..30d)");
	expect_error3("rule x ban", "rule x: no condition");
	expect_errors(MINIMAL "rule a method GET ban\n"
	    "rule b method PUT ban\n"
	    "rule a method POST log\n"
	    "rule b\n"
	    "rule a method GET ban\n",
	    "t.conf:5: rule a: name already used at line 3\n"
	    "t.conf:6: rule b: name already used at line 4\n"
	    "t.conf:7: rule a: name already used at line 3\n");
	/* A rejected rule does not take its name. */
	expect_errors(MINIMAL "rule a method GET deny\n"
	    "rule a method GET ban\n",
	    "t.conf:3: rule a: expected an action: ban, ban ttl DURATION, "
	    "allow or log\n");

	/* 64 words are kept; more are an error, not silently cut. */
	n = snprintf(line, sizeof(line), "rule long");
	for (i = 0; i < 30; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " method M");
	snprintf(line + n, sizeof(line) - (size_t)n, " ban");
	snprintf(expect, sizeof(expect), MINIMAL "%s\n", line);
	conf_free(parse_ok(expect));	/* 63 words */
	snprintf(line + n, sizeof(line) - (size_t)n, " method M ban");
	expect_error3(line, "rule long: too many words (at most 64)");
}
END_TEST

START_TEST(test_log_levels)
{
	static const struct {
		const char	*name;
		int		 level;
	} t[] = {
		{ "error", LOG_ERR }, { "warn", LOG_WARNING },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	struct conf	*conf;
	char		 text[128];
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "log_level %s\n",
		    t[i].name);
		conf = parse_ok(text);
		ck_assert_int_eq(conf->log_level, t[i].level);
		conf_free(conf);
	}
}
END_TEST

START_TEST(test_duration)
{
	static const struct {
		const char	*s;
		int		 rc;
		uint64_t	 ms;
	} t[] = {
		{ "500ms", 0, 500 }, { "10s", 0, 10000 }, { "5m", 0, 300000 },
		{ "1h", 0, 3600000 }, { "2d", 0, 172800000 }, { "7", 0, 7000 },
		{ "0", 0, 0 }, { "0ms", 0, 0 }, { "10S", 0, 10000 },
		{ "3MS", 0, 3 }, { "007s", 0, 7000 },
		{ "18446744073709551615ms", 0, UINT64_MAX },
		{ "", -EINVAL, 0 }, { "s", -EINVAL, 0 }, { "ms", -EINVAL, 0 },
		{ "10x", -EINVAL, 0 }, { "-1s", -EINVAL, 0 },
		{ "+1s", -EINVAL, 0 }, { "1.5s", -EINVAL, 0 },
		{ " 1s", -EINVAL, 0 }, { "1s ", -EINVAL, 0 },
		{ "10 s", -EINVAL, 0 }, { "1sec", -EINVAL, 0 },
		{ "1k", -EINVAL, 0 }, { "0x10", -EINVAL, 0 },
		{ "18446744073709551616ms", -ERANGE, 0 },
		{ "18446744073709551615s", -ERANGE, 0 },
		{ "18446744073709551615", -ERANGE, 0 },
		{ "213503982335d", -ERANGE, 0 },
		{ "99999999999999999999999999x", -EINVAL, 0 },
	};
	uint64_t	 ms;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ms = 12345;
		ck_assert_msg(conf_parse_duration(t[i].s, &ms) == t[i].rc,
		    "\"%s\"", t[i].s);
		if (t[i].rc == 0)
			ck_assert_msg(ms == t[i].ms, "\"%s\" -> %llu", t[i].s,
			    (unsigned long long)ms);
	}
}
END_TEST

START_TEST(test_size)
{
	static const struct {
		const char	*s;
		int		 rc;
		uint64_t	 bytes;
	} t[] = {
		{ "512", 0, 512 }, { "16k", 0, 16384 }, { "16K", 0, 16384 },
		{ "1m", 0, 1048576 }, { "1M", 0, 1048576 },
		{ "1g", 0, 1073741824 }, { "3G", 0, 3221225472ULL },
		{ "0", 0, 0 }, { "18446744073709551615", 0, UINT64_MAX },
		{ "17179869183g", 0, 17179869183ULL << 30 },
		{ "", -EINVAL, 0 }, { "k", -EINVAL, 0 }, { "1kb", -EINVAL, 0 },
		{ "1t", -EINVAL, 0 }, { "-1", -EINVAL, 0 },
		{ "1.5m", -EINVAL, 0 }, { "1 k", -EINVAL, 0 },
		{ "1s", -EINVAL, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "18014398509481984k", -ERANGE, 0 },
		{ "17179869184g", -ERANGE, 0 },
	};
	uint64_t	 bytes;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bytes = 12345;
		ck_assert_msg(conf_parse_size(t[i].s, &bytes) == t[i].rc,
		    "\"%s\"", t[i].s);
		if (t[i].rc == 0)
			ck_assert_msg(bytes == t[i].bytes, "\"%s\" -> %llu",
			    t[i].s, (unsigned long long)bytes);
	}
}
END_TEST

START_TEST(test_addr)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:080000", "127.0.0.1:http", "127.0.0.1:-1",
		"127.0.0.1:+80", "127.1:80", "localhost:80", "::1:80", "[::1]",
		"[::1]80", "[::1:80", "[]:80", "[127.0.0.1]:80", ":80",
		"**:80", "[*]:80", "1.2.3.4 :80", "256.0.0.1:80",
	};
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	size_t			 i;

	ck_assert_int_eq(conf_parse_addr("1.2.3.4:80", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(len, sizeof(*sin));
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x01020304);
	ck_assert_uint_eq(ntohs(sin->sin_port), 80);

	ck_assert_int_eq(conf_parse_addr("*:65535", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	ck_assert_uint_eq(ntohs(sin->sin_port), 65535);

	ck_assert_int_eq(conf_parse_addr("[::]:443", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(len, sizeof(*sin6));
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 443);

	ck_assert_int_eq(conf_parse_addr("[2001:db8::1]:1", &ss, &len), 0);
	ck_assert_int_eq(sin6->sin6_addr.s6_addr[0], 0x20);
	ck_assert_int_eq(sin6->sin6_addr.s6_addr[15], 1);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(conf_parse_addr(bad[i], &ss, &len) == -EINVAL,
		    "\"%s\" accepted", bad[i]);
}
END_TEST

START_TEST(test_listen_ipv6_any)
{
	struct conf		*conf;
	struct conf_listen	*cl;

	conf = parse_ok("listen [::]:80\nlisten *:80 tls\n"
	    "tls_certificate c\ntls_certificate_key k\n"
	    "upstream [::1]:8000\n");
	cl = STAILQ_FIRST(&conf->listens);
	ck_assert_str_eq(cl->name, "[::]:80");
	ck_assert_int_eq(cl->addr.ss_family, AF_INET6);
	ck_assert_int_eq(cl->tls, 0);
	cl = STAILQ_NEXT(cl, link);
	ck_assert_str_eq(cl->name, "*:80");
	ck_assert_int_eq(cl->addr.ss_family, AF_INET);
	ck_assert_int_eq(cl->tls, 1);
	ck_assert_int_eq(STAILQ_FIRST(&conf->upstreams)->addr.ss_family,
	    AF_INET6);
	ck_assert_uint_eq(port_of(&STAILQ_FIRST(&conf->upstreams)->addr),
	    8000);
	conf_free(conf);
}
END_TEST

START_TEST(test_upstreams)
{
	struct conf		*conf;
	struct conf_upstream	*cu;
	struct sockaddr_un	*sun;

	conf = parse_ok("listen 127.0.0.1:8080\n"
	    "upstream unix:/run/app.sock\n"
	    "upstream localhost:9000\n"
	    "upstream 127.0.0.1:8000\n"
	    "upstream 127.0.0.1:8000\n");	/* repeats are allowed */
	cu = STAILQ_FIRST(&conf->upstreams);
	ck_assert_str_eq(cu->name, "unix:/run/app.sock");
	ck_assert_int_eq(cu->line, 2);
	sun = (struct sockaddr_un *)&cu->addr;
	ck_assert_int_eq(sun->sun_family, AF_UNIX);
	ck_assert_str_eq(sun->sun_path, "/run/app.sock");
	ck_assert_uint_eq(cu->addrlen,
	    offsetof(struct sockaddr_un, sun_path) + strlen("/run/app.sock") + 1);

	cu = STAILQ_NEXT(cu, link);
	ck_assert_str_eq(cu->name, "localhost:9000");
	ck_assert(cu->addr.ss_family == AF_INET ||
	    cu->addr.ss_family == AF_INET6);
	ck_assert_uint_eq(port_of(&cu->addr), 9000);
	ck_assert_int_eq(cu->line, 3);

	cu = STAILQ_NEXT(STAILQ_NEXT(cu, link), link);
	ck_assert_int_eq(cu->line, 5);
	ck_assert_ptr_null(STAILQ_NEXT(cu, link));
	conf_free(conf);
}
END_TEST

START_TEST(test_quotes_comments)
{
	struct conf *conf;

	conf = parse_ok("# a comment\n"
	    "\n"
	    "   \t  # indented comment\n"
	    "\tlisten\t127.0.0.1:8080\t\r\n"
	    "upstream \"unix:/tmp/my app.sock\" # trailing\r\n"
	    "tls_certificate \"/etc/a \\\"b\\\" c\\\\d\\x#e\"\n"
	    "tls_certificate_key ab\"c d\"e#comment\n"
	    "log_level \"debug\"");	/* no final newline */
	ck_assert_str_eq(STAILQ_FIRST(&conf->listens)->name, "127.0.0.1:8080");
	ck_assert_int_eq(STAILQ_FIRST(&conf->listens)->line, 4);
	ck_assert_str_eq(STAILQ_FIRST(&conf->upstreams)->name,
	    "unix:/tmp/my app.sock");
	ck_assert_str_eq(conf->tls_certificate, "/etc/a \"b\" c\\d\\x#e");
	ck_assert_int_eq(conf->tls_certificate_line, 6);
	ck_assert_str_eq(conf->tls_certificate_key, "abc de");
	ck_assert_int_eq(conf->log_level, LOG_DEBUG);
	conf_free(conf);

	/* An empty quoted string is a value. */
	expect_error3("tls_certificate \"\" x",
	    "tls_certificate: expected one value");
	conf = parse_ok(MINIMAL "tls_certificate \"\"\n");
	ck_assert_str_eq(conf->tls_certificate, "");
	conf_free(conf);
}
END_TEST

START_TEST(test_not_terminated)
{
	/* conf_parse() must not read past len. */
	static const char text[] = MINIMAL "log_level debugXXXX";
	struct conf	*conf;
	char		*errors;
	char		*copy;
	size_t		 len = sizeof(text) - 1 - 4;

	copy = malloc(len);
	memcpy(copy, text, len);
	conf = conf_parse("t.conf", copy, len, &errors);
	ck_assert_ptr_nonnull(conf);
	ck_assert_int_eq(conf->log_level, LOG_DEBUG);
	conf_free(conf);
	free(copy);
}
END_TEST

START_TEST(test_err_syntax)
{
	expect_error3("frobnicate yes", "unknown key \"frobnicate\"");
	expect_error3("LISTEN 127.0.0.1:1", "unknown key \"LISTEN\"");
	expect_error3("\"\" x", "unknown key \"\"");
	expect_error3("tls_certificate \"a b", "unterminated quoted string");
	expect_error3("tls_certificate \"a\\\"", "unterminated quoted string");
	expect_error3("bogus \"a # b", "unterminated quoted string");
	expect_errors_n(MINIMAL "log_level\0info\n",
	    sizeof(MINIMAL "log_level\0info\n") - 1,
	    "t.conf:3: NUL byte in line\n");
}
END_TEST

START_TEST(test_ops_keys)
{
	struct conf *conf;

	conf = parse_ok("listen 127.0.0.1:80 proxy_protocol tls\n"
	    "tls_certificate /c\ntls_certificate_key /k\n"
	    "listen 127.0.0.1:81 proxy_protocol\nupstream 127.0.0.1:8000\n"
	    "workers auto\nshutdown_timeout 5s\naccess_log /tmp/a.log\n"
	    "admin_listen 127.0.0.1:9180\nban_state_file /tmp/b\n"
	    "ban_state_interval 10s\nforwarded_headers trust\n");
	ck_assert_int_eq(STAILQ_FIRST(&conf->listens)->proxy, 1);
	ck_assert_int_eq(STAILQ_FIRST(&conf->listens)->tls, 1);
	ck_assert_int_eq(STAILQ_NEXT(STAILQ_FIRST(&conf->listens), link)->tls, 0);
	ck_assert_uint_eq(conf->workers, 0);
	ck_assert_uint_eq(conf->shutdown_timeout, 5000);
	ck_assert_str_eq(conf->access_log, "/tmp/a.log");
	ck_assert_int_eq(conf->access_log_line, 8);
	ck_assert_str_eq(conf->admin_listen, "127.0.0.1:9180");
	ck_assert_int_eq(conf->admin_addr.ss_family, AF_INET);
	ck_assert_str_eq(conf->ban_state_file, "/tmp/b");
	ck_assert_uint_eq(conf->ban_state_interval, 10000);
	ck_assert_int_eq(conf->forwarded_headers, CONF_FWD_TRUST);
	conf_free(conf);
	conf = parse_ok(MINIMAL);
	ck_assert_uint_eq(conf->workers, 1);
	ck_assert_uint_eq(conf->admin_addrlen, 0);
	ck_assert_str_eq(conf->access_log, "off");
	ck_assert_str_eq(conf->ban_state_file, "off");
	ck_assert_int_eq(conf->forwarded_headers, CONF_FWD_STRIP);
	conf_free(conf);
	expect_error3("workers 0", "workers: 0 out of range (1..256)");
	expect_error3("workers many",
	    "workers: invalid number or \"auto\" \"many\"");
	expect_error3("admin_listen 9180",
	    "admin_listen: invalid ADDR:PORT or \"off\" \"9180\"");
	expect_error3("forwarded_headers yes",
	    "forwarded_headers: expected strip or trust");
}
END_TEST

START_TEST(test_err_listen)
{
	expect_error3("listen",
	    "listen: expected ADDR:PORT [tls] [proxy_protocol]");
	expect_error3("listen 1.2.3.4:80 ssl", "listen: unknown option \"ssl\" "
	    "(expected tls, proxy_protocol)");
	expect_error3("listen 1.2.3.4:80 tls x", "listen: unknown option \"x\" "
	    "(expected tls, proxy_protocol)");
	expect_error3("listen 1.2.3.4:80 tls tls", "listen: repeated option "
	    "\"tls\" (expected tls, proxy_protocol)");
	expect_error3("listen 1.2.3.4:80 tls proxy_protocol x",
	    "listen: expected ADDR:PORT [tls] [proxy_protocol]");
	expect_error3("listen 1.2.3.4", "listen: invalid address \"1.2.3.4\"");
	expect_error3("listen localhost:80",
	    "listen: invalid address \"localhost:80\"");
	expect_error3("listen ::1:80", "listen: invalid address \"::1:80\"");
	expect_error3("listen 127.0.0.1:8080",
	    "listen: duplicate address \"127.0.0.1:8080\" (first at line 1)");
	expect_errors("listen *:80\nlisten [::]:80\nlisten 0.0.0.0:80 tls\n"
	    "upstream 127.0.0.1:8000\n",
	    "t.conf:3: listen: duplicate address \"0.0.0.0:80\" "
	    "(first at line 1)\n");
	expect_errors("listen [::1]:80\nlisten [0:0::1]:80\n"
	    "upstream 127.0.0.1:8000\n",
	    "t.conf:2: listen: duplicate address \"[0:0::1]:80\" "
	    "(first at line 1)\n");
}
END_TEST

START_TEST(test_err_upstream)
{
	struct addrinfo	 hints, *res;
	char		 path[200], line[512], msg[256];
	int		 rc;

	expect_error3("upstream", "upstream: expected HOST:PORT or unix:PATH");
	expect_error3("upstream a:1 b:2",
	    "upstream: expected HOST:PORT or unix:PATH");
	expect_error3("upstream 127.0.0.1",
	    "upstream: expected HOST:PORT or unix:PATH");
	expect_error3("upstream 127.0.0.1:0",
	    "upstream: expected HOST:PORT or unix:PATH");
	expect_error3("upstream :80",
	    "upstream: expected HOST:PORT or unix:PATH");
	expect_error3("upstream unix:",
	    "upstream: expected HOST:PORT or unix:PATH");

	memset(path, 'a', 108);
	path[0] = '/';
	path[108] = '\0';
	snprintf(line, sizeof(line), "upstream unix:%s", path);
	expect_error3(line, "upstream: unix socket path too long");
	path[107] = '\0';	/* 107 bytes and the NUL fit */
	snprintf(line, sizeof(line), MINIMAL "upstream unix:%s\n", path);
	conf_free(parse_ok(line));

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo("nosuch.invalid", NULL, &hints, &res);
	ck_assert_int_ne(rc, 0);
	snprintf(msg, sizeof(msg),
	    "upstream: cannot resolve \"nosuch.invalid\": %s", gai_strerror(rc));
	expect_error3("upstream nosuch.invalid:80", msg);

	hints.ai_family = AF_INET6;
	hints.ai_flags = AI_NUMERICHOST;
	rc = getaddrinfo("zz", NULL, &hints, &res);
	ck_assert_int_ne(rc, 0);
	snprintf(msg, sizeof(msg), "upstream: cannot resolve \"zz\": %s",
	    gai_strerror(rc));
	expect_error3("upstream [zz]:80", msg);
}
END_TEST

START_TEST(test_err_values)
{
	expect_error3("max_concurrent_streams",
	    "max_concurrent_streams: expected one value");
	expect_error3("keepalive_timeout 1 s",
	    "keepalive_timeout: expected one value");
	expect_error3("log_level", "log_level: expected one value");
	expect_error3("tls_certificate_key", "tls_certificate_key: expected one value");

	expect_error3("max_concurrent_streams lots",
	    "max_concurrent_streams: invalid number \"lots\"");
	expect_error3("upstream_keepalive 1k",
	    "upstream_keepalive: invalid number \"1k\"");
	expect_error3("max_header_list_size 1kb",
	    "max_header_list_size: invalid size \"1kb\"");
	expect_error3("keepalive_timeout 10x",
	    "keepalive_timeout: invalid duration \"10x\"");
	expect_error3("body_read_timeout -1",
	    "body_read_timeout: invalid duration \"-1\"");

	expect_error3("max_concurrent_streams 0",
	    "max_concurrent_streams: 0 out of range (1..2147483647)");
	expect_error3("max_concurrent_streams 2147483648",
	    "max_concurrent_streams: 2147483648 out of range (1..2147483647)");
	expect_error3("max_concurrent_streams 99999999999999999999999",
	    "max_concurrent_streams: 99999999999999999999999 out of range "
	    "(1..2147483647)");
	expect_error3("upstream_keepalive 100001",
	    "upstream_keepalive: 100001 out of range (0..100000)");
	expect_error3("max_header_list_size 1023",
	    "max_header_list_size: 1023 out of range (1k..16m)");
	expect_error3("max_header_list_size 17m",
	    "max_header_list_size: 17m out of range (1k..16m)");
	expect_error3("h2_stream_window 65534",
	    "h2_stream_window: 65534 out of range (65535..2147483647)");
	expect_error3("h2_connection_window 2g",
	    "h2_connection_window: 2g out of range (65535..2147483647)");
	expect_error3("h2_connection_window 99999999999999999999g",
	    "h2_connection_window: 99999999999999999999g out of range "
	    "(65535..2147483647)");
	expect_error3("handshake_timeout 0",
	    "handshake_timeout: 0 out of range (1ms..24h)");
	expect_error3("upstream_idle_timeout 86401s",
	    "upstream_idle_timeout: 86401s out of range (1ms..24h)");
	expect_error3("first_request_timeout 18446744073709551615s",
	    "first_request_timeout: 18446744073709551615s out of range "
	    "(1ms..24h)");

	expect_error3("log_level verbose",
	    "log_level: expected error, warn, info or debug");
	expect_error3("log_level INFO",
	    "log_level: expected error, warn, info or debug");

	expect_error3("ban_close rst", "ban_close: expected reset or fin");
	expect_error3("ban_close", "ban_close: expected one value");
	expect_error3("dry_run yes", "dry_run: expected on or off");
	expect_error3("dry_run ON", "dry_run: expected on or off");
	expect_error3("ban_table_size 0",
	    "ban_table_size: 0 out of range (1..10000000)");
	expect_error3("ban_table_size 10000001",
	    "ban_table_size: 10000001 out of range (1..10000000)");
	expect_error3("ban_table_size 1k",
	    "ban_table_size: invalid number \"1k\"");
	expect_error3("ban_prefix_v4 0", "ban_prefix_v4: 0 out of range (1..32)");
	expect_error3("ban_prefix_v4 33",
	    "ban_prefix_v4: 33 out of range (1..32)");
	expect_error3("ban_prefix_v6 0",
	    "ban_prefix_v6: 0 out of range (1..128)");
	expect_error3("ban_prefix_v6 129",
	    "ban_prefix_v6: 129 out of range (1..128)");
	expect_error3("ban_log a b", "ban_log: expected one value");
}
END_TEST

START_TEST(test_err_already_set)
{
	expect_errors(MINIMAL "keepalive_timeout 5s\nlog_level warn\n"
	    "keepalive_timeout 6s\ntls_certificate a\ntls_certificate b\n"
	    "keepalive_timeout x\n",
	    "t.conf:5: keepalive_timeout: already set at line 3\n"
	    "t.conf:7: tls_certificate: already set at line 6\n"
	    "t.conf:8: keepalive_timeout: already set at line 3\n");
	/* A bad first value still counts as set. */
	expect_errors(MINIMAL "log_level loud\nlog_level info\n",
	    "t.conf:3: log_level: expected error, warn, info or debug\n"
	    "t.conf:4: log_level: already set at line 3\n");
}
END_TEST

START_TEST(test_limits)
{
	struct conf	*conf;
	struct limit	 def[LIM_N];
	char		 text[4096];
	int		 i, n;

	conf = parse_ok(MINIMAL
	    "limit ping_rate 20/10s\n"
	    "limit streams off\n"
	    "limit header_bytes 128k\n"
	    "limit client_conn_rate \"5/500ms\"   # quoted, commented\n");
	ck_assert_uint_eq(conf->limits[LIM_PING_RATE].count, 20);
	ck_assert_uint_eq(conf->limits[LIM_PING_RATE].window_ms, 10000);
	ck_assert_uint_eq(conf->limits[LIM_STREAMS].count, 0);
	ck_assert_uint_eq(conf->limits[LIM_STREAMS].window_ms, 0);
	ck_assert_uint_eq(conf->limits[LIM_HEADER_BYTES].count, 128 * 1024);
	ck_assert_uint_eq(conf->limits[LIM_HEADER_BYTES].window_ms, 0);
	ck_assert_uint_eq(conf->limits[LIM_CLIENT_CONN_RATE].count, 5);
	ck_assert_uint_eq(conf->limits[LIM_CLIENT_CONN_RATE].window_ms, 500);
	limit_defaults(def);
	for (i = 0; i < LIM_N; i++) {
		if (i == LIM_PING_RATE || i == LIM_STREAMS ||
		    i == LIM_HEADER_BYTES || i == LIM_CLIENT_CONN_RATE)
			continue;
		ck_assert_msg(conf->limits[i].count == def[i].count &&
		    conf->limits[i].window_ms == def[i].window_ms,
		    "limit %s: %u/%u", limit_name((enum limit_id)i),
		    conf->limits[i].count, conf->limits[i].window_ms);
	}
	ck_assert_uint_eq(conf->limits[LIM_RST_RATE].count, 1000);
	ck_assert_uint_eq(conf->limits[LIM_CONTINUATIONS].count, 5);
	check_defaults(conf);
	conf_free(conf);

	/* Every limit can be set, each once, and turned off. */
	n = snprintf(text, sizeof(text), MINIMAL);
	for (i = 0; i < LIM_N; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
		    "limit %s off\n", limit_name((enum limit_id)i));
	ck_assert_int_lt(n, (int)sizeof(text));
	conf = parse_ok(text);
	for (i = 0; i < LIM_N; i++)
		ck_assert_uint_eq(conf->limits[i].count, 0);
	conf_free(conf);
}
END_TEST

#define RATE_SYNTAX "COUNT/DURATION (1..1000000000 per 1ms..24h) or off"

START_TEST(test_err_limits)
{
	expect_error3("limit nope 1", "limit: unknown limit \"nope\"");
	expect_error3("limit PING_RATE 1/1s",
	    "limit: unknown limit \"PING_RATE\"");
	expect_error3("limit", "limit: expected NAME VALUE");
	expect_error3("limit ping_rate", "limit: expected NAME VALUE");
	expect_error3("limit ping_rate 1/1s x", "limit: expected NAME VALUE");
	expect_error3("limit nope", "limit: expected NAME VALUE");

	expect_error3("limit ping_rate 1k/10s", "limit ping_rate: invalid "
	    "value \"1k/10s\", expected " RATE_SYNTAX);
	expect_error3("limit ping_rate 10", "limit ping_rate: invalid "
	    "value \"10\", expected " RATE_SYNTAX);
	expect_error3("limit rst_rate 0/10s", "limit rst_rate: invalid "
	    "value \"0/10s\", expected " RATE_SYNTAX);
	expect_error3("limit client_stream_rate 10/25h",
	    "limit client_stream_rate: invalid value \"10/25h\", expected "
	    RATE_SYNTAX);
	expect_error3("limit streams 16k", "limit streams: invalid value "
	    "\"16k\", expected COUNT (1..1000000000) or off");
	expect_error3("limit continuations 0", "limit continuations: invalid "
	    "value \"0\", expected COUNT (1..1000000000) or off");
	expect_error3("limit header_fields 1000000001", "limit header_fields: "
	    "invalid value \"1000000001\", expected COUNT (1..1000000000) or "
	    "off");
	expect_error3("limit header_bytes 1kb", "limit header_bytes: invalid "
	    "value \"1kb\", expected SIZE (1..1g) or off");

	/* Once per name; a bad first value still counts as set. */
	expect_errors(MINIMAL "limit rst_rate 1/1s\n"
	    "limit ping_rate 1/1s\n"
	    "limit rst_rate 2/1s\n"
	    "limit ping_rate off\n",
	    "t.conf:5: limit rst_rate: already set at line 3\n"
	    "t.conf:6: limit ping_rate: already set at line 4\n");
	expect_errors(MINIMAL "limit streams lots\nlimit streams 5\n",
	    "t.conf:3: limit streams: invalid value \"lots\", expected "
	    "COUNT (1..1000000000) or off\n"
	    "t.conf:4: limit streams: already set at line 3\n");
	/* An unknown name sets nothing; errors of several lines add up. */
	expect_errors(MINIMAL "limit nope 1\nlimit streams 5\n"
	    "limit streams 6\nlimit\n",
	    "t.conf:3: limit: unknown limit \"nope\"\n"
	    "t.conf:5: limit streams: already set at line 4\n"
	    "t.conf:6: limit: expected NAME VALUE\n");
}
END_TEST

START_TEST(test_flood_keys)
{
	struct conf *conf;

	conf = parse_ok(MINIMAL
	    "header_timeout 5s\n"
	    "send_timeout 2m\n"
	    "flood_ban_ttl 10m\n"
	    "client_table_size 10000000\n");
	ck_assert_uint_eq(conf->header_timeout, 5000);
	ck_assert_uint_eq(conf->send_timeout, 120000);
	ck_assert_uint_eq(conf->flood_ban_ttl, 600000);
	ck_assert_uint_eq(conf->client_table_size, 10000000);
	conf_free(conf);

	conf = parse_ok(MINIMAL
	    "header_timeout 1ms\n"
	    "send_timeout 24h\n"
	    "flood_ban_ttl 0\n"
	    "client_table_size 1\n");
	ck_assert_uint_eq(conf->header_timeout, 1);
	ck_assert_uint_eq(conf->send_timeout, 86400000);
	ck_assert_uint_eq(conf->flood_ban_ttl, 0);
	ck_assert_uint_eq(conf->client_table_size, 1);
	conf_free(conf);

	conf = parse_ok(MINIMAL "flood_ban_ttl 30d\n");
	ck_assert_uint_eq(conf->flood_ban_ttl, 2592000000U);
	conf_free(conf);
	conf = parse_ok(MINIMAL "flood_ban_ttl 0ms\n");
	ck_assert_uint_eq(conf->flood_ban_ttl, 0);
	conf_free(conf);

	expect_error3("header_timeout 0",
	    "header_timeout: 0 out of range (1ms..24h)");
	expect_error3("send_timeout 25h",
	    "send_timeout: 25h out of range (1ms..24h)");
	expect_error3("send_timeout soon",
	    "send_timeout: invalid duration \"soon\"");
	expect_error3("flood_ban_ttl 31d",
	    "flood_ban_ttl: 31d out of range (0..30d)");
	expect_error3("flood_ban_ttl 2592000001ms",
	    "flood_ban_ttl: 2592000001ms out of range (0..30d)");
	expect_error3("flood_ban_ttl forever",
	    "flood_ban_ttl: invalid duration \"forever\"");
	expect_error3("flood_ban_ttl", "flood_ban_ttl: expected one value");
	expect_error3("client_table_size 0",
	    "client_table_size: 0 out of range (1..10000000)");
	expect_error3("client_table_size 10000001",
	    "client_table_size: 10000001 out of range (1..10000000)");
	expect_error3("client_table_size 1k",
	    "client_table_size: invalid number \"1k\"");
	expect_errors(MINIMAL "flood_ban_ttl 1m\nflood_ban_ttl 2m\n",
	    "t.conf:4: flood_ban_ttl: already set at line 3\n");
}
END_TEST

START_TEST(test_err_tls)
{
	expect_errors("listen 127.0.0.1:8080\nlisten [::1]:8443 tls\n"
	    "listen 127.0.0.1:8443 tls\nupstream 127.0.0.1:8000\n",
	    "t.conf:2: listen [::1]:8443 tls needs tls_certificate and "
	    "tls_certificate_key\n");
	expect_errors("listen 127.0.0.1:8443 tls\ntls_certificate c\n"
	    "upstream 127.0.0.1:8000\n",
	    "t.conf:1: listen 127.0.0.1:8443 tls needs tls_certificate and "
	    "tls_certificate_key\n");
	expect_errors("tls_certificate_key k\nlisten 127.0.0.1:8443 tls\n"
	    "upstream 127.0.0.1:8000\n",
	    "t.conf:2: listen 127.0.0.1:8443 tls needs tls_certificate and "
	    "tls_certificate_key\n");
	/* Certificates without a tls listener are accepted (and unused). */
	conf_free(parse_ok(MINIMAL "tls_certificate c\ntls_certificate_key k\n"));
}
END_TEST

START_TEST(test_err_missing)
{
	expect_errors("", "t.conf:1: no \"listen\" line\n"
	    "t.conf:1: no \"upstream\" line\n");
	expect_errors("\n", "t.conf:1: no \"listen\" line\n"
	    "t.conf:1: no \"upstream\" line\n");
	expect_errors("# nothing\n\n\n", "t.conf:3: no \"listen\" line\n"
	    "t.conf:3: no \"upstream\" line\n");
	expect_errors("upstream 127.0.0.1:8000\n# end",
	    "t.conf:2: no \"listen\" line\n");
	expect_errors("listen 127.0.0.1:8080\r\n\r\n",
	    "t.conf:2: no \"upstream\" line\n");
}
END_TEST

START_TEST(test_err_many)
{
	expect_errors("listen 127.0.0.1:8443 tls\n"
	    "frobnicate yes\n"
	    "max_concurrent_streams lots\n"
	    "keepalive_timeout 10x\n"
	    "listen 127.0.0.1:8443\n"
	    "tls_certificate \"x\n"
	    "log_level loud\n"
	    "upstream\n",
	    "t.conf:1: listen 127.0.0.1:8443 tls needs tls_certificate and "
	    "tls_certificate_key\n"
	    "t.conf:2: unknown key \"frobnicate\"\n"
	    "t.conf:3: max_concurrent_streams: invalid number \"lots\"\n"
	    "t.conf:4: keepalive_timeout: invalid duration \"10x\"\n"
	    "t.conf:5: listen: duplicate address \"127.0.0.1:8443\" "
	    "(first at line 1)\n"
	    "t.conf:6: unterminated quoted string\n"
	    "t.conf:7: log_level: expected error, warn, info or debug\n"
	    "t.conf:8: upstream: expected HOST:PORT or unix:PATH\n"
	    "t.conf:8: no \"upstream\" line\n");
}
END_TEST

static char restart_seen[256];

static void
restart_cb(void *arg, const char *key)
{
	strncat(restart_seen, key, sizeof(restart_seen) - strlen(restart_seen) - 2);
	strcat(restart_seen, " ");
}

/* conf_restart_changed(): the keys a reload cannot change, when they do. */
START_TEST(test_restart_keys)
{
	struct conf *o, *n;

	o = parse_ok(MINIMAL "workers 2\nban_prefix_v6 64\nlog_level warn\n");
	n = parse_ok(MINIMAL "workers 3\nban_prefix_v6 48\nlog_level info\n"
	    "kernel_drop off\nban_share_prefix site:\n");
	restart_seen[0] = '\0';
	conf_restart_changed(o, n, restart_cb, NULL);
	ck_assert_str_eq(restart_seen,
	    "workers ban_prefix_v6 kernel_drop ban_share_prefix ");
	restart_seen[0] = '\0';
	conf_restart_changed(o, o, restart_cb, NULL);
	ck_assert_str_eq(restart_seen, "");
	conf_free(o);
	conf_free(n);
}
END_TEST

START_TEST(test_ban_share)
{
	static const char *const bad[] = {
		"ban_share http://127.0.0.1:6379",
		"ban_share redis://localhost:6379",
		"ban_share redis://127.0.0.1",
		"ban_share redis://127.0.0.1:6379/x",
		"ban_share redis://127.0.0.1:6379/1001",
		"ban_share redis://secret@127.0.0.1:6379",
		"ban_share redis://:@127.0.0.1:6379",
	};
	struct conf	*conf;
	char		 text[256];
	size_t		 i;

	conf = parse_ok(MINIMAL);
	ck_assert_str_eq(conf->ban_share, "off");
	ck_assert_uint_eq(conf->ban_share_addrlen, 0);
	ck_assert_str_eq(conf->ban_share_prefix, "h2guard:");
	conf_free(conf);
#ifndef HAVE_HIREDIS
	/* Built without hiredis: refused, whatever the value. */
	(void)bad;
	(void)i;
	snprintf(text, sizeof(text), "ban_share redis://127.0.0.1:6379");
	expect_error3(text, "ban_share: this h2guard was built without "
	    "hiredis: install libhiredis-dev and build it again");
	return;
#endif
	conf = parse_ok(MINIMAL "ban_share redis://:p@ss@[::1]:6380/3\n"
	    "ban_share_prefix site1:\n");
	ck_assert_int_eq(conf->ban_share_addr.ss_family, AF_INET6);
	ck_assert_str_eq(conf->ban_share_password, "p@ss");
	ck_assert_uint_eq(conf->ban_share_db, 3);
	ck_assert_str_eq(conf->ban_share_prefix, "site1:");
	conf_free(conf);
	conf = parse_ok(MINIMAL "ban_share redis://127.0.0.1:6379\n");
	ck_assert_int_eq(conf->ban_share_addr.ss_family, AF_INET);
	ck_assert_ptr_null(conf->ban_share_password);
	ck_assert_uint_eq(conf->ban_share_db, 0);
	conf_free(conf);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s", bad[i]);
		expect_error3(text, "ban_share: expected "
		    "redis://[:PASSWORD@]ADDR:PORT[/DB] (an IP address; DB "
		    "0..1000) or off");
	}
	expect_error3("ban_share_prefix a*b", "ban_share_prefix: letters, "
	    "digits and punctuation other than * ? [ ] \\, not empty");
}
END_TEST

START_TEST(test_load)
{
	char		 path[] = "/tmp/test_conf.XXXXXX";
	struct conf	*conf;
	char		*errors;
	int		 fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, EXAMPLE, strlen(EXAMPLE)),
	    (int)strlen(EXAMPLE));
	close(fd);
	conf = conf_load(path, &errors);
	ck_assert_ptr_nonnull(conf);
	ck_assert_ptr_null(errors);
	ck_assert_str_eq(conf->path, path);
	ck_assert_int_eq(STAILQ_FIRST(&conf->upstreams)->line, 6);
	conf_free(conf);

	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "bogus\n", 6), 6);
	close(fd);
	ck_assert_ptr_null(conf_load(path, &errors));
	ck_assert_ptr_nonnull(strstr(errors, ":1: unknown key \"bogus\"\n"));
	ck_assert_int_eq(strncmp(errors, path, strlen(path)), 0);
	free(errors);
	unlink(path);

	ck_assert_ptr_null(conf_load("/nonexistent/h2guard.conf", &errors));
	ck_assert_str_eq(errors, "/nonexistent/h2guard.conf:0: cannot read: "
	    "No such file or directory\n");
	free(errors);
	ck_assert_ptr_null(conf_load("/", &errors));
	ck_assert_str_eq(errors, "/:0: cannot read: Is a directory\n");
	free(errors);
}
END_TEST

/* The shipped example must parse (from the source tree). */
START_TEST(test_shipped_example)
{
	const char		*srcdir = getenv("H2GUARD_SRCDIR");
	char			 path[4096];
	struct conf		*conf;
	struct conf_listen	*cl;
	char			*errors;
	int			 n = 0;

	snprintf(path, sizeof(path), "%s/conf/h2guard.conf",
	    srcdir ? srcdir : ".");
	conf = conf_load(path, &errors);
	ck_assert_msg(conf != NULL, "%s (set H2GUARD_SRCDIR)", errors);
	ck_assert_str_eq(conf->tls_certificate, "conf/demo-cert.pem");
	ck_assert_str_eq(conf->tls_certificate_key, "conf/demo-key.pem");
	ck_assert_str_eq(STAILQ_FIRST(&conf->upstreams)->name,
	    "127.0.0.1:8000");
	STAILQ_FOREACH(cl, &conf->listens, link)
		n++;
	ck_assert_int_eq(n, 3);
	check_defaults(conf);
	conf_free(conf);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_example);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_all_keys);
	tcase_add_test(tc, test_ban_keys);
	tcase_add_test(tc, test_rules_example);
	tcase_add_test(tc, test_err_rules);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_duration);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_addr);
	tcase_add_test(tc, test_listen_ipv6_any);
	tcase_add_test(tc, test_upstreams);
	tcase_add_test(tc, test_quotes_comments);
	tcase_add_test(tc, test_not_terminated);
	tcase_add_test(tc, test_err_syntax);
	tcase_add_test(tc, test_err_listen);
	tcase_add_test(tc, test_ops_keys);
	tcase_add_test(tc, test_err_upstream);
	tcase_add_test(tc, test_err_values);
	tcase_add_test(tc, test_err_already_set);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_err_limits);
	tcase_add_test(tc, test_flood_keys);
	tcase_add_test(tc, test_err_tls);
	tcase_add_test(tc, test_err_missing);
	tcase_add_test(tc, test_err_many);
	tcase_add_test(tc, test_ban_share);
	tcase_add_test(tc, test_restart_keys);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_shipped_example);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(conf_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
