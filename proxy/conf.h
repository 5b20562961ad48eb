/*
 * conf.h - h2guard configuration: the parsed form of the configuration file.
 *
 * The file is line oriented: "key value..." with '#' comments and double
 * quotes for values holding spaces.  Every key is described once in the key
 * table of conf.c (name, type, default).  All errors of a file are reported
 * in one run as "FILE:LINE: message".
 */
#ifndef H2GUARD_CONF_H
#define H2GUARD_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include "proxy/limit.h"

#define CONF_PATH_MAX 4096

/* How a banned client's connection is closed (conf->ban_close). */
#define CONF_BAN_RESET	0	/* SO_LINGER 0: the peer gets a TCP RST */
#define CONF_BAN_FIN	1	/* an orderly close (FIN) */

/* Whether the kernel drops banned addresses (conf->kernel_drop, kdrop.h). */
#define CONF_KDROP_OFF	0	/* no: closed at accept */
#define CONF_KDROP_ON	1	/* yes, or h2guard does not start */
#define CONF_KDROP_AUTO	2	/* yes when the kernel permits it */

/* What happens to incoming forwarding headers (conf->forwarded_headers). */
#define CONF_FWD_STRIP	0	/* dropped: ours replace them */
#define CONF_FWD_TRUST	1	/* kept: the client address is appended */

struct rule_list;

/* One "listen ADDR:PORT [tls] [proxy_protocol]" line. */
struct conf_listen {
	STAILQ_ENTRY(conf_listen) link;	/* in conf->listens */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 tls;		/* 1: TLS with ALPN h2/http1.1 */
	int			 proxy;		/* 1: a PROXY v1/v2 header first */
	char			 name[64];	/* as written, for logs */
	int			 line;		/* line of the config file */
};

/* One "upstream HOST:PORT" or "upstream unix:PATH" line. */
struct conf_upstream {
	STAILQ_ENTRY(conf_upstream) link;	/* in conf->upstreams */
	struct sockaddr_storage	 addr;		/* AF_INET, AF_INET6 or AF_UNIX */
	socklen_t		 addrlen;
	char			 name[CONF_PATH_MAX + 8];	/* as written */
	int			 line;
};

struct conf {
	char	*path;			/* owned: the file this came from */

	STAILQ_HEAD(, conf_listen)	listens;	/* owned */
	STAILQ_HEAD(, conf_upstream)	upstreams;	/* owned */

	char	*tls_certificate;	/* owned, NULL when unset */
	char	*tls_certificate_key;	/* owned, NULL when unset */
	int	 tls_certificate_line;	/* where it was set (for load errors) */
	int	 tls_certificate_key_line;

	/* HTTP/2 front end */
	uint32_t max_concurrent_streams;	/* SETTINGS_MAX_CONCURRENT_STREAMS */
	uint32_t max_header_list_size;		/* bytes, SETTINGS_MAX_HEADER_LIST_SIZE */
	uint32_t h2_stream_window;		/* bytes, per-stream receive window */
	uint32_t h2_connection_window;		/* bytes, connection receive window */

	/* client timeouts, milliseconds */
	uint32_t handshake_timeout;		/* TLS handshake */
	uint32_t first_request_timeout;		/* accept -> first complete request head */
	uint32_t keepalive_timeout;		/* idle connection, no open request */
	uint32_t body_read_timeout;		/* no request body byte for this long */
	uint32_t header_timeout;		/* a request head started, not complete */
	uint32_t send_timeout;			/* output waiting, client takes nothing */

	/* upstream */
	uint32_t upstream_connect_timeout;	/* ms; failure -> 502 */
	uint32_t upstream_response_timeout;	/* ms; no response byte -> 504 */
	uint32_t upstream_keepalive;		/* idle connections kept per server */
	uint32_t upstream_max_connections;	/* per server; more requests wait */
	uint32_t upstream_max_connections_per_client;	/* ... of those, per
					   client (as bans count them); 0: auto */
	uint32_t upstream_idle_timeout;		/* ms an idle pooled connection is kept */
	uint64_t memory_limit;			/* bytes in buffers at most, 0: none */

	int	 log_level;		/* LOG_ERR .. LOG_DEBUG from <syslog.h> */

