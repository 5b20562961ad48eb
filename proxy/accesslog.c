/*
 * accesslog.c - one JSON line per request, buffered per worker.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "proxy/accesslog.h"
#include "proxy/conn.h"
#include "proxy/guard.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/server.h"

#define ALOG_FIELD_MAX	1024	/* bytes of a method, authority or path */

void
alog_flush(struct worker *w)
{
	int fd = __atomic_load_n(&srv.access_log_fd, __ATOMIC_ACQUIRE);

	if (w->alog == NULL)
		return;
	if (w->alog_ev != NULL)
		evtimer_del(w->alog_ev);
	while (fd >= 0 && evbuffer_get_length(w->alog) > 0)
		if (evbuffer_write(w->alog, fd) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_warn("access log: %s", strerror(errno));
			break;
		}
	evbuffer_drain(w->alog, evbuffer_get_length(w->alog));
}

static void
alog_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	alog_flush(arg);
}

int
alog_init(struct worker *w)
{
	if ((w->alog = evbuffer_new()) == NULL ||
	    (w->alog_ev = evtimer_new(w->base, alog_timer_cb, w)) == NULL)
		return -1;
	return 0;
}

void
alog_free(struct worker *w)
{
	alog_flush(w);
	if (w->alog_ev != NULL)
		event_free(w->alog_ev);
	if (w->alog != NULL)
		evbuffer_free(w->alog);
	w->alog_ev = NULL;
	w->alog = NULL;
}

void
alog_request(struct conn *c, const struct alog_rec *r)
{
	static const struct timeval flush_tv = { 0, ALOG_FLUSH_MS * 1000 };
	struct evbuffer	*b = wk->alog;
	uint64_t	 us = guard_now_us() - r->start_us;
	const char	*sep;

	if (c->flags & CONN_F_BANNED)
		return;
	metrics_request(&wk->m, r->status, us);
	METRIC_ADD(wk->m.bytes_in, r->bytes_in);
	METRIC_ADD(wk->m.bytes_out, r->bytes_out);
	if (__atomic_load_n(&srv.access_log_fd, __ATOMIC_ACQUIRE) < 0)
		return;
	sep = strrchr(c->peer_str, ':');
	evbuffer_add(b, "{\"time\":", 8);
	log_json_time(b);
	evbuffer_add_printf(b, ",\"client\":\"%s\",\"port\":%s,\"conn\":%llu,"
	    "\"protocol\":\"%s\",\"method\":", c->addr_str, sep ? sep + 1 : "0",
	    (unsigned long long)c->id,
	    r->req->proto == PROTO_H2 ? "h2" : "http/1.1");
	log_json_str(b, r->req->method, ALOG_FIELD_MAX);
	evbuffer_add(b, ",\"authority\":", 13);
	log_json_str(b, r->req->authority, ALOG_FIELD_MAX);
	evbuffer_add(b, ",\"path\":", 8);
	log_json_str(b, r->req->path, ALOG_FIELD_MAX);
	evbuffer_add_printf(b, ",\"status\":%d,\"bytes_in\":%llu,"
	    "\"bytes_out\":%llu,\"upstream\":", r->status,
	    (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out);
	log_json_str(b, r->upstream, ALOG_FIELD_MAX);
	evbuffer_add_printf(b, ",\"duration_ms\":%llu.%03llu}\n",
	    (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
	if (evbuffer_get_length(b) >= ALOG_FLUSH_BYTES)
		alog_flush(wk);
	else if (!evtimer_pending(wk->alog_ev, NULL))
		evtimer_add(wk->alog_ev, &flush_tv);
}
