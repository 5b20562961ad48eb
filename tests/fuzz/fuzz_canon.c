/*
 * fuzz_canon.c - the canonical request view (proxy/canon.c).
 *
 * Input: one byte of options (bits 0-1: path_escaped_slashes, bit 2:
 * HTTP/2, bit 3: https), then a request target.  Besides crashes it checks
 * what the rules rely on: a normalized path has no empty, "." or ".."
 * segment left, the forwarded path keeps no escape of an unreserved byte,
 * normalizing again changes nothing (neither what is forwarded nor what
 * the rules see), and what the rules see is what the forwarded path
 * decodes to.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/canon.h"
#include "proxy/hdr.h"
#include "tests/fuzz/fuzz.h"

/* 1 when s (len bytes, from '/') holds an empty, "." or ".." segment. */
static int
has_dot_or_empty(const char *s, size_t len)
{
	size_t i = 1, start, n;

	while (i <= len) {
		start = i;
		while (i < len && s[i] != '/')
			i++;
		n = i - start;
		/* Only a final segment may be empty (a trailing slash). */
		if ((n == 0 && i < len) || (n == 1 && s[start] == '.') ||
		    (n == 2 && s[start] == '.' && s[start + 1] == '.'))
			return 1;
		i++;
	}
	return 0;
}

static int
hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case is not what we forward */
}

static void
check_path(const char *p, size_t len, int slashes)
{
	const char	*why = NULL;
	char		*f, *m, *f2, *m2;
	size_t		 flen, mlen, f2len, m2len, i;
	int		 rc, hi, lo, c, amb, amb2;

	rc = canon_path(p, len, slashes, &f, &flen, &m, &mlen, &amb, &why);
	if (rc == -EINVAL) {
		if (why == NULL || f != NULL || m != NULL)
			abort();
		return;
	}
	if (rc != 0)
		abort();	/* no -ENOMEM on inputs this small */
	if (f[0] != '/' || m[0] != '/' || strlen(f) != flen ||
	    has_dot_or_empty(f, flen) || has_dot_or_empty(m, mlen))
		abort();
	for (i = 0; i < flen; i++) {
		if (f[i] != '%')
			continue;
		if (i + 2 >= flen || (hi = hexv(f[i + 1])) < 0 ||
		    (lo = hexv(f[i + 2])) < 0)
			abort();
		c = hi << 4 | lo;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || c < 0x20 || c == 0x7f ||
		    (c == '/' && slashes != CANON_SLASH_KEEP))
			abort();
	}
	/* The upstream normalizing what we forward gets what we judged. */
	/* Only a kept %2F can be read two ways. */
	if (amb && slashes != CANON_SLASH_KEEP)
		abort();
	if (canon_path(f, flen, slashes, &f2, &f2len, &m2, &m2len, &amb2,
	    &why) != 0 || f2len != flen || memcmp(f, f2, flen) != 0 ||
	    m2len != mlen || memcmp(m, m2, mlen) != 0 || amb2 != amb)
		abort();
	free(f2);
	free(m2);
	free(f);
	free(m);
}

static void
check_authority(const char *a, size_t len, const char *scheme)
{
	const char	*why = NULL;
	char		*out, *again;
	int		 rc;

	rc = canon_authority(a, len, scheme, &out, &why);
	if (rc == -EINVAL || out == NULL) {
		if (rc == -EINVAL && (why == NULL || out != NULL))
			abort();
		if (rc == 0 && len != 0)
			abort();
		return;
	}
	if (rc != 0 || canon_authority(out, strlen(out), scheme, &again,
	    &why) != 0 || again == NULL || strcmp(out, again) != 0)
		abort();
	free(again);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct canon_opts	 o = { 0, CANON_US_DROP };
	struct http_req		 q;
	const char		*t;
	char			*s;
	int			 h2, rc;

	if (size < 1)
		return 0;
	o.escaped_slashes = data[0] & 3;
	if (o.escaped_slashes > CANON_SLASH_REJECT)
		o.escaped_slashes = CANON_SLASH_KEEP;
	h2 = (data[0] & 4) != 0;
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	t = s;
	check_path(t, strlen(t), o.escaped_slashes);
	check_authority(t, strlen(t), (data[0] & 8) ? "https" : "http");

	memset(&q, 0, sizeof(q));
	q.content_length = -1;
	q.method = strdup("GET");
	q.scheme = strdup((data[0] & 8) ? "https" : "http");
	q.path = strdup(t);
	if (q.method != NULL && q.scheme != NULL && q.path != NULL) {
		rc = canon_request(&q, &o, !h2, NULL);
		if (rc == 0 && (q.path == NULL || q.match_path == NULL ||
		    q.match_query == NULL || (q.path[0] != '/' &&
		    strcmp(q.path, "*") != 0)))
			abort();
		if (rc != 0 && rc != -EINVAL && rc != -EPROTO && rc != -ENOMEM)
			abort();
	}
	http_req_clear(&q);
	free(s);
	return 0;
}
