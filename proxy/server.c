/*
 * server.c - the runtime: listening sockets, workers, signals (reload,
 * graceful stop, log reopening), the ban table's upkeep and the admin
 * listener's operations.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "h2/session.h"
#include "proxy/accesslog.h"
#include "proxy/admin.h"
#include "proxy/bantable.h"
#include "proxy/banshare.h"
#include "proxy/clients.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/guard.h"
#include "proxy/kdrop.h"
#include "proxy/log.h"
#include "proxy/membudget.h"
#include "proxy/rules.h"
#include "proxy/server.h"
#include "proxy/tls.h"
#include "proxy/upstream.h"

#define SERVER_RETIRED_FDS	16	/* log files replaced by a reload */
#define ACCEPT_RETRY_MS		100	/* out of descriptors: accept again */
#define BAN_EXPIRE_BATCH	256	/* expired bans dropped per lock hold */

struct server srv;
__thread struct worker *wk;
__thread struct metrics *metrics_self;

/* Log descriptors replaced while workers may still write to them. */
static int retired_fds[SERVER_RETIRED_FDS];
static unsigned nretired;

static void worker_take_gen(struct worker *w);

/* ---- configuration generations ---------------------------------------- */

static int
conf_has_tls(const struct conf *conf)
{
	const struct conf_listen *cl;

	STAILQ_FOREACH(cl, &conf->listens, link)
		if (cl->tls)
			return 1;
	return 0;
}

int
server_load(const char *path, struct conf **confp, SSL_CTX **ctxp,
    char **errors)
{
	struct conf	*conf;
	SSL_CTX		*ctx = NULL;

	*errors = NULL;
	conf = conf_load(path, errors);
	if (conf != NULL && conf_has_tls(conf))
		ctx = tls_ctx_new(conf, errors);
	if (*errors != NULL) {
		SSL_CTX_free(ctx);
		conf_free(conf);
		return -1;
	}
	*confp = conf;
	*ctxp = ctx;
	return 0;
}

static struct gen *
gen_new(struct conf *conf, SSL_CTX *ctx)
{
	static uint64_t	 next_id;
	struct gen	*g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->conf = conf;
	g->ssl_ctx = ctx;
	g->refs = 1;
	g->id = ++next_id;
	return g;
}

static void
gen_unref(struct gen *g)
{
	if (g == NULL || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	SSL_CTX_free(g->ssl_ctx);
	conf_free(g->conf);
	free(g);
}

/* wgen_new() holds g (the caller holds srv.lock) for worker w. */
static struct wgen *
wgen_new(struct worker *w, struct gen *g)
{
	struct wgen *wg;

	if ((wg = calloc(1, sizeof(*wg))) == NULL)
		return NULL;
	if ((wg->ups = ups_pool_new(w->base, g->conf)) == NULL) {
		free(wg);
		return NULL;
	}
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
	wg->gen = g;
	wg->conf = g->conf;
	wg->refs = 1;
	return wg;
}

void
wgen_unref(struct wgen *wg)
{
	if (wg == NULL || --wg->refs != 0)
		return;
	ups_pool_free(wg->ups);
	gen_unref(wg->gen);
	free(wg);
}

/* ---- log files ----------------------------------------------------------- */

/*
 * server_log_open() opens a log file setting ("stderr", "off" or a path):
 * returns its fd, -1 for off, or -2 after logging why it cannot.
 */
static int
server_log_open(const struct conf *conf, const char *key, const char *path,
    int line)
{
	int fd;

	if (path == NULL || strcmp(path, "off") == 0)
		return -1;
	if (strcmp(path, "stderr") == 0)
		return STDERR_FILENO;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_err("%s:%d: %s: cannot open \"%s\": %s", conf->path, line,
		    key, path, strerror(errno));
		return -2;
	}
	return fd;
}

/*
 * server_log_switch() makes *slot write to fd from now on.  Workers may be
 * writing to the old descriptor: a file is replaced in place (dup2), any
 * other old descriptor is kept open until exit.
 */
static void
server_log_switch(int *slot, int fd)
{
	int old = __atomic_load_n(slot, __ATOMIC_RELAXED);

	if (old == fd)
		return;
	if (old > STDERR_FILENO && fd > STDERR_FILENO) {
		dup2(fd, old);
		close(fd);
		return;
	}
	__atomic_store_n(slot, fd, __ATOMIC_RELEASE);
	if (old > STDERR_FILENO) {
		if (nretired == SERVER_RETIRED_FDS) {
			/* Replaced a reload ago or more: nobody writes there. */
			close(retired_fds[0]);
			memmove(&retired_fds[0], &retired_fds[1],
			    sizeof(retired_fds[0]) * --nretired);
		}
		retired_fds[nretired++] = old;
	}
}

/* server_logs_open() opens conf's ban and access logs.  Returns 0 or -1. */
static int
server_logs_open(const struct conf *conf)
{
	int ban, acc;

	ban = server_log_open(conf, "ban_log", conf->ban_log, conf->ban_log_line);
	if (ban == -2)
		return -1;
	acc = server_log_open(conf, "access_log", conf->access_log,
	    conf->access_log_line);
	if (acc == -2) {
		if (ban > STDERR_FILENO)
			close(ban);
		return -1;
	}
	server_log_switch(&srv.ban_log_fd, ban);
	server_log_switch(&srv.access_log_fd, acc);
	return 0;
}

/* ---- listening sockets -------------------------------------------------- */

