/*
 * test_bantable.c - unit tests for proxy/bantable.c: lookups, expiry,
 * prefix aggregation, IPv4-mapped addresses, the bound and growth, bans of
 * any prefix length, listing, saving and loading.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bantable.h"
#include "tests/unit/testaddr.h"

static void
add_check_remove(const char *a, const char *other)
{
	struct ban_table	*bt = ban_new(16, 32, 128);
	struct sockaddr_storage	 ss;

	ck_assert_ptr_nonnull(bt);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, a), 0), 0);
	ck_assert_int_eq(ban_add(bt, addr(&ss, a), 1000, 60000), 0);
	ck_assert_uint_eq(ban_count(bt), 1);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, a), 1000), 60000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, other), 1000), 0);
	ck_assert_int_eq(ban_remove(bt, addr(&ss, other)), 0);
	ck_assert_int_eq(ban_remove(bt, addr(&ss, a)), 1);
	ck_assert_int_eq(ban_remove(bt, addr(&ss, a)), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, a), 1000), 0);
	ck_assert_uint_eq(ban_count(bt), 0);
	ban_free(bt);
}

START_TEST(test_add_check_remove)
{
	add_check_remove("192.0.2.7", "192.0.2.8");
	add_check_remove("2001:db8::7", "2001:db8::8");
	ban_free(NULL);
}
END_TEST

START_TEST(test_ttl_expiry)
{
	struct ban_table	*bt = ban_new(16, 32, 128);
	struct sockaddr_storage	 ss;
	const struct sockaddr	*sa = addr(&ss, "198.51.100.7");

	ck_assert_int_eq(ban_add(bt, sa, 1000, 500), 0);
	ck_assert_uint_eq(ban_check(bt, sa, 1000), 500);
	ck_assert_uint_eq(ban_check(bt, sa, 1499), 1);
	ck_assert_uint_eq(ban_count(bt), 1);
	ck_assert_uint_eq(ban_check(bt, sa, 1500), 0);
	ck_assert_uint_eq(ban_count(bt), 0);	/* removed lazily */
	ck_assert_uint_eq(ban_check(bt, sa, 1000), 0);
	ban_free(bt);
}
END_TEST

START_TEST(test_extend_not_shorten)
{
	struct ban_table	*bt = ban_new(16, 32, 128);
	struct sockaddr_storage	 ss;
	const struct sockaddr	*sa = addr(&ss, "2001:db8::1");

	ck_assert_int_eq(ban_add(bt, sa, 0, 10000), 0);
	ck_assert_int_eq(ban_add(bt, sa, 100, 100), 0);
	ck_assert_uint_eq(ban_check(bt, sa, 1000), 9000);
	ck_assert_int_eq(ban_add(bt, sa, 1000, 50000), 0);
	ck_assert_uint_eq(ban_check(bt, sa, 1000), 50000);
	ck_assert_uint_eq(ban_count(bt), 1);
	ck_assert_int_eq(ban_add(bt, sa, 1000, UINT64_MAX), 0);
	ck_assert_uint_eq(ban_check(bt, sa, 1000), UINT64_MAX - 1000);
	ban_free(bt);
}
END_TEST

START_TEST(test_prefix)
{
	struct ban_table	*bt = ban_new(16, 24, 64);
	struct sockaddr_storage	 s1, s2;

	ck_assert_int_eq(ban_add(bt, addr(&s1, "192.0.2.7"), 0, 1000), 0);
	ck_assert_uint_ne(ban_check(bt, addr(&s1, "192.0.2.200"), 0), 0);
	ck_assert_uint_ne(ban_check(bt, addr(&s1, "192.0.2.0"), 0), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&s1, "192.0.3.1"), 0), 0);
	ck_assert_int_eq(ban_add(bt, addr(&s1, "2001:db8:1:2::7"), 0, 1000), 0);
	ck_assert_uint_ne(ban_check(bt, addr(&s1, "2001:db8:1:2:ffff::1"), 0),
	    0);
	ck_assert_uint_eq(ban_check(bt, addr(&s1, "2001:db8:1:3::7"), 0), 0);
	ck_assert_uint_eq(ban_count(bt), 2);
	ck_assert_int_eq(ban_remove(bt, addr(&s1, "192.0.2.99")), 1);
	ck_assert_uint_eq(ban_check(bt, addr(&s1, "192.0.2.7"), 0), 0);

	ck_assert(ban_same_prefix(bt, addr(&s1, "192.0.2.7"),
	    addr(&s2, "192.0.2.250")));
	ck_assert(!ban_same_prefix(bt, addr(&s1, "192.0.2.7"),
	    addr(&s2, "192.0.3.7")));
	ck_assert(ban_same_prefix(bt, addr(&s1, "2001:db8::1"),
	    addr(&s2, "2001:db8::abcd:1")));
	ck_assert(!ban_same_prefix(bt, addr(&s1, "2001:db8::1"),
	    addr(&s2, "2001:db8:0:1::1")));
	ck_assert(ban_same_prefix(bt, addr(&s1, "::ffff:192.0.2.1"),
	    addr(&s2, "192.0.2.9")));
	/* v4 and v6 never share a prefix, even when the bytes agree. */
	ck_assert(!ban_same_prefix(bt, addr(&s1, "0.0.0.0"),
	    addr(&s2, "::")));
	ban_free(bt);

	bt = ban_new(16, 20, 33);	/* prefixes not on a byte boundary */
	ck_assert(ban_same_prefix(bt, addr(&s1, "10.0.0.1"),
	    addr(&s2, "10.0.15.255")));
	ck_assert(!ban_same_prefix(bt, addr(&s1, "10.0.0.1"),
	    addr(&s2, "10.0.16.0")));
	ck_assert(ban_same_prefix(bt, addr(&s1, "2001:db8::"),
	    addr(&s2, "2001:db8:7fff::")));
	ck_assert(!ban_same_prefix(bt, addr(&s1, "2001:db8::"),
	    addr(&s2, "2001:db8:8000::")));
	ban_free(bt);
}
END_TEST

START_TEST(test_v4_mapped)
{
	struct ban_table	*bt = ban_new(16, 32, 128);
	struct sockaddr_storage	 ss;

	ck_assert_int_eq(ban_add(bt, addr(&ss, "192.0.2.7"), 0, 1000), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "::ffff:192.0.2.7"), 0),
	    1000);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "::ffff:198.51.100.1"), 0, 50),
	    0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "198.51.100.1"), 0), 50);
	ck_assert_uint_eq(ban_count(bt), 2);
	ck_assert_int_eq(ban_remove(bt, addr(&ss, "::ffff:192.0.2.7")), 1);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.7"), 0), 0);
	ban_free(bt);
}
END_TEST

