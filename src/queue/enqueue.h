/*
 * enqueue.h
 *		Queueing: a message and its deliveries stored through SPI for the
 *		worker, a cancel, and the wake-up at COMMIT.  The SQL functions call it.
 */
#ifndef WEBPUSH_QUEUE_ENQUEUE_H
#define WEBPUSH_QUEUE_ENQUEUE_H

#include "postgres.h"

#include "utils/array.h"

#include "queue/message.h"

extern QueuedMessage queue_to_subscription(int64 subscription_id, const MessageSpec *spec);
extern QueuedMessage queue_to_object(const Subscription *sub, int64 key_id,
									 const MessageSpec *spec);
extern QueuedMessage queue_to_user(text *user_id, const MessageSpec *spec);
/* Each existing id of the application once; others are skipped. */
extern QueuedMessage queue_to_subscriptions(ArrayType *ids, const MessageSpec *spec);

/* Record the row a trigger sent message_id for (queued by queue_to_user). */
extern void queue_record_source(int64 message_id, text *source);

/*
 * Cancel the deliveries of a message not in flight, and queue a DELETE
 * (webpush.recalls) for each delivered copy a push service still holds at
 * a push message resource it named; returns how many of both.  A row
 * trigger's send still in webpush.intake is made into its message first,
 * as the worker would.
 */
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
 * The role whose queued notifications count against
 * webpush.max_queued_per_role, or InvalidOid when no limit applies to the
 * caller.  Messages are tagged with it (queued_by) as they are queued.
 */
extern Oid	queue_limited_role(void);

#endif							/* WEBPUSH_QUEUE_ENQUEUE_H */
