/*
 * queue.c
 *		The notification queue and its history, through SPI.
 *
 * Statements are prepared once per process and kept (SPI_keepplan).
 */
#include "postgres.h"

#include <limits.h>
#include <string.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "applications.h"
#include "queue.h"
#include "spi_util.h"
#include "wake.h"
#include "webpush.h"

static SPIPlanPtr
prepared(SPIPlanPtr *cache, const char *sql, int nargs, Oid *types)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "webpush: could not prepare \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "webpush: could not keep a prepared plan");
		*cache = plan;
	}
	return *cache;
}

/*
 * Queue one message for the stored subscriptions the caller's WHERE clause
 * picks ($1); $2.. are the message (message_args).
 */
#define QUEUE_FROM_SUBSCRIPTIONS \
	"INSERT INTO webpush.queue (subscription_id, key_id, endpoint, p256dh, auth, " \
	"payload, ttl, urgency, topic, queued_by, expires_at) " \
	"SELECT id, key_id, endpoint, p256dh, auth, $2, $3, $4, $5, $6, " \
	"pg_catalog.now() + pg_catalog.make_interval(secs => $3) " \
	"FROM webpush.subscriptions "

/*
 * The message columns shared by the three ways to queue: $n.. onwards
 * (payload, ttl, urgency, topic, queued_by).
 */
#define MESSAGE_ARG_TYPES BYTEAOID, INT4OID, TEXTOID, TEXTOID, OIDOID

static void
message_args(bytea *payload, const MessageOptions *opts, Oid role,
			 Datum *values, char *nulls)
{
	values[4] = ObjectIdGetDatum(role);
	nulls[4] = OidIsValid(role) ? ' ' : 'n';
	values[0] = PointerGetDatum(payload);
	nulls[0] = payload ? ' ' : 'n';
	values[1] = Int32GetDatum(opts->ttl);
	nulls[1] = ' ';
	values[2] = CStringGetTextDatum(opts->urgency);
	nulls[2] = ' ';
	values[3] = opts->has_topic ? CStringGetTextDatum(opts->topic) : (Datum) 0;
	nulls[3] = opts->has_topic ? ' ' : 'n';
}

/* The last transaction this backend warned about having no worker. */
static TransactionId warned_xid = InvalidTransactionId;

/* Arrange the worker's wake-up at COMMIT, or say that nothing will send. */
void
queue_wake_at_commit(void)
{
	if (wake_workers_at_commit())
		return;
	if (TransactionIdEquals(warned_xid, GetTopTransactionIdIfAny()) &&
		TransactionIdIsValid(warned_xid))
		return;
	warned_xid = GetTopTransactionId();
	ereport(NOTICE,
			(errmsg("no webpush worker serves database \"%s\"",
					get_database_name(MyDatabaseId)),
			 errdetail("The notification is queued and will be sent once a worker runs for this database."),
			 wake_preloaded() ?
			 errhint("Add this database to webpush.database_name, or empty that setting, then restart the server.") :
			 errhint("Add webpush to shared_preload_libraries, then restart the server.")));
}

int64
queue_for_subscription(int64 subscription_id, bytea *payload, const MessageOptions *opts)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6] = {INT8OID, MESSAGE_ARG_TYPES};
	Datum		values[6];
	char		nulls[6];
	bool		isnull;
	int64		id = 0;
	char	   *app = NULL;
	Oid			role = queue_limited_role();

	values[0] = Int64GetDatum(subscription_id);
	nulls[0] = ' ';
	message_args(payload, opts, role, values + 1, nulls + 1);
	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan,
								  "WITH q AS (" QUEUE_FROM_SUBSCRIPTIONS "WHERE id = $1"
								  " RETURNING id, key_id) "
								  "SELECT q.id, k.application FROM q"
								  " JOIN webpush.vapid_keys k ON k.id = q.key_id",
								  6, types),
						 values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not queue the notification");
	if (SPI_processed == 1)
	{
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		app = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	SPI_finish();
	if (id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("push subscription %lld does not exist", (long long) subscription_id),
				 errhint("It may have been removed after the push service reported it gone (404/410).")));
	/* An error here undoes the row with the rest of the statement. */
	app_require_subject(app);
	queue_check_role_limit(role);
	return id;
}

