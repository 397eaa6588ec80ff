/*
 * sql_notification.c
 *		webpush_notification(): the payload client/sw.js displays, so that a
 *		trigger needs no hand-written JSON (notification.h builds it).
 */
#include "postgres.h"

#include "fmgr.h"

#include "notification.h"

PG_FUNCTION_INFO_V1(webpush_notification);

/* Argument positions, in the order of the SQL declaration. */
enum
{
	ARG_TITLE,
	ARG_BODY,
	ARG_URL,
	ARG_ICON,
	ARG_BADGE,
	ARG_IMAGE,
	ARG_TAG,
	ARG_DATA,
	ARG_REQUIRE_INTERACTION,
	ARG_SILENT
};

Datum
webpush_notification(PG_FUNCTION_ARGS)
{
	NotificationFields f;

	f.title = PG_ARGISNULL(ARG_TITLE) ? NULL : PG_GETARG_TEXT_PP(ARG_TITLE);
	f.body = PG_ARGISNULL(ARG_BODY) ? NULL : PG_GETARG_TEXT_PP(ARG_BODY);
	f.url = PG_ARGISNULL(ARG_URL) ? NULL : PG_GETARG_TEXT_PP(ARG_URL);
	f.icon = PG_ARGISNULL(ARG_ICON) ? NULL : PG_GETARG_TEXT_PP(ARG_ICON);
	f.badge = PG_ARGISNULL(ARG_BADGE) ? NULL : PG_GETARG_TEXT_PP(ARG_BADGE);
	f.image = PG_ARGISNULL(ARG_IMAGE) ? NULL : PG_GETARG_TEXT_PP(ARG_IMAGE);
	f.tag = PG_ARGISNULL(ARG_TAG) ? NULL : PG_GETARG_TEXT_PP(ARG_TAG);
	f.data = PG_ARGISNULL(ARG_DATA) ? NULL : PG_GETARG_JSONB_P(ARG_DATA);
	f.require_interaction = PG_ARGISNULL(ARG_REQUIRE_INTERACTION) ? -1 :
		PG_GETARG_BOOL(ARG_REQUIRE_INTERACTION);
	f.silent = PG_ARGISNULL(ARG_SILENT) ? -1 : PG_GETARG_BOOL(ARG_SILENT);
	PG_RETURN_JSONB_P(notification_build(&f));
}
