/*
 * send.c
 *		SQL functions that queue notifications for the worker: webpush_send,
 *		webpush_send_user, webpush_send_many and webpush_cancel.  Everything
 *		is validated here, in the caller's transaction, so a bad call fails
 *		where it was made.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"

#include "queue/applications.h"
#include "queue/enqueue.h"
#include "sql/args.h"
#include "sql/validate.h"

PG_FUNCTION_INFO_V1(webpush_send_id_text);
PG_FUNCTION_INFO_V1(webpush_send_id_jsonb);
PG_FUNCTION_INFO_V1(webpush_send_id_bytea);
PG_FUNCTION_INFO_V1(webpush_send_json_text);
PG_FUNCTION_INFO_V1(webpush_send_many_text);
PG_FUNCTION_INFO_V1(webpush_send_many_jsonb);
PG_FUNCTION_INFO_V1(webpush_send_user_text);
PG_FUNCTION_INFO_V1(webpush_send_user_jsonb);
PG_FUNCTION_INFO_V1(webpush_cancel);

/* dedupe_key: long enough for any natural key, short enough to index. */
#define DEDUPE_KEY_MAX_LEN 256

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

/*
 * The message: payload (argument 1), ttl, urgency and topic (2-4), then
 * send_at and dedupe_key at send_at_arg and the one after.  The sends to
 * users and lists also take local_time after dedupe_key.
 */
static void
message_spec(FunctionCallInfo fcinfo, PayloadKind kind, int send_at_arg, MessageSpec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->payload = payload_arg(fcinfo, kind);
	validate_message_options(PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2),
							 PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3),
							 PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4),
							 &spec->opts);
	if (ARG_GIVEN(send_at_arg))
	{
		spec->has_send_at = true;
		spec->send_at = PG_GETARG_TIMESTAMPTZ(send_at_arg);
		if (TIMESTAMP_NOT_FINITE(spec->send_at))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("send_at must be a finite time"),
					 errhint("Leave it NULL to send after COMMIT.")));
	}
	if (ARG_GIVEN(send_at_arg + 1))
	{
		text	   *key = PG_GETARG_TEXT_PP(send_at_arg + 1);
		size_t		len = VARSIZE_ANY_EXHDR(key);

		if (len < 1 || len > DEDUPE_KEY_MAX_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dedupe_key must be 1 to %d bytes", DEDUPE_KEY_MAX_LEN),
					 errhint("Use a natural key of what is notified, for example 'order-42-shipped'.")));
		spec->dedupe_key = key;
	}
}

/* (message_id, recipients) for the functions that return both. */
static Datum
message_and_recipients(FunctionCallInfo fcinfo, QueuedMessage q)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {q.message_id == 0, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the webpush extension's SQL definitions are older than its library"),
				 errhint("Run ALTER EXTENSION webpush UPDATE.")));
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(q.message_id);
	/* recipients is integer for webpush_send_user, bigint for _many. */
	values[1] = TupleDescAttr(tupdesc, 1)->atttypid == INT4OID ?
		Int32GetDatum((int32) q.recipients) : Int64GetDatum(q.recipients);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static Datum
send_to_id(FunctionCallInfo fcinfo, PayloadKind kind)
{
	MessageSpec spec;

	validate_not_null(PG_ARGISNULL(0), "subscription_id");
	message_spec(fcinfo, kind, 5, &spec);
	PG_RETURN_INT64(queue_to_subscription(PG_GETARG_INT64(0), &spec).message_id);
}

static Datum
send_id_text_for_caller(PG_FUNCTION_ARGS)
{
	return send_to_id(fcinfo, PAYLOAD_TEXT);
}

static Datum
send_id_jsonb_for_caller(PG_FUNCTION_ARGS)
{
	return send_to_id(fcinfo, PAYLOAD_JSONB);
}

static Datum
send_id_bytea_for_caller(PG_FUNCTION_ARGS)
{
	return send_to_id(fcinfo, PAYLOAD_BYTEA);
}

