/*
 * session.c - the HTTP/2 front end on nghttp2.
 *
 * Reading: everything readable is fed to nghttp2 first; request heads
 * completed by that read are queued on s->pending and dispatched to the
 * upstream only after the whole read was processed.
 *
 * Flow control: request body bytes are given back to the client's window
 * (nghttp2_session_consume) only once they reached the upstream socket, and
 * the upstream is not read while a stream holds more than H2S_RESP_HIGH bytes
 * of response that the client has not taken, so memory stays bounded.
 *
 * Writing: frames are produced by nghttp2_session_mem_send() from the
 * deferred callback (never from inside an nghttp2 or upstream callback),
 * while the connection's output holds less than H2S_OUT_HIGH bytes.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "h2/mem.h"
#include "h2/session.h"
#include "proxy/accesslog.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/guard.h"
#include "proxy/limit.h"
#include "proxy/server.h"
#include "proxy/upstream.h"

#define H2S_OUT_HIGH	(64 * 1024)	/* stop producing frames above this */
#define H2S_OUT_LOW	(16 * 1024)	/* produce again below this */
#define H2S_RESP_HIGH	(256 * 1024)	/* a stream's response buffered at most */
#define H2S_RESP_MIN	(16 * 1024)	/* ... at least, however many streams */
#define H2S_CONN_RESP	(1024 * 1024)	/* shared by the streams of a connection */
#define H2S_WU_CREDIT_MAX 8192		/* WINDOW_UPDATEs earned, kept at most */
#define H2S_WU_DATA_MIN	1024		/* DATA smaller than this earns none */
#define H2S_PRIORITY_UPDATE 0x10	/* RFC 9218 frame type */
#define H2S_GAPS	4		/* skipped stream id ranges remembered */
#define H2S_BODY_LOW	(64 * 1024)	/* request body queued upstream: refill below */

#define ST_F_PENDING	0x01	/* in s->pending, head not dispatched yet */
#define ST_F_REQ_END	0x02	/* the client ended its request */
#define ST_F_SUBMITTED	0x04	/* response head submitted */
#define ST_F_RESP_END	0x08	/* no more response body will come */
#define ST_F_DEFERRED	0x10	/* our data source returned DEFERRED */
#define ST_F_PAUSED	0x20	/* we paused the upstream response */
#define ST_F_UPS_DONE	0x40	/* the upstream exchange is over */
#define ST_F_TOO_LARGE	0x80	/* header list over max_header_list_size */
#define ST_F_DISPATCHED	0x100	/* handed to the upstream */
#define ST_F_OUR_RST	0x200	/* h2guard reset it (not a client error) */
#define ST_F_BAD	0x400	/* malformed (canon_request()): answer 400 */
#define ST_F_REFUSE	0x800	/* over the heads a connection may hold */

/*
 * The request heads a connection's streams hold at once, decoded, at most:
 * HPACK lets 150 KB on the wire stand for 7.5 MB of fields (128 streams of
 * one 4 KB field referenced 15 times).  A stream whose head does not fit
 * is refused (REFUSED_STREAM: the client may send it again).
 */
#define H2S_HEADS_MAX(conf) ((conf)->max_header_list_size * 2 > (1u << 20) ? \
	(size_t)(conf)->max_header_list_size * 2 : (size_t)1 << 20)

/* The per-connection rate limits, indexed by their enum limit_id. */
#define H2S_NRATES	(LIM_INVALID_HEADER_RATE + 1)

struct h2s_stream {
	TAILQ_ENTRY(h2s_stream)	 link;		/* in s->streams */
	TAILQ_ENTRY(h2s_stream)	 plink;		/* in s->pending */
	struct h2s_session	*s;		/* borrowed: the session owns us */
	int32_t			 id;
	unsigned		 flags;		/* ST_F_* */
	struct http_req		 req;
	struct ups_req		*ureq;		/* owned */
	struct evbuffer		*req_body;	/* owned: body before dispatch */
	struct evbuffer		*resp_body;	/* owned: body for the client */
	struct hdrlist		*trailers;	/* borrowed from ureq */
	size_t			 unconsumed;	/* body bytes not given back */
	int			 status;	/* of the response submitted */
	uint64_t		 bytes_in;	/* request body bytes received */
	uint64_t		 bytes_out;	/* response body bytes sent */
	uint64_t		 start_us;	/* its head began */
	size_t			 head_bytes;	/* of its head, in s->heads_held */
};

enum h2s_timer {
	H2S_T_NONE,
	H2S_T_FIRST,	/* no request yet */
	H2S_T_IDLE,	/* no open stream */
	H2S_T_BODY,	/* waiting for request body bytes */
	H2S_T_HEADER,	/* a header block started, not finished */
	H2S_T_SEND,	/* output waits for the client to take it */
};

struct h2s_session {
	struct conn			*conn;		/* borrowed: the conn owns us */
	nghttp2_session			*ng;		/* owned */
	TAILQ_HEAD(, h2s_stream)	 streams;	/* owned */
	TAILQ_HEAD(, h2s_stream)	 pending;	/* borrowed */
	uint32_t			 nstreams;
	enum h2s_timer			 timer;
	int				 seen_request;
	int				 got_data;	/* DATA in this read */
	int32_t				 max_stream_id;	/* highest client stream seen */
	int				 our_goaway;	/* we asked nghttp2 for a GOAWAY */
	const char			*flood;		/* flood limit crossed, or NULL */
	struct rate			 rates[H2S_NRATES];
	struct h2m_account		 mem;		/* nghttp2's frame buffer */
	TAILQ_ENTRY(h2s_session)	 idle_link;	/* in h2s_idle */
	int				 idle_listed;
	uint64_t			 idle_since;	/* ms, while listed */
	uint32_t			 streams_total;	/* streams opened */
	size_t				 resp_buffered;	/* response bytes held, all streams */
	size_t				 heads_held;	/* request heads, decoded, all streams */
	/* The header block being received (HEADERS and its CONTINUATIONs). */
	int				 in_block;	/* not complete yet */
	int				 block_new;	/* one began in this read */
	int32_t				 block_stream;	/* its stream */
	uint32_t			 wu_credit;	/* WINDOW_UPDATEs earned by DATA */
	uint32_t			 block_frames;	/* CONTINUATIONs */
	uint32_t			 block_fields;
	uint64_t			 block_bytes;	/* coded bytes so far */
	uint64_t			 block_decoded;	/* name + value + 32 per field */
	const struct rule		*ban_rule;	/* borrowed: a request matched it */
	struct h2s_stream		*ban_stream;	/* borrowed: that request */
	/* Where the input stands: inside the preface, a frame's header or body. */
	uint32_t			 in_preface;	/* preface bytes still to come */
	uint32_t			 in_frame;	/* frame bytes still to come */
	uint8_t				 fh[3];		/* a frame header's length so far */
	uint8_t				 fh_have;
	/* Stream ids the client skipped: closed without ever being opened. */
	struct { int32_t lo, hi; }	 gaps[H2S_GAPS];
	unsigned			 ngaps;
};

