/*
 * metrics.c - h2guard's counters and their Prometheus text rendering
 * (exposition format 0.0.4).
 *
 * The workers' counters are summed at rendering time, each read with a
 * relaxed atomic load: a scrape sees every counter at some recent value,
 * not all of them at one instant.  Every series whose labels are known in
 * advance is always rendered, 0 included, so that scrapers see stable
 * series; bans_total has one series per rule name ever counted.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/membudget.h"
#include "proxy/metrics.h"

#define M_PREFIX		"h2guard_"
#define RULES_INIT		16	/* first allocation of the rule table */
#define RULES_OTHER		"other"	/* where names past the bound go */

const double metrics_lat_bounds[METRICS_LAT_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};

/* The same bounds in microseconds, for metrics_request(). */
static const uint64_t lat_bounds_us[METRICS_LAT_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 10000000
};

/* Bans by rule name: rare, from any worker, so one table under a mutex. */
struct rule_count {
	char		*name;		/* owned */
	uint64_t	 n;
};

static pthread_mutex_t	 rules_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct rule_count *rules;	/* owned; nrules used, under rules_mtx */
static size_t		 nrules, caprules;
static uint64_t		 rules_other;	/* "other": past the bound, no memory */

void
metrics_request(struct metrics *m, int status, uint64_t duration_us)
{
	int	 cls = status / 100;
	size_t	 i;

	if (cls < 1 || cls >= METRICS_STATUS_CLASSES)
		cls = 0;
	METRIC_INC(m->requests[cls]);
	for (i = 0; i < METRICS_LAT_BUCKETS; i++)
		if (duration_us <= lat_bounds_us[i])
			break;
	METRIC_INC(m->lat_bucket[i]);	/* i == METRICS_LAT_BUCKETS: +Inf */
	METRIC_ADD(m->lat_sum_us, duration_us);
}

/* Adds name to the table with count 1; 0 or -ENOMEM.  Under rules_mtx. */
static int
rules_insert(const char *name)
{
	struct rule_count	*r;
	size_t			 cap;
	char			*s;

	if (nrules == caprules) {
		cap = caprules ? caprules * 2 : RULES_INIT;
		if (cap > METRICS_RULES_MAX)
			cap = METRICS_RULES_MAX;
		if ((r = reallocarray(rules, cap, sizeof(*r))) == NULL)
			return -ENOMEM;
		rules = r;
		caprules = cap;
	}
	if ((s = strdup(name)) == NULL)
		return -ENOMEM;
	rules[nrules].name = s;
	rules[nrules].n = 1;
	nrules++;
	return 0;
}

void
metrics_rule_ban(const char *name)
{
	size_t	 i;

	pthread_mutex_lock(&rules_mtx);
	if (name == NULL || strcmp(name, RULES_OTHER) == 0)
		goto other;
	for (i = 0; i < nrules; i++)
		if (strcmp(rules[i].name, name) == 0) {
			rules[i].n++;
			goto out;
		}
	if (nrules < METRICS_RULES_MAX && rules_insert(name) == 0)
		goto out;
other:
	rules_other++;
out:
	pthread_mutex_unlock(&rules_mtx);
}

void
metrics_free_rules(void)
{
	size_t	 i;

	pthread_mutex_lock(&rules_mtx);
	for (i = 0; i < nrules; i++)
		free(rules[i].name);
	free(rules);
	rules = NULL;
	nrules = caprules = 0;
	rules_other = 0;
	pthread_mutex_unlock(&rules_mtx);
}

/* A rendering in progress: the first failure sticks. */
struct render {
	struct evbuffer	*b;		/* owned; moved to out on success */
	int		 err;		/* 0 or -ENOMEM */
};

static void put(struct render *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct render *r, const char *fmt, ...)
{
	va_list	 ap;

	if (r->err != 0)
		return;
	va_start(ap, fmt);
	if (evbuffer_add_vprintf(r->b, fmt, ap) < 0)
		r->err = -ENOMEM;
	va_end(ap);
}

