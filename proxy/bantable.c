/*
 * bantable.c - banned client addresses, bounded, with expiry.
 *
 * The entries live in one array ordered as a binary min-heap on their expiry
 * time, so the entry that expires soonest is always ent[0]: ban_expire() and
 * eviction when full pop from the top, O(log n) each.  An open-addressing
 * index (linear probing, load <= 1/2, backward-shift deletion, no
 * tombstones) maps a key to its heap position; every entry records its index
 * bucket, so heap moves and index shifts keep the two in step in O(1).
 *
 * Keys are masked and hashed by addrkey.c (SipHash-1-3, random key).
 *
 * Memory: 32 bytes per entry slot plus 4 bytes per index bucket (2 to 4
 * buckets per slot): 40 to 48 bytes per entry.  Both arrays double together,
 * from 32 slots and 64 buckets, up to max slots.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/addrkey.h"
#include "proxy/bantable.h"

#define BAN_INIT_SLOTS	32		/* first allocation, buckets twice that */
#define BAN_MAX_SLOTS	(UINT32_MAX / 4) /* index values are uint32_t */

struct ban_ent {
	uint8_t		 addr[16];	/* as in struct addr_key */
	uint64_t	 expiry;	/* ms; banned while now < expiry */
	uint32_t	 bucket;	/* our slot in bt->idx */
	uint8_t		 len;		/* 4 or 16 */
};

struct ban_table {
	struct ban_ent	*ent;		/* owned; min-heap on expiry, n used */
	uint32_t	*idx;		/* owned; heap position + 1, 0: empty */
	size_t		 n;		/* entries in use */
	size_t		 cap;		/* slots allocated in ent */
	size_t		 max;		/* cap never exceeds this */
	size_t		 mask;		/* buckets in idx - 1 (a power of 2) */
	uint64_t	 k[2];		/* SipHash key, random */
	unsigned	 prefix_v4, prefix_v6;
};

/* Fills k with sa's masked address; 0 or -EAFNOSUPPORT. */
static int
ban_key(const struct ban_table *bt, const struct sockaddr *sa,
    struct addr_key *k)
{
	return addr_key_make(sa, bt->prefix_v4, bt->prefix_v6, k);
}

static uint64_t
ban_hash(const struct ban_table *bt, const uint8_t *addr, uint8_t len)
{
	return addr_key_hash(bt->k, addr, len);
}

/* The bucket holding k, or the empty bucket where it would go. */
static size_t
ban_probe(const struct ban_table *bt, const struct addr_key *k)
{
	size_t			 b = ban_hash(bt, k->addr, k->len) & bt->mask;
	const struct ban_ent	*e;

	for (; bt->idx[b] != 0; b = (b + 1) & bt->mask) {
		e = &bt->ent[bt->idx[b] - 1];
		if (e->len == k->len && memcmp(e->addr, k->addr, 16) == 0)
			break;
	}
	return b;
}

/* sa's heap position, or -1 when it has no entry (or no supported family). */
static ssize_t
ban_find(const struct ban_table *bt, const struct sockaddr *sa)
{
	struct addr_key	 k;
	size_t		 b;

	if (ban_key(bt, sa, &k) != 0)
		return -1;
	b = ban_probe(bt, &k);
	return (ssize_t)bt->idx[b] - 1;
}

/* Puts e at heap position pos and points its bucket there. */
static void
ban_place(struct ban_table *bt, size_t pos, const struct ban_ent *e)
{
	bt->ent[pos] = *e;
	bt->idx[e->bucket] = (uint32_t)pos + 1;
}

static void
ban_sift(struct ban_table *bt, size_t pos)
{
	struct ban_ent	 e = bt->ent[pos];
	size_t		 c;

	while (pos > 0 && bt->ent[(pos - 1) / 2].expiry > e.expiry) {
		ban_place(bt, pos, &bt->ent[(pos - 1) / 2]);
		pos = (pos - 1) / 2;
	}
	while ((c = 2 * pos + 1) < bt->n) {
		if (c + 1 < bt->n && bt->ent[c + 1].expiry < bt->ent[c].expiry)
			c++;
		if (bt->ent[c].expiry >= e.expiry)
			break;
		ban_place(bt, pos, &bt->ent[c]);
		pos = c;
	}
	ban_place(bt, pos, &e);
}

/* Removes the entry at heap position pos from the index and the heap. */
static void
ban_delete(struct ban_table *bt, size_t pos)
{
	size_t		 hole = bt->ent[pos].bucket, j = hole, home;
	struct ban_ent	*e;

	/* Backward shift: pull up every later entry of the run that may move. */
	for (;;) {
		j = (j + 1) & bt->mask;
		if (bt->idx[j] == 0)
			break;
		e = &bt->ent[bt->idx[j] - 1];
		home = ban_hash(bt, e->addr, e->len) & bt->mask;
		if (((j - home) & bt->mask) >= ((j - hole) & bt->mask)) {
			bt->idx[hole] = bt->idx[j];
			e->bucket = (uint32_t)hole;
			hole = j;
		}
	}
	bt->idx[hole] = 0;
	if (pos != --bt->n) {
		ban_place(bt, pos, &bt->ent[bt->n]);
		ban_sift(bt, pos);
	}
}

