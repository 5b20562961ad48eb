/*
 * proxyproto.c - PROXY protocol v1 and v2 header parser (see proxyproto.h).
 *
 * Each call reads what has been received so far from its first byte: a
 * header is at most PP_MAX_HEADER bytes, so reading it again is cheap and
 * nothing needs to be kept between reads.  Every step refuses a byte as
 * soon as no valid header can go on with it; a step that runs out of bytes
 * says -EAGAIN, which becomes "need more" (0) for the caller.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <string.h>

#include "proxy/proxyproto.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define PP_V1_PREFIX	"PROXY "
#define PP_V1_MAX	107	/* longest v1 line, CRLF included */

#define PP_V2_FIXED	16	/* signature, ver_cmd, fam, len */
#define PP_V2_VERSION	0x2	/* high nibble of ver_cmd */
#define PP_V2_LOCAL	0x0	/* low nibble: health check, no addresses */
#define PP_V2_PROXY	0x1	/* low nibble: relayed connection */

static const uint8_t pp_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* The part of a v1 line not read yet. */
struct pp_line {
	const uint8_t	*p;
	const uint8_t	*end;		/* received bytes, PP_V1_MAX at most */
};

/* Sets the port (network order) of an AF_INET or AF_INET6 address. */
static void
pp_set_port(struct sockaddr_storage *ss, uint16_t nport)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)(void *)ss)->sin_port = nport;
	else
		((struct sockaddr_in6 *)(void *)ss)->sin6_port = nport;
}

/*
 * Reads the literal s.  Returns 0, -EAGAIN when the line ends inside a
 * prefix of s, or -EINVAL; consumes nothing unless it returns 0.
 */
static int
pp_lit(struct pp_line *l, const char *s)
{
	size_t	 n = strlen(s), avail = (size_t)(l->end - l->p);

	if (memcmp(l->p, s, avail < n ? avail : n) != 0)
		return -EINVAL;
	if (avail < n)
		return -EAGAIN;
	l->p += n;
	return 0;
}

/*
 * Reads the protocol word into *af: AF_INET for "TCP4 ", AF_INET6 for
 * "TCP6 ", AF_UNSPEC for "UNKNOWN".  0, -EAGAIN or -EINVAL.
 */
static int
pp_v1_proto(struct pp_line *l, int *af)
{
	static const struct {
		const char	*word;
		int		 af;
	} protos[] = {
		{ "TCP4 ", AF_INET },
		{ "TCP6 ", AF_INET6 },
		{ "UNKNOWN", AF_UNSPEC },
	};
	size_t	 i;
	int	 rv = -EINVAL;

	for (i = 0; i < NELEM(protos); i++) {
		switch (pp_lit(l, protos[i].word)) {
		case 0:
			*af = protos[i].af;
			return 0;
		case -EAGAIN:
			rv = -EAGAIN;
			break;
		}
	}
	return rv;
}

