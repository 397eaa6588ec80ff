/*
 * sql_keys.c
 *		SQL functions for the VAPID key pair: webpush_keys, webpush_keys_import.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "b64.h"
#include "p256.h"
#include "store.h"
#include "vapid.h"

PG_FUNCTION_INFO_V1(webpush_keys);
PG_FUNCTION_INFO_V1(webpush_keys_import);

static text *
public_key_text(const uint8 public_key[P256_PUBLIC_LEN])
{
	char		encoded[B64URL_ENCODED_LEN(P256_PUBLIC_LEN) + 1];

	b64url_encode(public_key, P256_PUBLIC_LEN, encoded);
	return cstring_to_text(encoded);
}

Datum
webpush_keys(PG_FUNCTION_ARGS)
{
	uint8		public_key[P256_PUBLIC_LEN];

	store_get_or_create_keys(public_key);
	PG_RETURN_TEXT_P(public_key_text(public_key));
}

Datum
webpush_keys_import(PG_FUNCTION_ARGS)
{
	text	   *input;
	EVP_PKEY   *key = NULL;
	uint8		private_key[P256_PRIVATE_LEN];
	uint8		public_key[P256_PUBLIC_LEN];
	int64		orphaned;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("private_key must not be NULL"),
				 errhint("Pass the private key to import, or call webpush_keys() to generate a pair.")));
	input = PG_GETARG_TEXT_PP(0);

	/*
	 * The statement holds the key: every error below keeps it out of the
	 * server log (errhidestmt), however close to a real key the input is.
	 */
	switch (vapid_import_private(VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), &key))
	{
		case VAPID_IMPORT_OK:
			break;
		case VAPID_IMPORT_BAD_FORMAT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid VAPID private key"),
					 errhidestmt(true),
					 errdetail("The key is neither base64url nor PEM."),
					 errhint("Pass the private key as web-push prints it (base64url of the 32-byte scalar), or a PEM \"EC PRIVATE KEY\" or \"PRIVATE KEY\".")));
			break;
		case VAPID_IMPORT_BAD_PEM:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid VAPID private key"),
					 errhidestmt(true),
					 errdetail("The PEM text holds no readable, unencrypted private key."),
					 errhint("Pass an unencrypted \"EC PRIVATE KEY\" or \"PRIVATE KEY\" block, for example from: openssl ecparam -name prime256v1 -genkey -noout")));
			break;
		case VAPID_IMPORT_BAD_LENGTH:
			/* 87 or 88 characters is a public key pasted by mistake. */
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid VAPID private key"),
					 errhidestmt(true),
					 errdetail("A raw private key is 32 bytes: 43 base64url characters."),
					 VARSIZE_ANY_EXHDR(input) >= 86 && VARSIZE_ANY_EXHDR(input) <= 90 ?
					 errhint("This looks like the public key; pass the private key.") :
					 errhint("Copy the whole private key as web-push prints it.")));
			break;
		case VAPID_IMPORT_BAD_KEY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid VAPID private key"),
					 errhidestmt(true),
					 errdetail("The key is not a valid private key on the P-256 curve."),
					 errhint("VAPID keys are ECDSA P-256 (prime256v1) keys.")));
			break;
	}

	if (p256_export_private(key, private_key) != 0 ||
		p256_export_public(key, public_key) != 0)
	{
		EVP_PKEY_free(key);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not export the imported VAPID key pair"),
				 errhidestmt(true)));
	}
	EVP_PKEY_free(key);

	orphaned = store_replace_keys(private_key, public_key);
	explicit_bzero(private_key, sizeof(private_key));
	if (orphaned > 0)
		ereport(NOTICE,
				(errmsg("%lld existing subscriptions were made for the previous VAPID key",
						(long long) orphaned),
				 errdetail("Browsers bind each subscription to the key they were given; push services will reject sends to them with this key."),
				 errhint("Have the browsers subscribe again with the new key, or import the previous key back.")));
	PG_RETURN_TEXT_P(public_key_text(public_key));
}
