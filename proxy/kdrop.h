/*
 * kdrop.h - banned client addresses dropped by the kernel, before the TCP
 * handshake (kernel_drop).
 *
 * An eBPF socket filter attached to a listening socket runs on every
 * packet the socket receives, the SYN of a new connection included; when
 * the filter returns 0 the kernel drops the packet.  Ours reads the
 * packet's source address and looks it up in two longest-prefix-match
 * tries (BPF_MAP_TYPE_LPM_TRIE) per family: the allowed prefixes, then the
 * banned ones, each ban with its expiry.  A banned client's SYN is thus
 * dropped without a SYN-ACK, an accept(), a close() or socket memory; it
 * sees its connection attempts time out.
 *
 * The maps mirror the ban table (proxy/bantable.h): every entry added,
 * extended or deleted there is written here (ban_set_hook()).  They and the
 * program are held by file descriptors only, never pinned: nothing is left
 * in the kernel when h2guard exits.  Everything is loaded through the bpf()
 * system call, the program assembled here (no compiler, no libbpf).
 *
 * Loading needs CAP_BPF (5.8 and later; before, CAP_SYS_ADMIN) and a kernel
 * with LPM tries and bpf_skb_load_bytes_relative() (4.18 or later); before
 * 5.11 the maps count against RLIMIT_MEMLOCK.
 */
#ifndef H2GUARD_KDROP_H
#define H2GUARD_KDROP_H

#include <stddef.h>
#include <stdint.h>

struct kdrop;

/*
 * kdrop_new() creates the maps, holding at most max bans per family, and
 * loads the program.  Returns NULL with errno set: EPERM (not permitted),
 * ENOSYS or EINVAL (the kernel lacks something; when the program was
 * refused, why is "verifier: " and the last line of the verifier's log),
 * ENOMEM.  why
 * (whylen bytes) is set to "" or a short reason either way.
 */
struct kdrop *kdrop_new(uint32_t max, char *why, size_t whylen);

/* kdrop_free() closes the maps and the program; NULL is a no-op. */
void kdrop_free(struct kdrop *kd);

/*
 * kdrop_attach() attaches the program to the socket fd; kdrop_detach()
 * removes whatever filter fd has.  A socket accepted from a listener with
 * the filter inherits it: detach it there, or the filter also drops the
 * packets of that connection once its address is banned (the FIN and ACKs
 * of our own close included).  Both return 0 or a negative errno.
 */
int kdrop_attach(const struct kdrop *kd, int fd);
int kdrop_detach(int fd);

/*
 * kdrop_ban() drops the addresses whose first plen bits are addr's (len 4:
 * IPv4, 16: IPv6; addr masked to plen) until expiry_ms, a CLOCK_MONOTONIC
 * time in ms (UINT64_MAX: for ever), replacing the entry's previous expiry.
 * added says whether the entry is new (counted in kdrop_entries()) or one
 * already given: the caller knows, and LPM tries ignore BPF_NOEXIST before
 * Linux 6.13.  kdrop_unban() removes the entry.  Both return 0 or a
 * negative errno (kdrop_unban(): -ENOENT when there was none); a failure
 * is also counted (kdrop_errors()).
 */
int kdrop_ban(struct kdrop *kd, const uint8_t *addr, unsigned len,
    unsigned plen, uint64_t expiry_ms, int added);
int kdrop_unban(struct kdrop *kd, const uint8_t *addr, unsigned len,
    unsigned plen);

/* A prefix the filter never drops (an allow rule's client CIDR). */
struct kdrop_prefix {
	uint8_t		 addr[16];	/* len bytes used, masked to plen */
	unsigned	 len;		/* 4 or 16 */
	unsigned	 plen;
};

/*
 * kdrop_allow() makes the n prefixes of v the allowed ones: new ones are
 * added before old ones are removed, so an address allowed before and
 * after is never dropped in between.  Returns 0 or a negative errno (the
 * first failure; the others are still tried; not counted in
 * kdrop_errors(), which is about bans).
 */
int kdrop_allow(struct kdrop *kd, const struct kdrop_prefix *v, size_t n);

/* kdrop_entries() is the number of bans in the kernel maps. */
size_t kdrop_entries(const struct kdrop *kd);

/* kdrop_drops() is the number of packets the filter dropped, all CPUs. */
uint64_t kdrop_drops(const struct kdrop *kd);

/* kdrop_errors() is the number of ban writes the kernel refused. */
uint64_t kdrop_errors(const struct kdrop *kd);

#endif