/*
 * Doubles the slots (the first time: BAN_INIT_SLOTS), never past max, and
 * rebuilds the index at load <= 1/2; 0 or -ENOMEM, the table unchanged.
 */
static int
ban_grow(struct ban_table *bt)
{
	size_t		 cap = bt->cap ? bt->cap * 2 : BAN_INIT_SLOTS;
	size_t		 nb = 8, i, b;
	struct ban_ent	*ent;
	uint32_t	*idx;

	if (cap > bt->max)
		cap = bt->max;
	while (nb < 2 * cap)
		nb *= 2;
	/* The index first: more slots with the old index could fill it. */
	if ((idx = calloc(nb, sizeof(*idx))) == NULL)
		return -ENOMEM;
	if ((ent = reallocarray(bt->ent, cap, sizeof(*ent))) == NULL) {
		free(idx);
		return -ENOMEM;
	}
	bt->ent = ent;
	bt->cap = cap;
	free(bt->idx);
	bt->idx = idx;
	bt->mask = nb - 1;
	for (i = 0; i < bt->n; i++) {
		b = ban_hash(bt, ent[i].addr, ent[i].len) & bt->mask;
		while (idx[b] != 0)
			b = (b + 1) & bt->mask;
		idx[b] = (uint32_t)i + 1;
		ent[i].bucket = (uint32_t)b;
	}
	return 0;
}

struct ban_table *
ban_new(size_t max, unsigned prefix_v4, unsigned prefix_v6)
{
	struct ban_table	*bt;

	if ((bt = calloc(1, sizeof(*bt))) == NULL)
		return NULL;
	bt->max = max == 0 ? 1 : max > BAN_MAX_SLOTS ? BAN_MAX_SLOTS : max;
	/* Out-of-range prefixes mean whole addresses, never "everyone". */
	bt->prefix_v4 = prefix_v4 >= 1 && prefix_v4 <= 32 ? prefix_v4 : 32;
	bt->prefix_v6 = prefix_v6 >= 1 && prefix_v6 <= 128 ? prefix_v6 : 128;
	addr_key_seed(bt->k);
	if (ban_grow(bt) != 0) {
		ban_free(bt);
		return NULL;
	}
	return bt;
}

void
ban_free(struct ban_table *bt)
{
	if (bt == NULL)
		return;
	free(bt->idx);
	free(bt->ent);
	free(bt);
}

int
ban_add(struct ban_table *bt, const struct sockaddr *sa, uint64_t now_ms,
    uint64_t ttl_ms)
{
	struct addr_key	 k;
	struct ban_ent	 e;
	uint64_t	 expiry;
	size_t		 b, pos;
	int		 rv;

	if ((rv = ban_key(bt, sa, &k)) != 0)
		return rv;
	expiry = ttl_ms > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + ttl_ms;
	b = ban_probe(bt, &k);
	if (bt->idx[b] != 0) {
		pos = bt->idx[b] - 1;
		if (bt->ent[pos].expiry < expiry) {
			bt->ent[pos].expiry = expiry;
			ban_sift(bt, pos);
		}
		return 0;
	}
	if (bt->n == bt->cap) {
		if (bt->cap < bt->max) {
			if ((rv = ban_grow(bt)) != 0)
				return rv;
		} else if (ban_expire(bt, now_ms) == 0)
			ban_delete(bt, 0);	/* the soonest to expire */
		b = ban_probe(bt, &k);	/* the index has changed */
	}
	memcpy(e.addr, k.addr, sizeof(e.addr));
	e.len = k.len;
	e.expiry = expiry;
	e.bucket = (uint32_t)b;
	pos = bt->n++;
	ban_place(bt, pos, &e);
	ban_sift(bt, pos);
	return 0;
}

uint64_t
ban_check(struct ban_table *bt, const struct sockaddr *sa, uint64_t now_ms)
{
	ssize_t	 pos = ban_find(bt, sa);

	if (pos < 0)
		return 0;
	if (bt->ent[pos].expiry <= now_ms) {
		ban_delete(bt, (size_t)pos);
		return 0;
	}
	return bt->ent[pos].expiry - now_ms;
}

int
ban_remove(struct ban_table *bt, const struct sockaddr *sa)
{
	ssize_t	 pos = ban_find(bt, sa);

	if (pos < 0)
		return 0;
	ban_delete(bt, (size_t)pos);
	return 1;
}

size_t
ban_expire(struct ban_table *bt, uint64_t now_ms)
{
	size_t	 dropped = 0;

	while (bt->n > 0 && bt->ent[0].expiry <= now_ms) {
		ban_delete(bt, 0);
		dropped++;
	}
	return dropped;
}

size_t
ban_count(const struct ban_table *bt)
{
	return bt->n;
}

int
ban_same_prefix(const struct ban_table *bt, const struct sockaddr *a,
    const struct sockaddr *b)
{
	struct addr_key	 ka, kb;

	if (ban_key(bt, a, &ka) != 0 || ban_key(bt, b, &kb) != 0)
		return 0;
	return addr_key_eq(&ka, &kb);
}
