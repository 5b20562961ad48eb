/*
 * http1.h - the HTTP/1.1 front end (clear text and TLS): keep-alive,
 * Content-Length and chunked request bodies, pipelined requests answered in
 * order.
 */
#ifndef H2GUARD_HTTP1_H
#define H2GUARD_HTTP1_H

struct conn;
struct h1_conn;

/* h1_new() starts HTTP/1.1 on c.  Returns NULL when out of memory. */
struct h1_conn *h1_new(struct conn *c);

/* h1_free() frees the state and cancels its upstream requests; NULL is a no-op. */
void h1_free(struct h1_conn *h);

/* Event handlers, as in h2/session.h: each returns 0, or -1 to close now. */
int h1_on_read(struct h1_conn *h);
int h1_on_write(struct h1_conn *h);
int h1_on_defer(struct h1_conn *h);
int h1_on_timeout(struct h1_conn *h);
/*
 * h1_shutdown() makes the response to the last request received the last
 * one ("Connection: close").  Returns 0, or -1 to close now (idle).
 */
int h1_shutdown(struct h1_conn *h);
/* The client half-closed: 0 while answers are still owed, else -1. */
int h1_on_eof(struct h1_conn *h);

#endif
