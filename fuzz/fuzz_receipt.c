/*
 * fuzz_receipt.c
 *		libFuzzer harness: the worker's receipt splice on arbitrary payloads
 *		(webpush_send takes any text, so a payload need not be JSON).
 *
 * Checks: no out-of-bounds read or write (ASan; the payload is copied to a
 * buffer of exactly its length), nothing written past cap, and a splice
 * changes exactly the four bytes "true" into the ids object, leaving every
 * other byte of the payload where it was.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "push/receipt.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char ids[] = "{\"message\": 123, \"subscription\": 4}";
	const size_t idslen = sizeof(ids) - 1;
	uint8_t    *payload = malloc(size ? size : 1);
	size_t		cap = size + idslen;
	uint8_t    *out = malloc(cap + 1);
	size_t		n;

	if (payload == NULL || out == NULL)
		abort();
	memcpy(payload, data, size);
	out[cap] = 0xA5;
	n = receipt_splice(payload, size, 123, 4, out, cap);
	if (out[cap] != 0xA5)
		abort();				/* written past cap */
	if (n > 0)
	{
		size_t		at;

		if (n != size - 4 + idslen)
			abort();
		/* The ids object sits where "true" was, the rest unmoved. */
		for (at = 0; at < size && payload[at] == out[at]; at++)
			;
		if (at + 4 > size || memcmp(payload + at, "true", 4) != 0 ||
			memcmp(out + at, ids, idslen) != 0 ||
			memcmp(out + at + idslen, payload + at + 4, size - at - 4) != 0)
			abort();
	}
	free(payload);
	free(out);
	return 0;
}
