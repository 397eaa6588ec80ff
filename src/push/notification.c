/*
 * notification.c
 *		The payload a browser shows, always small enough to send with its
 *		receipt ids.
 *
 * Two forms (documented in docs/browser-kit.md and docs/sql-reference.md):
 *
 * Declarative Web Push, when the url is an absolute https URL (WebKit's
 * rules: "web_push" the number 8030, a non-empty title, "navigate" a valid
 * URL; Safari shows it without running the service worker, other browsers
 * hand it to client/sw.js):
 *		{"web_push": 8030,
 *		 "notification": {"title": ..., "navigate": ..., "body": ..., "lang": ...,
 *						  "dir": ..., "tag": ..., "icon": ..., "image": ...,
 *						  "badge": ..., "silent": ..., "timestamp": ..., "data": ...,
 *						  "actions": [{"action", "title", "navigate"}], ...},
 *		 "app_badge": N, "mutable": bool, "receipt": true}
 * app_badge and mutable go both at the top level and inside notification:
 * WebKit versions read them in one place or the other (PROTOCOL.md s7).
 *
 * Otherwise the convention client/sw.js has always read:
 *		{"title": ..., "body": ..., "url": ..., "icon": ..., "badge": ...,
 *		 "image": ..., "tag": ..., "lang": ..., "dir": ..., "data": ...,
 *		 "actions": [...], "requireInteraction": ..., "silent": ...,
 *		 "renotify": ..., "timestamp": ..., "vibrate": [...], "app_badge": N,
 *		 "receipt": true}
 * Members whose field is NULL are left out, so the browser's defaults apply.
 *
 * Longer than 800 lines: every member of the payload, its check and its
 * share of the size limit are here together, so that a member is added or
 * changed in one place.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "crypto/ece.h"
#include "push/notification.h"
#include "push/receipt.h"

/* What build() writes, checked and resolved once for all its attempts. */
typedef struct Prepared
{
	const NotificationFields *f;
	bool		declarative;
	text	   *navigate;		/* declarative: the absolute URL */
	Jsonb	   *actions;		/* rebuilt from f->actions, or NULL */
	Numeric		timestamp;		/* milliseconds since 1970, or NULL */
	size_t		limit;			/* the longest payload allowed */
	const char *trigger_name;	/* a row trigger's: row data warns, not fails */
} Prepared;

void
notification_fields_init(NotificationFields *f)
{
	memset(f, 0, sizeof(*f));
	f->app_badge = -1;
	f->require_interaction = -1;
	f->silent = -1;
	f->renotify = -1;
	f->is_mutable = -1;
	f->declarative = -1;
	f->receipt = true;
}

static void
field_error(const char *field, const char *problem, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid notification field \"%s\": %s", field, problem),
			 errhint("%s", hint)));
}

/*
 * The host of an absolute http(s) URL, with its port if any: a name
 * (letters, digits, '.', '-', or IDN bytes) or a bracketed IPv6 literal,
 * then ':' and up to five digits.  What a browser's URL parser would
 * refuse is refused here, so that a payload never carries a URL the
 * browser cannot open.
 */
static bool
host_valid(const char *host, size_t len)
{
	size_t		i = 0;
	size_t		port;

	if (len == 0)
		return false;
	if (host[0] == '[')
	{
		for (i = 1; i < len && host[i] != ']'; i++)
			if (!(isxdigit((unsigned char) host[i]) || host[i] == ':' || host[i] == '.'))
				return false;
		if (i >= len || i == 1)
			return false;
		i++;					/* past ']' */
	}
	else
	{
		for (; i < len && host[i] != ':'; i++)
		{
			unsigned char c = (unsigned char) host[i];

			if (!(isalnum(c) || c == '.' || c == '-' || c >= 0x80))
				return false;
		}
		if (i == 0)
			return false;
	}
	if (i == len)
		return true;
	if (host[i] != ':')
		return false;
	for (port = ++i; i < len; i++)
		if (!isdigit((unsigned char) host[i]))
			return false;
	return len > port && len - port <= 5;
}

