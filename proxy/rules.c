/*
 * rules.c - ban rules: parsing "rule NAME COND... ACTION" lines and matching
 * request heads against them, first match wins.
 *
 * Patterns are compiled (JIT when available) when the rule is added.  A
 * rule list is read only once built, and matched by every worker thread at
 * once: what a match writes (PCRE2 match data, the JIT stack) is the
 * calling thread's own (struct rules_scratch), so rules_match() takes no
 * lock and allocates nothing after a thread's first match.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define PCRE2_CODE_UNIT_WIDTH 8

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/canon.h"
#include "proxy/conf.h"
#include "proxy/rules.h"

#define RULES_ACTION_MSG \
	"rule %s: expected an action: ban, ban ttl DURATION, allow or log"

#define RULES_TTL_MIN	1000ULL			/* 1s */
#define RULES_TTL_MAX	(30ULL * 86400000)	/* 30d */

enum rule_cond_type {
	COND_METHOD,
	COND_PATH,		/* target up to '?' */
	COND_QUERY,		/* target after '?', "" without one */
	COND_HEADER,
	COND_AUTHORITY,
	COND_CLIENT,
	COND_PROTOCOL,
	COND_SNI,
};

/* How a condition compares; also the bits of rule_conds[].ops. */
enum rule_op {
	OP_VALUE = 0x00,	/* method, client, protocol: one plain value */
	OP_EXACT = 0x01,
	OP_PREFIX = 0x02,
	OP_REGEX = 0x04,
	OP_PRESENT = 0x08,
};

struct rule_cond {
	enum rule_cond_type	 type;
	enum rule_op		 op;
	char			*name;	/* owned; header: lower-case field name */
	char			*value;	/* owned; NULL for client, protocol, present */
	size_t			 vlen;
	pcre2_code		*re;	/* owned; OP_REGEX */
	int			 jit;	/* re was JIT-compiled */
	int			 family;	/* client: AF_INET or AF_INET6 */
	unsigned int		 prefix;	/* client: prefix length in bits */
	uint8_t			 addr[16];	/* client: network, host bits zero */
	enum http_proto		 proto;	/* protocol */
};

struct rule {
	char			*name;	/* owned */
	struct rule_cond	*conds;	/* owned array */
	size_t			 nconds;
	enum rule_action	 action;
	uint32_t		 ttl;	/* ms; 0: none */
	int			 line;
	int			 err_logged;	/* atomic: rules_error_once() */
};

struct rule_list {
	struct rule		**v;	/* owned array of owned rules */
	size_t			 n, cap;
	int			 errors;	/* RULES_ERRORS_* */
};

/* What one thread's matches write; see rules_scratch_get(). */
struct rules_scratch {
	pcre2_match_data	*md;	/* owned; one pair: match or not */
	pcre2_match_context	*mctx;	/* owned: the interpreter's limits */
	pcre2_match_context	*jctx;	/* owned: JIT code's limit and stack */
	pcre2_jit_stack		*jit;	/* owned; NULL without JIT */
	int			 failed;	/* could not be made: every match errs */
};

static __thread struct rules_scratch rules_tls;

/* The condition keywords, what follows them, and what a bad one is told. */
static const struct {
	const char		*word;
	enum rule_cond_type	 type;
	unsigned int		 ops;	/* allowed OP_* words; 0: a plain value */
	int			 named;	/* a field name comes first */
	const char		*needs;
} rule_conds[] = {
	{ "method", COND_METHOD, 0, 0, "needs a value" },
	{ "path", COND_PATH, OP_EXACT | OP_PREFIX | OP_REGEX, 0,
	    "needs exact, prefix or regex and a value" },
	{ "query", COND_QUERY, OP_REGEX, 0, "needs regex and a value" },
	{ "header", COND_HEADER, OP_PRESENT | OP_EXACT | OP_REGEX, 1,
	    "needs a field name, then present, or exact or regex and a value" },
	{ "authority", COND_AUTHORITY, OP_EXACT | OP_REGEX, 0,
	    "needs exact or regex and a value" },
	{ "client", COND_CLIENT, 0, 0, "needs a CIDR" },
	{ "protocol", COND_PROTOCOL, 0, 0, "must be h2 or http/1.1" },
	{ "sni", COND_SNI, OP_EXACT | OP_REGEX, 0,
	    "needs exact or regex and a value" },
};

