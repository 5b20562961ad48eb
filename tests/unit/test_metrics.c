/*
 * test_metrics.c - unit tests for proxy/metrics.c: request counting, the
 * by-rule table, and the Prometheus text rendering (sums over workers,
 * histogram, labels and their escaping, gauges, the format itself).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/limit.h"
#include "proxy/metrics.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Renders n workers and g (zeroed gauges when NULL) into a C string. */
static char *
render(const struct metrics *const *w, size_t n,
    const struct metrics_gauges *g)
{
	struct metrics_gauges	 zero;
	struct evbuffer		*b = evbuffer_new();
	size_t			 len;
	char			*s;

	ck_assert_ptr_nonnull(b);
	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(metrics_render(b, w, n, g ? g : &zero), 0);
	len = evbuffer_get_length(b);
	ck_assert_ptr_nonnull(s = malloc(len + 1));
	evbuffer_copyout(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return s;
}

/* The value text of the one sample line named series ("name{labels}"). */
static const char *
sample(const char *text, const char *series)
{
	const char	*p = text, *found = NULL;
	size_t		 len = strlen(series);

	for (; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncmp(p, series, len) == 0 && p[len] == ' ') {
			ck_assert_msg(found == NULL, "%s twice", series);
			found = p + len + 1;
		}
		if (strchr(p, '\n') == NULL)
			break;
	}
	ck_assert_msg(found != NULL, "no sample %s", series);
	return found;
}

/* The value of series as an integer (it must be one). */
static uint64_t
value(const char *text, const char *series)
{
	const char		*v = sample(text, series);
	char			*end;
	unsigned long long	 n;

	errno = 0;
	n = strtoull(v, &end, 10);
	ck_assert_msg(errno == 0 && end != v && *end == '\n',
	    "%s: not an integer: %.20s", series, v);
	return n;
}

/* The value of series as a double. */
static double
fvalue(const char *text, const char *series)
{
	const char	*v = sample(text, series);
	char		*end;
	double		 d = strtod(v, &end);

	ck_assert_msg(end != v && *end == '\n', "%s: not a number: %.20s",
	    series, v);
	return d;
}

static int
has_suffix(const char *s, size_t len, const char *suf)
{
	size_t	 n = strlen(suf);

	return len > n && strncmp(s + len - n, suf, n) == 0;
}

/* Whether name is a sample of the histogram fam: _bucket, _sum, _count. */
static int
hist_member(const char *name, const char *fam)
{
	size_t	 n = strlen(fam);

	return strncmp(name, fam, n) == 0 &&
	    (strcmp(name + n, "_bucket") == 0 ||
	    strcmp(name + n, "_sum") == 0 || strcmp(name + n, "_count") == 0);
}

/*
 * Checks the exposition format: lines end with \n; each family has one
 * HELP then one TYPE (counter, gauge or histogram) before its samples, its
 * samples together; counters end in _total; names carry the prefix; no
 * series twice; every value a number.
 */
