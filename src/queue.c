/*
 * queue.c
 *		Messages, their deliveries and the history, through SPI.
 *
 * Every statement is prepared once per process and kept (SPI_keepplan).
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "app_access.h"
#include "applications.h"
#include "counters.h"
#include "queue.h"
#include "queue_insert.h"
#include "spi_util.h"
#include "store.h"
#include "wake.h"
#include "webpush.h"


/*
 * The worker's idea of when the next retry is due (DT_NOEND: none waits; 0:
 * unknown), from its last queue_next_due(); outcomes it records reset it.
 */
static TimestampTz next_retry = 0;

/*
 * Whether this session was told that no worker serves its database: once
 * is enough (the setting changes only with a restart), and a row trigger
 * would otherwise say it for every transaction.
 */
static bool warned_no_worker = false;

/*
 * A statement of this file, prepared once per process and kept.
 *
 * Each is written for one plan (TID lookups, index scans on the keys, a
 * LIMIT), so the plan cache is told to build it once: left to choose, it
 * weighs custom plans against the generic one at every execution, and the
 * arrays and limits the worker passes make the custom plan look cheaper
 * each time, so the worker would plan every claim and record again.
 */
static SPIPlanPtr
prepared(SPIPlanPtr *cache, const char *sql, int nargs, Oid *types)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "webpush: could not prepare \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "webpush: could not keep a prepared plan");
		*cache = plan;
	}
	return *cache;
}

static int64
get_int64(int row, int col, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull));
}

/* Queueing ------------------------------------------------------------ */

/*
 * Every plan that queues takes the message as $1..$8 (application, payload,
 * ttl, urgency, topic, queued_by, send_at, dedupe_key) and its recipients
 * from $9 on.  The TTL counts from send_at.
 */
#define MESSAGE_ARGS 8
#define MESSAGE_ARG_TYPES TEXTOID, BYTEAOID, INT4OID, TEXTOID, TEXTOID, OIDOID, \
	TIMESTAMPTZOID, TEXTOID
#define MESSAGE_COLUMNS \
	"application, payload, ttl, urgency, topic, queued_by, send_at, expires_at, " \
	"dedupe_key, recipients"
#define MESSAGE_VALUES(application, recipients) \
	application ", $2, $3, $4, $5, $6, COALESCE($7, pg_catalog.now()), " \
	"COALESCE($7, pg_catalog.now()) + pg_catalog.make_interval(secs => $3), $8, " recipients
#define UNLESS_DEDUPED \
	" ON CONFLICT (application, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING"

static void
message_args(const MessageSpec *spec, Oid role, Datum *values, char *nulls)
{
	memset(nulls, ' ', MESSAGE_ARGS);
	values[0] = spec->app ? CStringGetTextDatum(spec->app) : (Datum) 0;
	nulls[0] = spec->app ? ' ' : 'n';
	values[1] = PointerGetDatum(spec->payload);
	nulls[1] = spec->payload ? ' ' : 'n';
	values[2] = Int32GetDatum(spec->opts.ttl);
	values[3] = CStringGetTextDatum(spec->opts.urgency);
	values[4] = spec->opts.has_topic ? CStringGetTextDatum(spec->opts.topic) : (Datum) 0;
	nulls[4] = spec->opts.has_topic ? ' ' : 'n';
	values[5] = ObjectIdGetDatum(role);
	nulls[5] = OidIsValid(role) ? ' ' : 'n';
	values[6] = TimestampTzGetDatum(spec->send_at);
	nulls[6] = spec->has_send_at ? ' ' : 'n';
	values[7] = PointerGetDatum(spec->dedupe_key);
	nulls[7] = spec->dedupe_key ? ' ' : 'n';
}

/* The message an earlier send with the same dedupe_key made. */
static QueuedMessage
deduplicated(const char *app, text *dedupe_key)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(app), PointerGetDatum(dedupe_key)};
	QueuedMessage q = {0, 0};
	bool		isnull;

	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan,
								  "SELECT id, recipients FROM webpush.messages"
								  " WHERE application = $1 AND dedupe_key = $2",
								  2, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.messages");
	if (SPI_processed == 1)
	{
		q.message_id = get_int64(0, 1, &isnull);
		q.recipients = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
	return q;
}

/*
 * pg_locks shows the per-role limit's lock as an advisory lock with this
 * objsubid (pg_advisory_lock's keys use 1 and 2).
 */
#define QUOTA_LOCK_CLASS 0x5750

/* Error when role has more than webpush.max_queued_per_role waiting. */
static void
check_role_limit(Oid role)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	int64		queued;
	LOCKTAG		tag;

	if (!OidIsValid(role))
		return;

	/*
	 * Transactions of one role count one at a time, each holding the lock
	 * until it ends: without it, concurrent transactions would each count
	 * only what was committed, and together queue many times the limit.  The
	 * count below takes a snapshot of its own, so that it sees what the one
	 * before committed in REPEATABLE READ too.  The lock is an advisory lock
	 * of a class of its own, so no pg_advisory_lock() key of the
	 * application's can meet it.
	 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) role, 0, QUOTA_LOCK_CLASS);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	/* Counting stops one past the limit: bounded work, whatever the queue. */
	values[0] = ObjectIdGetDatum(role);
	values[1] = Int32GetDatum(webpush_max_queued_per_role == INT_MAX ?
							  INT_MAX : webpush_max_queued_per_role + 1);
	spi_connect_or_error();
	if (SPI_execute_snapshot(prepared(&plan,
									  "SELECT pg_catalog.count(*) FROM (SELECT FROM webpush.messages m"
									  " JOIN webpush.deliveries d ON d.message_id = m.id"
									  " WHERE m.queued_by = $1 LIMIT $2) AS q",
									  2, types),
							 values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 false, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not count queued notifications");
	queued = get_int64(0, 1, &isnull);
	SPI_finish();
	if (queued > webpush_max_queued_per_role)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("role \"%s\" would have more than %d notifications queued",
						GetUserNameFromId(role, false), webpush_max_queued_per_role),
				 errdetail("webpush.max_queued_per_role limits how many notifications one role may have waiting for delivery; nothing was queued."),
				 errhint("Wait for the queue to drain, or ask a superuser to raise webpush.max_queued_per_role for this role.")));
}

