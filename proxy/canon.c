/*
 * canon.c - the canonical request view, see canon.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/canon.h"

/* A growing byte buffer; the caller frees b->p. */
struct cbuf {
	char	*p;
	size_t	 len, cap;
};

static int
cbuf_init(struct cbuf *b, size_t cap)
{
	b->len = 0;
	b->cap = cap + 1;
	return (b->p = malloc(b->cap)) == NULL ? -ENOMEM : 0;
}

/* Appends n bytes; the buffer was sized for the worst case by the caller. */
static void
cbuf_add(struct cbuf *b, const char *s, size_t n)
{
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The byte %XX at s (s[0] is '%') stands for, or -1 when malformed. */
static int
pct_at(const char *s, size_t left)
{
	int hi, lo;

	if (left < 3 || (hi = hexval((unsigned char)s[1])) < 0 ||
	    (lo = hexval((unsigned char)s[2])) < 0)
		return -1;
	return hi << 4 | lo;
}

/* RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static int
unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* A byte a request target may hold as it is: visible ASCII or obs-text. */
static int
target_byte(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

/*
 * Resolves "." and ".." segments and merges empty ones in s (len bytes,
 * starting with '/'), segments split at '/', into out (sized len + 1).
 * A path that ends in a slash, "." or ".." keeps its trailing slash.
 */
static void
canon_segments(const char *s, size_t len, struct cbuf *out)
{
	size_t	i = 0, start, n;
	int	trailing = 0;

	out->len = 0;
	while (i < len) {
		while (i < len && s[i] == '/')
			i++;
		start = i;
		while (i < len && s[i] != '/')
			i++;
		n = i - start;
		trailing = i >= len ? n == 0 : 0;
		if (n == 0)
			continue;
		if (n == 1 && s[start] == '.') {
			trailing = i >= len;
			continue;
		}
		if (n == 2 && s[start] == '.' && s[start + 1] == '.') {
			while (out->len > 0 && out->p[--out->len] != '/')
				;
			trailing = i >= len;
			continue;
		}
		cbuf_add(out, "/", 1);
		cbuf_add(out, s + start, n);
	}
	if (out->len == 0 || trailing)
		cbuf_add(out, "/", 1);
	out->p[out->len] = '\0';
}

/* 1 when s (len bytes) has a "." or ".." segment, segments split at '/'. */
static int
has_dot_segment(const char *s, size_t len)
{
	size_t i = 0, start;

	while (i < len) {
		start = i;
		while (i < len && s[i] != '/')
			i++;
		if ((i - start == 1 && s[start] == '.') ||
		    (i - start == 2 && s[start] == '.' && s[start + 1] == '.'))
			return 1;
		i++;
	}
	return 0;
}

int
canon_path(const char *p, size_t len, int escaped_slashes, char **fwd,
    size_t *fwdlen, char **match, size_t *matchlen, int *ambiguous,
    const char **why)
{
	static const char	 hex[] = "0123456789ABCDEF";
	struct cbuf		 f, seg, d;
	size_t			 i;
	int			 v;
	char			 esc[3] = { '%', 0, 0 };

	*fwd = *match = NULL;
	if (len == 0 || p[0] != '/') {
		*why = "the path does not begin with /";
		return -EINVAL;
	}
	/* An escape is never longer than its decoding: len bounds all three. */
	if (cbuf_init(&f, len) < 0)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!target_byte(c)) {
			*why = "a control byte or space in the target";
			goto out_inval;
		}
		if (c != '%') {
			cbuf_add(&f, (const char *)&c, 1);
			continue;
		}
		if ((v = pct_at(p + i, len - i)) < 0) {
			*why = "a malformed %-escape in the path";
			goto out_inval;
		}
		i += 2;
		if (v < 0x20 || v == 0x7f) {
			*why = "an escaped control byte in the path";
			goto out_inval;
		}
		if (unreserved(v) || (v == '/' &&
		    escaped_slashes == CANON_SLASH_DECODE)) {
			char b = (char)v;

			cbuf_add(&f, &b, 1);
			continue;
		}
		if (v == '/' && escaped_slashes == CANON_SLASH_REJECT) {
			*why = "%2F in the path (path_escaped_slashes reject)";
			goto out_inval;
		}
		esc[1] = hex[v >> 4];
		esc[2] = hex[v & 15];
		cbuf_add(&f, esc, 3);
	}
	if (cbuf_init(&seg, f.len) < 0)
		goto out_nomem_f;
	canon_segments(f.p, f.len, &seg);
	free(f.p);
	/* What the rules see: every escape left decoded, segments again. */
	if (cbuf_init(&d, seg.len) < 0)
		goto out_nomem_seg;
	for (i = 0; i < seg.len; i++) {
		char b = seg.p[i];

		if (b == '%') {
			b = (char)pct_at(seg.p + i, seg.len - i);
			i += 2;
		}
		cbuf_add(&d, &b, 1);
	}
	if (cbuf_init(&f, d.len) < 0) {
		free(d.p);
		goto out_nomem_seg;
	}
	canon_segments(d.p, d.len, &f);
	/*
	 * An escaped slash that makes a dot segment ("/admin%2F..%2F")
	 * means one path to an upstream that decodes and then resolves
	 * (nginx: "/") and another to one that decodes only (a WSGI server:
	 * "/admin/../"): judged as the first, it must not be forwarded.
	 */
	*ambiguous = has_dot_segment(d.p, d.len);
	free(d.p);
	*fwd = seg.p;
	*fwdlen = seg.len;
	*match = f.p;
	*matchlen = f.len;
	return 0;

out_inval:
	free(f.p);
	return -EINVAL;
out_nomem_seg:
	free(seg.p);
	return -ENOMEM;
out_nomem_f:
	free(f.p);
	return -ENOMEM;
}