/* Whether c may appear in an address of family af, as inet_pton reads it. */
static int
pp_v1_addrchar(int af, uint8_t c)
{
	if ((c >= '0' && c <= '9') || c == '.')
		return 1;
	return af == AF_INET6 && (c == ':' || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F'));
}

/*
 * Reads an address of family af and the space after it into ss (port 0).
 * 0, -EAGAIN or -EINVAL.
 */
static int
pp_v1_addr(struct pp_line *l, int af, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)(void *)ss;
	char			 s[INET6_ADDRSTRLEN];
	/* "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" */
	size_t			 n = 0, max = af == AF_INET ? 15 : 45;
	uint8_t			 c;

	for (;;) {
		if (l->p == l->end)
			return -EAGAIN;
		if ((c = *l->p++) == ' ')
			break;
		if (n == max || !pp_v1_addrchar(af, c))
			return -EINVAL;
		s[n++] = (char)c;
	}
	s[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		if (inet_pton(AF_INET, s, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		*sslen = sizeof(*sin);
	} else {
		if (inet_pton(AF_INET6, s, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		*sslen = sizeof(*sin6);
	}
	return 0;
}

/*
 * Reads a port, 0..65535 in decimal without sign or leading zero, and the
 * byte term after it, into ss.  0, -EAGAIN or -EINVAL.
 */
static int
pp_v1_port(struct pp_line *l, uint8_t term, struct sockaddr_storage *ss)
{
	uint32_t	 v = 0;
	size_t		 n = 0;
	uint8_t		 c;

	for (;;) {
		if (l->p == l->end)
			return -EAGAIN;
		if ((c = *l->p++) == term && n > 0)
			break;
		if (c < '0' || c > '9' || (n > 0 && v == 0))
			return -EINVAL;
		/* Checked at each digit, so v never gets past 655359. */
		if ((v = v * 10 + (uint32_t)(c - '0')) > 65535)
			return -EINVAL;
		n++;
	}
	pp_set_port(ss, htons((uint16_t)v));
	return 0;
}

/* Skips the rest of an UNKNOWN line, its CRLF included. */
static int
pp_v1_skip(struct pp_line *l)
{
	for (; l->p < l->end && *l->p != '\r'; l->p++)
		if (*l->p == '\n')
			return -EINVAL;	/* a bare LF ends no line */
	return pp_lit(l, "\r\n");
}

/* pp_parse() for a buffer starting with 'P'. */
static int
pp_v1(const uint8_t *buf, size_t len, struct pp_result *r)
{
	struct pp_line	 l;
	int		 af, rv;

	l.p = buf;
	l.end = buf + (len < PP_V1_MAX ? len : PP_V1_MAX);
	r->version = 1;
	if ((rv = pp_lit(&l, PP_V1_PREFIX)) != 0 ||
	    (rv = pp_v1_proto(&l, &af)) != 0)
		goto out;
	if (af == AF_UNSPEC) {
		/* The sender may put anything there, we must ignore it. */
		r->local = 1;
		rv = pp_v1_skip(&l);
		goto out;
	}
	if ((rv = pp_v1_addr(&l, af, &r->src, &r->srclen)) != 0 ||
	    (rv = pp_v1_addr(&l, af, &r->dst, &r->dstlen)) != 0 ||
	    (rv = pp_v1_port(&l, ' ', &r->src)) != 0 ||
	    (rv = pp_v1_port(&l, '\r', &r->dst)) != 0)
		goto out;
	rv = pp_lit(&l, "\n");
out:
	if (rv == -EAGAIN)	/* no CRLF in PP_V1_MAX bytes: not a header */
		return len < PP_V1_MAX ? 0 : -EINVAL;
	return rv < 0 ? rv : (int)(l.p - buf);
}

/*
 * The address block length of a PROXY command's family byte: 0 for
 * AF_UNSPEC, 12, 36 and 216 for TCP or UDP over IPv4, IPv6 and AF_UNIX;
 * -1 for the values the spec says to reject.
 */
static int
pp_v2_addrlen(uint8_t fam)
{
	switch (fam) {
	case 0x00:
		return 0;
	case 0x11:
	case 0x12:
		return 12;
	case 0x21:
	case 0x22:
		return 36;
	case 0x31:
	case 0x32:
		return 216;
	default:
		return -1;
	}
}

/*
 * Fills ss from an address of alen bytes (4: AF_INET, 16: AF_INET6) and a
 * port in network order, both as in a v2 address block.
 */
static void
pp_v2_addr(struct sockaddr_storage *ss, socklen_t *sslen, size_t alen,
    const uint8_t *addr, const uint8_t *port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (alen == 4) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
		memcpy(&sin->sin_port, port, 2);
		*sslen = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
		memcpy(&sin6->sin6_port, port, 2);
		*sslen = sizeof(*sin6);
	}
}

/* pp_parse() for a buffer starting with '\r'. */
static int
pp_v2(const uint8_t *buf, size_t len, struct pp_result *r)
{
	size_t		 n = len < sizeof(pp_v2_sig) ? len : sizeof(pp_v2_sig);
	size_t		 total, alen;
	const uint8_t	*a;
	uint8_t		 cmd;
	int		 need = 0;

	r->version = 2;
	if (memcmp(buf, pp_v2_sig, n) != 0)
		return -EINVAL;
	if (len <= 12)
		return 0;
	cmd = buf[12] & 0xf;
	if (buf[12] >> 4 != PP_V2_VERSION ||
	    (cmd != PP_V2_LOCAL && cmd != PP_V2_PROXY))
		return -EINVAL;
	if (len <= 13)
		return 0;
	/* LOCAL: the family is to be ignored, whatever it says. */
	if (cmd == PP_V2_PROXY && (need = pp_v2_addrlen(buf[13])) < 0)
		return -EINVAL;
	if (len < PP_V2_FIXED)
		return 0;
	total = PP_V2_FIXED + ((size_t)buf[14] << 8 | buf[15]);
	if (total > PP_MAX_HEADER)
		return -E2BIG;
	if (total < PP_V2_FIXED + (size_t)need)
		return -EINVAL;
	if (len < total)
		return 0;
	/* Only TCP brings addresses we can use; UDP and AF_UNIX keep ours. */
	if (cmd == PP_V2_PROXY && (buf[13] == 0x11 || buf[13] == 0x21)) {
		a = buf + PP_V2_FIXED;
		alen = buf[13] == 0x11 ? 4 : 16;
		pp_v2_addr(&r->src, &r->srclen, alen, a, a + 2 * alen);
		pp_v2_addr(&r->dst, &r->dstlen, alen, a + alen,
		    a + 2 * alen + 2);
	} else
		r->local = 1;
	return (int)total;	/* the TLVs after the addresses are skipped */
}

int
pp_parse(const uint8_t *buf, size_t len, struct pp_result *out)
{
	struct pp_result	 r;
	int			 rv;

	if (len == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	if (buf[0] == PP_V1_PREFIX[0])
		rv = pp_v1(buf, len, &r);
	else if (buf[0] == pp_v2_sig[0])
		rv = pp_v2(buf, len, &r);
	else
		rv = -EINVAL;
	if (rv > 0)
		*out = r;
	return rv;
}