static int
server_same_addr(const struct sockaddr_storage *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen)
{
	/* conf_parse_addr() zeroes what it does not set: memcmp() will do. */
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* Whether cl's sockets get kernel_drop's filter. */
static int
server_filtered(const struct conf_listen *cl)
{
	return srv.kdrop != NULL && !cl->proxy;
}

/* server_bind() opens one listening socket.  Returns the fd or -1. */
static evutil_socket_t
server_bind(const struct conf_listen *cl, int reuseport)
{
	evutil_socket_t	fd;
	int		one = 1, err;

	fd = socket(cl->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("listen %s: socket: %s", cl->name, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		log_err("listen %s: SO_REUSEPORT: %s", cl->name, strerror(errno));
		goto out_close;
	}
	/* [::]:port means IPv6 only; IPv4 has its own listen line. */
	if (cl->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/*
	 * Before listen(), so that no SYN gets past it.  Not behind PROXY
	 * headers: the client's address is in the header, the TCP source is
	 * the load balancer's.
	 */
	if (reuseport && server_filtered(cl) &&
	    (err = kdrop_attach(srv.kdrop, fd)) < 0) {
		log_err("listen %s: kernel_drop: cannot attach the socket "
		    "filter: %s", cl->name, strerror(-err));
		goto out_close;
	}
	if (bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) < 0) {
		log_err("listen %s: bind: %s", cl->name, strerror(errno));
		goto out_close;
	}
	if (reuseport && listen(fd, 4096) < 0) {
		log_err("listen %s: listen: %s", cl->name, strerror(errno));
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return -1;
}

static void
lsock_free(struct lsock *ls, int close_fds)
{
	unsigned i;

	for (i = 0; close_fds && i < srv.nworkers; i++)
		if (ls->fds[i] >= 0)
			close(ls->fds[i]);
	free(ls->fds);
	free(ls);
}

/*
 * lsock_new() binds cl's address once per worker.  Every socket carries
 * SO_REUSEPORT, which would also let a second h2guard share the port
 * silently: a plain bind first makes an address in use fail as it should.
 * Returns NULL after logging why.
 */
static struct lsock *
lsock_new(const struct conf_listen *cl)
{
	struct lsock	*ls;
	evutil_socket_t	 probe;
	unsigned	 i;

	if ((probe = server_bind(cl, 0)) < 0)
		return NULL;
	close(probe);
	if ((ls = calloc(1, sizeof(*ls))) == NULL ||
	    (ls->fds = calloc(srv.nworkers, sizeof(*ls->fds))) == NULL) {
		free(ls);
		log_err("out of memory");
		return NULL;
	}
	memcpy(&ls->addr, &cl->addr, sizeof(ls->addr));
	ls->addrlen = cl->addrlen;
	for (i = 0; i < srv.nworkers; i++)
		ls->fds[i] = -1;
	for (i = 0; i < srv.nworkers; i++)
		if ((ls->fds[i] = server_bind(cl, 1)) < 0) {
			lsock_free(ls, 1);
			return NULL;
		}
	ls->filtered = server_filtered(cl);
	log_info("listening on %s%s%s", cl->name, cl->tls ? " (tls)" : "",
	    cl->proxy ? " (proxy_protocol)" : "");
	return ls;
}

/* lsock_find() is the socket of cl's address in srv.lsocks, or NULL. */
static struct lsock *
lsock_find(const struct conf_listen *cl)
{
	struct lsock *ls;

	SLIST_FOREACH(ls, &srv.lsocks, link)
		if (server_same_addr(&ls->addr, ls->addrlen, &cl->addr,
		    cl->addrlen))
			break;
	return ls;
}

/*
 * lsock_filter() puts kernel_drop's filter on ls's sockets, or takes it
 * off, as cl (its configuration after a reload) wants: a listen line may
 * have gained or lost proxy_protocol.
 */
static void
lsock_filter(struct lsock *ls, const struct conf_listen *cl)
{
	unsigned	 i;
	int		 want = server_filtered(cl), err = 0;

	if (want == ls->filtered)
		return;
	for (i = 0; i < srv.nworkers && err == 0; i++)
		err = want ? kdrop_attach(srv.kdrop, ls->fds[i]) :
		    kdrop_detach(ls->fds[i]);
	if (err < 0) {
		log_err("listen %s: kernel_drop: cannot %s the socket filter: "
		    "%s", cl->name, want ? "attach" : "detach", strerror(-err));
		return;
	}
	ls->filtered = want;
}

/* ---- workers ------------------------------------------------------------- */

/*
 * Out of file descriptors (or socket memory), accept() fails while the
 * listening socket stays readable: libevent would call us back at once,
 * forever.  The worker stops accepting instead (the kernel keeps queueing
 * connections in the backlog) and tries again when one of its connections
 * closes, or after ACCEPT_RETRY_MS.  One line is logged when accepting
 * stops and one when it works again, however many retries fail between.
 */
static void
worker_accept_enable(struct worker *w, int on)
{
	struct listener *l;

	w->accepting_off = !on;
	SLIST_FOREACH(l, &w->listeners, link)
		if (on)
			evconnlistener_enable(l->evl);
		else
			evconnlistener_disable(l->evl);
}

static void
worker_accept_pause(struct worker *w, const struct listener *l,
    const char *why)
{
	static const struct timeval retry = { 0, ACCEPT_RETRY_MS * 1000 };

	if (w->paused_since == 0) {
		w->paused_since = guard_now_ms();
		log_warn("listen %s: %s: not accepting for now "
		    "(%llu connections open in this worker)", l->cl->name,
		    why, (unsigned long long)w->nconns);
	}
	METRIC_INC(w->m.accept_pauses);
	worker_accept_enable(w, 0);
	evtimer_add(w->resume_ev, &retry);
}

static void
worker_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	if (w->accepting_off && !w->stopping)
		worker_accept_enable(w, 1);
}

static void
worker_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;
	int		 counted = 0;

	/*
	 * The filter is for SYNs.  Left on this socket, it would drop the
	 * packets of the connection once its address is banned, our own
	 * close's ACKs and FIN included.
	 */
	if (l->filtered)
		kdrop_detach(fd);
	if (wk->paused_since != 0) {
		log_warn("listen %s: accepting again after %llu ms",
		    l->cl->name, (unsigned long long)(guard_now_ms() -
		    wk->paused_since));
		wk->paused_since = 0;
	}
	METRIC_INC(wk->m.conns_accepted);
	/*
	 * max_connections open: this one is closed, and the worker stops
	 * accepting (the kernel queues the next ones in the backlog) until
	 * one of its connections closes, or ACCEPT_RETRY_MS.
	 */
	if (__atomic_load_n(&srv.nconns, __ATOMIC_RELAXED) >=
	    __atomic_load_n(&srv.max_conns, __ATOMIC_RELAXED)) {
		METRIC_INC(wk->m.accept_max_conns);
		guard_linger_reset(fd);
		evutil_closesocket(fd);
		worker_accept_pause(wk, l, "max_connections reached");
		return;
	}
	/*
	 * A banned address, or one opening connections too fast, costs us an
	 * accept() and a close(), nothing more.  Behind a PROXY header the
	 * address is known only once the header is read.
	 */
	if (!l->cl->proxy && guard_accept(fd, sa, &counted))
		return;
	conn_accept(l, fd, sa, salen, counted);
}

static void
worker_accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener	*l = arg;
	int		 err = EVUTIL_SOCKET_ERROR();
	char		 why[128];

	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		snprintf(why, sizeof(why), "accept: %s",
		    evutil_socket_error_to_string(err));
		worker_accept_pause(wk, l, why);
		return;
	}
	log_warn("listen %s: accept: %s", l->cl->name,
	    evutil_socket_error_to_string(err));
}

