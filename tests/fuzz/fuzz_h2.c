/*
 * fuzz_h2.c - HTTP/2 frames from a client, after the connection preface,
 * into the real server: nghttp2 session, ban rules and flood limits,
 * requests forwarded to an upstream that answers each one.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_rules.h"
#include "tests/fuzz/fuzz_server.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;

	fz_init(FZ_RULES);
	if ((buf = malloc(FZ_PREFACE_LEN + size)) == NULL)
		return 0;
	memcpy(buf, FZ_PREFACE, FZ_PREFACE_LEN);
	if (size > 0)
		memcpy(buf + FZ_PREFACE_LEN, data, size);
	fz_run(buf, FZ_PREFACE_LEN + size, NULL);
	free(buf);
	return 0;
}
