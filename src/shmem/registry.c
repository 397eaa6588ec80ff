/*
 * registry.c
 *		Shared memory for the launcher and the workers, and the COMMIT hooks
 *		that wake them.
 */
#include "postgres.h"

#include <signal.h>
#include <string.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "support/compat.h"
#include "settings.h"
#include "shmem/registry.h"

/* How long the workers of a database being dropped or renamed stay off. */
#define PAUSE_MS 10000
/*
 * A worker that a launcher registered, and that has not taken its slot this
 * long after, is taken for one that never started (when the launcher that
 * registered it, and so its handle, is gone).
 */
#define START_WAIT_MS 10000
/* How long DROP DATABASE waits for them to exit. */
#define STOP_WAIT_MS 5000
#define MAX_START_REQUESTS 32
#define MAX_PAUSED 8

typedef enum SlotState
{
	SLOT_STARTING,				/* registered, the worker has not attached */
	SLOT_RUNNING,				/* the worker attached */
	SLOT_EXITED					/* the worker detached on its way out */
} SlotState;

typedef struct WorkerSlot
{
	bool		in_use;			/* given to a worker by the launcher */
	SlotState	state;
	uint32		generation;		/* changes each time the slot is given */
	TimestampTz claimed_at;
	Oid			dboid;
	int			index;
	pid_t		pid;			/* 0 until the worker attaches, after it exits */
	Latch	   *latch;
	bool		serving;		/* the worker found the extension installed */
	bool		no_extension;	/* it found none, or an older version */
	uint64		wakeups;		/* times its latch woke it (see registry.h) */
} WorkerSlot;

typedef struct PausedDatabase
{
	Oid			dboid;
	TimestampTz until;
} PausedDatabase;

typedef struct WakeShared
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	int			nrequests;
	bool		request_all;	/* more requests came than fit */
	Oid			requests[MAX_START_REQUESTS];
	PausedDatabase paused[MAX_PAUSED];
	int			nslots;
	WorkerSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} WakeShared;

static WakeShared *shared = NULL;
static int	requested_slots = 0;

#ifdef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Backend state: what this transaction's COMMIT must do. */
static bool wake_pending = false;
static bool launcher_pending = false;
static bool wake_at_abort = false;
static bool callback_registered = false;
/* Our named wait event while workers stop (registered on first use, 17+). */
static uint32 wait_event = 0;

static Size
shared_size(int nslots)
{
	return add_size(offsetof(WakeShared, slots), mul_size(nslots, sizeof(WorkerSlot)));
}

#ifdef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
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
		memset(shared, 0, shared_size(requested_slots));
		SpinLockInit(&shared->mutex);
		shared->nslots = requested_slots;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
wake_request_shmem(int nslots)
{
	requested_slots = nslots;
#ifdef WEBPUSH_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wake_shmem_request;
#else
	RequestAddinShmemSpace(shared_size(nslots));
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wake_shmem_startup;
}

/* Launcher side ------------------------------------------------------ */

static void
launcher_exit(int code, Datum arg)
{
	/* Until the next launcher attaches, COMMITs have no launcher to wake. */
	SpinLockAcquire(&shared->mutex);
	if (shared->launcher_latch == MyLatch)
		shared->launcher_latch = NULL;
	SpinLockRelease(&shared->mutex);
}

int
wake_attach_launcher(WakeWorkerInfo *out, int max)
{
	int			i;
	int			n = 0;

	/*
	 * The workers outlive a launcher that exits (pg_terminate_backend, an
	 * error): their slots stay in use, and the next launcher adopts them.
	 * After a crash, shared memory starts empty.
	 */
	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = MyLatch;
	for (i = 0; i < shared->nslots && n < max; i++)
	{
		WorkerSlot *s = &shared->slots[i];

		if (!s->in_use)
			continue;
		out[n].slot = i;
		out[n].dboid = s->dboid;
		out[n].index = s->index;
		out[n].pid = s->pid;
		out[n].wakeups = s->wakeups;
		n++;
	}
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(launcher_exit, (Datum) 0);
	return n;
}

