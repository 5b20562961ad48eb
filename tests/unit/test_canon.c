/*
 * test_canon.c - unit tests for proxy/canon.c: the path as forwarded and as
 * the rules see it, every refusal, authorities, queries, field checks and a
 * whole request head.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/canon.h"
#include "proxy/hdr.h"

/*
 * path normalizes to fwd for the upstream and match for the rules, and is
 * ambiguous (judged, then refused) or not.
 */
static void
path_amb(const char *path, int slashes, const char *fwd, const char *match,
    int want_amb)
{
	const char	*why = NULL;
	char		*f, *m;
	size_t		 flen, mlen;
	int		 amb = -1;

	ck_assert_msg(canon_path(path, strlen(path), slashes, &f, &flen, &m,
	    &mlen, &amb, &why) == 0, "%s refused: %s", path, why);
	ck_assert_msg(amb == want_amb, "%s: ambiguous %d", path, amb);
	ck_assert_msg(strcmp(f, fwd) == 0 && flen == strlen(fwd),
	    "%s forwarded as \"%s\", want \"%s\"", path, f, fwd);
	ck_assert_msg(strcmp(m, match) == 0 && mlen == strlen(match),
	    "%s matched as \"%s\", want \"%s\"", path, m, match);
	free(f);
	free(m);
}

static void
path_is(const char *path, int slashes, const char *fwd, const char *match)
{
	path_amb(path, slashes, fwd, match, 0);
}

static void
path_bad(const char *path, int slashes)
{
	const char	*why = NULL;
	char		*f, *m;
	size_t		 flen, mlen;
	int		 amb;

	ck_assert_msg(canon_path(path, strlen(path), slashes, &f, &flen, &m,
	    &mlen, &amb, &why) == -EINVAL, "%s accepted", path);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_null(f);
	ck_assert_ptr_null(m);
}

START_TEST(test_path_plain)
{
	path_is("/", CANON_SLASH_KEEP, "/", "/");
	path_is("/a/b.html", CANON_SLASH_KEEP, "/a/b.html", "/a/b.html");
	path_is("/a/", CANON_SLASH_KEEP, "/a/", "/a/");
	path_bad("/a b", CANON_SLASH_KEEP);
}
END_TEST