static const struct {
	const char	*word;
	enum rule_op	 op;
} rule_ops[] = {
	{ "exact", OP_EXACT },
	{ "prefix", OP_PREFIX },
	{ "regex", OP_REGEX },
	{ "present", OP_PRESENT },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void rule_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
rule_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct rule_list *
rules_new(void)
{
	return calloc(1, sizeof(struct rule_list));
}

void
rules_set_errors(struct rule_list *rl, int mode)
{
	rl->errors = mode;
}

/*
 * rules_scratch_get() is the calling thread's scratch, made at its first
 * match, or NULL when it could not be made (then every pattern match of
 * the thread counts as an error: fail closed, never open).
 */
static struct rules_scratch *
rules_scratch_get(void)
{
	struct rules_scratch *t = &rules_tls;

	if (t->md != NULL)
		return t;
	if (t->failed)
		return NULL;
	if ((t->md = pcre2_match_data_create(1, NULL)) == NULL ||
	    (t->mctx = pcre2_match_context_create(NULL)) == NULL ||
	    (t->jctx = pcre2_match_context_create(NULL)) == NULL) {
		rules_thread_free();
		t->failed = 1;
		return NULL;
	}
	pcre2_set_match_limit(t->mctx, RULES_MATCH_LIMIT);
	pcre2_set_depth_limit(t->mctx, RULES_DEPTH_LIMIT);
	pcre2_set_heap_limit(t->mctx, RULES_HEAP_LIMIT_KB);
	pcre2_set_match_limit(t->jctx, RULES_MATCH_LIMIT_JIT);
	/* Without one, JIT code runs on 32 KiB of the machine stack. */
	if ((t->jit = pcre2_jit_stack_create(32 * 1024, RULES_JIT_STACK,
	    NULL)) != NULL)
		pcre2_jit_stack_assign(t->jctx, NULL, t->jit);
	return t;
}

void
rules_thread_free(void)
{
	struct rules_scratch *t = &rules_tls;

	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mctx);
	pcre2_match_context_free(t->jctx);
	pcre2_jit_stack_free(t->jit);
	memset(t, 0, sizeof(*t));
}

int
rules_error_once(const struct rule *r)
{
	/* The flag is the one thing of a rule that changes after loading. */
	struct rule *w = (struct rule *)(uintptr_t)r;

	return __atomic_exchange_n(&w->err_logged, 1, __ATOMIC_RELAXED) == 0;
}

static void
rule_free(struct rule *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nconds; i++) {
		free(r->conds[i].name);
		free(r->conds[i].value);
		pcre2_code_free(r->conds[i].re);
	}
	free(r->conds);
	free(r->name);
	free(r);
}

void
rules_free(struct rule_list *rl)
{
	size_t i;

	if (rl == NULL)
		return;
	for (i = 0; i < rl->n; i++)
		rule_free(rl->v[i]);
	free(rl->v);
	free(rl);
}

size_t
rules_count(const struct rule_list *rl)
{
	return rl->n;
}

const struct rule *
rules_find(const struct rule_list *rl, const char *name)
{
	size_t i;

	for (i = 0; i < rl->n; i++)
		if (strcmp(rl->v[i]->name, name) == 0)
			return rl->v[i];
	return NULL;
}

/*
 * Parses "ADDR[/BITS]", IPv4 or IPv6, into c; host bits are cleared.
 * Returns 0 or -EINVAL.
 */
static int
rule_parse_cidr(struct rule_cond *c, const char *s)
{
	char		 host[INET6_ADDRSTRLEN];
	const char	*slash = strchr(s, '/'), *d;
	size_t		 len = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int	 bits = 0, max, i;

	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	if (strchr(host, ':') != NULL) {
		if (inet_pton(AF_INET6, host, c->addr) != 1)
			return -EINVAL;
		c->family = AF_INET6;
		max = 128;
	} else {
		if (inet_pton(AF_INET, host, c->addr) != 1)
			return -EINVAL;
		c->family = AF_INET;
		max = 32;
	}
	if (slash == NULL) {
		c->prefix = max;
		return 0;
	}
	for (d = slash + 1; *d >= '0' && *d <= '9' && d - slash <= 3; d++)
		bits = bits * 10 + (unsigned int)(*d - '0');
	if (d == slash + 1 || *d != '\0' || bits > max)
		return -EINVAL;
	c->prefix = bits;
	for (i = 0; i < 16; i++) {
		if (i * 8 >= bits)
			c->addr[i] = 0;
		else if (i * 8 + 8 > bits)
			c->addr[i] &= (uint8_t)(0xff << (8 - (bits - i * 8)));
	}
	return 0;
}

