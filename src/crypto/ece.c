/*
 * ece.c
 *		RFC 8291 message encryption for Web Push (aes128gcm, RFC 8188).
 *
 * The key schedule follows RFC 8291 section 3.4; section 5's example is
 * reproduced byte for byte by the regression tests.
 */
#include "crypto/ece.h"

#include <stdlib.h>
#include <string.h>


#define SHA256_LEN 32
#define SHA256_BLOCK_LEN 64
#define ECE_KEY_LEN 16
#define ECE_NONCE_LEN 12

struct EceContext
{
	EVP_MD	   *sha256;
	EVP_MD_CTX *digest;			/* reused by every HMAC step */
	EVP_CIPHER *aes_gcm;
	EVP_CIPHER_CTX *cipher;
	RandomPool *random;			/* salts and ephemeral private keys */
	P256Ephemeral *ephemeral;	/* per-message sender key and ECDH */
	/* Key agreements computed ahead (ece_prepare), taken in order. */
	P256Agreement *prepared;
	int			nprepared;
	int			next_prepared;
	int			prepared_room;
};

EceContext *
ece_context_create(void)
{
	EceContext *ctx = calloc(1, sizeof(EceContext));

	if (ctx == NULL)
		return NULL;
	ctx->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	ctx->digest = EVP_MD_CTX_new();
	ctx->aes_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	ctx->cipher = EVP_CIPHER_CTX_new();
	ctx->random = random_pool_create();
	if (ctx->random != NULL)
		ctx->ephemeral = p256_ephemeral_create(ctx->random);
	if (ctx->sha256 == NULL || ctx->digest == NULL || ctx->aes_gcm == NULL ||
		ctx->cipher == NULL || ctx->random == NULL || ctx->ephemeral == NULL)
	{
		ece_context_free(ctx);
		return NULL;
	}
	return ctx;
}

void
ece_context_free(EceContext *ctx)
{
	if (ctx == NULL)
		return;
	EVP_MD_free(ctx->sha256);
	EVP_MD_CTX_free(ctx->digest);
	EVP_CIPHER_free(ctx->aes_gcm);
	EVP_CIPHER_CTX_free(ctx->cipher);
	ece_forget_prepared(ctx);
	free(ctx->prepared);
	p256_ephemeral_free(ctx->ephemeral);
	random_pool_free(ctx->random);
	free(ctx);
}

int
ece_recipient_init(EceRecipient *r, const uint8_t p256dh[P256_PUBLIC_LEN],
				   const uint8_t auth[ECE_AUTH_LEN])
{
	if (p256dh[0] != 0x04)		/* uncompressed point */
		return -1;
	memcpy(r->public_raw, p256dh, P256_PUBLIC_LEN);
	memcpy(r->auth, auth, ECE_AUTH_LEN);
	return 0;
}

void
ece_recipient_clear(EceRecipient *r)
{
	memset(r, 0, sizeof(*r));
}

void
ece_prepare(EceContext *ctx, const uint8_t *const *peers, int n)
{
	ece_forget_prepared(ctx);
	if (n > ctx->prepared_room)
	{
		P256Agreement *room = calloc(n, sizeof(P256Agreement));

		/* Without room, each message makes its own agreement. */
		if (room == NULL)
			return;
		free(ctx->prepared);
		ctx->prepared = room;
		ctx->prepared_room = n;
	}
	for (int i = 0; i < n; i++)
		memcpy(ctx->prepared[i].peer, peers[i], P256_PUBLIC_LEN);
	p256_ephemeral_ecdh_batch(ctx->ephemeral, ctx->prepared, n);
	ctx->nprepared = n;
}

void
ece_forget_prepared(EceContext *ctx)
{
	if (ctx->nprepared > 0)
		OPENSSL_cleanse(ctx->prepared, sizeof(P256Agreement) * ctx->nprepared);
	ctx->nprepared = 0;
	ctx->next_prepared = 0;
}

/*
 * The next prepared agreement for peer: 0 (with sender_public and secret
 * filled), -1 when peer is not a point on P-256, or 1 when none was prepared
 * for it (or making it failed).  Each is used once: the one taken and any
 * passed over (prepared for a message not sent after all) are wiped.
 */
