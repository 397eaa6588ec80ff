/*
 * fuzz_key_import.c
 *		libFuzzer harness: VAPID private key import (raw base64url or PEM).
 *
 * Checks: an imported key exports a 32-byte scalar that imports again to
 * the same public key.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/p256.h"
#include "crypto/vapid.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY   *key = NULL;
	EVP_PKEY   *again;
	uint8_t		priv[P256_PRIVATE_LEN];
	uint8_t		pub1[P256_PUBLIC_LEN];
	uint8_t		pub2[P256_PUBLIC_LEN];

	if (vapid_import_private((const char *) data, size, &key) != VAPID_IMPORT_OK)
		return 0;
	if (p256_export_private(key, priv) != 0 || p256_export_public(key, pub1) != 0)
		abort();
	again = p256_keypair_from_private(priv);
	if (again == NULL || p256_export_public(again, pub2) != 0 ||
		memcmp(pub1, pub2, sizeof(pub1)) != 0)
		abort();
	EVP_PKEY_free(again);
	EVP_PKEY_free(key);
	return 0;
}
