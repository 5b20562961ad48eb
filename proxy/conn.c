/*
 * conn.c - client connections: accept, TLS handshake and ALPN, h2c sniffing,
 * timeouts, and the one function that closes a connection.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "h2/session.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/guard.h"
#include "proxy/http1.h"
#include "proxy/metrics.h"
#include "proxy/proxyproto.h"
#include "proxy/server.h"
#include "proxy/tls.h"

/* The client connection preface of RFC 9113 3.4. */
static const char conn_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define CONN_PREFACE_LEN (sizeof(conn_preface) - 1)

static void conn_read_cb(struct bufferevent *, void *);
static void conn_write_cb(struct bufferevent *, void *);
static void conn_event_cb(struct bufferevent *, short, void *);

void
conn_format_peer(struct conn *c)
{
	char		 a[INET6_ADDRSTRLEN] = "?";
	unsigned	 port = 0;

	if (c->peer.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&c->peer;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		port = ntohs(sin->sin_port);
		snprintf(c->peer_str, sizeof(c->peer_str), "%s:%u", a, port);
	} else if (c->peer.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->peer;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		port = ntohs(sin6->sin6_port);
		snprintf(c->peer_str, sizeof(c->peer_str), "[%s]:%u", a, port);
	} else {
		snprintf(c->peer_str, sizeof(c->peer_str), "%s", a);
	}
	snprintf(c->addr_str, sizeof(c->addr_str), "%s", a);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	int		 rc = -1;

	if (c->flags & CONN_F_CLOSE)
		return;		/* conn_defer_cb() closes it */
	switch (c->state) {
	case CONN_PROXY:
		conn_log(c, LOG_DEBUG, "no PROXY header in time");
		METRIC_INC(wk->m.accept_proxy_errors);
		c->flags |= CONN_F_DROPPED;
		break;
	case CONN_HANDSHAKE:
		conn_log(c, LOG_DEBUG, "TLS handshake timed out");
		break;
	case CONN_SNIFF:
		conn_log(c, LOG_DEBUG, "no request in time");
		break;
	case CONN_H2:
		rc = h2s_on_timeout(c->h2);
		break;
	case CONN_H1:
		rc = h1_on_timeout(c->h1);
		break;
	}
	if (rc < 0)
		conn_close(c);
}

static void
conn_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	int		 rc = 0;

	if (c->flags & CONN_F_CLOSE) {
		conn_close(c);
		return;
	}
	if (c->state == CONN_H2)
		rc = h2s_on_defer(c->h2);
	else if (c->state == CONN_H1)
		rc = h1_on_defer(c->h1);
	if (rc < 0)
		conn_close(c);
}

void
conn_schedule(struct conn *c)
{
	event_active(&c->defer, EV_TIMEOUT, 0);
}

void
conn_close_later(struct conn *c)
{
	c->flags |= CONN_F_CLOSE;
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	else if (c->state == CONN_PROXY)
		event_del(&c->pp_ev);
	event_del(&c->timer);
	conn_schedule(c);
}

/*
 * Output bytes taken by the socket (or TLS).  For HTTP/1.1 that is the
 * client taking response bytes; HTTP/2 counts DATA frames instead (see
 * h2/session.c): its control frames are no progress.
 */
static void
conn_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	if (info->n_deleted > 0 && c->state == CONN_H1)
		conn_progress(c, info->n_deleted);
}

int
conn_more_input(const struct conn *c, size_t have)
{
	SSL	*ssl;
	int	 n = 0;

	if (c->flags & CONN_F_TLS) {
		ssl = bufferevent_openssl_get_ssl(c->bev);
		if (ssl != NULL && SSL_has_pending(ssl))
			return 1;
	} else if (have > 0 && have < CONN_READ_MAX) {
		return 0;	/* that read emptied the socket */
	}
	return ioctl(bufferevent_getfd(c->bev), FIONREAD, &n) == 0 && n > 0;
}

