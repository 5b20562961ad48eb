/*
 * mem.c - nghttp2's allocator: a session's frame buffer from a per-thread
 * slab.
 *
 * The slab is one anonymous mapping reserved at first use (H2M_SLOTS slots
 * of H2M_SLOT bytes, MAP_NORESERVE: pages exist only once written).  Slots
 * never used are taken in order, freed ones from a stack; a freed slot's
 * pages are given back at once (MADV_DONTNEED), so that every slot handed
 * out reads as zeroes, as calloc wants.  When the slab is full, or cannot
 * be mapped, malloc serves.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "h2/mem.h"

#define H2M_SLOT	(20 * 1024)	/* a frame buffer, in whole pages */
#define H2M_BIG		(16 * 1024)	/* smaller allocations never use slots */
#define H2M_SLOTS	(256 * 1024)	/* 5 GiB of address space, per thread */

struct h2m_slab {
	uint8_t		*base;		/* owned mapping; NULL: none yet */
	size_t		 next;		/* slots below were handed out once */
	uint32_t	*free;		/* owned: freed slot numbers */
	size_t		 nfree, capfree;
	int		 failed;	/* the mapping could not be made */
};

static __thread struct h2m_slab slab;

static int
h2m_in_slab(const void *p)
{
	const uint8_t *b = p;

	return slab.base != NULL && b >= slab.base &&
	    b < slab.base + (size_t)H2M_SLOTS * H2M_SLOT;
}

/* h2m_slot_get() is a zeroed slot, or NULL (use malloc). */
static void *
h2m_slot_get(void)
{
	if (slab.base == NULL && !slab.failed) {
		slab.base = mmap(NULL, (size_t)H2M_SLOTS * H2M_SLOT,
		    PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (slab.base == MAP_FAILED) {
			slab.base = NULL;
			slab.failed = 1;
		}
	}
	if (slab.base == NULL)
		return NULL;
	if (slab.nfree > 0)
		return slab.base + (size_t)slab.free[--slab.nfree] * H2M_SLOT;
	if (slab.next == H2M_SLOTS)
		return NULL;
	return slab.base + slab.next++ * H2M_SLOT;
}

static void
h2m_slot_put(void *p)
{
	size_t idx = (size_t)((uint8_t *)p - slab.base) / H2M_SLOT;

	madvise(p, H2M_SLOT, MADV_DONTNEED);
	if (slab.nfree == slab.capfree) {
		size_t	 cap = slab.capfree ? slab.capfree * 2 : 256;
		uint32_t *f = realloc(slab.free, cap * sizeof(*f));

		if (f == NULL)
			return;	/* the slot is lost, its pages are not */
		slab.free = f;
		slab.capfree = cap;
	}
	slab.free[slab.nfree++] = (uint32_t)idx;
}

static void *
h2m_malloc(size_t size, void *ud)
{
	struct h2m_account	*acct = ud;
	void			*p;

	if (!acct->armed || acct->slot != NULL || size < H2M_BIG ||
	    size > H2M_SLOT || (p = h2m_slot_get()) == NULL)
		return malloc(size);
	acct->slot = p;
	return p;
}

static void
h2m_free(void *p, void *ud)
{
	struct h2m_account *acct = ud;

	if (!h2m_in_slab(p)) {
		free(p);
		return;
	}
	if (acct->slot == p)
		acct->slot = NULL;
	h2m_slot_put(p);
}

static void *
h2m_calloc(size_t nmemb, size_t size, void *ud)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	if (nmemb * size < H2M_BIG)
		return calloc(nmemb, size);
	/* Slots read as zeroes (see above); malloc'd memory does not. */
	if ((p = h2m_malloc(nmemb * size, ud)) != NULL && !h2m_in_slab(p))
		memset(p, 0, nmemb * size);
	return p;
}

static void *
h2m_realloc(void *p, size_t size, void *ud)
{
	void *q;

	if (p == NULL)
		return h2m_malloc(size, ud);
	if (!h2m_in_slab(p))
		return realloc(p, size);
	if (size <= H2M_SLOT)
		return p;
	if ((q = malloc(size)) == NULL)
		return NULL;
	memcpy(q, p, H2M_SLOT);
	h2m_free(p, ud);
	return q;
}

void
h2m_init(nghttp2_mem *mem, struct h2m_account *acct)
{
	mem->mem_user_data = acct;
	mem->malloc = h2m_malloc;
	mem->free = h2m_free;
	mem->calloc = h2m_calloc;
	mem->realloc = h2m_realloc;
	acct->slot = NULL;
	acct->armed = 1;
}

void
h2m_disarm(struct h2m_account *acct)
{
	acct->armed = 0;
}

void
h2m_trim(struct h2m_account *acct)
{
	if (acct->slot != NULL)
		madvise(acct->slot, H2M_SLOT, MADV_DONTNEED);
}

void
h2m_thread_free(void)
{
	if (slab.base != NULL)
		munmap(slab.base, (size_t)H2M_SLOTS * H2M_SLOT);
	free(slab.free);
	memset(&slab, 0, sizeof(slab));
}
