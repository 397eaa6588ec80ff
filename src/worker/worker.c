/*
 * worker.c
 *		The background worker that sends the deliveries of one database.
 *
 * One loop turn, in named steps (see webpush_worker_main):
 *	start_turn					a reload applies; the turn's memory goes
 *	record_finished_and_claim	one short transaction: the outcomes of what
 *								finished, and as many due deliveries as
 *								there is room in flight, which are then
 *								encrypted, signed and started
 *	recall_turn					the DELETEs cancels queued (recall.h), in a
 *								transaction of their own
 *	maintain					history purge and orphan reclaim, when due
 *	wait_and_collect			sleep on the latch (set at COMMIT by senders)
 *								and the sockets together; judge what finished
 * No transaction is open while the network is awaited.  A slow push
 * service only occupies its own requests' slots, and push services that do
 * not answer share a bounded part of the room in flight (host_rules.h),
 * so that they never hold up the ones that do.  All state lives in one
 * WorkerState.
 */
#include "postgres.h"

#include <stdlib.h>
#include <time.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "support/compat.h"
#include "shmem/counters.h"
#include "worker/delivery.h"
#include "http/endpoint.h"
#include "worker/host_rules.h"
#include "http/http.h"
#include "queue/claim.h"
#include "queue/record.h"
#include "queue/upkeep.h"
#include "push/receipt.h"
#include "support/spi_util.h"
#include "shmem/cap_holds.h"
#include "shmem/registry.h"
#include "settings.h"
#include "worker/recall.h"
#include "worker/worker.h"

/* Longest sleep when idle: only a safety net, commits wake the worker. */
#define IDLE_WAIT_MS 60000
/* When due rows were held by another transaction: the next look. */
#define HELD_ROWS_RETRY_MS 100
/* A wait this long first sends the statistics pgstat still holds. */
#define STATS_FLUSH_BEFORE_WAIT_MS 500

static void
worker_exit(int code, Datum arg)
{
	wake_detach_worker(DatumGetInt32(arg));
}

static HttpClientConfig
current_http_config(void)
{
	HttpClientConfig config;

	config.timeout_ms = webpush_timeout_ms;
	config.ca_file = webpush_ca_file;
	config.proxy = webpush_proxy;
	config.allow_private = webpush_allow_private_endpoints;
	config.idle_timeout_ms = webpush_http_idle_timeout_ms;
	return config;
}

static void
begin_transaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
end_transaction(WorkerState *w)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	/* CommitTransactionCommand leaves us in TopMemoryContext. */
	MemoryContextSwitchTo(w->turn_cxt);
}

/*
 * Leave when the extension is not installed here, or is not the version
 * this library's statements are written for: the launcher starts a worker
 * again after CREATE EXTENSION or ALTER EXTENSION UPDATE.  Called inside a
 * transaction.
 */
static void
exit_unless_extension_current(WorkerState *w, bool at_start)
{
	char	   *version = NULL;
	Oid			extension;

	/*
	 * Between turns only existence can change.  While the table of
	 * deliveries the worker started with is there (a syscache lookup), so
	 * is its extension: a member cannot be dropped alone.
	 */
	if (!at_start && OidIsValid(w->deliveries) &&
		SearchSysCacheExists1(RELOID, ObjectIdGetDatum(w->deliveries)))
		return;

	/*
	 * Else a catalog lookup, no SQL.  An extension dropped and created
	 * again since the worker started is another one (new tables, new
	 * keys): the launcher starts a new worker for it, with nothing cached
	 * from the old.
	 */
	extension = get_extension_oid("webpush", true);
	if (!at_start && OidIsValid(extension) && extension == w->extension)
		return;
	if (!at_start && OidIsValid(extension))
	{
		elog(LOG, "webpush worker: the extension in database \"%s\" was created again; a new worker serves it",
			 get_database_name(MyDatabaseId));
		proc_exit(0);
	}
	spi_connect_or_error();
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'webpush'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "webpush: could not read pg_extension");
	if (SPI_processed == 1)
		version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (version != NULL && strcmp(version, WEBPUSH_SQL_VERSION) == 0)
	{
		SPI_finish();
		w->extension = extension;
		w->deliveries = get_relname_relid("deliveries", get_namespace_oid("webpush", false));
		return;
	}
	if (version != NULL)
		ereport(WARNING,
				(errmsg("webpush worker: the extension in database \"%s\" is version %s, this library needs %s; nothing is sent",
						get_database_name(MyDatabaseId), version, WEBPUSH_SQL_VERSION),
				 errhint("Run ALTER EXTENSION webpush UPDATE in that database.")));
	else if (!at_start)
		elog(LOG, "webpush worker: extension dropped in database \"%s\"",
			 get_database_name(MyDatabaseId));
	SPI_finish();
	wake_report_no_extension(w->slot);
	proc_exit(0);
}

