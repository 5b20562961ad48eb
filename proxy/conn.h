/*
 * conn.h - a client connection: its socket or TLS bufferevent, the protocol
 * spoken on it (sniffed or from ALPN) and its single destructor.
 */
#ifndef H2GUARD_CONN_H
#define H2GUARD_CONN_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "proxy/log.h"

struct conf;
struct listener;
struct h2s_session;
struct h1_conn;
struct wgen;

enum conn_state {
	CONN_PROXY,	/* reading the PROXY protocol header */
	CONN_HANDSHAKE,	/* TLS handshake under way */
	CONN_SNIFF,	/* clear text: waiting to tell h2c from HTTP/1.1 */
	CONN_H2,	/* HTTP/2: conn->h2 */
	CONN_H1,	/* HTTP/1.1: conn->h1 */
};

#define CONN_F_CLOSE	0x01	/* close from the deferred callback */
#define CONN_F_TLS	0x02	/* TLS listener */
#define CONN_F_BANNED	0x04	/* ban decision made: close writing nothing */
#define CONN_F_DROPPED	0x08	/* counted as an accept-time drop */
#define CONN_F_COUNTED	0x10	/* in its client's open connections */

struct conn {
	TAILQ_ENTRY(conn)	 link;		/* in srv.conns */
	uint64_t		 id;
	struct bufferevent	*bev;		/* owned; frees the socket and SSL */
	evutil_socket_t		 fd;		/* owned until bev takes it */
	struct wgen		*wg;		/* one reference: the generation
						   this connection serves under */
	const struct conf	*conf;		/* wg->conf */
	const struct conf_listen *cl;		/* borrowed from conf */
	uint8_t			*pp_buf;	/* owned: PROXY header so far */
	size_t			 pp_len;
	struct event		 pp_ev;		/* fd readable, in CONN_PROXY */
	struct sockaddr_storage	 peer;
	char			 peer_str[64];	/* "addr:port", for logs */
	char			 addr_str[48];	/* "addr", for X-Forwarded-For */
	const char		*sni;		/* borrowed from the SSL; NULL if none */
	enum conn_state		 state;
	struct h2s_session	*h2;		/* owned when CONN_H2 */
	struct h1_conn		*h1;		/* owned when CONN_H1 */
	struct event		 timer;		/* the one client timeout */
	struct event		 defer;		/* deferred work: flush, close */
	uint32_t		 flags;		/* CONN_F_* */
	/* send_timeout: time owing output without the client taking any. */
	uint64_t		 stall_since;	/* ms: owing and no progress since */
	uint32_t		 stall_ms;	/* stalled before, in earlier owing spells */
	uint32_t		 progress;	/* bytes taken since the count began */
	unsigned		 owing:1;	/* output waits for the client */
	/* The batch being read (see conn_batch_hold()). */
	size_t			 batch_bytes;	/* input since it began */
	uint32_t		 batch_frames;	/* HTTP/2 frames, HTTP/1.1 requests */
	unsigned		 batch_held:1;	/* requests wait for the rest */
};

/*
 * conn_accept() takes fd accepted on lst and starts serving it (under the
 * calling worker's current configuration); counted: guard_accept() counted
 * it in its client's open connections.
 */
void conn_accept(struct listener *lst, evutil_socket_t fd,
    const struct sockaddr *sa, int salen, int counted);

/*
 * conn_shutdown() starts a graceful close for a stop: GOAWAY on HTTP/2,
 * "Connection: close" on the last HTTP/1.1 response; connections with no
 * request in flight are closed at once (c may be gone afterwards).
 */
void conn_shutdown(struct conn *c);

/*
 * conn_close() tears the connection down: stops its events, frees the
 * protocol state (cancelling upstream requests), the TLS object and the
 * socket.  Call only from event loop context; conn is gone afterwards.
 */
void conn_close(struct conn *c);

/*
 * conn_close_later() is conn_close() for a connection other than the one
 * whose callback runs (a ban sweeping an address's connections): it stops
 * c's input and output at once and closes it from c's own deferred
 * callback, so that nothing up the stack is freed under it.
 */
void conn_close_later(struct conn *c);

/* conn_format_peer() fills peer_str and addr_str from peer. */
void conn_format_peer(struct conn *c);

/* conn_schedule() runs the protocol's deferred work soon, once. */
void conn_schedule(struct conn *c);

/*
 * send_timeout counts the time output waits for the client (it owes at
 * least 16 KiB, or an HTTP/2 window stopped the response) without the
 * client taking CONN_PROGRESS_BYTES of response, over all the spells in
 * which it owes output, until it takes that much: a byte now and then (a
 * 1-byte WINDOW_UPDATE every few seconds) is no progress, and dropping
 * what it owes (a reset stream) and asking again does not start the count
 * afresh.  So a client that owes output takes at least 16 KiB per
 * send_timeout, or is cut off (a flood: send_timeout).
 *
 * conn_send_wait() starts (or continues) a spell and arms the timeout for
 * what is left of send_timeout; conn_send_done() ends the spell;
 * conn_progress() records that the client took n response bytes.
 * conn_send_expired() is for the timeout firing: 1 when send_timeout is
 * used up, else the timeout is re-armed for the rest and it returns 0.
 */
void conn_send_wait(struct conn *c);
void conn_send_done(struct conn *c);
#define CONN_PROGRESS_BYTES	(16 * 1024)
void conn_progress(struct conn *c, size_t n);
int conn_send_expired(struct conn *c);

/*
 * The read is the batch: everything the client's writes put in the socket
 * by the time it is read is parsed and judged before any request of it is
 * dispatched, up to CONN_BATCH_BYTES of input or CONN_BATCH_FRAMES HTTP/2
 * frames (HTTP/1.1: requests); beyond that it is two batches.  libevent
 * reads CONN_READ_MAX bytes at most at a time from a clear-text socket, a
 * TLS record at a time through OpenSSL, and calls back after each read.
 *
 * The front ends count the batch's input in c->batch_bytes and its frames
 * (requests) in c->batch_frames.  conn_batch_hold(), after input was
 * parsed, tells whether the batch goes on: requests judged are waiting,
 * within the bound, and the input stops inside a frame or a head (inside)
 * or the client has sent more (conn_more_input(): in the socket, or held
 * by OpenSSL; have is what the input buffer held, all of it from the last
 * read, or 0 when nothing was read).  While it holds, nothing is written
 * to the client.  Else the batch ends (conn_batch_end()), and the caller
 * dispatches its requests.
 */
#define CONN_BATCH_BYTES	(256 * 1024)
#define CONN_BATCH_FRAMES	1000
#define CONN_READ_MAX		4096	/* libevent 2.1: EVBUFFER_MAX_READ */
int conn_more_input(const struct conn *c, size_t have);
int conn_batch_hold(struct conn *c, int waiting, int inside, size_t have);
void conn_batch_end(struct conn *c);

/* conn_set_timeout() (re)arms the client timeout; ms 0 disarms it. */
void conn_set_timeout(struct conn *c, uint32_t ms);

#define conn_log(c, lvl, fmt, ...)                                             \
	do {                                                                   \
		if (LOG_ON(lvl))                                               \
			log_msg(lvl, "c#%llu %s " fmt,                         \
			    (unsigned long long)(c)->id, (c)->peer_str,        \
			    ##__VA_ARGS__);                                    \
	} while (0)

#endif
