/*
 * cap_holds.c
 *		The book of deliveries let through under frequency caps, in shared
 *		memory under one lock (cap_holds.h).
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "shmem/areas.h"
#include "shmem/cap_holds.h"

#define CAP_HOLDS_TRANCHE "webpush frequency caps"

typedef struct CapHoldsShared
{
	pg_atomic_uint64 epoch;
	/* Then the book, MAXALIGNed. */
} CapHoldsShared;

static CapHoldsShared *shared = NULL;
static CapBook *book = NULL;
static LWLock *holds_lock = NULL;
static bool exit_registered = false;
static bool full_logged = false;

static Size
holds_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(CapHoldsShared)), cap_book_size(CAP_HOLDS_MAX));
}

static void
request_shmem(void)
{
	RequestAddinShmemSpace(holds_shmem_size());
	RequestNamedLWLockTranche(CAP_HOLDS_TRANCHE, 1);
}

static void
attach_shmem(void)
{
	bool		found;

	shared = ShmemInitStruct("webpush frequency caps", holds_shmem_size(), &found);
	book = (CapBook *) ((char *) shared + MAXALIGN(sizeof(CapHoldsShared)));
	if (!found)
	{
		pg_atomic_init_u64(&shared->epoch, 0);
		cap_book_init(book, CAP_HOLDS_MAX, (int64) CAP_HOLDS_KEEP_MS * 1000);
	}
	holds_lock = &(GetNamedLWLockTranche(CAP_HOLDS_TRANCHE))->lock;
}

void
cap_holds_request_shmem(void)
{
	shmem_area_register(request_shmem, attach_shmem);
}

uint64
cap_holds_epoch(void)
{
	return shared != NULL ? pg_atomic_fetch_add_u64(&shared->epoch, 0) : 0;
}

uint64
cap_holds_user(const char *application, const char *user_id)
{
	uint64		h = hash_bytes_extended((const unsigned char *) application,
										strlen(application) + 1, 0);

	return hash_bytes_extended((const unsigned char *) user_id, strlen(user_id), h);
}

void
cap_holds_lock(void)
{
	if (holds_lock != NULL)
		LWLockAcquire(holds_lock, LW_EXCLUSIVE);
}

void
cap_holds_unlock(void)
{
	if (holds_lock != NULL)
		LWLockRelease(holds_lock);
}

/*
 * The process exits: what it let through and did not record counts no
 * more (the history will not have it).  It may exit from an error while
 * holding the lock.
 */
static void
drop_mine(int code, Datum arg)
{
	if (book == NULL)
		return;
	if (!LWLockHeldByMe(holds_lock))
		LWLockAcquire(holds_lock, LW_EXCLUSIVE);
	(void) cap_book_drop_owner(book, MyProcPid);
	LWLockRelease(holds_lock);
}

int
cap_holds_count(uint64 user, uint64 epoch, TimestampTz now, CapBookCounted *out, int max)
{
	if (book == NULL)
		return CAP_BOOK_UNSURE;
	return cap_book_count(book, MyDatabaseId, user, epoch, now, out, max);
}

bool
cap_holds_take(uint64 user, int64 message_id, int64 subscription_id, TimestampTz at)
{
	if (book == NULL)
		return false;
	if (!exit_registered)
	{
		on_shmem_exit(drop_mine, (Datum) 0);
		exit_registered = true;
	}
	if (cap_book_take(book, MyDatabaseId, user, message_id, subscription_id, at, MyProcPid))
		return true;
	/* Said once per process: the deliveries go back, to be counted again. */
	if (!full_logged)
		ereport(LOG,
				(errmsg("webpush: no room for more than %d deliveries under frequency caps in shared memory",
						CAP_HOLDS_MAX),
				 errdetail("Deliveries under a cap that find no room are queued again, and counted when claimed again.")));
	full_logged = true;
	return false;
}

void
cap_holds_recorded(uint64 user, int64 message_id, int64 subscription_id, bool delivered)
{
	uint64		epoch = 0;

	if (book == NULL)
		return;
	LWLockAcquire(holds_lock, LW_EXCLUSIVE);
	if (delivered)
		epoch = pg_atomic_add_fetch_u64(&shared->epoch, 1);
	(void) cap_book_recorded(book, MyDatabaseId, user, message_id, subscription_id,
							 MyProcPid, delivered, epoch, GetCurrentTimestamp());
	LWLockRelease(holds_lock);
}
