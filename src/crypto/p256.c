/*
 * p256.c
 *		P-256 key pairs: generation, raw import/export, PEM import, ECDH.
 *
 * Uses the OpenSSL 3 EVP and EC_POINT interfaces.  Two EC_POINT calls that
 * OpenSSL 3.0 deprecated without a replacement, EC_POINTs_make_affine and
 * EC_POINT_get_Jprojective_coordinates_GFp, make a batch of key agreements
 * share one field inversion (p256_ephemeral_ecdh_batch); the warnings for
 * them are silenced here, and an OpenSSL built without deprecated interfaces
 * (OPENSSL_NO_DEPRECATED_3_0) gets one agreement at a time instead.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "crypto/p256.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define P256_GROUP_NAME "prime256v1"

/* Build an EVP_PKEY from OSSL_PARAMs, as a public key or a key pair. */
static EVP_PKEY *
p256_from_params(OSSL_PARAM *params, int selection)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY   *key = NULL;

	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
		EVP_PKEY_fromdata(ctx, &key, selection, params) <= 0)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

EVP_PKEY *
p256_public_from_raw(const uint8_t raw[P256_PUBLIC_LEN], int full_check)
{
	OSSL_PARAM	params[3];
	EVP_PKEY   *key;
	EVP_PKEY_CTX *check;
	int			ok;

	/* Only the uncompressed form is used by Web Push. */
	if (raw[0] != 0x04)
		return NULL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
												 (char *) P256_GROUP_NAME, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
												  (void *) raw, P256_PUBLIC_LEN);
	params[2] = OSSL_PARAM_construct_end();
	key = p256_from_params(params, EVP_PKEY_PUBLIC_KEY);
	if (key == NULL || !full_check)
		return key;

	/* Decoding already rejects off-curve points; say so explicitly anyway. */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	ok = check != NULL && EVP_PKEY_public_check(check) == 1;
	EVP_PKEY_CTX_free(check);
	if (!ok)
	{
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

EVP_PKEY *
p256_keypair_from_private(const uint8_t priv[P256_PRIVATE_LEN])
{
	EC_GROUP   *group = NULL;
	EC_POINT   *pub = NULL;
	BIGNUM	   *scalar = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY   *key = NULL;
	uint8_t		pub_raw[P256_PUBLIC_LEN];

	group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	scalar = BN_bin2bn(priv, P256_PRIVATE_LEN, NULL);
	if (group == NULL || scalar == NULL)
		goto done;
	if (BN_is_zero(scalar) || BN_cmp(scalar, EC_GROUP_get0_order(group)) >= 0)
		goto done;

	/* OpenSSL does not derive the public point from a bare scalar: do it. */
	pub = EC_POINT_new(group);
	if (pub == NULL ||
		!EC_POINT_mul(group, pub, scalar, NULL, NULL, NULL) ||
		EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED,
						   pub_raw, sizeof(pub_raw), NULL) != sizeof(pub_raw))
		goto done;

	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
		!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
										 P256_GROUP_NAME, 0) ||
		!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, scalar) ||
		!OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
										  pub_raw, sizeof(pub_raw)))
		goto done;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL)
		goto done;
	key = p256_from_params(params, EVP_PKEY_KEYPAIR);

done:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pub);
	BN_clear_free(scalar);
	EC_GROUP_free(group);
	return key;
}

EVP_PKEY *
p256_keypair_from_pem(const char *pem, size_t len, int *is_key)
{
	BIO		   *bio;
	EVP_PKEY   *parsed;
	EVP_PKEY   *key = NULL;
	uint8_t		priv[P256_PRIVATE_LEN];

	*is_key = 0;
	if (len > 16384)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int) len);
	if (bio == NULL)
		return NULL;
	parsed = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (parsed == NULL)
		return NULL;
	*is_key = 1;

	/*
	 * Rebuild from the scalar: that both checks the curve (a key of another
	 * curve fails the export) and gives one canonical in-memory form.
	 */
	if (EVP_PKEY_is_a(parsed, "EC") && p256_export_private(parsed, priv) == 0)
	{
		char		group[64];
		size_t		group_len = 0;

		if (EVP_PKEY_get_utf8_string_param(parsed, OSSL_PKEY_PARAM_GROUP_NAME,
										   group, sizeof(group), &group_len) &&
			strcmp(group, P256_GROUP_NAME) == 0)
			key = p256_keypair_from_private(priv);
	}
	memset(priv, 0, sizeof(priv));
	EVP_PKEY_free(parsed);
	return key;
}

/*
 * EVP would do the same with EVP_PKEY_keygen, EVP_PKEY_fromdata and
 * EVP_PKEY_derive, but each of those builds and frees keys, contexts and
 * even the curve's group per call: about a third of the worker's time went
 * there.  On EC_POINTs of one group kept for the worker's lifetime, the work
 * left is the two scalar multiplications themselves (the fixed-base one uses
 * OpenSSL's precomputed table).
 */