static const struct ups_req_ops h2s_ups_ops;
static int h2s_ban(struct h2s_session *);

static struct h2s_stream *
h2s_stream_new(struct h2s_session *s, int32_t id)
{
	struct h2s_stream *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	if ((st->req_body = evbuffer_new()) == NULL ||
	    (st->resp_body = evbuffer_new()) == NULL) {
		if (st->req_body)
			evbuffer_free(st->req_body);
		free(st);
		return NULL;
	}
	st->s = s;
	st->id = id;
	st->req.content_length = -1;
	st->req.proto = PROTO_H2;
	st->start_us = guard_now_us();
	TAILQ_INSERT_TAIL(&s->streams, st, link);
	s->nstreams++;
	return st;
}

static void
h2s_stream_free(struct h2s_stream *st)
{
	struct h2s_session *s = st->s;

	if (st->req.method != NULL) {
		struct alog_rec rec = {
			.req = &st->req, .status = st->status,
			.bytes_in = st->bytes_in, .bytes_out = st->bytes_out,
			.upstream = st->ureq ? ups_req_upstream(st->ureq) : NULL,
			.start_us = st->start_us,
		};

		alog_request(s->conn, &rec);
	}
	if (st->flags & ST_F_PENDING)
		TAILQ_REMOVE(&s->pending, st, plink);
	TAILQ_REMOVE(&s->streams, st, link);
	s->nstreams--;
	s->resp_buffered -= evbuffer_get_length(st->resp_body);
	s->heads_held -= st->head_bytes;
	ups_req_free(st->ureq);
	http_req_clear(&st->req);
	evbuffer_free(st->req_body);
	evbuffer_free(st->resp_body);
	free(st);
}

/* h2s_rst() resets st for a reason of ours (upstream failure, timeout). */
static void
h2s_rst(struct h2s_stream *st, uint32_t error_code)
{
	st->flags |= ST_F_OUR_RST;
	nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id,
	    error_code);
}

/* ---- responses ------------------------------------------------------------ */

/*
 * h2s_resp_share() is how much response a stream may buffer before its
 * upstream is paused: its share of H2S_CONN_RESP, between H2S_RESP_MIN and
 * H2S_RESP_HIGH.  A stream is resumed once below half its share, whatever
 * the others hold, so one stream the client does not read never holds back
 * another.  Memory per connection stays below about
 * max(H2S_CONN_RESP, streams * H2S_RESP_MIN).
 */
static size_t
h2s_resp_share(const struct h2s_session *s)
{
	size_t share = H2S_CONN_RESP / (s->nstreams ? s->nstreams : 1);

	return share < H2S_RESP_MIN ? H2S_RESP_MIN :
	    share > H2S_RESP_HIGH ? H2S_RESP_HIGH : share;
}

/* h2s_resp_add() queues response body bytes for the client. */
static int
h2s_resp_add(struct h2s_stream *st, const void *data, size_t len)
{
	struct h2s_session *s = st->s;

	if (evbuffer_add(st->resp_body, data, len) < 0)
		return -1;
	s->resp_buffered += len;
	if (!(st->flags & (ST_F_PAUSED | ST_F_UPS_DONE)) && st->ureq != NULL &&
	    evbuffer_get_length(st->resp_body) > h2s_resp_share(s)) {
		st->flags |= ST_F_PAUSED;
		ups_req_pause(st->ureq, 1);
	}
	return 0;
}

static ssize_t
h2s_data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct h2s_stream	*st = source->ptr;
	int			 n;

	struct h2s_session	*s = st->s;

	n = evbuffer_remove(st->resp_body, buf, len);
	if (n < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	st->bytes_out += (uint64_t)n;
	s->resp_buffered -= (size_t)n;
	if ((st->flags & ST_F_PAUSED) &&
	    evbuffer_get_length(st->resp_body) < h2s_resp_share(s) / 2) {
		st->flags &= ~ST_F_PAUSED;
		ups_req_pause(st->ureq, 0);
	}
	if (evbuffer_get_length(st->resp_body) == 0 &&
	    (st->flags & ST_F_RESP_END)) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		if (st->trailers != NULL && st->trailers->n > 0) {
			nghttp2_nv	*nva;
			uint32_t	 i;

			nva = calloc(st->trailers->n, sizeof(*nva));
			if (nva == NULL)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			for (i = 0; i < st->trailers->n; i++) {
				struct hdr *h = &st->trailers->v[i];

				nva[i] = (nghttp2_nv){ (uint8_t *)h->name,
				    (uint8_t *)h->value, h->nlen, h->vlen,
				    NGHTTP2_NV_FLAG_NONE };
			}
			if (nghttp2_submit_trailer(ng, id, nva,
			    st->trailers->n) == 0)
				*data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			free(nva);
		}
		return n;
	}
	if (n == 0) {
		st->flags |= ST_F_DEFERRED;
		return NGHTTP2_ERR_DEFERRED;
	}
	return n;
}

/* h2s_wake() resumes a stream waiting for data and schedules a flush. */
static void
h2s_wake(struct h2s_stream *st)
{
	if (st->flags & ST_F_DEFERRED) {
		st->flags &= ~ST_F_DEFERRED;
		nghttp2_session_resume_data(st->s->ng, st->id);
	}
	conn_schedule(st->s->conn);
}

/*
 * h2s_submit() submits the response head (status, fields) and, when
 * has_body, a data source reading st->resp_body.
 */
