/*
 * fuzz_server.c - the real h2guard server, in-process, for fuzz targets
 * (see fuzz_server.h).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "proxy/bantable.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/metrics.h"
#include "proxy/server.h"
#include "tests/fuzz/fuzz_server.h"

#define FZ_PASSES	64	/* event loop passes per input, at most */
#define FZ_IDLE_PASSES	6	/* ... ending after this many with no visible
				   progress (an exchange with the upstream
				   takes at most two unseen passes) */
#define FZ_UP_HEAD_MAX	(256 * 1024)	/* fake upstream: request bytes kept */

static const char fz_canned[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* A connection h2guard opened to the fake upstream. */
struct fz_peer {
	TAILQ_ENTRY(fz_peer)	 link;
	struct bufferevent	*bev;
};

static TAILQ_HEAD(, fz_peer)	 fz_peers = TAILQ_HEAD_INITIALIZER(fz_peers);
static size_t			 fz_heads;	/* request heads the upstream saw */
static int			 fz_verbose;	/* $FZ_VERBOSE: one line per input */
static const struct fz_upstream	*fz_up;
static struct listener		*fz_lst;
static char			 fz_dir[64];
static char			 fz_sock[sizeof(fz_dir) + 16];

static void
fz_die(const char *what)
{
	fprintf(stderr, "fuzz_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
fz_peer_free(struct fz_peer *p)
{
	TAILQ_REMOVE(&fz_peers, p, link);
	bufferevent_free(p->bev);
	free(p);
}

/* All of the input answer went out: close, as announced. */
static void
fz_peer_written(struct bufferevent *bev, void *arg)
{
	fz_peer_free(arg);
}

static void
fz_peer_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		fz_peer_free(arg);
}

/* Answers every request head (up to its blank line) received. */
static void
fz_peer_read(struct bufferevent *bev, void *arg)
{
	struct fz_peer		*p = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 end;

	for (;;) {
		end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (end.pos < 0)
			break;
		evbuffer_drain(in, (size_t)end.pos + 4);
		fz_heads++;
		if (fz_up == NULL || fz_up->bytes == NULL) {
			bufferevent_write(bev, fz_canned, sizeof(fz_canned) - 1);
			continue;
		}
		bufferevent_write(bev, fz_up->bytes, fz_up->len);
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			fz_peer_free(p);
			return;
		}
		bufferevent_setcb(bev, NULL, fz_peer_written, fz_peer_event, p);
		return;
	}
	/* A request body is not looked at; a head never ending is dropped. */
	if (evbuffer_get_length(in) > FZ_UP_HEAD_MAX)
		evbuffer_drain(in, evbuffer_get_length(in) - 3);
}

static void
fz_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct fz_peer *p;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(p);
		close(fd);
		return;
	}
	TAILQ_INSERT_TAIL(&fz_peers, p, link);
	bufferevent_setcb(p->bev, fz_peer_read, NULL, fz_peer_event, p);
	bufferevent_enable(p->bev, EV_READ);
}

/* fz_free_port() is a TCP port on 127.0.0.1 free right now. */
static unsigned
fz_free_port(void)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	int			 fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		fz_die("free port");
	close(fd);
	return ntohs(sin.sin_port);
}

static void
fz_cleanup(void)
{
	unlink(fz_sock);
	rmdir(fz_dir);
}