static int
take_prepared(EceContext *ctx, const uint8_t peer[P256_PUBLIC_LEN],
			  uint8_t sender_public[P256_PUBLIC_LEN], uint8_t secret[P256_SECRET_LEN])
{
	for (int i = ctx->next_prepared; i < ctx->nprepared; i++)
	{
		P256Agreement *a = &ctx->prepared[i];
		int			status;

		if (memcmp(a->peer, peer, P256_PUBLIC_LEN) != 0)
			continue;
		status = a->status;
		if (status == 0)
		{
			memcpy(sender_public, a->sender_public, P256_PUBLIC_LEN);
			memcpy(secret, a->secret, P256_SECRET_LEN);
		}
		OPENSSL_cleanse(ctx->prepared + ctx->next_prepared,
						sizeof(P256Agreement) * (i + 1 - ctx->next_prepared));
		ctx->next_prepared = i + 1;
		return status == 0 || status == -1 ? status : 1;
	}
	return 1;
}

/*
 * out = HMAC-SHA256(key, part1 || part2) (RFC 2104); either part may be
 * empty.  Written out over one reused SHA-256 context: OpenSSL 3's EVP_MAC
 * re-keys through its generic HMAC layer, which cost about 13,000
 * instructions per call against 9,000 here, most of them the four SHA-256
 * blocks (callgrind); every message takes five.  Keys here are at most one
 * block long (16 or 32 bytes), so none needs hashing first.
 */
static int
hmac_sha256(EceContext *ctx, const uint8_t *key, size_t key_len,
			const uint8_t *part1, size_t len1,
			const uint8_t *part2, size_t len2,
			uint8_t out[SHA256_LEN])
{
	uint8_t		pad[SHA256_BLOCK_LEN];
	uint8_t		inner[SHA256_LEN];
	int			ok;

	if (key_len > SHA256_BLOCK_LEN)
		return 0;
	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < key_len; i++)
		pad[i] ^= key[i];
	ok = EVP_DigestInit_ex2(ctx->digest, ctx->sha256, NULL) &&
		EVP_DigestUpdate(ctx->digest, pad, sizeof(pad)) &&
		EVP_DigestUpdate(ctx->digest, part1, len1) &&
		(len2 == 0 || EVP_DigestUpdate(ctx->digest, part2, len2)) &&
		EVP_DigestFinal_ex(ctx->digest, inner, NULL);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	ok = ok &&
		EVP_DigestInit_ex2(ctx->digest, ctx->sha256, NULL) &&
		EVP_DigestUpdate(ctx->digest, pad, sizeof(pad)) &&
		EVP_DigestUpdate(ctx->digest, inner, sizeof(inner)) &&
		EVP_DigestFinal_ex(ctx->digest, out, NULL);
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok;
}