static void
worker_free_listeners(struct worker *w)
{
	struct listener *l;

	while ((l = SLIST_FIRST(&w->listeners)) != NULL) {
		SLIST_REMOVE_HEAD(&w->listeners, link);
		evconnlistener_free(l->evl);
		free(l);
	}
}

/*
 * worker_listen() makes w's listeners those of srv.lsocks (the caller holds
 * srv.lock), borrowing their settings from conf: sockets no longer
 * configured are closed, new ones watched.
 */
static void
worker_listen(struct worker *w, const struct conf *conf)
{
	struct listener		*l, **pp;
	struct lsock		*ls;
	const struct conf_listen *cl;

	SLIST_FOREACH(l, &w->listeners, link)
		l->cl = NULL;
	STAILQ_FOREACH(cl, &conf->listens, link) {
		if ((ls = lsock_find(cl)) == NULL)
			continue;
		SLIST_FOREACH(l, &w->listeners, link)
			if (l->fd == ls->fds[w->idx])
				break;
		if (l != NULL) {
			l->cl = cl;
			l->filtered = ls->filtered;
			continue;
		}
		if ((l = calloc(1, sizeof(*l))) == NULL) {
			log_err("listen %s: out of memory", cl->name);
			continue;
		}
		l->fd = ls->fds[w->idx];
		l->cl = cl;
		l->filtered = ls->filtered;
		l->evl = evconnlistener_new(w->base, worker_accept_cb, l,
		    LEV_OPT_CLOSE_ON_FREE, -1, l->fd);
		if (l->evl == NULL) {
			log_err("listen %s: cannot watch the socket", cl->name);
			free(l);
			continue;
		}
		evconnlistener_set_error_cb(l->evl, worker_accept_error_cb);
		SLIST_INSERT_HEAD(&w->listeners, l, link);
	}
	pp = &SLIST_FIRST(&w->listeners);
	while ((l = *pp) != NULL) {
		if (l->cl != NULL) {
			pp = &SLIST_NEXT(l, link);
			continue;
		}
		*pp = SLIST_NEXT(l, link);
		evconnlistener_free(l->evl);
		free(l);
	}
}

/*
 * worker_take_gen() moves w to srv.gen (if it is not there yet) and to the
 * current listening sockets.  Connections keep the generation they were
 * accepted under.
 */
static void
worker_take_gen(struct worker *w)
{
	struct wgen *old = w->wg, *wg = NULL;

	pthread_mutex_lock(&srv.lock);
	if (old == NULL || old->gen != srv.gen) {
		if ((wg = wgen_new(w, srv.gen)) == NULL) {
			pthread_mutex_unlock(&srv.lock);
			log_err("worker %u: out of memory: configuration "
			    "generation not taken", w->idx);
			return;
		}
		w->wg = wg;
	}
	if (!w->stopping)
		worker_listen(w, w->wg->conf);
	pthread_mutex_unlock(&srv.lock);
	if (wg != NULL)
		wgen_unref(old);
}

/* worker_done() ends w's loop and tells the main thread. */
static void
worker_done(struct worker *w)
{
	event_base_loopexit(w->base, NULL);
}

void
worker_conn_closed(void)
{
	if (wk->stopping && wk->nconns == 0)
		worker_done(wk);
	/* A descriptor was given back: try accepting again now. */
	if (wk->accepting_off && !wk->stopping) {
		evtimer_del(wk->resume_ev);
		worker_accept_enable(wk, 1);
	}
}

/*
 * worker_sweep() tears down w's connections from addresses now banned (by a
 * request of this worker, another worker or the admin API).  Each is only
 * marked, and closed from its own deferred callback (conn_close_later()):
 * the sweep may run inside another connection's callback, or inside a walk
 * of w->conns (worker_stop()).
 */
static void
worker_sweep(struct worker *w, const struct conn *except)
{
	struct conn	*c, *next;
	uint64_t	 now = guard_now_ms();
	int		 banned;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		/* Behind a PROXY header the client is not known yet. */
		if (c == except || (c->flags & (CONN_F_BANNED | CONN_F_CLOSE)) ||
		    c->state == CONN_PROXY)
			continue;
		pthread_mutex_lock(&srv.lock);
		banned = guard_banned(c->conf, (const struct sockaddr *)&c->peer,
		    now);
		pthread_mutex_unlock(&srv.lock);
		if (!banned)
			continue;
		c->flags |= CONN_F_BANNED;
		conn_log(c, LOG_INFO, "torn down: its address was banned");
		conn_close_later(c);
	}
}

/* worker_stop() stops accepting and lets in-flight requests finish. */
static void
worker_stop(struct worker *w)
{
	struct conn *c, *next;

	w->stopping = 1;
	worker_free_listeners(w);
	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		conn_shutdown(c);
	}
	if (w->nconns == 0)
		worker_done(w);
}

static void
worker_kill(struct worker *w)
{
	w->stopping = 1;
	worker_free_listeners(w);
	while (!TAILQ_EMPTY(&w->conns))
		conn_close(TAILQ_FIRST(&w->conns));
	worker_done(w);
}

/*
 * Threads wake each other through eventfds, not libevent's own locking:
 * with it every event operation of every worker would take a lock.  Each
 * event base is only ever touched by its own thread.
 */
static void
server_wake(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("eventfd: %s", strerror(errno));
}

