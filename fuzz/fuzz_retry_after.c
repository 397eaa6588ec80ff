/*
 * fuzz_retry_after.c
 *		libFuzzer harness: the Retry-After parser on arbitrary header values.
 *
 * Checks: no out-of-bounds read (ASan; the value is not NUL-terminated), the
 * result is -1 or within [0, RETRY_AFTER_MAX_SECONDS], it does not depend on
 * bytes past len, and a later "now" never asks to wait longer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/retry_after.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first 4 bytes pick "now"; the rest is the header value. */
	time_t		now = 0;
	char	   *value;
	long		a;
	long		b;
	long		later;

	if (size >= 4)
	{
		now = (time_t) (((uint32_t) data[0] << 24) | ((uint32_t) data[1] << 16) |
						((uint32_t) data[2] << 8) | data[3]);
		data += 4;
		size -= 4;
	}
	value = malloc(size + 1);
	if (value == NULL)
		return 0;
	memcpy(value, data, size);

	a = retry_after_parse(value, size, now);
	value[size] = '7';			/* a byte past len must not matter */
	b = retry_after_parse(value, size, now);
	later = retry_after_parse(value, size, now + 3600);

	if (a != b)
		abort();
	if (a < -1 || a > RETRY_AFTER_MAX_SECONDS)
		abort();
	if ((a == -1) != (later == -1) && !(size > 0 && value[0] >= '0' && value[0] <= '9'))
		abort();
	if (a >= 0 && later > a)
		abort();
	free(value);
	return 0;
}
