/*
 * test_proxyproto.c - unit tests for proxy/proxyproto.c: v1 and v2 headers,
 * valid and not, fed whole and as they arrive, byte by byte: the answer is
 * "need more" until it is decided, then never changes.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxyproto.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The v2 signature, written out again from the spec. */
static const uint8_t sig[12] = {
	'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'
};

/* Bytes a client sends after the header: must be left alone. */
static const char payload[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

/*
 * Feeds buf[0..n) to pp_parse() one byte more each time, as a socket may
 * deliver it.  Checks that the answer is 0 until it is decided, then never
 * changes; that 0 never takes PP_MAX_HEADER bytes; that out is written only
 * on success.  Each prefix is passed both in a buffer of its exact size (the
 * sanitizer build catches a read past len) and in place, followed by the
 * rest (the answer must not depend on it).  Returns the decision (0 if none)
 * and in *at (if not NULL) the number of bytes it took.
 */
static int
feed(const void *buf, size_t n, size_t *at)
{
	struct pp_result	 r, before, r2;
	size_t			 k, first_at = 0;
	uint8_t			*copy;
	int			 rv, rv2, first = 0;

	/* Plain ifs: a ck_assert per call would slow the long feeds down. */
	for (k = 0; k <= n; k++) {
		memset(&r, 0xa5, sizeof(r));
		memcpy(&before, &r, sizeof(r));
		if ((copy = malloc(k > 0 ? k : 1)) == NULL)
			ck_abort_msg("out of memory");
		memcpy(copy, buf, k);
		rv = pp_parse(copy, k, &r);
		free(copy);
		if ((rv2 = pp_parse(buf, k, &r2)) != rv)
			ck_abort_msg("%zu bytes: %d, %d in place", k, rv, rv2);
		if (rv != 0 && rv != -EINVAL && rv != -E2BIG &&
		    !(rv > 0 && (size_t)rv <= k))
			ck_abort_msg("%zu bytes: returned %d", k, rv);
		if (rv <= 0 && memcmp(&r, &before, sizeof(r)) != 0)
			ck_abort_msg("%zu bytes: out written, returned %d", k,
			    rv);
		if (rv == 0 && k >= PP_MAX_HEADER)
			ck_abort_msg("%zu bytes: still undecided", k);
		if (first == 0 && rv != 0) {
			first = rv;
			first_at = k;
		} else if (rv != first)
			ck_abort_msg("%zu bytes: %d after %d", k, rv, first);
	}
	if (at != NULL)
		*at = first_at;
	return first;
}

static int
parse_str(const char *s, struct pp_result *r)
{
	return pp_parse((const uint8_t *)s, strlen(s), r);
}

/* Checks that ss is text (numeric, IPv4 or IPv6) port port. */
static void
check_addr(const struct sockaddr_storage *ss, socklen_t len, const char *text,
    unsigned port)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;
	struct in6_addr			 a6;
	struct in_addr			 a4;

	if (inet_pton(AF_INET, text, &a4) == 1) {
		ck_assert_int_eq(ss->ss_family, AF_INET);
		ck_assert_uint_eq(len, sizeof(*sin));
		ck_assert_mem_eq(&sin->sin_addr, &a4, sizeof(a4));
		ck_assert_uint_eq(ntohs(sin->sin_port), port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &a6), 1);
		ck_assert_int_eq(ss->ss_family, AF_INET6);
		ck_assert_uint_eq(len, sizeof(*sin6));
		ck_assert_mem_eq(&sin6->sin6_addr, &a6, sizeof(a6));
		ck_assert_uint_eq(ntohs(sin6->sin6_port), port);
		ck_assert_uint_eq(sin6->sin6_flowinfo, 0);
		ck_assert_uint_eq(sin6->sin6_scope_id, 0);
	}
}

/* Checks that r is a local result of the given version. */
static void
check_local(const struct pp_result *r, int version)
{
	ck_assert_int_eq(r->local, 1);
	ck_assert_int_eq(r->version, version);
	ck_assert_uint_eq(r->srclen, 0);
	ck_assert_uint_eq(r->dstlen, 0);
}

/*
 * Builds a v2 header in buf: signature, ver_cmd, fam, the length field len
 * (not always blen: some tests lie), then blen bytes of body.  Returns the
 * bytes written.
 */
