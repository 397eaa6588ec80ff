/*
 * push.h
 *		One Web Push request (RFC 8030): encrypt the payload, sign for the
 *		endpoint's origin, set the headers.
 *
 * Ties the crypto modules to an HttpRequest; knows nothing of queues, keys
 * in tables or SQL.  The delivery core (delivery.h) calls it.
 */
#ifndef WEBPUSH_PUSH_H
#define WEBPUSH_PUSH_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "crypto/ece.h"
#include "http/http.h"
#include "crypto/vapid.h"

#define PUSH_TOPIC_MAX_LEN		32
/* An IANA time zone name ("America/Argentina/ComodRivadavia" is 32). */
#define PUSH_TIME_ZONE_MAX_LEN	64
#define PUSH_DEFAULT_TTL		2419200 /* 28 days, what FCM keeps at most */

/* A subscription, decoded and checked (sql/validate.h). */
typedef struct Subscription
{
	int64		id;				/* 0 when not stored */
	int64		key_id;			/* the VAPID key it was made with */
	char	   *application;	/* a stored one's; NULL otherwise */
	char	   *endpoint;
	Endpoint	parsed;			/* origin, for the VAPID aud claim */
	uint8		p256dh[P256_PUBLIC_LEN];
	uint8		auth[ECE_AUTH_LEN];
	bool		has_expiration;
	TimestampTz expiration;
	char		time_zone[PUSH_TIME_ZONE_MAX_LEN + 1];	/* "" for none */
} Subscription;

/* Options of one notification, checked (sql/validate.h). */
typedef struct MessageOptions
{
	int32		ttl;
	char		urgency[16];
	char		topic[32 + 1];
	bool		has_topic;
} MessageOptions;

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

/*
 * Build a ready-to-start request into req (which the caller created),
 * encrypting with ece.  Returns NULL on success, or a static message saying
 * what failed.  What the answer means is the delivery core's (delivery.h).
 */
extern const char *push_build_request(EceContext *ece, const PushMessage *msg,
									  time_t now, HttpRequest *req);

/*
 * Whether a 201's Location (RFC 8030 §5, the push message resource) may be
 * kept for a DELETE: an https URL of ASCII characters, allowed by
 * policy, on the origin (scheme, host, port) the message was sent to.  A
 * push service names its own resources; a Location elsewhere would make a
 * cancel send a signed request to a host nobody subscribed to.
 */
extern bool push_location_usable(const char *location, const char *endpoint_origin,
								 const EndpointPolicy *policy);

/*
 * Build the DELETE of a push message resource into req (which the caller
 * created), signed for its origin (endpoint_parse's, under the policy
 * that applies now): autopush lets the sender that posted a
 * message remove it while it is undelivered.  Returns NULL on success, or a
 * static message saying what failed.
 */
extern const char *push_build_recall(VapidSigner *signer, const char *location,
									 const char *origin, time_t now, HttpRequest *req);

#endif							/* WEBPUSH_PUSH_H */