/* The # HELP and # TYPE lines of a metric family (help needs no escape). */
static void
put_family(struct render *r, const char *name, const char *type,
    const char *help)
{
	put(r, "# HELP " M_PREFIX "%s %s\n# TYPE " M_PREFIX "%s %s\n", name,
	    help, name, type);
}

static void
put_u64(struct render *r, const char *name, uint64_t v)
{
	put(r, M_PREFIX "%s %" PRIu64 "\n", name, v);
}

/* A sample with one label whose value needs no escaping. */
static void
put_label(struct render *r, const char *name, const char *label,
    const char *value, uint64_t v)
{
	put(r, M_PREFIX "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, value, v);
}

/* Appends s as a label value: backslash, double quote, newline escaped. */
static void
put_escaped(struct render *r, const char *s)
{
	const char	*p;
	const char	*esc;

	for (p = s; *p != '\0' && r->err == 0; p++) {
		switch (*p) {
		case '\\':
			esc = "\\\\";
			break;
		case '"':
			esc = "\\\"";
			break;
		case '\n':
			esc = "\\n";
			break;
		default:
			continue;
		}
		if (evbuffer_add(r->b, s, (size_t)(p - s)) != 0 ||
		    evbuffer_add(r->b, esc, 2) != 0)
			r->err = -ENOMEM;
		s = p + 1;
	}
	if (r->err == 0 && evbuffer_add(r->b, s, strlen(s)) != 0)
		r->err = -ENOMEM;
}

static void
render_rules(struct render *r)
{
	size_t	 i;

	put_family(r, "bans_total", "counter",
	    "Connections torn down by a ban rule, by rule name.");
	pthread_mutex_lock(&rules_mtx);
	for (i = 0; i < nrules; i++) {
		put(r, M_PREFIX "bans_total{rule=\"");
		put_escaped(r, rules[i].name);
		put(r, "\"} %" PRIu64 "\n", rules[i].n);
	}
	if (rules_other > 0)
		put_label(r, "bans_total", "rule", RULES_OTHER, rules_other);
	pthread_mutex_unlock(&rules_mtx);
}

#define LOAD(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)

/* Sums the n workers' counters into s. */
static void
metrics_sum(struct metrics *s, const struct metrics *const *w, size_t n)
{
	const struct metrics	*m;
	size_t			 i, j;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < n; i++) {
		m = w[i];
		/* The drops and closes before the accepts: open stays >= 0. */
		s->accept_banned += LOAD(m->accept_banned);
		s->accept_limited += LOAD(m->accept_limited);
		s->accept_client_conns += LOAD(m->accept_client_conns);
		s->accept_max_conns += LOAD(m->accept_max_conns);
		s->accept_proxy_errors += LOAD(m->accept_proxy_errors);
		s->accept_pauses += LOAD(m->accept_pauses);
		s->conns_closed += LOAD(m->conns_closed);
		s->conns_accepted += LOAD(m->conns_accepted);
		s->bans += LOAD(m->bans);
		s->floods += LOAD(m->floods);
		for (j = 0; j < METRICS_FLOODS; j++)
			s->flood_limit[j] += LOAD(m->flood_limit[j]);
		for (j = 0; j < METRICS_STATUS_CLASSES; j++)
			s->requests[j] += LOAD(m->requests[j]);
		s->bytes_in += LOAD(m->bytes_in);
		s->bytes_out += LOAD(m->bytes_out);
		s->upstream_errors += LOAD(m->upstream_errors);
		s->upstream_timeouts += LOAD(m->upstream_timeouts);
		s->memory_waits += LOAD(m->memory_waits);
		s->rule_errors += LOAD(m->rule_errors);
		s->bad_requests += LOAD(m->bad_requests);
		for (j = 0; j < METRICS_LAT_BUCKETS + 1; j++)
			s->lat_bucket[j] += LOAD(m->lat_bucket[j]);
		s->lat_sum_us += LOAD(m->lat_sum_us);
	}
}

