/*
 * claim.c
 *		The worker's claim, through SPI: rows of webpush.intake made into
 *		messages, due deliveries taken for sending (first attempts of due
 *		messages in recipient order, then retries; FOR UPDATE SKIP LOCKED),
 *		hastened hosts, and when the next delivery falls due.
 *
 * Every statement is prepared once per process and kept (spi_kept_plan).
 * Where each broadcast's claims ended, and the settling of messages with
 * nothing left to claim, are settle.c's.
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
#include "portability/instr_time.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "queue/cap_counts.h"
#include "queue/claim.h"
#include "queue/intake.h"
#include "queue/settle.h"
#include "shmem/counters.h"
#include "support/spi_util.h"
#include "settings.h"

/*
 * The worker's idea of when the next retry is due (DT_NOEND: none waits; 0:
 * unknown), from its last queue_next_due(); outcomes it records reset it
 * (queue_retries_changed).
 */
static TimestampTz next_retry = 0;

/* The worker's side --------------------------------------------------- */

/* Copy a bytea column of a claimed row; false when NULL. */
static bool
copy_bytes(Datum d, bool isnull, uint8 **out, size_t *len)
{
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	*len = VARSIZE_ANY_EXHDR(b);
	*out = palloc(*len > 0 ? *len : 1);
	memcpy(*out, VARDATA_ANY(b), *len);
	return true;
}

