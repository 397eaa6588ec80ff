/*
 * keys.c
 *		SQL functions for applications and their VAPID keys: webpush_keys,
 *		webpush_application, webpush_keys_rotate, webpush_keys_import,
 *		webpush_keys_retire and webpush_keys_export.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "queue/app_access.h"
#include "queue/applications.h"
#include "crypto/b64.h"
#include "support/compat.h"
#include "crypto/p256.h"
#include "sql/args.h"
#include "sql/validate.h"
#include "crypto/vapid.h"

PG_FUNCTION_INFO_V1(webpush_keys);
PG_FUNCTION_INFO_V1(webpush_application);
PG_FUNCTION_INFO_V1(webpush_keys_rotate);
PG_FUNCTION_INFO_V1(webpush_keys_import);
PG_FUNCTION_INFO_V1(webpush_keys_retire);
PG_FUNCTION_INFO_V1(webpush_keys_export);
PG_FUNCTION_INFO_V1(webpush_application_grant);
PG_FUNCTION_INFO_V1(webpush_application_revoke);
PG_FUNCTION_INFO_V1(webpush_application_roles_changed);
PG_FUNCTION_INFO_V1(webpush_may_use);


static void
report_rotation(const char *app, int64 staying)
{
	if (staying > 0)
		ereport(NOTICE,
				(errmsg("%lld subscriptions of application \"%s\" stay on older keys", (long long) staying, app),
				 errhidestmt(true),
				 errdetail("Older keys keep signing for the subscriptions made with them; browsers that notice the new key subscribe again."),
				 errhint("SELECT * FROM webpush.keys shows what each key still serves; retire one with webpush_keys_retire() once it serves none.")));
}

static Datum
keys_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	uint8		public_key[P256_PUBLIC_LEN];

	/*
	 * A public key is for everyone; making the first one (and "default"
	 * itself) is for a role that may use the application.
	 */
	if (app_existing_key(app, public_key) == 0)
	{
		app_require_use(app);
		(void) app_current_key(app, public_key);
	}
	PG_RETURN_TEXT_P(public_key_text(public_key));
}

static Datum
application_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	char	   *subject;
	const char *problem;
	uint8		public_key[P256_PUBLIC_LEN];

	validate_not_null(PG_ARGISNULL(1), "subject");
	subject = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if ((problem = vapid_subject_problem(subject)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid subject \"%s\"", subject),
				 errdetail("%s", problem),
				 errhint("Give a contact at your own domain, for example: SELECT webpush_application('%s', 'mailto:admin@example.com');", app)));

	/*
	 * Superusers create applications; an owner changes its application's
	 * subject (the contact push services see for it).
	 */
	if (!superuser_arg(app_caller()))
	{
		app_require_owner(app);
		(void) app_current_key(app, public_key);	/* it exists */
	}
	app_upsert(app, subject, public_key);
	PG_RETURN_TEXT_P(public_key_text(public_key));
}

static Datum
keys_rotate_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	uint8		public_key[P256_PUBLIC_LEN];

	report_rotation(app, app_rotate(app, NULL, public_key));
	PG_RETURN_TEXT_P(public_key_text(public_key));
}

/*
 * The private key is an argument: no error of the call may log the
 * statement (call_hiding_statement).
 */
static Datum
keys_import(PG_FUNCTION_ARGS)
{
	text	   *input;
	char	   *app;
	EVP_PKEY   *key = NULL;
	uint8		private_key[P256_PRIVATE_LEN];
	uint8		public_key[P256_PUBLIC_LEN];
	int64		staying;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("private_key must not be NULL"),
				 errhint("Pass the private key to import, or call webpush_keys_rotate() to generate one.")));
	input = PG_GETARG_TEXT_PP(0);
	app = application_arg(fcinfo, 1);

	switch (vapid_import_private(VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), &key))
	{
		case VAPID_IMPORT_OK:
			break;
		case VAPID_IMPORT_BAD_FORMAT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid VAPID private key"),
					 errdetail("The key is neither base64url nor PEM."),
					 errhint("Pass the private key as web-push prints it (base64url of the 32-byte scalar), or a PEM \"EC PRIVATE KEY\" or \"PRIVATE KEY\".")));
			break;
		case VAPID_IMPORT_BAD_PEM:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid VAPID private key"),
					 errdetail("The PEM text holds no readable, unencrypted private key."),
					 errhint("Pass an unencrypted \"EC PRIVATE KEY\" or \"PRIVATE KEY\" block, for example from: openssl ecparam -name prime256v1 -genkey -noout")));
			break;
		case VAPID_IMPORT_BAD_LENGTH:
			/* 87 or 88 characters is a public key pasted by mistake. */
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid VAPID private key"),
					 errdetail("A raw private key is 32 bytes: 43 base64url characters."),
					 VARSIZE_ANY_EXHDR(input) >= 86 && VARSIZE_ANY_EXHDR(input) <= 90 ?
					 errhint("This looks like the public key; pass the private key.") :
					 errhint("Copy the whole private key as web-push prints it.")));
			break;
		case VAPID_IMPORT_BAD_KEY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid VAPID private key"),
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
				 errmsg("could not export the imported VAPID key pair")));
	}
	EVP_PKEY_free(key);

	/* Rotating to this key: the subscriptions of older keys keep theirs. */
	staying = app_rotate(app, private_key, public_key);
	explicit_bzero(private_key, sizeof(private_key));
	report_rotation(app, staying);
	PG_RETURN_TEXT_P(public_key_text(public_key));
}

