/*
 * upstream.c - h2guard-upstream, the HTTP/1.1 application server behind the
 * proxy in the README demo and the integration tests: libevent's evhttp with
 * test endpoints (see handle()).  Prints "READY <port>" once it listens.
 *
 * libevent 2.1 quirks behind the less obvious code:
 * - evhttp_get_request() is static: a connection is counted when evhttp asks
 *   for its bufferevent (evhttp_set_bevcb), and given a close callback by
 *   adopt(), activated there, which runs before any I/O on the connection.
 * - evhttp stops reading while a request is unanswered, so a client leaving
 *   /slow or /silent would go unnoticed; watch_close() reads again with no
 *   read callback, as evhttp does while writing.  When the client leaves
 *   early, evhttp unlinks the request and frees only the connection.
 * - evhttp_send_reply() sends the body of a HEAD response, without
 *   Content-Length; evhttp_send_reply_chunk_with_cb() never calls back then.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#define PIECE	(64 * 1024)	/* /bytes writes this much at a time */
#define MOD	251		/* byte i of /bytes is i % MOD */

/* An accepted connection; req is a request we hold unanswered. */
struct conn {
	LIST_ENTRY(conn)		 entry;
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;	/* NULL until adopted */
	struct evhttp_request		*req;	/* /slow, /silent, /bytes */
	struct event			*timer;	/* /slow */
	uint64_t			 off, len; /* /bytes progress */
};

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns); /* new first */

static struct event_base	*base;
static struct event		*ev_adopt;
static struct evbuffer		*out;	/* always empty between calls */
static unsigned char		 pattern[PIECE + MOD];
static uint64_t			 nrequests, naccepted, nopen;
static int			 verbose;

static void
usage(FILE *f)
{
	fprintf(f, "usage: h2guard-upstream --listen ADDR:PORT | --unix PATH "
	    "[-v]\n"
	    "  --listen ADDR:PORT  TCP: 127.0.0.1:8000, [::1]:0 (0: any port)\n"
	    "  --unix PATH         unix socket\n"
	    "  -v                  log each request to stderr\n"
	    "Prints \"READY <port>\" on stdout when serving.\n");
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return *s >= '0' && *s <= '9' && *end == '\0' && errno == 0 ? 0 : -1;
}

static const char *
method_name(enum evhttp_cmd_type m)
{
	static const char *names[] = { "GET", "POST", "HEAD", "PUT", "DELETE",
	    "OPTIONS", "TRACE", "CONNECT", "PATCH" };
	unsigned i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (m == 1u << i)
			return names[i];
	return "UNKNOWN";
}

/* Is NAME=1 in the query string? */
static int
query_flag(const char *query, const char *name)
{
	struct evkeyvalq q;
	const char *v;
	int set;

	if (query == NULL || evhttp_parse_query_str(query, &q) == -1)
		return 0;
	v = evhttp_find_header(&q, name);
	set = v != NULL && strcmp(v, "1") == 0;
	evhttp_clear_headers(&q);
	return set;
}

static __attribute__((format(printf, 3, 4))) void
add_header(struct evhttp_request *req, const char *name, const char *fmt, ...)
{
	char v[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	evhttp_add_header(evhttp_request_get_output_headers(req), name, v);
}

/* Sends a whole text/plain response; body is emptied. */
static void
reply(struct evhttp_request *req, int code, struct evbuffer *body)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	int bodyless = code < 200 || code == 204 || code == 304;

	add_header(req, "Content-Type", "text/plain");
	add_header(req, "X-Upstream", "h2guard-upstream");
	if (bodyless || m == EVHTTP_REQ_HEAD || m == EVHTTP_REQ_CONNECT) {
		if (!bodyless && m == EVHTTP_REQ_HEAD)
			add_header(req, "Content-Length", "%zu",
			    evbuffer_get_length(body));
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	evhttp_send_reply(req, code, NULL, body);
	evbuffer_drain(out, evbuffer_get_length(out));	/* if not sent */
}

static __attribute__((format(printf, 3, 4))) void
reply_fmt(struct evhttp_request *req, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	reply(req, code, out);
}

/* evhttp wants a bufferevent for a connection it has just accepted. */
static struct bufferevent *
new_bev(struct event_base *b, void *arg)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->bev = bufferevent_socket_new(b, -1, 0)) == NULL) {
		free(c);
		return NULL;
	}
	LIST_INSERT_HEAD(&conns, c, entry);
	naccepted++;
	nopen++;
	event_active(ev_adopt, EV_TIMEOUT, 0);
	return c->bev;
}

static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;

	if (c->req != NULL && evhttp_request_get_connection(c->req) == NULL)
		evhttp_request_free(c->req);	/* unlinked: ours */
	if (c->timer != NULL)
		event_free(c->timer);
	LIST_REMOVE(c, entry);
	nopen--;
	free(c);
}

