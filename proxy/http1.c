/*
 * http1.c - the HTTP/1.1 front end on http_parser.
 *
 * Every request read is queued on h->reqs in arrival order; requests are
 * dispatched to the upstream only after the whole batch was parsed and
 * judged (conn.h: everything the socket holds, bounded), and at most
 * H1_MAX_INFLIGHT at a time.  Responses are serialized into each request's
 * own buffer and moved to the client in request order by h1_pump().
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <http_parser.h>

#include "proxy/accesslog.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/guard.h"
#include "proxy/limit.h"
#include "proxy/http1.h"
#include "proxy/server.h"
#include "proxy/upstream.h"

#define H1_MAX_PIPELINE	32		/* requests queued after a batch: stop reading */
#define H1_MAX_INFLIGHT	4		/* requests at the upstream at once */
#define H1_BODY_HIGH	(256 * 1024)	/* request body buffered: stop reading */
#define H1_BODY_LOW	(64 * 1024)	/* read again below this */
#define H1_OUT_HIGH	(256 * 1024)	/* response bytes buffered: pause upstream */
#define H1_OUT_LOW	(16 * 1024)
#define H1_QUEUED_HIGH	(64 * 1024)	/* ... for a response behind another */
#define H1_LINGER_MS	2000		/* closing on an unread body: read on... */
#define H1_LINGER_MAX	(4 << 20)	/* ... and drop this much at most */

#define R_F_HEAD_DONE	0x01	/* request head parsed */
#define R_F_REQ_END	0x02	/* request message complete */
#define R_F_DISPATCHED	0x04	/* given to the upstream (or answered) */
#define R_F_RESP_HEAD	0x08	/* response head serialized */
#define R_F_RESP_END	0x10	/* response fully serialized */
#define R_F_CHUNKED	0x20	/* response body chunked to the client */
#define R_F_CLOSE	0x40	/* close the connection after this response */
#define R_F_PAUSED	0x80	/* we paused its upstream response */
#define R_F_NO_BODY	0x100	/* response carries no body (HEAD, 204, 304) */
#define R_F_TOO_LARGE	0x200	/* head over max_header_list_size */
#define R_F_BAD		0x400	/* malformed (canon_request()): answer 400 */
#define R_F_CONNECT	0x800	/* CONNECT: answer 405 */
#define R_F_VERSION	0x1000	/* not HTTP/1.x: answer 505 */
#define R_F_REFUSED	(R_F_BAD | R_F_CONNECT | R_F_VERSION)

struct h1_req {
	TAILQ_ENTRY(h1_req)	 link;		/* in h->reqs */
	struct h1_conn		*h;		/* borrowed: h owns us */
	struct http_req		 req;
	struct ups_req		*ureq;		/* owned */
	char			*url;		/* owned while parsing */
	size_t			 urllen;
	struct evbuffer		*body;		/* owned: request body before dispatch */
	struct evbuffer		*out;		/* owned: response for the client */
	unsigned		 flags;		/* R_F_* */
	unsigned short		 minor;		/* HTTP/1.minor */
	int			 status;	/* of the response serialized */
	uint64_t		 bytes_in;	/* request body bytes received */
	uint64_t		 bytes_out;	/* response body bytes serialized */
	size_t			 trailer_bytes;	/* of trailer fields, dropped */
	uint64_t		 start_us;	/* its first byte was parsed */
};

enum h1_timer {
	H1_T_FIRST,	/* no request yet */
	H1_T_IDLE,	/* between requests */
	H1_T_HEAD,	/* a request head partly read */
	H1_T_READ,	/* a request body partly read */
	H1_T_SEND,	/* output waits for the client to take it */
	H1_T_NONE,	/* waiting for the upstream */
};

struct h1_conn {
	struct conn		*conn;		/* borrowed: the conn owns us */
	http_parser		 parser;
	TAILQ_HEAD(h1_reqs_head, h1_req) reqs;		/* owned, in arrival order */
	struct h1_req		*cur;		/* borrowed: being parsed, in reqs */
	struct hdr_acc		 acc;
	unsigned		 nreqs;
	unsigned		 nseen;		/* requests parsed so far */
	const struct rule	*ban_rule;	/* borrowed: a request matched it */
	struct h1_req		*ban_req;	/* borrowed: that request */
	const char		*flood;		/* flood limit crossed, or NULL */
	struct rate		 stream_rate;	/* requests: stream_rate */
	enum h1_timer		 timer;
	unsigned		 stalled:1;	/* parser paused on a request body */
	unsigned		 full:1;	/* H1_MAX_PIPELINE queued: not reading */
	unsigned		 closing:1;	/* read no more requests */
	unsigned		 eof:1;		/* the client half-closed */
	unsigned		 draining:1;	/* stopping: no request after this one */
	unsigned		 linger:1;	/* the client may still be sending */
	unsigned		 lingering:1;	/* answered: dropping input, then close */
	size_t			 lingered;	/* bytes dropped so far */
};

