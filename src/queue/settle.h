/*
 * settle.h
 *		Where the worker's claims of each broadcast ended, and the settling
 *		of messages with nothing left to claim: the claim's side (claim.c).
 *		queue_forget_claim_positions (claim.h) forgets them.
 */
#ifndef WEBPUSH_QUEUE_SETTLE_H
#define WEBPUSH_QUEUE_SETTLE_H

#include "postgres.h"

#include "queue/claim.h"

/*
 * A message's first recipient: subscription ids are any bigint (an id can
 * be given explicitly), so a claim without a position starts from the
 * smallest.
 */
#define FIRST_RECIPIENT "pg_catalog.int8 '-9223372036854775808'"

/* The positions, as two int8[]: the messages' ids and their positions. */
extern void settle_position_arrays(Datum *ids, Datum *nexts);

/*
 * The messages done but held when last settled, as an int8[]; and how
 * many more were held than the array holds.
 */
extern Datum settle_held_array(void);
extern int	settle_held_overflow(void);
extern bool settle_held_any(void);

/*
 * After a claim of first attempts (claimed[0..n), up to limit): the
 * positions they reached, then the settling of their messages; of the due
 * messages too when none was claimed, or when a message was held at the
 * last settling.
 */
extern void settle_after_claim(const ClaimedMessage *claimed, int n, int limit);

#endif							/* WEBPUSH_QUEUE_SETTLE_H */
