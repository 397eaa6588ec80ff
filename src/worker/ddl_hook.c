/*
 * ddl_hook.c
 *		The utility hook that keeps the workers in step with DDL: CREATE and
 *		ALTER EXTENSION webpush start a database's workers at COMMIT, DROP
 *		EXTENSION stops them, and DROP DATABASE (or a rename) first stops
 *		the workers connected to that database, which would otherwise make
 *		it fail with "being accessed by other users".
 */
#include "postgres.h"

#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"

#include "support/compat.h"
#include "shmem/counters.h"
#include "shmem/rates.h"
#include "worker/ddl_hook.h"
#include "shmem/registry.h"

static ProcessUtility_hook_type prev_utility_hook = NULL;

static bool
names_webpush(List *objects)
{
	ListCell   *lc;

	foreach(lc, objects)
		if (strcmp(strVal(lfirst(lc)), "webpush") == 0)
			return true;
	return false;
}

/* Before the command: stop the workers of a database about to go. */
static void
before_utility(Node *stmt)
{
	Oid			dboid = InvalidOid;

	if (IsA(stmt, DropdbStmt))
		dboid = get_database_oid(((DropdbStmt *) stmt)->dbname, true);
	else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		dboid = get_database_oid(((RenameStmt *) stmt)->subname, true);
	/*
	 * Only for whoever may drop or rename it: anyone else's attempt fails
	 * anyway, and must not stop delivery on the way.
	 */
	if (OidIsValid(dboid) && webpush_database_ownercheck(dboid, GetUserId()))
		wake_stop_database(dboid);
}

/* Whether stmt creates, updates or drops extension webpush. */
static bool
names_extension(Node *stmt)
{
	return (IsA(stmt, CreateExtensionStmt) &&
			strcmp(((CreateExtensionStmt *) stmt)->extname, "webpush") == 0) ||
		(IsA(stmt, AlterExtensionStmt) &&
		 strcmp(((AlterExtensionStmt *) stmt)->extname, "webpush") == 0) ||
		(IsA(stmt, DropStmt) && ((DropStmt *) stmt)->removeType == OBJECT_EXTENSION &&
		 names_webpush(((DropStmt *) stmt)->objects));
}

/*
 * After it: ask for workers at COMMIT when the extension came, went or
 * changed version.  A statement that changed nothing (CREATE ... IF NOT
 * EXISTS of one that exists, DROP ... IF EXISTS of one that does not),
 * which any role may run, starts no worker.
 */
static void
after_utility(Node *stmt, Oid extension_before)
{
	if (IsA(stmt, AlterExtensionStmt) ||
		get_extension_oid("webpush", true) != extension_before)
		wake_launcher_at_commit();
}

static void
webpush_utility(PROCESS_UTILITY_PARAMS)
{
	Node	   *stmt = pstmt->utilityStmt;
	bool		about_webpush = names_extension(stmt);
	Oid			extension_before = InvalidOid;
	Oid			dropped = InvalidOid;

	if (IsA(stmt, DropdbStmt))
		dropped = get_database_oid(((DropdbStmt *) stmt)->dbname, true);
	before_utility(stmt);
	if (about_webpush)
		extension_before = get_extension_oid("webpush", true);
	if (prev_utility_hook)
		prev_utility_hook(PROCESS_UTILITY_ARGS);
	else
		standard_ProcessUtility(PROCESS_UTILITY_ARGS);
	if (about_webpush)
		after_utility(stmt, extension_before);

	/*
	 * Its counters and rate buckets go once the database has gone (DROP DATABASE runs
	 * outside a transaction block, so returning means it happened): a drop
	 * that fails keeps them.
	 */
	if (OidIsValid(dropped) && !OidIsValid(get_database_oid(((DropdbStmt *) stmt)->dbname, true)))
	{
		counters_forget_database(dropped);
		shared_rates_forget_database(dropped);
	}
}

void
ddl_hook_install(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = webpush_utility;
}