int
conn_batch_hold(struct conn *c, int waiting, int inside, size_t have)
{
	if (waiting && c->batch_bytes < CONN_BATCH_BYTES &&
	    c->batch_frames < CONN_BATCH_FRAMES &&
	    (inside || conn_more_input(c, have))) {
		/* Not a byte out either (a SETTINGS or PING ack, an answer). */
		if (!c->batch_held)
			bufferevent_disable(c->bev, EV_WRITE);
		c->batch_held = 1;
		return 1;
	}
	conn_batch_end(c);
	return 0;
}

void
conn_batch_end(struct conn *c)
{
	if (c->batch_held)
		bufferevent_enable(c->bev, EV_WRITE);
	c->batch_held = 0;
	c->batch_bytes = 0;
	c->batch_frames = 0;
}

/* How long c has been stalled, in ms, at now. */
static uint64_t
conn_stalled(const struct conn *c, uint64_t now)
{
	return c->stall_ms + (c->owing ? now - c->stall_since : 0);
}

void
conn_progress(struct conn *c, size_t n)
{
	/* A byte now and then is no progress: CONN_PROGRESS_BYTES is. */
	c->progress += n;
	if (c->progress < CONN_PROGRESS_BYTES)
		return;
	c->progress = 0;
	c->stall_ms = 0;
	if (c->owing)
		c->stall_since = guard_now_ms();
}

void
conn_send_wait(struct conn *c)
{
	uint64_t now = guard_now_ms(), stalled;

	if (!c->owing) {
		c->owing = 1;
		c->stall_since = now;
	}
	stalled = conn_stalled(c, now);
	conn_set_timeout(c, stalled >= c->conf->send_timeout ? 1 :
	    c->conf->send_timeout - (uint32_t)stalled);
}

void
conn_send_done(struct conn *c)
{
	uint64_t now = guard_now_ms();

	if (!c->owing)
		return;
	c->stall_ms = (uint32_t)(conn_stalled(c, now) > UINT32_MAX ?
	    UINT32_MAX : conn_stalled(c, now));
	c->owing = 0;
}

int
conn_send_expired(struct conn *c)
{
	if (conn_stalled(c, guard_now_ms()) >= c->conf->send_timeout)
		return 1;
	conn_send_wait(c);
	return 0;
}

