/*
 * drop_guard.c
 *		The event trigger that warns before DROP EXTENSION webpush deletes
 *		the VAPID keys and every subscription.
 *
 * Browsers bind each subscription to the VAPID public key, so a new key
 * after CREATE EXTENSION cannot reach any of them.  The warning gives the
 * numbers and the way to keep the keys (webpush_keys_export) while they
 * still exist: the trigger fires at ddl_command_start, before the drop.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "support/spi_util.h"

PG_FUNCTION_INFO_V1(webpush_drop_guard);

static bool
drops_webpush(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "webpush") == 0)
			return true;
	return false;
}

Datum
webpush_drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	int64		counts[3] = {0, 0, 0};
	bool		isnull;
	int			i;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webpush_drop_guard() is an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!drops_webpush(trigdata->parsetree))
		PG_RETURN_VOID();

	spi_connect_or_error();
	if (SPI_execute("SELECT (SELECT pg_catalog.count(*) FROM webpush.subscriptions),"
					" (SELECT pg_catalog.count(*) FROM webpush.vapid_keys),"
					" (SELECT pg_catalog.count(*) FROM webpush.deliveries)"
					" OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM webpush.intake)",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		for (i = 0; i < 3; i++)
			counts[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, i + 1, &isnull));
	SPI_finish();

	if (counts[0] > 0 || counts[1] > 0 || counts[2] > 0)
		ereport(WARNING,
				(errmsg("dropping extension webpush deletes %lld subscriptions, %lld VAPID keys and %lld deliveries still to send",
						(long long) counts[0], (long long) counts[1], (long long) counts[2]),
				 errdetail("Browsers accept notifications only when signed with the key they subscribed with; a new key after CREATE EXTENSION reaches none of them."),
				 IsTransactionBlock() ?
				 errhint("Roll back, export the keys with SELECT * FROM webpush_keys_export('default') (and for each other application), and after CREATE EXTENSION restore them with webpush_keys_import().") :
				 errhint("Outside a transaction block the drop commits at once: only a backup restores the keys now.  Next time, export them first with SELECT * FROM webpush_keys_export('default') (and for each other application), or drop inside BEGIN ... COMMIT, which can still roll back.")));
	PG_RETURN_VOID();
}
