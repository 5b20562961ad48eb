/*
 * test_rules.c - unit tests for proxy/rules.c: every condition kind, that
 * none matches more than it should, first match wins, actions and ttl, and
 * every error message.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/hdr.h"
#include "proxy/rules.h"

#define MAXARGS 64

/* A request to match, with owned storage behind rule_input. */
struct req {
	struct rule_input	 in;
	struct hdrlist		 headers;
	struct sockaddr_storage	 client;
};

/* Splits line at spaces into argv (words without spaces suffice here). */
static int
split(char *line, char **argv)
{
	int	 argc = 0;
	char	*s;

	for (s = strtok(line, " "); s != NULL && argc < MAXARGS;
	    s = strtok(NULL, " "))
		argv[argc++] = s;
	return argc;
}

/* rules_add_at() of n words given as literals (copied: argv is writable). */
static int
add_words(struct rule_list *rl, int line, const char *const *w, int n,
    char *err, size_t errlen)
{
	char	*argv[MAXARGS];
	int	 i, rc;

	for (i = 0; i < n; i++)
		ck_assert_ptr_nonnull(argv[i] = strdup(w[i]));
	rc = rules_add_at(rl, line, n, argv, err, errlen);
	for (i = 0; i < n; i++)
		free(argv[i]);
	return rc;
}

/* Adds one rule line, which must be accepted. */
static void
add(struct rule_list *rl, const char *line)
{
	char	 buf[1024], err[512], *argv[MAXARGS];
	int	 argc;

	snprintf(buf, sizeof(buf), "%s", line);
	argc = split(buf, argv);
	err[0] = '\0';
	ck_assert_msg(rules_add(rl, argc, argv, err, sizeof(err)) == 0,
	    "%s: %s", line, err);
}

/* A list of one rule. */
static struct rule_list *
one(const char *line)
{
	struct rule_list *rl = rules_new();

	ck_assert_ptr_nonnull(rl);
	add(rl, line);
	return rl;
}

/* Adding line must fail with exactly msg, leaving the list as it was. */
static void
expect_err(const char *line, const char *msg)
{
	struct rule_list	*rl = rules_new();
	char			 buf[1024], err[512], *argv[MAXARGS];
	int			 argc;

	snprintf(buf, sizeof(buf), "%s", line);
	argc = split(buf, argv);
	err[0] = '\0';
	ck_assert_msg(rules_add(rl, argc, argv, err, sizeof(err)) == -1,
	    "accepted: %s", line);
	ck_assert_msg(strcmp(err, msg) == 0, "%s:\n got \"%s\"\nwant \"%s\"",
	    line, err, msg);
	ck_assert_uint_eq(rules_count(rl), 0);
	rules_free(rl);
}

/*
 * Points in at target split as the rules see it: path (taken as already
 * normalized) and query, decoded as it is (canon.c has its own tests).
 */
static void
set_target(struct rule_input *in, const char *t)
{
	const char *q = strchr(t, '?');

	in->path = t;
	in->pathlen = q ? (size_t)(q - t) : strlen(t);
	in->query = q ? q + 1 : "";
	in->querylen = strlen(in->query);
	in->query_dec = in->query;
	in->query_declen = in->querylen;
}

/* A GET / over HTTP/2 from 192.0.2.1, no authority, no SNI. */
static void
req_init(struct req *r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&r->client;

	memset(r, 0, sizeof(*r));
	r->in.method = "GET";
	set_target(&r->in, "/");
	r->in.headers = &r->headers;
	r->in.proto = PROTO_H2;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	r->in.client = (const struct sockaddr *)&r->client;
}

static void
req_client(struct req *r, const char *addr)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&r->client;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&r->client;

	memset(&r->client, 0, sizeof(r->client));
	if (strchr(addr, ':') != NULL) {
		sin6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	} else {
		sin->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	}
}

static void
req_header(struct req *r, const char *name, const char *value)
{
	ck_assert_int_eq(hdrlist_add(&r->headers, name, strlen(name), value,
	    strlen(value), 1), 0);
}

static void
req_free(struct req *r)
{
	hdrlist_clear(&r->headers);
	free(r->headers.v);
}

/* The name of the rule r matches, or NULL. */
static const char *
matched(const struct rule_list *rl, const struct req *r)
{
	const struct rule *m = rules_match(rl, &r->in, NULL);

	return m ? rule_name(m) : NULL;
}

/* Whether the one-rule list rl matches a GET of path. */
static int
path_matches(const struct rule_list *rl, const char *path)
{
	struct req	r;
	int		rc;

	req_init(&r);
	set_target(&r.in, path);
	rc = rules_match(rl, &r.in, NULL) != NULL;
	req_free(&r);
	return rc;
}

static int
client_matches(const struct rule_list *rl, const char *addr)
{
	struct req	r;
	int		rc;

	req_init(&r);
	req_client(&r, addr);
	rc = rules_match(rl, &r.in, NULL) != NULL;
	req_free(&r);
	return rc;
}

START_TEST(test_empty)
{
	struct rule_list	*rl = rules_new();
	struct req		 r;

	req_init(&r);
	ck_assert_uint_eq(rules_count(rl), 0);
	ck_assert_ptr_null(rules_match(rl, &r.in, NULL));
	ck_assert_ptr_null(rules_find(rl, "x"));
	rules_free(rl);
	rules_free(NULL);
	req_free(&r);
}
END_TEST

