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
 * A key is a family, a prefix length and the address masked to it, so
 * 10.0.0.0/8 and 10.0.0.0/16 are distinct entries.  Addresses are masked and
 * hashed by addrkey.c (SipHash-1-3, random key), the family and prefix
 * length hashed as the tag byte (ban_tag()).  The table counts its entries
 * per family and prefix length and keeps a bitmap of the lengths in use:
 * ban_check() probes the index once per length in use for the address's
 * family, longest first, so with only unit bans it costs one probe.
 *
 * Aggregation (ban_set_aggregate()): the unit bans are counted per wider
 * prefix (IPv4 /24; IPv6 /64 over /128 units, /48 over /64 units) in a
 * chained hash of counters; when a prefix holds that many, the prefix
 * itself is banned, and a unit ban that a longer lasting one covers adds
 * no entry.  So one network cannot fill the table with its addresses and push
 * out the other bans: past the threshold its bans cost nothing more.  The
 * unit bans stay until they expire (they cannot be found from the counter).
 *
 * Memory: 32 bytes per entry slot plus 4 bytes per index bucket (2 to 4
 * buckets per slot): 40 to 48 bytes per entry, and about 1 KB per table for
 * the counts per length.  Both arrays double together, from 32 slots and 64
 * buckets, up to max slots.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/addrkey.h"
#include "proxy/bantable.h"

#define BAN_INIT_SLOTS	32		/* first allocation, buckets twice that */
#define BAN_MAX_SLOTS	(UINT32_MAX / 4) /* index values are uint32_t */
#define BAN_HEADER	"# h2guard bans v1"
#define BAN_LINE_SIZE	128		/* ban file lines: 127 bytes before \n */

struct ban_ent {
	uint8_t		 addr[16];	/* as in struct addr_key, masked to plen */
	uint64_t	 expiry;	/* ms; banned while now < expiry */
	uint32_t	 bucket;	/* our slot in bt->idx */
	uint8_t		 len;		/* 4 or 16 */
	uint8_t		 plen;		/* prefix length, 0..len * 8 */
};

_Static_assert(sizeof(struct ban_ent) <= 32, "ban entries grew");

/* How many unit bans one wider prefix holds (aggregation). */
struct ban_agg {
	struct ban_agg	*next;		/* in its bucket */
	uint8_t		 addr[16];	/* masked to the aggregate prefix */
	uint8_t		 len;		/* 4 or 16 */
	uint32_t	 n;		/* unit bans inside, 0: freed */
	uint64_t	 expiry;	/* the longest of theirs */
};

#define BAN_AGG_BUCKETS	4096

struct ban_table {
	struct ban_ent	*ent;		/* owned; min-heap on expiry, n used */
	uint32_t	*idx;		/* owned; heap position + 1, 0: empty */
	size_t		 n;		/* entries in use */
	size_t		 cap;		/* slots allocated in ent */
	size_t		 max;		/* cap never exceeds this */
	size_t		 mask;		/* buckets in idx - 1 (a power of 2) */
	uint64_t	 k[2];		/* SipHash key, random */
	unsigned	 prefix_v4, prefix_v6;
	/* [0]: IPv4, [1]: IPv6; entries per prefix length, and which are > 0 */
	uint32_t	 nplen[2][129];
	uint64_t	 plens[2][3];	/* bit p % 64 of word p / 64: nplen != 0 */
	const struct ban_hooks *hooks;	/* borrowed; NULL: none */
	void		*hooks_arg;
	uint32_t	 agg_min;	/* unit bans that make a prefix; 0: off */
	uint8_t		 agg_plen[2];	/* the aggregate prefix, 0: none */
	struct ban_agg	**agg;		/* owned [BAN_AGG_BUCKETS], or NULL */
};

/* The family index in nplen and plens of an entry or key of length len. */
#define BAN_FAM(len)	((len) == 16)

