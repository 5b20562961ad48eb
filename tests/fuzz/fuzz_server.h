/*
 * fuzz_server.h - the real h2guard server, in-process, for fuzz targets.
 *
 * fz_init() starts h2guard's server from a configuration text (one worker,
 * driven by the calling thread; no thread is started) in front of a fake
 * upstream on a unix socket, served by the same event loop.  fz_run() then
 * plays one client connection: it is accepted on the configured clear-text
 * listener from one end of a socketpair, the client bytes are written to
 * the other end, and the loop runs until the connection is closed or a
 * bounded number of passes.  What h2guard sends back is read and dropped.
 * At the end every connection, client and upstream, is closed and the ban
 * table emptied, so that inputs do not depend on each other (the upstream
 * pool's counters apart).
 */
#ifndef H2GUARD_TESTS_FUZZ_SERVER_H
#define H2GUARD_TESTS_FUZZ_SERVER_H

#include <stddef.h>
#include <stdint.h>

/*
 * The upstream's answer to each request head it receives: a fixed small
 * response (keep-alive), or the given bytes followed by closing the
 * connection.
 */
struct fz_upstream {
	const uint8_t	*bytes;		/* NULL: "200 OK", Content-Length 2 */
	size_t		 len;
};

/*
 * fz_init() starts the server once per process; extra is appended to the
 * configuration (rules, limits).  Exits the process on failure: a fuzz
 * target that cannot start must not look like one that runs.
 */
void fz_init(const char *extra);

/* fz_run() plays one client connection (see above). */
void fz_run(const uint8_t *client, size_t len, const struct fz_upstream *up);

/* The HTTP/2 connection preface. */
#define FZ_PREFACE	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define FZ_PREFACE_LEN	24

#endif
