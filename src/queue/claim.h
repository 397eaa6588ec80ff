/*
 * claim.h
 *		The worker's claim: due deliveries taken for sending (FOR UPDATE SKIP
 *		LOCKED), the intake turned into messages, and when the next falls due.
 */
#ifndef WEBPUSH_QUEUE_CLAIM_H
#define WEBPUSH_QUEUE_CLAIM_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/itemptr.h"
#include "utils/date.h"

#include "crypto/ece.h"
#include "crypto/p256.h"
#include "push/push.h"
#include "shmem/counters.h"

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
	/*
	 * Let through under its application's frequency cap: it holds its place
	 * among what the workers count for its user until its outcome is
	 * recorded (worker/frequency_cap.c, shmem/cap_holds.h).
	 */
	bool		capped;
	int64		key_id;			/* the VAPID key that signs it, for the history */
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
	/* The application's quiet hours, in this recipient's zone. */
	bool		has_quiet_hours;
	TimeADT		quiet_start;
	TimeADT		quiet_end;
	char		time_zone[PUSH_TIME_ZONE_MAX_LEN + 1];
	char		app_time_zone[PUSH_TIME_ZONE_MAX_LEN + 1];	/* when that one is
															 * no longer known */
	/*
	 * The application's frequency cap, for a recipient with a user
	 * (cap_max 0: none): at most cap_max messages per cap_window
	 * (microseconds), over it dropped or deferred.  With it, what the
	 * history holds of that user's last window: the cap_ncounted messages
	 * delivered to them, oldest first, each with its last delivery.
	 */
	int32		cap_max;
	int64		cap_window;
	bool		cap_drop;
	int			cap_ncounted;
	int64	   *cap_messages;
	TimestampTz *cap_times;
	/* The application's rate (webpush_application_rate); 0: none. */
	double		app_rate;
	int32		app_burst;
	/*
	 * webpush_cancel() cancelled the message while this delivery was in
	 * flight, and it came back (a retry, handed back, its worker gone): it
	 * is recorded as cancelled, not sent.
	 */
	bool		cancelled;
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

/*
 * Something changed what waits for a retry (an outcome recorded, rows
 * handed back): queue_claim looks for retries again instead of trusting
 * queue_next_due's last answer.
 */
extern void queue_retries_changed(void);

#endif							/* WEBPUSH_QUEUE_CLAIM_H */
