/*
 * host_rates.h
 *		Per push-service rates (webpush.host_rates): how many requests a
 *		second the workers send to a host at most, and how many they may
 *		send at once after a pause (the burst).  FCM, Apple and WNS answer
 *		429 (WNS 406) to a sender that goes faster than they take.  And
 *		the token bucket that keeps a rate, a host's or an application's,
 *		with its pause after a Retry-After.  Plain C with the clock passed
 *		in (microseconds, as PostgreSQL's TimestampTz counts them): parsed,
 *		matched and kept without a server, tested in test/unit; the
 *		buckets themselves live in shared memory (shmem/rates.h).
 */
#ifndef WEBPUSH_HOST_RATES_H
#define WEBPUSH_HOST_RATES_H

#include <stdint.h>

#include "push/host_match.h"

#define HOST_RATES_MAX		16
#define HOST_RATE_MIN		0.01
#define HOST_RATE_MAX		1000000.0
#define HOST_BURST_MAX		1000000

typedef struct HostRate
{
	char		host[HOST_MATCH_HOST_MAX + 1];	/* "host", "host:port" or
												 * "*.domain", lower case */
	double		per_second;
	int			burst;
} HostRate;

typedef struct HostRates
{
	int			n;
	HostRate	rates[HOST_RATES_MAX];
} HostRates;

/*
 * Parse "host=rate[/burst], *.domain=rate[/burst], ..." (empty: none) into
 * out.  A rate is requests per second, from 0.01 to 1000000, with up to two
 * decimals; the burst a whole number of requests from 1 to 1000000, by
 * default the rate rounded up (a second's worth).  NULL on success, else a
 * static sentence saying what is wrong.
 */
extern const char *host_rates_parse(const char *text, HostRates *out);

/*
 * The rate for a push service's origin ("https://host[:port]"), or NULL for
 * none; the entry is chosen as for webpush.payload_limits.
 */
extern const HostRate *host_rate_for(const HostRates *rates, const char *origin);

/*
 * Rates.  A push-service host (webpush.host_rates) and an application
 * (webpush_application_rate) may each have a rate, in requests a second,
 * and a burst: a token bucket, which fills at the rate up to the burst, and
 * which each request takes a token from.  It is kept as one time, the
 * generic cell rate algorithm's: tat, when the bucket would be full again
 * (its tokens = burst - (tat - now) * rate).  A request goes at the time
 * rate_next() says, which is now when there is a token; one whose time is
 * within RATE_PARK_MS waits parked for it, built, its token taken; one
 * whose time is later goes back to the queue unsent, with no attempt
 * counted and no token taken, due again at a time rate_defer() gives: the
 * requests sent back are spread at the bucket's rate after the time its
 * tokens are spoken for, so that they come back about when they can go,
 * not all at once.  A token taken by a request that then could not start
 * (its host would not take more in flight) is not given back: a rate is a
 * ceiling.
 *
 * A host that answers 429 (or WNS's 406) with a Retry-After is sent
 * nothing until then (rate_pause); from then it gets half its rate, without
 * a burst, growing evenly back to its full rate over RATE_RAMP_MS.  A host
 * without a rate is paused alike, and then unlimited again.  A pause never
 * shortens: a second 429 with a nearer Retry-After keeps the first's end.
 */
#define RATE_PARK_MS 1000
#define RATE_RAMP_MS 10000

typedef struct RateLimit
{
	double		per_second;		/* 0: no rate */
	int			burst;			/* at least 1 */
} RateLimit;

typedef struct RateBucket
{
	int64_t	tat;			/* when it would be full again */
	int64_t	defer_at;		/* the next time rate_defer gives */
	int64_t	paused_until;	/* a Retry-After: nothing before (0: none) */
	int64_t	ramp_until;		/* from paused_until to this, the rate grows
								 * from half to full */
} RateBucket;

/* The earliest time a request may go, now or later. */
extern int64_t rate_next(const RateBucket *bucket, const RateLimit *limit, int64_t now);

/* A request goes at at (rate_next's time, or later): its token taken. */
extern void rate_take(RateBucket *bucket, const RateLimit *limit, int64_t at);

/*
 * A request that could go at at, too late to wait parked for: when it is
 * due again in the queue.
 */
extern int64_t rate_defer(RateBucket *bucket, const RateLimit *limit, int64_t at);

/* The host answered 429 or 406 with Retry-After: nothing before until. */
extern void rate_pause(RateBucket *bucket, int64_t now, int64_t until);

/* The rate a bucket sends at, at time t (its ramp after a pause). */
extern double rate_at(const RateBucket *bucket, const RateLimit *limit, int64_t t);

#endif							/* WEBPUSH_HOST_RATES_H */
