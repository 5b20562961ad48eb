/*
 * addrkey.h - a client address as a hash key: masked to the prefix that
 * bans and per-client limits aggregate (IPv4-mapped IPv6 counts as IPv4),
 * hashed with SipHash-1-3 under a random key so that clients cannot choose
 * colliding addresses.  Shared by the ban table and the client table.
 */
#ifndef H2GUARD_ADDRKEY_H
#define H2GUARD_ADDRKEY_H

#include <stdint.h>
#include <sys/socket.h>

struct addr_key {
	uint8_t		 addr[16];	/* masked; IPv4 in the first 4, rest 0 */
	uint8_t		 len;		/* 4 or 16 */
};

/*
 * addr_key_make() fills k with sa's address masked to prefix_v4 (1..32) or
 * prefix_v6 (1..128) bits.  Returns 0, or -EAFNOSUPPORT.
 */
int addr_key_make(const struct sockaddr *sa, unsigned prefix_v4,
    unsigned prefix_v6, struct addr_key *k);

/* addr_key_eq() tells whether two keys are the same. */
int addr_key_eq(const struct addr_key *a, const struct addr_key *b);

/* addr_key_seed() draws a random hash key (getrandom, else a weak seed). */
void addr_key_seed(uint64_t seed[2]);

/*
 * addr_key_hash() is SipHash-1-3 of the key (addr, then len as one byte)
 * under seed.  len may be any tag telling kinds of keys apart: the ban
 * table passes one per family and prefix length.
 */
uint64_t addr_key_hash(const uint64_t seed[2], const uint8_t addr[16],
    uint8_t len);

#endif
