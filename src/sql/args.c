/*
 * args.c
 *		Argument helpers shared by the SQL-callable wrappers.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "queue/app_access.h"
#include "queue/applications.h"
#include "crypto/b64.h"
#include "sql/args.h"
#include "sql/validate.h"

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

static Oid
function_owner(FunctionCallInfo fcinfo)
{
	HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	Oid			owner;

	if (!HeapTupleIsValid(proc))
		elog(ERROR, "webpush: cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(proc))->proowner;
	ReleaseSysCache(proc);
	return owner;
}

Datum
call_for_caller(PGFunction fn, FunctionCallInfo fcinfo)
{
	Oid			outer_caller = app_set_caller(GetUserId());
	Oid			saved_user;
	int			saved_context;
	Datum		result = (Datum) 0;

	/* An error unwinds the user as it does for SECURITY DEFINER. */
	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(function_owner(fcinfo), saved_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		result = fn(fcinfo);
	}
	PG_CATCH();
	{
		app_set_caller(outer_caller);
		PG_RE_THROW();
	}
	PG_END_TRY();
	SetUserIdAndSecContext(saved_user, saved_context);
	app_set_caller(outer_caller);
	return result;
}

/* search_path as a SET clause pinning it would set it, until AtEOXact_GUC. */
static int
pin_search_path(void)
{
	int			nest_level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 superuser() ? PGC_SUSET : PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

void
run_as_function_owner(FunctionCallInfo fcinfo, void (*fn) (void *), void *arg)
{
	Oid			outer_caller = app_set_caller(GetUserId());
	Oid			saved_user;
	int			saved_context;
	int			nest_level;

	/* An error on the way unwinds both, as it does for SECURITY DEFINER. */
	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(function_owner(fcinfo), saved_context | SECURITY_LOCAL_USERID_CHANGE);
	nest_level = pin_search_path();
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		app_set_caller(outer_caller);
		PG_RE_THROW();
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest_level);
	SetUserIdAndSecContext(saved_user, saved_context);
	app_set_caller(outer_caller);
}

void
run_with_search_path_pinned(void (*fn) (void *), void *arg)
{
	/* An error unwinds the setting, as it does for a SET clause. */
	int			nest_level = pin_search_path();

	fn(arg);
	AtEOXact_GUC(true, nest_level);
}

Datum
call_hiding_statement(PGFunction fn, FunctionCallInfo fcinfo)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	PG_TRY();
	{
		result = fn(fcinfo);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->hide_stmt = true;
		edata->hide_ctx = true;
		ReThrowError(edata);
	}
	PG_END_TRY();
	return result;
}

char *
used_application_arg(FunctionCallInfo fcinfo, int n)
{
	char	   *app = application_arg(fcinfo, n);

	app_require_use(app);
	return app;
}