static size_t
v2(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, uint16_t len,
    const void *body, size_t blen)
{
	memcpy(buf, sig, sizeof(sig));
	buf[12] = ver_cmd;
	buf[13] = fam;
	buf[14] = (uint8_t)(len >> 8);
	buf[15] = (uint8_t)len;
	if (blen > 0)
		memcpy(buf + 16, body, blen);
	return 16 + blen;
}

/* A v2 TCP/IPv4 address block: 192.0.2.1:56324 -> 198.51.100.2:443. */
static const uint8_t blk4[12] = {
	192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb
};

/* A v2 TCP/IPv6 address block: [2001:db8::1]:1 -> [2001:db8::2]:65535. */
static const uint8_t blk6[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
	0x00, 0x01, 0xff, 0xff
};

/* A set of valid headers, to feed in other ways. */
struct hdrs {
	uint8_t		 b[8][128];
	size_t		 len[8];
	size_t		 n;
};

static void
hdrs_v1(struct hdrs *h, const char *line)
{
	ck_assert_uint_lt(h->n, NELEM(h->b));
	h->len[h->n] = strlen(line);
	memcpy(h->b[h->n++], line, strlen(line));
}

static void
hdrs_v2(struct hdrs *h, uint8_t ver_cmd, uint8_t fam, const void *body,
    size_t blen)
{
	ck_assert_uint_lt(h->n, NELEM(h->b));
	h->len[h->n] = v2(h->b[h->n], ver_cmd, fam, (uint16_t)blen, body,
	    blen);
	h->n++;
}

/* Valid v1 lines and what they carry. */
static const struct {
	const char	*line;
	const char	*src, *dst;
	unsigned	 sport, dport;
} v1_ok[] = {
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
	    "192.0.2.1", "198.51.100.2", 56324, 443 },
	{ "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
	    "0.0.0.0", "255.255.255.255", 0, 65535 },
	{ "PROXY TCP4 10.0.0.1 10.0.0.2 1 10\r\n",
	    "10.0.0.1", "10.0.0.2", 1, 10 },
	{ "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n",
	    "2001:db8::1", "2001:db8::2", 1, 65535 },
	{ "PROXY TCP6 :: ::1 0 80\r\n", "::", "::1", 0, 80 },
	{ "PROXY TCP6 ::ffff:192.0.2.1 2001:DB8:0:0:0:0:0:2 12345 443\r\n",
	    "::ffff:192.0.2.1", "2001:db8::2", 12345, 443 },
	/* 107 bytes, the longest line allowed */
	{ "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	  "1111:2222:3333:4444:5555:6666:7777:8 65535 65535\r\n",
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	    "1111:2222:3333:4444:5555:6666:7777:8", 65535, 65535 },
};

