/*
 * launcher.c
 *		The launcher: a delivery worker for every database where the
 *		extension is installed, started and stopped without a restart.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "support/compat.h"
#include "worker/launcher.h"
#include "shmem/registry.h"
#include "settings.h"

/* A worker that failed is started again after this. */
#define RESTART_DELAY_MS 5000
/* When workers don't fit in max_worker_processes, try again after this. */
#define NO_SLOT_DELAY_MS 60000
/* pg_database is read again at least this often. */
#define RESCAN_INTERVAL_MS 60000

#define MAX_WORKERS_PER_DATABASE 16

typedef enum DatabaseState
{
	DB_PROBING,					/* worker 1 is looking for the extension */
	DB_SERVING,					/* the extension is there: all workers run */
	DB_NO_EXTENSION				/* wait until a session asks */
} DatabaseState;

typedef struct DatabaseEntry
{
	Oid			dboid;			/* hash key */
	char		name[NAMEDATALEN];
	DatabaseState state;
	bool		seen;			/* in the last scan of pg_database */
	bool		was_paused;		/* being dropped or renamed when last seen */
	TimestampTz start_after;	/* no (re)start before this */
	TimestampTz warned_at;		/* last "no free worker slot" WARNING */
	int			slots[MAX_WORKERS_PER_DATABASE];	/* -1: not running */
	/* NULL for a worker adopted from an earlier launcher (its slot tells). */
	BackgroundWorkerHandle *handles[MAX_WORKERS_PER_DATABASE];
} DatabaseEntry;

static HTAB *databases;
/* A database's pause ended: read pg_database before starting its workers. */
static bool rescan_wanted = false;
/* Our named wait event while idle (registered on first use, 17+). */
static uint32 wait_event = 0;

void
launcher_register(void)
{
	BackgroundWorker worker;
	char	   *names = pstrdup(webpush_database_names);
	List	   *list = NIL;

	if (!SplitIdentifierString(names, ',', &list))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in webpush.database_name")));

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "webpush");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "webpush_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "webpush launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "webpush launcher");
	RegisterBackgroundWorker(&worker);

	/* No more workers than background worker processes may run. */
	wake_request_shmem(max_worker_processes);
}

static DatabaseEntry *
database_entry(Oid dboid, bool *found)
{
	DatabaseEntry *db = hash_search(databases, &dboid, HASH_ENTER, found);

	if (!*found)
	{
		int			i;

		db->name[0] = '\0';
		db->state = DB_PROBING;
		db->seen = false;
		db->was_paused = false;
		db->start_after = 0;
		db->warned_at = 0;
		for (i = 0; i < MAX_WORKERS_PER_DATABASE; i++)
		{
			db->slots[i] = -1;
			db->handles[i] = NULL;
		}
	}
	return db;
}

/*
 * Read pg_database: every database that accepts connections and that
 * webpush.database_name allows gets an entry; entries of databases that
 * are gone (or now excluded) are forgotten once their workers stopped.
 */
static void
scan_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	HASH_SEQ_STATUS seq;
	DatabaseEntry *db;

	hash_seq_init(&seq, databases);
	while ((db = hash_seq_search(&seq)) != NULL)
		db->seen = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tup);
		bool		found;

		/* -2 in datconnlimit: a DROP DATABASE that was interrupted. */
		if (!form->datallowconn || form->datistemplate || form->datconnlimit == -2 ||
			!settings_database_served(NameStr(form->datname)))
			continue;
		db = database_entry(form->oid, &found);
		strlcpy(db->name, NameStr(form->datname), NAMEDATALEN);
		db->seen = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(TopMemoryContext);

	hash_seq_init(&seq, databases);
	while ((db = hash_seq_search(&seq)) != NULL)
	{
		int			i;
		bool		running = false;

		for (i = 0; i < MAX_WORKERS_PER_DATABASE; i++)
			running |= db->slots[i] >= 0;
		if (!db->seen && !running)
			hash_search(databases, &db->dboid, HASH_REMOVE, NULL);
	}
}