	/* ban rules */
	struct rule_list *rules;	/* owned; never NULL, may be empty */
	int	 ban_close;		/* CONF_BAN_RESET or CONF_BAN_FIN */
	int	 dry_run;		/* 1: matching ban rules only log */
	int	 rule_errors;		/* RULES_ERRORS_*: a failed regex match */
	int	 path_escaped_slashes;	/* CANON_SLASH_*: %2F in a path */
	int	 header_underscores;	/* CANON_US_*: '_' in field names */
	uint32_t ban_table_size;	/* banned addresses kept at most */
	uint32_t ban_prefix_v4;		/* a ban covers the client's /N (IPv4) */
	uint32_t ban_prefix_v6;		/* the same for IPv6 */
	uint32_t ban_aggregate;		/* unit bans making a prefix; 0: off */
	int	 kernel_drop;		/* CONF_KDROP_* */
	int	 kernel_drop_line;	/* where it was set, 0: default */
	char	*ban_log;		/* owned; "stderr", "off" or a file path */
	int	 ban_log_line;		/* where it was set, 0: default */

	/* flood limits */
	struct limit limits[LIM_N];	/* "limit NAME VALUE" */
	uint32_t flood_ban_ttl;		/* ms an address crossing one is banned */
	uint32_t client_table_size;	/* client addresses counted at most */

	/* operations */
	uint32_t workers;		/* threads serving clients, 0: auto */
	uint32_t max_connections;	/* client connections open, 0: auto */
	uint32_t shutdown_timeout;	/* ms in-flight requests get at stop */
	char	*access_log;		/* owned; "stderr", "off" or a path */
	int	 access_log_line;
	struct sockaddr_storage admin_addr;	/* admin listener */
	socklen_t admin_addrlen;	/* 0: no admin listener */
	char	 admin_listen[64];	/* as written, "" when off */
	char	*admin_token;		/* owned; "off" or the file's path */
	int	 admin_token_line;
	char	*admin_token_value;	/* owned: the token read; NULL: off */
	char	*ban_state_file;	/* owned; "off" or a path */
	int	 ban_state_file_line;
	uint32_t ban_state_interval;	/* ms between saves of the ban table */
	int	 forwarded_headers;	/* CONF_FWD_STRIP or CONF_FWD_TRUST */

	/* fleet-wide bans (banshare.h) */
	char	*ban_share;		/* owned; "off" or redis://... as written */
	int	 ban_share_line;
	char	*ban_share_prefix;	/* owned; Redis key and channel prefix */
	int	 ban_share_prefix_line;
	struct sockaddr_storage ban_share_addr;	/* parsed from ban_share */
	socklen_t ban_share_addrlen;	/* 0: off */
	char	*ban_share_password;	/* owned; NULL: none */
	uint32_t ban_share_db;		/* SELECT this database */
};

/*
 * conf_load() reads and parses the file at path.  On success returns a new
 * configuration and leaves *errors NULL.  On failure returns NULL and sets
 * *errors to a malloc'd string of one "FILE:LINE: message\n" per problem
 * found (every problem of the file, not only the first); the caller frees it.
 * Certificates are not read here: see tls_ctx_new().
 */
struct conf *conf_load(const char *path, char **errors);

/*
 * conf_parse() parses text (len bytes, need not be NUL-terminated) as if it
 * were the file named name.  Same results as conf_load().
 */
struct conf *conf_parse(const char *name, const char *text, size_t len, char **errors);

/*
 * The resolver conf_load() and conf_parse() use for `upstream HOST:PORT`:
 * getaddrinfo(3).  The fuzz target replaces it, so that it sends no DNS
 * query.
 */
struct addrinfo;
extern int (*conf_getaddrinfo)(const char *host, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);

/*
 * conf_restart_changed() calls fn(arg, key) for every key whose value n
 * changes from o among those a reload cannot change (workers, the ban and
 * client tables' sizes and prefixes, kernel_drop, ban_share...).
 */
void conf_restart_changed(const struct conf *o, const struct conf *n,
    void (*fn)(void *arg, const char *key), void *arg);

/* conf_free() releases a configuration; conf_free(NULL) does nothing. */
void conf_free(struct conf *conf);

/*
 * conf_parse_duration() parses "500ms", "10s", "5m", "1h", "2d" or a bare
 * number of seconds into milliseconds.  Returns 0, or -EINVAL / -ERANGE.
 */
int conf_parse_duration(const char *s, uint64_t *ms);

/*
 * conf_parse_size() parses "512", "16k", "1m", "1g" (powers of 1024) into
 * bytes.  Returns 0, or -EINVAL / -ERANGE.
 */
int conf_parse_size(const char *s, uint64_t *bytes);

/*
 * conf_parse_addr() parses "1.2.3.4:80", "[::1]:80", "*:80" (IPv4 any) or
 * "[::]:80" into addr.  Returns 0, or -EINVAL.
 */
int conf_parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len);

#endif
