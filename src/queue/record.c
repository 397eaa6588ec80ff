/*
 * record.c
 *		The worker's record, through SPI: each batch of outcomes written to
 *		the history, to the retries and to removed subscriptions.
 *
 * Every statement is prepared once per process and kept (spi_kept_plan).
 * The outcome statements share one set of arrays (OutcomeArrays,
 * FINAL_ARRAYS) and one way of finding a claimed row (FIND_CLAIMED).
 */
#include "postgres.h"

#include <limits.h>
#include <string.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "queue/claim.h"
#include "queue/record.h"
#include "queue/subscriptions.h"
#include "shmem/counters.h"
#include "support/spi_util.h"
#include "settings.h"

/* A text[] whose NULL entries stand for NULL strings. */
static ArrayType *
text_array(char *const *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		nulls[i] = (v[i] == NULL);
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(v[i]);
	}
	return construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
}

/* The deliveries of some outcomes, as arrays for one statement. */
typedef struct OutcomeArrays
{
	int			n;
	Datum	   *tids;
	Datum	   *message_ids;
	Datum	   *subscription_ids;
	Datum	   *statuses;
	Datum	   *delays;
	char	  **reasons;
	char	  **endpoints;
	char	  **kinds;
	Datum	   *uncounted;
	Datum	   *created_at;
	char	  **applications;
	char	  **user_ids;
	char	  **locations;
	Datum	   *key_ids;
} OutcomeArrays;

static void
collect(OutcomeArrays *a, const Outcome *outcomes, int n, bool (*wanted) (OutcomeKind))
{
	int			i;

	a->n = 0;
	a->tids = palloc(sizeof(Datum) * Max(n, 1));
	a->message_ids = palloc(sizeof(Datum) * Max(n, 1));
	a->subscription_ids = palloc(sizeof(Datum) * Max(n, 1));
	a->statuses = palloc(sizeof(Datum) * Max(n, 1));
	a->delays = palloc(sizeof(Datum) * Max(n, 1));
	a->reasons = palloc(sizeof(char *) * Max(n, 1));
	a->endpoints = palloc(sizeof(char *) * Max(n, 1));
	a->kinds = palloc(sizeof(char *) * Max(n, 1));
	a->uncounted = palloc(sizeof(Datum) * Max(n, 1));
	a->created_at = palloc(sizeof(Datum) * Max(n, 1));
	a->applications = palloc(sizeof(char *) * Max(n, 1));
	a->user_ids = palloc(sizeof(char *) * Max(n, 1));
	a->locations = palloc(sizeof(char *) * Max(n, 1));
	a->key_ids = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		const Outcome *o = &outcomes[i];

		if (!wanted(o->kind))
			continue;
		a->tids[a->n] = PointerGetDatum(&o->ref.tid);
		a->message_ids[a->n] = Int64GetDatum(o->ref.message_id);
		a->subscription_ids[a->n] = Int64GetDatum(o->ref.subscription_id);
		a->statuses[a->n] = Int32GetDatum(o->status);
		a->delays[a->n] = Float8GetDatum(o->retry_delay_ms);
		a->reasons[a->n] = o->reason;
		a->endpoints[a->n] = o->endpoint;
		a->kinds[a->n] = (char *) outcome_history_name(o->kind);
		a->uncounted[a->n] = Int32GetDatum(o->not_attempted ? 1 : 0);
		a->created_at[a->n] = TimestampTzGetDatum(o->ref.created_at);
		a->applications[a->n] = (char *) o->ref.application;
		a->user_ids[a->n] = o->ref.user_id;
		a->locations[a->n] = o->location;
		a->key_ids[a->n] = Int64GetDatum(o->ref.key_id);
		a->n++;
	}
}

static bool
is_retry(OutcomeKind kind)
{
	return kind == OUTCOME_RETRY;
}

static bool
is_release(OutcomeKind kind)
{
	return kind == OUTCOME_RELEASE;
}

