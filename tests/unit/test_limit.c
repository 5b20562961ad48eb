/*
 * test_limit.c - unit tests for proxy/limit.c: names, defaults, parsing and
 * formatting of limit values, and the sliding-window rate counters.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/limit.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_names)
{
	static const char *const names[LIM_N] = {
		[LIM_STREAM_RATE] = "stream_rate",
		[LIM_RST_RATE] = "rst_rate",
		[LIM_CANCEL_RATE] = "cancel_rate",
		[LIM_STREAM_ERROR_RATE] = "stream_error_rate",
		[LIM_PING_RATE] = "ping_rate",
		[LIM_SETTINGS_RATE] = "settings_rate",
		[LIM_PRIORITY_RATE] = "priority_rate",
		[LIM_WINDOW_UPDATE_RATE] = "window_update_rate",
		[LIM_EMPTY_FRAME_RATE] = "empty_frame_rate",
		[LIM_INVALID_HEADER_RATE] = "invalid_header_rate",
		[LIM_STREAMS] = "streams",
		[LIM_CONTINUATIONS] = "continuations",
		[LIM_HEADER_FIELDS] = "header_fields",
		[LIM_HEADER_BYTES] = "header_bytes",
		[LIM_CLIENT_CONN_RATE] = "client_conn_rate",
		[LIM_CLIENT_STREAM_RATE] = "client_stream_rate",
		[LIM_CLIENT_CONNECTIONS] = "client_max_connections",
	};
	int	 i, j;

	for (i = 0; i < LIM_N; i++) {
		ck_assert_ptr_nonnull(names[i]);
		ck_assert_str_eq(limit_name((enum limit_id)i), names[i]);
		ck_assert_int_eq(limit_find(names[i]), i);
		ck_assert_int_eq(limit_find(limit_name((enum limit_id)i)), i);
		ck_assert_ptr_nonnull(limit_syntax((enum limit_id)i));
		for (j = 0; j < i; j++)
			ck_assert_str_ne(limit_name((enum limit_id)i),
			    limit_name((enum limit_id)j));
	}
	ck_assert_int_eq(limit_find("nope"), LIM_N);
	ck_assert_int_eq(limit_find(""), LIM_N);
	ck_assert_int_eq(limit_find("PING_RATE"), LIM_N);
	ck_assert_int_eq(limit_find("ping_rate "), LIM_N);
	ck_assert_int_eq(limit_find("ping"), LIM_N);
	ck_assert_str_eq(limit_name(LIM_N), "?");
}
END_TEST

START_TEST(test_syntax)
{
	ck_assert_str_eq(limit_syntax(LIM_PING_RATE),
	    "COUNT/DURATION (1..1000000000 per 1ms..24h) or off");
	ck_assert_str_eq(limit_syntax(LIM_CLIENT_CONN_RATE),
	    "COUNT/DURATION (1..1000000000 per 1ms..24h) or off");
	ck_assert_str_eq(limit_syntax(LIM_STREAMS),
	    "COUNT (1..1000000000) or off");
	ck_assert_str_eq(limit_syntax(LIM_CONTINUATIONS),
	    "COUNT (1..1000000000) or off");
	ck_assert_str_eq(limit_syntax(LIM_HEADER_FIELDS),
	    "COUNT (1..1000000000) or off");
	ck_assert_ptr_nonnull(strstr(limit_syntax(LIM_HEADER_BYTES), "SIZE"));
}
END_TEST

START_TEST(test_defaults)
{
	static const struct limit def[LIM_N] = {
		[LIM_STREAM_RATE] = { 10000, 10000 },
		[LIM_RST_RATE] = { 1000, 10000 },
		[LIM_CANCEL_RATE] = { 500, 10000 },
		[LIM_STREAM_ERROR_RATE] = { 100, 10000 },
		[LIM_PING_RATE] = { 100, 10000 },
		[LIM_SETTINGS_RATE] = { 50, 10000 },
		[LIM_PRIORITY_RATE] = { 1000, 10000 },
		[LIM_WINDOW_UPDATE_RATE] = { 1000, 10000 },
		[LIM_EMPTY_FRAME_RATE] = { 100, 10000 },
		[LIM_INVALID_HEADER_RATE] = { 100, 10000 },
		[LIM_STREAMS] = { 100000, 0 },
		[LIM_CONTINUATIONS] = { 5, 0 },
		[LIM_HEADER_FIELDS] = { 300, 0 },
		[LIM_HEADER_BYTES] = { 256 * 1024, 0 },
		[LIM_CLIENT_CONN_RATE] = { 1000, 10000 },
		[LIM_CLIENT_STREAM_RATE] = { 10000, 10000 },
		[LIM_CLIENT_CONNECTIONS] = { 1000, 0 },
	};
	struct limit	 lims[LIM_N];
	int		 i;

	memset(lims, 0xa5, sizeof(lims));
	limit_defaults(lims);
	for (i = 0; i < LIM_N; i++) {
		ck_assert_msg(lims[i].count == def[i].count,
		    "%s: count %u", limit_name((enum limit_id)i),
		    lims[i].count);
		ck_assert_msg(lims[i].window_ms == def[i].window_ms,
		    "%s: window %u", limit_name((enum limit_id)i),
		    lims[i].window_ms);
	}
}
END_TEST

START_TEST(test_parse_ok)
{
	static const struct {
		enum limit_id	 id;
		const char	*s;
		uint32_t	 count, window_ms;
	} t[] = {
		{ LIM_PING_RATE, "100/10s", 100, 10000 },
		{ LIM_PING_RATE, "5/500ms", 5, 500 },
		{ LIM_PING_RATE, "1/24h", 1, 86400000 },
		{ LIM_PING_RATE, "1/1d", 1, 86400000 },
		{ LIM_PING_RATE, "1/86400s", 1, 86400000 },
		{ LIM_PING_RATE, "1/1ms", 1, 1 },
		{ LIM_PING_RATE, "7/2m", 7, 120000 },
		{ LIM_PING_RATE, "3/10", 3, 10000 },	/* bare seconds */
		{ LIM_RST_RATE, "1000000000/1s", 1000000000, 1000 },
		{ LIM_RST_RATE, "007/1s", 7, 1000 },
		{ LIM_CLIENT_CONN_RATE, "20/1S", 20, 1000 },
		{ LIM_STREAMS, "300", 300, 0 },
		{ LIM_STREAMS, "1", 1, 0 },
		{ LIM_STREAMS, "1000000000", 1000000000, 0 },
		{ LIM_CONTINUATIONS, "5", 5, 0 },
		{ LIM_HEADER_BYTES, "256k", 256 * 1024, 0 },
		{ LIM_HEADER_BYTES, "16K", 16 * 1024, 0 },
		{ LIM_HEADER_BYTES, "1m", 1024 * 1024, 0 },
		{ LIM_HEADER_BYTES, "4096", 4096, 0 },
		{ LIM_HEADER_BYTES, "1000000000", 1000000000, 0 },
		{ LIM_HEADER_BYTES, "1g", 1073741824, 0 },
		{ LIM_PING_RATE, "off", 0, 0 },
		{ LIM_STREAMS, "off", 0, 0 },
		{ LIM_HEADER_BYTES, "off", 0, 0 },
		{ LIM_CLIENT_STREAM_RATE, "off", 0, 0 },
	};
	struct limit	 lim;
	size_t		 i;

	for (i = 0; i < NELEM(t); i++) {
		lim.count = 12345;
		lim.window_ms = 678;
		ck_assert_msg(limit_parse(t[i].id, t[i].s, &lim) == 0,
		    "%s \"%s\" rejected", limit_name(t[i].id), t[i].s);
		ck_assert_msg(lim.count == t[i].count &&
		    lim.window_ms == t[i].window_ms, "%s \"%s\" -> %u/%u",
		    limit_name(t[i].id), t[i].s, lim.count, lim.window_ms);
	}
}
END_TEST

