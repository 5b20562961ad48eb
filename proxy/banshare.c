/*
 * banshare.c - fleet-wide bans through Redis (see banshare.h).
 *
 * Two hiredis connections on the main thread's loop: one for commands
 * (SET, DEL, PUBLISH, and SCAN + PTTL to load the live bans), one
 * subscribed to the channel.  Workers hand their bans over through a
 * mutex-guarded queue and an eventfd.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "proxy/banshare.h"
#include "proxy/conf.h"
#include "proxy/log.h"

/* The h2guard_ban_share_* series, present whether sharing is on or not. */
static void
bs_metrics_print(struct evbuffer *out, int connected, size_t queued,
    uint64_t sent, uint64_t received, uint64_t loaded, uint64_t dropped)
{
	evbuffer_add_printf(out,
	    "# HELP h2guard_ban_share_connected 1 when connected to the "
	    "ban_share Redis (both connections), else 0 (also when off).\n"
	    "# TYPE h2guard_ban_share_connected gauge\n"
	    "h2guard_ban_share_connected %d\n"
	    "# HELP h2guard_ban_share_queued Ban updates waiting for Redis.\n"
	    "# TYPE h2guard_ban_share_queued gauge\n"
	    "h2guard_ban_share_queued %zu\n"
	    "# HELP h2guard_ban_share_sent_total Ban updates published.\n"
	    "# TYPE h2guard_ban_share_sent_total counter\n"
	    "h2guard_ban_share_sent_total %" PRIu64 "\n"
	    "# HELP h2guard_ban_share_received_total Ban updates of other "
	    "instances applied.\n"
	    "# TYPE h2guard_ban_share_received_total counter\n"
	    "h2guard_ban_share_received_total %" PRIu64 "\n"
	    "# HELP h2guard_ban_share_loaded_total Live bans loaded from "
	    "Redis at (re)connection.\n"
	    "# TYPE h2guard_ban_share_loaded_total counter\n"
	    "h2guard_ban_share_loaded_total %" PRIu64 "\n"
	    "# HELP h2guard_ban_share_dropped_total Ban updates dropped: the "
	    "queue was full while Redis was away.\n"
	    "# TYPE h2guard_ban_share_dropped_total counter\n"
	    "h2guard_ban_share_dropped_total %" PRIu64 "\n",
	    connected, queued, sent, received, loaded, dropped);
}

#ifndef HAVE_HIREDIS
/*
 * Built without hiredis: there is no sharing, and a configuration that
 * asks for it is refused (conf.c), so these are never asked for more.
 */
int
banshare_start(struct event_base *base, const struct conf *conf,
    const struct banshare_ops *ops)
{
	return 0;
}

void
banshare_stop(void)
{
}

void
banshare_add(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms)
{
}

void
banshare_remove(const struct sockaddr *sa, unsigned plen)
{
}

void
banshare_metrics(struct evbuffer *out)
{
	bs_metrics_print(out, 0, 0, 0, 0, 0, 0);
}
#else
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#define BS_QUEUE_MAX	10000	/* updates kept while Redis is away */
#define BS_BACKOFF_MIN	100	/* ms before reconnecting, doubling... */
#define BS_BACKOFF_MAX	5000	/* ... up to this */
#define BS_KEY_MAX	64	/* "ADDR/LEN" */

/* One update to send: a ban (ttl_ms > 0) or its removal (0). */
struct bs_msg {
	TAILQ_ENTRY(bs_msg)	 link;
	char			 key[BS_KEY_MAX];	/* "ADDR/LEN" */
	uint64_t		 ttl_ms;
};
TAILQ_HEAD(bs_msgs, bs_msg);