static bool
is_gone(OutcomeKind kind)
{
	return kind == OUTCOME_GONE;
}

static bool
is_retry_or_release(OutcomeKind kind)
{
	return kind == OUTCOME_RETRY || kind == OUTCOME_RELEASE;
}

static bool
is_failed_or_gone(OutcomeKind kind)
{
	return kind == OUTCOME_FAILED || kind == OUTCOME_GONE;
}

static bool
is_delivered(OutcomeKind kind)
{
	return kind == OUTCOME_DELIVERED;
}

static bool
is_final_undelivered(OutcomeKind kind)
{
	return outcome_is_final(kind) && kind != OUTCOME_DELIVERED;
}

/*
 * Each outcome finds its row by the ctid the claim returned: one TID scan
 * of the batch's ctids (ctid = ANY), hashed against the outcomes, so a
 * batch costs linear time (see execute_outcome_statement).  The row found
 * must still be the claimed delivery (its key, claimed by this worker):
 * not its xmin, which VACUUM FULL and CLUSTER keep, and which every row of
 * one claim shares.  A ctid can point elsewhere once the row moved:
 * VACUUM FULL, CLUSTER or an ALTER TABLE rewrote the table, or someone
 * updated the row.  Then the statement finds fewer rows than it was
 * given, and runs again finding rows by primary key; it only touches rows
 * this worker still has claimed, so it cannot write one twice.
 */
#define BY_TID(tids) "d.ctid = ANY (" tids ") AND d.ctid = o.tid AND "
#define BY_KEY ""
#define FIND_CLAIMED(by) \
	"  WHERE " by "d.message_id = o.message_id" \
	"   AND d.subscription_id = o.subscription_id AND d.claimed_by = "

/*
 * Finished deliveries leave for the history, in one pass; what the history
 * keeps of the message and the user came with the claim.
 *
 * Both statements take final_values()'s parameters: $1 the worker's pid,
 * then the outcomes' tids, message and subscription ids, statuses,
 * endpoints, created_at, applications and user ids, unnested as
 * FINAL_COLUMNS; tail adds arrays and their columns (or is FINAL_COLUMNS
 * alone), and outcome is what the history takes.
 */
#define FINAL_ARGS 9
#define FINAL_ARG_TYPES INT4OID, TIDARRAYOID, INT8ARRAYOID, INT8ARRAYOID, \
	INT4ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, TEXTARRAYOID
#define FINAL_ARRAYS \
	"pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)," \
	" pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)," \
	" pg_catalog.unnest($8), pg_catalog.unnest($9)"
#define FINAL_COLUMNS ") AS o(tid, message_id, subscription_id, status, endpoint," \
	" created_at, application, user_id"
#define RECORD_FINAL_SQL(by, tail, outcome) \
	"WITH d AS (DELETE FROM webpush.deliveries d" \
	"  USING ROWS FROM (" FINAL_ARRAYS tail ")" \
	FIND_CLAIMED(by) "$1" \
	"  RETURNING d.message_id, d.subscription_id, d.attempts, " outcome ") " \
	"INSERT INTO webpush.history (message_id, subscription_id, endpoint, outcome," \
	" status, attempts, reason, created_at, application, user_id, location, key_id) " \
	"SELECT message_id, subscription_id, COALESCE(endpoint, ''), outcome," \
	" NULLIF(status, 0), attempts - uncounted, reason, created_at, application, user_id," \
	" location, key_id FROM d"

/* Delivered: $10 the push message resources a cancel may DELETE, $11 their keys. */
#define RECORD_DELIVERED_SQL(by) \
	RECORD_FINAL_SQL(by, ", pg_catalog.unnest($10), pg_catalog.unnest($11)" FINAL_COLUMNS \
					 ", location, key_id", "o.endpoint, text 'delivered' AS outcome, o.status," \
					 " NULL::text AS reason, 0 AS uncounted, o.created_at," \
					 " o.application, o.user_id, o.location," \
					 " CASE WHEN o.location IS NOT NULL THEN o.key_id END AS key_id")

