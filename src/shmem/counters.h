/*
 * counters.h
 *		Cumulative delivery counters and the queue's gauges, in shared
 *		memory, per database, application and push service host.
 *
 * The counters only grow (sent, delivered, gone, failed, expired,
 * cancelled, refused, what frequency caps dropped and deferred and quiet
 * hours held, what rates held back, retries by reason, bytes, a latency histogram): purging the
 * history does not touch them, a clean shutdown writes them to
 * pg_stat/webpush.stat and the next start reads them back, as the
 * statistics collector does; webpush_counters_reset() starts a database's
 * over and records when.  After a crash they start from zero, like
 * PostgreSQL's own statistics.
 *
 * The gauges (queued, scheduled, retrying, sending, the oldest due item,
 * the next retry) are a snapshot of the queue's tables: counting 100,000
 * rows costs more than a status view may, so a snapshot is kept here and
 * taken again when the queue changed (see counters_gauges_wanted).  A
 * small queue (under 10,000 rows) is counted for each reader that comes
 * after a change; a large one by the worker, at most once a second and
 * never for more than 2% of its time (and by a reader only when the
 * snapshot is older than twice that).
 *
 * Everything here exists only when the library is preloaded; without it
 * the functions below do nothing and counters_available() is false.
 */
#ifndef WEBPUSH_COUNTERS_H
#define WEBPUSH_COUNTERS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* An application name is at most 63 bytes (its CHECK constraint). */
#define COUNTERS_APP_LEN 64
/* Longer host names are cut (DNS names have at most 253 bytes). */
#define COUNTERS_HOST_LEN 256
#define COUNTERS_PROBLEM_LEN 160

/* Why a request is tried again. */
typedef enum RetryReason
{
	RETRY_RATE_LIMITED,			/* 429 (and WNS's 406) */
	RETRY_SERVER_ERROR,			/* 5xx */
	RETRY_TIMEOUT,				/* no answer in webpush.timeout, or 408 */
	RETRY_CONNECTION,			/* no connection, TLS, reset */
	RETRY_REASONS
} RetryReason;

extern const char *const retry_reason_names[RETRY_REASONS];

/*
 * Latency from the time a delivery fell due (the message's send_at) to the
 * push service's answer that delivered it, in seconds: upper bounds of the
 * histogram's buckets; the last bucket has no bound (+Inf).
 */
#define LATENCY_BUCKETS 12
extern const double latency_bounds[LATENCY_BUCKETS - 1];

typedef enum CountedOutcome
{
	COUNT_DELIVERED,
	COUNT_GONE,
	COUNT_FAILED,
	COUNT_EXPIRED,
	COUNT_RETRIED,
	COUNT_CANCELLED,
	COUNT_REFUSED,				/* a trigger's, over webpush.max_queued_per_role */
	COUNT_HELD_QUIET_HOURS,		/* handed back until its quiet hours end */
	COUNT_CAP_DEFERRED,			/* handed back until its frequency cap has room */
	COUNT_THROTTLED,			/* held back by a rate: waits for a token,
								 * or goes back to the queue */
	COUNT_NONE					/* handed back unsent: nothing to count */
} CountedOutcome;

/* One finished attempt (or a delivery that ended without one). */
typedef struct CountedEvent
{
	const char *application;
	const char *host;			/* NULL: none (the subscription was gone) */
	CountedOutcome outcome;
	bool		requested;		/* a request went out: counts as sent */
	int64		bytes;			/* its body */
	RetryReason retry_reason;	/* COUNT_RETRIED */
	double		latency_s;		/* COUNT_DELIVERED; < 0: unknown */
	const char *problem;		/* what went wrong, NULL when nothing did */
	int64		count;			/* events this stands for (cancelled) */
	bool		cap_dropped;	/* COUNT_FAILED: over its frequency cap */
} CountedEvent;

/* The gauges of one application and host, counted from the tables. */
typedef struct GaugeRow
{
	char		application[COUNTERS_APP_LEN];
	char		host[COUNTERS_HOST_LEN];	/* "": none */
	int64		queued;
	int64		scheduled;
	int64		retrying;
	int64		sending;
	TimestampTz oldest_due_at;	/* 0: nothing due */
	TimestampTz next_retry_at;	/* 0: no retry waiting */
} GaugeRow;

/* What a status reader gets for one application and host. */
typedef struct CounterRow
{
	char		application[COUNTERS_APP_LEN];
	char		host[COUNTERS_HOST_LEN];
	int64		sent;
	int64		bytes;
	int64		delivered;
	int64		gone;
	int64		failed;
	int64		expired;
	int64		cancelled;
	int64		refused;
	int64		capped_dropped; /* of failed */
	int64		capped_deferred;
	int64		held_quiet_hours;
	int64		throttled;
	int64		retried[RETRY_REASONS];
	int64		latency[LATENCY_BUCKETS];	/* per bucket, not cumulative */
	double		latency_sum;
	char		last_problem[COUNTERS_PROBLEM_LEN];
	TimestampTz last_problem_at;	/* 0: none */
	GaugeRow	gauges;
} CounterRow;

/* From _PG_init when preloaded. */
extern void counters_request_shmem(void);

/* Is there shared memory to count in (the library preloaded)? */
extern bool counters_available(void);

/*
 * A batch of events, added up in process memory and added to shared memory
 * at once (one lock): the worker flushes after the transaction that
 * recorded the outcomes commits.
 */
typedef struct CounterBatch CounterBatch;
extern CounterBatch *counter_batch_create(void);
extern void counter_batch_add(CounterBatch *batch, const CountedEvent *event);
extern void counter_batch_flush(CounterBatch *batch, Oid dboid);

/* One event, counted at once (webpush_send_now, webpush_cancel, refusals). */
extern void counters_count(const CountedEvent *event);

/* The reason class of a retried request's answer. */
extern RetryReason counters_retry_reason(long status, bool timed_out);

/* The host of an https:// URL, into out (COUNTERS_HOST_LEN); "" if none. */
extern void counters_url_host(const char *url, char *out);

/*
 * Gauges.  counters_queue_changed_at_commit: this transaction changes the
 * queue of MyDatabaseId; at COMMIT the snapshot is marked out of date.
 * counters_queue_changed: the same, now (the worker, after its commits).
 */
extern void counters_queue_changed_at_commit(void);
extern void counters_queue_changed(Oid dboid);

/*
 * Should this process count the gauges of dboid now?  by_worker: the worker
 * asks (it refreshes expensive snapshots); otherwise a reader.  When true,
 * the caller counts and must call counters_gauges_store (or
 * counters_gauges_abandon on error).
 */
extern bool counters_gauges_wanted(Oid dboid, bool by_worker);
extern void counters_gauges_store(Oid dboid, const GaugeRow *rows, int n, double cost_ms);
extern void counters_gauges_abandon(Oid dboid);

/*
 * The rows of dboid, palloc'd; *counted_at (0: never) and *stats_reset
 * tell the snapshot's time and since when the counters count.
 */
extern int	counters_read(Oid dboid, CounterRow **rows, TimestampTz *counted_at,
						  TimestampTz *stats_reset);

/* Set dboid's counters to zero; returns the reset time. */
extern TimestampTz counters_reset(Oid dboid);

/* A database is dropped: its counters go, making room for others. */
extern void counters_forget_database(Oid dboid);

#endif							/* WEBPUSH_COUNTERS_H */