START_TEST(test_method)
{
	struct rule_list	*rl = one("rule m method DELETE ban");
	struct req		 r;

	req_init(&r);
	ck_assert_ptr_null(matched(rl, &r));
	r.in.method = "DELETE";
	ck_assert_str_eq(matched(rl, &r), "m");
	r.in.method = "delete";
	ck_assert_ptr_null(matched(rl, &r));
	r.in.method = "DELETEX";
	ck_assert_ptr_null(matched(rl, &r));
	r.in.method = "DELET";
	ck_assert_ptr_null(matched(rl, &r));
	r.in.method = NULL;
	ck_assert_ptr_null(matched(rl, &r));
	/* A POST that a framework takes for a DELETE is one for the rules. */
	r.in.method = "POST";
	req_header(&r, "x-http-method-override", "PUT");
	ck_assert_ptr_null(matched(rl, &r));
	req_header(&r, "X_Method_Override", "delete");
	ck_assert_str_eq(matched(rl, &r), "m");
	req_free(&r);
	req_init(&r);
	r.in.method = "POST";
	req_header(&r, "x-http-method", "DELETE");
	ck_assert_str_eq(matched(rl, &r), "m");
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_path_exact)
{
	struct rule_list *rl = one("rule p path exact /admin ban");

	ck_assert(path_matches(rl, "/admin"));
	ck_assert(path_matches(rl, "/admin?x=1"));
	ck_assert(path_matches(rl, "/admin?"));
	ck_assert(!path_matches(rl, "/admin/"));
	ck_assert(!path_matches(rl, "/adminx"));
	ck_assert(!path_matches(rl, "/Admin"));
	ck_assert(!path_matches(rl, "/adm"));
	ck_assert(!path_matches(rl, "/x?/admin"));
	ck_assert(!path_matches(rl, "/"));
	rules_free(rl);
}
END_TEST

START_TEST(test_path_prefix)
{
	struct rule_list *rl = one("rule p path prefix /wp-login.php ban");

	ck_assert(path_matches(rl, "/wp-login.php"));
	ck_assert(path_matches(rl, "/wp-login.php?action=x"));
	ck_assert(path_matches(rl, "/wp-login.phpx"));
	ck_assert(!path_matches(rl, "/wp-login.ph"));
	ck_assert(!path_matches(rl, "/wp-login.ph?p"));
	ck_assert(!path_matches(rl, "/x/wp-login.php"));
	ck_assert(!path_matches(rl, "/?/wp-login.php"));
	ck_assert(!path_matches(rl, "/WP-LOGIN.PHP"));
	rules_free(rl);
}
END_TEST

START_TEST(test_path_regex)
{
	struct rule_list *rl = one("rule p path regex \\.env$ log");

	ck_assert(path_matches(rl, "/.env"));
	ck_assert(path_matches(rl, "/app/.env?x=1"));
	ck_assert(!path_matches(rl, "/.env.bak"));
	ck_assert(!path_matches(rl, "/xenv"));	/* the dot is escaped */
	ck_assert(!path_matches(rl, "/?f=.env"));
	ck_assert(!path_matches(rl, "/"));
	rules_free(rl);

	/* Anchors see the path alone, not the query. */
	rl = one("rule p path regex ^/a/[0-9]+$ ban");
	ck_assert(path_matches(rl, "/a/123"));
	ck_assert(path_matches(rl, "/a/123?b=c"));
	ck_assert(!path_matches(rl, "/a/123x"));
	ck_assert(!path_matches(rl, "/b/a/123"));
	rules_free(rl);
}
END_TEST

START_TEST(test_query)
{
	struct rule_list *rl = one("rule q query regex (?i)union.+select ban");

	ck_assert(path_matches(rl, "/?id=1+UNION+SELECT+1"));
	ck_assert(path_matches(rl, "/a?x=union select"));
	ck_assert(!path_matches(rl, "/union/select"));
	ck_assert(!path_matches(rl, "/union/select?x"));
	ck_assert(!path_matches(rl, "/a?x=union"));
	rules_free(rl);

	/* Without '?' the query is "", and a pattern for "" matches it. */
	rl = one("rule q query regex ^$ ban");
	ck_assert(path_matches(rl, "/a"));
	ck_assert(path_matches(rl, "/a?"));
	ck_assert(!path_matches(rl, "/a?b"));
	rules_free(rl);

	/* Only the first '?' splits. */
	rl = one("rule q query regex ^b\\?c$ ban");
	ck_assert(path_matches(rl, "/a?b?c"));
	ck_assert(!path_matches(rl, "/a?b"));
	rules_free(rl);
}
END_TEST

