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

struct listener;
struct h2s_session;
struct h1_conn;

enum conn_state {
	CONN_HANDSHAKE,	/* TLS handshake under way */
	CONN_SNIFF,	/* clear text: waiting to tell h2c from HTTP/1.1 */
	CONN_H2,	/* HTTP/2: conn->h2 */
	CONN_H1,	/* HTTP/1.1: conn->h1 */
};

#define CONN_F_CLOSE	0x01	/* close from the deferred callback */
#define CONN_F_TLS	0x02	/* TLS listener */
#define CONN_F_BANNED	0x04	/* ban decision made: close writing nothing */

struct conn {
	TAILQ_ENTRY(conn)	 link;		/* in srv.conns */
	uint64_t		 id;
	struct bufferevent	*bev;		/* owned; frees the socket and SSL */
	struct listener		*lst;		/* borrowed */
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
	uint64_t		 last_drain_ms;	/* output last taken, or send wait began */
};

/* conn_accept() takes fd accepted on lst and starts serving it. */
void conn_accept(struct listener *lst, evutil_socket_t fd,
    const struct sockaddr *sa, int salen);

/*
 * conn_close() tears the connection down: stops its events, frees the
 * protocol state (cancelling upstream requests), the TLS object and the
 * socket.  Call only from event loop context; conn is gone afterwards.
 */
void conn_close(struct conn *c);

/* conn_format_peer() fills peer_str and addr_str from peer. */
void conn_format_peer(struct conn *c);

/* conn_schedule() runs the protocol's deferred work soon, once. */
void conn_schedule(struct conn *c);

/*
 * conn_send_wait() arms the client timeout for send_timeout: output waits
 * for the client, and the time counts from now or from the last byte the
 * client takes, whichever is later.
 */
void conn_send_wait(struct conn *c);

/*
 * conn_send_expired() is for that timeout firing: returns 1 when the
 * client took nothing for send_timeout, else re-arms the timeout for the
 * rest of the period and returns 0.
 */
int conn_send_expired(struct conn *c);

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
