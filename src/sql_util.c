/*
 * sql_util.c
 *		Argument helpers shared by the SQL-callable wrappers.
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "applications.h"
#include "b64.h"
#include "sql_util.h"
#include "validate.h"

char *
application_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n)
		return APP_DEFAULT_NAME;
	validate_not_null(PG_ARGISNULL(n), "application");
	return app_name_arg(PG_GETARG_TEXT_PP(n));
}

void
public_key_arg(text *arg, const char *name, uint8 out[P256_PUBLIC_LEN])
{
	const char *s = VARDATA_ANY(arg);
	size_t		len = VARSIZE_ANY_EXHDR(arg);
	long		n = -1;

	if (len <= B64URL_ENCODED_LEN(P256_PUBLIC_LEN) + 2)
		n = b64_decode(s, len, out, P256_PUBLIC_LEN);
	if (n != P256_PUBLIC_LEN || out[0] != 0x04)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s", name),
				 errdetail("A VAPID public key is 65 bytes (an uncompressed P-256 point) in base64url: 87 characters."),
				 errhint("Pass the key as webpush_keys() or SELECT public_key FROM webpush.keys gives it.")));
}

text *
public_key_text(const uint8 public_key[P256_PUBLIC_LEN])
{
	char		encoded[B64URL_ENCODED_LEN(P256_PUBLIC_LEN) + 1];

	b64url_encode(public_key, P256_PUBLIC_LEN, encoded);
	return cstring_to_text(encoded);
}
