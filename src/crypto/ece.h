/*
 * ece.h
 *		RFC 8291 message encryption for Web Push (aes128gcm, RFC 8188).
 *
 * One notification body is one aes128gcm record encrypted to a browser's
 * p256dh key and auth secret with a fresh ephemeral sender key.  Buffers are
 * the caller's; nothing here allocates per message beyond OpenSSL's own
 * contexts.  No PostgreSQL headers.
 */
#ifndef WEBPUSH_ECE_H
#define WEBPUSH_ECE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "crypto/p256.h"

#define ECE_SALT_LEN		16
#define ECE_AUTH_LEN		16
#define ECE_TAG_LEN			16
#define ECE_RECORD_SIZE		4096
/* salt || rs (4) || idlen (1) || keyid (the sender's public key) */
#define ECE_HEADER_LEN		(ECE_SALT_LEN + 4 + 1 + P256_PUBLIC_LEN)
/* Largest plaintext that fits one 4096-byte record (RFC 8291 section 4). */
#define ECE_MAX_PLAINTEXT	(ECE_RECORD_SIZE - ECE_HEADER_LEN - 1 - ECE_TAG_LEN)

/* Body length for a plaintext of n bytes (one record, delimiter, no padding). */
#define ECE_BODY_LEN(n)		(ECE_HEADER_LEN + (n) + 1 + ECE_TAG_LEN)

typedef enum EceResult
{
	ECE_OK = 0,
	ECE_ERROR_PAYLOAD_TOO_LARGE,
	ECE_ERROR_INVALID_KEY,		/* p256dh is not a point on P-256 */
	ECE_ERROR_CRYPTO			/* OpenSSL failed: out of memory or a bug */
} EceResult;

/* Algorithms fetched once and reused for every message. */
typedef struct EceContext EceContext;

/*
 * A browser subscription's keys.  Each encryption decodes the point, which
 * checks that it is on the curve; full validation happens at subscribe.
 */
typedef struct EceRecipient
{
	uint8_t		public_raw[P256_PUBLIC_LEN];
	uint8_t		auth[ECE_AUTH_LEN];
} EceRecipient;

extern EceContext *ece_context_create(void);
extern void ece_context_free(EceContext *ctx);

/*
 * Fill a recipient from raw keys.  Returns 0, or -1 when p256dh is not an
 * uncompressed point.  Keys entering the database get OpenSSL's complete
 * validation once, in subscription_check_p256dh; ece_encrypt refuses a point
 * that is not on the curve.
 */
extern int	ece_recipient_init(EceRecipient *r, const uint8_t p256dh[P256_PUBLIC_LEN],
							   const uint8_t auth[ECE_AUTH_LEN]);
extern void ece_recipient_clear(EceRecipient *r);

/*
 * Make the key agreements of the next messages ahead, for their recipients'
 * keys (uncompressed points) in the order they will be encrypted: made
 * together, they cost less each (p256_ephemeral_ecdh_batch).  ece_encrypt
 * takes the one made for its recipient; a message left out, or encrypted
 * out of order, gets one of its own.  Each is used at most once, and
 * ece_forget_prepared wipes what is left.
 */
extern void ece_prepare(EceContext *ctx, const uint8_t *const *peers, int n);
extern void ece_forget_prepared(EceContext *ctx);

/*
 * Encrypt plaintext for a recipient into out (room for ECE_BODY_LEN(len)).
 * salt and sender may be NULL for fresh random ones, which is what every real
 * message must use; given ones exist for the RFC test vector.
 */
extern EceResult ece_encrypt(EceContext *ctx, const EceRecipient *r,
							 const uint8_t *plaintext, size_t len,
							 const uint8_t *salt, EVP_PKEY *sender,
							 uint8_t *out, size_t *out_len);

#endif							/* WEBPUSH_ECE_H */
