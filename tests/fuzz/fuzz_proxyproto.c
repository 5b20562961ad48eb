/*
 * fuzz_proxyproto.c - the PROXY protocol header parser (v1 and v2).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "proxy/proxyproto.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_result	 out;
	int			 r, again;

	r = pp_parse(data, size, &out);
	if (r > 0) {
		/* A header lies within the bytes and the size limit. */
		if ((size_t)r > size || r > PP_MAX_HEADER ||
		    (out.version != 1 && out.version != 2))
			abort();
		if (!out.local && (out.srclen == 0 ||
		    out.srclen > sizeof(out.src) ||
		    (out.src.ss_family != AF_INET &&
		    out.src.ss_family != AF_INET6)))
			abort();
		/* Only its own bytes decide. */
		if (pp_parse(data, (size_t)r, &out) != r)
			abort();
	} else if (r == 0) {
		/* "More bytes needed" never past the limit. */
		if (size >= PP_MAX_HEADER)
			abort();
	} else if (r != -EINVAL && r != -E2BIG) {
		abort();
	}
	/* A decision, once made, stands when more bytes come. */
	if (size > 0) {
		again = pp_parse(data, size - 1, &out);
		if ((again > 0 && r != again) || (again < 0 && r >= 0))
			abort();
	}
	return 0;
}