/* server_woken() reads fd: how many wakes it counted since. */
static uint64_t
server_woken(int fd)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) != sizeof(n)) {
		if (errno != EAGAIN)
			log_err("eventfd: %s", strerror(errno));
		return 0;
	}
	return n;
}

static void
worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	unsigned	 todo;

	server_woken(fd);
	todo = __atomic_exchange_n(&w->pending, 0, __ATOMIC_ACQ_REL);

	if (todo & WK_RELOAD)
		worker_take_gen(w);
	if (todo & WK_BANS)
		worker_sweep(w, NULL);
	if ((todo & WK_STOP) && !w->stopping)
		worker_stop(w);
	if (todo & WK_KILL)
		worker_kill(w);
}

/* worker_post() hands w work from another thread. */
static void
worker_post(struct worker *w, unsigned what)
{
	__atomic_or_fetch(&w->pending, what, __ATOMIC_ACQ_REL);
	server_wake(w->notify_fd);
}

static void
server_post_all(unsigned what)
{
	unsigned i;

	for (i = 0; i < srv.nworkers; i++)
		worker_post(&srv.workers[i], what);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	wk = w;
	metrics_self = &w->m;
	event_base_dispatch(w->base);
	/* HTTP/2 sessions must go on this thread: their buffers are its. */
	while (!TAILQ_EMPTY(&w->conns))
		conn_close(TAILQ_FIRST(&w->conns));
	h2s_thread_free();
	rules_thread_free();
	alog_flush(w);
	/* The last worker out wakes the main thread up. */
	server_wake(srv.done_fd);
	return NULL;
}

/*
 * worker_base_new() is a worker's event base.  With epoll, changes to the
 * watched events are applied once per loop pass, just before epoll_wait(),
 * and changes that cancel out cost nothing: a TLS handshake through
 * bufferevent_openssl switches between waiting to read and to write several
 * times (strace -c, resumed TLS 1.2 handshakes: 8 epoll_ctl() per
 * connection without, 3 with).  Its known flaw, with descriptors copied by
 * dup(), does not apply: sockets are never duplicated here.
 */
static struct event_base *
worker_base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static int
worker_init(struct worker *w, unsigned idx)
{
	w->idx = idx;
	SLIST_INIT(&w->listeners);
	TAILQ_INIT(&w->conns);
	if ((w->base = worker_base_new()) == NULL ||
	    (w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (w->notify = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST,
	    worker_notify_cb, w)) == NULL ||
	    event_add(w->notify, NULL) < 0 ||
	    (w->resume_ev = evtimer_new(w->base, worker_accept_resume_cb,
	    w)) == NULL ||
	    alog_init(w) < 0)
		return -1;
	return 0;
}

static void
worker_free(struct worker *w)
{
	while (w->base != NULL && !TAILQ_EMPTY(&w->conns))
		conn_close(TAILQ_FIRST(&w->conns));
	worker_free_listeners(w);
	wgen_unref(w->wg);
	alog_free(w);
	if (w->notify)
		event_free(w->notify);
	if (w->resume_ev)
		event_free(w->resume_ev);
	if (w->notify_fd > 0)
		close(w->notify_fd);
	if (w->base)
		event_base_free(w->base);
}

/* ---- bans ------------------------------------------------------------------ */

/* server_log_aggregate() says that sa's ban made its whole prefix banned. */
static void
server_log_aggregate(const struct sockaddr *sa)
{
	char		 a[INET6_ADDRSTRLEN] = "?";
	const void	*p = sa->sa_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	unsigned	 plen;

	inet_ntop(sa->sa_family, p, a, sizeof(a));
	/* An IPv4-mapped IPv6 address counts as IPv4 (bantable.h). */
	plen = ban_aggregate_plen(srv.bans, sa->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)p) ? AF_INET6 :
	    AF_INET);
	log_info("ban: %u addresses of %s's /%u banned: the whole /%u is",
	    srv.ban_aggregate, a, plen, plen);
}

/*
 * server_ban_here() bans in this instance's table and tears down live
 * connections (except, of the calling worker, is left to its caller).
 */
static int
server_ban_here(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms,
    const struct conn *except)
{
	unsigned	 i;
	int		 rc;

	pthread_mutex_lock(&srv.lock);
	rc = plen == 0 ? ban_add(srv.bans, sa, guard_now_ms(), ttl_ms) :
	    ban_add_prefix(srv.bans, sa, plen, guard_now_ms(), ttl_ms);
	pthread_mutex_unlock(&srv.lock);
	if (rc < 0)
		return rc;
	if (rc == 1)
		server_log_aggregate(sa);
	for (i = 0; i < srv.nworkers; i++) {
		if (&srv.workers[i] == wk)
			worker_sweep(wk, except);
		else
			worker_post(&srv.workers[i], WK_BANS);
	}
	return 0;
}

int
server_ban(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms,
    const struct conn *except)
{
	int rc = server_ban_here(sa, plen, ttl_ms, except);

	if (rc == 0)
		banshare_add(sa, plen, ttl_ms);
	return rc;
}

/* Bans from the other instances (ban_share): applied, not shared again. */
static int server_shared_ban(const struct sockaddr *, unsigned, uint64_t);
static int server_shared_unban(const struct sockaddr *, unsigned);

static const struct banshare_ops server_banshare_ops = {
	.add = server_shared_ban,
	.remove = server_shared_unban,
};

static int
server_shared_ban(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms)
{
	return server_ban_here(sa, plen, ttl_ms, NULL);
}

static int
server_shared_unban(const struct sockaddr *sa, unsigned plen)
{
	int rc;

	pthread_mutex_lock(&srv.lock);
	rc = ban_remove_prefix(srv.bans, sa, plen);
	pthread_mutex_unlock(&srv.lock);
	return rc;
}

/*
 * Expired bans are dropped in batches: with kernel_drop each costs a bpf()
 * call, and accept() waits for the lock meanwhile.
 */
static void
server_ban_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t	 now = guard_now_ms();
	size_t		 n;

	do {
		pthread_mutex_lock(&srv.lock);
		n = ban_expire_some(srv.bans, now, BAN_EXPIRE_BATCH);
		pthread_mutex_unlock(&srv.lock);
	} while (n == BAN_EXPIRE_BATCH);
}

