/*
 * queue.h
 *		Messages, their deliveries and the history, through SPI: every
 *		statement on those tables, as plans kept for the life of the process.
 *
 * A message is stored once (webpush.messages); each recipient still to send
 * is a small row of webpush.deliveries.  The SQL functions queue through
 * the first half of this module, the worker claims, records and maintains
 * through the second.  Every function runs inside the caller's transaction;
 * the worker keeps its transactions short (one per loop turn) and never
 * holds one across network waits.
 */
#ifndef WEBPUSH_QUEUE_H
#define WEBPUSH_QUEUE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/itemptr.h"
#include "utils/array.h"

#include "counters.h"
#include "ece.h"
#include "validate.h"

/* What to send, checked by the caller. */
typedef struct MessageSpec
{
	const char *app;			/* NULL: the subscription's (send by id) */
	bytea	   *payload;		/* NULL: a push without payload */
	MessageOptions opts;
	bool		has_send_at;	/* else: now */
	TimestampTz send_at;
	text	   *dedupe_key;		/* NULL for none */
	text	   *source;			/* the row a trigger sent it for, or NULL */
} MessageSpec;

/* A message queued (or found by its dedupe_key). */
typedef struct QueuedMessage
{
	int64		message_id;		/* 0 when there was nobody to send to */
	int64		recipients;
} QueuedMessage;

/* The SQL functions' side. */
extern QueuedMessage queue_to_subscription(int64 subscription_id, const MessageSpec *spec);
extern QueuedMessage queue_to_object(const Subscription *sub, int64 key_id,
									 const MessageSpec *spec);
extern QueuedMessage queue_to_user(text *user_id, const MessageSpec *spec);
/* Each existing id of the application once; others are skipped. */
extern QueuedMessage queue_to_subscriptions(ArrayType *ids, const MessageSpec *spec);

/* Record the row a trigger sent message_id for (queued by queue_to_user). */
extern void queue_record_source(int64 message_id, text *source);

/* Cancel the deliveries of a message not in flight; returns how many. */
extern int64 queue_cancel(int64 message_id);

/*
 * After queueing: wake the database's workers at COMMIT, or say (once per
 * session) that no worker will send.
 */
extern void queue_wake_at_commit(void);

/*
 * A message sent by webpush_send_now: stored, with its one outcome in the
 * history at once.
 */
extern int64 queue_record_sent_now(const Subscription *sub, const char *app,
								   const MessageSpec *spec, const char *outcome,
								   int32 status, const char *reason);

/*
 * A delivery the worker claimed.  Until the worker records its outcome
 * nobody else updates the row, so its ctid finds it again.
 */
typedef struct DeliveryRef
{
	ItemPointerData tid;
	int64		message_id;
	int64		subscription_id;	/* 0 for one-offs */
	TimestampTz created_at;		/* the message's, for the history */
	/* For the counters: whose it is, and when it fell due (send_at). */
	char		application[COUNTERS_APP_LEN];
	TimestampTz due_at;
	/*
	 * The subscription's user when it was claimed, for the history; NULL
	 * for none.  In a claimed message it is palloc'd with the message; the
	 * worker's copy is malloc'd and passes from the delivery to its outcome,
	 * which frees it once recorded.
	 */
	char	   *user_id;
} DeliveryRef;

/* A delivery the worker claimed, copied out of SPI memory. */
typedef struct ClaimedMessage
{
	DeliveryRef ref;
	int64		key_id;			/* the VAPID key that signs it; 0: gone */
	char	   *endpoint;		/* NULL: the subscription was removed */
	uint8		p256dh[P256_PUBLIC_LEN];
	uint8		auth[ECE_AUTH_LEN];
	uint8	   *payload;		/* NULL: no payload */
	size_t		payload_len;
	char		urgency[16];
	char		topic[33];		/* "" for none */
	int32		attempts;		/* including this one */
	TimestampTz expires_at;
} ClaimedMessage;

/* A row of webpush.intake the claim recorded as failed (queue_claim). */
typedef struct IntakeFailure
{
	int64		id;				/* the message id it was given */
	char		application[COUNTERS_APP_LEN];
	char	   *reason;
} IntakeFailure;

