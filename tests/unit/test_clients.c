/*
 * test_clients.c - unit tests for proxy/clients.c: one entry per address
 * (or prefix), IPv4-mapped addresses, the bound and least recently seen
 * eviction.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/clients.h"
#include "tests/unit/testaddr.h"

/* Whether c is a fresh entry: zeroed counters. */
static int
is_fresh(const struct client *c)
{
	return c->conns.win == 0 && c->conns.cur == 0 && c->conns.prev == 0 &&
	    c->streams.win == 0 && c->streams.cur == 0 &&
	    c->streams.prev == 0 && c->quiet_until == 0;
}

/* Marks c with counts derived from tag. */
static void
mark(struct client *c, uint32_t tag)
{
	c->conns.cur = tag;
	c->streams.cur = tag + 1;
	c->quiet_until = (uint64_t)tag << 20;
}

static int
is_marked(const struct client *c, uint32_t tag)
{
	return c->conns.cur == tag && c->streams.cur == tag + 1 &&
	    c->quiet_until == (uint64_t)tag << 20;
}

static void
same_entry(const char *a)
{
	struct client_table	*ct = clients_new(64, 32, 128);
	struct sockaddr_storage	 ss;
	struct limit		 l = { 3, 1000 };
	struct client		*c;

	ck_assert_ptr_nonnull(ct);
	ck_assert_uint_eq(clients_count(ct), 0);
	c = clients_get(ct, addr(&ss, a), 100);
	ck_assert_ptr_nonnull(c);
	ck_assert(is_fresh(c));
	ck_assert_uint_eq(clients_count(ct), 1);
	ck_assert_int_eq(rate_add(&c->conns, &l, 100, 1), 0);
	ck_assert_int_eq(rate_add(&c->streams, &l, 100, 3), 0);
	c->quiet_until = 5000;

	/* The counts persist from one get to the next. */
	c = clients_get(ct, addr(&ss, a), 200);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(clients_count(ct), 1);
	ck_assert_uint_eq(c->conns.cur, 1);
	ck_assert_uint_eq(c->streams.cur, 3);
	ck_assert_uint_eq(c->quiet_until, 5000);
	ck_assert_int_eq(rate_add(&c->conns, &l, 200, 2), 0);
	ck_assert_int_eq(rate_add(&c->streams, &l, 200, 1), 1);

	c = clients_get(ct, addr(&ss, a), 300);
	ck_assert_int_eq(rate_add(&c->conns, &l, 300, 1), 1);
	ck_assert_uint_eq(clients_count(ct), 1);
	clients_free(ct);
}

START_TEST(test_same_address)
{
	same_entry("192.0.2.7");
	same_entry("2001:db8::7");
	same_entry("0.0.0.0");		/* all zero bytes, still an entry */
	same_entry("::");
	clients_free(NULL);
}
END_TEST

START_TEST(test_different_addresses)
{
	static const char *const a[] = {
		"192.0.2.7", "192.0.2.8", "192.0.3.7", "10.0.0.1",
		"2001:db8::7", "2001:db8::8", "2001:db8:0:1::7", "::1",
		"0.0.0.0", "::",	/* v4 and v6 never the same entry */
	};
	const size_t		 n = sizeof(a) / sizeof(a[0]);
	struct client_table	*ct = clients_new(1000, 32, 128);
	struct sockaddr_storage	 ss;
	struct client		*c;
	size_t			 i;

	for (i = 0; i < n; i++) {
		c = clients_get(ct, addr(&ss, a[i]), i);
		ck_assert_ptr_nonnull(c);
		ck_assert_msg(is_fresh(c), "%s", a[i]);
		mark(c, (uint32_t)i + 1);
		ck_assert_uint_eq(clients_count(ct), i + 1);
	}
	for (i = 0; i < n; i++) {
		c = clients_get(ct, addr(&ss, a[i]), 100 + i);
		ck_assert_msg(is_marked(c, (uint32_t)i + 1), "%s", a[i]);
	}
	ck_assert_uint_eq(clients_count(ct), n);
	clients_free(ct);
}
END_TEST

