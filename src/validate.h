/*
 * validate.h
 *		Checks every user input once, where it enters: subscription objects,
 *		keys, endpoints and message options.  Each failure is an ERROR that
 *		says what to fix, raised before anything is stored or queued.
 */
#ifndef WEBPUSH_VALIDATE_H
#define WEBPUSH_VALIDATE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "ece.h"
#include "endpoint.h"

/* A subscription, decoded and checked. */
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
} Subscription;

/* Options of one notification, checked. */
typedef struct MessageOptions
{
	int32		ttl;
	char		urgency[16];
	char		topic[32 + 1];
	bool		has_topic;
} MessageOptions;

extern void validate_subscription_json(Jsonb *json, Subscription *out);
extern void validate_endpoint(const char *url, size_t len, Endpoint *out);
extern void validate_p256dh(const char *text, size_t len, uint8 out[P256_PUBLIC_LEN]);
extern void validate_auth(const char *text, size_t len, uint8 out[ECE_AUTH_LEN]);

/* ttl, urgency and topic may come from NULL arguments: pass isnull flags. */
extern void validate_message_options(bool ttl_null, int32 ttl,
									 text *urgency, text *topic,
									 MessageOptions *out);
extern void validate_payload_length(size_t len);

/* webpush_notification(): a non-empty title (notification.h checks the rest). */
extern void validate_notification_title(text *title);

/* Error unless an argument that must be given was (isnull false). */
extern void validate_not_null(bool isnull, const char *name);

#endif							/* WEBPUSH_VALIDATE_H */
