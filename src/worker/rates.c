/*
 * rates.c
 *		The rates of push-service hosts (webpush.host_rates) and of
 *		applications (webpush_application_rate), as the worker keeps them:
 *		a token bucket each (host_rules.h, "Rates"), and the pauses that a
 *		429 or WNS's 406 with a Retry-After asks for.
 *
 * Each of a database's webpush.workers workers keeps its own buckets, with
 * its share of each rate and burst (the rate divided by the number of
 * workers): together they never go faster than the rate, and no lock is
 * taken per request.  The price is that a worker with nothing to send for
 * a host leaves its share unused.  hosts.c asks here before it builds a
 * request, and parks it or hands it back as told.
 */
#include "postgres.h"

#include <stdio.h>
#include <string.h>

#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "http/http.h"
#include "push/host_rates.h"
#include "queue/claim.h"
#include "settings.h"
#include "shmem/counters.h"
#include "worker/delivery.h"
#include "worker/host_rules.h"
#include "worker/worker_state.h"

#define USECS_PER_MS 1000

/* A rate as this worker keeps it: its share of the workers'. */
static RateLimit
worker_share(double per_second, int burst)
{
	RateLimit	limit = {0};

	if (per_second > 0)
	{
		limit.per_second = per_second / webpush_workers;
		limit.burst = Max(burst / webpush_workers, 1);
	}
	return limit;
}

/* An application's bucket, created on first use. */
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
	RateLimit	host_limit = worker_share(configured ? configured->per_second : 0,
										  configured ? configured->burst : 0);
	RateLimit	app_limit = worker_share(m->app_rate, m->app_burst);
	RateBucket *app = m->app_rate > 0 ? app_bucket(w, m->ref.application) : NULL;
	TimestampTz host_at = rate_next(&host->rate, &host_limit, now);
	TimestampTz app_at = app != NULL ? rate_next(app, &app_limit, now) : now;
	bool		by_host = host_at >= app_at;

	*at = Max(host_at, app_at);
	if (*at > now)
		count_throttled(w, m);
	if (*at - now <= (TimestampTz) RATE_PARK_MS * USECS_PER_MS)
	{
		rate_take(&host->rate, &host_limit, *at);
		if (app != NULL)
			rate_take(app, &app_limit, *at);
		return true;
	}

	/* Back to the queue, spread at the rate that holds it. */
	if (by_host)
		*delay_ms = (rate_defer(&host->rate, &host_limit, *at) - now) / (double) USECS_PER_MS;
	else
		*delay_ms = (rate_defer(app, &app_limit, *at) - now) / (double) USECS_PER_MS;
	if (by_host && host_at <= host->rate.paused_until)
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

	if ((status != 429 && status != 406) || retry_after <= 0)
		return false;
	/* A day at most, as a Retry-After date far ahead may ask. */
	rate_pause(&host->rate, now, now + (TimestampTz) Min(retry_after, 86400L) * USECS_PER_SEC);
	if (host->parked_head == NULL)
		return false;
	snprintf(reason, reason_len, "throttled: %s answered %ld with Retry-After %ld s",
			 host->origin + strlen("https://"), status, retry_after);
	*delay_ms = (host->rate.paused_until - now) / (double) USECS_PER_MS;
	return true;
}
