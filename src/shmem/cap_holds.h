/*
 * cap_holds.h
 *		The deliveries all workers have let through under frequency caps
 *		and not yet recorded (cap_book.h), in shared memory: a worker
 *		counts a user's and takes one for a delivery that fits in one step
 *		under the lock, so that webpush.workers workers keep a cap together
 *		however a user's deliveries fall between them.
 *
 * The book has room for CAP_HOLDS_MAX holds in the cluster.  A delivery
 * that finds no room, or a claim too old for what the book still knows
 * (cap_book.h, CAP_BOOK_UNSURE), is not let through: the worker hands it
 * back to be claimed and counted again (worker/frequency_cap.c).  The
 * holds a worker has not recorded go when it exits; after a crash the
 * postmaster makes shared memory anew.  Exists only when the library is
 * preloaded, as the workers do.
 */
#ifndef WEBPUSH_SHMEM_CAP_HOLDS_H
#define WEBPUSH_SHMEM_CAP_HOLDS_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "shmem/cap_book.h"

#define CAP_HOLDS_MAX 16384
/* How long a hold recorded as delivered counts on for older claims. */
#define CAP_HOLDS_KEEP_MS 10000

/* From _PG_init when preloaded. */
extern void cap_holds_request_shmem(void);

/*
 * The epoch counter (cap_book.h), read before the claim that counts the
 * history: with a full barrier, so that it comes before the snapshot.
 */
extern uint64 cap_holds_epoch(void);

/* Whom a hold is for: the application and the user id, hashed. */
extern uint64 cap_holds_user(const char *application, const char *user_id);

/*
 * Take the lock (exclusive), count and take holds under it, release it.
 * cap_holds_count is cap_book_count for this database at now;
 * cap_holds_take takes a hold for this process (false: no room, said in
 * the log once per process).
 */
extern void cap_holds_lock(void);
extern int	cap_holds_count(uint64 user, uint64 epoch, TimestampTz now,
							CapBookCounted *out, int max);
extern bool cap_holds_take(uint64 user, int64 message_id, int64 subscription_id,
						   TimestampTz at);
extern void cap_holds_unlock(void);

/*
 * This process's hold is recorded, its transaction committed: delivered,
 * it counts on for claims that could not see the record (a new epoch);
 * else it goes.  Takes the lock.
 */
extern void cap_holds_recorded(uint64 user, int64 message_id, int64 subscription_id,
							   bool delivered);

#endif							/* WEBPUSH_SHMEM_CAP_HOLDS_H */
