/*
 * upstream.c - HTTP/1.1 keep-alive connection pools to the upstream servers.
 *
 * A request (struct ups_req) is attached to one upstream connection (struct
 * ups_conn) from the moment its head is written until its response ends.
 * Then the connection goes back to its server's idle list when both sides
 * left it clean (keep-alive, request body fully written, nothing unread),
 * and is closed otherwise.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <http_parser.h>

#include "proxy/addrkey.h"
#include "proxy/canon.h"
#include "proxy/conf.h"
#include "proxy/log.h"
#include "proxy/membudget.h"
#include "proxy/metrics.h"
#include "proxy/upstream.h"

/*
 * A client of a server's pool, as bans count clients (ban_prefix_v4/v6):
 * its requests hold at most pool->share of the server's connections at
 * once, and those queued for a connection get one in turn with the other
 * clients', round robin, not in arrival order.  So a client whose
 * responses are not read cannot take the pool from the others.
 */
struct ups_tenant {
	LIST_ENTRY(ups_tenant)	 hlink;		/* in srv->tenants[] */
	TAILQ_ENTRY(ups_tenant)	 rlink;		/* in srv->ready when ready */
	struct addr_key		 key;
	TAILQ_HEAD(, ups_req)	 waiting;	/* borrowed: its queued requests */
	uint32_t		 held;		/* connections its requests hold */
	uint32_t		 refs;		/* requests pointing at it */
	unsigned		 ready:1;	/* waiting, and under its share */
	unsigned		 anon:1;	/* srv->anon: no share */
};

#define UPS_TENANT_BUCKETS	1024

struct ups_server {
	struct ups_pool		*pool;		/* borrowed: the pool owns us */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			*name;		/* owned, for logs */
	TAILQ_HEAD(, ups_conn)	 idle;		/* owned: pooled connections */
	LIST_HEAD(, ups_tenant)	*tenants;	/* owned [UPS_TENANT_BUCKETS] */
	struct ups_tenant	 anon;		/* all requests when no share */
	TAILQ_HEAD(, ups_tenant) ready;		/* borrowed: next to get one */
	uint32_t		 nidle;
	uint32_t		 nconns;	/* open: active, connecting and idle */
	struct event		 wake_ev;	/* opens connections for waiters */
};

struct ups_pool {
	struct event_base	*base;		/* borrowed */
	struct ups_server	*servers;	/* owned array */
	size_t			 nservers;
	size_t			 next;		/* round robin */
	struct timeval		 connect_tv;
	struct timeval		 response_tv;
	struct timeval		 idle_tv;
	uint32_t		 keepalive;	/* max idle connections per server */
	uint32_t		 max_conns;	/* max open connections per server */
	uint32_t		 share;		/* ... per client; max_conns: no share */
	unsigned		 prefix_v4, prefix_v6;	/* what a client is */
	uint64_t		 hkey[2];	/* SipHash key for tenants */
	int			 trust_fwd;	/* keep incoming forwarding fields */
	TAILQ_HEAD(, ups_conn)	 starved;	/* borrowed: not read, memory_limit */
	struct event		 starve_ev;	/* polls the budget while any is */
};

#define UC_STARVE_POLL_MS	20	/* memory_limit reached: look again */
static const struct timeval uc_starve_tv = { 0, UC_STARVE_POLL_MS * 1000 };
#define UC_STARVE_FLOOR		(16 * 1024)	/* ... still read below this */

enum uc_state {
	UC_ACTIVE,	/* carrying uc->req (maybe still connecting) */
	UC_IDLE,	/* in srv->idle */
};

struct ups_conn {
	TAILQ_ENTRY(ups_conn)	 link;		/* in srv->idle while UC_IDLE */
	TAILQ_ENTRY(ups_conn)	 slink;		/* in pool->starved when starved */
	struct ups_server	*srv;		/* borrowed */
	struct bufferevent	*bev;		/* owned: writes, connect, input buffer */
	struct event		 rd_ev;		/* reads (uc_read_ev), once connected */
	struct ups_req		*req;		/* borrowed: the request it carries */
	http_parser		 parser;
	enum uc_state		 state;
	unsigned		 connected:1;	/* TCP connect completed */
	unsigned		 reused:1;	/* came from the idle list */
	unsigned		 done:1;	/* response complete, parser paused */
	unsigned		 in_1xx:1;	/* skipping an interim response */
	unsigned		 starved:1;	/* not read: over memory_limit */
};

#define UR_F_BODY_END	0x01	/* the front end ended the request body */
#define UR_F_HEAD_SENT	0x02	/* on_head was called */
#define UR_F_GOT_BYTES	0x04	/* some response byte arrived */
#define UR_F_RETRIED	0x08	/* already retried once on a fresh connection */
#define UR_F_PAUSED	0x10	/* the front end asked us to stop reading */
#define UR_F_FINISHED	0x20	/* on_end or on_error was called */
#define UR_F_IDEMPOTENT	0x40	/* method may be sent twice */
#define UR_F_HEAD_REQ	0x80	/* HEAD: the response has no body */
#define UR_F_CHUNKED	0x100	/* request body sent chunked */
#define UR_F_WAITING	0x200	/* queued for a connection */

/* Marks a field to drop in uc_filter_fields(); names are far shorter. */
#define HDR_DROP	0x80000000u

struct ups_req {
	TAILQ_ENTRY(ups_req)	 wlink;		/* in tenant->waiting when UR_F_WAITING */
	struct ups_pool		*pool;		/* borrowed */
	struct ups_server	*srv;		/* borrowed */
	struct ups_tenant	*tenant;	/* one reference */
	const struct ups_req_ops *ops;		/* borrowed */
	void			*arg;		/* borrowed: the front end's */
	struct ups_conn		*uc;		/* owned while attached */
	char			*head;		/* owned: serialized head, for a retry */
	size_t			 headlen;
	struct evbuffer		*body;		/* owned: body queued before a connection */
	uint64_t		 body_total;	/* body bytes handed to us */
	struct ups_resp		 resp;
	struct hdrlist		 trailers;
	struct hdr_acc		 acc;		/* response field being parsed */
	struct event		 fail_ev;	/* reports a synchronous failure */
	int			 fail_status;
	unsigned		 flags;		/* UR_F_* */
};

