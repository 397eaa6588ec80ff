/*
 * store.c
 *		The extension's tables through SPI: the VAPID key pair and the
 *		subscriptions.
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

bool
store_load_keys(uint8 private_key[P256_PRIVATE_LEN], uint8 public_key[P256_PUBLIC_LEN])
{
	bool		found = false;

	spi_connect_or_error();
	/* Not read-only: a key pair stored earlier in this statement must show. */
	if (SPI_execute("SELECT private_key, public_key FROM webpush.vapid_keys",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.vapid_keys");
	if (SPI_processed == 1)
	{
		if (!spi_get_bytes(0, 1, private_key, P256_PRIVATE_LEN) ||
			!spi_get_bytes(0, 2, public_key, P256_PUBLIC_LEN))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the stored VAPID key pair is malformed")));
		found = true;
	}
	SPI_finish();
	return found;
}

void
store_get_or_create_keys(uint8 public_key[P256_PUBLIC_LEN])
{
	uint8		private_key[P256_PRIVATE_LEN];
	EVP_PKEY   *pair;
	Oid			types[2] = {BYTEAOID, BYTEAOID};
	Datum		values[2];

	if (store_load_keys(private_key, public_key))
	{
		explicit_bzero(private_key, sizeof(private_key));
		return;
	}

	pair = p256_generate();
	if (pair == NULL ||
		p256_export_private(pair, private_key) != 0 ||
		p256_export_public(pair, public_key) != 0)
	{
		EVP_PKEY_free(pair);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a VAPID key pair")));
	}
	EVP_PKEY_free(pair);

	/* Two sessions may race to create the pair: the first one wins. */
	values[0] = PointerGetDatum(bytes_to_bytea(private_key, P256_PRIVATE_LEN));
	values[1] = PointerGetDatum(bytes_to_bytea(public_key, P256_PUBLIC_LEN));
	explicit_bzero(private_key, sizeof(private_key));
	spi_connect_or_error();
	if (SPI_execute_with_args("INSERT INTO webpush.vapid_keys (private_key, public_key) "
							  "VALUES ($1, $2) ON CONFLICT DO NOTHING",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "webpush: could not store the VAPID key pair");
	explicit_bzero(VARDATA(DatumGetPointer(values[0])), P256_PRIVATE_LEN);
	SPI_finish();

	if (!store_load_keys(private_key, public_key))
		elog(ERROR, "webpush: the VAPID key pair vanished after it was stored");
	explicit_bzero(private_key, sizeof(private_key));
}

int64
store_replace_keys(const uint8 private_key[P256_PRIVATE_LEN],
				   const uint8 public_key[P256_PUBLIC_LEN])
{
	Oid			types[2] = {BYTEAOID, BYTEAOID};
	Datum		values[2];
	bool		isnull;
	int64		count;

	values[0] = PointerGetDatum(bytes_to_bytea(private_key, P256_PRIVATE_LEN));
	values[1] = PointerGetDatum(bytes_to_bytea(public_key, P256_PUBLIC_LEN));
	spi_connect_or_error();
	if (SPI_execute_with_args("INSERT INTO webpush.vapid_keys (private_key, public_key) "
							  "VALUES ($1, $2) ON CONFLICT (singleton) DO UPDATE "
							  "SET private_key = EXCLUDED.private_key, "
							  "public_key = EXCLUDED.public_key, created_at = pg_catalog.now()",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "webpush: could not store the VAPID key pair");
	explicit_bzero(VARDATA(DatumGetPointer(values[0])), P256_PRIVATE_LEN);
	if (SPI_execute("SELECT count(*) FROM webpush.subscriptions", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not count subscriptions");
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return count;
}

int64
store_upsert_subscription(const Subscription *sub, text *user_id)
{
	Oid			types[5] = {TEXTOID, BYTEAOID, BYTEAOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
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

	/*
	 * A browser that subscribes again under the same endpoint may bring new
	 * keys; what is still waiting in the queue for it is encrypted when sent,
	 * so it takes the new keys too, or the browser could not read it.
	 * Messages already in flight keep theirs.
	 */
	spi_connect_or_error();
	if (SPI_execute_with_args("WITH s AS ("
							  " INSERT INTO webpush.subscriptions "
							  " (endpoint, p256dh, auth, user_id, expiration_time) "
							  " VALUES ($1, $2, $3, $4, $5) "
							  " ON CONFLICT (endpoint) DO UPDATE SET "
							  " p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, "
							  " user_id = EXCLUDED.user_id, "
							  " expiration_time = EXCLUDED.expiration_time, "
							  " updated_at = pg_catalog.now() "
							  " RETURNING id),"
							  " rekeyed AS ("
							  " UPDATE webpush.queue q SET p256dh = $2, auth = $3 FROM s"
							  " WHERE q.subscription_id = s.id AND q.state = 'queued'"
							  " AND (q.p256dh <> $2 OR q.auth <> $3)) "
							  "SELECT id FROM s",
							  5, types, values, nulls, false, 1) != SPI_OK_SELECT ||
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

	memset(out, 0, sizeof(*out));
	spi_connect_or_error();
	if (SPI_execute_with_args("SELECT endpoint, p256dh, auth FROM webpush.subscriptions "
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
		found = true;
	}
	SPI_finish();
	return found;
}