/* Length of the scheme prefix of an absolute http(s) URL, or 0. */
static size_t
absolute_prefix(const char *u, size_t len)
{
	if (len > 8 && pg_strncasecmp(u, "https://", 8) == 0)
		return 8;
	if (len > 7 && pg_strncasecmp(u, "http://", 7) == 0)
		return 7;
	return 0;
}

/* The length of the origin (scheme://host[:port]) that starts u, or 0. */
static size_t
origin_length(const char *u, size_t len)
{
	size_t		start = absolute_prefix(u, len);
	size_t		end = start;

	if (start == 0)
		return 0;
	while (end < len && u[end] != '/' && u[end] != '?' && u[end] != '#')
		end++;
	return host_valid(u + start, end - start) ? end : 0;
}

static bool
url_valid(const char *u, size_t len)
{
	bool		path = len >= 1 && u[0] == '/' && (len == 1 || u[1] != '/');

	/*
	 * No control characters or spaces, which a URL parser would reject or
	 * change; and no backslash, which it reads as '/' in http(s) URLs, so
	 * that "/\\evil.example" would leave the site.
	 */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) u[i] <= 0x20 || u[i] == 0x7f || u[i] == '\\')
			return false;
	return path || origin_length(u, len) > 0;
}

bool
notification_url_valid(text *url)
{
	return url_valid(VARDATA_ANY(url), VARSIZE_ANY_EXHDR(url));
}

static bool
is_https(const char *u, size_t len)
{
	return len > 8 && pg_strncasecmp(u, "https://", 8) == 0 && origin_length(u, len) > 0;
}