static uint64_t
server_wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void
server_ban_copy(void *arg, const struct sockaddr *sa, unsigned plen,
    uint64_t left_ms)
{
	ban_add_prefix(arg, sa, plen, guard_now_ms(), left_ms);
}

/*
 * server_ban_save() writes the ban table to ban_state_file, if set.  The
 * workers check the table at every accept: it is copied under the lock
 * and written (fsync included) without it.
 */
static void
server_ban_save(void)
{
	const struct conf	*conf = srv.gen->conf;
	struct ban_table	*copy;
	long			 n;

	if (strcmp(conf->ban_state_file, "off") == 0)
		return;
	if ((copy = ban_new(srv.ban_table_size, 32, 128)) == NULL) {
		log_err("ban_state_file: out of memory");
		return;
	}
	pthread_mutex_lock(&srv.lock);
	ban_foreach(srv.bans, guard_now_ms(), server_ban_copy, copy);
	pthread_mutex_unlock(&srv.lock);
	n = ban_save(copy, conf->ban_state_file, guard_now_ms(),
	    server_wall_ms());
	ban_free(copy);
	if (n < 0)
		log_err("ban_state_file \"%s\": cannot write: %s",
		    conf->ban_state_file, strerror((int)-n));
	else
		log_debug("ban_state_file: %ld bans saved", n);
}

static void
server_ban_save_cb(evutil_socket_t fd, short what, void *arg)
{
	server_ban_save();
}

/* server_ban_load() loads ban_state_file at start.  Returns 0 or -1. */
static int
server_ban_load(const struct conf *conf)
{
	long	n;
	int	line = 0;

	if (strcmp(conf->ban_state_file, "off") == 0)
		return 0;
	n = ban_load(srv.bans, conf->ban_state_file, guard_now_ms(),
	    server_wall_ms(), &line);
	if (n == -EINVAL) {
		log_warn("%s:%d: malformed line skipped", conf->ban_state_file,
		    line);
		return 0;
	}
	if (n < 0) {
		log_err("%s:%d: ban_state_file \"%s\": cannot read: %s",
		    conf->path, conf->ban_state_file_line, conf->ban_state_file,
		    strerror((int)-n));
		return -1;
	}
	if (n > 0)
		log_info("ban_state_file: %ld bans loaded", n);
	return 0;
}

/* ---- kernel_drop: the ban table mirrored into the kernel (kdrop.h) ------ */

/* The first map write the kernel refuses is logged; metrics count them. */
static void
server_kdrop_result(int rv)
{
	if (rv < 0 && kdrop_errors(srv.kdrop) == 1)
		log_warn("kernel_drop: the kernel refused a ban (%s): bans it "
		    "does not hold are closed at accept", strerror(-rv));
}

static void
server_kdrop_set(void *arg, const uint8_t *addr, unsigned len, unsigned plen,
    uint64_t expiry_ms, int added)
{
	server_kdrop_result(kdrop_ban(srv.kdrop, addr, len, plen, expiry_ms,
	    added));
}

static void
server_kdrop_unset(void *arg, const uint8_t *addr, unsigned len,
    unsigned plen)
{
	int rv = kdrop_unban(srv.kdrop, addr, len, plen);

	server_kdrop_result(rv == -ENOENT ? 0 : rv);
}

static const struct ban_hooks server_kdrop_hooks = {
	.set = server_kdrop_set,
	.unset = server_kdrop_unset,
};

struct server_prefixes {
	struct kdrop_prefix	*v;	/* owned */
	size_t			 n, cap;
	int			 oom;
};

static void
server_kdrop_prefix(void *arg, int family, const uint8_t *addr, unsigned plen)
{
	struct server_prefixes	*p = arg;
	struct kdrop_prefix	*v;
	size_t			 cap;

	if (p->oom)
		return;
	if (p->n == p->cap) {
		cap = p->cap ? p->cap * 2 : 8;
		if ((v = reallocarray(p->v, cap, sizeof(*v))) == NULL) {
			p->oom = 1;
			return;
		}
		p->v = v;
		p->cap = cap;
	}
	memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
	p->v[p->n].len = family == AF_INET ? 4 : 16;
	memcpy(p->v[p->n].addr, addr, p->v[p->n].len);
	p->v[p->n++].plen = plen;
}

/*
 * server_kdrop_allow() gives the kernel conf's client-only allow rules: the
 * addresses it must never drop (rules.h).
 */
static void
server_kdrop_allow(const struct conf *conf)
{
	struct server_prefixes	 p;
	int			 rv;

	if (srv.kdrop == NULL)
		return;
	memset(&p, 0, sizeof(p));
	rules_foreach_allowed_client(conf->rules, server_kdrop_prefix, &p);
	pthread_mutex_lock(&srv.lock);
	rv = p.oom ? -ENOMEM : kdrop_allow(srv.kdrop, p.v, p.n);
	pthread_mutex_unlock(&srv.lock);
	free(p.v);
	/* Such an address may be dropped: only without kernel_drop is it not. */
	if (rv < 0)
		log_err("kernel_drop: cannot give the kernel the allowed "
		    "clients (%s): turn kernel_drop off if a ban may cover "
		    "them", strerror(-rv));
}

/*
 * server_kdrop_open() loads the socket filter as conf's kernel_drop says.
 * Returns 0, or -1 when kernel_drop is on and the kernel refuses.
 */
static int
server_kdrop_open(const struct conf *conf)
{
	char	 why[256];

	if (conf->kernel_drop == CONF_KDROP_OFF) {
		log_info("kernel_drop off: banned addresses are closed at "
		    "accept");
		return 0;
	}
	if ((srv.kdrop = kdrop_new(srv.ban_table_size, why,
	    sizeof(why))) == NULL) {
		if (conf->kernel_drop == CONF_KDROP_ON) {
			log_err("%s:%d: kernel_drop on: the kernel refuses the "
			    "socket filter: %s%s%s", conf->path,
			    conf->kernel_drop_line,
			    strerror(errno), why[0] ? ": " : "", why);
			return -1;
		}
		log_warn("kernel_drop auto: not available (%s%s%s): banned "
		    "addresses are closed at accept instead", strerror(errno),
		    why[0] ? ": " : "", why);
		return 0;
	}
	ban_set_hooks(srv.bans, &server_kdrop_hooks, NULL);
	server_kdrop_allow(conf);
	log_info("kernel_drop: banned addresses are dropped by the kernel, "
	    "before the TCP handshake");
	return 0;
}