static void uc_read_ev(evutil_socket_t, short, void *);
static void uc_read_arm(struct ups_conn *);
static void uc_starve_cb(evutil_socket_t, short, void *);
static void uc_event_cb(struct bufferevent *, short, void *);
static void uc_output_cb(struct evbuffer *, const struct evbuffer_cb_info *, void *);
static int ur_attach(struct ups_req *, int fresh);
static int ur_start(struct ups_req *, struct ups_conn *);
static void ur_wake_waiting(struct ups_server *, struct ups_conn *);
static void ups_server_wake_cb(evutil_socket_t, short, void *);

static void
tv_from_ms(struct timeval *tv, uint32_t ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

struct ups_pool *
ups_pool_new(struct event_base *base, const struct conf *conf)
{
	const struct conf_upstream	*cu;
	struct ups_pool			*pool;
	size_t				 n = 0;

	STAILQ_FOREACH(cu, &conf->upstreams, link)
		n++;
	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		return NULL;
	if ((pool->servers = calloc(n ? n : 1, sizeof(*pool->servers))) == NULL)
		goto out_free_pool;
	pool->base = base;
	tv_from_ms(&pool->connect_tv, conf->upstream_connect_timeout);
	tv_from_ms(&pool->response_tv, conf->upstream_response_timeout);
	tv_from_ms(&pool->idle_tv, conf->upstream_idle_timeout);
	pool->keepalive = conf->upstream_keepalive;
	pool->max_conns = conf->upstream_max_connections;
	pool->share = conf->upstream_max_connections_per_client ?
	    conf->upstream_max_connections_per_client :
	    (pool->max_conns / 4 ? pool->max_conns / 4 : 1);
	pool->prefix_v4 = conf->ban_prefix_v4;
	pool->prefix_v6 = conf->ban_prefix_v6;
	addr_key_seed(pool->hkey);
	pool->trust_fwd = conf->forwarded_headers == CONF_FWD_TRUST;
	TAILQ_INIT(&pool->starved);
	evtimer_assign(&pool->starve_ev, base, uc_starve_cb, pool);
	STAILQ_FOREACH(cu, &conf->upstreams, link) {
		struct ups_server *s = &pool->servers[pool->nservers];

		s->pool = pool;
		memcpy(&s->addr, &cu->addr, sizeof(s->addr));
		s->addrlen = cu->addrlen;
		TAILQ_INIT(&s->idle);
		TAILQ_INIT(&s->ready);
		TAILQ_INIT(&s->anon.waiting);
		s->anon.anon = 1;
		s->anon.refs = 1;	/* never freed */
		event_assign(&s->wake_ev, base, -1, 0, ups_server_wake_cb, s);
		if ((s->name = strdup(cu->name)) == NULL)
			goto out_free_servers;
		pool->nservers++;
	}
	return pool;

out_free_servers:
	ups_pool_free(pool);
	return NULL;
out_free_pool:
	free(pool);
	return NULL;
}

/* ---- the clients of a server (struct ups_tenant) ------------------------ */

/*
 * ur_tenant() is the tenant of the client at sa for ur's server, with a
 * reference; srv->anon when there is no share or no table for it.
 */
static struct ups_tenant *
ur_tenant(struct ups_server *srv, const struct sockaddr *sa)
{
	struct ups_pool		*pool = srv->pool;
	struct ups_tenant	*t;
	struct addr_key		 k;
	size_t			 b;

	if (pool->share >= pool->max_conns || sa == NULL ||
	    addr_key_make(sa, pool->prefix_v4, pool->prefix_v6, &k) != 0)
		goto anon;
	if (srv->tenants == NULL && (srv->tenants = calloc(UPS_TENANT_BUCKETS,
	    sizeof(*srv->tenants))) == NULL)
		goto anon;
	b = addr_key_hash(pool->hkey, k.addr, k.len) % UPS_TENANT_BUCKETS;
	LIST_FOREACH(t, &srv->tenants[b], hlink)
		if (addr_key_eq(&t->key, &k)) {
			t->refs++;
			return t;
		}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto anon;
	t->key = k;
	t->refs = 1;
	TAILQ_INIT(&t->waiting);
	LIST_INSERT_HEAD(&srv->tenants[b], t, hlink);
	return t;
anon:
	srv->anon.refs++;
	return &srv->anon;
}

/* tenant_unref() drops a reference to t (of srv), freeing it at none. */
static void
tenant_unref(struct ups_server *srv, struct ups_tenant *t)
{
	if (--t->refs > 0 || t->anon)
		return;
	if (t->ready)
		TAILQ_REMOVE(&srv->ready, t, rlink);
	LIST_REMOVE(t, hlink);
	free(t);
}

/* tenant_update() puts t in srv->ready, at the tail, or out, as it now is. */
static void
tenant_update(struct ups_server *srv, struct ups_tenant *t)
{
	int ready = !TAILQ_EMPTY(&t->waiting) &&
	    (t->anon || t->held < srv->pool->share);

	if (ready == t->ready)
		return;
	if (ready)
		TAILQ_INSERT_TAIL(&srv->ready, t, rlink);
	else
		TAILQ_REMOVE(&srv->ready, t, rlink);
	t->ready = ready;
}

/* tenant_over() tells whether ur's client holds its share already. */
static int
tenant_over(const struct ups_req *ur)
{
	return !ur->tenant->anon && ur->tenant->held >= ur->pool->share;
}

/* ur_wait() queues ur for a connection; 504 if none comes in time. */
static void
ur_wait(struct ups_req *ur)
{
	ur->flags |= UR_F_WAITING;
	TAILQ_INSERT_TAIL(&ur->tenant->waiting, ur, wlink);
	tenant_update(ur->srv, ur->tenant);
	ur->fail_status = 504;
	event_add(&ur->fail_ev, &ur->pool->response_tv);
}

/* ur_unwait() takes ur out of its queue. */
static void
ur_unwait(struct ups_req *ur)
{
	TAILQ_REMOVE(&ur->tenant->waiting, ur, wlink);
	ur->flags &= ~UR_F_WAITING;
	tenant_update(ur->srv, ur->tenant);
}

/*
 * srv_next_waiting() takes the request to give a connection next: the
 * first of the first client ready, which then goes to the back.
 */
static struct ups_req *
srv_next_waiting(struct ups_server *srv)
{
	struct ups_tenant	*t = TAILQ_FIRST(&srv->ready);
	struct ups_req		*ur;

	if (t == NULL)
		return NULL;
	ur = TAILQ_FIRST(&t->waiting);
	TAILQ_REMOVE(&srv->ready, t, rlink);
	t->ready = 0;
	ur_unwait(ur);	/* back in srv->ready, at the tail, if still ready */
	event_del(&ur->fail_ev);
	return ur;
}

static void
ups_server_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ups_server *srv = arg;

	while (!TAILQ_EMPTY(&srv->ready) && (srv->nidle > 0 ||
	    srv->nconns < srv->pool->max_conns))
		ur_wake_waiting(srv, NULL);
}