START_TEST(test_bound)
{
	struct ban_table	*bt = ban_new(100, 32, 128);
	struct sockaddr_storage	 ss;
	unsigned		 i;

	/* 50 short bans, then 950 long ones, each expiring after the last. */
	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(ban_add(bt, nth(&ss, i, i & 1), 0,
		    i < 50 ? 10 : 1000000 + i), 0);
		ck_assert_uint_le(ban_count(bt), 100);
	}
	ck_assert_uint_eq(ban_count(bt), 100);
	for (i = 0; i < 900; i++)	/* short ones went first, then oldest */
		ck_assert_uint_eq(ban_check(bt, nth(&ss, i, i & 1), 0), 0);
	for (i = 900; i < 1000; i++)
		ck_assert_uint_eq(ban_check(bt, nth(&ss, i, i & 1), 0),
		    1000000 + i);
	ban_free(bt);

	/* Full of expired entries: they all go before anything is evicted. */
	bt = ban_new(10, 32, 128);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(ban_add(bt, nth(&ss, i, 0), 0, i < 5 ? 5 :
		    100), 0);
	ck_assert_int_eq(ban_add(bt, nth(&ss, 10, 0), 50, 1000), 0);
	ck_assert_uint_eq(ban_count(bt), 6);
	for (i = 5; i < 11; i++)
		ck_assert_uint_ne(ban_check(bt, nth(&ss, i, 0), 50), 0);
	ban_free(bt);
}
END_TEST

START_TEST(test_expire)
{
	struct ban_table	*bt = ban_new(64, 32, 128);
	struct sockaddr_storage	 ss;
	unsigned		 i;

	for (i = 1; i <= 10; i++)
		ck_assert_int_eq(ban_add(bt, nth(&ss, i, i & 1), 0, i * 10), 0);
	ck_assert_uint_eq(ban_expire(bt, 0), 0);
	/* In batches: the soonest expired first, no more than asked. */
	ck_assert_uint_eq(ban_expire_some(bt, 55, 2), 2);
	ck_assert_uint_eq(ban_count(bt), 8);
	ck_assert_uint_eq(ban_check(bt, nth(&ss, 3, 1), 25), 5);
	ck_assert_uint_eq(ban_expire_some(bt, 55, 0), 0);
	ck_assert_uint_eq(ban_expire(bt, 55), 3);
	ck_assert_uint_eq(ban_count(bt), 5);
	ck_assert_uint_eq(ban_check(bt, nth(&ss, 5, 1), 55), 0);
	ck_assert_uint_eq(ban_check(bt, nth(&ss, 6, 0), 55), 5);
	ck_assert_uint_eq(ban_expire(bt, 100), 5);
	ck_assert_uint_eq(ban_count(bt), 0);
	ck_assert_uint_eq(ban_expire(bt, 1000), 0);
	ban_free(bt);
}
END_TEST

START_TEST(test_growth)
{
	struct ban_table	*bt = ban_new(100000, 32, 128);
	struct sockaddr_storage	 ss;
	unsigned		 i;

	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(ban_add(bt, nth(&ss, i, i % 3 == 0), 0,
		    1000 + i), 0);
	ck_assert_uint_eq(ban_count(bt), 10000);
	for (i = 0; i < 10000; i++)
		ck_assert_uint_eq(ban_check(bt, nth(&ss, i, i % 3 == 0), 0),
		    1000 + i);
	for (i = 0; i < 10000; i += 2)
		ck_assert_int_eq(ban_remove(bt, nth(&ss, i, i % 3 == 0)), 1);
	for (i = 0; i < 10000; i++)
		ck_assert_uint_eq(ban_check(bt, nth(&ss, i, i % 3 == 0), 0),
		    i % 2 ? 1000 + i : 0);
	ck_assert_uint_eq(ban_count(bt), 5000);
	ban_free(bt);
}
END_TEST

/* Random operations against a plain array: exercises the deletion paths. */
START_TEST(test_random_model)
{
	struct ban_table	*bt = ban_new(1000, 32, 128);
	struct sockaddr_storage	 ss;
	uint64_t		 model[300] = { 0 }, now = 0, exp;
	size_t			 n, want;
	unsigned		 i, op, a;

	srandom(1);
	for (i = 0; i < 50000; i++) {
		op = (unsigned)random() % 10;
		a = (unsigned)random() % 300;
		now += (unsigned)random() % 3;
		if (op < 4) {
			exp = now + 1 + (unsigned)random() % 200;
			if (model[a] < exp)
				model[a] = exp;
			ck_assert_int_eq(ban_add(bt, nth(&ss, a, a & 1), now,
			    exp - now), 0);
		} else if (op < 8) {
			want = model[a] > now ? model[a] - now : 0;
			if (model[a] <= now)
				model[a] = 0;
			ck_assert_uint_eq(ban_check(bt, nth(&ss, a, a & 1),
			    now), want);
		} else if (op < 9) {
			ck_assert_int_eq(ban_remove(bt, nth(&ss, a, a & 1)),
			    model[a] != 0);
			model[a] = 0;
		} else {
			for (want = 0, a = 0; a < 300; a++)
				if (model[a] != 0 && model[a] <= now) {
					model[a] = 0;
					want++;
				}
			ck_assert_uint_eq(ban_expire(bt, now), want);
		}
		for (n = 0, a = 0; a < 300; a++)
			n += model[a] != 0;
		ck_assert_uint_eq(ban_count(bt), n);
	}
	ban_free(bt);
}
END_TEST

START_TEST(test_unsupported_family)
{
	struct ban_table	*bt = ban_new(16, 32, 128);
	struct sockaddr_un	 sun;
	struct sockaddr_storage	 ss;
	const struct sockaddr	*sa = (const struct sockaddr *)&sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_int_eq(ban_add(bt, sa, 0, 1000), -EAFNOSUPPORT);
	ck_assert_uint_eq(ban_check(bt, sa, 0), 0);
	ck_assert_int_eq(ban_remove(bt, sa), 0);
	ck_assert(!ban_same_prefix(bt, sa, sa));
	ck_assert(!ban_same_prefix(bt, sa, addr(&ss, "192.0.2.1")));
	ck_assert_uint_eq(ban_count(bt), 0);
	ban_free(bt);
}
END_TEST

/* The first plen bits of a and b (len bytes each) agree. */
static int
same_bits(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned	 i;

	for (i = 0; i < plen; i++)
		if (((a[i / 8] ^ b[i / 8]) & (0x80 >> i % 8)) != 0)
			return 0;
	return 1;
}

