/*
 * tls.c - the server TLS context.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proxy/conf.h"
#include "proxy/tls.h"

/* ALPN protocols we speak, in our order of preference. */
static const unsigned char tls_alpn_h2[] = "\x02h2";
static const unsigned char tls_alpn_h1[] = "\x08http/1.1";

static void tls_error(char **errors, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
tls_error(char **errors, const char *file, int line, const char *fmt, ...)
{
	char		 msg[512], ssl[256] = "";
	unsigned long	 e;
	size_t		 old = *errors ? strlen(*errors) : 0;
	char		*p;
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The last queued error is the most specific one. */
	while ((e = ERR_get_error()) != 0)
		ERR_error_string_n(e, ssl, sizeof(ssl));
	n = snprintf(NULL, 0, "%s:%d: %s%s%s\n", file, line, msg,
	    ssl[0] ? ": " : "", ssl);
	if ((p = realloc(*errors, old + (size_t)n + 1)) == NULL)
		return;
	snprintf(p + old, (size_t)n + 1, "%s:%d: %s%s%s\n", file, line, msg,
	    ssl[0] ? ": " : "", ssl);
	*errors = p;
}

/*
 * Pick h2 when the client offers it, else http/1.1; a client offering
 * neither gets no ALPN answer and is served HTTP/1.1.
 */
static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, tls_alpn_h2,
	    sizeof(tls_alpn_h2) - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED ||
	    SSL_select_next_proto(&sel, outlen, tls_alpn_h1,
	    sizeof(tls_alpn_h1) - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *
tls_ctx_new(const struct conf *conf, char **errors)
{
	static const unsigned char sid_ctx[] = "h2guard";
	SSL_CTX	*ctx;
	int	 ok = 1;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(errors, conf->path, 0, "cannot create TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* RFC 9113 9.2.2: TLS 1.2 with ephemeral key exchange and AEAD only. */
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, 20000);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);

	if (access(conf->tls_certificate, R_OK) != 0) {
		tls_error(errors, conf->path, conf->tls_certificate_line,
		    "tls_certificate: cannot read \"%s\": %s",
		    conf->tls_certificate, strerror(errno));
		ok = 0;
	} else if (SSL_CTX_use_certificate_chain_file(ctx,
	    conf->tls_certificate) != 1) {
		tls_error(errors, conf->path, conf->tls_certificate_line,
		    "tls_certificate: cannot load \"%s\"", conf->tls_certificate);
		ok = 0;
	}
	if (access(conf->tls_certificate_key, R_OK) != 0) {
		tls_error(errors, conf->path, conf->tls_certificate_key_line,
		    "tls_certificate_key: cannot read \"%s\": %s",
		    conf->tls_certificate_key, strerror(errno));
		ok = 0;
	} else if (SSL_CTX_use_PrivateKey_file(ctx, conf->tls_certificate_key,
	    SSL_FILETYPE_PEM) != 1) {
		tls_error(errors, conf->path, conf->tls_certificate_key_line,
		    "tls_certificate_key: cannot load \"%s\"",
		    conf->tls_certificate_key);
		ok = 0;
	} else if (ok && SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(errors, conf->path, conf->tls_certificate_key_line,
		    "tls_certificate_key: \"%s\" does not match the certificate",
		    conf->tls_certificate_key);
		ok = 0;
	}
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
tls_alpn_is_h2(const SSL *ssl)
{
	const unsigned char	*p;
	unsigned int		 len;

	SSL_get0_alpn_selected(ssl, &p, &len);
	return len == 2 && memcmp(p, "h2", 2) == 0;
}
