/*
 * message.h
 *		A notification to queue, as the SQL functions and the row trigger
 *		hand it to the queue (enqueue.h, insert.h), and what queueing it made.
 */
#ifndef WEBPUSH_QUEUE_MESSAGE_H
#define WEBPUSH_QUEUE_MESSAGE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/date.h"

#include "push/push.h"

/* What to send, checked by the caller. */
typedef struct MessageSpec
{
	const char *app;			/* NULL: the subscription's (send by id) */
	bytea	   *payload;		/* NULL: a push without payload */
	MessageOptions opts;
	bool		has_send_at;	/* else: now */
	TimestampTz send_at;
	text	   *dedupe_key;		/* NULL for none */
	bool		has_local_time; /* each recipient at this time of day in its
								 * zone, the first on or after send_at */
	TimeADT		local_time;
	text	   *source;			/* the row a trigger sent it for, or NULL */
} MessageSpec;

/* A message queued (or found by its dedupe_key). */
typedef struct QueuedMessage
{
	int64		message_id;		/* 0 when there was nobody to send to */
	int64		recipients;		/* RECIPIENTS_AFTER_COMMIT: see below */
} QueuedMessage;

/*
 * A message stored as a row of webpush.intake: the worker finds its
 * recipients after COMMIT, and makes the message (with its id) only if
 * there are any.
 */
#define RECIPIENTS_AFTER_COMMIT (-1)

#endif							/* WEBPUSH_QUEUE_MESSAGE_H */
