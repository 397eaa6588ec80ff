/*
 * store.c
 *		Browser subscriptions, through SPI.
 */
#include "postgres.h"

#include <string.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "spi_util.h"
#include "store.h"

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

int64
store_upsert_subscription(const Subscription *sub, text *user_id,
						  const char *app, int64 key_id)
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
	 * keys; what is still waiting in the queue for it is encrypted when sent,
	 * so it takes the new keys too, or the browser could not read it; and
	 * the new VAPID key, or the push service would refuse it.  Messages
	 * already in flight keep theirs.
	 */
	spi_connect_or_error();
	if (SPI_execute_with_args("WITH s AS ("
							  " INSERT INTO webpush.subscriptions "
							  " (endpoint, p256dh, auth, user_id, expiration_time, application, key_id) "
							  " VALUES ($1, $2, $3, $4, $5, $6, $7) "
							  " ON CONFLICT (endpoint) DO UPDATE SET "
							  " p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, "
							  " user_id = EXCLUDED.user_id, "
							  " expiration_time = EXCLUDED.expiration_time, "
							  " application = EXCLUDED.application, key_id = EXCLUDED.key_id, "
							  " updated_at = pg_catalog.now() "
							  " RETURNING id),"
							  " rekeyed AS ("
							  " UPDATE webpush.queue q SET p256dh = $2, auth = $3, key_id = $7 FROM s"
							  " WHERE q.subscription_id = s.id AND q.state = 'queued'"
							  " AND (q.p256dh <> $2 OR q.auth <> $3 OR q.key_id <> $7)) "
							  "SELECT id FROM s",
							  7, types, values, nulls, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "webpush: could not store the subscription");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

bool
store_delete_subscription_by_endpoint(text *endpoint)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {PointerGetDatum(endpoint)};
	bool		found;

	spi_connect_or_error();
	if (SPI_execute_with_args("DELETE FROM webpush.subscriptions WHERE endpoint = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not delete the subscription");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

bool
store_delete_subscription(int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	bool		found;

	spi_connect_or_error();
	if (SPI_execute_with_args("DELETE FROM webpush.subscriptions WHERE id = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not delete the subscription");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
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
	if (SPI_execute_with_args("SELECT endpoint, p256dh, auth, key_id FROM webpush.subscriptions "
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
		found = true;
	}
	SPI_finish();
	return found;
}
