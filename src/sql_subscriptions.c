/*
 * sql_subscriptions.c
 *		SQL functions for browser subscriptions: webpush_subscribe,
 *		webpush_unsubscribe.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"

#include "store.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(webpush_subscribe);
PG_FUNCTION_INFO_V1(webpush_unsubscribe);

Datum
webpush_subscribe(PG_FUNCTION_ARGS)
{
	Subscription sub;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("push subscription must not be NULL"),
				 errhint("Pass the browser's PushSubscription.toJSON().")));
	validate_subscription_json(PG_GETARG_JSONB_P(0), &sub);
	PG_RETURN_INT64(store_upsert_subscription(&sub,
											  PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1)));
}

Datum
webpush_unsubscribe(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("endpoint must not be NULL"),
				 errhint("Pass the subscription's endpoint URL.")));
	PG_RETURN_BOOL(store_delete_subscription_by_endpoint(PG_GETARG_TEXT_PP(0)));
}