START_TEST(test_prefix_bans)
{
	struct ban_table	*bt = ban_new(64, 32, 128);
	struct sockaddr_storage	 ss;
	struct sockaddr_un	 sun;

	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.1.2.3"), 8, 0, 1000),
	    0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.20.9.9"), 16, 0,
	    5000), 0);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "192.0.2.7"), 0, 300), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8:77::1"), 32, 0,
	    2000), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8:1::"), 48, 0,
	    7000), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8:1::"), 47, 0,
	    100), 0);
	ck_assert_uint_eq(ban_count(bt), 6);

	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.9.9.9"), 0), 1000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.0.0.0"), 0), 1000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.255.255.255"), 0), 1000);
	/* Covered by /8 and /16: the longest lasting one counts. */
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.20.1.1"), 0), 5000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.20.1.1"), 999), 4001);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "11.0.0.1"), 0), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "9.255.255.255"), 0), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.7"), 0), 300);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.8"), 0), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "::ffff:10.3.3.3"), 0), 1000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "::ffff:10.20.3.3"), 0),
	    5000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db8:5::1"), 0), 2000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db8:1:ffff::9"), 0),
	    7000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db8::9"), 0), 2000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db9::1"), 0), 0);
	/* Same bytes, other family. */
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "a00::1"), 0), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "32.1.13.184"), 0), 0);

	/* The /8 expires; the /16 inside it stays. */
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.9.9.9"), 1000), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.20.0.1"), 1000), 4000);
	ck_assert_uint_eq(ban_count(bt), 5);

	/* An existing prefix ban is extended, never shortened. */
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.20.0.0"), 16, 1000,
	    10), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.20.0.1"), 1000), 4000);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.20.0.0"), 16, 1000,
	    9000), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.20.0.1"), 1000), 9000);
	ck_assert_uint_eq(ban_count(bt), 5);

	/* IPv4-mapped: plen refers to the IPv4 address. */
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "::ffff:172.16.5.5"), 12,
	    0, 700), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "172.16.0.1"), 0), 700);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "172.31.255.255"), 0), 700);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "172.32.0.0"), 0), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "::ffff:172.20.0.0"), 0),
	    700);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "172.16.0.0"), 12), 1);

	/* Lengths out of range, families not supported. */
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "1.2.3.4"), 33, 0, 9),
	    -EINVAL);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "::ffff:1.2.3.4"), 33, 0,
	    9), -EINVAL);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "::ffff:1.2.3.0"), 120,
	    0, 9), -EINVAL);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8::"), 129, 0,
	    9), -EINVAL);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8::"), 128, 0,
	    9), 0);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "2001:db8::"), 128),
	    1);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8::"), UINT_MAX,
	    0, 9), -EINVAL);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "1.2.3.4"), 33), 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_int_eq(ban_add_prefix(bt, (struct sockaddr *)&sun, 0, 0, 9),
	    -EAFNOSUPPORT);
	ck_assert_int_eq(ban_remove_prefix(bt, (struct sockaddr *)&sun, 0), 0);
	ck_assert_uint_eq(ban_count(bt), 5);

	/* /0 bans a whole family, and only it. */
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "203.0.113.1"), 0, 0,
	    50000), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "1.1.1.1"), 0), 50000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "::ffff:8.8.8.8"), 0), 50000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db9::1"), 0), 0);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "255.0.0.0"), 0), 1);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "1.1.1.1"), 0), 0);
	ban_free(bt);
}
END_TEST

START_TEST(test_prefix_shortened)
{
	struct ban_table	*bt = ban_new(16, 24, 48);
	struct sockaddr_storage	 ss;

	/* /32 and /28 are shorter than nothing: both become the unit /24. */
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "192.0.2.7"), 32, 0,
	    100), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "192.0.2.130"), 28, 0,
	    200), 0);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "192.0.2.1"), 0, 50), 0);
	ck_assert_uint_eq(ban_count(bt), 1);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.255"), 0), 200);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.3.0"), 0), 0);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "192.0.2.200"), 30),
	    1);
	ck_assert_uint_eq(ban_count(bt), 0);

	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8:1:2::7"), 128,
	    0, 100), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db8:1:ffff::"), 0),
	    100);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db8:2::"), 0), 0);
	ck_assert_int_eq(ban_remove(bt, addr(&ss, "2001:db8:1::")), 1);

	/* A shorter ban is not lifted by ban_remove() of the unit. */
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "198.51.0.0"), 16, 0,
	    100), 0);
	ck_assert_int_eq(ban_remove(bt, addr(&ss, "198.51.100.7")), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "198.51.100.7"), 0), 100);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "198.51.100.7"), 0, 300), 0);
	ck_assert_uint_eq(ban_count(bt), 2);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "198.51.100.7"), 0), 300);
	ck_assert_int_eq(ban_remove(bt, addr(&ss, "198.51.100.7")), 1);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "198.51.100.7"), 0), 100);
	ban_free(bt);
}
END_TEST

START_TEST(test_remove_prefix)
{
	struct ban_table	*bt = ban_new(16, 32, 128);
	struct sockaddr_storage	 ss;

	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.0.0.0"), 8, 0, 100),
	    0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.0.0.0"), 16, 0, 200),
	    0);
	ck_assert_uint_eq(ban_count(bt), 2);	/* distinct entries */
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "10.0.0.0"), 12), 0);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "10.1.0.0"), 16), 0);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "10.0.5.5"), 16), 1);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "10.0.5.5"), 16), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.0.5.5"), 0), 100);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "::ffff:10.9.9.9"), 8),
	    1);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.0.5.5"), 0), 0);
	ck_assert_uint_eq(ban_count(bt), 0);
	ban_free(bt);
}
END_TEST

/* The lengths in use, hence the probes of ban_check(), follow the entries. */
START_TEST(test_lengths)
{
	struct ban_table	*bt = ban_new(8, 24, 64);
	struct sockaddr_storage	 ss;
	unsigned		 i;

	ck_assert_uint_eq(ban_lengths(bt, AF_INET), 0);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET6), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(ban_add(bt, nth(&ss, i << 8, 0), 0, 1000), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "192.0.2.1"), 32, 0,
	    1000), 0);	/* shortened to the unit /24 */
	ck_assert_int_eq(ban_add(bt, addr(&ss, "::ffff:192.0.3.1"), 0, 1000),
	    0);
	ck_assert_uint_eq(ban_count(bt), 5);
	/* Only unit bans: one probe per ban_check(), as without prefixes. */
	ck_assert_uint_eq(ban_lengths(bt, AF_INET), 1);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET6), 0);
	ck_assert_uint_eq(ban_lengths(bt, AF_UNIX), 0);

	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "172.16.0.0"), 12, 0,
	    50), 0);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET), 2);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "172.17.0.1"), 0), 50);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "172.17.0.1"), 50), 0);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET), 1);	/* dropped lazily */

	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8::"), 32, 0,
	    100), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8::"), 33, 0,
	    100), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db9::"), 33, 0,
	    100), 0);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET6), 2);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET), 1);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "2001:db8::"), 32),
	    1);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET6), 1);
	ck_assert_int_eq(ban_remove_prefix(bt, addr(&ss, "2001:db8::"), 33),
	    1);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET6), 1);
	for (i = 3; i < 5; i++)
		ck_assert_int_eq(ban_add(bt, nth(&ss, i << 8, 0), 0, 1000), 0);
	/* Full (8): the soonest to expire, 2001:db9::/33, is evicted. */
	ck_assert_uint_eq(ban_count(bt), 8);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.0.0.0"), 8, 0, 2000),
	    0);
	ck_assert_uint_eq(ban_count(bt), 8);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET6), 0);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET), 2);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db9::"), 0), 0);
	ck_assert_uint_eq(ban_expire(bt, 1000), 7);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET), 1);
	ck_assert_uint_eq(ban_expire(bt, 2000), 1);
	ck_assert_uint_eq(ban_lengths(bt, AF_INET), 0);
	ban_free(bt);
}
END_TEST

