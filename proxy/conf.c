/*
 * conf.c - the configuration file parser.
 *
 * Every key is described once in conf_keys[] (name, type, default, range);
 * conf_new() applies the defaults from that table, and conf_parse() reads the
 * file line by line, collecting every error with its line number.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "proxy/canon.h"
#include "proxy/conf.h"
#include "proxy/rules.h"

#define CONF_MAXARGS	64	/* words kept per line; more are only counted */
#define CONF_FILE_MAX	(16 << 20)	/* larger files are not configurations */

enum conf_type {
	CONF_T_LISTEN,		/* repeatable, own handler */
	CONF_T_UPSTREAM,	/* repeatable, own handler */
	CONF_T_RULE,		/* repeatable, parsed by rules.c */
	CONF_T_LIMIT,		/* one line per limit name, own handler */
	CONF_T_PATH,		/* char *, strdup'd */
	CONF_T_NUMBER,		/* uint32_t, plain decimal */
	CONF_T_SIZE,		/* uint32_t, bytes, k/m/g suffixes */
	CONF_T_DURATION,	/* uint32_t, milliseconds, ms/s/m/h/d suffixes */
	CONF_T_CHOICE,		/* int, one of the key's choices[] */
	CONF_T_AUTO,		/* uint32_t, a number or "auto" (0) */
	CONF_T_ADDR,		/* "off" or ADDR:PORT, own fields */
	CONF_T_MEMORY,		/* uint64_t, bytes, k/m/g suffixes; "off": 0 */
};

/* One word a CONF_T_CHOICE key accepts, and the value it stores. */
struct conf_choice {
	const char	*name;
	int		 value;
};

static const struct conf_choice conf_log_levels[] = {
	{ "error", LOG_ERR },
	{ "warn", LOG_WARNING },
	{ "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
	{ NULL, 0 },
};

static const struct conf_choice conf_ban_closes[] = {
	{ "reset", CONF_BAN_RESET },
	{ "fin", CONF_BAN_FIN },
	{ NULL, 0 },
};

static const struct conf_choice conf_kernel_drops[] = {
	{ "off", CONF_KDROP_OFF },
	{ "on", CONF_KDROP_ON },
	{ "auto", CONF_KDROP_AUTO },
	{ NULL, 0 },
};

static const struct conf_choice conf_forwarded[] = {
	{ "strip", CONF_FWD_STRIP },
	{ "trust", CONF_FWD_TRUST },
	{ NULL, 0 },
};

static const struct conf_choice conf_escaped_slashes[] = {
	{ "keep", CANON_SLASH_KEEP },
	{ "decode", CANON_SLASH_DECODE },
	{ "reject", CANON_SLASH_REJECT },
	{ NULL, 0 },
};

static const struct conf_choice conf_underscores[] = {
	{ "drop", CANON_US_DROP },
	{ "allow", CANON_US_ALLOW },
	{ "reject", CANON_US_REJECT },
	{ NULL, 0 },
};

static const struct conf_choice conf_rule_errors[] = {
	{ "closed", RULES_ERRORS_CLOSED },
	{ "open", RULES_ERRORS_OPEN },
	{ NULL, 0 },
};

static const struct conf_choice conf_on_off[] = {
	{ "on", 1 },
	{ "off", 0 },
	{ NULL, 0 },
};

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;		/* of the value in struct conf */
	size_t		 line_off;	/* of its line number; 0: not kept */
	const char	*def;		/* default, NULL: none */
	const char	*min, *max;	/* numeric types: range, as printed */
	const struct conf_choice *choices;	/* CONF_T_CHOICE, NULL-ended */
};

#define OFF(f) offsetof(struct conf, f)
#define KEY_NUM(n, t, d, lo, hi) { #n, t, OFF(n), 0, d, lo, hi, NULL }
#define KEY_DUR(n, d) KEY_NUM(n, CONF_T_DURATION, d, "1ms", "24h")
#define KEY_PATH(n, d) { #n, CONF_T_PATH, OFF(n), OFF(n##_line), d, NULL, \
	NULL, NULL }
#define KEY_CHOICE(n, d, c) { #n, CONF_T_CHOICE, OFF(n), 0, d, NULL, NULL, c }
#define KEY_OWN(n, t) { n, t, 0, 0, NULL, NULL, NULL, NULL }