int64
queue_for_object(const Subscription *sub, int64 key_id, bytea *payload,
				 const MessageOptions *opts)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[9] = {TEXTOID, BYTEAOID, BYTEAOID, MESSAGE_ARG_TYPES, INT8OID};
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		id;
	Oid			role = queue_limited_role();

	values[0] = CStringGetTextDatum(sub->endpoint);
	values[1] = PointerGetDatum(bytes_to_bytea(sub->p256dh, P256_PUBLIC_LEN));
	values[2] = PointerGetDatum(bytes_to_bytea(sub->auth, ECE_AUTH_LEN));
	message_args(payload, opts, role, values + 3, nulls + 3);
	values[8] = Int64GetDatum(key_id);
	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan,
								  "INSERT INTO webpush.queue (endpoint, p256dh, auth, "
								  "payload, ttl, urgency, topic, queued_by, key_id, expires_at) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
								  " pg_catalog.now() + pg_catalog.make_interval(secs => $5)) "
								  "RETURNING id",
								  9, types),
						 values, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "webpush: could not queue the notification");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	queue_check_role_limit(role);
	return id;
}

/*
 * One INSERT ... SELECT from webpush.subscriptions for every subscription
 * that matches "where" ($1 is key, of type key_type; $7 the application
 * when given): set-based, so a broadcast to thousands costs one statement,
 * not one per recipient.  Without an application, "where" is a statement
 * that returns the applications reached and how many rows each got, and
 * each must have a subject; with one, the caller checked it.
 */
static int64
queue_matching(SPIPlanPtr *plan, const char *where, Oid key_type, Datum key,
			   const char *app, bytea *payload, const MessageOptions *opts)
{
	Oid			types[7] = {key_type, MESSAGE_ARG_TYPES, TEXTOID};
	Datum		values[7];
	char		nulls[7];
	int64		n;
	Oid			role = queue_limited_role();
	MemoryContext caller = CurrentMemoryContext;

	values[0] = key;
	nulls[0] = ' ';
	message_args(payload, opts, role, values + 1, nulls + 1);
	values[6] = app ? CStringGetTextDatum(app) : (Datum) 0;
	nulls[6] = app ? ' ' : 'n';
	spi_connect_or_error();
	if (SPI_execute_plan(prepared(plan, where, 7, types),
						 values, nulls, false, 0) != (app ? SPI_OK_INSERT : SPI_OK_SELECT))
		elog(ERROR, "webpush: could not queue the notifications");
	if (app)
		n = (int64) SPI_processed;
	else
	{
		uint64		i;
		List	   *apps = NIL;
		ListCell   *lc;
		MemoryContext spi = MemoryContextSwitchTo(caller);

		n = 0;
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			apps = lappend(apps, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			n += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
		MemoryContextSwitchTo(spi);
		SPI_finish();
		foreach(lc, apps)
			app_require_subject(lfirst(lc));
		if (n > 0)
			queue_check_role_limit(role);
		return n;
	}
	SPI_finish();
	if (n > 0)
		queue_check_role_limit(role);
	return n;
}

int64
queue_for_user(text *user_id, const char *app, bytea *payload, const MessageOptions *opts)
{
	static SPIPlanPtr plan = NULL;

	app_require_subject(app);
	return queue_matching(&plan, QUEUE_FROM_SUBSCRIPTIONS "WHERE application = $7 AND user_id = $1",
						  TEXTOID, PointerGetDatum(user_id), app, payload, opts);
}

int64
queue_for_subscriptions(ArrayType *ids, bytea *payload, const MessageOptions *opts)
{
	static SPIPlanPtr plan = NULL;

	return queue_matching(&plan,
						  "WITH q AS (" QUEUE_FROM_SUBSCRIPTIONS "WHERE id = ANY ($1)"
						  " RETURNING key_id), "
						  "per_key AS (SELECT key_id, pg_catalog.count(*) AS n FROM q GROUP BY key_id) "
						  "SELECT k.application, pg_catalog.sum(p.n)::bigint FROM per_key p"
						  " JOIN webpush.vapid_keys k ON k.id = p.key_id GROUP BY k.application",
						  INT8ARRAYOID, PointerGetDatum(ids), NULL, payload, opts);
}

/* Copy a bytea column of a claimed row; false when NULL. */
static bool
copy_bytes(HeapTuple row, TupleDesc desc, int col, uint8 **out, size_t *len)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, col, &isnull);
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	*len = VARSIZE_ANY_EXHDR(b);
	*out = palloc(*len > 0 ? *len : 1);
	memcpy(*out, VARDATA_ANY(b), *len);
	return true;
}

