/*
 * worker_state.h
 *		What the worker's loop (worker.c) and its deliveries in flight
 *		(hosts.c) share: the WorkerState, the hosts and the deliveries.
 *		Not for use outside src/worker/.
 */
#ifndef WEBPUSH_WORKER_STATE_H
#define WEBPUSH_WORKER_STATE_H

#include "postgres.h"

#include <stdlib.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "crypto/vapid.h"
#include "http/endpoint.h"
#include "http/http.h"
#include "push/host_rates.h"
#include "queue/claim.h"
#include "queue/record.h"
#include "shmem/counters.h"
#include "worker/host_rules.h"

/*
 * How often history is purged and orphaned rows are looked for; also how
 * often a worker says that "default" has no subject.
 */
#define MAINTENANCE_INTERVAL_MS 60000

/*
 * Outages.  A host is down once no connection to it can be made (refused,
 * reset, no name, no TLS).  While it is, each delivery waits for its own
 * retry, whose backoff grows; and once a second, when nothing is in flight
 * to it, the waiting delivery of it due first goes at once, as a probe.  A
 * probe that fails goes back to its place, with no attempt counted, so
 * probing spends nobody's retries.  When the host answers again after
 * being down for DOWN_BEFORE_HASTE_MS, what waits for it after a failure
 * without an answer is due at once (at most every HASTE_MIN_INTERVAL_MS): a
 * push service that comes back gets its backlog within about
 * PROBE_INTERVAL_MS, not when the longest backoff ends.  Answers, whatever
 * their status, are the push service's own say: a 5xx, a 429 or a
 * Retry-After keeps its backoff, so a host where some requests fail and
 * others succeed is not flooded with retries.
 */
#define PROBE_INTERVAL_MS 1000
#define DOWN_BEFORE_HASTE_MS 1000
#define HASTE_MIN_INTERVAL_MS 10000

/*
 * One push service origin, as the worker sees it.  Requests to it that wait
 * for room are parked here, in order.
 */
typedef struct HostState
{
	char		origin[sizeof(((Endpoint *) NULL)->origin)];	/* hash key */
	HostFacts	facts;			/* what host_rules.c decides by */
	struct Delivery *parked_head;
	struct Delivery *parked_tail;
	/* Outages (see above). */
	TimestampTz down_since;		/* 0: not down */
	TimestampTz next_probe;
	bool		back;			/* answered after an outage, or after what
								 * went back for it may go: haste due */
	TimestampTz last_haste;
	int64		probe_message;	/* the delivery probing it (0: none) */
	int64		probe_subscription;
	TimestampTz probe_was_due;	/* where the probe goes back to */
	TimestampTz probe_deadline; /* forgotten after this, if never judged */
	RateBucket	rate;			/* webpush.host_rates, and Retry-After pauses */
} HostState;

/* An application with a rate (webpush_application_rate), as the worker sees it. */
typedef struct AppRateState
{
	char		application[COUNTERS_APP_LEN];	/* hash key */
	RateBucket	rate;
} AppRateState;

/* What the worker keeps about a request in flight (HttpRequest.owner). */
typedef struct Delivery
{
	DeliveryRef ref;
	int32		attempts;
	TimestampTz expires_at;
	HostState  *host;
	HttpRequest *req;
	TimestampTz not_before;		/* its token's time (push/host_rates.h, "Rates") */
	struct Delivery *next_parked;
} Delivery;

/*
 * Everything the worker keeps between turns of its loop.  Allocated in
 * webpush_worker_main and passed to each step; what is malloc'd (requests,
 * deliveries, outcomes) is owned here too, so a step never reaches for a
 * file-level variable.
 */
typedef struct WorkerState
{
	int			slot;			/* our slot in shared memory (registry.h) */
	uint32		wait_event;		/* while waiting for work (compat.h) */
	MemoryContext turn_cxt;		/* reset at the start of every turn */
	MemoryContext long_cxt;		/* what outlives a turn (the host table) */
	HttpClient *http;
	HTAB	   *hosts;			/* HostState by origin */
	HTAB	   *app_rates;		/* AppRateState by application */
	int			total_parked;
	HostRoom	room;			/* the room hosts share (host_rules.h) */
	/* Outcomes waiting to be written in the next transaction (malloc'd). */
	Outcome    *pending;
	int			npending;
	int			pending_cap;
	/* The first nkept of them were refused before (schedule_kept_outcomes). */
	int			nkept;
	int			kept_refusals;
	TimestampTz kept_retry_at;
	/* What they add to the counters, once their transaction commits. */
	CounterBatch *counts;
	/* The frequency caps' epoch before this turn's claim (cap_holds.h). */
	uint64		cap_epoch;
	Oid			extension;		/* pg_extension's row for webpush, when started */
	Oid			deliveries;		/* and its webpush.deliveries */
	/* Scheduling of the loop's steps. */
	int			failures;		/* transactions failed in a row */
	TimestampTz retry_at;		/* after a failure: when to try again */
	bool		claim_wanted;
	TimestampTz next_due;		/* 0: nothing scheduled */
	TimestampTz next_probe;		/* a down host's next probe (0: none) */
	bool		hosts_back;		/* a host came back from an outage */
	TimestampTz last_maintenance;
	bool		purge_behind;
	TimestampTz signers_checked_at;
	TimestampTz last_subject_warning;
	struct RecallState *recalls;	/* recall.h; NULL until the first turn */
} WorkerState;

