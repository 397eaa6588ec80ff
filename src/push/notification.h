/*
 * notification.h
 *		The payload a browser shows, built for webpush_notification() and
 *		the webpush_notify() trigger: Declarative Web Push
 *		({"web_push": 8030, "notification": {...}}) when the notification
 *		has an absolute https url to navigate to, else the convention of
 *		client/sw.js ({"title", "body", "url", ...}).
 *
 * A notification always fits in one Web Push record with room for the
 * receipt ids (receipt.h): when the JSON would be longer, the body is
 * shortened with an ellipsis (then the title), at a character boundary.
 * What the author wrote that cannot fit that way (a long url, icon, data
 * or actions) stays an error.
 */
#ifndef WEBPUSH_NOTIFICATION_H
#define WEBPUSH_NOTIFICATION_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

typedef struct NotificationFields
{
	text	   *title;			/* required, non-empty */
	text	   *body;			/* the rest: NULL to leave out */
	text	   *url;
	text	   *icon;
	text	   *badge;
	text	   *image;
	text	   *tag;
	text	   *lang;
	text	   *dir;
	Jsonb	   *data;
	Jsonb	   *actions;		/* [{action, title, navigate, icon}, ...] */
	int			nvibrate;		/* 0: leave out */
	int32	   *vibrate;
	bool		has_timestamp;
	TimestampTz timestamp;
	int64		app_badge;		/* -1: leave out */
	int			require_interaction;	/* -1: leave out, else 0 or 1 */
	int			silent;			/* -1: leave out, else 0 or 1 */
	int			renotify;		/* -1: leave out, else 0 or 1 */
	int			is_mutable;		/* -1: leave out, else 0 or 1 */
	int			declarative;	/* -1: when url is absolute https, else 0 or 1 */
	bool		receipt;		/* "receipt": true, for the worker's ids */
} NotificationFields;

/* Fields as a call without options gives them (all left out). */
extern void notification_fields_init(NotificationFields *fields);

/* Validate, shorten body and title when needed, and build the payload. */
extern Jsonb *notification_build(const NotificationFields *fields);

/*
 * The text JsonbToCString gives for payload, when payload is, byte for
 * byte, the last one notification_build made in this process (its *len
 * bytes, in memory kept until the next build); else NULL.  A send of
 * webpush_notification(...) as jsonb is that payload, written as text:
 * notification_build wrote that text to measure it already.
 */
extern const char *notification_text_of(const Jsonb *payload, size_t *len);

/*
 * The same for a row trigger, which must not fail its row's statement for
 * the row's data: an empty title sends nothing (NULL), an invalid or too
 * long url is left out, and so are an invalid lang, dir or app_badge, each
 * with a WARNING naming the trigger.  The payload comes as the JSON text
 * that is sent, which the trigger stores.
 */
extern char *notification_build_for_row(NotificationFields *fields, const char *trigger_name);

/*
 * Whether url may be opened on a click: a path of the site, or an
 * absolute http(s) URL with a valid host.
 */
extern bool notification_url_valid(text *url);

#endif							/* WEBPUSH_NOTIFICATION_H */
