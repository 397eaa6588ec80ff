/*
 * recalls.c
 *		webpush.recalls through SPI, for the worker: the claim of due
 *		DELETEs and their answers.  webpush_cancel queues them (enqueue.c);
 *		the history's purge removes finished ones (record.c).  Recalls are
 *		few: one statement per answer.
 *
 * A worker that records a copy delivered with a Location while a cancel
 * holds its message's row (record.c) queues the DELETE before the cancel is
 * known to commit.  So a recall is claimed only when its message is seen
 * cancelled, and one whose message's row is free and not cancelled (the
 * cancel rolled back) is removed.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "queue/recalls.h"
#include "support/spi_util.h"

/* How many of the first due recalls a look checks for a cancel rolled back. */
#define RECALL_DROP_WINDOW 64

int
queue_claim_recalls(int limit, int lease_ms, ClaimedRecall **out, TimestampTz *next_due)
{
	static SPIPlanPtr drop_plan = NULL;
	static SPIPlanPtr claim_plan = NULL;
	static SPIPlanPtr next_plan = NULL;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(limit), Int32GetDatum(lease_ms)};
	MemoryContext caller = CurrentMemoryContext;
	ClaimedRecall *rows;
	bool		isnull;
	int			n;

	spi_connect_or_error();

	/*
	 * Those whose cancel rolled back, among the first RECALL_DROP_WINDOW due
	 * (a recall that waits for its cancel stays at the front; the others are
	 * claimed and move on, so the window reaches every one in turn).  Each
	 * message is looked up by key and taken as the worker's record takes it:
	 * one a cancel holds is skipped, and one whose cancel committed since
	 * the snapshot is read again (cancelled, so kept).  Bounded, and by ctid
	 * (an ARRAY is run once): whatever the statistics when it was planned, a
	 * look costs the window, not the queue.
	 */
	if (SPI_execute_plan(spi_kept_plan(&drop_plan,
								  "DELETE FROM webpush.recalls r WHERE r.ctid = ANY (ARRAY("
								  " SELECT w.ctid FROM (SELECT ctid, message_id FROM webpush.recalls"
								  "  WHERE outcome IS NULL AND due_at <= pg_catalog.now()"
								  "  ORDER BY due_at LIMIT " CppAsString2(RECALL_DROP_WINDOW) ") w"
								  " CROSS JOIN LATERAL (SELECT FROM webpush.messages m"
								  "  WHERE m.id = w.message_id AND m.cancelled_at IS NULL"
								  "  FOR SHARE SKIP LOCKED) m))",
								  0, NULL),
						 NULL, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not drop the recalls of cancels rolled back");

	/*
	 * Claimed by ctid from an ARRAY, run once: a plan that ran a LIMIT ...
	 * SKIP LOCKED subquery again for each row (a nested loop planned while
	 * the table was empty) would claim more than limit, past the worker's
	 * array of recalls in flight.  Each recall's message is looked up by key
	 * (OFFSET 0 keeps the NOT EXISTS a subplan), so the due index is read in
	 * order and the scan stops at limit.
	 */
	if (SPI_execute_plan(spi_kept_plan(&claim_plan,
								  "UPDATE webpush.recalls r SET attempts = r.attempts + 1,"
								  " due_at = pg_catalog.now() + $2 * interval '1 millisecond'"
								  " WHERE r.ctid = ANY (ARRAY(SELECT q.ctid FROM webpush.recalls q"
								  "  WHERE q.outcome IS NULL AND q.due_at <= pg_catalog.now()"
								  "  AND NOT EXISTS (SELECT FROM webpush.messages m"
								  "   WHERE m.id = q.message_id AND m.cancelled_at IS NULL OFFSET 0)"
								  "  ORDER BY q.due_at LIMIT $1 FOR UPDATE SKIP LOCKED))"
								  " RETURNING r.message_id, r.subscription_id, r.location,"
								  " COALESCE(r.key_id, 0), r.expires_at, r.attempts",
								  2, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "webpush: could not claim recalls");
	n = (int) SPI_processed;
	rows = MemoryContextAlloc(caller, sizeof(ClaimedRecall) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		rows[i].message_id = spi_get_int64(i, 1, &isnull);
		rows[i].subscription_id = spi_get_int64(i, 2, &isnull);
		rows[i].location = MemoryContextStrdup(caller, SPI_getvalue(row, desc, 3));
		rows[i].key_id = spi_get_int64(i, 4, &isnull);
		rows[i].expires_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 5, &isnull));
		rows[i].attempts = DatumGetInt32(SPI_getbinval(row, desc, 6, &isnull));
	}
	/*
	 * The next to fall due.  One due now and not claimed waits for its
	 * cancel's COMMIT, which wakes the worker, or for another worker's
	 * claim to end.
	 */
	if (SPI_execute_plan(spi_kept_plan(&next_plan,
								  "SELECT pg_catalog.min(due_at) FROM webpush.recalls"
								  " WHERE outcome IS NULL AND due_at > pg_catalog.now()",
								  0, NULL),
						 NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read recalls");
	*next_due = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		*next_due = 0;
	SPI_finish();
	*out = rows;
	return n;
}

void
queue_record_recall(int64 message_id, int64 subscription_id, const char *outcome,
					int32 status, const char *reason, double delay_ms)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6] = {INT8OID, INT8OID, TEXTOID, INT4OID, TEXTOID, FLOAT8OID};
	Datum		values[6];
	char		nulls[6] = "      ";

	values[0] = Int64GetDatum(message_id);
	values[1] = Int64GetDatum(subscription_id);
	values[2] = outcome ? CStringGetTextDatum(outcome) : (Datum) 0;
	nulls[2] = outcome ? ' ' : 'n';
	values[3] = Int32GetDatum(status);
	values[4] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[4] = reason ? ' ' : 'n';
	values[5] = Float8GetDatum(delay_ms);
	spi_connect_or_error();
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  "UPDATE webpush.recalls SET outcome = $3,"
								  " status = NULLIF($4, 0), reason = $5,"
								  " finished_at = CASE WHEN $3 IS NULL THEN NULL ELSE pg_catalog.now() END,"
								  " due_at = CASE WHEN $3 IS NULL"
								  "  THEN pg_catalog.now() + $6 * interval '1 millisecond' ELSE due_at END"
								  " WHERE message_id = $1 AND subscription_id = $2 AND outcome IS NULL",
								  6, types),
						 values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not record a recall");
	SPI_finish();
}