/*
 * Parses the condition starting at argv[*i] into c and advances *i past it.
 * Returns 0, or -1 after writing a message into err.
 */
static int
rule_parse_cond(struct rule_cond *c, const char *name, int argc, char **argv,
    int *i, char *err, size_t errlen)
{
	PCRE2_UCHAR	 msg[256];
	PCRE2_SIZE	 off;
	size_t		 k, o;
	int		 j = *i + 1, code;
	char		*p;

	for (k = 0; k < NELEM(rule_conds); k++)
		if (strcmp(argv[*i], rule_conds[k].word) == 0)
			break;
	if (k == NELEM(rule_conds) && *i > 2 && *i + 1 == argc) {
		/* After a condition, a last unknown word is a bad action. */
		rule_err(err, errlen, RULES_ACTION_MSG, name);
		return -1;
	}
	if (k == NELEM(rule_conds)) {
		rule_err(err, errlen, "rule %s: unknown condition \"%s\"", name,
		    argv[*i]);
		return -1;
	}
	c->type = rule_conds[k].type;
	c->op = OP_VALUE;
	if (rule_conds[k].named) {
		if (j >= argc || argv[j][0] == '\0')
			goto out_needs;
		if ((c->name = strdup(argv[j++])) == NULL)
			goto out_nomem;
		for (p = c->name; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
			else if (*p == '_')
				*p = '-';	/* the same field for the rules */
	}
	if (rule_conds[k].ops != 0) {
		if (j >= argc)
			goto out_needs;
		for (o = 0; o < NELEM(rule_ops); o++)
			if (strcmp(argv[j], rule_ops[o].word) == 0)
				break;
		if (o == NELEM(rule_ops) ||
		    (rule_conds[k].ops & rule_ops[o].op) == 0)
			goto out_needs;
		c->op = rule_ops[o].op;
		j++;
	}
	if (c->op != OP_PRESENT && j >= argc)
		goto out_needs;
	*i = j + (c->op != OP_PRESENT);

	switch (c->type) {
	case COND_CLIENT:
		if (rule_parse_cidr(c, argv[j]) != 0) {
			rule_err(err, errlen, "rule %s: invalid CIDR \"%s\"",
			    name, argv[j]);
			return -1;
		}
		return 0;
	case COND_PROTOCOL:
		if (strcmp(argv[j], "h2") == 0)
			c->proto = PROTO_H2;
		else if (strcmp(argv[j], "http/1.1") == 0)
			c->proto = PROTO_H1;
		else
			goto out_needs;
		return 0;
	default:
		break;
	}
	if (c->op == OP_PRESENT)
		return 0;
	if (c->type == COND_AUTHORITY && c->op == OP_EXACT) {
		const char *why;

		/* Compared with the request's, normalized the same way. */
		if (canon_authority(argv[j], strlen(argv[j]), "", &c->value,
		    &why) == -ENOMEM)
			goto out_nomem;
		if (c->value == NULL) {
			rule_err(err, errlen, "rule %s: \"%s\" is not an "
			    "authority (HOST or HOST:PORT)", name, argv[j]);
			return -1;
		}
	} else if ((c->value = strdup(argv[j])) == NULL)
		goto out_nomem;
	c->vlen = strlen(c->value);
	if (c->op != OP_REGEX)
		return 0;
	/* Host names are without regard to case. */
	c->re = pcre2_compile((PCRE2_SPTR)c->value, c->vlen,
	    c->type == COND_AUTHORITY || c->type == COND_SNI ?
	    PCRE2_CASELESS : 0, &code, &off, NULL);
	if (c->re == NULL) {
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		rule_err(err, errlen, "rule %s: bad regex \"%s\": %s at offset "
		    "%zu", name, c->value, (const char *)msg, (size_t)off);
		return -1;
	}
	/* Without JIT (not built in, or no executable memory) pcre2_match()
	 * interprets the pattern: slower, same results. */
	c->jit = pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE) == 0;
	return 0;

out_needs:
	rule_err(err, errlen, "rule %s: %s %s", name, rule_conds[k].word,
	    rule_conds[k].needs);
	return -1;
out_nomem:
	rule_err(err, errlen, "rule %s: out of memory", name);
	return -1;
}

