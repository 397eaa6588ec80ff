/*
 * trace.c
 *		webpush_trace(): every delivery of one user or one message, waiting
 *		or finished, for a role that may use its application.
 *
 * "Why didn't alice get it?" needs what neither the queue nor the history
 * shows alone: what still waits (and why it waits), and what became of the
 * rest, including deliveries to subscriptions deleted since (a 404 or 410
 * deletes the subscription; the history keeps its user).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "queue/app_access.h"
#include "support/compat.h"
#include "support/spi_util.h"
#include "sql/args.h"

PG_FUNCTION_INFO_V1(webpush_trace);

#define TRACE_COLUMNS 11

/*
 * One statement per way of asking, each kept: $1 the application, $2 the
 * user or the message.  A delivery's state: sending, retrying, scheduled,
 * queued (waiting), or its outcome (gone: the push service answered 404 or
 * 410).
 */
#define TRACE_SQL(deliveries_where, intake_where, history_where) \
	"SELECT d.message_id, d.subscription_id, s.user_id," \
	" pg_catalog.substring(COALESCE(s.endpoint, m.endpoint), '^https://([^/:?#]+)')," \
	" CASE WHEN d.claimed_by IS NOT NULL THEN 'sending'" \
	"  WHEN d.attempts IS NOT NULL THEN 'retrying'" \
	"  WHEN COALESCE(d.next_attempt_at, m.send_at) > pg_catalog.now() THEN 'scheduled'" \
	"  ELSE 'queued' END," \
	" d.last_status::integer, d.last_error, COALESCE(d.attempts, 0)::integer, m.created_at," \
	" COALESCE(d.next_attempt_at, m.send_at), NULL::timestamptz " \
	"FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id" \
	" LEFT JOIN webpush.subscriptions s ON s.id = d.subscription_id AND d.subscription_id <> 0 " \
	"WHERE m.application = $1 AND " deliveries_where " " \
	"UNION ALL " \
	"SELECT i.id, NULL, i.user_id, NULL, 'queued', NULL," \
	" 'from webpush_notify(): not yet taken in by the worker', 0, i.queued_at, i.queued_at," \
	" NULL " \
	"FROM webpush.intake i WHERE i.application = $1 AND " intake_where " " \
	"UNION ALL " \
	"SELECT h.message_id, h.subscription_id, h.user_id," \
	" pg_catalog.substring(h.endpoint, '^https://([^/:?#]+)')," \
	" CASE WHEN h.outcome = 'failed' AND h.status IN (404, 410) THEN 'gone' ELSE h.outcome END," \
	" h.status, h.reason, h.attempts, h.created_at, m.send_at, h.finished_at " \
	"FROM webpush.history h LEFT JOIN webpush.messages m ON m.id = h.message_id " \
	"WHERE h.application = $1 AND " history_where " " \
	"ORDER BY 9 DESC, 1 DESC, 2"

static SPIPlanPtr
kept(SPIPlanPtr plan)
{
	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "webpush: could not prepare the trace: %s", SPI_result_code_string(SPI_result));
	return plan;
}

static Datum
trace_rows(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr user_plan = NULL;
	static SPIPlanPtr message_plan = NULL;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		by_user = ARG_GIVEN(0);
	bool		by_message = ARG_GIVEN(1);
	char	   *app = NULL;
	Oid			types[2] = {TEXTOID, by_user ? TEXTOID : INT8OID};
	Datum		values[2];
	SPIPlanPtr *plan;
	uint64		i;

	if (by_user == by_message)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webpush_trace needs either for_user or for_message"),
				 errhint("SELECT * FROM webpush_trace(for_user => 'alice') or SELECT * FROM webpush_trace(for_message => 42).")));
	InitMaterializedSRF(fcinfo, 0);
	spi_connect_or_error();
	if (by_message)
	{
		bool		isnull;
		Datum		found;

		/* A message's application: another application's looks absent. */
		values[1] = PG_GETARG_DATUM(1);
		if (SPI_execute_with_args("SELECT application FROM webpush.messages WHERE id = $1"
								  " UNION ALL SELECT application FROM webpush.intake WHERE id = $1"
								  " UNION ALL (SELECT application FROM webpush.history"
								  "  WHERE message_id = $1 LIMIT 1) LIMIT 1",
								  1, &types[1], &values[1], NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not look up the message");
		found = SPI_processed > 0 ?
			SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull) : (Datum) 0;
		if (SPI_processed > 0 && !isnull)
			app = TextDatumGetCString(found);
		if (app == NULL || !app_may_use(app, app_caller()))
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("message %lld does not exist", (long long) PG_GETARG_INT64(1)),
					 errhint("Messages are kept for webpush.history_retention after they were queued.")));
		plan = &message_plan;
		if (*plan == NULL)
			*plan = kept(SPI_prepare(TRACE_SQL("d.message_id = $2", "i.id = $2",
											   "h.message_id = $2"),
									 2, types));
	}
	else
	{
		app = used_application_arg(fcinfo, 2);
		values[1] = PG_GETARG_DATUM(0);
		plan = &user_plan;
		if (*plan == NULL)
			*plan = kept(SPI_prepare(TRACE_SQL("s.user_id = $2", "i.user_id = $2",
											   "h.user_id = $2 AND h.user_id IS NOT NULL"),
									 2, types));
	}
	values[0] = CStringGetTextDatum(app);
	if (SPI_execute_plan(*plan, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not trace");
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		row[TRACE_COLUMNS];
		bool		nulls[TRACE_COLUMNS];
		int			c;

		for (c = 0; c < TRACE_COLUMNS; c++)
			row[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		/* Copied out of SPI's memory by the tuplestore. */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

Datum
webpush_trace(PG_FUNCTION_ARGS)
{
	return call_for_caller(trace_rows, fcinfo);
}