struct P256Ephemeral
{
	RandomPool *random;			/* the scalars' bytes; not ours to free */
	EC_GROUP   *group;
	BN_CTX	   *bn;
	BIGNUM	   *scalar;			/* the ephemeral private key, wiped after use */
	BIGNUM	   *x;
	EC_POINT   *ours;
	EC_POINT   *peer;
	EC_POINT   *shared;
	BIGNUM	   *y;
	/* A batch's points: each agreement's public point, then its shared one. */
	EC_POINT   *batch[2 * P256_BATCH_MAX];
};

P256Ephemeral *
p256_ephemeral_create(RandomPool *random)
{
	P256Ephemeral *e = calloc(1, sizeof(P256Ephemeral));

	if (e == NULL)
		return NULL;
	e->random = random;
	e->group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	e->bn = BN_CTX_new();
	e->scalar = BN_new();
	e->x = BN_new();
	e->y = BN_new();
	if (e->group == NULL || e->bn == NULL || e->scalar == NULL || e->x == NULL ||
		e->y == NULL ||
		(e->ours = EC_POINT_new(e->group)) == NULL ||
		(e->peer = EC_POINT_new(e->group)) == NULL ||
		(e->shared = EC_POINT_new(e->group)) == NULL)
	{
		p256_ephemeral_free(e);
		return NULL;
	}
	for (int i = 0; i < 2 * P256_BATCH_MAX; i++)
	{
		if ((e->batch[i] = EC_POINT_new(e->group)) == NULL)
		{
			p256_ephemeral_free(e);
			return NULL;
		}
	}
	BN_set_flags(e->scalar, BN_FLG_CONSTTIME);
	return e;
}

void
p256_ephemeral_free(P256Ephemeral *e)
{
	if (e == NULL)
		return;
	EC_POINT_free(e->ours);
	EC_POINT_free(e->peer);
	EC_POINT_free(e->shared);
	for (int i = 0; i < 2 * P256_BATCH_MAX; i++)
		EC_POINT_clear_free(e->batch[i]);
	BN_clear_free(e->scalar);
	BN_clear_free(e->x);
	BN_clear_free(e->y);
	BN_CTX_free(e->bn);
	EC_GROUP_free(e->group);
	free(e);
}

/*
 * Decode an uncompressed point into e->peer; oct2point refuses points that
 * are not on the curve.
 */
static bool
decode_peer(P256Ephemeral *e, const uint8_t peer[P256_PUBLIC_LEN])
{
	return peer[0] == POINT_CONVERSION_UNCOMPRESSED &&
		EC_POINT_oct2point(e->group, e->peer, peer, P256_PUBLIC_LEN, e->bn);
}

/*
 * A uniform scalar in [1, n-1] in e->scalar: 256 random bits, drawn again in
 * the rare case (about 2^-32) that they are zero or not below the order.
 */
static bool
draw_scalar(P256Ephemeral *e)
{
	uint8_t		scalar_bytes[P256_PRIVATE_LEN];
	bool		ok = true;

	do
	{
		if (!random_pool_take(e->random, scalar_bytes, sizeof(scalar_bytes)) ||
			BN_bin2bn(scalar_bytes, sizeof(scalar_bytes), e->scalar) == NULL)
		{
			ok = false;
			break;
		}
	} while (BN_is_zero(e->scalar) ||
			 BN_cmp(e->scalar, EC_GROUP_get0_order(e->group)) >= 0);
	OPENSSL_cleanse(scalar_bytes, sizeof(scalar_bytes));
	BN_set_flags(e->scalar, BN_FLG_CONSTTIME);
	return ok;
}

int
p256_ephemeral_ecdh(P256Ephemeral *e, const uint8_t peer[P256_PUBLIC_LEN],
					uint8_t sender_public[P256_PUBLIC_LEN],
					uint8_t secret[P256_SECRET_LEN])
{
	int			result = -2;

	if (!decode_peer(e, peer))
		return -1;
	if (draw_scalar(e) &&
		EC_POINT_mul(e->group, e->ours, e->scalar, NULL, NULL, e->bn) &&
		EC_POINT_point2oct(e->group, e->ours, POINT_CONVERSION_UNCOMPRESSED,
						   sender_public, P256_PUBLIC_LEN, e->bn) == P256_PUBLIC_LEN &&
		EC_POINT_mul(e->group, e->shared, NULL, e->peer, e->scalar, e->bn) &&
		!EC_POINT_is_at_infinity(e->group, e->shared) &&
		EC_POINT_get_affine_coordinates(e->group, e->shared, e->x, NULL, e->bn) &&
		BN_bn2binpad(e->x, secret, P256_SECRET_LEN) == P256_SECRET_LEN)
		result = 0;

	BN_clear(e->scalar);
	BN_clear(e->x);
	return result;
}

