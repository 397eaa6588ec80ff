/*
 * applications.c
 *		Applications and their VAPID keys, through SPI.
 *
 * Callers are SECURITY DEFINER functions or the worker, so every statement
 * names its schema, and functions come from pg_catalog.
 */
#include "postgres.h"

#include <string.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "queue/applications.h"
#include "support/spi_util.h"
#include "settings.h"

/* Applications this backend has seen with a subject: never unset again. */
static List *apps_with_subject = NIL;

/*
 * Those whose row this transaction wrote (webpush_application, or the
 * "default" made by a first send): kept at COMMIT, forgotten at any
 * rollback, which may undo the row.
 */
static List *apps_with_subject_tentative = NIL;
static bool subject_callbacks = false;

static void
subject_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			{
				/* list_concat may copy: the cells too in TopMemoryContext. */
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				apps_with_subject = list_concat(apps_with_subject, apps_with_subject_tentative);
				MemoryContextSwitchTo(old);
				list_free(apps_with_subject_tentative);
				apps_with_subject_tentative = NIL;
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			list_free_deep(apps_with_subject_tentative);
			apps_with_subject_tentative = NIL;
			break;
		default:
			break;
	}
}

static void
subject_subxact_callback(SubXactEvent event, SubTransactionId sub, SubTransactionId parent,
						 void *arg)
{
	/* Which subtransaction wrote a row is not kept: all are looked up again. */
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		list_free_deep(apps_with_subject_tentative);
		apps_with_subject_tentative = NIL;
	}
}

char *
app_name_arg(text *name)
{
	char	   *s = text_to_cstring(name);
	size_t		len = strlen(s);
	bool		ok = len >= 1 && len <= APP_NAME_MAX_LEN;
	size_t		i;

	for (i = 0; ok && i < len; i++)
	{
		char		c = s[i];

		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			(i > 0 && (c == '_' || c == '.' || c == '-'));
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid application name \"%s\"", s),
				 errdetail("An application name is 1 to %d lower-case letters, digits, \"_\", \".\" and \"-\", starting with a letter or digit.",
						   APP_NAME_MAX_LEN)));
	return s;
}

static void
unknown_application(const char *app)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("webpush application \"%s\" does not exist", app),
			 errhint("Create it with: SELECT webpush_application('%s', 'mailto:admin@example.com');", app)));
}

/* Copy a bytea column of row 0 into out, checking its length. */
static void
get_key_bytes(int row, int col, uint8 *out, size_t len)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
	bytea	   *b;

	if (isnull || VARSIZE_ANY_EXHDR((b = DatumGetByteaPP(d))) != len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a stored VAPID key is malformed")));
	memcpy(out, VARDATA_ANY(b), len);
}

/* A fresh random key pair. */
static void
generate_pair(uint8 private_key[P256_PRIVATE_LEN], uint8 public_key[P256_PUBLIC_LEN])
{
	EVP_PKEY   *pair = p256_generate();

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
}

/*
 * Insert a key pair for app; as its current key when the application has
 * none, or when make_current (the caller holds the application's row lock).
 * Returns the new key's id, or 0 when another session made the current key
 * first.
 */
static int64
insert_key(const char *app, const uint8 private_key[P256_PRIVATE_LEN],
		   const uint8 public_key[P256_PUBLIC_LEN], bool make_current)
{
	Oid			types[3] = {TEXTOID, BYTEAOID, BYTEAOID};
	Datum		values[3];
	bool		isnull;
	int64		id = 0;
	int			rc;

	values[0] = CStringGetTextDatum(app);
	values[1] = PointerGetDatum(bytes_to_bytea(private_key, P256_PRIVATE_LEN));
	values[2] = PointerGetDatum(bytes_to_bytea(public_key, P256_PUBLIC_LEN));
	if (make_current)
	{
		Datum		a[1] = {values[0]};

		if (SPI_execute_with_args("UPDATE webpush.vapid_keys SET current = false "
								  "WHERE application = $1 AND current",
								  1, types, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "webpush: could not update webpush.vapid_keys");
	}
	rc = SPI_execute_with_args("INSERT INTO webpush.vapid_keys "
							   "(application, private_key, public_key, current) "
							   "VALUES ($1, $2, $3, true) "
							   "ON CONFLICT (application) WHERE current DO NOTHING RETURNING id",
							   3, types, values, NULL, false, 0);
	explicit_bzero(VARDATA(DatumGetPointer(values[1])), P256_PRIVATE_LEN);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "webpush: could not store the VAPID key pair");
	if (SPI_processed == 1)
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return id;
}