static struct {
	int			 on;		/* set at start, before workers */
	int			 stopping;
	struct event_base	*base;		/* borrowed: the main loop */
	struct banshare_ops	 ops;
	char			 host[INET6_ADDRSTRLEN];
	int			 port;
	char			*password;	/* owned; NULL: none */
	unsigned		 db;
	char			*channel;	/* owned: PREFIXbans */
	char			*keys;		/* owned: PREFIXban: */
	unsigned		 prefix_v4, prefix_v6;
	char			 origin[17];	/* this instance, hex */
	redisAsyncContext	*cmd;		/* NULL while disconnected */
	redisAsyncContext	*sub;
	int			 cmd_up, sub_up;	/* connected */
	int			 subscribed;	/* SUBSCRIBE confirmed */
	int			 scanned;	/* SCAN started since both were up */
	int			 down_logged;
	struct event		*retry_ev;	/* owned */
	uint32_t		 backoff;	/* ms */
	int			 wake_fd;	/* owned: eventfd, workers write */
	struct event		*wake_ev;	/* owned */
	pthread_mutex_t		 lock;		/* guards queue, nqueue */
	struct bs_msgs		 queue;		/* owned */
	size_t			 nqueue;
	uint64_t		 sent, received, dropped, loaded;	/* atomic */
} bs = { .wake_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void bs_connect(void);

static void
bs_count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/*
 * bs_key() writes sa's first plen bits as "ADDR/LEN", LEN being the
 * table's unit when plen is 0 or longer (as ban_add_prefix() does), the
 * address masked to it, IPv4-mapped IPv6 as IPv4.  Returns 0 or -1.
 */
static int
bs_key(const struct sockaddr *sa, unsigned plen, char *out, size_t outsz)
{
	uint8_t		 a[16];
	char		 text[INET6_ADDRSTRLEN];
	unsigned	 bits, i, unit;
	int		 af;

	if (sa->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		af = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
			memcpy(a, b + 12, 4);
			af = AF_INET;
		} else {
			memcpy(a, b, 16);
			af = AF_INET6;
		}
	} else {
		return -1;
	}
	bits = af == AF_INET ? 32 : 128;
	unit = af == AF_INET ? bs.prefix_v4 : bs.prefix_v6;
	if (plen == 0 || plen > unit)
		plen = unit;
	for (i = plen; i < bits; i++)
		a[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	if (inet_ntop(af, a, text, sizeof(text)) == NULL)
		return -1;
	return snprintf(out, outsz, "%s/%u", text, plen) < (int)outsz ? 0 : -1;
}

/* bs_parse_key() reads "ADDR/LEN" into sa, plen.  Returns 0 or -1. */
static int
bs_parse_key(const char *key, size_t len, struct sockaddr_storage *ss,
    unsigned *plen)
{
	char		 text[BS_KEY_MAX], *slash, *end;
	unsigned long	 n;

	if (len >= sizeof(text))
		return -1;
	memcpy(text, key, len);
	text[len] = '\0';
	if ((slash = strchr(text, '/')) == NULL)
		return -1;
	*slash = '\0';
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (errno != 0 || end == slash + 1 || *end != '\0' || n < 1 || n > 128)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		if (n > 32)
			return -1;
		ss->ss_family = AF_INET;
	} else if (inet_pton(AF_INET6, text,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
	} else {
		return -1;
	}
	*plen = (unsigned)n;
	return 0;
}

/* ---- the queue (any thread) ------------------------------------------------- */

static void
bs_queue(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms)
{
	struct bs_msg	*m, *old = NULL;
	uint64_t	 one = 1;

	if (!bs.on || (m = calloc(1, sizeof(*m))) == NULL)
		return;
	if (bs_key(sa, plen, m->key, sizeof(m->key)) < 0) {
		free(m);
		return;
	}
	m->ttl_ms = ttl_ms;
	pthread_mutex_lock(&bs.lock);
	if (bs.nqueue >= BS_QUEUE_MAX) {
		old = TAILQ_FIRST(&bs.queue);
		TAILQ_REMOVE(&bs.queue, old, link);
		bs.nqueue--;
	}
	TAILQ_INSERT_TAIL(&bs.queue, m, link);
	bs.nqueue++;
	pthread_mutex_unlock(&bs.lock);
	if (old != NULL) {
		free(old);
		bs_count(&bs.dropped);
	}
	if (write(bs.wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("ban_share: wake: %s", strerror(errno));
}

void
banshare_add(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms)
{
	if (ttl_ms > 0)
		bs_queue(sa, plen, ttl_ms);
}

void
banshare_remove(const struct sockaddr *sa, unsigned plen)
{
	bs_queue(sa, plen, 0);
}

/* ---- sending (main thread) ------------------------------------------------- */

/* A PUBLISH answered: sent.  No answer (disconnected): queued again. */
static void
bs_published(redisAsyncContext *ac, void *reply, void *arg)
{
	struct bs_msg	*m = arg;
	redisReply	*r = reply;

	if (r == NULL && !bs.stopping) {
		pthread_mutex_lock(&bs.lock);
		TAILQ_INSERT_HEAD(&bs.queue, m, link);
		bs.nqueue++;
		pthread_mutex_unlock(&bs.lock);
		return;
	}
	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		log_warn("ban_share: PUBLISH: %.*s", (int)r->len, r->str);
	else if (r != NULL)
		bs_count(&bs.sent);
	free(m);
}

static void
bs_flush(void)
{
	struct bs_msgs	 todo = TAILQ_HEAD_INITIALIZER(todo);
	struct bs_msg	*m;

	if (!bs.cmd_up)
		return;
	pthread_mutex_lock(&bs.lock);
	TAILQ_CONCAT(&todo, &bs.queue, link);
	bs.nqueue = 0;
	pthread_mutex_unlock(&bs.lock);
	while ((m = TAILQ_FIRST(&todo)) != NULL) {
		char msg[BS_KEY_MAX + 64];

		TAILQ_REMOVE(&todo, m, link);
		/* hiredis makes each %s one argument: the message is one. */
		if (m->ttl_ms > 0) {
			snprintf(msg, sizeof(msg), "+ %s %" PRIu64 " %s", m->key,
			    m->ttl_ms, bs.origin);
			redisAsyncCommand(bs.cmd, NULL, NULL, "SET %s%s 1 PX %"
			    PRIu64, bs.keys, m->key, m->ttl_ms);
		} else {
			snprintf(msg, sizeof(msg), "- %s %s", m->key, bs.origin);
			redisAsyncCommand(bs.cmd, NULL, NULL, "DEL %s%s",
			    bs.keys, m->key);
		}
		redisAsyncCommand(bs.cmd, bs_published, m, "PUBLISH %s %s",
		    bs.channel, msg);
	}
}

static void
bs_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) > 0)
		;
	bs_flush();
}