void
fz_init(const char *extra)
{
	static int		 done;
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct evconnlistener	*up;
	struct conf		*conf;
	char			*text, *errors = NULL;
	unsigned		 i;
	int			 len;

	if (done)
		return;
	done = 1;
	fz_verbose = getenv("FZ_VERBOSE") != NULL;
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/h2guard-fuzz-XXXXXX");
	if (mkdtemp(fz_dir) == NULL)
		fz_die("mkdtemp");
	snprintf(fz_sock, sizeof(fz_sock), "%s/up.sock", fz_dir);
	atexit(fz_cleanup);
	len = asprintf(&text,
	    "listen 127.0.0.1:%u\n"
	    "upstream unix:%s\n"
	    "workers 1\n"
	    "log_level error\n"
	    "ban_log off\n"
	    /* Clients come through socketpairs, which no socket filter sees. */
	    "kernel_drop off\n"
	    /* Per-client state would carry over from input to input. */
	    "limit client_conn_rate off\n"
	    "limit client_stream_rate off\n"
	    "%s\n", fz_free_port(), fz_sock, extra ? extra : "");
	if (len < 0)
		fz_die("asprintf");
	if ((conf = conf_parse("fuzz.conf", text, (size_t)len, &errors)) == NULL) {
		fprintf(stderr, "fuzz_server: bad configuration:\n%s", errors);
		exit(1);
	}
	free(text);
	if (server_init(conf, NULL) < 0) {
		fprintf(stderr, "fuzz_server: server_init failed\n");
		exit(1);
	}
	/* The fuzzer's signal handlers, not h2guard's. */
	for (i = 0; i < sizeof(srv.sigs) / sizeof(srv.sigs[0]); i++) {
		event_free(srv.sigs[i]);
		srv.sigs[i] = NULL;
	}
	wk = &srv.workers[0];
	metrics_self = &wk->m;
	if ((fz_lst = SLIST_FIRST(&wk->listeners)) == NULL) {
		fprintf(stderr, "fuzz_server: no listener\n");
		exit(1);
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fz_sock);
	up = evconnlistener_new_bind(wk->base, fz_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
	    (struct sockaddr *)&sun, sizeof(sun));
	if (up == NULL)
		fz_die("upstream listener");
}

/* Reads and drops what h2guard sent the client; returns how much. */
static size_t
fz_drain(int fd)
{
	char	 buf[16384];
	size_t	 total = 0;
	ssize_t	 n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	return total;
}

void
fz_run(const uint8_t *client, size_t len, const struct fz_upstream *up)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	size_t			 off = 0, out = 0;
	ssize_t			 n;
	size_t			 heads = 0, got;
	int			 sv[2], pass, idle = 0;

	fz_up = up;
	fz_heads = 0;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(40000);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) < 0)
		fz_die("socketpair");
	conn_accept(fz_lst, sv[0], (struct sockaddr *)&sin, sizeof(sin), 0);
	for (pass = 0; pass < FZ_PASSES && wk->nconns > 0 &&
	    idle < FZ_IDLE_PASSES; pass++) {
		n = off < len ? write(sv[1], client + off, len - off) : 0;
		if (n > 0)
			off += (size_t)n;
		got = fz_drain(sv[1]);
		out += got;
		idle = n > 0 || got > 0 || fz_heads != heads ? 0 : idle + 1;
		heads = fz_heads;
		event_base_loop(wk->base, EVLOOP_NONBLOCK);
	}
	out += fz_drain(sv[1]);
	if (fz_verbose)
		fprintf(stderr, "fuzz_server: %zu of %zu bytes in, %zu request "
		    "heads upstream, %zu bytes out, %s after %d passes\n", off,
		    len, fz_heads, out, wk->nconns ? "open" : "closed", pass);
	while (!TAILQ_EMPTY(&wk->conns))
		conn_close(TAILQ_FIRST(&wk->conns));
	close(sv[1]);
	/* h2guard sees its pooled upstream connections close, and frees them. */
	while (!TAILQ_EMPTY(&fz_peers))
		fz_peer_free(TAILQ_FIRST(&fz_peers));
	for (pass = 0; pass < 4; pass++)
		event_base_loop(wk->base, EVLOOP_NONBLOCK);
	pthread_mutex_lock(&srv.lock);
	ban_expire(srv.bans, UINT64_MAX);
	pthread_mutex_unlock(&srv.lock);
	fz_up = NULL;
}
