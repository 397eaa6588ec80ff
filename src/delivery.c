/*
 * delivery.c
 *		The delivery core: the VAPID key cache, one recipient's request, and
 *		what a push service's answer means.
 */
#include "postgres.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "mb/pg_wchar.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "applications.h"
#include "delivery.h"
#include "ece.h"
#include "safe_text.h"

/* Retries back off exponentially up to this. */
#define MAX_BACKOFF_MS (3600.0 * 1000)

typedef struct SignerEntry
{
	int64		key_id;			/* hash key */
	VapidSigner *signer;		/* NULL unless status is SIGNER_OK */
	SignerStatus status;
	bool		checked;		/* read from the tables since expiry */
} SignerEntry;

static HTAB *signers = NULL;

/* Per-process encryption state, shared by every request. */
static EceContext *ece = NULL;


/* ---- The key cache ---- */

static SignerEntry *
signer_entry(int64 key_id)
{
	bool		found;
	SignerEntry *entry;

	if (signers == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(SignerEntry);
		ctl.hcxt = TopMemoryContext;
		signers = hash_create("webpush signers", 8, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(signers, &key_id, HASH_ENTER, &found);
	if (!found)
	{
		entry->signer = NULL;
		entry->status = SIGNER_FAILED;
		entry->checked = false;
	}
	return entry;
}

VapidSigner *
delivery_signer(int64 key_id, SignerStatus *status)
{
	SignerEntry *entry = signer_entry(key_id);

	if (!entry->checked)
	{
		uint8		private_key[P256_PRIVATE_LEN];
		char	   *subject = NULL;

		if (!app_signing_key(key_id, private_key, &subject))
			entry->status = SIGNER_KEY_GONE;
		else if (subject == NULL)
			entry->status = SIGNER_NO_SUBJECT;
		else if (entry->signer != NULL &&
				 vapid_signer_matches(entry->signer, private_key, subject))
			entry->status = SIGNER_OK;
		else
		{
			/* A new key, or a new subject: the cached JWTs go too. */
			vapid_signer_free(entry->signer);
			entry->signer = vapid_signer_create(private_key, subject);
			entry->status = entry->signer ? SIGNER_OK : SIGNER_FAILED;
		}
		explicit_bzero(private_key, sizeof(private_key));
		if (entry->status != SIGNER_OK)
		{
			vapid_signer_free(entry->signer);
			entry->signer = NULL;
		}
		entry->checked = true;
	}
	*status = entry->status;
	return entry->signer;
}

void
delivery_keys_expire(void)
{
	HASH_SEQ_STATUS scan;
	SignerEntry *entry;

	if (signers == NULL)
		return;
	hash_seq_init(&scan, signers);
	while ((entry = hash_seq_search(&scan)) != NULL)
		entry->checked = false;
}

const char *
signer_status_message(SignerStatus status)
{
	switch (status)
	{
		case SIGNER_OK:
			return "ok";
		case SIGNER_KEY_GONE:
			return "its VAPID key was retired";
		case SIGNER_NO_SUBJECT:
			return "its application has no subject (webpush.subject)";
		case SIGNER_FAILED:
			return "could not prepare the VAPID signer";
	}
	return "unknown";
}


/* ---- The request ---- */

EceContext *
delivery_ece(void)
{
	if (ece == NULL)
		ece = ece_context_create();
	return ece;
}

const char *
delivery_build_request(const PushMessage *msg, HttpRequest *req)
{
	if (delivery_ece() == NULL)
		return "out of memory";
	return push_build_request(ece, msg, time(NULL), req);
}


/* ---- What an answer means ---- */

/* Uniform in [0, 1): random() returns 31 bits. */
static double
random_fraction(void)
{
	return (double) random() / 2147483648.0;
}

static double
backoff_ms(int attempts)
{
	double		base = 1000.0 * pow(2.0, Min(attempts - 1, 30));
	double		jitter = 0.5 + random_fraction();

	return Min(base, MAX_BACKOFF_MS) * jitter;
}

/*
 * "HTTP 503: <body>", or curl's error when nothing was received.  What a
 * push service sends must be valid text before it is stored or shown.
 */
static void
describe_answer(const HttpRequest *req, char *out, size_t outlen)
{
	char		why[Max(HTTP_RESPONSE_KEEP, sizeof(req->error)) + 1];
	const char *raw = NULL;
	size_t		raw_len = 0;

	why[0] = '\0';
	if (req->status == 0)
	{
		raw = req->error;
		raw_len = strlen(req->error);
	}
	else if (req->response != NULL && req->response_len > 0)
	{
		raw = req->response;
		raw_len = req->response_len;
	}
	if (raw != NULL)
		safe_text(raw, raw_len, GetDatabaseEncoding() != PG_UTF8, why, sizeof(why));

	if (req->status == 0)
		snprintf(out, outlen, "%s", why[0] ? why : "no response");
	else
		snprintf(out, outlen, "HTTP %ld%s%s", req->status,
				 why[0] ? ": " : "", why);
}

void
delivery_judge(const HttpRequest *req, const RetryBudget *budget,
			   DeliveryVerdict *verdict)
{
	long		status = req->status;
	char		answer[DELIVERY_REASON_MAX - 64];
	TimestampTz next;

	verdict->status = (int32) status;
	verdict->retry_delay_ms = 0;
	verdict->reason[0] = '\0';

	if (status >= 200 && status < 300)
	{
		verdict->kind = VERDICT_DELIVERED;
		return;
	}

	describe_answer(req, answer, sizeof(answer));
	if (status == 404 || status == 410)
	{
		verdict->kind = VERDICT_GONE;
		snprintf(verdict->reason, sizeof(verdict->reason),
				 "subscription gone: %s", answer);
		return;
	}

	/*
	 * Permanent: a refused address, or a 4xx other than 408 (timeout), 429
	 * and WNS's 406 (both rate limits).
	 */
	if ((status == 0 && req->refused_address) ||
		(status > 0 && status < 500 && status != 408 && status != 429 && status != 406))
	{
		verdict->kind = VERDICT_FAILED;
		snprintf(verdict->reason, sizeof(verdict->reason), "%s", answer);
		return;
	}

	/* Retryable: when, and whether there is room for it. */
	if (req->retry_after > 0)
	{
		/* No earlier than told; a little later spreads the herd. */
		verdict->retry_delay_ms = req->retry_after * 1000.0 *
			(1.0 + 0.1 * random_fraction());
	}
	else
		verdict->retry_delay_ms = backoff_ms(budget->attempts);

	if (budget->max_attempts <= 0)
	{
		verdict->kind = VERDICT_FAILED;
		snprintf(verdict->reason, sizeof(verdict->reason), "%s", answer);
		return;
	}
	if (budget->attempts >= budget->max_attempts)
	{
		verdict->kind = VERDICT_FAILED;
		snprintf(verdict->reason, sizeof(verdict->reason),
				 "gave up after %d attempts; last: %s", budget->attempts, answer);
		return;
	}
	next = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
									   (int64) verdict->retry_delay_ms);
	if (next > budget->expires_at)
	{
		verdict->kind = VERDICT_EXPIRED;
		snprintf(verdict->reason, sizeof(verdict->reason),
				 "TTL ran out before a retry; last: %s", answer);
		return;
	}
	verdict->kind = VERDICT_RETRY;
	snprintf(verdict->reason, sizeof(verdict->reason), "%s", answer);
}

const char *
verdict_outcome_name(VerdictKind kind)
{
	switch (kind)
	{
		case VERDICT_DELIVERED:
			return "delivered";
		case VERDICT_EXPIRED:
			return "expired";
		case VERDICT_RETRY:
		case VERDICT_GONE:
		case VERDICT_FAILED:
			return "failed";
	}
	return "failed";
}