#ifndef OPENSSL_NO_DEPRECATED_3_0

/*
 * Up to P256_BATCH_MAX agreements.  The scalar multiplications leave their
 * points in Jacobian coordinates, and each agreement needs two of them in
 * affine ones (the public point's x and y, the shared point's x): one field
 * inversion each, about an eighth of an agreement's time.
 * EC_POINTs_make_affine inverts them all at once (Montgomery's trick: one
 * inversion and three multiplications a point), and with Z = 1 the Jacobian
 * coordinates are the affine ones.
 */
static void
agree_chunk(P256Ephemeral *e, P256Agreement *agreements, int n)
{
	int			made[P256_BATCH_MAX];
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		P256Agreement *a = &agreements[i];

		a->status = -2;
		if (!decode_peer(e, a->peer))
		{
			a->status = -1;
			continue;
		}
		if (draw_scalar(e) &&
			EC_POINT_mul(e->group, e->batch[2 * m], e->scalar, NULL, NULL, e->bn) &&
			EC_POINT_mul(e->group, e->batch[2 * m + 1], NULL, e->peer, e->scalar, e->bn) &&
			!EC_POINT_is_at_infinity(e->group, e->batch[2 * m + 1]))
			made[m++] = i;
		BN_clear(e->scalar);
	}
	if (m > 0 && EC_POINTs_make_affine(e->group, 2 * m, e->batch, e->bn))
	{
		for (int j = 0; j < m; j++)
		{
			P256Agreement *a = &agreements[made[j]];

			a->sender_public[0] = POINT_CONVERSION_UNCOMPRESSED;
			if (EC_POINT_get_Jprojective_coordinates_GFp(e->group, e->batch[2 * j],
														 e->x, e->y, NULL, e->bn) &&
				BN_bn2binpad(e->x, a->sender_public + 1, P256_SECRET_LEN) == P256_SECRET_LEN &&
				BN_bn2binpad(e->y, a->sender_public + 1 + P256_SECRET_LEN,
							 P256_SECRET_LEN) == P256_SECRET_LEN &&
				EC_POINT_get_Jprojective_coordinates_GFp(e->group, e->batch[2 * j + 1],
														 e->x, NULL, NULL, e->bn) &&
				BN_bn2binpad(e->x, a->secret, P256_SECRET_LEN) == P256_SECRET_LEN)
				a->status = 0;
		}
	}
	/* The shared points are secrets: nothing of them stays. */
	for (int j = 0; j < 2 * m; j++)
		EC_POINT_set_to_infinity(e->group, e->batch[j]);
	BN_clear(e->x);
	BN_clear(e->y);
}

void
p256_ephemeral_ecdh_batch(P256Ephemeral *e, P256Agreement *agreements, int n)
{
	for (int start = 0; start < n; start += P256_BATCH_MAX)
		agree_chunk(e, agreements + start,
					n - start < P256_BATCH_MAX ? n - start : P256_BATCH_MAX);
}

#else							/* OPENSSL_NO_DEPRECATED_3_0 */

void
p256_ephemeral_ecdh_batch(P256Ephemeral *e, P256Agreement *agreements, int n)
{
	for (int i = 0; i < n; i++)
		agreements[i].status = p256_ephemeral_ecdh(e, agreements[i].peer,
												   agreements[i].sender_public,
												   agreements[i].secret);
}

#endif							/* OPENSSL_NO_DEPRECATED_3_0 */

EVP_PKEY *
p256_generate(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", P256_GROUP_NAME);
}

int
p256_export_public(EVP_PKEY *key, uint8_t out[P256_PUBLIC_LEN])
{
	size_t		len = 0;

	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY,
										 out, P256_PUBLIC_LEN, &len) ||
		len != P256_PUBLIC_LEN || out[0] != 0x04)
		return -1;
	return 0;
}

int
p256_export_private(EVP_PKEY *key, uint8_t out[P256_PRIVATE_LEN])
{
	BIGNUM	   *scalar = NULL;
	int			rc = -1;

	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &scalar) &&
		BN_num_bytes(scalar) <= P256_PRIVATE_LEN &&
		BN_bn2binpad(scalar, out, P256_PRIVATE_LEN) == P256_PRIVATE_LEN)
		rc = 0;
	BN_clear_free(scalar);
	return rc;
}

int
p256_ecdh(EVP_PKEY *ours, EVP_PKEY *peer, uint8_t secret[P256_SECRET_LEN])
{
	EVP_PKEY_CTX *ctx;
	size_t		len = P256_SECRET_LEN;
	int			rc = -1;

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL);
	if (ctx != NULL &&
		EVP_PKEY_derive_init(ctx) > 0 &&
		EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) > 0 &&
		EVP_PKEY_derive(ctx, secret, &len) > 0 &&
		len == P256_SECRET_LEN)
		rc = 0;
	EVP_PKEY_CTX_free(ctx);
	return rc;
}
