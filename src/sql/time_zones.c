/*
 * time_zones.c
 *		Sends at a local time and quiet hours: the time zones of
 *		subscriptions and applications, an application's quiet hours, and
 *		webpush.local_time(), which tells when a time of day next comes in a
 *		zone.
 *
 * A send with local_time (webpush_send_user, webpush_send_many) gives each
 * recipient a delivery due at that time of day in the recipient's zone:
 * the subscription's (which the browser kit sends when it subscribes, or
 * webpush_time_zone sets), else the application's (UTC unless
 * webpush_application_time_zone set another).  The queue's statement calls
 * webpush.local_time() for each recipient (queue/enqueue.c).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "queue/app_access.h"
#include "queue/applications.h"
#include "queue/subscriptions.h"
#include "sql/args.h"
#include "sql/validate.h"
#include "support/local_time.h"

PG_FUNCTION_INFO_V1(webpush_local_time);
PG_FUNCTION_INFO_V1(webpush_time_zone);
PG_FUNCTION_INFO_V1(webpush_application_time_zone);
PG_FUNCTION_INFO_V1(webpush_application_quiet_hours);

/* webpush.local_time(local_time, time_zone, after) */
Datum
webpush_local_time(PG_FUNCTION_ARGS)
{
	TimeADT		local_time = PG_GETARG_TIMEADT(0);
	char		zone[PUSH_TIME_ZONE_MAX_LEN + 1];
	TimestampTz after = PG_GETARG_TIMESTAMPTZ(2);

	validate_time_zone(PG_GETARG_TEXT_PP(1), zone);
	if (TIMESTAMP_NOT_FINITE(after))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"after\" must be a finite time")));
	if (local_time < 0 || local_time >= USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("local_time must be a time of day before 24:00")));
	PG_RETURN_TIMESTAMPTZ(local_time_next(local_time, zone, after));
}

/* webpush_time_zone(user_id, time_zone, application): NULL clears it. */
static Datum
time_zone_for_caller(PG_FUNCTION_ARGS)
{
	char		zone[PUSH_TIME_ZONE_MAX_LEN + 1];
	char	   *app = used_application_arg(fcinfo, 2);

	validate_not_null(PG_ARGISNULL(0), "user_id");
	if (!PG_ARGISNULL(1))
		validate_time_zone(PG_GETARG_TEXT_PP(1), zone);
	PG_RETURN_INT64(store_set_user_time_zone(PG_GETARG_TEXT_PP(0), app,
											 PG_ARGISNULL(1) ? NULL : zone));
}

/*
 * webpush_application_time_zone(application, time_zone): like the
 * application's subject, its owner's to change.
 */
static Datum
application_time_zone_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	char		zone[PUSH_TIME_ZONE_MAX_LEN + 1];
	uint8		public_key[P256_PUBLIC_LEN];

	validate_not_null(PG_ARGISNULL(1), "time_zone");
	validate_time_zone(PG_GETARG_TEXT_PP(1), zone);
	app_require_owner(app);
	(void) app_current_key(app, public_key);	/* it exists */
	app_set_time_zone(app, zone);
	PG_RETURN_TEXT_P(cstring_to_text(zone));
}

/*
 * webpush_application_quiet_hours(application, quiet_start, quiet_end):
 * both NULL for none.  The worker holds what falls in them (hosts.c).
 */
static Datum
application_quiet_hours_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	bool		none = PG_ARGISNULL(1) && PG_ARGISNULL(2);
	uint8		public_key[P256_PUBLIC_LEN];

	if (!none && (PG_ARGISNULL(1) || PG_ARGISNULL(2)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("quiet hours need both a start and an end"),
				 errhint("Pass both, for example '22:00' and '07:00', or both NULL for none.")));
	/*
	 * 24:00 is a time the type takes but no clock shows: quiet hours from
	 * 00:00 to 24:00 would hold every notification at each midnight again,
	 * for ever, its TTL counting afresh each time.
	 */
	if (!none && (PG_GETARG_TIMEADT(1) >= USECS_PER_DAY || PG_GETARG_TIMEADT(2) >= USECS_PER_DAY))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quiet hours must start and end at a time of day before 24:00"),
				 errhint("Quiet hours until midnight end at '00:00'.")));
	if (!none && PG_GETARG_TIMEADT(1) == PG_GETARG_TIMEADT(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quiet hours must not start and end at the same time"),
				 errhint("Quiet hours from 22:00 to 07:00 span midnight; NULL, NULL means none.")));
	app_require_owner(app);
	(void) app_current_key(app, public_key);	/* it exists */
	app_set_quiet_hours(app, none, none ? 0 : PG_GETARG_TIMEADT(1), none ? 0 : PG_GETARG_TIMEADT(2));
	PG_RETURN_VOID();
}

/* The SQL entry points that touch tables run as the extension's owner. */

Datum
webpush_time_zone(PG_FUNCTION_ARGS)
{
	return call_for_caller(time_zone_for_caller, fcinfo);
}

Datum
webpush_application_time_zone(PG_FUNCTION_ARGS)
{
	return call_for_caller(application_time_zone_for_caller, fcinfo);
}

Datum
webpush_application_quiet_hours(PG_FUNCTION_ARGS)
{
	return call_for_caller(application_quiet_hours_for_caller, fcinfo);
}