START_TEST(test_covers)
{
	struct sockaddr_storage	 a, b;
	struct sockaddr_un	 sun;

	ck_assert_int_eq(ban_covers(addr(&a, "10.0.0.0"), 8,
	    addr(&b, "10.255.1.1")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "10.0.0.0"), 8,
	    addr(&b, "11.0.0.0")), 0);
	ck_assert_int_eq(ban_covers(addr(&a, "10.1.2.3"), 32,
	    addr(&b, "10.1.2.3")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "10.1.2.3"), 32,
	    addr(&b, "10.1.2.4")), 0);
	ck_assert_int_eq(ban_covers(addr(&a, "10.0.0.0"), 20,
	    addr(&b, "10.0.15.255")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "10.0.0.0"), 20,
	    addr(&b, "10.0.16.0")), 0);
	/* Host bits of the ban itself do not matter. */
	ck_assert_int_eq(ban_covers(addr(&a, "10.9.9.9"), 8,
	    addr(&b, "10.0.0.1")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "0.0.0.0"), 0,
	    addr(&b, "203.0.113.9")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "0.0.0.0"), 0,
	    addr(&b, "::1")), 0);
	ck_assert_int_eq(ban_covers(addr(&a, "::"), 0,
	    addr(&b, "2001::1")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "::"), 0,
	    addr(&b, "1.2.3.4")), 0);
	ck_assert_int_eq(ban_covers(addr(&a, "::ffff:10.0.0.0"), 8,
	    addr(&b, "10.2.3.4")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "10.0.0.0"), 8,
	    addr(&b, "::ffff:10.2.3.4")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "::ffff:10.0.0.0"), 104,
	    addr(&b, "10.0.0.4")), 0);	/* 104 > 32 for IPv4 */
	ck_assert_int_eq(ban_covers(addr(&a, "10.0.0.0"), 33,
	    addr(&b, "10.0.0.0")), 0);
	ck_assert_int_eq(ban_covers(addr(&a, "2001:db8::"), 32,
	    addr(&b, "2001:db8:ffff::1")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "2001:db8::"), 33,
	    addr(&b, "2001:db8:7fff::1")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "2001:db8::"), 33,
	    addr(&b, "2001:db8:8000::")), 0);
	ck_assert_int_eq(ban_covers(addr(&a, "2001:db8::1"), 128,
	    addr(&b, "2001:db8::1")), 1);
	ck_assert_int_eq(ban_covers(addr(&a, "2001:db8::1"), 128,
	    addr(&b, "2001:db8::2")), 0);
	ck_assert_int_eq(ban_covers(addr(&a, "2001:db8::"), 129,
	    addr(&b, "2001:db8::")), 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_int_eq(ban_covers((struct sockaddr *)&sun, 0,
	    addr(&b, "1.2.3.4")), 0);
	ck_assert_int_eq(ban_covers(addr(&a, "0.0.0.0"), 0,
	    (struct sockaddr *)&sun), 0);
}
END_TEST

/* A random address: IPv4 in 10.0.0.0/8 or IPv6 in 2001:db8::/32, sparse. */
static const struct sockaddr *
rand_addr(struct sockaddr_storage *ss, uint8_t a[16], int v6)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	static const uint8_t	 db8[4] = { 0x20, 0x01, 0x0d, 0xb8 };
	unsigned		 i;

	memset(ss, 0, sizeof(*ss));
	memset(a, 0, 16);
	if (!v6) {
		a[0] = 10;
		for (i = 1; i < 4; i++)
			a[i] = random() % 2 ? (uint8_t)random() : 0;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
	} else {
		memcpy(a, db8, 4);
		for (i = 4; i < 16; i++)
			a[i] = random() % 4 == 0 ? (uint8_t)random() : 0;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a, 16);
	}
	return (const struct sockaddr *)ss;
}

struct model_ban {
	uint8_t		 a[16];
	int		 v6;
	unsigned	 plen;
	uint64_t	 expiry;	/* 0: none */
};

struct seen {
	size_t		 n;
	struct {
		char		 text[INET6_ADDRSTRLEN];
		int		 family;
		unsigned	 plen;
		uint64_t	 left;
	}		 b[64];
	struct model_ban *model;	/* when set: count matches in it */
	size_t		 nmodel, matched;
	uint64_t	 now;
};

static void
collect(void *arg, const struct sockaddr *sa, unsigned plen, uint64_t left)
{
	struct seen			*s = arg;
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	size_t				 i;

	ck_assert_uint_ge(left, 1);
	ck_assert(sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
	if (s->model != NULL) {
		for (i = 0; i < s->nmodel; i++) {
			struct model_ban *m = &s->model[i];

			if (m->expiry > s->now && m->plen == plen &&
			    (sa->sa_family == AF_INET6) == m->v6 &&
			    same_bits(m->a, sa->sa_family == AF_INET ?
			    (const uint8_t *)&sin->sin_addr :
			    sin6->sin6_addr.s6_addr, plen)) {
				ck_assert_uint_eq(left, m->expiry - s->now);
				s->matched++;
				return;
			}
		}
		ck_abort_msg("foreach listed a ban not in the model");
	}
	ck_assert_uint_lt(s->n, 64);
	if (sa->sa_family == AF_INET) {
		ck_assert_uint_eq(sin->sin_port, 0);
		inet_ntop(AF_INET, &sin->sin_addr, s->b[s->n].text,
		    sizeof(s->b[s->n].text));
	} else {
		ck_assert_uint_eq(sin6->sin6_port, 0);
		inet_ntop(AF_INET6, &sin6->sin6_addr, s->b[s->n].text,
		    sizeof(s->b[s->n].text));
	}
	s->b[s->n].family = sa->sa_family;
	s->b[s->n].plen = plen;
	s->b[s->n].left = left;
	s->n++;
}

/* Index of text/plen in what foreach listed, -1 when absent. */
static int
seen_find(const struct seen *s, const char *text, unsigned plen)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->b[i].text, text) == 0 && s->b[i].plen == plen)
			return (int)i;
	return -1;
}