static const struct conf_key conf_keys[] = {
	KEY_OWN("listen", CONF_T_LISTEN),
	KEY_OWN("upstream", CONF_T_UPSTREAM),
	KEY_PATH(tls_certificate, NULL),
	KEY_PATH(tls_certificate_key, NULL),
	KEY_NUM(max_concurrent_streams, CONF_T_NUMBER, "128", "1",
	    "2147483647"),
	KEY_NUM(max_header_list_size, CONF_T_SIZE, "64k", "1k", "16m"),
	KEY_NUM(h2_stream_window, CONF_T_SIZE, "256k", "65535", "2147483647"),
	KEY_NUM(h2_connection_window, CONF_T_SIZE, "1m", "65535",
	    "2147483647"),
	KEY_DUR(handshake_timeout, "10s"),
	KEY_DUR(first_request_timeout, "10s"),
	KEY_DUR(keepalive_timeout, "75s"),
	KEY_DUR(body_read_timeout, "60s"),
	KEY_DUR(header_timeout, "10s"),
	KEY_DUR(send_timeout, "60s"),
	KEY_DUR(upstream_connect_timeout, "5s"),
	KEY_DUR(upstream_response_timeout, "60s"),
	KEY_NUM(upstream_keepalive, CONF_T_NUMBER, "32", "0", "100000"),
	KEY_NUM(upstream_max_connections, CONF_T_NUMBER, "64", "1", "100000"),
	KEY_NUM(upstream_max_connections_per_client, CONF_T_AUTO, "auto", "1",
	    "100000"),
	KEY_DUR(upstream_idle_timeout, "60s"),
	KEY_NUM(memory_limit, CONF_T_MEMORY, "1g", "1m", "1024g"),
	KEY_CHOICE(log_level, "info", conf_log_levels),
	KEY_OWN("rule", CONF_T_RULE),
	KEY_CHOICE(ban_close, "reset", conf_ban_closes),
	KEY_CHOICE(dry_run, "off", conf_on_off),
	KEY_CHOICE(rule_errors, "closed", conf_rule_errors),
	KEY_CHOICE(path_escaped_slashes, "keep", conf_escaped_slashes),
	KEY_CHOICE(header_underscores, "drop", conf_underscores),
	KEY_NUM(ban_table_size, CONF_T_NUMBER, "100000", "1", "10000000"),
	KEY_NUM(ban_prefix_v4, CONF_T_NUMBER, "32", "1", "32"),
	KEY_NUM(ban_prefix_v6, CONF_T_NUMBER, "64", "1", "128"),
	KEY_NUM(ban_aggregate, CONF_T_NUMBER, "16", "0", "100000"),
	{ "kernel_drop", CONF_T_CHOICE, OFF(kernel_drop), OFF(kernel_drop_line),
	    "auto", NULL, NULL, conf_kernel_drops },
	KEY_PATH(ban_log, "stderr"),
	KEY_OWN("limit", CONF_T_LIMIT),
	KEY_NUM(flood_ban_ttl, CONF_T_DURATION, "0", "0", "30d"),
	KEY_NUM(client_table_size, CONF_T_NUMBER, "100000", "1", "10000000"),
	KEY_NUM(workers, CONF_T_AUTO, "1", "1", "256"),
	KEY_NUM(max_connections, CONF_T_AUTO, "auto", "1", "100000000"),
	KEY_DUR(shutdown_timeout, "30s"),
	KEY_PATH(access_log, "off"),
	{ "admin_listen", CONF_T_ADDR, OFF(admin_addr), 0, "off", NULL, NULL,
	    NULL },
	KEY_PATH(admin_token, "off"),
	KEY_PATH(ban_state_file, "off"),
	KEY_PATH(ban_share, "off"),
	KEY_PATH(ban_share_prefix, "h2guard:"),
	KEY_DUR(ban_state_interval, "60s"),
	KEY_CHOICE(forwarded_headers, "strip", conf_forwarded),
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/*
 * The keys a reload cannot change (what they size or start is made once):
 * a new value takes effect at the next start.
 */
static const char *const conf_restart_keys[] = {
	"workers", "ban_table_size", "ban_prefix_v4", "ban_prefix_v6",
	"ban_aggregate", "client_table_size", "kernel_drop", "ban_share",
	"ban_share_prefix",
};

void
conf_restart_changed(const struct conf *o, const struct conf *n,
    void (*fn)(void *arg, const char *key), void *arg)
{
	const struct conf_key	*k;
	const char		*a, *b;
	size_t			 i, j;
	int			 changed;

	for (i = 0; i < sizeof(conf_restart_keys) / sizeof(conf_restart_keys[0]);
	    i++) {
		for (j = 0; j < CONF_NKEYS &&
		    strcmp(conf_keys[j].name, conf_restart_keys[i]) != 0; j++)
			;
		if (j == CONF_NKEYS)
			continue;
		k = &conf_keys[j];
		a = (const char *)o + k->off;
		b = (const char *)n + k->off;
		switch (k->type) {
		case CONF_T_PATH:
			changed = strcmp(*(char *const *)a, *(char *const *)b);
			break;
		case CONF_T_CHOICE:
			changed = *(const int *)a != *(const int *)b;
			break;
		case CONF_T_MEMORY:
			changed = *(const uint64_t *)a != *(const uint64_t *)b;
			break;
		default:
			changed = *(const uint32_t *)a != *(const uint32_t *)b;
			break;
		}
		if (changed)
			fn(arg, k->name);
	}
}

/* One error, kept until the whole file has been read. */
struct conf_msg {
	int	 line;
	char	*text;		/* owned, without the "FILE:LINE: " prefix */
};

struct conf_parser {
	struct conf	*conf;		/* owned until returned */
	const char	*file;		/* borrowed: name for messages */
	int		 line;		/* current line */
	int		 set_line[CONF_NKEYS];	/* where each key was set, 0: not */
	int		 limit_line[LIM_N];	/* where each limit was set, 0: not */
	struct conf_msg	*msgs;		/* owned, sorted by line */
	size_t		 nmsgs, capmsgs;
	int		 oom;		/* an allocation failed */
};

static void conf_error(struct conf_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Records a message for line.  Messages are kept in line order; the checks
 * made after the last line (tls, missing keys) are inserted where they
 * belong, after earlier messages of the same line.
 */
static void
conf_error(struct conf_parser *p, int line, const char *fmt, ...)
{
	struct conf_msg	*m;
	va_list		 ap;
	char		*text;
	size_t		 i;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (text = malloc((size_t)n + 1)) == NULL) {
		p->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (p->nmsgs == p->capmsgs) {
		size_t cap = p->capmsgs ? p->capmsgs * 2 : 8;

		if ((m = realloc(p->msgs, cap * sizeof(*m))) == NULL) {
			free(text);
			p->oom = 1;
			return;
		}
		p->msgs = m;
		p->capmsgs = cap;
	}
	for (i = p->nmsgs; i > 0 && p->msgs[i - 1].line > line; i--)
		;
	memmove(&p->msgs[i + 1], &p->msgs[i], (p->nmsgs - i) * sizeof(*m));
	p->msgs[i].line = line;
	p->msgs[i].text = text;
	p->nmsgs++;
}

/* Joins the messages into one malloc'd string; NULL when out of memory. */
static char *
conf_messages(struct conf_parser *p)
{
	size_t	 len = 0, i;
	char	*s;
	int	 n;

	for (i = 0; i < p->nmsgs; i++)
		len += strlen(p->file) + strlen(p->msgs[i].text) + 16;
	if (p->oom)
		len += strlen(p->file) + 32;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0, n = 0; i < p->nmsgs; i++)
		n += snprintf(s + n, len + 1 - (size_t)n, "%s:%d: %s\n",
		    p->file, p->msgs[i].line, p->msgs[i].text);
	if (p->oom)
		snprintf(s + n, len + 1 - (size_t)n, "%s:%d: out of memory\n",
		    p->file, p->line);
	return s;
}

/*
 * Parses decimal digits followed by one of units (NULL-terminated, matched
 * without regard to case), multiplied by the matching mult.  Returns 0,
 * -EINVAL or -ERANGE.
 */
static int
conf_parse_unit(const char *s, const char *const *units,
    const uint64_t *mult, uint64_t *v)
{
	const char	*c;
	uint64_t	 n = 0;
	size_t		 i;
	int		 big = 0;	/* the digits alone overflow */

	for (c = s; *c >= '0' && *c <= '9'; c++) {
		if (n > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
			big = 1;
		else
			n = n * 10 + (uint64_t)(*c - '0');
	}
	if (c == s)
		return -EINVAL;
	for (i = 0; units[i] != NULL && strcasecmp(c, units[i]) != 0; i++)
		;
	if (units[i] == NULL)
		return -EINVAL;
	if (big || n > UINT64_MAX / mult[i])
		return -ERANGE;
	*v = n * mult[i];
	return 0;
}

/* Parses a plain decimal number.  Returns 0, -EINVAL or -ERANGE. */
static int
conf_parse_number(const char *s, uint64_t *v)
{
	static const char *const units[] = { "", NULL };
	static const uint64_t mult[] = { 1 };

	return conf_parse_unit(s, units, mult, v);
}

int
conf_parse_duration(const char *s, uint64_t *ms)
{
	static const char *const units[] = {
		"", "ms", "s", "m", "h", "d", NULL
	};
	static const uint64_t mult[] = {
		1000, 1, 1000, 60000, 3600000, 86400000
	};

	return conf_parse_unit(s, units, mult, ms);
}

int
conf_parse_size(const char *s, uint64_t *bytes)
{
	static const char *const units[] = { "", "k", "m", "g", NULL };
	static const uint64_t mult[] = { 1, 1 << 10, 1 << 20, 1 << 30 };

	return conf_parse_unit(s, units, mult, bytes);
}

/*
 * Splits "host:port" or "[host]:port" into host (without brackets) and a
 * port in 1..65535.  Returns 0 or -EINVAL.
 */
static int
conf_hostport(const char *s, char *host, size_t hostsz, int *bracketed,
    uint16_t *port)
{
	const char	*colon, *end;
	uint64_t	 n;
	size_t		 len;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -EINVAL;
		s++;
		colon = end + 1;
		len = (size_t)(end - s);
		*bracketed = 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -EINVAL;
		len = (size_t)(colon - s);
		if (memchr(s, ':', len) != NULL)
			return -EINVAL;	/* IPv6 without brackets */
		*bracketed = 0;
	}
	if (len == 0 || len >= hostsz || strlen(colon + 1) > 5 ||
	    conf_parse_number(colon + 1, &n) != 0 || n == 0 || n > 65535)
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	*port = (uint16_t)n;
	return 0;
}

int
conf_parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)addr;
	char			 host[INET6_ADDRSTRLEN];
	uint16_t		 port;
	int			 bracketed;

	memset(addr, 0, sizeof(*addr));
	if (conf_hostport(s, host, sizeof(host), &bracketed, &port) != 0)
		return -EINVAL;
	if (bracketed) {
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	if (strcmp(host, "*") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	*len = sizeof(*sin);
	return 0;
}

/* The numeric types: their parsers, and what messages call them. */
static const struct {
	int		(*parse)(const char *, uint64_t *);
	const char	*what;
} conf_numeric[] = {
	[CONF_T_NUMBER] = { conf_parse_number, "number" },
	[CONF_T_SIZE] = { conf_parse_size, "size" },
	[CONF_T_DURATION] = { conf_parse_duration, "duration" },
	[CONF_T_AUTO] = { conf_parse_number, "number or \"auto\"" },
	[CONF_T_ADDR] = { NULL, "ADDR:PORT or \"off\"" },
	[CONF_T_MEMORY] = { conf_parse_size, "size or \"off\"" },
};

/*
 * conf_store_number() parses val as key's numeric type into *v, within the
 * key's bounds.  Returns 0, -EINVAL or -ERANGE.
 */
static int
conf_store_number(const struct conf_key *key, const char *val, uint64_t *v)
{
	int		(*parse)(const char *, uint64_t *);
	uint64_t	 lo = 0, hi = 0;
	int		 rc;

	parse = conf_numeric[key->type].parse;
	if ((rc = parse(val, v)) != 0)
		return rc;
	/* The table's own bounds: they always parse. */
	parse(key->min, &lo);
	parse(key->max, &hi);
	return *v < lo || *v > hi ? -ERANGE : 0;
}

/*
 * Stores val, parsed as key's type, in conf.  Used for the defaults and for
 * the file.  Returns 0, -EINVAL, -ERANGE or -ENOMEM.
 */
static int
conf_store(struct conf *conf, const struct conf_key *key, const char *val)
{
	void	*field = (char *)conf + key->off;
	uint64_t v;
	char	*s, **sp;
	const struct conf_choice *c;
	int	 rc;

	switch (key->type) {
	case CONF_T_PATH:
		if ((s = strdup(val)) == NULL)
			return -ENOMEM;
		sp = field;
		free(*sp);
		*sp = s;
		return 0;
	case CONF_T_CHOICE:
		for (c = key->choices; c->name != NULL; c++)
			if (strcmp(val, c->name) == 0) {
				*(int *)field = c->value;
				return 0;
			}
		return -EINVAL;
	case CONF_T_ADDR:
		memset(&conf->admin_addr, 0, sizeof(conf->admin_addr));
		conf->admin_addrlen = 0;
		conf->admin_listen[0] = '\0';
		if (strcmp(val, "off") == 0)
			return 0;
		if (strlen(val) >= sizeof(conf->admin_listen) ||
		    conf_parse_addr(val, &conf->admin_addr,
		    &conf->admin_addrlen) != 0)
			return -EINVAL;
		snprintf(conf->admin_listen, sizeof(conf->admin_listen), "%s",
		    val);
		return 0;
	case CONF_T_AUTO:
	case CONF_T_MEMORY:
		/* Their word for 0: "auto", no memory_limit. */
		if (strcmp(val, key->type == CONF_T_AUTO ? "auto" :
		    "off") == 0)
			v = 0;
		else if ((rc = conf_store_number(key, val, &v)) != 0)
			return rc;
		if (key->type == CONF_T_MEMORY)
			*(uint64_t *)field = v;
		else
			*(uint32_t *)field = (uint32_t)v;
		return 0;
	case CONF_T_NUMBER:
	case CONF_T_SIZE:
	case CONF_T_DURATION:
		if ((rc = conf_store_number(key, val, &v)) != 0)
			return rc;
		*(uint32_t *)field = (uint32_t)v;
		return 0;
	default:
		return -EINVAL;
	}
}

static void
conf_set_listen(struct conf_parser *p, int argc, char **argv)
{
	struct conf_listen	*cl, *old;
	int			 i;

	if (argc < 2 || argc > 4) {
		conf_error(p, p->line, "listen: expected ADDR:PORT [tls] "
		    "[proxy_protocol]");
		return;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		p->oom = 1;
		return;
	}
	if (strlen(argv[1]) >= sizeof(cl->name) ||
	    conf_parse_addr(argv[1], &cl->addr, &cl->addrlen) != 0) {
		conf_error(p, p->line, "listen: invalid address \"%s\"", argv[1]);
		free(cl);
		return;
	}
	for (i = 2; i < argc; i++) {
		int *opt = strcmp(argv[i], "tls") == 0 ? &cl->tls :
		    strcmp(argv[i], "proxy_protocol") == 0 ? &cl->proxy : NULL;

		if (opt == NULL || *opt) {
			conf_error(p, p->line, "listen: %s option \"%s\" "
			    "(expected tls, proxy_protocol)", opt ? "repeated" :
			    "unknown", argv[i]);
			free(cl);
			return;
		}
		*opt = 1;
	}
	/* conf_parse_addr() zeroes what it does not set: memcmp() will do. */
	STAILQ_FOREACH(old, &p->conf->listens, link)
		if (old->addrlen == cl->addrlen &&
		    memcmp(&old->addr, &cl->addr, cl->addrlen) == 0) {
			conf_error(p, p->line, "listen: duplicate address "
			    "\"%s\" (first at line %d)", argv[1], old->line);
			free(cl);
			return;
		}
	snprintf(cl->name, sizeof(cl->name), "%s", argv[1]);
	cl->line = p->line;
	STAILQ_INSERT_TAIL(&p->conf->listens, cl, link);
}

int (*conf_getaddrinfo)(const char *, const char *, const struct addrinfo *,
    struct addrinfo **) = getaddrinfo;

/* "upstream unix:PATH", "upstream [IPv6]:PORT" or "upstream HOST:PORT". */
static void
conf_set_upstream(struct conf_parser *p, int argc, char **argv)
{
	struct conf_upstream	*cu;
	struct sockaddr_un	*su;
	struct addrinfo		 hints, *res;
	char			 host[256];
	uint16_t		 port;
	int			 bracketed, rc;

	if (argc != 2) {
		conf_error(p, p->line,
		    "upstream: expected HOST:PORT or unix:PATH");
		return;
	}
	if ((cu = calloc(1, sizeof(*cu))) == NULL) {
		p->oom = 1;
		return;
	}
	su = (struct sockaddr_un *)&cu->addr;
	if (strncmp(argv[1], "unix:", 5) == 0) {
		if (argv[1][5] == '\0')
			goto out_usage;
		if (strlen(argv[1] + 5) >= sizeof(su->sun_path)) {
			conf_error(p, p->line,
			    "upstream: unix socket path too long");
			goto out_free;
		}
		su->sun_family = AF_UNIX;
		strcpy(su->sun_path, argv[1] + 5);
		cu->addrlen = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + strlen(su->sun_path) + 1);
		goto out_add;
	}
	if (conf_hostport(argv[1], host, sizeof(host), &bracketed, &port) != 0)
		goto out_usage;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = bracketed ? AI_NUMERICHOST : 0;
	if ((rc = conf_getaddrinfo(host, NULL, &hints, &res)) != 0) {
		conf_error(p, p->line, "upstream: cannot resolve \"%s\": %s",
		    host, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		goto out_free;
	}
	if (res->ai_addrlen > sizeof(cu->addr) ||
	    (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
		conf_error(p, p->line, "upstream: cannot resolve \"%s\": %s",
		    host, gai_strerror(EAI_FAMILY));
		freeaddrinfo(res);
		goto out_free;
	}
	memcpy(&cu->addr, res->ai_addr, res->ai_addrlen);
	cu->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (cu->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&cu->addr)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&cu->addr)->sin6_port = htons(port);
out_add:
	snprintf(cu->name, sizeof(cu->name), "%s", argv[1]);
	cu->line = p->line;
	STAILQ_INSERT_TAIL(&p->conf->upstreams, cu, link);
	return;

out_usage:
	conf_error(p, p->line, "upstream: expected HOST:PORT or unix:PATH");
out_free:
	free(cu);
}

/* "KEY: expected a, b or c", from the key's choices. */
static void
conf_error_choices(struct conf_parser *p, const struct conf_key *key)
{
	const struct conf_choice	*c;
	char				 words[256];
	size_t				 n = 0;

	words[0] = '\0';
	for (c = key->choices; c->name != NULL && n < sizeof(words); c++)
		n += (size_t)snprintf(words + n, sizeof(words) - n, "%s%s",
		    c == key->choices ? "" : c[1].name == NULL ? " or " : ", ",
		    c->name);
	conf_error(p, p->line, "%s: expected %s", key->name, words);
}

/* "rule NAME COND... ACTION", repeatable; names are unique. */
static void
conf_set_rule(struct conf_parser *p, int argc, char **argv)
{
	const struct rule	*old;
	char			 err[1024];

	if (argc > CONF_MAXARGS) {
		conf_error(p, p->line, "rule %s: too many words (at most %d)",
		    argv[1], CONF_MAXARGS);
		return;
	}
	if (argc >= 2 && (old = rules_find(p->conf->rules, argv[1])) != NULL) {
		conf_error(p, p->line, "rule %s: name already used at line %d",
		    argv[1], rule_line(old));
		return;
	}
	if (rules_add_at(p->conf->rules, p->line, argc, argv, err,
	    sizeof(err)) != 0)
		conf_error(p, p->line, "%s", err);
}

/* "limit NAME VALUE", once per name. */
static void
conf_set_limit(struct conf_parser *p, int argc, char **argv)
{
	enum limit_id	 id;

	if (argc != 3) {
		conf_error(p, p->line, "limit: expected NAME VALUE");
		return;
	}
	if ((id = limit_find(argv[1])) == LIM_N) {
		conf_error(p, p->line, "limit: unknown limit \"%s\"", argv[1]);
		return;
	}
	if (p->limit_line[id] != 0) {
		conf_error(p, p->line, "limit %s: already set at line %d",
		    argv[1], p->limit_line[id]);
		return;
	}
	p->limit_line[id] = p->line;
	if (limit_parse(id, argv[2], &p->conf->limits[id]) != 0)
		conf_error(p, p->line, "limit %s: invalid value \"%s\", "
		    "expected %s", argv[1], argv[2], limit_syntax(id));
}

/* A key taking one value, set at most once. */
static void
conf_set_scalar(struct conf_parser *p, const struct conf_key *key, int argc,
    char **argv)
{
	int *set = &p->set_line[key - conf_keys];

	if (*set != 0) {
		conf_error(p, p->line, "%s: already set at line %d", key->name,
		    *set);
		return;
	}
	*set = p->line;
	if (argc != 2) {
		conf_error(p, p->line, "%s: expected one value", key->name);
		return;
	}
	switch (conf_store(p->conf, key, argv[1])) {
	case 0:
		if (key->line_off != 0)
			*(int *)((char *)p->conf + key->line_off) = p->line;
		break;
	case -ENOMEM:
		p->oom = 1;
		break;
	case -ERANGE:
		conf_error(p, p->line, "%s: %s out of range (%s..%s)",
		    key->name, argv[1], key->min, key->max);
		break;
	default:
		if (key->type == CONF_T_CHOICE)
			conf_error_choices(p, key);
		else
			conf_error(p, p->line, "%s: invalid %s \"%s\"",
			    key->name, conf_numeric[key->type].what, argv[1]);
		break;
	}
}

/*
 * Splits one line (n bytes, without its newline) into words in buf (at
 * least n + 1 bytes); argv gets the first CONF_MAXARGS of them.  Returns the
 * number of words, or -1 on an unterminated quote.
 */
static int
conf_split(const char *s, size_t n, char *buf, char **argv)
{
	const char	*end = s + n;
	char		*o = buf;
	int		 argc = 0, quoted;

	for (;;) {
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s == end || *s == '#')
			return argc;
		if (argc < CONF_MAXARGS)
			argv[argc] = o;
		argc++;
		for (quoted = 0; s < end; s++) {
			if (quoted && *s == '\\' && s + 1 < end &&
			    (s[1] == '"' || s[1] == '\\'))
				*o++ = *++s;
			else if (*s == '"')
				quoted = !quoted;
			else if (!quoted &&
			    (*s == ' ' || *s == '\t' || *s == '#'))
				break;
			else
				*o++ = *s;
		}
		if (quoted)
			return -1;
		*o++ = '\0';
	}
}

