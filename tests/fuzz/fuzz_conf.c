/*
 * fuzz_conf.c - the configuration parser: any text is either a
 * configuration or a list of FILE:LINE errors, never a crash or a leak.
 */
#include "config.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/conf.h"
#include "tests/fuzz/fuzz.h"

/* Addresses only: a fuzzer must send no DNS query (and not wait on one). */
static int
numeric_only(const char *host, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h = *hints;

	h.ai_flags |= AI_NUMERICHOST;
	return getaddrinfo(host, service, &h, res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	*conf;
	char		*errors = NULL;

	conf_getaddrinfo = numeric_only;
	conf = conf_parse("fuzz.conf", (const char *)data, size, &errors);
	/* One or the other: a configuration, or why there is none. */
	if ((conf == NULL) == (errors == NULL) ||
	    (errors != NULL && strncmp(errors, "fuzz.conf:", 10) != 0 &&
	    strstr(errors, "out of memory") == NULL))
		abort();
	conf_free(conf);
	free(errors);
	return 0;
}
