/*
 * upstream.h - forwarding requests to the upstream servers over HTTP/1.1
 * keep-alive connections, one pool per server, round robin over servers.
 *
 * A front end turns each client request into a struct ups_req, feeds it the
 * request body and is called back with the response.  The ups_req belongs to
 * the front end: it frees it with ups_req_free() at any time except inside
 * one of its callbacks; freeing one whose response has not ended closes the
 * upstream connection (it never goes back to the pool).
 */
#ifndef H2GUARD_UPSTREAM_H
#define H2GUARD_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "proxy/hdr.h"

struct conf;
struct ups_pool;
struct ups_req;

struct ups_resp {
	int		 status;
	struct hdrlist	 headers;	/* hop-by-hop fields and Content-Length removed */
	int64_t		 content_length;	/* -1: chunked or close delimited */
	int		 has_body;	/* 0 for HEAD, 1xx, 204, 304, Content-Length 0 */
};

/* Callbacks; arg is the pointer given to ups_req_new(). */
struct ups_req_ops {
	/* The response head; resp stays valid until ups_req_free(). */
	void (*on_head)(void *arg, struct ups_resp *resp);
	/* Response body bytes. */
	void (*on_body)(void *arg, const uint8_t *data, size_t len);
	/* The response ended; trailers (possibly empty) valid until ups_req_free(). */
	void (*on_end)(void *arg, struct hdrlist *trailers);
	/*
	 * The exchange failed: status is 502 or 504 when no head was delivered
	 * yet (answer the client with it), 0 when the response was cut short.
	 */
	void (*on_error)(void *arg, int status);
	/* n request body bytes reached the upstream socket: room for more. */
	void (*on_body_sent)(void *arg, size_t n);
	/*
	 * How many more response bytes it takes before it pauses the response
	 * (ups_req_pause()): one read takes at most that much, or 4 KiB.
	 */
	size_t (*room)(void *arg);
	/*
	 * How many response bytes it holds for the request, not yet taken by
	 * the client.  Over memory_limit, a request holding more than a few
	 * KiB is not read further until the client takes them (membudget.h).
	 */
	size_t (*held)(void *arg);
};

/*
 * ups_pool_new() prepares the pools of conf's upstream servers on base.
 * Returns NULL when out of memory.
 */
struct ups_pool *ups_pool_new(struct event_base *base, const struct conf *conf);

/* ups_pool_free() closes every pooled connection; NULL is a no-op. */
void ups_pool_free(struct ups_pool *pool);

/*
 * ups_req_new() serializes req's head for the upstream (Host from the
 * authority, hop-by-hop fields dropped, X-Forwarded-For client_addr and
 * X-Forwarded-Proto added, incoming ones dropped or, with forwarded_headers
 * trust, extended) and starts sending it.  client is the client's
 * address: the requests of one client (as bans count them) hold at most
 * upstream_max_connections_per_client connections of a server at once,
 * and those waiting get one in turn with other clients' (upstream.c).
 * Callbacks never run from inside this call.  Returns NULL when out of
 * memory.
 */
struct ups_req *ups_req_new(struct ups_pool *pool, const struct http_req *req,
    const struct sockaddr *client, const char *client_addr,
    const struct ups_req_ops *ops, void *arg);

/* ups_req_body() queues request body bytes.  Returns 0 or -ENOMEM. */
int ups_req_body(struct ups_req *ur, const uint8_t *data, size_t len);

/* ups_req_body_end() marks the end of the request body.  Returns 0 or -ENOMEM. */
int ups_req_body_end(struct ups_req *ur);

/* ups_req_buffered() is the request body queued but not yet on the socket. */
size_t ups_req_buffered(const struct ups_req *ur);

/*
 * ups_req_in_flight() is 1 while the request is on an upstream connection
 * and its response has not ended (0 while it waits for a connection).
 */
int ups_req_in_flight(const struct ups_req *ur);

/* ups_req_pause() stops (1) or resumes (0) reading the response. */
void ups_req_pause(struct ups_req *ur, int pause);

/* ups_req_upstream() is the name of the upstream server chosen, or NULL. */
const char *ups_req_upstream(const struct ups_req *ur);

/* ups_req_free() cancels and frees; NULL is a no-op. */
void ups_req_free(struct ups_req *ur);

#endif
