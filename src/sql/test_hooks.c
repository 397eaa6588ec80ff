/*
 * test_hooks.c
 *		Test-only SQL entry points to the worker's queue statements, so that
 *		the isolation specs (test/isolation) can claim, record, retry and
 *		reclaim deliveries step by step, in sessions they interleave.
 *
 * Built only with make WEBPUSH_TEST_HOOKS=1; the install script does not
 * declare these functions: a spec declares them in a schema of its own
 * (CREATE FUNCTION ... LANGUAGE C AS 'webpush', 'webpush_test_claim').
 * Each calls the queue's own functions (queue/claim.h, queue/record.h,
 * queue/recalls.h), as the worker does, with
 * the calling backend's pid as the claimer: nothing of the queue is written
 * again here.
 */
#include "postgres.h"

#ifndef WEBPUSH_TEST_HOOKS
#error "test_hooks.c is built only with make WEBPUSH_TEST_HOOKS=1"
#endif

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "support/compat.h"
#include "queue/claim.h"
#include "queue/recalls.h"
#include "queue/record.h"
#include "queue/upkeep.h"
#include "support/spi_util.h"

PG_FUNCTION_INFO_V1(webpush_test_claim);
PG_FUNCTION_INFO_V1(webpush_test_record);
PG_FUNCTION_INFO_V1(webpush_test_reclaim);
PG_FUNCTION_INFO_V1(webpush_test_forget);
PG_FUNCTION_INFO_V1(webpush_test_claim_recalls);

/*
 * What this backend claimed and has not recorded yet, as the worker keeps
 * it between its transactions: the delivery (its ctid, ids, and what the
 * history takes from the claim) and the endpoint it would have been sent
 * to.  In TopMemoryContext: a claim's transaction commits before its
 * outcome is recorded.
 */
typedef struct HeldClaim
{
	DeliveryRef ref;
	char	   *endpoint;		/* NULL: the subscription was gone */
} HeldClaim;

static HeldClaim *held = NULL;
static int	nheld = 0;
static int	held_cap = 0;

static char *
top_strdup(const char *s)
{
	return s == NULL ? NULL : MemoryContextStrdup(TopMemoryContext, s);
}

static void
hold(const ClaimedMessage *m)
{
	HeldClaim  *h;

	if (nheld == held_cap)
	{
		held_cap = held_cap ? held_cap * 2 : 16;
		held = held == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(HeldClaim) * held_cap) :
			repalloc(held, sizeof(HeldClaim) * held_cap);
	}
	h = &held[nheld++];
	h->ref = m->ref;
	h->ref.user_id = top_strdup(m->ref.user_id);
	h->endpoint = top_strdup(m->endpoint);
}

/*
 * webpush_test_claim(limit int): queue_claim(limit), as one turn of the
 * worker claims; one row per delivery claimed, with what the worker would
 * encrypt and sign it with.
 */
Datum
webpush_test_claim(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ClaimedMessage *claimed;
	IntakeFailure *failed;
	int			nfailed;
	int			n;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("limit must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	n = queue_claim(PG_GETARG_INT32(0), &claimed, &failed, &nfailed);
	for (i = 0; i < n; i++)
	{
		const ClaimedMessage *m = &claimed[i];
		bool		gone = m->endpoint == NULL;
		Datum		values[7];
		bool		nulls[7] = {false, false, gone, gone, gone, m->key_id == 0, false};

		hold(m);
		values[0] = Int64GetDatum(m->ref.message_id);
		values[1] = Int64GetDatum(m->ref.subscription_id);
		values[2] = gone ? (Datum) 0 : CStringGetTextDatum(m->endpoint);
		values[3] = gone ? (Datum) 0 : PointerGetDatum(bytes_to_bytea(m->p256dh, P256_PUBLIC_LEN));
		values[4] = gone ? (Datum) 0 : PointerGetDatum(bytes_to_bytea(m->auth, ECE_AUTH_LEN));
		values[5] = Int64GetDatum(m->key_id);
		values[6] = Int32GetDatum(m->attempts);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static OutcomeKind
outcome_kind(const char *name)
{
	static const struct
	{
		const char *name;
		OutcomeKind kind;
	}			kinds[] = {
		{"delivered", OUTCOME_DELIVERED},
		{"failed", OUTCOME_FAILED},
		{"expired", OUTCOME_EXPIRED},
		{"retry", OUTCOME_RETRY},
		{"gone", OUTCOME_GONE},
		{"release", OUTCOME_RELEASE},
	};
	int			i;

	for (i = 0; i < (int) lengthof(kinds); i++)
		if (strcmp(name, kinds[i].name) == 0)
			return kinds[i].kind;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown outcome \"%s\"", name),
			 errhint("delivered, failed, expired, retry, gone or release")));
	return OUTCOME_FAILED;		/* not reached */
}