static bool
lang_valid(text *lang)
{
	const char *s = VARDATA_ANY(lang);
	int			len = VARSIZE_ANY_EXHDR(lang);

	/* A BCP 47 tag: letters, digits and hyphens, such as en, fr-CA, zh-Hant-TW. */
	if (len < 1 || len > 35 || !isalpha((unsigned char) s[0]))
		return false;
	for (int i = 0; i < len; i++)
		if (!isalnum((unsigned char) s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool
dir_valid(text *dir)
{
	const char *s = VARDATA_ANY(dir);
	int			len = VARSIZE_ANY_EXHDR(dir);

	return len == 3 && (strncmp(s, "ltr", 3) == 0 || strncmp(s, "rtl", 3) == 0) ?
		true : (len == 4 && strncmp(s, "auto", 4) == 0);
}

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
push_string_member(JsonbParseState **state, const char *key, const char *value, int len)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = len;
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_text_member(JsonbParseState **state, const char *key, text *value)
{
	if (value != NULL)
		push_string_member(state, key, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
}

static void
push_bool_member(JsonbParseState **state, const char *key, int value)
{
	JsonbValue	v;

	if (value < 0)
		return;
	push_key(state, key);
	v.type = jbvBool;
	v.val.boolean = value != 0;
	pushJsonbValue(state, WJB_VALUE, &v);
}

static Numeric
int64_numeric(int64 value)
{
	return DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(value)));
}

static void
push_number_member(JsonbParseState **state, const char *key, Numeric value)
{
	JsonbValue	v;

	if (value == NULL)
		return;
	push_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = value;
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_jsonb_member(JsonbParseState **state, const char *key, Jsonb *value)
{
	JsonbValue	v;

	if (value == NULL)
		return;
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

static void
push_vibrate_member(JsonbParseState **state, const NotificationFields *f)
{
	if (f->nvibrate == 0)
		return;
	push_key(state, "vibrate");
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < f->nvibrate; i++)
	{
		JsonbValue	v;

		v.type = jbvNumeric;
		v.val.numeric = int64_numeric(f->vibrate[i]);
		pushJsonbValue(state, WJB_ELEM, &v);
	}
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/* The members both forms share, after title, body and the url. */
static void
push_common(JsonbParseState **state, const Prepared *p)
{
	const NotificationFields *f = p->f;

	push_text_member(state, "icon", f->icon);
	push_text_member(state, "badge", f->badge);
	push_text_member(state, "image", f->image);
	push_text_member(state, "tag", f->tag);
	push_text_member(state, "lang", f->lang);
	push_text_member(state, "dir", f->dir);
	push_jsonb_member(state, "data", f->data);
	push_jsonb_member(state, "actions", p->actions);
	push_bool_member(state, "requireInteraction", f->require_interaction);
	push_bool_member(state, "silent", f->silent);
	push_bool_member(state, "renotify", f->renotify);
	push_number_member(state, "timestamp", p->timestamp);
	push_vibrate_member(state, f);
	push_number_member(state, "app_badge", f->app_badge >= 0 ? int64_numeric(f->app_badge) : NULL);
}

/*
 * The payload as a tree of values, its objects' keys sorted as jsonb sorts
 * them: what JsonbValueToJsonb stores, and what write_json writes as it is
 * sent.
 */
static JsonbValue *
build(const Prepared *p, text *title, text *body)
{
	const NotificationFields *f = p->f;
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (p->declarative)
	{
		push_number_member(&state, "web_push", int64_numeric(8030));
		push_key(&state, "notification");
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		push_text_member(&state, "title", title);
		push_text_member(&state, "navigate", p->navigate);
		push_text_member(&state, "body", body);
		push_common(&state, p);
		push_bool_member(&state, "mutable", f->is_mutable);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		push_number_member(&state, "app_badge", f->app_badge >= 0 ? int64_numeric(f->app_badge) : NULL);
		push_bool_member(&state, "mutable", f->is_mutable);
	}
	else
	{
		push_text_member(&state, "title", title);
		push_text_member(&state, "body", body);
		push_text_member(&state, "url", f->url);
		push_common(&state, p);
	}
	if (f->receipt)
		push_bool_member(&state, RECEIPT_KEY, 1);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return result;
}

/*
 * An action's navigate: as given in the service worker's form; in the
 * declarative one an absolute https URL, a path taken on the notification's
 * own origin, and the notification's navigate when it has none.
 */
static text *
action_navigate(const Prepared *p, JsonbValue *given, const char *field)
{
	const char *u;
	int			len;
	size_t		origin;

	/* Missing, null or "" (a template's empty column): the notification's own. */
	if (given == NULL || given->type == jbvNull ||
		(given->type == jbvString && given->val.string.len == 0))
		return p->declarative ? p->navigate : NULL;
	if (given->type != jbvString)
		field_error(field, "must be a string", "Give a path of your site such as /orders/42, or an https:// URL.");
	u = given->val.string.val;
	len = given->val.string.len;
	if (p->trigger_name != NULL &&
		(!url_valid(u, len) || (p->declarative && u[0] != '/' && !is_https(u, len))))
	{
		/* The row's data made it so: the action keeps the notification's url. */
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webpush_notify: trigger \"%s\" gives this row the invalid %s \"%s\"; the action opens the notification's url",
						p->trigger_name, field, pnstrdup(u, len)),
				 errhint("Make the template a path of your site such as /orders/{id}, or an https:// URL.")));
		return p->declarative ? p->navigate : NULL;
	}
	if (!url_valid(u, len))
		field_error(field, "must be a path of your site or an http(s) URL",
					"Give a path of your site such as /orders/42, or an https:// URL.");
	if (!p->declarative || is_https(u, len))
		return cstring_to_text_with_len(u, len);
	if (u[0] == '/')
	{
		StringInfoData buf;

		origin = origin_length(VARDATA_ANY(p->navigate), VARSIZE_ANY_EXHDR(p->navigate));
		initStringInfo(&buf);
		appendBinaryStringInfo(&buf, VARDATA_ANY(p->navigate), origin);
		appendBinaryStringInfo(&buf, u, len);
		return cstring_to_text_with_len(buf.data, buf.len);
	}
	field_error(field, "must be an https URL or a path in a Declarative Web Push notification",
				"Safari opens it without the service worker: give https://... or a path of the notification's site.");
	return NULL;				/* keep the compiler quiet */
}

/* A string member of an action: required ones non-empty. */
static JsonbValue *
action_string(JsonbContainer *action, const char *key, int i, bool required)
{
	JsonbValue *v = getKeyJsonValueFromContainer(action, key, strlen(key), NULL);
	char		field[64];

	snprintf(field, sizeof(field), "actions[%d].%s", i, key);
	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			field_error(field, "is missing",
						"Each action is {\"action\": \"reply\", \"title\": \"Reply\", \"navigate\": \"/messages/42\"}.");
		return NULL;
	}
	if (v->type != jbvString || (required && v->val.string.len == 0))
		field_error(field, required ? "must be a non-empty string" : "must be a string",
					"Each action is {\"action\": \"reply\", \"title\": \"Reply\", \"navigate\": \"/messages/42\"}.");
	return v;
}

