/*
 * mem.h - nghttp2's allocator for h2guard.  An nghttp2 session keeps a
 * frame buffer of 16 KiB and 10 bytes for its whole life: the largest part
 * of an idle HTTP/2 connection's memory.  That one buffer comes from a
 * per-thread slab of page-aligned slots instead of malloc, so that the pages
 * of an idle session's buffer can be given back to the kernel (h2m_trim())
 * and come back zeroed on its next write.  Everything else goes to malloc.
 */
#ifndef H2GUARD_H2_MEM_H
#define H2GUARD_H2_MEM_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

/* A session's account: its slot, if it has one. */
struct h2m_account {
	void	*slot;
	int	 armed;		/* the session is being made: a slot may be taken */
};

/*
 * h2m_init() fills mem with the allocator, charging acct, and arms acct:
 * while armed (during nghttp2_session_server_new3(): its frame buffer is the
 * only allocation that large), a slot serves the first large allocation.
 * h2m_disarm() ends that.  Nothing else may sit in a slot: h2m_trim()
 * zeroes it.
 */
void h2m_init(nghttp2_mem *mem, struct h2m_account *acct);
void h2m_disarm(struct h2m_account *acct);

/*
 * h2m_trim() gives back the pages of acct's slot.  Only when their content
 * is dead: the session has nothing to send (nghttp2_session_want_write() is
 * 0), so its frame buffer holds no frame.
 */
void h2m_trim(struct h2m_account *acct);

/* h2m_thread_free() releases the calling thread's slab (at thread exit). */
void h2m_thread_free(void);

#endif