/* ---- the admin listener's operations ------------------------------------ */

static int
server_admin_metrics(struct evbuffer *out)
{
	const struct metrics	*w[256];
	struct metrics_gauges	 g;
	unsigned		 i;

	for (i = 0; i < srv.nworkers && i < 256; i++)
		w[i] = &srv.workers[i].m;
	memset(&g, 0, sizeof(g));
	pthread_mutex_lock(&srv.lock);
	g.ban_entries = ban_count(srv.bans);
	g.client_entries = clients_count(srv.clients);
	if (srv.kdrop != NULL) {
		g.kernel_drop = 1;
		g.kernel_drop_entries = kdrop_entries(srv.kdrop);
		g.kernel_drop_errors = kdrop_errors(srv.kdrop);
	}
	pthread_mutex_unlock(&srv.lock);
	/* The kernel's counter: a bpf() call, no need to hold accept() up. */
	if (srv.kdrop != NULL)
		g.kernel_drops = kdrop_drops(srv.kdrop);
	g.workers = srv.nworkers;
	g.start_time = srv.start_time;
	g.reloads = srv.reloads;
	g.reload_failures = srv.reload_failures;
	if (metrics_render(out, w, i, &g) < 0)
		return -1;
	banshare_metrics(out);
	return 0;
}

static void
server_admin_ban_list(admin_ban_fn *fn, void *arg)
{
	pthread_mutex_lock(&srv.lock);
	ban_foreach(srv.bans, guard_now_ms(), fn, arg);
	pthread_mutex_unlock(&srv.lock);
}

static int
server_admin_ban_add(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms)
{
	return server_ban(sa, plen, ttl_ms, NULL);
}

static int
server_admin_ban_remove(const struct sockaddr *sa, unsigned plen)
{
	int rc = server_shared_unban(sa, plen);

	/* Fleet-wide, whether or not this instance had it. */
	banshare_remove(sa, plen);
	return rc;
}

/* The main thread's: srv.gen changes on it only. */
static const char *
server_admin_token(void)
{
	return srv.gen->conf->admin_token_value;
}

static const struct admin_ops server_admin_ops = {
	.metrics = server_admin_metrics,
	.ban_list = server_admin_ban_list,
	.ban_add = server_admin_ban_add,
	.ban_remove = server_admin_ban_remove,
	.token = server_admin_token,
};

/* server_admin_open() starts the admin listener of conf.  NULL: off or error. */
static struct admin *
server_admin_open(const struct conf *conf, int *err)
{
	struct admin *a;

	*err = 0;
	if (conf->admin_addrlen == 0)
		return NULL;
	a = admin_new(srv.base, (const struct sockaddr *)&conf->admin_addr,
	    conf->admin_addrlen, conf->admin_listen, &server_admin_ops);
	if (a == NULL) {
		*err = 1;
		return NULL;
	}
	log_info("admin listener on %s", conf->admin_listen);
	return a;
}

/*
 * server_set_max_conns() puts conf's max_connections in force: "auto" is
 * half the descriptors h2guard may open (RLIMIT_NOFILE), as each client
 * connection takes one and its requests at the upstream one each.
 */
static void
server_set_max_conns(const struct conf *conf)
{
	struct rlimit	rl;
	uint64_t	n = conf->max_connections;

	if (n == 0) {
		n = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur / 2 : 100000;
		if (n == 0)
			n = 1;
	}
	if (n > UINT32_MAX)
		n = UINT32_MAX;
	if (n != __atomic_load_n(&srv.max_conns, __ATOMIC_RELAXED))
		log_info("max_connections %llu%s", (unsigned long long)n,
		    conf->max_connections ? "" : " (auto: half of RLIMIT_NOFILE)");
	__atomic_store_n(&srv.max_conns, (uint32_t)n, __ATOMIC_RELAXED);
}

/* ---- reload ---------------------------------------------------------------- */

/* Settings a reload cannot change: said once, kept until restart. */
static void
server_reload_warn_key(void *arg, const char *key)
{
	log_warn("reload: %s changed: takes effect at the next start", key);
}

static void
server_reload_warn(const struct conf *o, const struct conf *n)
{
	conf_restart_changed(o, n, server_reload_warn_key, NULL);
}

/*
 * server_reload() re-reads the configuration file.  On any error h2guard
 * goes on with the configuration in force.  The listening sockets of
 * addresses still configured are kept (no connection is refused while
 * reloading), the ban table is kept, and open connections finish under the
 * configuration they were accepted under.
 */
