/*
 * queue_direct.h
 *		The queue's tables without the executor: the path a row trigger
 *		takes on every row it fires for, and a broadcast's.
 */
#ifndef WEBPUSH_QUEUE_DIRECT_H
#define WEBPUSH_QUEUE_DIRECT_H

#include "postgres.h"

#include "utils/array.h"

#include "queue.h"

/*
 * Store spec for user_id's subscriptions in spec->app, as queue_to_user's
 * statement would, and set *out (message_id 0: nobody to send to).  False,
 * with nothing done, when this path does not apply (a dedupe_key, or a
 * schema it does not know); the caller then runs the statement.
 */
extern bool queue_direct_to_user(text *user_id, const MessageSpec *spec, Oid role,
								 QueuedMessage *out);

/*
 * Whether queue_direct_to_user would run no SQL statement for spec: the
 * tables are known, the application's subject was checked in this process,
 * and no webpush.max_queued_per_role applies to the caller.
 */
extern bool queue_direct_ready(const MessageSpec *spec);

/*
 * A row trigger's notification, sent now (no send_at, no topic): one row of
 * webpush.intake, which the worker turns into the message and its
 * deliveries (queue_take_in).  Needs queue_direct_ready(spec).  Returns the
 * message's id to be.
 */
extern int64 queue_direct_intake(text *user_id, const MessageSpec *spec);

/*
 * As queue_direct_to_user, for each of the ids that is a subscription of
 * spec->app, once (webpush_send_many, webpush_send to one id).
 */
extern bool queue_direct_to_subscriptions(ArrayType *ids, const MessageSpec *spec, Oid role,
										  QueuedMessage *out);

#endif							/* WEBPUSH_QUEUE_DIRECT_H */
