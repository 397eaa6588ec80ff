/*
 * safe_text.c
 *		Bytes from the network made safe to store as text.
 */
#include "support/safe_text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode 15, table 3-7:
 * no overlong forms, no surrogates, nothing past U+10FFFF), 0 when the
 * bytes there are not one, -1 when the input ends inside one that was
 * well-formed so far.  *cp receives the code point.
 */
static int
utf8_sequence(const unsigned char *s, size_t avail, uint32_t *cp)
{
	unsigned char c = s[0];
	int			n;
	unsigned char lo = 0x80;
	unsigned char hi = 0xBF;
	int			i;

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;			/* overlong */
		else if (c == 0xED)
			hi = 0x9F;			/* surrogates */
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		if (c == 0xF0)
			lo = 0x90;			/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;			/* past U+10FFFF */
	}
	else
		return 0;

	*cp = c & (0xFF >> (n + 1));
	for (i = 1; i < n; i++)
	{
		if ((size_t) i >= avail)
			return -1;
		if (s[i] < lo || s[i] > hi)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	return n;
}

size_t
safe_text(const char *in, size_t len, int ascii_only, char *out, size_t outcap)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t		pos = 0;
	size_t		used = 0;

	while (pos < len)
	{
		char		escape[16];
		const char *piece;
		size_t		piece_len;
		uint32_t	cp = 0;
		int			n = utf8_sequence(s + pos, len - pos, &cp);

		if (n < 0)
			break;				/* cut short: drop the partial character */
		if (n == 0)
		{
			snprintf(escape, sizeof(escape), "\\x%02X", s[pos]);
			piece = escape;
			piece_len = strlen(escape);
			n = 1;
		}
		else if ((cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7F)
		{
			snprintf(escape, sizeof(escape), "\\x%02X", (unsigned) cp);
			piece = escape;
			piece_len = strlen(escape);
		}
		else if (cp >= 0x80 && ascii_only)
		{
			snprintf(escape, sizeof(escape), "\\u{%04X}", (unsigned) cp);
			piece = escape;
			piece_len = strlen(escape);
		}
		else
		{
			piece = (const char *) s + pos;
			piece_len = (size_t) n;
		}
		/* Whole characters and whole escapes only. */
		if (used + piece_len + 1 > outcap)
			break;
		memcpy(out + used, piece, piece_len);
		used += piece_len;
		pos += (size_t) n;
	}
	out[used] = '\0';
	return used;
}
