/*
 * validate.c
 *		Checks every user input once, where it enters.
 */
#include "postgres.h"

#include <string.h>

#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "crypto/b64.h"
#include "crypto/p256.h"
#include "push/push.h"
#include "push/subscription.h"
#include "sql/validate.h"
#include "settings.h"

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

/* The ERROR for a subscription value that failed its check (c: for endpoints). */
static void
report_subscription_error(SubscriptionError err, const SubscriptionChecked *c)
{
	switch (err)
	{
		case SUBSCRIPTION_OK:
			return;
		case SUBSCRIPTION_NON_PUBLIC_ENDPOINT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("push endpoint refers to a non-public address"),
					 errdetail("The endpoint's host is in a non-public address range (%s).",
							   address_class_name(c->endpoint.literal_class)),
					 errhint("Only a superuser can allow such endpoints, with webpush.allow_private_endpoints.")));
			break;
		case SUBSCRIPTION_BAD_ENDPOINT:
			if (c->endpoint_error == ENDPOINT_PORT_NOT_ALLOWED)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("push endpoint port %d is not allowed", c->endpoint.port),
						 errdetail("%s", endpoint_error_message(c->endpoint_error)),
						 errhint("Push services listen on port 443; a superuser can allow more ports with webpush.allowed_ports.")));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid push endpoint"),
					 errdetail("%s", endpoint_error_message(c->endpoint_error)),
					 errhint("The endpoint must be the absolute https URL the browser's push service gave, at most 2048 bytes.")));
			break;
		case SUBSCRIPTION_P256DH_ENCODING:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid p256dh key"),
					 errdetail("keys.p256dh must be base64url (or base64) of a 65-byte uncompressed P-256 point: 87 characters without padding."),
					 errhint("Pass the browser's PushSubscription.toJSON() unchanged.")));
			break;
		case SUBSCRIPTION_P256DH_NOT_ON_CURVE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid p256dh key"),
					 errdetail("keys.p256dh is not an uncompressed point on the P-256 curve."),
					 errhint("The key was corrupted on its way from the browser.")));
			break;
		case SUBSCRIPTION_AUTH_ENCODING:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid auth secret"),
					 errdetail("keys.auth must be base64url (or base64) of 16 bytes: 22 characters without padding."),
					 errhint("Pass the browser's PushSubscription.toJSON() unchanged.")));
			break;
		case SUBSCRIPTION_EXPIRATION_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("push subscription expirationTime is out of range"),
					 errdetail("It is milliseconds since 1970-01-01, as the browser gives it.")));
			break;
	}
}

void
validate_endpoint(const char *url, size_t len, Endpoint *out)
{
	SubscriptionChecked checked;

	report_subscription_error(subscription_check_endpoint(url, len,
														  &webpush_endpoint_policy,
														  &checked),
							  &checked);
	*out = checked.endpoint;
}

void
validate_p256dh(const char *text, size_t len, uint8 out[P256_PUBLIC_LEN])
{
	report_subscription_error(subscription_check_p256dh(text, len, out), NULL);
}

void
validate_auth(const char *text, size_t len, uint8 out[ECE_AUTH_LEN])
{
	report_subscription_error(subscription_check_auth(text, len, out), NULL);
}

/*
 * name as PostgreSQL's time zone database spells it, into out; false when
 * it is not a zone there.  POSIX rule strings ("EST5EDT,M3.2.0,M11.1.0"),
 * which pg_tzset also takes, are refused: they are no place's time, and
 * the IANA names that look like them (EST5EDT) are legacy zones no
 * browser reports.  A rule string with a "/" in it ("Etc/GMT+99",
 * "X/Y-167") gets past that first test: pg_tzset, finding no file of that
 * name, parses it as a rule and names it in capitals, where the zones'
 * files under a region ("Etc/GMT+5", "America/New_York") are spelled with
 * small letters too.
 */
static bool
lowercase_in(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			return true;
	return false;
}

