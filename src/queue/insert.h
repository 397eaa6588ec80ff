/*
 * insert.h
 *		Rows of webpush.intake, webpush.messages and webpush.deliveries
 *		inserted through the executor's own helpers, without a SQL
 *		statement: what a row trigger stores on every row it fires for, and
 *		a send's message with a delivery per recipient.
 */
#ifndef WEBPUSH_QUEUE_INSERT_H
#define WEBPUSH_QUEUE_INSERT_H

#include "postgres.h"

#include "utils/array.h"

#include "queue/message.h"

/*
 * Store spec for user_id's subscriptions in spec->app, as queue_to_user's
 * statement would, and set *out (message_id 0: nobody to send to, or a
 * trigger of the table skipped the message).  False, with nothing done,
 * when this path does not apply (a dedupe_key, or a table this file cannot
 * insert into as an INSERT would); the caller then runs the statement.
 */
extern bool queue_insert_to_user(text *user_id, const MessageSpec *spec, Oid role,
								 QueuedMessage *out);

/*
 * As queue_insert_to_user, for each of the ids that is a subscription of
 * spec->app, once (webpush_send_many).
 */
extern bool queue_insert_to_subscriptions(ArrayType *ids, const MessageSpec *spec, Oid role,
										  QueuedMessage *out);

/*
 * A row trigger's notification, sent now (no send_at, no topic, no
 * dedupe_key, no local_time): one row of webpush.intake, with the id that
 * webpush.messages would give it, which the worker turns into the message
 * and its deliveries.  Needs spec->app's subject checked in this process
 * (app_subject_known) and no webpush.max_queued_per_role for the caller.
 * False, with nothing done, when webpush.intake is not a table this file
 * can insert into as an INSERT would; else *id is the message's id to be,
 * as stored, or 0 when the row was not stored (a BEFORE trigger may skip
 * it).
 */
extern bool queue_insert_intake(text *user_id, const MessageSpec *spec, int64 *id);

/*
 * As queue_insert_intake, without loading anything, and only while
 * webpush.intake (as this process last found it) runs nothing of anyone's
 * as a row goes in: no trigger, CHECK expression, default, generated
 * column, or index of anything but PostgreSQL's own access methods and
 * operators, so that which role inserts does not matter.  False,
 * with nothing done, otherwise: the caller then calls queue_insert_intake
 * as the function's owner, with search_path pinned.
 */
extern bool queue_insert_intake_plain(text *user_id, const MessageSpec *spec, int64 *id);

#endif							/* WEBPUSH_QUEUE_INSERT_H */