static const struct ups_req_ops h1_ups_ops;
static int h1_linger(struct h1_conn *);
static int h1_parse(struct h1_conn *);

static struct h1_req *
h1_req_new(struct h1_conn *h)
{
	struct h1_req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->body = evbuffer_new()) == NULL ||
	    (r->out = evbuffer_new()) == NULL) {
		if (r->body)
			evbuffer_free(r->body);
		free(r);
		return NULL;
	}
	r->h = h;
	r->req.content_length = -1;
	r->req.proto = PROTO_H1;
	r->start_us = guard_now_us();
	TAILQ_INSERT_TAIL(&h->reqs, r, link);
	h->nreqs++;
	return r;
}

static void
h1_req_free(struct h1_req *r)
{
	struct h1_conn *h = r->h;

	if (r->flags & R_F_HEAD_DONE) {
		struct alog_rec rec = {
			.req = &r->req, .status = r->status,
			.bytes_in = r->bytes_in, .bytes_out = r->bytes_out,
			.upstream = r->ureq ? ups_req_upstream(r->ureq) : NULL,
			.start_us = r->start_us,
		};

		alog_request(h->conn, &rec);
	}
	if (h->cur == r)
		h->cur = NULL;
	TAILQ_REMOVE(&h->reqs, r, link);
	h->nreqs--;
	ups_req_free(r->ureq);
	http_req_clear(&r->req);
	free(r->url);
	evbuffer_free(r->body);
	evbuffer_free(r->out);
	free(r);
}

/* h1_reply_error() serializes a short text answer for r. */
static void
h1_reply_error(struct h1_req *r, int status, int close)
{
	const char *reason = http_reason(status);

	evbuffer_drain(r->out, evbuffer_get_length(r->out));
	if (close)
		r->flags |= R_F_CLOSE;
	evbuffer_add_printf(r->out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n%s\r\n", status, reason,
	    strlen(reason) + 5, (r->flags & R_F_CLOSE) ? "Connection: close\r\n" : "");
	if (!(r->flags & R_F_NO_BODY)) {
		evbuffer_add_printf(r->out, "%d %s\n", status, reason);
		r->bytes_out = strlen(reason) + 5;
	}
	r->status = status;
	r->flags |= R_F_RESP_HEAD | R_F_RESP_END | R_F_DISPATCHED;
}

/* ---- upstream callbacks ------------------------------------------------- */

/*
 * How many response bytes r may hold before its upstream response pauses:
 * the one the client is reading gets more than those queued behind it.
 */
static size_t
h1_out_high(const struct h1_req *r)
{
	return r == TAILQ_FIRST(&r->h->reqs) ? H1_OUT_HIGH : H1_QUEUED_HIGH;
}

static void
h1_ups_head(void *arg, struct ups_resp *resp)
{
	struct h1_req	*r = arg;
	uint32_t	 i;

	r->flags |= R_F_RESP_HEAD;
	r->status = resp->status;
	if (!resp->has_body)
		r->flags |= R_F_NO_BODY;
	evbuffer_add_printf(r->out, "HTTP/1.1 %d %s\r\n", resp->status,
	    http_reason(resp->status));
	for (i = 0; i < resp->headers.n; i++) {
		const struct hdr *f = &resp->headers.v[i];

		evbuffer_add(r->out, f->name, f->nlen);
		evbuffer_add(r->out, ": ", 2);
		evbuffer_add(r->out, f->value, f->vlen);
		evbuffer_add(r->out, "\r\n", 2);
	}
	if (resp->content_length >= 0)
		evbuffer_add_printf(r->out, "Content-Length: %lld\r\n",
		    (long long)resp->content_length);
	else if (!resp->has_body)
		;
	else if (r->minor >= 1) {
		r->flags |= R_F_CHUNKED;
		evbuffer_add(r->out, "Transfer-Encoding: chunked\r\n", 28);
	} else
		r->flags |= R_F_CLOSE;	/* the body ends where the connection does */
	/*
	 * Answered before its body was all read: the rest of the body may
	 * never come through (h1_pump()), so the connection may end here.
	 */
	if (!(r->flags & R_F_REQ_END))
		r->flags |= R_F_CLOSE;
	if (r->flags & R_F_CLOSE)
		evbuffer_add(r->out, "Connection: close\r\n", 19);
	else if (r->minor == 0)
		evbuffer_add(r->out, "Connection: keep-alive\r\n", 24);
	evbuffer_add(r->out, "\r\n", 2);
	conn_schedule(r->h->conn);
}