int
wake_claim_slot(Oid dboid, int index, uint32 *generation)
{
	int			i;
	int			slot = -1;
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < shared->nslots; i++)
		if (!shared->slots[i].in_use)
		{
			WorkerSlot *s = &shared->slots[i];

			s->in_use = true;
			s->state = SLOT_STARTING;
			s->generation++;
			s->claimed_at = now;
			s->dboid = dboid;
			s->index = index;
			s->pid = 0;
			s->latch = NULL;
			s->serving = false;
			s->no_extension = false;
			s->wakeups = 0;
			*generation = s->generation;
			slot = i;
			break;
		}
	SpinLockRelease(&shared->mutex);
	return slot;
}

bool
wake_slot_stopped(int slot, TimestampTz *start_deadline)
{
	WorkerSlot *s = &shared->slots[slot];
	TimestampTz now = GetCurrentTimestamp();
	bool		stopped;

	SpinLockAcquire(&shared->mutex);
	*start_deadline = 0;
	if (s->state == SLOT_STARTING)
	{
		*start_deadline = TimestampTzPlusMilliseconds(s->claimed_at, START_WAIT_MS);
		stopped = now >= *start_deadline;
		/* Should it start after all, it finds the slot given up and leaves. */
		if (stopped)
			s->generation++;
	}
	else
		stopped = s->state == SLOT_EXITED;
	SpinLockRelease(&shared->mutex);
	return stopped;
}

void
wake_free_slot(int slot)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].in_use = false;
	shared->slots[slot].pid = 0;
	shared->slots[slot].latch = NULL;
	SpinLockRelease(&shared->mutex);
}

bool
wake_slot_serving(int slot)
{
	bool		serving;

	SpinLockAcquire(&shared->mutex);
	serving = shared->slots[slot].serving;
	SpinLockRelease(&shared->mutex);
	return serving;
}

bool
wake_slot_no_extension(int slot)
{
	bool		none;

	SpinLockAcquire(&shared->mutex);
	none = shared->slots[slot].no_extension;
	SpinLockRelease(&shared->mutex);
	return none;
}

int
wake_take_start_requests(Oid *out, int max, bool *all)
{
	int			n;

	SpinLockAcquire(&shared->mutex);
	n = Min(shared->nrequests, max);
	memcpy(out, shared->requests, sizeof(Oid) * n);
	*all = shared->request_all || shared->nrequests > max;
	shared->nrequests = 0;
	shared->request_all = false;
	SpinLockRelease(&shared->mutex);
	return n;
}

bool
wake_database_paused(Oid dboid)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		paused = false;
	int			i;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < MAX_PAUSED; i++)
		if (shared->paused[i].dboid == dboid && shared->paused[i].until > now)
			paused = true;
	SpinLockRelease(&shared->mutex);
	return paused;
}

/* Worker side -------------------------------------------------------- */

Oid
wake_attach_worker(int slot, uint32 generation)
{
	WorkerSlot *s;
	Oid			dboid = InvalidOid;

	Assert(shared != NULL && slot < shared->nslots);
	s = &shared->slots[slot];
	SpinLockAcquire(&shared->mutex);
	if (s->in_use && s->state == SLOT_STARTING && s->generation == generation)
	{
		s->state = SLOT_RUNNING;
		s->pid = MyProcPid;
		s->latch = MyLatch;
		dboid = s->dboid;
	}
	SpinLockRelease(&shared->mutex);
	return dboid;
}

void
wake_detach_worker(int slot)
{
	WorkerSlot *s;
	Latch	   *launcher = NULL;

	if (shared == NULL)
		return;
	s = &shared->slots[slot];
	SpinLockAcquire(&shared->mutex);
	if (s->pid == MyProcPid)
	{
		s->state = SLOT_EXITED;
		s->pid = 0;
		s->latch = NULL;
		launcher = shared->launcher_latch;
	}
	SpinLockRelease(&shared->mutex);

	/*
	 * The postmaster tells the launcher that started us; one that adopted
	 * us (wake_attach_launcher) learns it here.
	 */
	if (launcher != NULL)
		SetLatch(launcher);
}

void
wake_report_serving(int slot)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].serving = true;
	SpinLockRelease(&shared->mutex);
}

void
wake_report_no_extension(int slot)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].no_extension = true;
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
		if (!shared->slots[i].in_use)
			continue;
		out[n].slot = i;
		out[n].dboid = shared->slots[i].dboid;
		out[n].index = shared->slots[i].index;
		out[n].pid = shared->slots[i].pid;
		out[n].wakeups = shared->slots[i].wakeups;
		n++;
	}
	SpinLockRelease(&shared->mutex);
	return n;
}