/* Parses the action, argv[i] to the end.  Returns 0 or -1 with err set. */
static int
rule_parse_action(struct rule *r, int argc, char **argv, int i, char *err,
    size_t errlen)
{
	uint64_t	ms;
	int		rc;

	if (i + 1 == argc && strcmp(argv[i], "allow") == 0) {
		r->action = RULE_ALLOW;
		return 0;
	}
	if (i + 1 == argc && strcmp(argv[i], "log") == 0) {
		r->action = RULE_LOG;
		return 0;
	}
	if (strcmp(argv[i], "ban") == 0 && i + 1 == argc) {
		r->action = RULE_BAN;
		return 0;
	}
	if (strcmp(argv[i], "ban") != 0 || i + 3 != argc ||
	    strcmp(argv[i + 1], "ttl") != 0) {
		rule_err(err, errlen, RULES_ACTION_MSG, r->name);
		return -1;
	}
	if ((rc = conf_parse_duration(argv[i + 2], &ms)) == -EINVAL) {
		rule_err(err, errlen, "rule %s: invalid duration \"%s\"",
		    r->name, argv[i + 2]);
		return -1;
	}
	if (rc != 0 || ms < RULES_TTL_MIN || ms > RULES_TTL_MAX) {
		rule_err(err, errlen, "rule %s: ttl %s out of range (1s..30d)",
		    r->name, argv[i + 2]);
		return -1;
	}
	r->action = RULE_BAN;
	r->ttl = (uint32_t)ms;
	return 0;
}

static int
rule_is_action(const char *s)
{
	return strcmp(s, "ban") == 0 || strcmp(s, "allow") == 0 ||
	    strcmp(s, "log") == 0;
}

int
rules_add_at(struct rule_list *rl, int line, int argc, char **argv, char *err,
    size_t errlen)
{
	struct rule	 *r, **v;
	size_t		  cap;
	int		  i;

	if (argc < 3 || argv[1][0] == '\0') {
		rule_err(err, errlen, "rule: expected NAME COND... ACTION");
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->name = strdup(argv[1])) == NULL ||
	    (r->conds = calloc((size_t)argc / 2, sizeof(*r->conds))) == NULL)
		goto out_nomem;
	r->line = line;
	for (i = 2; i < argc && !rule_is_action(argv[i]); r->nconds++)
		if (rule_parse_cond(&r->conds[r->nconds], r->name, argc, argv,
		    &i, err, errlen) != 0) {
			r->nconds++;	/* what it allocated is freed */
			goto out_free;
		}
	if (r->nconds == 0 && i < argc) {
		rule_err(err, errlen, "rule %s: no condition", r->name);
		goto out_free;
	}
	if (i == argc) {
		rule_err(err, errlen, RULES_ACTION_MSG, r->name);
		goto out_free;
	}
	if (rule_parse_action(r, argc, argv, i, err, errlen) != 0)
		goto out_free;
	if (rl->n == rl->cap) {
		cap = rl->cap ? rl->cap * 2 : 8;
		if ((v = realloc(rl->v, cap * sizeof(*v))) == NULL)
			goto out_nomem;
		rl->v = v;
		rl->cap = cap;
	}
	rl->v[rl->n++] = r;
	return 0;

out_nomem:
	rule_err(err, errlen, "rule %s: out of memory", argv[1]);
out_free:
	rule_free(r);
	return -1;
}

int
rules_add(struct rule_list *rl, int argc, char **argv, char *err, size_t errlen)
{
	return rules_add_at(rl, 0, argc, argv, err, errlen);
}

/* One evaluation of the list: the rule being tried, the first error. */
struct rule_eval {
	const struct rule_list	*rl;
	const struct rule	*r;		/* the rule being tried */
	const struct rule	*errored;	/* first rule a match failed in */
};

/*
 * rule_failed() records that a match of the rule being tried failed, and
 * is what the condition then holds as: closed, for a ban or log rule,
 * what it would catch is caught; for an allow rule, what it would exempt
 * is not; open, never.
 */
static int
rule_failed(struct rule_eval *e)
{
	if (e->errored == NULL)
		e->errored = e->r;
	return e->rl->errors == RULES_ERRORS_CLOSED &&
	    e->r->action != RULE_ALLOW;
}

/*
 * Whether the pattern of c matches len bytes at s.  A match that fails (a
 * limit, no memory) holds as rule_failed() says.
 */