/*
 * Run a queueing plan: one statement stores the message and its deliveries.
 * Its first column is the new message's id (NULL when a dedupe_key matched
 * an earlier one, or there was nobody to send to), its second the number
 * of recipients found.
 */
static QueuedMessage
run_queue_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			   const MessageSpec *spec, const char *app, Oid role, Datum *values, char *nulls)
{
	QueuedMessage q = {0, 0};
	bool		isnull;

	spi_connect_or_error();
	if (SPI_execute_plan(prepared(plan, sql, nargs, types), values, nulls, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "webpush: could not queue the notification");
	q.message_id = get_int64(0, 1, &isnull);
	if (isnull)
		q.message_id = 0;
	q.recipients = get_int64(0, 2, &isnull);
	SPI_finish();

	if (q.message_id == 0 && q.recipients > 0 && spec->dedupe_key != NULL)
		return deduplicated(app, spec->dedupe_key);
	if (q.message_id != 0)
	{
		check_role_limit(role);
		queue_wake_at_commit();
	}
	return q;
}

QueuedMessage
queue_to_subscription(int64 subscription_id, const MessageSpec *spec)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[MESSAGE_ARGS + 1] = {MESSAGE_ARG_TYPES, INT8OID};
	Datum		values[MESSAGE_ARGS + 1];
	char		nulls[MESSAGE_ARGS + 1];
	char	   *app = NULL;
	bool		isnull;
	QueuedMessage q = {0, 0};
	Oid			role = queue_limited_role();
	MemoryContext caller = CurrentMemoryContext;

	message_args(spec, role, values, nulls);
	values[MESSAGE_ARGS] = Int64GetDatum(subscription_id);
	nulls[MESSAGE_ARGS] = ' ';

	/* The application is the subscription's: its subject must exist. */
	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan,
								  "WITH s AS (SELECT id, application FROM webpush.subscriptions WHERE id = $9),"
								  " m AS (INSERT INTO webpush.messages (" MESSAGE_COLUMNS ")"
								  "  SELECT " MESSAGE_VALUES("s.application", "1") " FROM s"
								  UNLESS_DEDUPED " RETURNING id),"
								  " d AS (INSERT INTO webpush.deliveries (message_id, subscription_id)"
								  "  SELECT m.id, $9 FROM m) "
								  "SELECT (SELECT id FROM m), (SELECT application FROM s)",
								  MESSAGE_ARGS + 1, types),
						 values, nulls, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "webpush: could not queue the notification");
	q.message_id = get_int64(0, 1, &isnull);
	if (isnull)
		q.message_id = 0;
	app = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (app != NULL)
		app = MemoryContextStrdup(caller, app);	/* SPI_finish frees SPI's copy */
	SPI_finish();

	/*
	 * An error here undoes the message with the rest of the statement.
	 * Another application's subscription is one this caller cannot see.
	 */
	if (app == NULL || !app_may_use(app, app_caller()))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("push subscription %lld does not exist", (long long) subscription_id),
				 errhint("It may have been removed after the push service reported it gone (404/410).")));
	app_require_subject(app);
	if (q.message_id == 0)
		return deduplicated(app, spec->dedupe_key);
	q.recipients = 1;
	check_role_limit(role);
	queue_wake_at_commit();
	return q;
}

QueuedMessage
queue_to_object(const Subscription *sub, int64 key_id, const MessageSpec *spec)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[MESSAGE_ARGS + 4] = {MESSAGE_ARG_TYPES, TEXTOID, BYTEAOID, BYTEAOID, INT8OID};
	Datum		values[MESSAGE_ARGS + 4];
	char		nulls[MESSAGE_ARGS + 4];
	Oid			role = queue_limited_role();

	message_args(spec, role, values, nulls);
	values[MESSAGE_ARGS] = CStringGetTextDatum(sub->endpoint);
	values[MESSAGE_ARGS + 1] = PointerGetDatum(bytes_to_bytea(sub->p256dh, P256_PUBLIC_LEN));
	values[MESSAGE_ARGS + 2] = PointerGetDatum(bytes_to_bytea(sub->auth, ECE_AUTH_LEN));
	values[MESSAGE_ARGS + 3] = Int64GetDatum(key_id);
	memset(nulls + MESSAGE_ARGS, ' ', 4);
	return run_queue_plan(&plan,
						  "WITH m AS (INSERT INTO webpush.messages"
						  "  (" MESSAGE_COLUMNS ", endpoint, p256dh, auth, key_id)"
						  "  VALUES (" MESSAGE_VALUES("$1", "1") ", $9, $10, $11, $12)"
						  UNLESS_DEDUPED " RETURNING id),"
						  " d AS (INSERT INTO webpush.deliveries (message_id, subscription_id)"
						  "  SELECT m.id, 0 FROM m) "
						  "SELECT (SELECT id FROM m), 1::bigint",
						  MESSAGE_ARGS + 4, types, spec, spec->app, role, values, nulls);
}

