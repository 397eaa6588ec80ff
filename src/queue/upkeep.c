/*
 * upkeep.c
 *		The worker's upkeep of the queue, through SPI: the deliveries of
 *		workers that no longer run handed back, the history (and the
 *		messages and recalls done with) purged, the queue's gauges counted.
 *
 * Every statement is prepared once per process and kept (spi_kept_plan).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "queue/claim.h"
#include "queue/upkeep.h"
#include "shmem/registry.h"
#include "support/spi_util.h"

int64
queue_reclaim_orphans(bool including_own)
{
	static SPIPlanPtr plan = NULL;
	WakeWorkerInfo *workers = palloc(sizeof(WakeWorkerInfo) * 1024);
	int			nworkers = wake_list_workers(workers, 1024);
	Datum	   *pids = palloc(sizeof(Datum) * Max(nworkers, 1));
	int			npids = 0;
	Oid			types[1] = {INT4ARRAYOID};
	Datum		values[1];
	int64		n;
	int			i;

	/*
	 * Rows claimed by a pid that no slot holds any more are orphans; so are
	 * this worker's own when it holds nothing (including_own).
	 */
	for (i = 0; i < nworkers; i++)
		if (workers[i].pid != 0 && !(including_own && workers[i].pid == MyProcPid))
			pids[npids++] = Int32GetDatum(workers[i].pid);
	values[0] = PointerGetDatum(datum_array(pids, npids, INT4OID));
	spi_connect_or_error();
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  "UPDATE webpush.deliveries SET claimed_by = NULL,"
								  " next_attempt_at = pg_catalog.now() "
								  "WHERE claimed_by IS NOT NULL AND claimed_by <> ALL ($1)",
								  1, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not reclaim deliveries");
	n = (int64) SPI_processed;
	queue_retries_changed();
	SPI_finish();
	return n;
}

int64
queue_purge_history(int retention_s)
{
	static SPIPlanPtr history_plan = NULL;
	static SPIPlanPtr messages_plan = NULL;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(retention_s)};
	int64		n;

	spi_connect_or_error();
	/* With the history go the recalls finished as long ago: they are few. */
	if (SPI_execute_plan(spi_kept_plan(&history_plan,
								  "WITH r AS (DELETE FROM webpush.recalls"
								  " WHERE finished_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)) "
								  "DELETE FROM webpush.history WHERE ctid = ANY (ARRAY("
								  " SELECT ctid FROM webpush.history"
								  " WHERE finished_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
								  " LIMIT " CppAsString2(QUEUE_PURGE_BATCH) "))",
								  1, types),
						 values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not purge history");
	n = (int64) SPI_processed;

	/*
	 * Messages are kept as long as their outcomes are (a dedupe_key holds
	 * that long too), and while anything is left to send or to recall (a
	 * recall is claimed by its message's cancel, recalls.c).
	 */
	if (SPI_execute_plan(spi_kept_plan(&messages_plan,
								  "DELETE FROM webpush.messages WHERE id IN ("
								  " SELECT m.id FROM webpush.messages m"
								  " WHERE m.created_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
								  " AND NOT m.pending"
								  " AND NOT EXISTS (SELECT FROM webpush.deliveries d WHERE d.message_id = m.id)"
								  " AND NOT EXISTS (SELECT FROM webpush.recalls r"
								  "  WHERE r.message_id = m.id AND r.outcome IS NULL)"
								  " ORDER BY m.id LIMIT " CppAsString2(QUEUE_PURGE_BATCH) ")",
								  1, types),
						 values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not purge messages");
	SPI_finish();
	return n;
}

int
queue_count_gauges(GaugeRow **out, double *cost_ms)
{
	static SPIPlanPtr plan = NULL;
	MemoryContext caller = CurrentMemoryContext;
	instr_time	start;
	instr_time	duration;
	int			ret;
	uint64		i;
	int			n;

	spi_connect_or_error();

	/*
	 * One pass over the deliveries, by application and host; the intake's
	 * rows are queued for their application, with no host yet.  Due means
	 * due now: a scheduled message or a retry waiting for its time is not.
	 * The host is cut out of the endpoint as counters_url_host() does, with
	 * split_part: a regular expression costs three times as much per row.
	 * What a count costs, planning aside, decides who counts next time.
	 */
	(void) spi_kept_plan(&plan,
					"WITH d AS ("
					" SELECT m.application,"
					"  pg_catalog.split_part(pg_catalog.split_part(pg_catalog.split_part(pg_catalog.split_part("
					"   COALESCE(s.endpoint, m.endpoint), '/', 3), ':', 1), '?', 1), '#', 1) AS host,"
					"  d.claimed_by, d.attempts,"
					"  COALESCE(d.next_attempt_at, m.send_at) AS due_at, d.next_attempt_at"
					" FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id"
					" LEFT JOIN webpush.subscriptions s"
					"  ON s.id = d.subscription_id AND d.subscription_id <> 0) "
					"SELECT application, COALESCE(host, ''),"
					" pg_catalog.count(*) FILTER (WHERE claimed_by IS NULL AND attempts IS NULL"
					"  AND due_at <= pg_catalog.now()),"
					" pg_catalog.count(*) FILTER (WHERE claimed_by IS NULL AND attempts IS NULL"
					"  AND due_at > pg_catalog.now()),"
					" pg_catalog.count(*) FILTER (WHERE claimed_by IS NULL AND attempts IS NOT NULL),"
					" pg_catalog.count(*) FILTER (WHERE claimed_by IS NOT NULL),"
					" pg_catalog.min(due_at) FILTER (WHERE claimed_by IS NULL"
					"  AND due_at <= pg_catalog.now()),"
					" pg_catalog.min(next_attempt_at) FILTER (WHERE claimed_by IS NULL"
					"  AND next_attempt_at > pg_catalog.now()) "
					"FROM d GROUP BY 1, 2 "
					"UNION ALL "
					"SELECT application, '', pg_catalog.count(*), 0, 0, 0, pg_catalog.min(queued_at), NULL"
					" FROM webpush.intake GROUP BY 1",
					0, NULL);
	/*
	 * With a snapshot of its own, as the worker counts: a reader in a long
	 * REPEATABLE READ transaction must not store its old view as new.
	 */
	INSTR_TIME_SET_CURRENT(start);
	ret = SPI_execute_snapshot(plan, NULL, NULL, GetLatestSnapshot(), InvalidSnapshot,
							   true, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not count the queue");
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	*cost_ms = INSTR_TIME_GET_MILLISEC(duration);
	n = (int) SPI_processed;
	*out = MemoryContextAllocZero(caller, sizeof(GaugeRow) * Max(n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		GaugeRow   *g = &(*out)[i];
		bool		isnull;
		Datum		d;

		strlcpy(g->application, SPI_getvalue(row, desc, 1), COUNTERS_APP_LEN);
		strlcpy(g->host, SPI_getvalue(row, desc, 2), COUNTERS_HOST_LEN);
		g->queued = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
		g->scheduled = DatumGetInt64(SPI_getbinval(row, desc, 4, &isnull));
		g->retrying = DatumGetInt64(SPI_getbinval(row, desc, 5, &isnull));
		g->sending = DatumGetInt64(SPI_getbinval(row, desc, 6, &isnull));
		d = SPI_getbinval(row, desc, 7, &isnull);
		g->oldest_due_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(row, desc, 8, &isnull);
		g->next_retry_at = isnull ? 0 : DatumGetTimestampTz(d);
	}
	SPI_finish();
	return n;
}
