/*
 * rates.h
 *		The token buckets of rates (push/host_rates.h), in shared memory:
 *		one per database and push-service host, and one per database and
 *		application, which all of a database's workers take their tokens
 *		from, so that webpush.workers workers together keep a rate, however
 *		the deliveries fall between them.
 *
 * The buckets exist only when the library is preloaded; a worker that
 * finds no room for one (more than RATES_MAX_BUCKETS hosts and
 * applications in the cluster) keeps its own, with its share of the rate.
 */
#ifndef WEBPUSH_SHMEM_RATES_H
#define WEBPUSH_SHMEM_RATES_H

#include "postgres.h"

#include "push/host_rates.h"

#define RATES_MAX_BUCKETS 1024

typedef enum RateOwner
{
	RATE_OF_HOST,				/* name: the origin, https://host[:port] */
	RATE_OF_APPLICATION			/* name: the application */
} RateOwner;

/* From _PG_init when preloaded. */
extern void rates_request_shmem(void);

/*
 * Take the buckets' lock (exclusive), look buckets up under it, release
 * it.  With create, a bucket is created, full, on first use; NULL when it
 * does not exist and is not to be created, when there is no room, or
 * without shared memory.  Hold the lock for a few bucket operations only.
 */
extern void shared_rates_lock(void);
extern RateBucket *shared_rates_bucket(Oid dboid, RateOwner owner, const char *name,
									   bool create);
extern void shared_rates_unlock(void);

/*
 * The latest end of a pause any host was given (a Retry-After), for a
 * request to a host without a rate to know, without the lock, that no pause
 * can hold it.  Noted under the lock; 0 without shared memory.
 */
extern void shared_rates_note_pause(int64 until);
extern int64 shared_rates_pauses_end(void);

/* A database is dropped: its buckets go. */
extern void shared_rates_forget_database(Oid dboid);

#endif							/* WEBPUSH_SHMEM_RATES_H */
