/*
 * store.h
 *		Browser subscriptions, through SPI (applications and their keys are
 *		in applications.h).  Callers are SECURITY DEFINER functions or the worker,
 *		so every query names its schema.
 */
#ifndef WEBPUSH_STORE_H
#define WEBPUSH_STORE_H

#include "postgres.h"

#include "validate.h"

/*
 * Insert or update by endpoint, bound to the application's key key_id;
 * returns the id.  With old_endpoint, a browser that moved: the stored
 * subscription of old_endpoint takes the new one, and keeps its id and
 * what waits for it.
 */
extern int64 store_upsert_subscription(const Subscription *sub, text *user_id,
									   const char *app, int64 key_id,
									   text *old_endpoint);

extern bool store_delete_subscription_by_endpoint(text *endpoint);
extern bool store_delete_subscription(int64 id);

/* Load a stored subscription; false when there is no such id. */
extern bool store_load_subscription(int64 id, Subscription *out);

#endif							/* WEBPUSH_STORE_H */