/* wait_ms (-1: no limit), shortened to end when at comes. */
static long
wait_until(long wait_ms, TimestampTz now, TimestampTz at)
{
	long		secs;
	int			usecs;
	long		until;

	TimestampDifference(now, at, &secs, &usecs);
	until = secs * 1000 + usecs / 1000 + 1;
	return (wait_ms < 0 || until < wait_ms) ? until : wait_ms;
}

/*
 * A statement of a turn failed: a rule a DBA added refuses a write, a
 * deadlock, a cancel.  Report it, undo the transaction and try again after
 * a pause that doubles with each failure in a row, up to 30 s.  The
 * outcomes of requests already sent stay in memory for the next try:
 * leaving the process would hand their deliveries back as orphans, to be
 * sent a second time.
 */
static void
recover_from_error(WorkerState *w)
{
	long		delay_ms;

	worker_undo_transaction(w);
	queue_forget_claim_positions();

	w->failures++;
	delay_ms = worker_backoff_ms(w->failures);
	w->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay_ms);
	w->claim_wanted = true;
	ereport(LOG,
			(errmsg("webpush worker: a transaction failed; trying again in %ld ms", delay_ms),
			 errdetail("%d outcome(s) of requests already sent are kept for the next try.",
					   w->npending)));
}

/*
 * Outcomes that a rule refused to record (queue_record_outcomes) are kept
 * at the front of w->pending and tried again after a pause that doubles
 * with each refusal, up to 30 s, while new outcomes are written and
 * claims go on.  Their deliveries stay claimed, so they hold room in
 * flight: a rule that refuses everything stops the claims once they fill
 * it.
 */
static bool
kept_outcomes_due(WorkerState *w)
{
	return w->nkept > 0 && GetCurrentTimestamp() >= w->kept_retry_at;
}

/* After a write: again_refused when the kept ones were tried and refused. */
static void
schedule_kept_outcomes(WorkerState *w, bool again_refused)
{
	long		delay_ms;

	if (w->nkept == 0)
	{
		w->kept_refusals = 0;
		return;
	}
	if (again_refused || w->kept_refusals == 0)
		w->kept_refusals++;
	else if (GetCurrentTimestamp() < w->kept_retry_at)
		return;					/* newly kept ones wait with the others */
	delay_ms = worker_backoff_ms(w->kept_refusals);
	w->kept_retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay_ms);
}

/*
 * One transaction: write pending outcomes, claim up to room deliveries and
 * start them.  Returns how many were claimed.  When there is room in flight
 * (has_room) and it did not fill a batch, w->next_due becomes when the next
 * delivery falls due (0 for none): those just handed back for later
 * included.  Without room it is 0: a finished request brings the next claim.
 */