static void
uc_free(struct ups_conn *uc)
{
	if (uc == NULL)
		return;
	if (uc->state == UC_IDLE) {
		TAILQ_REMOVE(&uc->srv->idle, uc, link);
		uc->srv->nidle--;
	}
	if (uc->starved)
		TAILQ_REMOVE(&uc->srv->pool->starved, uc, slink);
	uc->srv->nconns--;
	if (event_initialized(&uc->rd_ev))
		event_del(&uc->rd_ev);
	bufferevent_free(uc->bev);
	free(uc);
}

/*
 * Over memory_limit (membudget.h), a response whose front end holds more
 * than UC_STARVE_FLOOR bytes the client has not taken is not read further:
 * uc_starve() parks its connection, unread and without a timeout (the wait
 * is ours, not the upstream's).  uc_starve_cb() looks every
 * UC_STARVE_POLL_MS while any is parked, and reads again those whose client
 * took its bytes, and all of them once the buffers have drained.  So
 * clients that do not read hold the budget, not the others: a client that
 * reads keeps getting its response, a few KiB at a time.  Memory is freed by
 * any thread, so polling is what notices it.
 */
static int
uc_must_wait(const struct ups_conn *uc)
{
	const struct ups_req *ur = uc->req;

	if (!membudget_over())
		return 0;
	return ur == NULL || ur->ops->held == NULL ||
	    ur->ops->held(ur->arg) > UC_STARVE_FLOOR;
}

static void
uc_starve(struct ups_conn *uc)
{
	struct ups_pool		*pool = uc->srv->pool;

	event_del(&uc->rd_ev);
	if (uc->starved)
		return;
	uc->starved = 1;
	TAILQ_INSERT_TAIL(&pool->starved, uc, slink);
	METRIC_INC(metrics_self->memory_waits);
	if (!evtimer_pending(&pool->starve_ev, NULL))
		evtimer_add(&pool->starve_ev, &uc_starve_tv);
}

static void
uc_starve_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ups_pool		*pool = arg;
	struct ups_conn		*uc, *next;
	int			 drained = membudget_drained();

	for (uc = TAILQ_FIRST(&pool->starved); uc != NULL; uc = next) {
		next = TAILQ_NEXT(uc, slink);
		if (!drained && uc_must_wait(uc))
			continue;
		TAILQ_REMOVE(&pool->starved, uc, slink);
		uc->starved = 0;
		uc_read_arm(uc);
	}
	if (!TAILQ_EMPTY(&pool->starved))
		evtimer_add(&pool->starve_ev, &uc_starve_tv);
}

void
ups_pool_free(struct ups_pool *pool)
{
	size_t i;

	if (pool == NULL)
		return;
	if (event_initialized(&pool->starve_ev))
		event_del(&pool->starve_ev);
	for (i = 0; i < pool->nservers; i++) {
		struct ups_server *s = &pool->servers[i];

		event_del(&s->wake_ev);
		while (!TAILQ_EMPTY(&s->idle))
			uc_free(TAILQ_FIRST(&s->idle));
		/* Every request is gone by now, and its tenant with it. */
		free(s->tenants);
		free(s->name);
	}
	free(pool->servers);
	free(pool);
}

/* ---- serializing the request head ------------------------------------ */

/*
 * ur_is_forwarding() tells whether a field is one a proxy sets to say who
 * the client is, how it came or what it asked for ('_' spellings alike:
 * some applications read them as the '-' ones): 1 for X-Forwarded-For and
 * X-Forwarded-Proto, which h2guard writes itself, 2 for the others.
 */
static int
ur_is_forwarding(const struct hdr *h)
{
	static const char *const others[] = {
		"forwarded", "x-real-ip", "true-client-ip", "x-client-ip",
		"client-ip", "x-cluster-client-ip", "cf-connecting-ip",
		"fastly-client-ip", "x-original-forwarded-for",
		"x-originating-ip", "x-remote-ip", "x-remote-addr",
		"x-proxyuser-ip", "x-real-port", "front-end-https",
		"x-url-scheme", "x-forwarded", "proxy-client-ip",
		"wl-proxy-client-ip", "x-envoy-external-address", "x-host",
		"x-original-host", "x-scheme",
		/* Set by a front proxy to override the target (IIS, Symfony). */
		"x-original-url", "x-rewrite-url", "x-original-uri",
	};
	size_t i;

	/* Every one of them begins with one of these: most fields stop here. */
	if (h->nlen == 0 || strchr("cfptwx", h->name[0] | 0x20) == NULL)
		return 0;
	if (canon_name_eq(h->name, h->nlen, "x-forwarded-for", 15) ||
	    canon_name_eq(h->name, h->nlen, "x-forwarded-proto", 17))
		return 1;
	if (h->nlen > 12 && canon_name_eq(h->name, 12, "x-forwarded-", 12))
		return 2;
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (canon_name_eq(h->name, h->nlen, others[i],
		    strlen(others[i])))
			return 2;
	return 0;
}

