/*
 * enqueue.c
 *		Queueing, through SPI: a message and a delivery for each of its
 *		recipients, the role's quota, a cancel, the wake-up at COMMIT, and
 *		webpush_send_now's record.
 *
 * Every statement is prepared once per process and kept (spi_kept_plan).
 * A send to a user or to a list of subscriptions goes in through the
 * executor's helpers where it can (insert.c), which is the same INSERT
 * without a statement; this file's statements take the rest.
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

#include "queue/app_access.h"
#include "queue/applications.h"
#include "queue/enqueue.h"
#include "queue/insert.h"
#include "queue/intake.h"
#include "queue/subscriptions.h"
#include "shmem/counters.h"
#include "shmem/registry.h"
#include "support/local_time.h"
#include "support/spi_util.h"
#include "settings.h"

/*
 * Whether this session was told that no worker serves its database: once
 * is enough (the setting changes only with a restart), and a row trigger
 * would otherwise say it for every transaction.
 */
static bool warned_no_worker = false;

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
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  "SELECT id, recipients FROM webpush.messages"
								  " WHERE application = $1 AND dedupe_key = $2",
								  2, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.messages");
	if (SPI_processed == 1)
	{
		q.message_id = spi_get_int64(0, 1, &isnull);
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
	if (SPI_execute_snapshot(spi_kept_plan(&plan,
									  "SELECT pg_catalog.count(*) FROM (SELECT FROM webpush.messages m"
									  " JOIN webpush.deliveries d ON d.message_id = m.id"
									  " WHERE m.queued_by = $1 LIMIT $2) AS q",
									  2, types),
							 values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 false, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not count queued notifications");
	queued = spi_get_int64(0, 1, &isnull);
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
	if (SPI_execute_plan(spi_kept_plan(plan, sql, nargs, types), values, nulls, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "webpush: could not queue the notification");
	q.message_id = spi_get_int64(0, 1, &isnull);
	if (isnull)
		q.message_id = 0;
	q.recipients = spi_get_int64(0, 2, &isnull);
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
	if (SPI_execute_plan(spi_kept_plan(&plan,
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
	q.message_id = spi_get_int64(0, 1, &isnull);
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

/*
 * A send at a local time ($10): each delivery is due at that time of day
 * in its subscription's zone (the application's for one without), the
 * first on or after send_at, and its TTL counts from then (due_at).  The
 * deliveries wait as retries do (next_attempt_at), so the message has no
 * first attempts (pending false).  Its expires_at is when the last of them
 * may still go: the latest due time plus the TTL.  A subscription's zone that this server's time zone data no
 * longer has ($11: the time zone data was updated since it was stored) is
 * read as the application's, so that one recipient does not fail the send
 * to all (unknown_zones).
 */
#define QUEUE_TO_RECIPIENTS_AT_LOCAL_TIME(recipients) \
	"WITH s AS (SELECT r.id, webpush.local_time($10," \
	"   COALESCE(CASE WHEN r.time_zone = ANY ($11) THEN NULL ELSE r.time_zone END," \
	"    (SELECT a.time_zone FROM webpush.applications a WHERE a.name = $1))," \
	"   COALESCE($7, pg_catalog.now())) AS due" \
	"  FROM (" recipients ") AS r)," \
	" m AS (INSERT INTO webpush.messages (" MESSAGE_COLUMNS ", pending)" \
	"  SELECT $1, $2, $3, $4, $5, $6, COALESCE($7, pg_catalog.now())," \
	"   (SELECT pg_catalog.max(s.due) FROM s) + pg_catalog.make_interval(secs => $3)," \
	"   $8, (SELECT pg_catalog.count(*) FROM s)::integer, false" \
	"  WHERE EXISTS (SELECT FROM s)" UNLESS_DEDUPED " RETURNING id)," \
	" d AS (INSERT INTO webpush.deliveries (message_id, subscription_id, due_at, next_attempt_at)" \
	"  SELECT m.id, s.id, s.due, s.due FROM m, s) " \
	"SELECT (SELECT id FROM m), (SELECT pg_catalog.count(*) FROM s)"

/*
 * The zones of the recipients ("zones_sql", with the parameters of the
 * send) that this server's time zone data does not have, as a text[]: a
 * zone was valid when stored, and an update of the time zone data (or of
 * the system's, which Debian's PostgreSQL reads) can drop it.  Each is
 * said once, with a NOTICE.
 */
static Datum
unknown_zones(SPIPlanPtr *plan, const char *zones_sql, Oid *types, Datum *values, char *nulls)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext spi;
	Datum	   *unknown;
	int			n = 0;

	spi_connect_or_error();
	if (SPI_execute_plan(spi_kept_plan(plan, zones_sql, MESSAGE_ARGS + 1, types), values, nulls,
						 true, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read the recipients' time zones");
	unknown = MemoryContextAlloc(caller, sizeof(Datum) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *zone = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull));

		if (local_time_zone_known(zone))
			continue;
		ereport(NOTICE,
				(errmsg("time zone \"%s\" of a recipient is not known here: its delivery is at the application's time",
						zone),
				 errhint("Update the server's time zone data, or set the user's with webpush_time_zone().")));
		/* In the caller's memory, which SPI_finish leaves. */
		spi = MemoryContextSwitchTo(caller);
		unknown[n++] = PointerGetDatum(cstring_to_text(zone));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return PointerGetDatum(datum_array(unknown, n, TEXTOID));
}

static QueuedMessage
queue_to_recipients(SPIPlanPtr *plan, const char *sql, Oid target_type, Datum target,
					SPIPlanPtr *zones_plan, const char *zones_sql, const MessageSpec *spec)
{
	Oid			types[MESSAGE_ARGS + 3] = {MESSAGE_ARG_TYPES, target_type, TIMEOID, TEXTARRAYOID};
	Datum		values[MESSAGE_ARGS + 3];
	char		nulls[MESSAGE_ARGS + 3];
	Oid			role = queue_limited_role();

	app_require_subject(spec->app);
	message_args(spec, role, values, nulls);
	values[MESSAGE_ARGS] = target;
	nulls[MESSAGE_ARGS] = ' ';
	values[MESSAGE_ARGS + 1] = TimeADTGetDatum(spec->local_time);
	nulls[MESSAGE_ARGS + 1] = ' ';
	nulls[MESSAGE_ARGS + 2] = ' ';
	if (spec->has_local_time)
		values[MESSAGE_ARGS + 2] = unknown_zones(zones_plan, zones_sql, types, values, nulls);
	return run_queue_plan(plan, sql, MESSAGE_ARGS + (spec->has_local_time ? 3 : 1), types,
						  spec, spec->app, role, values, nulls);
}

/* After insert.c stored a message: the role's limit, and the wake-up. */
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
 * below write, inserted through the executor's helpers when insert.c can
 * (no dedupe_key, no local_time, tables it can insert into as these
 * statements would).
 */
#define USER_RECIPIENTS(columns) \
	"SELECT " columns " FROM webpush.subscriptions WHERE application = $1 AND user_id = $9"
#define LISTED_RECIPIENTS(columns) \
	"SELECT " columns " FROM webpush.subscriptions WHERE id = ANY ($9) AND application = $1"
/* The zones the recipients have, for unknown_zones. */
#define RECIPIENT_ZONES(recipients) recipients " AND time_zone IS NOT NULL"

QueuedMessage
queue_to_user(text *user_id, const MessageSpec *spec)
{
	static SPIPlanPtr plan = NULL;
	static SPIPlanPtr local_plan = NULL;
	static SPIPlanPtr zones_plan = NULL;
	QueuedMessage q;
	Oid			role = queue_limited_role();

	app_require_subject(spec->app);
	if (spec->has_local_time)
		return queue_to_recipients(&local_plan,
								   QUEUE_TO_RECIPIENTS_AT_LOCAL_TIME(USER_RECIPIENTS("id, time_zone")),
								   TEXTOID, PointerGetDatum(user_id),
								   &zones_plan, RECIPIENT_ZONES(USER_RECIPIENTS("DISTINCT time_zone")),
								   spec);
	if (queue_insert_to_user(user_id, spec, role, &q))
		return stored_by_executor(q, role);
	return queue_to_recipients(&plan, QUEUE_TO_RECIPIENTS(USER_RECIPIENTS("id")),
							   TEXTOID, PointerGetDatum(user_id), NULL, NULL, spec);
}

QueuedMessage
queue_to_subscriptions(ArrayType *ids, const MessageSpec *spec)
{
	static SPIPlanPtr plan = NULL;
	static SPIPlanPtr local_plan = NULL;
	static SPIPlanPtr zones_plan = NULL;
	QueuedMessage q;
	Oid			role = queue_limited_role();

	app_require_subject(spec->app);
	if (spec->has_local_time)
		return queue_to_recipients(&local_plan,
								   QUEUE_TO_RECIPIENTS_AT_LOCAL_TIME(LISTED_RECIPIENTS("id, time_zone")),
								   INT8ARRAYOID, PointerGetDatum(ids),
								   &zones_plan, RECIPIENT_ZONES(LISTED_RECIPIENTS("DISTINCT time_zone")),
								   spec);
	if (queue_insert_to_subscriptions(ids, spec, role, &q))
		return stored_by_executor(q, role);
	return queue_to_recipients(&plan, QUEUE_TO_RECIPIENTS(LISTED_RECIPIENTS("id")),
							   INT8ARRAYOID, PointerGetDatum(ids), NULL, NULL, spec);
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
	if (SPI_execute_plan(spi_kept_plan(&plan, "UPDATE webpush.messages SET source = $2 WHERE id = $1",
								  2, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not record the message's source row");
	SPI_finish();
}

/*
 * Cancel what of the message is not in flight, and mark the message
 * cancelled, so that a delivery in flight that comes back to the queue is
 * recorded as cancelled at its next claim (claim.h); its application (NULL when
 * there is no such message), and in *n how many deliveries.  The mark is an
 * UPDATE of the message's row: it waits for a worker that holds the row
 * while it records a copy delivered with a Location (record.c), and one
 * that comes later sees the row taken and queues that copy's DELETE itself.
 */
static char *
cancel_deliveries(int64 message_id, int64 *n)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(message_id)};
	bool		isnull;
	char	   *app;
	MemoryContext caller = CurrentMemoryContext;

	spi_connect_or_error();
	if (SPI_execute_plan(spi_kept_plan(&plan,
								  "WITH d AS (DELETE FROM webpush.deliveries"
								  "  WHERE message_id = $1 AND claimed_by IS NULL"
								  "  RETURNING subscription_id, attempts),"
								  " p AS (UPDATE webpush.messages SET pending = false, dedupe_key = NULL,"
								  "  cancelled_at = COALESCE(cancelled_at, pg_catalog.now()) WHERE id = $1),"
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
	*n = spi_get_int64(0, 2, &isnull);
	SPI_finish();
	return app;
}

/*
 * Queue a DELETE for each copy of a cancelled message that a push service
 * still holds: those delivered with a push message resource
 * (webpush.history.location) whose TTL, counted from when they were
 * delivered, has not run out; how many.  A copy recalled once (or queued by
 * the worker that recorded it) is not queued again.
 *
 * Run after cancel_deliveries, whose UPDATE waited for any worker recording
 * a copy of the message: the history it wrote is read with a snapshot taken
 * now, as a foreign key's check does, so that a REPEATABLE READ or
 * SERIALIZABLE transaction, whose own snapshot is older, sees it too.
 */
static int64
queue_recalls(int64 message_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(message_id)};
	Snapshot	latest = IsolationUsesXactSnapshot() ? GetLatestSnapshot() : InvalidSnapshot;
	int64		n;

	spi_connect_or_error();
	if (SPI_execute_snapshot(spi_kept_plan(&plan,
										   "INSERT INTO webpush.recalls (message_id, subscription_id,"
										   " application, location, key_id, expires_at)"
										   " SELECT h.message_id, h.subscription_id, m.application, h.location,"
										   "  COALESCE(h.key_id, s.key_id, m.key_id), h.finished_at + m.ttl * interval '1 second'"
										   " FROM webpush.history h JOIN webpush.messages m ON m.id = h.message_id"
										   " LEFT JOIN webpush.subscriptions s ON s.id = h.subscription_id"
										   " WHERE h.message_id = $1 AND h.outcome = 'delivered'"
										   "  AND h.location IS NOT NULL"
										   "  AND h.finished_at + m.ttl * interval '1 second' > pg_catalog.now()"
										   " ON CONFLICT DO NOTHING",
										   1, types),
							 values, NULL, latest, InvalidSnapshot, false, true, 0) != SPI_OK_INSERT)
		elog(ERROR, "webpush: could not queue the recall of the message's copies");
	n = (int64) SPI_processed;
	SPI_finish();
	return n;
}

/*
 * A row trigger's send still in webpush.intake, made into its message now,
 * as the worker would take it in; its application, or NULL when there is
 * no such row.  The row is locked: one the worker is taking in is waited
 * for, and then found gone.
 */
static char *
take_in_now(int64 message_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(message_id)};
	char	   *app = NULL;
	MemoryContext caller = CurrentMemoryContext;

	spi_connect_or_error();
	if (SPI_execute_plan(spi_kept_plan(&plan, TAKE_IN_SQL("id = $1", "application"), 1, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not take in the message");
	if (SPI_processed > 0)
		app = MemoryContextStrdup(caller,
								  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return app;
}

int64
queue_cancel(int64 message_id)
{
	char	   *app;
	int64		n;
	int64		recalls;

	/*
	 * Armed before the message's row is taken: a worker may queue a recall
	 * as soon as this holds the row, and an error from here on (another
	 * application's message, a statement timeout) rolls the cancel back.
	 */
	wake_workers_at_abort();
	app = cancel_deliveries(message_id, &n);

	/*
	 * Not a message: perhaps a row trigger's send that the worker has not
	 * taken in (webpush_send_user from a trigger returns its id).  Made
	 * into its message now, for the user's subscriptions at this moment,
	 * then cancelled; a user without any gets no message, and nothing is
	 * cancelled.  Then the message is looked for again, which finds one
	 * the worker made while this waited for the row.
	 */
	if (app == NULL)
	{
		char	   *taken_in = take_in_now(message_id);

		app = cancel_deliveries(message_id, &n);
		if (app == NULL)
			app = taken_in;
	}
	/* Another application's message is one this caller cannot see. */
	if (app == NULL || !app_may_use(app, app_caller()))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("message %lld does not exist", (long long) message_id),
				 errhint("Messages are kept for webpush.history_retention after they were queued.")));
	recalls = queue_recalls(message_id);
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
	/*
	 * The worker sends the DELETEs after COMMIT: those queued here, and
	 * those a worker queued while this held the message's row, which it
	 * claims once it sees the cancel committed, and drops at once if it
	 * rolls back (wake_workers_at_abort, above).
	 */
	if (recalls > 0)
		queue_wake_at_commit();
	else
		(void) wake_workers_at_commit();
	return n + recalls;
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
	if (SPI_execute_plan(spi_kept_plan(&plan,
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
	id = spi_get_int64(0, 1, &isnull);
	SPI_finish();
	return id;
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