/* Gives the connections accepted since last time their close callback. */
static void
adopt(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c;
	void *evcon;

	LIST_FOREACH(c, &conns, entry) {
		if (c->evcon != NULL)
			break;
		bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
		c->evcon = evcon;	/* evhttp's cbarg */
		evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	}
}

/* Lets evhttp see the client close while we hold c->req unanswered. */
static void
watch_close(struct conn *c)
{
	bufferevent_data_cb wcb;
	bufferevent_event_cb ecb;
	void *arg;

	bufferevent_getcb(c->bev, NULL, &wcb, &ecb, &arg);
	bufferevent_setcb(c->bev, NULL, wcb, ecb, arg);
	bufferevent_enable(c->bev, EV_READ);
}

/* Queues the next piece of /bytes once the previous one has gone out. */
static void
bytes_more(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	struct evhttp_request *req = c->req;
	size_t n = c->len - c->off < PIECE ? c->len - c->off : PIECE;

	evbuffer_add_reference(out, pattern + c->off % MOD, n, NULL, NULL);
	c->off += n;
	if (c->off < c->len) {
		evhttp_send_reply_chunk_with_cb(req, out, bytes_more, c);
		return;
	}
	c->req = NULL;
	evhttp_send_reply_chunk(req, out);
	evhttp_send_reply_end(req);	/* may free c */
}

static void
bytes(struct evhttp_request *req, struct conn *c, uint64_t n, int cl)
{
	add_header(req, "Content-Type", "application/octet-stream");
	add_header(req, "X-Upstream", "h2guard-upstream");
	if (cl)
		add_header(req, "Content-Length", "%" PRIu64, n);
	evhttp_send_reply_start(req, 200, "OK");
	if (n == 0 || evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		evhttp_send_reply_end(req);
		return;
	}
	c->req = req;
	c->off = 0;
	c->len = n;
	bytes_more(c->evcon, c);
}

static void
slow_done(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evhttp_request *req = c->req;

	event_free(c->timer);
	c->timer = NULL;
	c->req = NULL;
	reply_fmt(req, 200, "slow\n");
}

/* /bytes/N, /slow/MS and /silent keep the request: they need its conn. */
static void
held(struct evhttp_request *req, const char *path, const char *query)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct timeval tv;
	struct conn *c;
	uint64_t n = 0;

	LIST_FOREACH(c, &conns, entry)
		if (c->evcon == evcon)
			break;
	if (c == NULL)
		reply_fmt(req, 500, "untracked connection\n");
	else if (strcmp(path, "/silent") == 0) {
		c->req = req;
		watch_close(c);
	} else if (parse_u64(strchr(path + 1, '/') + 1, &n) == -1)
		reply_fmt(req, 400, "bad number in %s\n", path);
	else if (path[1] == 'b')
		bytes(req, c, n, query_flag(query, "cl"));
	else if ((c->timer = evtimer_new(base, slow_done, c)) == NULL)
		reply_fmt(req, 500, "out of memory\n");
	else {
		tv.tv_sec = n / 1000;
		tv.tv_usec = n % 1000 * 1000;
		evtimer_add(c->timer, &tv);
		c->req = req;
		watch_close(c);
	}
}

static void
handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *uri = evhttp_request_get_uri(req);
	const char *method = method_name(evhttp_request_get_command(req));
	const char *path = evhttp_uri_get_path(u);
	const char *query = evhttp_uri_get_query(u);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyval *kv;
	uint64_t n, old;
	ev_uint16_t port;
	char *peer;

	if (path == NULL)
		path = "";
	if (verbose) {
		evhttp_connection_get_peer(evhttp_request_get_connection(req),
		    &peer, &port);
		fprintf(stderr, "%s:%u %s %s\n", peer, port, method, uri);
	}
	if (strncmp(path, "/__", 3) != 0)
		nrequests++;

	if (strcmp(path, "/__count") == 0) {
		old = nrequests;
		if (query_flag(query, "reset"))
			nrequests = naccepted = 0;
		reply_fmt(req, 200, "%" PRIu64 "\n", old);
	} else if (strcmp(path, "/__conns") == 0) {
		reply_fmt(req, 200, "accepted=%" PRIu64 " open=%" PRIu64 "\n",
		    naccepted, nopen);
	} else if (strcmp(path, "/echo") == 0) {
		add_header(req, "X-Body-Length", "%zu",
		    evbuffer_get_length(in));
		reply(req, 200, in);
	} else if (strncmp(path, "/bytes/", 7) == 0 ||
	    strncmp(path, "/slow/", 6) == 0 || strcmp(path, "/silent") == 0) {
		held(req, path, query);
	} else if (strncmp(path, "/status/", 8) == 0) {
		if (parse_u64(path + 8, &n) == -1 || n <= 100 || n >= 600)
			reply_fmt(req, 400, "bad status %s\n", path + 8);
		else
			reply_fmt(req, (int)n, "status %d\n", (int)n);
	} else if (strcmp(path, "/headers") == 0 ||
	    strncmp(path, "/headers/", 9) == 0) {
		evbuffer_add_printf(out, "method: %s\nuri: %s\n", method, uri);
		TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
			evbuffer_add_printf(out, "%s: %s\n", kv->key,
			    kv->value);
		reply(req, 200, out);
	} else if (strcmp(path, "/close") == 0) {
		add_header(req, "Connection", "close");
		reply_fmt(req, 200, "bye\n");
	} else if (strcmp(path, "/") == 0) {
		reply_fmt(req, 200, "hello from h2guard-upstream\n");
	} else
		reply_fmt(req, 200, "ok %s %s\n", method, uri);
}

