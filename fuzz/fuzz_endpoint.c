/*
 * fuzz_endpoint.c
 *		libFuzzer harness: push endpoint URL validation and origin.
 *
 * Checks: an accepted endpoint always yields an https origin without user
 * information, and with private endpoints refused, never a non-public
 * address literal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Endpoint	ep;

	if (memchr(data, '\0', size) != NULL)
		return 0;				/* SQL text cannot hold NUL */
	if (endpoint_parse((const char *) data, size, 0, &ep) == ENDPOINT_OK)
	{
		if (strncmp(ep.origin, "https://", 8) != 0 || strchr(ep.origin, '@') != NULL)
			abort();
		if (ep.literal_class != ADDRESS_PUBLIC)
			abort();
	}
	(void) endpoint_parse((const char *) data, size, 1, &ep);
	return 0;
}
