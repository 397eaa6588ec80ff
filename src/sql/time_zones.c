/*
 * time_zones.c
 *		Sends at a local time: the time zones of subscriptions and
 *		applications, and webpush.local_time(), which tells when a time of
 *		day next comes in a zone.
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

PG_FUNCTION_INFO_V1(webpush_local_time);
PG_FUNCTION_INFO_V1(webpush_time_zone);
PG_FUNCTION_INFO_V1(webpush_application_time_zone);

/*
 * The first moment at or after "after" when clocks in zone show
 * local_time.  The wall clock of that day (or the next) is turned back
 * into a moment by PostgreSQL's own rules for the zone, so a change of
 * daylight saving time between "after" and then counts; a time a spring
 * change skips is read as PostgreSQL reads it (02:30 as 03:30 daylight
 * time), and one an autumn change repeats as its first occurrence.
 */
static TimestampTz
next_local_time(TimeADT local_time, text *zone, TimestampTz after)
{
	Timestamp	wall;
	Timestamp	day;
	TimestampTz due;

	wall = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone, PointerGetDatum(zone),
												 TimestampTzGetDatum(after)));
	day = wall / USECS_PER_DAY - (wall % USECS_PER_DAY < 0 ? 1 : 0);
	for (int next_day = 0;; next_day++)
	{
		Timestamp	candidate = (day + next_day) * USECS_PER_DAY + local_time;

		due = DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, PointerGetDatum(zone),
													  TimestampGetDatum(candidate)));
		/* The next day's always comes after: a zone moves by hours. */
		if (due >= after || next_day == 2)
			return due;
	}
}

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
	PG_RETURN_TIMESTAMPTZ(next_local_time(local_time, cstring_to_text(zone), after));
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