static void
conf_line(struct conf_parser *p, const char *s, size_t n, char *buf)
{
	char	*argv[CONF_MAXARGS];
	size_t	 i;
	int	 argc;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\0', n) != NULL) {
		conf_error(p, p->line, "NUL byte in line");
		return;
	}
	if ((argc = conf_split(s, n, buf, argv)) < 0) {
		conf_error(p, p->line, "unterminated quoted string");
		return;
	}
	if (argc == 0)
		return;
	for (i = 0; i < CONF_NKEYS; i++)
		if (strcmp(argv[0], conf_keys[i].name) == 0)
			break;
	if (i == CONF_NKEYS)
		conf_error(p, p->line, "unknown key \"%s\"", argv[0]);
	else if (conf_keys[i].type == CONF_T_LISTEN)
		conf_set_listen(p, argc, argv);
	else if (conf_keys[i].type == CONF_T_UPSTREAM)
		conf_set_upstream(p, argc, argv);
	else if (conf_keys[i].type == CONF_T_RULE)
		conf_set_rule(p, argc, argv);
	else if (conf_keys[i].type == CONF_T_LIMIT)
		conf_set_limit(p, argc, argv);
	else
		conf_set_scalar(p, &conf_keys[i], argc, argv);
}

/* The checks that need the whole file. */
static void conf_check_ban_share(struct conf_parser *);
static void conf_read_admin_token(struct conf_parser *);