START_TEST(test_header_present)
{
	struct rule_list	*rl = one("rule h header X-Debug present ban");
	struct req		 r;

	req_init(&r);
	ck_assert_ptr_null(matched(rl, &r));
	req_header(&r, "x-debugger", "1");
	req_header(&r, "x-debu", "1");
	req_header(&r, "debug", "1");
	ck_assert_ptr_null(matched(rl, &r));
	req_header(&r, "X-Debug", "");		/* stored lower case, empty */
	ck_assert_str_eq(matched(rl, &r), "h");
	req_free(&r);

	req_init(&r);
	r.in.headers = NULL;
	ck_assert_ptr_null(matched(rl, &r));
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_header_exact)
{
	struct rule_list	*rl = one("rule h header accept exact */*- ban");
	struct req		 r;

	req_init(&r);
	req_header(&r, "accept", "text/html");
	req_header(&r, "x-accept", "*/*-");
	req_header(&r, "accept", "*/*-x");
	req_header(&r, "accept", "*/*");
	ck_assert_ptr_null(matched(rl, &r));
	/* Any field of the name: the fifth. */
	req_header(&r, "accept", "*/*-");
	ck_assert_str_eq(matched(rl, &r), "h");
	req_free(&r);
	rules_free(rl);

	/* Values are case sensitive, names are not. */
	rl = one("rule h header X-Token exact Secret ban");
	req_init(&r);
	req_header(&r, "x-token", "secret");
	ck_assert_ptr_null(matched(rl, &r));
	req_header(&r, "x-token", "Secret");
	ck_assert_str_eq(matched(rl, &r), "h");
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_header_exact_spaces)
{
	static const char *const w[] = { "rule", "h", "header", "user-agent",
	    "exact", "Mozilla/5.0 (evil)", "ban" };
	struct rule_list	*rl = rules_new();
	struct req		 r;
	char			 err[256];

	ck_assert_int_eq(add_words(rl, 0, w, 7, err, sizeof(err)), 0);
	req_init(&r);
	req_header(&r, "user-agent", "Mozilla/5.0");
	ck_assert_ptr_null(matched(rl, &r));
	req_header(&r, "user-agent", "Mozilla/5.0 (evil)");
	ck_assert_str_eq(matched(rl, &r), "h");
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_header_regex)
{
	struct rule_list	*rl;
	struct req		 r;

	rl = one("rule sqlmap header user-agent regex (?i)sqlmap|nikto ban "
	    "ttl 10m");
	req_init(&r);
	ck_assert_ptr_null(matched(rl, &r));
	req_header(&r, "user-agent", "curl/8.0");
	req_header(&r, "referer", "sqlmap");	/* another field */
	ck_assert_ptr_null(matched(rl, &r));
	req_header(&r, "user-agent", "Mozilla/5.0 Nikto/2.5");
	ck_assert_str_eq(matched(rl, &r), "sqlmap");
	req_free(&r);

	req_init(&r);
	req_header(&r, "user-agent", "SQLMap/1.7 (https://sqlmap.org)");
	ck_assert_str_eq(matched(rl, &r), "sqlmap");
	req_free(&r);
	rules_free(rl);

	/* Without (?i) a pattern is case sensitive. */
	rl = one("rule s header user-agent regex ^sqlmap ban");
	req_init(&r);
	req_header(&r, "user-agent", "SQLMAP");
	req_header(&r, "user-agent", "x sqlmap");
	ck_assert_ptr_null(matched(rl, &r));
	req_header(&r, "user-agent", "sqlmap/1");
	ck_assert_str_eq(matched(rl, &r), "s");
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_authority)
{
	struct rule_list	*rl = one("rule a authority exact Example.COM ban");
	struct req		 r;

	req_init(&r);
	ck_assert_ptr_null(matched(rl, &r));	/* NULL authority */
	r.in.authority = "example.com";
	ck_assert_str_eq(matched(rl, &r), "a");
	r.in.authority = "EXAMPLE.com";
	ck_assert_str_eq(matched(rl, &r), "a");
	/* A virtual host is chosen whatever the port. */
	r.in.authority = "example.com:8443";
	ck_assert_str_eq(matched(rl, &r), "a");
	r.in.authority = "www.example.com";
	ck_assert_ptr_null(matched(rl, &r));
	r.in.authority = "example.co";
	ck_assert_ptr_null(matched(rl, &r));
	r.in.authority = "example.com.evil:80";
	ck_assert_ptr_null(matched(rl, &r));
	rules_free(rl);

	/* Unless the rule names a port; written as a request's would be. */
	rl = one("rule a authority exact Example.COM.:8443 ban");
	r.in.authority = "example.com:8443";
	ck_assert_str_eq(matched(rl, &r), "a");
	r.in.authority = "example.com";
	ck_assert_ptr_null(matched(rl, &r));
	r.in.authority = "example.com:443";
	ck_assert_ptr_null(matched(rl, &r));
	rules_free(rl);
	rl = one("rule a authority exact [2001:DB8::1] ban");
	r.in.authority = "[2001:db8::1]:8080";
	ck_assert_str_eq(matched(rl, &r), "a");
	rules_free(rl);
	expect_err("rule a authority exact a/b ban",
	    "rule a: \"a/b\" is not an authority (HOST or HOST:PORT)");

	/* A regex sees the host, and the authority with its port. */
	rl = one("rule a authority regex ^admin\\.example\\.com$ ban");
	r.in.authority = "admin.example.com:8080";
	ck_assert_str_eq(matched(rl, &r), "a");
	r.in.authority = "ADMIN.example.com";
	ck_assert_str_eq(matched(rl, &r), "a");
	rules_free(rl);

	rl = one("rule a authority regex ^[0-9.]+(:[0-9]+)?$ ban");
	r.in.authority = NULL;
	ck_assert_ptr_null(matched(rl, &r));
	r.in.authority = "192.0.2.1:8443";
	ck_assert_str_eq(matched(rl, &r), "a");
	r.in.authority = "example.com";
	ck_assert_ptr_null(matched(rl, &r));
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_client_v4)
{
	struct rule_list *rl = one("rule c client 10.0.0.0/8 ban");

	ck_assert(client_matches(rl, "10.0.0.0"));
	ck_assert(client_matches(rl, "10.1.2.3"));
	ck_assert(client_matches(rl, "10.255.255.255"));
	ck_assert(!client_matches(rl, "11.0.0.1"));
	ck_assert(!client_matches(rl, "9.255.255.255"));
	ck_assert(!client_matches(rl, "110.0.0.1"));
	/* IPv4-mapped IPv6 clients are IPv4 clients. */
	ck_assert(client_matches(rl, "::ffff:10.1.2.3"));
	ck_assert(!client_matches(rl, "::ffff:11.0.0.1"));
	/* Other IPv6 addresses ending in those bytes are not. */
	ck_assert(!client_matches(rl, "::10.1.2.3"));
	ck_assert(!client_matches(rl, "2001:db8::a01:203"));
	ck_assert(!client_matches(rl, "::1"));
	rules_free(rl);

	/* A prefix that is not a byte boundary. */
	rl = one("rule c client 172.16.0.0/12 ban");
	ck_assert(client_matches(rl, "172.16.0.0"));
	ck_assert(client_matches(rl, "172.31.255.255"));
	ck_assert(!client_matches(rl, "172.32.0.0"));
	ck_assert(!client_matches(rl, "172.15.255.255"));
	rules_free(rl);

	/* A bare address is a /32. */
	rl = one("rule c client 192.0.2.7 ban");
	ck_assert(client_matches(rl, "192.0.2.7"));
	ck_assert(client_matches(rl, "::ffff:192.0.2.7"));
	ck_assert(!client_matches(rl, "192.0.2.6"));
	ck_assert(!client_matches(rl, "192.0.2.8"));
	rules_free(rl);

	rl = one("rule c client 192.0.2.7/31 ban");
	ck_assert(client_matches(rl, "192.0.2.6"));	/* host bits cleared */
	ck_assert(client_matches(rl, "192.0.2.7"));
	ck_assert(!client_matches(rl, "192.0.2.8"));
	rules_free(rl);

	/* /0: every IPv4 client, no IPv6 one. */
	rl = one("rule c client 0.0.0.0/0 ban");
	ck_assert(client_matches(rl, "255.255.255.255"));
	ck_assert(client_matches(rl, "::ffff:1.2.3.4"));
	ck_assert(!client_matches(rl, "2001:db8::1"));
	rules_free(rl);
}
END_TEST