/*
 * After an error in one of the loop's transactions: reported, undone, and
 * back in the turn's memory, idle.
 */
static inline void
worker_undo_transaction(WorkerState *w)
{
	HOLD_INTERRUPTS();
	EmitErrorReport();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(w->turn_cxt);
	FlushErrorState();
	RESUME_INTERRUPTS();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* The pause before the next try after the n-th failure in a row: 1 s, doubling, up to 30 s. */
static inline long
worker_backoff_ms(int n)
{
	return Min(1000L << Min(n - 1, 5), 30000L);
}

/*
 * The malloc'd array *array of *cap elements of size bytes, grown (doubled,
 * from first) when its n elements fill it: room for one more.
 */
static inline void
worker_array_room(void **array, int n, int *cap, size_t size, int first)
{
	if (n == *cap)
	{
		int			grown_cap = *cap ? *cap * 2 : first;
		void	   *grown = realloc(*array, size * grown_cap);

		if (grown == NULL)
			elog(FATAL, "webpush worker: out of memory");
		*array = grown;
		*cap = grown_cap;
	}
}

/* rates.c (push/host_rates.h, "Rates") */

#define RATES_REASON_LEN 160

/*
 * The rates of a claimed request's host (webpush.host_rates) and
 * application: *at is when both have a token for it.  True when that is
 * within RATE_PARK_MS, its tokens taken: it may wait parked until then.
 * Else it is to go back to the queue, due again after *delay_ms, with
 * reason (which rate held it) as its last_error.  A request held back is
 * counted (webpush.counters.throttled).
 */
extern bool rates_take(WorkerState *w, HostState *host, const ClaimedMessage *m,
					   TimestampTz now, TimestampTz *at, double *delay_ms,
					   char *reason, size_t reason_len);

/*
 * A finished request's answer: a 429, or WNS's 406, with a Retry-After
 * pauses its host until then.  True when what is parked for the host must
 * go back to the queue: due again after *delay_ms, with reason.
 */
extern bool rates_note_answer(HostState *host, const HttpRequest *req, TimestampTz now,
							  char *reason, size_t reason_len, double *delay_ms);

/* A hold of delay_ms, shortened to end when a claim would see it expired. */
extern double rates_hold_within_ttl(double delay_ms, TimestampTz expires_at, TimestampTz now);

/* hosts.c */

/*
 * What a finished request means for its delivery: the delivery core's
 * verdict, as an outcome for the next transaction to record.
 */
extern void hosts_judge(WorkerState *w, HttpRequest *req);

/* The room hosts share, with the settings as they are now. */
extern HostRoom *hosts_room_now(WorkerState *w);

/*
 * Add up what quiet hosts hold: hosts turn quiet as time passes, so this is
 * counted again before requests are started (launch keeps it up to date
 * while they are).  Quiet hosts that hold nothing are forgotten here: all
 * the worker knows of them is what it assumes of a host it has never seen.
 */
extern void hosts_count_quiet(WorkerState *w, TimestampTz now);

/*
 * A quiet host's request has finished, so the quiet share has room again:
 * what went back to the queue for want of it is due now, through the same
 * haste as for a host back from an outage.
 */
extern void hosts_note_quiet_room(WorkerState *w);

/*
 * Start what waits for hosts that have room again and whose tokens have
 * come, and hand back what waits for a host that will not have room soon
 * (it would only hold other hosts' room).  Returns how long the worker may
 * wait, in ms, before a host with parked requests could stall or the next
 * parked request's token comes; -1 for no limit.
 */
extern long hosts_tend(WorkerState *w, TimestampTz now);

/*
 * Encrypt, sign and start one claimed notification; park it when its host
 * will soon have room; hand it back when not; or record why it cannot be
 * sent.
 */
extern void hosts_start_delivery(WorkerState *w, const ClaimedMessage *m,
								 VapidSigner *signer, SignerStatus signer_status,
								 TimestampTz now);

/*
 * What an outcome adds to the counters: requests, bytes, the outcome, why a
 * retry, the latency from due to delivered, the last problem by host.
 */
extern void hosts_count_outcome(WorkerState *w, const Outcome *o);

/*
 * A row of webpush.intake that could not become a message, now recorded as
 * failed: counted, and said.
 */
extern void hosts_count_intake_failure(WorkerState *w, const IntakeFailure *f);

/*
 * In the turn's transaction, before the claim (see "Outages"): what waits
 * for hosts that came back is due now; a down host with nothing in flight
 * gets its probe.  A host with nothing waiting for it is down no more.
 * Hosts change here only in what the transaction cannot take back: a
 * failed transaction loses a haste or a probe, which the delivery's own
 * retry makes up for.
 */
extern void hosts_hasten(WorkerState *w);

/* frequency_cap.c */

/*
 * The application's frequency cap, for a recipient with a user: true when
 * the delivery does not fit, with *o (its ref set) made what becomes of it
 * (dropped, deferred until the window has room, or handed back when the
 * shared holds cannot count it); else it holds its place for its user
 * (ref->capped) until its outcome is recorded.
 */
extern bool frequency_cap_holds(WorkerState *w, const ClaimedMessage *m, DeliveryRef *ref,
								TimestampTz now, Outcome *o);

/*
 * An outcome is recorded and committed: a delivery let through under a
 * frequency cap is counted by the history now (or not at all, when it was
 * not delivered).
 */
extern void frequency_cap_forget(const Outcome *o);

#endif							/* WEBPUSH_WORKER_STATE_H */
