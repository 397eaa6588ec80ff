/*
 * intake.h
 *		The statement that makes rows of webpush.intake (a row trigger's
 *		sends) into messages and deliveries: the worker's take-in (claim.c),
 *		and webpush_cancel's for a send not yet taken in (enqueue.c).
 */
#ifndef WEBPUSH_QUEUE_INTAKE_H
#define WEBPUSH_QUEUE_INTAKE_H

/*
 * The rows of webpush.intake that "rows" picks (a condition of the DELETE)
 * become messages, with the ids they were given, and a delivery for each
 * subscription their user has now; a user with none gets no message.  The
 * TTL counts from the trigger's transaction.  The statement returns
 * "result" of the rows taken in (i).
 */
#define TAKE_IN_SQL(rows, result) \
	"WITH i AS (DELETE FROM webpush.intake WHERE " rows \
	"  RETURNING id, application, user_id, payload, ttl, urgency, queued_at, source)," \
	" r AS (SELECT i.id, s.id AS subscription_id FROM i" \
	"  JOIN webpush.subscriptions s" \
	"  ON s.application = i.application AND s.user_id = i.user_id)," \
	" m AS (INSERT INTO webpush.messages (id, application, payload, ttl," \
	"   urgency, send_at, expires_at, recipients, created_at, source)" \
	"  SELECT i.id, i.application, i.payload, i.ttl, i.urgency, i.queued_at," \
	"   i.queued_at + pg_catalog.make_interval(secs => i.ttl), c.n, i.queued_at," \
	"   i.source" \
	"  FROM i JOIN (SELECT id, pg_catalog.count(*)::integer AS n FROM r" \
	"   GROUP BY id) c ON c.id = i.id)," \
	" d AS (INSERT INTO webpush.deliveries (message_id, subscription_id)" \
	"  SELECT id, subscription_id FROM r) " \
	"SELECT " result " FROM i"

#endif							/* WEBPUSH_QUEUE_INTAKE_H */