/* ---- receiving (main thread) ----------------------------------------------- */

static void
bs_apply(const char *key, size_t len, uint64_t ttl_ms)
{
	struct sockaddr_storage	 ss;
	unsigned		 plen;

	if (bs_parse_key(key, len, &ss, &plen) < 0) {
		log_info("ban_share: ignored a malformed ban \"%.*s\"",
		    (int)(len < 80 ? len : 80), key);
		return;
	}
	if (ttl_ms > 0)
		bs.ops.add((struct sockaddr *)&ss, plen, ttl_ms);
	else
		bs.ops.remove((struct sockaddr *)&ss, plen);
}

static void bs_scan_if_ready(void);

/* "+ ADDR/LEN TTL ORIGIN" or "- ADDR/LEN ORIGIN" from the channel. */
static void
bs_on_message(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply	*r = reply, *p;
	char		 op, key[BS_KEY_MAX], origin[sizeof(bs.origin)];
	char		 text[160];
	unsigned long long ttl = 0;
	int		 n;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(r->element[0]->str, "subscribe") == 0) {
		bs.subscribed = 1;
		bs_scan_if_ready();
		return;
	}
	if (strcmp(r->element[0]->str, "message") != 0)
		return;
	p = r->element[2];
	if (p->type != REDIS_REPLY_STRING || p->len >= sizeof(text))
		return;
	memcpy(text, p->str, p->len);
	text[p->len] = '\0';
	if (text[0] == '+')
		n = sscanf(text, "%c %63s %llu %16s", &op, key, &ttl, origin) == 4;
	else
		n = sscanf(text, "%c %63s %16s", &op, key, origin) == 3 &&
		    op == '-';
	if (!n || ttl > UINT32_MAX * 1000ULL) {
		log_info("ban_share: ignored a malformed message \"%.80s\"",
		    text);
		return;
	}
	if (strcmp(origin, bs.origin) == 0)
		return;		/* ours, applied already */
	bs_count(&bs.received);
	bs_apply(key, strlen(key), op == '+' ? (uint64_t)ttl : 0);
}

/* A live ban's remaining ttl (PTTL): load it. */
static void
bs_on_pttl(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply	*r = reply;
	char		*key = arg;
	size_t		 skip = strlen(bs.keys);

	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0 &&
	    strlen(key) > skip) {
		bs_apply(key + skip, strlen(key) - skip, (uint64_t)r->integer);
		bs_count(&bs.loaded);
	}
	free(key);
}

