/*
 * store.h
 *		The extension's tables through SPI: the VAPID key pair and the
 *		subscriptions.  Callers are SECURITY DEFINER functions or the worker,
 *		so every query names its schema.
 */
#ifndef WEBPUSH_STORE_H
#define WEBPUSH_STORE_H

#include "postgres.h"

#include "p256.h"
#include "validate.h"

/* The key pair, if one exists. */
extern bool store_load_keys(uint8 private_key[P256_PRIVATE_LEN],
							uint8 public_key[P256_PUBLIC_LEN]);

/* The public key, generating and storing a pair first if there is none. */
extern void store_get_or_create_keys(uint8 public_key[P256_PUBLIC_LEN]);

/* Replace the pair; returns how many subscriptions exist (bound to the old). */
extern int64 store_replace_keys(const uint8 private_key[P256_PRIVATE_LEN],
								const uint8 public_key[P256_PUBLIC_LEN]);

/* Insert or update by endpoint; returns the id. */
extern int64 store_upsert_subscription(const Subscription *sub, text *user_id);

extern bool store_delete_subscription_by_endpoint(text *endpoint);
extern bool store_delete_subscription(int64 id);

/* Load a stored subscription; false when there is no such id. */
extern bool store_load_subscription(int64 id, Subscription *out);

#endif							/* WEBPUSH_STORE_H */