/* The hash tag of a key: tells apart every family and prefix length. */
static uint8_t
ban_tag(uint8_t len, uint8_t plen)
{
	return (uint8_t)(len == 4 ? plen : 33 + plen);
}

/*
 * Fills k with sa's first plen bits (with unit set: the table's unit, plen
 * ignored; longer than the unit: shortened to it) and *plenp with the
 * length used.  0, -EINVAL (plen too long for the family) or -EAFNOSUPPORT.
 */
static int
ban_key(const struct ban_table *bt, const struct sockaddr *sa, int unit,
    unsigned plen, struct addr_key *k, uint8_t *plenp)
{
	unsigned	 ulen;
	int		 rv;

	if ((rv = addr_key_make(sa, 32, 128, k)) != 0)
		return rv;
	ulen = k->len == 4 ? bt->prefix_v4 : bt->prefix_v6;
	if (unit)
		plen = ulen;
	else if (plen > (unsigned)k->len * 8)
		return -EINVAL;
	else if (plen > ulen)
		plen = ulen;
	*plenp = (uint8_t)plen;
	return addr_key_make(sa, plen, plen, k);
}

static uint64_t
ban_hash(const struct ban_table *bt, const uint8_t *addr, uint8_t len,
    uint8_t plen)
{
	return addr_key_hash(bt->k, addr, ban_tag(len, plen));
}

/* The bucket holding k/plen, or the empty bucket where it would go. */
static size_t
ban_probe(const struct ban_table *bt, const struct addr_key *k, uint8_t plen)
{
	size_t			 b = ban_hash(bt, k->addr, k->len, plen) & bt->mask;
	const struct ban_ent	*e;

	for (; bt->idx[b] != 0; b = (b + 1) & bt->mask) {
		e = &bt->ent[bt->idx[b] - 1];
		if (e->len == k->len && e->plen == plen &&
		    memcmp(e->addr, k->addr, 16) == 0)
			break;
	}
	return b;
}

/*
 * Heap position of the ban of sa/plen (unit: as in ban_key()), or -1 when
 * none (or bad input).
 */
static ssize_t
ban_find(const struct ban_table *bt, const struct sockaddr *sa, int unit,
    unsigned plen)
{
	struct addr_key	 k;
	uint8_t		 pl;

	if (ban_key(bt, sa, unit, plen, &k, &pl) != 0)
		return -1;
	return (ssize_t)bt->idx[ban_probe(bt, &k, pl)] - 1;
}

/* Counts one more (delta 1) or one less (-1) entry of len/plen. */
static void
ban_count_plen(struct ban_table *bt, uint8_t len, uint8_t plen, int delta)
{
	int		 f = BAN_FAM(len);
	uint64_t	 bit = (uint64_t)1 << plen % 64;

	if (delta > 0) {
		if (bt->nplen[f][plen]++ == 0)
			bt->plens[f][plen / 64] |= bit;
	} else if (--bt->nplen[f][plen] == 0)
		bt->plens[f][plen / 64] &= ~bit;
}

/*
 * The counter of the aggregate prefix holding the unit ban addr (len), or
 * NULL (aggregation off, not a unit ban, none yet and create 0, or no
 * memory).
 */