static int
ur_skip_field(const struct ups_req *ur, const struct http_req *req,
    const struct hdr *h)
{
	static const char *const ours[] = {
		"host", "content-length", "expect", "cookie",
	};
	size_t i;
	int fwd;

	if (h->flags & HDR_F_DROP)
		return 1;
	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strcmp(h->name, ours[i]) == 0)
			return 1;
	/*
	 * Stripped, none passes.  Trusted, the others pass; X-Forwarded-For
	 * and -Proto are rewritten below.
	 */
	if ((fwd = ur_is_forwarding(h)) != 0 &&
	    (!ur->pool->trust_fwd || fwd == 1))
		return 1;
	return hdr_hop_by_hop(h->name, h->nlen) ||
	    hdr_in_connection(&req->headers, h->name, h->nlen);
}

/*
 * ur_add_joined() appends "Name: " and the values of every field name of
 * req (joined by sep), returning how many there were (-1: out of memory).
 * Nothing is appended when there is none.
 */
static int
ur_add_joined(struct evbuffer *b, const struct http_req *req,
    const char *name, const char *Name, const char *sep)
{
	uint32_t	i;
	int		n = 0;

	for (i = 0; i < req->headers.n; i++) {
		const struct hdr *h = &req->headers.v[i];

		/* Named by Connection: hop-by-hop, not forwarded. */
		if (strcmp(h->name, name) != 0 ||
		    hdr_in_connection(&req->headers, h->name, h->nlen))
			continue;
		if ((n++ ? evbuffer_add(b, sep, strlen(sep)) :
		    evbuffer_add_printf(b, "%s: ", Name) < 0) ||
		    evbuffer_add(b, h->value, h->vlen))
			return -1;
	}
	return n;
}

/*
 * ur_add_forwarding() writes X-Forwarded-For and X-Forwarded-Proto: ours
 * alone, or, with forwarded_headers trust, the client's address appended
 * to the incoming list and the incoming protocol kept.
 */
static int
ur_add_forwarding(struct ups_req *ur, struct evbuffer *b,
    const struct http_req *req, const char *client_addr)
{
	int n = 0;

	if (ur->pool->trust_fwd &&
	    (n = ur_add_joined(b, req, "x-forwarded-for", "X-Forwarded-For",
	    ", ")) < 0)
		return -1;
	if ((n ? evbuffer_add(b, ", ", 2) :
	    evbuffer_add(b, "X-Forwarded-For: ", 17)) ||
	    evbuffer_add(b, client_addr, strlen(client_addr)) ||
	    evbuffer_add(b, "\r\n", 2))
		return -1;
	if (ur->pool->trust_fwd &&
	    (n = ur_add_joined(b, req, "x-forwarded-proto", "X-Forwarded-Proto",
	    ", ")) != 0)
		return n < 0 || evbuffer_add(b, "\r\n", 2) ? -1 : 0;
	/* The transport it came on, not the :scheme an h2c client claims. */
	return req->tls ? evbuffer_add(b, "X-Forwarded-Proto: https\r\n", 26) :
	    evbuffer_add(b, "X-Forwarded-Proto: http\r\n", 25);
}

static int
ur_serialize(struct ups_req *ur, const struct http_req *req,
    const char *client_addr)
{
	struct evbuffer	*b;
	uint32_t	 i;
	int		 ncookie = 0, rc = -ENOMEM;

	if ((b = evbuffer_new()) == NULL)
		return -ENOMEM;
	if (evbuffer_add_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req->method,
	    req->path, req->authority ? req->authority : ur->srv->name) < 0)
		goto out;
	for (i = 0; i < req->headers.n; i++) {
		const struct hdr *h = &req->headers.v[i];

		if (ur_skip_field(ur, req, h))
			continue;
		if (evbuffer_add(b, h->name, h->nlen) ||
		    evbuffer_add(b, ": ", 2) ||
		    evbuffer_add(b, h->value, h->vlen) ||
		    evbuffer_add(b, "\r\n", 2))
			goto out;
	}
	/* HTTP/2 may split cookies into several fields; HTTP/1.1 wants one. */
	for (i = 0; i < req->headers.n; i++) {
		const struct hdr *h = &req->headers.v[i];

		if (strcmp(h->name, "cookie") != 0)
			continue;
		if ((ncookie++ ? evbuffer_add(b, "; ", 2) :
		    evbuffer_add(b, "Cookie: ", 8)) ||
		    evbuffer_add(b, h->value, h->vlen))
			goto out;
	}
	if (ncookie && evbuffer_add(b, "\r\n", 2))
		goto out;
	if (ur_add_forwarding(ur, b, req, client_addr) < 0)
		goto out;
	if (req->has_body && req->content_length >= 0) {
		if (evbuffer_add_printf(b, "Content-Length: %lld\r\n",
		    (long long)req->content_length) < 0)
			goto out;
	} else if (req->has_body) {
		ur->flags |= UR_F_CHUNKED;
		if (evbuffer_add(b, "Transfer-Encoding: chunked\r\n", 28))
			goto out;
	} else if (req->content_length == 0 || strcmp(req->method, "POST") == 0 ||
	    strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0) {
		if (evbuffer_add(b, "Content-Length: 0\r\n", 19))
			goto out;
	}
	if (evbuffer_add(b, "\r\n", 2))
		goto out;
	ur->headlen = evbuffer_get_length(b);
	if ((ur->head = malloc(ur->headlen)) == NULL)
		goto out;
	evbuffer_remove(b, ur->head, ur->headlen);
	rc = 0;
