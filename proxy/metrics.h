/*
 * metrics.h - h2guard's counters and their Prometheus text rendering.
 *
 * Each worker owns one struct metrics and is the only thread that changes
 * it (METRIC_INC / METRIC_ADD, relaxed atomic stores, so that the admin
 * thread may read them at any time without a lock); metrics_render() sums
 * the workers'.  Bans by rule name are rare events counted in one shared
 * table under a mutex (rules come and go with reloads).
 */
#ifndef H2GUARD_METRICS_H
#define H2GUARD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/limit.h"

struct evbuffer;

/* Request latency histogram: upper bounds in seconds, +Inf implied. */
#define METRICS_LAT_BUCKETS	12
extern const double metrics_lat_bounds[METRICS_LAT_BUCKETS];

/* Request status classes: [0] no status (reset, cancelled), [1..5] 1xx..5xx. */
#define METRICS_STATUS_CLASSES	6

/*
 * Every accepted connection ends counted exactly once: in one of the
 * accept_* drops (METRICS_ACCEPT_DROPS) when it is dropped before it
 * becomes a client connection, else in conns_closed when that connection
 * is freed.  So the connections open are
 *
 *	conns_accepted - METRICS_ACCEPT_DROPS - conns_closed
 *
 * (h2guard_connections_open; never below 0 in a rendering, although the
 * counters are read one at a time).
 */
/*
 * Flood teardowns by cause: the limits of limit.h, then the two timeouts
 * that count as floods and nghttp2's own detections.
 */
#define METRICS_FLOOD_HEADER_TIMEOUT	LIM_N
#define METRICS_FLOOD_SEND_TIMEOUT	(LIM_N + 1)
#define METRICS_FLOOD_NGHTTP2		(LIM_N + 2)
#define METRICS_FLOODS			(LIM_N + 3)

/* metrics_flood_index() is the flood_limit[] slot of a flood's name. */
unsigned metrics_flood_index(const char *name);

/* metrics_flood_name() is the label of flood_limit[i]. */
const char *metrics_flood_name(unsigned i);

struct metrics {
	uint64_t conns_accepted;	/* connections accepted */
	uint64_t conns_closed;		/* client connections freed */
	uint64_t accept_banned;		/* closed at accept: banned address */
	uint64_t accept_limited;	/* closed at accept: client_conn_rate */
	uint64_t accept_client_conns;	/* ... client_max_connections */
	uint64_t accept_max_conns;	/* ... max_connections */
	uint64_t accept_proxy_errors;	/* closed: bad or missing PROXY header */
	uint64_t accept_pauses;		/* accept() out of descriptors/memory */
	uint64_t bans;			/* connections torn down by a rule */
	uint64_t floods;		/* ... by a flood limit */
	uint64_t flood_limit[METRICS_FLOODS];	/* ... by each, see below */
	uint64_t requests[METRICS_STATUS_CLASSES];	/* finished requests */
	uint64_t bytes_in;		/* request body bytes from clients */
	uint64_t bytes_out;		/* response body bytes to clients */
	uint64_t upstream_errors;	/* 502 or response cut short */
	uint64_t upstream_timeouts;	/* 504 */
	uint64_t memory_waits;		/* upstream reads put off: memory_limit */
	uint64_t rule_errors;		/* requests a pattern match failed in */
	uint64_t bad_requests;		/* refused by canon_request() */
	uint64_t lat_bucket[METRICS_LAT_BUCKETS + 1];	/* not cumulative */
	uint64_t lat_sum_us;		/* sum of request durations */
};

/* The connections of m closed at accept (struct metrics *m). */
#define METRICS_ACCEPT_DROPS(m)                                                \
	((m)->accept_banned + (m)->accept_limited + (m)->accept_client_conns + \
	(m)->accept_max_conns + (m)->accept_proxy_errors)

/* The calling worker's counters (NULL outside workers). */
extern __thread struct metrics *metrics_self;

/* The owner's update of a counter other threads may read. */
#define METRIC_ADD(field, n)                                                   \
	__atomic_store_n(&(field), __atomic_load_n(&(field),                   \
	    __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define METRIC_INC(field)	METRIC_ADD(field, 1)

/* metrics_request() counts one finished request: status 0 for none. */
void metrics_request(struct metrics *m, int status, uint64_t duration_us);

/*
 * Distinct rule names counted at most; the bans of further names (and of a
 * NULL name) count under the name "other".
 */
#define METRICS_RULES_MAX	1024

/*
 * metrics_rule_ban() counts a connection torn down by the rule named name
 * (copied).  Any thread; takes a mutex.
 */
void metrics_rule_ban(const char *name);

/*
 * The gauges a rendering reports besides the workers' counters: filled by
 * the caller at rendering time.
 */
struct metrics_gauges {
	uint64_t ban_entries;		/* addresses in the ban table */
	uint64_t client_entries;	/* addresses in the client table */
	unsigned kernel_drop;		/* 1: the socket filter is loaded */
	uint64_t kernel_drop_entries;	/* bans in its maps */
	uint64_t kernel_drops;		/* packets it dropped */
	uint64_t kernel_drop_errors;	/* map writes the kernel refused */
	unsigned workers;
	double	 start_time;		/* seconds since the epoch */
	uint64_t reloads;		/* successful configuration reloads */
	uint64_t reload_failures;	/* rejected reloads */
};

/*
 * metrics_render() appends the Prometheus text exposition (version 0.0.4)
 * of the n workers' counters w[] (summed), of the by-rule table and of g
 * to out.  Any thread.  Returns 0, or -ENOMEM with out unchanged.
 */
int metrics_render(struct evbuffer *out, const struct metrics *const *w,
    size_t n, const struct metrics_gauges *g);

/* metrics_free_rules() frees the by-rule table (at exit). */
void metrics_free_rules(void);

#endif
