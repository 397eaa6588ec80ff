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
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "push/notification.h"
#include "queue/app_access.h"
#include "queue/applications.h"
#include "queue/enqueue.h"
#include "queue/insert.h"
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
		Jsonb	   *jsonb = PG_GETARG_JSONB_P(1);
		size_t		len;
		const char *json = notification_text_of(jsonb, &len);

		/* webpush_notification(...) wrote this text as it built the jsonb. */
		if (json != NULL)
			payload = (bytea *) cstring_to_text_with_len(json, len);
		else
			payload = (bytea *) cstring_to_text(JsonbToCString(NULL, &jsonb->root, 0));
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

/*
 * The blessed result type of each function that returns (message_id,
 * recipients), by the function's oid: a trigger's PERFORM sets up its call
 * afresh at every firing, so fn_extra keeps nothing across them, and
 * get_call_result_type reads the function's OUT arguments from its
 * pg_proc row each time.  A change to any function forgets them all.
 */
#define RESULT_TYPES 4
static struct
{
	Oid			fn_oid;
	TupleDesc	tupdesc;
}			result_types[RESULT_TYPES];
static int	nresult_types = 0;
static bool result_types_callback = false;

static void
forget_result_types(Datum arg, int cacheid, uint32 hashvalue)
{
	for (int i = 0; i < nresult_types; i++)
		FreeTupleDesc(result_types[i].tupdesc);
	nresult_types = 0;
}

static TupleDesc
result_type(FunctionCallInfo fcinfo)
{
	Oid			fn_oid = fcinfo->flinfo->fn_oid;
	TupleDesc	tupdesc;
	MemoryContext old;

	for (int i = 0; i < nresult_types; i++)
		if (result_types[i].fn_oid == fn_oid)
			return result_types[i].tupdesc;
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the webpush extension's SQL definitions are older than its library"),
				 errhint("Run ALTER EXTENSION webpush UPDATE.")));
	if (!result_types_callback)
	{
		CacheRegisterSyscacheCallback(PROCOID, forget_result_types, (Datum) 0);
		result_types_callback = true;
	}
	if (nresult_types == RESULT_TYPES)
		forget_result_types((Datum) 0, PROCOID, 0);
	old = MemoryContextSwitchTo(CacheMemoryContext);
	tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
	MemoryContextSwitchTo(old);
	result_types[nresult_types].fn_oid = fn_oid;
	result_types[nresult_types].tupdesc = tupdesc;
	nresult_types++;
	return tupdesc;
}

/*
 * (message_id, recipients) for the functions that return both; recipients
 * is NULL for a message whose recipients are found after COMMIT.
 */
static Datum
message_and_recipients(FunctionCallInfo fcinfo, QueuedMessage q)
{
	TupleDesc	tupdesc = result_type(fcinfo);
	Datum		values[2];
	bool		nulls[2] = {q.message_id == 0, q.recipients == RECIPIENTS_AFTER_COMMIT};

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

/* Whether this call comes from a trigger, at any depth. */
static bool
in_trigger(void)
{
	LOCAL_FCINFO(depth, 0);

	InitFunctionCallInfoData(*depth, NULL, 0, InvalidOid, NULL, NULL);
	return DatumGetInt32(pg_trigger_depth(depth)) > 0;
}

/*
 * Whether a send to a user can be one row of webpush.intake, as
 * webpush_notify stores it: from a trigger (whose INSERT it keeps cheap),
 * with nothing the intake has no column for (send_at, topic, dedupe_key,
 * local_time), once this process knows that the caller may use the
 * application and that it has a subject, and with no
 * webpush.max_queued_per_role for the caller, whose count needs the
 * message and its deliveries.
 */
static bool
intake_fits(const MessageSpec *spec)
{
	return !spec->has_send_at && !spec->opts.has_topic && spec->dedupe_key == NULL &&
		!spec->has_local_time && in_trigger() && app_may_use(spec->app, app_caller()) &&
		app_subject_known(spec->app) && !OidIsValid(queue_limited_role());
}

/* A send to a user, queued by queue_user_send. */
typedef struct UserSend
{
	FunctionCallInfo fcinfo;
	MessageSpec spec;
	QueuedMessage q;
} UserSend;

/* What a row of webpush.intake returns: its id, recipients after COMMIT. */
static QueuedMessage
intake_result(int64 id)
{
	QueuedMessage q = {id, id != 0 ? RECIPIENTS_AFTER_COMMIT : 0};

	if (id != 0)
		queue_wake_at_commit();
	return q;
}

/* The checks that may run a statement, then the send: search_path pinned. */
static void
queue_user_send(void *arg)
{
	UserSend   *send = arg;
	FunctionCallInfo fcinfo = send->fcinfo;
	int64		id;

	app_require_use(send->spec.app);
	send->q.message_id = 0;
	send->q.recipients = 0;

	/*
	 * No user, no recipients: a trigger on a row without a user must not
	 * fail its transaction.  The other arguments were still checked.
	 */
	if (PG_ARGISNULL(0))
		return;
	app_require_subject(send->spec.app);
	if (intake_fits(&send->spec) && queue_insert_intake(PG_GETARG_TEXT_PP(0), &send->spec, &id))
		send->q = intake_result(id);
	else
		send->q = queue_to_user(PG_GETARG_TEXT_PP(0), &send->spec);
}

static Datum
send_to_user(FunctionCallInfo fcinfo, PayloadKind kind)
{
	UserSend	send;
	int64		id;

	send.fcinfo = fcinfo;
	message_spec(fcinfo, kind, 6, &send.spec);
	local_time_arg(fcinfo, &send.spec);
	send.spec.app = application_arg(fcinfo, 5);

	/*
	 * From a trigger, once this process knows the application: one row of
	 * webpush.intake, as webpush_notify stores it, when that runs nothing
	 * of anyone's (no search_path to pin).
	 */
	if (!PG_ARGISNULL(0) && intake_fits(&send.spec) &&
		queue_insert_intake_plain(PG_GETARG_TEXT_PP(0), &send.spec, &id))
		return message_and_recipients(fcinfo, intake_result(id));
	run_with_search_path_pinned(queue_user_send, &send);
	return message_and_recipients(fcinfo, send.q);
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
