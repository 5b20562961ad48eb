/*
 * rules.h - ban rules: ordered, first match wins.  A rule has a name, one or
 * more conditions (all must hold) and an action.
 *
 *   rule NAME COND... ACTION
 *   COND:   method M | path exact|prefix|regex V | query regex V |
 *           header NAME present | header NAME exact|regex V |
 *           authority exact|regex V | client CIDR | protocol h2|http/1.1 |
 *           sni exact|regex V
 *   ACTION: ban [ttl DURATION] | allow | log
 *
 * Regular expressions are PCRE2, compiled (with JIT when available) once,
 * when the configuration is loaded; authority and sni ones ignore case.
 */
#ifndef H2GUARD_RULES_H
#define H2GUARD_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/hdr.h"

enum rule_action {
	RULE_BAN,	/* tear the connection down; ttl: ban the address */
	RULE_ALLOW,	/* stop evaluating, forward */
	RULE_LOG,	/* log what ban would have done, forward */
};

struct rule;		/* opaque */
struct rule_list;	/* opaque, ordered */

/*
 * What the rules look at: one request head, normalized (canon.h), and its
 * connection.
 */
struct rule_input {
	const char		*method;
	const char		*path;		/* decoded path, no query */
	size_t			 pathlen;
	const char		*query;		/* raw query, after '?'; "" */
	size_t			 querylen;
	const char		*query_dec;	/* the query decoded */
	size_t			 query_declen;
	const char		*authority;	/* normalized; may be NULL */
	const struct hdrlist	*headers;	/* lower-case names */
	const struct sockaddr	*client;	/* AF_INET or AF_INET6 */
	enum http_proto		 proto;
	const char		*sni;		/* may be NULL (no TLS, or no SNI) */
};

/*
 * Bounds of one regular expression match, so that the worst pattern on the
 * longest input (64 KiB) costs about a millisecond of the event loop.
 * PCRE2 counts its match limit differently in JIT code, where a unit may
 * cost the length of the subject (".*.*=.*;" took 0.93 s on 64 KiB with
 * 100000): JIT code gets a small limit, and a match that hits it is run
 * again by the interpreter, whose units cost about the same each (15 ns or
 * so; 1 to 3 a byte for linear patterns such as "^.*(sqlmap|nikto)", so
 * those pass up to about 20 KiB).  The interpreter also has depth and heap
 * limits.  On this project's 2-core test machine the worst patterns tried
 * (".*.*=.*;", nested quantifiers, 64 KiB) stop within 1.0 to 1.4 ms in
 * all.  JIT code runs on a stack of its own per thread, large enough that
 * "^/(?:(a)|(b))*c$" matches a 64 KiB path (memory reserved, and touched
 * only as deep as a match goes).  A match that hits a bound is an error
 * (rules_set_errors()).
 */
#define RULES_MATCH_LIMIT_JIT	1000
#define RULES_MATCH_LIMIT	60000
#define RULES_DEPTH_LIMIT	10000
#define RULES_HEAP_LIMIT_KB	8192
#define RULES_JIT_STACK		(16 * 1024 * 1024)

/* What a match error makes of a condition (rules_set_errors()). */
#define RULES_ERRORS_CLOSED	0	/* ban and log rules match, allow ones not */
#define RULES_ERRORS_OPEN	1	/* no rule matches */

/* rules_new() returns an empty list, or NULL when out of memory. */
struct rule_list *rules_new(void);

/* rules_free() frees the list and its compiled patterns; NULL is a no-op. */
void rules_free(struct rule_list *rl);

/*
 * rules_add() parses one "rule" line (argv[0] is "rule") and appends it.
 * Returns 0, or -1 after writing a message (without file:line) into err.
 */
int rules_add(struct rule_list *rl, int argc, char **argv, char *err, size_t errlen);

/*
 * rules_add_at() is rules_add() for a rule read from line of a configuration
 * file (rule_line() returns it; rules_add() records 0).
 */
int rules_add_at(struct rule_list *rl, int line, int argc, char **argv,
    char *err, size_t errlen);

/* rules_find() returns the rule called name, or NULL. */
const struct rule *rules_find(const struct rule_list *rl, const char *name);

/* rules_count() is the number of rules. */
size_t rules_count(const struct rule_list *rl);

/* rules_set_errors() sets what a match error means: RULES_ERRORS_*. */
void rules_set_errors(struct rule_list *rl, int mode);

/*
 * rules_match() returns the first rule whose conditions all hold, or NULL.
 * Any thread, the list being read only: each thread matches with match
 * data and a JIT stack of its own, made at its first match.  When a
 * pattern match failed (a limit above, out of memory), *errored (when not
 * NULL) is set to the first rule it happened in, else to NULL.
 */
const struct rule *rules_match(const struct rule_list *rl,
    const struct rule_input *in, const struct rule **errored);

/*
 * rules_error_once() is 1 the first time it is called for r, then 0: a
 * rule's match errors are logged once.  Any thread.
 */
int rules_error_once(const struct rule *r);

/* rules_thread_free() frees the calling thread's match data, if any. */
void rules_thread_free(void);

/*
 * A client-only allow rule ("rule NAME client CIDR allow": that one
 * condition) exempts the addresses it covers from address bans: they are
 * never closed at accept nor dropped by the kernel for a ban, whatever
 * prefix the ban has.  Their requests still go through the rules.
 *
 * rules_foreach_allowed_client() calls fn(arg, family, addr, plen) for the
 * CIDR of each such rule (family AF_INET: 4 bytes of addr, AF_INET6: 16;
 * host bits zero).  rules_client_allowed() is 1 when one covers sa.
 */
typedef void rule_cidr_fn(void *arg, int family, const uint8_t *addr,
    unsigned plen);
void rules_foreach_allowed_client(const struct rule_list *rl, rule_cidr_fn *fn,
    void *arg);
int rules_client_allowed(const struct rule_list *rl, const struct sockaddr *sa);

const char *rule_name(const struct rule *r);
enum rule_action rule_action(const struct rule *r);
uint32_t rule_ttl(const struct rule *r);	/* ms; 0 without ttl */
int rule_line(const struct rule *r);		/* config line, for logs */

#endif
