/*
 * delivery.c
 *		The delivery core: the VAPID key cache and the JWTs the cluster
 *		shares, one recipient's request, and what a push service's answer
 *		means.
 */
#include "postgres.h"

#include <stdlib.h>
#include <time.h>

#include "mb/pg_wchar.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "queue/applications.h"
#include "shmem/tokens.h"
#include "worker/delivery.h"
#include "crypto/ece.h"

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

/*
 * A claim's messages are built one after another, at once: their key
 * agreements are made together first.  Those without a payload, without an
 * endpoint or past their TTL need none; one held back later (quiet hours, a
 * cap, a rate, a full host) leaves its agreement unused, wiped after the turn.
 */
void
delivery_prepare_keys(const ClaimedMessage *claimed, int n, TimestampTz now)
{
	const uint8 **peers;
	int			npeers = 0;

	if (n < 2 || delivery_ece() == NULL)
		return;
	peers = palloc(sizeof(uint8 *) * n);
	for (int i = 0; i < n; i++)
	{
		if (claimed[i].payload != NULL && claimed[i].endpoint != NULL &&
			claimed[i].key_id != 0 && claimed[i].expires_at > now)
			peers[npeers++] = claimed[i].p256dh;
	}
	if (npeers >= 2)
		ece_prepare(ece, peers, npeers);
	pfree(peers);
}

void
delivery_forget_keys(void)
{
	if (ece != NULL)
		ece_forget_prepared(ece);
}

/*
 * The JWT in shared memory is taken, or signed here and stored there, with
 * the table's lock held while signing, so two processes that miss together
 * end with one token.  It is kept in the signer's cache until due to be
 * signed again; by then the shared one is due too (one exp for both), so
 * the cache never holds a token older than the one shared, and the shared
 * memory is consulted only on a miss, not per message.  Without shared
 * memory, or without room there, the signer signs its own
 * (vapid_jwt_for_origin).
 *
 * The token for the same key and origin signed last, when that was within
 * the hour, is taken even when it has another subject, until it is an hour
 * old: Apple refuses a token other than the last it saw sooner than that,
 * a new one or an older one, and counts them by key and audience only.
 * That is the case of a subject just changed, and of one changed back to a
 * subject whose token is still valid.
 */
void
delivery_share_jwt(VapidSigner *signer, const char *origin, time_t now)
{
	uint8		id[VAPID_TOKEN_ID_LEN];
	uint8		audience[VAPID_TOKEN_ID_LEN];
	uint8		latest[VAPID_TOKEN_ID_LEN];
	char		jwt[VAPID_JWT_MAX_LEN];
	int64		exp = 0;
	int64		signed_at;
	long long	signed_exp;
	long		len;
	int64		due = (int64) now + VAPID_JWT_REFRESH_MARGIN;

	if (vapid_jwt_cached(signer, origin, now) != NULL ||
		vapid_token_id(signer, origin, id) != 0 ||
		vapid_audience_id(signer, origin, audience) != 0 || !shared_tokens_lock())
		return;
	len = -1;
	if (shared_token_latest(audience, (int64) now - VAPID_JWT_RESIGN_AFTER,
							latest, &signed_at) &&
		memcmp(latest, id, VAPID_TOKEN_ID_LEN) != 0)
	{
		len = shared_token_find(latest, (int64) now, jwt, sizeof(jwt), &exp);
		/*
		 * Kept here until its hour is up (due then, as the cache counts), or
		 * until it is due itself.
		 */
		if (len >= 0)
			exp = Min(exp, signed_at + VAPID_JWT_RESIGN_AFTER + VAPID_JWT_REFRESH_MARGIN);
	}
	if (len < 0)
		len = shared_token_find(id, due, jwt, sizeof(jwt), &exp);
	if (len < 0)
	{
		len = vapid_jwt_sign_new(signer, origin, now, jwt, sizeof(jwt), &signed_exp);
		exp = (int64) signed_exp;
		if (len >= 0)
			(void) shared_token_store(id, audience, jwt, (size_t) len,
									  (int64) now, exp, due);
	}
	shared_tokens_unlock();
	if (len >= 0)
		(void) vapid_jwt_keep(signer, origin, jwt, (long long) exp);
	explicit_bzero(jwt, sizeof(jwt));
}

const char *
delivery_build_request(const PushMessage *msg, HttpRequest *req)
{
	time_t		now = time(NULL);

	if (delivery_ece() == NULL)
		return "out of memory";
	delivery_share_jwt(msg->signer, msg->origin, now);
	return push_build_request(ece, msg, now, req);
}


/* ---- What an answer means ---- */

/* Uniform in [0, 1): random() returns 31 bits. */
static double
random_fraction(void)
{
	return (double) random() / 2147483648.0;
}

/* The verdict's text keeps at least what a request keeps of its answer. */
StaticAssertDecl(HTTP_RESPONSE_KEEP <= VERDICT_TEXT_MAX &&
				 HTTP_DESCRIPTION_KEEP <= VERDICT_DESCRIPTION_MAX + 1,
				 "a kept response would be shortened twice");

void
delivery_judge(const HttpRequest *req, const RetryBudget *budget,
			   Verdict *verdict)
{
	PushAnswer	answer;
	VerdictBudget left;

	answer.status = http_request_status(req);
	answer.refused_address = http_request_refused_address(req);
	answer.retry_after = http_request_retry_after(req);
	answer.text = NULL;
	answer.text_len = 0;
	if (answer.status == 0)
	{
		answer.text = http_request_error(req);
		answer.text_len = strlen(answer.text);
	}
	else
		answer.text = http_request_response(req, &answer.text_len);
	answer.description = http_request_description(req);
	answer.ascii_only = GetDatabaseEncoding() != PG_UTF8;
	left.attempts = budget->attempts;
	left.max_attempts = budget->max_attempts;
	left.us_left = budget->expires_at - GetCurrentTimestamp();
	verdict_judge(&answer, &left, random_fraction(), verdict);
}
