/*
 * subscription.h
 *		The checks a browser subscription must pass, on its member values:
 *		the endpoint, the p256dh key, the auth secret and expirationTime.
 *
 * validate.c takes the values out of the jsonb the user passed (and turns
 * each error code here into an ERROR); fuzz/fuzz_subscription.c feeds them
 * from JSON text parsed by PostgreSQL's own parser.  Pure C and OpenSSL, no
 * PostgreSQL headers.
 */
#ifndef WEBPUSH_SUBSCRIPTION_H
#define WEBPUSH_SUBSCRIPTION_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/ece.h"
#include "http/endpoint.h"

/* Latest expirationTime accepted: the end of the year 9999, in ms. */
#define SUBSCRIPTION_MAX_EXPIRATION_MS 253402300799999.0

/* The member values, as text (not NUL-terminated; lengths given). */
typedef struct SubscriptionText
{
	const char *endpoint;
	size_t		endpoint_len;
	const char *p256dh;
	size_t		p256dh_len;
	const char *auth;
	size_t		auth_len;
	int			has_expiration;
	double		expiration_ms;	/* milliseconds since 1970 */
} SubscriptionText;

typedef enum SubscriptionError
{
	SUBSCRIPTION_OK = 0,
	SUBSCRIPTION_BAD_ENDPOINT,	/* why: the EndpointError */
	SUBSCRIPTION_NON_PUBLIC_ENDPOINT,	/* an address literal in a private range */
	SUBSCRIPTION_P256DH_ENCODING,	/* not base64 of 65 bytes */
	SUBSCRIPTION_P256DH_NOT_ON_CURVE,
	SUBSCRIPTION_AUTH_ENCODING, /* not base64 of 16 bytes */
	SUBSCRIPTION_EXPIRATION_RANGE
} SubscriptionError;

/* What a subscription that passed is made of. */
typedef struct SubscriptionChecked
{
	Endpoint	endpoint;
	EndpointError endpoint_error;	/* set for SUBSCRIPTION_BAD_ENDPOINT */
	uint8_t		p256dh[P256_PUBLIC_LEN];
	uint8_t		auth[ECE_AUTH_LEN];
} SubscriptionChecked;

/* Each value on its own, as the SQL functions that take one need. */
extern SubscriptionError subscription_check_endpoint(const char *url, size_t len,
													 const EndpointPolicy *policy,
													 SubscriptionChecked *out);
extern SubscriptionError subscription_check_p256dh(const char *text, size_t len,
												   uint8_t out[P256_PUBLIC_LEN]);
extern SubscriptionError subscription_check_auth(const char *text, size_t len,
												 uint8_t out[ECE_AUTH_LEN]);

/* All of them, in that order: the first error found. */
extern SubscriptionError subscription_check(const SubscriptionText *in, const EndpointPolicy *policy,
											SubscriptionChecked *out);

#endif							/* WEBPUSH_SUBSCRIPTION_H */