/*
 * For a row trigger: false, with a WARNING, when the row's values leave an
 * action without its name or title; the notification goes without it.
 */
static bool
action_named(const Prepared *p, JsonbContainer *action, int i)
{
	static const char *const keys[] = {"action", "title"};

	for (size_t k = 0; k < lengthof(keys); k++)
	{
		JsonbValue *v = getKeyJsonValueFromContainer(action, keys[k], strlen(keys[k]), NULL);

		if (v != NULL && v->type == jbvString && v->val.string.len == 0)
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("webpush_notify: trigger \"%s\" gives this row an empty actions[%d].%s; the notification is sent without that action",
							p->trigger_name, i, keys[k]),
					 errhint("Make the action's template give text for every row.")));
			return false;
		}
	}
	return true;
}

/* f->actions checked, with each navigate resolved (see action_navigate). */
static Jsonb *
prepare_actions(const Prepared *p)
{
	Jsonb	   *actions = p->f->actions;
	JsonbParseState *state = NULL;
	int			n;

	if (actions == NULL)
		return NULL;
	if (!JB_ROOT_IS_ARRAY(actions) || JB_ROOT_IS_SCALAR(actions))
		field_error("actions", "must be a JSON array",
					"Pass '[{\"action\": \"reply\", \"title\": \"Reply\", \"navigate\": \"/messages/42\"}]'.");
	n = JB_ROOT_COUNT(actions);
	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *element = getIthJsonbValueFromContainer(&actions->root, i);
		JsonbContainer *action;
		JsonbValue *v;
		char		field[64];
		text	   *navigate;

		snprintf(field, sizeof(field), "actions[%d]", i);
		if (element->type != jbvBinary || !JsonContainerIsObject(element->val.binary.data))
			field_error(field, "must be an object",
						"Each action is {\"action\": \"reply\", \"title\": \"Reply\", \"navigate\": \"/messages/42\"}.");
		action = element->val.binary.data;
		if (p->trigger_name != NULL && !action_named(p, action, i))
			continue;
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		v = action_string(action, "action", i, true);
		push_string_member(&state, "action", v->val.string.val, v->val.string.len);
		v = action_string(action, "title", i, true);
		push_string_member(&state, "title", v->val.string.val, v->val.string.len);
		snprintf(field, sizeof(field), "actions[%d].navigate", i);
		navigate = action_navigate(p, getKeyJsonValueFromContainer(action, "navigate", 8, NULL), field);
		push_text_member(&state, "navigate", navigate);
		v = action_string(action, "icon", i, false);
		if (v != NULL)
			push_string_member(&state, "icon", v->val.string.val, v->val.string.len);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_ARRAY, NULL));
}

/* Milliseconds since 1970, as the Notification API's timestamp. */
static Numeric
timestamp_ms(TimestampTz t)
{
	int64		ms = t / 1000 +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;

	return int64_numeric(ms);
}

