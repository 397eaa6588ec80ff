/*
 * app_access.c
 *		Which roles may use an application: webpush.application_roles.
 *
 * The check runs on every send, and on every row a webpush_notify trigger
 * fires for, so its answers are cached per backend.  The table is read
 * directly (it is small, and a trigger runs as whoever fires it, who may
 * not read it); a statement trigger on it invalidates its relcache entry,
 * which tells every backend to forget what it cached, and so does any
 * change of role membership.  Grants and revocations go through SPI, with
 * every operator schema-qualified.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "queue/app_access.h"
#include "queue/applications.h"
#include "support/spi_util.h"

/* The applications cached_role may use, as C strings in TopMemoryContext. */
static Oid	cached_role = InvalidOid;
static List *cached_apps = NIL;
static bool callbacks_registered = false;

void
app_access_forget(void)
{
	list_free_deep(cached_apps);
	cached_apps = NIL;
	cached_role = InvalidOid;
}

static void
forget_on_relcache(Datum arg, Oid relid)
{
	/* Any relation: the table's OID may have changed with it. */
	app_access_forget();
}

static void
forget_on_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	app_access_forget();
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(forget_on_relcache, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, forget_on_syscache, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, forget_on_syscache, (Datum) 0);
	callbacks_registered = true;
}

/*
 * The role a SQL function of the extension runs for, while it runs as the
 * extension's owner (call_for_caller); InvalidOid outside one.
 */
static Oid	calling_role = InvalidOid;

Oid
app_caller(void)
{
	return OidIsValid(calling_role) ? calling_role : GetUserId();
}

Oid
app_set_caller(Oid role)
{
	Oid			previous = calling_role;

	calling_role = role;
	return previous;
}

static int
attnum_or_error(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	elog(ERROR, "webpush: webpush.application_roles has no column \"%s\"", name);
	return 0;					/* keep the compiler quiet */
}

static Relation
open_roles_table(void)
{
	Oid			nsp = get_namespace_oid("webpush", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("application_roles", nsp) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the webpush extension's SQL definitions are older than its library"),
				 errdetail("Table webpush.application_roles does not exist."),
				 errhint("Run ALTER EXTENSION webpush UPDATE.")));
	return table_open(relid, AccessShareLock);
}

/*
 * Whether one of the application's rows names a role whose privileges role
 * has (exactly role, when exact); with owner_only, only owners' rows count.
 */
static bool
granted(const char *app, Oid role, bool owner_only, bool exact)
{
	Relation	rel = open_roles_table();
	TupleDesc	desc = RelationGetDescr(rel);
	int			app_att = attnum_or_error(desc, "application");
	int			role_att = attnum_or_error(desc, "role");
	int			owner_att = attnum_or_error(desc, "owner");
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	/* What is committed now, and this transaction's own changes. */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, app_att, desc, &isnull);
		Oid			grantee;

		if (isnull || strcmp(TextDatumGetCString(d), app) != 0)
			continue;
		if (owner_only)
		{
			d = heap_getattr(tuple, owner_att, desc, &isnull);
			if (isnull || !DatumGetBool(d))
				continue;
		}
		d = heap_getattr(tuple, role_att, desc, &isnull);
		if (isnull)
			continue;
		grantee = DatumGetObjectId(d);
		found = exact ? grantee == role : has_privs_of_role(role, grantee);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return found;
}

bool
app_may_use(const char *app, Oid role)
{
	ListCell   *lc;
	MemoryContext old;

	if (superuser_arg(role))
		return true;
	register_callbacks();
	if (role == cached_role)
		foreach(lc, cached_apps)
			if (strcmp(lfirst(lc), app) == 0)
				return true;
	if (!granted(app, role, false, false))
		return false;
	/* Only what is allowed is remembered: a grant needs no invalidation. */
	if (role != cached_role)
		app_access_forget();
	old = MemoryContextSwitchTo(TopMemoryContext);
	cached_apps = lappend(cached_apps, pstrdup(app));
	cached_role = role;
	MemoryContextSwitchTo(old);
	return true;
}

/* Whether role has the privileges of webpush_sender. */
static bool
is_sender(Oid role)
{
	Oid			sender = get_role_oid("webpush_sender", true);

	return OidIsValid(sender) && has_privs_of_role(role, sender);
}

static void
permission_denied(const char *app, Oid role, const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for webpush application \"%s\"", app),
			 errdetail("Role \"%s\" %s.", GetUserNameFromId(role, false), what),
			 errhint("%s", hint)));
}

void
app_require_use(const char *app)
{
	app_require_use_by(app, app_caller());
}

void
app_require_use_by(const char *app, Oid role)
{
	if (app_may_use(app, role))
		return;

	/*
	 * "default" is granted to webpush_sender when it is made: make it now,
	 * as its first send would, and look again.  Only for a role that has
	 * webpush_sender's privileges: anyone else would not be let in, and
	 * must not make the application again once a superuser deleted it.
	 */
	if (strcmp(app, APP_DEFAULT_NAME) == 0 && is_sender(role))
	{
		/* Made here, or by a session whose INSERT this one waited for. */
		(void) app_ensure_default();
		CommandCounterIncrement();
		if (app_may_use(app, role))
			return;
	}
	permission_denied(app, role, "has not been granted it",
					  psprintf("A superuser or an owner of the application grants it: SELECT webpush_application_grant('%s', '%s');",
							   app, GetUserNameFromId(role, false)));
}

void
app_require_owner(const char *app)
{
	Oid			role = app_caller();

	if (superuser_arg(role) || granted(app, role, true, false))
		return;
	permission_denied(app, role, "is not an owner of it",
					  "Only a superuser or an owner of the application may grant it or change its subject.");
}

bool
app_role_is_owner(const char *app, Oid role)
{
	return granted(app, role, true, true);
}

void
app_grant(const char *app, Oid role, bool owner)
{
	Oid			types[3] = {TEXTOID, OIDOID, BOOLOID};
	Datum		values[3] = {CStringGetTextDatum(app), ObjectIdGetDatum(role), BoolGetDatum(owner)};

	spi_connect_or_error();
	if (SPI_execute_with_args("INSERT INTO webpush.application_roles (application, role, owner)"
							  " SELECT a.name, $2::pg_catalog.regrole, $3 FROM webpush.applications a"
							  " WHERE a.name OPERATOR(pg_catalog.=) $1"
							  " ON CONFLICT (application, role) DO UPDATE SET owner = EXCLUDED.owner",
							  3, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "webpush: could not store the grant");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("webpush application \"%s\" does not exist", app),
				 errhint("Create it with: SELECT webpush_application('%s', 'mailto:admin@example.com');", app)));
	SPI_finish();
}

bool
app_revoke(const char *app, Oid role)
{
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2] = {CStringGetTextDatum(app), ObjectIdGetDatum(role)};
	bool		revoked;

	spi_connect_or_error();
	if (SPI_execute_with_args("DELETE FROM webpush.application_roles"
							  " WHERE application OPERATOR(pg_catalog.=) $1"
							  " AND role::pg_catalog.oid OPERATOR(pg_catalog.=) $2",
							  2, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "webpush: could not revoke the grant");
	revoked = SPI_processed > 0;
	SPI_finish();
	return revoked;
}