START_TEST(test_client_v6)
{
	struct rule_list	*rl = one("rule c client 2001:db8::/32 ban");
	struct req		 r;

	ck_assert(client_matches(rl, "2001:db8::"));
	ck_assert(client_matches(rl, "2001:db8:ffff:ffff::1"));
	ck_assert(!client_matches(rl, "2001:db9::1"));
	ck_assert(!client_matches(rl, "2001:db7:ffff::1"));
	ck_assert(!client_matches(rl, "32.1.13.184"));	/* same bytes, IPv4 */
	rules_free(rl);

	rl = one("rule c client 2001:db8::1 ban");
	ck_assert(client_matches(rl, "2001:db8::1"));
	ck_assert(client_matches(rl, "2001:0db8:0::0001"));
	ck_assert(!client_matches(rl, "2001:db8::2"));
	ck_assert(!client_matches(rl, "2001:db8::"));
	rules_free(rl);

	rl = one("rule c client 2001:db8:0:1::/63 ban");
	ck_assert(client_matches(rl, "2001:db8:0:0::1"));
	ck_assert(client_matches(rl, "2001:db8:0:1:ffff::1"));
	ck_assert(!client_matches(rl, "2001:db8:0:2::"));
	rules_free(rl);

	/* An IPv6 rule written for mapped addresses sees them as IPv6. */
	rl = one("rule c client ::ffff:10.0.0.0/104 ban");
	ck_assert(client_matches(rl, "::ffff:10.9.9.9"));
	ck_assert(!client_matches(rl, "10.9.9.9"));
	rules_free(rl);

	rl = one("rule c client ::/0 ban");
	ck_assert(client_matches(rl, "::1"));
	ck_assert(!client_matches(rl, "127.0.0.1"));
	req_init(&r);
	r.in.client = NULL;
	ck_assert_ptr_null(matched(rl, &r));
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_protocol)
{
	struct rule_list	*rl = rules_new();
	struct req		 r;

	add(rl, "rule one protocol http/1.1 log");
	add(rl, "rule two protocol h2 log");
	req_init(&r);
	r.in.proto = PROTO_H1;
	ck_assert_str_eq(matched(rl, &r), "one");
	r.in.proto = PROTO_H2;
	ck_assert_str_eq(matched(rl, &r), "two");
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_sni)
{
	struct rule_list	*rl = one("rule s sni exact Api.Example.com ban");
	struct req		 r;

	req_init(&r);
	ck_assert_ptr_null(matched(rl, &r));	/* no SNI */
	r.in.sni = "api.example.com";
	ck_assert_str_eq(matched(rl, &r), "s");
	r.in.sni = "API.EXAMPLE.COM";
	ck_assert_str_eq(matched(rl, &r), "s");
	r.in.sni = "api.example.com.";
	ck_assert_ptr_null(matched(rl, &r));
	r.in.sni = "";
	ck_assert_ptr_null(matched(rl, &r));
	rules_free(rl);

	/* Even a pattern matching "" does not match a missing SNI. */
	rl = one("rule s sni regex ^ ban");
	r.in.sni = NULL;
	ck_assert_ptr_null(matched(rl, &r));
	r.in.sni = "";
	ck_assert_str_eq(matched(rl, &r), "s");
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_all_hold)
{
	struct rule_list	*rl;
	struct req		 r;

	rl = one("rule admin method DELETE path prefix /admin ban ttl 1h");
	req_init(&r);
	set_target(&r.in, "/admin/users/1");
	ck_assert_ptr_null(matched(rl, &r));		/* GET */
	r.in.method = "DELETE";
	ck_assert_str_eq(matched(rl, &r), "admin");
	set_target(&r.in, "/users/1");
	ck_assert_ptr_null(matched(rl, &r));		/* wrong path */
	req_free(&r);
	rules_free(rl);

	rl = one("rule x client 10.0.0.0/8 protocol h2 header x-a present "
	    "sni regex ^a authority exact a.test path exact /p "
	    "query regex q method POST ban");
	req_init(&r);
	req_client(&r, "10.0.0.1");
	req_header(&r, "x-a", "1");
	r.in.sni = "a.test";
	r.in.authority = "a.test";
	set_target(&r.in, "/p?q");
	r.in.method = "POST";
	ck_assert_str_eq(matched(rl, &r), "x");
	r.in.proto = PROTO_H1;
	ck_assert_ptr_null(matched(rl, &r));
	r.in.proto = PROTO_H2;
	set_target(&r.in, "/p?z");
	ck_assert_ptr_null(matched(rl, &r));
	set_target(&r.in, "/p?q");
	req_client(&r, "11.0.0.1");
	ck_assert_ptr_null(matched(rl, &r));
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_order)
{
	struct rule_list	*rl = rules_new();
	struct req		 r;

	add(rl, "rule office client 10.0.0.0/8 allow");
	add(rl, "rule wp path prefix /wp-login.php ban");
	add(rl, "rule any path prefix / log");
	ck_assert_uint_eq(rules_count(rl), 3);

	req_init(&r);
	set_target(&r.in, "/wp-login.php");
	ck_assert_str_eq(matched(rl, &r), "wp");
	ck_assert_int_eq(rule_action(rules_match(rl, &r.in, NULL)), RULE_BAN);
	req_client(&r, "10.2.3.4");		/* allow comes first */
	ck_assert_str_eq(matched(rl, &r), "office");
	ck_assert_int_eq(rule_action(rules_match(rl, &r.in, NULL)), RULE_ALLOW);
	req_client(&r, "192.0.2.1");
	set_target(&r.in, "/index.html");
	ck_assert_str_eq(matched(rl, &r), "any");
	ck_assert_int_eq(rule_action(rules_match(rl, &r.in, NULL)), RULE_LOG);
	req_free(&r);
	rules_free(rl);

	/* The other way round, the ban wins. */
	rl = rules_new();
	add(rl, "rule wp path prefix /wp-login.php ban");
	add(rl, "rule office client 10.0.0.0/8 allow");
	req_init(&r);
	req_client(&r, "10.2.3.4");
	set_target(&r.in, "/wp-login.php");
	ck_assert_str_eq(matched(rl, &r), "wp");
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_actions)
{
	static const struct {
		const char		*action;
		enum rule_action	 a;
		uint32_t		 ttl;
	} t[] = {
		{ "ban", RULE_BAN, 0 },
		{ "ban ttl 10m", RULE_BAN, 600000 },
		{ "ban ttl 1h", RULE_BAN, 3600000 },
		{ "ban ttl 1s", RULE_BAN, 1000 },
		{ "ban ttl 1000ms", RULE_BAN, 1000 },
		{ "ban ttl 90", RULE_BAN, 90000 },
		{ "ban ttl 30d", RULE_BAN, 2592000000U },
		{ "ban ttl 720h", RULE_BAN, 2592000000U },
		{ "allow", RULE_ALLOW, 0 },
		{ "log", RULE_LOG, 0 },
	};
	struct rule_list	*rl;
	const struct rule	*r;
	char			 line[128];
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(line, sizeof(line), "rule n method GET %s",
		    t[i].action);
		rl = one(line);
		r = rules_find(rl, "n");
		ck_assert_ptr_nonnull(r);
		ck_assert_str_eq(rule_name(r), "n");
		ck_assert_int_eq(rule_action(r), t[i].a);
		ck_assert_uint_eq(rule_ttl(r), t[i].ttl);
		ck_assert_int_eq(rule_line(r), 0);
		rules_free(rl);
	}
}
END_TEST

