/*
 * push.h
 *		One Web Push request (RFC 8030): encrypt the payload, sign for the
 *		endpoint's origin, set the headers; and what a response means.
 *
 * Ties the crypto modules to an HttpRequest; knows nothing of queues or SQL,
 * so the synchronous path (webpush_send_now) and the worker share it.
 */
#ifndef WEBPUSH_PUSH_H
#define WEBPUSH_PUSH_H

#include "postgres.h"

#include "ece.h"
#include "http.h"
#include "vapid.h"

#define PUSH_TOPIC_MAX_LEN		32
#define PUSH_DEFAULT_TTL		2419200 /* 28 days, what FCM keeps at most */

/* One notification, already validated (see validate.h). */
typedef struct PushMessage
{
	VapidSigner *signer;		/* the key the subscription was made with */
	const char *endpoint;
	const char *origin;			/* from endpoint_parse */
	const uint8 *p256dh;		/* P256_PUBLIC_LEN bytes */
	const uint8 *auth;			/* ECE_AUTH_LEN bytes */
	const uint8 *payload;		/* NULL: a push without payload */
	size_t		payload_len;
	int32		ttl;
	const char *urgency;		/* very-low, low, normal, high */
	const char *topic;			/* NULL for none */
} PushMessage;

/* What a sender does with a completed request (PROTOCOL.md, Responses). */
typedef enum PushOutcome
{
	PUSH_DELIVERED,				/* 2xx */
	PUSH_RETRY,					/* 5xx, timeouts, connection errors */
	PUSH_RATE_LIMITED,			/* 429 (and WNS's 406): obey Retry-After */
	PUSH_GONE,					/* 404, 410: the subscription is dead */
	PUSH_FAILED					/* other 4xx, refused addresses: permanent */
} PushOutcome;

/* Per-process crypto state shared by every request. */
typedef struct PushContext
{
	EceContext *ece;
} PushContext;

/*
 * Build a ready-to-start request into req (which the caller created).
 * Returns NULL on success, or a static message saying what failed.
 */
extern const char *push_build_request(PushContext *ctx, const PushMessage *msg,
									  time_t now, HttpRequest *req);

extern PushOutcome push_outcome(const HttpRequest *req);
extern const char *push_outcome_name(PushOutcome outcome);


/* Make ctx ready (once per process); false when out of memory. */
extern bool push_context_prepare(PushContext *ctx);

#endif							/* WEBPUSH_PUSH_H */