/* One SCAN page of PREFIXban:* keys; the next page, until cursor 0. */
static void
bs_on_scan(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply	*r = reply, *keys;
	size_t		 i;
	char		*key;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	keys = r->element[1];
	for (i = 0; i < keys->elements; i++) {
		if (keys->element[i]->type != REDIS_REPLY_STRING ||
		    (key = strdup(keys->element[i]->str)) == NULL)
			continue;
		if (redisAsyncCommand(ac, bs_on_pttl, key, "PTTL %s", key) !=
		    REDIS_OK)
			free(key);
	}
	if (strcmp(r->element[0]->str, "0") != 0)
		redisAsyncCommand(ac, bs_on_scan, NULL, "SCAN %s MATCH %s* "
		    "COUNT 1000", r->element[0]->str, bs.keys);
}

/* ---- connections (main thread) ---------------------------------------------- */

static void
bs_retry_later(void)
{
	struct timeval tv;

	if (bs.stopping || evtimer_pending(bs.retry_ev, NULL))
		return;
	tv.tv_sec = bs.backoff / 1000;
	tv.tv_usec = (bs.backoff % 1000) * 1000;
	evtimer_add(bs.retry_ev, &tv);
	bs.backoff = bs.backoff * 2 > BS_BACKOFF_MAX ? BS_BACKOFF_MAX :
	    bs.backoff * 2;
}

static void
bs_down(const redisAsyncContext *ac, const char *what)
{
	if (ac == bs.cmd) {
		bs.cmd = NULL;
		bs.cmd_up = 0;
	} else if (ac == bs.sub) {
		bs.sub = NULL;
		bs.sub_up = 0;
		bs.subscribed = 0;
	}
	bs.scanned = 0;
	if (bs.stopping)
		return;
	if (!bs.down_logged) {
		bs.down_logged = 1;
		log_warn("ban_share: redis %s:%d: %s; local bans go on, shared "
		    "ones are queued (%d at most) until it is back", bs.host,
		    bs.port, what, BS_QUEUE_MAX);
	}
	bs_retry_later();
}

static void
bs_on_connect(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK) {
		bs_down(ac, ac->errstr);
		return;
	}
	if (ac == bs.cmd)
		bs.cmd_up = 1;
	else
		bs.sub_up = 1;
	if (bs.cmd_up && bs.sub_up) {
		bs.backoff = BS_BACKOFF_MIN;
		if (bs.down_logged)
			log_warn("ban_share: redis %s:%d: connected again",
			    bs.host, bs.port);
		else
			log_info("ban_share: redis %s:%d: connected",
			    bs.host, bs.port);
		bs.down_logged = 0;
	}
	if (ac == bs.cmd) {
		bs_flush();	/* our queue */
		bs_scan_if_ready();
	}
}

/*
 * bs_scan_if_ready() loads the bans made elsewhere while we were away,
 * once the command connection is up and the subscription confirmed: a ban
 * stored before the SCAN is found by it, one published after is received,
 * none falls between the two.
 */
static void
bs_scan_if_ready(void)
{
	if (!bs.cmd_up || !bs.subscribed || bs.scanned || bs.cmd == NULL)
		return;
	bs.scanned = 1;
	redisAsyncCommand(bs.cmd, bs_on_scan, NULL,
	    "SCAN 0 MATCH %s* COUNT 1000", bs.keys);
}

static void
bs_on_disconnect(const redisAsyncContext *ac, int status)
{
	bs_down(ac, status == REDIS_OK ? "disconnected" : ac->errstr);
}

static redisAsyncContext *
bs_open(void)
{
	redisAsyncContext *ac = redisAsyncConnect(bs.host, bs.port);

	if (ac == NULL)
		return NULL;
	if (ac->err || redisLibeventAttach(ac, bs.base) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	redisAsyncSetConnectCallback(ac, bs_on_connect);
	redisAsyncSetDisconnectCallback(ac, bs_on_disconnect);
	if (bs.password != NULL)
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s", bs.password);
	return ac;
}

static void
bs_connect(void)
{
	if (bs.cmd == NULL && (bs.cmd = bs_open()) != NULL && bs.db != 0)
		redisAsyncCommand(bs.cmd, NULL, NULL, "SELECT %u", bs.db);
	if (bs.sub == NULL && (bs.sub = bs_open()) != NULL)
		redisAsyncCommand(bs.sub, bs_on_message, NULL, "SUBSCRIBE %s",
		    bs.channel);
	if (bs.cmd == NULL || bs.sub == NULL) {
		if (!bs.down_logged) {
			bs.down_logged = 1;
			log_warn("ban_share: redis %s:%d: cannot connect; "
			    "retrying", bs.host, bs.port);
		}
		bs_retry_later();
	}
}

static void
bs_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	bs_connect();
}

