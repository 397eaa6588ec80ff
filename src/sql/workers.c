/*
 * workers.c
 *		SQL function webpush_workers(): the background workers, for
 *		monitoring.
 */
#include "postgres.h"

#include "fmgr.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "support/compat.h"
#include "shmem/registry.h"

PG_FUNCTION_INFO_V1(webpush_workers_list);

#define MAX_LISTED_WORKERS 1024

Datum
webpush_workers_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WakeWorkerInfo *workers;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	workers = palloc(sizeof(WakeWorkerInfo) * MAX_LISTED_WORKERS);
	n = wake_list_workers(workers, MAX_LISTED_WORKERS);
	for (i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		char	   *dbname = get_database_name(workers[i].dboid);

		values[0] = Int32GetDatum(workers[i].index + 1);
		values[1] = dbname ? CStringGetTextDatum(dbname) : (Datum) 0;
		nulls[1] = dbname == NULL;
		values[2] = Int32GetDatum(workers[i].pid);
		nulls[2] = workers[i].pid == 0;
		values[3] = Int64GetDatum((int64) workers[i].wakeups);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
