/*
 * fuzz_encrypt.c
 *		libFuzzer harness: subscription keys (p256dh, auth) as they arrive,
 *		then RFC 8291 encryption of the rest of the input.
 *
 * Input: 87 bytes of p256dh text, 22 bytes of auth text, then the payload.
 * Checks: invalid points are refused; for valid ones the body has exactly
 * the RFC 8291 length.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "crypto/ece.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EceContext *ctx = NULL;
	uint8_t		p256dh[P256_PUBLIC_LEN];
	uint8_t		auth[ECE_AUTH_LEN];
	uint8_t		body[ECE_BODY_LEN(ECE_MAX_PLAINTEXT)];
	size_t		body_len = 0;
	EceRecipient r;
	EceResult	rc;
	const uint8_t *payload;
	size_t		payload_len;

	if (size < 87 + 22)
		return 0;
	if (ctx == NULL && (ctx = ece_context_create()) == NULL)
		abort();
	if (b64_decode((const char *) data, 87, p256dh, sizeof(p256dh)) != P256_PUBLIC_LEN ||
		b64_decode((const char *) data + 87, 22, auth, sizeof(auth)) != ECE_AUTH_LEN)
		return 0;
	if (ece_recipient_init(&r, p256dh, auth) != 0)
		return 0;
	payload = data + 109;
	payload_len = size - 109;
	if (payload_len > ECE_MAX_PLAINTEXT)
		payload_len = ECE_MAX_PLAINTEXT;
	/* Any point: refused as invalid, or encrypted to the exact length. */
	rc = ece_encrypt(ctx, &r, payload, payload_len, NULL, NULL, body, &body_len);
	if (rc == ECE_ERROR_INVALID_KEY)
	{
		/* ... and never a key that passes OpenSSL's full validation. */
		EVP_PKEY   *key = p256_public_from_raw(p256dh, 1);

		if (key != NULL)
			abort();
		return 0;
	}
	if (rc != ECE_OK || body_len != ECE_BODY_LEN(payload_len))
		abort();
	ece_recipient_clear(&r);
	return 0;
}
