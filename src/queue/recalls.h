/*
 * recalls.h
 *		The worker's side of webpush.recalls: the DELETEs a cancel queued for
 *		copies a push service still holds, claimed and answered.
 */
#ifndef WEBPUSH_QUEUE_RECALLS_H
#define WEBPUSH_QUEUE_RECALLS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* A recall the worker claimed, copied out of SPI memory. */
typedef struct ClaimedRecall
{
	int64		message_id;
	int64		subscription_id;
	char	   *location;		/* the push message resource */
	int64		key_id;			/* 0: none left to sign with */
	TimestampTz expires_at;		/* after this there is nothing to delete */
	int32		attempts;		/* including this one */
} ClaimedRecall;

/*
 * Claim up to limit due recalls whose message is seen cancelled (FOR UPDATE
 * SKIP LOCKED: other workers take others), in the caller's memory context,
 * after removing those whose cancel rolled back.  A claim is a lease: the row is
 * due again lease_ms later, so a worker that stops before its answer is
 * recorded leaves it to the next one.  *next_due becomes when the next one
 * not claimed falls due (0: none).
 */
extern int	queue_claim_recalls(int limit, int lease_ms, ClaimedRecall **out,
								TimestampTz *next_due);

/*
 * A recall's answer: final (outcome "recalled", "gone" or "failed") or,
 * with outcome NULL, due again after delay_ms.  status 0: none came.
 */
extern void queue_record_recall(int64 message_id, int64 subscription_id,
								const char *outcome, int32 status,
								const char *reason, double delay_ms);

#endif							/* WEBPUSH_QUEUE_RECALLS_H */
