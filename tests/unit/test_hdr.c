/*
 * test_hdr.c - unit tests for proxy/hdr.c: header lists, hop-by-hop fields,
 * the field accumulator used with http_parser.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/hdr.h"

START_TEST(test_add_get_lower)
{
	struct hdrlist		 l = { 0 };
	const struct hdr	*h;
	int			 i;

	ck_assert_int_eq(hdrlist_add(&l, "X-Foo", 5, "Bar", 3, 1), 0);
	ck_assert_int_eq(hdrlist_add(&l, "x-foo", 5, "second", 6, 1), 0);
	for (i = 0; i < 40; i++)	/* grows past the first allocation */
		ck_assert_int_eq(hdrlist_add(&l, "n", 1, "v", 1, 0), 0);
	ck_assert_uint_eq(l.n, 42);
	ck_assert_uint_eq(l.bytes, 5 + 3 + 5 + 6 + 40 * 2);
	h = hdrlist_get(&l, "x-foo");
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(h->name, "x-foo");
	ck_assert_str_eq(h->value, "Bar");
	ck_assert_ptr_null(hdrlist_get(&l, "X-Foo"));
	ck_assert_ptr_null(hdrlist_get(&l, "x-fo"));
	hdrlist_clear(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(hdrlist_get(&l, "x-foo"));
}
END_TEST

START_TEST(test_hop_by_hop)
{
	ck_assert(hdr_hop_by_hop("connection", 10));
	ck_assert(hdr_hop_by_hop("transfer-encoding", 17));
	ck_assert(hdr_hop_by_hop("keep-alive", 10));
	ck_assert(hdr_hop_by_hop("upgrade", 7));
	ck_assert(hdr_hop_by_hop("te", 2));
	ck_assert(!hdr_hop_by_hop("content-type", 12));
	ck_assert(!hdr_hop_by_hop("t", 1));
	ck_assert(!hdr_hop_by_hop("connectio", 9));
}
END_TEST

START_TEST(test_in_connection)
{
	struct hdrlist l = { 0 };

	hdrlist_add(&l, "Connection", 10, "close, X-Secret ,foo", 20, 1);
	ck_assert(hdr_in_connection(&l, "x-secret", 8));
	ck_assert(hdr_in_connection(&l, "foo", 3));
	ck_assert(hdr_in_connection(&l, "close", 5));
	ck_assert(!hdr_in_connection(&l, "x-secre", 7));
	ck_assert(!hdr_in_connection(&l, "bar", 3));
	hdrlist_clear(&l);
}
END_TEST

START_TEST(test_acc_split)
{
	struct hdr_acc	 a = { 0 };
	struct hdrlist	 l = { 0 };

	/* "Content-Type:  text/html \r\nX-Empty:\r\nHost: a" in pieces */
	ck_assert_int_eq(hdr_acc_field(&a, &l, "Cont", 4), 0);
	ck_assert_int_eq(hdr_acc_field(&a, &l, "ent-Type", 8), 0);
	ck_assert_int_eq(hdr_acc_value(&a, " text/", 6), 0);
	ck_assert_int_eq(hdr_acc_value(&a, "html ", 5), 0);
	ck_assert_int_eq(hdr_acc_field(&a, &l, "X-Empty", 7), 0);
	ck_assert_int_eq(hdr_acc_value(&a, "", 0), 0);	/* as http_parser does */
	ck_assert_int_eq(hdr_acc_field(&a, &l, "Host", 4), 0);
	ck_assert_int_eq(hdr_acc_value(&a, "a", 1), 0);
	ck_assert_int_eq(hdr_acc_flush(&a, &l), 0);
	ck_assert_int_eq(hdr_acc_flush(&a, &l), 0);	/* nothing pending */
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.v[0].name, "content-type");
	ck_assert_str_eq(l.v[0].value, "text/html");
	ck_assert_str_eq(l.v[1].name, "x-empty");
	ck_assert_str_eq(l.v[1].value, "");
	ck_assert_str_eq(l.v[2].name, "host");
	ck_assert_str_eq(l.v[2].value, "a");
	hdrlist_clear(&l);
	hdr_acc_free(&a);
}
END_TEST

START_TEST(test_idempotent)
{
	ck_assert(http_method_idempotent("GET"));
	ck_assert(http_method_idempotent("PUT"));
	ck_assert(http_method_idempotent("DELETE"));
	ck_assert(!http_method_idempotent("POST"));
	ck_assert(!http_method_idempotent("PATCH"));
}
END_TEST

START_TEST(test_reason)
{
	ck_assert_str_eq(http_reason(502), "Bad Gateway");
	ck_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	ck_assert_str_eq(http_reason(599), "Status");
}
END_TEST

static Suite *
hdr_suite(void)
{
	Suite	*s = suite_create("hdr");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_add_get_lower);
	tcase_add_test(tc, test_hop_by_hop);
	tcase_add_test(tc, test_in_connection);
	tcase_add_test(tc, test_acc_split);
	tcase_add_test(tc, test_idempotent);
	tcase_add_test(tc, test_reason);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(hdr_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
