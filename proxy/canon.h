/*
 * canon.h - the canonical request view.
 *
 * Each request head is normalized once, by canon_request(), before the rules
 * see it, and the request forwarded upstream is built from the same view:
 * what was judged is what is sent.  The front ends (http1.c, h2/session.c)
 * parse, canon_request() normalizes, guard_request() judges, upstream.c
 * serializes.
 *
 *   target     origin form only: an absolute-form target (HTTP/1.1) is
 *              reduced to its path, its authority replacing Host; the
 *              fragment is dropped; bytes other than visible ASCII and
 *              obs-text are refused.
 *   path       forwarded: %XX of unreserved bytes decoded, other escapes
 *              kept with upper-case hex, "." and ".." segments resolved
 *              (RFC 3986 5.2.4), empty segments merged; %2F as
 *              path_escaped_slashes says.  Rules see it fully decoded and
 *              normalized again (so "%2F.." climbs too); a path where a
 *              kept %2F makes a dot segment is judged so, but answered
 *              400 unless banned.  %00-%1F, %7F and malformed escapes are
 *              refused.
 *   query      forwarded as sent; rules see the raw query and its decoding
 *              (%XX, '+' as space).
 *   authority  lower case, no trailing dot, no empty or default port; for
 *              the rules and for Host upstream.  Userinfo, bad characters or
 *              ports are refused.
 *   fields     names are tokens, values have no control byte but HTAB;
 *              names with '_' are dropped, kept or refused
 *              (header_underscores); rules see '_' as '-'.
 *
 * A refusal is a 400 (HTTP/1.1) or a stream error (HTTP/2).
 */
#ifndef H2GUARD_CANON_H
#define H2GUARD_CANON_H

#include <stddef.h>

#include "proxy/hdr.h"

/* What %2F in a path becomes (conf->path_escaped_slashes). */
#define CANON_SLASH_KEEP	0	/* forwarded as %2F; rules see '/' */
#define CANON_SLASH_DECODE	1	/* forwarded as '/' */
#define CANON_SLASH_REJECT	2	/* 400 */

/* Fields whose name has '_' (conf->header_underscores). */
#define CANON_US_DROP		0	/* not forwarded; rules see them */
#define CANON_US_ALLOW		1	/* forwarded */
#define CANON_US_REJECT		2	/* 400 */

struct canon_opts {
	int	escaped_slashes;	/* CANON_SLASH_* */
	int	underscores;		/* CANON_US_* */
};

/*
 * canon_request() normalizes req in place: req->path becomes the forwarded
 * target (origin form, query included), req->match_path and
 * req->match_query what the rules see, req->authority the normalized
 * authority (or NULL), fields whose name holds '_' are marked (HDR_F_US)
 * and, with CANON_US_DROP, not forwarded; req->ambiguous is set as
 * canon_path() says: the caller answers 400 unless the rules ban it.  req->scheme must be set: "http"
 * or "https" (HTTP/2: as the client sent it, checked here).  absolute is 1
 * when req->path may be in absolute form (HTTP/1.1).
 *
 * Returns 0, -EINVAL when the request is malformed (answer 400 / reset the
 * stream), -ENOMEM.  *why, when not NULL, is set to a short reason.
 */
int canon_request(struct http_req *req, const struct canon_opts *o,
    int absolute, const char **why);

/*
 * canon_path() normalizes the path part of an origin-form target (len
 * bytes at p, no query) into fwd and, fully decoded, into match (both
 * malloc'd, NUL-terminated, lengths in *fwdlen / *matchlen).  *ambiguous
 * is set to 1 when a kept %2F makes a dot segment once decoded: upstreams
 * disagree on such a path, which may be judged (as match) but must not be
 * forwarded.  Returns 0, -EINVAL or -ENOMEM.  For the unit tests and
 * canon_request().
 */
int canon_path(const char *p, size_t len, int escaped_slashes, char **fwd,
    size_t *fwdlen, char **match, size_t *matchlen, int *ambiguous,
    const char **why);

/*
 * canon_authority() normalizes an authority (len bytes at a) for scheme
 * ("http" or "https": its default port is dropped) into *out (malloc'd;
 * NULL when a is empty).  Returns 0, -EINVAL or -ENOMEM.
 */
int canon_authority(const char *a, size_t len, const char *scheme, char **out,
    const char **why);

/*
 * canon_query_decode() decodes a query for the rules: %XX (valid ones) and
 * '+' as a space; malformed escapes stay as they are.  *out is malloc'd,
 * NUL-terminated, *outlen bytes (it may hold NUL bytes).  0 or -ENOMEM.
 */
int canon_query_decode(const char *q, size_t len, char **out, size_t *outlen);

/* canon_field_name_ok() is 1 when name is a token (RFC 9110 5.6.2). */
int canon_field_name_ok(const char *name, size_t len);

/* canon_field_value_ok() is 1 when value has no control byte but HTAB. */
int canon_field_value_ok(const char *value, size_t len);

/*
 * canon_name_eq() compares a field name with a lower-case name, '_' and '-'
 * alike and without regard to case.
 */
int canon_name_eq(const char *name, size_t nlen, const char *lname,
    size_t llen);

#endif