START_TEST(test_parse_bad)
{
	static const struct {
		enum limit_id	 id;
		const char	*s;
		int		 rc;
	} t[] = {
		/* rates */
		{ LIM_PING_RATE, "0/10s", -ERANGE },
		{ LIM_PING_RATE, "10/0s", -ERANGE },
		{ LIM_PING_RATE, "10/0", -ERANGE },
		{ LIM_PING_RATE, "10/25h", -ERANGE },
		{ LIM_PING_RATE, "10/86401s", -ERANGE },
		{ LIM_PING_RATE, "10/2d", -ERANGE },
		{ LIM_PING_RATE, "1000000001/10s", -ERANGE },
		{ LIM_PING_RATE, "99999999999/10s", -ERANGE },
		{ LIM_PING_RATE, "abc", -EINVAL },
		{ LIM_PING_RATE, "10", -EINVAL },
		{ LIM_PING_RATE, "/10s", -EINVAL },
		{ LIM_PING_RATE, "10/", -EINVAL },
		{ LIM_PING_RATE, "/", -EINVAL },
		{ LIM_PING_RATE, "", -EINVAL },
		{ LIM_PING_RATE, "1k/10s", -EINVAL },
		{ LIM_PING_RATE, "-1/10s", -EINVAL },
		{ LIM_PING_RATE, " 1/10s", -EINVAL },
		{ LIM_PING_RATE, "1 /10s", -EINVAL },
		{ LIM_PING_RATE, "1/ 10s", -EINVAL },
		{ LIM_PING_RATE, "1/10x", -EINVAL },
		{ LIM_PING_RATE, "1/10s/2", -EINVAL },
		{ LIM_PING_RATE, "1.5/10s", -EINVAL },
		{ LIM_PING_RATE, "OFF", -EINVAL },
		{ LIM_PING_RATE, "off/10s", -EINVAL },
		{ LIM_CLIENT_CONN_RATE, "1000", -EINVAL },
		/* counts */
		{ LIM_STREAMS, "16k", -EINVAL },
		{ LIM_CONTINUATIONS, "1m", -EINVAL },
		{ LIM_STREAMS, "abc", -EINVAL },
		{ LIM_STREAMS, "", -EINVAL },
		{ LIM_STREAMS, "-1", -EINVAL },
		{ LIM_STREAMS, "10/10s", -EINVAL },
		{ LIM_STREAMS, "0", -ERANGE },
		{ LIM_STREAMS, "1000000001", -ERANGE },
		{ LIM_HEADER_FIELDS, "4294967296", -ERANGE },
		{ LIM_HEADER_FIELDS, "99999999999999999999999", -ERANGE },
		/* sizes */
		{ LIM_HEADER_BYTES, "abc", -EINVAL },
		{ LIM_HEADER_BYTES, "", -EINVAL },
		{ LIM_HEADER_BYTES, "1kb", -EINVAL },
		{ LIM_HEADER_BYTES, "1s", -EINVAL },
		{ LIM_HEADER_BYTES, "16k/10s", -EINVAL },
		{ LIM_HEADER_BYTES, "0", -ERANGE },
		{ LIM_HEADER_BYTES, "0k", -ERANGE },
		{ LIM_HEADER_BYTES, "1073741825", -ERANGE },
		{ LIM_HEADER_BYTES, "2g", -ERANGE },
		{ LIM_HEADER_BYTES, "4g", -ERANGE },	/* 2^32: no wrap to 0 */
		{ LIM_HEADER_BYTES, "99999999999999999999g", -ERANGE },
	};
	struct limit	 lim;
	size_t		 i;
	int		 rc;

	for (i = 0; i < NELEM(t); i++) {
		lim.count = 12345;
		lim.window_ms = 678;
		rc = limit_parse(t[i].id, t[i].s, &lim);
		ck_assert_msg(rc == t[i].rc, "%s \"%s\": %d, not %d",
		    limit_name(t[i].id), t[i].s, rc, t[i].rc);
		/* A rejected value leaves lim alone. */
		ck_assert_uint_eq(lim.count, 12345);
		ck_assert_uint_eq(lim.window_ms, 678);
	}
}
END_TEST