/*
 * Claim up to limit due deliveries for this worker (first attempts of due
 * messages, then retries; FOR UPDATE SKIP LOCKED), allocating in the
 * current memory context.  Returns how many.  First, up to limit rows of
 * webpush.intake become messages; those that cannot are recorded as failed
 * and returned in *failed, for the caller to count once committed.
 */
extern int	queue_claim(int limit, ClaimedMessage **out,
						IntakeFailure **failed, int *nfailed);

/*
 * Forget where this worker's claims of each broadcast ended (after a
 * transaction that claimed was rolled back): the next claims start from
 * each message's first recipient.
 */
extern void queue_forget_claim_positions(void);

/*
 * A push-service host ("host" or "host:port", as an origin names it) is
 * back: what waits for a retry there after a failure that got no answer,
 * or was handed back, is due now.  Returns how many.
 */
extern int64 queue_hasten_host(const char *host);

/*
 * A host is down: the waiting delivery of it due first is due now, to probe
 * it, unless it is due within within_ms anyway.  Returns 1 with its key and
 * when it was due, 0 when no probe is needed yet, -1 when nothing waits.
 */
extern int	queue_hasten_one(const char *host, int within_ms, int64 *message_id,
							 int64 *subscription_id, TimestampTz *was_due);

/*
 * When the next delivery falls due (a scheduled message or a retry); false
 * when nothing waits.
 */
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
	DeliveryRef ref;
	OutcomeKind kind;
	int32		status;			/* HTTP status, 0 for none */
	char	   *reason;			/* malloc'd or NULL */
	char	   *endpoint;		/* where it went (or was to go): malloc'd or NULL */
	double		retry_delay_ms; /* OUTCOME_RETRY and OUTCOME_RELEASE */
	bool		not_attempted;	/* claimed but never sent: not an attempt */
	/* For the counters (counters.h). */
	bool		requested;		/* a request went out */
	int64		bytes;			/* its body */
	bool		timed_out;		/* no answer in time */
	TimestampTz answered_at;
} Outcome;

/* Whether the delivery leaves for the history (else it waits again). */
static inline bool
outcome_is_final(OutcomeKind kind)
{
	return kind != OUTCOME_RETRY && kind != OUTCOME_RELEASE;
}

/* A final outcome's name in webpush.history. */
static inline const char *
outcome_history_name(OutcomeKind kind)
{
	return kind == OUTCOME_DELIVERED ? "delivered" :
		kind == OUTCOME_EXPIRED ? "expired" : "failed";
}

/*
 * Record a batch of outcomes: history rows, retries, removed subscriptions.
 * Returns how many could not be written because of their data (a rule
 * refuses their row); those have kept[i] set, the others are written.
 */
extern int	queue_record_outcomes(const Outcome *outcomes, int n, bool *kept);

/*
 * Hand back deliveries claimed by workers that no longer run and, when
 * including_own, by this one: a worker that holds no delivery (nothing in
 * flight, waiting for room or to be recorded) and still has rows claimed
 * lost track of them (another session changed their key).
 */
extern int64 queue_reclaim_orphans(bool including_own);

/* History rows (and messages) one purge removes at most: bounded work per turn. */
#define QUEUE_PURGE_BATCH 10000

/*
 * Remove history older than retention_s seconds, and the messages of that
 * age with nothing left to send, at most QUEUE_PURGE_BATCH rows of each;
 * returns how many history rows (QUEUE_PURGE_BATCH: there may be more).
 */
extern int64 queue_purge_history(int retention_s);

/*
 * The role whose queued notifications count against
 * webpush.max_queued_per_role, or InvalidOid when no limit applies to the
 * caller.  Messages are tagged with it (queued_by) as they are queued.
 */
extern Oid	queue_limited_role(void);

/*
 * Count the queue's gauges by application and host (counters.h), allocated
 * in the caller's memory context; returns how many rows, and in *cost_ms
 * how long the count took (planning aside).
 */
extern int	queue_count_gauges(GaugeRow **out, double *cost_ms);

#endif							/* WEBPUSH_QUEUE_H */
