/*
 * session.h - the HTTP/2 front end: an nghttp2 server session on a client
 * connection, its streams, and their upstream requests.
 */
#ifndef H2GUARD_H2_SESSION_H
#define H2GUARD_H2_SESSION_H

struct conn;
struct h2s_session;

/*
 * h2s_new() starts an HTTP/2 server session on c (queues our SETTINGS).
 * Returns NULL when out of memory.
 */
struct h2s_session *h2s_new(struct conn *c);

/* h2s_thread_free() frees the calling thread's shared session setup. */
void h2s_thread_free(void);

/* h2s_free() frees the session and its streams, cancelling their upstream
 * requests, without writing anything.  NULL is a no-op. */
void h2s_free(struct h2s_session *s);

/*
 * Event handlers, called by conn.c from event loop context.  Each returns 0,
 * or -1 when the connection must be closed now.
 */
int h2s_on_read(struct h2s_session *s);	/* bytes arrived */
int h2s_on_write(struct h2s_session *s);	/* output drained */
int h2s_on_defer(struct h2s_session *s);	/* deferred work */
int h2s_on_timeout(struct h2s_session *s);	/* the client timer fired */

/*
 * h2s_shutdown() sends GOAWAY (NO_ERROR, the last stream processed): the
 * streams open are answered, then the connection closes.  Returns 0, or -1
 * to close now.
 */
int h2s_shutdown(struct h2s_session *s);

#endif