static bool
known_time_zone(const char *name, char out[PUSH_TIME_ZONE_MAX_LEN + 1])
{
	pg_tz	   *tz;
	const char *canonical;

	if (name[0] == '\0' || strlen(name) > PUSH_TIME_ZONE_MAX_LEN ||
		(strchr(name, '/') == NULL && strpbrk(name, "0123456789<>,+-") != NULL))
		return false;
	tz = pg_tzset(name);
	if (tz == NULL || !pg_tz_acceptable(tz))
		return false;
	canonical = pg_get_timezone_name(tz);
	if (canonical == NULL || (strchr(canonical, '/') != NULL && !lowercase_in(canonical)))
		return false;
	strlcpy(out, canonical ? canonical : name, PUSH_TIME_ZONE_MAX_LEN + 1);
	return true;
}

void
validate_time_zone(text *zone, char out[PUSH_TIME_ZONE_MAX_LEN + 1])
{
	char	   *name = text_to_cstring(zone);

	if (!known_time_zone(name, out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a time zone", name),
				 errdetail("A time zone is an IANA name, such as the browser's Intl.DateTimeFormat().resolvedOptions().timeZone, or UTC."),
				 errhint("For example 'Europe/Paris'; SELECT name FROM pg_catalog.pg_timezone_names lists them.")));
}

/*
 * Takes the members out of the jsonb (the errors for missing or mistyped
 * ones are raised here), then checks their values (subscription.c).
 */
void
validate_subscription_json(Jsonb *json, Subscription *out)
{
	JsonbValue *keys;
	JsonbValue *expiration;
	JsonbValue *zone;
	SubscriptionText text;
	SubscriptionChecked checked;
	char	   *p256dh;
	char	   *auth;

	memset(out, 0, sizeof(*out));
	memset(&text, 0, sizeof(text));
	if (!JB_ROOT_IS_OBJECT(json) || JB_ROOT_IS_SCALAR(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("push subscription must be a JSON object"),
				 errhint("Pass the browser's PushSubscription.toJSON() unchanged: {\"endpoint\": ..., \"keys\": {\"p256dh\": ..., \"auth\": ...}}.")));

	out->endpoint = json_string_member(&json->root, "endpoint", "endpoint");
	/* A bad endpoint is reported before missing keys, as it always was. */
	report_subscription_error(subscription_check_endpoint(out->endpoint, strlen(out->endpoint),
														  &webpush_endpoint_policy,
														  &checked),
							  &checked);

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

	/* expirationTime: null, or milliseconds since the Unix epoch. */
	expiration = json_member(&json->root, "expirationTime");
	if (expiration != NULL && expiration->type != jbvNull)
	{
		if (expiration->type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("push subscription member \"expirationTime\" must be null or a number"),
					 errdetail("It is milliseconds since 1970-01-01, as the browser gives it.")));
		text.has_expiration = 1;
		text.expiration_ms = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																NumericGetDatum(expiration->val.numeric)));
	}

	/*
	 * timeZone: what the browser kit adds, the browser's IANA zone.  One
	 * this server's zone database lacks leaves the application's zone for
	 * the subscription, rather than losing the subscription.
	 */
	zone = json_member(&json->root, "timeZone");
	if (zone != NULL && zone->type != jbvNull)
	{
		char	   *name;

		if (zone->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("push subscription member \"timeZone\" must be null or a string"),
					 errdetail("It is the browser's Intl.DateTimeFormat().resolvedOptions().timeZone.")));
		name = pnstrdup(zone->val.string.val, zone->val.string.len);
		if (!known_time_zone(name, out->time_zone))
			ereport(NOTICE,
					(errmsg("time zone \"%s\" is not known here: the subscription takes its application's",
							name),
					 errhint("Update the server's time zone data, or set one with webpush_time_zone().")));
	}

	text.endpoint = out->endpoint;
	text.endpoint_len = strlen(out->endpoint);
	text.p256dh = p256dh;
	text.p256dh_len = strlen(p256dh);
	text.auth = auth;
	text.auth_len = strlen(auth);
	report_subscription_error(subscription_check(&text, &webpush_endpoint_policy, &checked),
							  &checked);

	out->parsed = checked.endpoint;
	memcpy(out->p256dh, checked.p256dh, P256_PUBLIC_LEN);
	memcpy(out->auth, checked.auth, ECE_AUTH_LEN);
	if (text.has_expiration)
	{
		out->has_expiration = true;
		out->expiration = DatumGetTimestampTz(DirectFunctionCall1(float8_timestamptz,
																  Float8GetDatum(text.expiration_ms / 1000.0)));
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