START_TEST(test_find_line)
{
	static const char *const a[] = { "rule", "a", "method", "GET", "ban" };
	static const char *const b[] = { "rule", "b", "method", "PUT", "log" };
	struct rule_list	*rl = rules_new();
	char			 err[128];

	ck_assert_int_eq(add_words(rl, 7, a, 5, err, sizeof(err)), 0);
	ck_assert_int_eq(add_words(rl, 12, b, 5, err, sizeof(err)), 0);
	ck_assert_int_eq(rule_line(rules_find(rl, "a")), 7);
	ck_assert_int_eq(rule_line(rules_find(rl, "b")), 12);
	ck_assert_ptr_null(rules_find(rl, "c"));
	ck_assert_ptr_null(rules_find(rl, "A"));
	ck_assert_uint_eq(rules_count(rl), 2);
	rules_free(rl);
}
END_TEST

/* A keyword in value position is a value. */
START_TEST(test_keywords_as_values)
{
	struct rule_list	*rl = one("rule ban method ban path exact log "
	    "log");
	struct req		 r;

	req_init(&r);
	r.in.method = "ban";
	set_target(&r.in, "log");
	ck_assert_str_eq(matched(rl, &r), "ban");
	ck_assert_int_eq(rule_action(rules_match(rl, &r.in, NULL)), RULE_LOG);
	req_free(&r);
	rules_free(rl);
}
END_TEST

