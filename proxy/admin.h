/*
 * admin.h - the admin listener: plain HTTP on admin_listen (loopback by
 * default), served by libevent's evhttp on the main thread.
 *
 *   GET    /metrics                     Prometheus text format
 *   GET    /bans                        the ban table as JSON
 *   POST   /bans?address=A[/N]&ttl=T    ban an address or prefix for T
 *   DELETE /bans?address=A[/N]          lift that ban
 *
 * Answers are JSON ({"error":"..."} with 400 for bad parameters), the
 * metrics excepted; other paths get 404, other methods 405 with Allow.
 * Parameters come in the query string; a write with a body, with a form's
 * content type or from a page of another origin is refused, and so is a
 * Host that is not the listener's address, and, with admin_token, a
 * request without the token (see admin.c).  A is IPv4 or IPv6, the whole
 * address without /N; T a duration ("500ms", "10s", "5m"...), required,
 * above 0.
 *
 * admin.c only speaks HTTP; what the requests do is in admin_ops, which
 * server.c implements (so that a ban reaches every worker).
 */
#ifndef H2GUARD_ADMIN_H
#define H2GUARD_ADMIN_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

struct admin;
struct evbuffer;

/* One ban, as listed: the banned prefix and the ms left on it. */
typedef void admin_ban_fn(void *arg, const struct sockaddr *sa, unsigned plen,
    uint64_t left_ms);

struct admin_ops {
	/* Appends the metrics text to out.  Returns 0 or -ENOMEM. */
	int (*metrics)(struct evbuffer *out);
	/* Calls fn for every ban in force. */
	void (*ban_list)(admin_ban_fn *fn, void *arg);
	/*
	 * Bans sa's first plen bits for ttl_ms, tearing down live
	 * connections from it.  Returns 0, -EINVAL (plen shorter than the
	 * table allows...) or -ENOMEM.
	 */
	int (*ban_add)(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms);
	/* Lifts that ban.  Returns 1 when there was one, else 0. */
	int (*ban_remove)(const struct sockaddr *sa, unsigned plen);
	/* The bearer token every request must carry, or NULL: none. */
	const char *(*token)(void);
};

/*
 * admin_new() listens on sa (name as configured, for logs) and serves the
 * requests above on base with ops.  Returns NULL after logging why.
 */
struct admin *admin_new(struct event_base *base, const struct sockaddr *sa,
    socklen_t salen, const char *name, const struct admin_ops *ops);

/* admin_free() stops listening and frees; NULL is a no-op. */
void admin_free(struct admin *a);

#endif
