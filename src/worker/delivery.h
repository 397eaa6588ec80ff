/*
 * delivery.h
 *		The delivery core, shared by the background worker and
 *		webpush_send_now: the VAPID key cache, the request built for one
 *		recipient of one message, and a finished request judged by the one
 *		table of what a push service's answer means (verdict.h).
 *
 * The worker claims and records through queue/claim.h and
 * queue/record.h, and drives many requests through http.h;
 * webpush_send_now runs one.  Both go through here between
 * the two, so a message is signed, encrypted and judged the same way
 * whichever path sends it.
 */
#ifndef WEBPUSH_DELIVERY_H
#define WEBPUSH_DELIVERY_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "http/http.h"
#include "push/push.h"
#include "queue/claim.h"
#include "crypto/vapid.h"
#include "worker/verdict.h"

/*
 * The key cache.  A signer holds a key's private half, its application's
 * subject and the JWTs already signed per push service origin, for the life
 * of the process.  An entry is read from the tables again after
 * delivery_keys_expire(), so a rotation, a retired key or a new subject
 * shows at the next use.  Call inside a transaction.
 */
typedef enum SignerStatus
{
	SIGNER_OK,
	SIGNER_KEY_GONE,			/* the key was retired */
	SIGNER_NO_SUBJECT,			/* its application has no subject yet */
	SIGNER_FAILED				/* out of memory, or an unusable key */
} SignerStatus;

extern VapidSigner *delivery_signer(int64 key_id, SignerStatus *status);
extern void delivery_keys_expire(void);
extern const char *signer_status_message(SignerStatus status);

/*
 * Before a request signed for origin is built: when the signer holds no JWT
 * it may still use, the one every process of the cluster shares
 * (shmem/tokens.h) becomes its cached one, so that a push service sees
 * one token per key and audience.  delivery_build_request does this; any
 * other request signed with the signer's JWT must too.
 */
extern void delivery_share_jwt(VapidSigner *signer, const char *origin, time_t now);

/*
 * Build a ready-to-start request for msg into req (which the caller
 * created): encrypted for the recipient, signed with msg->signer.  Outside
 * a transaction is fine.  Returns NULL, or a static message saying what
 * failed.
 */
extern const char *delivery_build_request(const PushMessage *msg, HttpRequest *req);

/* The process's encryption state (NULL when out of memory). */
extern EceContext *delivery_ece(void);

/*
 * Before a claim's deliveries are built: make the key agreements of those
 * with a payload to encrypt together (ece_prepare); after: wipe what the
 * ones not sent left.
 */
extern void delivery_prepare_keys(const ClaimedMessage *claimed, int n,
								  TimestampTz now);
extern void delivery_forget_keys(void);

/*
 * What a finished request means for its delivery (verdict.h): its answer
 * judged against the delivery's attempts and TTL, now.
 */
typedef struct RetryBudget
{
	int32		attempts;		/* made so far, including this one */
	int32		max_attempts;	/* 0: a sender that never retries */
	TimestampTz expires_at;
} RetryBudget;

extern void delivery_judge(const HttpRequest *req, const RetryBudget *budget,
						   Verdict *verdict);

#endif							/* WEBPUSH_DELIVERY_H */