/*
 * One statement for every subscription that "recipients" picks ($9, of
 * type target_type; $1 is the application): set-based, so a broadcast to
 * thousands costs one statement, and one message row, not one per
 * recipient.
 */
#define QUEUE_TO_RECIPIENTS(recipients) \
	"WITH s AS (" recipients ")," \
	" m AS (INSERT INTO webpush.messages (" MESSAGE_COLUMNS ")" \
	"  SELECT " MESSAGE_VALUES("$1", "(SELECT pg_catalog.count(*) FROM s)::integer") \
	"  WHERE EXISTS (SELECT FROM s)" UNLESS_DEDUPED " RETURNING id)," \
	" d AS (INSERT INTO webpush.deliveries (message_id, subscription_id)" \
	"  SELECT m.id, s.id FROM m, s) " \
	"SELECT (SELECT id FROM m), (SELECT pg_catalog.count(*) FROM s)"

static QueuedMessage
queue_to_recipients(SPIPlanPtr *plan, const char *sql, Oid target_type, Datum target,
					const MessageSpec *spec)
{
	Oid			types[MESSAGE_ARGS + 1] = {MESSAGE_ARG_TYPES, target_type};
	Datum		values[MESSAGE_ARGS + 1];
	char		nulls[MESSAGE_ARGS + 1];
	Oid			role = queue_limited_role();

	app_require_subject(spec->app);
	message_args(spec, role, values, nulls);
	values[MESSAGE_ARGS] = target;
	nulls[MESSAGE_ARGS] = ' ';
	return run_queue_plan(plan, sql, MESSAGE_ARGS + 1, types,
						  spec, spec->app, role, values, nulls);
}

/* After queue_insert.c stored a message: the role's limit, and the wake-up. */
static QueuedMessage
stored_by_executor(QueuedMessage q, Oid role)
{
	if (q.message_id != 0)
	{
		check_role_limit(role);
		queue_wake_at_commit();
	}
	return q;
}

/*
 * To a user's subscriptions, or to a list of them: the rows the statements
 * below write, inserted through the executor's helpers when queue_insert.c
 * can (no dedupe_key, tables it can insert into as these statements would).
 */
QueuedMessage
queue_to_user(text *user_id, const MessageSpec *spec)
{
	static SPIPlanPtr plan = NULL;
	QueuedMessage q;
	Oid			role = queue_limited_role();

	app_require_subject(spec->app);
	if (queue_insert_to_user(user_id, spec, role, &q))
		return stored_by_executor(q, role);
	return queue_to_recipients(&plan,
							   QUEUE_TO_RECIPIENTS("SELECT id FROM webpush.subscriptions"
												   " WHERE application = $1 AND user_id = $9"),
							   TEXTOID, PointerGetDatum(user_id), spec);
}

QueuedMessage
queue_to_subscriptions(ArrayType *ids, const MessageSpec *spec)
{
	static SPIPlanPtr plan = NULL;
	QueuedMessage q;
	Oid			role = queue_limited_role();

	app_require_subject(spec->app);
	if (queue_insert_to_subscriptions(ids, spec, role, &q))
		return stored_by_executor(q, role);
	return queue_to_recipients(&plan,
							   QUEUE_TO_RECIPIENTS("SELECT id FROM webpush.subscriptions"
												   " WHERE id = ANY ($9) AND application = $1"),
							   INT8ARRAYOID, PointerGetDatum(ids), spec);
}

void
queue_record_source(int64 message_id, text *source)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(message_id), PointerGetDatum(source)};

	if (message_id == 0 || source == NULL)
		return;
	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan, "UPDATE webpush.messages SET source = $2 WHERE id = $1",
								  2, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not record the message's source row");
	SPI_finish();
}

int64
queue_cancel(int64 message_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(message_id)};
	bool		isnull;
	char	   *app;
	MemoryContext caller = CurrentMemoryContext;
	int64		n;

	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan,
								  "WITH d AS (DELETE FROM webpush.deliveries"
								  "  WHERE message_id = $1 AND claimed_by IS NULL"
								  "  RETURNING subscription_id, attempts),"
								  " p AS (UPDATE webpush.messages SET pending = false, dedupe_key = NULL"
								  "  WHERE id = $1),"
								  " h AS (INSERT INTO webpush.history (message_id, subscription_id, endpoint,"
								  "  outcome, attempts, reason, created_at, application, user_id)"
								  "  SELECT m.id, d.subscription_id, COALESCE(s.endpoint, m.endpoint, ''),"
								  "   'cancelled', COALESCE(d.attempts, 0), 'cancelled with webpush_cancel()',"
								  "   m.created_at, m.application, s.user_id"
								  "  FROM d JOIN webpush.messages m ON m.id = $1"
								  "  LEFT JOIN webpush.subscriptions s ON s.id = d.subscription_id) "
								  "SELECT (SELECT application FROM webpush.messages WHERE id = $1),"
								  " (SELECT pg_catalog.count(*) FROM d)",
								  1, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not cancel the message");
	app = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (app != NULL)
		app = MemoryContextStrdup(caller, app);
	n = get_int64(0, 2, &isnull);
	SPI_finish();
	/* Another application's message is one this caller cannot see. */
	if (app == NULL || !app_may_use(app, app_caller()))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("message %lld does not exist", (long long) message_id),
				 errhint("Messages are kept for webpush.history_retention after they were queued.")));
	if (n > 0)
	{
		CountedEvent e;

		memset(&e, 0, sizeof(e));
		e.application = app;
		e.outcome = COUNT_CANCELLED;
		e.count = n;
		counters_count(&e);
		counters_queue_changed_at_commit();
	}
	return n;
}

