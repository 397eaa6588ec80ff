/*
 * stats.c
 *		SQL functions over the counters and gauges in shared memory:
 *		webpush.stats(), which the status views read, and
 *		webpush_counters_reset().
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "support/compat.h"
#include "shmem/counters.h"
#include "queue/upkeep.h"
#include "sql/args.h"

PG_FUNCTION_INFO_V1(webpush_stats);
PG_FUNCTION_INFO_V1(webpush_counters_reset);

#define STATS_COLUMNS 32

static void
require_preload(void)
{
	if (!counters_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webpush counters are not available"),
				 errdetail("They live in shared memory, which the library has only when it is preloaded."),
				 errhint("Add webpush to shared_preload_libraries, then restart the server.")));
}

/* Count the queue now, when the snapshot is out of date and ours to take. */
static void
refresh_gauges(void)
{
	GaugeRow   *rows;
	int			n;
	double		cost_ms;

	if (!counters_gauges_wanted(MyDatabaseId, false))
		return;
	PG_TRY();
	{
		n = queue_count_gauges(&rows, &cost_ms);
	}
	PG_CATCH();
	{
		counters_gauges_abandon(MyDatabaseId);
		PG_RE_THROW();
	}
	PG_END_TRY();
	counters_gauges_store(MyDatabaseId, rows, n, cost_ms);
}

static Datum
timestamp_or_null(TimestampTz t, bool *isnull)
{
	*isnull = t == 0;
	return TimestampTzGetDatum(t);
}

static Datum
stats_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CounterRow *rows;
	TimestampTz counted_at;
	TimestampTz stats_reset;
	Datum		bounds[LATENCY_BUCKETS - 1];
	int			n;
	int			i;
	int			j;

	require_preload();
	refresh_gauges();
	InitMaterializedSRF(fcinfo, 0);
	for (j = 0; j < LATENCY_BUCKETS - 1; j++)
		bounds[j] = Float8GetDatum(latency_bounds[j]);
	n = counters_read(MyDatabaseId, &rows, &counted_at, &stats_reset);
	for (i = 0; i < n; i++)
	{
		CounterRow *r = &rows[i];
		Datum		values[STATS_COLUMNS];
		bool		nulls[STATS_COLUMNS];
		Datum		cumulative[LATENCY_BUCKETS - 1];
		int64		sum = 0;
		int			c = 0;

		memset(nulls, 0, sizeof(nulls));
		values[c++] = CStringGetTextDatum(r->application);
		nulls[c] = r->host[0] == '\0';
		values[c++] = CStringGetTextDatum(r->host);
		values[c++] = Int64GetDatum(r->gauges.queued);
		values[c++] = Int64GetDatum(r->gauges.scheduled);
		values[c++] = Int64GetDatum(r->gauges.retrying);
		values[c++] = Int64GetDatum(r->gauges.sending);
		values[c] = timestamp_or_null(r->gauges.oldest_due_at, &nulls[c]);
		c++;
		values[c] = timestamp_or_null(r->gauges.next_retry_at, &nulls[c]);
		c++;
		values[c++] = Int64GetDatum(r->sent);
		values[c++] = Int64GetDatum(r->delivered);
		values[c++] = Int64GetDatum(r->gone);
		values[c++] = Int64GetDatum(r->failed);
		values[c++] = Int64GetDatum(r->expired);
		values[c++] = Int64GetDatum(r->cancelled);
		values[c++] = Int64GetDatum(r->refused);
		values[c++] = Int64GetDatum(r->capped_dropped);
		values[c++] = Int64GetDatum(r->capped_deferred);
		values[c++] = Int64GetDatum(r->held_quiet_hours);
		values[c++] = Int64GetDatum(r->throttled);
		for (j = 0; j < RETRY_REASONS; j++)
			values[c++] = Int64GetDatum(r->retried[j]);
		values[c++] = Int64GetDatum(r->bytes);
		/* As Prometheus has them: cumulative, the +Inf bucket is the count. */
		for (j = 0; j < LATENCY_BUCKETS - 1; j++)
		{
			sum += r->latency[j];
			cumulative[j] = Int64GetDatum(sum);
		}
		sum += r->latency[LATENCY_BUCKETS - 1];
		values[c++] = PointerGetDatum(construct_array(bounds, LATENCY_BUCKETS - 1, FLOAT8OID,
													  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[c++] = PointerGetDatum(construct_array(cumulative, LATENCY_BUCKETS - 1, INT8OID,
													  sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[c++] = Float8GetDatum(r->latency_sum);
		values[c++] = Int64GetDatum(sum);
		nulls[c] = r->last_problem_at == 0;
		values[c++] = CStringGetTextDatum(r->last_problem);
		values[c] = timestamp_or_null(r->last_problem_at, &nulls[c]);
		c++;
		values[c] = timestamp_or_null(counted_at, &nulls[c]);
		c++;
		values[c] = timestamp_or_null(stats_reset, &nulls[c]);
		c++;
		Assert(c == STATS_COLUMNS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * The counters and gauges of this database, per application and host.  It
 * counts the queue as the extension's owner: the gauges include the hosts
 * of endpoints, which its readers may not read.
 */
Datum
webpush_stats(PG_FUNCTION_ARGS)
{
	return call_for_caller(stats_rows, fcinfo);
}

Datum
webpush_counters_reset(PG_FUNCTION_ARGS)
{
	require_preload();
	PG_RETURN_TIMESTAMPTZ(counters_reset(MyDatabaseId));
}