/*
 * Random bans of every length, checks, removals and expiry against a plain
 * array; ban_check() must return the longest lasting covering ban.
 */
START_TEST(test_many_lengths)
{
	struct ban_table	*bt = ban_new(4096, 32, 128);
	struct sockaddr_storage	 ss, s2;
	struct model_ban	 m[400];
	struct seen		 seen;
	uint8_t			 a[16];
	uint64_t		 now = 0, want, ttl;
	size_t			 nm = 0, i, live;
	unsigned		 it, plen, op;
	int			 v6, found;

	memset(m, 0, sizeof(m));
	srandom(7);
	for (it = 0; it < 20000; it++) {
		op = (unsigned)random() % 10;
		v6 = (int)(random() % 2);
		now += (unsigned)random() % 3;
		rand_addr(&ss, a, v6);
		if (op < 3 && nm < 400) {
			/* Mostly long prefixes, some short ones. */
			plen = random() % 4 == 0 ? (unsigned)random() %
			    (v6 ? 129 : 33) : (v6 ? 64 + (unsigned)random() %
			    65 : 16 + (unsigned)random() % 17);
			ttl = 1 + (unsigned)random() % 300;
			for (found = 0, i = 0; i < nm; i++)
				if (m[i].expiry > now && m[i].v6 == v6 &&
				    m[i].plen == plen &&
				    same_bits(m[i].a, a, plen)) {
					if (m[i].expiry < now + ttl)
						m[i].expiry = now + ttl;
					found = 1;
				}
			if (!found) {
				memcpy(m[nm].a, a, 16);
				m[nm].v6 = v6;
				m[nm].plen = plen;
				m[nm++].expiry = now + ttl;
			}
			ck_assert_int_eq(ban_add_prefix(bt,
			    (const struct sockaddr *)&ss, plen, now, ttl), 0);
		} else if (op < 9) {
			for (want = 0, i = 0; i < nm; i++)
				if (m[i].expiry > now && m[i].v6 == v6 &&
				    same_bits(m[i].a, a, m[i].plen)) {
					if (m[i].expiry - now > want)
						want = m[i].expiry - now;
					/* Cross-check ban_covers(). */
					rand_addr(&s2, a, v6);
					memcpy(v6 ? (void *)&((struct
					    sockaddr_in6 *)&s2)->sin6_addr :
					    (void *)&((struct sockaddr_in *)
					    &s2)->sin_addr, m[i].a, v6 ? 16 :
					    4);
					ck_assert_int_eq(ban_covers(
					    (const struct sockaddr *)&s2,
					    m[i].plen,
					    (const struct sockaddr *)&ss), 1);
					memcpy(a, v6 ? (const void *)&((struct
					    sockaddr_in6 *)&ss)->sin6_addr :
					    (const void *)&((struct sockaddr_in
					    *)&ss)->sin_addr, v6 ? 16 : 4);
				}
			ck_assert_uint_eq(ban_check(bt,
			    (const struct sockaddr *)&ss, now), want);
		} else if (nm > 0) {
			i = (size_t)random() % nm;
			memset(&s2, 0, sizeof(s2));
			if (m[i].v6) {
				s2.ss_family = AF_INET6;
				memcpy(&((struct sockaddr_in6 *)&s2)->sin6_addr,
				    m[i].a, 16);
			} else {
				s2.ss_family = AF_INET;
				memcpy(&((struct sockaddr_in *)&s2)->sin_addr,
				    m[i].a, 4);
			}
			/* ban_check() may already have dropped it if expired. */
			found = ban_remove_prefix(bt,
			    (const struct sockaddr *)&s2, m[i].plen);
			if (m[i].expiry > now)
				ck_assert_int_eq(found, 1);
			m[i] = m[--nm];
		}
		/* Forget what expired: ban_check() may have dropped it. */
		for (i = 0; i < nm; i++)
			if (m[i].expiry <= now)
				m[i] = m[--nm], i--;
	}
	/* The listing is exactly the live model. */
	memset(&seen, 0, sizeof(seen));
	seen.model = m;
	seen.nmodel = nm;
	seen.now = now;
	ban_foreach(bt, now, collect, &seen);
	for (live = 0, i = 0; i < nm; i++)
		live += m[i].expiry > now;
	ck_assert_uint_eq(seen.matched, live);
	ck_assert_uint_gt(live, 10);
	ban_free(bt);
}
END_TEST

START_TEST(test_foreach)
{
	struct ban_table	*bt = ban_new(64, 32, 64);
	struct sockaddr_storage	 ss;
	struct seen		 seen;
	int			 i;

	memset(&seen, 0, sizeof(seen));
	ban_foreach(bt, 0, collect, &seen);
	ck_assert_uint_eq(seen.n, 0);

	ck_assert_int_eq(ban_add(bt, addr(&ss, "192.0.2.7"), 1000, 60000), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.1.2.3"), 8, 1000,
	    500), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "::ffff:172.16.9.9"), 12,
	    1000, 3000), 0);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "2001:db8:1:2:3::4"), 1000,
	    2000), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8:ab::"), 40,
	    1000, 10000), 0);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "198.51.100.1"), 1000, 400), 0);

	ban_foreach(bt, 1500, collect, &seen);
	ck_assert_uint_eq(ban_count(bt), 6);	/* the listing drops none */
	ck_assert_uint_eq(seen.n, 4);
	ck_assert_int_eq(seen_find(&seen, "10.0.0.0", 8), -1);	/* expired */
	ck_assert_int_eq(seen_find(&seen, "198.51.100.1", 32), -1);
	ck_assert_int_ge(i = seen_find(&seen, "192.0.2.7", 32), 0);
	ck_assert_int_eq(seen.b[i].family, AF_INET);
	ck_assert_uint_eq(seen.b[i].left, 59500);
	ck_assert_int_ge(i = seen_find(&seen, "172.16.0.0", 12), 0);
	ck_assert_int_eq(seen.b[i].family, AF_INET);
	ck_assert_uint_eq(seen.b[i].left, 2500);
	ck_assert_int_ge(i = seen_find(&seen, "2001:db8:1:2::", 64), 0);
	ck_assert_int_eq(seen.b[i].family, AF_INET6);
	ck_assert_uint_eq(seen.b[i].left, 1500);
	ck_assert_int_ge(i = seen_find(&seen, "2001:db8::", 40), 0);
	ck_assert_uint_eq(seen.b[i].left, 9500);

	/* At the last ms of a ban it is listed with 1 left, then not. */
	memset(&seen, 0, sizeof(seen));
	ban_foreach(bt, 10999, collect, &seen);
	ck_assert_uint_eq(seen.n, 2);
	ck_assert_int_ge(i = seen_find(&seen, "2001:db8::", 40), 0);
	ck_assert_uint_eq(seen.b[i].left, 1);
	memset(&seen, 0, sizeof(seen));
	ban_foreach(bt, 11000, collect, &seen);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_ge(seen_find(&seen, "192.0.2.7", 32), 0);
	ban_free(bt);
}
END_TEST