/*
 * Decodes the query q (len bytes) into dst (len + 1 bytes at least, NUL
 * added), see canon.h; returns the decoded length.
 */
static size_t
query_decode_into(const char *q, size_t len, char *dst)
{
	size_t	i, n = 0;
	int	v;

	for (i = 0; i < len; i++) {
		char c = q[i];

		if (c == '+')
			c = ' ';
		else if (c == '%' && (v = pct_at(q + i, len - i)) >= 0 &&
		    v != '&' && v != '=' && v != ';') {
			/*
			 * An escaped separator is data inside a name or value
			 * (?next=%2Fa%3Fdebug%3D1 has no debug parameter): it
			 * stays escaped, so that (^|&)debug= sees parameters.
			 */
			c = (char)v;
			i += 2;
		}
		dst[n++] = c;
	}
	dst[n] = '\0';
	return n;
}

int
canon_query_decode(const char *q, size_t len, char **out, size_t *outlen)
{
	if ((*out = malloc(len + 1)) == NULL)
		return -ENOMEM;
	*outlen = query_decode_into(q, len, *out);
	return 0;
}

int
canon_authority(const char *a, size_t len, const char *scheme, char **out,
    const char **why)
{
	const char	*port = NULL, *hend;
	size_t		 hlen, i, plen = 0;
	unsigned long	 pnum = 0;
	char		*s;

	*out = NULL;
	if (len == 0)
		return 0;
	if (a[0] == '[') {
		/* IP-literal: hex digits, ':' and '.' (an embedded IPv4). */
		for (i = 1; i < len && a[i] != ']'; i++)
			if (hexval((unsigned char)a[i]) < 0 && a[i] != ':' &&
			    a[i] != '.')
				goto out_bad;
		if (i == len || i == 1)
			goto out_bad;
		hend = a + i + 1;
	} else {
		for (i = 0; i < len && a[i] != ':'; i++) {
			unsigned char c = (unsigned char)a[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_'))
				goto out_bad;
		}
		hend = a + i;
	}
	hlen = (size_t)(hend - a);
	if (hend < a + len) {
		if (*hend != ':')
			goto out_bad;
		port = hend + 1;
		plen = len - hlen - 1;
		if (plen > 5)
			goto out_bad;
		for (i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9')
				goto out_bad;
			pnum = pnum * 10 + (unsigned long)(port[i] - '0');
		}
		if (pnum > 65535)
			goto out_bad;
	}
	if (a[0] != '[') {
		/* One trailing dot names the same host; empty labels none. */
		for (i = 1; i < hlen; i++)
			if (a[i] == '.' && a[i - 1] == '.')
				goto out_bad;
		if (hlen > 0 && a[hlen - 1] == '.')
			hlen--;
		if (hlen == 0 || a[0] == '.')
			goto out_bad;
	}
	/* No port, an empty one or the scheme's default: the host alone. */
	if (plen == 0 || (pnum == 80 && strcmp(scheme, "http") == 0) ||
	    (pnum == 443 && strcmp(scheme, "https") == 0))
		port = NULL;
	if ((s = malloc(hlen + (port ? plen + 1 : 0) + 1)) == NULL)
		return -ENOMEM;
	for (i = 0; i < hlen; i++) {
		char c = a[i];

		s[i] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
	}
	if (port != NULL) {
		char	d[5];
		size_t	nd = 0;

		/* Leading zeros are the same port: print it plain. */
		s[i++] = ':';
		do
			d[nd++] = (char)('0' + pnum % 10);
		while ((pnum /= 10) > 0);
		while (nd > 0)
			s[i++] = d[--nd];
	}
	s[i] = '\0';
	*out = s;
	return 0;

out_bad:
	*why = "a malformed authority";
	return -EINVAL;
}

int
canon_field_name_ok(const char *name, size_t len)
{
	static const char	tchar[] = "!#$%&'*+-.^_`|~";
	size_t			i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c != '\0' &&
		    strchr(tchar, c) != NULL)))
			return 0;
	}
	return 1;
}

