/*
 * membudget.h - memory_limit: a budget for the bytes h2guard's buffers hold.
 *
 * Every buffer of data in flight is a libevent evbuffer (client and upstream
 * input and output, TLS records, queued request bodies, stream response
 * buffers), and libevent takes its memory from the functions installed here,
 * which count it (malloc_usable_size()) in one process-wide counter.  Above
 * the budget, upstream responses stop being read (upstream.c) until the
 * buffers have drained below 7/8 of it; nothing is dropped, the upstream
 * waits in TCP flow control.  Everything else is bounded per connection and
 * keeps moving, so that buffers can drain: HTTP/2 clients are still read
 * (their WINDOW_UPDATEs are what lets responses go out) and their request
 * bodies stay within h2_connection_window.
 */
#ifndef H2GUARD_MEMBUDGET_H
#define H2GUARD_MEMBUDGET_H

#include <stddef.h>
#include <stdint.h>

/*
 * membudget_init() installs the counting allocator in libevent.  Call it
 * before any other libevent function.  Without it nothing is counted and
 * the budget is never reached.
 */
void membudget_init(void);

/* membudget_set_limit() sets the budget in bytes; 0: none.  Any thread. */
void membudget_set_limit(uint64_t bytes);

/* membudget_used() is what libevent's memory holds now, in bytes. */
uint64_t membudget_used(void);

/* membudget_over() is 1 above the budget, else 0. */
int membudget_over(void);

/* membudget_drained() is 1 when below 7/8 of the budget (or without one). */
int membudget_drained(void);

#endif