/*
 * A copy delivered with a Location whose message was cancelled while it
 * was in flight gets its DELETE queued, as the cancel queued those
 * delivered before it: $1 and $2 the message and subscription ids, $3 the
 * locations, $4 their keys.
 *
 * The message's row is taken FOR SHARE, which a cancel's UPDATE of it
 * (enqueue.c) conflicts with.  Taken, it shows the cancel as committed or
 * not: one that comes later waits for this transaction and then finds the
 * copy in the history itself.  Held by an UPDATE in progress (SKIP LOCKED:
 * a user's open transaction must not hold up the deliveries), the DELETE is
 * queued anyway; the claim of recalls (recalls.c) sends it once the cancel
 * is seen committed, and removes it if the row is found free and not
 * cancelled.
 *
 * A statement of its own, planned as the worker's others are (see
 * execute_outcome_statement).  Each outcome looks its message up by key
 * (the LATERALs, OFFSET 0, can only be nested loops): a join the planner
 * may choose would, planned while the messages were few or analyzed empty,
 * read the whole primary key for every batch (sequential scans are off in
 * the worker) until the plan is invalidated.
 */
#define RECALL_CANCELLED_SQL \
	"INSERT INTO webpush.recalls (message_id, subscription_id, application, location," \
	" key_id, expires_at) " \
	"SELECT o.message_id, o.subscription_id, m.application, o.location, o.key_id," \
	" pg_catalog.now() + m.ttl * interval '1 second' " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)," \
	" pg_catalog.unnest($4)) AS o(message_id, subscription_id, location, key_id)" \
	" CROSS JOIN LATERAL (SELECT application, ttl FROM webpush.messages" \
	"  WHERE id = o.message_id OFFSET 0) m" \
	" LEFT JOIN LATERAL (SELECT cancelled_at IS NOT NULL AS cancelled FROM webpush.messages" \
	"  WHERE id = o.message_id FOR SHARE SKIP LOCKED) l ON true " \
	"WHERE o.location IS NOT NULL AND l.cancelled IS DISTINCT FROM false " \
	"ON CONFLICT DO NOTHING"
#define RECORD_UNDELIVERED_SQL(by) \
	RECORD_FINAL_SQL(by, ", pg_catalog.unnest($10), pg_catalog.unnest($11)," \
					 " pg_catalog.unnest($12)" FINAL_COLUMNS ", outcome, reason, uncounted", \
					 "o.endpoint, o.outcome, o.status, o.reason, o.uncounted," \
					 " o.created_at, o.application, o.user_id, NULL::text AS location," \
					 " NULL::bigint AS key_id")

/* Retries wait for their next attempt. */
#define RECORD_RETRY_SQL(by) \
	"UPDATE webpush.deliveries d SET claimed_by = NULL," \
	" next_attempt_at = pg_catalog.clock_timestamp()" \
	"  + o.delay_ms * interval '1 millisecond'," \
	" last_status = NULLIF(o.status, 0), last_error = o.reason " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)," \
	" pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5)," \
	" pg_catalog.unnest($6))" \
	" AS o(tid, message_id, subscription_id, status, reason, delay_ms) " \
	FIND_CLAIMED(by) "$7"

/*
 * Handed back unsent: waiting again, the attempt not counted.  One held by
 * a rule (hold_until not NULL) waits until then, with the reason; after
 * quiet hours (due_from not NULL) it is due then, as if it had been sent at
 * a local time then.
 */
#define RECORD_RELEASE_SQL(by) \
	"UPDATE webpush.deliveries d SET claimed_by = NULL," \
	" attempts = d.attempts - 1," \
	" next_attempt_at = COALESCE(o.hold_until, pg_catalog.clock_timestamp()" \
	"  + o.delay_ms * interval '1 millisecond')," \
	" due_at = COALESCE(o.due_from, d.due_at)," \
	" last_error = CASE WHEN o.hold_until IS NULL THEN d.last_error ELSE o.reason END " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)," \
	" pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($6)," \
	" pg_catalog.unnest($7), pg_catalog.unnest($8))" \
	" AS o(tid, message_id, subscription_id, delay_ms, hold_until, reason, due_from) " \
	FIND_CLAIMED(by) "$5"