int
queue_claim(int limit, ClaimedMessage **out)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(limit), Int32GetDatum(MyProcPid)};
	MemoryContext caller = CurrentMemoryContext;
	ClaimedMessage *claimed;
	int			n;
	int			i;

	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan,
								  "WITH due AS ("
								  " SELECT id FROM webpush.queue"
								  " WHERE state = 'queued' AND next_attempt_at <= pg_catalog.now()"
								  " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
								  "UPDATE webpush.queue q SET state = 'sending', claimed_by = $2,"
								  " attempts = q.attempts + 1 "
								  "FROM due WHERE q.id = due.id "
								  "RETURNING q.id, q.subscription_id, q.endpoint, q.p256dh, q.auth,"
								  " q.payload, q.urgency, q.topic, q.attempts, q.expires_at, q.key_id",
								  2, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "webpush: could not claim notifications");

	n = (int) SPI_processed;
	claimed = MemoryContextAllocZero(caller, sizeof(ClaimedMessage) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ClaimedMessage *m = &claimed[i];
		MemoryContext spi = MemoryContextSwitchTo(caller);
		bool		isnull;
		uint8	   *bytes;
		size_t		len;
		char	   *s;

		m->id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		m->subscription_id = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
		if (isnull)
			m->subscription_id = 0;
		m->endpoint = TextDatumGetCString(SPI_getbinval(row, desc, 3, &isnull));
		/* The table's CHECK constraints guarantee these lengths. */
		if (copy_bytes(row, desc, 4, &bytes, &len) && len == P256_PUBLIC_LEN)
			memcpy(m->p256dh, bytes, len);
		if (copy_bytes(row, desc, 5, &bytes, &len) && len == ECE_AUTH_LEN)
			memcpy(m->auth, bytes, len);
		if (copy_bytes(row, desc, 6, &bytes, &len))
		{
			m->payload = bytes;
			m->payload_len = len;
		}
		s = TextDatumGetCString(SPI_getbinval(row, desc, 7, &isnull));
		strlcpy(m->urgency, s, sizeof(m->urgency));
		s = SPI_getvalue(row, desc, 8);
		if (s != NULL)
			strlcpy(m->topic, s, sizeof(m->topic));
		m->attempts = DatumGetInt32(SPI_getbinval(row, desc, 9, &isnull));
		m->expires_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 10, &isnull));
		m->key_id = DatumGetInt64(SPI_getbinval(row, desc, 11, &isnull));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	*out = claimed;
	return n;
}