static Datum
send_json_text_for_caller(PG_FUNCTION_ARGS)
{
	Subscription sub;
	MessageSpec spec;
	uint8		public_key[P256_PUBLIC_LEN];
	int64		key_id;

	validate_not_null(PG_ARGISNULL(0), "subscription");
	validate_subscription_json(PG_GETARG_JSONB_P(0), &sub);
	message_spec(fcinfo, PAYLOAD_TEXT, 6, &spec);
	spec.app = used_application_arg(fcinfo, 5);
	key_id = app_current_key(spec.app, public_key);
	app_require_subject(spec.app);
	PG_RETURN_INT64(queue_to_object(&sub, key_id, &spec).message_id);
}

/* local_time (argument 8 of the sends to users and lists), if given. */
static void
local_time_arg(FunctionCallInfo fcinfo, MessageSpec *spec)
{
	if (!ARG_GIVEN(8))
		return;
	spec->has_local_time = true;
	spec->local_time = PG_GETARG_TIMEADT(8);
}

static Datum
send_to_user(FunctionCallInfo fcinfo, PayloadKind kind)
{
	MessageSpec spec;
	QueuedMessage nobody = {0, 0};

	message_spec(fcinfo, kind, 6, &spec);
	local_time_arg(fcinfo, &spec);
	spec.app = used_application_arg(fcinfo, 5);

	/*
	 * No user, no recipients: a trigger on a row without a user must not
	 * fail its transaction.  The other arguments were still checked.
	 */
	if (PG_ARGISNULL(0))
		return message_and_recipients(fcinfo, nobody);
	return message_and_recipients(fcinfo, queue_to_user(PG_GETARG_TEXT_PP(0), &spec));
}

static Datum
send_user_text_for_caller(PG_FUNCTION_ARGS)
{
	return send_to_user(fcinfo, PAYLOAD_TEXT);
}

static Datum
send_user_jsonb_for_caller(PG_FUNCTION_ARGS)
{
	return send_to_user(fcinfo, PAYLOAD_JSONB);
}

/*
 * The broadcast path: one statement stores the message once and a delivery
 * for every id in the array, which is what makes fan-out to thousands cheap
 * (see bench/).  Ids that no longer exist, or belong to another
 * application, are skipped, and each subscription gets one delivery however
 * often its id appears.
 */
static Datum
send_to_many(FunctionCallInfo fcinfo, PayloadKind kind)
{
	MessageSpec spec;

	validate_not_null(PG_ARGISNULL(0), "subscription_ids");
	message_spec(fcinfo, kind, 6, &spec);
	local_time_arg(fcinfo, &spec);
	spec.app = used_application_arg(fcinfo, 5);
	return message_and_recipients(fcinfo,
								  queue_to_subscriptions(PG_GETARG_ARRAYTYPE_P(0), &spec));
}

static Datum
send_many_text_for_caller(PG_FUNCTION_ARGS)
{
	return send_to_many(fcinfo, PAYLOAD_TEXT);
}

static Datum
send_many_jsonb_for_caller(PG_FUNCTION_ARGS)
{
	return send_to_many(fcinfo, PAYLOAD_JSONB);
}

static Datum
cancel_for_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(queue_cancel(PG_GETARG_INT64(0)));
}

/* The SQL entry points: each runs as the extension's owner, for its caller. */

Datum
webpush_send_id_text(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_id_text_for_caller, fcinfo);
}

Datum
webpush_send_id_jsonb(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_id_jsonb_for_caller, fcinfo);
}

Datum
webpush_send_id_bytea(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_id_bytea_for_caller, fcinfo);
}

Datum
webpush_send_json_text(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_json_text_for_caller, fcinfo);
}

Datum
webpush_send_many_text(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_many_text_for_caller, fcinfo);
}

Datum
webpush_send_many_jsonb(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_many_jsonb_for_caller, fcinfo);
}

Datum
webpush_send_user_text(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_user_text_for_caller, fcinfo);
}

Datum
webpush_send_user_jsonb(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_user_jsonb_for_caller, fcinfo);
}

Datum
webpush_cancel(PG_FUNCTION_ARGS)
{
	return call_for_caller(cancel_for_caller, fcinfo);
}