/* Backend side ------------------------------------------------------- */

/* Ask the launcher for this database's workers (under the mutex). */
static void
add_start_request_locked(Oid dboid)
{
	int			i;

	for (i = 0; i < shared->nrequests; i++)
		if (shared->requests[i] == dboid)
			return;
	if (shared->nrequests < MAX_START_REQUESTS)
		shared->requests[shared->nrequests++] = dboid;
	else
		shared->request_all = true;
}

/*
 * Set the latches of this database's workers; and the launcher's, with a
 * request to start them, when asked (start), or when none runs and one
 * should (start_if_none).
 */
static void
set_worker_latches(bool start, bool start_if_none)
{
	/* Collect under the spinlock, signal outside it. */
	Latch	   *latches[64];
	int			n = 0;
	int			i;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < shared->nslots && n < (int) lengthof(latches) - 1; i++)
		if (shared->slots[i].in_use && shared->slots[i].dboid == MyDatabaseId &&
			shared->slots[i].latch != NULL)
			latches[n++] = shared->slots[i].latch;
	if ((start || (n == 0 && start_if_none)) && shared->launcher_latch != NULL)
	{
		add_start_request_locked(MyDatabaseId);
		latches[n++] = shared->launcher_latch;
	}
	SpinLockRelease(&shared->mutex);
	for (i = 0; i < n; i++)
		SetLatch(latches[i]);
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending || launcher_pending)
				set_worker_latches(launcher_pending, true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* Nothing to start for: what was queued is gone. */
			if (wake_at_abort)
				set_worker_latches(false, false);
			break;
		case XACT_EVENT_PREPARE:
			/* Its COMMIT or ROLLBACK PREPARED is another's: forget it here. */
			break;
		default:
			return;
	}
	wake_pending = false;
	launcher_pending = false;
	wake_at_abort = false;
}

static void
register_callback(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		callback_registered = true;
	}
}

bool
wake_workers_at_commit(void)
{
	static int	allowed = -1;	/* by webpush.database_name, found once */

	if (shared == NULL)
		return false;
	if (allowed < 0)
	{
		char	   *dbname = get_database_name(MyDatabaseId);

		allowed = dbname != NULL && settings_database_served(dbname);
	}
	if (!allowed)
		return false;
	register_callback();
	wake_pending = true;
	return true;
}

void
wake_workers_at_abort(void)
{
	if (shared == NULL)
		return;
	register_callback();
	wake_at_abort = true;
}

bool
wake_preloaded(void)
{
	return shared != NULL;
}

void
wake_launcher_at_commit(void)
{
	if (shared == NULL)
		return;
	register_callback();
	launcher_pending = true;
}

void
wake_stop_database(Oid dboid)
{
	TimestampTz until;
	TimestampTz deadline;
	pid_t		pids[64];
	int			npids = 0;
	int			i;
	int			oldest = 0;

	if (shared == NULL)
		return;
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PAUSE_MS);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), STOP_WAIT_MS);

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < MAX_PAUSED; i++)
		if (shared->paused[i].until < shared->paused[oldest].until)
			oldest = i;
	shared->paused[oldest].dboid = dboid;
	shared->paused[oldest].until = until;
	for (i = 0; i < shared->nslots && npids < (int) lengthof(pids); i++)
		if (shared->slots[i].in_use && shared->slots[i].dboid == dboid &&
			shared->slots[i].pid != 0)
			pids[npids++] = shared->slots[i].pid;
	SpinLockRelease(&shared->mutex);
	/* As pg_terminate_backend would: they exit at their next check. */
	for (i = 0; i < npids; i++)
		(void) kill(pids[i], SIGTERM);

	for (;;)
	{
		bool		running = false;

		SpinLockAcquire(&shared->mutex);
		for (i = 0; i < shared->nslots; i++)
			if (shared->slots[i].in_use && shared->slots[i].dboid == dboid &&
				shared->slots[i].pid != 0)
				running = true;
		SpinLockRelease(&shared->mutex);
		if (!running || GetCurrentTimestamp() >= deadline)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, webpush_wait_event(&wait_event, "WebPushStopWorkers"));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
