/*
 * guard.c - the ban decision, the address ban table at accept(), the ban log.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/buffer.h>

#include "proxy/bantable.h"
#include "proxy/clients.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/guard.h"
#include "proxy/hdr.h"
#include "proxy/limit.h"
#include "proxy/rules.h"
#include "proxy/server.h"

#define GUARD_FIELD_MAX	256	/* bytes of method or path in a log line */

uint64_t
guard_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
guard_linger_reset(evutil_socket_t fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* guard_json_str() appends s as a JSON string, escaped, cut at max bytes. */
static void
guard_json_str(struct evbuffer *b, const char *s, size_t max)
{
	size_t i;

	if (s == NULL) {
		evbuffer_add(b, "null", 4);
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			evbuffer_add_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			evbuffer_add_printf(b, "\\u%04x", ch);
		else
			evbuffer_add(b, &s[i], 1);
	}
	if (s[i] != '\0')
		evbuffer_add(b, "...", 3);
	evbuffer_add(b, "\"", 1);
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
	struct timeval	 tv;
	struct tm	 tm;
	char		 ts[32];
	const char	*sep = strrchr(c->peer_str, ':');

	if (srv.ban_log_fd < 0 || (b = evbuffer_new()) == NULL)
		return NULL;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	evbuffer_add_printf(b, "{\"time\":\"%s.%03ldZ\",\"event\":\"%s\","
	    "\"client\":\"%s\",\"port\":%s,\"conn\":%llu",
	    ts, (long)tv.tv_usec / 1000, event, c->addr_str,
	    sep ? sep + 1 : "0", (unsigned long long)c->id);
	if (proto != NULL)
		evbuffer_add_printf(b, ",\"protocol\":\"%s\"", proto);
	return b;
}

/* guard_line_write() writes the finished line b and frees it. */
static void
guard_line_write(struct conn *c, struct evbuffer *b)
{
	/* One write per line: lines of a shared file do not interleave. */
	if (evbuffer_write(b, srv.ban_log_fd) < 0)
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
	guard_json_str(b, rule_name(r), GUARD_FIELD_MAX);
	evbuffer_add_printf(b, ",\"stream\":%d,\"method\":", (int)stream_id);
	guard_json_str(b, req->method, GUARD_FIELD_MAX);
	evbuffer_add(b, ",\"path\":", 8);
	guard_json_str(b, req->path, GUARD_FIELD_MAX);
	if (siblings >= 0)
		evbuffer_add_printf(b, ",\"siblings_dropped\":%d,"
		    "\"upstream_cancelled\":%d", siblings, cancelled);
	evbuffer_add_printf(b, ",\"ttl\":%u}\n", rule_ttl(r) / 1000);
	guard_line_write(c, b);
}

const struct rule *
guard_request(struct conn *c, const struct http_req *req, int32_t stream_id)
{
	struct rule_input	 in = {
		.method = req->method,
		.path = req->path ? req->path : "",	/* CONNECT has none */
		.authority = req->authority,
		.headers = &req->headers,
		.client = (const struct sockaddr *)&c->peer,
		.proto = req->proto,
		.sni = c->sni,
	};
	const struct rule	*r;

	if (req->method == NULL || (r = rules_match(srv.conf->rules, &in)) == NULL)
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
	if (srv.conf->dry_run) {
		guard_log(c, "dry_run", r, req, stream_id, -1, 0);
		return NULL;
	}
	return r;
}

/*
 * guard_ban_address() bans c's address (its prefix) for ttl ms and tears
 * down the address's other live connections at once.
 */
static void
guard_ban_address(struct conn *c, uint32_t ttl)
{
	struct conn	*o, *next;

	if (ban_add(srv.bans, (const struct sockaddr *)&c->peer, guard_now_ms(),
	    ttl) < 0) {
		conn_log(c, LOG_WARNING, "cannot add the address to the ban table");
		return;
	}
	for (o = TAILQ_FIRST(&srv.conns); o != NULL; o = next) {
		next = TAILQ_NEXT(o, link);
		if (o == c || !ban_same_prefix(srv.bans,
		    (const struct sockaddr *)&o->peer,
		    (const struct sockaddr *)&c->peer))
			continue;
		o->flags |= CONN_F_BANNED;
		conn_log(o, LOG_INFO, "torn down: its address was banned on c#%llu",
		    (unsigned long long)c->id);
		conn_close(o);
	}
}

void
guard_ban(struct conn *c, const struct rule *r, const struct http_req *req,
    int32_t stream_id, unsigned siblings, unsigned cancelled)
{
	uint32_t ttl = rule_ttl(r);

	c->flags |= CONN_F_BANNED;
	srv.stats.bans++;
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
	    srv.conf->flood_ban_ttl / 1000);
	guard_line_write(c, b);
}

void
guard_flood(struct conn *c, enum http_proto proto, const char *limit,
    unsigned siblings, unsigned cancelled)
{
	uint32_t ttl = srv.conf->flood_ban_ttl;

	c->flags |= CONN_F_BANNED;
	srv.stats.floods++;
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
	const struct limit	*l = &srv.conf->limits[LIM_CLIENT_STREAM_RATE];
	uint64_t		 now;
	struct client		*cl;

	if (l->count == 0)
		return NULL;
	now = guard_now_ms();
	cl = clients_get(srv.clients, (const struct sockaddr *)&c->peer, now);
	if (cl == NULL || !rate_add(&cl->streams, l, now, 1))
		return NULL;
	return limit_name(LIM_CLIENT_STREAM_RATE);
}

/*
 * guard_conn_rate() counts a new connection from sa.  Returns 1 when the
 * address crossed client_conn_rate: fd must be closed at once.  The first
 * drop of a window is logged, and bans the address with flood_ban_ttl.
 */
static int
guard_conn_rate(evutil_socket_t fd, const struct sockaddr *sa, uint64_t now)
{
	const struct limit	*l = &srv.conf->limits[LIM_CLIENT_CONN_RATE];
	struct client		*cl;
	struct conn		 tmp;	/* for the log line: address, no id */

	if (l->count == 0 ||
	    (cl = clients_get(srv.clients, sa, now)) == NULL ||
	    !rate_add(&cl->conns, l, now, 1))
		return 0;
	srv.stats.accept_limited++;
	if (now < cl->quiet_until)
		return 1;
	cl->quiet_until = now + l->window_ms;
	memset(&tmp, 0, sizeof(tmp));
	memcpy(&tmp.peer, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	conn_format_peer(&tmp);
	log_msg(LOG_INFO, "%s: flood limit client_conn_rate crossed, new "
	    "connections closed at accept", tmp.peer_str);
	guard_flood_log(&tmp, NULL, limit_name(LIM_CLIENT_CONN_RATE), -1, 0);
	if (srv.conf->flood_ban_ttl != 0)
		guard_ban_address(&tmp, srv.conf->flood_ban_ttl);
	return 1;
}

int
guard_accept(evutil_socket_t fd, const struct sockaddr *sa)
{
	uint64_t now = guard_now_ms();

	if (ban_count(srv.bans) != 0 && ban_check(srv.bans, sa, now) != 0)
		srv.stats.accept_drops++;
	else if (!guard_conn_rate(fd, sa, now))
		return 0;
	if (srv.conf->ban_close == CONF_BAN_RESET)
		guard_linger_reset(fd);
	evutil_closesocket(fd);
	return 1;
}