/* The current key of app inside an SPI connection; 0 when it has none. */
static int64
current_key_spi(const char *app, uint8 public_key[P256_PUBLIC_LEN])
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(app)};
	bool		isnull;

	/* Not read-only: a key stored earlier in this statement must show. */
	if (SPI_execute_with_args("SELECT id, public_key FROM webpush.vapid_keys "
							  "WHERE application = $1 AND current",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.vapid_keys");
	if (SPI_processed == 0)
		return 0;
	get_key_bytes(0, 2, public_key, P256_PUBLIC_LEN);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static bool
application_exists_spi(const char *app)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(app)};

	if (SPI_execute_with_args("SELECT FROM webpush.applications WHERE name = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.applications");
	return SPI_processed == 1;
}

/*
 * "default", with webpush.subject as its contact when that is set; true
 * when it was created now.
 */
static bool
create_default_spi(void)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1] = {' '};

	if (webpush_subject != NULL && webpush_subject[0] != '\0')
		values[0] = CStringGetTextDatum(webpush_subject);
	else
		nulls[0] = 'n';
	if (SPI_execute_with_args("INSERT INTO webpush.applications (name, subject) "
							  "VALUES ('" APP_DEFAULT_NAME "', $1) ON CONFLICT DO NOTHING",
							  1, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "webpush: could not create the default application");
	if (SPI_processed == 0)
		return false;

	/*
	 * A single site names no application and grants none: "default" is
	 * webpush_sender's from the start.
	 */
	if (SPI_execute("INSERT INTO webpush.application_roles (application, role) "
					"SELECT '" APP_DEFAULT_NAME "', oid::pg_catalog.regrole FROM pg_catalog.pg_roles "
					"WHERE rolname OPERATOR(pg_catalog.=) 'webpush_sender' ON CONFLICT DO NOTHING",
					false, 0) != SPI_OK_INSERT)
		elog(ERROR, "webpush: could not grant the default application");
	return true;
}

bool
app_ensure_default(void)
{
	bool		created;

	spi_connect_or_error();
	created = create_default_spi();
	SPI_finish();
	return created;
}

/* The current key of an existing application, made when it has none. */
static int64
ensure_current_key_spi(const char *app, uint8 public_key[P256_PUBLIC_LEN])
{
	int64		id = current_key_spi(app, public_key);

	if (id == 0)
	{
		uint8		private_key[P256_PRIVATE_LEN];

		generate_pair(private_key, public_key);
		/* Two sessions may race to make the first key: the first one wins. */
		(void) insert_key(app, private_key, public_key, false);
		explicit_bzero(private_key, sizeof(private_key));
		id = current_key_spi(app, public_key);
		if (id == 0)
			elog(ERROR, "webpush: the VAPID key pair vanished after it was stored");
	}
	return id;
}

int64
app_existing_key(const char *app, uint8 public_key[P256_PUBLIC_LEN])
{
	int64		id;

	spi_connect_or_error();
	id = current_key_spi(app, public_key);
	SPI_finish();
	return id;
}

int64
app_current_key(const char *app, uint8 public_key[P256_PUBLIC_LEN])
{
	int64		id;

	spi_connect_or_error();
	id = current_key_spi(app, public_key);
	if (id == 0)
	{
		if (strcmp(app, APP_DEFAULT_NAME) == 0)
			(void) create_default_spi();
		else if (!application_exists_spi(app))
			unknown_application(app);
		id = ensure_current_key_spi(app, public_key);
	}
	SPI_finish();
	return id;
}

bool
app_subject_known(const char *app)
{
	ListCell   *lc;

	foreach(lc, apps_with_subject)
		if (strcmp(lfirst(lc), app) == 0)
			return true;
	foreach(lc, apps_with_subject_tentative)
		if (strcmp(lfirst(lc), app) == 0)
			return true;
	return false;
}