static void
render_conns(struct render *r, const struct metrics *s)
{
	uint64_t	 gone, open;

	put_family(r, "connections_accepted_total", "counter",
	    "Client connections accepted.");
	put_u64(r, "connections_accepted_total", s->conns_accepted);

	/* Without a memory barrier the sums may disagree by a few. */
	gone = METRICS_ACCEPT_DROPS(s) + s->conns_closed;
	open = s->conns_accepted > gone ? s->conns_accepted - gone : 0;
	put_family(r, "connections_open", "gauge",
	    "Client connections open: accepted, less those dropped at accept "
	    "and those closed.");
	put_u64(r, "connections_open", open);

	put_family(r, "accept_drops_total", "counter",
	    "Connections closed at accept, by reason.");
	put_label(r, "accept_drops_total", "reason", "banned",
	    s->accept_banned);
	put_label(r, "accept_drops_total", "reason", "client_conn_rate",
	    s->accept_limited);
	put_label(r, "accept_drops_total", "reason", "client_max_connections",
	    s->accept_client_conns);
	put_label(r, "accept_drops_total", "reason", "max_connections",
	    s->accept_max_conns);
	put_label(r, "accept_drops_total", "reason", "proxy_protocol",
	    s->accept_proxy_errors);

	put_family(r, "accept_pauses_total", "counter",
	    "Times accept() failed for want of file descriptors or memory "
	    "and accepting was paused.");
	put_u64(r, "accept_pauses_total", s->accept_pauses);
}

unsigned
metrics_flood_index(const char *name)
{
	enum limit_id id = limit_find(name);

	if (id != LIM_N)
		return id;
	if (strcmp(name, "header_timeout") == 0)
		return METRICS_FLOOD_HEADER_TIMEOUT;
	if (strcmp(name, "send_timeout") == 0)
		return METRICS_FLOOD_SEND_TIMEOUT;
	return METRICS_FLOOD_NGHTTP2;
}

const char *
metrics_flood_name(unsigned i)
{
	if (i < LIM_N)
		return limit_name((enum limit_id)i);
	switch (i) {
	case METRICS_FLOOD_HEADER_TIMEOUT:
		return "header_timeout";
	case METRICS_FLOOD_SEND_TIMEOUT:
		return "send_timeout";
	default:
		return "nghttp2";
	}
}

static void
render_floods(struct render *r, const struct metrics *s)
{
	unsigned i;

	put_family(r, "floods_total", "counter",
	    "Connections torn down by a flood limit, by limit.");
	for (i = 0; i < METRICS_FLOODS; i++)
		put_label(r, "floods_total", "limit", metrics_flood_name(i),
		    s->flood_limit[i]);
}