static void
check_format(const char *text)
{
	char		 fam[128] = "", type[16] = "", seen[64][128];
	char		 line[512], name[128], series[256];
	const char	*p, *nl, *sp;
	size_t		 nseen = 0, i, len;
	char		*series_seen[2048];
	size_t		 nseries = 0;
	char		*end;

	ck_assert_msg(*text != '\0', "empty rendering");
	ck_assert_msg(text[strlen(text) - 1] == '\n', "no final newline");
	for (p = text; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		len = (size_t)(nl - p);
		ck_assert_uint_lt(len, sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		if (strncmp(line, "# HELP ", 7) == 0) {
			ck_assert_int_eq(sscanf(line + 7, "%127s", name), 1);
			ck_assert_msg(strncmp(name, "h2guard_", 8) == 0, "%s",
			    line);
			for (i = 0; i < nseen; i++)
				ck_assert_msg(strcmp(seen[i], name) != 0,
				    "family %s twice", name);
			ck_assert_uint_lt(nseen, NELEM(seen));
			strcpy(seen[nseen++], name);
			strcpy(fam, name);
			type[0] = '\0';
			ck_assert_msg(strlen(line) > 8 + strlen(name),
			    "empty help: %s", line);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			ck_assert_int_eq(sscanf(line + 7, "%127s %15s", name,
			    type), 2);
			ck_assert_msg(strcmp(name, fam) == 0,
			    "TYPE %s after HELP %s", name, fam);
			ck_assert_msg(strcmp(type, "counter") == 0 ||
			    strcmp(type, "gauge") == 0 ||
			    strcmp(type, "histogram") == 0, "%s", line);
			if (strcmp(type, "counter") == 0)
				ck_assert_msg(has_suffix(name, strlen(name),
				    "_total"), "counter %s", name);
			continue;
		}
		ck_assert_msg(line[0] != '#', "stray comment: %s", line);
		ck_assert_msg(type[0] != '\0', "sample before TYPE: %s", line);
		sp = strrchr(line, ' ');
		ck_assert_ptr_nonnull(sp);
		len = strcspn(line, "{ ");
		ck_assert_uint_lt(len, sizeof(name));
		memcpy(name, line, len);
		name[len] = '\0';
		if (strcmp(type, "histogram") == 0)
			ck_assert_msg(hist_member(name, fam),
			    "%s outside its family %s", line, fam);
		else
			ck_assert_msg(strcmp(name, fam) == 0,
			    "%s outside its family %s", line, fam);
		strtod(sp + 1, &end);
		ck_assert_msg(end != sp + 1 && *end == '\0', "value: %s",
		    line);
		len = (size_t)(sp - line);
		memcpy(series, line, len);
		series[len] = '\0';
		for (i = 0; i < nseries; i++)
			ck_assert_msg(strcmp(series_seen[i], series) != 0,
			    "series %s twice", series);
		ck_assert_uint_lt(nseries, NELEM(series_seen));
		ck_assert_ptr_nonnull(series_seen[nseries++] = strdup(series));
	}
	for (i = 0; i < nseries; i++)
		free(series_seen[i]);
}

START_TEST(test_sums)
{
	struct metrics		 a, b;
	const struct metrics	*w[] = { &a, &b };
	char			*t, series[128];
	int			 i;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	METRIC_ADD(a.conns_accepted, 100);
	METRIC_ADD(b.conns_accepted, 50);
	METRIC_ADD(a.accept_banned, 7);
	METRIC_ADD(b.accept_banned, 3);
	METRIC_ADD(a.accept_limited, 2);
	METRIC_ADD(b.accept_proxy_errors, 5);
	METRIC_ADD(a.conns_closed, 60);
	METRIC_ADD(b.conns_closed, 20);
	METRIC_ADD(a.bytes_in, 1000);
	METRIC_ADD(b.bytes_in, 234);
	METRIC_ADD(a.bytes_out, 5000000000ULL);
	METRIC_ADD(b.bytes_out, 5000000000ULL);
	METRIC_INC(a.upstream_errors);
	METRIC_ADD(b.upstream_errors, 2);
	METRIC_ADD(a.upstream_timeouts, 4);
	for (i = 0; i < METRICS_FLOODS; i++) {
		METRIC_ADD(a.flood_limit[i], (uint64_t)i);
		METRIC_ADD(b.flood_limit[i], 100);
	}

	t = render(w, 2, NULL);
	check_format(t);
	ck_assert_uint_eq(value(t, "h2guard_connections_accepted_total"), 150);
	ck_assert_uint_eq(value(t,
	    "h2guard_accept_drops_total{reason=\"banned\"}"), 10);
	ck_assert_uint_eq(value(t,
	    "h2guard_accept_drops_total{reason=\"client_conn_rate\"}"), 2);
	ck_assert_uint_eq(value(t,
	    "h2guard_accept_drops_total{reason=\"proxy_protocol\"}"), 5);
	/* 150 - 10 - 2 - 5 - 80 */
	ck_assert_uint_eq(value(t, "h2guard_connections_open"), 53);
	ck_assert_uint_eq(value(t, "h2guard_request_bytes_total"), 1234);
	ck_assert_uint_eq(value(t, "h2guard_response_bytes_total"),
	    10000000000ULL);
	ck_assert_uint_eq(value(t, "h2guard_upstream_errors_total"), 3);
	ck_assert_uint_eq(value(t, "h2guard_upstream_timeouts_total"), 4);
	for (i = 0; i < METRICS_FLOODS; i++) {
		snprintf(series, sizeof(series),
		    "h2guard_floods_total{limit=\"%s\"}",
		    metrics_flood_name((unsigned)i));
		ck_assert_uint_eq(value(t, series), (uint64_t)i + 100);
	}
	free(t);

	/* One worker alone: only its counts. */
	t = render(w + 1, 1, NULL);
	ck_assert_uint_eq(value(t, "h2guard_connections_accepted_total"), 50);
	ck_assert_uint_eq(value(t, "h2guard_connections_open"), 22);
	free(t);
}
END_TEST

START_TEST(test_open_never_negative)
{
	struct metrics		 a;
	const struct metrics	*w[] = { &a };
	char			*t;

	/* Counters read one at a time may disagree for a moment. */
	memset(&a, 0, sizeof(a));
	METRIC_ADD(a.conns_accepted, 5);
	METRIC_ADD(a.conns_closed, 4);
	METRIC_ADD(a.accept_banned, 2);
	t = render(w, 1, NULL);
	ck_assert_uint_eq(value(t, "h2guard_connections_open"), 0);
	free(t);
}
END_TEST

START_TEST(test_status_classes)
{
	static const struct {
		int		 status;
		const char	*cls;
	} t[] = {
		{ 100, "1xx" }, { 101, "1xx" }, { 199, "1xx" },
		{ 200, "2xx" }, { 204, "2xx" }, { 299, "2xx" },
		{ 301, "3xx" }, { 304, "3xx" },
		{ 400, "4xx" }, { 404, "4xx" }, { 499, "4xx" },
		{ 500, "5xx" }, { 502, "5xx" }, { 599, "5xx" },
		{ 0, "none" }, { -1, "none" }, { -200, "none" }, { 99, "none" },
		{ 600, "none" }, { 1000, "none" },
	};
	static const char *const classes[] = {
		"none", "1xx", "2xx", "3xx", "4xx", "5xx"
	};
	struct metrics		 m;
	const struct metrics	*w[] = { &m };
	char			*txt, series[64];
	uint64_t		 want;
	size_t			 i, j;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < NELEM(t); i++)
		metrics_request(&m, t[i].status, 0);
	txt = render(w, 1, NULL);
	check_format(txt);
	for (j = 0; j < NELEM(classes); j++) {
		for (want = 0, i = 0; i < NELEM(t); i++)
			want += strcmp(t[i].cls, classes[j]) == 0;
		snprintf(series, sizeof(series),
		    "h2guard_requests_total{status=\"%s\"}", classes[j]);
		ck_assert_msg(value(txt, series) == want, "%s: %llu, not %llu",
		    series, (unsigned long long)value(txt, series),
		    (unsigned long long)want);
	}
	free(txt);
}
END_TEST