static void
h1_ups_body(void *arg, const uint8_t *data, size_t len)
{
	struct h1_req *r = arg;

	if (r->flags & R_F_NO_BODY)
		return;
	r->bytes_out += len;
	if (r->flags & R_F_CHUNKED)
		evbuffer_add_printf(r->out, "%zx\r\n", len);
	evbuffer_add(r->out, data, len);
	if (r->flags & R_F_CHUNKED)
		evbuffer_add(r->out, "\r\n", 2);
	if (!(r->flags & R_F_PAUSED) &&
	    evbuffer_get_length(r->out) > h1_out_high(r)) {
		r->flags |= R_F_PAUSED;
		ups_req_pause(r->ureq, 1);
	}
	conn_schedule(r->h->conn);
}

static void
h1_ups_end(void *arg, struct hdrlist *trailers)
{
	struct h1_req	*r = arg;
	uint32_t	 i;

	if (r->flags & R_F_CHUNKED) {
		evbuffer_add(r->out, "0\r\n", 3);
		for (i = 0; i < trailers->n; i++)
			evbuffer_add_printf(r->out, "%s: %s\r\n",
			    trailers->v[i].name, trailers->v[i].value);
		evbuffer_add(r->out, "\r\n", 2);
	}
	r->flags |= R_F_RESP_END;
	conn_schedule(r->h->conn);
}

static void
h1_ups_error(void *arg, int status)
{
	struct h1_req *r = arg;

	if (status != 0 && !(r->flags & R_F_RESP_HEAD)) {
		h1_reply_error(r, status, !(r->flags & R_F_REQ_END));
	} else {
		/* Cut short: only closing tells an HTTP/1.1 client. */
		r->flags |= R_F_RESP_END | R_F_CLOSE;
	}
	conn_schedule(r->h->conn);
}

static void
h1_ups_body_sent(void *arg, size_t n)
{
	struct h1_req *r = arg;

	if (r->h->stalled && r == r->h->cur &&
	    ups_req_buffered(r->ureq) < H1_BODY_LOW)
		conn_schedule(r->h->conn);
}

static size_t
h1_ups_held(void *arg)
{
	struct h1_req *r = arg;

	return evbuffer_get_length(r->out) +
	    evbuffer_get_length(bufferevent_get_output(r->h->conn->bev));
}

static size_t
h1_ups_room(void *arg)
{
	const struct h1_req	*r = arg;
	size_t			 have = h1_ups_held(arg), high = h1_out_high(r);

	/* Either is paused above its high mark (h1_ups_body(), h1_pump()). */
	if (high != H1_OUT_HIGH)
		have = evbuffer_get_length(r->out);
	return have < high ? high - have : 0;
}

static const struct ups_req_ops h1_ups_ops = {
	.on_head = h1_ups_head,
	.on_body = h1_ups_body,
	.on_end = h1_ups_end,
	.on_error = h1_ups_error,
	.on_body_sent = h1_ups_body_sent,
	.room = h1_ups_room,
	.held = h1_ups_held,
};

/* ---- parser callbacks --------------------------------------------------- */

static int
h1_on_message_begin(http_parser *p)
{
	struct h1_conn *h = p->data;

	if ((h->cur = h1_req_new(h)) == NULL)
		return -1;
	return 0;
}

static int
h1_too_large(struct h1_req *r, size_t more)
{
	if (r->urllen + r->req.headers.bytes + more >
	    r->h->conn->conf->max_header_list_size)
		r->flags |= R_F_TOO_LARGE;
	return r->flags & R_F_TOO_LARGE;
}