/* Formats id's lim, checks the text, and parses it back to the same value. */
static void
format_round_trip(enum limit_id id, const struct limit *lim, const char *want)
{
	struct limit	 back;
	char		 buf[64];

	memset(buf, 'x', sizeof(buf));
	limit_format(id, lim, buf, sizeof(buf));
	if (want != NULL)
		ck_assert_str_eq(buf, want);
	back.count = 12345;
	back.window_ms = 678;
	ck_assert_msg(limit_parse(id, buf, &back) == 0, "%s \"%s\" rejected",
	    limit_name(id), buf);
	ck_assert_msg(back.count == lim->count &&
	    back.window_ms == lim->window_ms, "%s \"%s\" -> %u/%u, not %u/%u",
	    limit_name(id), buf, back.count, back.window_ms, lim->count,
	    lim->window_ms);
}

START_TEST(test_format)
{
	static const struct {
		enum limit_id	 id;
		const char	*in, *out;
	} t[] = {
		{ LIM_PING_RATE, "100/10s", "100/10s" },
		{ LIM_PING_RATE, "5/500ms", "5/500ms" },
		{ LIM_PING_RATE, "5/1500ms", "5/1500ms" },
		{ LIM_PING_RATE, "1/24h", NULL },
		{ LIM_PING_RATE, "3/2m", NULL },
		{ LIM_PING_RATE, "1000000000/1ms", "1000000000/1ms" },
		{ LIM_PING_RATE, "off", "off" },
		{ LIM_STREAMS, "300", "300" },
		{ LIM_STREAMS, "off", "off" },
		{ LIM_HEADER_BYTES, "256k", NULL },
		{ LIM_HEADER_BYTES, "1000", "1000" },
		{ LIM_HEADER_BYTES, "off", "off" },
	};
	struct limit	 lims[LIM_N], lim;
	char		 small[4];
	size_t		 i;
	int		 id;

	for (i = 0; i < NELEM(t); i++) {
		ck_assert_int_eq(limit_parse(t[i].id, t[i].in, &lim), 0);
		format_round_trip(t[i].id, &lim, t[i].out);
	}
	/* Every default formats to something that parses back. */
	limit_defaults(lims);
	for (id = 0; id < LIM_N; id++)
		format_round_trip((enum limit_id)id, &lims[id], NULL);

	/* A short buffer is truncated, never overrun. */
	memset(small, 'x', sizeof(small));
	limit_format(LIM_PING_RATE, &lims[LIM_PING_RATE], small,
	    sizeof(small));
	ck_assert_str_eq(small, "100");
}
END_TEST

