/*
 * fuzz_subscription.c
 *		libFuzzer harness: a subscription object, from JSON text to the
 *		checked keys, as webpush_subscribe sees it.
 *
 * The text is parsed by PostgreSQL's own JSON parser (pg_parse_json from
 * libpgcommon: the parser jsonb_in uses), the members are taken out with
 * jsonb's rules (the last of duplicate keys wins), and the values go through
 * subscription_check, the code validate.c runs.  Checks, besides ASan and
 * UBSan: whatever is accepted has an https origin, and encrypting to its keys
 * works (a key that passed the full check must never fail per message).
 */
#include "postgres_fe.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "crypto/ece.h"
#include "push/subscription.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/*
 * PostgreSQL 15's parser drops a field name without freeing it when the
 * input ends inside a member (in the server a memory context reclaims it):
 * not ours to report.  What this harness allocates it frees.
 */
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}

typedef enum Kind
{
	ABSENT, STRING, NUMBER, JSON_NULL, OTHER, OBJECT
} Kind;

typedef struct Member
{
	Kind		kind;
	char	   *text;			/* STRING and NUMBER: the de-escaped token */
} Member;

typedef struct Walk
{
	char	  **owned;			/* every token and field name the parser gave */
	int			nowned;
	int			owned_cap;
	int			depth;			/* objects and arrays open */
	bool		root_is_object;
	bool		in_keys;		/* inside the (last) "keys" object */
	char	   *root_field;
	char	   *keys_field;
	Member		endpoint, keys, p256dh, auth, expiration;
} Walk;

/* The parser hands over each token and field name: keep them to free. */
static char *
own(Walk *w, char *p)
{
	if (w->nowned == w->owned_cap)
	{
		w->owned_cap = w->owned_cap ? 2 * w->owned_cap : 64;
		w->owned = realloc(w->owned, w->owned_cap * sizeof(char *));
	}
	w->owned[w->nowned++] = p;
	return p;
}

/* The member the value at the current position belongs to, or NULL. */
static Member *
current(Walk *w)
{
	if (w->depth == 1 && w->root_field)
	{
		if (strcmp(w->root_field, "endpoint") == 0)
			return &w->endpoint;
		if (strcmp(w->root_field, "keys") == 0)
			return &w->keys;
		if (strcmp(w->root_field, "expirationTime") == 0)
			return &w->expiration;
	}
	if (w->depth == 2 && w->in_keys && w->keys_field)
	{
		if (strcmp(w->keys_field, "p256dh") == 0)
			return &w->p256dh;
		if (strcmp(w->keys_field, "auth") == 0)
			return &w->auth;
	}
	return NULL;
}

/*
 * From 16 on, the parser's callbacks say whether to go on; before, they
 * return nothing.
 */
#if PG_VERSION_NUM >= 160000
typedef JsonParseErrorType SemResult;
#define SEM_OK JSON_SUCCESS
#else
typedef void SemResult;
#define SEM_OK
#endif

static void
set(Member *m, Kind kind, char *text)
{
	if (m)
	{
		m->kind = kind;
		m->text = text;
	}
}

static SemResult
object_start(void *state)
{
	Walk	   *w = state;
	Member	   *m = current(w);

	if (w->depth == 0)
		w->root_is_object = true;
	if (m == &w->keys)
	{
		/* A later "keys" replaces an earlier one entirely, as in jsonb. */
		w->in_keys = true;
		w->p256dh.kind = w->auth.kind = ABSENT;
		set(m, OBJECT, NULL);
	}
	else
		set(m, OTHER, NULL);
	w->depth++;
	return SEM_OK;
}

static SemResult
object_end(void *state)
{
	Walk	   *w = state;

	w->depth--;
	if (w->depth == 1)
		w->in_keys = false;
	return SEM_OK;
}

static SemResult
array_start(void *state)
{
	Walk	   *w = state;

	set(current(w), OTHER, NULL);
	w->depth++;
	return SEM_OK;
}

static SemResult
array_end(void *state)
{
	((Walk *) state)->depth--;
	return SEM_OK;
}

static SemResult
field_start(void *state, char *fname, bool isnull)
{
	Walk	   *w = state;

	own(w, fname);
	if (w->depth == 1)
		w->root_field = fname;
	else if (w->depth == 2 && w->in_keys)
		w->keys_field = fname;
	return SEM_OK;
}

static SemResult
scalar(void *state, char *token, JsonTokenType type)
{
	Walk	   *w = state;

	own(w, token);
	set(current(w),
		type == JSON_TOKEN_STRING ? STRING :
		type == JSON_TOKEN_NUMBER ? NUMBER :
		type == JSON_TOKEN_NULL ? JSON_NULL : OTHER, token);
	return SEM_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	JsonSemAction sem = {0};
	JsonLexContext *lex;
	Walk		w = {0};
	SubscriptionText text = {0};
	SubscriptionChecked checked;
	char	   *json;

	if (size > 65536)
		return 0;
	json = malloc(size + 1);
	memcpy(json, data, size);
	json[size] = '\0';

	sem.semstate = &w;
	sem.object_start = object_start;
	sem.object_end = object_end;
	sem.array_start = array_start;
	sem.array_end = array_end;
	sem.object_field_start = field_start;
	sem.scalar = scalar;
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, json, size, PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen(json, (int) size, PG_UTF8, true);
#endif

	/* The order of validate_subscription_json's checks. */
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || !w.root_is_object ||
		w.endpoint.kind != STRING || w.keys.kind != OBJECT ||
		w.p256dh.kind != STRING || w.auth.kind != STRING ||
		(w.expiration.kind != ABSENT && w.expiration.kind != JSON_NULL &&
		 w.expiration.kind != NUMBER))
		goto done;

	text.endpoint = w.endpoint.text;
	text.endpoint_len = strlen(w.endpoint.text);
	text.p256dh = w.p256dh.text;
	text.p256dh_len = strlen(w.p256dh.text);
	text.auth = w.auth.text;
	text.auth_len = strlen(w.auth.text);
	if (w.expiration.kind == NUMBER)
	{
		text.has_expiration = 1;
		text.expiration_ms = strtod(w.expiration.text, NULL);
	}
	if (subscription_check(&text, &(EndpointPolicy) {data[0] & 1, data[0] & 2, 1, {443}},
						   &checked) == SUBSCRIPTION_OK)
	{
		static EceContext *ece = NULL;
		EceRecipient r;
		uint8_t		body[ECE_BODY_LEN(16)];
		size_t		len;

		if (strncmp(checked.endpoint.origin, "https://", 8) != 0)
			abort();
		if (ece == NULL)
			ece = ece_context_create();
		if (ece_recipient_init(&r, checked.p256dh, checked.auth) != 0 ||
			ece_encrypt(ece, &r, (const uint8_t *) "fuzz", 4, NULL, NULL, body, &len) != ECE_OK)
			abort();
	}

done:
	for (int i = 0; i < w.nowned; i++)
		pfree(w.owned[i]);
	free(w.owned);
#if PG_VERSION_NUM >= 170000
	freeJsonLexContext(lex);
#else
	if (lex->strval)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
#endif
	free(json);
	return 0;
}