out:
	evbuffer_free(b);
	return rc;
}

/* ---- the request side --------------------------------------------------- */

/* ur_count_error() counts a failed exchange: 504 is a timeout. */
static void
ur_count_error(int status)
{
	if (status == 504)
		METRIC_INC(metrics_self->upstream_timeouts);
	else
		METRIC_INC(metrics_self->upstream_errors);
}

static void
ur_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ups_req *ur = arg;

	if (ur->flags & UR_F_WAITING) {
		ur_unwait(ur);
		log_info("upstream %s: no connection free in time", ur->srv->name);
	}
	ur->flags |= UR_F_FINISHED;
	ur_count_error(ur->fail_status);
	ur->ops->on_error(ur->arg, ur->fail_status);
}

/* ur_fail_later() reports status from the event loop, never synchronously. */
static void
ur_fail_later(struct ups_req *ur, int status)
{
	ur->fail_status = status;
	event_active(&ur->fail_ev, EV_TIMEOUT, 0);
}

static void
ur_detach(struct ups_req *ur, int keep)
{
	struct ups_conn		*uc = ur->uc;
	struct ups_server	*srv = ur->srv;
	struct evbuffer		*in, *out;

	if (uc == NULL)
		return;
	ur->uc = NULL;
	uc->req = NULL;
	ur->tenant->held--;
	tenant_update(srv, ur->tenant);
	out = bufferevent_get_output(uc->bev);
	in = bufferevent_get_input(uc->bev);
	evbuffer_remove_cb(out, uc_output_cb, uc);
	if (!keep || evbuffer_get_length(out) > 0 ||
	    evbuffer_get_length(in) > 0 || !(ur->flags & UR_F_BODY_END)) {
		uc_free(uc);
		/*
		 * Room for a new connection.  Open it from the event loop: when
		 * a whole client connection is torn down, its own waiting
		 * requests are gone by then and cost the upstream nothing.
		 */
		if (!TAILQ_EMPTY(&srv->ready))
			event_active(&srv->wake_ev, EV_TIMEOUT, 0);
		return;
	}
	uc->done = 0;
	if (!TAILQ_EMPTY(&srv->ready)) {
		ur_wake_waiting(srv, uc);
		return;
	}
	if (srv->nidle >= srv->pool->keepalive) {
		uc_free(uc);
		return;
	}
	uc->state = UC_IDLE;
	TAILQ_INSERT_HEAD(&srv->idle, uc, link);
	srv->nidle++;
	bufferevent_set_timeouts(uc->bev, NULL, NULL);
	uc_read_arm(uc);
}

/*
 * uc_read_arm() waits for what a connected upstream sends, or stops, as uc's
 * state says: an idle connection is read (for its EOF) with the idle
 * timeout; an active one, unless its request is paused, with the response
 * timeout once the request body has been sent, and none before (the
 * upstream need not answer before, however slow the client's upload).
 */
static void
uc_read_arm(struct ups_conn *uc)
{
	const struct ups_pool	*pool = uc->srv->pool;
	const struct ups_req	*ur = uc->req;

	if (!uc->connected || uc->starved)
		return;
	if (uc->state == UC_IDLE) {
		event_add(&uc->rd_ev, &pool->idle_tv);
	} else if (ur == NULL || (ur->flags & UR_F_PAUSED)) {
		event_del(&uc->rd_ev);
	} else if (ur->flags & UR_F_BODY_END) {
		event_add(&uc->rd_ev, &pool->response_tv);
	} else {
		/* event_add() without a timeout keeps the one it had. */
		event_add(&uc->rd_ev, NULL);
		event_remove_timer(&uc->rd_ev);
	}
}

/*
 * uc_arm_timeouts() sets the timeouts of a connected, active connection:
 * the upstream must keep taking what we send, and answer (uc_read_arm()).
 */
static void
uc_arm_timeouts(struct ups_conn *uc)
{
	bufferevent_set_timeouts(uc->bev, NULL, &uc->srv->pool->response_tv);
	uc_read_arm(uc);
}

