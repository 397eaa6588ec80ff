/*
 * rates.c
 *		webpush_application_rate(): the most requests a second an
 *		application's notifications are sent at, with a burst.  The worker
 *		keeps it (worker/hosts.c), beside the rates of push-service hosts
 *		(webpush.host_rates).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "push/host_rates.h"
#include "queue/app_access.h"
#include "queue/applications.h"
#include "sql/args.h"

PG_FUNCTION_INFO_V1(webpush_application_rate);

/*
 * webpush_application_rate(application, per_second, burst): per_second
 * NULL for none.  Like quiet hours, an owner's to change.
 */
static Datum
application_rate_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app = application_arg(fcinfo, 0);
	bool		none = PG_ARGISNULL(1);
	double		per_second = none ? 0 : PG_GETARG_FLOAT8(1);
	int32		burst;
	uint8		public_key[P256_PUBLIC_LEN];

	if (none && !PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a burst needs a rate"),
				 errhint("Pass a rate in requests per second, or NULL for both to remove the rate.")));
	/* NaN fails every comparison: it is refused by the negated test. */
	if (!none && !(per_second >= HOST_RATE_MIN && per_second <= HOST_RATE_MAX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("per_second must be from 0.01 to 1000000 requests a second"),
				 errhint("Pass NULL to remove the rate.")));
	if (none)
		burst = 0;
	else if (PG_ARGISNULL(2))
		burst = (int32) ceil(per_second);
	else
	{
		burst = PG_GETARG_INT32(2);
		if (burst < 1 || burst > HOST_BURST_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("burst must be from 1 to 1000000 requests"),
					 errhint("The burst is how many notifications may go at once after a pause; NULL gives a second's worth.")));
	}
	app_require_owner(app);
	(void) app_current_key(app, public_key);	/* it exists */
	app_set_rate(app, per_second, burst);
	PG_RETURN_VOID();
}

/* It touches a table: it runs as the extension's owner. */
Datum
webpush_application_rate(PG_FUNCTION_ARGS)
{
	return call_for_caller(application_rate_for_caller, fcinfo);
}