/* Checks every field but the title, and what build() needs. */
static void
prepare(const NotificationFields *f, const char *trigger_name, Prepared *p)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->trigger_name = trigger_name;
	p->limit = ECE_MAX_PLAINTEXT - (f->receipt ? RECEIPT_MAX_GROWTH : 0);
	if (f->url != NULL && !notification_url_valid(f->url))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid notification url \"%s\"", text_to_cstring(f->url)),
				 errdetail("The service worker opens this URL when the notification is clicked."),
				 errhint("Use a path of your site such as /orders/42, or an https:// URL.")));
	if (f->declarative > 0 &&
		(f->url == NULL || !is_https(VARDATA_ANY(f->url), VARSIZE_ANY_EXHDR(f->url))))
		field_error("url", "a Declarative Web Push notification needs an absolute https URL to navigate to",
					"Safari opens it without the service worker, so a path cannot be resolved: pass https://your.site/orders/42, or declarative => false.");
	p->declarative = f->declarative != 0 && f->url != NULL &&
		is_https(VARDATA_ANY(f->url), VARSIZE_ANY_EXHDR(f->url));
	p->navigate = p->declarative ? f->url : NULL;
	if (f->lang != NULL && !lang_valid(f->lang))
		field_error("lang", "must be a language tag such as en, fr-CA or zh-Hant", "Pass the BCP 47 tag of the title and body's language.");
	if (f->dir != NULL && !dir_valid(f->dir))
		field_error("dir", "must be auto, ltr or rtl", "rtl is for Arabic, Hebrew and other right-to-left text; auto lets the browser decide.");
	for (int i = 0; i < f->nvibrate; i++)
		if (f->vibrate[i] < 0 || f->vibrate[i] > 10000)
			field_error("vibrate", "each duration must be 0 to 10000 milliseconds", "Pass milliseconds of vibration and pause, for example ARRAY[200, 100, 200].");
	if (f->app_badge < -1)
		field_error("app_badge", "must be 0 or more", "0 clears the badge.");
	if (f->has_timestamp)
	{
		if (TIMESTAMP_NOT_FINITE(f->timestamp))
			field_error("timestamp", "must be finite", "Pass when the event the notification tells of happened, or NULL for when it is shown.");
		p->timestamp = timestamp_ms(f->timestamp);
	}
	if (f->renotify > 0 && f->tag == NULL)
		field_error("renotify", "needs a tag", "Browsers renotify only when a notification replaces another with the same tag.");
	p->actions = prepare_actions(p);
}

/*
 * A JSON string, escaped as escape_json does, its runs of plain characters
 * appended at once: the payload's text is written for every row a trigger
 * fires for.
 */
static void
write_json_string(StringInfo out, const char *s, int len)
{
	int			plain = 0;

	appendStringInfoChar(out, '"');
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		const char *escaped;

		if (c >= ' ' && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(out, s + plain, i - plain);
		plain = i + 1;
		switch (c)
		{
			case '\b':
				escaped = "\\b";
				break;
			case '\f':
				escaped = "\\f";
				break;
			case '\n':
				escaped = "\\n";
				break;
			case '\r':
				escaped = "\\r";
				break;
			case '\t':
				escaped = "\\t";
				break;
			case '"':
				escaped = "\\\"";
				break;
			case '\\':
				escaped = "\\\\";
				break;
			default:
				appendStringInfo(out, "\\u%04x", (int) c);
				continue;
		}
		appendStringInfoString(out, escaped);
	}
	appendBinaryStringInfo(out, s + plain, len - plain);
	appendStringInfoChar(out, '"');
}

/*
 * A tree that build() made, written as JsonbToCString writes the jsonb it
 * stores: so the text a trigger stores is what webpush_notification()
 * would send, without storing the jsonb first.  Packing the tree and
 * iterating it back cost a trigger's firing 3,400 more instructions (a
 * tenth of it); test/sql/triggers.sql checks the bytes against jsonb's.
 */