static int
h2s_submit(struct h2s_stream *st, int status, const struct hdrlist *fields,
    int64_t content_length, int has_body)
{
	static uint8_t		 status_name[] = ":status";
	static uint8_t		 cl_name[] = "content-length";
	nghttp2_data_provider	 prd = { .source.ptr = st, .read_callback = h2s_data_read };
	nghttp2_nv		*nva;
	char			 sbuf[4], clbuf[24];
	size_t			 n = 0, i, nfields = fields ? fields->n : 0;
	int			 rc;

	if ((nva = calloc(nfields + 2, sizeof(*nva))) == NULL)
		return -ENOMEM;
	snprintf(sbuf, sizeof(sbuf), "%03d", status);
	nva[n++] = (nghttp2_nv){ status_name, (uint8_t *)sbuf, 7, 3,
	    NGHTTP2_NV_FLAG_NONE };
	if (content_length >= 0) {
		int l = snprintf(clbuf, sizeof(clbuf), "%lld",
		    (long long)content_length);

		nva[n++] = (nghttp2_nv){ cl_name,
		    (uint8_t *)clbuf, 14, (size_t)l, NGHTTP2_NV_FLAG_NONE };
	}
	for (i = 0; i < nfields; i++) {
		const struct hdr *h = &fields->v[i];

		nva[n++] = (nghttp2_nv){ (uint8_t *)h->name, (uint8_t *)h->value,
		    h->nlen, h->vlen, NGHTTP2_NV_FLAG_NONE };
	}
	rc = nghttp2_submit_response(st->s->ng, st->id, nva, n,
	    has_body ? &prd : NULL);
	free(nva);
	if (rc != 0)
		return -1;
	st->flags |= ST_F_SUBMITTED;
	st->status = status;
	return 0;
}

/*
 * h2s_release_body() gives back the window of request body bytes nobody
 * will read any more (the exchange ended or was answered here), so that
 * the client is not left blocked on a full window.
 */
static void
h2s_release_body(struct h2s_stream *st)
{
	evbuffer_drain(st->req_body, evbuffer_get_length(st->req_body));
	if (st->unconsumed > 0) {
		nghttp2_session_consume(st->s->ng, st->id, st->unconsumed);
		st->unconsumed = 0;
	}
}

/* h2s_reply_error() answers st with a short text response. */
static void
h2s_reply_error(struct h2s_stream *st, int status)
{
	char	 text[64];
	int	 len = snprintf(text, sizeof(text), "%d %s\n", status,
		    http_reason(status));

	h2s_release_body(st);
	st->s->resp_buffered -= evbuffer_get_length(st->resp_body);
	evbuffer_drain(st->resp_body, evbuffer_get_length(st->resp_body));
	h2s_resp_add(st, text, (size_t)len);
	st->flags |= ST_F_RESP_END | ST_F_UPS_DONE;
	if (h2s_submit(st, status, NULL, len,
	    strcmp(st->req.method ? st->req.method : "", "HEAD") != 0) < 0)
		h2s_rst(st, NGHTTP2_INTERNAL_ERROR);
	conn_schedule(st->s->conn);
}

/* ---- upstream callbacks ------------------------------------------------- */

static void
h2s_ups_head(void *arg, struct ups_resp *r)
{
	struct h2s_stream	*st = arg;
	int			 has_body = r->has_body;

	if (h2s_submit(st, r->status, &r->headers, r->content_length,
	    has_body) < 0) {
		h2s_rst(st, NGHTTP2_INTERNAL_ERROR);
	}
	if (!has_body)
		st->flags |= ST_F_RESP_END;
	conn_schedule(st->s->conn);
}

static void
h2s_ups_body(void *arg, const uint8_t *data, size_t len)
{
	struct h2s_stream *st = arg;

	if (!(st->flags & ST_F_SUBMITTED) || (st->flags & ST_F_RESP_END))
		return;
	h2s_resp_add(st, data, len);
	h2s_wake(st);
}

static void
h2s_ups_end(void *arg, struct hdrlist *trailers)
{
	struct h2s_stream *st = arg;

	h2s_release_body(st);
	st->flags |= ST_F_RESP_END | ST_F_UPS_DONE;
	st->trailers = trailers;
	h2s_wake(st);
}

static void
h2s_ups_error(void *arg, int status)
{
	struct h2s_stream *st = arg;

	h2s_release_body(st);
	st->flags |= ST_F_UPS_DONE;
	if (status != 0 && !(st->flags & ST_F_SUBMITTED)) {
		h2s_reply_error(st, status);
		return;
	}
	/* The response was cut short: the client must not take it as whole. */
	h2s_rst(st, NGHTTP2_INTERNAL_ERROR);
	conn_schedule(st->s->conn);
}

static void
h2s_ups_body_sent(void *arg, size_t n)
{
	struct h2s_stream *st = arg;

	/*
	 * Give the window back once the upstream took most of what we queued
	 * for it: what waits for the upstream stays below H2S_BODY_LOW plus
	 * one window (and its chunk framing).
	 */
	if (st->unconsumed == 0 || ups_req_buffered(st->ureq) > H2S_BODY_LOW)
		return;
	nghttp2_session_consume(st->s->ng, st->id, st->unconsumed);
	st->unconsumed = 0;
	conn_schedule(st->s->conn);
}

static size_t
h2s_ups_room(void *arg)
{
	struct h2s_stream	*st = arg;
	size_t			 share = h2s_resp_share(st->s);
	size_t			 have = evbuffer_get_length(st->resp_body);

	return have < share ? share - have : 0;
}

static size_t
h2s_ups_held(void *arg)
{
	struct h2s_stream *st = arg;

	return evbuffer_get_length(st->resp_body);
}

static const struct ups_req_ops h2s_ups_ops = {
	.on_head = h2s_ups_head,
	.on_body = h2s_ups_body,
	.on_end = h2s_ups_end,
	.on_error = h2s_ups_error,
	.on_body_sent = h2s_ups_body_sent,
	.room = h2s_ups_room,
	.held = h2s_ups_held,
};

/* ---- dispatch --------------------------------------------------------------- */

static void
h2s_dispatch(struct h2s_stream *st)
{
	struct http_req		*r = &st->req;
	struct h2s_session	*s = st->s;
	size_t			 len;

	st->flags |= ST_F_DISPATCHED;
	if (st->flags & ST_F_TOO_LARGE) {
		h2s_reply_error(st, 431);
		return;
	}
	if (st->flags & ST_F_BAD) {
		h2s_reply_error(st, 400);
		return;
	}
	/* CONNECT (no :path, :scheme) is not something we forward. */
	if (r->path == NULL || r->scheme == NULL) {
		h2s_reply_error(st, 405);
		return;
	}
	r->has_body = !(st->flags & ST_F_REQ_END) ||
	    evbuffer_get_length(st->req_body) > 0;
	st->ureq = ups_req_new(s->conn->wg->ups, r,
	    (const struct sockaddr *)&s->conn->peer, s->conn->addr_str,
	    &h2s_ups_ops, st);
	if (st->ureq == NULL) {
		h2s_reply_error(st, 502);
		return;
	}
	while ((len = evbuffer_get_length(st->req_body)) > 0) {
		struct evbuffer_iovec v;

		evbuffer_peek(st->req_body, -1, NULL, &v, 1);
		ups_req_body(st->ureq, v.iov_base, v.iov_len);
		evbuffer_drain(st->req_body, v.iov_len);
	}
	if (st->flags & ST_F_REQ_END)
		ups_req_body_end(st->ureq);
}

