/*
 * receipts.c
 *		webpush_receipt() and webpush_receipts(): what became of a
 *		notification in the browser (shown, clicked with its action,
 *		closed), as the kit's service worker reports it to the application.
 *
 * The ids come from the payload (receipt.h), through the browser and the
 * application's server, so they are not trusted: a receipt is stored only
 * for a subscription the message was queued for (its delivery or its
 * history row), in an application the calling role may use.  Anything
 * else, and a receipt already stored, is ignored (false, or not counted):
 * another application's messages look absent, as everywhere.  Each event
 * is stored once per message and subscription, so a receipt sent again
 * (the service worker retries while offline) changes nothing.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "queue/app_access.h"
#include "support/spi_util.h"
#include "sql/args.h"
#include "sql/validate.h"

PG_FUNCTION_INFO_V1(webpush_receipt);
PG_FUNCTION_INFO_V1(webpush_receipts);

/* Action names as the Notification API gives them, kept short. */
#define RECEIPT_ACTION_MAX_LEN 64

typedef struct Receipt
{
	int64		message_id;
	int64		subscription_id;
	const char *event;			/* shown, clicked, closed */
	text	   *action;			/* clicked only; NULL: the notification's body */
	bool		has_at;
	TimestampTz at;				/* when the browser saw it */
} Receipt;

static void
receipt_error(const char *where, const char *problem, const char *hint)
{
	if (where[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid receipt: %s", problem),
				 errhint("%s", hint)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid receipt %s: %s", where, problem),
			 errhint("%s", hint)));
}

static const char *
event_name(const char *s, int len, const char *where)
{
	static const char *const events[] = {"shown", "clicked", "closed"};

	for (size_t i = 0; i < lengthof(events); i++)
		if ((int) strlen(events[i]) == len && strncmp(s, events[i], len) == 0)
			return events[i];
	receipt_error(where, "event must be shown, clicked or closed",
				  "Pass the event as the kit's service worker reports it.");
	return NULL;				/* keep the compiler quiet */
}

static void
check_receipt(const Receipt *r, const char *where)
{
	if (r->message_id <= 0)
		receipt_error(where, "message must be a message id (1 or more)",
					  "Pass the ids the notification carried in its \"receipt\" member.");
	if (r->subscription_id < 0)
		receipt_error(where, "subscription must be a subscription id (0 or more)",
					  "Pass the ids the notification carried in its \"receipt\" member.");
	if (r->action != NULL)
	{
		if (strcmp(r->event, "clicked") != 0)
			receipt_error(where, "only a clicked receipt has an action",
						  "Pass the action with the event clicked, and NULL otherwise.");
		if (VARSIZE_ANY_EXHDR(r->action) == 0 || VARSIZE_ANY_EXHDR(r->action) > RECEIPT_ACTION_MAX_LEN)
			receipt_error(where, "action must be 1 to " CppAsString2(RECEIPT_ACTION_MAX_LEN) " bytes",
						  "Pass the action name of the button that was clicked, or NULL for the notification itself.");
	}
	if (r->has_at && TIMESTAMP_NOT_FINITE(r->at))
		receipt_error(where, "at must be a finite time", "Pass when the browser saw the event, or NULL for now.");
}

/*
 * Stores r if its message was queued for its subscription in an application
 * the caller may use; true when it was stored now.  Inside SPI.
 */
