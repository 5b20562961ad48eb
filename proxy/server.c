/*
 * server.c - the runtime: listening sockets, signals and the event loop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bantable.h"
#include "proxy/clients.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/guard.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "proxy/upstream.h"

struct server srv;

static void
server_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	srv.stats.accepted++;
	/*
	 * A banned address, or one opening connections too fast, costs us an
	 * accept() and a close(), nothing more.
	 */
	if (guard_accept(fd, sa))
		return;
	conn_accept(arg, fd, sa, salen);
}

static void
server_ban_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	ban_expire(srv.bans, guard_now_ms());
}

/* server_open_ban_log() opens conf's ban_log.  Returns 0 or -1. */
static int
server_open_ban_log(const struct conf *conf)
{
	if (conf->ban_log == NULL || strcmp(conf->ban_log, "off") == 0) {
		srv.ban_log_fd = -1;
		return 0;
	}
	if (strcmp(conf->ban_log, "stderr") == 0) {
		srv.ban_log_fd = STDERR_FILENO;
		return 0;
	}
	srv.ban_log_fd = open(conf->ban_log, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0640);
	if (srv.ban_log_fd < 0) {
		log_err("%s:%d: ban_log: cannot open \"%s\": %s", conf->path,
		    conf->ban_log_line, conf->ban_log, strerror(errno));
		return -1;
	}
	return 0;
}

static void
server_accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener	*l = arg;
	int		 err = EVUTIL_SOCKET_ERROR();

	log_warn("listen %s: accept: %s", l->cl->name,
	    evutil_socket_error_to_string(err));
}

/* server_bind() opens one listening socket.  Returns the fd or -1. */
static evutil_socket_t
server_bind(const struct conf_listen *cl)
{
	evutil_socket_t	fd;
	int		one = 1;

	fd = socket(cl->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("listen %s: socket: %s", cl->name, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::]:port means IPv6 only; IPv4 has its own listen line. */
	if (cl->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) < 0) {
		log_err("listen %s: bind: %s", cl->name, strerror(errno));
		goto out_close;
	}
	if (listen(fd, 4096) < 0) {
		log_err("listen %s: listen: %s", cl->name, strerror(errno));
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return -1;
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(srv.base, NULL);
}

int
server_init(struct conf *conf, SSL_CTX *ssl_ctx)
{
	static const struct timeval	 ban_expire_tv = { 10, 0 };
	const struct conf_listen	*cl;

	srv.conf = conf;
	srv.ssl_ctx = ssl_ctx;
	SLIST_INIT(&srv.listeners);
	TAILQ_INIT(&srv.conns);
	log_level = conf->log_level;
	signal(SIGPIPE, SIG_IGN);
	if ((srv.base = event_base_new()) == NULL) {
		log_err("cannot create the event loop");
		return -1;
	}
	srv.ban_log_fd = -1;
	if ((srv.ups = ups_pool_new(srv.base, conf)) == NULL ||
	    (srv.bans = ban_new(conf->ban_table_size, conf->ban_prefix_v4,
	    conf->ban_prefix_v6)) == NULL ||
	    (srv.clients = clients_new(conf->client_table_size,
	    conf->ban_prefix_v4, conf->ban_prefix_v6)) == NULL) {
		log_err("out of memory");
		return -1;
	}
	if (server_open_ban_log(conf) < 0)
		return -1;
	STAILQ_FOREACH(cl, &conf->listens, link) {
		struct listener	*l;
		evutil_socket_t	 fd;

		if ((fd = server_bind(cl)) < 0)
			return -1;
		if ((l = calloc(1, sizeof(*l))) == NULL) {
			close(fd);
			log_err("out of memory");
			return -1;
		}
		l->cl = cl;
		l->tls = cl->tls;
		l->evl = evconnlistener_new(srv.base, server_accept_cb, l,
		    LEV_OPT_CLOSE_ON_FREE, -1, fd);
		if (l->evl == NULL) {
			close(fd);
			free(l);
			log_err("listen %s: cannot watch the socket", cl->name);
			return -1;
		}
		evconnlistener_set_error_cb(l->evl, server_accept_error_cb);
		SLIST_INSERT_HEAD(&srv.listeners, l, link);
		log_info("listening on %s%s", cl->name, cl->tls ? " (tls)" : "");
	}
	srv.ban_expire_ev = event_new(srv.base, -1, EV_PERSIST,
	    server_ban_expire_cb, NULL);
	if (srv.ban_expire_ev == NULL ||
	    event_add(srv.ban_expire_ev, &ban_expire_tv) < 0) {
		log_err("out of memory");
		return -1;
	}
	srv.sig_int = evsignal_new(srv.base, SIGINT, server_signal_cb, NULL);
	srv.sig_term = evsignal_new(srv.base, SIGTERM, server_signal_cb, NULL);
	if (srv.sig_int == NULL || srv.sig_term == NULL ||
	    evsignal_add(srv.sig_int, NULL) < 0 ||
	    evsignal_add(srv.sig_term, NULL) < 0) {
		log_err("cannot watch signals");
		return -1;
	}
	return 0;
}

int
server_run(void)
{
	event_base_dispatch(srv.base);
	log_info("stopped: %llu connections accepted, %llu closed at accept "
	    "(%llu banned addresses, %llu client_conn_rate), %llu torn down by "
	    "ban rules, %llu by flood limits",
	    (unsigned long long)srv.stats.accepted,
	    (unsigned long long)(srv.stats.accept_drops +
	    srv.stats.accept_limited),
	    (unsigned long long)srv.stats.accept_drops,
	    (unsigned long long)srv.stats.accept_limited,
	    (unsigned long long)srv.stats.bans,
	    (unsigned long long)srv.stats.floods);
	return 0;
}

void
server_free(void)
{
	struct listener *l;

	while (!TAILQ_EMPTY(&srv.conns))
		conn_close(TAILQ_FIRST(&srv.conns));
	while ((l = SLIST_FIRST(&srv.listeners)) != NULL) {
		SLIST_REMOVE_HEAD(&srv.listeners, link);
		evconnlistener_free(l->evl);
		free(l);
	}
	if (srv.sig_int)
		event_free(srv.sig_int);
	if (srv.sig_term)
		event_free(srv.sig_term);
	if (srv.ban_expire_ev)
		event_free(srv.ban_expire_ev);
	if (srv.ban_log_fd > STDERR_FILENO)
		close(srv.ban_log_fd);
	ban_free(srv.bans);
	clients_free(srv.clients);
	ups_pool_free(srv.ups);
	if (srv.base)
		event_base_free(srv.base);
	SSL_CTX_free(srv.ssl_ctx);
	conf_free(srv.conf);
	memset(&srv, 0, sizeof(srv));
}
