/*
 * rates.c
 *		The token buckets of rates, shared by a database's workers
 *		(rates.h).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"

#include "http/endpoint.h"
#include "shmem/areas.h"
#include "shmem/rates.h"

#define RATES_TRANCHE "webpush rates"

typedef struct RateKey
{
	Oid			dboid;
	RateOwner	owner;
	char		name[sizeof(((Endpoint *) NULL)->origin)];	/* an origin, or an
																 * application */
} RateKey;

typedef struct RateEntry
{
	RateKey		key;			/* hash key: zeroed, then filled */
	RateBucket	bucket;
} RateEntry;

static LWLock *rates_lock = NULL;
static HTAB *buckets = NULL;
static pg_atomic_uint64 *pauses_end = NULL;
static bool full_logged = false;

static void
request_shmem(void)
{
	RequestAddinShmemSpace(add_size(hash_estimate_size(RATES_MAX_BUCKETS, sizeof(RateEntry)),
									sizeof(pg_atomic_uint64)));
	RequestNamedLWLockTranche(RATES_TRANCHE, 1);
}

static void
attach_shmem(void)
{
	HASHCTL		info;
	bool		found;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(RateKey);
	info.entrysize = sizeof(RateEntry);
	buckets = ShmemInitHash("webpush rates", RATES_MAX_BUCKETS, RATES_MAX_BUCKETS,
							&info, HASH_ELEM | HASH_BLOBS);
	rates_lock = &(GetNamedLWLockTranche(RATES_TRANCHE))->lock;
	pauses_end = ShmemInitStruct("webpush rates pauses", sizeof(pg_atomic_uint64), &found);
	if (!found)
		pg_atomic_init_u64(pauses_end, 0);
}

void
rates_request_shmem(void)
{
	shmem_area_register(request_shmem, attach_shmem);
}

void
shared_rates_lock(void)
{
	if (rates_lock != NULL)
		LWLockAcquire(rates_lock, LW_EXCLUSIVE);
}

void
shared_rates_note_pause(int64 until)
{
	if (pauses_end != NULL && until > (int64) pg_atomic_read_u64(pauses_end))
		pg_atomic_write_u64(pauses_end, (uint64) until);
}

int64
shared_rates_pauses_end(void)
{
	return pauses_end != NULL ? (int64) pg_atomic_read_u64(pauses_end) : 0;
}

void
shared_rates_unlock(void)
{
	if (rates_lock != NULL)
		LWLockRelease(rates_lock);
}

RateBucket *
shared_rates_bucket(Oid dboid, RateOwner owner, const char *name, bool create)
{
	RateKey		key;
	RateEntry  *entry;
	bool		found;

	if (buckets == NULL)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.dboid = dboid;
	key.owner = owner;
	strlcpy(key.name, name, sizeof(key.name));
	entry = hash_search(buckets, &key, create ? HASH_ENTER_NULL : HASH_FIND, &found);
	if (entry == NULL && !create)
		return NULL;
	if (entry == NULL)
	{
		/* Said once per process: each worker then keeps its own buckets. */
		if (!full_logged)
			ereport(LOG,
					(errmsg("webpush: no room for more than %d shared rate buckets; this process keeps its own for the others",
							RATES_MAX_BUCKETS),
					 errdetail("Each worker then sends to such a host or application at its share of the rate.")));
		full_logged = true;
		return NULL;
	}
	if (!found)
		memset(&entry->bucket, 0, sizeof(entry->bucket));
	return &entry->bucket;
}

void
shared_rates_forget_database(Oid dboid)
{
	HASH_SEQ_STATUS seq;
	RateEntry  *entry;

	if (buckets == NULL)
		return;
	LWLockAcquire(rates_lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, buckets);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->key.dboid == dboid)
			(void) hash_search(buckets, &entry->key, HASH_REMOVE, NULL);
	LWLockRelease(rates_lock);
}