static void
server_reload(void)
{
	struct conf	*conf, *old = srv.gen->conf;
	SSL_CTX		*ctx;
	struct gen	*g, *oldg;
	struct lsock	*ls, *next, *added = NULL;
	struct admin	*admin = NULL;
	const struct conf_listen *cl;
	char		*errors, *line, *save;
	int		 admin_changed, err;

	log_info("reload: reading %s", old->path);
	if (server_load(old->path, &conf, &ctx, &errors) < 0) {
		for (line = strtok_r(errors, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			log_err("reload: %s", line);
		free(errors);
		log_err("reload failed: going on with the configuration in "
		    "force");
		srv.reload_failures++;
		return;
	}
	server_reload_warn(old, conf);
	/* New addresses are bound before anything changes. */
	SLIST_FOREACH(ls, &srv.lsocks, link)
		ls->keep = 0;
	STAILQ_FOREACH(cl, &conf->listens, link) {
		if ((ls = lsock_find(cl)) != NULL) {
			ls->keep = 1;
			continue;
		}
		if ((ls = lsock_new(cl)) == NULL)
			goto out_fail;
		ls->keep = 1;
		SLIST_NEXT(ls, link) = added;
		added = ls;
	}
	admin_changed = !server_same_addr(&old->admin_addr, old->admin_addrlen,
	    &conf->admin_addr, conf->admin_addrlen);
	if (admin_changed && srv.admin != NULL) {
		/* The same port may be kept under another spelling. */
		admin_free(srv.admin);
		srv.admin = NULL;
	}
	if (admin_changed && (admin = server_admin_open(conf, &err)) == NULL &&
	    err)
		goto out_fail_admin;
	if (server_logs_open(conf) < 0)
		goto out_fail_admin;
	if ((g = gen_new(conf, ctx)) == NULL) {
		log_err("reload: out of memory");
		goto out_fail_admin;
	}
	if (admin_changed)
		srv.admin = admin;
	pthread_mutex_lock(&srv.lock);
	oldg = srv.gen;
	srv.gen = g;
	while ((ls = SLIST_FIRST(&srv.lsocks)) != NULL && !ls->keep) {
		/* The workers close their sockets of it. */
		SLIST_REMOVE_HEAD(&srv.lsocks, link);
		lsock_free(ls, 0);
	}
	for (; ls != NULL; ls = next) {
		while ((next = SLIST_NEXT(ls, link)) != NULL && !next->keep) {
			SLIST_NEXT(ls, link) = SLIST_NEXT(next, link);
			lsock_free(next, 0);
		}
	}
	for (ls = added; ls != NULL; ls = next) {
		next = SLIST_NEXT(ls, link);
		SLIST_INSERT_HEAD(&srv.lsocks, ls, link);
	}
	STAILQ_FOREACH(cl, &conf->listens, link)
		if ((ls = lsock_find(cl)) != NULL)
			lsock_filter(ls, cl);
	pthread_mutex_unlock(&srv.lock);
	gen_unref(oldg);
	server_kdrop_allow(srv.gen->conf);
	log_set_level(srv.gen->conf->log_level);
	membudget_set_limit(srv.gen->conf->memory_limit);
	server_set_max_conns(srv.gen->conf);
	srv.reloads++;
	server_post_all(WK_RELOAD);
	log_info("reload: configuration generation %llu in force",
	    (unsigned long long)g->id);
	return;

out_fail_admin:
	if (admin_changed) {
		admin_free(admin);
		/* Back to the old admin listener, if there was one. */
		srv.admin = server_admin_open(old, &err);
	}
out_fail:
	for (ls = added; ls != NULL; ls = next) {
		next = SLIST_NEXT(ls, link);
		lsock_free(ls, 1);
	}
	SSL_CTX_free(ctx);
	conf_free(conf);
	log_err("reload failed: going on with the configuration in force");
	srv.reload_failures++;
}

/* ---- signals and stop ---------------------------------------------------- */

static void
server_stop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warn("shutdown_timeout: closing the connections still open");
	server_post_all(WK_KILL);
}

/*
 * server_stop() stops gracefully: the workers stop accepting, send GOAWAY
 * to their HTTP/2 connections and finish the requests in flight; after
 * shutdown_timeout (or a second signal) what is left is closed.
 */
static void
server_stop(int sig)
{
	struct timeval tv;

	if (srv.stopping) {
		log_info("signal %d: closing every connection now", sig);
		server_post_all(WK_KILL);
		return;
	}
	srv.stopping = 1;
	log_info("signal %d: stopping, in-flight requests have %u ms", sig,
	    srv.gen->conf->shutdown_timeout);
	tv.tv_sec = srv.gen->conf->shutdown_timeout / 1000;
	tv.tv_usec = (srv.gen->conf->shutdown_timeout % 1000) * 1000;
	evtimer_add(srv.stop_ev, &tv);
	server_post_all(WK_STOP);
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGHUP:
		if (!srv.stopping)
			server_reload();
		break;
	case SIGUSR1:
		log_info("signal %d: reopening the log files", (int)sig);
		server_logs_open(srv.gen->conf);
		break;
	default:
		server_stop((int)sig);
		break;
	}
}

/* A worker is done: the last one ends the main loop. */
static void
server_done_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n = server_woken(fd);

	srv.running -= n < srv.running ? (unsigned)n : srv.running;
	if (srv.running == 0)
		event_base_loopexit(srv.base, NULL);
}

/* ---- init, run, free ------------------------------------------------------ */

