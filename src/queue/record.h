/*
 * record.h
 *		The worker's record: outcomes written to the history, retries and
 *		removed subscriptions; deliveries of vanished workers handed back; the
 *		history purged; the queue's gauges counted.
 */
#ifndef WEBPUSH_QUEUE_RECORD_H
#define WEBPUSH_QUEUE_RECORD_H

#include "postgres.h"

#include "queue/claim.h"
#include "shmem/counters.h"

typedef enum OutcomeKind
{
	OUTCOME_DELIVERED,
	OUTCOME_FAILED,
	OUTCOME_EXPIRED,
	OUTCOME_RETRY,
	OUTCOME_GONE,				/* failed, and the subscription is deleted */
	OUTCOME_RELEASE,			/* handed back unsent (its host was busy, or
								 * a rule held it): queued again, no attempt
								 * counted */
	OUTCOME_CANCELLED			/* not sent: its message was cancelled while
								 * it was in flight */
} OutcomeKind;

/*
 * A rule of the delivery's application that held it back or dropped it,
 * without a request: counted apart (counters.h).
 */
typedef enum OutcomeRule
{
	RULE_NONE,
	RULE_QUIET_HOURS,			/* OUTCOME_RELEASE, due at their end */
	RULE_CAP_DEFERRED,			/* OUTCOME_RELEASE, due when the frequency
								 * cap's window has room */
	RULE_CAP_DROPPED,			/* OUTCOME_FAILED, over the frequency cap */
	RULE_THROTTLED				/* OUTCOME_RELEASE, due when a rate (or a
								 * Retry-After pause) lets it go */
} OutcomeRule;

typedef struct Outcome
{
	DeliveryRef ref;
	OutcomeKind kind;
	int32		status;			/* HTTP status, 0 for none */
	char	   *reason;			/* malloc'd or NULL */
	char	   *endpoint;		/* where it went (or was to go): malloc'd or NULL */
	char	   *location;		/* delivered: the push message resource a
								 * cancel may DELETE, malloc'd; or NULL */
	double		retry_delay_ms; /* OUTCOME_RETRY and OUTCOME_RELEASE */
	bool		not_attempted;	/* claimed but never sent: not an attempt */
	/*
	 * OUTCOME_RELEASE held by a rule (RULE_QUIET_HOURS, RULE_CAP_DEFERRED,
	 * RULE_THROTTLED):
	 * due again at hold_until, with reason as the delivery's last_error.
	 * After quiet hours that is its due time, which its TTL counts from, as
	 * for a send at that local time; a deferred delivery keeps its TTL.
	 */
	OutcomeRule rule;
	TimestampTz hold_until;
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
		kind == OUTCOME_EXPIRED ? "expired" :
		kind == OUTCOME_CANCELLED ? "cancelled" : "failed";
}

/*
 * Record a batch of outcomes: history rows, retries, removed subscriptions.
 * Returns how many could not be written because of their data (a rule
 * refuses their row); those have kept[i] set, the others are written.
 */
extern int	queue_record_outcomes(const Outcome *outcomes, int n, bool *kept);

#endif							/* WEBPUSH_QUEUE_RECORD_H */
