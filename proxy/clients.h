/*
 * clients.h - per client address state for the per-client flood limits:
 * new connections and streams per window, across all the address's
 * connections.  Addresses aggregate like bans (ban_prefix_v4/v6).
 *
 * Bounded: a set-associative table (CLIENTS_WAYS entries per set); an
 * address not in the table takes a free entry of its set or the one seen
 * least recently, one with no connection open first.  Lookups hash with
 * addrkey.c's keyed SipHash, so clients cannot aim at one set to evict
 * others.  Evicting an address loses its counts, which only makes its
 * limits start afresh.
 */
#ifndef H2GUARD_CLIENTS_H
#define H2GUARD_CLIENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/limit.h"

struct client_table;

struct client {
	struct rate	 conns;		/* new connections */
	struct rate	 streams;	/* new streams / requests */
	uint64_t	 quiet_until;	/* ms: no log line about it before */
	uint32_t	 open;		/* connections open (counted ones) */
};

/*
 * clients_new() makes a table of about max entries (at least one set).
 * Returns NULL when out of memory.
 */
struct client_table *clients_new(size_t max, unsigned prefix_v4,
    unsigned prefix_v6);

/* clients_free() frees the table; NULL is a no-op. */
void clients_free(struct client_table *ct);

/*
 * clients_get() is sa's entry, created (or taken over) if needed, or NULL
 * for an address family the table does not keep.  Valid until the next
 * clients_get().
 */
struct client *clients_get(struct client_table *ct, const struct sockaddr *sa,
    uint64_t now_ms);

/* clients_find() is sa's entry if the table has one, else NULL. */
struct client *clients_find(struct client_table *ct,
    const struct sockaddr *sa);

/* clients_count() is the number of entries in use. */
size_t clients_count(const struct client_table *ct);

#endif