static unsigned
server_ncpus(void)
{
	cpu_set_t	set;
	long		n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

int
server_init(struct conf *conf, SSL_CTX *ssl_ctx)
{
	static const int	 sigs[4] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1 };
	static const struct timeval ban_expire_tv = { 10, 0 };
	const struct conf_listen *cl;
	struct lsock		*ls;
	struct timeval		 tv;
	unsigned		 i;
	int			 err;

	srv.ban_log_fd = srv.access_log_fd = -1;
	SLIST_INIT(&srv.lsocks);
	pthread_mutex_init(&srv.lock, NULL);
	if ((srv.gen = gen_new(conf, ssl_ctx)) == NULL) {
		SSL_CTX_free(ssl_ctx);
		conf_free(conf);
		log_err("out of memory");
		return -1;
	}
	gettimeofday(&tv, NULL);
	srv.start_time = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	log_set_level(conf->log_level);
	membudget_set_limit(conf->memory_limit);
	server_set_max_conns(conf);
	signal(SIGPIPE, SIG_IGN);
	if ((srv.base = event_base_new()) == NULL ||
	    (srv.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (srv.done_ev = event_new(srv.base, srv.done_fd, EV_READ | EV_PERSIST,
	    server_done_cb, NULL)) == NULL ||
	    event_add(srv.done_ev, NULL) < 0) {
		log_err("cannot create the event loop");
		return -1;
	}
	srv.nworkers = conf->workers ? conf->workers : server_ncpus();
	srv.ban_table_size = conf->ban_table_size;
	srv.ban_aggregate = conf->ban_aggregate;
	if ((srv.workers = calloc(srv.nworkers, sizeof(*srv.workers))) == NULL ||
	    (srv.bans = ban_new(conf->ban_table_size, conf->ban_prefix_v4,
	    conf->ban_prefix_v6)) == NULL ||
	    (ban_set_aggregate(srv.bans, conf->ban_aggregate), 0) ||
	    (srv.clients = clients_new(conf->client_table_size,
	    conf->ban_prefix_v4, conf->ban_prefix_v6)) == NULL) {
		log_err("out of memory");
		return -1;
	}
	for (i = 0; i < srv.nworkers; i++)
		if (worker_init(&srv.workers[i], i) < 0) {
			log_err("out of memory");
			return -1;
		}
	/* The filter first: the bans loaded go to the kernel too. */
	if (server_logs_open(conf) < 0 || server_kdrop_open(conf) < 0 ||
	    server_ban_load(conf) < 0)
		return -1;
	if (banshare_start(srv.base, conf, &server_banshare_ops) < 0) {
		log_err("ban_share: out of memory");
		return -1;
	}
	STAILQ_FOREACH(cl, &conf->listens, link) {
		if ((ls = lsock_new(cl)) == NULL)
			return -1;
		SLIST_INSERT_HEAD(&srv.lsocks, ls, link);
	}
	if ((srv.admin = server_admin_open(conf, &err)) == NULL && err)
		return -1;
	for (i = 0; i < srv.nworkers; i++) {
		worker_take_gen(&srv.workers[i]);
		if (srv.workers[i].wg == NULL)
			return -1;
	}
	srv.ban_expire_ev = event_new(srv.base, -1, EV_PERSIST,
	    server_ban_expire_cb, NULL);
	srv.ban_save_ev = event_new(srv.base, -1, EV_PERSIST,
	    server_ban_save_cb, NULL);
	srv.stop_ev = evtimer_new(srv.base, server_stop_timeout_cb, NULL);
	tv.tv_sec = conf->ban_state_interval / 1000;
	tv.tv_usec = (conf->ban_state_interval % 1000) * 1000;
	if (srv.ban_expire_ev == NULL || srv.ban_save_ev == NULL ||
	    srv.stop_ev == NULL ||
	    event_add(srv.ban_expire_ev, &ban_expire_tv) < 0 ||
	    event_add(srv.ban_save_ev, &tv) < 0) {
		log_err("out of memory");
		return -1;
	}
	for (i = 0; i < 4; i++)
		if ((srv.sigs[i] = evsignal_new(srv.base, sigs[i],
		    server_signal_cb, NULL)) == NULL ||
		    evsignal_add(srv.sigs[i], NULL) < 0) {
			log_err("cannot watch signals");
			return -1;
		}
	return 0;
}

int
server_run(void)
{
	struct metrics	 m;
	sigset_t	 all, old;
	unsigned	 i, j, started = 0;

	/* Signals are for the main thread: workers block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	srv.running = srv.nworkers;
	for (i = 0; i < srv.nworkers; i++, started++)
		if (pthread_create(&srv.workers[i].thread, NULL, worker_main,
		    &srv.workers[i]) != 0) {
			log_err("cannot start worker %u", i);
			break;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("h2guard %s started, %u worker%s", PACKAGE_VERSION,
	    srv.nworkers, srv.nworkers == 1 ? "" : "s");
	if (started < srv.nworkers) {
		srv.running = started;
		server_post_all(WK_KILL);
	} else {
		event_base_dispatch(srv.base);
	}
	for (i = 0; i < started; i++)
		pthread_join(srv.workers[i].thread, NULL);
	server_ban_save();
	memset(&m, 0, sizeof(m));
	for (i = 0; i < srv.nworkers; i++) {
		const struct metrics *w = &srv.workers[i].m;

		m.conns_accepted += w->conns_accepted;
		m.accept_banned += w->accept_banned;
		m.accept_limited += w->accept_limited;
		m.accept_client_conns += w->accept_client_conns;
		m.accept_max_conns += w->accept_max_conns;
		m.accept_proxy_errors += w->accept_proxy_errors;
		m.bans += w->bans;
		m.floods += w->floods;
		for (j = 0; j < METRICS_STATUS_CLASSES; j++)
			m.requests[j] += w->requests[j];
	}
	log_info("stopped: %llu connections accepted, %llu closed at accept "
	    "(%llu banned addresses, %llu client_conn_rate, %llu "
	    "client_max_connections, %llu max_connections, %llu bad PROXY "
	    "headers), %llu torn down by ban rules, %llu by flood limits, "
	    "%llu requests",
	    (unsigned long long)m.conns_accepted,
	    (unsigned long long)METRICS_ACCEPT_DROPS(&m),
	    (unsigned long long)m.accept_banned,
	    (unsigned long long)m.accept_limited,
	    (unsigned long long)m.accept_client_conns,
	    (unsigned long long)m.accept_max_conns,
	    (unsigned long long)m.accept_proxy_errors,
	    (unsigned long long)m.bans, (unsigned long long)m.floods,
	    (unsigned long long)(m.requests[0] + m.requests[1] +
	    m.requests[2] + m.requests[3] + m.requests[4] + m.requests[5]));
	return started == srv.nworkers ? 0 : 1;
}

void
server_free(void)
{
	struct lsock	*ls;
	unsigned	 i;

	for (i = 0; srv.workers != NULL && i < srv.nworkers; i++) {
		wk = &srv.workers[i];
		worker_free(wk);
	}
	wk = NULL;
	free(srv.workers);
	while ((ls = SLIST_FIRST(&srv.lsocks)) != NULL) {
		SLIST_REMOVE_HEAD(&srv.lsocks, link);
		/* The workers' listeners own (and closed) the sockets. */
		lsock_free(ls, 0);
	}
	admin_free(srv.admin);
	banshare_stop();
	for (i = 0; i < 4; i++)
		if (srv.sigs[i])
			event_free(srv.sigs[i]);
	if (srv.ban_expire_ev)
		event_free(srv.ban_expire_ev);
	if (srv.ban_save_ev)
		event_free(srv.ban_save_ev);
	if (srv.stop_ev)
		event_free(srv.stop_ev);
	if (srv.done_ev)
		event_free(srv.done_ev);
	if (srv.done_fd > 0)
		close(srv.done_fd);
	if (srv.ban_log_fd > STDERR_FILENO)
		close(srv.ban_log_fd);
	if (srv.access_log_fd > STDERR_FILENO)
		close(srv.access_log_fd);
	for (i = 0; i < nretired; i++)
		close(retired_fds[i]);
	nretired = 0;
	ban_free(srv.bans);
	kdrop_free(srv.kdrop);
	clients_free(srv.clients);
	metrics_free_rules();
	if (srv.base)
		event_base_free(srv.base);
	gen_unref(srv.gen);
	pthread_mutex_destroy(&srv.lock);
	memset(&srv, 0, sizeof(srv));
}