static int
h1_on_url(http_parser *p, const char *at, size_t len)
{
	struct h1_req	*r = ((struct h1_conn *)p->data)->cur;
	char		*u;

	if (h1_too_large(r, len))
		return 0;
	if ((u = realloc(r->url, r->urllen + len + 1)) == NULL)
		return -1;
	memcpy(u + r->urllen, at, len);
	r->urllen += len;
	u[r->urllen] = '\0';
	r->url = u;
	return 0;
}

/*
 * Trailer fields (after a chunked body) are dropped: never merged into the
 * head the rules judged, nor left over for the next request.  They are
 * bounded like a head: more than max_header_list_size ends the connection.
 */
static int
h1_trailer(struct h1_req *r, size_t len)
{
	r->trailer_bytes += len;
	return r->trailer_bytes > r->h->conn->conf->max_header_list_size ?
	    -1 : 0;
}

static int
h1_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct h1_conn	*h = p->data;
	struct h1_req	*r = h->cur;

	if (r->flags & R_F_HEAD_DONE)
		return h1_trailer(r, len);
	if (h1_too_large(r, len + h->acc.len))
		return 0;
	return hdr_acc_field(&h->acc, &r->req.headers, at, len) ? -1 : 0;
}

static int
h1_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct h1_conn	*h = p->data;
	struct h1_req	*r = h->cur;

	if (r->flags & R_F_HEAD_DONE)
		return h1_trailer(r, len);
	if (h1_too_large(r, len + h->acc.len))
		return 0;
	return hdr_acc_value(&h->acc, at, len) ? -1 : 0;
}

/*
 * h1_flood() applies the flood limits to a complete request head.  Returns
 * the name of the limit crossed, or NULL.
 */
static const char *
h1_flood(struct h1_conn *h, const struct http_req *q)
{
	const struct limit *lims = h->conn->conf->limits;

	if (limit_over(&lims[LIM_STREAMS], h->nseen))
		return limit_name(LIM_STREAMS);
	if (rate_add(&h->stream_rate, &lims[LIM_STREAM_RATE], guard_now_ms(), 1))
		return limit_name(LIM_STREAM_RATE);
	if (limit_over(&lims[LIM_HEADER_FIELDS], q->headers.n))
		return limit_name(LIM_HEADER_FIELDS);
	return guard_stream(h->conn);
}