void
queue_wake_at_commit(void)
{
	/* The status views' snapshot of the queue is out of date at COMMIT. */
	counters_queue_changed_at_commit();
	if (wake_workers_at_commit())
		return;
	if (warned_no_worker)
		return;
	warned_no_worker = true;
	ereport(NOTICE,
			(errmsg("no webpush worker serves database \"%s\"",
					get_database_name(MyDatabaseId)),
			 errdetail("The notification is queued and will be sent once a worker runs for this database."),
			 wake_preloaded() ?
			 errhint("Add this database to webpush.database_name, or empty that setting, then restart the server.") :
			 errhint("Add webpush to shared_preload_libraries, then restart the server.")));
}

int64
queue_record_sent_now(const Subscription *sub, const char *app, const MessageSpec *spec,
					  const char *outcome, int32 status, const char *reason)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[MESSAGE_ARGS + 8] = {MESSAGE_ARG_TYPES, TEXTOID, BYTEAOID, BYTEAOID, INT8OID,
	INT8OID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[MESSAGE_ARGS + 8];
	char		nulls[MESSAGE_ARGS + 8];
	bool		one_off = sub->id == 0;
	bool		isnull;
	int64		id;

	message_args(spec, InvalidOid, values, nulls);
	values[0] = CStringGetTextDatum(app);
	nulls[0] = ' ';
	memset(nulls + MESSAGE_ARGS, ' ', 8);
	values[MESSAGE_ARGS] = CStringGetTextDatum(sub->endpoint);
	values[MESSAGE_ARGS + 1] = PointerGetDatum(bytes_to_bytea(sub->p256dh, P256_PUBLIC_LEN));
	values[MESSAGE_ARGS + 2] = PointerGetDatum(bytes_to_bytea(sub->auth, ECE_AUTH_LEN));
	values[MESSAGE_ARGS + 3] = Int64GetDatum(sub->key_id);
	if (!one_off)
		memset(nulls + MESSAGE_ARGS + 1, 'n', 3);	/* the subscription has them */
	values[MESSAGE_ARGS + 4] = Int64GetDatum(sub->id);
	values[MESSAGE_ARGS + 5] = CStringGetTextDatum(outcome);
	values[MESSAGE_ARGS + 6] = Int32GetDatum(status);
	values[MESSAGE_ARGS + 7] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[MESSAGE_ARGS + 7] = reason ? ' ' : 'n';

	spi_connect_or_error();
	if (SPI_execute_plan(prepared(&plan,
								  "WITH m AS (INSERT INTO webpush.messages"
								  "  (" MESSAGE_COLUMNS ", pending, endpoint, p256dh, auth, key_id)"
								  "  VALUES (" MESSAGE_VALUES("$1", "1") ", false,"
								  "   CASE WHEN $10 IS NULL THEN NULL ELSE $9 END, $10, $11,"
								  "   CASE WHEN $10 IS NULL THEN NULL ELSE $12 END)"
								  "  RETURNING id, created_at) "
								  "INSERT INTO webpush.history (message_id, subscription_id, endpoint, outcome,"
								  " status, attempts, reason, created_at, application, user_id) "
								  "SELECT m.id, $13, $9, $14, NULLIF($15, 0), 1, $16, m.created_at, $1,"
								  " (SELECT s.user_id FROM webpush.subscriptions s WHERE s.id = $13 AND $13 <> 0)"
								  " FROM m "
								  "RETURNING message_id",
								  MESSAGE_ARGS + 8, types),
						 values, nulls, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "webpush: could not record the notification sent");
	id = get_int64(0, 1, &isnull);
	SPI_finish();
	return id;
}

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
 * subscription was removed).
 */
#define CLAIMED_COLUMNS(messages_rel) \
	"SELECT c.ctid, c.message_id, c.subscription_id, COALESCE(s.key_id, m.key_id)," \
	" COALESCE(s.endpoint, m.endpoint), COALESCE(s.p256dh, m.p256dh), COALESCE(s.auth, m.auth)," \
	" m.payload, m.urgency, m.topic, c.attempts, m.expires_at, m.created_at," \
	" m.application, m.send_at, s.user_id " \
	"FROM claimed c JOIN " messages_rel " m ON m.id = c.message_id " \
	"LEFT JOIN webpush.subscriptions s ON s.id = c.subscription_id AND c.subscription_id <> 0"

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
		MemoryContextSwitchTo(spi);
	}
}

/*
 * Taking in: up to $1 rows of webpush.intake (all, or the one at ctid $2
 * whose id is $3) become messages and deliveries, with the ids they were
 * given.  The intake has no index: rows are found by ctid.
 */
#define TAKE_IN_SQL(which_rows) \
	"WITH i AS (DELETE FROM webpush.intake" \
	"  WHERE ctid = ANY (ARRAY(SELECT ctid FROM webpush.intake" which_rows \
	"   LIMIT $1 FOR UPDATE SKIP LOCKED))" \
	"  RETURNING id, application, user_id, payload, ttl, urgency, queued_at, source)," \
	" r AS (SELECT i.id, s.id AS subscription_id FROM i" \
	"  JOIN webpush.subscriptions s" \
	"  ON s.application = i.application AND s.user_id = i.user_id)," \
	" m AS (INSERT INTO webpush.messages (id, application, payload, ttl," \
	"   urgency, send_at, expires_at, recipients, created_at, source)" \
	"  SELECT i.id, i.application, i.payload, i.ttl, i.urgency, i.queued_at," \
	"   i.queued_at + pg_catalog.make_interval(secs => i.ttl), c.n, i.queued_at," \
	"   i.source" \
	"  FROM i JOIN (SELECT id, pg_catalog.count(*)::integer AS n FROM r" \
	"   GROUP BY id) c ON c.id = i.id)," \
	" d AS (INSERT INTO webpush.deliveries (message_id, subscription_id)" \
	"  SELECT id, subscription_id FROM r) " \
	"SELECT pg_catalog.count(*) FROM i"