/* A fresh directory for ban files; the caller removes it. */
static void
tmpdir(char *dir, size_t size)
{
	snprintf(dir, size, "%s/h2g-bantest-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Writes s to path. */
static void
put_file(const char *path, const char *s, size_t len)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(s, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Lines in path, with its first line in first. */
static int
count_lines(const char *path, char *first, size_t size)
{
	FILE	*f = fopen(path, "r");
	char	 line[256];
	int	 n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (n++ == 0)
			snprintf(first, size, "%s", line);
	fclose(f);
	return n;
}

#define WALL	1700000000000ULL	/* a wall clock in ms, Nov 2023 */

START_TEST(test_save_load)
{
	struct ban_table	*bt = ban_new(64, 32, 128), *bt2;
	struct sockaddr_storage	 ss;
	struct seen		 seen;
	char			 dir[256], path[300], tmp[310], first[256];
	int			 err_line = -1, i;

	tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/bans", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	/* Monotonic 5000 is wall WALL; saved at monotonic 6000. */
	ck_assert_int_eq(ban_add(bt, addr(&ss, "192.0.2.7"), 5000, 60000), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "10.1.1.1"), 8, 5000,
	    3600000), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "2001:db8::"), 32, 5000,
	    120000), 0);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "2001:db8:1:2::9"), 5000,
	    40000), 0);
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "::ffff:198.51.100.9"),
	    24, 5000, 10000), 0);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "203.0.113.5"), 5000,
	    UINT64_MAX), 0);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "203.0.113.6"), 5000, 10), 0);
	ck_assert_int_eq(ban_save(bt, path, 6000, WALL + 1000), 6);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(count_lines(path, first, sizeof(first)), 7);
	ck_assert_str_eq(first, "# h2guard bans v1\n");

	/*
	 * Restarted: monotonic 100 is wall WALL + 31000, 30 s after the
	 * save.  198.51.100.0/24 (9 s left at the save) is gone.
	 */
	bt2 = ban_new(64, 32, 128);
	ck_assert_int_eq(ban_load(bt2, path, 100, WALL + 31000, &err_line), 5);
	ck_assert_int_eq(err_line, 0);
	ck_assert_uint_eq(ban_count(bt2), 5);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "192.0.2.7"), 100),
	    60000 - 1000 - 30000);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "10.200.0.1"), 100),
	    3600000 - 31000);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "2001:db8:ffff::1"), 100),
	    120000 - 31000);
	/* Inside 2001:db8::/32 too: the longest lasting ban counts. */
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "2001:db8:1:2::9"), 100),
	    120000 - 31000);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "198.51.100.9"), 100), 0);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "203.0.113.5"), 100),
	    UINT64_MAX - 100);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "203.0.113.6"), 100), 0);
	memset(&seen, 0, sizeof(seen));
	ban_foreach(bt2, 100, collect, &seen);
	ck_assert_uint_eq(seen.n, 5);
	ck_assert_int_ge(i = seen_find(&seen, "10.0.0.0", 8), 0);
	ck_assert_uint_eq(seen.b[i].left, 3600000 - 31000);
	ck_assert_int_ge(i = seen_find(&seen, "2001:db8::", 32), 0);
	ck_assert_uint_eq(seen.b[i].left, 120000 - 31000);
	ck_assert_int_ge(i = seen_find(&seen, "2001:db8:1:2::9", 128), 0);
	ck_assert_uint_eq(seen.b[i].left, 40000 - 31000);
	ck_assert_int_ge(i = seen_find(&seen, "192.0.2.7", 32), 0);
	ck_assert_uint_eq(seen.b[i].left, 60000 - 1000 - 30000);
	ck_assert_int_ge(i = seen_find(&seen, "203.0.113.5", 32), 0);
	ck_assert_uint_eq(seen.b[i].left, UINT64_MAX - 100);

	/* Saved again and loaded later still: only the long ones are left. */
	ck_assert_int_eq(ban_save(bt2, path, 100, WALL + 31000), 5);
	ban_free(bt2);
	bt2 = ban_new(64, 24, 48);	/* and a coarser unit now */
	ck_assert_int_eq(ban_load(bt2, path, 0, WALL + 200000, &err_line), 2);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "10.0.0.1"), 0),
	    3600000 - 200000);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "203.0.113.200"), 0),
	    UINT64_MAX);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "192.0.2.7"), 0), 0);
	ck_assert_uint_eq(ban_check(bt2, addr(&ss, "2001:db8:1:2::9"), 0), 0);
	ck_assert_uint_eq(ban_count(bt2), 2);
	ban_free(bt2);

	/* A table smaller than the file keeps the bans with most time left. */
	ck_assert_int_eq(ban_save(bt, path, 6000, WALL + 1000), 6);
	bt2 = ban_new(2, 32, 128);
	ck_assert_int_ge(ban_load(bt2, path, 0, WALL + 1000, NULL), 2);
	ck_assert_uint_eq(ban_count(bt2), 2);
	ck_assert_uint_ne(ban_check(bt2, addr(&ss, "203.0.113.5"), 0), 0);
	ck_assert_uint_ne(ban_check(bt2, addr(&ss, "10.0.0.1"), 0), 0);
	ban_free(bt2);

	/* An empty table writes the header alone. */
	bt2 = ban_new(4, 32, 128);
	ck_assert_int_eq(ban_save(bt2, path, 0, WALL), 0);
	ck_assert_int_eq(count_lines(path, first, sizeof(first)), 1);
	ck_assert_int_eq(ban_load(bt2, path, 0, WALL, &err_line), 0);
	ck_assert_int_eq(err_line, 0);
	ban_free(bt2);

	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	ban_free(bt);
}
END_TEST

