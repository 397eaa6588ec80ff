/*
 * vapid.h
 *		VAPID (RFC 8292): the application server's key and its signed JWTs.
 *
 * A JWT is valid for one push-service origin until its exp, so it is signed
 * once per origin and reused from a small cache instead of once per message.
 * No PostgreSQL headers.
 */
#ifndef WEBPUSH_VAPID_H
#define WEBPUSH_VAPID_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>

#include "crypto/p256.h"

/* Lifetime of a signed JWT; RFC 8292 allows 24 h, clock skew makes that risky. */
#define VAPID_JWT_LIFETIME		(12 * 60 * 60)
/* Re-sign a cached JWT once less than this is left before its exp. */
#define VAPID_JWT_REFRESH_MARGIN (60 * 60)
/*
 * Apple refuses a new JWT for an audience and key signed within this long
 * of the last one it saw (PROTOCOL.md, each push service's rules).
 */
#define VAPID_JWT_RESIGN_AFTER	(60 * 60)
#define VAPID_JWT_MAX_LEN		2048

typedef enum VapidImportResult
{
	VAPID_IMPORT_OK = 0,
	VAPID_IMPORT_BAD_FORMAT,	/* neither base64(url) nor PEM */
	VAPID_IMPORT_BAD_PEM,		/* PEM without a readable private key */
	VAPID_IMPORT_BAD_LENGTH,	/* base64 that is not 32 bytes */
	VAPID_IMPORT_BAD_KEY		/* not a valid P-256 private key */
} VapidImportResult;

/*
 * Parse a private key as the tools print it: base64url (or base64) of the raw
 * 32-byte scalar, as npm web-push does, or PEM (SEC1 or PKCS#8).
 */
extern VapidImportResult vapid_import_private(const char *text, size_t len,
											  EVP_PKEY **key_out);

/*
 * Why a subject (the JWT's "sub": the sender's contact) would be refused,
 * or NULL when it is fine: a mailto: address or an https: URL, at a domain
 * on the internet.  Apple's push service answers 403 BadJwtToken to
 * placeholders (an address at localhost or .invalid, "mailto: <x>" with
 * spaces or brackets) that FCM and Mozilla take, so they are refused up
 * front.  The text is a sentence for an errdetail.
 */
extern const char *vapid_subject_problem(const char *subject);

typedef struct VapidSigner VapidSigner;

/* A signer for one key pair and contact (the JWT's sub). */
extern VapidSigner *vapid_signer_create(const uint8_t private_key[P256_PRIVATE_LEN],
										const char *subject);
extern void vapid_signer_free(VapidSigner *signer);

/* Whether this signer was made for the given key and subject. */
extern int	vapid_signer_matches(const VapidSigner *signer,
								 const uint8_t private_key[P256_PRIVATE_LEN],
								 const char *subject);

/* The base64url public key, as sent in "k=" (87 characters and a NUL). */
extern const char *vapid_signer_public_key(const VapidSigner *signer);

/*
 * The JWT for an origin ("https://host[:port]"), valid at time now, from the
 * cache or freshly signed.  Returns NULL when signing fails.  The string
 * stays valid until the next call for the same origin or vapid_signer_free.
 */
extern const char *vapid_jwt_for_origin(VapidSigner *signer, const char *origin,
										time_t now);

/*
 * The same in steps, for a caller that shares JWTs between processes: the
 * cached JWT while more than VAPID_JWT_REFRESH_MARGIN is left before its
 * exp, or NULL; a new one signed at now into out (its exp into *exp),
 * returning its length or -1; and a JWT made the cached one for origin
 * (NULL when out of memory), which stays valid as vapid_jwt_for_origin's.
 */
extern const char *vapid_jwt_cached(VapidSigner *signer, const char *origin,
									time_t now);
extern long vapid_jwt_sign_new(const VapidSigner *signer, const char *origin,
							   time_t now, char *out, size_t out_cap,
							   long long *exp);
extern const char *vapid_jwt_keep(VapidSigner *signer, const char *origin,
								  const char *jwt, long long exp);

/*
 * What names a signer's JWTs for an origin among processes: a SHA-256 of
 * its public key, its subject and the origin.  A rotated key or a changed
 * subject has another id, so never reuses the old one's JWT.  Returns 0, or
 * -1 when out of memory (then there is no id to share under).
 */
#define VAPID_TOKEN_ID_LEN 32
extern int	vapid_token_id(const VapidSigner *signer, const char *origin,
						   uint8_t id[VAPID_TOKEN_ID_LEN]);

/*
 * What a push service counts new tokens by: a SHA-256 of the signer's
 * public key and the origin, whatever the subject.  Returns 0, or -1 when
 * out of memory.
 */
extern int	vapid_audience_id(const VapidSigner *signer, const char *origin,
							  uint8_t id[VAPID_TOKEN_ID_LEN]);

/* Sign a JWT for aud/sub/exp into out; returns its length or -1. */
extern long vapid_jwt_sign(EVP_PKEY *key, const char *aud, const char *sub,
						   long long exp, char *out, size_t out_cap);

#endif							/* WEBPUSH_VAPID_H */