/* Copy a text column of a claimed row; NULL when NULL. */
static char *
copy_text(Datum d, bool isnull)
{
	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * What a claim returns for each delivery: the message (its row as read from
 * messages_rel), and the endpoint, keys and signing key of the subscription
 * as they are now (the message's own for a one-off; NULL when the
 * subscription was removed).  A delivery of a send at a local time expires
 * its TTL after its own due time.  When the application has quiet hours,
 * they come with the zone they are kept in (the subscription's, or the
 * application's); its frequency cap for a recipient with a user; its
 * rate, when it has one; and whether the message was cancelled since this
 * delivery was last claimed (it was in flight then).
 */
#define CLAIMED_COLUMNS(messages_rel) \
	"SELECT c.ctid, c.message_id, c.subscription_id, COALESCE(s.key_id, m.key_id)," \
	" COALESCE(s.endpoint, m.endpoint), COALESCE(s.p256dh, m.p256dh), COALESCE(s.auth, m.auth)," \
	" m.payload, m.urgency, m.topic, c.attempts," \
	" COALESCE(c.due_at + pg_catalog.make_interval(secs => m.ttl), m.expires_at), m.created_at," \
	" m.application, m.send_at, s.user_id," \
	" a.quiet_start, a.quiet_end," \
	" CASE WHEN a.quiet_start IS NOT NULL THEN COALESCE(s.time_zone, a.time_zone) END," \
	" CASE WHEN a.quiet_start IS NOT NULL THEN a.time_zone END," \
	" CASE WHEN s.user_id IS NOT NULL THEN a.frequency_cap END," \
	" pg_catalog.date_part('epoch', a.frequency_window), a.over_cap = 'drop'," \
	" a.rate_per_second, a.rate_burst, m.cancelled_at IS NOT NULL " \
	"FROM claimed c JOIN " messages_rel " m ON m.id = c.message_id " \
	"LEFT JOIN webpush.subscriptions s ON s.id = c.subscription_id AND c.subscription_id <> 0 " \
	"LEFT JOIN webpush.applications a ON a.name = m.application"

/* CLAIMED_COLUMNS, in order. */
enum
{
	CLAIMED_TID,
	CLAIMED_MESSAGE_ID,
	CLAIMED_SUBSCRIPTION_ID,
	CLAIMED_KEY_ID,
	CLAIMED_ENDPOINT,
	CLAIMED_P256DH,
	CLAIMED_AUTH,
	CLAIMED_PAYLOAD,
	CLAIMED_URGENCY,
	CLAIMED_TOPIC,
	CLAIMED_ATTEMPTS,
	CLAIMED_EXPIRES_AT,
	CLAIMED_CREATED_AT,
	CLAIMED_APPLICATION,
	CLAIMED_DUE_AT,
	CLAIMED_USER_ID,
	CLAIMED_QUIET_START,
	CLAIMED_QUIET_END,
	CLAIMED_TIME_ZONE,
	CLAIMED_APP_TIME_ZONE,
	CLAIMED_CAP,
	CLAIMED_CAP_WINDOW,
	CLAIMED_CAP_DROP,
	CLAIMED_RATE_PER_SECOND,
	CLAIMED_RATE_BURST,
	CLAIMED_CANCELLED,
	CLAIMED_NCOLUMNS
};

/*
 * Copy the rows of the last claim, appending to *claimed at *n.  Each row
 * is taken apart once: reading its columns one by one would walk the row
 * from its start for each column after the first NULL or text.
 */
static void
copy_claimed(MemoryContext caller, ClaimedMessage *claimed, int *n)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	Datum		v[CLAIMED_NCOLUMNS];
	bool		null[CLAIMED_NCOLUMNS];
	uint64		i;

	if (desc->natts != CLAIMED_NCOLUMNS)
		elog(ERROR, "webpush: a claim returned %d columns, not %d",
			 desc->natts, CLAIMED_NCOLUMNS);
	for (i = 0; i < SPI_processed; i++)
	{
		ClaimedMessage *m = &claimed[(*n)++];
		MemoryContext spi = MemoryContextSwitchTo(caller);
		uint8	   *bytes;
		size_t		len;
		char	   *s;

		heap_deform_tuple(SPI_tuptable->vals[i], desc, v, null);
		memset(m, 0, sizeof(*m));
		ItemPointerCopy((ItemPointer) DatumGetPointer(v[CLAIMED_TID]), &m->ref.tid);
		m->ref.message_id = DatumGetInt64(v[CLAIMED_MESSAGE_ID]);
		m->ref.subscription_id = DatumGetInt64(v[CLAIMED_SUBSCRIPTION_ID]);
		m->key_id = null[CLAIMED_KEY_ID] ? 0 : DatumGetInt64(v[CLAIMED_KEY_ID]);
		m->ref.key_id = m->key_id;
		m->endpoint = copy_text(v[CLAIMED_ENDPOINT], null[CLAIMED_ENDPOINT]);
		/* The tables' CHECK constraints guarantee these lengths. */
		if (copy_bytes(v[CLAIMED_P256DH], null[CLAIMED_P256DH], &bytes, &len) &&
			len == P256_PUBLIC_LEN)
			memcpy(m->p256dh, bytes, len);
		if (copy_bytes(v[CLAIMED_AUTH], null[CLAIMED_AUTH], &bytes, &len) &&
			len == ECE_AUTH_LEN)
			memcpy(m->auth, bytes, len);
		if (copy_bytes(v[CLAIMED_PAYLOAD], null[CLAIMED_PAYLOAD], &bytes, &len))
		{
			m->payload = bytes;
			m->payload_len = len;
		}
		s = TextDatumGetCString(v[CLAIMED_URGENCY]);
		strlcpy(m->urgency, s, sizeof(m->urgency));
		s = copy_text(v[CLAIMED_TOPIC], null[CLAIMED_TOPIC]);
		if (s != NULL)
			strlcpy(m->topic, s, sizeof(m->topic));
		m->attempts = DatumGetInt16(v[CLAIMED_ATTEMPTS]);
		m->expires_at = DatumGetTimestampTz(v[CLAIMED_EXPIRES_AT]);
		m->ref.created_at = DatumGetTimestampTz(v[CLAIMED_CREATED_AT]);
		strlcpy(m->ref.application, TextDatumGetCString(v[CLAIMED_APPLICATION]),
				sizeof(m->ref.application));
		m->ref.due_at = DatumGetTimestampTz(v[CLAIMED_DUE_AT]);
		m->ref.user_id = copy_text(v[CLAIMED_USER_ID], null[CLAIMED_USER_ID]);
		if (!null[CLAIMED_QUIET_START] && !null[CLAIMED_QUIET_END] && !null[CLAIMED_TIME_ZONE])
		{
			m->has_quiet_hours = true;
			m->quiet_start = DatumGetTimeADT(v[CLAIMED_QUIET_START]);
			m->quiet_end = DatumGetTimeADT(v[CLAIMED_QUIET_END]);
			strlcpy(m->time_zone, TextDatumGetCString(v[CLAIMED_TIME_ZONE]), sizeof(m->time_zone));
			strlcpy(m->app_time_zone, TextDatumGetCString(v[CLAIMED_APP_TIME_ZONE]),
					sizeof(m->app_time_zone));
		}
		m->cancelled = DatumGetBool(v[CLAIMED_CANCELLED]);
		if (!null[CLAIMED_RATE_PER_SECOND] && !null[CLAIMED_RATE_BURST])
		{
			m->app_rate = DatumGetFloat8(v[CLAIMED_RATE_PER_SECOND]);
			m->app_burst = DatumGetInt32(v[CLAIMED_RATE_BURST]);
		}
		if (!null[CLAIMED_CAP])	/* none, or no user to count for */
		{
			m->cap_max = DatumGetInt32(v[CLAIMED_CAP]);
			m->cap_window = (int64) (DatumGetFloat8(v[CLAIMED_CAP_WINDOW]) * USECS_PER_SEC);
			m->cap_drop = DatumGetBool(v[CLAIMED_CAP_DROP]);
		}
		MemoryContextSwitchTo(spi);
	}
}

/*
 * Taking in: up to $1 rows of webpush.intake (all, or the one at ctid $2
 * whose id is $3), each locked, skipping those another transaction holds
 * (webpush_cancel taking one in).  The intake has no index: rows are found
 * by ctid.
 */
#define CLAIM_INTAKE_SQL(which_rows) \
	TAKE_IN_SQL("ctid = ANY (ARRAY(SELECT ctid FROM webpush.intake" which_rows \
				" LIMIT $1 FOR UPDATE SKIP LOCKED))", "pg_catalog.count(*)")


typedef struct PlanRun
{
	SPIPlanPtr	plan;
	Datum	   *values;
	int			expected;		/* what SPI_execute_plan returns */
} PlanRun;

static void
run_plan(void *arg)
{
	PlanRun    *run = arg;

	if (SPI_execute_plan(run->plan, run->values, NULL, false, 0) != run->expected)
		elog(ERROR, "webpush: a statement of the take-in did not run");
}

/* One take-in statement, in a subtransaction (in_subtransaction). */
static ErrorData *
take_in_attempt(SPIPlanPtr plan, Datum *values, int expected)
{
	PlanRun		run;

	run.plan = plan;
	run.values = values;
	run.expected = expected;
	return spi_in_subtransaction(run_plan, &run);
}

/*
 * An intake row that cannot become a message (a rule a DBA added to
 * webpush.messages or webpush.deliveries refuses it, say) leaves the intake
 * as a failed outcome in the history, with the error as its reason, so
 * that it neither blocks the rows behind it nor goes unnoticed.  Appended
 * to *failed (in the caller's memory) for the worker to count and report
 * once committed.  When the history refuses that too, the row stays for
 * the next try.
 */
static void
fail_intake_row(ItemPointer tid, int64 id, const ErrorData *error, MemoryContext caller,
				IntakeFailure **failed, int *nfailed, int limit)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {TIDOID, TEXTOID, INT8OID};
	Datum		values[3];
	char	   *reason = psprintf("could not become a message: %s", error->message);
	ErrorData  *refused;

	values[0] = PointerGetDatum(tid);
	values[1] = CStringGetTextDatum(reason);
	values[2] = Int64GetDatum(id);
	refused = take_in_attempt(spi_kept_plan(&plan,
									   "WITH i AS (DELETE FROM webpush.intake WHERE ctid = $1 AND id = $3"
									   "  RETURNING id, application, user_id, queued_at) "
									   "INSERT INTO webpush.history (message_id, subscription_id, endpoint,"
									   " outcome, status, attempts, reason, created_at, application, user_id) "
									   "SELECT id, NULL, '', 'failed', NULL, 0, $2, queued_at, application, user_id"
									   " FROM i RETURNING application",
									   3, types),
							  values, SPI_OK_INSERT_RETURNING);
	if (refused != NULL)
	{
		if (!spi_is_row_fault(refused))
			ReThrowError(refused);
		ereport(WARNING,
				(errmsg("webpush worker: notification %lld of webpush.intake could not become a message, nor be recorded as failed; it waits",
						(long long) id),
				 errdetail("%s; then: %s", error->message, refused->message)));
		FreeErrorData(refused);
		return;
	}
	if (SPI_processed == 1 && *nfailed < limit)
	{
		IntakeFailure *f = &(*failed)[(*nfailed)++];
		bool		isnull;

		f->id = id;
		strlcpy(f->application,
				TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull)),
				sizeof(f->application));
		f->reason = MemoryContextStrdup(caller, reason);
	}
}