static void
conf_check(struct conf_parser *p)
{
	struct conf		*conf = p->conf;
	struct conf_listen	*cl;

	STAILQ_FOREACH(cl, &conf->listens, link)
		if (cl->tls) {
			if (conf->tls_certificate == NULL ||
			    conf->tls_certificate_key == NULL)
				conf_error(p, cl->line, "listen %s tls needs "
				    "tls_certificate and tls_certificate_key",
				    cl->name);
			break;
		}
	if (STAILQ_EMPTY(&conf->listens))
		conf_error(p, p->line, "no \"listen\" line");
	if (STAILQ_EMPTY(&conf->upstreams))
		conf_error(p, p->line, "no \"upstream\" line");
	conf_check_ban_share(p);
	conf_read_admin_token(p);
}

/*
 * "admin_token FILE": the file holds the bearer token the admin listener
 * wants on every request, on one line (token68: letters, digits and
 * -._~+/=, 16 to 512 bytes).  It is read at every load, so that a reload
 * takes a new one.
 */
static void
conf_read_admin_token(struct conf_parser *p)
{
	struct conf	*conf = p->conf;
	char		 buf[600];
	ssize_t		 n;
	size_t		 len;
	int		 fd, err;

	if (strcmp(conf->admin_token, "off") == 0)
		return;
	if (conf->admin_addrlen == 0) {
		conf_error(p, conf->admin_token_line,
		    "admin_token needs admin_listen");
		return;
	}
	if ((fd = open(conf->admin_token, O_RDONLY | O_CLOEXEC)) < 0) {
		conf_error(p, conf->admin_token_line, "admin_token %s: %s",
		    conf->admin_token, strerror(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	err = errno;
	close(fd);
	if (n < 0) {
		conf_error(p, conf->admin_token_line, "admin_token %s: %s",
		    conf->admin_token, strerror(err));
		return;
	}
	buf[n] = '\0';
	len = (size_t)n;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len < 16 || len > 512 || strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-._~+/=") != len) {
		conf_error(p, conf->admin_token_line, "admin_token %s: expected "
		    "one line of 16 to 512 letters, digits or -._~+/= "
		    "(openssl rand -hex 32 > FILE)", conf->admin_token);
		return;
	}
	if ((conf->admin_token_value = strdup(buf)) == NULL)
		p->oom = 1;
}

/*
 * "ban_share redis://[:PASSWORD@]ADDR:PORT[/DB]" (an address, not a name:
 * nothing may block the event loop on a resolver later) or "off".
 */
static void
conf_check_ban_share(struct conf_parser *p)
{
	struct conf	*conf = p->conf;
	const char	*s = conf->ban_share, *at, *slash;
	char		 hostport[96];
	uint64_t	 db = 0;
	size_t		 len;

	/* Keys are matched with SCAN PREFIX*: no glob characters. */
	if (conf->ban_share_prefix[0] == '\0' ||
	    strpbrk(conf->ban_share_prefix, " \t*?[]\\") != NULL)
		conf_error(p, conf->ban_share_prefix_line,
		    "ban_share_prefix: letters, digits and punctuation other "
		    "than * ? [ ] \\, not empty");
	if (strcmp(s, "off") == 0)
		return;
#ifndef HAVE_HIREDIS
	conf_error(p, conf->ban_share_line, "ban_share: this h2guard was built "
	    "without hiredis: install libhiredis-dev and build it again");
	return;
#endif
	if (strncmp(s, "redis://", 8) != 0)
		goto bad;
	s += 8;
	if ((at = strrchr(s, '@')) != NULL) {
		if (*s != ':' || at == s + 1)
			goto bad;
		if ((conf->ban_share_password = strndup(s + 1,
		    (size_t)(at - s - 1))) == NULL) {
			p->oom = 1;
			return;
		}
		s = at + 1;
	}
	slash = strchr(s, '/');
	len = slash ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof(hostport))
		goto bad;
	memcpy(hostport, s, len);
	hostport[len] = '\0';
	if (conf_parse_addr(hostport, &conf->ban_share_addr,
	    &conf->ban_share_addrlen) != 0)
		goto bad;
	if (slash != NULL && (conf_parse_number(slash + 1, &db) != 0 ||
	    db > 1000))
		goto bad;
	conf->ban_share_db = (uint32_t)db;
	return;
bad:
	conf->ban_share_addrlen = 0;
	conf_error(p, conf->ban_share_line, "ban_share: expected "
	    "redis://[:PASSWORD@]ADDR:PORT[/DB] (an IP address; DB 0..1000) "
	    "or off");
}

/* A configuration holding the defaults of conf_keys[]; NULL: no memory. */
static struct conf *
conf_new(const char *path)
{
	struct conf	*conf;
	size_t		 i;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		return NULL;
	STAILQ_INIT(&conf->listens);
	STAILQ_INIT(&conf->upstreams);
	if ((conf->path = strdup(path)) == NULL ||
	    (conf->rules = rules_new()) == NULL)
		goto out_free;
	for (i = 0; i < CONF_NKEYS; i++)
		if (conf_keys[i].def != NULL &&
		    conf_store(conf, &conf_keys[i], conf_keys[i].def) != 0)
			goto out_free;
	limit_defaults(conf->limits);
	return conf;

out_free:
	conf_free(conf);
	return NULL;
}

struct conf *
conf_parse(const char *name, const char *text, size_t len, char **errors)
{
	struct conf_parser	 p;
	const char		*s = text, *end = text ? text + len : text, *nl;
	char			*buf;
	size_t			 i;

	*errors = NULL;
	memset(&p, 0, sizeof(p));
	p.file = name;
	if ((buf = malloc(len + 1)) == NULL || (p.conf = conf_new(name)) == NULL) {
		p.oom = 1;
		goto out_errors;
	}
	/* A final line without a newline counts; an empty file has line 1. */
	for (p.line = 1; s < end; s = nl + 1, p.line++) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		conf_line(&p, s, (size_t)(nl - s), buf);
		if (nl == end || nl + 1 == end)
			break;
	}
	conf_check(&p);
	if (p.nmsgs == 0 && !p.oom) {
		rules_set_errors(p.conf->rules, p.conf->rule_errors);
		free(buf);
		return p.conf;
	}

out_errors:
	*errors = conf_messages(&p);
	for (i = 0; i < p.nmsgs; i++)
		free(p.msgs[i].text);
	free(p.msgs);
	free(buf);
	conf_free(p.conf);
	return NULL;
}