void
app_require_subject(const char *app)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	bool		found;
	bool		stored;
	bool		isnull;

	if (app_subject_known(app))
		return;

	/*
	 * One statement: "default" is made if missing, and takes webpush.subject
	 * if it has no subject yet; then the subject is the application's.
	 */
	values[0] = CStringGetTextDatum(app);
	if (webpush_subject != NULL && webpush_subject[0] != '\0')
		values[1] = CStringGetTextDatum(webpush_subject);
	else
		nulls[1] = 'n';
	spi_connect_or_error();
	if (strcmp(app, APP_DEFAULT_NAME) == 0)
	{
		(void) create_default_spi();
		if (SPI_execute_with_args("UPDATE webpush.applications SET subject = $2 "
								  "WHERE name = $1 AND subject IS NULL AND $2 IS NOT NULL",
								  2, types, values, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "webpush: could not update webpush.applications");
	}
	if (SPI_execute_with_args("SELECT subject IS NOT NULL, xmin FROM webpush.applications WHERE name = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.applications");
	found = SPI_processed == 1;
	stored = found && DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/*
	 * A row this transaction wrote (this call, or an earlier statement such
	 * as webpush_application) is remembered only until a rollback: past
	 * one, a trigger's send to an application that no longer exists would
	 * go into webpush.intake without an error.
	 */
	if (stored)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 2, &isnull));

		if (!subject_callbacks)
		{
			RegisterXactCallback(subject_xact_callback, NULL);
			RegisterSubXactCallback(subject_subxact_callback, NULL);
			subject_callbacks = true;
		}
		if (TransactionIdIsCurrentTransactionId(xmin))
			apps_with_subject_tentative = lappend(apps_with_subject_tentative, pstrdup(app));
		else
			apps_with_subject = lappend(apps_with_subject, pstrdup(app));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	if (!found)
		unknown_application(app);
	if (!stored)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webpush.subject is not set"),
				 errdetail("Push services require a contact for the application server in every VAPID token; application \"%s\" has none (a value of webpush.subject that the server refused, with a WARNING in its log, leaves it unset).", app),
				 errhint("Set it, for example: ALTER SYSTEM SET webpush.subject = 'mailto:admin@example.com'; SELECT pg_reload_conf(); or SELECT webpush_application('%s', 'mailto:admin@example.com');", app)));
}

void
app_upsert(const char *app, const char *subject, uint8 public_key[P256_PUBLIC_LEN])
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(app), CStringGetTextDatum(subject)};

	spi_connect_or_error();
	if (SPI_execute_with_args("INSERT INTO webpush.applications (name, subject) VALUES ($1, $2) "
							  "ON CONFLICT (name) DO UPDATE SET subject = EXCLUDED.subject",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "webpush: could not store the application");
	(void) ensure_current_key_spi(app, public_key);
	SPI_finish();
}

void
app_set_time_zone(const char *app, const char *time_zone)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(app), CStringGetTextDatum(time_zone)};

	spi_connect_or_error();
	if (SPI_execute_with_args("UPDATE webpush.applications SET time_zone = $2 WHERE name = $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not update webpush.applications");
	SPI_finish();
}

