/*
 * receipt.c
 *		Writes a recipient's ids into a notification's "receipt" member
 *		(pure C: unit-tested and run by the worker for every recipient).
 *
 * The payload is scanned as JSON text only as far as it must be: string
 * boundaries and nesting depth, so that a "receipt" inside data, inside a
 * string or in an array is never mistaken for the top-level member.
 */
#include "push/receipt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The index after the string that starts at s[i] == '"', or 0 if it is cut. */
static size_t
skip_string(const uint8_t *s, size_t len, size_t i)
{
	for (i++; i < len; i++)
	{
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

static size_t
skip_space(const uint8_t *s, size_t len, size_t i)
{
	while (i < len && is_space(s[i]))
		i++;
	return i;
}

size_t
receipt_splice(const uint8_t *payload, size_t len,
			   int64_t message_id, int64_t subscription_id,
			   uint8_t *out, size_t cap)
{
	const size_t keylen = sizeof(RECEIPT_KEY) - 1;
	size_t		i = skip_space(payload, len, 0);
	int			depth = 0;
	bool		expect_key = false;

	if (payload == NULL || i >= len || payload[i] != '{')
		return 0;
	while (i < len)
	{
		uint8_t		c = payload[i];

		if (c == '"')
		{
			size_t		end = skip_string(payload, len, i);

			if (end == 0)
				return 0;
			if (depth == 1 && expect_key && end - i - 2 == keylen &&
				memcmp(payload + i + 1, RECEIPT_KEY, keylen) == 0)
			{
				size_t		v = skip_space(payload, len, end);
				size_t		after;
				char		ids[96];
				int			n;

				if (v >= len || payload[v] != ':')
					return 0;
				v = skip_space(payload, len, v + 1);
				after = v + 4;
				if (after > len || memcmp(payload + v, "true", 4) != 0 ||
					(after < len && !is_space(payload[after]) &&
					 payload[after] != ',' && payload[after] != '}'))
					return 0;
				n = snprintf(ids, sizeof(ids), "{\"message\": %lld, \"subscription\": %lld}",
							 (long long) message_id, (long long) subscription_id);
				if (n < 0 || (size_t) n >= sizeof(ids) ||
					len - 4 + (size_t) n > cap)
					return 0;
				memcpy(out, payload, v);
				memcpy(out + v, ids, n);
				memcpy(out + v + n, payload + after, len - after);
				return len - 4 + (size_t) n;
			}
			/* A key is followed by its value; the next key comes after ','. */
			expect_key = false;
			i = end;
			continue;
		}
		if (c == '{' || c == '[')
		{
			depth++;
			expect_key = (c == '{' && depth == 1);
		}
		else if (c == '}' || c == ']')
		{
			if (--depth == 0)
				return 0;		/* the top-level object ended without it */
		}
		else if (c == ',' && depth == 1)
			expect_key = true;
		i++;
	}
	return 0;
}