struct conf *
conf_load(const char *path, char **errors)
{
	struct conf	*conf;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	char		*buf = NULL, *nbuf;
	int		 fd, err;

	*errors = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto out_error;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8192;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				errno = ENOMEM;
				goto out_close;
			}
			buf = nbuf;
		}
		if ((n = read(fd, buf + len, cap - len)) == -1) {
			if (errno == EINTR)
				continue;
			goto out_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONF_FILE_MAX) {
			errno = EFBIG;
			goto out_close;
		}
	}
	close(fd);
	conf = conf_parse(path, buf, len, errors);
	free(buf);
	return conf;

out_close:
	err = errno;
	close(fd);
	free(buf);
	errno = err;
out_error:	/* errno says why */
	err = errno;
	n = snprintf(NULL, 0, "%s:0: cannot read: %s\n", path, strerror(err));
	if (n > 0 && (*errors = malloc((size_t)n + 1)) != NULL)
		snprintf(*errors, (size_t)n + 1, "%s:0: cannot read: %s\n",
		    path, strerror(err));
	return NULL;
}

void
conf_free(struct conf *conf)
{
	struct conf_listen	*cl;
	struct conf_upstream	*cu;

	if (conf == NULL)
		return;
	while ((cl = STAILQ_FIRST(&conf->listens)) != NULL) {
		STAILQ_REMOVE_HEAD(&conf->listens, link);
		free(cl);
	}
	while ((cu = STAILQ_FIRST(&conf->upstreams)) != NULL) {
		STAILQ_REMOVE_HEAD(&conf->upstreams, link);
		free(cu);
	}
	free(conf->tls_certificate);
	free(conf->tls_certificate_key);
	free(conf->ban_log);
	free(conf->access_log);
	free(conf->ban_state_file);
	free(conf->ban_share);
	free(conf->ban_share_prefix);
	free(conf->ban_share_password);
	free(conf->admin_token);
	free(conf->admin_token_value);
	rules_free(conf->rules);
	free(conf->path);
	free(conf);
}