/* ADDR:PORT or [ADDR6]:PORT into ss. */
static int
tcp_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints, *ai;
	char host[256], *p;
	int e;

	snprintf(host, sizeof(host), "%s", spec + (spec[0] == '['));
	if ((p = strrchr(host, ':')) == NULL) {
		fprintf(stderr, "h2guard-upstream: %s: not ADDR:PORT\n", spec);
		return -1;
	}
	*p++ = '\0';
	if (spec[0] == '[' && p - host >= 2 && p[-2] == ']')
		p[-2] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host[0] ? host : NULL, p, &hints, &ai)) != 0) {
		fprintf(stderr, "h2guard-upstream: %s: %s\n", spec,
		    gai_strerror(e));
		return -1;
	}
	memcpy(ss, ai->ai_addr, *len = ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

/* PATH into ss, after removing a stale socket there. */
static int
unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	struct stat st;

	if (strlen(path) >= sizeof(sun->sun_path) ||
	    (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))) {
		fprintf(stderr, "h2guard-upstream: %s: too long or not a "
		    "socket\n", path);
		return -1;
	}
	unlink(path);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	*len = sizeof(*sun);
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(base);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "listen",	required_argument,	NULL, 'l' },
		{ "unix",	required_argument,	NULL, 'u' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	const char *tcp = NULL, *unixpath = NULL;
	struct evhttp_bound_socket *bound = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct evconnlistener *l;
	struct event *sigterm, *sigint;
	struct evhttp *http;
	int ch, i;

	while ((ch = getopt_long(argc, argv, "l:u:vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':	tcp = optarg; break;
		case 'u':	unixpath = optarg; break;
		case 'v':	verbose = 1; break;
		case 'h':	usage(stdout); return 0;
		default:	usage(stderr); return 2;
		}
	}
	if (optind != argc || (tcp == NULL) == (unixpath == NULL)) {
		usage(stderr);
		return 2;
	}
	if (tcp != NULL ? tcp_addr(tcp, &ss, &sslen) :
	    unix_addr(unixpath, &ss, &sslen))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < (int)sizeof(pattern); i++)
		pattern[i] = i % MOD;

	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL ||
	    (out = evbuffer_new()) == NULL ||
	    (ev_adopt = event_new(base, -1, 0, adopt, NULL)) == NULL ||
	    (sigterm = evsignal_new(base, SIGTERM, on_signal, NULL)) == NULL ||
	    (sigint = evsignal_new(base, SIGINT, on_signal, NULL)) == NULL ||
	    evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL)) {
		fprintf(stderr, "h2guard-upstream: libevent setup failed\n");
		return 1;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(http, -1);
	evhttp_set_gencb(http, handle, NULL);
	evhttp_set_bevcb(http, new_bev, NULL);

	l = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 1024,
	    (struct sockaddr *)&ss, (int)sslen);
	if (l != NULL && (bound = evhttp_bind_listener(http, l)) == NULL)
		evconnlistener_free(l);
	sslen = sizeof(ss);
	if (bound == NULL || getsockname(evconnlistener_get_fd(l),
	    (struct sockaddr *)&ss, &sslen) == -1)
		fprintf(stderr, "h2guard-upstream: cannot listen on %s: %s\n",
		    tcp != NULL ? tcp : unixpath, strerror(errno));
	else {
		printf("READY %u\n", ntohs(ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port :
		    ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port : 0));
		fflush(stdout);
		event_base_dispatch(base);
		adopt(-1, 0, NULL);	/* accepted in the last iteration */
	}
	evhttp_free(http);	/* closes all: conn_closed() frees each conn */
	event_free(sigterm);
	event_free(sigint);
	event_free(ev_adopt);
	evbuffer_free(out);
	event_base_free(base);
	libevent_global_shutdown();
	if (unixpath != NULL && bound != NULL)
		unlink(unixpath);
	return bound != NULL ? 0 : 1;
}
