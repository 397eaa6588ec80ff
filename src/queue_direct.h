/*
 * queue_direct.h
 *		Storing a row trigger's notifications without the executor: the
 *		path a trigger takes on every row it fires for.
 */
#ifndef WEBPUSH_QUEUE_DIRECT_H
#define WEBPUSH_QUEUE_DIRECT_H

#include "postgres.h"

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

#endif							/* WEBPUSH_QUEUE_DIRECT_H */
