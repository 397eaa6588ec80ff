/*
 * validate.c
 *		Checks every user input once, where it enters.
 */
#include "postgres.h"

#include <string.h>

#include "utils/builtins.h"
#include "utils/numeric.h"

#include "b64.h"
#include "p256.h"
#include "push.h"
#include "validate.h"
#include "webpush.h"

/* The member "key" of a JSON object, or NULL. */
static JsonbValue *
json_member(JsonbContainer *object, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(object, JB_FOBJECT, &k);
}

static char *
json_string_member(JsonbContainer *object, const char *key, const char *path)
{
	JsonbValue *v = json_member(object, key);

	if (v == NULL || v->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("push subscription has no \"%s\"", path),
				 errhint("Pass the browser's PushSubscription.toJSON() unchanged: {\"endpoint\": ..., \"keys\": {\"p256dh\": ..., \"auth\": ...}}.")));
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("push subscription member \"%s\" must be a string", path),
				 errhint("Pass the browser's PushSubscription.toJSON() unchanged.")));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

void
validate_endpoint(const char *url, size_t len, Endpoint *out)
{
	EndpointError err;

	if (memchr(url, '\0', len) != NULL)
		err = ENDPOINT_BAD_CHARACTER;
	else
		err = endpoint_parse(url, len, webpush_allow_private_endpoints, out);
	if (err == ENDPOINT_OK)
		return;
	if (err == ENDPOINT_NON_PUBLIC_ADDRESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("push endpoint refers to a non-public address"),
				 errdetail("The endpoint's host is in a non-public address range (%s).",
						   address_class_name(out->literal_class)),
				 errhint("Only a superuser can allow such endpoints, with webpush.allow_private_endpoints.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid push endpoint"),
			 errdetail("%s", endpoint_error_message(err)),
			 errhint("The endpoint must be the absolute https URL the browser's push service gave, at most 2048 bytes.")));
}

void
validate_p256dh(const char *text, size_t len, uint8 out[P256_PUBLIC_LEN])
{
	uint8		raw[P256_PUBLIC_LEN];
	EVP_PKEY   *key;

	if (b64_decode(text, len, raw, sizeof(raw)) != P256_PUBLIC_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid p256dh key"),
				 errdetail("keys.p256dh must be base64url (or base64) of a 65-byte uncompressed P-256 point: 87 characters without padding."),
				 errhint("Pass the browser's PushSubscription.toJSON() unchanged.")));
	key = p256_public_from_raw(raw, 1);
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid p256dh key"),
				 errdetail("keys.p256dh is not an uncompressed point on the P-256 curve."),
				 errhint("The key was corrupted on its way from the browser.")));
	EVP_PKEY_free(key);
	memcpy(out, raw, P256_PUBLIC_LEN);
}

void
validate_auth(const char *text, size_t len, uint8 out[ECE_AUTH_LEN])
{
	if (b64_decode(text, len, out, ECE_AUTH_LEN) != ECE_AUTH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid auth secret"),
				 errdetail("keys.auth must be base64url (or base64) of 16 bytes: 22 characters without padding."),
				 errhint("Pass the browser's PushSubscription.toJSON() unchanged.")));
}