static int
record_and_claim(WorkerState *w, int room, bool has_room)
{
	ClaimedMessage *volatile claimed = NULL;
	IntakeFailure *volatile failed = NULL;
	volatile int nfailed = 0;
	VapidSigner **volatile signers = NULL;
	SignerStatus *volatile statuses = NULL;
	volatile int n = 0;
	int			i;
	int			k;
	/* Outcomes kept earlier wait for their time; the others go now. */
	int			first = kept_outcomes_due(w) ? 0 : w->nkept;
	bool	   *kept = palloc(sizeof(bool) * Max(w->npending, 1));
	volatile int nkept = 0;
	bool		recorded = w->npending > first;

	pgstat_report_activity(STATE_RUNNING, "webpush: record outcomes and claim");
	/* Before the claim's snapshot (cap_book.h): what it cannot see counts. */
	w->cap_epoch = cap_holds_epoch();
	PG_TRY();
	{
		begin_transaction();
		exit_unless_extension_current(w, false);

		if (w->npending > first)
			nkept = queue_record_outcomes(w->pending + first, w->npending - first,
										  kept + first);
		hosts_hasten(w);

		w->next_due = 0;
		if (room > 0)
		{
			/* The claimed rows must outlive the transaction. */
			MemoryContext txn = MemoryContextSwitchTo(w->turn_cxt);
			ClaimedMessage *rows;
			IntakeFailure *intake_failed;
			int			nintake_failed;

			n = queue_claim(room, &rows, &intake_failed, &nintake_failed);
			claimed = rows;
			failed = intake_failed;
			nfailed = nintake_failed;
			signers = palloc(sizeof(VapidSigner *) * Max(n, 1));
			statuses = palloc(sizeof(SignerStatus) * Max(n, 1));
			MemoryContextSwitchTo(txn);

			/* Keys are read again every second: rotations and retirements show. */
			if (TimestampDifferenceExceeds(w->signers_checked_at, GetCurrentTimestamp(), 1000))
			{
				delivery_keys_expire();
				w->signers_checked_at = GetCurrentTimestamp();
			}
			for (i = 0; i < n; i++)
				signers[i] = delivery_signer(claimed[i].key_id, &statuses[i]);
		}
		if (has_room && (room == 0 || n < room))
		{
			if (!queue_next_due(&w->next_due))
				w->next_due = 0;

			/*
			 * Due, and yet not claimed: another transaction holds those rows
			 * (another worker's claim, a cancel, a lock a session took).
			 * Look again a little later, not in a loop; a COMMIT that queues
			 * something still wakes the worker at once.
			 */
			else if (room > 0 && w->next_due <= GetCurrentTimestamp())
				w->next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														  HELD_ROWS_RETRY_MS);
		}
		end_transaction(w);
	}
	PG_CATCH();
	{
		recover_from_error(w);
		return 0;
	}
	PG_END_TRY();
	w->failures = 0;

	/*
	 * Committed: the outcomes written count, and go; those kept (not tried
	 * this time, or refused) stay at the front for a later try.
	 */
	k = 0;
	for (i = 0; i < w->npending; i++)
	{
		if (i < first || kept[i])
		{
			w->pending[k++] = w->pending[i];
			continue;
		}
		hosts_count_outcome(w, &w->pending[i]);
		/* Its message may have been cancelled meanwhile: a DELETE queued. */
		if (w->pending[i].location != NULL)
			recall_note_wakeup(w);
		if (w->pending[i].ref.capped)
			frequency_cap_forget(&w->pending[i]);
		free(w->pending[i].reason);
		free(w->pending[i].endpoint);
		free(w->pending[i].location);
		free(w->pending[i].ref.user_id);
	}
	w->npending = k;
	w->nkept = k;
	if (first == 0 || nkept > 0)
		schedule_kept_outcomes(w, first == 0 && nkept > 0);
	for (i = 0; i < nfailed; i++)
		hosts_count_intake_failure(w, &failed[i]);
	counter_batch_flush(w->counts, MyDatabaseId);
	/* The queue's snapshot is out of date. */
	if (n > 0 || recorded)
		counters_queue_changed(MyDatabaseId);

	/* Crypto and request set-up happen outside the transaction. */
	if (n > 0)
		hosts_count_quiet(w, GetCurrentTimestamp());
	delivery_prepare_keys(claimed, n, GetCurrentTimestamp());
	for (i = 0; i < n; i++)
		hosts_start_delivery(w, &claimed[i], signers[i], statuses[i], GetCurrentTimestamp());
	delivery_forget_keys();
	return n;
}

/*
 * Count the queue for the status views when the snapshot is out of date and
 * too expensive for its readers to count (counters.h decides).
 */
