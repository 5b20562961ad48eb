/*
 * clients.c - per client address counters, bounded (see clients.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "proxy/addrkey.h"
#include "proxy/clients.h"

#define CLIENTS_WAYS	8	/* entries per set */

struct client_ent {
	struct addr_key	 key;		/* len 0: free */
	uint64_t	 last_ms;	/* last clients_get() */
	struct client	 c;
};

struct client_table {
	struct client_ent *ent;		/* owned; nsets * CLIENTS_WAYS */
	size_t		 mask;		/* sets - 1 (a power of 2) */
	size_t		 n;		/* entries in use */
	uint64_t	 k[2];		/* SipHash key, random */
	unsigned	 prefix_v4, prefix_v6;
};

struct client_table *
clients_new(size_t max, unsigned prefix_v4, unsigned prefix_v6)
{
	struct client_table	*ct;
	size_t			 sets = 1;

	if ((ct = calloc(1, sizeof(*ct))) == NULL)
		return NULL;
	while (sets * CLIENTS_WAYS < max && sets < ((size_t)1 << 24))
		sets *= 2;
	/* Pages never touched cost no memory: a big table is cheap. */
	if ((ct->ent = calloc(sets * CLIENTS_WAYS, sizeof(*ct->ent))) == NULL) {
		free(ct);
		return NULL;
	}
	ct->mask = sets - 1;
	ct->prefix_v4 = prefix_v4;
	ct->prefix_v6 = prefix_v6;
	addr_key_seed(ct->k);
	return ct;
}

void
clients_free(struct client_table *ct)
{
	if (ct == NULL)
		return;
	free(ct->ent);
	free(ct);
}

struct client *
clients_get(struct client_table *ct, const struct sockaddr *sa, uint64_t now_ms)
{
	struct addr_key		 k;
	struct client_ent	*set, *e, *victim = NULL;
	size_t			 i;

	if (addr_key_make(sa, ct->prefix_v4, ct->prefix_v6, &k) != 0)
		return NULL;
	set = &ct->ent[(addr_key_hash(ct->k, k.addr, k.len) & ct->mask) *
	    CLIENTS_WAYS];
	for (i = 0; i < CLIENTS_WAYS; i++) {
		e = &set[i];
		if (addr_key_eq(&e->key, &k)) {
			e->last_ms = now_ms;
			return &e->c;
		}
		/* Free, else no connection open, else least recently seen. */
		if (victim == NULL || (victim->key.len != 0 &&
		    (e->key.len == 0 || (e->c.open == 0) > (victim->c.open == 0) ||
		    ((e->c.open == 0) == (victim->c.open == 0) &&
		    e->last_ms < victim->last_ms))))
			victim = e;
	}
	if (victim->key.len == 0)
		ct->n++;
	memset(victim, 0, sizeof(*victim));
	victim->key = k;
	victim->last_ms = now_ms;
	return &victim->c;
}

struct client *
clients_find(struct client_table *ct, const struct sockaddr *sa)
{
	struct addr_key		 k;
	struct client_ent	*set;
	size_t			 i;

	if (addr_key_make(sa, ct->prefix_v4, ct->prefix_v6, &k) != 0)
		return NULL;
	set = &ct->ent[(addr_key_hash(ct->k, k.addr, k.len) & ct->mask) *
	    CLIENTS_WAYS];
	for (i = 0; i < CLIENTS_WAYS; i++)
		if (addr_key_eq(&set[i].key, &k))
			return &set[i].c;
	return NULL;
}

size_t
clients_count(const struct client_table *ct)
{
	return ct->n;
}
