/*
 * fuzz_upstream.c - an upstream's response bytes, then its closing of the
 * connection, into the real server, for one request from a client.  The
 * first input byte picks the request: bit 0 HTTP/2 (else HTTP/1.1), bit 1
 * HEAD (else GET); the rest is the upstream's answer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_server.h"

/* SETTINGS (empty), then HEADERS on stream 1 with END_STREAM|END_HEADERS. */
#define FZ_H2_SETTINGS	"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
/* :method GET, :scheme http, :path /, :authority f (HPACK) */
static const uint8_t fz_h2_get[] = FZ_PREFACE FZ_H2_SETTINGS
    "\x00\x00\x06\x01\x05\x00\x00\x00\x01" "\x82\x86\x84\x41\x01" "f"
    "\x00\x00\x00\x04\x01\x00\x00\x00\x00";	/* SETTINGS ACK */
/* :method HEAD (literal), :scheme http, :path /, :authority f */
static const uint8_t fz_h2_head[] = FZ_PREFACE FZ_H2_SETTINGS
    "\x00\x00\x0b\x01\x05\x00\x00\x00\x01" "\x42\x04" "HEAD" "\x86\x84\x41\x01"
    "f" "\x00\x00\x00\x04\x01\x00\x00\x00\x00";
static const char fz_h1_get[] = "GET / HTTP/1.1\r\nHost: f\r\n\r\n";
static const char fz_h1_head[] = "HEAD / HTTP/1.1\r\nHost: f\r\n\r\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_upstream	 up;
	const uint8_t		*req;
	size_t			 len;

	if (size < 1)
		return 0;
	fz_init(NULL);
	up.bytes = data + 1;
	up.len = size - 1;
	switch (data[0] & 3) {
	case 0:
		req = (const uint8_t *)fz_h1_get;
		len = sizeof(fz_h1_get) - 1;
		break;
	case 1:
		req = fz_h2_get;
		len = sizeof(fz_h2_get) - 1;
		break;
	case 2:
		req = (const uint8_t *)fz_h1_head;
		len = sizeof(fz_h1_head) - 1;
		break;
	default:
		req = fz_h2_head;
		len = sizeof(fz_h2_head) - 1;
		break;
	}
	fz_run(req, len, &up);
	return 0;
}