START_TEST(test_load_errors)
{
	struct ban_table	*bt = ban_new(64, 32, 128);
	struct sockaddr_storage	 ss;
	char			 dir[256], path[300], buf[4096];
	int			 err_line = -1;
	size_t			 len;
	static const char	 nul[] = "# h2guard bans v1\n"
	    "10.0.0.0/8 1700000100000\n"
	    "11.0.0.0/8 17\0" "00000100000\n"
	    "12.0.0.0/8 1700000100000\n";

	tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/bans", dir);

	/* Missing: nothing, no error. */
	ck_assert_int_eq(ban_load(bt, path, 0, WALL, &err_line), 0);
	ck_assert_int_eq(err_line, 0);
	/* Empty: the same. */
	put_file(path, "", 0);
	ck_assert_int_eq(ban_load(bt, path, 0, WALL, &err_line), 0);
	ck_assert_int_eq(err_line, 0);

	len = (size_t)snprintf(buf, sizeof(buf), "# h2guard bans v1\r\n"
	    "192.0.2.1/32 1700000100000\n"		/* 2: good */
	    "\n"					/* 3: blank */
	    "# a comment\n"				/* 4 */
	    "192.0.2.300/32 1700000100000\n"		/* 5: first bad */
	    "10.0.0.0/33 1700000100000\n"		/* 6: plen */
	    "::ffff:10.0.0.0/120 1700000100000\n"	/* 7: plen of v4 */
	    "10.0.0.0/8\n"				/* 8: no expiry */
	    "10.0.0.0/8 17000001x\n"			/* 9 */
	    "10.0.0.0/8 18446744073709551616\n"		/* 10: overflow */
	    "10.0.0.0 1700000100000\n"			/* 11: no plen */
	    "/8 1700000100000\n"			/* 12 */
	    "10.0.0.0/-8 1700000100000\n"		/* 13 */
	    "10.0.0.0/8 1700000100000 junk\n"		/* 14 */
	    " 10.0.0.0/8 1700000100000\n"		/* 15 */
	    "192.0.2.99/32 1%0200d\n"			/* 16: too long */
	    "2001:db8::/32 1700000100000\r\n"		/* 17: good, CRLF */
	    "198.51.100.0/24 1699999999999\n"		/* 18: expired */
	    "203.0.113.0/24\t1700000050000 \n"		/* 19: good */
	    "10.20.0.0/16 1700000100000",		/* 20: good, no \n */
	    0);
	ck_assert_uint_lt(len, sizeof(buf));
	put_file(path, buf, len);
	ck_assert_int_eq(ban_load(bt, path, 0, WALL, &err_line), -EINVAL);
	ck_assert_int_eq(err_line, 5);
	ck_assert_uint_eq(ban_count(bt), 4);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.1"), 0), 100000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db8:5::"), 0), 100000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "203.0.113.9"), 0), 50000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.20.3.4"), 0), 100000);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "10.1.0.0"), 0), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "198.51.100.1"), 0), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.99"), 0), 0);
	ban_free(bt);

	/* A NUL byte makes its line malformed, not shorter. */
	bt = ban_new(64, 32, 128);
	put_file(path, nul, sizeof(nul) - 1);
	ck_assert_int_eq(ban_load(bt, path, 0, WALL, &err_line), -EINVAL);
	ck_assert_int_eq(err_line, 3);
	ck_assert_uint_eq(ban_count(bt), 2);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "11.0.0.1"), 0), 0);

	/* Not our header: nothing is loaded. */
	ban_free(bt);
	bt = ban_new(64, 32, 128);
	put_file(path, "# h2guard bans v2\n10.0.0.0/8 1700000100000\n", 42);
	ck_assert_int_eq(ban_load(bt, path, 0, WALL, &err_line), -EINVAL);
	ck_assert_int_eq(err_line, 1);
	put_file(path, "10.0.0.0/8 1700000100000\n", 25);
	ck_assert_int_eq(ban_load(bt, path, 0, WALL, NULL), -EINVAL);
	ck_assert_uint_eq(ban_count(bt), 0);

	/* Other errors. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_lt(ban_load(bt, dir, 0, WALL, &err_line), 0);
	ck_assert_int_ne(ban_load(bt, dir, 0, WALL, &err_line), -EINVAL);
	snprintf(path, sizeof(path), "%s/nodir/bans", dir);
	ck_assert_int_eq(ban_save(bt, path, 0, WALL), -ENOENT);
	ck_assert_int_eq(rmdir(dir), 0);
	ban_free(bt);
}
END_TEST

/* ---- hooks: a mirror kept by ban_set_hooks() alone ------------------------ */

#define MIRROR_MAX	64

struct mirror {
	struct {
		uint8_t		 addr[16];
		unsigned	 len, plen;
		uint64_t	 expiry;
	} e[MIRROR_MAX];
	size_t		 n;
	uint64_t	 now;
	size_t		 listed;	/* ban_foreach() entries found */
};

static ssize_t
mirror_find(const struct mirror *m, const uint8_t *addr, unsigned len,
    unsigned plen)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->e[i].len == len && m->e[i].plen == plen &&
		    memcmp(m->e[i].addr, addr, len) == 0)
			return (ssize_t)i;
	return -1;
}

static void
mirror_set(void *arg, const uint8_t *addr, unsigned len, unsigned plen,
    uint64_t expiry_ms, int added)
{
	struct mirror	*m = arg;
	ssize_t		 i = mirror_find(m, addr, len, plen);

	ck_assert_int_eq(added, i < 0);
	if (i < 0) {
		ck_assert_uint_lt(m->n, MIRROR_MAX);
		i = (ssize_t)m->n++;
		memcpy(m->e[i].addr, addr, len);
		m->e[i].len = len;
		m->e[i].plen = plen;
	} else
		ck_assert_uint_gt(expiry_ms, m->e[i].expiry);
	m->e[i].expiry = expiry_ms;
}

static void
mirror_unset(void *arg, const uint8_t *addr, unsigned len, unsigned plen)
{
	struct mirror	*m = arg;
	ssize_t		 i = mirror_find(m, addr, len, plen);

	ck_assert_int_ge(i, 0);
	m->e[i] = m->e[--m->n];
}

static void
mirror_listed(void *arg, const struct sockaddr *sa, unsigned plen,
    uint64_t left_ms)
{
	struct mirror	*m = arg;
	const uint8_t	*a;
	unsigned	 len;
	ssize_t		 i;

	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		len = 4;
	} else {
		a = ((const struct sockaddr_in6 *)(const void *)sa)
		    ->sin6_addr.s6_addr;
		len = 16;
	}
	i = mirror_find(m, a, len, plen);
	ck_assert_int_ge(i, 0);
	ck_assert_uint_eq(m->e[i].expiry, m->now + left_ms);
	m->listed++;
}

/* Random changes to a small table: additions, extensions, evictions,
 * removals and expiry all reach the mirror, and nothing else does. */