START_TEST(test_limit_over)
{
	struct limit	 lim;

	ck_assert_int_eq(limit_parse(LIM_HEADER_FIELDS, "300", &lim), 0);
	ck_assert(!limit_over(&lim, 0));
	ck_assert(!limit_over(&lim, 300));
	ck_assert(limit_over(&lim, 301));
	ck_assert(limit_over(&lim, UINT64_MAX));
	ck_assert_int_eq(limit_parse(LIM_HEADER_FIELDS, "off", &lim), 0);
	ck_assert(!limit_over(&lim, 0));
	ck_assert(!limit_over(&lim, UINT64_MAX));
}
END_TEST

/* Adds n single events at now; returns how many of them crossed l. */
static unsigned
add_n(struct rate *r, const struct limit *l, uint64_t now, unsigned n)
{
	unsigned	 i, crossed = 0;

	for (i = 0; i < n; i++)
		crossed += (unsigned)rate_add(r, l, now, 1);
	return crossed;
}

START_TEST(test_rate_burst)
{
	struct limit	 l = { 10, 1000 };
	struct rate	 r;

	memset(&r, 0, sizeof(r));
	ck_assert_uint_eq(add_n(&r, &l, 0, 10), 0);	/* COUNT is allowed */
	ck_assert_int_eq(rate_add(&r, &l, 0, 1), 1);	/* COUNT + 1 is not */
	ck_assert_int_eq(rate_add(&r, &l, 500, 1), 1);	/* and stays over */
	ck_assert_int_eq(rate_add(&r, &l, 999, 0), 1);

	/* Two whole windows of silence: fresh again. */
	ck_assert_uint_eq(add_n(&r, &l, 2000, 10), 0);
	ck_assert_int_eq(rate_add(&r, &l, 2000, 1), 1);
	ck_assert_uint_eq(add_n(&r, &l, 10000, 10), 0);
	ck_assert_int_eq(rate_add(&r, &l, 10999, 1), 1);

	/* One burst of n: the same as n single events. */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rate_add(&r, &l, 5, 10), 0);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rate_add(&r, &l, 5, 11), 1);

	/* Not aligned on 0: the first call may fall in any window. */
	memset(&r, 0, sizeof(r));
	ck_assert_uint_eq(add_n(&r, &l, 1234567, 10), 0);
	ck_assert_int_eq(rate_add(&r, &l, 1234567, 1), 1);
	memset(&r, 0, sizeof(r));
	ck_assert_uint_eq(add_n(&r, &l, 1500, 10), 0);	/* window 1 */
	ck_assert_int_eq(rate_add(&r, &l, 1500, 1), 1);
}
END_TEST