/* The cumulative count of bucket le (a label value) in text. */
static uint64_t
bucket(const char *text, const char *le)
{
	char	 series[256];

	snprintf(series, sizeof(series),
	    "h2guard_request_duration_seconds_bucket{le=\"%s\"}", le);
	return value(text, series);
}

START_TEST(test_histogram)
{
	static const char *const les[METRICS_LAT_BUCKETS] = {
		"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
		"0.25", "0.5", "1", "2.5", "10"
	};
	struct metrics		 a, b;
	const struct metrics	*w[] = { &a, &b };
	char			*t;
	uint64_t		 prev = 0, cur;
	size_t			 i;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	/* Bounds are inclusive ("le"). */
	metrics_request(&a, 200, 0);		/* le 0.001 */
	metrics_request(&a, 200, 1000);		/* le 0.001 */
	metrics_request(&b, 200, 1001);		/* le 0.0025 */
	metrics_request(&b, 404, 2500);		/* le 0.0025 */
	metrics_request(&a, 500, 300000);	/* le 0.5 */
	metrics_request(&b, 0, 10000000);	/* le 10 */
	metrics_request(&a, 200, 10000001);	/* +Inf */
	metrics_request(&b, 200, 3600000000ULL);	/* +Inf */

	t = render(w, 2, NULL);
	check_format(t);
	ck_assert_uint_eq(bucket(t, "0.001"), 2);
	ck_assert_uint_eq(bucket(t, "0.0025"), 4);
	ck_assert_uint_eq(bucket(t, "0.005"), 4);
	ck_assert_uint_eq(bucket(t, "0.25"), 4);
	ck_assert_uint_eq(bucket(t, "0.5"), 5);
	ck_assert_uint_eq(bucket(t, "2.5"), 5);
	ck_assert_uint_eq(bucket(t, "10"), 6);
	ck_assert_uint_eq(bucket(t, "+Inf"), 8);
	ck_assert_uint_eq(value(t, "h2guard_request_duration_seconds_count"),
	    8);
	for (i = 0; i < METRICS_LAT_BUCKETS; i++) {
		cur = bucket(t, les[i]);
		ck_assert_uint_ge(cur, prev);	/* cumulative */
		prev = cur;
	}
	ck_assert_uint_ge(bucket(t, "+Inf"), prev);
	/* 0 + 1000 + 1001 + 2500 + 300000 + 10000000 + 10000001 + 3.6e9 us */
	ck_assert_ptr_nonnull(strstr(t,
	    "h2guard_request_duration_seconds_sum 3620.304502\n"));
	/* The histogram counts what requests_total counts. */
	ck_assert_uint_eq(value(t, "h2guard_requests_total{status=\"2xx\"}"),
	    5);
	free(t);

	/* The bounds: increasing, and each lands in its own bucket. */
	for (i = 0; i < METRICS_LAT_BUCKETS; i++) {
		if (i > 0)
			ck_assert(metrics_lat_bounds[i] >
			    metrics_lat_bounds[i - 1]);
		memset(&a, 0, sizeof(a));
		metrics_request(&a, 200,
		    (uint64_t)(metrics_lat_bounds[i] * 1e6 + 0.5));
		t = render(w, 1, NULL);
		ck_assert_uint_eq(bucket(t, les[i]), 1);
		if (i > 0)
			ck_assert_uint_eq(bucket(t, les[i - 1]), 0);
		ck_assert_uint_eq(a.lat_bucket[i], 1);
		free(t);
	}
}
END_TEST

