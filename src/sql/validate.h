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

#include "push/push.h"

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

/*
 * An IANA time zone PostgreSQL knows (or UTC), as its database spells it,
 * into out; an ERROR otherwise.
 */
extern void validate_time_zone(text *zone, char out[PUSH_TIME_ZONE_MAX_LEN + 1]);

/* Error unless an argument that must be given was (isnull false). */
extern void validate_not_null(bool isnull, const char *name);

#endif							/* WEBPUSH_VALIDATE_H */
