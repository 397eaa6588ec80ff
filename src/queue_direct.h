/*
 * queue_direct.h
 *		The queue's tables without the executor: the path a row trigger
 *		takes on every row it fires for, a broadcast's, and the worker's
 *		claim and record of each delivery.
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

/*
 * The worker's taking in of webpush.intake: up to limit rows that no other
 * worker is taking, each deleted and turned into a message with its id and
 * a delivery for each subscription the user has now (none: no message), as
 * queue.c's statement would.  False, with nothing done, when the tables
 * are not the shape this file knows.
 */
extern bool queue_direct_take_in(int limit);

/*
 * The worker's claim of first attempts: for each of the due messages in
 * turn, its deliveries that nobody holds and that were never attempted, up
 * to limit in all, as queue.c's statement (UPDATE ... FOR UPDATE SKIP
 * LOCKED) would claim them.  Each goes into claimed[*n], allocated in cxt,
 * with the endpoint and keys of its subscription as they are now.  False,
 * with nothing done, when the tables are not the shape this file knows.
 */
extern bool queue_direct_claim_first(const int64 *message_ids, int nmessages, int limit,
									 MemoryContext cxt, ClaimedMessage *claimed, int *n);

/*
 * The final outcomes among outcomes: each delivery this worker still holds
 * leaves webpush.deliveries for a row of webpush.history.  False, with
 * nothing done, when the tables are not the shape this file knows.
 */
extern bool queue_direct_record_final(const Outcome *outcomes, int n);

#endif							/* WEBPUSH_QUEUE_DIRECT_H */