/*
 * The take-in failed for a reason that is not a row's: a cancel or a
 * shutdown ends the transaction as usual; anything else is said (once a
 * minute at most) and the rows wait for the next claim.
 */
static void
take_in_postponed(ErrorData *error)
{
	static TimestampTz last_said = 0;

	if (ERRCODE_TO_CATEGORY(error->sqlerrcode) == ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION))
		ReThrowError(error);
	if (TimestampDifferenceExceeds(last_said, GetCurrentTimestamp(), 60000))
	{
		ereport(WARNING,
				(errcode(error->sqlerrcode),
				 errmsg("webpush worker: could not take in webpush.intake: %s", error->message),
				 errdetail("Its rows wait for the next try; what is already queued is sent meanwhile.")));
		last_said = GetCurrentTimestamp();
	}
	FreeErrorData(error);
}

/*
 * Turn up to limit rows of webpush.intake (a row trigger's notifications,
 * queue_insert.c) into messages and deliveries, with the ids they were
 * given: the subscriptions are the user's at this moment, and a user with
 * none gets no message.  The TTL counts from the trigger's transaction.
 *
 * All at once, in a subtransaction; if a row's data makes that fail, row
 * by row, and a row that fails on its own is recorded as failed
 * (fail_intake_row): one row must not stop the worker, or every
 * notification behind it.  After any other error (a deadlock, a lock, a
 * broken trigger) the rows wait for the next claim, and the claim goes on
 * with what is already queued.
 */
