/*
 * accesslog.h - the access log: one JSON line per request (time, client,
 * protocol, method, authority, path, status, bytes in and out, upstream,
 * duration), and the request counters of the metrics.
 *
 * Each worker collects its lines in a buffer written to access_log when it
 * passes ALOG_FLUSH_BYTES or ALOG_FLUSH_MS after its first line, in one
 * write: lines of several workers never interleave in a file.  SIGUSR1
 * reopens the file under the same descriptor (see server.c).
 */
#ifndef H2GUARD_ACCESSLOG_H
#define H2GUARD_ACCESSLOG_H

#include <stdint.h>

#include "proxy/hdr.h"

#define ALOG_FLUSH_BYTES	(32 * 1024)
#define ALOG_FLUSH_MS		200

struct conn;
struct worker;

/* What a front end knows of a request when it is done with it. */
struct alog_rec {
	const struct http_req	*req;		/* borrowed */
	int			 status;	/* sent to the client; 0: none */
	uint64_t		 bytes_in;	/* request body bytes received */
	uint64_t		 bytes_out;	/* response body bytes sent */
	const char		*upstream;	/* borrowed; NULL: none */
	uint64_t		 start_us;	/* guard_now_us() at its head */
};

/*
 * alog_request() counts a finished request of c (metrics) and logs it when
 * access_log is on.  Requests of a banned connection are in the ban log,
 * not here.
 */
void alog_request(struct conn *c, const struct alog_rec *r);

/* alog_init() prepares w's buffer and flush timer.  Returns 0 or -1. */
int alog_init(struct worker *w);

/* alog_flush() writes w's buffered lines now. */
void alog_flush(struct worker *w);

/* alog_free() flushes and frees w's buffer; safe on a failed alog_init(). */
void alog_free(struct worker *w);

#endif