/*
 * Run step(arg) in a subtransaction, its deferred constraints checked at
 * its end, so that whatever refuses a row is caught here and not at
 * COMMIT.  Returns NULL when it went through, else the error it raised
 * (undone).
 */
static ErrorData *
in_subtransaction(void (*step) (void *arg), void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		ConstraintsSetStmt *immediate = makeNode(ConstraintsSetStmt);

		immediate->constraints = NIL;
		immediate->deferred = false;
		AfterTriggerSetState(immediate);
		step(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	return error;
}

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
	return in_subtransaction(run_plan, &run);
}

/*
 * Whether an error is about the row being taken in (its data, a constraint
 * or a trigger that refuses it), not about the moment (a deadlock, a
 * cancel, a shortage): only those make a row fail for good.
 */
static bool
is_row_fault(const ErrorData *error)
{
	int			category = ERRCODE_TO_CATEGORY(error->sqlerrcode);

	return category == ERRCODE_TO_CATEGORY(ERRCODE_DATA_EXCEPTION) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION) ||
		error->sqlerrcode == ERRCODE_RAISE_EXCEPTION;
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
	refused = take_in_attempt(prepared(&plan,
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
		if (!is_row_fault(refused))
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
	if (SPI_execute_plan(prepared(&any_plan, "SELECT FROM webpush.intake LIMIT 1", 0, NULL),
						 NULL, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.intake");
	if (SPI_processed == 0)
		return;
	error = take_in_attempt(prepared(&batch_plan, TAKE_IN_SQL(""), 1, types), values,
							SPI_OK_SELECT);
	if (error == NULL)
		return;
	if (!is_row_fault(error))
	{
		take_in_postponed(error);
		return;
	}
	FreeErrorData(error);

	if (SPI_execute_plan(prepared(&ids_plan,
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
		ids[i] = get_int64(i, 2, &isnull);
	}
	for (i = 0; i < nids; i++)
	{
		values[1] = PointerGetDatum(&tids[i]);
		values[2] = Int64GetDatum(ids[i]);
		error = take_in_attempt(prepared(&row_plan,
										 TAKE_IN_SQL(" WHERE ctid = $2 AND id = $3"),
										 3, types),
								values, SPI_OK_SELECT);
		if (error == NULL)
			continue;
		if (!is_row_fault(error))
		{
			take_in_postponed(error);
			return;
		}
		fail_intake_row(&tids[i], ids[i], error, caller, failed, nfailed, limit);
		FreeErrorData(error);
	}
}

/*
 * Where this worker's last claim of each broadcast ended.  A message's
 * first attempts are claimed in primary-key order, each claim starting
 * after the last recipient the one before took: so no claim reads again
 * the index entries of recipients already claimed, or sent and not yet
 * vacuumed away, and a million-recipient broadcast costs each claim the
 * same as its first.
 *
 * A position is only a hint.  A claim that skipped rows another
 * transaction held, a claim rolled back, or a delivery moved to another
 * subscription can leave first attempts behind it; a message is settled
 * only after a check from its first recipient finds none, and a position
 * with nothing after it is forgotten, so the next claim starts from the
 * first recipient again.  Single-recipient messages end at once and never
 * take a slot; when the slots are full the oldest gives way.
 */
typedef struct ClaimPosition
{
	int64		message_id;
	int64		next;			/* the last subscription id claimed, plus one */
} ClaimPosition;

#define CLAIM_POSITIONS 64

static ClaimPosition claim_positions[CLAIM_POSITIONS];
static int	nclaim_positions = 0;
static int	next_claim_slot = 0;

void
queue_forget_claim_positions(void)
{
	nclaim_positions = 0;
	next_claim_slot = 0;
}

static int
claim_position_slot(int64 message_id)
{
	int			i;

	for (i = 0; i < nclaim_positions; i++)
		if (claim_positions[i].message_id == message_id)
			return i;
	return -1;
}

static void
forget_claim_position(int64 message_id)
{
	int			i = claim_position_slot(message_id);

	if (i >= 0)
		claim_positions[i] = claim_positions[--nclaim_positions];
}

static void
remember_claim_position(int64 message_id, int64 next)
{
	int			i = claim_position_slot(message_id);

	if (i < 0)
	{
		if (nclaim_positions < CLAIM_POSITIONS)
			i = nclaim_positions++;
		else
		{
			i = next_claim_slot;
			next_claim_slot = (next_claim_slot + 1) % CLAIM_POSITIONS;
		}
	}
	claim_positions[i].message_id = message_id;
	claim_positions[i].next = next;
}

/* The positions as two arrays ($n message ids, $n+1 positions). */
static void
claim_position_arrays(Datum *ids, Datum *nexts)
{
	Datum		id[CLAIM_POSITIONS];
	Datum		next[CLAIM_POSITIONS];
	int			i;

	for (i = 0; i < nclaim_positions; i++)
	{
		id[i] = Int64GetDatum(claim_positions[i].message_id);
		next[i] = Int64GetDatum(claim_positions[i].next);
	}
	*ids = PointerGetDatum(datum_array(id, nclaim_positions, INT8OID));
	*nexts = PointerGetDatum(datum_array(next, nclaim_positions, INT8OID));
}

/*
 * A message's first recipient: subscription ids are any bigint (an id can
 * be given explicitly), so a claim without a position starts from the
 * smallest.
 */
#define FIRST_RECIPIENT "pg_catalog.int8 '-9223372036854775808'"

/*
 * Settling: of the candidate messages (id, position), those with no first
 * attempt left from their position on are returned, and those of them with
 * none left at all stop being looked at (pending = false).  The first
 * check reads from the position on, the second, made once a message
 * seems done, from its first recipient.
 */
#define SETTLE_SQL(candidates) \
	"WITH c AS (SELECT c.id, EXISTS (SELECT FROM webpush.deliveries d" \
	"   WHERE d.message_id = c.id AND d.subscription_id >= c.next" \
	"   AND d.attempts IS NULL AND d.claimed_by IS NULL) AS left_after" \
	"  FROM (" candidates ") AS c(id, next))," \
	" settled AS (UPDATE webpush.messages m SET pending = false FROM c" \
	"  WHERE m.id = c.id AND NOT c.left_after AND m.pending" \
	"  AND NOT EXISTS (SELECT FROM webpush.deliveries d WHERE d.message_id = m.id" \
	"   AND d.attempts IS NULL AND d.claimed_by IS NULL)) " \
	"SELECT c.id FROM c WHERE NOT c.left_after"

/* Forget the positions of the messages the last settling returned. */
static void
forget_settled_positions(void)
{
	uint64		i;
	bool		isnull;

	for (i = 0; i < SPI_processed; i++)
		forget_claim_position(get_int64((int) i, 1, &isnull));
}

/*
 * The positions the first attempts just claimed (claimed[0..n)) reached,
 * then the settling of their messages.
 */
static void
settle_claimed(const ClaimedMessage *claimed, int n)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[2];
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *nexts = palloc(sizeof(Datum) * n);
	int			nmessages = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		const DeliveryRef *ref = &claimed[i].ref;
		int			j = nmessages - 1;

		/* A message's rows mostly come together: look at the last first. */
		while (j >= 0 && DatumGetInt64(ids[j]) != ref->message_id)
			j--;
		if (j < 0)
		{
			j = nmessages++;
			ids[j] = Int64GetDatum(ref->message_id);
			nexts[j] = Int64GetDatum(ref->subscription_id);
		}
		else if (ref->subscription_id > DatumGetInt64(nexts[j]))
			nexts[j] = Int64GetDatum(ref->subscription_id);
	}
	/* From the last claimed to the next to claim; nothing follows the largest. */
	for (i = 0; i < nmessages; i++)
	{
		int64		last = DatumGetInt64(nexts[i]);

		nexts[i] = Int64GetDatum(last == PG_INT64_MAX ? last : last + 1);
		remember_claim_position(DatumGetInt64(ids[i]), DatumGetInt64(nexts[i]));
	}
	values[0] = PointerGetDatum(datum_array(ids, nmessages, INT8OID));
	values[1] = PointerGetDatum(datum_array(nexts, nmessages, INT8OID));
	if (SPI_execute_plan(prepared(&plan,
								  SETTLE_SQL("SELECT * FROM ROWS FROM (pg_catalog.unnest($1),"
											 " pg_catalog.unnest($2))"),
								  2, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not update webpush.messages");
	forget_settled_positions();
}

/*
 * None claimed: the due messages may have no first attempts left (another
 * worker claimed them); those stop being looked at too.
 */
static void
settle_due(int limit)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {INT4OID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[3];

	values[0] = Int32GetDatum(limit);
	claim_position_arrays(&values[1], &values[2]);
	if (SPI_execute_plan(prepared(&plan,
								  SETTLE_SQL("SELECT m.id, COALESCE(p.next, " FIRST_RECIPIENT ")"
											 " FROM webpush.messages m"
											 " LEFT JOIN ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3))"
											 "  AS p(id, next) ON p.id = m.id"
											 " WHERE m.pending AND m.send_at <= pg_catalog.now()"
											 " ORDER BY m.send_at, m.id LIMIT $1"),
								  3, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not update webpush.messages");
	forget_settled_positions();
}

int
queue_claim(int limit, ClaimedMessage **out, IntakeFailure **failed, int *nfailed)
{
	static SPIPlanPtr first_plan = NULL;
	static SPIPlanPtr retry_plan = NULL;
	Oid			types[4] = {INT4OID, INT4OID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[4] = {Int32GetDatum(limit), Int32GetDatum(MyProcPid)};
	MemoryContext caller = CurrentMemoryContext;
	ClaimedMessage *claimed = MemoryContextAlloc(caller, sizeof(ClaimedMessage) * Max(limit, 1));
	int			n = 0;

	spi_connect_or_error();
	take_in(limit, caller, failed, nfailed);

	/*
	 * First attempts, of the messages that are due, oldest first, each
	 * message's from where this worker's last claim of it ended.  The
	 * claimed rows take their message from due_messages, read once: a
	 * broadcast's hundred recipients are one message.
	 */
	claim_position_arrays(&values[2], &values[3]);
	if (SPI_execute_plan(prepared(&first_plan,
								  "WITH due_messages AS (SELECT id, key_id, endpoint, p256dh, auth, payload, urgency,"
								  "  topic, expires_at, created_at, application, send_at FROM webpush.messages"
								  "  WHERE pending AND send_at <= pg_catalog.now()"
								  "  ORDER BY send_at, id LIMIT $1),"
								  " claimed AS (UPDATE webpush.deliveries d SET claimed_by = $2, attempts = 1,"
								  "  next_attempt_at = NULL"
								  "  WHERE d.ctid = ANY (ARRAY(SELECT x.ctid FROM due_messages m"
								  "   LEFT JOIN ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4))"
								  "    AS p(id, next) ON p.id = m.id"
								  "   CROSS JOIN LATERAL (SELECT ctid FROM webpush.deliveries"
								  "    WHERE message_id = m.id"
								  "    AND subscription_id >= COALESCE(p.next, " FIRST_RECIPIENT ")"
								  "    AND attempts IS NULL AND claimed_by IS NULL"
								  "    ORDER BY subscription_id LIMIT $1 FOR UPDATE SKIP LOCKED) x LIMIT $1))"
								  "  RETURNING d.ctid, d.message_id, d.subscription_id, d.attempts) "
								  CLAIMED_COLUMNS("due_messages"),
								  4, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not claim deliveries");
	copy_claimed(caller, claimed, &n);
	if (n > 0)
		settle_claimed(claimed, n);
	else
		settle_due(limit);

	/* Then retries (and deliveries handed back), earliest first, when due. */
	if (n < limit && (next_retry == 0 || next_retry <= GetCurrentTimestamp()))
	{
		values[0] = Int32GetDatum(limit - n);
		if (SPI_execute_plan(prepared(&retry_plan,
									  "WITH claimed AS (UPDATE webpush.deliveries d SET claimed_by = $2,"
									  "  attempts = COALESCE(d.attempts, 0) + 1, next_attempt_at = NULL"
									  "  WHERE d.ctid = ANY (ARRAY(SELECT ctid FROM webpush.deliveries"
									  "   WHERE next_attempt_at <= pg_catalog.now() AND claimed_by IS NULL"
									  "   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED))"
									  "  RETURNING d.ctid, d.message_id, d.subscription_id, d.attempts) "
									  CLAIMED_COLUMNS("webpush.messages"),
									  2, types),
							 values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not claim retries");
		copy_claimed(caller, claimed, &n);
		next_retry = 0;
	}
	SPI_finish();
	*out = claimed;
	return n;
}

/*
 * Deliveries waiting for a retry at a push-service host after a failure
 * that got no answer (no connection, no answer in time), or handed back
 * unsent; not those the push service answered (a 5xx, a 429).  $1 is the host as the
 * worker's origins name it ("host" or "host:port", lower case, without
 * https's default port).
 */
#define WAITING_FOR_HOST \
	" FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id" \
	" LEFT JOIN webpush.subscriptions s ON s.id = d.subscription_id" \
	" WHERE d.next_attempt_at > pg_catalog.now() AND d.claimed_by IS NULL" \
	" AND d.last_status IS NULL" \
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
	if (SPI_execute_plan(prepared(&plan,
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
	if (SPI_execute_plan(prepared(&plan,
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
	result = get_int64(0, 1, &isnull) == 0 ? -1 : 0;
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (result == 0 && !isnull)
	{
		*message_id = get_int64(0, 2, &isnull);
		*subscription_id = get_int64(0, 3, &isnull);
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
 * worker must come back for them.
 */
bool
queue_next_due(TimestampTz *when)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull = true;

	spi_connect_or_error();
	/* Not read-only: retries scheduled earlier in this transaction count. */
	if (SPI_execute_plan(prepared(&plan,
								  "SELECT LEAST((SELECT pg_catalog.min(send_at) FROM webpush.messages"
								  "  WHERE pending),"
								  "  (SELECT pg_catalog.now() WHERE EXISTS (SELECT FROM webpush.intake))),"
								  " (SELECT pg_catalog.min(next_attempt_at) FROM webpush.deliveries"
								  "  WHERE next_attempt_at IS NOT NULL)",
								  0, NULL),
						 NULL, NULL, false, 1) != SPI_OK_SELECT)
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
 * Each outcome finds its row by the ctid the claim returned: a TID lookup,
 * so a batch costs linear time, where a join back to the arrays would
 * rescan them for every row.  The row found must still be the claimed
 * delivery (its key, claimed by this worker): not its xmin, which VACUUM
 * FULL and CLUSTER keep, and which every row of one claim shares.  A ctid can point elsewhere
 * once the row moved: VACUUM FULL, CLUSTER or an ALTER TABLE rewrote the
 * table, or someone updated the row.  Then the statement finds fewer rows
 * than it was given, and runs again finding rows by primary key; it only
 * touches rows this worker still has claimed, so it cannot write one twice.
 */
#define BY_TID "d.ctid = o.tid AND "
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
	" status, attempts, reason, created_at, application, user_id) " \
	"SELECT message_id, subscription_id, COALESCE(endpoint, ''), outcome," \
	" NULLIF(status, 0), attempts - uncounted, reason, created_at, application, user_id" \
	" FROM d"

#define RECORD_DELIVERED_SQL(by) \
	RECORD_FINAL_SQL(by, FINAL_COLUMNS, \
					 "o.endpoint, text 'delivered' AS outcome, o.status," \
					 " NULL::text AS reason, 0 AS uncounted, o.created_at," \
					 " o.application, o.user_id")
#define RECORD_UNDELIVERED_SQL(by) \
	RECORD_FINAL_SQL(by, ", pg_catalog.unnest($10), pg_catalog.unnest($11)," \
					 " pg_catalog.unnest($12)" FINAL_COLUMNS ", outcome, reason, uncounted", \
					 "o.endpoint, o.outcome, o.status, o.reason, o.uncounted," \
					 " o.created_at, o.application, o.user_id")

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

/* Handed back unsent: waiting again, the attempt not counted. */
#define RECORD_RELEASE_SQL(by) \
	"UPDATE webpush.deliveries d SET claimed_by = NULL," \
	" attempts = d.attempts - 1," \
	" next_attempt_at = pg_catalog.clock_timestamp()" \
	"  + o.delay_ms * interval '1 millisecond' " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)," \
	" pg_catalog.unnest($3), pg_catalog.unnest($4))" \
	" AS o(tid, message_id, subscription_id, delay_ms) " \
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
	uint64		found;

	if (SPI_execute_plan(prepared(&stmt->tid_plan, stmt->by_tid, stmt->nargs, types),
						 values, NULL, false, 0) != expected_result)
		elog(ERROR, "webpush: could not record delivery outcomes");
	found = SPI_processed;
	if (found >= (uint64) noutcomes)
		return;
	if (SPI_execute_plan(prepared(&stmt->key_plan, stmt->by_key, stmt->nargs, types),
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

/* The statements that write outcomes, for a batch of them. */
static void
record_batch(const Outcome *outcomes, int n)
{
	static OutcomeStatement delivered = {
		RECORD_DELIVERED_SQL(BY_TID), RECORD_DELIVERED_SQL(BY_KEY), FINAL_ARGS, NULL, NULL
	};
	static OutcomeStatement undelivered = {
		RECORD_UNDELIVERED_SQL(BY_TID), RECORD_UNDELIVERED_SQL(BY_KEY), FINAL_ARGS + 3, NULL, NULL
	};
	static OutcomeStatement retry = {
		RECORD_RETRY_SQL(BY_TID), RECORD_RETRY_SQL(BY_KEY), 7, NULL, NULL
	};
	static OutcomeStatement release = {
		RECORD_RELEASE_SQL(BY_TID), RECORD_RELEASE_SQL(BY_KEY), 5, NULL, NULL
	};
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
		Oid			types[FINAL_ARGS] = {FINAL_ARG_TYPES};
		Datum		values[FINAL_ARGS];

		final_values(values, &a);
		execute_outcome_statement(&delivered, types, values, a.n, SPI_OK_INSERT);
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
		if (SPI_execute_plan(prepared(&lock_plan,
									  "SELECT FROM webpush.deliveries d"
									  " JOIN ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))"
									  "  AS o(message_id, subscription_id)"
									  "  ON d.message_id = o.message_id AND d.subscription_id = o.subscription_id"
									  " WHERE d.claimed_by = $3 FOR UPDATE OF d",
									  3, lock_types),
							 lock_values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not record delivery outcomes");
		if (SPI_execute_plan(prepared(&redirect_plan, REDIRECT_MOVED_SQL, 6, types),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "webpush: could not record delivery outcomes");
		redirected = (int) SPI_processed;
		if (redirected > 0)
			next_retry = 0;
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

		next_retry = 0;
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
		Oid			types[5] = {TIDARRAYOID, INT8ARRAYOID, INT8ARRAYOID, FLOAT8ARRAYOID,
		INT4OID};
		Datum		values[5];

		next_retry = 0;
		values[0] = PointerGetDatum(datum_array(a.tids, a.n, TIDOID));
		values[1] = PointerGetDatum(datum_array(a.message_ids, a.n, INT8OID));
		values[2] = PointerGetDatum(datum_array(a.subscription_ids, a.n, INT8OID));
		values[3] = PointerGetDatum(datum_array(a.delays, a.n, FLOAT8OID));
		values[4] = Int32GetDatum(MyProcPid);
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
		if (SPI_execute_plan(prepared(&merged_plan,
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
		if (SPI_execute_plan(prepared(&gone_plan, STORE_DELETE_GONE_SQL, 3, types),
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
	error = in_subtransaction(record_step, &batch);
	if (error != NULL)
	{
		if (!is_row_fault(error))
			ReThrowError(error);
		FreeErrorData(error);
		for (i = 0; i < n; i++)
		{
			batch.outcomes = &outcomes[i];
			batch.n = 1;
			error = in_subtransaction(record_step, &batch);
			if (error == NULL)
				continue;
			if (!is_row_fault(error))
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
	if (SPI_execute_plan(prepared(&plan,
								  "UPDATE webpush.deliveries SET claimed_by = NULL,"
								  " next_attempt_at = pg_catalog.now() "
								  "WHERE claimed_by IS NOT NULL AND claimed_by <> ALL ($1)",
								  1, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not reclaim deliveries");
	n = (int64) SPI_processed;
	next_retry = 0;
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
	if (SPI_execute_plan(prepared(&history_plan,
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
	 * that long too), and while anything is left to send.
	 */
	if (SPI_execute_plan(prepared(&messages_plan,
								  "DELETE FROM webpush.messages WHERE id IN ("
								  " SELECT m.id FROM webpush.messages m"
								  " WHERE m.created_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
								  " AND NOT m.pending"
								  " AND NOT EXISTS (SELECT FROM webpush.deliveries d WHERE d.message_id = m.id)"
								  " ORDER BY m.id LIMIT " CppAsString2(QUEUE_PURGE_BATCH) ")",
								  1, types),
						 values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not purge messages");
	SPI_finish();
	return n;
}

Oid
queue_limited_role(void)
{
	/*
	 * The role the send function runs for (it runs as the extension's
	 * owner).  Superusers are not limited.
	 */
	Oid			role = app_caller();

	if (webpush_max_queued_per_role <= 0 || superuser_arg(role))
		return InvalidOid;
	return role;
}

/* The gauges ------------------------------------------------------------ */

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
	(void) prepared(&plan,
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
