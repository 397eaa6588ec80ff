/*
 * send_now.c
 *		SQL functions that encrypt and deliver from the calling backend:
 *		webpush_encrypt and webpush_send_now.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "http/http.h"
#include "mb/pg_wchar.h"
#include "queue/enqueue.h"
#include "support/safe_text.h"
#include "queue/app_access.h"
#include "queue/applications.h"
#include "support/compat.h"
#include "shmem/counters.h"
#include "worker/delivery.h"
#include "sql/args.h"
#include "queue/subscriptions.h"
#include "sql/validate.h"
#include "crypto/vapid.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(webpush_encrypt);
PG_FUNCTION_INFO_V1(webpush_send_now_id);
PG_FUNCTION_INFO_V1(webpush_send_now_json);
PG_FUNCTION_INFO_V1(webpush_send_now_id_jsonb);
PG_FUNCTION_INFO_V1(webpush_send_now_json_jsonb);

/* Kept for the life of the backend: connections (keys: delivery.c). */
static HttpClient *backend_http = NULL;
static uint32 wait_event = 0;

/*
 * A sender private key may be an argument: no error of the call may log the
 * statement (call_hiding_statement).
 */
static Datum
encrypt(PG_FUNCTION_ARGS)
{
	bytea	   *payload;
	text	   *p256dh;
	text	   *auth;
	EceRecipient recipient;
	uint8		ua_public[P256_PUBLIC_LEN];
	uint8		auth_secret[ECE_AUTH_LEN];
	const uint8 *salt = NULL;
	EVP_PKEY   *sender = NULL;
	bytea	   *out;
	size_t		out_len = 0;
	size_t		len;
	EceResult	rc;

	validate_not_null(PG_ARGISNULL(0), "payload");
	validate_not_null(PG_ARGISNULL(1), "p256dh");
	validate_not_null(PG_ARGISNULL(2), "auth");
	payload = PG_GETARG_BYTEA_PP(0);
	p256dh = PG_GETARG_TEXT_PP(1);
	auth = PG_GETARG_TEXT_PP(2);
	len = VARSIZE_ANY_EXHDR(payload);

	validate_payload_length(len);
	validate_p256dh(VARDATA_ANY(p256dh), VARSIZE_ANY_EXHDR(p256dh), ua_public);
	validate_auth(VARDATA_ANY(auth), VARSIZE_ANY_EXHDR(auth), auth_secret);

	if (!PG_ARGISNULL(3))
	{
		bytea	   *s = PG_GETARG_BYTEA_PP(3);

		if (VARSIZE_ANY_EXHDR(s) != ECE_SALT_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("salt must be 16 bytes"),
					 errhint("Leave it NULL: a fixed salt is only for test vectors.")));
		salt = (const uint8 *) VARDATA_ANY(s);
	}
	if (!PG_ARGISNULL(4))
	{
		text	   *k = PG_GETARG_TEXT_PP(4);

		if (vapid_import_private(VARDATA_ANY(k), VARSIZE_ANY_EXHDR(k), &sender) != VAPID_IMPORT_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid sender private key"),
					 errdetail("It must be base64url of a 32-byte P-256 scalar, or PEM."),
					 errhint("Leave it NULL: a fixed sender key is only for test vectors.")));
	}

	/* The same crypto contexts as webpush_send_now's. */
	if (delivery_ece() == NULL || ece_recipient_init(&recipient, ua_public, auth_secret) != 0)
	{
		EVP_PKEY_free(sender);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not set up encryption")));
	}

	out = palloc(VARHDRSZ + ECE_BODY_LEN(len));
	rc = ece_encrypt(delivery_ece(), &recipient, (const uint8 *) VARDATA_ANY(payload), len,
					 salt, sender, (uint8 *) VARDATA(out), &out_len);
	ece_recipient_clear(&recipient);
	EVP_PKEY_free(sender);
	if (rc != ECE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not encrypt the payload")));
	SET_VARSIZE(out, VARHDRSZ + out_len);
	PG_RETURN_BYTEA_P(out);
}

Datum
webpush_encrypt(PG_FUNCTION_ARGS)
{
	return call_hiding_statement(encrypt, fcinfo);
}

/*
 * Run one request to completion, waking on the latch so that a cancel or
 * statement_timeout interrupts it.  On error the request is abandoned and
 * freed here.
 */