START_TEST(test_rate_sliding)
{
	struct limit	 l = { 10, 1000 };
	struct rate	 r;
	uint64_t	 t;

	/* 10 at the end of window 0; half of window 0 is still in view at
	 * 1500: it weighs 5, so 5 more pass and the 6th crosses. */
	memset(&r, 0, sizeof(r));
	ck_assert_uint_eq(add_n(&r, &l, 999, 10), 0);
	ck_assert_uint_eq(add_n(&r, &l, 1500, 5), 0);
	ck_assert_int_eq(rate_add(&r, &l, 1500, 1), 1);
	/* At 2000 window 0 is out of view, window 1 (6 events) wholly in. */
	ck_assert_uint_eq(add_n(&r, &l, 2000, 4), 0);
	ck_assert_int_eq(rate_add(&r, &l, 2000, 1), 1);

	/* Two windows after window 0, nothing in between: fresh. */
	memset(&r, 0, sizeof(r));
	ck_assert_uint_eq(add_n(&r, &l, 999, 10), 0);
	ck_assert_uint_eq(add_n(&r, &l, 2000, 10), 0);
	ck_assert_int_eq(rate_add(&r, &l, 2000, 1), 1);

	/* Right after the window changes, the previous one weighs fully. */
	memset(&r, 0, sizeof(r));
	ck_assert_uint_eq(add_n(&r, &l, 999, 10), 0);
	ck_assert_int_eq(rate_add(&r, &l, 1000, 1), 1);

	/* Near the end of window 1, window 0 weighs almost nothing. */
	memset(&r, 0, sizeof(r));
	ck_assert_uint_eq(add_n(&r, &l, 999, 10), 0);
	ck_assert_uint_eq(add_n(&r, &l, 1900, 9), 0);	/* 9 + 10 * 0.1 */
	ck_assert_int_eq(rate_add(&r, &l, 1900, 1), 1);

	/* Half the rate never crosses it (at most 5 + 5 in view)... */
	memset(&r, 0, sizeof(r));
	for (t = 0; t < 20000; t += 200)
		ck_assert_msg(rate_add(&r, &l, t, 1) == 0, "at %llu",
		    (unsigned long long)t);
	/* ...twice the rate does, within the first window. */
	memset(&r, 0, sizeof(r));
	for (t = 0; t < 20000; t += 50)
		if (rate_add(&r, &l, t, 1))
			break;
	ck_assert_uint_eq(t, 500);
}
END_TEST

START_TEST(test_rate_off)
{
	struct limit	 l;
	struct rate	 r;
	uint64_t	 t;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(limit_parse(LIM_PING_RATE, "off", &l), 0);
	for (t = 0; t < 3000; t += 7)
		ck_assert_int_eq(rate_add(&r, &l, t, 1000000), 0);
	ck_assert_int_eq(rate_add(&r, &l, 0, UINT32_MAX), 0);

	/* Count 0 is off, whatever the window. */
	l.count = 0;
	l.window_ms = 1000;
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rate_add(&r, &l, 0, UINT32_MAX), 0);
	ck_assert_int_eq(rate_add(&r, &l, 1000, 1), 0);

	/* A count limit (no window) is not a rate: never crossed either. */
	ck_assert_int_eq(limit_parse(LIM_STREAMS, "1", &l), 0);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rate_add(&r, &l, 0, 100), 0);
}
END_TEST

START_TEST(test_rate_saturate)
{
	struct limit	 l = { 1000000000, 86400000 };
	struct limit	 big = { UINT32_MAX, UINT32_MAX };
	struct rate	 r;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rate_add(&r, &l, 0, UINT32_MAX), 1);
	ck_assert_uint_eq(r.cur, UINT32_MAX);
	ck_assert_int_eq(rate_add(&r, &l, 1, UINT32_MAX), 1);
	ck_assert_uint_eq(r.cur, UINT32_MAX);	/* saturated, not wrapped */
	ck_assert_int_eq(rate_add(&r, &l, 2, 1), 1);
	ck_assert_uint_eq(r.cur, UINT32_MAX);
	/* The saturated bucket becomes the previous one. */
	ck_assert_int_eq(rate_add(&r, &l, 86400000, UINT32_MAX), 1);
	ck_assert_uint_eq(r.prev, UINT32_MAX);
	ck_assert_uint_eq(r.cur, UINT32_MAX);
	ck_assert_int_eq(rate_add(&r, &l, 86400000 + 1, 0), 1);
	/* Two windows later: fresh, exactly COUNT passes. */
	ck_assert_int_eq(rate_add(&r, &l, 3 * 86400000ULL, 1000000000), 0);
	ck_assert_int_eq(rate_add(&r, &l, 3 * 86400000ULL, 1), 1);

	/* Extreme values in the limit and the clock: no overflow. */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rate_add(&r, &big, UINT64_MAX - 1, UINT32_MAX), 0);
	ck_assert_int_eq(rate_add(&r, &big, UINT64_MAX, UINT32_MAX), 1);
	ck_assert_uint_eq(r.prev, UINT32_MAX);	/* the next window */
	ck_assert_uint_eq(r.cur, UINT32_MAX);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rate_add(&r, &l, UINT64_MAX, UINT32_MAX), 1);
}
END_TEST

static Suite *
limit_suite(void)
{
	Suite	*s = suite_create("limit");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_parse_ok);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_limit_over);
	tcase_add_test(tc, test_rate_burst);
	tcase_add_test(tc, test_rate_sliding);
	tcase_add_test(tc, test_rate_off);
	tcase_add_test(tc, test_rate_saturate);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(limit_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
