/*
 * push.c
 *		One Web Push request (RFC 8030): encrypt the payload, sign for the
 *		endpoint's origin, set the headers.
 */
#include "postgres.h"

#include <stdlib.h>
#include <string.h>

#include "push/push.h"

static bool
add_header(HttpRequest *req, const char *fmt,...) pg_attribute_printf(2, 3);

static bool
add_header(HttpRequest *req, const char *fmt,...)
{
	char		line[VAPID_JWT_MAX_LEN + 256];
	va_list		args;
	int			n;

	va_start(args, fmt);
	n = vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	if (n < 0 || (size_t) n >= sizeof(line))
		return false;
	return http_request_add_header(req, line);
}

const char *
push_build_request(EceContext *ece, const PushMessage *msg, time_t now,
				   HttpRequest *req)
{
	EceRecipient recipient;
	const char *jwt;
	uint8	   *body;
	bool		ok;

	jwt = vapid_jwt_for_origin(msg->signer, msg->origin, now);
	if (jwt == NULL)
		return "could not sign the VAPID token";

	if (!http_request_set_url(req, msg->endpoint))
		return "out of memory";

	if (msg->payload != NULL)
	{
		size_t		body_len = 0;
		EceResult	rc;

		/* Checked in full when it was subscribed or queued. */
		if (ece_recipient_init(&recipient, msg->p256dh, msg->auth) != 0)
			return "the subscription's p256dh key is not a valid P-256 point";
		body = http_request_body_buffer(req, ECE_BODY_LEN(msg->payload_len));
		if (body == NULL)
		{
			ece_recipient_clear(&recipient);
			return "out of memory";
		}
		rc = ece_encrypt(ece, &recipient, msg->payload, msg->payload_len,
						 NULL, NULL, body, &body_len);
		ece_recipient_clear(&recipient);
		if (rc == ECE_ERROR_PAYLOAD_TOO_LARGE)
			return "the payload is larger than 3993 bytes";
		if (rc == ECE_ERROR_INVALID_KEY)
			return "the subscription's p256dh key is not a valid P-256 point";
		if (rc != ECE_OK)
			return "could not encrypt the payload";
		http_request_set_body_len(req, body_len);
	}

	ok = add_header(req, "TTL: %d", (int) msg->ttl) &&
		add_header(req, "Urgency: %s", msg->urgency) &&
		(msg->topic == NULL || add_header(req, "Topic: %s", msg->topic)) &&
		add_header(req, "Content-Type: application/octet-stream") &&
		(msg->payload == NULL ||
		 add_header(req, "Content-Encoding: aes128gcm")) &&
		add_header(req, "Authorization: vapid t=%s, k=%s",
				   jwt, vapid_signer_public_key(msg->signer)) &&
	/* libcurl would otherwise wait for "100 Continue" on larger bodies */
		add_header(req, "Expect:");
	if (!ok)
		return "out of memory";
	return NULL;
}

bool
push_location_usable(const char *location, const char *endpoint_origin,
					 const EndpointPolicy *policy)
{
	Endpoint	ep;

	if (location == NULL)
		return false;

	/*
	 * A URL is ASCII (RFC 3986); endpoint_parse refuses controls and
	 * spaces, and libcurl's parser lets other bytes through.  Those come
	 * from the wire, not from the database, and would be stored in the
	 * history as text that is not of its encoding.
	 */
	for (const char *p = location; *p != '\0'; p++)
		if ((unsigned char) *p >= 0x80)
			return false;
	if (endpoint_parse(location, strlen(location), policy, &ep) != ENDPOINT_OK)
		return false;
	return strcmp(ep.origin, endpoint_origin) == 0;
}

const char *
push_build_recall(VapidSigner *signer, const char *location, const char *origin,
				  time_t now, HttpRequest *req)
{
	const char *jwt = vapid_jwt_for_origin(signer, origin, now);

	if (jwt == NULL)
		return "could not sign the VAPID token";
	if (!http_request_set_url(req, location))
		return "out of memory";
	http_request_set_delete(req);
	if (!add_header(req, "Authorization: vapid t=%s, k=%s",
					jwt, vapid_signer_public_key(signer)))
		return "out of memory";
	return NULL;
}