static struct ups_conn *
uc_new(struct ups_server *srv)
{
	struct ups_pool	*pool = srv->pool;
	struct ups_conn	*uc;

	if ((uc = calloc(1, sizeof(*uc))) == NULL)
		return NULL;
	uc->srv = srv;
	uc->bev = bufferevent_socket_new(pool->base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (uc->bev == NULL) {
		free(uc);
		return NULL;
	}
	srv->nconns++;
	/* Reading is uc_read_ev()'s: the bufferevent's own stays disabled. */
	bufferevent_setcb(uc->bev, NULL, NULL, uc_event_cb, uc);
	bufferevent_set_timeouts(uc->bev, NULL, &pool->connect_tv);
	if (bufferevent_socket_connect(uc->bev, (struct sockaddr *)&srv->addr,
	    (int)srv->addrlen) < 0) {
		log_warn("upstream %s: connect: %s", srv->name, strerror(errno));
		uc_free(uc);
		return NULL;
	}
	event_assign(&uc->rd_ev, pool->base, bufferevent_getfd(uc->bev),
	    EV_READ | EV_PERSIST, uc_read_ev, uc);
	return uc;
}

/* srv_take_idle() takes a pooled connection of srv, or NULL: none. */
static struct ups_conn *
srv_take_idle(struct ups_server *srv)
{
	struct ups_conn *uc = TAILQ_FIRST(&srv->idle);

	if (uc != NULL) {
		TAILQ_REMOVE(&srv->idle, uc, link);
		srv->nidle--;
	}
	return uc;
}

/*
 * ur_attach() gives ur a connection (a pooled one unless fresh) and writes
 * the head and whatever body is queued.  Returns 0, or -1 after scheduling
 * a 502.
 */
static int
ur_attach(struct ups_req *ur, int fresh)
{
	struct ups_server	*srv = ur->srv;
	struct ups_conn		*uc = NULL;

	if (!fresh && (tenant_over(ur) || !TAILQ_EMPTY(&srv->ready))) {
		/*
		 * Its client holds its share, or others wait already (their
		 * turn first): wait for a connection to finish, 504 if none
		 * does in time.
		 */
		ur_wait(ur);
		return 0;
	}
	if (!fresh && (uc = srv_take_idle(srv)) == NULL &&
	    srv->nconns >= srv->pool->max_conns) {
		ur_wait(ur);
		return 0;
	}
	if (uc == NULL && (uc = uc_new(srv)) == NULL) {
		ur_fail_later(ur, 502);
		return -1;
	}
	return ur_start(ur, uc);
}

/*
 * ur_wake_waiting() gives the next waiting request (srv_next_waiting()) uc,
 * a connection that just finished an exchange cleanly, or, when uc is
 * NULL, a pooled one or a new one (there is room for another).
 */
static void
ur_wake_waiting(struct ups_server *srv, struct ups_conn *uc)
{
	struct ups_req *ur = srv_next_waiting(srv);

	if (ur == NULL) {
		if (uc != NULL)
			uc_free(uc);
		return;
	}
	if (uc == NULL && (uc = srv_take_idle(srv)) == NULL &&
	    (uc = uc_new(srv)) == NULL) {
		ur_fail_later(ur, 502);
		return;
	}
	ur_start(ur, uc);
}

/*
 * uc_write_now() writes what it can of data straight to uc's socket, when
 * uc is connected and has nothing queued, and returns how much it wrote: a
 * request head then needs no wait for writability, and so no epoll_ctl()
 * pair per request.  An error is left to the bufferevent, which meets it
 * at its own write (and retries a request on a pooled connection the
 * upstream closed).
 */
static size_t
uc_write_now(struct ups_conn *uc, const char *data, size_t len)
{
	ssize_t n;

	if (!uc->connected ||
	    evbuffer_get_length(bufferevent_get_output(uc->bev)) > 0)
		return 0;
	do
		n = send(bufferevent_getfd(uc->bev), data, len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n > 0 ? (size_t)n : 0;
}

/* ur_start() writes ur's head and queued body on uc.  Returns 0 or -1. */
static int
ur_start(struct ups_req *ur, struct ups_conn *uc)
{
	struct evbuffer	*out;
	size_t		 sent;

	uc->state = UC_ACTIVE;
	uc->req = ur;
	ur->uc = uc;
	ur->tenant->held++;
	tenant_update(ur->srv, ur->tenant);
	if (uc->connected) {
		uc->reused = 1;
		uc_arm_timeouts(uc);
	}
	http_parser_init(&uc->parser, HTTP_RESPONSE);
	uc->parser.data = uc;
	out = bufferevent_get_output(uc->bev);
	sent = evbuffer_get_length(ur->body) == 0 ?
	    uc_write_now(uc, ur->head, ur->headlen) : 0;
	if ((sent < ur->headlen &&
	    evbuffer_add(out, ur->head + sent, ur->headlen - sent) < 0) ||
	    evbuffer_add_buffer(out, ur->body) < 0) {
		ur_detach(ur, 0);
		ur_fail_later(ur, 502);
		return -1;
	}
	/*
	 * Writing stays enabled (bufferevent_socket_new() enables it): the
	 * output buffer's callback waits for writability when it holds
	 * bytes.  Reading was armed above, or will be once connected.
	 */
	evbuffer_add_cb(out, uc_output_cb, uc);
	return 0;
}

struct ups_req *
ups_req_new(struct ups_pool *pool, const struct http_req *req,
    const struct sockaddr *client, const char *client_addr,
    const struct ups_req_ops *ops, void *arg)
{
	struct ups_req *ur;

	if (pool->nservers == 0 || (ur = calloc(1, sizeof(*ur))) == NULL)
		return NULL;
	ur->pool = pool;
	ur->srv = &pool->servers[pool->next++ % pool->nservers];
	ur->tenant = ur_tenant(ur->srv, client);
	ur->ops = ops;
	ur->arg = arg;
	ur->resp.content_length = -1;
	event_assign(&ur->fail_ev, pool->base, -1, 0, ur_fail_cb, ur);
	if (http_method_idempotent(req->method))
		ur->flags |= UR_F_IDEMPOTENT;
	if (strcmp(req->method, "HEAD") == 0)
		ur->flags |= UR_F_HEAD_REQ;
	if (!req->has_body)
		ur->flags |= UR_F_BODY_END;
	if ((ur->body = evbuffer_new()) == NULL ||
	    ur_serialize(ur, req, client_addr) < 0) {
		ups_req_free(ur);
		return NULL;
	}
	ur_attach(ur, 0);
	return ur;
}

static struct evbuffer *
ur_body_out(struct ups_req *ur)
{
	return ur->uc ? bufferevent_get_output(ur->uc->bev) : ur->body;
}

int
ups_req_body(struct ups_req *ur, const uint8_t *data, size_t len)
{
	struct evbuffer	*out;
	char		 size[24];
	int		 n;

	if (len == 0 || (ur->flags & (UR_F_BODY_END | UR_F_FINISHED)))
		return 0;
	out = ur_body_out(ur);
	ur->body_total += len;
	if (ur->flags & UR_F_CHUNKED) {
		n = snprintf(size, sizeof(size), "%zx\r\n", len);
		if (evbuffer_add(out, size, (size_t)n) ||
		    evbuffer_add(out, data, len) || evbuffer_add(out, "\r\n", 2))
			return -ENOMEM;
		return 0;
	}
	return evbuffer_add(out, data, len) ? -ENOMEM : 0;
}

int
ups_req_body_end(struct ups_req *ur)
{
	if (ur->flags & (UR_F_BODY_END | UR_F_FINISHED))
		return 0;
	ur->flags |= UR_F_BODY_END;
	if (ur->uc != NULL && ur->uc->connected)
		uc_arm_timeouts(ur->uc);
	if ((ur->flags & UR_F_CHUNKED) &&
	    evbuffer_add(ur_body_out(ur), "0\r\n\r\n", 5))
		return -ENOMEM;
	return 0;
}

size_t
ups_req_buffered(const struct ups_req *ur)
{
	if (ur->uc)
		return evbuffer_get_length(bufferevent_get_output(ur->uc->bev));
	return evbuffer_get_length(ur->body);
}

int
ups_req_in_flight(const struct ups_req *ur)
{
	return ur->uc != NULL;
}

void
ups_req_pause(struct ups_req *ur, int pause)
{
	if (pause)
		ur->flags |= UR_F_PAUSED;
	else
		ur->flags &= ~UR_F_PAUSED;
	if (ur->uc != NULL)
		uc_read_arm(ur->uc);
}

const char *
ups_req_upstream(const struct ups_req *ur)
{
	return ur->srv != NULL ? ur->srv->name : NULL;
}

void
ups_req_free(struct ups_req *ur)
{
	if (ur == NULL)
		return;
	if (ur->flags & UR_F_WAITING)
		ur_unwait(ur);
	/* An unfinished exchange leaves the connection in an unknown state. */
	ur_detach(ur, 0);
	tenant_unref(ur->srv, ur->tenant);
	event_del(&ur->fail_ev);
	evbuffer_free(ur->body);
	free(ur->head);
	hdrlist_clear(&ur->resp.headers);
	hdrlist_clear(&ur->trailers);
	hdr_acc_free(&ur->acc);
	free(ur);
}

/* ---- the response side --------------------------------------------------- */

static void
ur_error(struct ups_req *ur, int status)
{
	int keep_going = ur->flags & UR_F_HEAD_SENT;

	ur_detach(ur, 0);
	ur->flags |= UR_F_FINISHED;
	ur_count_error(status);
	ur->ops->on_error(ur->arg, keep_going ? 0 : status);
}

static int
uc_on_message_begin(http_parser *p)
{
	struct ups_conn *uc = p->data;

	uc->req->flags |= UR_F_GOT_BYTES;
	return 0;
}

static int
uc_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct ups_req *ur = ((struct ups_conn *)p->data)->req;
	struct hdrlist *l = (ur->flags & UR_F_HEAD_SENT) ? &ur->trailers :
	    &ur->resp.headers;

	return hdr_acc_field(&ur->acc, l, at, len) ? -1 : 0;
}

static int
uc_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct ups_req *ur = ((struct ups_conn *)p->data)->req;

	return hdr_acc_value(&ur->acc, at, len) ? -1 : 0;
}