static void
run_request(HttpRequest *req)
{
	HttpClientConfig config;

	config.timeout_ms = webpush_timeout_ms;
	config.ca_file = webpush_ca_file;
	config.proxy = webpush_proxy;
	config.allow_private = webpush_allow_private_endpoints;
	config.idle_timeout_ms = webpush_http_idle_timeout_ms;
	if (backend_http == NULL)
		backend_http = http_client_create(&config);
	else
		http_client_configure(backend_http, &config);
	if (backend_http == NULL || !http_client_ready(backend_http))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialise libcurl")));

	http_client_start(backend_http, req);

	PG_TRY();
	{
		while (http_client_next_done(backend_http) != req)
		{
			http_client_wait(backend_http, 1000,
							 webpush_wait_event(&wait_event, "WebPushSendNow"));
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		http_request_free(req);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* Argument 1, the payload: text as it is, jsonb as its text; NULL for none. */
static text *
send_now_payload(FunctionCallInfo fcinfo, bool is_jsonb)
{
	if (PG_ARGISNULL(1))
		return NULL;
	if (is_jsonb)
		return cstring_to_text(JsonbToCString(NULL, &PG_GETARG_JSONB_P(1)->root, 0));
	return PG_GETARG_TEXT_PP(1);
}

/* A request webpush_send_now made, in the counters like the worker's. */
static void
count_sent_now(const char *app, const char *endpoint, const HttpRequest *req,
			   const Verdict *verdict, TimestampTz started)
{
	CountedEvent e;
	char		host[COUNTERS_HOST_LEN];

	memset(&e, 0, sizeof(e));
	counters_url_host(endpoint, host);
	e.application = app;
	e.host = host;
	e.requested = true;
	e.bytes = (int64) http_request_body_len(req);
	e.latency_s = -1;
	e.problem = verdict->reason[0] ? verdict->reason : NULL;
	switch (verdict->kind)
	{
		case VERDICT_DELIVERED:
			e.outcome = COUNT_DELIVERED;
			e.latency_s = (GetCurrentTimestamp() - started) / (double) USECS_PER_SEC;
			break;
		case VERDICT_GONE:
			e.outcome = COUNT_GONE;
			break;
		case VERDICT_EXPIRED:
			e.outcome = COUNT_EXPIRED;
			break;
		case VERDICT_RETRY:
		case VERDICT_FAILED:
			e.outcome = COUNT_FAILED;
			break;
	}
	counters_count(&e);
}

static Datum
send_now(FunctionCallInfo fcinfo, Subscription *sub, const char *app, bool payload_is_jsonb)
{
	MessageOptions opts;
	PushMessage msg;
	VapidSigner *signer;
	SignerStatus signer_status;
	const char *build_error;
	HttpRequest *req;
	text	   *payload = send_now_payload(fcinfo, payload_is_jsonb);
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	long		status;
	TimestampTz started;

	validate_message_options(PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2),
							 PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3),
							 PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4),
							 &opts);
	if (payload != NULL)
		validate_payload_length(VARSIZE_ANY_EXHDR(payload));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "webpush: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	/* Signed with the key the subscription was made with, as the worker does. */
	delivery_keys_expire();
	signer = delivery_signer(sub->key_id, &signer_status);
	if (signer_status == SIGNER_NO_SUBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webpush.subject is not set"),
				 errdetail("Push services require a contact for the application server in every VAPID token."),
				 errhint("Set it, for example: ALTER SYSTEM SET webpush.subject = 'mailto:admin@example.com'; SELECT pg_reload_conf();")));
	if (signer == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not prepare the VAPID signer: %s",
						signer_status_message(signer_status))));

	memset(&msg, 0, sizeof(msg));
	msg.signer = signer;
	msg.endpoint = sub->endpoint;
	msg.origin = sub->parsed.origin;
	msg.p256dh = sub->p256dh;
	msg.auth = sub->auth;
	if (payload != NULL)
	{
		msg.payload = (const uint8 *) VARDATA_ANY(payload);
		msg.payload_len = VARSIZE_ANY_EXHDR(payload);
	}
	msg.ttl = opts.ttl;
	msg.urgency = opts.urgency;
	msg.topic = opts.has_topic ? opts.topic : NULL;

	req = http_request_create();
	if (req == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	build_error = delivery_build_request(&msg, req);
	if (build_error != NULL)
	{
		http_request_free(req);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not build the push request: %s", build_error)));
	}

	started = GetCurrentTimestamp();
	run_request(req);

	status = http_request_status(req);
	if (status == 0)
	{
		char		why[HTTP_ERROR_KEEP];
		const char *error = http_request_error(req);
		bool		refused = http_request_refused_address(req);

		safe_text(error, strlen(error), GetDatabaseEncoding() != PG_UTF8,
				  why, sizeof(why));
		http_request_free(req);
		ereport(ERROR,
				(errcode(refused ? ERRCODE_INSUFFICIENT_PRIVILEGE : ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not deliver the push notification to %s", sub->parsed.origin),
				 errdetail("%s", why),
				 refused ? errhint("Only a superuser can allow such endpoints, with webpush.allow_private_endpoints.") : 0));
	}
	values[0] = Int32GetDatum((int32) status);
	{
		/* Whatever the push service sent, the text returned is valid. */
		char		safe[HTTP_RESPONSE_KEEP + 1];
		RetryBudget no_retry = {1, 0, 0};
		Verdict		verdict;
		MessageSpec spec;
		size_t		response_len;
		const char *response = http_request_response(req, &response_len);

		safe_text(response ? response : "", response_len,
				  GetDatabaseEncoding() != PG_UTF8, safe, sizeof(safe));
		values[1] = CStringGetTextDatum(safe);
		delivery_judge(req, &no_retry, &verdict);
		count_sent_now(app, sub->endpoint, req, &verdict, started);
		http_request_free(req);

		/* In the history like every delivery, under a message of its own. */
		memset(&spec, 0, sizeof(spec));
		spec.payload = (bytea *) payload;
		spec.opts = opts;
		(void) queue_record_sent_now(sub, app, &spec,
									 verdict_outcome_name(verdict.kind),
									 verdict.status,
									 verdict.reason[0] ? verdict.reason : NULL);
		if (verdict.kind == VERDICT_GONE && sub->id != 0 &&
			store_delete_gone_subscription(sub->id, sub->endpoint, verdict.status))
			ereport(NOTICE,
					(errmsg("subscription %lld was removed", (long long) sub->id),
					 errdetail("The push service answered %ld: the browser unsubscribed or the subscription expired.",
							   status)));
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static Datum
send_now_id(FunctionCallInfo fcinfo, bool payload_is_jsonb)
{
	Subscription sub;
	int64		id;

	validate_not_null(PG_ARGISNULL(0), "subscription_id");
	id = PG_GETARG_INT64(0);
	if (!store_load_subscription(id, &sub))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("push subscription %lld does not exist", (long long) id),
				 errhint("It may have been removed after the push service reported it gone (404/410).")));
	/* Another application's subscription is one this caller cannot see. */
	if (!app_may_use(sub.application, app_caller()))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("push subscription %lld does not exist", (long long) id),
				 errhint("It may have been removed after the push service reported it gone (404/410).")));
	validate_endpoint(sub.endpoint, strlen(sub.endpoint), &sub.parsed);
	return send_now(fcinfo, &sub, sub.application, payload_is_jsonb);
}