START_TEST(test_regex_bytes_and_limit)
{
	struct rule_list	*rl;
	struct req		 r;
	char			 path[4096];
	time_t			 t0;

	/* Patterns see bytes, not UTF-8: invalid UTF-8 is fine. */
	rl = one("rule u path regex \\xff ban");
	ck_assert(path_matches(rl, "/a\xff"));
	ck_assert(path_matches(rl, "/\xc3\xff"));
	ck_assert(!path_matches(rl, "/a"));
	rules_free(rl);

	/* A catastrophic pattern gives up instead of hanging. */
	rl = one("rule c path regex ^/(a+)+$ ban");
	memset(path, 'a', 64);
	path[0] = '/';
	path[64] = '!';
	path[65] = '\0';
	req_init(&r);
	set_target(&r.in, path);
	t0 = time(NULL);
	ck_assert_str_eq(matched(rl, &r), "c");	/* failed closed */
	ck_assert_int_le(time(NULL) - t0, 5);
	req_free(&r);
	rules_free(rl);
}
END_TEST

/* A subject of n bytes: head, then fill, then tail. */
static char *
subject(const char *head, char fill, size_t n, const char *tail)
{
	char *p = malloc(n + 1);

	ck_assert_ptr_nonnull(p);
	memset(p, fill, n);
	memcpy(p, head, strlen(head));
	memcpy(p + n - strlen(tail), tail, strlen(tail));
	p[n] = '\0';
	return p;
}

/*
 * A pattern that matches a path of any length up to max_header_list_size
 * does; one whose match hits a limit fails closed for ban and log rules,
 * never lets an allow rule exempt, and fails open only when told to.
 */
START_TEST(test_regex_long_subjects)
{
	const struct rule	*errored;
	struct rule_list	*rl;
	struct req		 r;
	char			*p;

	rl = one("rule b path regex ^/(?:(a)|(b))*c$ ban");
	p = subject("/", 'a', 64 * 1024, "c");
	req_init(&r);
	set_target(&r.in, p);
	ck_assert_ptr_nonnull(rules_match(rl, &r.in, &errored));
	ck_assert_ptr_null(errored);	/* a real match, no limit hit */
	p[64 * 1024 - 1] = 'd';
	ck_assert_ptr_null(rules_match(rl, &r.in, &errored));
	ck_assert_ptr_null(errored);
	free(p);
	rules_free(rl);

	/* Quadratic at each start: the limit stops it, and it counts as a ban. */
	rl = rules_new();
	add(rl, "rule ok query regex ^safe allow");
	add(rl, "rule q query regex .*.*=.*; ban");
	p = subject("/?;", 'a', 64 * 1024, "=");
	set_target(&r.in, p);
	ck_assert_str_eq(rule_name(rules_match(rl, &r.in, &errored)), "q");
	ck_assert_str_eq(rule_name(errored), "q");
	ck_assert_int_eq(rules_error_once(errored), 1);
	ck_assert_int_eq(rules_error_once(errored), 0);
	rules_set_errors(rl, RULES_ERRORS_OPEN);
	ck_assert_ptr_null(rules_match(rl, &r.in, &errored));
	ck_assert_str_eq(rule_name(errored), "q");
	rules_free(rl);

	/* An allow rule whose match fails does not exempt. */
	rl = rules_new();
	add(rl, "rule ok query regex .*.*=.*; allow");
	add(rl, "rule all path prefix / ban");
	ck_assert_str_eq(rule_name(rules_match(rl, &r.in, &errored)), "all");
	ck_assert_str_eq(rule_name(errored), "ok");
	free(p);
	req_free(&r);
	rules_free(rl);
}
END_TEST

/*
 * Several threads match the same list at once, as workers do: each result
 * must be the one a single thread gets (and, under ThreadSanitizer, no
 * two threads may write the same match data).
 */
#define RT_THREADS	4
#define RT_ROUNDS	4000

struct rt_arg {
	const struct rule_list	*rl;
	int			 id;
	int			 wrong;
};

static void *
rt_main(void *arg)
{
	static const struct {
		const char *target, *rule;
	} v[] = {
		{ "/wp-login.php", "wp" },
		{ "/a/b.env", "env" },
		{ "/x?id=1+union+select", "sqli" },
		{ "/index.html", NULL },
		{ "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", "abc" },
	};
	struct rt_arg	*a = arg;
	struct req	 r;
	const char	*m, *target;
	char		 slow[2][3008];
	int		 i, k, n = (int)(sizeof(v) / sizeof(v[0]));

	/*
	 * Two paths on which ^/.*(nikto|acunetix) hits the JIT limit and is
	 * matched again by the interpreter, whose backtracking frames live in
	 * the match data: shared by two threads, they would be overwritten.
	 */
	memset(slow, 'a', sizeof(slow));
	memcpy(slow[0], "/nikto", 6);
	slow[0][0] = slow[1][0] = '/';
	slow[0][3007] = slow[1][3007] = '\0';
	req_init(&r);
	for (i = 0; i < RT_ROUNDS; i++) {
		k = (i + a->id) % (n + 2);
		target = k < n ? v[k].target : slow[k - n];
		set_target(&r.in, target);
		m = matched(a->rl, &r);
		if (k >= n) {
			if ((m != NULL) != (k == n) ||
			    (m != NULL && strcmp(m, "ua") != 0))
				a->wrong++;
		} else if ((m == NULL) != (v[k].rule == NULL) ||
		    (m != NULL && strcmp(m, v[k].rule) != 0))
			a->wrong++;
	}
	req_free(&r);
	rules_thread_free();
	return NULL;
}

