/*
 * sql_notification.c
 *		webpush_notification(): builds a payload in the convention that
 *		client/sw.js displays, so that a trigger needs no hand-written JSON.
 *
 * The convention (documented in the README, "Browser side"):
 *		{"title": ..., "body": ..., "url": ..., "icon": ..., "badge": ...,
 *		 "image": ..., "tag": ..., "requireInteraction": ..., "silent": ...,
 *		 "data": ...}
 * Members whose argument is NULL are left out, so the service worker's
 * defaults apply to them.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "validate.h"

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

static void
push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

static void
push_text_member(JsonbParseState **state, const char *key, text *value)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvString;
	v.val.string.val = VARDATA_ANY(value);
	v.val.string.len = VARSIZE_ANY_EXHDR(value);
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_bool_member(JsonbParseState **state, const char *key, bool value)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvBool;
	v.val.boolean = value;
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_jsonb_member(JsonbParseState **state, const char *key, Jsonb *value)
{
	JsonbValue	v;

	push_key(state, key);
	/*
	 * pushJsonbValue unpacks containers, but not every supported version
	 * unpacks a scalar document: extract that one first.
	 */
	if (JB_ROOT_IS_SCALAR(value))
		JsonbExtractScalar(&value->root, &v);
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &value->root;
		v.val.binary.len = VARSIZE(value) - VARHDRSZ;
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

Datum
webpush_notification(PG_FUNCTION_ARGS)
{
	static const struct
	{
		int			arg;
		const char *key;
	}			text_members[] =
	{
		{ARG_BODY, "body"},
		{ARG_URL, "url"},
		{ARG_ICON, "icon"},
		{ARG_BADGE, "badge"},
		{ARG_IMAGE, "image"},
		{ARG_TAG, "tag"},
	};
	JsonbParseState *state = NULL;
	JsonbValue *result;

	validate_notification_title(PG_ARGISNULL(ARG_TITLE) ? NULL : PG_GETARG_TEXT_PP(ARG_TITLE));
	if (!PG_ARGISNULL(ARG_URL))
		validate_notification_url(PG_GETARG_TEXT_PP(ARG_URL));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_text_member(&state, "title", PG_GETARG_TEXT_PP(ARG_TITLE));
	for (size_t i = 0; i < lengthof(text_members); i++)
	{
		if (!PG_ARGISNULL(text_members[i].arg))
			push_text_member(&state, text_members[i].key,
							 PG_GETARG_TEXT_PP(text_members[i].arg));
	}
	if (!PG_ARGISNULL(ARG_DATA))
		push_jsonb_member(&state, "data", PG_GETARG_JSONB_P(ARG_DATA));
	if (!PG_ARGISNULL(ARG_REQUIRE_INTERACTION))
		push_bool_member(&state, "requireInteraction", PG_GETARG_BOOL(ARG_REQUIRE_INTERACTION));
	if (!PG_ARGISNULL(ARG_SILENT))
		push_bool_member(&state, "silent", PG_GETARG_BOOL(ARG_SILENT));
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);

	PG_RETURN_JSONB_P(JsonbValueToJsonb(result));
}
