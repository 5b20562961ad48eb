/*
 * banshare.h - fleet-wide bans through Redis (ban_share).
 *
 * Several h2guard instances share their bans with a ttl: each one is
 * written as a key, "PREFIXban:ADDR/LEN", that expires with the ban, and
 * published on the channel "PREFIXbans" as "+ ADDR/LEN TTL_MS ORIGIN".
 * Every instance subscribes to the channel and applies what the others
 * publish to its own ban table (tearing down live connections from the
 * address); "- ADDR/LEN ORIGIN" removes one (the admin API's DELETE).  An
 * instance that starts or reconnects loads the keys still alive.
 *
 * All of it runs on the main thread's event loop with hiredis's
 * asynchronous API: workers only queue their bans (bounded; the oldest are
 * dropped when Redis stays away), and nothing waits on Redis.  While Redis
 * is down, local bans work as before; the queue is sent once it is back,
 * reconnecting with a backoff from 100 ms to 5 s.
 */
#ifndef H2GUARD_BANSHARE_H
#define H2GUARD_BANSHARE_H

#include <stdint.h>
#include <sys/socket.h>

struct conf;
struct event_base;
struct evbuffer;

/* What a ban received from another instance does here. */
struct banshare_ops {
	/* Ban sa's first plen bits for ttl_ms and tear down live connections. */
	int (*add)(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms);
	/* Remove the ban of sa's first plen bits. */
	int (*remove)(const struct sockaddr *sa, unsigned plen);
};

/*
 * banshare_start() starts sharing as conf says (nothing when ban_share is
 * off), on base (the main thread's), applying what comes in with ops.
 * Returns 0, or -1 when out of memory.
 */
int banshare_start(struct event_base *base, const struct conf *conf,
    const struct banshare_ops *ops);

/* banshare_stop() disconnects and frees everything. */
void banshare_stop(void);

/*
 * banshare_add() shares a local ban of sa's first plen bits (plen: the
 * actual prefix length, after ban_prefix_v4/v6) for ttl_ms > 0.
 * banshare_remove() shares its removal.  Any thread; never blocks; no-op
 * when sharing is off.
 */
void banshare_add(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms);
void banshare_remove(const struct sockaddr *sa, unsigned plen);

/* banshare_metrics() appends the h2guard_ban_share_* series to out. */
void banshare_metrics(struct evbuffer *out);

#endif