static void
h2s_dispatch_pending(struct h2s_session *s)
{
	struct h2s_stream *st;

	while ((st = TAILQ_FIRST(&s->pending)) != NULL) {
		TAILQ_REMOVE(&s->pending, st, plink);
		st->flags &= ~ST_F_PENDING;
		h2s_dispatch(st);
	}
}

/* ---- flood limits --------------------------------------------------------- */

/*
 * h2s_rate() counts n events against the connection's rate limit id.
 * Returns 0, or -1 when the limit is crossed: s->flood names it, and the
 * caller makes nghttp2 stop at once.
 */
static int
h2s_rate(struct h2s_session *s, enum limit_id id, uint32_t n)
{
	if (!rate_add(&s->rates[id], &s->conn->conf->limits[id], guard_now_ms(), n))
		return 0;
	s->flood = limit_name(id);
	return -1;
}

/* h2s_over() checks value against the count or size limit id, likewise. */
static int
h2s_over(struct h2s_session *s, enum limit_id id, uint64_t value)
{
	if (!limit_over(&s->conn->conf->limits[id], value))
		return 0;
	s->flood = limit_name(id);
	return -1;
}

/*
 * h2s_count_frame() applies the frame-level limits to a frame header as it
 * arrives, before nghttp2 acts on the frame.  Returns 0 or -1 (flood).
 */
static int
h2s_count_frame(struct h2s_session *s, const nghttp2_frame_hd *hd)
{
	/* Any other frame after a header block: that block is over. */
	if (hd->type != NGHTTP2_CONTINUATION)
		s->in_block = 0;
	switch (hd->type) {
	case NGHTTP2_DATA:
		if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM))
			return h2s_rate(s, LIM_EMPTY_FRAME_RATE, 1);
		return 0;
	case NGHTTP2_HEADERS:
		/*
		 * Open until nghttp2 has the whole block, even a single
		 * HEADERS frame whose payload trickles in (header_timeout).
		 */
		s->in_block = 1;
		s->block_new = 1;
		s->block_stream = hd->stream_id;
		s->block_frames = 0;
		s->block_fields = 0;
		s->block_bytes = hd->length;
		s->block_decoded = 0;
		if (hd->length == 0)
			return h2s_rate(s, LIM_EMPTY_FRAME_RATE, 1);
		return h2s_over(s, LIM_HEADER_BYTES, s->block_bytes);
	case NGHTTP2_CONTINUATION:
		s->block_bytes += hd->length;
		if (h2s_over(s, LIM_CONTINUATIONS, ++s->block_frames) < 0 ||
		    h2s_over(s, LIM_HEADER_BYTES, s->block_bytes) < 0)
			return -1;
		if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_HEADERS))
			return h2s_rate(s, LIM_EMPTY_FRAME_RATE, 1);
		return 0;
	case NGHTTP2_PRIORITY:
		return h2s_rate(s, LIM_PRIORITY_RATE, 1);
	case NGHTTP2_RST_STREAM:
		return h2s_rate(s, LIM_RST_RATE, 1);
	case NGHTTP2_SETTINGS:
		return h2s_rate(s, LIM_SETTINGS_RATE, 1);
	case NGHTTP2_PING:
		return h2s_rate(s, LIM_PING_RATE, 1);
	case NGHTTP2_WINDOW_UPDATE:
		if (s->wu_credit > 0) {
			s->wu_credit--;	/* earned by a DATA frame we sent */
			return 0;
		}
		return h2s_rate(s, LIM_WINDOW_UPDATE_RATE, 1);
	case NGHTTP2_GOAWAY:
		return 0;
	case H2S_PRIORITY_UPDATE:
		return h2s_rate(s, LIM_PRIORITY_RATE, 1);
	default:
		/* Unknown extension frames: ignored, so no more than empty. */
		return h2s_rate(s, LIM_EMPTY_FRAME_RATE, 1);
	}
}

/* h2s_count_field() applies the header block limits to one more field. */
static int
h2s_count_field(struct h2s_session *s, size_t nlen, size_t vlen)
{
	s->block_decoded += nlen + vlen + 32;
	if (h2s_over(s, LIM_HEADER_FIELDS, ++s->block_fields) < 0 ||
	    h2s_over(s, LIM_HEADER_BYTES, s->block_decoded) < 0)
		return -1;
	return 0;
}

/* h2s_count_stream() applies the limits on new streams.  0 or -1. */
static int
h2s_count_stream(struct h2s_session *s)
{
	if (h2s_over(s, LIM_STREAMS, ++s->streams_total) < 0 ||
	    h2s_rate(s, LIM_STREAM_RATE, 1) < 0)
		return -1;
	if ((s->flood = guard_stream(s->conn)) != NULL)
		return -1;
	return 0;
}

/* ---- nghttp2 callbacks ------------------------------------------------------ */

/*
 * nghttp2 ignores a HEADERS frame on a lower stream id than the last one, as
 * it cannot tell a stream it never saw from one it forgot.  We can for ids
 * the client skipped (RFC 9113 5.1.1: implicitly closed): that is a
 * connection error.  Only a few gap ranges are kept; a client that opens
 * streams in order has none.
 */