START_TEST(test_path_wp_spellings)
{
	static const char *const v[] = {
		"//wp-login.php", "///wp-login.php", "/%77p-login.php",
		"/wp-login%2ephp", "/wp-login%2Ephp", "/./wp-login.php",
		"/x/../wp-login.php", "/x/%2e%2e/wp-login.php",
		"/x/%2E%2E/wp-login.php", "/x/.%2e/wp-login.php",
		"/x/y/../../wp-login.php", "/x//..//wp-login.php",
		"/x/./../wp-login.php", "/%2e/wp-login.php", "/../wp-login.php",
		"/..//wp-login.php", "/../../../wp-login.php",
		"/%77%70%2d%6c%6f%67%69%6e%2e%70%68%70",
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		path_is(v[i], CANON_SLASH_KEEP, "/wp-login.php",
		    "/wp-login.php");
}
END_TEST

START_TEST(test_path_escaped_slash)
{
	/* Kept for the upstream, a separator for the rules. */
	path_is("/%2Fwp-login.php", CANON_SLASH_KEEP, "/%2Fwp-login.php",
	    "/wp-login.php");
	path_is("/%2fwp-login.php", CANON_SLASH_KEEP, "/%2Fwp-login.php",
	    "/wp-login.php");
	/*
	 * A %2F that makes a dot segment means "/" to nginx and "/admin/../"
	 * to a WSGI server: judged as nginx sees it, then refused.
	 */
	path_amb("/static%2F..%2Fwp-login.php", CANON_SLASH_KEEP,
	    "/static%2F..%2Fwp-login.php", "/wp-login.php", 1);
	path_amb("/static/..%2Fwp-login.php", CANON_SLASH_KEEP,
	    "/static/..%2Fwp-login.php", "/wp-login.php", 1);
	path_amb("/admin%2F..%2F", CANON_SLASH_KEEP, "/admin%2F..%2F", "/", 1);
	path_amb("/admin%2F%2e%2e%2F", CANON_SLASH_KEEP, "/admin%2F..%2F", "/",
	    1);
	path_amb("/a%2F.", CANON_SLASH_KEEP, "/a%2F.", "/a/", 1);
	path_is("/a%2F%2Fb", CANON_SLASH_KEEP, "/a%2F%2Fb", "/a/b");
	path_is("/a%2F...", CANON_SLASH_KEEP, "/a%2F...", "/a/...");
	path_is("/files/a%2Fb", CANON_SLASH_KEEP, "/files/a%2Fb",
	    "/files/a/b");
	/* Decoded: one path for both. */
	path_is("/static%2F..%2Fwp-login.php", CANON_SLASH_DECODE,
	    "/wp-login.php", "/wp-login.php");
	path_is("/a%2f%2fb", CANON_SLASH_DECODE, "/a/b", "/a/b");
	path_bad("/a%2Fb", CANON_SLASH_REJECT);
	path_bad("/a%2fb", CANON_SLASH_REJECT);
	path_is("/a/b", CANON_SLASH_REJECT, "/a/b", "/a/b");
}
END_TEST

START_TEST(test_path_escapes_kept)
{
	/* Reserved and other bytes stay escaped, hex in upper case. */
	path_is("/a%20b", CANON_SLASH_KEEP, "/a%20b", "/a b");
	path_is("/files/a%2Bb", CANON_SLASH_KEEP, "/files/a%2Bb",
	    "/files/a+b");
	path_is("/files/a%2bb", CANON_SLASH_KEEP, "/files/a%2Bb",
	    "/files/a+b");
	path_is("/100%25", CANON_SLASH_KEEP, "/100%25", "/100%");
	path_is("/%25%32%65", CANON_SLASH_KEEP, "/%252e", "/%2e");
	path_is("/caf%C3%A9", CANON_SLASH_KEEP, "/caf%C3%A9", "/caf\xc3\xa9");
	path_is("/a%3Fb", CANON_SLASH_KEEP, "/a%3Fb", "/a?b");
	/* Unreserved bytes are decoded. */
	path_is("/%41%7e%5f%2d", CANON_SLASH_KEEP, "/A~_-", "/A~_-");
}
END_TEST

START_TEST(test_path_dots)
{
	path_is("/a/b/..", CANON_SLASH_KEEP, "/a/", "/a/");
	path_is("/a/b/.", CANON_SLASH_KEEP, "/a/b/", "/a/b/");
	path_is("/a/..", CANON_SLASH_KEEP, "/", "/");
	path_is("/..", CANON_SLASH_KEEP, "/", "/");
	path_is("/.", CANON_SLASH_KEEP, "/", "/");
	path_is("/a/...", CANON_SLASH_KEEP, "/a/...", "/a/...");
	path_is("/a/..b/.c", CANON_SLASH_KEEP, "/a/..b/.c", "/a/..b/.c");
	path_is("/a//b//", CANON_SLASH_KEEP, "/a/b/", "/a/b/");
	path_is("/a/b/../../../c", CANON_SLASH_KEEP, "/c", "/c");
}
END_TEST

START_TEST(test_path_refused)
{
	path_bad("/%zz", CANON_SLASH_KEEP);
	path_bad("/%", CANON_SLASH_KEEP);
	path_bad("/%4", CANON_SLASH_KEEP);
	path_bad("/a%g0", CANON_SLASH_KEEP);
	path_bad("/%00", CANON_SLASH_KEEP);
	path_bad("/wp-login.php%00", CANON_SLASH_KEEP);
	path_bad("/a%0Ab", CANON_SLASH_KEEP);
	path_bad("/a%0db", CANON_SLASH_KEEP);
	path_bad("/a%7F", CANON_SLASH_KEEP);
	path_bad("/a\tb", CANON_SLASH_KEEP);
	path_bad("/a\x0c" "b", CANON_SLASH_KEEP);
	path_bad("/a\x7f", CANON_SLASH_KEEP);
	path_bad("a/b", CANON_SLASH_KEEP);
	path_bad("", CANON_SLASH_KEEP);
}
END_TEST

static void
auth_is(const char *a, const char *scheme, const char *want)
{
	const char	*why = NULL;
	char		*out;

	ck_assert_msg(canon_authority(a, strlen(a), scheme, &out, &why) == 0,
	    "%s refused: %s", a, why);
	if (want == NULL) {
		ck_assert_ptr_null(out);
		return;
	}
	ck_assert_msg(out != NULL && strcmp(out, want) == 0,
	    "%s as \"%s\", want \"%s\"", a, out ? out : "(null)", want);
	free(out);
}

static void
auth_bad(const char *a)
{
	const char	*why = NULL;
	char		*out;

	ck_assert_msg(canon_authority(a, strlen(a), "http", &out, &why) ==
	    -EINVAL, "%s accepted", a);
	ck_assert_ptr_null(out);
}

START_TEST(test_authority)
{
	auth_is("admin.example.com", "http", "admin.example.com");
	auth_is("ADMIN.Example.COM", "http", "admin.example.com");
	auth_is("admin.example.com.", "http", "admin.example.com");
	auth_is("admin.example.com:80", "http", "admin.example.com");
	auth_is("admin.example.com:080", "http", "admin.example.com");
	auth_is("admin.example.com:", "http", "admin.example.com");
	auth_is("admin.example.com:443", "https", "admin.example.com");
	auth_is("admin.example.com:443", "http", "admin.example.com:443");
	auth_is("admin.example.com:80", "https", "admin.example.com:80");
	auth_is("admin.example.com:8080", "http", "admin.example.com:8080");
	auth_is("[::1]:80", "http", "[::1]");
	auth_is("[2001:DB8::1]:8443", "https", "[2001:db8::1]:8443");
	auth_is("127.0.0.1:8080", "http", "127.0.0.1:8080");
	auth_is("", "http", NULL);
	auth_bad("a:99999");
	auth_bad("a:65536");
	auth_bad("a:123456");
	auth_bad("a:8x");
	auth_bad("user@a");
	auth_bad("a b");
	auth_bad("a/b");
	auth_bad("a..b");
	auth_bad("a..");
	auth_bad("a..:80");
	auth_bad(".a");
	auth_bad(".");
	auth_bad("a%2eb");
	auth_bad("[::1");
	auth_bad("[]");
	auth_bad("[::g]");
	auth_bad("[::1]x");
}
END_TEST

START_TEST(test_query_decode)
{
	static const struct {
		const char	*in, *out;
		size_t		 outlen;
	} v[] = {
		{ "q=union%20select", "q=union select", 14 },
		{ "q=UNION+SELECT", "q=UNION SELECT", 14 },
		{ "%64ebug=1", "debug=1", 7 },
		{ "q=a%26b", "q=a%26b", 7 },
		{ "next=%2Fa%3Fx%3D1%26debug%3D1", "next=/a?x%3D1%26debug%3D1", 25 },
		{ "a=1%3Bdebug=1", "a=1%3Bdebug=1", 13 },
		{ "bad=%zz%4", "bad=%zz%4", 9 },
		{ "n=%00x", "n=\0x", 4 },
		{ "", "", 0 },
	};
	size_t	 i, len;
	char	*out;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(canon_query_decode(v[i].in, strlen(v[i].in),
		    &out, &len), 0);
		ck_assert_msg(len == v[i].outlen &&
		    memcmp(out, v[i].out, len) == 0, "%s", v[i].in);
		free(out);
	}
}
END_TEST

