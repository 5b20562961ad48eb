/*
 * fuzz_h1.c - bytes from a clear-text client into the real server: the
 * sniffing of h2c against HTTP/1.1, then HTTP/1.1 requests (pipelined,
 * chunked, bodies), ban rules and limits, forwarded to an upstream that
 * answers each one.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_rules.h"
#include "tests/fuzz/fuzz_server.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_init(FZ_RULES);
	fz_run(data, size, NULL);
	return 0;
}