int
banshare_start(struct event_base *base, const struct conf *conf,
    const struct banshare_ops *ops)
{
	uint8_t		 id[8];
	size_t		 i;
	const void	*in;

	if (conf->ban_share_addrlen == 0)
		return 0;
	bs.base = base;
	bs.ops = *ops;
	bs.db = conf->ban_share_db;
	bs.prefix_v4 = conf->ban_prefix_v4;
	bs.prefix_v6 = conf->ban_prefix_v6;
	bs.backoff = BS_BACKOFF_MIN;
	if (conf->ban_share_addr.ss_family == AF_INET) {
		in = &((const struct sockaddr_in *)&conf->ban_share_addr)->sin_addr;
		bs.port = ntohs(((const struct sockaddr_in *)
		    &conf->ban_share_addr)->sin_port);
	} else {
		in = &((const struct sockaddr_in6 *)&conf->ban_share_addr)->sin6_addr;
		bs.port = ntohs(((const struct sockaddr_in6 *)
		    &conf->ban_share_addr)->sin6_port);
	}
	inet_ntop(conf->ban_share_addr.ss_family, in, bs.host, sizeof(bs.host));
	if (getrandom(id, sizeof(id), 0) != sizeof(id))
		return -1;
	for (i = 0; i < sizeof(id); i++)
		snprintf(bs.origin + 2 * i, 3, "%02x", id[i]);
	TAILQ_INIT(&bs.queue);
	if ((conf->ban_share_password != NULL &&
	    (bs.password = strdup(conf->ban_share_password)) == NULL) ||
	    asprintf(&bs.channel, "%sbans", conf->ban_share_prefix) < 0 ||
	    asprintf(&bs.keys, "%sban:", conf->ban_share_prefix) < 0 ||
	    (bs.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (bs.wake_ev = event_new(base, bs.wake_fd, EV_READ | EV_PERSIST,
	    bs_wake_cb, NULL)) == NULL ||
	    event_add(bs.wake_ev, NULL) < 0 ||
	    (bs.retry_ev = evtimer_new(base, bs_retry_cb, NULL)) == NULL)
		return -1;
	bs.on = 1;
	log_info("ban_share: redis %s:%d, keys %s*, channel %s", bs.host,
	    bs.port, bs.keys, bs.channel);
	bs_connect();
	return 0;
}

void
banshare_stop(void)
{
	struct bs_msg *m;

	if (!bs.on)
		return;
	bs.stopping = 1;
	/* Their disconnect callbacks clear the pointers. */
	if (bs.cmd != NULL)
		redisAsyncFree(bs.cmd);
	if (bs.sub != NULL)
		redisAsyncFree(bs.sub);
	bs.cmd = bs.sub = NULL;
	if (bs.retry_ev != NULL)
		event_free(bs.retry_ev);
	if (bs.wake_ev != NULL)
		event_free(bs.wake_ev);
	if (bs.wake_fd >= 0)
		close(bs.wake_fd);
	while ((m = TAILQ_FIRST(&bs.queue)) != NULL) {
		TAILQ_REMOVE(&bs.queue, m, link);
		free(m);
	}
	free(bs.password);
	free(bs.channel);
	free(bs.keys);
	bs.password = bs.channel = bs.keys = NULL;
	bs.retry_ev = bs.wake_ev = NULL;
	bs.wake_fd = -1;
	bs.nqueue = 0;
	bs.on = bs.cmd_up = bs.sub_up = bs.subscribed = bs.scanned = 0;
}

void
banshare_metrics(struct evbuffer *out)
{
	size_t queued;

	pthread_mutex_lock(&bs.lock);
	queued = bs.nqueue;
	pthread_mutex_unlock(&bs.lock);
	bs_metrics_print(out, bs.cmd_up && bs.sub_up, queued,
	    __atomic_load_n(&bs.sent, __ATOMIC_RELAXED),
	    __atomic_load_n(&bs.received, __ATOMIC_RELAXED),
	    __atomic_load_n(&bs.loaded, __ATOMIC_RELAXED),
	    __atomic_load_n(&bs.dropped, __ATOMIC_RELAXED));
}
#endif /* HAVE_HIREDIS */
