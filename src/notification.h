/*
 * notification.h
 *		The payload client/sw.js displays ({"title", "body", "url", ...}),
 *		built for webpush_notification() and the webpush_notify() trigger.
 *
 * A notification always fits in one Web Push record: when the JSON would
 * be longer than 3993 bytes, the body is shortened with an ellipsis (then
 * the title), at a character boundary.  What the author wrote that cannot
 * fit that way (a long url, icon or data) stays an error.
 */
#ifndef WEBPUSH_NOTIFICATION_H
#define WEBPUSH_NOTIFICATION_H

#include "postgres.h"

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
	Jsonb	   *data;
	int			require_interaction;	/* -1: leave out, else 0 or 1 */
	int			silent;			/* -1: leave out, else 0 or 1 */
} NotificationFields;

/* Validate, shorten body and title when needed, and build the payload. */
extern Jsonb *notification_build(const NotificationFields *fields);

/*
 * The same for a row trigger, which must not fail its row's statement for
 * the row's data: an empty title sends nothing (NULL), an invalid or too
 * long url is left out, each with a WARNING naming the trigger.
 */
extern Jsonb *notification_build_for_row(NotificationFields *fields, const char *trigger_name);

#endif							/* WEBPUSH_NOTIFICATION_H */
