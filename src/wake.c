/*
 * wake.c
 *		Shared memory for the workers, and the COMMIT hook that wakes them.
 */
#include "postgres.h"

#include <string.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "wake.h"

typedef struct WorkerSlot
{
	char		dbname[NAMEDATALEN];	/* set at startup from the GUC */
	pid_t		pid;			/* 0 while no worker runs in the slot */
	Latch	   *latch;
	uint64		wakeups;		/* times its latch woke it (see wake.h) */
} WorkerSlot;

typedef struct WakeShared
{
	slock_t		mutex;
	int			nslots;
	WorkerSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} WakeShared;

static WakeShared *shared = NULL;
static int	requested_slots = 0;
static char **requested_dbnames = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Backend state: slots serving this database, found once. */
static int *my_slots = NULL;
static int	my_nslots = -1;
static bool wake_pending = false;
static bool callback_registered = false;

static Size
shared_size(int nslots)
{
	return add_size(offsetof(WakeShared, slots), mul_size(nslots, sizeof(WorkerSlot)));
}

#if PG_VERSION_NUM >= 150000
static void
wake_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size(requested_slots));
}
#endif

static void
wake_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("webpush workers", shared_size(requested_slots), &found);
	if (!found)
	{
		int			i;

		memset(shared, 0, shared_size(requested_slots));
		SpinLockInit(&shared->mutex);
		shared->nslots = requested_slots;
		for (i = 0; i < requested_slots; i++)
			strlcpy(shared->slots[i].dbname, requested_dbnames[i], NAMEDATALEN);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
wake_request_shmem(int nslots, char **slot_dbnames)
{
	requested_slots = nslots;
	requested_dbnames = slot_dbnames;
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wake_shmem_request;
#else
	RequestAddinShmemSpace(shared_size(nslots));
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wake_shmem_startup;
}

void
wake_attach_worker(int slot)
{
	Assert(shared != NULL && slot < shared->nslots);
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].pid = MyProcPid;
	shared->slots[slot].latch = MyLatch;
	SpinLockRelease(&shared->mutex);
}

void
wake_detach_worker(int slot)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	if (shared->slots[slot].pid == MyProcPid)
	{
		shared->slots[slot].pid = 0;
		shared->slots[slot].latch = NULL;
	}
	SpinLockRelease(&shared->mutex);
}

void
wake_count_wakeup(int slot)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].wakeups++;
	SpinLockRelease(&shared->mutex);
}

int
wake_list_workers(WakeWorkerInfo *out, int max)
{
	int			n = 0;
	int			i;

	if (shared == NULL)
		return 0;
	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < shared->nslots && n < max; i++)
	{
		out[n].slot = i;
		strlcpy(out[n].dbname, shared->slots[i].dbname, NAMEDATALEN);
		out[n].pid = shared->slots[i].pid;
		out[n].wakeups = shared->slots[i].wakeups;
		n++;
	}
	SpinLockRelease(&shared->mutex);
	return n;
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	int			i;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending)
			{
				/* Collect under the spinlock, signal outside it. */
				Latch	   *latches[64];
				int			n = 0;

				SpinLockAcquire(&shared->mutex);
				for (i = 0; i < my_nslots && n < (int) lengthof(latches); i++)
					if (shared->slots[my_slots[i]].latch != NULL)
						latches[n++] = shared->slots[my_slots[i]].latch;
				SpinLockRelease(&shared->mutex);
				for (i = 0; i < n; i++)
					SetLatch(latches[i]);
			}
			wake_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_pending = false;
			break;
		default:
			break;
	}
}

bool
wake_workers_at_commit(void)
{
	if (shared == NULL)
		return false;

	/* Which slots serve this database: the list is fixed at server start. */
	if (my_nslots < 0)
	{
		char	   *dbname = get_database_name(MyDatabaseId);
		int			i;

		my_slots = MemoryContextAlloc(TopMemoryContext, sizeof(int) * shared->nslots);
		my_nslots = 0;
		SpinLockAcquire(&shared->mutex);
		for (i = 0; i < shared->nslots; i++)
			if (dbname != NULL && strcmp(shared->slots[i].dbname, dbname) == 0)
				my_slots[my_nslots++] = i;
		SpinLockRelease(&shared->mutex);
	}
	if (my_nslots == 0)
		return false;

	if (!callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		callback_registered = true;
	}
	wake_pending = true;
	return true;
}
