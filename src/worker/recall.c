/*
 * recall.c
 *		The worker's recalls (recall.h): the DELETEs webpush_cancel queued
 *		for copies a push service still holds, claimed, sent and answered
 *		beside the deliveries, in transactions of their own.
 *
 * A recall is judged as a delivery is (verdict.h): a 2xx recalled it, a 404
 * or 410 says it was delivered already or is gone, a 5xx, a 429 or no
 * answer is tried again after a backoff while its TTL lasts, up to
 * RECALL_MAX_ATTEMPTS, and anything else failed it.
 */
#include "postgres.h"

#include <stdlib.h>
#include <time.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "pgstat.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "push/push.h"
#include "queue/recalls.h"
#include "settings.h"
#include "worker/delivery.h"
#include "worker/recall.h"

/* At most this many DELETEs in flight: they are rare, deliveries come first. */
#define RECALL_MAX_IN_FLIGHT 8
/* Tries of one DELETE before it is recorded as failed. */
#define RECALL_MAX_ATTEMPTS 5
/* A wake-up leads to a look for due recalls at most this often. */
#define RECALL_LOOK_MIN_MS 100
/* A claim holds a recall for the request's timeout and this much more. */
#define RECALL_LEASE_EXTRA_MS 60000

/* One DELETE in flight (its HttpRequest's owner). */
typedef struct Recall
{
	int64		message_id;
	int64		subscription_id;
	int32		attempts;
	TimestampTz expires_at;
	HttpRequest *req;
} Recall;

/* An answer (or a recall that could not be sent) to record. */
typedef struct RecallAnswer
{
	int64		message_id;
	int64		subscription_id;
	const char *outcome;		/* static; NULL: due again after delay_ms */
	int32		status;
	char	   *reason;			/* malloc'd or NULL */
	double		delay_ms;
} RecallAnswer;

typedef struct RecallState
{
	Recall	   *flight[RECALL_MAX_IN_FLIGHT];
	int			nflight;
	RecallAnswer *answers;
	int			nanswers;
	int			answers_cap;
	bool		look_wanted;
	TimestampTz last_look;
	TimestampTz next_due;		/* 0: none known */
	int			failures;		/* transactions failed in a row */
	TimestampTz retry_at;
} RecallState;

char *
recall_location(const HttpRequest *req, const char *origin)
{
	const char *location = http_request_location(req);
	char	   *copy;

	if (location == NULL ||
		!push_location_usable(location, origin, &webpush_endpoint_policy))
		return NULL;
	if ((copy = strdup(location)) == NULL)
		elog(FATAL, "webpush worker: out of memory");
	return copy;
}

static RecallState *
recall_state(WorkerState *w)
{
	if (w->recalls == NULL)
	{
		w->recalls = calloc(1, sizeof(RecallState));
		if (w->recalls == NULL)
			elog(FATAL, "webpush worker: out of memory");
		/* What was queued while no worker ran. */
		w->recalls->look_wanted = true;
	}
	return w->recalls;
}

static void
add_answer(RecallState *rs, int64 message_id, int64 subscription_id,
		   const char *outcome, int32 status, const char *reason, double delay_ms)
{
	RecallAnswer *a;

	worker_array_room((void **) &rs->answers, rs->nanswers, &rs->answers_cap,
					  sizeof(RecallAnswer), 16);
	a = &rs->answers[rs->nanswers++];
	a->message_id = message_id;
	a->subscription_id = subscription_id;
	a->outcome = outcome;
	a->status = status;
	a->reason = NULL;
	if (reason != NULL && reason[0] != '\0' && (a->reason = strdup(reason)) == NULL)
		elog(FATAL, "webpush worker: out of memory");
	a->delay_ms = delay_ms;
}

void
recall_note_wakeup(WorkerState *w)
{
	recall_state(w)->look_wanted = true;
}

/*
 * Whether to look for due recalls now: after a wake-up (at most every
 * RECALL_LOOK_MIN_MS), when the next one falls due, and once a minute for
 * what no COMMIT announced (a prepared transaction's, or one a claim
 * leased to a worker that stopped).
 */