START_TEST(test_regex_threads)
{
	struct rule_list	*rl = rules_new();
	struct rt_arg		 a[RT_THREADS];
	pthread_t		 t[RT_THREADS];
	int			 i;

	add(rl, "rule wp path regex ^/wp-login\\.php$ ban");
	add(rl, "rule env path regex \\.env$ log");
	add(rl, "rule sqli query regex (?i)union.select ban");
	add(rl, "rule abc path regex ^/(?:(a)|(b))*c$ ban");
	add(rl, "rule ua path regex ^/.*(nikto|acunetix) ban");
	for (i = 0; i < RT_THREADS; i++) {
		a[i] = (struct rt_arg){ rl, i, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, rt_main, &a[i]), 0);
	}
	for (i = 0; i < RT_THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].wrong, 0);
	}
	rules_free(rl);
}
END_TEST

START_TEST(test_errors)
{
	static const char *const T = "expected an action: ban, ban ttl "
	    "DURATION, allow or log";
	static const struct {
		const char *line, *msg;
	} t[] = {
		{ "rule", "rule: expected NAME COND... ACTION" },
		{ "rule x", "rule: expected NAME COND... ACTION" },
		{ "rule x bogus /a ban", "rule x: unknown condition \"bogus\"" },
		{ "rule x Method GET ban",
		    "rule x: unknown condition \"Method\"" },
		{ "rule x method GET bogus /a ban",
		    "rule x: unknown condition \"bogus\"" },
		{ "rule x ban", "rule x: no condition" },
		{ "rule x allow", "rule x: no condition" },
		{ "rule x ban ttl 1h", "rule x: no condition" },
		{ "rule x method", "rule x: method needs a value" },
		{ "rule x path", "rule x: path needs exact, prefix or regex "
		    "and a value" },
		{ "rule x path /a ban", "rule x: path needs exact, prefix or "
		    "regex and a value" },
		{ "rule x path present ban", "rule x: path needs exact, "
		    "prefix or regex and a value" },
		{ "rule x path exact", "rule x: path needs exact, prefix or "
		    "regex and a value" },
		{ "rule x query exact a ban",
		    "rule x: query needs regex and a value" },
		{ "rule x query regex", "rule x: query needs regex and a value" },
		{ "rule x header", "rule x: header needs a field name, then "
		    "present, or exact or regex and a value" },
		{ "rule x header ua", "rule x: header needs a field name, then "
		    "present, or exact or regex and a value" },
		{ "rule x header ua prefix a ban", "rule x: header needs a "
		    "field name, then present, or exact or regex and a value" },
		{ "rule x header ua exact", "rule x: header needs a field "
		    "name, then present, or exact or regex and a value" },
		{ "rule x authority prefix a ban",
		    "rule x: authority needs exact or regex and a value" },
		{ "rule x authority exact",
		    "rule x: authority needs exact or regex and a value" },
		{ "rule x sni present ban",
		    "rule x: sni needs exact or regex and a value" },
		{ "rule x sni regex", "rule x: sni needs exact or regex and a "
		    "value" },
		{ "rule x client", "rule x: client needs a CIDR" },
		{ "rule x client 10.0.0.0/33 ban",
		    "rule x: invalid CIDR \"10.0.0.0/33\"" },
		{ "rule x client 10.0.0.0/ ban",
		    "rule x: invalid CIDR \"10.0.0.0/\"" },
		{ "rule x client 10.0.0.0/8x ban",
		    "rule x: invalid CIDR \"10.0.0.0/8x\"" },
		{ "rule x client 10.0.0.0/-1 ban",
		    "rule x: invalid CIDR \"10.0.0.0/-1\"" },
		{ "rule x client 10.0.0/8 ban",
		    "rule x: invalid CIDR \"10.0.0/8\"" },
		{ "rule x client 256.0.0.0 ban",
		    "rule x: invalid CIDR \"256.0.0.0\"" },
		{ "rule x client /8 ban", "rule x: invalid CIDR \"/8\"" },
		{ "rule x client ::1/129 ban",
		    "rule x: invalid CIDR \"::1/129\"" },
		{ "rule x client 2001:db8::/0032 ban",
		    "rule x: invalid CIDR \"2001:db8::/0032\"" },
		{ "rule x client fe80::1%eth0 ban",
		    "rule x: invalid CIDR \"fe80::1%eth0\"" },
		{ "rule x client localhost ban",
		    "rule x: invalid CIDR \"localhost\"" },
		{ "rule x protocol", "rule x: protocol must be h2 or http/1.1" },
		{ "rule x protocol h3 ban",
		    "rule x: protocol must be h2 or http/1.1" },
		{ "rule x protocol H2 ban",
		    "rule x: protocol must be h2 or http/1.1" },
		{ "rule x protocol http/1.0 ban",
		    "rule x: protocol must be h2 or http/1.1" },
		{ "rule x path regex ( ban", "rule x: bad regex \"(\": "
		    "missing closing parenthesis at offset 1" },
		{ "rule x header ua regex a)b ban", "rule x: bad regex "
		    "\"a)b\": unmatched closing parenthesis at offset 1" },
		{ "rule x method GET", NULL },
		{ "rule x method GET deny", NULL },
		{ "rule x method GET ban extra", NULL },
		{ "rule x method GET ban ttl", NULL },
		{ "rule x method GET ban 1h", NULL },
		{ "rule x method GET ban ttl 1h extra", NULL },
		{ "rule x method GET ban TTL 1h", NULL },
		{ "rule x method GET allow now", NULL },
		{ "rule x method GET log ban", NULL },
		{ "rule x method GET ban ttl abc",
		    "rule x: invalid duration \"abc\"" },
		{ "rule x method GET ban ttl -1s",
		    "rule x: invalid duration \"-1s\"" },
		{ "rule x method GET ban ttl 0",
		    "rule x: ttl 0 out of range (1s..30d)" },
		{ "rule x method GET ban ttl 999ms",
		    "rule x: ttl 999ms out of range (1s..30d)" },
		{ "rule x method GET ban ttl 31d",
		    "rule x: ttl 31d out of range (1s..30d)" },
		{ "rule x method GET ban ttl 2592000001ms",
		    "rule x: ttl 2592000001ms out of range (1s..30d)" },
		{ "rule x method GET ban ttl 99999999999999999999d",
		    "rule x: ttl 99999999999999999999d out of range "
		    "(1s..30d)" },
	};
	char	msg[256];
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].msg == NULL)
			snprintf(msg, sizeof(msg), "rule x: %s", T);
		else
			snprintf(msg, sizeof(msg), "%s", t[i].msg);
		expect_err(t[i].line, msg);
	}
}
END_TEST

