/*
 * rates.c
 *		The rates of push-service hosts (webpush.host_rates) and of
 *		applications (webpush_application_rate), as the worker keeps them:
 *		a token bucket each (push/host_rates.h, "Rates"), and the pauses
 *		that a 429 or WNS's 406 with a Retry-After asks for.
 *
 * A database's webpush.workers workers take their tokens from the same
 * buckets, in shared memory (shmem/rates.h): together they keep each rate,
 * however the deliveries fall between them, and a pause one of them is
 * told of holds them all.  A host without a rate gets a shared bucket only
 * when it asks for a pause.  When shared memory has no room for another
 * bucket, a worker keeps its own, with its share of the rate (the rate
 * divided by the number of workers).  hosts.c asks here before it builds
 * a request, and parks it or hands it back as told.
 */
#include "postgres.h"

#include <stdio.h>
#include <string.h>

#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "http/http.h"
#include "push/host_rates.h"
#include "queue/claim.h"
#include "settings.h"
#include "shmem/counters.h"
#include "shmem/rates.h"
#include "worker/delivery.h"
#include "worker/host_rules.h"
#include "worker/worker_state.h"

#define USECS_PER_MS 1000

/* The longest a Retry-After pauses a whole host (see rates_note_answer). */
#define RATE_PAUSE_MAX_S 60L

/*
 * A rate as this worker keeps it: whole in a shared bucket, its share of
 * the workers' in one of its own.
 */
static RateLimit
worker_share(double per_second, int burst, bool shared)
{
	RateLimit	limit = {0};
	int			workers = shared ? 1 : webpush_workers;

	if (per_second > 0)
	{
		limit.per_second = per_second / workers;
		limit.burst = Max(burst / workers, 1);
	}
	return limit;
}

/* An application's own bucket in this worker, created on first use. */
static RateBucket *
app_bucket(WorkerState *w, const char *application)
{
	AppRateState *app;
	bool		found;

	app = hash_search(w->app_rates, application, HASH_ENTER, &found);
	if (!found)
		memset(&app->rate, 0, sizeof(app->rate));
	return &app->rate;
}

/* A request held back: counted for its application and host. */
static void
count_throttled(WorkerState *w, const ClaimedMessage *m)
{
	CountedEvent e;
	char		host[COUNTERS_HOST_LEN];

	memset(&e, 0, sizeof(e));
	counters_url_host(m->endpoint, host);
	e.application = m->ref.application;
	e.host = host;
	e.outcome = COUNT_THROTTLED;
	e.latency_s = -1;
	counter_batch_add(w->counts, &e);
}

bool
rates_take(WorkerState *w, HostState *host, const ClaimedMessage *m, TimestampTz now,
		   TimestampTz *at, double *delay_ms, char *reason, size_t reason_len)
{
	const HostRate *configured = host_rate_for(&webpush_host_rates, host->origin);
	RateBucket *host_bucket;
	RateBucket *app = NULL;
	RateLimit	host_limit;
	RateLimit	app_limit = {0};
	TimestampTz host_at;
	TimestampTz app_at = now;
	bool		by_host;
	bool		parked;
	bool		paused;

	/*
	 * Most requests go to a host without a rate, for an application
	 * without one: unless a pause could hold them, they go at once, with
	 * no lock shared by the workers taken for each.
	 */
	if (configured == NULL && m->app_rate <= 0 &&
		now > Max(shared_rates_pauses_end(), host->rate.paused_until))
	{
		*at = now;
		return true;
	}

	shared_rates_lock();
	host_bucket = shared_rates_bucket(MyDatabaseId, RATE_OF_HOST, host->origin, configured != NULL);
	host_limit = worker_share(configured ? configured->per_second : 0,
							  configured ? configured->burst : 0, host_bucket != NULL);
	if (host_bucket == NULL)
		host_bucket = &host->rate;
	if (m->app_rate > 0)
	{
		app = shared_rates_bucket(MyDatabaseId, RATE_OF_APPLICATION, m->ref.application, true);
		app_limit = worker_share(m->app_rate, m->app_burst, app != NULL);
		if (app == NULL)
			app = app_bucket(w, m->ref.application);
	}
	host_at = rate_next(host_bucket, &host_limit, now);
	if (app != NULL)
		app_at = rate_next(app, &app_limit, now);
	by_host = host_at >= app_at;
	paused = host_at <= host_bucket->paused_until;
	*at = Max(host_at, app_at);
	parked = *at - now <= (TimestampTz) RATE_PARK_MS * USECS_PER_MS;
	if (parked)
	{
		rate_take(host_bucket, &host_limit, *at);
		if (app != NULL)
			rate_take(app, &app_limit, *at);
	}
	else if (by_host)
		*delay_ms = (rate_defer(host_bucket, &host_limit, *at) - now) / (double) USECS_PER_MS;
	else
		*delay_ms = (rate_defer(app, &app_limit, *at) - now) / (double) USECS_PER_MS;
	shared_rates_unlock();

	if (*at > now)
		count_throttled(w, m);
	if (parked)
		return true;
	/* Back to the queue, spread at the rate that holds it. */
	if (by_host && (paused || configured == NULL))
		snprintf(reason, reason_len,
				 "throttled: %s asked for a pause (Retry-After): nothing is sent to it until it ends",
				 host->origin + strlen("https://"));
	else if (by_host)
		snprintf(reason, reason_len, "throttled: host rate %g/s", configured->per_second);
	else
		snprintf(reason, reason_len, "throttled: application rate %g/s", m->app_rate);
	return false;
}

bool
rates_note_answer(HostState *host, const HttpRequest *req, TimestampTz now,
				  char *reason, size_t reason_len, double *delay_ms)
{
	long		status = http_request_status(req);
	long		retry_after = http_request_retry_after(req);
	RateBucket *bucket;
	TimestampTz paused_until;

	if ((status != 429 && status != 406) || retry_after <= 0)
		return false;
	shared_rates_lock();
	bucket = shared_rates_bucket(MyDatabaseId, RATE_OF_HOST, host->origin, true);
	if (bucket == NULL)
		bucket = &host->rate;
	/*
	 * The host as a whole waits RATE_PAUSE_MAX_S at most: the answer may be
	 * about one device (Apple's TooManyRequests) or one subscription, and
	 * a Retry-After far ahead must not stop every other recipient of the
	 * push service for a day.  The answered delivery itself waits its full
	 * Retry-After (verdict.c).
	 */
	rate_pause(bucket, now, now + (TimestampTz) Min(retry_after, RATE_PAUSE_MAX_S) * USECS_PER_SEC);
	paused_until = bucket->paused_until;
	shared_rates_note_pause(paused_until);
	shared_rates_unlock();
	if (host->parked_head == NULL)
		return false;
	snprintf(reason, reason_len, "throttled: %s answered %ld with Retry-After %ld s",
			 host->origin + strlen("https://"), status, retry_after);
	*delay_ms = (paused_until - now) / (double) USECS_PER_MS;
	return true;
}

/*
 * A claim counts a delivery expired once its TTL ran out a second ago or
 * more (hosts.c): a hold ends no later than that, so that a pause, or a
 * rate slower than the TTL, records it expired in time, not when the hold
 * ends.
 */
#define EXPIRY_SEEN_MS 1100

double
rates_hold_within_ttl(double delay_ms, TimestampTz expires_at, TimestampTz now)
{
	double		until_expired_ms = (double) (expires_at - now) / USECS_PER_MS + EXPIRY_SEEN_MS;

	return Max(Min(delay_ms, until_expired_ms), 0);
}