START_TEST(test_fields)
{
	ck_assert(canon_field_name_ok("x-token", 7));
	ck_assert(canon_field_name_ok("x_token", 7));
	ck_assert(canon_field_name_ok("a!#$%&'*+-.^_`|~z", 17));
	ck_assert(!canon_field_name_ok("content-length ", 15));
	ck_assert(!canon_field_name_ok("x y", 3));
	ck_assert(!canon_field_name_ok("x:y", 3));
	ck_assert(!canon_field_name_ok("x\0y", 3));
	ck_assert(!canon_field_name_ok("", 0));
	ck_assert(canon_field_value_ok("a b\tc\x80\xff", 7));
	ck_assert(!canon_field_value_ok("a\rb", 3));
	ck_assert(!canon_field_value_ok("a\nb", 3));
	ck_assert(!canon_field_value_ok("a\0b", 3));
	ck_assert(!canon_field_value_ok("a\x7f", 2));
	ck_assert(canon_name_eq("User_Agent", 10, "user-agent", 10));
	ck_assert(canon_name_eq("user-agent", 10, "user_agent", 10));
	ck_assert(!canon_name_eq("user-agen", 9, "user-agent", 10));
	ck_assert(!canon_name_eq("user.agent", 10, "user-agent", 10));
}
END_TEST