START_TEST(test_v4_mapped)
{
	struct client_table	*ct = clients_new(64, 32, 128);
	struct sockaddr_storage	 ss;
	struct client		*c;

	c = clients_get(ct, addr(&ss, "192.0.2.7"), 0);
	mark(c, 7);
	c = clients_get(ct, addr(&ss, "::ffff:192.0.2.7"), 1);
	ck_assert(is_marked(c, 7));
	c = clients_get(ct, addr(&ss, "::ffff:198.51.100.1"), 2);
	ck_assert(is_fresh(c));
	mark(c, 9);
	c = clients_get(ct, addr(&ss, "198.51.100.1"), 3);
	ck_assert(is_marked(c, 9));
	ck_assert_uint_eq(clients_count(ct), 2);
	/* Not mapped: a different IPv6 address. */
	c = clients_get(ct, addr(&ss, "::192.0.2.7"), 4);
	ck_assert(is_fresh(c));
	ck_assert_uint_eq(clients_count(ct), 3);
	clients_free(ct);

	/* The IPv4 prefix applies to mapped addresses. */
	ct = clients_new(64, 24, 128);
	mark(clients_get(ct, addr(&ss, "::ffff:192.0.2.7"), 0), 3);
	ck_assert(is_marked(clients_get(ct, addr(&ss, "192.0.2.200"), 1), 3));
	ck_assert_uint_eq(clients_count(ct), 1);
	clients_free(ct);
}
END_TEST

START_TEST(test_prefix)
{
	struct client_table	*ct = clients_new(64, 24, 64);
	struct sockaddr_storage	 ss;
	struct client		*c;

	c = clients_get(ct, addr(&ss, "10.0.0.1"), 0);
	ck_assert(is_fresh(c));
	mark(c, 1);
	ck_assert(is_marked(clients_get(ct, addr(&ss, "10.0.0.200"), 1), 1));
	ck_assert(is_marked(clients_get(ct, addr(&ss, "10.0.0.0"), 2), 1));
	ck_assert(is_marked(clients_get(ct, addr(&ss, "10.0.0.255"), 3), 1));
	ck_assert_uint_eq(clients_count(ct), 1);
	c = clients_get(ct, addr(&ss, "10.0.1.1"), 4);
	ck_assert(is_fresh(c));
	mark(c, 2);
	c = clients_get(ct, addr(&ss, "11.0.0.1"), 5);
	ck_assert(is_fresh(c));
	ck_assert_uint_eq(clients_count(ct), 3);

	c = clients_get(ct, addr(&ss, "2001:db8:1:2::7"), 6);
	ck_assert(is_fresh(c));
	mark(c, 3);
	ck_assert(is_marked(clients_get(ct, addr(&ss,
	    "2001:db8:1:2:ffff:ffff:ffff:ffff"), 7), 3));
	ck_assert(is_marked(clients_get(ct, addr(&ss, "2001:db8:1:2::"), 8),
	    3));
	ck_assert_uint_eq(clients_count(ct), 4);
	c = clients_get(ct, addr(&ss, "2001:db8:1:3::7"), 9);
	ck_assert(is_fresh(c));
	ck_assert_uint_eq(clients_count(ct), 5);

	/* The earlier entries are untouched. */
	ck_assert(is_marked(clients_get(ct, addr(&ss, "10.0.0.9"), 10), 1));
	ck_assert(is_marked(clients_get(ct, addr(&ss, "10.0.1.9"), 11), 2));
	ck_assert(is_marked(clients_get(ct, addr(&ss, "2001:db8:1:2::1"), 12),
	    3));
	ck_assert_uint_eq(clients_count(ct), 5);
	clients_free(ct);

	/* Prefixes not on a byte boundary. */
	ct = clients_new(64, 20, 33);
	mark(clients_get(ct, addr(&ss, "10.0.0.1"), 0), 1);
	ck_assert(is_marked(clients_get(ct, addr(&ss, "10.0.15.255"), 0), 1));
	ck_assert(is_fresh(clients_get(ct, addr(&ss, "10.0.16.0"), 0)));
	mark(clients_get(ct, addr(&ss, "2001:db8::"), 0), 2);
	ck_assert(is_marked(clients_get(ct, addr(&ss, "2001:db8:7fff::"), 0),
	    2));
	ck_assert(is_fresh(clients_get(ct, addr(&ss, "2001:db8:8000::"), 0)));
	ck_assert_uint_eq(clients_count(ct), 4);
	clients_free(ct);
}
END_TEST

START_TEST(test_unsupported_family)
{
	struct client_table	*ct = clients_new(16, 32, 128);
	struct sockaddr_un	 sun;
	struct sockaddr		 sa;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_ptr_null(clients_get(ct, (const struct sockaddr *)&sun, 0));
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNSPEC;
	ck_assert_ptr_null(clients_get(ct, &sa, 0));
	ck_assert_uint_eq(clients_count(ct), 0);
	clients_free(ct);
}
END_TEST

