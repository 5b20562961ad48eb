/*
 * server.h - the runtime: event base, listeners, TLS context, upstream pool
 * and the live client connections.  There is one, `srv`.
 */
#ifndef H2GUARD_SERVER_H
#define H2GUARD_SERVER_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

struct conf;
struct conf_listen;
struct ban_table;
struct client_table;
struct conn;
struct ups_pool;

struct listener {
	SLIST_ENTRY(listener)	 link;		/* in srv.listeners */
	struct evconnlistener	*evl;		/* owned */
	const struct conf_listen *cl;		/* borrowed from srv.conf */
	int			 tls;
};

struct server {
	struct event_base	*base;		/* owned */
	struct conf		*conf;		/* owned: the configuration in force */
	SSL_CTX			*ssl_ctx;	/* owned; NULL without tls listeners */
	struct ups_pool		*ups;		/* owned */
	SLIST_HEAD(, listener)	 listeners;	/* owned */
	TAILQ_HEAD(, conn)	 conns;		/* owned: live client connections */
	struct event		*sig_int;	/* owned */
	struct event		*sig_term;	/* owned */
	struct ban_table	*bans;		/* owned: banned client addresses */
	struct client_table	*clients;	/* owned: per client address rates */
	int			 ban_log_fd;	/* owned unless stderr; -1: off */
	struct event		*ban_expire_ev;	/* owned: drops expired bans */
	uint64_t		 next_conn_id;
	uint64_t		 nconns;	/* live client connections */
	struct {
		uint64_t accepted;	/* connections accepted */
		uint64_t accept_drops;	/* closed at accept: banned address */
		uint64_t accept_limited; /* closed at accept: client_conn_rate */
		uint64_t bans;		/* connections torn down by a rule ban */
		uint64_t floods;	/* connections torn down by a flood limit */
	} stats;
};

extern struct server srv;

/*
 * server_init() takes ownership of conf and ssl_ctx, binds every listener
 * and prepares the upstream pool.  Returns 0, or -1 after logging why.
 */
int server_init(struct conf *conf, SSL_CTX *ssl_ctx);

/* server_run() serves until SIGINT or SIGTERM.  Returns 0. */
int server_run(void);

/* server_free() closes every connection and listener and frees srv. */
void server_free(void);

#endif