EceResult
ece_encrypt(EceContext *ctx, const EceRecipient *r,
			const uint8_t *plaintext, size_t len,
			const uint8_t *salt_in, EVP_PKEY *sender_in,
			uint8_t *out, size_t *out_len)
{
	static const char key_info_label[] = "WebPush: info";	/* with its NUL */
	static const uint8_t cek_info[] = "Content-Encoding: aes128gcm\0\1";
	static const uint8_t nonce_info[] = "Content-Encoding: nonce\0\1";
	uint8_t		salt[ECE_SALT_LEN];
	uint8_t		sender_public[P256_PUBLIC_LEN];
	uint8_t		ecdh_secret[P256_SECRET_LEN];
	uint8_t		key_info[sizeof(key_info_label) + 2 * P256_PUBLIC_LEN + 1];
	uint8_t		prk_key[SHA256_LEN];
	uint8_t		ikm[SHA256_LEN];
	uint8_t		prk[SHA256_LEN];
	uint8_t		cek[SHA256_LEN];
	uint8_t		nonce[SHA256_LEN];
	uint8_t		delimiter = 0x02;	/* last (and only) record, no padding */
	uint8_t    *p;
	int			n;
	EceResult	result = ECE_ERROR_CRYPTO;

	if (len > ECE_MAX_PLAINTEXT)
		return ECE_ERROR_PAYLOAD_TOO_LARGE;

	if (salt_in != NULL)
		memcpy(salt, salt_in, ECE_SALT_LEN);
	else if (!random_pool_take(ctx->random, salt, ECE_SALT_LEN))
		return ECE_ERROR_CRYPTO;

	if (sender_in == NULL)
	{
		/* A fresh ephemeral key per message: never reused across messages. */
		int			rc = take_prepared(ctx, r->public_raw, sender_public, ecdh_secret);

		if (rc == 1)
			rc = p256_ephemeral_ecdh(ctx->ephemeral, r->public_raw,
									 sender_public, ecdh_secret);

		if (rc == -1)
			result = ECE_ERROR_INVALID_KEY;
		if (rc != 0)
			goto done;
	}
	else
	{
		/* A given sender key: test vectors only, so the slow general path. */
		EVP_PKEY   *peer = p256_public_from_raw(r->public_raw, 0);
		int			ok = peer != NULL &&
			p256_export_public(sender_in, sender_public) == 0 &&
			p256_ecdh(sender_in, peer, ecdh_secret) == 0;

		if (peer == NULL)
			result = ECE_ERROR_INVALID_KEY;
		EVP_PKEY_free(peer);
		if (!ok)
			goto done;
	}

	/* key_info = "WebPush: info" 0x00 ua_public as_public, then 0x01 */
	memcpy(key_info, key_info_label, sizeof(key_info_label));
	memcpy(key_info + sizeof(key_info_label), r->public_raw, P256_PUBLIC_LEN);
	memcpy(key_info + sizeof(key_info_label) + P256_PUBLIC_LEN,
		   sender_public, P256_PUBLIC_LEN);
	key_info[sizeof(key_info) - 1] = 0x01;

	if (!hmac_sha256(ctx, r->auth, ECE_AUTH_LEN, ecdh_secret, sizeof(ecdh_secret),
					 NULL, 0, prk_key) ||
		!hmac_sha256(ctx, prk_key, SHA256_LEN, key_info, sizeof(key_info),
					 NULL, 0, ikm) ||
		!hmac_sha256(ctx, salt, ECE_SALT_LEN, ikm, SHA256_LEN, NULL, 0, prk) ||
		!hmac_sha256(ctx, prk, SHA256_LEN, cek_info, sizeof(cek_info) - 1,
					 NULL, 0, cek) ||
		!hmac_sha256(ctx, prk, SHA256_LEN, nonce_info, sizeof(nonce_info) - 1,
					 NULL, 0, nonce))
		goto done;

	/* Header: salt, record size (big-endian), key id length, key id. */
	p = out;
	memcpy(p, salt, ECE_SALT_LEN);
	p += ECE_SALT_LEN;
	*p++ = (ECE_RECORD_SIZE >> 24) & 0xff;
	*p++ = (ECE_RECORD_SIZE >> 16) & 0xff;
	*p++ = (ECE_RECORD_SIZE >> 8) & 0xff;
	*p++ = ECE_RECORD_SIZE & 0xff;
	*p++ = P256_PUBLIC_LEN;
	memcpy(p, sender_public, P256_PUBLIC_LEN);
	p += P256_PUBLIC_LEN;

	if (!EVP_EncryptInit_ex2(ctx->cipher, ctx->aes_gcm, cek, nonce, NULL))
		goto done;
	if (len > 0)
	{
		if (!EVP_EncryptUpdate(ctx->cipher, p, &n, plaintext, (int) len))
			goto done;
		p += n;
	}
	if (!EVP_EncryptUpdate(ctx->cipher, p, &n, &delimiter, 1))
		goto done;
	p += n;
	if (!EVP_EncryptFinal_ex(ctx->cipher, p, &n))
		goto done;
	p += n;
	if (!EVP_CIPHER_CTX_ctrl(ctx->cipher, EVP_CTRL_GCM_GET_TAG, ECE_TAG_LEN, p))
		goto done;
	p += ECE_TAG_LEN;

	*out_len = (size_t) (p - out);
	result = ECE_OK;

done:
	memset(ecdh_secret, 0, sizeof(ecdh_secret));
	memset(prk_key, 0, sizeof(prk_key));
	memset(ikm, 0, sizeof(ikm));
	memset(prk, 0, sizeof(prk));
	memset(cek, 0, sizeof(cek));
	return result;
}