static bool
start_worker(DatabaseEntry *db, int index, TimestampTz now)
{
	BackgroundWorker worker;
	uint32		generation = 0;
	int			slot = wake_claim_slot(db->dboid, index, &generation);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "webpush");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "webpush_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "webpush worker %d for database %s", index + 1, db->name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "webpush worker");
	worker.bgw_main_arg = Int32GetDatum(slot);
	memcpy(worker.bgw_extra, &generation, sizeof(generation));
	worker.bgw_notify_pid = MyProcPid;

	if (slot < 0 || !RegisterDynamicBackgroundWorker(&worker, &db->handles[index]))
	{
		if (slot >= 0)
			wake_free_slot(slot);
		db->handles[index] = NULL;
		db->start_after = TimestampTzPlusMilliseconds(now, NO_SLOT_DELAY_MS);
		if (TimestampDifferenceExceeds(db->warned_at, now, NO_SLOT_DELAY_MS))
		{
			ereport(WARNING,
					(errmsg("webpush launcher: no background worker slot free for a worker in database \"%s\"",
							db->name),
					 errdetail("Notifications queued there wait until a worker runs."),
					 errhint("Raise max_worker_processes (now %d) and restart the server: webpush needs one launcher plus webpush.workers (%d) per database where it is installed, besides the other extensions' workers and parallel queries.",
							 max_worker_processes, webpush_workers)));
			db->warned_at = now;
		}
		return false;
	}
	db->slots[index] = slot;
	return true;
}

/*
 * Notice stopped workers; returns true when any stopped.  *check_at becomes
 * the earliest time an adopted worker that has not attached yet is to be
 * looked at again (left alone when there is none).
 */
static bool
collect_stopped(DatabaseEntry *db, TimestampTz now, TimestampTz *check_at)
{
	int			i;
	bool		any = false;

	for (i = 0; i < MAX_WORKERS_PER_DATABASE; i++)
	{
		pid_t		pid;
		TimestampTz deadline;

		if (db->slots[i] < 0)
			continue;
		if (db->handles[i] != NULL)
		{
			if (GetBackgroundWorkerPid(db->handles[i], &pid) != BGWH_STOPPED)
				continue;
		}
		else if (!wake_slot_stopped(db->slots[i], &deadline))
		{
			if (deadline != 0 && (*check_at == 0 || deadline < *check_at))
				*check_at = deadline;
			continue;
		}
		if (wake_slot_no_extension(db->slots[i]))
			db->state = DB_NO_EXTENSION;
		else
			db->start_after = TimestampTzPlusMilliseconds(now, RESTART_DELAY_MS);
		wake_free_slot(db->slots[i]);
		if (db->handles[i] != NULL)
			pfree(db->handles[i]);
		db->handles[i] = NULL;
		db->slots[i] = -1;
		any = true;
	}
	return any;
}

/*
 * Take over the workers that an earlier launcher started and that still
 * run (or are starting): they keep their slots and their work, and no
 * second worker is started for the same database and index.
 */
static void
adopt_workers(void)
{
	WakeWorkerInfo *workers = palloc(sizeof(WakeWorkerInfo) * max_worker_processes);
	int			n = wake_attach_launcher(workers, max_worker_processes);
	int			i;

	for (i = 0; i < n; i++)
	{
		bool		found;
		DatabaseEntry *db = database_entry(workers[i].dboid, &found);
		int			index = workers[i].index;

		if (index < 0 || index >= MAX_WORKERS_PER_DATABASE || db->slots[index] >= 0)
		{
			/* Cannot be: no launcher gives out such a slot.  Let it be. */
			elog(WARNING, "webpush launcher: worker slot %d (worker %d of database %u) is not adopted",
				 workers[i].slot, index + 1, workers[i].dboid);
			continue;
		}
		db->slots[index] = workers[i].slot;
		db->handles[index] = NULL;
		if (wake_slot_serving(workers[i].slot))
			db->state = DB_SERVING;
	}
	if (n > 0)
		elog(LOG, "webpush launcher: adopted %d worker%s started by an earlier launcher",
			 n, n == 1 ? "" : "s");
	pfree(workers);
}