static void
write_json(StringInfo out, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(out, "null");
			break;
		case jbvString:
			write_json_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																			NumericGetDatum(v->val.numeric))));
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvArray:
			appendStringInfoChar(out, '[');
			for (int i = 0; i < v->val.array.nElems; i++)
			{
				if (i > 0)
					appendStringInfoString(out, ", ");
				write_json(out, &v->val.array.elems[i]);
			}
			appendStringInfoChar(out, ']');
			break;
		case jbvObject:
			appendStringInfoChar(out, '{');
			for (int i = 0; i < v->val.object.nPairs; i++)
			{
				if (i > 0)
					appendStringInfoString(out, ", ");
				write_json(out, &v->val.object.pairs[i].key);
				appendStringInfoString(out, ": ");
				write_json(out, &v->val.object.pairs[i].value);
			}
			appendStringInfoChar(out, '}');
			break;
		case jbvBinary:
			/* A container pushJsonbValue kept packed. */
			(void) JsonbToCString(out, v->val.binary.data, v->val.binary.len);
			break;
		default:
			elog(ERROR, "webpush: unexpected jsonb value type %d in a notification", (int) v->type);
	}
}

/* The payload's text, as it is sent, and its length. */
static char *
sent_text(const JsonbValue *json, size_t *len)
{
	StringInfoData out;

	initStringInfo(&out);
	write_json(&out, json);
	*len = out.len;
	return out.data;
}

static size_t
sent_length(const JsonbValue *json)
{
	size_t		len;

	pfree(sent_text(json, &len));
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
static JsonbValue *
fit_by_shortening(const Prepared *p, text **title, text **body, bool shorten_body)
{
	text	   *whole = shorten_body ? *body : *title;
	const char *s = VARDATA_ANY(whole);
	int			len = VARSIZE_ANY_EXHDR(whole);
	int			lo = 0;
	int			hi = len;
	JsonbValue *best = NULL;

	/* Binary search on the byte length, clipped to whole characters. */
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			clip = pg_mbcliplen(s, len, mid);
		text	   *candidate = shortened(whole, clip);
		JsonbValue *json;

		if (shorten_body)
			json = build(p, *title, candidate);
		else
			json = build(p, candidate, *body);
		if (sent_length(json) <= p->limit)
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
 * The payload, with the body and then the title shortened until it fits
 * with room for the receipt ids; NULL when even that is too long (*len: the
 * length of the whole JSON).  When it fits as it is, *as_text (if asked
 * for) is its text, which measuring it made; else NULL.
 */
static JsonbValue *
build_fitting(const Prepared *p, size_t *len, char **as_text)
{
	text	   *title = p->f->title;
	text	   *body = p->f->body;
	JsonbValue *json;
	char	   *whole;

	if (as_text != NULL)
		*as_text = NULL;
	json = build(p, title, body);
	whole = sent_text(json, len);
	if (*len <= p->limit)
	{
		if (as_text != NULL)
			*as_text = whole;
		return json;
	}
	pfree(whole);

	/*
	 * Too long to send: a trigger must not fail its transaction for a long
	 * comment, so the body gives way first, then the title.
	 */
	if (body != NULL)
	{
		JsonbValue *fitted = fit_by_shortening(p, &title, &body, true);

		if (fitted != NULL)
			return fitted;
		body = shortened(body, 0);
	}
	return fit_by_shortening(p, &title, &body, false);
}

/*
 * The last payload notification_build made, and its text, for
 * notification_text_of.  The copies cost a build about 300 instructions;
 * writing the text again from the jsonb costs a send of it 4,700.
 */
static MemoryContext last_built_cxt = NULL;
static Jsonb *last_built = NULL;
static char *last_built_text = NULL;
static size_t last_built_len = 0;

static void
remember_built(const Jsonb *payload, const char *as_text, size_t len)
{
	if (last_built_cxt == NULL)
		last_built_cxt = AllocSetContextCreate(TopMemoryContext, "webpush last notification",
											   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(last_built_cxt);
	last_built = NULL;
	if (as_text == NULL)
		return;
	last_built = MemoryContextAlloc(last_built_cxt, VARSIZE(payload));
	memcpy(last_built, payload, VARSIZE(payload));
	last_built_text = MemoryContextAlloc(last_built_cxt, len + 1);
	memcpy(last_built_text, as_text, len + 1);
	last_built_len = len;
}

const char *
notification_text_of(const Jsonb *payload, size_t *len)
{
	if (last_built == NULL || VARSIZE(payload) != VARSIZE(last_built) ||
		memcmp(payload, last_built, VARSIZE(last_built)) != 0)
		return NULL;
	*len = last_built_len;
	return last_built_text;
}

Jsonb *
notification_build(const NotificationFields *f)
{
	Prepared	p;
	JsonbValue *json;
	size_t		len;
	char	   *as_text;

	prepare(f, NULL, &p);
	json = build_fitting(&p, &len, &as_text);
	if (json != NULL)
	{
		Jsonb	   *payload = JsonbValueToJsonb(json);

		remember_built(payload, as_text, len);
		return payload;
	}
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("notification payload is too large"),
			 errdetail("Even with the body and title shortened to an ellipsis, the JSON is more than %zu bytes (%zu before).",
					   p.limit, len),
			 errhint("Shorten url, icon, badge, image, tag, actions or data: put a key in data and let the service worker fetch the rest.")));
	return NULL;				/* keep the compiler quiet */
}

static void
row_warning(const char *trigger_name, const char *field, text *value, const char *why)
{
	ereport(WARNING,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("webpush_notify: trigger \"%s\" gives this row the invalid %s \"%s\"; the notification is sent without it",
					trigger_name, field, text_to_cstring(value)),
			 errdetail("%s", why)));
}

