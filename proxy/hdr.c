/*
 * hdr.c - header lists and request heads.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/hdr.h"

int
hdrlist_add(struct hdrlist *l, const char *name, size_t nlen,
    const char *value, size_t vlen, int lower)
{
	struct hdr	*h;
	char		*p;
	size_t		 i;

	if (nlen > UINT32_MAX / 2 || vlen > UINT32_MAX / 2)
		return -ENOMEM;
	if (l->n == l->cap) {
		uint32_t	 cap = l->cap ? l->cap * 2 : 16;
		struct hdr	*v = reallocarray(l->v, cap, sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if ((p = malloc(nlen + vlen + 2)) == NULL)
		return -ENOMEM;
	for (i = 0; i < nlen; i++) {
		char c = name[i];

		p[i] = (lower && c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
	}
	p[nlen] = '\0';
	memcpy(p + nlen + 1, value, vlen);
	p[nlen + 1 + vlen] = '\0';
	h = &l->v[l->n++];
	h->name = p;
	h->nlen = (uint32_t)nlen;
	h->value = p + nlen + 1;
	h->vlen = (uint32_t)vlen;
	h->flags = 0;
	l->bytes += nlen + vlen;
	return 0;
}

const struct hdr *
hdrlist_get(const struct hdrlist *l, const char *name)
{
	size_t	 nlen = strlen(name);
	uint32_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].nlen == nlen && memcmp(l->v[i].name, name, nlen) == 0)
			return &l->v[i];
	return NULL;
}

void
hdrlist_clear(struct hdrlist *l)
{
	uint32_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
hdr_hop_by_hop(const char *name, size_t nlen)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "te",
		"transfer-encoding", "upgrade", "proxy-authenticate",
		"proxy-authorization", "http2-settings",
	};
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strlen(hop[i]) == nlen && memcmp(hop[i], name, nlen) == 0)
			return 1;
	return 0;
}

int
hdr_in_connection(const struct hdrlist *l, const char *name, size_t nlen)
{
	uint32_t i;

	for (i = 0; i < l->n; i++) {
		const char *p, *end, *tok;

		if (l->v[i].nlen != 10 || memcmp(l->v[i].name, "connection", 10))
			continue;
		p = l->v[i].value;
		end = p + l->v[i].vlen;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			tok = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			if ((size_t)(p - tok) == nlen &&
			    strncasecmp(tok, name, nlen) == 0)
				return 1;
		}
	}
	return 0;
}

void
http_req_clear(struct http_req *r)
{
	free(r->method);
	free(r->scheme);
	free(r->authority);
	free(r->path);
	free(r->match_path);	/* and match_query, in the same block */
	hdrlist_clear(&r->headers);
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
}

int
http_method_idempotent(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	    strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0 ||
	    strcmp(m, "OPTIONS") == 0 || strcmp(m, "TRACE") == 0;
}

static int
hdr_acc_append(struct hdr_acc *a, const char *at, size_t len)
{
	if (a->len + len > a->cap) {
		size_t	 cap = a->cap ? a->cap : 128;
		char	*p;

		while (cap < a->len + len)
			cap *= 2;
		if ((p = realloc(a->buf, cap)) == NULL)
			return -ENOMEM;
		a->buf = p;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, at, len);
	a->len += len;
	return 0;
}

int
hdr_acc_flush(struct hdr_acc *a, struct hdrlist *l)
{
	int rc = 0;

	if (a->len > 0 || a->in_value) {
		const char	*v = a->buf + a->nlen;
		size_t		 vlen = a->len - a->nlen;

		if (!a->in_value) {	/* a name without value */
			a->nlen = a->len;
			vlen = 0;
		}
		/* Optional white space around the value is not part of it. */
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		rc = hdrlist_add(l, a->buf, a->nlen, v, vlen, 1);
	}
	a->len = a->nlen = 0;
	a->in_value = 0;
	return rc;
}

int
hdr_acc_field(struct hdr_acc *a, struct hdrlist *l, const char *at, size_t len)
{
	int rc;

	if (a->in_value && (rc = hdr_acc_flush(a, l)) < 0)
		return rc;
	if ((rc = hdr_acc_append(a, at, len)) < 0)
		return rc;
	a->nlen = a->len;
	return 0;
}

int
hdr_acc_value(struct hdr_acc *a, const char *at, size_t len)
{
	a->in_value = 1;
	return hdr_acc_append(a, at, len);
}

void
hdr_acc_free(struct hdr_acc *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}