/*
 * A failure at an endpoint the subscription no longer has (the browser
 * moved while the request was in flight, typically from a dead endpoint)
 * is not final: the delivery waits again, due at once, for the current
 * endpoint; unless the message was delivered there already, or is in
 * flight for a subscription merged into this one (whose outcome follows,
 * see below).  Found by key: failures are few.
 */
#define REDIRECT_MOVED_SQL \
	"UPDATE webpush.deliveries d SET claimed_by = NULL," \
	" next_attempt_at = pg_catalog.clock_timestamp()," \
	" last_status = NULLIF(o.status, 0), last_error = o.reason " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)," \
	" pg_catalog.unnest($4), pg_catalog.unnest($5))" \
	" AS o(message_id, subscription_id, status, endpoint, reason)," \
	" webpush.subscriptions s " \
	FIND_CLAIMED(BY_KEY) "$6" \
	" AND s.id = d.subscription_id AND s.endpoint <> o.endpoint" \
	" AND NOT EXISTS (SELECT FROM webpush.history h WHERE h.message_id = d.message_id" \
	"  AND h.endpoint = s.endpoint AND h.outcome = 'delivered')" \
	" AND NOT EXISTS (SELECT FROM webpush.deliveries w WHERE w.message_id = d.message_id" \
	"  AND w.subscription_id <> d.subscription_id AND w.subscription_id <> 0" \
	"  AND w.claimed_by IS NOT NULL" \
	"  AND NOT EXISTS (SELECT FROM webpush.subscriptions x WHERE x.id = w.subscription_id))"

/* One statement that writes outcomes, by ctid and, if need be, by key. */
typedef struct OutcomeStatement
{
	const char *by_tid;
	const char *by_key;
	int			nargs;
	SPIPlanPtr	tid_plan;
	SPIPlanPtr	key_plan;
} OutcomeStatement;

static void
execute_outcome_statement(OutcomeStatement *stmt, Oid *types, Datum *values,
						  int noutcomes, int expected_result)
{
	static const char *const planned_off[] = {"enable_nestloop", "enable_indexscan"};
	uint64		found;
	SPIPlanPtr	plan;

	/*
	 * By ctid, the plan wanted is one TID scan of the batch hashed against
	 * the outcomes.  A nested loop would rescan the TID scan for each
	 * outcome, and every rescan asks the kernel for the table's size (an
	 * lseek): a system call per outcome, which costs more than the rest of
	 * finding its row.  For an array parameter the planner assumes ten
	 * elements, which prices the two within a hundredth of each other; and
	 * a plan made while the queue is small reads the whole primary key
	 * instead, for the worker's life, however large the queue grows.  So
	 * the plan is made with nested loops and index scans off (sequential
	 * and bitmap scans are off in the worker anyway): the TID scan is then
	 * the only way to the rows, and hashing the cheapest join.  These
	 * statements read no other table (the recall has a statement of its
	 * own; a DBA's rule on these tables would be planned likewise: slower
	 * perhaps, never wrong).
	 */
	plan = spi_kept_plan(&stmt->tid_plan, stmt->by_tid, stmt->nargs, types);
	spi_plan_with_off(plan, planned_off, lengthof(planned_off));
	if (SPI_execute_plan(plan, values, NULL, false, 0) != expected_result)
		elog(ERROR, "webpush: could not record delivery outcomes");
	found = SPI_processed;
	if (found >= (uint64) noutcomes)
		return;
	if (SPI_execute_plan(spi_kept_plan(&stmt->key_plan, stmt->by_key, stmt->nargs, types),
						 values, NULL, false, 0) != expected_result)
		elog(ERROR, "webpush: could not record delivery outcomes");
	found += SPI_processed;

	/*
	 * Rows this worker claimed and no longer finds were deleted or changed
	 * by someone else (a DBA's UPDATE of their key, a trigger that skipped
	 * the change): say so, as their outcome is not in the history.
	 */
	if (found < (uint64) noutcomes)
		ereport(WARNING,
				(errmsg("webpush worker: %llu of %d outcomes found no delivery this worker had claimed",
						(unsigned long long) (noutcomes - found), noutcomes),
				 errdetail("Another session deleted or changed those rows of webpush.deliveries while they were being sent."),
				 errhint("Rows of webpush.deliveries whose claimed_by is a running worker are being sent; leave them alone.")));
}