static int
rule_re(struct rule_eval *e, const struct rule_cond *c, const char *s,
    size_t len)
{
	struct rules_scratch	*t = rules_scratch_get();
	int			 rc = PCRE2_ERROR_NOMEMORY;

	if (t != NULL && c->jit)
		rc = pcre2_match(c->re, (PCRE2_SPTR)s, len, 0, 0, t->md,
		    t->jctx);
	/*
	 * The JIT code's limit stops the patterns that are slow under JIT
	 * early; one that hit it gets the interpreter's verdict, whose limit
	 * is a bound on time (linear patterns pass, catastrophic ones fail).
	 */
	if (t != NULL && (!c->jit || rc == PCRE2_ERROR_MATCHLIMIT ||
	    rc == PCRE2_ERROR_JIT_STACKLIMIT))
		rc = pcre2_match(c->re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT,
		    t->md, t->mctx);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	return rule_failed(e);
}

/* Compares s (len bytes) with c by its op: exact, prefix or regex. */
static int
rule_str(struct rule_eval *e, const struct rule_cond *c, const char *s,
    size_t len)
{
	switch (c->op) {
	case OP_EXACT:
		return len == c->vlen && memcmp(s, c->value, len) == 0;
	case OP_PREFIX:
		return len >= c->vlen && memcmp(s, c->value, c->vlen) == 0;
	case OP_REGEX:
		return rule_re(e, c, s, len);
	default:
		return 0;
	}
}

/* For sni: exact is without regard to case. */
static int
rule_name_str(struct rule_eval *e, const struct rule_cond *c, const char *s)
{
	if (s == NULL)
		return 0;
	if (c->op == OP_EXACT)
		return strcasecmp(s, c->value) == 0;
	return rule_re(e, c, s, strlen(s));
}

/* The length of the host part of a normalized authority (no port). */
static size_t
rule_host_len(const char *a)
{
	const char *p = a[0] == '[' ? strchr(a, ']') : NULL;

	if (p != NULL)
		return (size_t)(p - a) + 1;
	return strcspn(a, ":");
}

/*
 * An authority condition: exact compares the host alone, as a virtual host
 * is chosen whatever the port, unless V names a port; regex holds when the
 * host or the whole authority matches.
 */
static int
rule_authority(struct rule_eval *e, const struct rule_cond *c, const char *a)
{
	size_t hlen;

	if (a == NULL)
		return 0;
	hlen = rule_host_len(a);
	if (c->op == OP_EXACT) {
		if (c->value[rule_host_len(c->value)] != '\0')
			return strcasecmp(a, c->value) == 0;
		return hlen == c->vlen && strncasecmp(a, c->value, hlen) == 0;
	}
	return rule_re(e, c, a, hlen) ||
	    (a[hlen] != '\0' && rule_re(e, c, a, strlen(a)));
}

/*
 * A header condition holds when one field of the name ('_' as '-') holds,
 * or, when there are several, their values joined as an application will
 * see them: "; " for cookies (as forwarded), ", " for any other.
 */
static int
rule_header(struct rule_eval *e, const struct rule_cond *c,
    const struct hdrlist *h)
{
	size_t		nlen = strlen(c->name), total = 0, off = 0, seplen;
	const char	*sep;
	uint32_t	i, n = 0;
	char		*joined;
	int		rc;

	if (h == NULL)
		return 0;
	for (i = 0; i < h->n; i++) {
		if (!canon_name_eq(h->v[i].name, h->v[i].nlen, c->name, nlen))
			continue;
		if (c->op == OP_PRESENT ||
		    rule_str(e, c, h->v[i].value, h->v[i].vlen))
			return 1;
		n++;
		total += h->v[i].vlen;
	}
	if (n < 2)
		return 0;
	sep = strcmp(c->name, "cookie") == 0 ? "; " : ", ";
	seplen = 2;
	if ((joined = malloc(total + seplen * n)) == NULL)
		return rule_failed(e);	/* as a failed match */
	for (i = 0; i < h->n; i++) {
		if (!canon_name_eq(h->v[i].name, h->v[i].nlen, c->name, nlen))
			continue;
		if (off > 0) {
			memcpy(joined + off, sep, seplen);
			off += seplen;
		}
		memcpy(joined + off, h->v[i].value, h->v[i].vlen);
		off += h->v[i].vlen;
	}
	rc = rule_str(e, c, joined, off);
	free(joined);
	return rc;
}

