/*
 * guard.c - the ban decision, the address ban table at accept(), the ban log.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/buffer.h>

#include "proxy/bantable.h"
#include "proxy/canon.h"
#include "proxy/clients.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/guard.h"
#include "proxy/hdr.h"
#include "proxy/limit.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/rules.h"
#include "proxy/server.h"

#define GUARD_FIELD_MAX	256	/* bytes of method or path in a log line */

uint64_t
guard_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
guard_now_ms(void)
{
	return guard_now_us() / 1000;
}

void
guard_linger_reset(evutil_socket_t fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static const char *
guard_proto(enum http_proto proto)
{
	return proto == PROTO_H2 ? "h2" : "http/1.1";
}

/*
 * guard_line_new() starts a ban log line: time, event, client, connection
 * and protocol (NULL: none yet).  Returns NULL when the ban log is off or
 * out of memory.
 */
static struct evbuffer *
guard_line_new(struct conn *c, const char *event, const char *proto)
{
	struct evbuffer	*b;
	const char	*sep = strrchr(c->peer_str, ':');

	if (__atomic_load_n(&srv.ban_log_fd, __ATOMIC_ACQUIRE) < 0 ||
	    (b = evbuffer_new()) == NULL)
		return NULL;
	evbuffer_add(b, "{\"time\":", 8);
	log_json_time(b);
	evbuffer_add_printf(b, ",\"event\":\"%s\",\"client\":\"%s\","
	    "\"port\":%s,\"conn\":%llu", event, c->addr_str,
	    sep ? sep + 1 : "0", (unsigned long long)c->id);
	if (proto != NULL)
		evbuffer_add_printf(b, ",\"protocol\":\"%s\"", proto);
	return b;
}

/* guard_line_write() writes the finished line b and frees it. */
static void
guard_line_write(struct conn *c, struct evbuffer *b)
{
	int fd = __atomic_load_n(&srv.ban_log_fd, __ATOMIC_ACQUIRE);

	/* One write per line: lines of a shared file do not interleave. */
	if (fd >= 0 && evbuffer_write(b, fd) < 0)
		conn_log(c, LOG_WARNING, "ban log: %s", strerror(errno));
	evbuffer_free(b);
}

/*
 * guard_log() writes one JSON line about a rule decision to the ban log:
 * event is "ban", "log" or "dry_run".
 */
static void
guard_log(struct conn *c, const char *event, const struct rule *r,
    const struct http_req *req, int32_t stream_id, int siblings,
    int cancelled)
{
	struct evbuffer *b;

	if ((b = guard_line_new(c, event, guard_proto(req->proto))) == NULL)
		return;
	evbuffer_add(b, ",\"rule\":", 8);
	log_json_str(b, rule_name(r), GUARD_FIELD_MAX);
	evbuffer_add_printf(b, ",\"stream\":%d,\"method\":", (int)stream_id);
	log_json_str(b, req->method, GUARD_FIELD_MAX);
	evbuffer_add(b, ",\"path\":", 8);
	log_json_str(b, req->path, GUARD_FIELD_MAX);
	if (siblings >= 0)
		evbuffer_add_printf(b, ",\"siblings_dropped\":%d,"
		    "\"upstream_cancelled\":%d", siblings, cancelled);
	evbuffer_add_printf(b, ",\"ttl\":%u}\n", rule_ttl(r) / 1000);
	guard_line_write(c, b);
}

int
guard_canon(struct conn *c, struct http_req *req, int absolute)
{
	const struct canon_opts	 o = {
		.escaped_slashes = c->conf->path_escaped_slashes,
		.underscores = c->conf->header_underscores,
	};
	const char		*why = "";
	int			 rc;

	req->tls = (c->flags & CONN_F_TLS) != 0;
	if ((rc = canon_request(req, &o, absolute, &why)) == -EINVAL ||
	    rc == -EPROTO) {
		METRIC_INC(wk->m.bad_requests);
		conn_log(c, LOG_DEBUG, "malformed request: %s", why);
	}
	return rc;
}

/*
 * guard_rules() is guard_request() but for what a path canon_request()
 * found ambiguous means.
 */
static const struct rule *
guard_rules(struct conn *c, const struct http_req *req, int32_t stream_id)
{
	const char		*q = req->path ? strchr(req->path, '?') : NULL;
	struct rule_input	 in = {
		.method = req->method,
		/* CONNECT has no path; rules see "" */
		.path = req->match_path ? req->match_path : "",
		.pathlen = req->match_path ? req->match_pathlen : 0,
		.query = q ? q + 1 : "",
		.querylen = q ? strlen(q + 1) : 0,
		.query_dec = req->match_query,
		.query_declen = req->match_querylen,
		.authority = req->authority,
		.headers = &req->headers,
		.client = (const struct sockaddr *)&c->peer,
		.proto = req->proto,
		.sni = c->sni,
	};
	const struct rule	*r, *errored;

	if (req->method == NULL)
		return NULL;
	r = rules_match(c->conf->rules, &in, &errored);
	if (errored != NULL) {
		METRIC_INC(wk->m.rule_errors);
		if (rules_error_once(errored))
			conn_log(c, LOG_WARNING, "rule %s: a pattern match "
			    "failed (too long or too complex a subject); taken "
			    "as %s (rule_errors %s); logged once per rule",
			    rule_name(errored), c->conf->rule_errors ==
			    RULES_ERRORS_OPEN || rule_action(errored) ==
			    RULE_ALLOW ? "no match" : "a match",
			    c->conf->rule_errors == RULES_ERRORS_OPEN ?
			    "open" : "closed");
	}
	if (r == NULL)
		return NULL;
	switch (rule_action(r)) {
	case RULE_ALLOW:
		return NULL;
	case RULE_LOG:
		guard_log(c, "log", r, req, stream_id, -1, 0);
		return NULL;
	case RULE_BAN:
		break;
	}
	if (c->conf->dry_run) {
		guard_log(c, "dry_run", r, req, stream_id, -1, 0);
		return NULL;
	}
	return r;
}

const struct rule *
guard_request(struct conn *c, const struct http_req *req, int32_t stream_id)
{
	const struct rule *r = guard_rules(c, req, stream_id);

	if (r == NULL && req->ambiguous) {
		METRIC_INC(wk->m.bad_requests);
		conn_log(c, LOG_DEBUG, "malformed request: %%2F making a dot "
		    "segment in the path");
	}
	return r;
}

/*
 * guard_ban_address() bans c's address (its prefix) for ttl ms and tears
 * down the address's other live connections at once, on every worker.
 */
static void
guard_ban_address(struct conn *c, uint32_t ttl)
{
	if (server_ban((const struct sockaddr *)&c->peer, 0, ttl, c) < 0)
		conn_log(c, LOG_WARNING, "cannot add the address to the ban table");
}

void
guard_ban(struct conn *c, const struct rule *r, const struct http_req *req,
    int32_t stream_id, unsigned siblings, unsigned cancelled)
{
	uint32_t ttl = rule_ttl(r);

	c->flags |= CONN_F_BANNED;
	METRIC_INC(wk->m.bans);
	metrics_rule_ban(rule_name(r));
	guard_log(c, "ban", r, req, stream_id, (int)siblings, (int)cancelled);
	conn_log(c, LOG_INFO, "banned by rule %s (%s %s)%s", rule_name(r),
	    req->method, req->path ? req->path : "", ttl ? ", address banned" : "");
	if (ttl != 0)
		guard_ban_address(c, ttl);
}

/* guard_flood_log() writes the ban log line of a flood limit crossed. */
static void
guard_flood_log(struct conn *c, const char *proto, const char *limit,
    int siblings, int cancelled)
{
	struct evbuffer *b;

	if ((b = guard_line_new(c, "ban", proto)) == NULL)
		return;
	evbuffer_add_printf(b, ",\"limit\":\"%s\"", limit);
	if (siblings >= 0)
		evbuffer_add_printf(b, ",\"siblings_dropped\":%d,"
		    "\"upstream_cancelled\":%d", siblings, cancelled);
	evbuffer_add_printf(b, ",\"ttl\":%u}\n",
	    c->conf->flood_ban_ttl / 1000);
	guard_line_write(c, b);
}

void
guard_flood(struct conn *c, enum http_proto proto, const char *limit,
    unsigned siblings, unsigned cancelled)
{
	uint32_t ttl = c->conf->flood_ban_ttl;

	c->flags |= CONN_F_BANNED;
	METRIC_INC(wk->m.floods);
	METRIC_INC(wk->m.flood_limit[metrics_flood_index(limit)]);
	conn_log(c, LOG_INFO, "banned: flood limit %s crossed%s", limit,
	    ttl ? ", address banned" : "");
	guard_flood_log(c, guard_proto(proto), limit, (int)siblings,
	    (int)cancelled);
	if (ttl != 0)
		guard_ban_address(c, ttl);
}

const char *
guard_stream(struct conn *c)
{
	const struct limit	*l = &c->conf->limits[LIM_CLIENT_STREAM_RATE];
	uint64_t		 now;
	struct client		*cl;
	int			 over;

	if (l->count == 0)
		return NULL;
	now = guard_now_ms();
	pthread_mutex_lock(&srv.lock);
	cl = clients_get(srv.clients, (const struct sockaddr *)&c->peer, now);
	over = cl != NULL && rate_add(&cl->streams, l, now, 1);
	pthread_mutex_unlock(&srv.lock);
	return over ? limit_name(LIM_CLIENT_STREAM_RATE) : NULL;
}

/*
 * guard_client_admit() counts a new connection from sa (the caller holds
 * srv.lock) against the per-client connection limits.  Returns 0 when it
 * may stay (and *counted is 1 when it counts in the client's open
 * connections: client_max_connections is on), else 1 when fd must be
 * closed at once, 2 for the first drop of a window: that one is logged
 * (and bans the address with flood_ban_ttl); *why is the limit crossed.
 */
static int
guard_client_admit(const struct conf *conf, const struct sockaddr *sa,
    uint64_t now, enum limit_id *why, int *counted)
{
	const struct limit	*rate = &conf->limits[LIM_CLIENT_CONN_RATE];
	const struct limit	*cap = &conf->limits[LIM_CLIENT_CONNECTIONS];
	struct client		*cl;

	if ((rate->count == 0 && cap->count == 0) ||
	    (cl = clients_get(srv.clients, sa, now)) == NULL)
		return 0;
	if (rate->count != 0 && rate_add(&cl->conns, rate, now, 1))
		*why = LIM_CLIENT_CONN_RATE;
	else if (limit_over(cap, (uint64_t)cl->open + 1))
		*why = LIM_CLIENT_CONNECTIONS;
	else {
		if (cap->count != 0) {
			cl->open++;
			*counted = 1;
		}
		return 0;
	}
	if (now < cl->quiet_until)
		return 1;
	cl->quiet_until = now + (rate->window_ms ? rate->window_ms : 10000);
	return 2;
}

/* guard_client_drop_log() logs the first drop of a window, see above. */
static void
guard_client_drop_log(const struct conf *conf, const struct sockaddr *sa,
    enum limit_id why)
{
	struct conn tmp;	/* for the log line: address, no id */

	memset(&tmp, 0, sizeof(tmp));
	memcpy(&tmp.peer, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	tmp.conf = conf;
	conn_format_peer(&tmp);
	log_msg(LOG_INFO, "%s: flood limit %s crossed, new connections closed "
	    "at accept", tmp.peer_str, limit_name(why));
	guard_flood_log(&tmp, NULL, limit_name(why), -1, 0);
	if (conf->flood_ban_ttl != 0 &&
	    server_ban(sa, 0, conf->flood_ban_ttl, NULL) < 0)
		log_warn("%s: cannot add the address to the ban table",
		    tmp.peer_str);
}

void
guard_conn_gone(const struct sockaddr *sa)
{
	struct client *cl;

	pthread_mutex_lock(&srv.lock);
	/* Evicted meanwhile (a full set of busy clients): counted afresh. */
	if ((cl = clients_find(srv.clients, sa)) != NULL && cl->open > 0)
		cl->open--;
	pthread_mutex_unlock(&srv.lock);
}

int
guard_banned(const struct conf *conf, const struct sockaddr *sa, uint64_t now)
{
	/* The rules are looked at only for an address banned: rarely. */
	return ban_count(srv.bans) != 0 && ban_check(srv.bans, sa, now) != 0 &&
	    !rules_client_allowed(conf->rules, sa);
}

int
guard_accept(evutil_socket_t fd, const struct sockaddr *sa, int *counted)
{
	const struct conf	*conf = wk->wg->conf;
	uint64_t		 now = guard_now_ms();
	enum limit_id		 why = LIM_N;
	int			 banned, limited = 0;

	*counted = 0;
	pthread_mutex_lock(&srv.lock);
	banned = guard_banned(conf, sa, now);
	if (!banned)
		limited = guard_client_admit(conf, sa, now, &why, counted);
	pthread_mutex_unlock(&srv.lock);
	if (banned)
		METRIC_INC(wk->m.accept_banned);
	else if (limited && why == LIM_CLIENT_CONN_RATE)
		METRIC_INC(wk->m.accept_limited);
	else if (limited)
		METRIC_INC(wk->m.accept_client_conns);
	else
		return 0;
	if (limited == 2)
		guard_client_drop_log(conf, sa, why);
	if (conf->ban_close == CONF_BAN_RESET)
		guard_linger_reset(fd);
	evutil_closesocket(fd);
	return 1;
}