START_TEST(test_every_series)
{
	static const char *const series[] = {
		"h2guard_connections_accepted_total",
		"h2guard_connections_open",
		"h2guard_accept_drops_total{reason=\"banned\"}",
		"h2guard_accept_drops_total{reason=\"client_conn_rate\"}",
		"h2guard_accept_drops_total{reason=\"proxy_protocol\"}",
		"h2guard_requests_total{status=\"none\"}",
		"h2guard_requests_total{status=\"1xx\"}",
		"h2guard_requests_total{status=\"2xx\"}",
		"h2guard_requests_total{status=\"3xx\"}",
		"h2guard_requests_total{status=\"4xx\"}",
		"h2guard_requests_total{status=\"5xx\"}",
		"h2guard_request_bytes_total",
		"h2guard_response_bytes_total",
		"h2guard_upstream_errors_total",
		"h2guard_upstream_timeouts_total",
		"h2guard_request_duration_seconds_bucket{le=\"+Inf\"}",
		"h2guard_request_duration_seconds_count",
		"h2guard_ban_table_entries",
		"h2guard_client_table_entries",
		"h2guard_workers",
		"h2guard_config_reloads_total{result=\"ok\"}",
		"h2guard_config_reloads_total{result=\"failed\"}",
	};
	static const char *const families[] = {
		"connections_accepted_total counter",
		"connections_open gauge",
		"accept_drops_total counter",
		"bans_total counter",
		"floods_total counter",
		"requests_total counter",
		"request_bytes_total counter",
		"response_bytes_total counter",
		"upstream_errors_total counter",
		"upstream_timeouts_total counter",
		"request_duration_seconds histogram",
		"ban_table_entries gauge",
		"client_table_entries gauge",
		"workers gauge",
		"start_time_seconds gauge",
		"config_reloads_total counter",
	};
	char	*t, buf[128];
	size_t	 i;
	int	 id;

	metrics_free_rules();
	/* No worker at all: every series there, at 0. */
	t = render(NULL, 0, NULL);
	check_format(t);
	for (i = 0; i < NELEM(series); i++)
		ck_assert_uint_eq(value(t, series[i]), 0);
	for (i = 0; i < METRICS_LAT_BUCKETS; i++) {
		snprintf(buf, sizeof(buf), "%g", metrics_lat_bounds[i]);
		ck_assert_uint_eq(bucket(t, buf), 0);
	}
	for (id = 0; id < LIM_N; id++) {
		snprintf(buf, sizeof(buf), "h2guard_floods_total{limit=\"%s\"}",
		    limit_name((enum limit_id)id));
		ck_assert_uint_eq(value(t, buf), 0);
	}
	ck_assert(fvalue(t, "h2guard_request_duration_seconds_sum") == 0);
	ck_assert(fvalue(t, "h2guard_start_time_seconds") == 0);
	for (i = 0; i < NELEM(families); i++) {
		snprintf(buf, sizeof(buf), "\n# TYPE h2guard_%s\n",
		    families[i]);
		ck_assert_msg(strstr(t, buf) != NULL, "no %s", buf + 1);
	}
	/* Nothing but the prefix, no rule ban yet. */
	ck_assert_ptr_null(strstr(t, "h2guard_bans_total{"));
	free(t);
}
END_TEST