static Datum
send_now_json(FunctionCallInfo fcinfo, bool payload_is_jsonb)
{
	Subscription sub;
	char	   *app;
	uint8		public_key[P256_PUBLIC_LEN];

	validate_not_null(PG_ARGISNULL(0), "subscription");
	validate_subscription_json(PG_GETARG_JSONB_P(0), &sub);
	app = used_application_arg(fcinfo, 5);
	sub.key_id = app_current_key(app, public_key);
	app_require_subject(app);
	return send_now(fcinfo, &sub, app, payload_is_jsonb);
}

static Datum
send_now_id_for_caller(PG_FUNCTION_ARGS)
{
	return send_now_id(fcinfo, false);
}

static Datum
send_now_id_jsonb_for_caller(PG_FUNCTION_ARGS)
{
	return send_now_id(fcinfo, true);
}

static Datum
send_now_json_for_caller(PG_FUNCTION_ARGS)
{
	return send_now_json(fcinfo, false);
}

static Datum
send_now_json_jsonb_for_caller(PG_FUNCTION_ARGS)
{
	return send_now_json(fcinfo, true);
}

/* The SQL entry points: each runs as the extension's owner, for its caller. */

Datum
webpush_send_now_id(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_now_id_for_caller, fcinfo);
}

Datum
webpush_send_now_id_jsonb(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_now_id_jsonb_for_caller, fcinfo);
}

Datum
webpush_send_now_json(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_now_json_for_caller, fcinfo);
}

Datum
webpush_send_now_json_jsonb(PG_FUNCTION_ARGS)
{
	return call_for_caller(send_now_json_jsonb_for_caller, fcinfo);
}