/* uc_filter_fields() drops fields the front end must not pass on. */
static void
uc_filter_fields(struct hdrlist *l)
{
	uint32_t	 i, j = 0;

	/*
	 * Mark first, reading the Connection fields while they are intact
	 * (they name more fields to drop); they go in the second pass.
	 */
	for (i = 0; i < l->n; i++) {
		struct hdr *h = &l->v[i];

		if (strcmp(h->name, "connection") != 0 &&
		    (hdr_hop_by_hop(h->name, h->nlen) ||
		    hdr_in_connection(l, h->name, h->nlen) ||
		    strcmp(h->name, "content-length") == 0))
			h->nlen |= HDR_DROP;
	}
	for (i = 0; i < l->n; i++) {
		struct hdr *h = &l->v[i];

		if ((h->nlen & HDR_DROP) || strcmp(h->name, "connection") == 0) {
			h->nlen &= ~HDR_DROP;
			l->bytes -= h->nlen + h->vlen;
			free(h->name);
			continue;
		}
		l->v[j++] = *h;
	}
	l->n = j;
}

static int
uc_on_headers_complete(http_parser *p)
{
	struct ups_conn	*uc = p->data;
	struct ups_req	*ur = uc->req;
	struct ups_resp	*r = &ur->resp;

	if (hdr_acc_flush(&ur->acc, &r->headers) < 0)
		return -1;
	if (p->status_code < 200) {
		/* Interim responses (100 Continue, 103) are not passed on. */
		uc->in_1xx = 1;
		hdrlist_clear(&r->headers);
		return 0;
	}
	r->status = p->status_code;
	if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX &&
	    p->content_length <= INT64_MAX)
		r->content_length = (int64_t)p->content_length;
	uc_filter_fields(&r->headers);
	r->has_body = !((ur->flags & UR_F_HEAD_REQ) || r->status == 204 ||
	    r->status == 304 || r->content_length == 0);
	ur->flags |= UR_F_HEAD_SENT;
	ur->ops->on_head(ur->arg, r);
	/* Tell the parser a HEAD response has no body. */
	return (ur->flags & UR_F_HEAD_REQ) ? 1 : 0;
}

static int
uc_on_body(http_parser *p, const char *at, size_t len)
{
	struct ups_req *ur = ((struct ups_conn *)p->data)->req;

	ur->ops->on_body(ur->arg, (const uint8_t *)at, len);
	return 0;
}

