/*
 * registry.h
 *		Shared memory for the launcher and the workers, and the COMMIT hooks
 *		that wake them.
 *
 * Each running worker holds a slot naming its database and its latch.  A
 * backend that queues a notification remembers to set the latches of its
 * database's workers when its transaction commits: delivery starts within
 * milliseconds, a rolled-back transaction wakes nobody, and a 100,000-row
 * INSERT wakes them once.  When no worker serves the database yet (the
 * extension was just created, say), the COMMIT asks the launcher for one.
 */
#ifndef WEBPUSH_REGISTRY_H
#define WEBPUSH_REGISTRY_H

#include "postgres.h"

#include "storage/latch.h"
#include "utils/timestamp.h"

/* Reserve shared memory for nslots workers; from _PG_init when preloaded. */
extern void wake_request_shmem(int nslots);

typedef struct WakeWorkerInfo
{
	int			slot;
	Oid			dboid;
	int			index;			/* 0 .. webpush.workers - 1 */
	int			pid;			/* 0 while starting */
	uint64		wakeups;
} WakeWorkerInfo;

/* Launcher side. */

/*
 * Become the launcher.  Workers started by an earlier launcher that exited
 * still hold their slots: these are listed in out (at most max), for the
 * launcher to adopt; returns how many.
 */
extern int	wake_attach_launcher(WakeWorkerInfo *out, int max);

/*
 * A free slot for worker index of database dboid, or -1 when none is free.
 * *generation goes to the worker, which attaches with it.
 */
extern int	wake_claim_slot(Oid dboid, int index, uint32 *generation);
extern void wake_free_slot(int slot);

/*
 * For an adopted worker, which the launcher has no handle for: has it
 * stopped?  One that never attached counts as stopped once *start_deadline
 * (0 for an attached one) has passed, and may then no longer attach.
 */
extern bool wake_slot_stopped(int slot, TimestampTz *start_deadline);
/* What the worker in a slot reported before it stopped or while it runs. */
extern bool wake_slot_serving(int slot);
extern bool wake_slot_no_extension(int slot);
/*
 * Databases whose sessions asked for workers since the last call (at most
 * max; *all when more asked than fit).  Returns how many.
 */
extern int	wake_take_start_requests(Oid *out, int max, bool *all);
/* Is the database being dropped or renamed (its workers must stay off)? */
extern bool wake_database_paused(Oid dboid);

/*
 * Worker side: take the slot the launcher gave (InvalidOid when it was
 * given up meanwhile: the worker must leave at once) / give it up.
 */
extern Oid	wake_attach_worker(int slot, uint32 generation);
extern void wake_detach_worker(int slot);
/* The extension is installed and current: the launcher may start more. */
extern void wake_report_serving(int slot);
/* No (current) extension here: the launcher waits for CREATE/UPDATE. */
extern void wake_report_no_extension(int slot);

/*
 * Backend side: note that this transaction queued something, so COMMIT
 * wakes this database's workers.  Returns false when no worker will serve
 * the database (the library is not preloaded, or webpush.database_name
 * leaves it out).
 */
extern bool wake_workers_at_commit(void);

/*
 * At ROLLBACK too: what a worker queued while this transaction held a row
 * (a recall it could not yet decide on) waits for the outcome.
 */
extern void wake_workers_at_abort(void);

/* Is the library preloaded (are there workers and a launcher at all)? */
extern bool wake_preloaded(void);

/* At COMMIT, have the launcher start (or restart) this database's workers. */
extern void wake_launcher_at_commit(void);

/*
 * Stop the workers of a database about to be dropped or renamed, and keep
 * them off for a while; waits up to a few seconds for them to exit.
 */
extern void wake_stop_database(Oid dboid);

/*
 * Count one wake-up of the worker in slot by its latch.  Only COMMITs that
 * queued something (and reloads) set it, so the count shows whether
 * anything else wakes the worker for nothing.
 */
extern void wake_count_wakeup(int slot);

/*
 * The slots in use (none without the preload); returns how many.  Rows
 * claimed by pids not listed are orphans.
 */
extern int	wake_list_workers(WakeWorkerInfo *out, int max);

#endif							/* WEBPUSH_REGISTRY_H */
