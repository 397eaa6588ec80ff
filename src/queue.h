/*
 * queue.h
 *		The notification queue and its history, through SPI: queueing from
 *		SQL, and the worker's claim / outcome / maintenance statements.
 *
 * Every function runs inside the caller's transaction; the worker keeps its
 * transactions short (one per loop turn) and never holds one across network
 * waits.
 */
#ifndef WEBPUSH_QUEUE_H
#define WEBPUSH_QUEUE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/array.h"

#include "ece.h"
#include "validate.h"

/* Queueing, from the SQL functions.  payload NULL: a push without payload. */
extern int64 queue_for_subscription(int64 subscription_id, bytea *payload,
									const MessageOptions *opts);
extern int64 queue_for_object(const Subscription *sub, int64 key_id, bytea *payload,
							  const MessageOptions *opts);
extern int64 queue_for_user(text *user_id, const char *app, bytea *payload,
							const MessageOptions *opts);

/*
 * After queueing: wake the database's workers at COMMIT, or say (once per
 * transaction) that no worker will send.
 */
extern void queue_wake_at_commit(void);

/* One notification to each existing id in the array; returns how many. */
extern int64 queue_for_subscriptions(ArrayType *ids, bytea *payload,
									 const MessageOptions *opts);

/* A notification the worker claimed, copied out of SPI memory. */
typedef struct ClaimedMessage
{
	int64		id;
	int64		subscription_id;	/* 0 for one-offs */
	int64		key_id;			/* the VAPID key that signs it */
	char	   *endpoint;
	uint8		p256dh[P256_PUBLIC_LEN];
	uint8		auth[ECE_AUTH_LEN];
	uint8	   *payload;		/* NULL: no payload */
	size_t		payload_len;
	char		urgency[16];
	char		topic[33];		/* "" for none */
	int32		attempts;		/* including this one */
	TimestampTz expires_at;
} ClaimedMessage;

/*
 * Claim up to limit due notifications for this worker (FOR UPDATE SKIP
 * LOCKED), allocating in the current memory context.  Returns how many.
 */
extern int	queue_claim(int limit, ClaimedMessage **out);

/* When the next queued notification falls due; false when none is queued. */
extern bool queue_next_due(TimestampTz *when);

typedef enum OutcomeKind
{
	OUTCOME_DELIVERED,
	OUTCOME_FAILED,
	OUTCOME_EXPIRED,
	OUTCOME_RETRY,
	OUTCOME_GONE,				/* failed, and the subscription is deleted */
	OUTCOME_RELEASE				/* handed back unsent (its host was busy):
								 * queued again, no attempt counted */
} OutcomeKind;

typedef struct Outcome
{
	int64		id;
	int64		subscription_id;
	OutcomeKind kind;
	int32		status;			/* HTTP status, 0 for none */
	char	   *reason;			/* malloc'd or NULL */
	double		retry_delay_ms; /* OUTCOME_RETRY and OUTCOME_RELEASE */
} Outcome;

/* Record a batch of outcomes: history rows, retries, removed subscriptions. */
extern void queue_record_outcomes(const Outcome *outcomes, int n);

/* Hand back notifications claimed by workers that no longer run. */
extern int64 queue_reclaim_orphans(void);

/* History rows one purge removes at most: bounded work per worker turn. */
#define QUEUE_PURGE_BATCH 10000

/*
 * Remove history older than retention_s seconds, at most QUEUE_PURGE_BATCH
 * rows; returns how many (QUEUE_PURGE_BATCH: there may be more).
 */
extern int64 queue_purge_history(int retention_s);

/*
 * The role whose queued notifications count against
 * webpush.max_queued_per_role, or InvalidOid when no limit applies to the
 * caller.  Rows are tagged with it (queued_by) as they are queued.
 */
extern Oid	queue_limited_role(void);

/* Error when role has more than webpush.max_queued_per_role queued. */
extern void queue_check_role_limit(Oid role);

#endif							/* WEBPUSH_QUEUE_H */