char *
notification_build_for_row(NotificationFields *f, const char *trigger_name)
{
	Prepared	p;
	JsonbValue *json;
	size_t		len;
	char	   *as_text;

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
	if (f->lang != NULL && !lang_valid(f->lang))
	{
		row_warning(trigger_name, "lang", f->lang, "A language tag is letters, digits and hyphens, such as en or fr-CA.");
		f->lang = NULL;
	}
	if (f->dir != NULL && !dir_valid(f->dir))
	{
		row_warning(trigger_name, "dir", f->dir, "dir is auto, ltr or rtl.");
		f->dir = NULL;
	}
	prepare(f, trigger_name, &p);
	json = build_fitting(&p, &len, &as_text);

	/*
	 * Too large even with the body and title shortened: the row's values
	 * made it so.  What the row gave is left out, largest first, each with
	 * a WARNING, until it fits; with none of it left, the title and body
	 * shorten to fit.
	 */
	while (json == NULL)
	{
		void	  **largest = NULL;
		const char *name = NULL;
		size_t		size = 0;
		struct
		{
			void	  **field;
			const char *name;
		}			optional[] = {
			{(void **) &f->url, "a url"}, {(void **) &f->actions, "actions"},
			{(void **) &f->icon, "an icon"}, {(void **) &f->badge, "a badge"},
			{(void **) &f->image, "an image"}, {(void **) &f->tag, "a tag"},
			{(void **) &f->lang, "a lang"}, {(void **) &f->dir, "a dir"},
			{(void **) &f->data, "data"}
		};

		for (size_t i = 0; i < lengthof(optional); i++)
			if (*optional[i].field != NULL &&
				VARSIZE_ANY(*optional[i].field) > size)
			{
				largest = optional[i].field;
				name = optional[i].name;
				size = VARSIZE_ANY(*largest);
			}
		if (largest == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("webpush_notify: trigger \"%s\" makes a notification that does not fit even with only its title", trigger_name)));
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("webpush_notify: trigger \"%s\" gives this row %s of %zu bytes, too long for a notification; it is sent without it",
						trigger_name, name, size - VARHDRSZ),
				 errhint("Keep the trigger's templates short: send an id and let the page look the rest up.")));
		*largest = NULL;
		if (largest == (void **) &f->tag)
			f->renotify = -1;	/* renotify needs the tag */
		prepare(f, trigger_name, &p);
		json = build_fitting(&p, &len, &as_text);
	}
	/* A payload that had to be shortened is written out once more. */
	return as_text != NULL ? as_text : sent_text(json, &len);
}
