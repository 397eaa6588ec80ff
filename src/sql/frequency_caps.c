/*
 * frequency_caps.c
 *		webpush_application_frequency_cap(): at most N messages delivered to
 *		each user of an application per window, and what the worker does
 *		with one over it (worker/frequency_cap.c): drop it or defer it.
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "queue/app_access.h"
#include "queue/applications.h"
#include "sql/args.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(webpush_application_frequency_cap);

/* The longest window: a month of one user's history is still a short scan. */
#define CAP_WINDOW_MAX_DAYS 31

/*
 * The window, checked: whole seconds from 1 s to CAP_WINDOW_MAX_DAYS days,
 * and no longer than the history is kept, which is what the worker counts.
 */
static void
validate_cap_window(const Interval *per)
{
	int64		usecs;
	bool		overflow;

	if (per->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a frequency cap's window cannot be given in months or years"),
				 errhint("A month has no fixed length: write '30 days'.")));
	/* Days and time may have opposite signs, and each may be huge. */
	overflow = pg_mul_s64_overflow(per->day, USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, per->time, &usecs);
	if (overflow || usecs < USECS_PER_SEC || usecs > (int64) CAP_WINDOW_MAX_DAYS * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a frequency cap's window must be from 1 second to %d days",
						CAP_WINDOW_MAX_DAYS),
				 errhint("For example: 3 messages per '1 hour', or 10 per '1 day'.")));
	if (usecs % USECS_PER_SEC != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a frequency cap's window must be a whole number of seconds"),
				 errhint("For example '90 seconds' or '1 hour'.")));
	if (usecs / USECS_PER_SEC > webpush_history_retention_s)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a frequency cap's window cannot be longer than webpush.history_retention (%d s)",
						webpush_history_retention_s),
				 errdetail("The worker counts a user's messages in webpush.history, which keeps them that long."),
				 errhint("Choose a shorter window, or raise webpush.history_retention first.")));
}

/*
 * webpush_application_frequency_cap(application, max_messages, per,
 * over_cap): max_messages and per both NULL for none.
 */
static Datum
application_frequency_cap_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	bool		none = PG_ARGISNULL(1) && PG_ARGISNULL(2);
	uint8		public_key[P256_PUBLIC_LEN];
	char	   *over_cap = NULL;

	if (!none && (PG_ARGISNULL(1) || PG_ARGISNULL(2)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a frequency cap needs both max_messages and per"),
				 errhint("Pass both, for example 3 and '1 hour', or both NULL for none.")));
	if (!none)
	{
		if (PG_GETARG_INT32(1) < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_messages must be at least 1"),
					 errhint("To stop an application's notifications, stop sending them; NULL, NULL removes the cap.")));
		validate_cap_window(PG_GETARG_INTERVAL_P(2));
	}

	/*
	 * What becomes of a notification over the cap: needed with a cap, and
	 * checked without one too (NULL, NULL, 'bounce' is a mistake as well).
	 */
	over_cap = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	if ((over_cap == NULL && !none) ||
		(over_cap != NULL && strcmp(over_cap, "drop") != 0 && strcmp(over_cap, "defer") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("over_cap must be 'drop' or 'defer'"),
				 errhint("'drop' records a notification over the cap as failed; 'defer' sends it once the window has room.")));
	app_require_owner(app);
	(void) app_current_key(app, public_key);	/* it exists */
	app_set_frequency_cap(app, none ? 0 : PG_GETARG_INT32(1),
						  none ? NULL : PG_GETARG_INTERVAL_P(2), none ? NULL : over_cap);
	PG_RETURN_VOID();
}

/* It touches the table, so it runs as the extension's owner. */
Datum
webpush_application_frequency_cap(PG_FUNCTION_ARGS)
{
	return call_for_caller(application_frequency_cap_for_caller, fcinfo);
}
