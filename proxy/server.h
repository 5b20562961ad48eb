/*
 * server.h - the runtime: the main thread (signals, admin listener, ban
 * table upkeep, reload and stop) and the workers, one thread each with its
 * own event base, SO_REUSEPORT listening sockets, client connections and
 * upstream pool.
 *
 * Shared by all threads: srv (the configuration in force, the ban table
 * and the client table under srv.lock, the log files).  Owned by one
 * worker: everything reachable from its struct worker; `wk` is the worker
 * of the calling thread.
 *
 * A configuration generation (struct gen) is what one load of the file
 * made: the configuration and its TLS context.  Each worker holds the
 * current one through a struct wgen with its own upstream pool, and every
 * client connection holds the wgen it was accepted under, so that a reload
 * changes new connections only.
 */
#ifndef H2GUARD_SERVER_H
#define H2GUARD_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "proxy/metrics.h"

struct admin;
struct conf;
struct conf_listen;
struct ban_table;
struct kdrop;
struct client_table;
struct conn;
struct ups_pool;

/* One load of the configuration file. */
struct gen {
	struct conf	*conf;		/* owned */
	SSL_CTX		*ssl_ctx;	/* owned; NULL without tls listeners */
	unsigned	 refs;		/* atomic: srv.gen and the wgens */
	uint64_t	 id;		/* 1 for the first load */
};

/* A worker's hold on a generation. */
struct wgen {
	struct gen	*gen;		/* one reference */
	struct conf	*conf;		/* gen->conf */
	struct ups_pool	*ups;		/* owned: this worker's upstream pool */
	unsigned	 refs;		/* the worker while current, its conns */
};

/* One listening socket of a worker. */
struct listener {
	SLIST_ENTRY(listener)	 link;		/* in worker->listeners */
	struct evconnlistener	*evl;		/* owned, closes fd */
	evutil_socket_t		 fd;
	const struct conf_listen *cl;		/* borrowed from the worker's wgen */
	int			 filtered;	/* kernel_drop's filter is on fd */
};

/* Work the main thread hands a worker (worker->pending bits). */
#define WK_RELOAD	0x01	/* take srv.gen and the listening sockets */
#define WK_BANS		0x02	/* tear down connections of banned addresses */
#define WK_STOP		0x04	/* stop accepting, finish in-flight requests */
#define WK_KILL		0x08	/* close everything now and exit */

struct worker {
	unsigned		 idx;
	pthread_t		 thread;
	struct event_base	*base;		/* owned */
	struct wgen		*wg;		/* current generation */
	SLIST_HEAD(, listener)	 listeners;	/* owned */
	TAILQ_HEAD(, conn)	 conns;		/* owned: live client connections */
	uint64_t		 nconns;
	struct metrics		 m;		/* this worker's counters */
	struct event		*notify;	/* owned: pending work */
	int			 notify_fd;	/* owned: eventfd, written by others */
	unsigned		 pending;	/* atomic: WK_* */
	int			 stopping;	/* WK_STOP seen */
	struct evbuffer		*alog;		/* owned: access log lines to write */
	struct event		*alog_ev;	/* owned: flushes alog */
	struct event		*resume_ev;	/* owned: accepting again */
	uint64_t		 paused_since;	/* ms; 0: accepting (see server.c) */
	unsigned		 accepting_off:1;	/* listeners disabled */
};

/*
 * The listening addresses: one socket per worker, all bound with
 * SO_REUSEPORT.  Owned by the main thread; a worker takes its fds[idx].
 */
struct lsock {
	SLIST_ENTRY(lsock)	 link;		/* in srv.lsocks */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	evutil_socket_t		*fds;		/* owned array [nworkers] */
	int			 keep;		/* reload: still configured */
	int			 filtered;	/* kernel_drop's filter is on fds */
};

struct server {
	struct event_base	*base;		/* owned: the main thread's */
	pthread_mutex_t		 lock;		/* guards gen, lsocks, bans, clients */
	struct gen		*gen;		/* the configuration in force */
	SLIST_HEAD(, lsock)	 lsocks;	/* owned */
	struct worker		*workers;	/* owned [nworkers] */
	unsigned		 nworkers;
	struct ban_table	*bans;		/* owned: banned client addresses */
	struct kdrop		*kdrop;		/* owned: their kernel mirror; NULL: off */
	uint32_t		 ban_table_size;	/* its size, set at start */
	uint32_t		 ban_aggregate;	/* its ban_aggregate, set at start */
	struct client_table	*clients;	/* owned: per client address rates */
	int			 ban_log_fd;	/* owned unless stderr; -1: off */
	int			 access_log_fd;	/* owned unless stderr; -1: off */
	struct admin		*admin;		/* owned; NULL: no admin listener */
	struct event		*sigs[4];	/* owned: INT, TERM, HUP, USR1 */
	struct event		*ban_expire_ev;	/* owned: drops expired bans */
	struct event		*ban_save_ev;	/* owned: saves the ban table */
	struct event		*stop_ev;	/* owned: shutdown_timeout */
	unsigned		 running;	/* workers not yet done */
	int			 done_fd;	/* owned: eventfd, a worker is done */
	struct event		*done_ev;	/* owned: reads it */
	int			 stopping;
	uint64_t		 next_conn_id;	/* atomic */
	uint64_t		 nconns;	/* atomic: client connections open */
	uint32_t		 max_conns;	/* atomic: max_connections in force */
	uint64_t		 reloads, reload_failures;
	double			 start_time;	/* wall clock, seconds */
};

extern struct server srv;
extern __thread struct worker *wk;

/*
 * server_load() reads the configuration file at path and builds its TLS
 * context (NULL without tls listeners).  Returns 0, or -1 with *errors set
 * to a malloc'd list of "FILE:LINE: message" lines.
 */
int server_load(const char *path, struct conf **conf, SSL_CTX **ctx,
    char **errors);

/*
 * server_init() takes ownership of conf and ssl_ctx, binds every listener
 * (and the admin listener), loads the ban state and prepares the workers.
 * Returns 0, or -1 after logging why.
 */
int server_init(struct conf *conf, SSL_CTX *ssl_ctx);

/*
 * server_run() serves until SIGINT or SIGTERM, then stops gracefully.
 * Returns 0.
 */
int server_run(void);

/* server_free() closes every connection and listener and frees srv. */
void server_free(void);

/*
 * server_ban() bans sa's first plen bits for ttl_ms (plen 0: the table's
 * prefix) and has every worker tear down live connections from it.  except
 * (of the calling worker) is left to its caller.  Returns 0 or a negative
 * errno.  Any thread.
 */
int server_ban(const struct sockaddr *sa, unsigned plen, uint64_t ttl_ms,
    const struct conn *except);

/* wgen_unref() drops a reference to wg (of the calling worker). */
void wgen_unref(struct wgen *wg);

/* worker_conn_closed() tells the worker one of its connections is gone. */
void worker_conn_closed(void);

#endif