static void
count_gauges(WorkerState *w)
{
	GaugeRow   *volatile rows = NULL;
	volatile int n = 0;
	volatile double cost_ms = 0;

	if (!counters_gauges_wanted(MyDatabaseId, true))
		return;
	pgstat_report_activity(STATE_RUNNING, "webpush: count the queue");
	PG_TRY();
	{
		/* The rows must outlive the transaction. */
		MemoryContext txn;
		GaugeRow   *counted;
		double		ms;

		begin_transaction();
		exit_unless_extension_current(w, false);
		txn = MemoryContextSwitchTo(w->turn_cxt);
		n = queue_count_gauges(&counted, &ms);
		rows = counted;
		cost_ms = ms;
		MemoryContextSwitchTo(txn);
		end_transaction(w);
	}
	PG_CATCH();
	{
		recover_from_error(w);
		return;
	}
	PG_END_TRY();
	counters_gauges_store(MyDatabaseId, rows, n, cost_ms);
}

/*
 * Purge a batch of history and requeue orphans.  Returns true when the purge
 * filled its batch: more is due, and the next turn purges again, so the
 * purge keeps up with any delivery rate in bounded work per turn.
 */
static bool
maintenance(WorkerState *w)
{
	volatile int64 purged = 0;
	volatile int64 reclaimed = 0;
	bool		holds_nothing = http_client_in_flight(w->http) == 0 &&
		w->total_parked == 0 && w->npending == 0;

	pgstat_report_activity(STATE_RUNNING, "webpush: maintenance");
	PG_TRY();
	{
		begin_transaction();
		exit_unless_extension_current(w, false);
		purged = queue_purge_history(webpush_history_retention_s);
		reclaimed = queue_reclaim_orphans(holds_nothing);
		end_transaction(w);
	}
	PG_CATCH();
	{
		recover_from_error(w);
		return false;
	}
	PG_END_TRY();
	if (purged > 0 || reclaimed > 0)
		elog(DEBUG1, "webpush worker: purged %lld history rows, requeued %lld orphans",
			 (long long) purged, (long long) reclaimed);
	if (reclaimed > 0 && holds_nothing)
		ereport(WARNING,
				(errmsg("webpush worker: %lld notifications were claimed but no longer held, and are queued again",
						(long long) reclaimed),
				 errdetail("A stopped worker claimed them, or another session changed rows of webpush.deliveries while they were being sent; those may arrive twice.")));
	return purged >= QUEUE_PURGE_BATCH;
}

/*
 * The worker runs as a superuser in a database whose owner may create
 * functions and operators, and may set defaults for the database with
 * ALTER DATABASE ... SET.  Its statements are fixed text that names tables
 * by schema and functions by pg_catalog; pinning search_path to pg_catalog
 * (temporary objects last, and never functions or operators from there)
 * means that no overloaded function or operator in another schema can be
 * picked for them, and the other overrides keep database defaults from
 * breaking the loop.
 */
