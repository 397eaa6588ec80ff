/*
 * notification.c
 *		The payload client/sw.js displays, always small enough to send.
 *
 * The convention (documented in docs/browser-kit.md):
 *		{"title": ..., "body": ..., "url": ..., "icon": ..., "badge": ...,
 *		 "image": ..., "tag": ..., "requireInteraction": ..., "silent": ...,
 *		 "data": ...}
 * Members whose field is NULL are left out, so the service worker's
 * defaults apply to them.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "ece.h"
#include "notification.h"
#include "validate.h"

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

static Jsonb *
build(const NotificationFields *f, text *title, text *body)
{
	static const char *const keys[] = {"url", "icon", "badge", "image", "tag"};
	text	   *values[] = {f->url, f->icon, f->badge, f->image, f->tag};
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_text_member(&state, "title", title);
	if (body != NULL)
		push_text_member(&state, "body", body);
	for (size_t i = 0; i < lengthof(keys); i++)
		if (values[i] != NULL)
			push_text_member(&state, keys[i], values[i]);
	if (f->data != NULL)
		push_jsonb_member(&state, "data", f->data);
	if (f->require_interaction >= 0)
		push_bool_member(&state, "requireInteraction", f->require_interaction != 0);
	if (f->silent >= 0)
		push_bool_member(&state, "silent", f->silent != 0);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/* The bytes a payload takes when it is sent (as the send functions write it). */
static size_t
sent_length(Jsonb *json)
{
	char	   *s = JsonbToCString(NULL, &json->root, VARSIZE(json));
	size_t		len = strlen(s);

	pfree(s);
	return len;
}

/* The first prefix_len bytes of t (a character boundary) and an ellipsis. */
static text *
shortened(text *t, int prefix_len)
{
	/* U+2026 where the database can hold it, three dots elsewhere. */
	const char *ellipsis = GetDatabaseEncoding() == PG_UTF8 ? "\xE2\x80\xA6" : "...";
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(t), prefix_len);
	appendStringInfoString(&buf, ellipsis);
	return cstring_to_text_with_len(buf.data, buf.len);
}

/*
 * The longest prefix of *field (at a character boundary, with an ellipsis)
 * with which the payload fits; builds with it.  NULL when even an empty
 * prefix is too long.
 */
static Jsonb *
fit_by_shortening(const NotificationFields *f, text **title, text **body, bool shorten_body)
{
	text	   *whole = shorten_body ? *body : *title;
	const char *s = VARDATA_ANY(whole);
	int			len = VARSIZE_ANY_EXHDR(whole);
	int			lo = 0;
	int			hi = len;
	Jsonb	   *best = NULL;

	/* Binary search on the byte length, clipped to whole characters. */
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			clip = pg_mbcliplen(s, len, mid);
		text	   *candidate = shortened(whole, clip);
		Jsonb	   *json;

		if (shorten_body)
			json = build(f, *title, candidate);
		else
			json = build(f, candidate, *body);
		if (sent_length(json) <= ECE_MAX_PLAINTEXT)
		{
			best = json;
			lo = mid + 1;
		}
		else
			hi = mid - 1;
	}
	return best;
}

/*
 * The payload of fields f, with the body and then the title shortened until
 * it fits one record; NULL when even that is too long (*len: the length of
 * the whole JSON).
 */
static Jsonb *
build_fitting(const NotificationFields *f, size_t *len)
{
	text	   *title = f->title;
	text	   *body = f->body;
	Jsonb	   *json;

	json = build(f, title, body);
	*len = sent_length(json);
	if (*len <= ECE_MAX_PLAINTEXT)
		return json;

	/*
	 * Too long to send: a trigger must not fail its transaction for a long
	 * comment, so the body gives way first, then the title.
	 */
	if (body != NULL)
	{
		Jsonb	   *fitted = fit_by_shortening(f, &title, &body, true);

		if (fitted != NULL)
			return fitted;
		body = shortened(body, 0);
	}
	return fit_by_shortening(f, &title, &body, false);
}

Jsonb *
notification_build(const NotificationFields *f)
{
	Jsonb	   *json;
	size_t		len;

	validate_notification_title(f->title);
	if (f->url != NULL)
		validate_notification_url(f->url);
	json = build_fitting(f, &len);
	if (json != NULL)
		return json;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("notification payload is too large"),
			 errdetail("Even with the body and title shortened to an ellipsis, the JSON is more than %d bytes (%zu before).",
					   ECE_MAX_PLAINTEXT, len),
			 errhint("Shorten url, icon, badge, image, tag or data: put a key in data and let the service worker fetch the rest.")));
	return NULL;				/* keep the compiler quiet */
}

Jsonb *
notification_build_for_row(NotificationFields *f, const char *trigger_name)
{
	Jsonb	   *json;
	size_t		len;

	if (f->title == NULL || VARSIZE_ANY_EXHDR(f->title) == 0)
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webpush_notify: trigger \"%s\" gives this row an empty title; no notification is sent",
						trigger_name),
				 errdetail("Browsers show the title in bold; the body alone cannot be shown."),
				 errhint("Make the title's template give text for every row, for example 'Order {id}'.")));
		return NULL;
	}
	if (f->url != NULL && !notification_url_valid(f->url))
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webpush_notify: trigger \"%s\" gives this row the invalid url \"%s\"; the notification is sent without it",
						trigger_name, text_to_cstring(f->url)),
				 errdetail("The service worker opens this URL when the notification is clicked."),
				 errhint("Make the url's template a path of your site such as /orders/{id}, or an https:// URL.")));
		f->url = NULL;
	}
	json = build_fitting(f, &len);
	if (json == NULL && f->url != NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("webpush_notify: trigger \"%s\" gives this row a url of %zu bytes, too long for a notification; it is sent without it",
						trigger_name, (size_t) VARSIZE_ANY_EXHDR(f->url)),
				 errhint("Send a short path and let the page look the rest up.")));
		f->url = NULL;
		json = build_fitting(f, &len);
	}
	/* A title and body alone always fit, shortened. */
	if (json == NULL)
		elog(ERROR, "webpush: a notification without a url did not fit");
	return json;
}