/*
 * Bring one database's workers to what its state asks for.  Returns the
 * time of its next restart attempt, or 0 when none is waiting.
 */
static TimestampTz
tend_database(DatabaseEntry *db, TimestampTz now)
{
	int			i;
	int			want;

	if (db->state == DB_PROBING && db->slots[0] >= 0 &&
		wake_slot_serving(db->slots[0]))
		db->state = DB_SERVING;
	if (db->state == DB_NO_EXTENSION || !db->seen || db->name[0] == '\0')
		return 0;
	if (wake_database_paused(db->dboid))
	{
		db->was_paused = true;
		return TimestampTzPlusMilliseconds(now, 1000);
	}
	if (db->was_paused)
	{
		/* Dropped meanwhile, or renamed: pg_database says which. */
		db->was_paused = false;
		rescan_wanted = true;
		return now;
	}
	if (now < db->start_after)
		return db->start_after;

	/* One worker finds out whether the extension is there; then all start. */
	want = db->state == DB_SERVING ? Min(webpush_workers, MAX_WORKERS_PER_DATABASE) : 1;
	for (i = 0; i < want; i++)
		if (db->slots[i] < 0 && !start_worker(db, i, now))
			return db->start_after;
	return 0;
}

void
webpush_launcher_main(Datum arg)
{
	HASHCTL		ctl;
	TimestampTz last_scan = 0;
	bool		rescan = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* No database: pg_database is a shared catalog. */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("webpush launcher");

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(DatabaseEntry);
	ctl.hcxt = TopMemoryContext;
	databases = hash_create("webpush databases", 16, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	elog(LOG, "webpush launcher started");
	adopt_workers();

	for (;;)
	{
		Oid			requests[64];
		bool		all;
		int			n;
		int			i;
		TimestampTz now;
		TimestampTz next = 0;
		HASH_SEQ_STATUS seq;
		DatabaseEntry *db;
		long		wait_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* Sessions that created, updated or used the extension since. */
		n = wake_take_start_requests(requests, lengthof(requests), &all);
		for (i = 0; i < n; i++)
		{
			bool		found;

			db = database_entry(requests[i], &found);
			if (db->state == DB_NO_EXTENSION)
				db->state = DB_PROBING;
			db->start_after = 0;
			rescan |= !found;
		}
		if (all)
		{
			hash_seq_init(&seq, databases);
			while ((db = hash_seq_search(&seq)) != NULL)
				if (db->state == DB_NO_EXTENSION)
					db->state = DB_PROBING;
		}

		now = GetCurrentTimestamp();
		hash_seq_init(&seq, databases);
		while ((db = hash_seq_search(&seq)) != NULL)
			rescan |= collect_stopped(db, now, &next);
		rescan |= rescan_wanted;
		rescan_wanted = false;
		if (rescan || all ||
			TimestampDifferenceExceeds(last_scan, now, RESCAN_INTERVAL_MS))
		{
			scan_databases();
			last_scan = now;
			rescan = false;
		}

		hash_seq_init(&seq, databases);
		while ((db = hash_seq_search(&seq)) != NULL)
		{
			TimestampTz at = tend_database(db, now);

			if (at != 0 && (next == 0 || at < next))
				next = at;
		}

		/* Probing databases are looked at again soon: they may serve now. */
		wait_ms = RESCAN_INTERVAL_MS;
		hash_seq_init(&seq, databases);
		while ((db = hash_seq_search(&seq)) != NULL)
			if (db->state == DB_PROBING && db->slots[0] >= 0)
				wait_ms = Min(wait_ms, 100);
		if (next != 0)
		{
			long		secs;
			int			usecs;

			TimestampDifference(now, next, &secs, &usecs);
			wait_ms = Min(wait_ms, secs * 1000 + usecs / 1000 + 1);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, webpush_wait_event(&wait_event, "WebPushLauncher"));
		ResetLatch(MyLatch);
	}
}