int
canon_field_value_ok(const char *value, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

int
canon_name_eq(const char *name, size_t nlen, const char *lname, size_t llen)
{
	size_t i;

	if (nlen != llen)
		return 0;
	for (i = 0; i < nlen; i++) {
		char a = name[i], b = lname[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a | 0x20);
		if (a == '_')
			a = '-';
		if (b == '_')
			b = '-';
		if (a != b)
			return 0;
	}
	return 1;
}

/*
 * Splits an absolute-form target "scheme://authority/path?query" of q:
 * the authority (normalized) replaces q's, the path becomes q->path.
 */
static int
canon_absolute(struct http_req *q, const char **why)
{
	const char	*t = q->path, *auth, *rest;
	char		*path, *a;
	size_t		 slen, alen;
	int		 rc;

	for (slen = 0; t[slen] != '\0' && t[slen] != ':'; slen++)
		;
	if (strncmp(t + slen, "://", 3) != 0) {
		*why = "a target neither in origin nor in absolute form";
		return -EINVAL;
	}
	if (!((slen == 4 && strncasecmp(t, "http", 4) == 0) ||
	    (slen == 5 && strncasecmp(t, "https", 5) == 0))) {
		*why = "an absolute-form target whose scheme is not http or https";
		return -EINVAL;
	}
	auth = t + slen + 3;
	alen = strcspn(auth, "/?#");
	rest = auth + alen;
	if (alen == 0 || memchr(auth, '@', alen) != NULL) {
		*why = "an absolute-form target without a host, or with userinfo";
		return -EINVAL;
	}
	free(q->scheme);
	if ((q->scheme = strdup(slen == 5 ? "https" : "http")) == NULL)
		return -ENOMEM;
	if ((rc = canon_authority(auth, alen, q->scheme, &a, why)) < 0)
		return rc;
	if (*rest == '/')
		path = strdup(rest);
	else if (asprintf(&path, "/%s", rest) < 0)
		path = NULL;
	if (path == NULL) {
		free(a);
		return -ENOMEM;
	}
	free(q->authority);
	q->authority = a;
	free(q->path);
	q->path = path;
	return 1;
}

/*
 * 1 when the path p (len bytes, target bytes only) is canonical as it is:
 * no escape, no empty, "." or ".." segment.  Most are: they need no copy.
 */
static int
path_is_canonical(const char *p, size_t len)
{
	size_t i;

	if (memchr(p, '%', len) != NULL)
		return 0;
	for (i = 0; i + 1 < len; i++)
		if (p[i] == '/' && (p[i + 1] == '/' || p[i + 1] == '.'))
			return 0;
	return 1;
}

/*
 * Normalizes q->path into the forwarded target and the rules' views: the
 * decoded path and query share one allocation (match_query points into
 * match_path's).
 */
static int
canon_target(struct http_req *q, const struct canon_opts *o, const char **why)
{
	char		*t = q->path, *fwd, *target, *m;
	const char	*qm;
	size_t		 len, plen, flen, qlen, mlen, i;
	int		 rc;

	if (strcmp(t, "*") == 0) {
		if (strcmp(q->method, "OPTIONS") != 0) {
			*why = "* as the target of a method but OPTIONS";
			return -EINVAL;
		}
		if ((q->match_path = strdup("*")) == NULL)
			return -ENOMEM;
		q->match_pathlen = 1;
		q->match_query = q->match_path + 1;	/* "" */
		return 0;
	}
	for (i = 0; t[i] != '\0'; i++)
		if (!target_byte((unsigned char)t[i])) {
			*why = "a control byte or space in the target";
			return -EINVAL;
		}
	/* The fragment is the client's own: not forwarded, not judged. */
	len = strcspn(t, "#");
	t[len] = '\0';
	qm = memchr(t, '?', len);
	plen = qm ? (size_t)(qm - t) : len;
	qlen = qm ? len - plen - 1 : 0;
	if (t[0] == '/' && path_is_canonical(t, plen)) {
		if ((m = malloc(plen + 1 + qlen + 1)) == NULL)
			return -ENOMEM;
		memcpy(m, t, plen);
		m[plen] = '\0';
		mlen = plen;
	} else {
		if ((rc = canon_path(t, plen, o->escaped_slashes, &fwd, &flen,
		    &m, &mlen, &q->ambiguous, why)) < 0)
			return rc;
		target = malloc(flen + (len - plen) + 1);
		if (target == NULL ||
		    (q->match_path = realloc(m, mlen + 1 + qlen + 1)) == NULL) {
			free(target);
			free(fwd);
			free(m);
			return -ENOMEM;
		}
		m = q->match_path;
		memcpy(target, fwd, flen);
		memcpy(target + flen, t + plen, len - plen + 1);
		free(fwd);
		free(q->path);
		q->path = target;
		qm = qm ? target + flen : NULL;
	}
	q->match_path = m;
	q->match_pathlen = mlen;
	q->match_query = m + mlen + 1;
	q->match_querylen = query_decode_into(qm ? qm + 1 : "", qlen,
	    q->match_query);
	return 0;
}

/* The authority from :authority or Host, normalized, into q->authority. */
static int
canon_host(struct http_req *q, const char **why)
{
	const struct hdr	*host = NULL;
	char			*a = NULL, *h = NULL;
	uint32_t		 i;
	int			 rc;

	for (i = 0; i < q->headers.n; i++) {
		const struct hdr *f = &q->headers.v[i];

		if (f->nlen != 4 || memcmp(f->name, "host", 4) != 0)
			continue;
		if (host != NULL) {
			*why = "more than one Host field";
			return -EINVAL;
		}
		host = f;
	}
	if (q->authority != NULL && (rc = canon_authority(q->authority,
	    strlen(q->authority), q->scheme, &a, why)) < 0)
		return rc;
	if (host != NULL && (rc = canon_authority(host->value, host->vlen,
	    q->scheme, &h, why)) < 0) {
		free(a);
		return rc;
	}
	if (q->authority != NULL && host != NULL && ((a == NULL) != (h == NULL) ||
	    (a != NULL && strcmp(a, h) != 0))) {
		free(a);
		free(h);
		*why = ":authority and Host name different hosts";
		return -EPROTO;
	}
	free(q->authority);
	q->authority = a ? a : h;
	if (a != NULL)
		free(h);
	return 0;
}

/* Checks every field and marks those whose name has '_'. */
static int
canon_fields(struct http_req *q, const struct canon_opts *o, const char **why)
{
	uint32_t i;

	for (i = 0; i < q->headers.n; i++) {
		struct hdr *f = &q->headers.v[i];

		if (!canon_field_name_ok(f->name, f->nlen)) {
			*why = "a field name that is not a token";
			return -EINVAL;
		}
		if (!canon_field_value_ok(f->value, f->vlen)) {
			*why = "a control byte in a field value";
			return -EINVAL;
		}
		if (memchr(f->name, '_', f->nlen) == NULL)
			continue;
		if (o->underscores == CANON_US_REJECT) {
			*why = "'_' in a field name (header_underscores reject)";
			return -EINVAL;
		}
		f->flags |= HDR_F_US;
		if (o->underscores == CANON_US_DROP)
			f->flags |= HDR_F_DROP;
	}
	return 0;
}

int
canon_request(struct http_req *q, const struct canon_opts *o, int absolute,
    const char **why)
{
	const char	*dummy;
	int		 rc, abs = 0;

	if (why == NULL)
		why = &dummy;
	if (q->scheme == NULL || (strcmp(q->scheme, "http") != 0 &&
	    strcmp(q->scheme, "https") != 0)) {
		*why = "a scheme other than http or https";
		return -EPROTO;
	}
	if (q->path == NULL || q->path[0] == '\0') {
		*why = "no target";
		return -EPROTO;
	}
	if (q->path[0] != '/' && strcmp(q->path, "*") != 0) {
		if (!absolute) {
			*why = ":path not in origin form";
			return -EPROTO;
		}
		if ((rc = abs = canon_absolute(q, why)) < 0)
			return rc;
	}
	if ((rc = canon_fields(q, o, why)) < 0)
		return rc;
	/* An absolute-form target's authority wins over Host (RFC 9112 3.2.2). */
	if (!abs && (rc = canon_host(q, why)) < 0)
		return rc;
	return canon_target(q, o, why);
}