static struct ban_agg *
ban_agg_get(struct ban_table *bt, const uint8_t *addr, uint8_t len,
    uint8_t plen, int create)
{
	uint8_t		 apl = bt->agg_plen[BAN_FAM(len)], a[16];
	struct ban_agg	*g, **head;
	unsigned	 i;

	if (bt->agg_min == 0 || apl == 0 ||
	    plen != (len == 4 ? bt->prefix_v4 : bt->prefix_v6))
		return NULL;
	memset(a, 0, sizeof(a));
	memcpy(a, addr, apl / 8);
	for (i = apl / 8; i * 8 < apl; i++)	/* a partial byte (not so far) */
		a[i] = (uint8_t)(addr[i] & (0xff << (8 - (apl - i * 8))));
	if (bt->agg == NULL) {
		if (!create ||
		    (bt->agg = calloc(BAN_AGG_BUCKETS, sizeof(*bt->agg))) == NULL)
			return NULL;
	}
	head = &bt->agg[addr_key_hash(bt->k, a, (uint8_t)(200 + len)) %
	    BAN_AGG_BUCKETS];
	for (g = *head; g != NULL; g = g->next)
		if (g->len == len && memcmp(g->addr, a, 16) == 0)
			return g;
	if (!create || (g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	memcpy(g->addr, a, 16);
	g->len = len;
	g->next = *head;
	*head = g;
	return g;
}

/* Counts one unit ban less in its aggregate, freeing a counter at 0. */
static void
ban_agg_drop(struct ban_table *bt, const struct ban_ent *e)
{
	struct ban_agg *g = ban_agg_get(bt, e->addr, e->len, e->plen, 0), **pp;

	if (g == NULL || --g->n > 0)
		return;
	for (pp = &bt->agg[addr_key_hash(bt->k, g->addr, (uint8_t)(200 +
	    g->len)) % BAN_AGG_BUCKETS]; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
	free(g);
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

	ban_count_plen(bt, bt->ent[pos].len, bt->ent[pos].plen, -1);
	ban_agg_drop(bt, &bt->ent[pos]);
	if (bt->hooks != NULL)
		bt->hooks->unset(bt->hooks_arg, bt->ent[pos].addr,
		    bt->ent[pos].len, bt->ent[pos].plen);
	/* Backward shift: pull up every later entry of the run that may move. */
	for (;;) {
		j = (j + 1) & bt->mask;
		if (bt->idx[j] == 0)
			break;
		e = &bt->ent[bt->idx[j] - 1];
		home = ban_hash(bt, e->addr, e->len, e->plen) & bt->mask;
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
		b = ban_hash(bt, ent[i].addr, ent[i].len, ent[i].plen) &
		    bt->mask;
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
ban_set_hooks(struct ban_table *bt, const struct ban_hooks *h, void *arg)
{
	bt->hooks = h;
	bt->hooks_arg = arg;
}

void
ban_set_aggregate(struct ban_table *bt, unsigned n)
{
	/* Counted from the start: set before the first ban. */
	if (bt->n > 0)
		return;
	bt->agg_min = n;
	bt->agg_plen[0] = bt->prefix_v4 > 24 ? 24 : 0;
	bt->agg_plen[1] = bt->prefix_v6 > 64 ? 64 : bt->prefix_v6 > 48 ? 48 : 0;
}

unsigned
ban_aggregate_plen(const struct ban_table *bt, int family)
{
	return bt->agg_min == 0 ? 0 : bt->agg_plen[family == AF_INET6];
}

void
ban_free(struct ban_table *bt)
{
	struct ban_agg	*g;
	size_t		 i;

	if (bt == NULL)
		return;
	for (i = 0; bt->agg != NULL && i < BAN_AGG_BUCKETS; i++)
		while ((g = bt->agg[i]) != NULL) {
			bt->agg[i] = g->next;
			free(g);
		}
	free(bt->agg);
	free(bt->idx);
	free(bt->ent);
	free(bt);
}

static int ban_aggregate(struct ban_table *, const struct sockaddr *,
    const struct ban_ent *, uint64_t);
static uint64_t ban_left(struct ban_table *, const struct sockaddr *,
    unsigned, uint64_t);

/* ban_add_prefix(), or ban_add() with unit set (see ban_key()). */
static int
ban_insert(struct ban_table *bt, const struct sockaddr *sa, int unit,
    unsigned plen, uint64_t now_ms, uint64_t ttl_ms)
{
	struct addr_key	 k;
	struct ban_ent	 e;
	uint64_t	 expiry;
	size_t		 b, pos;
	uint8_t		 pl;
	int		 rv, covered;

	if ((rv = ban_key(bt, sa, unit, plen, &k, &pl)) != 0)
		return rv;
	expiry = ttl_ms > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + ttl_ms;
	/*
	 * With aggregation, a unit ban that a wider one lasting as long
	 * covers adds nothing (below): past the threshold, one network's
	 * bans cost no entry more.
	 */
	covered = unit && bt->agg_min != 0 && pl > 0 &&
	    ban_left(bt, sa, pl - 1u, now_ms) >= ttl_ms;
	b = ban_probe(bt, &k, pl);	/* after ban_left(): it drops expired ones */
	if (bt->idx[b] == 0 && covered)
		return 0;
	if (bt->idx[b] != 0) {
		pos = bt->idx[b] - 1;
		if (bt->ent[pos].expiry < expiry) {
			bt->ent[pos].expiry = expiry;
			ban_sift(bt, pos);
			if (bt->hooks != NULL)
				bt->hooks->set(bt->hooks_arg, k.addr, k.len,
				    pl, expiry, 0);
		}
		return 0;
	}
	if (bt->n == bt->cap) {
		if (bt->cap < bt->max) {
			if ((rv = ban_grow(bt)) != 0)
				return rv;
		} else if (ban_expire(bt, now_ms) == 0)
			ban_delete(bt, 0);	/* the soonest to expire */
		b = ban_probe(bt, &k, pl);	/* the index has changed */
	}
	memcpy(e.addr, k.addr, sizeof(e.addr));
	e.len = k.len;
	e.plen = pl;
	e.expiry = expiry;
	e.bucket = (uint32_t)b;
	pos = bt->n++;
	ban_place(bt, pos, &e);
	ban_sift(bt, pos);
	ban_count_plen(bt, e.len, e.plen, 1);
	if (bt->hooks != NULL)
		bt->hooks->set(bt->hooks_arg, k.addr, k.len, pl, expiry, 1);
	return ban_aggregate(bt, sa, &e, now_ms);
}

/*
 * ban_aggregate() counts the new unit ban e (of sa) in its aggregate
 * prefix, and bans the prefix when it holds agg_min of them, for the
 * longest of their times.  Returns 1 when it did, else 0 (or -ENOMEM).
 */
static int
ban_aggregate(struct ban_table *bt, const struct sockaddr *sa,
    const struct ban_ent *e, uint64_t now_ms)
{
	struct ban_agg	*g = ban_agg_get(bt, e->addr, e->len, e->plen, 1);
	int		 rv;

	if (g == NULL)
		return 0;	/* not counted: no aggregation, nothing worse */
	g->n++;
	if (e->expiry > g->expiry)
		g->expiry = e->expiry;
	if (g->n < bt->agg_min || g->expiry <= now_ms)
		return 0;
	rv = ban_insert(bt, sa, 0, bt->agg_plen[BAN_FAM(e->len)], now_ms,
	    g->expiry - now_ms);
	return rv < 0 ? rv : 1;
}

int
ban_add_prefix(struct ban_table *bt, const struct sockaddr *sa, unsigned plen,
    uint64_t now_ms, uint64_t ttl_ms)
{
	return ban_insert(bt, sa, 0, plen, now_ms, ttl_ms);
}

int
ban_add(struct ban_table *bt, const struct sockaddr *sa, uint64_t now_ms,
    uint64_t ttl_ms)
{
	return ban_insert(bt, sa, 1, 0, now_ms, ttl_ms);
}

/*
 * ban_left() is ban_check() for the bans of sa's first maxplen bits or
 * fewer.
 */
static uint64_t
ban_left(struct ban_table *bt, const struct sockaddr *sa, unsigned maxplen,
    uint64_t now_ms)
{
	struct addr_key	 k;
	uint64_t	 bits, left = 0;
	ssize_t		 pos;
	unsigned	 plen, bit;
	int		 f, w;

	if (addr_key_make(sa, 32, 128, &k) != 0)
		return 0;
	f = BAN_FAM(k.len);
	/* A copy of each word: dropping an expired entry may clear its bit. */
	for (w = 2; w >= 0; w--) {
		bits = bt->plens[f][w];
		while (bits != 0) {
			bit = 63 - (unsigned)__builtin_clzll(bits);
			bits &= ~((uint64_t)1 << bit);
			plen = (unsigned)w * 64 + bit;
			if (plen > maxplen)
				continue;
			addr_key_make(sa, plen, plen, &k);
			pos = (ssize_t)bt->idx[ban_probe(bt, &k,
			    (uint8_t)plen)] - 1;
			if (pos < 0)
				continue;
			if (bt->ent[pos].expiry <= now_ms)
				ban_delete(bt, (size_t)pos);
			else if (bt->ent[pos].expiry - now_ms > left)
				left = bt->ent[pos].expiry - now_ms;
		}
	}
	return left;
}

uint64_t
ban_check(struct ban_table *bt, const struct sockaddr *sa, uint64_t now_ms)
{
	return ban_left(bt, sa, 128, now_ms);
}

int
ban_remove_prefix(struct ban_table *bt, const struct sockaddr *sa,
    unsigned plen)
{
	ssize_t	 pos = ban_find(bt, sa, 0, plen);

	if (pos < 0)
		return 0;
	ban_delete(bt, (size_t)pos);
	return 1;
}

int
ban_remove(struct ban_table *bt, const struct sockaddr *sa)
{
	ssize_t	 pos = ban_find(bt, sa, 1, 0);

	if (pos < 0)
		return 0;
	ban_delete(bt, (size_t)pos);
	return 1;
}

int
ban_covers(const struct sockaddr *ban_sa, unsigned plen,
    const struct sockaddr *sa)
{
	struct addr_key	 a, b;

	if (addr_key_make(ban_sa, 32, 128, &a) != 0 ||
	    addr_key_make(sa, 32, 128, &b) != 0 || a.len != b.len ||
	    plen > (unsigned)a.len * 8)
		return 0;
	addr_key_make(ban_sa, plen, plen, &a);
	addr_key_make(sa, plen, plen, &b);
	return addr_key_eq(&a, &b);
}

size_t
ban_expire(struct ban_table *bt, uint64_t now_ms)
{
	return ban_expire_some(bt, now_ms, SIZE_MAX);
}

size_t
ban_expire_some(struct ban_table *bt, uint64_t now_ms, size_t max)
{
	size_t	 dropped = 0;

	while (dropped < max && bt->n > 0 && bt->ent[0].expiry <= now_ms) {
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

unsigned
ban_lengths(const struct ban_table *bt, int family)
{
	const uint64_t	*w;

	if (family != AF_INET && family != AF_INET6)
		return 0;
	w = bt->plens[family == AF_INET6];
	return (unsigned)(__builtin_popcountll(w[0]) +
	    __builtin_popcountll(w[1]) + __builtin_popcountll(w[2]));
}

int
ban_same_prefix(const struct ban_table *bt, const struct sockaddr *a,
    const struct sockaddr *b)
{
	struct addr_key	 ka, kb;

	if (addr_key_make(a, bt->prefix_v4, bt->prefix_v6, &ka) != 0 ||
	    addr_key_make(b, bt->prefix_v4, bt->prefix_v6, &kb) != 0)
		return 0;
	return addr_key_eq(&ka, &kb);
}

/* Fills ss with e's prefix, port 0; returns it as a sockaddr. */
static const struct sockaddr *
ban_ent_addr(const struct ban_ent *e, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (e->len == 4) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, e->addr, 4);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, e->addr, 16);
	}
	return (const struct sockaddr *)ss;
}

void
ban_foreach(const struct ban_table *bt, uint64_t now_ms, ban_fn *fn,
    void *arg)
{
	struct sockaddr_storage	 ss;
	const struct ban_ent	*e;
	size_t			 i;

	for (i = 0; i < bt->n; i++) {
		e = &bt->ent[i];
		if (e->expiry > now_ms)
			fn(arg, ban_ent_addr(e, &ss), e->plen,
			    e->expiry - now_ms);
	}
}

/* -errno, or -EIO when a failing call left errno 0. */
static int
ban_errno(void)
{
	return errno != 0 ? -errno : -EIO;
}

/* Best effort: makes a rename in path's directory durable. */
static void
ban_sync_dir(const char *path)
{
	char		 dir[PATH_MAX];
	const char	*slash = strrchr(path, '/');
	size_t		 len;
	int		 fd;

	if (slash == NULL) {
		path = ".";
		len = 1;
	} else if (slash == path)
		len = 1;	/* "/" */
	else if ((len = (size_t)(slash - path)) >= sizeof(dir))
		return;
	memcpy(dir, path, len);
	dir[len] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

long
ban_save(const struct ban_table *bt, const char *path, uint64_t now_ms,
    uint64_t wall_ms)
{
	char			 tmp[PATH_MAX], text[INET6_ADDRSTRLEN];
	const struct ban_ent	*e;
	uint64_t		 left, wall;
	FILE			*f;
	size_t			 i;
	long			 n = 0;
	int			 fd, rv = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return ban_errno();
	if ((f = fdopen(fd, "w")) == NULL) {
		rv = ban_errno();
		close(fd);
		goto out_unlink;
	}
	if (fputs(BAN_HEADER "\n", f) == EOF)
		rv = ban_errno();
	for (i = 0; rv == 0 && i < bt->n; i++) {
		e = &bt->ent[i];
		if (e->expiry <= now_ms)
			continue;
		left = e->expiry - now_ms;
		/* UINT64_MAX means "never": keep finite bans below it. */
		if (e->expiry == UINT64_MAX)
			wall = UINT64_MAX;
		else if (left >= UINT64_MAX - wall_ms)
			wall = UINT64_MAX - 1;
		else
			wall = wall_ms + left;
		if (inet_ntop(e->len == 4 ? AF_INET : AF_INET6, e->addr, text,
		    sizeof(text)) == NULL ||
		    fprintf(f, "%s/%u %" PRIu64 "\n", text, e->plen, wall) < 0)
			rv = ban_errno();
		else
			n++;
	}
	if (rv == 0 && fflush(f) == EOF)
		rv = ban_errno();
	if (rv == 0 && fsync(fd) != 0)
		rv = ban_errno();
	if (fclose(f) != 0 && rv == 0)
		rv = ban_errno();
	if (rv != 0)
		goto out_unlink;
	if (rename(tmp, path) != 0) {
		rv = ban_errno();
		goto out_unlink;
	}
	ban_sync_dir(path);
	return n;

out_unlink:
	unlink(tmp);
	return rv;
}

/*
 * Reads one line of f into buf (size bytes), without its "\n" or "\r\n".
 * Returns its length, -1 at the end of the file (or on a read error), or
 * -2 for a line too long for buf or holding a NUL byte (read to its end).
 */
static int
ban_getline(FILE *f, char *buf, size_t size)
{
	size_t	 len = 0;
	int	 c, bad = 0;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0' || len + 1 >= size)
			bad = 1;
		else
			buf[len++] = (char)c;
	}
	if (c == EOF && len == 0 && !bad)
		return -1;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return bad ? -2 : (int)len;
}

/* Parses the decimal number at *sp, at most max; 0 (*sp past it) or -1. */
static int
ban_parse_num(const char **sp, uint64_t max, uint64_t *v)
{
	const char	*s = *sp;
	uint64_t	 n = 0;
	unsigned	 d;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		d = (unsigned)(*s - '0');
		if (n > (max - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*sp = s;
	*v = n;
	return 0;
}

/* Parses "ADDR/PLEN EXPIRY" into ss, *plen and *expiry; 0 or -1. */
static int
ban_parse_line(const char *line, struct sockaddr_storage *ss, unsigned *plen,
    uint64_t *expiry)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)(void *)ss;
	char			 text[INET6_ADDRSTRLEN];
	const char		*s = strchr(line, '/');
	size_t			 len;
	uint64_t		 v;

	if (s == NULL || (len = (size_t)(s - line)) == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, line, len);
	text[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		return -1;
	s++;
	if (ban_parse_num(&s, 128, &v) != 0 || (*s != ' ' && *s != '\t'))
		return -1;
	*plen = (unsigned)v;
	while (*s == ' ' || *s == '\t')
		s++;
	if (ban_parse_num(&s, UINT64_MAX, expiry) != 0)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0' ? 0 : -1;
}

/*
 * Whether ban_load() skips a ban of sa/plen until expiry (ms, monotonic):
 * when the table is full even after dropping what expired, adding it would
 * evict a ban lasting at least as long, so a file larger than the table
 * leaves the bans with the most time left, whatever their order.
 */
static int
ban_load_skip(struct ban_table *bt, const struct sockaddr *sa, unsigned plen,
    uint64_t now_ms, uint64_t expiry)
{
	struct addr_key	 k;
	uint8_t		 pl;

	if (bt->n < bt->max || ban_expire(bt, now_ms) > 0 ||
	    bt->ent[0].expiry < expiry)
		return 0;
	/* A bad plen is ban_add_prefix()'s to report; an existing ban grows. */
	if (ban_key(bt, sa, 0, plen, &k, &pl) != 0)
		return 0;
	return bt->idx[ban_probe(bt, &k, pl)] == 0;
}

/*
 * Takes one line after the header (len as ban_getline() returns it).
 * Returns 1 when it added (or extended) a ban, 0 when it had none to add
 * (blank, comment, expired, skipped), -EINVAL when it is malformed, or
 * -ENOMEM.
 */
static int
ban_load_line(struct ban_table *bt, const char *line, int len, uint64_t now_ms,
    uint64_t wall_ms)
{
	struct sockaddr_storage	 ss;
	const struct sockaddr	*sa = (const struct sockaddr *)&ss;
	uint64_t		 expiry, ttl;
	unsigned		 plen;
	int			 rv;

	if (len < 0)
		return -EINVAL;
	if (len == 0 || line[0] == '#')
		return 0;
	if (ban_parse_line(line, &ss, &plen, &expiry) != 0)
		return -EINVAL;
	if (expiry <= wall_ms)
		return 0;
	ttl = expiry == UINT64_MAX ? UINT64_MAX : expiry - wall_ms;
	expiry = ttl > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + ttl;
	if (ban_load_skip(bt, sa, plen, now_ms, expiry))
		return 0;
	/* -EINVAL: a plen too long, e.g. ::ffff:192.0.2.0/120. */
	rv = ban_add_prefix(bt, sa, plen, now_ms, ttl);
	return rv >= 0 ? 1 : rv == -EAFNOSUPPORT ? -EINVAL : rv;
}

long
ban_load(struct ban_table *bt, const char *path, uint64_t now_ms,
    uint64_t wall_ms, int *err_line)
{
	char	 line[BAN_LINE_SIZE];
	FILE	*f;
	long	 loaded = 0;
	int	 len, lineno = 0, bad = 0, rv;

	if (err_line != NULL)
		*err_line = 0;
	if ((f = fopen(path, "re")) == NULL)
		return errno == ENOENT ? 0 : ban_errno();
	while ((len = ban_getline(f, line, sizeof(line))) != -1) {
		if (++lineno == 1) {
			/* Not ours, or a format we do not know: take nothing. */
			if (len < 0 || strcmp(line, BAN_HEADER) != 0) {
				bad = 1;
				break;
			}
			continue;
		}
		if ((rv = ban_load_line(bt, line, len, now_ms, wall_ms)) > 0)
			loaded++;
		else if (rv == -EINVAL) {
			if (bad == 0)
				bad = lineno;
		} else if (rv < 0) {
			fclose(f);
			return rv;
		}
	}
	rv = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rv != 0)
		return rv;
	if (bad != 0) {
		if (err_line != NULL)
			*err_line = bad;
		return -EINVAL;
	}
	return loaded;
}
