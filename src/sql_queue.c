/*
 * sql_queue.c
 *		SQL functions that queue notifications for the worker: webpush_send,
 *		webpush_send_many and webpush_send_user.  Everything is validated here, in the caller's
 *		transaction, so a bad call fails where it was made.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "applications.h"
#include "sql_util.h"
#include "queue.h"
#include "validate.h"
#include "wake.h"
#include "webpush.h"

PG_FUNCTION_INFO_V1(webpush_send_id_text);
PG_FUNCTION_INFO_V1(webpush_send_id_jsonb);
PG_FUNCTION_INFO_V1(webpush_send_id_bytea);
PG_FUNCTION_INFO_V1(webpush_send_json_text);
PG_FUNCTION_INFO_V1(webpush_send_many_text);
PG_FUNCTION_INFO_V1(webpush_send_many_jsonb);
PG_FUNCTION_INFO_V1(webpush_send_user_text);
PG_FUNCTION_INFO_V1(webpush_send_user_jsonb);

typedef enum PayloadKind
{
	PAYLOAD_TEXT,
	PAYLOAD_JSONB,
	PAYLOAD_BYTEA
} PayloadKind;

/* Argument 1 as the bytes to send, or NULL for a push without payload. */
static bytea *
payload_arg(FunctionCallInfo fcinfo, PayloadKind kind)
{
	bytea	   *payload;

	if (PG_ARGISNULL(1))
		return NULL;
	if (kind == PAYLOAD_JSONB)
	{
		char	   *json = JsonbToCString(NULL, &PG_GETARG_JSONB_P(1)->root, 0);

		payload = (bytea *) cstring_to_text(json);
	}
	else
		payload = (bytea *) PG_GETARG_VARLENA_PP(1);	/* text and bytea alike */
	validate_payload_length(VARSIZE_ANY_EXHDR(payload));
	return payload;
}

/* Validate ttl, urgency, topic (arguments 2-4). */
static void
message_args(FunctionCallInfo fcinfo, MessageOptions *opts)
{
	validate_message_options(PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2),
							 PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3),
							 PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4),
							 opts);
}


static Datum
send_to_id(FunctionCallInfo fcinfo, PayloadKind kind)
{
	MessageOptions opts;
	bytea	   *payload;
	int64		id;

	validate_not_null(PG_ARGISNULL(0), "subscription_id");
	payload = payload_arg(fcinfo, kind);
	message_args(fcinfo, &opts);
	id = queue_for_subscription(PG_GETARG_INT64(0), payload, &opts);
	queue_wake_at_commit();
	PG_RETURN_INT64(id);
}

Datum
webpush_send_id_text(PG_FUNCTION_ARGS)
{
	return send_to_id(fcinfo, PAYLOAD_TEXT);
}

Datum
webpush_send_id_jsonb(PG_FUNCTION_ARGS)
{
	return send_to_id(fcinfo, PAYLOAD_JSONB);
}

Datum
webpush_send_id_bytea(PG_FUNCTION_ARGS)
{
	return send_to_id(fcinfo, PAYLOAD_BYTEA);
}

Datum
webpush_send_json_text(PG_FUNCTION_ARGS)
{
	Subscription sub;
	MessageOptions opts;
	bytea	   *payload;
	char	   *app;
	uint8		public_key[P256_PUBLIC_LEN];
	int64		key_id;
	int64		id;

	validate_not_null(PG_ARGISNULL(0), "subscription");
	validate_subscription_json(PG_GETARG_JSONB_P(0), &sub);
	payload = payload_arg(fcinfo, PAYLOAD_TEXT);
	message_args(fcinfo, &opts);
	app = application_arg(fcinfo, 5);
	key_id = app_current_key(app, public_key);
	app_require_subject(app);
	id = queue_for_object(&sub, key_id, payload, &opts);
	queue_wake_at_commit();
	PG_RETURN_INT64(id);
}

static Datum
send_to_user(FunctionCallInfo fcinfo, PayloadKind kind)
{
	MessageOptions opts;
	bytea	   *payload;
	int64		n;

	/*
	 * No user, no recipients: a trigger on a row without a user must not
	 * fail its transaction.  The other arguments are still checked.
	 */
	payload = payload_arg(fcinfo, kind);
	message_args(fcinfo, &opts);
	if (PG_ARGISNULL(0))
	{
		(void) application_arg(fcinfo, 5);
		PG_RETURN_INT32(0);
	}
	n = queue_for_user(PG_GETARG_TEXT_PP(0), application_arg(fcinfo, 5), payload, &opts);
	if (n > 0)
		queue_wake_at_commit();
	PG_RETURN_INT32((int32) n);
}

Datum
webpush_send_user_text(PG_FUNCTION_ARGS)
{
	return send_to_user(fcinfo, PAYLOAD_TEXT);
}

Datum
webpush_send_user_jsonb(PG_FUNCTION_ARGS)
{
	return send_to_user(fcinfo, PAYLOAD_JSONB);
}

/*
 * The broadcast path: one statement queues for every id in the array, which
 * is what makes fan-out to thousands cheap (see bench/).  Ids that no longer
 * exist are skipped, and each subscription gets one notification however
 * often its id appears; the count returned tells how many were queued.
 */
static Datum
send_to_many(FunctionCallInfo fcinfo, PayloadKind kind)
{
	MessageOptions opts;
	bytea	   *payload;
	int64		n;

	validate_not_null(PG_ARGISNULL(0), "subscription_ids");
	payload = payload_arg(fcinfo, kind);
	message_args(fcinfo, &opts);
	n = queue_for_subscriptions(PG_GETARG_ARRAYTYPE_P(0), payload, &opts);
	if (n > 0)
		queue_wake_at_commit();
	PG_RETURN_INT64(n);
}

Datum
webpush_send_many_text(PG_FUNCTION_ARGS)
{
	return send_to_many(fcinfo, PAYLOAD_TEXT);
}

Datum
webpush_send_many_jsonb(PG_FUNCTION_ARGS)
{
	return send_to_many(fcinfo, PAYLOAD_JSONB);
}