void
validate_subscription_json(Jsonb *json, Subscription *out)
{
	JsonbValue *keys;
	JsonbValue *expiration;
	char	   *p256dh;
	char	   *auth;

	memset(out, 0, sizeof(*out));
	if (!JB_ROOT_IS_OBJECT(json) || JB_ROOT_IS_SCALAR(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("push subscription must be a JSON object"),
				 errhint("Pass the browser's PushSubscription.toJSON() unchanged: {\"endpoint\": ..., \"keys\": {\"p256dh\": ..., \"auth\": ...}}.")));

	out->endpoint = json_string_member(&json->root, "endpoint", "endpoint");
	validate_endpoint(out->endpoint, strlen(out->endpoint), &out->parsed);

	keys = json_member(&json->root, "keys");
	if (keys == NULL || keys->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("push subscription has no \"keys\""),
				 errhint("Pass the browser's PushSubscription.toJSON() unchanged: {\"endpoint\": ..., \"keys\": {\"p256dh\": ..., \"auth\": ...}}.")));
	if (keys->type != jbvBinary || !JsonContainerIsObject(keys->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("push subscription member \"keys\" must be an object"),
				 errhint("Pass the browser's PushSubscription.toJSON() unchanged: {\"endpoint\": ..., \"keys\": {\"p256dh\": ..., \"auth\": ...}}.")));

	p256dh = json_string_member(keys->val.binary.data, "p256dh", "keys.p256dh");
	auth = json_string_member(keys->val.binary.data, "auth", "keys.auth");
	validate_p256dh(p256dh, strlen(p256dh), out->p256dh);
	validate_auth(auth, strlen(auth), out->auth);

	/* expirationTime: null, or milliseconds since the Unix epoch. */
	expiration = json_member(&json->root, "expirationTime");
	if (expiration != NULL && expiration->type != jbvNull)
	{
		float8		ms;

		if (expiration->type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("push subscription member \"expirationTime\" must be null or a number"),
					 errdetail("It is milliseconds since 1970-01-01, as the browser gives it.")));
		ms = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												NumericGetDatum(expiration->val.numeric)));
		/* Up to the year 9999. */
		if (!(ms >= 0 && ms <= 253402300799999.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("push subscription expirationTime is out of range"),
					 errdetail("It is milliseconds since 1970-01-01, as the browser gives it.")));
		out->has_expiration = true;
		out->expiration = DatumGetTimestampTz(DirectFunctionCall1(float8_timestamptz,
																  Float8GetDatum(ms / 1000.0)));
	}
}

void
validate_message_options(bool ttl_null, int32 ttl, text *urgency, text *topic,
						 MessageOptions *out)
{
	memset(out, 0, sizeof(*out));

	if (ttl_null || ttl < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be zero or more seconds"),
				 errdetail("ttl is how long the push service may keep the message for an offline browser; 0 means deliver now or never."),
				 errhint("The default is 2419200 (28 days).")));
	out->ttl = ttl;

	if (urgency == NULL)
		strcpy(out->urgency, "normal");
	else
	{
		char	   *u = text_to_cstring(urgency);

		if (strcmp(u, "very-low") != 0 && strcmp(u, "low") != 0 &&
			strcmp(u, "normal") != 0 && strcmp(u, "high") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid urgency \"%s\"", u),
					 errhint("Use one of very-low, low, normal, high.")));
		strcpy(out->urgency, u);
	}

	if (topic != NULL)
	{
		const char *t = VARDATA_ANY(topic);
		size_t		len = VARSIZE_ANY_EXHDR(topic);

		if (len < 1 || len > PUSH_TOPIC_MAX_LEN || !b64url_is_alphabet(t, len))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid topic"),
					 errdetail("A topic is 1 to 32 characters of the base64url alphabet (A-Z a-z 0-9 - _)."),
					 errhint("Use NULL for no topic.")));
		memcpy(out->topic, t, len);
		out->topic[len] = '\0';
		out->has_topic = true;
	}
}

void
validate_payload_length(size_t len)
{
	if (len > ECE_MAX_PLAINTEXT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("push payload is too large"),
				 errdetail("The payload is %zu bytes; one encrypted Web Push record holds at most %d.",
						   len, ECE_MAX_PLAINTEXT),
				 errhint("Send less and let the service worker fetch the rest.")));
}

void
validate_not_null(bool isnull, const char *name)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 errhint("Only the payload (for a push without payload) and the optional arguments may be NULL.")));
}

void
validate_notification_title(text *title)
{
	if (title == NULL || VARSIZE_ANY_EXHDR(title) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a notification needs a title"),
				 errdetail("Browsers show the title in bold; the body alone cannot be shown."),
				 errhint("Pass a non-empty title, for example webpush_notification('Order shipped', 'Your teapot is on its way').")));
}

/*
 * The service worker opens this URL on a click: a path of the site, or an
 * http(s) URL.  Anything else (javascript:, data:, a protocol-relative //host)
 * is refused here rather than silently ignored in the browser.
 */
void
validate_notification_url(text *url)
{
	const char *u = VARDATA_ANY(url);
	size_t		len = VARSIZE_ANY_EXHDR(url);
	bool		path = len >= 1 && u[0] == '/' && (len == 1 || u[1] != '/');
	bool		absolute = (len > 7 && pg_strncasecmp(u, "http://", 7) == 0) ||
		(len > 8 && pg_strncasecmp(u, "https://", 8) == 0);

	if (!path && !absolute)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid notification url \"%s\"", text_to_cstring(url)),
				 errdetail("The service worker opens this URL when the notification is clicked."),
				 errhint("Use a path of your site such as /orders/42, or an https:// URL.")));
}
