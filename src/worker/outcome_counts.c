/*
 * outcome_counts.c
 *		What the worker's outcomes, and the rows of webpush.intake it could
 *		not take in, add to the counters (shmem/counters.h), in the turn's
 *		batch, which they reach at COMMIT.
 */
#include "postgres.h"

#include "queue/claim.h"
#include "queue/record.h"
#include "shmem/counters.h"
#include "worker/delivery.h"
#include "worker/worker_state.h"

/*
 * What an outcome adds to the counters: requests, bytes, the outcome, why a
 * retry, the latency from due to delivered, the last problem by host.
 */
void
hosts_count_outcome(WorkerState *w, const Outcome *o)
{
	CountedEvent e;
	char		host[COUNTERS_HOST_LEN];

	memset(&e, 0, sizeof(e));
	counters_url_host(o->endpoint, host);
	e.application = o->ref.application;
	e.host = host;
	e.requested = o->requested;
	e.bytes = o->bytes;
	e.latency_s = -1;
	e.problem = o->reason;
	switch (o->kind)
	{
		case OUTCOME_DELIVERED:
			e.outcome = COUNT_DELIVERED;
			e.problem = NULL;
			if (o->answered_at != 0)
				e.latency_s = Max(o->answered_at - o->ref.due_at, 0) / (double) USECS_PER_SEC;
			break;
		case OUTCOME_GONE:
			e.outcome = COUNT_GONE;
			break;
		case OUTCOME_FAILED:
			e.outcome = COUNT_FAILED;
			break;
		case OUTCOME_EXPIRED:
			e.outcome = COUNT_EXPIRED;
			break;
		case OUTCOME_CANCELLED:
			/* Not a problem of the push service's. */
			e.outcome = COUNT_CANCELLED;
			e.problem = NULL;
			break;
		case OUTCOME_RETRY:
			e.outcome = COUNT_RETRIED;
			e.retry_reason = counters_retry_reason(o->status, o->timed_out);
			break;
		case OUTCOME_RELEASE:
			/* Only a rule's holds count: the rest go back for want of room. */
			if (o->rule == RULE_QUIET_HOURS)
				e.outcome = COUNT_HELD_QUIET_HOURS;
			else if (o->rule == RULE_CAP_DEFERRED)
				e.outcome = COUNT_CAP_DEFERRED;
			else
				return;
			e.problem = NULL;
			break;
	}
	if (o->rule == RULE_CAP_DROPPED)
	{
		/* The application's choice, not a push service's problem. */
		e.cap_dropped = true;
		e.problem = NULL;
	}
	counter_batch_add(w->counts, &e);
}

/*
 * A row of webpush.intake that could not become a message, now recorded as
 * failed: counted, and said.
 */
void
hosts_count_intake_failure(WorkerState *w, const IntakeFailure *f)
{
	CountedEvent e;

	memset(&e, 0, sizeof(e));
	e.application = f->application;
	e.outcome = COUNT_FAILED;
	e.problem = f->reason;
	counter_batch_add(w->counts, &e);
	ereport(WARNING,
			(errmsg("webpush worker: notification %lld of webpush.intake could not become a message and is recorded as failed",
					(long long) f->id),
			 errdetail("%s", f->reason),
			 errhint("webpush.history and webpush_trace() show it; the rows behind it are taken in as usual.")));
}
