/*
 * bantable.h - client addresses banned for a time (ttl), looked up at every
 * accept().  Bounded (max entries; when full, the entry closest to expiry is
 * evicted), O(1) average per lookup, expired entries dropped lazily and by
 * ban_expire().  Addresses may be aggregated by prefix: with prefix_v4 24 a
 * ban of 192.0.2.7 bans 192.0.2.0/24.  IPv4-mapped IPv6 addresses count as
 * IPv4.
 */
#ifndef H2GUARD_BANTABLE_H
#define H2GUARD_BANTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ban_table;

/*
 * ban_new() makes a table of at most max entries, aggregating IPv4
 * addresses to prefix_v4 bits (1..32) and IPv6 ones to prefix_v6 bits
 * (1..128).  Returns NULL when out of memory.
 */
struct ban_table *ban_new(size_t max, unsigned prefix_v4, unsigned prefix_v6);

/* ban_free() frees the table; NULL is a no-op. */
void ban_free(struct ban_table *bt);

/*
 * ban_add() bans sa's prefix until now_ms + ttl_ms (an existing ban is
 * extended, never shortened).  Returns 0, or -ENOMEM / -EAFNOSUPPORT.
 */
int ban_add(struct ban_table *bt, const struct sockaddr *sa, uint64_t now_ms, uint64_t ttl_ms);

/*
 * ban_check() is the ms left on sa's ban at now_ms (at least 1), or 0 when
 * it is not banned.
 */
uint64_t ban_check(struct ban_table *bt, const struct sockaddr *sa, uint64_t now_ms);

/* ban_remove() lifts sa's ban.  Returns 1 when there was one, else 0. */
int ban_remove(struct ban_table *bt, const struct sockaddr *sa);

/* ban_expire() drops every entry expired at now_ms; returns how many. */
size_t ban_expire(struct ban_table *bt, uint64_t now_ms);

/* ban_count() is the number of entries (expired ones may still count). */
size_t ban_count(const struct ban_table *bt);

/*
 * ban_same_prefix() tells whether a and b fall in the same banned unit
 * (same prefix as the table aggregates them).
 */
int ban_same_prefix(const struct ban_table *bt, const struct sockaddr *a, const struct sockaddr *b);

#endif
