/*
 * tls.h - the server TLS context: certificate, ALPN (h2, http/1.1),
 * TLS 1.2 and 1.3, session resumption by tickets and session cache.
 */
#ifndef H2GUARD_TLS_H
#define H2GUARD_TLS_H

#include <openssl/ssl.h>

struct conf;

/*
 * tls_ctx_new() builds the server context from conf's certificate and key.
 * Returns NULL after appending "FILE:LINE: message\n" lines to *errors
 * (a malloc'd string, created or extended) when they cannot be loaded.
 */
SSL_CTX *tls_ctx_new(const struct conf *conf, char **errors);

/* tls_alpn_is_h2() is 1 when the handshake of ssl selected ALPN "h2". */
int tls_alpn_is_h2(const SSL *ssl);

#endif
