/*
 * notification.c
 *		webpush_notification(): the payload a browser shows, so that a
 *		trigger needs no hand-written JSON (notification.h builds it).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "push/notification.h"
#include "sql/args.h"
#include "sql/validate.h"

PG_FUNCTION_INFO_V1(webpush_notification);

/* Argument positions, in the order of the SQL declaration. */
enum
{
	ARG_TITLE,
	ARG_BODY,
	ARG_URL,
	ARG_ICON,
	ARG_BADGE,
	ARG_IMAGE,
	ARG_TAG,
	ARG_DATA,
	ARG_REQUIRE_INTERACTION,
	ARG_SILENT,
	ARG_ACTIONS,
	ARG_LANG,
	ARG_DIR,
	ARG_TIMESTAMP,
	ARG_RENOTIFY,
	ARG_VIBRATE,
	ARG_APP_BADGE,
	ARG_MUTABLE,
	ARG_DECLARATIVE,
	ARG_RECEIPT
};

#define TEXT_ARG(n) (ARG_GIVEN(n) ? PG_GETARG_TEXT_PP(n) : NULL)
#define BOOL_ARG(n) (ARG_GIVEN(n) ? (int) PG_GETARG_BOOL(n) : -1)

/* vibrate: integer[] without NULLs, as the Notification API's pattern. */
static void
vibrate_arg(FunctionCallInfo fcinfo, NotificationFields *f)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(ARG_VIBRATE);
	Datum	   *values;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid notification field \"vibrate\": must be a one-dimensional array"),
				 errhint("Pass milliseconds of vibration and pause, for example ARRAY[200, 100, 200].")));
	deconstruct_array(array, INT4OID, sizeof(int32), true, TYPALIGN_INT, &values, &nulls, &n);
	f->vibrate = palloc(sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("invalid notification field \"vibrate\": must not contain NULL"),
					 errhint("Pass milliseconds of vibration and pause, for example ARRAY[200, 100, 200].")));
		f->vibrate[i] = DatumGetInt32(values[i]);
	}
	f->nvibrate = n;
}

Datum
webpush_notification(PG_FUNCTION_ARGS)
{
	NotificationFields f;

	notification_fields_init(&f);
	f.title = PG_ARGISNULL(ARG_TITLE) ? NULL : PG_GETARG_TEXT_PP(ARG_TITLE);
	f.body = TEXT_ARG(ARG_BODY);
	f.url = TEXT_ARG(ARG_URL);
	f.icon = TEXT_ARG(ARG_ICON);
	f.badge = TEXT_ARG(ARG_BADGE);
	f.image = TEXT_ARG(ARG_IMAGE);
	f.tag = TEXT_ARG(ARG_TAG);
	f.data = ARG_GIVEN(ARG_DATA) ? PG_GETARG_JSONB_P(ARG_DATA) : NULL;
	f.require_interaction = BOOL_ARG(ARG_REQUIRE_INTERACTION);
	f.silent = BOOL_ARG(ARG_SILENT);
	f.actions = ARG_GIVEN(ARG_ACTIONS) ? PG_GETARG_JSONB_P(ARG_ACTIONS) : NULL;
	f.lang = TEXT_ARG(ARG_LANG);
	f.dir = TEXT_ARG(ARG_DIR);
	if (ARG_GIVEN(ARG_TIMESTAMP))
	{
		f.has_timestamp = true;
		f.timestamp = PG_GETARG_TIMESTAMPTZ(ARG_TIMESTAMP);
	}
	f.renotify = BOOL_ARG(ARG_RENOTIFY);
	if (ARG_GIVEN(ARG_VIBRATE))
		vibrate_arg(fcinfo, &f);
	if (ARG_GIVEN(ARG_APP_BADGE))
	{
		f.app_badge = PG_GETARG_INT32(ARG_APP_BADGE);
		if (f.app_badge < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid notification field \"app_badge\": must be 0 or more"),
					 errhint("0 clears the badge.")));
	}
	f.is_mutable = BOOL_ARG(ARG_MUTABLE);
	f.declarative = BOOL_ARG(ARG_DECLARATIVE);
	/* Before 0.4's definition (no such argument): no receipt member. */
	f.receipt = PG_NARGS() > ARG_RECEIPT && (PG_ARGISNULL(ARG_RECEIPT) || PG_GETARG_BOOL(ARG_RECEIPT));
	validate_notification_title(f.title);
	PG_RETURN_JSONB_P(notification_build(&f));
}
