/*
 * cap_counts.c
 *		What the worker counts for the frequency caps of the deliveries it
 *		claimed: each capped user's last window of the history, through SPI
 *		(called by the claim, in its transaction).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "queue/cap_counts.h"
#include "support/spi_util.h"

/*
 * What the history holds of the last window of each capped recipient's
 * user (claimed[0..n), those with cap_max > 0): the messages delivered to
 * them, each with its last delivery, oldest first.  One statement for the
 * claim, run only when it has capped rows, each user's window an index
 * range of history_user_idx (application, user_id, finished_at).  Not
 * read-only: the outcomes this transaction recorded before it count.
 */
void
queue_count_capped(MemoryContext caller, ClaimedMessage *claimed, int n)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID};
	Datum		values[3];
	Datum	   *apps;
	Datum	   *users;
	Datum	   *windows;
	int		   *row;
	int			ncapped = 0;
	int			i;
	uint64		r;

	/* A claim without a capped delivery costs one look at each. */
	for (i = 0; i < n && claimed[i].cap_max == 0; i++)
		;
	if (i == n)
		return;
	apps = palloc(sizeof(Datum) * n);
	users = palloc(sizeof(Datum) * n);
	windows = palloc(sizeof(Datum) * n);
	row = palloc(sizeof(int) * n);
	for (; i < n; i++)
	{
		if (claimed[i].cap_max == 0)
			continue;
		apps[ncapped] = CStringGetTextDatum(claimed[i].ref.application);
		users[ncapped] = CStringGetTextDatum(claimed[i].ref.user_id);
		windows[ncapped] = Float8GetDatum(claimed[i].cap_window / (double) USECS_PER_SEC);
		row[ncapped++] = i;
	}
	values[0] = PointerGetDatum(datum_array(apps, ncapped, TEXTOID));
	values[1] = PointerGetDatum(datum_array(users, ncapped, TEXTOID));
	values[2] = PointerGetDatum(datum_array(windows, ncapped, FLOAT8OID));
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  "SELECT o.i, c.messages, c.times"
								  " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
								  "  pg_catalog.unnest($3)) WITH ORDINALITY AS o(application, user_id, secs, i)"
								  " CROSS JOIN LATERAL (SELECT pg_catalog.array_agg(h.message_id ORDER BY h.t, h.message_id)"
								  "   AS messages, pg_catalog.array_agg(h.t ORDER BY h.t, h.message_id) AS times"
								  "  FROM (SELECT message_id, pg_catalog.max(finished_at) AS t FROM webpush.history"
								  "   WHERE application = o.application AND user_id = o.user_id"
								  "   AND user_id IS NOT NULL AND outcome = 'delivered'"
								  "   AND finished_at > pg_catalog.now() - pg_catalog.make_interval(secs => o.secs)"
								  "   GROUP BY message_id) h) c",
								  3, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not count a frequency cap");
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		i1 = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		ClaimedMessage *m = &claimed[row[i1 - 1]];
		Datum		messages = SPI_getbinval(tuple, desc, 2, &isnull);
		Datum		times;
		Datum	   *ids;
		Datum	   *ats;
		int			nids;
		int			nats;
		int			k;

		if (isnull)
			continue;			/* nothing delivered to them in the window */
		times = SPI_getbinval(tuple, desc, 3, &isnull);
		deconstruct_array(DatumGetArrayTypeP(messages), INT8OID, sizeof(int64),
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ids, NULL, &nids);
		deconstruct_array(DatumGetArrayTypeP(times), TIMESTAMPTZOID, sizeof(TimestampTz),
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ats, NULL, &nats);
		m->cap_ncounted = Min(nids, nats);
		m->cap_messages = MemoryContextAlloc(caller, sizeof(int64) * Max(m->cap_ncounted, 1));
		m->cap_times = MemoryContextAlloc(caller, sizeof(TimestampTz) * Max(m->cap_ncounted, 1));
		for (k = 0; k < m->cap_ncounted; k++)
		{
			m->cap_messages[k] = DatumGetInt64(ids[k]);
			m->cap_times[k] = DatumGetTimestampTz(ats[k]);
		}
	}
}