static int
h1_on_headers_complete(http_parser *p)
{
	struct h1_conn		*h = p->data;
	struct h1_req		*r = h->cur;
	struct http_req		*q = &r->req;
	const struct hdr	*f;
	int			 rc;

	if (hdr_acc_flush(&h->acc, &q->headers) < 0)
		return -1;
	r->flags |= R_F_HEAD_DONE;
	r->minor = p->http_minor;
	if ((q->method = strdup(http_method_str(p->method))) == NULL ||
	    (q->scheme = strdup((h->conn->flags & CONN_F_TLS) ? "https" :
	    "http")) == NULL)
		return -1;
	q->path = r->url;
	r->url = NULL;
	if (p->flags & F_CONTENTLENGTH)
		q->content_length = (int64_t)p->content_length;
	q->has_body = (p->flags & F_CHUNKED) ||
	    ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
	if (q->method[0] == 'H' && strcmp(q->method, "HEAD") == 0)
		r->flags |= R_F_NO_BODY;
	if (!http_should_keep_alive(p))
		r->flags |= R_F_CLOSE;
	if (r->flags & R_F_TOO_LARGE) {
		/* Answered with 431 and the connection closed after it. */
		r->flags |= R_F_CLOSE;
		h->closing = 1;
		http_parser_pause(p, 1);
	}
	h->nseen++;
	h->conn->batch_frames++;
	if ((h->flood = h1_flood(h, q)) != NULL) {
		http_parser_pause(p, 1);
		return 0;
	}
	/*
	 * Refused unjudged, and nothing of it is forwarded: CONNECT, whatever
	 * its target (405), a version other than HTTP/1.x (505), a malformed
	 * request (400), an HTTP/1.1 one without Host (400, RFC 9112 3.2).
	 */
	if (p->method == HTTP_CONNECT)
		r->flags |= R_F_CONNECT;
	else if (p->http_major != 1)
		r->flags |= R_F_VERSION;
	else if ((rc = guard_canon(h->conn, q, 1)) == -ENOMEM)
		return -1;
	else if (rc < 0 || (r->minor >= 1 &&
	    hdrlist_get(&q->headers, "host") == NULL))
		r->flags |= R_F_BAD;
	if (r->flags & R_F_REFUSED) {
		r->flags |= R_F_CLOSE;
		h->closing = 1;
		http_parser_pause(p, 1);
		return 0;
	}
	if ((h->ban_rule = guard_request(h->conn, q, (int32_t)h->nseen)) != NULL) {
		/* Stop parsing: nothing of this read will be dispatched. */
		h->ban_req = r;
		http_parser_pause(p, 1);
		return 0;
	}
	if (q->ambiguous) {
		/* Judged, not banned, never forwarded: see canon_path(). */
		r->flags |= R_F_BAD | R_F_CLOSE;
		h->closing = 1;
		http_parser_pause(p, 1);
		return 0;
	}
	/* We answer Expect: 100-continue ourselves; the upstream never sees it. */
	if (r->minor >= 1 && r == TAILQ_FIRST(&h->reqs) &&
	    (f = hdrlist_get(&q->headers, "expect")) != NULL &&
	    f->vlen == 12 && strncasecmp(f->value, "100-continue", 12) == 0)
		bufferevent_write(h->conn->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return 0;
}

static int
h1_on_body(http_parser *p, const char *at, size_t len)
{
	struct h1_conn	*h = p->data;
	struct h1_req	*r = h->cur;
	size_t		 buffered;

	r->bytes_in += len;
	if (r->ureq != NULL) {
		if (ups_req_body(r->ureq, (const uint8_t *)at, len) < 0)
			return -1;
		buffered = ups_req_buffered(r->ureq);
	} else if (r->flags & R_F_DISPATCHED) {
		return 0;	/* already answered: drop the body */
	} else {
		if (evbuffer_add(r->body, at, len) < 0)
			return -1;
		buffered = evbuffer_get_length(r->body);
	}
	if (buffered > H1_BODY_HIGH) {
		h->stalled = 1;
		http_parser_pause(p, 1);
	}
	return 0;
}

static int
h1_on_message_complete(http_parser *p)
{
	struct h1_conn	*h = p->data;
	struct h1_req	*r = h->cur;

	r->flags |= R_F_REQ_END;
	if (r->ureq != NULL)
		ups_req_body_end(r->ureq);
	h->cur = NULL;
	if (h->draining)
		r->flags |= R_F_CLOSE;	/* stopping: the last one */
	if (r->flags & R_F_CLOSE) {
		h->closing = 1;
		http_parser_pause(p, 1);
	}
	return 0;
}

static const http_parser_settings h1_parser_settings = {
	.on_message_begin = h1_on_message_begin,
	.on_url = h1_on_url,
	.on_header_field = h1_on_header_field,
	.on_header_value = h1_on_header_value,
	.on_headers_complete = h1_on_headers_complete,
	.on_body = h1_on_body,
	.on_message_complete = h1_on_message_complete,
};

/* ---- dispatch and output ------------------------------------------------ */

static void
h1_dispatch(struct h1_req *r)
{
	struct h1_conn	*h = r->h;
	size_t		 len;

	r->flags |= R_F_DISPATCHED;
	if (r->flags & R_F_TOO_LARGE) {
		h1_reply_error(r, 431, 1);
		return;
	}
	if (r->flags & R_F_REFUSED) {
		h1_reply_error(r, (r->flags & R_F_CONNECT) ? 405 :
		    (r->flags & R_F_VERSION) ? 505 : 400, 1);
		return;
	}
	r->ureq = ups_req_new(h->conn->wg->ups, &r->req,
	    (const struct sockaddr *)&h->conn->peer, h->conn->addr_str,
	    &h1_ups_ops, r);
	if (r->ureq == NULL) {
		h1_reply_error(r, 502, 1);
		return;
	}
	while ((len = evbuffer_get_length(r->body)) > 0) {
		struct evbuffer_iovec v;

		evbuffer_peek(r->body, -1, NULL, &v, 1);
		ups_req_body(r->ureq, v.iov_base, v.iov_len);
		evbuffer_drain(r->body, v.iov_len);
	}
	if (r->flags & R_F_REQ_END)
		ups_req_body_end(r->ureq);
}

/*
 * h1_dispatch_queued() dispatches the judged requests of the batches ended,
 * in order, while fewer than H1_MAX_INFLIGHT are at the upstream.
 */
static void
h1_dispatch_queued(struct h1_conn *h)
{
	struct h1_req	*r;
	unsigned	 busy = 0;

	if (h->conn->batch_held)
		return;
	TAILQ_FOREACH(r, &h->reqs, link) {
		if (!(r->flags & R_F_HEAD_DONE))
			break;
		if (!(r->flags & R_F_DISPATCHED)) {
			if (busy >= H1_MAX_INFLIGHT)
				break;
			h1_dispatch(r);
		}
		if (!(r->flags & R_F_RESP_END))
			busy++;
	}
}

/*
 * h1_pump() moves finished and head-of-line response bytes to the client in
 * request order, and dispatches what waited for room.  Returns 0, or -1 when
 * the connection is done.
 */
static int
h1_pump(struct h1_conn *h)
{
	struct evbuffer	*out = bufferevent_get_output(h->conn->bev);
	struct h1_req	*r;

	h1_dispatch_queued(h);
	while ((r = TAILQ_FIRST(&h->reqs)) != NULL &&
	    (r->flags & R_F_HEAD_DONE)) {
		if (evbuffer_get_length(r->out) > 0)
			evbuffer_add_buffer(out, r->out);
		if (!(r->flags & R_F_RESP_END)) {
			int over = evbuffer_get_length(out) > H1_OUT_HIGH;

			if (r->ureq != NULL && over != !!(r->flags & R_F_PAUSED)) {
				r->flags ^= R_F_PAUSED;
				ups_req_pause(r->ureq, over);
			}
			break;
		}
		if ((r->flags & R_F_CLOSE) || !(r->flags & R_F_REQ_END)) {
			/*
			 * The connection ends with this response (the rest of
			 * an unread body would be taken for a request): the
			 * requests queued behind it will never be answered.
			 * A client still sending its body is let finish before
			 * the close (h1_linger()).
			 */
			h->closing = 1;
			if (!(r->flags & R_F_REQ_END))
				h->linger = 1;
			while (!TAILQ_EMPTY(&h->reqs))
				h1_req_free(TAILQ_FIRST(&h->reqs));
			break;
		}
		h1_req_free(r);
		h1_dispatch_queued(h);
	}
	if (h->full && h->nreqs < H1_MAX_PIPELINE && !h->closing) {
		/* Room again: read and parse what the client sent since. */
		h->full = 0;
		bufferevent_enable(h->conn->bev, EV_READ);
		conn_schedule(h->conn);
	}
	if ((h->closing || h->eof) && TAILQ_EMPTY(&h->reqs)) {
		if (h->lingering)
			return 0;
		bufferevent_disable(h->conn->bev, EV_READ);
		if (evbuffer_get_length(out) > 0)
			return 0;
		return h->linger && !h->eof ? h1_linger(h) : -1;
	}
	return 0;
}

/*
 * h1_linger() starts the end of a connection whose last response went out
 * before the client had sent all of its request body: closing now, with the
 * client's bytes unread, would make the kernel answer with a reset, and a
 * client still sending could lose the response it has not read yet (curl
 * did, about one time in ten).  So its input is read and dropped until it
 * closes, for H1_LINGER_MS or H1_LINGER_MAX bytes at most, then the
 * connection is closed.  Returns 0, or -1 to close now.
 */
static int
h1_linger(struct h1_conn *h)
{
	h->lingering = 1;
	conn_set_timeout(h->conn, H1_LINGER_MS);
	bufferevent_enable(h->conn->bev, EV_READ);
	return h1_parse(h);	/* drops what is there already */
}

/*
 * h1_update_timer() arms the client timeout for what the connection waits
 * on: the client taking our output (send_timeout, see conn.h), the end of a
 * request head (header_timeout from its first byte, however slowly the
 * rest trickles in), more body bytes (body_read_timeout from the last one),
 * a request.  While we do not read (pipeline full, body buffer full), the
 * client is not waited on for its head or body.
 */
static void
h1_update_timer(struct h1_conn *h, int got_bytes)
{
	const struct conf	*conf = h->conn->conf;
	struct evbuffer		*out = bufferevent_get_output(h->conn->bev);
	enum h1_timer		 t;

	if (h->lingering)
		return;		/* h1_linger() set the timeout */
	if (h->conn->batch_held)
		t = H1_T_HEAD;	/* the rest of a batch (nothing is written) */
	else if (evbuffer_get_length(out) >= H1_OUT_LOW)
		t = H1_T_SEND;
	else if (h->full || h->stalled)
		t = H1_T_NONE;
	else if (h->cur != NULL && !(h->cur->flags & R_F_HEAD_DONE))
		t = H1_T_HEAD;
	else if (h->cur != NULL)
		t = H1_T_READ;
	else if (!TAILQ_EMPTY(&h->reqs))
		t = H1_T_NONE;
	else
		t = h->timer == H1_T_FIRST ? H1_T_FIRST : H1_T_IDLE;
	if (t == h->timer && !(t == H1_T_READ && got_bytes))
		return;
	if (h->timer == H1_T_SEND)
		conn_send_done(h->conn);
	h->timer = t;
	switch (t) {
	case H1_T_FIRST:
		break;	/* armed once, at accept or after the handshake */
	case H1_T_HEAD:
		conn_set_timeout(h->conn, conf->header_timeout);
		break;
	case H1_T_READ:
		conn_set_timeout(h->conn, conf->body_read_timeout);
		break;
	case H1_T_SEND:
		conn_send_wait(h->conn);
		break;
	case H1_T_IDLE:
		conn_set_timeout(h->conn, conf->keepalive_timeout);
		break;
	case H1_T_NONE:
		conn_set_timeout(h->conn, 0);
		break;
	}
}

/*
 * h1_ban() tears the connection down after a ban: the requests of this read
 * are not dispatched, those in flight are cancelled (by h1_free), no
 * response byte is written.  Returns -1: close now.
 */
static int
h1_ban(struct h1_conn *h)
{
	struct h1_req	*r;
	unsigned	 cancelled = 0;

	TAILQ_FOREACH(r, &h->reqs, link)
		if (r->ureq != NULL && ups_req_in_flight(r->ureq))
			cancelled++;
	if (h->ban_rule != NULL)
		guard_ban(h->conn, h->ban_rule, &h->ban_req->req,
		    (int32_t)h->nseen, h->nreqs - 1, cancelled);
	else
		guard_flood(h->conn, PROTO_H1, h->flood, h->nreqs, cancelled);
	return -1;
}

/* 1 when a request judged is not dispatched yet. */
static int
h1_undispatched(const struct h1_conn *h)
{
	const struct h1_req *r;

	TAILQ_FOREACH(r, &h->reqs, link)
		if ((r->flags & (R_F_HEAD_DONE | R_F_DISPATCHED)) == R_F_HEAD_DONE)
			return 1;
	return 0;
}

/*
 * h1_batch_end() lets the requests of the batch be dispatched; with many
 * queued, reading stops until answers went out.
 */
static void
h1_batch_end(struct h1_conn *h)
{
	conn_batch_end(h->conn);
	if (h->nreqs >= H1_MAX_PIPELINE) {
		h->full = 1;
		bufferevent_disable(h->conn->bev, EV_READ);
	}
}

/* h1_parse() parses what was read.  Returns 0 or -1 (close now). */
static int
h1_parse(struct h1_conn *h)
{
	struct evbuffer	*in = bufferevent_get_input(h->conn->bev);
	size_t		 have = evbuffer_get_length(in);	/* 0: not a read */
	struct h1_req	*r;
	enum http_errno	 err;
	int		 got = 0;

	if (h->lingering) {
		h->lingered += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		return h->lingered > H1_LINGER_MAX ? -1 : 0;
	}
	if (h->stalled) {
		/* Read again once the queue or the body buffer drained. */
		r = h->cur;
		if (r != NULL && (r->ureq ? ups_req_buffered(r->ureq) :
		    evbuffer_get_length(r->body)) >= H1_BODY_LOW)
			return h1_pump(h);
		h->stalled = 0;
		http_parser_pause(&h->parser, 0);
		bufferevent_enable(h->conn->bev, EV_READ);
	}
	while (!h->closing && !h->stalled && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec	v;
		size_t			n;

		evbuffer_peek(in, -1, NULL, &v, 1);
		n = http_parser_execute(&h->parser, &h1_parser_settings,
		    v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		h->conn->batch_bytes += n;
		got = 1;
		err = HTTP_PARSER_ERRNO(&h->parser);
		if (h->ban_rule != NULL || h->flood != NULL)
			return h1_ban(h);
		if (err == HPE_PAUSED)
			continue;
		if (err != HPE_OK) {
			conn_log(h->conn, LOG_DEBUG, "bad HTTP/1.1 request: %s",
			    http_errno_description(err));
			/*
			 * Not even a method: this peer does not speak HTTP/1
			 * (a bad HTTP/2 preface, say); an HTTP/1.1 answer
			 * would only be garbage to it.
			 */
			if (err == HPE_INVALID_METHOD && h->cur == NULL &&
			    TAILQ_EMPTY(&h->reqs))
				return -1;
			h->closing = 1;
			r = h->cur;
			if (r != NULL && (r->flags & R_F_DISPATCHED))
				return -1;	/* its upstream exchange is under way */
			if (r == NULL && (r = h1_req_new(h)) == NULL)
				return -1;
			r->flags |= R_F_HEAD_DONE;
			h1_reply_error(r, err == HPE_HEADER_OVERFLOW ? 431 : 400, 1);
			break;
		}
		/*
		 * Upgrade (h2c, websocket) is not offered: carry on in
		 * HTTP/1.1.  CONNECT was refused at its head.
		 */
	}
	/*
	 * Everything read was parsed (bans included) before this point.  The
	 * read is the batch (conn.h): while the client has sent more, read
	 * and judge it before any request of it is dispatched.
	 */
	if (!conn_batch_hold(h->conn, !h->stalled && !h->closing &&
	    h1_undispatched(h), h->cur != NULL &&
	    !(h->cur->flags & R_F_HEAD_DONE), have))
		h1_batch_end(h);
	if (h->stalled)
		bufferevent_disable(h->conn->bev, EV_READ);
	h1_update_timer(h, got);
	return h1_pump(h);
}

/* ---- the connection -------------------------------------------------------- */

struct h1_conn *
h1_new(struct conn *c)
{
	struct h1_conn *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->conn = c;
	TAILQ_INIT(&h->reqs);
	http_parser_init(&h->parser, HTTP_REQUEST);
	h->parser.data = h;
	h->timer = H1_T_FIRST;
	bufferevent_setwatermark(c->bev, EV_WRITE, H1_OUT_LOW, 0);
	return h;
}

void
h1_free(struct h1_conn *h)
{
	if (h == NULL)
		return;
	while (!TAILQ_EMPTY(&h->reqs))
		h1_req_free(TAILQ_FIRST(&h->reqs));
	hdr_acc_free(&h->acc);
	free(h);
}

int
h1_on_read(struct h1_conn *h)
{
	return h1_parse(h);
}

int
h1_on_write(struct h1_conn *h)
{
	if (h1_pump(h) < 0)
		return -1;
	h1_update_timer(h, 0);
	return 0;
}

int
h1_on_defer(struct h1_conn *h)
{
	return h1_parse(h);
}

int
h1_on_timeout(struct h1_conn *h)
{
	if (h->lingering)
		return -1;
	switch (h->timer) {
	case H1_T_SEND:
		if (!conn_send_expired(h->conn))
			return 0;	/* the client took bytes since: not yet */
		h->flood = "send_timeout";
		return h1_ban(h);
	case H1_T_HEAD:
		/*
		 * A batch held this long for input that never came to us (a
		 * TLS record with no data, a KeyUpdate, is read without a call
		 * back) is dispatched; a head cut short is a slowloris.
		 */
		if (h->conn->batch_held &&
		    (h->cur == NULL || (h->cur->flags & R_F_HEAD_DONE))) {
			h1_batch_end(h);
			if (h1_pump(h) < 0)
				return -1;
			h1_update_timer(h, 0);
			return 0;
		}
		h->flood = "header_timeout";	/* slowloris */
		return h1_ban(h);
	default:
		conn_log(h->conn, LOG_DEBUG, "HTTP/1.1 %s timed out",
		    h->cur ? "request" : "connection");
		return -1;
	}
}

int
h1_shutdown(struct h1_conn *h)
{
	struct h1_req *last;

	h->draining = 1;
	/* A request head not complete yet is not waited for. */
	if (h->cur != NULL && !(h->cur->flags & R_F_HEAD_DONE))
		h1_req_free(h->cur);
	if ((last = TAILQ_LAST(&h->reqs, h1_reqs_head)) == NULL) {
		/* Answers may still be on their way out: close once sent. */
		h->closing = 1;
		return h1_pump(h);
	}
	if (last->flags & R_F_REQ_END) {
		/* Else its body is still coming: see h1_on_message_complete(). */
		last->flags |= R_F_CLOSE;
		h->closing = 1;
	}
	return h1_pump(h);
}

int
h1_on_eof(struct h1_conn *h)
{
	h->eof = 1;
	if (h->cur != NULL || TAILQ_EMPTY(&h->reqs))
		return -1;
	h1_batch_end(h);	/* nothing more comes: the batch is whole */
	return h1_pump(h);
}