static bool
store_receipt(const Receipt *r)
{
	static SPIPlanPtr find_plan = NULL;
	static SPIPlanPtr insert_plan = NULL;
	Oid			find_types[2] = {INT8OID, INT8OID};
	Datum		find_values[2] = {Int64GetDatum(r->message_id), Int64GetDatum(r->subscription_id)};
	Oid			insert_types[6] = {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		insert_values[6];
	char		insert_nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	char	   *app;

	if (find_plan == NULL)
	{
		find_plan = SPI_prepare("SELECT m.application FROM webpush.messages m"
								" WHERE m.id = $1"
								" AND (EXISTS (SELECT FROM webpush.deliveries d"
								"               WHERE d.message_id = $1 AND d.subscription_id = $2)"
								"      OR EXISTS (SELECT FROM webpush.history h"
								"                  WHERE h.message_id = $1 AND h.subscription_id = $2))"
								" FOR KEY SHARE OF m",
								2, find_types);
		if (find_plan == NULL || SPI_keepplan(find_plan) != 0)
			elog(ERROR, "webpush: could not prepare the receipt lookup");
	}
	/*
	 * The message is locked against its purge until the receipt is stored:
	 * a message purged meanwhile is not found, rather than failing the
	 * receipt's foreign key.
	 */
	if (SPI_execute_plan(find_plan, find_values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not look up a receipt's message");
	if (SPI_processed == 0)
		return false;
	app = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (!app_may_use(app, app_caller()))
		return false;

	if (insert_plan == NULL)
	{
		insert_plan = SPI_prepare("INSERT INTO webpush.receipts"
								  " (message_id, subscription_id, application, event, action, at)"
								  " VALUES ($1, $2, $3, $4, $5, COALESCE($6, pg_catalog.now()))"
								  " ON CONFLICT DO NOTHING",
								  6, insert_types);
		if (insert_plan == NULL || SPI_keepplan(insert_plan) != 0)
			elog(ERROR, "webpush: could not prepare the receipt insert");
	}
	insert_values[0] = Int64GetDatum(r->message_id);
	insert_values[1] = Int64GetDatum(r->subscription_id);
	insert_values[2] = CStringGetTextDatum(app);
	insert_values[3] = CStringGetTextDatum(r->event);
	insert_values[4] = r->action ? PointerGetDatum(r->action) : (Datum) 0;
	insert_nulls[4] = r->action ? ' ' : 'n';
	insert_values[5] = r->has_at ? TimestampTzGetDatum(r->at) : (Datum) 0;
	insert_nulls[5] = r->has_at ? ' ' : 'n';
	if (SPI_execute_plan(insert_plan, insert_values, insert_nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "webpush: could not store a receipt");
	return SPI_processed == 1;
}

/* webpush_receipt(message_id, subscription_id, event, action, at) */
static Datum
receipt_for_caller(PG_FUNCTION_ARGS)
{
	Receipt		r;
	text	   *event;
	bool		stored;

	validate_not_null(PG_ARGISNULL(0), "message_id");
	validate_not_null(PG_ARGISNULL(1), "subscription_id");
	validate_not_null(PG_ARGISNULL(2), "event");
	memset(&r, 0, sizeof(r));
	r.message_id = PG_GETARG_INT64(0);
	r.subscription_id = PG_GETARG_INT64(1);
	event = PG_GETARG_TEXT_PP(2);
	r.event = event_name(VARDATA_ANY(event), VARSIZE_ANY_EXHDR(event), "");
	r.action = ARG_GIVEN(3) ? PG_GETARG_TEXT_PP(3) : NULL;
	if (ARG_GIVEN(4))
	{
		r.has_at = true;
		r.at = PG_GETARG_TIMESTAMPTZ(4);
	}
	check_receipt(&r, "");
	spi_connect_or_error();
	stored = store_receipt(&r);
	SPI_finish();
	PG_RETURN_BOOL(stored);
}

/* An integer member of a receipt object (a number, or a string of digits). */
static int64
id_member(JsonbContainer *c, const char *key, const char *where)
{
	JsonbValue *v = getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
	char	   *s;
	char		problem[64];
	long long	id;

	snprintf(problem, sizeof(problem), "%s must be an integer id", key);
	if (v == NULL || (v->type != jbvNumeric && v->type != jbvString))
		receipt_error(where, problem, "Each receipt is {\"message\": 12, \"subscription\": 34, \"event\": \"shown\"}.");
	if (v->type == jbvNumeric)
		s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else
		s = pnstrdup(v->val.string.val, v->val.string.len);
	for (char *p = s; *p; p++)
		if (!isdigit((unsigned char) *p) || p - s > 18)
			receipt_error(where, problem, "Each receipt is {\"message\": 12, \"subscription\": 34, \"event\": \"shown\"}.");
	if (*s == '\0')
		receipt_error(where, problem, "Each receipt is {\"message\": 12, \"subscription\": 34, \"event\": \"shown\"}.");
	errno = 0;
	id = strtoll(s, NULL, 10);
	if (errno == ERANGE)
		receipt_error(where, problem, "Each receipt is {\"message\": 12, \"subscription\": 34, \"event\": \"shown\"}.");
	return id;
}

/* webpush_receipts(receipts jsonb): what the kit's service worker posts. */
static Datum
receipts_for_caller(PG_FUNCTION_ARGS)
{
	Jsonb	   *receipts;
	int			n;
	int32		stored = 0;

	validate_not_null(PG_ARGISNULL(0), "receipts");
	receipts = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(receipts) || JB_ROOT_IS_SCALAR(receipts))
		receipt_error("list", "receipts must be a JSON array",
					  "Pass the \"receipts\" array the kit's service worker posts.");
	n = JB_ROOT_COUNT(receipts);
	spi_connect_or_error();
	for (int i = 0; i < n; i++)
	{
		JsonbValue *element = getIthJsonbValueFromContainer(&receipts->root, i);
		JsonbContainer *c;
		JsonbValue *v;
		Receipt		r;
		char		where[32];

		snprintf(where, sizeof(where), "receipts[%d]", i);
		if (element->type != jbvBinary || !JsonContainerIsObject(element->val.binary.data))
			receipt_error(where, "must be an object",
						  "Each receipt is {\"message\": 12, \"subscription\": 34, \"event\": \"shown\"}.");
		c = element->val.binary.data;
		memset(&r, 0, sizeof(r));
		r.message_id = id_member(c, "message", where);
		r.subscription_id = id_member(c, "subscription", where);
		v = getKeyJsonValueFromContainer(c, "event", 5, NULL);
		if (v == NULL || v->type != jbvString)
			receipt_error(where, "event must be shown, clicked or closed",
						  "Pass the event as the kit's service worker reports it.");
		r.event = event_name(v->val.string.val, v->val.string.len, where);
		v = getKeyJsonValueFromContainer(c, "action", 6, NULL);
		if (v != NULL && v->type == jbvString && v->val.string.len > 0)
			r.action = cstring_to_text_with_len(v->val.string.val, v->val.string.len);
		else if (v != NULL && v->type != jbvNull && v->type != jbvString)
			receipt_error(where, "action must be a string", "Pass the action name of the button that was clicked.");
		/* at: milliseconds since 1970, as Date.now() gives it. */
		v = getKeyJsonValueFromContainer(c, "at", 2, NULL);
		if (v != NULL && v->type == jbvNumeric)
		{
			float8		ms = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																NumericGetDatum(v->val.numeric)));

			if (!(ms >= 0 && ms < 1e15))
				receipt_error(where, "at must be milliseconds since 1970", "Pass Date.now() of the moment it happened.");
			r.has_at = true;
			r.at = (TimestampTz) (ms * 1000.0) -
				(TimestampTz) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
		}
		else if (v != NULL && v->type != jbvNull)
			receipt_error(where, "at must be milliseconds since 1970", "Pass Date.now() of the moment it happened.");
		check_receipt(&r, where);
		if (store_receipt(&r))
			stored++;
	}
	SPI_finish();
	PG_RETURN_INT32(stored);
}

/* The SQL entry points: each runs as the extension's owner, for its caller. */

Datum
webpush_receipt(PG_FUNCTION_ARGS)
{
	return call_for_caller(receipt_for_caller, fcinfo);
}

Datum
webpush_receipts(PG_FUNCTION_ARGS)
{
	return call_for_caller(receipts_for_caller, fcinfo);
}
