/*
 * subscriptions.c
 *		Browser subscriptions, through SPI.
 */
#include "postgres.h"

#include <string.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "queue/applications.h"
#include "shmem/counters.h"
#include "support/spi_util.h"
#include "queue/subscriptions.h"

/* Copy a bytea column of the current SPI row into out, checking its length. */
static bool
spi_get_bytes(int row, int col, uint8 *out, size_t len)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(b) != len)
		return false;
	memcpy(out, VARDATA_ANY(b), len);
	return true;
}

/*
 * A subscription is its application's: subscribing (or moving) an endpoint
 * that another application stored must not take it, nor what waits for
 * it.  Browsers give each applicationServerKey endpoints of its own, so
 * this is a mistake or an attack, not a browser.
 */
static void
endpoint_of_another_application(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("the push subscription's endpoint is stored for another webpush application"),
			 errdetail("An endpoint belongs to the application whose key the browser subscribed with."),
			 errhint("Subscribe the browser with this application's key (webpush_keys()); it then gets an endpoint of its own.")));
}

/* The update of a moved subscription: the seven values and its id. */
typedef struct MoveUpdate
{
	Datum		values[8];
	char		nulls[8];
} MoveUpdate;

static void
move_update(void *arg)
{
	MoveUpdate *update = arg;
	Oid			types[8] = {TEXTOID, BYTEAOID, BYTEAOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID, INT8OID};

	if (SPI_execute_with_args("UPDATE webpush.subscriptions SET endpoint = $1, p256dh = $2,"
							  " auth = $3, user_id = $4, expiration_time = $5, application = $6,"
							  " key_id = $7, updated_at = pg_catalog.now() WHERE id = $8",
							  8, types, update->values, update->nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not move the subscription");
}

/*
 * A browser moved from old_endpoint (pushsubscriptionchange): the stored
 * subscription takes the new endpoint and keys and keeps its id, so what
 * waits for it goes to the new endpoint.  When the new endpoint was stored
 * meanwhile, what waits for that row joins the old one first.  values are
 * the seven of store_upsert_subscription's statement.  Returns the id, or
 * 0 when old_endpoint is not stored.
 */
static int64
move_subscription(text *old_endpoint, Datum *values, char *nulls)
{
	Oid			pair_types[2] = {INT8OID, INT8OID};
	Datum		ends[2] = {PointerGetDatum(old_endpoint), values[0]};
	Oid			end_types[2] = {TEXTOID, TEXTOID};
	Datum		ids[2];
	int64		old_id = 0;
	int64		new_id = 0;
	bool		isnull;
	bool		same;
	uint64		i;
	MoveUpdate	update;
	ErrorData  *error;

again:

	/*
	 * The deliveries of both rows are locked before the rows themselves, in
	 * the order the worker locks them when it records (a delivery, then its
	 * subscription); while they are, the worker records nothing for them
	 * and claims none, so what is waiting, in flight or finished cannot
	 * change under the decisions below.  A browser that subscribed again
	 * between the two steps makes the loop look again.
	 */
	for (;;)
	{
		int64		seen[2] = {0, 0};

		if (SPI_execute_with_args("SELECT id FROM webpush.subscriptions"
								  " WHERE endpoint IN ($1, $2) ORDER BY id",
								  2, end_types, ends, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not read the subscriptions");
		for (i = 0; i < SPI_processed && i < 2; i++)
			seen[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		ids[0] = Int64GetDatum(seen[0]);
		ids[1] = Int64GetDatum(seen[1]);
		if (SPI_execute_with_args("SELECT FROM webpush.deliveries"
								  " WHERE subscription_id IN ($1, $2) AND subscription_id <> 0"
								  " FOR UPDATE",
								  2, pair_types, ids, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not lock the deliveries");

		/* Both rows locked, in id order, so that two moves cannot deadlock. */
		if (SPI_execute_with_args("SELECT id, endpoint = $1, application FROM webpush.subscriptions"
								  " WHERE endpoint IN ($1, $2) ORDER BY id FOR UPDATE",
								  2, end_types, ends, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not read the subscriptions");
		old_id = new_id = 0;
		same = true;
		for (i = 0; i < SPI_processed; i++)
		{
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			char	   *owner = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

			if (i >= 2 || id != seen[i])
				same = false;
			if (strcmp(owner, TextDatumGetCString(values[5])) != 0)
				endpoint_of_another_application();

			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)))
				old_id = id;
			else
				new_id = id;
		}
		if (same && (SPI_processed >= 2 || seen[SPI_processed] == 0))
			break;
		CHECK_FOR_INTERRUPTS();
	}
	if (old_id == 0)
		return 0;
	if (new_id != 0 && new_id != old_id)
	{
		ids[0] = Int64GetDatum(old_id);
		ids[1] = Int64GetDatum(new_id);
		/*
		 * One browser gets a message once.  A waiting delivery of either row
		 * goes, to the history as cancelled, when the other row's delivery of
		 * the message was delivered, is being sent, or waits too (then the
		 * newer row's goes: the older one keeps its id).  What is being sent
		 * stays: when it fails at an endpoint its subscription no longer has,
		 * the worker sends it again to the current one.  The newer row's
		 * other waiting deliveries move to the older one.
		 */
		if (SPI_execute_with_args("WITH d AS (DELETE FROM webpush.deliveries d"
								  "  WHERE d.subscription_id IN ($1, $2) AND d.claimed_by IS NULL"
								  "  AND (EXISTS (SELECT FROM webpush.deliveries o"
								  "    WHERE o.message_id = d.message_id AND o.subscription_id IN ($1, $2)"
								  "    AND o.subscription_id <> d.subscription_id"
								  "    AND (d.subscription_id = $2 OR o.claimed_by IS NOT NULL))"
								  "   OR EXISTS (SELECT FROM webpush.history h"
								  "    WHERE h.message_id = d.message_id AND h.subscription_id IN ($1, $2)"
								  "    AND h.outcome = 'delivered'))"
								  "  RETURNING d.message_id, d.subscription_id, d.attempts) "
								  "INSERT INTO webpush.history (message_id, subscription_id, endpoint,"
								  " outcome, attempts, reason, created_at, application, user_id) "
								  "SELECT m.id, d.subscription_id, COALESCE(s.endpoint, ''), 'cancelled',"
								  " COALESCE(d.attempts, 0), 'the browser subscribed again: subscription '"
								  "  || CASE WHEN d.subscription_id = $1 THEN $2 ELSE $1 END"
								  "  || ' of the same browser gets it',"
								  " m.created_at, m.application, s.user_id"
								  " FROM d JOIN webpush.messages m ON m.id = d.message_id"
								  " LEFT JOIN webpush.subscriptions s ON s.id = d.subscription_id",
								  2, pair_types, ids, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "webpush: could not merge the subscriptions");
		if (SPI_processed > 0)
		{
			CountedEvent e;

			memset(&e, 0, sizeof(e));
			e.application = TextDatumGetCString(values[5]);
			e.outcome = COUNT_CANCELLED;
			e.count = SPI_processed;
			counters_count(&e);
			counters_queue_changed_at_commit();
		}
		if (SPI_execute_with_args("UPDATE webpush.deliveries SET subscription_id = $1"
								  " WHERE subscription_id = $2 AND claimed_by IS NULL",
								  2, pair_types, ids, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("DELETE FROM webpush.subscriptions WHERE id = $2",
								  2, pair_types, ids, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "webpush: could not merge the subscriptions");
	}

	/*
	 * A browser that subscribes the new endpoint while this runs stores a
	 * row that the statements above could not see: the endpoint's unique
	 * index makes the update wait for it, and then refuse.  Once that row
	 * is committed, the steps above find it and merge it, as if it had come
	 * first.  A transaction whose snapshot cannot see it would not: it is
	 * told to try again.
	 */
	memcpy(update.values, values, sizeof(Datum) * 7);
	memcpy(update.nulls, nulls, 7);
	update.values[7] = Int64GetDatum(old_id);
	update.nulls[7] = ' ';
	error = spi_in_subtransaction(move_update, &update);
	if (error != NULL)
	{
		if (error->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			ReThrowError(error);
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent subscribe of the new endpoint"),
					 errdetail("The push subscription's endpoint was stored by a transaction that committed after this one began."),
					 errhint("Retry the transaction.")));
		FreeErrorData(error);
		CHECK_FOR_INTERRUPTS();
		goto again;
	}
	return old_id;
}

/*
 * The time zone a browser sent with its subscription, if any; one it did
 * not send leaves what was set (by an earlier subscribe, or
 * webpush_time_zone).  Inside the caller's SPI connection.
 */
static void
set_time_zone(int64 id, const char *time_zone)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	if (time_zone[0] == '\0')
		return;
	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(time_zone);
	if (SPI_execute_with_args("UPDATE webpush.subscriptions SET time_zone = $2"
							  " WHERE id = $1 AND time_zone IS DISTINCT FROM $2",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not store the subscription's time zone");
}

int64
store_upsert_subscription(const Subscription *sub, text *user_id,
						  const char *app, int64 key_id, text *old_endpoint)
{
	Oid			types[7] = {TEXTOID, BYTEAOID, BYTEAOID, TEXTOID, TIMESTAMPTZOID,
	TEXTOID, INT8OID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		id;

	values[0] = CStringGetTextDatum(sub->endpoint);
	values[1] = PointerGetDatum(bytes_to_bytea(sub->p256dh, P256_PUBLIC_LEN));
	values[2] = PointerGetDatum(bytes_to_bytea(sub->auth, ECE_AUTH_LEN));
	values[3] = PointerGetDatum(user_id);
	if (user_id == NULL)
		nulls[3] = 'n';
	values[4] = TimestampTzGetDatum(sub->expiration);
	if (!sub->has_expiration)
		nulls[4] = 'n';
	values[5] = CStringGetTextDatum(app);
	values[6] = Int64GetDatum(key_id);

	/*
	 * A browser that subscribes again under the same endpoint may bring new
	 * keys, or a new VAPID key.  What waits for it is encrypted and signed
	 * when it is sent, with what the subscription holds then, so nothing
	 * queued needs changing.
	 */
	spi_connect_or_error();
	if (old_endpoint != NULL)
	{
		id = move_subscription(old_endpoint, values, nulls);
		if (id != 0)
		{
			set_time_zone(id, sub->time_zone);
			SPI_finish();
			return id;
		}
	}
	if (SPI_execute_with_args("INSERT INTO webpush.subscriptions "
							  " (endpoint, p256dh, auth, user_id, expiration_time, application, key_id) "
							  " VALUES ($1, $2, $3, $4, $5, $6, $7) "
							  " ON CONFLICT (endpoint) DO UPDATE SET "
							  " p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, "
							  " user_id = EXCLUDED.user_id, "
							  " expiration_time = EXCLUDED.expiration_time, "
							  " application = EXCLUDED.application, key_id = EXCLUDED.key_id, "
							  " updated_at = pg_catalog.now() "
							  " WHERE webpush.subscriptions.application = EXCLUDED.application"
							  " RETURNING id",
							  7, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "webpush: could not store the subscription");
	/* The endpoint is another application's: that row stays as it is. */
	if (SPI_processed != 1)
		endpoint_of_another_application();
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	set_time_zone(id, sub->time_zone);
	SPI_finish();
	return id;
}

int64
store_set_user_time_zone(text *user_id, const char *app, const char *time_zone)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3] = {PointerGetDatum(user_id), CStringGetTextDatum(app),
	time_zone ? CStringGetTextDatum(time_zone) : (Datum) 0};
	char		nulls[3] = {' ', ' ', time_zone ? ' ' : 'n'};
	int64		n;

	spi_connect_or_error();
	if (SPI_execute_with_args("UPDATE webpush.subscriptions SET time_zone = $3"
							  " WHERE user_id = $1 AND application = $2",
							  3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not set the subscriptions' time zone");
	n = (int64) SPI_processed;
	SPI_finish();
	return n;
}

bool
store_delete_subscription_by_endpoint(text *endpoint, char **app)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {PointerGetDatum(endpoint)};
	MemoryContext caller = CurrentMemoryContext;
	bool		found;

	spi_connect_or_error();
	/* Only a subscription of an application the caller may use. */
	if (SPI_execute_with_args("DELETE FROM webpush.subscriptions WHERE endpoint = $1"
							  " AND webpush.may_use(application) RETURNING application",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "webpush: could not delete the subscription");
	found = SPI_processed > 0;
	*app = found ? MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1)) : NULL;
	SPI_finish();
	return found;
}

bool
store_delete_gone_subscription(int64 id, const char *endpoint, int32 status)
{
	Oid			types[3] = {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	Datum		one_id = Int64GetDatum(id);
	Datum		one_status = Int32GetDatum(status);
	Datum		one_endpoint = CStringGetTextDatum(endpoint);
	bool		found;

	values[0] = PointerGetDatum(datum_array(&one_id, 1, INT8OID));
	values[1] = PointerGetDatum(datum_array(&one_status, 1, INT4OID));
	values[2] = PointerGetDatum(construct_array(&one_endpoint, 1, TEXTOID, -1, false, TYPALIGN_INT));
	spi_connect_or_error();
	if (SPI_execute_with_args(STORE_DELETE_GONE_SQL, 3, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not delete the subscription");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

int64
store_delete_user_subscriptions(text *user_id, const char *app)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {PointerGetDatum(user_id), CStringGetTextDatum(app)};
	int64		n;

	spi_connect_or_error();
	if (SPI_execute_with_args("DELETE FROM webpush.subscriptions WHERE user_id = $1 AND application = $2",
							  2, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not delete the subscriptions");
	n = (int64) SPI_processed;
	SPI_finish();
	return n;
}

bool
store_load_subscription(int64 id, Subscription *out)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	bool		found = false;
	bool		isnull;

	memset(out, 0, sizeof(*out));
	spi_connect_or_error();
	if (SPI_execute_with_args("SELECT endpoint, p256dh, auth, key_id, application FROM webpush.subscriptions "
							  "WHERE id = $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read the subscription");
	if (SPI_processed == 1)
	{
		char	   *endpoint = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (!spi_get_bytes(0, 2, out->p256dh, P256_PUBLIC_LEN) ||
			!spi_get_bytes(0, 3, out->auth, ECE_AUTH_LEN))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("subscription %lld has malformed keys", (long long) id)));
		/* SPI_palloc: the endpoint must outlive SPI_finish. */
		out->endpoint = SPI_palloc(strlen(endpoint) + 1);
		strcpy(out->endpoint, endpoint);
		out->id = id;
		out->key_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
		out->application = SPI_palloc(APP_NAME_MAX_LEN + 1);
		strlcpy(out->application, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5),
				APP_NAME_MAX_LEN + 1);
		found = true;
	}
	SPI_finish();
	return found;
}
