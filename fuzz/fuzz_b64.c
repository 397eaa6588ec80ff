/*
 * fuzz_b64.c
 *		libFuzzer harness: base64/base64url decoding of arbitrary text.
 *
 * Checks: never reads or writes out of bounds (ASan), and whatever decodes
 * re-encodes as base64url to a string that decodes to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		out[4096];
	uint8_t		again[4096];
	char		encoded[B64URL_ENCODED_LEN(sizeof(out)) + 1];
	long		n;
	long		m;

	n = b64_decode((const char *) data, size, out, sizeof(out));
	if (n < 0)
		return 0;
	b64url_encode(out, (size_t) n, encoded);
	m = b64_decode(encoded, strlen(encoded), again, sizeof(again));
	if (m != n || memcmp(out, again, (size_t) n) != 0)
		abort();
	return 0;
}