static void
final_values(Datum *values, const OutcomeArrays *a)
{
	values[0] = Int32GetDatum(MyProcPid);
	values[1] = PointerGetDatum(datum_array(a->tids, a->n, TIDOID));
	values[2] = PointerGetDatum(datum_array(a->message_ids, a->n, INT8OID));
	values[3] = PointerGetDatum(datum_array(a->subscription_ids, a->n, INT8OID));
	values[4] = PointerGetDatum(datum_array(a->statuses, a->n, INT4OID));
	values[5] = PointerGetDatum(text_array(a->endpoints, a->n));
	values[6] = PointerGetDatum(datum_array(a->created_at, a->n, TIMESTAMPTZOID));
	values[7] = PointerGetDatum(text_array(a->applications, a->n));
	values[8] = PointerGetDatum(text_array(a->user_ids, a->n));
}

/* Whether a release was held by a rule; and whether its TTL starts again. */
static bool
is_held(const Outcome *o)
{
	return o->rule == RULE_QUIET_HOURS || o->rule == RULE_CAP_DEFERRED ||
		o->rule == RULE_THROTTLED;
}

static bool
is_held_due_again(const Outcome *o)
{
	return o->rule == RULE_QUIET_HOURS;
}

/*
 * The hold_until of the releases among outcomes, in collect()'s order, as a
 * timestamptz[] with NULL for those which held(o) is false.
 */
