/*
 * subscriptions.c
 *		SQL functions for browser subscriptions: webpush_subscribe,
 *		webpush_unsubscribe, webpush_unsubscribe_user.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "queue/app_access.h"
#include "queue/applications.h"
#include "sql/args.h"
#include "queue/subscriptions.h"
#include "sql/validate.h"

PG_FUNCTION_INFO_V1(webpush_subscribe);
PG_FUNCTION_INFO_V1(webpush_unsubscribe);
PG_FUNCTION_INFO_V1(webpush_unsubscribe_user);

/*
 * webpush_subscribe(subscription, user_id, application, server_key,
 * old_endpoint): the subscription is bound to server_key, the
 * applicationServerKey the browser subscribed with, whose application it
 * joins; without it, to the current key of the application (default:
 * "default").  old_endpoint names the subscription it replaces
 * (pushsubscriptionchange), whose id and waiting deliveries it takes.
 */
static Datum
subscribe_for_caller(PG_FUNCTION_ARGS)
{
	Subscription sub;
	char	   *app = ARG_GIVEN(2) ? app_name_arg(PG_GETARG_TEXT_PP(2)) : NULL;
	uint8		public_key[P256_PUBLIC_LEN];
	int64		key_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("push subscription must not be NULL"),
				 errhint("Pass the browser's PushSubscription.toJSON().")));
	validate_subscription_json(PG_GETARG_JSONB_P(0), &sub);

	if (ARG_GIVEN(3))
	{
		char		owner[APP_NAME_MAX_LEN + 1];

		public_key_arg(PG_GETARG_TEXT_PP(3), "server_key", public_key);
		key_id = app_find_key(public_key, owner);
		if (key_id == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("server_key is not a key of any webpush application"),
					 errdetail("It may have been retired, or come from another database."),
					 errhint("Pass the applicationServerKey the browser subscribed with; webpush_keys() gives the current one, and the browser must subscribe again with it.")));
		if (app != NULL && strcmp(app, owner) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("server_key belongs to application \"%s\", not \"%s\"", owner, app),
					 errhint("Leave application NULL: the key tells which application the subscription is for.")));
		app = pstrdup(owner);
	}
	else
	{
		if (app == NULL)
			app = APP_DEFAULT_NAME;
		key_id = app_current_key(app, public_key);
	}
	app_require_use(app);
	PG_RETURN_INT64(store_upsert_subscription(&sub,
											  ARG_GIVEN(1) ? PG_GETARG_TEXT_PP(1) : NULL,
											  app, key_id,
											  ARG_GIVEN(4) ? PG_GETARG_TEXT_PP(4) : NULL));
}

static Datum
unsubscribe_for_caller(PG_FUNCTION_ARGS)
{
	char	   *app;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("endpoint must not be NULL"),
				 errhint("Pass the subscription's endpoint URL.")));
	/* False too for another application's: the caller cannot see it. */
	PG_RETURN_BOOL(store_delete_subscription_by_endpoint(PG_GETARG_TEXT_PP(0), &app));
}

/* webpush_unsubscribe_user(user_id, application): every device of a user. */
static Datum
unsubscribe_user_for_caller(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_id must not be NULL"),
				 errhint("Pass the user_id the subscriptions were stored with.")));
	PG_RETURN_INT64(store_delete_user_subscriptions(PG_GETARG_TEXT_PP(0),
													used_application_arg(fcinfo, 1)));
}

/* The SQL entry points: each runs as the extension's owner, for its caller. */

Datum
webpush_subscribe(PG_FUNCTION_ARGS)
{
	return call_for_caller(subscribe_for_caller, fcinfo);
}

Datum
webpush_unsubscribe(PG_FUNCTION_ARGS)
{
	return call_for_caller(unsubscribe_for_caller, fcinfo);
}

Datum
webpush_unsubscribe_user(PG_FUNCTION_ARGS)
{
	return call_for_caller(unsubscribe_user_for_caller, fcinfo);
}