static void
render_requests(struct render *r, const struct metrics *s)
{
	static const char *const cls[METRICS_STATUS_CLASSES] = {
		"none", "1xx", "2xx", "3xx", "4xx", "5xx"
	};
	uint64_t	 cum = 0;
	size_t		 i;

	put_family(r, "requests_total", "counter",
	    "Requests finished, by response status class (none: no "
	    "response).");
	for (i = 0; i < METRICS_STATUS_CLASSES; i++)
		put_label(r, "requests_total", "status", cls[i],
		    s->requests[i]);

	put_family(r, "request_bytes_total", "counter",
	    "Request body bytes received from clients.");
	put_u64(r, "request_bytes_total", s->bytes_in);
	put_family(r, "response_bytes_total", "counter",
	    "Response body bytes sent to clients.");
	put_u64(r, "response_bytes_total", s->bytes_out);
	put_family(r, "upstream_errors_total", "counter",
	    "Requests failed by the upstream: 502 or a response cut short.");
	put_u64(r, "upstream_errors_total", s->upstream_errors);
	put_family(r, "upstream_timeouts_total", "counter",
	    "Requests the upstream did not answer in time (504).");
	put_u64(r, "upstream_timeouts_total", s->upstream_timeouts);

	put_family(r, "buffer_bytes", "gauge",
	    "Bytes held by h2guard's buffers (libevent's memory), which "
	    "memory_limit bounds.");
	put_u64(r, "buffer_bytes", membudget_used());
	put_family(r, "memory_waits_total", "counter",
	    "Upstream reads put off while the buffers held more than "
	    "memory_limit.");
	put_u64(r, "memory_waits_total", s->memory_waits);
	put_family(r, "rule_errors_total", "counter",
	    "Requests in which a rule's pattern match failed (a match limit); "
	    "see rule_errors.");
	put_u64(r, "rule_errors_total", s->rule_errors);
	put_family(r, "bad_requests_total", "counter",
	    "Requests refused as malformed (400, or an HTTP/2 stream reset) "
	    "before the rules: bad encoding, target, authority or field.");
	put_u64(r, "bad_requests_total", s->bad_requests);

	put_family(r, "request_duration_seconds", "histogram",
	    "Time from a request's head to the end of its response.");
	for (i = 0; i < METRICS_LAT_BUCKETS; i++) {
		cum += s->lat_bucket[i];
		put(r, M_PREFIX "request_duration_seconds_bucket{le=\"%g\"} %"
		    PRIu64 "\n", metrics_lat_bounds[i], cum);
	}
	cum += s->lat_bucket[METRICS_LAT_BUCKETS];
	put(r, M_PREFIX "request_duration_seconds_bucket{le=\"+Inf\"} %"
	    PRIu64 "\n", cum);
	put(r, M_PREFIX "request_duration_seconds_sum %" PRIu64 ".%06" PRIu64
	    "\n", s->lat_sum_us / 1000000, s->lat_sum_us % 1000000);
	put_u64(r, "request_duration_seconds_count", cum);
}

static void
render_gauges(struct render *r, const struct metrics_gauges *g)
{
	put_family(r, "ban_table_entries", "gauge",
	    "Entries in the ban table (expired ones until dropped).");
	put_u64(r, "ban_table_entries", g->ban_entries);
	put_family(r, "client_table_entries", "gauge",
	    "Client addresses counted for per-client limits.");
	put_u64(r, "client_table_entries", g->client_entries);
	put_family(r, "kernel_drop", "gauge",
	    "1 when banned addresses are dropped by the kernel (kernel_drop).");
	put_u64(r, "kernel_drop", g->kernel_drop);
	put_family(r, "kernel_drop_entries", "gauge",
	    "Bans in the kernel's maps.");
	put_u64(r, "kernel_drop_entries", g->kernel_drop_entries);
	put_family(r, "kernel_drops_total", "counter",
	    "Packets from banned addresses dropped by the kernel (SYNs and "
	    "their retransmissions).");
	put_u64(r, "kernel_drops_total", g->kernel_drops);
	put_family(r, "kernel_drop_errors_total", "counter",
	    "Bans the kernel's maps refused (closed at accept instead).");
	put_u64(r, "kernel_drop_errors_total", g->kernel_drop_errors);
	put_family(r, "workers", "gauge", "Worker threads.");
	put_u64(r, "workers", g->workers);
	put_family(r, "start_time_seconds", "gauge",
	    "Start time of the process since the epoch, in seconds.");
	put(r, M_PREFIX "start_time_seconds %.3f\n", g->start_time);
	put_family(r, "config_reloads_total", "counter",
	    "Configuration reloads, by result.");
	put_label(r, "config_reloads_total", "result", "ok", g->reloads);
	put_label(r, "config_reloads_total", "result", "failed",
	    g->reload_failures);
}

int
metrics_render(struct evbuffer *out, const struct metrics *const *w,
    size_t n, const struct metrics_gauges *g)
{
	struct metrics	 s;
	struct render	 r;

	if ((r.b = evbuffer_new()) == NULL)
		return -ENOMEM;
	r.err = 0;
	metrics_sum(&s, w, n);
	render_conns(&r, &s);
	render_rules(&r);
	render_floods(&r, &s);
	render_requests(&r, &s);
	render_gauges(&r, g);
	if (r.err == 0 && evbuffer_add_buffer(out, r.b) != 0)
		r.err = -ENOMEM;
	evbuffer_free(r.b);
	return r.err;
}