/* A request head to normalize: the front ends' strdup'd fields. */
static void
req_set(struct http_req *q, const char *method, const char *scheme,
    const char *authority, const char *path)
{
	memset(q, 0, sizeof(*q));
	q->content_length = -1;
	q->method = strdup(method);
	q->scheme = scheme ? strdup(scheme) : NULL;
	q->authority = authority ? strdup(authority) : NULL;
	q->path = path ? strdup(path) : NULL;
}

static void
req_field(struct http_req *q, const char *name, const char *value)
{
	ck_assert_int_eq(hdrlist_add(&q->headers, name, strlen(name), value,
	    strlen(value), 1), 0);
}

static int
canon(struct http_req *q, int absolute)
{
	const struct canon_opts o = { CANON_SLASH_KEEP, CANON_US_DROP };

	return canon_request(q, &o, absolute, NULL);
}

/*
 * A path already canonical takes canon_target()'s short way (no copy of
 * the target): it must give what the long way gives.
 */
START_TEST(test_request_short_way)
{
	static const struct {
		const char *target, *path, *match, *query;
	} c[] = {
		{ "/a/b?x=%41&y=1+2#frag", "/a/b?x=%41&y=1+2", "/a/b", "x=A&y=1 2" },
		{ "/a/b/", "/a/b/", "/a/b/", "" },
		{ "/", "/", "/", "" },
		{ "/?", "/?", "/", "" },
		{ "/a.b/c.", "/a.b/c.", "/a.b/c.", "" },
		/* The long way: a dot segment, an escape, an empty segment. */
		{ "/.well-known/x?a", "/.well-known/x?a", "/.well-known/x", "a" },
		{ "/a/./b?%26#x", "/a/b?%26", "/a/b", "%26" },
		{ "/%61//b", "/a/b", "/a/b", "" },
	};
	struct http_req q;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		req_set(&q, "GET", "https", "h", c[i].target);
		ck_assert_int_eq(canon(&q, 0), 0);
		ck_assert_str_eq(q.path, c[i].path);
		ck_assert_str_eq(q.match_path, c[i].match);
		ck_assert_uint_eq(q.match_pathlen, strlen(c[i].match));
		ck_assert_str_eq(q.match_query, c[i].query);
		ck_assert_uint_eq(q.match_querylen, strlen(c[i].query));
		http_req_clear(&q);
	}
}
END_TEST

START_TEST(test_request_absolute)
{
	struct http_req q;

	req_set(&q, "GET", "http", NULL, "http://Admin.Example.Com.:80//wp-login.php?a=%41#f");
	req_field(&q, "Host", "good");
	ck_assert_int_eq(canon(&q, 1), 0);
	ck_assert_str_eq(q.authority, "admin.example.com");
	ck_assert_str_eq(q.path, "/wp-login.php?a=%41");
	ck_assert_str_eq(q.match_path, "/wp-login.php");
	ck_assert_str_eq(q.match_query, "a=A");
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "HTTPS://a:/x");
	ck_assert_int_eq(canon(&q, 1), 0);
	ck_assert_str_eq(q.authority, "a");
	ck_assert_str_eq(q.scheme, "https");
	ck_assert_str_eq(q.path, "/x");
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "http://a?q=1");
	ck_assert_int_eq(canon(&q, 1), 0);
	ck_assert_str_eq(q.path, "/?q=1");
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "http://a:99999/x");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);
	req_set(&q, "GET", "http", NULL, "ftp://a/x");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);
	req_set(&q, "GET", "http", NULL, "http://u@a/x");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);
	req_set(&q, "GET", "http", NULL, "http:///x");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);
	req_set(&q, "GET", "http", NULL, "a/b");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);
	/* HTTP/2: origin form only, http or https only. */
	req_set(&q, "GET", "http", "a", "http://a/wp-login.php");
	ck_assert_int_eq(canon(&q, 0), -EPROTO);
	http_req_clear(&q);
	req_set(&q, "GET", "x", "a", "/wp-login.php");
	ck_assert_int_eq(canon(&q, 0), -EPROTO);
	http_req_clear(&q);
}
END_TEST

