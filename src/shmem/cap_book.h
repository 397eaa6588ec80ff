/*
 * cap_book.h
 *		The book of deliveries let through under frequency caps
 *		(worker/cap_rules.h) whose outcomes the history does not show yet,
 *		as all workers keep it together (cap_holds.h puts it in shared
 *		memory and locks it).  Plain C in a block of memory the caller
 *		gives, with the clock passed in, so that test/unit checks it.
 *
 * A hold is one delivery (message, subscription) to a user (a 64-bit hash
 * of the application and the user id, and the database), taken by the
 * worker (owner) that let it through.  It counts for its user until its
 * outcome is recorded; then one that was delivered counts in the history
 * instead, but only for claims whose history read came after the record's
 * commit.  Every record is given an epoch, from a counter the caller bumps
 * after the commit (cap_holds.c): a claim that read the counter at epoch e
 * before its snapshot cannot see in the history the delivered holds
 * recorded at an epoch above e, so those still count for it.  A recorded
 * hold is kept for keep time units, then forgotten, oldest first (sooner
 * when a new hold needs its place); a claim older than a forgotten hold of
 * its user's bucket is told it cannot count (CAP_BOOK_UNSURE).
 */
#ifndef WEBPUSH_SHMEM_CAP_BOOK_H
#define WEBPUSH_SHMEM_CAP_BOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct CapBook CapBook;

/* A user's hold as cap_book_count gives it. */
typedef struct CapBookCounted
{
	int64_t		message_id;
	int64_t		at;				/* when it was let through */
} CapBookCounted;

/* cap_book_count: a hold this claim may need was forgotten. */
#define CAP_BOOK_UNSURE (-1)

/* The bytes a book of nholds holds needs. */
extern size_t cap_book_size(int nholds);

/* An empty book in size bytes at b; recorded holds kept for keep. */
extern void cap_book_init(CapBook *b, int nholds, int64_t keep);

/*
 * What counts for (db, user) for a claim that read the epoch counter at
 * epoch: holds not recorded yet, and those recorded as delivered at a
 * later epoch.  Writes the first max of them to out; returns how many
 * there are (more than max: call again with room for them), or
 * CAP_BOOK_UNSURE.  Recorded holds older than keep at now are forgotten
 * first.
 */
extern int	cap_book_count(CapBook *b, uint32_t db, uint64_t user, uint64_t epoch,
						   int64_t now, CapBookCounted *out, int max);

/*
 * Take a hold for owner; false when the book is full of holds not yet
 * recorded (a recorded one gives its place up first).
 */
extern bool cap_book_take(CapBook *b, uint32_t db, uint64_t user, int64_t message_id,
						  int64_t subscription_id, int64_t at, int32_t owner);

/*
 * The outcome of owner's hold is recorded: delivered, it counts on for
 * older claims (recorded at epoch, at now); else it goes.  False when
 * owner holds no such hold.
 */
extern bool cap_book_recorded(CapBook *b, uint32_t db, uint64_t user, int64_t message_id,
							  int64_t subscription_id, int32_t owner, bool delivered,
							  uint64_t epoch, int64_t now);

/* Owner stops: the holds it has not recorded go.  Returns how many. */
extern int	cap_book_drop_owner(CapBook *b, int32_t owner);

/* Holds in use (recorded or not), for the tests. */
extern int	cap_book_used(const CapBook *b);

#endif							/* WEBPUSH_SHMEM_CAP_BOOK_H */
