/*
 * hdr.h - header lists and the protocol-neutral request head that the HTTP/2
 * and HTTP/1.1 front ends hand to the upstream module.
 */
#ifndef H2GUARD_HDR_H
#define H2GUARD_HDR_H

#include <stddef.h>
#include <stdint.h>

struct hdr {
	char	*name;		/* owned, one allocation with value; lower case */
	char	*value;		/* points inside the name allocation */
	uint32_t nlen;
	uint32_t vlen;
	uint32_t flags;		/* HDR_F_* */
};

#define HDR_F_US	0x01	/* the name has '_' (rules see it as '-') */
#define HDR_F_DROP	0x02	/* not forwarded (header_underscores drop) */

struct hdrlist {
	struct hdr	*v;	/* owned array */
	uint32_t	 n;
	uint32_t	 cap;
	size_t		 bytes;	/* sum of name and value lengths */
};

enum http_proto {
	PROTO_H1,	/* HTTP/1.x */
	PROTO_H2,	/* HTTP/2 */
};

/*
 * A client's request head, as the front end parsed it and canon_request()
 * (canon.h) normalized it.
 */
struct http_req {
	char		*method;	/* owned */
	char		*scheme;	/* owned; "http" or "https" */
	char		*authority;	/* owned; :authority or Host; may be NULL */
	char		*path;		/* owned; origin form, "/..." or "*" */
	char		*match_path;	/* owned; decoded path, for the rules */
	size_t		 match_pathlen;
	char		*match_query;	/* decoded query, for the rules: in
					   match_path's block, not freed alone */
	size_t		 match_querylen;
	struct hdrlist	 headers;	/* regular fields, hop-by-hop ones removed */
	int64_t		 content_length;	/* -1 when not known */
	int		 has_body;	/* 1: a body follows the head */
	int		 tls;		/* 1: it came over TLS */
	int		 ambiguous;	/* judge, then 400: see canon_path() */
	enum http_proto	 proto;
};

/*
 * hdrlist_add() appends name: value, lower-casing the name when lower is 1.
 * Returns 0 or -ENOMEM.
 */
int hdrlist_add(struct hdrlist *l, const char *name, size_t nlen,
    const char *value, size_t vlen, int lower);

/* hdrlist_get() returns the first field called name (lower case), or NULL. */
const struct hdr *hdrlist_get(const struct hdrlist *l, const char *name);

/* hdrlist_clear() frees every field but keeps the list usable. */
void hdrlist_clear(struct hdrlist *l);

/*
 * hdr_hop_by_hop() tells whether the lower-case field name is connection
 * specific (RFC 9110 7.6.1, plus proxy-connection) and must not be forwarded.
 */
int hdr_hop_by_hop(const char *name, size_t nlen);

/*
 * hdr_in_connection() tells whether name is listed in the comma separated
 * value of a Connection field in l (those fields are hop-by-hop too).
 */
int hdr_in_connection(const struct hdrlist *l, const char *name, size_t nlen);

/* http_req_clear() frees what the request owns and zeroes it. */
void http_req_clear(struct http_req *r);

/* http_reason() is the reason phrase of status ("Status" when unknown). */
const char *http_reason(int status);

/* http_method_idempotent() is 1 for GET, HEAD, PUT, DELETE, OPTIONS, TRACE. */
int http_method_idempotent(const char *method);



/*
 * Accumulates one field at a time from http_parser's split
 * on_header_field / on_header_value callbacks.
 */
struct hdr_acc {
	char	*buf;		/* owned: name then value */
	size_t	 nlen;		/* name length within buf */
	size_t	 len;
	size_t	 cap;
	int	 in_value;	/* 1 once value bytes arrived */
};

/* hdr_acc_field() adds name bytes, first committing a finished field to l. */
int hdr_acc_field(struct hdr_acc *a, struct hdrlist *l, const char *at, size_t len);
/* hdr_acc_value() adds value bytes. */
int hdr_acc_value(struct hdr_acc *a, const char *at, size_t len);
/* hdr_acc_flush() commits the pending field, if any, to l (name lower-cased). */
int hdr_acc_flush(struct hdr_acc *a, struct hdrlist *l);
/* hdr_acc_free() releases the scratch buffer. */
void hdr_acc_free(struct hdr_acc *a);

#endif