START_TEST(test_request_host)
{
	struct http_req q;

	req_set(&q, "GET", "https", NULL, "/");
	req_field(&q, "Host", "Admin.Example.Com:443");
	ck_assert_int_eq(canon(&q, 1), 0);
	ck_assert_str_eq(q.authority, "admin.example.com");
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "/");
	req_field(&q, "Host", "a");
	req_field(&q, "Host", "b");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);

	req_set(&q, "GET", "http", "good", "/");
	req_field(&q, "host", "admin.example.com");
	ck_assert_int_eq(canon(&q, 0), -EPROTO);
	http_req_clear(&q);

	req_set(&q, "GET", "http", "Good.", "/");
	req_field(&q, "host", "good:80");
	ck_assert_int_eq(canon(&q, 0), 0);
	ck_assert_str_eq(q.authority, "good");
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "/");
	req_field(&q, "Host", "");
	ck_assert_int_eq(canon(&q, 1), 0);
	ck_assert_ptr_null(q.authority);
	http_req_clear(&q);
}
END_TEST

START_TEST(test_request_fields)
{
	const struct canon_opts	 allow = { CANON_SLASH_KEEP, CANON_US_ALLOW };
	const struct canon_opts	 reject = { CANON_SLASH_KEEP, CANON_US_REJECT };
	struct http_req		 q;

	req_set(&q, "GET", "http", NULL, "/");
	req_field(&q, "User_Agent", "sqlmap");
	req_field(&q, "X-Ok", "1");
	ck_assert_int_eq(canon(&q, 1), 0);
	ck_assert_uint_eq(q.headers.v[0].flags, HDR_F_US | HDR_F_DROP);
	ck_assert_uint_eq(q.headers.v[1].flags, 0);
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "/");
	req_field(&q, "User_Agent", "sqlmap");
	ck_assert_int_eq(canon_request(&q, &allow, 1, NULL), 0);
	ck_assert_uint_eq(q.headers.v[0].flags, HDR_F_US);
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "/");
	req_field(&q, "User_Agent", "sqlmap");
	ck_assert_int_eq(canon_request(&q, &reject, 1, NULL), -EINVAL);
	http_req_clear(&q);

	req_set(&q, "POST", "http", NULL, "/");
	req_field(&q, "Content-Length ", "5");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "/");
	req_field(&q, "X", "a\rb");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "/a\tb");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);

	req_set(&q, "GET", "http", NULL, "*");
	ck_assert_int_eq(canon(&q, 1), -EINVAL);
	http_req_clear(&q);
	req_set(&q, "OPTIONS", "http", NULL, "*");
	ck_assert_int_eq(canon(&q, 1), 0);
	ck_assert_str_eq(q.path, "*");
	ck_assert_str_eq(q.match_path, "*");
	http_req_clear(&q);
}
END_TEST

/* Every byte of a long hostile path, once each: no quadratic work. */
START_TEST(test_path_long)
{
	size_t	 n = 64 * 1024, i, flen, mlen;
	char	*p = malloc(n + 1), *f, *m;
	const char *why;
	int	 amb;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < n; i += 3)
		memcpy(p + i, "/..", n - i < 3 ? n - i : 3);
	p[0] = '/';
	p[n] = '\0';
	ck_assert_int_eq(canon_path(p, n, CANON_SLASH_KEEP, &f, &flen, &m,
	    &mlen, &amb, &why), 0);
	ck_assert_str_eq(f, "/");
	free(f);
	free(m);
	free(p);
}
END_TEST

static Suite *
canon_suite(void)
{
	Suite *s = suite_create("canon");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_path_plain);
	tcase_add_test(tc, test_path_wp_spellings);
	tcase_add_test(tc, test_path_escaped_slash);
	tcase_add_test(tc, test_path_escapes_kept);
	tcase_add_test(tc, test_path_dots);
	tcase_add_test(tc, test_path_refused);
	tcase_add_test(tc, test_authority);
	tcase_add_test(tc, test_query_decode);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_request_short_way);
	tcase_add_test(tc, test_request_absolute);
	tcase_add_test(tc, test_request_host);
	tcase_add_test(tc, test_request_fields);
	tcase_add_test(tc, test_path_long);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(canon_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
