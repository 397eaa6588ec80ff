/*
 * subscription.c
 *		The checks a browser subscription's member values must pass.
 */
#include "push/subscription.h"

#include <string.h>

#include "crypto/b64.h"
#include "crypto/p256.h"

SubscriptionError
subscription_check_endpoint(const char *url, size_t len, const EndpointPolicy *policy,
							SubscriptionChecked *out)
{
	/* The URL parser stops at a NUL; the endpoint must not hide one. */
	out->endpoint_error = memchr(url, '\0', len) != NULL ? ENDPOINT_BAD_CHARACTER :
		endpoint_parse(url, len, policy, &out->endpoint);
	if (out->endpoint_error == ENDPOINT_OK)
		return SUBSCRIPTION_OK;
	return out->endpoint_error == ENDPOINT_NON_PUBLIC_ADDRESS ?
		SUBSCRIPTION_NON_PUBLIC_ENDPOINT : SUBSCRIPTION_BAD_ENDPOINT;
}

SubscriptionError
subscription_check_p256dh(const char *text, size_t len, uint8_t out[P256_PUBLIC_LEN])
{
	uint8_t		raw[P256_PUBLIC_LEN];
	EVP_PKEY   *key;

	if (b64_decode(text, len, raw, sizeof(raw)) != P256_PUBLIC_LEN)
		return SUBSCRIPTION_P256DH_ENCODING;
	/* The full check: keys are validated once, here, not per message. */
	key = p256_public_from_raw(raw, 1);
	if (key == NULL)
		return SUBSCRIPTION_P256DH_NOT_ON_CURVE;
	EVP_PKEY_free(key);
	memcpy(out, raw, P256_PUBLIC_LEN);
	return SUBSCRIPTION_OK;
}

SubscriptionError
subscription_check_auth(const char *text, size_t len, uint8_t out[ECE_AUTH_LEN])
{
	if (b64_decode(text, len, out, ECE_AUTH_LEN) != ECE_AUTH_LEN)
		return SUBSCRIPTION_AUTH_ENCODING;
	return SUBSCRIPTION_OK;
}

SubscriptionError
subscription_check(const SubscriptionText *in, const EndpointPolicy *policy, SubscriptionChecked *out)
{
	SubscriptionError err;

	memset(out, 0, sizeof(*out));
	if ((err = subscription_check_endpoint(in->endpoint, in->endpoint_len,
										   policy, out)) != SUBSCRIPTION_OK ||
		(err = subscription_check_p256dh(in->p256dh, in->p256dh_len,
										 out->p256dh)) != SUBSCRIPTION_OK ||
		(err = subscription_check_auth(in->auth, in->auth_len,
									   out->auth)) != SUBSCRIPTION_OK)
		return err;
	/* NaN fails both comparisons. */
	if (in->has_expiration &&
		!(in->expiration_ms >= 0 && in->expiration_ms <= SUBSCRIPTION_MAX_EXPIRATION_MS))
		return SUBSCRIPTION_EXPIRATION_RANGE;
	return SUBSCRIPTION_OK;
}