bool
queue_next_due(TimestampTz *when)
{
	bool		isnull = true;

	spi_connect_or_error();
	/* Not read-only: retries scheduled earlier in this transaction count. */
	if (SPI_execute("SELECT pg_catalog.min(next_attempt_at) FROM webpush.queue WHERE state = 'queued'",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read the queue");
	if (SPI_processed == 1)
		*when = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return !isnull;
}

/* A one-dimensional array of a fixed-size type, from n Datums. */
static ArrayType *
datum_array(Datum *d, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return construct_array(d, n, type, typlen, typbyval, typalign);
}

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

void
queue_record_outcomes(const Outcome *outcomes, int n)
{
	static SPIPlanPtr finish_plan = NULL;
	static SPIPlanPtr retry_plan = NULL;
	static SPIPlanPtr gone_plan = NULL;
	static SPIPlanPtr release_plan = NULL;
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	char	  **reasons = palloc(sizeof(char *) * n);
	char	  **kinds = palloc(sizeof(char *) * n);
	Datum	   *delays = palloc(sizeof(Datum) * n);
	Datum	   *gone = palloc(sizeof(Datum) * n);
	int			nfinish = 0;
	int			nretry = 0;
	int			ngone = 0;
	int			i;

	spi_connect_or_error();

	/* Finished notifications leave the queue for the history. */
	for (i = 0; i < n; i++)
	{
		const Outcome *o = &outcomes[i];

		if (o->kind == OUTCOME_RETRY || o->kind == OUTCOME_RELEASE)
			continue;
		ids[nfinish] = Int64GetDatum(o->id);
		statuses[nfinish] = Int32GetDatum(o->status);
		reasons[nfinish] = o->reason;
		kinds[nfinish] = o->kind == OUTCOME_DELIVERED ? "delivered" :
			o->kind == OUTCOME_EXPIRED ? "expired" : "failed";
		nfinish++;
		if (o->kind == OUTCOME_GONE && o->subscription_id != 0)
			gone[ngone++] = Int64GetDatum(o->subscription_id);
	}
	if (nfinish > 0)
	{
		Oid			types[5] = {INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT4OID};
		Datum		values[5];

		values[0] = PointerGetDatum(datum_array(ids, nfinish, INT8OID));
		values[1] = PointerGetDatum(text_array(kinds, nfinish));
		values[2] = PointerGetDatum(datum_array(statuses, nfinish, INT4OID));
		values[3] = PointerGetDatum(text_array(reasons, nfinish));
		values[4] = Int32GetDatum(MyProcPid);
		if (SPI_execute_plan(prepared(&finish_plan,
									  "WITH o AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
									  "  pg_catalog.unnest($3), pg_catalog.unnest($4))"
									  "  AS o(id, outcome, status, reason)),"
									  " d AS (DELETE FROM webpush.queue q USING o"
									  "  WHERE q.id = o.id AND q.claimed_by = $5"
									  "  RETURNING q.id, q.subscription_id, q.endpoint, q.attempts, q.created_at,"
									  "   o.outcome, o.status, o.reason) "
									  "INSERT INTO webpush.history AS h (id, subscription_id, endpoint, outcome,"
									  " status, attempts, reason, created_at) "
									  "SELECT id, subscription_id, endpoint, outcome, NULLIF(status, 0), attempts,"
									  " reason, created_at FROM d "
									  "ON CONFLICT (id) DO UPDATE SET outcome = EXCLUDED.outcome,"
									  " status = EXCLUDED.status, attempts = EXCLUDED.attempts,"
									  " reason = EXCLUDED.reason, finished_at = EXCLUDED.finished_at",
									  5, types),
							 values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "webpush: could not record delivery outcomes");
	}

	/* Retries go back to the queue with their next attempt time. */
	for (i = 0; i < n; i++)
	{
		const Outcome *o = &outcomes[i];

		if (o->kind != OUTCOME_RETRY)
			continue;
		ids[nretry] = Int64GetDatum(o->id);
		statuses[nretry] = Int32GetDatum(o->status);
		reasons[nretry] = o->reason;
		delays[nretry] = Float8GetDatum(o->retry_delay_ms);
		nretry++;
	}
	if (nretry > 0)
	{
		Oid			types[5] = {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, INT4OID};
		Datum		values[5];

		values[0] = PointerGetDatum(datum_array(ids, nretry, INT8OID));
		values[1] = PointerGetDatum(datum_array(statuses, nretry, INT4OID));
		values[2] = PointerGetDatum(text_array(reasons, nretry));
		values[3] = PointerGetDatum(datum_array(delays, nretry, FLOAT8OID));
		values[4] = Int32GetDatum(MyProcPid);
		if (SPI_execute_plan(prepared(&retry_plan,
									  "UPDATE webpush.queue q SET state = 'queued', claimed_by = NULL,"
									  " next_attempt_at = pg_catalog.clock_timestamp() + o.delay_ms * interval '1 millisecond',"
									  " last_status = NULLIF(o.status, 0), last_error = o.reason "
									  "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
									  " pg_catalog.unnest($4))"
									  " AS o(id, status, reason, delay_ms) "
									  "WHERE q.id = o.id AND q.claimed_by = $5",
									  5, types),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "webpush: could not schedule retries");
	}

	/* Released unsent: back in the queue, the attempt not counted. */
	nretry = 0;
	for (i = 0; i < n; i++)
	{
		const Outcome *o = &outcomes[i];

		if (o->kind != OUTCOME_RELEASE)
			continue;
		ids[nretry] = Int64GetDatum(o->id);
		delays[nretry] = Float8GetDatum(o->retry_delay_ms);
		nretry++;
	}
	if (nretry > 0)
	{
		Oid			types[3] = {INT8ARRAYOID, FLOAT8ARRAYOID, INT4OID};
		Datum		values[3];

		values[0] = PointerGetDatum(datum_array(ids, nretry, INT8OID));
		values[1] = PointerGetDatum(datum_array(delays, nretry, FLOAT8OID));
		values[2] = Int32GetDatum(MyProcPid);
		if (SPI_execute_plan(prepared(&release_plan,
									  "UPDATE webpush.queue q SET state = 'queued', claimed_by = NULL,"
									  " attempts = q.attempts - 1,"
									  " next_attempt_at = pg_catalog.clock_timestamp() + o.delay_ms * interval '1 millisecond' "
									  "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS o(id, delay_ms) "
									  "WHERE q.id = o.id AND q.claimed_by = $3",
									  3, types),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "webpush: could not hand back notifications");
	}

	/*
	 * A 404/410 means the browser's subscription is gone: delete it, and fail
	 * what else was queued for it rather than send it to a dead endpoint.
	 */
	if (ngone > 0)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		values[1];

		values[0] = PointerGetDatum(datum_array(gone, ngone, INT8OID));
		if (SPI_execute_plan(prepared(&gone_plan,
									  "WITH s AS (DELETE FROM webpush.subscriptions WHERE id = ANY($1)),"
									  " d AS (DELETE FROM webpush.queue"
									  "  WHERE subscription_id = ANY($1) AND state = 'queued'"
									  "  RETURNING id, subscription_id, endpoint, attempts, created_at) "
									  "INSERT INTO webpush.history (id, subscription_id, endpoint, outcome,"
									  " status, attempts, reason, created_at) "
									  "SELECT id, subscription_id, endpoint, 'failed', NULL, attempts,"
									  " 'subscription gone: the push service answered 404 or 410', created_at "
									  "FROM d ON CONFLICT (id) DO NOTHING",
									  1, types),
							 values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "webpush: could not remove gone subscriptions");
	}
	SPI_finish();
}

int64
queue_reclaim_orphans(void)
{
	WakeWorkerInfo *workers = palloc(sizeof(WakeWorkerInfo) * 1024);
	int			nworkers = wake_list_workers(workers, 1024);
	Datum	   *pids = palloc(sizeof(Datum) * Max(nworkers, 1));
	int			npids = 0;
	Oid			types[1] = {INT4ARRAYOID};
	Datum		values[1];
	int64		n;
	int			i;

	/* Rows claimed by a pid that no slot holds any more are orphans. */
	for (i = 0; i < nworkers; i++)
		if (workers[i].pid != 0)
			pids[npids++] = Int32GetDatum(workers[i].pid);
	values[0] = PointerGetDatum(datum_array(pids, npids, INT4OID));
	spi_connect_or_error();
	if (SPI_execute_with_args("UPDATE webpush.queue SET state = 'queued', claimed_by = NULL "
							  "WHERE state = 'sending' AND claimed_by <> ALL ($1)",
							  1, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not reclaim notifications");
	n = (int64) SPI_processed;
	SPI_finish();
	return n;
}

int64
queue_purge_history(int retention_s)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(retention_s)};
	int64		n;

	spi_connect_or_error();
	if (SPI_execute_with_args("DELETE FROM webpush.history WHERE id IN ("
							  " SELECT id FROM webpush.history"
							  " WHERE finished_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
							  " LIMIT " CppAsString2(QUEUE_PURGE_BATCH) ")",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not purge history");
	n = (int64) SPI_processed;
	SPI_finish();
	return n;
}

Oid
queue_limited_role(void)
{
	/*
	 * The send functions are SECURITY DEFINER: the role that called them is
	 * the outer one.  Superusers are not limited.
	 */
	Oid			role = GetOuterUserId();

	if (webpush_max_queued_per_role <= 0 || superuser_arg(role))
		return InvalidOid;
	return role;
}

void
queue_check_role_limit(Oid role)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	int64		queued;

	if (!OidIsValid(role))
		return;
	/* Counting stops one past the limit: bounded work, whatever the queue. */
	values[0] = ObjectIdGetDatum(role);
	values[1] = Int32GetDatum(webpush_max_queued_per_role == INT_MAX ?
							  INT_MAX : webpush_max_queued_per_role + 1);
	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan,
								  "SELECT pg_catalog.count(*) FROM (SELECT 1 FROM webpush.queue"
								  " WHERE queued_by = $1 LIMIT $2) AS q",
								  2, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not count queued notifications");
	queued = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (queued > webpush_max_queued_per_role)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("role \"%s\" would have more than %d notifications queued",
						GetUserNameFromId(role, false), webpush_max_queued_per_role),
				 errdetail("webpush.max_queued_per_role limits how many notifications one role may have waiting for delivery; nothing was queued."),
				 errhint("Wait for the queue to drain, or ask a superuser to raise webpush.max_queued_per_role for this role.")));
}