static int
h2s_on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd,
    void *user_data)
{
	struct h2s_session	*s = user_data;
	int32_t			 id = hd->stream_id;
	unsigned		 i;

	if (h2s_count_frame(s, hd) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->conn->batch_frames++;
	if (hd->type != NGHTTP2_HEADERS || id <= 0 || (id & 1) == 0)
		return 0;
	/*
	 * HEADERS on a closed stream nghttp2 has forgotten is ignored, yet
	 * decoded: a client error like those that make us reset a stream.
	 */
	if (id <= s->max_stream_id &&
	    nghttp2_session_get_stream_user_data(ng, id) == NULL &&
	    h2s_rate(s, LIM_STREAM_ERROR_RATE, 1) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (id > s->max_stream_id) {
		if (id > s->max_stream_id + 2) {
			if (s->ngaps == H2S_GAPS)
				memmove(&s->gaps[0], &s->gaps[1],
				    sizeof(s->gaps[0]) * --s->ngaps);
			s->gaps[s->ngaps].lo = s->max_stream_id + 2;
			s->gaps[s->ngaps++].hi = id - 2;
		}
		s->max_stream_id = id;
		return 0;
	}
	for (i = 0; i < s->ngaps; i++)
		if (id >= s->gaps[i].lo && id <= s->gaps[i].hi) {
			s->our_goaway = 1;
			nghttp2_session_terminate_session(ng,
			    NGHTTP2_PROTOCOL_ERROR);
			break;
		}
	return 0;
}

static int
h2s_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
    void *user_data)
{
	struct h2s_session	*s = user_data;
	struct h2s_stream	*st;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (h2s_count_stream(s) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if ((st = h2s_stream_new(s, frame->hd.stream_id)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
	return 0;
}

static int
h2s_set_pseudo(char **field, const uint8_t *value, size_t vlen)
{
	if (*field != NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if ((*field = strndup((const char *)value, vlen)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static int
h2s_on_header(nghttp2_session *ng, const nghttp2_frame *frame,
    const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
    uint8_t flags, void *user_data)
{
	struct h2s_session	*s = user_data;
	struct h2s_stream	*st;
	struct http_req		*r;

	/* Trailers count too: a header block is a header block. */
	if (h2s_count_field(s, nlen, vlen) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;	/* request trailers are dropped */
	st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	r = &st->req;
	if (r->headers.bytes + nlen + vlen + 32 > s->conn->conf->max_header_list_size)
		st->flags |= ST_F_TOO_LARGE;
	if (s->heads_held + nlen + vlen + 32 > H2S_HEADS_MAX(s->conn->conf))
		st->flags |= ST_F_REFUSE;
	if (st->flags & (ST_F_TOO_LARGE | ST_F_REFUSE))
		return 0;
	st->head_bytes += nlen + vlen + 32;
	s->heads_held += nlen + vlen + 32;
	if (nlen > 0 && name[0] == ':') {
		if (nlen == 7 && memcmp(name, ":method", 7) == 0)
			return h2s_set_pseudo(&r->method, value, vlen);
		if (nlen == 5 && memcmp(name, ":path", 5) == 0)
			return h2s_set_pseudo(&r->path, value, vlen);
		if (nlen == 7 && memcmp(name, ":scheme", 7) == 0)
			return h2s_set_pseudo(&r->scheme, value, vlen);
		if (nlen == 10 && memcmp(name, ":authority", 10) == 0)
			return h2s_set_pseudo(&r->authority, value, vlen);
		return 0;
	}
	if (nlen == 14 && memcmp(name, "content-length", 14) == 0) {
		char buf[24];

		/* nghttp2 checked it is a number. */
		snprintf(buf, sizeof(buf), "%.*s", (int)vlen, value);
		r->content_length = strtoll(buf, NULL, 10);
	}
	if (hdrlist_add(&r->headers, (const char *)name, nlen,
	    (const char *)value, vlen, 0) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static int
h2s_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
    void *user_data)
{
	struct h2s_session	*s = user_data;
	struct h2s_stream	*st;

	/* Padding only: empty all the same (a bare empty one was counted). */
	if (frame->hd.type == NGHTTP2_DATA && frame->hd.length > 0 &&
	    frame->hd.length == frame->data.padlen &&
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    h2s_rate(s, LIM_EMPTY_FRAME_RATE, 1) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (frame->hd.type == NGHTTP2_HEADERS)
		s->in_block = 0;	/* nghttp2 has the whole block */
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS &&
	    frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
		struct http_req *r = &st->req;
		int		 rc = 0;

		s->seen_request = 1;
		if (st->flags & ST_F_REFUSE) {
			/* Never judged: nothing of it was kept, nothing is sent. */
			h2s_rst(st, NGHTTP2_REFUSED_STREAM);
			return 0;
		}
		/* CONNECT (no :path, no :scheme) is answered 405 at dispatch. */
		if (r->method != NULL && strcmp(r->method, "CONNECT") != 0)
			rc = guard_canon(s->conn, r, 0);
		if (rc == -ENOMEM)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		if (rc == -EPROTO && !(st->flags & ST_F_TOO_LARGE)) {
			/*
			 * Malformed (RFC 9113 8.1.1): a stream error, which
			 * counts against stream_error_rate when sent.
			 */
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id,
			    NGHTTP2_PROTOCOL_ERROR);
			return 0;
		}
		if (rc < 0) {
			/* Answered 400 (431), unjudged: nothing is forwarded. */
			st->flags |= ST_F_BAD;
			if (!(st->flags & ST_F_TOO_LARGE) &&
			    h2s_rate(s, LIM_STREAM_ERROR_RATE, 1) < 0)
				return NGHTTP2_ERR_CALLBACK_FAILURE;
			st->flags |= ST_F_PENDING;
			TAILQ_INSERT_TAIL(&s->pending, st, plink);
			goto out_end;
		}
		/*
		 * A ban stops the whole read here: nothing queued so far is
		 * dispatched and nothing after it is even parsed.
		 */
		if ((s->ban_rule = guard_request(s->conn, r, st->id)) != NULL) {
			s->ban_stream = st;
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		if (r->ambiguous) {
			/* Judged, not banned, never forwarded: see canon_path(). */
			st->flags |= ST_F_BAD;
			if (h2s_rate(s, LIM_STREAM_ERROR_RATE, 1) < 0)
				return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		st->flags |= ST_F_PENDING;
		TAILQ_INSERT_TAIL(&s->pending, st, plink);
	}
out_end:
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		st->flags |= ST_F_REQ_END;
		if (st->ureq != NULL)
			ups_req_body_end(st->ureq);
	}
	return 0;
}

static int
h2s_on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *user_data)
{
	struct h2s_session	*s = user_data;
	struct h2s_stream	*st;

	s->got_data = 1;
	st = nghttp2_session_get_stream_user_data(ng, id);
	if (st != NULL)
		st->bytes_in += len;
	if (st == NULL || (st->flags & ST_F_UPS_DONE) ||
	    ((st->flags & ST_F_DISPATCHED) && st->ureq == NULL)) {
		/* Nobody wants these bytes any more: free the window now. */
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	st->unconsumed += len;
	if (st->ureq != NULL) {
		if (ups_req_body(st->ureq, data, len) < 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	} else if (evbuffer_add(st->req_body, data, len) < 0) {
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static int
h2s_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code,
    void *user_data)
{
	struct h2s_session	*s = user_data;
	struct h2s_stream	*st = nghttp2_session_get_stream_user_data(ng, id);
	int			 cancelled;

	if (id == s->block_stream)
		s->in_block = 0;
	if (st == NULL)
		return 0;
	/*
	 * Closed before its response began: reset by the client (whatever
	 * the code, NO_ERROR too) or for its error; our own resets aside.
	 */
	cancelled = !(st->flags & (ST_F_SUBMITTED | ST_F_OUR_RST));
	/* Give back the connection window its unsent body still holds. */
	if (st->unconsumed > 0)
		nghttp2_session_consume_connection(ng, st->unconsumed);
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	h2s_stream_free(st);
	if (cancelled && h2s_rate(s, LIM_CANCEL_RATE, 1) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/*
 * nghttp2 ignores invalid header fields (a zero-length name, say) and
 * tells us here: each counts against invalid_header_rate.
 */
static int
h2s_on_invalid_header(nghttp2_session *ng, const nghttp2_frame *frame,
    const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
    uint8_t flags, void *user_data)
{
	struct h2s_session *s = user_data;

	if (h2s_count_field(s, nlen, vlen) < 0 ||
	    h2s_rate(s, LIM_INVALID_HEADER_RATE, 1) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/*
 * A DATA frame sent is the client taking response bytes (send_timeout),
 * and earns it two WINDOW_UPDATEs (stream and connection) that do not
 * count against window_update_rate, unless it is tiny: a client that
 * keeps windows of a few bytes (data dribble) earns none.
 */
static int
h2s_on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame,
    void *user_data)
{
	struct h2s_session *s = user_data;

	if (frame->hd.type != NGHTTP2_DATA)
		return 0;
	conn_progress(s->conn, frame->hd.length);
	if ((frame->hd.length >= H2S_WU_DATA_MIN ||
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) &&
	    s->wu_credit < H2S_WU_CREDIT_MAX)
		s->wu_credit += 2;
	return 0;
}

/*
 * A RST_STREAM that nghttp2 sends on its own answers a client error (an
 * invalid frame, a stream over the limit): streams the client makes us
 * reset count against stream_error_rate (MadeYouReset, CVE-2025-8671).
 *
 * nghttp2 answers the floods it detects itself (its RST_STREAM rate limit,
 * CVE-2023-44487) with a GOAWAY of its own.  Abuse gets silence here: the
 * frame is cancelled and the connection torn down like any other ban.  The
 * GOAWAYs h2guard asks for (idle timeout, protocol errors) pass.
 */
static int
h2s_before_frame_send(nghttp2_session *ng, const nghttp2_frame *frame,
    void *user_data)
{
	struct h2s_session	*s = user_data;
	struct h2s_stream	*st;

	if (frame->hd.type == NGHTTP2_RST_STREAM) {
		if (frame->hd.stream_id == s->block_stream)
			s->in_block = 0;	/* refused: its block is dropped */
		st = nghttp2_session_get_stream_user_data(ng,
		    frame->hd.stream_id);
		if ((st == NULL || !(st->flags & ST_F_OUR_RST)) &&
		    h2s_rate(s, LIM_STREAM_ERROR_RATE, 1) < 0)
			return NGHTTP2_ERR_CANCEL;
		return 0;
	}
	if (frame->hd.type != NGHTTP2_GOAWAY || s->our_goaway ||
	    (frame->goaway.error_code != NGHTTP2_INTERNAL_ERROR &&
	    frame->goaway.error_code != NGHTTP2_ENHANCE_YOUR_CALM))
		return 0;
	s->flood = "nghttp2_rapid_reset";
	return NGHTTP2_ERR_CANCEL;
}

/*
 * Extension frames: nghttp2 skips the types nobody asked for without a
 * callback, so every type past the standard ones is registered, to be
 * counted in on_begin_frame, and then dropped here.
 */
static int
h2s_on_extension_chunk(nghttp2_session *ng, const nghttp2_frame_hd *hd,
    const uint8_t *data, size_t len, void *user_data)
{
	return NGHTTP2_ERR_CANCEL;
}

static int
h2s_unpack_extension(nghttp2_session *ng, void **payload,
    const nghttp2_frame_hd *hd, void *user_data)
{
	return NGHTTP2_ERR_CANCEL;
}

/* ---- the session ---------------------------------------------------------- */

/*
 * The callbacks and options are the same for every session: made once per
 * thread (nghttp2 copies them into each session).
 */
static __thread nghttp2_session_callbacks	*h2s_cbs;
static __thread nghttp2_option			*h2s_opt;

/*
 * Sessions with no open stream, oldest first.  Those idle for
 * H2S_TRIM_AFTER_MS give the pages of their frame buffer back (h2/mem.h).
 * Not at once: a madvise() and the page faults of the next response would
 * cost every request of a busy keep-alive connection (trimming at once made
 * h2load -c 1000 -m 1 spend 1.5 times the CPU per request).
 */
#define H2S_TRIM_AFTER_MS	1000
static __thread TAILQ_HEAD(h2s_idle_head, h2s_session)	 h2s_idle;
static __thread struct event				*h2s_trim_ev;

static int
h2s_thread_init(void)
{
	nghttp2_session_callbacks	*cbs;
	nghttp2_option			*opt;
	int				 i;

	if (h2s_cbs != NULL)
		return 0;
	TAILQ_INIT(&h2s_idle);
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -1;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return -1;
	}
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, h2s_on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2s_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, h2s_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2s_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2s_on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2s_on_stream_close);
	nghttp2_session_callbacks_set_before_frame_send_callback(cbs, h2s_before_frame_send);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, h2s_on_frame_send);
	nghttp2_session_callbacks_set_on_invalid_header_callback(cbs, h2s_on_invalid_header);
	nghttp2_session_callbacks_set_on_extension_chunk_recv_callback(cbs, h2s_on_extension_chunk);
	nghttp2_session_callbacks_set_unpack_extension_callback(cbs, h2s_unpack_extension);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	for (i = NGHTTP2_CONTINUATION + 1; i <= 0xff; i++)
		nghttp2_option_set_user_recv_extension_type(opt, (uint8_t)i);
	h2s_cbs = cbs;
	h2s_opt = opt;
	return 0;
}

void
h2s_thread_free(void)
{
	nghttp2_session_callbacks_del(h2s_cbs);
	nghttp2_option_del(h2s_opt);
	if (h2s_trim_ev != NULL)
		event_free(h2s_trim_ev);
	h2s_cbs = NULL;
	h2s_opt = NULL;
	h2s_trim_ev = NULL;
	h2m_thread_free();
}

static void
h2s_trim_arm(void)
{
	struct h2s_session	*s = TAILQ_FIRST(&h2s_idle);
	uint64_t		 now = guard_now_ms(), due;
	struct timeval		 tv;

	if (s == NULL || evtimer_pending(h2s_trim_ev, NULL))
		return;
	due = s->idle_since + H2S_TRIM_AFTER_MS;
	due = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(due / 1000);
	tv.tv_usec = (suseconds_t)(due % 1000) * 1000;
	evtimer_add(h2s_trim_ev, &tv);
}

static void h2s_idle_enter(struct h2s_session *);

/* h2s_trim_cb() trims the sessions idle for long enough. */
static void
h2s_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2s_session	*s;
	uint64_t		 now = guard_now_ms();

	(void)fd;
	(void)what;
	(void)arg;
	/* Re-listed sessions are idle since now, or later: the loop ends. */
	while ((s = TAILQ_FIRST(&h2s_idle)) != NULL &&
	    s->idle_since + H2S_TRIM_AFTER_MS <= now) {
		TAILQ_REMOVE(&h2s_idle, s, idle_link);
		s->idle_listed = 0;
		if (!nghttp2_session_want_write(s->ng))
			h2m_trim(&s->mem);
		else	/* a frame waits for the client (a PING ACK...): later */
			h2s_idle_enter(s);
	}
	h2s_trim_arm();
}

/* h2s_idle_enter() lists s as idle from now; a no-op when it is listed. */
static void
h2s_idle_enter(struct h2s_session *s)
{
	if (s->idle_listed || s->mem.slot == NULL)
		return;
	if (h2s_trim_ev == NULL && (h2s_trim_ev = evtimer_new(
	    bufferevent_get_base(s->conn->bev), h2s_trim_cb, NULL)) == NULL)
		return;		/* not trimmed: only memory */
	s->idle_since = guard_now_ms();
	s->idle_listed = 1;
	TAILQ_INSERT_TAIL(&h2s_idle, s, idle_link);
	h2s_trim_arm();
}

static void
h2s_idle_leave(struct h2s_session *s)
{
	if (!s->idle_listed)
		return;
	TAILQ_REMOVE(&h2s_idle, s, idle_link);
	s->idle_listed = 0;
}

struct h2s_session *
h2s_new(struct conn *c)
{
	struct h2s_session		*s;
	const struct conf		*conf = c->conf;
	nghttp2_settings_entry		 iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, conf->max_concurrent_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, conf->h2_stream_window },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, conf->max_header_list_size },
	};
	nghttp2_mem			 mem;

	if (h2s_thread_init() < 0 || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->conn = c;
	TAILQ_INIT(&s->streams);
	TAILQ_INIT(&s->pending);
	s->in_preface = 24;	/* RFC 9113 3.4: nghttp2 reads it itself */
	h2m_init(&mem, &s->mem);
	if (nghttp2_session_server_new3(&s->ng, h2s_cbs, s, h2s_opt, &mem) != 0)
		goto out_free;
	h2m_disarm(&s->mem);
	if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
	    (int32_t)conf->h2_connection_window) != 0)
		goto out_free_ng;
	bufferevent_setwatermark(c->bev, EV_WRITE, H2S_OUT_LOW, 0);
	s->timer = H2S_T_FIRST;
	return s;

out_free_ng:
	nghttp2_session_del(s->ng);
out_free:
	free(s);
	return NULL;
}

void
h2s_free(struct h2s_session *s)
{
	if (s == NULL)
		return;
	h2s_idle_leave(s);
	/* Streams first: nghttp2_session_del() calls no stream close callback. */
	while (!TAILQ_EMPTY(&s->streams))
		h2s_stream_free(TAILQ_FIRST(&s->streams));
	nghttp2_session_del(s->ng);
	free(s);
}

/* h2s_flush() writes what nghttp2 has to send.  Returns 0 or -1 (close). */
static int
h2s_flush(struct h2s_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->conn->bev);

	while (evbuffer_get_length(out) < H2S_OUT_HIGH) {
		const uint8_t	*data;
		ssize_t		 n = nghttp2_session_mem_send(s->ng, &data);

		if (s->flood != NULL)
			return h2s_ban(s);	/* the bytes of this call are dropped too */
		if (n < 0) {
			conn_log(s->conn, LOG_INFO, "HTTP/2 send: %s",
			    nghttp2_strerror((int)n));
			return -1;
		}
		if (n == 0)
			break;
		if (evbuffer_add(out, data, (size_t)n) < 0)
			return -1;
	}
	if (!nghttp2_session_want_read(s->ng) &&
	    !nghttp2_session_want_write(s->ng) && evbuffer_get_length(out) == 0)
		return -1;
	return 0;
}

/*
 * h2s_update_timer() arms the one client timeout for what the connection
 * waits on, in this order: the client taking our output (send_timeout: slow
 * read, zero window; see conn.h), the end of a header block or of a batch
 * (header_timeout from its start: slowloris; a batch comes first, as
 * nothing is written while it is held), request body bytes
 * (body_read_timeout from the last DATA), a request (first request or
 * keep-alive).  Waiting on the
 * upstream has its own timeouts.
 */
static void
h2s_update_timer(struct h2s_session *s)
{
	const struct conf	*conf = s->conn->conf;
	struct evbuffer		*out = bufferevent_get_output(s->conn->bev);
	struct h2s_stream	*st;
	enum h2s_timer		 t = H2S_T_NONE;
	int			 rearm = 0;

	if (s->conn->batch_held) {
		/* A batch waits for the rest of it like a header block. */
		t = H2S_T_HEADER;
		rearm = s->block_new;
	} else if (s->resp_buffered > 0 ||
	    evbuffer_get_length(out) >= H2S_OUT_LOW) {
		t = H2S_T_SEND;
	} else if (s->in_block) {
		t = H2S_T_HEADER;
		rearm = s->block_new;
	} else if (s->nstreams == 0) {
		t = s->seen_request ? H2S_T_IDLE : H2S_T_FIRST;
	} else {
		TAILQ_FOREACH(st, &s->streams, link)
			if (!(st->flags & ST_F_REQ_END)) {
				t = H2S_T_BODY;
				rearm = s->got_data;
				break;
			}
	}
	s->got_data = 0;
	s->block_new = 0;
	if (t == s->timer && !rearm)
		return;
	if (s->timer == H2S_T_SEND)
		conn_send_done(s->conn);
	s->timer = t;
	if (t == H2S_T_IDLE || t == H2S_T_FIRST)
		h2s_idle_enter(s);
	else
		h2s_idle_leave(s);
	switch (t) {
	case H2S_T_NONE:
		conn_set_timeout(s->conn, 0);
		break;
	case H2S_T_FIRST:
		conn_set_timeout(s->conn, conf->first_request_timeout);
		break;
	case H2S_T_IDLE:
		conn_set_timeout(s->conn, conf->keepalive_timeout);
		break;
	case H2S_T_BODY:
		conn_set_timeout(s->conn, conf->body_read_timeout);
		break;
	case H2S_T_HEADER:
		conn_set_timeout(s->conn, conf->header_timeout);
		break;
	case H2S_T_SEND:
		conn_send_wait(s->conn);
		break;
	}
}

/*
 * h2s_ban() tears the session down after a ban: no stream is dispatched,
 * upstream requests in flight are cancelled (by h2s_free), nothing is sent.
 * Returns -1: close now.
 */
static int
h2s_ban(struct h2s_session *s)
{
	struct h2s_stream	*st;
	unsigned		 cancelled = 0;

	TAILQ_FOREACH(st, &s->streams, link)
		if (st->ureq != NULL && ups_req_in_flight(st->ureq))
			cancelled++;
	if (s->ban_rule != NULL)
		guard_ban(s->conn, s->ban_rule, &s->ban_stream->req,
		    s->ban_stream->id, s->nstreams - 1, cancelled);
	else
		guard_flood(s->conn, PROTO_H2, s->flood, s->nstreams, cancelled);
	return -1;
}

/*
 * h2s_follow() follows the frame boundaries in n input bytes at p: a batch
 * whose input ends inside a frame is not whole yet, whatever the socket
 * holds (the rest of that write is on its way).
 */
static void
h2s_follow(struct h2s_session *s, const uint8_t *p, size_t n)
{
	size_t k;

	while (n > 0) {
		if (s->in_preface > 0 || s->in_frame > 0) {
			uint32_t *left = s->in_preface > 0 ? &s->in_preface :
			    &s->in_frame;

			k = n < *left ? n : *left;
			*left -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		s->fh[s->fh_have++] = *p++;
		n--;
		if (s->fh_have == 3) {
			/* The length, then the 6 more bytes of the header. */
			s->in_frame = ((uint32_t)s->fh[0] << 16 |
			    (uint32_t)s->fh[1] << 8 | s->fh[2]) + 6;
			s->fh_have = 0;
		}
	}
}

/* 1 when the input so far ends inside the preface or a frame. */
static int
h2s_mid_frame(const struct h2s_session *s)
{
	return s->in_preface > 0 || s->in_frame > 0 || s->fh_have > 0;
}

/* h2s_batch_end() dispatches the batch's streams.  Returns 0 or -1 (close). */
static int
h2s_batch_end(struct h2s_session *s)
{
	conn_batch_end(s->conn);
	h2s_dispatch_pending(s);
	return h2s_flush(s);
}

int
h2s_on_read(struct h2s_session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->conn->bev);
	struct evbuffer_iovec	 v[8];
	size_t			 have = evbuffer_get_length(in);
	int			 i, n;

	s->got_data = 0;
	s->conn->batch_bytes += have;
	while (evbuffer_get_length(in) > 0) {
		size_t used = 0;

		n = evbuffer_peek(in, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		for (i = 0; i < n; i++) {
			ssize_t rv = nghttp2_session_mem_recv(s->ng,
			    v[i].iov_base, v[i].iov_len);

			h2s_follow(s, v[i].iov_base, v[i].iov_len);
			if (rv == NGHTTP2_ERR_FLOODED)
				s->flood = "nghttp2_flooded";
			else if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
				s->flood = "nghttp2_continuation";
			if (s->ban_rule != NULL || s->flood != NULL)
				return h2s_ban(s);
			if (rv < 0) {
				conn_log(s->conn, LOG_INFO, "HTTP/2: %s",
				    nghttp2_strerror((int)rv));
				return -1;
			}
			used += v[i].iov_len;
		}
		evbuffer_drain(in, used);
	}
	/*
	 * Let nghttp2 produce its frames before anything is dispatched: a
	 * flood it detected in this read shows up as its GOAWAY, and then
	 * nothing of the read may reach an upstream.  Frames only go to our
	 * output buffer here; a ban frees it unsent.
	 */
	if (h2s_flush(s) < 0)
		return -1;
	/*
	 * The read is the batch (conn.h): while the client has sent more, or
	 * is in the middle of a frame, read and judge the rest before any
	 * stream of it goes upstream.
	 */
	if (!conn_batch_hold(s->conn, !TAILQ_EMPTY(&s->pending),
	    h2s_mid_frame(s), have) && h2s_batch_end(s) < 0)
		return -1;
	h2s_update_timer(s);
	return 0;
}

int
h2s_on_write(struct h2s_session *s)
{
	if (h2s_flush(s) < 0)
		return -1;
	h2s_update_timer(s);
	return 0;
}

int
h2s_on_defer(struct h2s_session *s)
{
	if (h2s_flush(s) < 0)
		return -1;
	h2s_update_timer(s);
	return 0;
}

int
h2s_shutdown(struct h2s_session *s)
{
	/*
	 * Streams up to the last one we processed are answered; the client
	 * may retry later ones on a new connection (RFC 9113 6.8).
	 */
	s->our_goaway = 1;
	if (nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(s->ng), NGHTTP2_NO_ERROR,
	    NULL, 0) != 0 || h2s_flush(s) < 0)
		return -1;
	h2s_update_timer(s);
	return 0;
}

int
h2s_on_timeout(struct h2s_session *s)
{
	struct h2s_stream *st;

	if (s->timer == H2S_T_SEND && !conn_send_expired(s->conn))
		return 0;	/* the client took bytes since: not yet */
	/*
	 * A batch held this long for the rest of it (a frame cut short, or a
	 * TLS record with no data, a KeyUpdate, read without a call back) is
	 * dispatched: waiting was our choice, not a slowloris.
	 */
	if (s->timer == H2S_T_HEADER && s->conn->batch_held && !s->in_block) {
		if (h2s_batch_end(s) < 0)
			return -1;
		h2s_update_timer(s);
		return 0;
	}
	if (s->timer == H2S_T_HEADER || s->timer == H2S_T_SEND) {
		/* Slowloris, slow read, zero window: floods like the others. */
		s->flood = s->timer == H2S_T_HEADER ? "header_timeout" :
		    "send_timeout";
		return h2s_ban(s);
	}
	if (s->timer == H2S_T_BODY) {
		TAILQ_FOREACH(st, &s->streams, link)
			if (!(st->flags & ST_F_REQ_END))
				h2s_rst(st, NGHTTP2_CANCEL);
		conn_log(s->conn, LOG_DEBUG, "request body timed out");
	} else {
		conn_log(s->conn, LOG_DEBUG, "idle, closing");
		s->our_goaway = 1;
		nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
	}
	s->timer = H2S_T_NONE;
	return h2s_flush(s);
}
