/*
 * b64.h
 *		Base64 and base64url encoding for keys, salts and JWTs.
 *
 * Browsers hand out subscription keys as unpadded base64url, but some
 * clients and tools use the standard alphabet or add padding, so the decoder
 * accepts all of those.  Pure C: no PostgreSQL or OpenSSL headers.
 */
#ifndef WEBPUSH_B64_H
#define WEBPUSH_B64_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode n bytes as unpadded base64url, without NUL. */
#define B64URL_ENCODED_LEN(n) (((n) * 4 + 2) / 3)

/*
 * Encode len bytes as unpadded base64url into out, which must have room for
 * B64URL_ENCODED_LEN(len) + 1 bytes.  Returns the length written (the
 * terminating NUL not counted).
 */
extern size_t b64url_encode(const uint8_t *in, size_t len, char *out);

/*
 * Decode base64 or base64url, with or without '=' padding.  Mixing the two
 * alphabets in one string is refused, as is whitespace, and so are non-zero
 * bits left over in the last character (so one key has one spelling).
 * Writes at most out_cap bytes; returns the decoded length, or -1 when the
 * input is not valid base64 or would not fit.
 */
extern long b64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap);

/* Whether every character of s is in the base64url alphabet (no padding). */
extern int	b64url_is_alphabet(const char *s, size_t len);

#endif							/* WEBPUSH_B64_H */
