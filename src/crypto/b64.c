/*
 * b64.c
 *		Base64 and base64url encoding for keys, salts and JWTs.
 *
 * Pure C so that it can be unit-tested and fuzzed without a server.
 */
#include "crypto/b64.h"

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
b64url_encode(const uint8_t *in, size_t len, char *out)
{
	size_t		i;
	char	   *p = out;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		*p++ = b64url_alphabet[(v >> 6) & 63];
		*p++ = b64url_alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32_t	v = (uint32_t) in[i] << 16;

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		*p++ = b64url_alphabet[(v >> 6) & 63];
	}
	*p = '\0';
	return (size_t) (p - out);
}

/*
 * Value of one character, or -1.  *alphabet records which alphabet the
 * string has used so far: 0 undecided, 1 standard ('+' '/'), 2 url ('-' '_').
 */
static int
b64_value(unsigned char c, int *alphabet)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '/')
	{
		if (*alphabet == 2)
			return -1;
		*alphabet = 1;
		return c == '+' ? 62 : 63;
	}
	if (c == '-' || c == '_')
	{
		if (*alphabet == 1)
			return -1;
		*alphabet = 2;
		return c == '-' ? 62 : 63;
	}
	return -1;
}

long
b64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap)
{
	size_t		data_len = len;
	size_t		padding = 0;
	size_t		out_len;
	size_t		i;
	size_t		o = 0;
	uint32_t	acc = 0;
	int			bits = 0;
	int			alphabet = 0;

	/* Strip at most two '=' and check they complete a 4-character group. */
	while (data_len > 0 && in[data_len - 1] == '=' && padding < 2)
	{
		data_len--;
		padding++;
	}
	if (padding > 0 && (data_len + padding) % 4 != 0)
		return -1;
	if (data_len % 4 == 1)
		return -1;

	out_len = data_len / 4 * 3 + (data_len % 4 == 0 ? 0 : data_len % 4 - 1);
	if (out_len > out_cap)
		return -1;

	for (i = 0; i < data_len; i++)
	{
		int			v = b64_value((unsigned char) in[i], &alphabet);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[o++] = (uint8_t) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits of the last character must be zero. */
	if (acc != 0)
		return -1;
	return (long) o;
}

int
b64url_is_alphabet(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}