static void
pin_session_settings(void)
{
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Every statement of the loop has an index to use.  Plans are kept, and
	 * the tables grow from empty to millions of rows in seconds: a plan
	 * made while one was small must not scan it whole once it is not.  A
	 * bitmap scan would too: it reads every entry that matches before the
	 * first row comes out, so a claim of a hundred recipients would read
	 * the whole broadcast; an index scan stops at the claim's LIMIT.
	 */
	SetConfigOption("enable_seqscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_bitmapscan", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The statements are prepared for a generic plan (spi_kept_plan), some
	 * of them planned with settings of their own (spi_plan_with_off): a
	 * plan_cache_mode of force_custom_plan set for the database or the role
	 * would replan them at every run, with the usual settings.
	 */
	SetConfigOption("plan_cache_mode", "auto", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * A statement that must scan anyway carries the disabled scan's cost,
	 * far above jit_above_cost: JIT would compile it, at a cost of hundreds
	 * of millions of instructions, for a statement that runs in
	 * microseconds.
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Step: the start of a turn.  A reload applies at once; the turn's
 * memory goes.
 */
static void
start_turn(WorkerState *w)
{
	CHECK_FOR_INTERRUPTS();
	MemoryContextReset(w->turn_cxt);

	if (ConfigReloadPending)
	{
		HttpClientConfig config;

		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
		config = current_http_config();
		http_client_configure(w->http, &config);
		w->claim_wanted = true;
		w->last_maintenance = 0;	/* a new retention applies at once */
	}
	if (w->next_due != 0 && GetCurrentTimestamp() >= w->next_due)
		w->claim_wanted = true;
	if (w->hosts_back || (w->next_probe != 0 && GetCurrentTimestamp() >= w->next_probe))
		w->claim_wanted = true;
}

/*
 * Step: record what finished and claim what there is room for, in one
 * transaction.  Returns how long the turn may wait afterwards.
 */
static long
record_finished_and_claim(WorkerState *w, long wait_ms)
{
	/*
	 * Parked requests count: they go out as soon as their host has room.
	 * So do kept outcomes: their deliveries are still claimed.
	 */
	int			room = webpush_max_in_flight - http_client_in_flight(w->http) -
		w->total_parked - w->nkept;
	int			limit;
	int			claimed;
	bool		has_room;

	if (!w->claim_wanted && w->npending == w->nkept && !kept_outcomes_due(w))
		return wait_ms;
	/* After a failure, nothing until it is time to try again. */
	if (w->failures > 0 && GetCurrentTimestamp() < w->retry_at)
		return wait_ms;
	if (!http_client_ready(w->http))
		room = 0;				/* reconnecting under new settings */
	has_room = room > 0;
	/* Only outcomes to record: the next claim is due when they say. */
	if (!w->claim_wanted)
		room = 0;
	/* After a failure, the outcomes first, on their own: the claim may be what fails. */
	if (w->failures > 0 && w->npending > w->nkept)
		room = 0;
	limit = Min(Max(room, 0), webpush_batch_size);
	claimed = record_and_claim(w, limit, has_room);
	if (w->failures > 0)
		return wait_ms;

	/*
	 * Claim again at once after a full batch (there may be more), and as
	 * soon as there is room again if there was none.
	 */
	if (w->claim_wanted)
		w->claim_wanted = (limit == 0 || claimed == limit);
	if (claimed == limit && limit > 0)
		wait_ms = 0;
	return wait_ms;
}

/* Step: purge and reclaim when due.  Returns the turn's wait. */
static long
maintain(WorkerState *w, long wait_ms)
{
	TimestampTz now = GetCurrentTimestamp();

	count_gauges(w);

	if (w->purge_behind ||
		TimestampDifferenceExceeds(w->last_maintenance, now, MAINTENANCE_INTERVAL_MS))
	{
		w->purge_behind = maintenance(w);
		w->last_maintenance = now;
		if (w->purge_behind)
			wait_ms = 0;

		/*
		 * And a claim, for what no COMMIT announced: a prepared
		 * transaction committed by another session (COMMIT PREPARED runs
		 * no callback of the backend that prepared it), rows a DBA put in
		 * webpush.intake, deliveries the maintenance queued again.
		 */
		w->claim_wanted = true;
		wait_ms = 0;
	}
	return wait_ms;
}

/*
 * Step: sleep on the latch and the sockets until something is due, then
 * collect what finished.  A COMMIT that queued something sets the latch.
 */
static void
wait_and_collect(WorkerState *w, long wait_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	HttpRequest *done;
	long		until_stall;

	if (w->next_due != 0)
		wait_ms = wait_until(wait_ms, now, w->next_due);
	if (w->next_probe != 0 && w->failures == 0)
		wait_ms = wait_until(wait_ms, now, w->next_probe);
	until_stall = hosts_tend(w, now);
	if (until_stall >= 0 && until_stall < wait_ms)
		wait_ms = until_stall;
	/*
	 * Outcomes are written at the next turn: they don't wait long.  After a
	 * failure, the next try waits for its time (recover_from_error).
	 */
	if (w->failures > 0)
		wait_ms = wait_until(wait_ms, now, w->retry_at);
	else if (w->npending > w->nkept)
		wait_ms = 0;
	if (w->nkept > 0)
		wait_ms = wait_until(wait_ms, now, w->kept_retry_at);

	/*
	 * pgstat sends a transaction's statistics at most once a second, at the
	 * end of a later transaction; in an idle queue that may be a minute away,
	 * and pg_stat_user_tables would not show the last drain until then.
	 */
	if (wait_ms < 0 || wait_ms >= STATS_FLUSH_BEFORE_WAIT_MS)
		pgstat_report_stat(true);

	if (http_client_wait(w->http, wait_ms,
						 webpush_wait_event(&w->wait_event, "WebPushWorker")))
	{
		wake_count_wakeup(w->slot);
		w->claim_wanted = true; /* a sender committed */
		recall_note_wakeup(w);
	}
	now = GetCurrentTimestamp();
	w->room.collected_at = now;
	while ((done = http_client_next_done(w->http)) != NULL)
	{
		Delivery   *d;
		HostFacts  *facts;
		bool		was_quiet;

		if (recall_collect(w, done))
			continue;
		d = http_request_owner(done);
		facts = &d->host->facts;
		was_quiet = !host_answering(facts, hosts_room_now(w), now);

		facts->in_flight--;
		facts->last_progress = now;
		/* Any HTTP status: the host is there and answers. */
		facts->answered = http_request_status(done) > 0;
		hosts_judge(w, done);
		if (was_quiet)
			hosts_note_quiet_room(w);
		free(d);
		http_request_free(done);
		w->claim_wanted = true; /* room in flight again */
	}
	(void) hosts_tend(w, now);
}

void
webpush_worker_main(Datum arg)
{
	WorkerState *w;
	HttpClientConfig config;
	HASHCTL		host_ctl;
	Oid			dboid;
	uint32		generation;
	int64		reclaimed;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	w = MemoryContextAllocZero(TopMemoryContext, sizeof(WorkerState));
	w->slot = DatumGetInt32(arg);
	w->claim_wanted = true;
	memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(generation));
	dboid = wake_attach_worker(w->slot, generation);
	if (!OidIsValid(dboid))
	{
		/*
		 * Started so late that the launcher gave up on us (its successor
		 * could not know we were coming) and may have given the slot to
		 * another worker: that one serves the database.
		 */
		elog(LOG, "%s: its slot was given up before it started, it exits",
			 MyBgworkerEntry->bgw_name);
		proc_exit(0);
	}
	on_shmem_exit(worker_exit, Int32GetDatum(w->slot));
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pin_session_settings();
	pgstat_report_appname("webpush worker");
	srandom((unsigned int) (MyProcPid ^ GetCurrentTimestamp()));

	w->long_cxt = AllocSetContextCreate(TopMemoryContext, "webpush worker",
										ALLOCSET_DEFAULT_SIZES);
	w->turn_cxt = AllocSetContextCreate(w->long_cxt, "webpush worker turn",
										ALLOCSET_DEFAULT_SIZES);
	memset(&host_ctl, 0, sizeof(host_ctl));
	host_ctl.keysize = sizeof(((HostState *) NULL)->origin);
	host_ctl.entrysize = sizeof(HostState);
	host_ctl.hcxt = w->long_cxt;
	w->hosts = hash_create("webpush hosts", 16, &host_ctl,
						   HASH_ELEM | WEBPUSH_HASH_STRING_KEYS | HASH_CONTEXT);
	host_ctl.keysize = sizeof(((AppRateState *) NULL)->application);
	host_ctl.entrysize = sizeof(AppRateState);
	w->app_rates = hash_create("webpush application rates", 16, &host_ctl,
							   HASH_ELEM | WEBPUSH_HASH_STRING_KEYS | HASH_CONTEXT);
	w->counts = counter_batch_create();
	config = current_http_config();
	w->http = http_client_create(&config);
	if (w->http == NULL)
		elog(FATAL, "webpush worker: could not initialise libcurl");
	MemoryContextSwitchTo(w->turn_cxt);

	begin_transaction();
	exit_unless_extension_current(w, true);
	reclaimed = queue_reclaim_orphans(false);
	end_transaction(w);
	wake_report_serving(w->slot);
	if (reclaimed > 0)
		elog(LOG, "webpush worker: %lld notifications claimed by a stopped worker are queued again",
			 (long long) reclaimed);
	elog(LOG, "%s started", MyBgworkerEntry->bgw_name);

	for (;;)
	{
		long		wait_ms = IDLE_WAIT_MS;
		TimestampTz recall_at;

		start_turn(w);
		wait_ms = record_finished_and_claim(w, wait_ms);
		recall_at = recall_turn(w);
		if (recall_at != 0)
			wait_ms = wait_until(wait_ms, GetCurrentTimestamp(), recall_at);
		wait_ms = maintain(w, wait_ms);
		wait_and_collect(w, wait_ms);
	}
}
