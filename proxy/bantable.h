/*
 * bantable.h - client addresses banned for a time (ttl), looked up at every
 * accept().  Bounded (max entries; when full, the entry closest to expiry is
 * evicted), O(1) average per lookup, expired entries dropped lazily and by
 * ban_expire().  Addresses may be aggregated by prefix: with prefix_v4 24 a
 * ban of 192.0.2.7 bans 192.0.2.0/24.  IPv4-mapped IPv6 addresses count as
 * IPv4.
 *
 * Besides these bans of the table's unit (prefix_v4, prefix_v6), a ban may
 * cover any shorter prefix (ban_add_prefix(): 10.0.0.0/8).  ban_check()
 * probes once per prefix length in use for the address's family, so a table
 * holding only unit bans costs one probe, as a plain hash lookup.
 *
 * The bans in force can be listed (ban_foreach()) and saved to a file and
 * loaded back after a restart (ban_save(), ban_load()).
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
 * What ban_set_hooks() reports, as the table changes: set() when an entry
 * is added (added 1) or its expiry extended (added 0) (addr: len 4 or 16
 * bytes, masked to plen; expiry_ms on the table's clock), unset() when one
 * leaves the table (removed, expired, evicted).  They run inside the table's functions and
 * must not call them.  Used to mirror the table elsewhere (kdrop.h).
 */
struct ban_hooks {
	void	(*set)(void *arg, const uint8_t *addr, unsigned len,
		    unsigned plen, uint64_t expiry_ms, int added);
	void	(*unset)(void *arg, const uint8_t *addr, unsigned len,
		    unsigned plen);
};

/* ban_set_hooks() reports every change to h (NULL: none) with arg. */
void ban_set_hooks(struct ban_table *bt, const struct ban_hooks *h, void *arg);

/*
 * ban_set_aggregate() turns aggregation on (n > 0) before the first ban:
 * when n unit bans fall in one wider prefix (IPv4 /24 over /25../32 units;
 * IPv6 /64 over /65../128 units, /48 over /49../64), that prefix is banned
 * for the longest of their times, and from then on a unit ban (ban_add())
 * that a wider one lasting as long covers adds no entry.
 * ban_aggregate_plen() is that prefix for family (0: none).
 */
void ban_set_aggregate(struct ban_table *bt, unsigned n);
unsigned ban_aggregate_plen(const struct ban_table *bt, int family);

/*
 * ban_add() bans sa's prefix (the table's unit) until now_ms + ttl_ms (an
 * existing ban is extended, never shortened): ban_add_prefix() with
 * prefix_v4 or prefix_v6.  Returns 0, 1 (aggregated, see below), or
 * -ENOMEM / -EAFNOSUPPORT.
 */
int ban_add(struct ban_table *bt, const struct sockaddr *sa, uint64_t now_ms, uint64_t ttl_ms);

/*
 * ban_add_prefix() bans sa's first plen bits until now_ms + ttl_ms.  An
 * IPv4-mapped IPv6 address counts as IPv4 and plen then refers to the IPv4
 * address (0..32); IPv6 takes 0..128.  A plen longer than the table's
 * prefix for that family is shortened to it (a ban never covers less than
 * the table's unit).  An existing ban of that same prefix is extended,
 * never shortened; bans of other lengths are separate entries.  When the
 * table is full, expired entries go first, then the one closest to expiry.
 * Returns 0,
 * 1 when the ban made its aggregate prefix banned (ban_set_aggregate()),
 * -EINVAL (plen too long for the family), -ENOMEM or -EAFNOSUPPORT.
 */
int ban_add_prefix(struct ban_table *bt, const struct sockaddr *sa, unsigned plen, uint64_t now_ms, uint64_t ttl_ms);

/*
 * ban_check() is the ms left at now_ms on the longest lasting ban covering
 * sa, whatever its prefix length (at least 1), or 0 when sa is not banned.
 * Expired entries it meets are dropped.
 */
uint64_t ban_check(struct ban_table *bt, const struct sockaddr *sa, uint64_t now_ms);

/*
 * ban_remove() lifts sa's ban of the table's unit (bans of shorter
 * prefixes covering sa stay).  Returns 1 when there was one, else 0.
 */
int ban_remove(struct ban_table *bt, const struct sockaddr *sa);

