/*
 * p256.h
 *		P-256 key pairs: generation, raw import/export, PEM import, ECDH.
 *
 * Web Push moves keys around as raw bytes: a 65-byte uncompressed point for
 * public keys and a 32-byte scalar for private ones.  This module turns those
 * into OpenSSL EVP_PKEYs and back.  No PostgreSQL headers.
 */
#ifndef WEBPUSH_P256_H
#define WEBPUSH_P256_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "crypto/random_pool.h"

#define P256_PUBLIC_LEN		65	/* 0x04 || X || Y */
#define P256_PRIVATE_LEN	32
#define P256_SECRET_LEN		32	/* ECDH shared secret (the X coordinate) */

/*
 * Build a public key from an uncompressed point.  Returns NULL when the bytes
 * are not a point on the curve (or not uncompressed), which is how a forged or
 * corrupted p256dh shows up.  full_check adds OpenSSL's complete public key
 * validation: worth it where keys enter (subscribe), too dear per message for
 * keys that were checked then (decoding still refuses off-curve points).
 */
extern EVP_PKEY *p256_public_from_raw(const uint8_t raw[P256_PUBLIC_LEN], int full_check);

/*
 * Build a full key pair from a private scalar, computing the public point.
 * Returns NULL when the scalar is zero or not below the group order.
 */
extern EVP_PKEY *p256_keypair_from_private(const uint8_t priv[P256_PRIVATE_LEN]);

/*
 * Parse a private key from PEM text (SEC1 "EC PRIVATE KEY" or PKCS#8
 * "PRIVATE KEY").  Returns NULL unless it is a P-256 key; *is_key tells
 * whether the PEM held a private key at all.
 */
extern EVP_PKEY *p256_keypair_from_pem(const char *pem, size_t len, int *is_key);

/* A fresh random key pair, or NULL on failure. */
extern EVP_PKEY *p256_generate(void);

/*
 * The per-message half of Web Push encryption: a fresh ephemeral key pair and
 * its ECDH with the browser's key.  Scratch space for it, made once; the
 * private scalars come from random, which must outlive it.
 */
typedef struct P256Ephemeral P256Ephemeral;

extern P256Ephemeral *p256_ephemeral_create(RandomPool *random);
extern void p256_ephemeral_free(P256Ephemeral *e);

/*
 * Generate a random key pair, write its public point to sender_public, and
 * the ECDH secret with peer (an uncompressed point) to secret.  The private
 * scalar is wiped before returning.  Returns 0, -1 when peer is not a point
 * on P-256, or -2 when OpenSSL fails.
 */
extern int	p256_ephemeral_ecdh(P256Ephemeral *e, const uint8_t peer[P256_PUBLIC_LEN],
								uint8_t sender_public[P256_PUBLIC_LEN],
								uint8_t secret[P256_SECRET_LEN]);

/*
 * Several key agreements at once, each as p256_ephemeral_ecdh would make it
 * (a fresh key pair per agreement, never shared), for the peers filled in:
 * status is 0, -1 when peer is not a point on P-256, or -2 when OpenSSL
 * failed.  Cheaper per agreement than one at a time (see p256.c); the
 * caller wipes secret when done.
 */
#define P256_BATCH_MAX 64

typedef struct P256Agreement
{
	uint8_t		peer[P256_PUBLIC_LEN];	/* in: the recipient's key */
	uint8_t		sender_public[P256_PUBLIC_LEN];
	uint8_t		secret[P256_SECRET_LEN];
	int			status;
} P256Agreement;

extern void p256_ephemeral_ecdh_batch(P256Ephemeral *e, P256Agreement *agreements,
									  int n);

/* Export the raw forms; return 0 on success, -1 on failure. */
extern int	p256_export_public(EVP_PKEY *key, uint8_t out[P256_PUBLIC_LEN]);
extern int	p256_export_private(EVP_PKEY *key, uint8_t out[P256_PRIVATE_LEN]);

/*
 * ECDH between our private key and a peer public key that was validated when
 * it was built (p256_public_from_raw), so it is not validated again here.
 */
extern int	p256_ecdh(EVP_PKEY *ours, EVP_PKEY *peer, uint8_t secret[P256_SECRET_LEN]);

#endif							/* WEBPUSH_P256_H */
