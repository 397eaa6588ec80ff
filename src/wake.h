/*
 * wake.h
 *		Shared memory for the workers, and the COMMIT hook that wakes them.
 *
 * Each worker has a slot naming its database and its latch.  A backend that
 * queues a notification remembers to set the latches of its database's
 * workers when its transaction commits: delivery starts within milliseconds,
 * a rolled-back transaction wakes nobody, and a 100,000-row INSERT wakes
 * them once.
 */
#ifndef WEBPUSH_WAKE_H
#define WEBPUSH_WAKE_H

#include "postgres.h"

#include "storage/latch.h"

/*
 * Reserve shared memory for one slot per worker; called from _PG_init when
 * preloaded.  slot_dbnames[i] is the database worker i serves (kept).
 */
extern void wake_request_shmem(int nslots, char **slot_dbnames);

/* Worker side: take slot n for this process / give it up. */
extern void wake_attach_worker(int slot);
extern void wake_detach_worker(int slot);

/*
 * Backend side: note that this transaction queued something, so COMMIT
 * wakes this database's workers.  Returns false when no worker serves the
 * database (the library is not preloaded, or the database is not listed).
 */
extern bool wake_workers_at_commit(void);

/*
 * Count one wake-up of the worker in slot by its latch.  Only COMMITs that
 * queued something (and reloads) set it, so the count shows whether
 * anything else wakes the worker for nothing.
 */
extern void wake_count_wakeup(int slot);

typedef struct WakeWorkerInfo
{
	int			slot;
	char		dbname[NAMEDATALEN];
	int			pid;			/* 0 when not running */
	uint64		wakeups;
} WakeWorkerInfo;

/*
 * The worker slots (none without the preload); returns how many.  A pid of
 * 0 is a slot with no worker running: rows claimed by other pids are
 * orphans.
 */
extern int	wake_list_workers(WakeWorkerInfo *out, int max);

#endif							/* WEBPUSH_WAKE_H */
