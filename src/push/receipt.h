/*
 * receipt.h
 *		The ids a notification carries back in its receipts: the worker
 *		writes the message's and the subscription's id into the payload it
 *		encrypts for one recipient (pure C, no PostgreSQL header).
 *
 * webpush_notification() and webpush_notify() put the top-level member
 * "receipt": true into the JSON they build.  For each recipient the worker
 * replaces that value with {"message": M, "subscription": S}; the service
 * worker reports shown, clicked and closed with those two ids, and
 * webpush_receipt() records them.  A payload without the member, or one
 * that would no longer fit one record, is sent as it was stored.
 */
#ifndef WEBPUSH_RECEIPT_H
#define WEBPUSH_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

/* The member's key, as the builders write it. */
#define RECEIPT_KEY "receipt"

/*
 * What the splice may add to a payload at most: the ids object of two
 * 19-digit ids in place of "true".  The builders keep this much room below
 * the 3993-byte limit, so that their payloads always take the ids.
 */
#define RECEIPT_MAX_GROWTH \
	(sizeof("{\"message\": 9223372036854775807, \"subscription\": 9223372036854775807}") - 1 - 4)

/*
 * Writes payload (len bytes) into out (cap bytes) with the value of its
 * top-level member "receipt": true replaced by the ids object.  Returns the
 * length written, or 0 when payload is not a JSON object with that member
 * (nested objects, strings and other values are never touched), or when the
 * result would not fit in cap.  Only the text around the member is read:
 * the rest of the payload is copied as it is.
 */
extern size_t receipt_splice(const uint8_t *payload, size_t len,
							 int64_t message_id, int64_t subscription_id,
							 uint8_t *out, size_t cap);

#endif							/* WEBPUSH_RECEIPT_H */