START_TEST(test_gauges)
{
	struct metrics_gauges	 g;
	char			*t;

	memset(&g, 0, sizeof(g));
	g.ban_entries = 1234;
	g.client_entries = 56789;
	g.workers = 4;
	g.start_time = 1700000000.25;
	g.reloads = 3;
	g.reload_failures = 1;
	t = render(NULL, 0, &g);
	check_format(t);
	ck_assert_uint_eq(value(t, "h2guard_ban_table_entries"), 1234);
	ck_assert_uint_eq(value(t, "h2guard_client_table_entries"), 56789);
	ck_assert_uint_eq(value(t, "h2guard_workers"), 4);
	ck_assert(fvalue(t, "h2guard_start_time_seconds") == 1700000000.25);
	ck_assert_uint_eq(value(t, "h2guard_config_reloads_total{result=\"ok\"}"),
	    3);
	ck_assert_uint_eq(value(t,
	    "h2guard_config_reloads_total{result=\"failed\"}"), 1);
	free(t);
}
END_TEST

START_TEST(test_rules)
{
	char	*t;

	metrics_free_rules();
	metrics_rule_ban("scanner");
	metrics_rule_ban("scanner");
	metrics_rule_ban("wp-login");
	metrics_rule_ban("a\"b\\c\nd");		/* escaped in the label */
	metrics_rule_ban("");
	t = render(NULL, 0, NULL);
	check_format(t);
	ck_assert_uint_eq(value(t, "h2guard_bans_total{rule=\"scanner\"}"), 2);
	ck_assert_uint_eq(value(t, "h2guard_bans_total{rule=\"wp-login\"}"), 1);
	ck_assert_uint_eq(value(t,
	    "h2guard_bans_total{rule=\"a\\\"b\\\\c\\nd\"}"), 1);
	ck_assert_uint_eq(value(t, "h2guard_bans_total{rule=\"\"}"), 1);
	ck_assert_ptr_null(strstr(t, "rule=\"other\""));
	free(t);

	/* Freed: gone. */
	metrics_free_rules();
	t = render(NULL, 0, NULL);
	ck_assert_ptr_null(strstr(t, "h2guard_bans_total{"));
	free(t);
	metrics_free_rules();		/* twice is fine */
}
END_TEST

