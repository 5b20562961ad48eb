/*
 * proxyproto.h - the PROXY protocol header (HAProxy's "The PROXY protocol",
 * versions 1 and 2), which a load balancer in front of h2guard sends first
 * on each connection to pass on the client's address.
 *
 * pp_parse() only parses: it reads no socket, allocates nothing and keeps
 * no state between calls; the caller decides whether a header is required
 * and drops the header's bytes once it has one.
 */
#ifndef H2GUARD_PROXYPROTO_H
#define H2GUARD_PROXYPROTO_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define PP_MAX_HEADER	4096	/* longer v2 headers (TLVs) are refused */

struct pp_result {
	int			 local;	/* 1: v1 UNKNOWN or v2 LOCAL command /
					 * AF_UNSPEC: keep the socket's own
					 * addresses */
	struct sockaddr_storage	 src;	/* client address (AF_INET or
					 * AF_INET6), when !local */
	struct sockaddr_storage	 dst;	/* address the client connected to,
					 * when !local */
	socklen_t		 srclen, dstlen;	/* 0 when local */
	int			 version;	/* 1 or 2 */
};

/*
 * pp_parse() looks at the first len bytes received on a connection.
 * Returns the header's length (> 0) when buf starts with a complete valid
 * header (out filled), 0 when more bytes are needed to decide (never more
 * than PP_MAX_HEADER in total), -EINVAL when the bytes are not a valid
 * PROXY header (missing header, bad syntax, bad lengths, v1 line longer
 * than 107 bytes, v2 with version != 2, unknown command, TCP4 with IPv6
 * address, ports out of range, leading zeros/signs in v1 numbers...),
 * -E2BIG when a v2 header exceeds PP_MAX_HEADER.
 *
 * It decides as soon as the bytes allow: a connection without a header is
 * refused at its first byte that cannot start one.  out is written only
 * when it returns > 0; the bytes after the header are not looked at.
 */
int pp_parse(const uint8_t *buf, size_t len, struct pp_result *out);

#endif