static void
take_in(int limit, MemoryContext caller, IntakeFailure **failed, int *nfailed)
{
	static SPIPlanPtr any_plan = NULL;
	static SPIPlanPtr batch_plan = NULL;
	static SPIPlanPtr ids_plan = NULL;
	static SPIPlanPtr row_plan = NULL;
	Oid			types[3] = {INT4OID, TIDOID, INT8OID};
	Datum		values[3] = {Int32GetDatum(limit), (Datum) 0, (Datum) 0};
	ErrorData  *error;
	ItemPointerData *tids;
	int64	   *ids;
	int			nids;
	int			i;

	*failed = MemoryContextAlloc(caller, sizeof(IntakeFailure) * Max(limit, 1));
	*nfailed = 0;

	/*
	 * Most claims find the intake empty: a look first, so that they do not
	 * pay for a subtransaction and the statement's start.
	 */
	if (SPI_execute_plan(spi_kept_plan(&any_plan, "SELECT FROM webpush.intake LIMIT 1", 0, NULL),
						 NULL, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.intake");
	if (SPI_processed == 0)
		return;
	error = take_in_attempt(spi_kept_plan(&batch_plan, CLAIM_INTAKE_SQL(""), 1, types), values,
							SPI_OK_SELECT);
	if (error == NULL)
		return;
	if (!spi_is_row_fault(error))
	{
		take_in_postponed(error);
		return;
	}
	FreeErrorData(error);

	if (SPI_execute_plan(spi_kept_plan(&ids_plan,
								  "SELECT ctid, id FROM webpush.intake ORDER BY id LIMIT $1",
								  1, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.intake");
	nids = (int) SPI_processed;
	tids = palloc(sizeof(ItemPointerData) * Max(nids, 1));
	ids = palloc(sizeof(int64) * Max(nids, 1));
	for (i = 0; i < nids; i++)
	{
		bool		isnull;
		Datum		tid = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		ItemPointerCopy((ItemPointer) DatumGetPointer(tid), &tids[i]);
		ids[i] = spi_get_int64(i, 2, &isnull);
	}
	for (i = 0; i < nids; i++)
	{
		values[1] = PointerGetDatum(&tids[i]);
		values[2] = Int64GetDatum(ids[i]);
		error = take_in_attempt(spi_kept_plan(&row_plan,
										 CLAIM_INTAKE_SQL(" WHERE ctid = $2 AND id = $3"),
										 3, types),
								values, SPI_OK_SELECT);
		if (error == NULL)
			continue;
		if (!spi_is_row_fault(error))
		{
			take_in_postponed(error);
			return;
		}
		fail_intake_row(&tids[i], ids[i], error, caller, failed, nfailed, limit);
		FreeErrorData(error);
	}
}


int
queue_claim(int limit, ClaimedMessage **out, IntakeFailure **failed, int *nfailed)
{
	static SPIPlanPtr first_plan = NULL;
	static SPIPlanPtr retry_plan = NULL;
	Oid			types[6] = {INT4OID, INT4OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT4OID};
	Datum		values[6] = {Int32GetDatum(limit), Int32GetDatum(MyProcPid)};
	MemoryContext caller = CurrentMemoryContext;
	ClaimedMessage *claimed = MemoryContextAlloc(caller, sizeof(ClaimedMessage) * Max(limit, 1));
	int			n = 0;

	spi_connect_or_error();
	take_in(limit, caller, failed, nfailed);

	/*
	 * First attempts, of the messages that are due, oldest first, each
	 * message's from where this worker's last claim of it ended, passing
	 * over the messages held when last settled ($5; $6 more than it
	 * lists).  The claimed rows take their message from due_messages, read
	 * once: a broadcast's hundred recipients are one message.  A message's
	 * position is looked up in the arrays, not joined: with no join between
	 * them, the due messages are read in their order whatever plan the
	 * statement gets.
	 */
	settle_position_arrays(&values[2], &values[3]);
	values[4] = settle_held_array();
	values[5] = Int32GetDatum(settle_held_overflow());
	if (SPI_execute_plan(spi_kept_plan(&first_plan,
								  "WITH due_messages AS (SELECT id, key_id, endpoint, p256dh, auth, payload, urgency,"
								  "  topic, ttl, expires_at, created_at, application, send_at, cancelled_at"
								  "  FROM webpush.messages"
								  "  WHERE pending AND send_at <= pg_catalog.now()"
								  "  AND id NOT IN (SELECT pg_catalog.unnest($5))"
								  "  ORDER BY send_at, id LIMIT $1 + $6),"
								  " claimed AS (UPDATE webpush.deliveries d SET claimed_by = $2, attempts = 1,"
								  "  next_attempt_at = NULL"
								  "  WHERE d.ctid = ANY (ARRAY(SELECT x.ctid FROM due_messages m"
								  "   CROSS JOIN LATERAL (SELECT ctid FROM webpush.deliveries"
								  "    WHERE message_id = m.id"
								  "    AND subscription_id >= COALESCE(($4)[pg_catalog.array_position($3, m.id)],"
								  "     " FIRST_RECIPIENT ")"
								  "    AND attempts IS NULL AND claimed_by IS NULL"
								  "    ORDER BY subscription_id LIMIT $1 FOR UPDATE SKIP LOCKED) x LIMIT $1))"
								  "  RETURNING d.ctid, d.message_id, d.subscription_id, d.attempts, d.due_at) "
								  CLAIMED_COLUMNS("due_messages"),
								  6, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not claim deliveries");
	copy_claimed(caller, claimed, &n);
	settle_after_claim(claimed, n, limit);

	/* Then retries (and deliveries handed back), earliest first, when due. */
	if (n < limit && (next_retry == 0 || next_retry <= GetCurrentTimestamp()))
	{
		values[0] = Int32GetDatum(limit - n);
		if (SPI_execute_plan(spi_kept_plan(&retry_plan,
									  "WITH claimed AS (UPDATE webpush.deliveries d SET claimed_by = $2,"
									  "  attempts = COALESCE(d.attempts, 0) + 1, next_attempt_at = NULL"
									  "  WHERE d.ctid = ANY (ARRAY(SELECT ctid FROM webpush.deliveries"
									  "   WHERE next_attempt_at <= pg_catalog.now() AND claimed_by IS NULL"
									  "   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED))"
									  "  RETURNING d.ctid, d.message_id, d.subscription_id, d.attempts, d.due_at) "
									  CLAIMED_COLUMNS("webpush.messages"),
									  2, types),
							 values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not claim retries");
		copy_claimed(caller, claimed, &n);
		next_retry = 0;
	}
	queue_count_capped(caller, claimed, n);
	SPI_finish();
	*out = claimed;
	return n;
}

/*
 * Deliveries waiting for a retry at a push-service host after a failure
 * that got no answer (no connection, no answer in time), or handed back
 * unsent; not those the push service answered (a 5xx, a 429), nor those
 * whose local time has not come.  $1 is the host as the worker's origins
 * name it ("host" or "host:port", lower case, without https's default
 * port).
 */
#define WAITING_FOR_HOST \
	" FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id" \
	" LEFT JOIN webpush.subscriptions s ON s.id = d.subscription_id" \
	" WHERE d.next_attempt_at > pg_catalog.now() AND d.claimed_by IS NULL" \
	" AND d.last_status IS NULL AND (d.due_at IS NULL OR d.due_at <= pg_catalog.now())" \
	" AND pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.split_part(" \
	"  COALESCE(s.endpoint, m.endpoint), '/', 3)), ':443$', '') = $1"

int64
queue_hasten_host(const char *host)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(host)};
	int64		n;

	spi_connect_or_error();
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  "UPDATE webpush.deliveries SET next_attempt_at = pg_catalog.now()"
								  " WHERE ctid = ANY (ARRAY(SELECT d.ctid" WAITING_FOR_HOST
								  " FOR UPDATE OF d SKIP LOCKED))",
								  1, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not hasten retries");
	n = (int64) SPI_processed;
	if (n > 0)
		next_retry = 0;
	SPI_finish();
	return n;
}

int
queue_hasten_one(const char *host, int within_ms, int64 *message_id,
				 int64 *subscription_id, TimestampTz *was_due)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(host), Int32GetDatum(within_ms)};
	int			result;
	bool		isnull;

	spi_connect_or_error();
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  "WITH c AS (SELECT d.ctid, d.next_attempt_at AS was" WAITING_FOR_HOST
								  "  ORDER BY d.next_attempt_at LIMIT 1 FOR UPDATE OF d SKIP LOCKED),"
								  " u AS (UPDATE webpush.deliveries d SET next_attempt_at = pg_catalog.now()"
								  "  FROM c WHERE d.ctid = c.ctid"
								  "  AND c.was > pg_catalog.now() + $2 * interval '1 millisecond'"
								  "  RETURNING d.message_id, d.subscription_id, c.was) "
								  "SELECT (SELECT pg_catalog.count(*) FROM c), u.message_id, u.subscription_id, u.was"
								  " FROM (VALUES (1)) AS one(x) LEFT JOIN u ON true",
								  2, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not hasten a retry");
	result = spi_get_int64(0, 1, &isnull) == 0 ? -1 : 0;
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (result == 0 && !isnull)
	{
		*message_id = spi_get_int64(0, 2, &isnull);
		*subscription_id = spi_get_int64(0, 3, &isnull);
		*was_due = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 4, &isnull));
		next_retry = 0;
		result = 1;
	}
	SPI_finish();
	return result;
}

/*
 * A pending message already due counts too: its first attempts were left
 * for later (the claim was full, or another worker held them), and the
 * worker must come back for them.  Not those the last settling found done
 * but held ($1, settle.c): they are settled again a second later, not at
 * every look the worker makes for rows held by another transaction.
 */
#define HELD_SETTLE_AGAIN "interval '1 second'"

bool
queue_next_due(TimestampTz *when)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8ARRAYOID, BOOLOID};
	Datum		values[2];
	bool		isnull = true;

	values[0] = settle_held_array();
	values[1] = BoolGetDatum(settle_held_any());
	spi_connect_or_error();
	/* Not read-only: retries scheduled earlier in this transaction count. */
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  "SELECT LEAST((SELECT pg_catalog.min(send_at) FROM webpush.messages"
								  "  WHERE pending AND id NOT IN (SELECT pg_catalog.unnest($1))),"
								  "  (SELECT pg_catalog.now() WHERE EXISTS (SELECT FROM webpush.intake)),"
								  "  (SELECT pg_catalog.now() + " HELD_SETTLE_AGAIN " WHERE $2)),"
								  " (SELECT pg_catalog.min(next_attempt_at) FROM webpush.deliveries"
								  "  WHERE next_attempt_at IS NOT NULL)",
								  2, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read the deliveries");
	if (SPI_processed == 1)
	{
		bool		retry_null;
		TimestampTz message = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
																SPI_tuptable->tupdesc, 1, &isnull));
		TimestampTz retry = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc, 2, &retry_null));

		/* No retry waiting: DT_NOEND, so the next claim skips that query. */
		next_retry = retry_null ? DT_NOEND : retry;
		if (isnull || (!retry_null && retry < message))
			message = retry;
		*when = message;
		isnull = isnull && retry_null;
	}
	SPI_finish();
	return !isnull;
}

void
queue_retries_changed(void)
{
	next_retry = 0;
}