void
conn_set_timeout(struct conn *c, uint32_t ms)
{
	struct timeval tv;

	if (ms == 0) {
		evtimer_del(&c->timer);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(&c->timer, &tv);
}

/*
 * conn_start_io() hands fd to a bufferevent: TLS handshake or clear-text
 * sniffing.  Returns 0 or -1 (c to be closed).
 */
static int
conn_start_io(struct conn *c)
{
	SSL *ssl;

	if (c->cl->tls) {
		c->flags |= CONN_F_TLS;
		c->state = CONN_HANDSHAKE;
		if ((ssl = SSL_new(c->wg->gen->ssl_ctx)) == NULL)
			return -1;
		c->bev = bufferevent_openssl_socket_new(wk->base, c->fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (c->bev == NULL) {
			SSL_free(ssl);
			return -1;
		}
		conn_set_timeout(c, c->conf->handshake_timeout);
	} else {
		c->state = CONN_SNIFF;
		c->bev = bufferevent_socket_new(wk->base, c->fd,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (c->bev == NULL)
			return -1;
		conn_set_timeout(c, c->conf->first_request_timeout);
	}
	c->fd = -1;	/* the bufferevent's now */
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	if (evbuffer_add_cb(bufferevent_get_output(c->bev), conn_out_cb, c) == NULL)
		return -1;
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return 0;
}

/*
 * conn_proxy_cb() reads the PROXY protocol header, and not a byte more: what
 * follows is the client's (a TLS ClientHello, say).  Bytes are peeked, and
 * consumed only when they belong to the header.  The address it carries is
 * the client's from then on, checked against the ban table and the
 * per-client limits as a socket's would be at accept.
 */
static void
conn_proxy_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn		*c = arg;
	struct pp_result	 res;
	ssize_t			 n;
	int			 rc, counted;

	n = recv(fd, c->pp_buf + c->pp_len, PP_MAX_HEADER - c->pp_len, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_log(c, LOG_DEBUG, "closed before its PROXY header");
		goto out_close;
	}
	rc = pp_parse(c->pp_buf, c->pp_len + (size_t)n, &res);
	if (rc < 0) {
		conn_log(c, LOG_INFO, "bad PROXY header: %s",
		    rc == -E2BIG ? "too long" : "malformed or missing");
		METRIC_INC(wk->m.accept_proxy_errors);
		c->flags |= CONN_F_DROPPED;
		goto out_close;
	}
	/* Incomplete: all of it is header.  Complete: take just the header. */
	n = rc == 0 ? n : (ssize_t)((size_t)rc - c->pp_len);
	if (recv(fd, c->pp_buf + c->pp_len, (size_t)n, 0) != n)
		goto out_close;
	c->pp_len += (size_t)n;
	if (rc == 0)
		return;
	event_del(&c->pp_ev);
	free(c->pp_buf);
	c->pp_buf = NULL;
	if (!res.local) {
		memcpy(&c->peer, &res.src, sizeof(c->peer));
		conn_format_peer(c);
	}
	conn_log(c, LOG_DEBUG, "PROXY v%d header: client %s", res.version,
	    c->peer_str);
	/*
	 * v2 LOCAL, v1 UNKNOWN: no address carried (a balancer's health
	 * check, or anyone who can reach the listener), so the TCP source is
	 * the client, judged like any other.
	 */
	if (guard_accept(c->fd, (const struct sockaddr *)&c->peer, &counted)) {
		c->fd = -1;	/* closed, and counted as a drop */
		c->flags |= CONN_F_DROPPED;
		goto out_close;
	}
	if (counted)
		c->flags |= CONN_F_COUNTED;
	if (conn_start_io(c) == 0)
		return;
out_close:
	conn_close(c);
}

void
conn_accept(struct listener *lst, evutil_socket_t fd,
    const struct sockaddr *sa, int salen, int counted)
{
	struct conn	*c;
	int		 one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		if (counted)
			guard_conn_gone(sa);
		METRIC_INC(wk->m.conns_closed);
		return;
	}
	if (counted)
		c->flags |= CONN_F_COUNTED;
	__atomic_add_fetch(&srv.nconns, 1, __ATOMIC_RELAXED);
	c->id = __atomic_add_fetch(&srv.next_conn_id, 1, __ATOMIC_RELAXED);
	c->fd = fd;
	c->wg = wk->wg;
	c->wg->refs++;
	c->conf = c->wg->conf;
	c->cl = lst->cl;
	if (salen > 0 && (size_t)salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, (size_t)salen);
	conn_format_peer(c);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evtimer_assign(&c->timer, wk->base, conn_timer_cb, c);
	event_assign(&c->defer, wk->base, -1, 0, conn_defer_cb, c);
	TAILQ_INSERT_TAIL(&wk->conns, c, link);
	wk->nconns++;
	conn_log(c, LOG_DEBUG, "accepted on %s", lst->cl->name);
	if (c->cl->proxy) {
		c->state = CONN_PROXY;
		event_assign(&c->pp_ev, wk->base, fd, EV_READ | EV_PERSIST,
		    conn_proxy_cb, c);
		if ((c->pp_buf = malloc(PP_MAX_HEADER)) == NULL ||
		    event_add(&c->pp_ev, NULL) < 0) {
			conn_close(c);
			return;
		}
		/* The header is part of the handshake, and bounded by it. */
		conn_set_timeout(c, c->conf->handshake_timeout);
		return;
	}
	if (conn_start_io(c) < 0)
		conn_close(c);
}

void
conn_close(struct conn *c)
{
	conn_log(c, LOG_DEBUG, "closed");
	/*
	 * A banned connection gets nothing more: bufferevent_free() drops our
	 * unsent output and sends no TLS alert or close_notify, and with
	 * SO_LINGER 0 the kernel discards its send queue and answers with RST.
	 */
	if ((c->flags & CONN_F_BANNED) && c->conf->ban_close == CONF_BAN_RESET)
		guard_linger_reset(c->bev ? bufferevent_getfd(c->bev) : c->fd);
	event_del(&c->timer);
	event_del(&c->defer);
	if (c->state == CONN_PROXY)
		event_del(&c->pp_ev);
	free(c->pp_buf);
	h2s_free(c->h2);
	h1_free(c->h1);
	if (c->bev != NULL) {
		/* The bufferevent may outlive this call: it must not call us back. */
		evbuffer_remove_cb(bufferevent_get_output(c->bev), conn_out_cb, c);
		bufferevent_free(c->bev);
	} else if (c->fd >= 0) {
		evutil_closesocket(c->fd);
	}
	TAILQ_REMOVE(&wk->conns, c, link);
	wk->nconns--;
	__atomic_sub_fetch(&srv.nconns, 1, __ATOMIC_RELAXED);
	if (c->flags & CONN_F_COUNTED)
		guard_conn_gone((const struct sockaddr *)&c->peer);
	if (!(c->flags & CONN_F_DROPPED))
		METRIC_INC(wk->m.conns_closed);
	wgen_unref(c->wg);
	free(c);
	worker_conn_closed();
}

void
conn_shutdown(struct conn *c)
{
	int rc = -1;

	if (c->flags & CONN_F_CLOSE)
		return;		/* being closed already */
	if (c->state == CONN_H2)
		rc = h2s_shutdown(c->h2);
	else if (c->state == CONN_H1)
		rc = h1_shutdown(c->h1);
	if (rc < 0)
		conn_close(c);
}

/* conn_start() switches c to h2 or HTTP/1.1 and processes what it read. */
static int
conn_start(struct conn *c, int h2)
{
	if (h2) {
		c->state = CONN_H2;
		if ((c->h2 = h2s_new(c)) == NULL)
			return -1;
		return h2s_on_read(c->h2);
	}
	c->state = CONN_H1;
	if ((c->h1 = h1_new(c)) == NULL)
		return -1;
	return h1_on_read(c->h1);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	int		 rc = 0;
	size_t		 n;

	if (c->flags & CONN_F_CLOSE)
		return;
	switch (c->state) {
	case CONN_PROXY:
	case CONN_HANDSHAKE:
		break;
	case CONN_SNIFF:
		n = evbuffer_get_length(in);
		if (n > CONN_PREFACE_LEN)
			n = CONN_PREFACE_LEN;
		if (memcmp(evbuffer_pullup(in, (ev_ssize_t)n), conn_preface, n))
			rc = conn_start(c, 0);
		else if (n == CONN_PREFACE_LEN)
			rc = conn_start(c, 1);
		break;
	case CONN_H2:
		rc = h2s_on_read(c->h2);
		break;
	case CONN_H1:
		rc = h1_on_read(c->h1);
		break;
	}
	if (rc < 0)
		conn_close(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	int		 rc = 0;

	if (c->flags & CONN_F_CLOSE)
		return;
	if (c->state == CONN_H2)
		rc = h2s_on_write(c->h2);
	else if (c->state == CONN_H1)
		rc = h1_on_write(c->h1);
	if (rc < 0)
		conn_close(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	unsigned long	 e;

	if (c->flags & CONN_F_CLOSE)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		conn_log(c, LOG_DEBUG, "TLS %s handshake done, ALPN %s",
		    SSL_get_version(ssl), tls_alpn_is_h2(ssl) ? "h2" : "http/1.1");
		c->sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
		conn_set_timeout(c, c->conf->first_request_timeout);
		if (conn_start(c, tls_alpn_is_h2(ssl)) < 0)
			conn_close(c);
		return;
	}
	/* An HTTP/1.1 client may half-close after its last request. */
	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) == BEV_EVENT_EOF &&
	    c->state == CONN_H1 &&
	    h1_on_eof(c->h1) == 0)
		return;
	if (what & BEV_EVENT_ERROR) {
		while ((e = bufferevent_get_openssl_error(bev)) != 0) {
			char buf[256];

			ERR_error_string_n(e, buf, sizeof(buf));
			conn_log(c, LOG_DEBUG, "TLS: %s", buf);
		}
		if (EVUTIL_SOCKET_ERROR() && c->state != CONN_HANDSHAKE)
			conn_log(c, LOG_DEBUG, "read/write error: %s",
			    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
	conn_close(c);
}
