/*
 * testaddr.h - socket addresses for the unit tests of the address tables
 * (ban table, client table).
 */
#ifndef H2GUARD_TESTADDR_H
#define H2GUARD_TESTADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>

/* Fills ss with the numeric address s (IPv4 or IPv6). */
static const struct sockaddr *
addr(struct sockaddr_storage *ss, const char *s)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)ss;
}

/* The i-th address of 10.0.0.0/8, or of 2001:db8::/32 when v6. */
static const struct sockaddr *
nth(struct sockaddr_storage *ss, unsigned i, int v6)
{
	char	 buf[64];

	if (v6)
		snprintf(buf, sizeof(buf), "2001:db8:%x:%x::1", i >> 16,
		    i & 0xffff);
	else
		snprintf(buf, sizeof(buf), "10.%u.%u.%u", (i >> 16) & 0xff,
		    (i >> 8) & 0xff, i & 0xff);
	return addr(ss, buf);
}

#endif
