/*
 * addrkey.c - client addresses as hash keys (see addrkey.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/random.h>

#include <netinet/in.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/addrkey.h"

#define ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/* SipHash-1-3 of the 17 bytes addr[0..15], len (a fixed-size message). */
uint64_t
addr_key_hash(const uint64_t seed[2], const uint8_t addr[16], uint8_t len)
{
	uint64_t	 v0 = seed[0] ^ 0x736f6d6570736575ULL;
	uint64_t	 v1 = seed[1] ^ 0x646f72616e646f6dULL;
	uint64_t	 v2 = seed[0] ^ 0x6c7967656e657261ULL;
	uint64_t	 v3 = seed[1] ^ 0x7465646279746573ULL;
	uint64_t	 m[3];
	int		 i;

	memcpy(&m[0], addr, 8);
	memcpy(&m[1], addr + 8, 8);
	m[2] = (uint64_t)17 << 56 | len;
	for (i = 0; i < 3; i++) {
		v3 ^= m[i];
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	for (i = 0; i < 3; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

void
addr_key_seed(uint64_t seed[2])
{
	struct timespec ts;

	if (getrandom(seed, 2 * sizeof(seed[0]), 0) ==
	    (ssize_t)(2 * sizeof(seed[0])))
		return;
	/* No getrandom (old kernel): a weak seed beats no table. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)seed;
	seed[1] = (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
}

/* Clears every bit of a (nbytes long) after the first prefix. */
static void
addr_key_mask(uint8_t *a, unsigned nbytes, unsigned prefix)
{
	unsigned	 i;

	for (i = prefix / 8; i < nbytes; i++)
		a[i] &= i == prefix / 8 ? (uint8_t)(0xff00 >> prefix % 8) : 0;
}

int
addr_key_make(const struct sockaddr *sa, unsigned prefix_v4,
    unsigned prefix_v6, struct addr_key *k)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(k, 0, sizeof(*k));
	if (sa != NULL && sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		memcpy(k->addr, &sin->sin_addr, 4);
		k->len = 4;
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(k->addr, sin6->sin6_addr.s6_addr + 12, 4);
			k->len = 4;
		} else {
			memcpy(k->addr, &sin6->sin6_addr, 16);
			k->len = 16;
		}
	} else
		return -EAFNOSUPPORT;
	addr_key_mask(k->addr, k->len, k->len == 4 ? prefix_v4 : prefix_v6);
	return 0;
}

int
addr_key_eq(const struct addr_key *a, const struct addr_key *b)
{
	return a->len == b->len && memcmp(a->addr, b->addr, 16) == 0;
}