START_TEST(test_error_empty_name)
{
	static const char *const a[] = { "rule", "", "method", "GET", "ban" };
	static const char *const b[] = { "rule", "x", "header", "", "present",
	    "ban" };
	struct rule_list	*rl = rules_new();
	char			 err[128];

	ck_assert_int_eq(add_words(rl, 0, a, 5, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "rule: expected NAME COND... ACTION");
	ck_assert_int_eq(add_words(rl, 0, b, 6, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "rule x: header needs a field name, then "
	    "present, or exact or regex and a value");
	ck_assert_uint_eq(rules_count(rl), 0);
	rules_free(rl);
}
END_TEST

/* A rule failing after some conditions compiled leaks nothing (ASan). */
START_TEST(test_error_frees)
{
	struct rule_list *rl = rules_new();

	add(rl, "rule ok path regex ^/a method GET ban");
	rules_free(rl);
	expect_err("rule x path regex ^/a header ua regex b query regex ( ban",
	    "rule x: bad regex \"(\": missing closing parenthesis at offset 1");
	expect_err("rule x header ua regex b path regex c ban ttl 0",
	    "rule x: ttl 0 out of range (1s..30d)");
}
END_TEST

/* What rules_foreach_allowed_client() listed, as "family addr/plen" lines. */
static void
list_cidr(void *arg, int family, const uint8_t *addr, unsigned plen)
{
	char	*out = arg, a[INET6_ADDRSTRLEN];
	size_t	 len = strlen(out);

	ck_assert_ptr_nonnull(inet_ntop(family, addr, a, sizeof(a)));
	snprintf(out + len, 512 - len, "%s/%u\n", a, plen);
}

START_TEST(test_allowed_clients)
{
	struct rule_list	*rl = rules_new();
	struct req		 r;
	char			 out[512] = "";

	ck_assert_ptr_nonnull(rl);
	add(rl, "rule wp path prefix /wp ban ttl 1h");
	add(rl, "rule office client 10.1.0.0/16 allow");
	add(rl, "rule v6 client 2001:db8::/32 allow");
	/* Not client-only, or not allow: no exemption from bans. */
	add(rl, "rule health client 10.2.0.0/16 path exact /health allow");
	add(rl, "rule scan client 10.3.0.0/16 ban");
	add(rl, "rule peek client 10.4.0.0/16 log");
	rules_foreach_allowed_client(rl, list_cidr, out);
	ck_assert_str_eq(out, "10.1.0.0/16\n2001:db8::/32\n");
	req_init(&r);
	req_client(&r, "10.1.2.3");
	ck_assert_int_eq(rules_client_allowed(rl, r.in.client), 1);
	req_client(&r, "::ffff:10.1.2.3");
	ck_assert_int_eq(rules_client_allowed(rl, r.in.client), 1);
	req_client(&r, "2001:db8:1::7");
	ck_assert_int_eq(rules_client_allowed(rl, r.in.client), 1);
	req_client(&r, "10.2.0.1");
	ck_assert_int_eq(rules_client_allowed(rl, r.in.client), 0);
	req_client(&r, "10.3.0.1");
	ck_assert_int_eq(rules_client_allowed(rl, r.in.client), 0);
	req_client(&r, "10.4.0.1");
	ck_assert_int_eq(rules_client_allowed(rl, r.in.client), 0);
	rules_free(rl);
}
END_TEST

static Suite *
rules_suite(void)
{
	Suite	*s = suite_create("rules");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_method);
	tcase_add_test(tc, test_path_exact);
	tcase_add_test(tc, test_path_prefix);
	tcase_add_test(tc, test_path_regex);
	tcase_add_test(tc, test_query);
	tcase_add_test(tc, test_header_present);
	tcase_add_test(tc, test_header_exact);
	tcase_add_test(tc, test_header_exact_spaces);
	tcase_add_test(tc, test_header_regex);
	tcase_add_test(tc, test_authority);
	tcase_add_test(tc, test_client_v4);
	tcase_add_test(tc, test_client_v6);
	tcase_add_test(tc, test_protocol);
	tcase_add_test(tc, test_sni);
	tcase_add_test(tc, test_all_hold);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_actions);
	tcase_add_test(tc, test_find_line);
	tcase_add_test(tc, test_keywords_as_values);
	tcase_add_test(tc, test_regex_bytes_and_limit);
	tcase_add_test(tc, test_regex_long_subjects);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_error_empty_name);
	tcase_add_test(tc, test_error_frees);
	tcase_add_test(tc, test_allowed_clients);
	suite_add_tcase(s, tc);
	/* Slow under ThreadSanitizer: a bound of its own. */
	tc = tcase_create("threads");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_regex_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(rules_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