static int
rule_client(const struct rule_cond *c, const struct sockaddr *sa)
{
	static const uint8_t	 mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const uint8_t		*a;
	unsigned int		 full = c->prefix / 8, rest = c->prefix % 8;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		if (c->family != AF_INET)
			return 0;
		a = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)(const void *)sa)
		    ->sin6_addr.s6_addr;
		if (c->family == AF_INET) {
			if (memcmp(a, mapped, sizeof(mapped)) != 0)
				return 0;
			a += sizeof(mapped);
		}
	} else
		return 0;
	if (memcmp(a, c->addr, full) != 0)
		return 0;
	return rest == 0 ||
	    (a[full] & (uint8_t)(0xff << (8 - rest))) == c->addr[full];
}

/*
 * Whether a method-override field (X-HTTP-Method-Override, X-HTTP-Method,
 * X-Method-Override: many frameworks take a POST carrying one for that
 * method) names the method of c, without regard to case.
 */
static int
rule_method_override(const struct rule_cond *c, const struct hdrlist *h)
{
	static const char *const names[] = {
		"x-http-method-override", "x-http-method", "x-method-override",
	};
	uint32_t	i;
	size_t		k;

	if (h == NULL)
		return 0;
	for (i = 0; i < h->n; i++)
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (canon_name_eq(h->v[i].name, h->v[i].nlen, names[k],
			    strlen(names[k])) && h->v[i].vlen == c->vlen &&
			    strncasecmp(h->v[i].value, c->value, c->vlen) == 0)
				return 1;
	return 0;
}

static int
rule_cond_holds(struct rule_eval *e, const struct rule_cond *c,
    const struct rule_input *in)
{
	switch (c->type) {
	case COND_METHOD:
		return (in->method != NULL && strcmp(in->method, c->value) == 0) ||
		    rule_method_override(c, in->headers);
	case COND_PATH:
		return in->path != NULL &&
		    rule_str(e, c, in->path, in->pathlen);
	case COND_QUERY:
		/* The query as sent, or decoded: either is enough. */
		return rule_str(e, c, in->query ? in->query : "",
		    in->query ? in->querylen : 0) ||
		    (in->query_dec != NULL &&
		    rule_str(e, c, in->query_dec, in->query_declen));
	case COND_HEADER:
		return rule_header(e, c, in->headers);
	case COND_AUTHORITY:
		return rule_authority(e, c, in->authority);
	case COND_CLIENT:
		return rule_client(c, in->client);
	case COND_PROTOCOL:
		return in->proto == c->proto;
	case COND_SNI:
		return rule_name_str(e, c, in->sni);
	}
	return 0;
}

const struct rule *
rules_match(const struct rule_list *rl, const struct rule_input *in,
    const struct rule **errored)
{
	struct rule_eval	 e = { .rl = rl };
	const struct rule	*r;
	size_t			 i, k;

	for (i = 0; i < rl->n; i++) {
		r = e.r = rl->v[i];
		for (k = 0; k < r->nconds; k++)
			if (!rule_cond_holds(&e, &r->conds[k], in))
				break;
		if (k == r->nconds)
			break;
	}
	if (errored != NULL)
		*errored = e.errored;
	return i < rl->n ? rl->v[i] : NULL;
}

/* The condition of a client-only allow rule, or NULL. */
static const struct rule_cond *
rule_allowed_client(const struct rule *r)
{
	if (r->action != RULE_ALLOW || r->nconds != 1 ||
	    r->conds[0].type != COND_CLIENT)
		return NULL;
	return &r->conds[0];
}

void
rules_foreach_allowed_client(const struct rule_list *rl, rule_cidr_fn *fn,
    void *arg)
{
	const struct rule_cond	*c;
	size_t			 i;

	for (i = 0; i < rl->n; i++)
		if ((c = rule_allowed_client(rl->v[i])) != NULL)
			fn(arg, c->family, c->addr, c->prefix);
}

int
rules_client_allowed(const struct rule_list *rl, const struct sockaddr *sa)
{
	const struct rule_cond	*c;
	size_t			 i;

	for (i = 0; i < rl->n; i++)
		if ((c = rule_allowed_client(rl->v[i])) != NULL &&
		    rule_client(c, sa))
			return 1;
	return 0;
}

const char *
rule_name(const struct rule *r)
{
	return r->name;
}

enum rule_action
rule_action(const struct rule *r)
{
	return r->action;
}

uint32_t
rule_ttl(const struct rule *r)
{
	return r->ttl;
}

int
rule_line(const struct rule *r)
{
	return r->line;
}
