/*
 * subscriptions.h
 *		Browser subscriptions, through SPI (applications and their keys are
 *		in applications.h).  Callers are SECURITY DEFINER functions or the worker,
 *		so every query names its schema.
 */
#ifndef WEBPUSH_QUEUE_SUBSCRIPTIONS_H
#define WEBPUSH_QUEUE_SUBSCRIPTIONS_H

#include "postgres.h"

#include "push/push.h"

/*
 * Insert or update by endpoint, bound to the application's key key_id;
 * returns the id.  With old_endpoint, a browser that moved: the stored
 * subscription of old_endpoint takes the new one, and keeps its id and
 * what waits for it.
 */
extern int64 store_upsert_subscription(const Subscription *sub, text *user_id,
									   const char *app, int64 key_id,
									   text *old_endpoint);

/*
 * Delete the subscription with this endpoint, if its application is one the
 * caller may use (webpush.may_use); false when there is none, else its
 * application into *app (palloc'd).
 */
extern bool store_delete_subscription_by_endpoint(text *endpoint, char **app);
/*
 * A subscription its push service answered 404 or 410 for: deleted, and
 * announced with NOTIFY on STORE_GONE_CHANNEL.  False when it was already
 * gone.  Any role may LISTEN on a channel, and NOTIFY on it, so the payload
 * names neither user nor application, and a listener takes it as a hint to
 * look the subscription up, never as proof that it went.
 */
#define STORE_GONE_CHANNEL "webpush_subscription_gone"
extern bool store_delete_gone_subscription(int64 id, const char *endpoint, int32 status);

/* Every subscription of a user in an application; returns how many. */
extern int64 store_delete_user_subscriptions(text *user_id, const char *app);

/*
 * The statement that deletes gone subscriptions, given $1 bigint[] (ids),
 * $2 integer[] (statuses) and $3 text[] (the endpoints that answered), and
 * notifies the application of each.  Only while the subscription still has
 * that endpoint: a browser that subscribed again meanwhile moved it to a
 * new one (old_endpoint), and the old endpoint's 404 or 410 says nothing
 * of the new.
 */
#define STORE_DELETE_GONE_SQL \
	"WITH o AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)," \
	"  pg_catalog.unnest($3)) AS o(id, status, endpoint))," \
	" d AS (DELETE FROM webpush.subscriptions s USING o WHERE s.id = o.id AND s.id <> 0" \
	"  AND s.endpoint = o.endpoint RETURNING s.id, o.status) " \
	"SELECT pg_catalog.pg_notify('" STORE_GONE_CHANNEL "'," \
	" pg_catalog.json_build_object('subscription_id', d.id, 'status', d.status)::text) FROM d"

/* Load a stored subscription; false when there is no such id. */
extern bool store_load_subscription(int64 id, Subscription *out);

/*
 * Set the time zone of every subscription of user_id in app (NULL: none,
 * the application's applies); returns how many.
 */
extern int64 store_set_user_time_zone(text *user_id, const char *app, const char *time_zone);

#endif							/* WEBPUSH_QUEUE_SUBSCRIPTIONS_H */