/*
 * webpush_test_record(message_id, subscription_id, outcome, status,
 * delay_ms [, location]): record the outcome of a delivery this backend
 * claimed, through queue_record_outcomes, as the worker records a finished
 * request (the endpoint is the one claimed; a subscription gone when
 * claimed is failed unattempted, as the worker records it; a delivered one
 * may name the push message resource its answer gave).  True when
 * recorded, false when a rule refused the row (the worker would keep it).
 */
Datum
webpush_test_record(PG_FUNCTION_ARGS)
{
	int64		message_id;
	int64		subscription_id;
	char	   *name;
	Outcome		o;
	bool		kept;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message_id, subscription_id and outcome must not be NULL")));
	message_id = PG_GETARG_INT64(0);
	subscription_id = PG_GETARG_INT64(1);
	for (i = 0; i < nheld; i++)
		if (held[i].ref.message_id == message_id &&
			held[i].ref.subscription_id == subscription_id)
			break;
	if (i == nheld)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("this session holds no claim of message %lld for subscription %lld",
						(long long) message_id, (long long) subscription_id)));

	memset(&o, 0, sizeof(o));
	o.ref = held[i].ref;
	name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	o.kind = outcome_kind(name);
	o.status = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	o.retry_delay_ms = PG_ARGISNULL(4) ? 0 : PG_GETARG_FLOAT8(4);
	o.endpoint = held[i].endpoint;
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5) && o.kind == OUTCOME_DELIVERED)
		o.location = text_to_cstring(PG_GETARG_TEXT_PP(5));
	o.requested = o.kind != OUTCOME_RELEASE;
	if (held[i].endpoint == NULL && o.kind == OUTCOME_FAILED)
	{
		o.reason = pstrdup("subscription gone");
		o.not_attempted = true;
		o.requested = false;
	}
	else if (o.kind != OUTCOME_DELIVERED && o.kind != OUTCOME_RELEASE)
		o.reason = psprintf("test outcome: %s", name);
	o.answered_at = GetCurrentTimestamp();

	(void) queue_record_outcomes(&o, 1, &kept);

	/* Recorded (or refused): the claim is settled either way. */
	if (held[i].ref.user_id != NULL)
		pfree(held[i].ref.user_id);
	if (held[i].endpoint != NULL)
		pfree(held[i].endpoint);
	held[i] = held[--nheld];
	PG_RETURN_BOOL(!kept);
}

/*
 * webpush_test_reclaim(including_own boolean): queue_reclaim_orphans, as a
 * worker runs it at start and once a minute.  No backend of a session is a
 * worker: every row a session claimed is an orphan to it.
 */
Datum
webpush_test_reclaim(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(queue_reclaim_orphans(!PG_ARGISNULL(0) && PG_GETARG_BOOL(0)));
}

/*
 * webpush_test_forget(): forget this backend's claims not yet recorded, and
 * where its claims of each broadcast ended, as a worker that starts again
 * would: a spec's sessions outlive the extension, which each permutation
 * creates again, with its ids from 1 again.
 */
Datum
webpush_test_forget(PG_FUNCTION_ARGS)
{
	int			i;

	for (i = 0; i < nheld; i++)
	{
		if (held[i].ref.user_id != NULL)
			pfree(held[i].ref.user_id);
		if (held[i].endpoint != NULL)
			pfree(held[i].endpoint);
	}
	nheld = 0;
	queue_forget_claim_positions();
	PG_RETURN_VOID();
}

/*
 * webpush_test_claim_recalls(limit int): queue_claim_recalls(limit), as one
 * turn of the worker claims the DELETEs cancels queued, each leased for a
 * minute; one row per recall claimed.
 */
Datum
webpush_test_claim_recalls(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ClaimedRecall *claimed;
	TimestampTz next_due;
	int			n;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("limit must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	n = queue_claim_recalls(PG_GETARG_INT32(0), 60000, &claimed, &next_due);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(claimed[i].message_id);
		values[1] = Int64GetDatum(claimed[i].subscription_id);
		values[2] = Int32GetDatum(claimed[i].attempts);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