/*
 * ban_remove_prefix() lifts exactly the ban of sa's first plen bits (plen
 * shortened to the table's unit as in ban_add_prefix()).  Returns 1 when
 * there was one, else 0 (also for a plen too long or an unsupported
 * family).
 */
int ban_remove_prefix(struct ban_table *bt, const struct sockaddr *sa, unsigned plen);

/*
 * ban_covers() is 1 when the ban of ban_sa's first plen bits covers sa,
 * else 0: both of the same family once IPv4-mapped IPv6 addresses are
 * unmapped, and the same first plen bits.  0 as well for a plen too long
 * for the family (33 or more for IPv4) or an unsupported family.
 */
int ban_covers(const struct sockaddr *ban_sa, unsigned plen, const struct sockaddr *sa);

/* ban_expire() drops every entry expired at now_ms; returns how many. */
size_t ban_expire(struct ban_table *bt, uint64_t now_ms);

/*
 * ban_expire_some() drops at most max of them (the soonest expired first),
 * so that a caller holding a lock can let others in between batches.
 */
size_t ban_expire_some(struct ban_table *bt, uint64_t now_ms, size_t max);

/* ban_count() is the number of entries (expired ones may still count). */
size_t ban_count(const struct ban_table *bt);

/*
 * ban_lengths() is the number of prefix lengths the entries of family
 * (AF_INET, IPv4-mapped included, or AF_INET6) use: the index probes
 * ban_check() makes for an address of that family (expired entries not
 * yet dropped may count).  0 for another family.
 */
unsigned ban_lengths(const struct ban_table *bt, int family);

/*
 * ban_same_prefix() tells whether a and b fall in the same banned unit
 * (same prefix as the table aggregates them).
 */
int ban_same_prefix(const struct ban_table *bt, const struct sockaddr *a, const struct sockaddr *b);

/*
 * One ban, as ban_foreach() lists it: its prefix as a sockaddr (AF_INET or
 * AF_INET6, port 0, host bits 0), the prefix length and the ms left (at
 * least 1).  The same shape as admin_ban_fn in proxy/admin.h.
 */
typedef void ban_fn(void *arg, const struct sockaddr *sa, unsigned plen, uint64_t left_ms);

/*
 * ban_foreach() calls fn(arg, ...) for every ban not expired at now_ms, in
 * no particular order.  fn must not change the table.
 */
void ban_foreach(const struct ban_table *bt, uint64_t now_ms, ban_fn *fn, void *arg);

/*
 * ban_save() writes every ban in force at now_ms to path, atomically: to
 * "path.tmp" (mode 0600), fsync, rename over path, then a best-effort fsync
 * of the directory.  The file is a first line "# h2guard bans v1", then one
 * line per ban "ADDR/PLEN EXPIRY", ADDR as inet_ntop() writes it and EXPIRY
 * the wall-clock expiry in ms since the epoch (wall_ms is the wall clock
 * matching now_ms; a ban that never ends has 18446744073709551615).  Returns
 * the number of bans written, or a negative errno (path.tmp removed, path
 * untouched).
 */
long ban_save(const struct ban_table *bt, const char *path, uint64_t now_ms, uint64_t wall_ms);

/*
 * ban_load() adds, with ban_add_prefix(), the bans of a file written by
 * ban_save() that have not expired at wall_ms, each for its time left
 * relative to now_ms (wall_ms is the wall clock matching now_ms).  Blank
 * lines and lines starting with '#' after the first are skipped.  Lines
 * are bounded (longer than 127 bytes: malformed); the file is not, but the
 * table stays bounded: once it is full, a ban is added only in place of
 * one with less time left, so a file larger than the table leaves the
 * bans with the most time left (at a cost linear in the file).
 *
 * A missing (or empty) file loads nothing and returns 0.  Returns the
 * number of bans loaded (lines that added or extended a ban; with a full
 * table some may have been evicted since), or -EINVAL with *err_line (when
 * err_line is not NULL; else 0 is stored there) set to the first malformed
 * line: the good lines before and after it are still loaded, but a file
 * whose first line is not the header above loads nothing (line 1).  Other
 * errors (-ENOMEM, -EIO, an open() errno) stop loading and are returned as
 * such; the bans loaded until then stay.
 */
long ban_load(struct ban_table *bt, const char *path, uint64_t now_ms, uint64_t wall_ms, int *err_line);

#endif
