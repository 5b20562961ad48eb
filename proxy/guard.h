/*
 * guard.h - the ban decision: rules applied to each request head, the
 * address ban table checked at accept(), the ban log.
 *
 * A front end calls guard_request() for every complete request head before
 * it dispatches anything of the read that completed it.  On a ban it stops
 * dispatching, calls guard_ban() with what the teardown drops, and returns
 * -1 so that conn.c closes the connection without writing another byte.
 */
#ifndef H2GUARD_GUARD_H
#define H2GUARD_GUARD_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "proxy/hdr.h"

struct conf;
struct conn;
struct http_req;
struct rule;

/*
 * guard_canon() normalizes req (canon_request(), canon.h) with c's options
 * before guard_request() sees it; absolute: an HTTP/1.1 target, which may
 * be in absolute form.  Returns 0, -EINVAL (answer 400), -EPROTO (a
 * malformed HTTP/2 request: reset the stream; HTTP/1.1: 400) or -ENOMEM.
 * Malformed requests are counted and logged at debug level.
 */
int guard_canon(struct conn *c, struct http_req *req, int absolute);

/*
 * guard_request() evaluates the rules for req on c.  Returns the matching
 * ban rule when the connection must be torn down, NULL to forward (no
 * match, allow, log, or ban in dry-run mode: those are logged here), or,
 * when req->ambiguous, to answer 400 (counted here as malformed).
 */
const struct rule *guard_request(struct conn *c, const struct http_req *req,
    int32_t stream_id);

/*
 * guard_ban() records the ban decision on c: marks it banned, writes the
 * ban log line (siblings: other requests of the connection dropped;
 * cancelled: upstream requests cancelled), bans the address when the rule
 * has a ttl and tears down the address's other live connections.
 */
void guard_ban(struct conn *c, const struct rule *r, const struct http_req *req,
    int32_t stream_id, unsigned siblings, unsigned cancelled);

/*
 * guard_flood() records a flood decision on c, as guard_ban() does for a
 * rule: limit names the limit crossed (e.g. "ping_rate"); with
 * flood_ban_ttl the address is banned too.
 */
void guard_flood(struct conn *c, enum http_proto proto, const char *limit,
    unsigned siblings, unsigned cancelled);

/*
 * guard_stream() counts a new stream (an HTTP/1.1 request) of c on its
 * client address.  Returns the name of the per-client limit crossed, or
 * NULL.
 */
const char *guard_stream(struct conn *c);

/*
 * guard_banned() is 1 when a ban covers sa at now (the caller holds
 * srv.lock) and no client-only allow rule of conf exempts it (rules.h).
 */
int guard_banned(const struct conf *conf, const struct sockaddr *sa,
    uint64_t now);

/*
 * guard_accept() is called right after accept(), before reading a byte or
 * any TLS work.  Returns 1 when fd was closed: its address is banned, or
 * crossed client_conn_rate or client_max_connections.  Else 0, and
 * *counted says whether the connection counts in its client's open ones:
 * then guard_conn_gone() must be called with sa when it closes.
 */
int guard_accept(evutil_socket_t fd, const struct sockaddr *sa, int *counted);

/* guard_conn_gone() uncounts a connection guard_accept() counted. */
void guard_conn_gone(const struct sockaddr *sa);

/* guard_linger_reset() makes close(fd) send a TCP RST (SO_LINGER 0). */
void guard_linger_reset(evutil_socket_t fd);

/* guard_now_ms() and guard_now_us() are the monotonic clock. */
uint64_t guard_now_ms(void);
uint64_t guard_now_us(void);

#endif