void
app_set_quiet_hours(const char *app, bool none, TimeADT start, TimeADT end)
{
	Oid			types[3] = {TEXTOID, TIMEOID, TIMEOID};
	Datum		values[3] = {CStringGetTextDatum(app), TimeADTGetDatum(start), TimeADTGetDatum(end)};
	char		nulls[3] = {' ', none ? 'n' : ' ', none ? 'n' : ' '};

	spi_connect_or_error();
	if (SPI_execute_with_args("UPDATE webpush.applications SET quiet_start = $2, quiet_end = $3"
							  " WHERE name = $1",
							  3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not update webpush.applications");
	SPI_finish();
}

void
app_set_rate(const char *app, double per_second, int32 burst)
{
	Oid			types[3] = {TEXTOID, FLOAT8OID, INT4OID};
	Datum		values[3] = {CStringGetTextDatum(app), Float8GetDatum(per_second), Int32GetDatum(burst)};
	char		nulls[3] = {' ', per_second > 0 ? ' ' : 'n', per_second > 0 ? ' ' : 'n'};

	spi_connect_or_error();
	if (SPI_execute_with_args("UPDATE webpush.applications SET rate_per_second = $2, rate_burst = $3"
							  " WHERE name = $1",
							  3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not update webpush.applications");
	SPI_finish();
}

void
app_set_frequency_cap(const char *app, int32 max_messages, const Interval *per,
					  const char *over_cap)
{
	Oid			types[4] = {TEXTOID, INT4OID, INTERVALOID, TEXTOID};
	Datum		values[4] = {CStringGetTextDatum(app), Int32GetDatum(max_messages),
	IntervalPGetDatum(per), over_cap ? CStringGetTextDatum(over_cap) : (Datum) 0};
	char		nulls[4] = {' ', per ? ' ' : 'n', per ? ' ' : 'n', per ? ' ' : 'n'};

	spi_connect_or_error();
	if (SPI_execute_with_args("UPDATE webpush.applications SET frequency_cap = $2,"
							  " frequency_window = $3, over_cap = $4 WHERE name = $1",
							  4, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "webpush: could not update webpush.applications");
	SPI_finish();
}

int64
app_find_key(const uint8 public_key[P256_PUBLIC_LEN], char *app)
{
	Oid			types[1] = {BYTEAOID};
	Datum		values[1] = {PointerGetDatum(bytes_to_bytea(public_key, P256_PUBLIC_LEN))};
	bool		isnull;
	int64		id = 0;

	spi_connect_or_error();
	if (SPI_execute_with_args("SELECT id, application FROM webpush.vapid_keys WHERE public_key = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.vapid_keys");
	if (SPI_processed == 1)
	{
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		strlcpy(app, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
				APP_NAME_MAX_LEN + 1);
	}
	SPI_finish();
	return id;
}

/* Lock the application's row (rotations queue behind each other). */
static void
lock_application_spi(const char *app)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(app)};

	if (strcmp(app, APP_DEFAULT_NAME) == 0)
		(void) create_default_spi();
	if (SPI_execute_with_args("SELECT FROM webpush.applications WHERE name = $1 FOR UPDATE",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		unknown_application(app);
}

int64
app_rotate(const char *app, const uint8 *private_key, uint8 public_key[P256_PUBLIC_LEN])
{
	uint8		generated[P256_PRIVATE_LEN];
	Oid			types[2] = {BYTEAOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	int64		staying;

	spi_connect_or_error();
	lock_application_spi(app);
	if (private_key == NULL)
	{
		generate_pair(generated, public_key);
		private_key = generated;
	}

	/* A key imported again: the application's, current again; else refused. */
	values[0] = PointerGetDatum(bytes_to_bytea(public_key, P256_PUBLIC_LEN));
	values[1] = CStringGetTextDatum(app);
	if (SPI_execute_with_args("SELECT application FROM webpush.vapid_keys WHERE public_key = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.vapid_keys");
	if (SPI_processed == 1)
	{
		char	   *owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (strcmp(owner, app) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("this VAPID key belongs to application \"%s\"", owner),
					 errhidestmt(true),
					 errdetail("Each key signs for one application only.")));
		/* In two steps: the unique index on the current key is not deferred. */
		if (SPI_execute_with_args("UPDATE webpush.vapid_keys SET current = false "
								  "WHERE application = $2 AND current AND public_key <> $1",
								  2, types, values, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("UPDATE webpush.vapid_keys SET current = true "
								  "WHERE public_key = $1 AND NOT current",
								  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "webpush: could not update webpush.vapid_keys");
	}
	else if (insert_key(app, private_key, public_key, true) == 0)
		elog(ERROR, "webpush: could not make the new VAPID key current");
	explicit_bzero(generated, sizeof(generated));

	if (SPI_execute_with_args("SELECT pg_catalog.count(*) FROM webpush.subscriptions s "
							  "JOIN webpush.vapid_keys k ON k.id = s.key_id "
							  "WHERE s.application = $2 AND NOT k.current",
							  2, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not count subscriptions");
	staying = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return staying;
}

int64
app_retire_key(const uint8 public_key[P256_PUBLIC_LEN], bool drop_subscriptions)
{
	Oid			types[1] = {BYTEAOID};
	Datum		values[1] = {PointerGetDatum(bytes_to_bytea(public_key, P256_PUBLIC_LEN))};
	bool		isnull;
	bool		current;
	int64		key_id;
	int64		using;
	char	   *app;

	spi_connect_or_error();
	if (SPI_execute_with_args("SELECT k.id, k.current, k.application "
							  "FROM webpush.vapid_keys k WHERE k.public_key = $1 FOR UPDATE OF k",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.vapid_keys");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no webpush application has this VAPID key"),
				 errhint("SELECT * FROM webpush.keys lists the keys.")));
	key_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	current = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	app = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

	/*
	 * Counted once the key is locked, in a statement of its own: a browser
	 * subscribing with the key holds it (its foreign key check) until it
	 * commits, and the lock above waited for that, but a count in the same
	 * statement would have read the subscriptions as they were before the
	 * wait, and the DELETE below would then remove the new subscription
	 * that it did not count.  From here on a new subscription waits for
	 * this transaction, and then fails.
	 */
	{
		Oid			t[1] = {INT8OID};
		Datum		v[1] = {Int64GetDatum(key_id)};

		if (SPI_execute_with_args("SELECT pg_catalog.count(*) FROM webpush.subscriptions WHERE key_id = $1",
								  1, t, v, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "webpush: could not count subscriptions");
		using = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (current)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("this is the current VAPID key of application \"%s\"", app),
				 errhint("Rotate first: SELECT webpush_keys_rotate('%s');", app)));
	if (using > 0 && !drop_subscriptions)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("%lld subscriptions of application \"%s\" still use this VAPID key",
						(long long) using, app),
				 errdetail("Push services accept sends to them only when signed with it."),
				 errhint("Wait until their browsers have subscribed again with the current key, or pass drop_subscriptions => true to delete them with the key.")));
	{
		Oid			t[1] = {INT8OID};
		Datum		v[1] = {Int64GetDatum(key_id)};

		if (SPI_execute_with_args("DELETE FROM webpush.subscriptions WHERE key_id = $1",
								  1, t, v, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "webpush: could not delete subscriptions");
		using = (int64) SPI_processed;
		if (SPI_execute_with_args("DELETE FROM webpush.vapid_keys WHERE id = $1",
								  1, t, v, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "webpush: could not delete the VAPID key");
	}
	SPI_finish();
	return using;
}

int
app_key_pairs(const char *app, AppKeyPair **out)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(app)};
	MemoryContext caller = CurrentMemoryContext;
	AppKeyPair *pairs;
	int			n;
	int			i;

	spi_connect_or_error();
	if (SPI_execute_with_args("SELECT private_key, public_key, current, created_at "
							  "FROM webpush.vapid_keys WHERE application = $1 "
							  "ORDER BY current, created_at, id",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.vapid_keys");
	n = (int) SPI_processed;
	if (n == 0 && !application_exists_spi(app))
		unknown_application(app);
	pairs = MemoryContextAllocZero(caller, sizeof(AppKeyPair) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		get_key_bytes(i, 1, pairs[i].private_key, P256_PRIVATE_LEN);
		get_key_bytes(i, 2, pairs[i].public_key, P256_PUBLIC_LEN);
		pairs[i].current = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
		pairs[i].created_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull));
	}
	SPI_finish();
	*out = pairs;
	return n;
}

bool
app_signing_key(int64 key_id, uint8 private_key[P256_PRIVATE_LEN], char **subject)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	MemoryContext caller = CurrentMemoryContext;
	bool		found = false;

	values[0] = Int64GetDatum(key_id);
	if (webpush_subject != NULL && webpush_subject[0] != '\0')
		values[1] = CStringGetTextDatum(webpush_subject);
	else
		nulls[1] = 'n';

	*subject = NULL;
	spi_connect_or_error();
	if (plan == NULL)
	{
		/*
		 * "default" without a subject takes this process's webpush.subject,
		 * as it would at its first send; stored, so that every process reads
		 * the same one afterwards.
		 */
		plan = SPI_prepare("WITH k AS ("
						   " SELECT k.private_key, a.name, a.subject FROM webpush.vapid_keys k"
						   " JOIN webpush.applications a ON a.name = k.application WHERE k.id = $1),"
						   " adopted AS ("
						   " UPDATE webpush.applications a SET subject = $2 FROM k"
						   " WHERE a.name = k.name AND k.name = '" APP_DEFAULT_NAME "'"
						   " AND a.subject IS NULL AND $2 IS NOT NULL RETURNING a.subject) "
						   "SELECT k.private_key, COALESCE(k.subject, (SELECT subject FROM adopted)) "
						   "FROM k",
						   2, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "webpush: could not prepare the key lookup");
	}
	if (SPI_execute_plan(plan, values, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read webpush.vapid_keys");
	if (SPI_processed == 1)
	{
		char	   *s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		get_key_bytes(0, 1, private_key, P256_PRIVATE_LEN);
		if (s != NULL)
			*subject = MemoryContextStrdup(caller, s);
		found = true;
	}
	SPI_finish();
	return found;
}