static Datum
keys_import_for_caller(PG_FUNCTION_ARGS)
{
	return call_hiding_statement(keys_import, fcinfo);
}

static Datum
keys_retire_for_caller(PG_FUNCTION_ARGS)
{
	uint8		public_key[P256_PUBLIC_LEN];

	validate_not_null(PG_ARGISNULL(0), "public_key");
	public_key_arg(PG_GETARG_TEXT_PP(0), "public_key", public_key);
	PG_RETURN_INT64(app_retire_key(public_key,
								   !PG_ARGISNULL(1) && PG_GETARG_BOOL(1)));
}

/*
 * The private keys leave the database only here, and only for a superuser,
 * whoever was granted EXECUTE.
 */
Datum
webpush_keys_export(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *app = application_arg(fcinfo, 0);
	AppKeyPair *pairs;
	int			n;
	int			i;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to export VAPID private keys"),
				 errdetail("Only superusers may read private keys.")));
	InitMaterializedSRF(fcinfo, 0);
	n = app_key_pairs(app, &pairs);
	for (i = 0; i < n; i++)
	{
		char		private_b64[B64URL_ENCODED_LEN(P256_PRIVATE_LEN) + 1];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		b64url_encode(pairs[i].private_key, P256_PRIVATE_LEN, private_b64);
		values[0] = PointerGetDatum(public_key_text(pairs[i].public_key));
		values[1] = CStringGetTextDatum(private_b64);
		values[2] = BoolGetDatum(pairs[i].current);
		values[3] = TimestampTzGetDatum(pairs[i].created_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		explicit_bzero(private_b64, sizeof(private_b64));
		explicit_bzero(pairs[i].private_key, P256_PRIVATE_LEN);
	}
	return (Datum) 0;
}

/* The role argument n, which must exist. */
static Oid
role_arg(FunctionCallInfo fcinfo, int n)
{
	validate_not_null(PG_ARGISNULL(n), "role");
	return PG_GETARG_OID(n);
}

static Datum
application_grant_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	Oid			role = role_arg(fcinfo, 1);
	bool		owner = ARG_GIVEN(2) && PG_GETARG_BOOL(2);

	app_require_owner(app);
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role)));
	/* An owner grants to others; another owner's grant is a superuser's. */
	if (!superuser_arg(app_caller()) && app_role_is_owner(app, role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change the grant of webpush application \"%s\" to its owner \"%s\"",
						app, GetUserNameFromId(role, false)),
				 errdetail("Only superusers change an owner's grant.")));
	if (owner && !superuser_arg(app_caller()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to make role \"%s\" an owner of webpush application \"%s\"",
						GetUserNameFromId(role, false), app),
				 errdetail("Only superusers make owners."),
				 errhint("Grant it without owner: SELECT webpush_application_grant('%s', '%s');",
						 app, GetUserNameFromId(role, false))));
	app_grant(app, role, owner);
	PG_RETURN_VOID();
}

static Datum
application_revoke_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	Oid			role = role_arg(fcinfo, 1);

	app_require_owner(app);
	/* An owner cannot take the application from another owner. */
	if (!superuser_arg(app_caller()) && app_role_is_owner(app, role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to revoke webpush application \"%s\" from its owner \"%s\"",
						app, GetUserNameFromId(role, false)),
				 errdetail("Only superusers revoke an owner's grant.")));
	PG_RETURN_BOOL(app_revoke(app, role));
}

/*
 * Statement trigger on webpush.application_roles: every backend forgets
 * what it cached of the table (at COMMIT; this one at once).
 */
Datum
webpush_application_roles_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webpush_application_roles_changed() is a trigger function")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	app_access_forget();
	return PointerGetDatum(NULL);
}

/* webpush.may_use(application): what the policies and views filter by. */
Datum
webpush_may_use(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(app_may_use(text_to_cstring(PG_GETARG_TEXT_PP(0)), app_caller()));
}

/* The SQL entry points: each runs as the extension's owner, for its caller. */

Datum
webpush_keys(PG_FUNCTION_ARGS)
{
	return call_for_caller(keys_for_caller, fcinfo);
}

Datum
webpush_application(PG_FUNCTION_ARGS)
{
	return call_for_caller(application_for_caller, fcinfo);
}

Datum
webpush_keys_rotate(PG_FUNCTION_ARGS)
{
	return call_for_caller(keys_rotate_for_caller, fcinfo);
}

Datum
webpush_keys_import(PG_FUNCTION_ARGS)
{
	return call_for_caller(keys_import_for_caller, fcinfo);
}

Datum
webpush_keys_retire(PG_FUNCTION_ARGS)
{
	return call_for_caller(keys_retire_for_caller, fcinfo);
}

Datum
webpush_application_grant(PG_FUNCTION_ARGS)
{
	return call_for_caller(application_grant_for_caller, fcinfo);
}

Datum
webpush_application_revoke(PG_FUNCTION_ARGS)
{
	return call_for_caller(application_revoke_for_caller, fcinfo);
}
