/*
 * test_bantable.c - unit tests for proxy/bantable.c: lookups, expiry,
 * prefix aggregation, IPv4-mapped addresses, the bound and growth.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	ck_assert_uint_eq(ban_expire(bt, 55), 5);
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
