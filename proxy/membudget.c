/*
 * membudget.c - the counting allocator for libevent, and the budget
 * (see membudget.h).
 */
#include "config.h"

#include <malloc.h>
#include <stdlib.h>

#include <event2/event.h>

#include "proxy/membudget.h"

static uint64_t	 mb_used;	/* atomic: bytes allocated through libevent */
static uint64_t	 mb_limit;	/* atomic: the budget; 0: none */

static void
mb_count(int64_t delta)
{
	__atomic_add_fetch(&mb_used, (uint64_t)delta, __ATOMIC_RELAXED);
}

static void *
mb_malloc(size_t n)
{
	void *p = malloc(n);

	if (p != NULL)
		mb_count((int64_t)malloc_usable_size(p));
	return p;
}

static void *
mb_realloc(void *p, size_t n)
{
	size_t	 old = p != NULL ? malloc_usable_size(p) : 0;
	void	*q = realloc(p, n);

	/* Failed: p is untouched, still counted.  n == 0 may free p. */
	if (q == NULL && n > 0)
		return NULL;
	mb_count((int64_t)(q != NULL ? malloc_usable_size(q) : 0) -
	    (int64_t)old);
	return q;
}

static void
mb_free(void *p)
{
	if (p == NULL)
		return;
	mb_count(-(int64_t)malloc_usable_size(p));
	free(p);
}

void
membudget_init(void)
{
	event_set_mem_functions(mb_malloc, mb_realloc, mb_free);
}

void
membudget_set_limit(uint64_t bytes)
{
	__atomic_store_n(&mb_limit, bytes, __ATOMIC_RELAXED);
}

uint64_t
membudget_used(void)
{
	return __atomic_load_n(&mb_used, __ATOMIC_RELAXED);
}

int
membudget_over(void)
{
	uint64_t limit = __atomic_load_n(&mb_limit, __ATOMIC_RELAXED);

	return limit != 0 && membudget_used() > limit;
}

int
membudget_drained(void)
{
	uint64_t limit = __atomic_load_n(&mb_limit, __ATOMIC_RELAXED);

	return limit == 0 || membudget_used() < limit / 8 * 7;
}