/* Inserts n distinct addresses into a table made for max; checks the bound. */
static void
bound(size_t max, size_t slots, unsigned n)
{
	struct client_table	*ct = clients_new(max, 32, 128);
	struct sockaddr_storage	 ss;
	struct client		*c;
	unsigned		 i;

	ck_assert_ptr_nonnull(ct);
	for (i = 0; i < n; i++) {
		c = clients_get(ct, nth(&ss, i, i & 1), i);
		ck_assert_ptr_nonnull(c);
		ck_assert(is_fresh(c));
		mark(c, i);
		ck_assert_uint_le(clients_count(ct), slots);
	}
	/* Every set has filled up long ago. */
	ck_assert_uint_eq(clients_count(ct), slots);
	/* The last one in is still there. */
	ck_assert(is_marked(clients_get(ct, nth(&ss, n - 1, (n - 1) & 1), n),
	    n - 1));
	ck_assert_uint_eq(clients_count(ct), slots);
	clients_free(ct);
}

START_TEST(test_bound)
{
	bound(16, 16, 10000);	/* two sets of 8 */
	bound(8, 8, 1000);	/* one set */
	bound(1, 8, 1000);	/* at least one set */
	bound(0, 8, 1000);
	bound(9, 16, 1000);	/* rounded up to whole sets */
}
END_TEST

START_TEST(test_no_eviction_below_max)
{
	struct client_table	*ct = clients_new(100000, 32, 128);
	struct sockaddr_storage	 ss;
	unsigned		 i;

	/* 5000 addresses in 16384 sets: some set overflowing is unlikely
	 * (about 1e-6), so every one of them is kept. */
	for (i = 0; i < 5000; i++)
		mark(clients_get(ct, nth(&ss, i, i % 3 == 0), i), i);
	ck_assert_uint_eq(clients_count(ct), 5000);
	for (i = 0; i < 5000; i++)
		ck_assert_msg(is_marked(clients_get(ct, nth(&ss, i, i % 3 == 0),
		    5000 + i), i), "address %u lost", i);
	ck_assert_uint_eq(clients_count(ct), 5000);
	clients_free(ct);
}
END_TEST

START_TEST(test_eviction_lru)
{
	struct client_table	*ct = clients_new(8, 32, 128);	/* one set */
	struct sockaddr_storage	 ss;
	struct client		*c;
	unsigned		 i;

	/* 8 addresses seen at 1..8: the set is full. */
	for (i = 0; i < 8; i++) {
		c = clients_get(ct, nth(&ss, i, i & 1), 1 + i);
		ck_assert(is_fresh(c));
		mark(c, 100 + i);
	}
	ck_assert_uint_eq(clients_count(ct), 8);
	/* The first one is seen again, later than all the others. */
	ck_assert(is_marked(clients_get(ct, nth(&ss, 0, 0), 20), 100));

	/* A 9th takes the place of the one seen least recently: the 2nd. */
	c = clients_get(ct, nth(&ss, 8, 0), 21);
	ck_assert(is_fresh(c));
	mark(c, 108);
	ck_assert_uint_eq(clients_count(ct), 8);

	/* Everyone else is still there with its counts (each get makes it the
	 * most recent, in this order: the 3rd is now the least recent). */
	ck_assert(is_marked(clients_get(ct, nth(&ss, 0, 0), 22), 100));
	for (i = 2; i < 9; i++)
		ck_assert_msg(is_marked(clients_get(ct, nth(&ss, i, i & 1),
		    22 + i), 100 + i), "address %u", i);
	ck_assert_uint_eq(clients_count(ct), 8);

	/* The 2nd comes back afresh, in place of the 1st (seen at 22). */
	c = clients_get(ct, nth(&ss, 1, 1), 40);
	ck_assert(is_fresh(c));
	ck_assert_uint_eq(clients_count(ct), 8);
	c = clients_get(ct, nth(&ss, 0, 0), 41);
	ck_assert(is_fresh(c));		/* it had to go */
	ck_assert_uint_eq(clients_count(ct), 8);
	clients_free(ct);
}
END_TEST

static Suite *
clients_suite(void)
{
	Suite	*s = suite_create("clients");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_same_address);
	tcase_add_test(tc, test_different_addresses);
	tcase_add_test(tc, test_v4_mapped);
	tcase_add_test(tc, test_prefix);
	tcase_add_test(tc, test_unsupported_family);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_no_eviction_below_max);
	tcase_add_test(tc, test_eviction_lru);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(clients_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