static int
uc_on_message_complete(http_parser *p)
{
	struct ups_conn	*uc = p->data;
	struct ups_req	*ur = uc->req;

	if (uc->in_1xx) {
		uc->in_1xx = 0;
		return 0;
	}
	if (hdr_acc_flush(&ur->acc, &ur->trailers) < 0)
		return -1;
	uc_filter_fields(&ur->trailers);
	uc->done = 1;
	/* Stop here: bytes after the response are not ours to parse. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings uc_parser_settings = {
	.on_message_begin = uc_on_message_begin,
	.on_header_field = uc_on_header_field,
	.on_header_value = uc_on_header_value,
	.on_headers_complete = uc_on_headers_complete,
	.on_body = uc_on_body,
	.on_message_complete = uc_on_message_complete,
};

static void
ur_finish(struct ups_req *ur)
{
	struct ups_conn *uc = ur->uc;

	ur_detach(ur, http_should_keep_alive(&uc->parser));
	ur->flags |= UR_F_FINISHED;
	ur->ops->on_end(ur->arg, &ur->trailers);
}

/* uc_parse() feeds len bytes to the parser.  Returns bytes used, or -1. */
static ssize_t
uc_parse(struct ups_conn *uc, const char *data, size_t len)
{
	size_t			n;
	enum http_errno		err;

	n = http_parser_execute(&uc->parser, &uc_parser_settings, data, len);
	err = HTTP_PARSER_ERRNO(&uc->parser);
	if (err != HPE_OK && err != HPE_PAUSED) {
		log_info("upstream %s: bad response: %s", uc->srv->name,
		    http_errno_description(err));
		return -1;
	}
	return (ssize_t)n;
}

/*
 * uc_read_ev() reads what the upstream sent into the bufferevent's input
 * buffer, and parses it: as much as the request's front end has room for
 * (ops->room), between UC_READ_MIN and UC_READ_MAX bytes.  Not the
 * bufferevent's own reading: libevent 2.1 asks the socket how much it holds
 * (FIONREAD) before every read, and reads 4 KiB at most: two system calls
 * per response, and a pass of the event loop per 4 KiB of a large one.  An
 * EOF, an error or a timeout stops reading and goes to uc_event_cb(), as
 * the bufferevent's would.
 */
#define UC_READ_MIN	4096
#define UC_READ_MAX	(64 * 1024)

/* iov_clamp() trims v[0..nv) to len bytes in all; returns the vectors used. */
static int
iov_clamp(struct evbuffer_iovec *v, int nv, size_t len)
{
	int i;

	for (i = 0; i < nv && len > 0; i++) {
		if (v[i].iov_len > len)
			v[i].iov_len = len;
		len -= v[i].iov_len;
	}
	return i;
}

static void
uc_read_ev(evutil_socket_t fd, short what, void *arg)
{
	struct ups_conn		*uc = arg;
	struct ups_req		*ur = uc->req;
	struct evbuffer		*in = bufferevent_get_input(uc->bev);
	struct evbuffer_iovec	 v[2];
	ssize_t			 n = -1;
	size_t			 want = UC_READ_MAX;
	int			 nv;

	if (what & EV_TIMEOUT) {
		event_del(&uc->rd_ev);
		uc_event_cb(uc->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, uc);
		return;
	}
	if (uc->state == UC_ACTIVE && uc_must_wait(uc)) {
		uc_starve(uc);
		return;
	}
	if (ur != NULL && ur->ops->room != NULL &&
	    (want = ur->ops->room(ur->arg)) > UC_READ_MAX)
		want = UC_READ_MAX;
	/* Over memory_limit, a little at a time (uc_must_wait()). */
	if (want < UC_READ_MIN || membudget_over())
		want = UC_READ_MIN;
	if ((nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2)) > 0) {
		nv = iov_clamp(v, nv, want);
		do
			n = readv(fd, (struct iovec *)v, nv);
		while (n < 0 && errno == EINTR);
	}
	if (n <= 0) {
		if (nv > 0)
			evbuffer_commit_space(in, v, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		event_del(&uc->rd_ev);
		uc_event_cb(uc->bev, BEV_EVENT_READING |
		    (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), uc);
		return;
	}
	evbuffer_commit_space(in, v, iov_clamp(v, nv, (size_t)n));
	if (uc->state == UC_IDLE) {
		/* An idle upstream has nothing to say to us. */
		uc_free(uc);
		return;
	}
	while (!uc->done && evbuffer_get_length(in) > 0) {
		evbuffer_peek(in, -1, NULL, v, 1);
		if ((n = uc_parse(uc, v[0].iov_base, v[0].iov_len)) < 0) {
			ur_error(ur, 502);
			return;
		}
		evbuffer_drain(in, (size_t)n);
	}
	if (uc->done)
		ur_finish(ur);
}

static void
uc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ups_conn	*uc = arg;
	struct ups_req	*ur = uc->req;
	int		 fresh_needed;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		uc->connected = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
		if (uc->req != NULL)
			uc_arm_timeouts(uc);
		return;
	}
	if (uc->state == UC_IDLE) {
		uc_free(uc);
		return;
	}
	if ((what & BEV_EVENT_EOF) && uc->parser.http_errno == HPE_OK &&
	    (ur->flags & UR_F_GOT_BYTES)) {
		/* EOF ends a close-delimited body. */
		if (uc_parse(uc, NULL, 0) == 0 && uc->done) {
			ur_finish(ur);
			return;
		}
	}
	if (!uc->connected)
		log_warn("upstream %s: connect failed: %s", uc->srv->name,
		    (what & BEV_EVENT_TIMEOUT) ? "timed out" :
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else if (what & BEV_EVENT_TIMEOUT)
		log_info("upstream %s: timed out", uc->srv->name);
	/*
	 * A pooled connection the upstream closed just as we reused it: send
	 * an idempotent request without body once more, on a new connection.
	 */
	fresh_needed = uc->reused && !(what & BEV_EVENT_TIMEOUT) &&
	    !(ur->flags & (UR_F_GOT_BYTES | UR_F_RETRIED)) &&
	    (ur->flags & UR_F_IDEMPOTENT) && ur->body_total == 0;
	if (fresh_needed) {
		ur_detach(ur, 0);
		ur->flags |= UR_F_RETRIED;
		if (ur->flags & UR_F_CHUNKED && ur->flags & UR_F_BODY_END)
			evbuffer_add(ur->body, "0\r\n\r\n", 5);
		ur_attach(ur, 1);
		return;
	}
	ur_error(ur, (what & BEV_EVENT_TIMEOUT) ? 504 : 502);
}

static void
uc_output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct ups_conn *uc = arg;

	if (info->n_deleted > 0 && uc->req != NULL)
		uc->req->ops->on_body_sent(uc->req->arg, info->n_deleted);
}