START_TEST(test_rules_bounded)
{
	char	 name[32], series[64];
	char	*t;
	int	 i;

	metrics_free_rules();
	for (i = 0; i < METRICS_RULES_MAX + 10; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		metrics_rule_ban(name);
	}
	metrics_rule_ban("r0");			/* still counted by name */
	metrics_rule_ban(NULL);			/* other */
	metrics_rule_ban("other");		/* the same series */
	metrics_rule_ban("r99999");		/* other */
	t = render(NULL, 0, NULL);
	check_format(t);
	ck_assert_uint_eq(value(t, "h2guard_bans_total{rule=\"r0\"}"), 2);
	snprintf(series, sizeof(series), "h2guard_bans_total{rule=\"r%d\"}",
	    METRICS_RULES_MAX - 1);
	ck_assert_uint_eq(value(t, series), 1);
	snprintf(series, sizeof(series), "rule=\"r%d\"", METRICS_RULES_MAX);
	ck_assert_ptr_null(strstr(t, series));
	ck_assert_uint_eq(value(t, "h2guard_bans_total{rule=\"other\"}"),
	    10 + 3);
	free(t);
	metrics_free_rules();
}
END_TEST

#define BAN_THREADS	4
#define BAN_ROUNDS	2000

static void *
ban_thread(void *arg)
{
	int	 i;

	(void)arg;
	for (i = 0; i < BAN_ROUNDS; i++)
		metrics_rule_ban(i % 2 ? "odd" : "even");
	return NULL;
}

START_TEST(test_rules_threads)
{
	pthread_t	 th[BAN_THREADS];
	char		*t;
	int		 i;

	metrics_free_rules();
	for (i = 0; i < BAN_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, ban_thread,
		    NULL), 0);
	for (i = 0; i < BAN_THREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	t = render(NULL, 0, NULL);
	ck_assert_uint_eq(value(t, "h2guard_bans_total{rule=\"odd\"}"),
	    BAN_THREADS * BAN_ROUNDS / 2);
	ck_assert_uint_eq(value(t, "h2guard_bans_total{rule=\"even\"}"),
	    BAN_THREADS * BAN_ROUNDS / 2);
	free(t);
	metrics_free_rules();
}
END_TEST

START_TEST(test_appends)
{
	struct evbuffer		*b = evbuffer_new();
	struct metrics_gauges	 g;
	char			 head[8];

	memset(&g, 0, sizeof(g));
	ck_assert_ptr_nonnull(b);
	evbuffer_add(b, "prefix\n", 7);
	ck_assert_int_eq(metrics_render(b, NULL, 0, &g), 0);
	ck_assert_uint_gt(evbuffer_get_length(b), 7);
	evbuffer_copyout(b, head, 7);
	ck_assert_int_eq(memcmp(head, "prefix\n", 7), 0);
	evbuffer_free(b);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc = tcase_create("core");

	/* check_format() is quadratic in the series: seconds under ASan. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sums);
	tcase_add_test(tc, test_open_never_negative);
	tcase_add_test(tc, test_status_classes);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_every_series);
	tcase_add_test(tc, test_gauges);
	tcase_add_test(tc, test_rules);
	tcase_add_test(tc, test_rules_bounded);
	tcase_add_test(tc, test_rules_threads);
	tcase_add_test(tc, test_appends);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(metrics_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	metrics_free_rules();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
