/*
 * crypto_bound.c: the per-message crypto floor on this machine, one core.
 *
 * Every notification needs one P-256 key generation and one ECDH.  This
 * times both ways to do them: OpenSSL 3's EVP API as a straightforward
 * sender would (generate, import the peer, derive), and the EC_POINT path
 * the worker uses (src/p256.c).  The worker's CPU per message is compared
 * with these figures.  Built and run by bench/run.sh.
 */
#include <stdio.h>
#include <time.h>

#include <openssl/evp.h>

#include "p256.h"

#define ROUNDS 4000

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int
main(void)
{
	EVP_PKEY   *receiver = p256_generate();
	uint8_t		peer[P256_PUBLIC_LEN];
	uint8_t		sender_public[P256_PUBLIC_LEN];
	uint8_t		secret[P256_SECRET_LEN];
	P256Ephemeral *e = p256_ephemeral_create();
	double		t0;
	double		evp_us;
	double		point_us;

	if (receiver == NULL || e == NULL || p256_export_public(receiver, peer) != 0)
		return 1;

	t0 = now_us();
	for (int i = 0; i < ROUNDS; i++)
	{
		EVP_PKEY   *sender = p256_generate();
		EVP_PKEY   *peer_key = p256_public_from_raw(peer, 0);

		if (sender == NULL || peer_key == NULL ||
			p256_export_public(sender, sender_public) != 0 ||
			p256_ecdh(sender, peer_key, secret) != 0)
			return 1;
		EVP_PKEY_free(sender);
		EVP_PKEY_free(peer_key);
	}
	evp_us = (now_us() - t0) / ROUNDS;

	t0 = now_us();
	for (int i = 0; i < ROUNDS; i++)
		if (p256_ephemeral_ecdh(e, peer, sender_public, secret) != 0)
			return 1;
	point_us = (now_us() - t0) / ROUNDS;

	printf("keygen + ECDH, OpenSSL EVP (naive)            %.0f us per message\n", evp_us);
	printf("keygen + ECDH, EC_POINT path (the worker's)   %.0f us per message\n", point_us);
	EVP_PKEY_free(receiver);
	p256_ephemeral_free(e);
	return 0;
}