static bool
look_due(RecallState *rs, TimestampTz now)
{
	if (rs->nflight >= RECALL_MAX_IN_FLIGHT)
		return false;
	if (rs->look_wanted && TimestampDifferenceExceeds(rs->last_look, now, RECALL_LOOK_MIN_MS))
		return true;
	if (TimestampDifferenceExceeds(rs->last_look, now, MAINTENANCE_INTERVAL_MS))
		return true;
	return rs->next_due != 0 && now >= rs->next_due;
}

/*
 * Build and start the DELETE of one claimed recall, or record why it
 * cannot go.
 */
static void
start_recall(WorkerState *w, RecallState *rs, const ClaimedRecall *c,
			 VapidSigner *signer, SignerStatus status, TimestampTz now)
{
	Endpoint	ep;
	Recall	   *r;
	const char *error;

	if (now >= c->expires_at)
	{
		add_answer(rs, c->message_id, c->subscription_id, "failed", 0,
				   "its TTL ran out before the DELETE could be sent: the push service dropped it", 0);
		return;
	}
	if (signer == NULL)
	{
		add_answer(rs, c->message_id, c->subscription_id, "failed", 0,
				   c->key_id == 0 ? "no VAPID key is left to sign the DELETE"
				   : signer_status_message(status), 0);
		return;
	}
	/* The address policy may have changed since the Location was kept. */
	if (endpoint_parse(c->location, strlen(c->location), &webpush_endpoint_policy,
					   &ep) != ENDPOINT_OK)
	{
		add_answer(rs, c->message_id, c->subscription_id, "failed", 0,
				   "the push message resource is not allowed (non-public address, port not in webpush.allowed_ports, or invalid URL)", 0);
		return;
	}
	r = malloc(sizeof(Recall));
	if (r == NULL || (r->req = http_request_create()) == NULL)
		elog(FATAL, "webpush worker: out of memory");
	r->message_id = c->message_id;
	r->subscription_id = c->subscription_id;
	r->attempts = c->attempts;
	r->expires_at = c->expires_at;
	http_request_set_owner(r->req, r);
	/* The token the deliveries to that origin share: no signing of its own. */
	delivery_share_jwt(signer, ep.origin, time(NULL));
	error = push_build_recall(signer, c->location, ep.origin, time(NULL), r->req);
	if (error != NULL)
	{
		add_answer(rs, c->message_id, c->subscription_id, "failed", 0, error, 0);
		http_request_free(r->req);
		free(r);
		return;
	}
	rs->flight[rs->nflight++] = r;
	http_client_start(w->http, r->req);
}

bool
recall_collect(WorkerState *w, HttpRequest *done)
{
	RecallState *rs = w->recalls;
	Recall	   *r = http_request_owner(done);
	RetryBudget budget;
	Verdict		verdict;
	int			i;

	if (rs == NULL || rs->nflight == 0)
		return false;
	for (i = 0; i < rs->nflight && rs->flight[i] != r; i++)
		;
	if (i == rs->nflight)
		return false;
	rs->flight[i] = rs->flight[--rs->nflight];

	budget.attempts = r->attempts;
	budget.max_attempts = RECALL_MAX_ATTEMPTS;
	budget.expires_at = r->expires_at;
	delivery_judge(done, &budget, &verdict);
	switch (verdict.kind)
	{
		case VERDICT_DELIVERED:
			add_answer(rs, r->message_id, r->subscription_id, "recalled", verdict.status, NULL, 0);
			break;
		case VERDICT_GONE:
			{
				/*
				 * Not the subscription, the message: taken by the browser,
				 * expired, or deleted by an earlier try whose answer was
				 * lost (a worker stopped while it was in flight).
				 */
				const char *prefix = "subscription gone: ";
				const char *answer = verdict.reason;
				char		reason[sizeof(verdict.reason) + 64];

				if (strncmp(answer, prefix, strlen(prefix)) == 0)
					answer += strlen(prefix);
				snprintf(reason, sizeof(reason),
						 "not held any more (taken by the browser, expired, or deleted by an earlier try): %s",
						 answer);
				add_answer(rs, r->message_id, r->subscription_id, "gone", verdict.status,
						   reason, 0);
			}
			break;
		case VERDICT_RETRY:
			add_answer(rs, r->message_id, r->subscription_id, NULL, verdict.status,
					   verdict.reason, verdict.retry_delay_ms);
			break;
		case VERDICT_FAILED:
		case VERDICT_EXPIRED:
			add_answer(rs, r->message_id, r->subscription_id, "failed", verdict.status,
					   verdict.reason, 0);
			break;
	}
	free(r);
	http_request_free(done);
	return true;
}