/* Valid v1 UNKNOWN lines. */
static const char *const v1_unknown[] = {
	"PROXY UNKNOWN\r\n",
	/* the spec's worst case, 107 bytes */
	("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
	"PROXY UNKNOWN 192.0.2.1 198.51.100.2 56324 443\r\n",
	"PROXY UNKNOWN whatever, even 999.1.1.1 or a port 99999\r\n",
};

START_TEST(test_v1_tcp)
{
	char			 buf[256];
	struct pp_result	 r;
	size_t			 i, n, at;

	ck_assert_uint_eq(strlen(v1_ok[NELEM(v1_ok) - 1].line), 107);
	for (i = 0; i < NELEM(v1_ok); i++) {
		n = strlen(v1_ok[i].line);
		memset(&r, 0, sizeof(r));
		ck_assert_int_eq(parse_str(v1_ok[i].line, &r), (int)n);
		ck_assert_int_eq(r.local, 0);
		ck_assert_int_eq(r.version, 1);
		check_addr(&r.src, r.srclen, v1_ok[i].src, v1_ok[i].sport);
		check_addr(&r.dst, r.dstlen, v1_ok[i].dst, v1_ok[i].dport);

		/* Every prefix needs more; the payload is not read. */
		snprintf(buf, sizeof(buf), "%s%s", v1_ok[i].line, payload);
		ck_assert_int_eq(feed(buf, strlen(buf), &at), (int)n);
		ck_assert_uint_eq(at, n);
	}
}
END_TEST

START_TEST(test_v1_unknown)
{
	char			 buf[256];
	struct pp_result	 r;
	size_t			 i, n, at;

	ck_assert_uint_eq(strlen(v1_unknown[1]), 107);
	for (i = 0; i < NELEM(v1_unknown); i++) {
		n = strlen(v1_unknown[i]);
		memset(&r, 0xa5, sizeof(r));
		ck_assert_int_eq(parse_str(v1_unknown[i], &r), (int)n);
		check_local(&r, 1);

		snprintf(buf, sizeof(buf), "%s%s", v1_unknown[i], payload);
		ck_assert_int_eq(feed(buf, strlen(buf), &at), (int)n);
		ck_assert_uint_eq(at, n);
	}
}
END_TEST

START_TEST(test_v1_bad)
{
	static const char *const bad[] = {
		/* the words */
		"PROXY\r\n",
		"PROXY \r\n",
		"PROXY TCP4\r\n",
		"PROXY TCP4 \r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP46 1.2.3.4 5.6.7.8 1 2\r\n",
		" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		/* the spaces */
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
		"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		/* missing or extra fields */
		"PROXY TCP4 1.2.3.4\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 9.10.11.12 1 2\r\n",
		/* the line end */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\r\n",
		"PROXY UNKNOWN\n",
		"PROXY UNKNOWN\rX\r\n",
		"PROXY UNKNOWN x\ny\r\n",
		/* IPv4 addresses */
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n",
		"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 16909060 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1111111111111111 5.6.7.8 1 2\r\n",
		"PROXY TCP4 -1.2.3.4 5.6.7.8 1 2\r\n",
		/* the wrong family */
		"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 2001:db8::2 1 2\r\n",
		"PROXY TCP4 ::ffff:1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP6 2001:db8::1 5.6.7.8 1 2\r\n",
		"PROXY TCP6 1.2.3.4 2001:db8::2 1 2\r\n",
		/* IPv6 addresses */
		"PROXY TCP6 2001:db8:::1 ::1 1 2\r\n",
		"PROXY TCP6 2001:db8::1::2 ::1 1 2\r\n",
		"PROXY TCP6 2001:db8::g ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n",
		"PROXY TCP6 12345::1 ::1 1 2\r\n",
		"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
		"PROXY TCP6 [2001:db8::1] ::1 1 2\r\n",
		"PROXY TCP6 ::1 ::ffff:1.2.3.256 1 2\r\n",
		"PROXY TCP6 : ::1 1 2\r\n",
		/* ports */
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 4294967297 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 065535 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1: 2\r\n",	/* '9' + 1 */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1/ 2\r\n",	/* '0' - 1 */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 :\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 /\r\n",
		"PROXY TCP6 ::1 ::2 65536 2\r\n",
	};
	struct pp_result	 r;
	size_t			 i;

	for (i = 0; i < NELEM(bad); i++) {
		ck_assert_msg(parse_str(bad[i], &r) == -EINVAL, "%s", bad[i]);
		ck_assert_msg(feed(bad[i], strlen(bad[i]), NULL) == -EINVAL,
		    "%s", bad[i]);
	}
}
END_TEST

/*
 * Bytes no header can go on with are refused as soon as they arrive: each
 * string is the shortest prefix that decides.
 */
START_TEST(test_v1_early)
{
	static const char *const early[] = {
		"p",
		"PROXY\r",
		"PROXY  ",
		"PROXY X",
		"PROXY TCP5",
		"PROXY TCP4\r",
		"PROXY UNKNOWX",
		"PROXY UNKNOWN \n",
		"PROXY TCP4 :",
		"PROXY TCP4 a",
		"PROXY TCP4 1.2.3.4x",
		"PROXY TCP4 1.2.3.4\r",
		"PROXY TCP4 1111111111111111",
		"PROXY TCP4 256.1.1.1 ",
		"PROXY TCP6 g",
		"PROXY TCP6 ::1%",
		"PROXY TCP6 1.2.3.4 ",
		"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555",
		"PROXY TCP4 1.2.3.4 5.6.7.8  ",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +",
		"PROXY TCP4 1.2.3.4 5.6.7.8 :",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 /",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536",
		"PROXY TCP4 1.2.3.4 5.6.7.8 99999",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 00",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r",
	};
	char			 buf[256];
	size_t			 i, at;

	for (i = 0; i < NELEM(early); i++) {
		/* What follows must not matter. */
		snprintf(buf, sizeof(buf), "%s 1 2\r\n%s", early[i], payload);
		ck_assert_msg(feed(buf, strlen(buf), &at) == -EINVAL, "%s",
		    early[i]);
		ck_assert_msg(at == strlen(early[i]), "%s: decided at %zu",
		    early[i], at);
	}
}
END_TEST

/* The line must end within 107 bytes, CRLF included. */
START_TEST(test_v1_long)
{
	static const char tcp6_116[] = "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n";
	static const char tcp6_108[] = "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "1111:2222:3333:4444:5555:6666:7777:88 65535 65535\r\n";
	char			 buf[512];
	struct pp_result	 r;
	size_t			 at;

	/* UNKNOWN padded to 107 bytes: fine; to 108: refused at 107. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	memcpy(buf + 105, "\r\n", 2);
	ck_assert_int_eq(feed(buf, 107, &at), 107);
	ck_assert_uint_eq(at, 107);
	ck_assert_int_eq(pp_parse((uint8_t *)buf, 107, &r), 107);
	check_local(&r, 1);
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	memcpy(buf + 106, "\r\n", 2);
	ck_assert_int_eq(feed(buf, 108, &at), -EINVAL);
	ck_assert_uint_eq(at, 107);

	/* No line end at all. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN", 13);
	ck_assert_int_eq(pp_parse((uint8_t *)buf, 106, &r), 0);
	ck_assert_int_eq(pp_parse((uint8_t *)buf, 107, &r), -EINVAL);
	ck_assert_int_eq(feed(buf, sizeof(buf), &at), -EINVAL);
	ck_assert_uint_eq(at, 107);
	/* A CR as the 107th byte has no room left for its LF. */
	buf[106] = '\r';
	buf[107] = '\n';
	ck_assert_int_eq(feed(buf, 108, &at), -EINVAL);
	ck_assert_uint_eq(at, 107);

	/* Valid TCP6 lines longer than 107 bytes. */
	ck_assert_uint_eq(strlen(tcp6_116), 116);
	ck_assert_int_eq(feed(tcp6_116, strlen(tcp6_116), &at), -EINVAL);
	ck_assert_uint_eq(at, 107);
	ck_assert_uint_eq(strlen(tcp6_108), 108);
	ck_assert_int_eq(feed(tcp6_108, strlen(tcp6_108), &at), -EINVAL);
	ck_assert_uint_eq(at, 107);
}
END_TEST

/* Streams that are not PROXY at all are refused at their first byte. */
START_TEST(test_garbage)
{
	static const uint8_t tls[] = {
		0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03
	};
	static const char *const text[] = {
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"HEAD / HTTP/1.0\r\n",
		"\n",
		" ",
		"SSH-2.0-OpenSSH_9.6\r\n",
	};
	static const char h2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	uint8_t			 zero[32];
	struct pp_result	 r;
	size_t			 i, at;

	for (i = 0; i < NELEM(text); i++) {
		ck_assert_int_eq(pp_parse((const uint8_t *)text[i], 1, &r),
		    -EINVAL);
		ck_assert_int_eq(feed(text[i], strlen(text[i]), &at), -EINVAL);
		ck_assert_uint_eq(at, 1);
	}
	ck_assert_int_eq(pp_parse(tls, 1, &r), -EINVAL);
	ck_assert_int_eq(feed(tls, sizeof(tls), &at), -EINVAL);
	ck_assert_uint_eq(at, 1);
	memset(zero, 0, sizeof(zero));
	ck_assert_int_eq(feed(zero, sizeof(zero), &at), -EINVAL);
	ck_assert_uint_eq(at, 1);

	/* "PR" may still be "PROXY ": the HTTP/2 preface goes at its 'I'. */
	ck_assert_int_eq(feed(h2, sizeof(h2) - 1, &at), -EINVAL);
	ck_assert_uint_eq(at, 3);
	/* A blank line may still be the v2 signature, up to its 5th byte. */
	ck_assert_int_eq(feed("\r\n\r\nGET", 7, &at), -EINVAL);
	ck_assert_uint_eq(at, 5);

	/* Nothing received: nothing decided. */
	ck_assert_int_eq(pp_parse(NULL, 0, &r), 0);
	ck_assert_int_eq(pp_parse((const uint8_t *)"G", 0, &r), 0);
}
END_TEST

START_TEST(test_v2_proxy4)
{
	uint8_t			 buf[256];
	struct pp_result	 r;
	size_t			 n, at;

	n = v2(buf, 0x21, 0x11, sizeof(blk4), blk4, sizeof(blk4));
	ck_assert_uint_eq(n, 28);
	memset(&r, 0xa5, sizeof(r));
	ck_assert_int_eq(pp_parse(buf, n, &r), 28);
	ck_assert_int_eq(r.local, 0);
	ck_assert_int_eq(r.version, 2);
	check_addr(&r.src, r.srclen, "192.0.2.1", 56324);
	check_addr(&r.dst, r.dstlen, "198.51.100.2", 443);

	memcpy(buf + n, payload, sizeof(payload));
	ck_assert_int_eq(feed(buf, n + sizeof(payload), &at), 28);
	ck_assert_uint_eq(at, 28);
}
END_TEST

START_TEST(test_v2_proxy6)
{
	uint8_t			 buf[256];
	struct pp_result	 r;
	size_t			 n, at;

	n = v2(buf, 0x21, 0x21, sizeof(blk6), blk6, sizeof(blk6));
	ck_assert_uint_eq(n, 52);
	memset(&r, 0xa5, sizeof(r));
	ck_assert_int_eq(pp_parse(buf, n, &r), 52);
	ck_assert_int_eq(r.local, 0);
	ck_assert_int_eq(r.version, 2);
	check_addr(&r.src, r.srclen, "2001:db8::1", 1);
	check_addr(&r.dst, r.dstlen, "2001:db8::2", 65535);

	memcpy(buf + n, payload, sizeof(payload));
	ck_assert_int_eq(feed(buf, n + sizeof(payload), &at), 52);
	ck_assert_uint_eq(at, 52);
}
END_TEST

/* LOCAL: keep the socket's addresses, whatever the family and length say. */
START_TEST(test_v2_local)
{
	static const struct {
		uint8_t		 fam;
		uint16_t	 len;
	} t[] = {
		{ 0x00, 0 },
		{ 0x11, 12 },
		{ 0x21, 36 },
		{ 0x11, 0 },	/* shorter than its addresses: ignored */
		{ 0x21, 4 },
		{ 0x31, 0 },
		{ 0x12, 12 },
		{ 0xff, 0 },	/* not a family: ignored */
		{ 0x44, 7 },
		{ 0x00, 100 },	/* TLVs */
	};
	uint8_t			 buf[256], body[128];
	struct pp_result	 r;
	size_t			 i, n, at;

	memset(body, 0x5a, sizeof(body));
	memcpy(body, blk6, sizeof(blk6));
	for (i = 0; i < NELEM(t); i++) {
		n = v2(buf, 0x20, t[i].fam, t[i].len, body, t[i].len);
		memset(&r, 0xa5, sizeof(r));
		ck_assert_int_eq(pp_parse(buf, n, &r), (int)n);
		check_local(&r, 2);
		memcpy(buf + n, payload, sizeof(payload));
		ck_assert_int_eq(feed(buf, n + sizeof(payload), &at), (int)n);
		ck_assert_uint_eq(at, n);
	}
}
END_TEST

/* PROXY with families whose addresses we cannot use: local, not refused. */
START_TEST(test_v2_other_families)
{
	static const struct {
		uint8_t		 fam;
		uint16_t	 len;
	} t[] = {
		{ 0x00, 0 },	/* UNSPEC */
		{ 0x00, 12 },	/* UNSPEC with TLVs */
		{ 0x12, 12 },	/* UDP over IPv4 */
		{ 0x22, 36 },	/* UDP over IPv6 */
		{ 0x31, 216 },	/* AF_UNIX stream */
		{ 0x32, 216 },	/* AF_UNIX datagram */
		{ 0x31, 230 },
	};
	uint8_t			 buf[512], body[256];
	struct pp_result	 r;
	size_t			 i, n, at;

	memset(body, 0x5a, sizeof(body));
	for (i = 0; i < NELEM(t); i++) {
		n = v2(buf, 0x21, t[i].fam, t[i].len, body, t[i].len);
		memset(&r, 0xa5, sizeof(r));
		ck_assert_int_eq(pp_parse(buf, n, &r), (int)n);
		check_local(&r, 2);
		ck_assert_int_eq(feed(buf, n, &at), (int)n);
		ck_assert_uint_eq(at, n);
	}
}
END_TEST

/* TLVs after the addresses are skipped, whatever they hold. */
START_TEST(test_v2_tlv)
{
	static const uint8_t tlvs[] = {
		0x01, 0x00, 0x02, 'h', '2',		/* ALPN */
		0x02, 0x00, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.',
		'c', 'o', 'm',				/* AUTHORITY */
		0x04, 0x00, 0x03, 0, 0, 0,		/* NOOP */
		0x20, 0x00, 0x05, 0x01, 0, 0, 0, 0,	/* SSL */
	};
	uint8_t			 buf[512], body[256];
	struct pp_result	 r;
	size_t			 n, at;

	memcpy(body, blk4, sizeof(blk4));
	memcpy(body + sizeof(blk4), tlvs, sizeof(tlvs));
	n = v2(buf, 0x21, 0x11, sizeof(blk4) + sizeof(tlvs), body,
	    sizeof(blk4) + sizeof(tlvs));
	memset(&r, 0xa5, sizeof(r));
	ck_assert_int_eq(pp_parse(buf, n, &r), 16 + 12 + (int)sizeof(tlvs));
	ck_assert_int_eq(r.local, 0);
	check_addr(&r.src, r.srclen, "192.0.2.1", 56324);
	check_addr(&r.dst, r.dstlen, "198.51.100.2", 443);
	memcpy(buf + n, payload, sizeof(payload));
	ck_assert_int_eq(feed(buf, n + sizeof(payload), &at), (int)n);
	ck_assert_uint_eq(at, n);

	/* Not TLVs at all, a truncated one: not looked at either. */
	memcpy(body, blk6, sizeof(blk6));
	memset(body + sizeof(blk6), 0xff, 9);
	n = v2(buf, 0x21, 0x21, sizeof(blk6) + 9, body, sizeof(blk6) + 9);
	ck_assert_int_eq(pp_parse(buf, n, &r), 16 + 36 + 9);
	check_addr(&r.src, r.srclen, "2001:db8::1", 1);
	check_addr(&r.dst, r.dstlen, "2001:db8::2", 65535);
	ck_assert_int_eq(feed(buf, n, &at), (int)n);
}
END_TEST

/* The largest header accepted: PP_MAX_HEADER bytes, mostly TLVs. */
START_TEST(test_v2_max)
{
	static uint8_t		 buf[PP_MAX_HEADER + 64];
	struct pp_result	 r;
	size_t			 n, at, blen = PP_MAX_HEADER - 16;

	memset(buf, 0, sizeof(buf));
	n = v2(buf, 0x21, 0x11, (uint16_t)blen, blk4, sizeof(blk4));
	buf[n] = 0x04;			/* one NOOP for the rest */
	buf[n + 1] = (uint8_t)((blen - 15) >> 8);
	buf[n + 2] = (uint8_t)(blen - 15);
	memcpy(buf + PP_MAX_HEADER, payload, 16);
	ck_assert_int_eq(feed(buf, PP_MAX_HEADER + 16, &at), PP_MAX_HEADER);
	ck_assert_uint_eq(at, PP_MAX_HEADER);
	ck_assert_int_eq(pp_parse(buf, sizeof(buf), &r), PP_MAX_HEADER);
	check_addr(&r.src, r.srclen, "192.0.2.1", 56324);
	check_addr(&r.dst, r.dstlen, "198.51.100.2", 443);
}
END_TEST

START_TEST(test_v2_too_big)
{
	static const uint16_t lens[] = { PP_MAX_HEADER - 15, 5000, 0xffff };
	static uint8_t		 buf[PP_MAX_HEADER + 64];
	struct pp_result	 r;
	size_t			 i, at;

	for (i = 0; i < NELEM(lens); i++) {
		memset(buf, 0, sizeof(buf));
		v2(buf, 0x21, 0x11, lens[i], blk4, sizeof(blk4));
		/* Known from the length field, without waiting for the rest. */
		ck_assert_int_eq(pp_parse(buf, 16, &r), -E2BIG);
		ck_assert_int_eq(feed(buf, sizeof(buf), &at), -E2BIG);
		ck_assert_uint_eq(at, 16);
		/* LOCAL too: its length is just as much to read. */
		buf[12] = 0x20;
		ck_assert_int_eq(pp_parse(buf, sizeof(buf), &r), -E2BIG);
	}
}
END_TEST

START_TEST(test_v2_bad)
{
	static const struct {
		uint8_t		 ver_cmd, fam;
		uint16_t	 len;
		size_t		 at;	/* bytes it takes to refuse */
	} t[] = {
		{ 0x11, 0x11, 12, 13 },	/* version 1 */
		{ 0x31, 0x11, 12, 13 },	/* version 3 */
		{ 0x01, 0x11, 12, 13 },
		{ 0xf1, 0x11, 12, 13 },
		{ 0x22, 0x11, 12, 13 },	/* command 2 */
		{ 0x2f, 0x11, 12, 13 },
		{ 0x21, 0x01, 12, 14 },	/* families the spec rejects */
		{ 0x21, 0x10, 12, 14 },
		{ 0x21, 0x13, 12, 14 },
		{ 0x21, 0x23, 36, 14 },
		{ 0x21, 0x41, 12, 14 },
		{ 0x21, 0xff, 12, 14 },
		{ 0x21, 0x11, 0, 16 },	/* shorter than the addresses */
		{ 0x21, 0x11, 11, 16 },
		{ 0x21, 0x12, 11, 16 },
		{ 0x21, 0x21, 12, 16 },
		{ 0x21, 0x21, 35, 16 },
		{ 0x21, 0x22, 35, 16 },
		{ 0x21, 0x31, 215, 16 },
		{ 0x21, 0x32, 36, 16 },
	};
	uint8_t			 buf[512], body[256];
	struct pp_result	 r;
	size_t			 i, n, at;

	memset(body, 0, sizeof(body));
	memcpy(body, blk6, sizeof(blk6));
	for (i = 0; i < NELEM(t); i++) {
		n = v2(buf, t[i].ver_cmd, t[i].fam, t[i].len, body,
		    t[i].len);
		memcpy(buf + n, payload, sizeof(payload));
		ck_assert_msg(pp_parse(buf, n, &r) == -EINVAL, "case %zu", i);
		ck_assert_msg(feed(buf, n + sizeof(payload), &at) == -EINVAL,
		    "case %zu", i);
		ck_assert_msg(at == t[i].at, "case %zu: decided at %zu", i,
		    at);
	}

	/* A wrong signature byte is refused as it arrives. */
	for (i = 0; i < sizeof(sig); i++) {
		n = v2(buf, 0x21, 0x11, sizeof(blk4), blk4, sizeof(blk4));
		buf[i] ^= 0x20;
		ck_assert_int_eq(feed(buf, n, &at), -EINVAL);
		ck_assert_uint_eq(at, i + 1);
	}
}
END_TEST

/*
 * Bytes arriving one at a time into a receive buffer: the header is taken
 * exactly when its last byte comes, with the same result as in one piece,
 * and what follows is the client's.
 */
START_TEST(test_byte_at_a_time)
{
	struct hdrs		 h = { .n = 0 };
	uint8_t			 rx[512];
	size_t			 i, k, hlen;
	struct pp_result	 whole, r;
	int			 rv;

	hdrs_v1(&h, v1_ok[0].line);
	hdrs_v1(&h, v1_ok[3].line);
	hdrs_v1(&h, v1_unknown[1]);
	hdrs_v2(&h, 0x21, 0x11, blk4, sizeof(blk4));
	hdrs_v2(&h, 0x21, 0x21, blk6, sizeof(blk6));
	hdrs_v2(&h, 0x20, 0x00, NULL, 0);
	for (i = 0; i < h.n; i++) {
		hlen = h.len[i];
		memset(&whole, 0, sizeof(whole));
		ck_assert_int_eq(pp_parse(h.b[i], hlen, &whole), (int)hlen);
		memcpy(rx, h.b[i], hlen);
		memcpy(rx + hlen, payload, sizeof(payload));
		for (k = 1; k <= hlen + sizeof(payload); k++) {
			memset(&r, 0, sizeof(r));
			rv = pp_parse(rx, k, &r);
			if (k < hlen) {
				ck_assert_int_eq(rv, 0);
				continue;
			}
			ck_assert_int_eq(rv, (int)hlen);
			ck_assert_int_eq(r.local, whole.local);
			ck_assert_int_eq(r.version, whole.version);
			ck_assert_uint_eq(r.srclen, whole.srclen);
			ck_assert_uint_eq(r.dstlen, whole.dstlen);
			ck_assert_mem_eq(&r.src, &whole.src, sizeof(r.src));
			ck_assert_mem_eq(&r.dst, &whole.dst, sizeof(r.dst));
		}
		ck_assert_mem_eq(rx + hlen, payload, sizeof(payload));
	}
}
END_TEST

/* A small deterministic PRNG (xorshift64), so that failures repeat. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Checks what pp_parse() says of buf, byte by byte and whole. */
static void
check_any(const uint8_t *buf, size_t n)
{
	struct pp_result	 r;
	int			 rv;

	rv = feed(buf, n, NULL);
	if (rv <= 0)
		return;
	ck_assert_int_eq(pp_parse(buf, n, &r), rv);
	ck_assert(r.version == 1 || r.version == 2);
	ck_assert_int_eq(r.version == 1, buf[0] == 'P');
	if (r.local) {
		ck_assert_uint_eq(r.srclen, 0);
		ck_assert_uint_eq(r.dstlen, 0);
		return;
	}
	ck_assert(r.src.ss_family == AF_INET || r.src.ss_family == AF_INET6);
	ck_assert_int_eq(r.src.ss_family, r.dst.ss_family);
	ck_assert_uint_eq(r.srclen, r.src.ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(r.dstlen, r.srclen);
}

/*
 * Every byte of valid headers changed to values chosen to confuse, then
 * random bytes after valid beginnings: never a crash, a read past len or an
 * answer that changes once given (see feed()).
 */
START_TEST(test_mutations)
{
	static const uint8_t vals[] = {
		0x00, 0xff, ' ', '\r', '\n', '0', '9', ':', '.', 'f', 'P',
		0x20, 0x21, 0x11
	};
	static const char *const alphabet = "0123456789abcdefABCDEF:. \r\nx";
	struct hdrs	 h = { .n = 0 };
	uint8_t		 buf[160], *p;
	size_t		 i, j, v, n;
	uint64_t	 s = 0x9e3779b97f4a7c15ULL;
	unsigned	 iter;

	hdrs_v1(&h, v1_ok[0].line);
	hdrs_v1(&h, v1_ok[3].line);
	hdrs_v1(&h, v1_ok[6].line);
	hdrs_v1(&h, v1_unknown[0]);
	hdrs_v2(&h, 0x21, 0x11, blk4, sizeof(blk4));
	hdrs_v2(&h, 0x21, 0x21, blk6, sizeof(blk6));
	hdrs_v2(&h, 0x20, 0x00, NULL, 0);
	for (i = 0; i < h.n; i++) {
		for (j = 0; j < h.len[i]; j++) {
			for (v = 0; v < NELEM(vals); v++) {
				memcpy(buf, h.b[i], h.len[i]);
				buf[j] = vals[v];
				check_any(buf, h.len[i]);
			}
			/* Cut short: it needs more or it is refused. */
			ck_assert_int_le(feed(h.b[i], j, NULL), 0);
		}
	}

	for (iter = 0; iter < 20000; iter++) {
		i = rnd(&s) % h.n;
		n = rnd(&s) % sizeof(buf);
		memcpy(buf, h.b[i], h.len[i] < n ? h.len[i] : n);
		/* Keep a random part of a valid header, then noise. */
		for (p = buf + rnd(&s) % (h.len[i] + 1); p < buf + n; p++)
			*p = iter % 2 ? (uint8_t)rnd(&s) :
			    (uint8_t)alphabet[rnd(&s) % strlen(alphabet)];
		check_any(buf, n);
	}
}
END_TEST

static Suite *
proxyproto_suite(void)
{
	Suite	*s = suite_create("proxyproto");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_v1_tcp);
	tcase_add_test(tc, test_v1_unknown);
	tcase_add_test(tc, test_v1_bad);
	tcase_add_test(tc, test_v1_early);
	tcase_add_test(tc, test_v1_long);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_v2_proxy4);
	tcase_add_test(tc, test_v2_proxy6);
	tcase_add_test(tc, test_v2_local);
	tcase_add_test(tc, test_v2_other_families);
	tcase_add_test(tc, test_v2_tlv);
	tcase_add_test(tc, test_v2_max);
	tcase_add_test(tc, test_v2_too_big);
	tcase_add_test(tc, test_v2_bad);
	tcase_add_test(tc, test_byte_at_a_time);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(proxyproto_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