static ArrayType *
hold_array(const Outcome *outcomes, int n, bool (*held) (const Outcome *))
{
	Datum	   *v = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1];
	int			lbs[1] = {1};
	int			k = 0;

	for (int i = 0; i < n; i++)
	{
		if (!is_release(outcomes[i].kind))
			continue;
		v[k] = TimestampTzGetDatum(outcomes[i].hold_until);
		nulls[k] = !held(&outcomes[i]);
		k++;
	}
	dims[0] = k;
	return construct_md_array(v, nulls, 1, dims, lbs, TIMESTAMPTZOID, sizeof(TimestampTz),
							  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* The statements that write outcomes, for a batch of them. */
static void
record_batch(const Outcome *outcomes, int n)
{
	static OutcomeStatement delivered = {
		RECORD_DELIVERED_SQL(BY_TID("$2")), RECORD_DELIVERED_SQL(BY_KEY), FINAL_ARGS + 2, NULL, NULL
	};
	static OutcomeStatement undelivered = {
		RECORD_UNDELIVERED_SQL(BY_TID("$2")), RECORD_UNDELIVERED_SQL(BY_KEY), FINAL_ARGS + 3, NULL, NULL
	};
	static OutcomeStatement retry = {
		RECORD_RETRY_SQL(BY_TID("$1")), RECORD_RETRY_SQL(BY_KEY), 7, NULL, NULL
	};
	static OutcomeStatement release = {
		RECORD_RELEASE_SQL(BY_TID("$1")), RECORD_RELEASE_SQL(BY_KEY), 8, NULL, NULL
	};
	static SPIPlanPtr recall_plan = NULL;
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr redirect_plan = NULL;
	static SPIPlanPtr merged_plan = NULL;
	static SPIPlanPtr gone_plan = NULL;
	OutcomeArrays a;
	int			redirected = 0;

	/*
	 * Delivered, the most of them: no reason, every attempt counted, so
	 * fewer arrays to pass and unnest.
	 */
	collect(&a, outcomes, n, is_delivered);
	if (a.n > 0)
	{
		Oid			types[FINAL_ARGS + 2] = {FINAL_ARG_TYPES, TEXTARRAYOID, INT8ARRAYOID};
		Datum		values[FINAL_ARGS + 2];
		bool		located = false;

		final_values(values, &a);
		for (int i = 0; i < a.n && !located; i++)
			located = a.locations[i] != NULL;
		/* None: empty arrays, which ROWS FROM pads with NULLs, cost less. */
		values[FINAL_ARGS] = PointerGetDatum(located ? text_array(a.locations, a.n) :
											 construct_empty_array(TEXTOID));
		values[FINAL_ARGS + 1] = PointerGetDatum(located ? datum_array(a.key_ids, a.n, INT8OID) :
												 construct_empty_array(INT8OID));
		execute_outcome_statement(&delivered, types, values, a.n, SPI_OK_INSERT);
		if (located)
		{
			Oid			recall_types[4] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID};
			Datum		recall_values[4] = {values[2], values[3], values[FINAL_ARGS],
			values[FINAL_ARGS + 1]};

			if (SPI_execute_plan(spi_kept_plan(&recall_plan, RECALL_CANCELLED_SQL, 4, recall_types),
								 recall_values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "webpush: could not queue the recall of cancelled notifications");
		}
	}

	collect(&a, outcomes, n, is_failed_or_gone);
	if (a.n > 0)
	{
		Oid			types[6] = {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, INT4OID};
		Oid			lock_types[3] = {INT8ARRAYOID, INT8ARRAYOID, INT4OID};
		Datum		values[6];
		Datum		lock_values[3];

		values[0] = PointerGetDatum(datum_array(a.message_ids, a.n, INT8OID));
		values[1] = PointerGetDatum(datum_array(a.subscription_ids, a.n, INT8OID));
		values[2] = PointerGetDatum(datum_array(a.statuses, a.n, INT4OID));
		values[3] = PointerGetDatum(text_array(a.endpoints, a.n));
		values[4] = PointerGetDatum(text_array(a.reasons, a.n));
		values[5] = Int32GetDatum(MyProcPid);

		/*
		 * The deliveries first, in a statement of their own: a move of
		 * their subscription (store.c) holds them until it commits, and the
		 * redirect must read the subscription as the move left it.  Its
		 * snapshot is taken after this wait; a statement that waited itself
		 * would have judged the old endpoint before waiting.
		 */
		lock_values[0] = values[0];
		lock_values[1] = values[1];
		lock_values[2] = values[5];
		if (SPI_execute_plan(spi_kept_plan(&lock_plan,
									  "SELECT FROM webpush.deliveries d"
									  " JOIN ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))"
									  "  AS o(message_id, subscription_id)"
									  "  ON d.message_id = o.message_id AND d.subscription_id = o.subscription_id"
									  " WHERE d.claimed_by = $3 FOR UPDATE OF d",
									  3, lock_types),
							 lock_values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not record delivery outcomes");
		if (SPI_execute_plan(spi_kept_plan(&redirect_plan, REDIRECT_MOVED_SQL, 6, types),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "webpush: could not record delivery outcomes");
		redirected = (int) SPI_processed;
		if (redirected > 0)
			queue_retries_changed();
	}

	/* Failed and expired: also what, why, and whether it was attempted. */
	collect(&a, outcomes, n, is_final_undelivered);
	if (a.n > 0)
	{
		Oid			types[FINAL_ARGS + 3] = {FINAL_ARG_TYPES, TEXTARRAYOID, TEXTARRAYOID,
		INT4ARRAYOID};
		Datum		values[FINAL_ARGS + 3];

		final_values(values, &a);
		values[FINAL_ARGS] = PointerGetDatum(text_array(a.kinds, a.n));
		values[FINAL_ARGS + 1] = PointerGetDatum(text_array(a.reasons, a.n));
		values[FINAL_ARGS + 2] = PointerGetDatum(datum_array(a.uncounted, a.n, INT4OID));
		execute_outcome_statement(&undelivered, types, values, a.n - redirected,
								  SPI_OK_INSERT);
	}

	collect(&a, outcomes, n, is_retry);
	if (a.n > 0)
	{
		Oid			types[7] = {TIDARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID,
		TEXTARRAYOID, FLOAT8ARRAYOID, INT4OID};
		Datum		values[7];

		queue_retries_changed();
		values[0] = PointerGetDatum(datum_array(a.tids, a.n, TIDOID));
		values[1] = PointerGetDatum(datum_array(a.message_ids, a.n, INT8OID));
		values[2] = PointerGetDatum(datum_array(a.subscription_ids, a.n, INT8OID));
		values[3] = PointerGetDatum(datum_array(a.statuses, a.n, INT4OID));
		values[4] = PointerGetDatum(text_array(a.reasons, a.n));
		values[5] = PointerGetDatum(datum_array(a.delays, a.n, FLOAT8OID));
		values[6] = Int32GetDatum(MyProcPid);
		execute_outcome_statement(&retry, types, values, a.n, SPI_OK_UPDATE);
	}

	collect(&a, outcomes, n, is_release);
	if (a.n > 0)
	{
		Oid			types[8] = {TIDARRAYOID, INT8ARRAYOID, INT8ARRAYOID, FLOAT8ARRAYOID,
		INT4OID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
		Datum		values[8];

		queue_retries_changed();
		values[0] = PointerGetDatum(datum_array(a.tids, a.n, TIDOID));
		values[1] = PointerGetDatum(datum_array(a.message_ids, a.n, INT8OID));
		values[2] = PointerGetDatum(datum_array(a.subscription_ids, a.n, INT8OID));
		values[3] = PointerGetDatum(datum_array(a.delays, a.n, FLOAT8OID));
		values[4] = Int32GetDatum(MyProcPid);
		values[5] = PointerGetDatum(hold_array(outcomes, n, is_held));
		values[6] = PointerGetDatum(text_array(a.reasons, a.n));
		values[7] = PointerGetDatum(hold_array(outcomes, n, is_held_due_again));
		execute_outcome_statement(&release, types, values, a.n, SPI_OK_UPDATE);
	}

	/*
	 * A retry or a hand-back whose subscription was merged into another
	 * while it was in flight (webpush_subscribe with old_endpoint, when the
	 * new endpoint was stored already) follows it: it waits for the
	 * subscription that now has its endpoint; or, when that one has the
	 * message waiting or in flight already, or delivered it, it is
	 * cancelled.  One statement: the two sets are disjoint by
	 * target_has_it, and the subscriptions are looked up once.
	 */
	collect(&a, outcomes, n, is_retry_or_release);
	if (a.n > 0)
	{
		Oid			types[3] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID};
		Datum		values[3];

		values[0] = PointerGetDatum(datum_array(a.message_ids, a.n, INT8OID));
		values[1] = PointerGetDatum(datum_array(a.subscription_ids, a.n, INT8OID));
		values[2] = PointerGetDatum(text_array(a.endpoints, a.n));
		if (SPI_execute_plan(spi_kept_plan(&merged_plan,
									  "WITH o AS MATERIALIZED (SELECT o.message_id, o.subscription_id,"
									  "   o.endpoint, s.id AS target,"
									  "   EXISTS (SELECT FROM webpush.deliveries w"
									  "    WHERE w.message_id = o.message_id AND w.subscription_id = s.id)"
									  "   OR EXISTS (SELECT FROM webpush.history h"
									  "    WHERE h.message_id = o.message_id AND h.subscription_id = s.id"
									  "    AND h.outcome = 'delivered') AS target_has_it"
									  "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
									  "   pg_catalog.unnest($3)) AS o(message_id, subscription_id, endpoint)"
									  "  JOIN webpush.subscriptions s ON s.endpoint = o.endpoint"
									  "  WHERE o.subscription_id <> 0 AND NOT EXISTS (SELECT FROM webpush.subscriptions x"
									  "   WHERE x.id = o.subscription_id)),"
									  " f AS (UPDATE webpush.deliveries d SET subscription_id = o.target FROM o"
									  "  WHERE d.message_id = o.message_id AND d.subscription_id = o.subscription_id"
									  "  AND d.claimed_by IS NULL AND NOT o.target_has_it),"
									  " c AS (DELETE FROM webpush.deliveries d USING o"
									  "  WHERE d.message_id = o.message_id AND d.subscription_id = o.subscription_id"
									  "  AND d.claimed_by IS NULL AND o.target_has_it"
									  "  RETURNING d.message_id, d.subscription_id, d.attempts, o.target, o.endpoint) "
									  "INSERT INTO webpush.history (message_id, subscription_id, endpoint,"
									  " outcome, attempts, reason, created_at, application) "
									  "SELECT m.id, c.subscription_id, c.endpoint, 'cancelled',"
									  " COALESCE(c.attempts, 0), 'the browser subscribed again: subscription '"
									  "  || c.target || ' of the same browser gets it',"
									  " m.created_at, m.application"
									  " FROM c JOIN webpush.messages m ON m.id = c.message_id",
									  3, types),
							 values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "webpush: could not record delivery outcomes");
	}

	/*
	 * A 404/410 means the browser's subscription is gone: delete it.  What
	 * else waits for it fails when claimed, with that reason.
	 */
	collect(&a, outcomes, n, is_gone);
	if (a.n > 0)
	{
		Oid			types[3] = {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
		Datum		values[3];

		values[0] = PointerGetDatum(datum_array(a.subscription_ids, a.n, INT8OID));
		values[1] = PointerGetDatum(datum_array(a.statuses, a.n, INT4OID));
		values[2] = PointerGetDatum(text_array(a.endpoints, a.n));
		if (SPI_execute_plan(spi_kept_plan(&gone_plan, STORE_DELETE_GONE_SQL, 3, types),
							 values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not remove gone subscriptions");
	}
}

typedef struct OutcomeBatch
{
	const Outcome *outcomes;
	int			n;
} OutcomeBatch;

static void
record_step(void *arg)
{
	OutcomeBatch *batch = arg;

	record_batch(batch->outcomes, batch->n);
}

/*
 * All at once, in a subtransaction; when a row's data makes that fail (a
 * rule a DBA added to the history refuses a row, say), one by one, and
 * what fails on its own is kept: kept[i] set, for the worker to write
 * again later, while the others are written and the worker goes on.
 */
int
queue_record_outcomes(const Outcome *outcomes, int n, bool *kept)
{
	OutcomeBatch batch;
	ErrorData  *error;
	int			nkept = 0;
	int			i;

	spi_connect_or_error();
	memset(kept, 0, sizeof(bool) * n);
	batch.outcomes = outcomes;
	batch.n = n;
	error = spi_in_subtransaction(record_step, &batch);
	if (error != NULL)
	{
		if (!spi_is_row_fault(error))
			ReThrowError(error);
		FreeErrorData(error);
		for (i = 0; i < n; i++)
		{
			batch.outcomes = &outcomes[i];
			batch.n = 1;
			error = spi_in_subtransaction(record_step, &batch);
			if (error == NULL)
				continue;
			if (!spi_is_row_fault(error))
				ReThrowError(error);
			kept[i] = true;
			nkept++;
			ereport(WARNING,
					(errmsg("webpush worker: could not record the outcome of notification %lld for subscription %lld: %s",
							(long long) outcomes[i].ref.message_id,
							(long long) outcomes[i].ref.subscription_id, error->message),
					 errdetail("It is kept in memory and written again later; the other outcomes are written.")));
			FreeErrorData(error);
		}
	}
	SPI_finish();
	return nkept;
}