START_TEST(test_hooks)
{
	static const struct ban_hooks hooks = { mirror_set, mirror_unset };
	struct ban_table	*bt = ban_new(40, 24, 64);
	struct sockaddr_storage	 ss;
	struct mirror		 m;
	uint64_t		 now = 1;
	size_t			 live;
	unsigned		 i, a, op;

	memset(&m, 0, sizeof(m));
	ban_set_hooks(bt, &hooks, &m);
	srandom(7);
	for (i = 0; i < 20000; i++) {
		op = (unsigned)random() % 10;
		a = (unsigned)random() % 200;
		now += (unsigned)random() % 3;
		if (op < 4)
			ban_add(bt, nth(&ss, a << 8, a & 1), now,
			    1 + (unsigned)random() % 300);
		else if (op < 5)
			ban_add_prefix(bt, nth(&ss, a << 8, a & 1), 16, now,
			    1 + (unsigned)random() % 300);
		else if (op < 7)
			ban_check(bt, nth(&ss, a << 8, a & 1), now);
		else if (op < 9)
			ban_remove(bt, nth(&ss, a << 8, a & 1));
		else
			ban_expire(bt, now);
		ck_assert_uint_eq(m.n, ban_count(bt));
	}
	m.now = now;
	ban_foreach(bt, now, mirror_listed, &m);
	for (live = 0, i = 0; i < m.n; i++)
		live += m.e[i].expiry > now;
	ck_assert_uint_eq(m.listed, live);
	ck_assert_uint_gt(live, 5);
	ban_expire(bt, UINT64_MAX);
	ck_assert_uint_eq(m.n, 0);
	/* Without hooks, nothing is reported. */
	ban_set_hooks(bt, NULL, NULL);
	ck_assert_int_eq(ban_add(bt, nth(&ss, 1, 0), now, 10), 0);
	ck_assert_uint_eq(m.n, 0);
	ban_free(bt);
}
END_TEST

/*
 * ban_set_aggregate(): 16 unit bans in one /24 (IPv4) or /48 (IPv6 /64
 * units) ban the prefix for the longest of their times; then a unit ban it
 * covers adds no entry, so one network cannot push the others out.
 */
START_TEST(test_aggregate)
{
	struct ban_table	*bt = ban_new(1000, 32, 64);
	struct sockaddr_storage	 ss;
	char			 a[64];
	size_t			 n;
	int			 i;

	ban_set_aggregate(bt, 16);
	ck_assert_uint_eq(ban_aggregate_plen(bt, AF_INET), 24);
	ck_assert_uint_eq(ban_aggregate_plen(bt, AF_INET6), 48);
	for (i = 1; i <= 15; i++) {
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		ck_assert_int_eq(ban_add(bt, addr(&ss, a), 1000, 60000 + i), 0);
	}
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.200"), 1000), 0);
	/* The 16th: the /24, for the longest of them. */
	ck_assert_int_eq(ban_add(bt, addr(&ss, "192.0.2.16"), 1000, 30000), 1);
	ck_assert_uint_eq(ban_count(bt), 17);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.200"), 1000), 60015);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.3.1"), 1000), 0);
	/* Covered now: no entry more; a longer one extends the /24. */
	ck_assert_int_eq(ban_add(bt, addr(&ss, "192.0.2.100"), 1000, 60000), 0);
	ck_assert_uint_eq(ban_count(bt), 17);
	ck_assert_int_eq(ban_add(bt, addr(&ss, "192.0.2.101"), 1000, 90000), 1);
	ck_assert_uint_eq(ban_count(bt), 18);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.250"), 1000), 90000);
	/* Prefix bans are the admin's: always their own entry. */
	ck_assert_int_eq(ban_add_prefix(bt, addr(&ss, "192.0.2.128"), 25, 1000,
	    1000), 0);
	ck_assert_uint_eq(ban_count(bt), 19);
	/* IPv6: 16 /64s of one /48. */
	for (i = 0; i < 16; i++) {
		snprintf(a, sizeof(a), "2001:db8:1:%x::1", i);
		ck_assert_int_eq(ban_add(bt, addr(&ss, a), 1000, 60000),
		    i == 15);
	}
	ck_assert_uint_gt(ban_check(bt, addr(&ss, "2001:db8:1:ffff::9"), 1000), 0);
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "2001:db8:2::1"), 1000), 0);
	/* Expiry drops the counts with the bans: a fresh start. */
	n = ban_count(bt);
	ck_assert_uint_eq(ban_expire(bt, 100000), n);
	ck_assert_uint_eq(ban_count(bt), 0);
	for (i = 1; i <= 15; i++) {
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		ck_assert_int_eq(ban_add(bt, addr(&ss, a), 100000, 1000), 0);
	}
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.200"), 100000), 0);
	ban_free(bt);

	/* Off: 16 bans are 16 bans. */
	bt = ban_new(1000, 32, 64);
	for (i = 1; i <= 16; i++) {
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		ck_assert_int_eq(ban_add(bt, addr(&ss, a), 1000, 60000), 0);
	}
	ck_assert_uint_eq(ban_check(bt, addr(&ss, "192.0.2.200"), 1000), 0);
	ban_free(bt);
}
END_TEST

/*
 * A network that gets thousands of its addresses banned (short ttls, in a
 * full table) cannot evict the other bans: past 16 its bans add nothing.
 */
START_TEST(test_aggregate_flush)
{
	struct ban_table	*bt = ban_new(200, 32, 64);
	struct sockaddr_storage	 ss;
	char			 a[64];
	int			 i;

	ban_set_aggregate(bt, 16);
	for (i = 0; i < 100; i++) {
		snprintf(a, sizeof(a), "198.51.%d.7", i);
		ck_assert_int_ge(ban_add(bt, addr(&ss, a), 1000, 3600000), 0);
	}
	for (i = 0; i < 10000; i++) {
		snprintf(a, sizeof(a), "2001:db8:1:%x::1", i);
		ck_assert_int_ge(ban_add(bt, addr(&ss, a), 1000, 60000), 0);
	}
	ck_assert_uint_le(ban_count(bt), 100 + 16 + 1);
	for (i = 0; i < 100; i++) {
		snprintf(a, sizeof(a), "198.51.%d.7", i);
		ck_assert_uint_gt(ban_check(bt, addr(&ss, a), 2000), 0);
	}
	ck_assert_uint_gt(ban_check(bt, addr(&ss, "2001:db8:1::1"), 2000), 0);
	ban_free(bt);
}
END_TEST


static Suite *
bantable_suite(void)
{
	Suite	*s = suite_create("bantable");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_add_check_remove);
	tcase_add_test(tc, test_ttl_expiry);
	tcase_add_test(tc, test_extend_not_shorten);
	tcase_add_test(tc, test_prefix);
	tcase_add_test(tc, test_v4_mapped);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_expire);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_random_model);
	tcase_add_test(tc, test_unsupported_family);
	tcase_add_test(tc, test_prefix_bans);
	tcase_add_test(tc, test_prefix_shortened);
	tcase_add_test(tc, test_remove_prefix);
	tcase_add_test(tc, test_covers);
	tcase_add_test(tc, test_lengths);
	tcase_add_test(tc, test_many_lengths);
	tcase_add_test(tc, test_foreach);
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_hooks);
	tcase_add_test(tc, test_aggregate);
	tcase_add_test(tc, test_aggregate_flush);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(bantable_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