/* Whether the recalls' transaction has anything to do now. */
static bool
recall_due(RecallState *rs, TimestampTz now)
{
	if (rs->failures > 0 && now < rs->retry_at)
		return false;
	return rs->nanswers > 0 || look_due(rs, now);
}

/*
 * One transaction: the answers recorded, due recalls claimed, and the
 * signers of those read (delivery_signer reads the keys).  The recalls are
 * started after COMMIT.
 */
static void
recall_transaction(WorkerState *w, RecallState *rs, TimestampTz now)
{
	ClaimedRecall *volatile claimed = NULL;
	VapidSigner **volatile signers = NULL;
	SignerStatus *volatile statuses = NULL;
	volatile int n = 0;
	bool		look = look_due(rs, now);
	int			i;

	pgstat_report_activity(STATE_RUNNING, "webpush: recalls");
	PG_TRY();
	{
		Oid			schema;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());

		/* The extension going away is the deliveries' step to notice. */
		schema = get_namespace_oid("webpush", true);
		if (OidIsValid(schema) && OidIsValid(get_relname_relid("recalls", schema)))
		{
			for (i = 0; i < rs->nanswers; i++)
				queue_record_recall(rs->answers[i].message_id, rs->answers[i].subscription_id,
									rs->answers[i].outcome, rs->answers[i].status,
									rs->answers[i].reason, rs->answers[i].delay_ms);
			if (look)
			{
				MemoryContext txn = MemoryContextSwitchTo(w->turn_cxt);
				ClaimedRecall *rows;
				TimestampTz next_due;

				n = queue_claim_recalls(RECALL_MAX_IN_FLIGHT - rs->nflight,
										webpush_timeout_ms + RECALL_LEASE_EXTRA_MS,
										&rows, &next_due);
				claimed = rows;
				rs->next_due = next_due;
				signers = palloc(sizeof(VapidSigner *) * Max(n, 1));
				statuses = palloc(sizeof(SignerStatus) * Max(n, 1));
				MemoryContextSwitchTo(txn);
				for (i = 0; i < n; i++)
					signers[i] = claimed[i].key_id == 0 ? NULL :
						delivery_signer(claimed[i].key_id, &statuses[i]);
			}
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		MemoryContextSwitchTo(w->turn_cxt);
	}
	PG_CATCH();
	{
		worker_undo_transaction(w);
		/* The answers stay for the next try; nothing was claimed. */
		rs->failures++;
		rs->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   worker_backoff_ms(rs->failures));
		return;
	}
	PG_END_TRY();

	rs->failures = 0;
	for (i = 0; i < rs->nanswers; i++)
		free(rs->answers[i].reason);
	rs->nanswers = 0;
	if (look)
	{
		rs->look_wanted = false;
		rs->last_look = now;
		/* A full claim: there may be more due at once. */
		if (n == RECALL_MAX_IN_FLIGHT - rs->nflight)
			rs->next_due = now;
	}
	/* Never past the array: what does not fit is due again when its lease ends. */
	for (i = 0; i < n && rs->nflight < RECALL_MAX_IN_FLIGHT; i++)
		start_recall(w, rs, &claimed[i], signers[i], statuses[i], GetCurrentTimestamp());
}

TimestampTz
recall_turn(WorkerState *w)
{
	RecallState *rs = recall_state(w);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz at;

	if (!http_client_ready(w->http))
		return 0;
	if (recall_due(rs, now))
		recall_transaction(w, rs, now);

	if (rs->failures > 0)
		return rs->retry_at;
	if (rs->nanswers > 0)
		return now;
	if (rs->nflight >= RECALL_MAX_IN_FLIGHT)
		return 0;				/* an answer wakes the worker */
	at = TimestampTzPlusMilliseconds(rs->last_look, rs->look_wanted ?
									 RECALL_LOOK_MIN_MS : MAINTENANCE_INTERVAL_MS);
	if (rs->next_due != 0 && rs->next_due < at)
		at = rs->next_due;
	return at;
}
