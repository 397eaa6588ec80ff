/*
 * host_rates.c
 *		Per push-service rates (host_rates.h).
 */
#include "push/host_rates.h"

#include <math.h>
#include <string.h>

#define USECS_PER_MS 1000
#define USECS_PER_S 1000000.0

/* Digits, then up to two decimals; false when there is no number. */
static bool
read_hundredths(const char **p, long *hundredths, bool decimals)
{
	int			digits = 0;

	*hundredths = 0;
	while (**p >= '0' && **p <= '9' && digits < 8)
	{
		*hundredths = *hundredths * 10 + (*(*p)++ - '0');
		digits++;
	}
	if (digits == 0)
		return false;
	*hundredths *= 100;
	if (decimals && **p == '.')
	{
		(*p)++;
		if (**p < '0' || **p > '9')
			return false;
		*hundredths += (*(*p)++ - '0') * 10;
		if (**p >= '0' && **p <= '9')
			*hundredths += *(*p)++ - '0';
	}
	return true;
}

const char *
host_rates_parse(const char *text, HostRates *out)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	for (;;)
	{
		HostRate   *r;
		long		rate;
		long		burst;
		bool		end;
		const char *problem;

		if (out->n == HOST_RATES_MAX)
			return "at most 16 entries";
		r = &out->rates[out->n];
		if ((problem = host_match_read_host(&p, r->host, out->n == 0, &end)) != NULL)
			return problem;
		if (end)
			return NULL;
		if (!read_hundredths(&p, &rate, true) ||
			rate < HOST_RATE_MIN * 100 || rate > HOST_RATE_MAX * 100)
			return "a rate is a number of requests per second from 0.01 to 1000000, with at most two decimals";
		r->per_second = rate / 100.0;
		r->burst = (int) ceil(r->per_second);
		if (*p == '/')
		{
			p++;
			if (!read_hundredths(&p, &burst, false) ||
				burst < 100 || burst > (long) HOST_BURST_MAX * 100)
				return "a burst is a whole number of requests from 1 to 1000000";
			r->burst = (int) (burst / 100);
		}
		out->n++;
		if ((problem = host_match_read_separator(&p, &end)) != NULL || end)
			return problem;
	}
}

const HostRate *
host_rate_for(const HostRates *rates, const char *origin)
{
	int			i;

	if (rates == NULL || rates->n == 0)
		return NULL;
	i = host_match_best(origin, rates->rates[0].host, sizeof(HostRate), rates->n);
	return i >= 0 ? &rates->rates[i] : NULL;
}

double
rate_at(const RateBucket *bucket, const RateLimit *limit, int64_t t)
{
	if (limit->per_second <= 0)
		return 0;
	if (t >= bucket->paused_until && t < bucket->ramp_until)
		return limit->per_second *
			(0.5 + 0.5 * (double) (t - bucket->paused_until) /
			 (double) (bucket->ramp_until - bucket->paused_until));
	return limit->per_second;
}

/* The time between two tokens at t, in microseconds. */
static int64_t
rate_interval(const RateBucket *bucket, const RateLimit *limit, int64_t t)
{
	double		rate = rate_at(bucket, limit, t);

	return rate > 0 ? (int64_t) (USECS_PER_S / rate) : 0;
}

int64_t
rate_next(const RateBucket *bucket, const RateLimit *limit, int64_t now)
{
	int64_t	at = now > bucket->paused_until ? now : bucket->paused_until;
	int64_t	tolerance;

	if (limit->per_second <= 0)
		return at;
	/* No burst while it ramps up after a pause. */
	if (at < bucket->ramp_until)
		tolerance = 0;
	else
		tolerance = (int64_t) ((limit->burst > 1 ? limit->burst - 1 : 0) *
								(USECS_PER_S / limit->per_second));
	if (bucket->tat - tolerance > at)
		at = bucket->tat - tolerance;
	return at;
}

void
rate_take(RateBucket *bucket, const RateLimit *limit, int64_t at)
{
	if (limit->per_second <= 0)
		return;
	bucket->tat = (bucket->tat > at ? bucket->tat : at) + rate_interval(bucket, limit, at);
}

int64_t
rate_defer(RateBucket *bucket, const RateLimit *limit, int64_t at)
{
	int64_t	slot = bucket->defer_at > at ? bucket->defer_at : at;

	bucket->defer_at = slot + rate_interval(bucket, limit, slot);
	return slot;
}

void
rate_pause(RateBucket *bucket, int64_t now, int64_t until)
{
	if (until <= now || until <= bucket->paused_until)
		return;
	bucket->paused_until = until;
	bucket->ramp_until = until + (int64_t) RATE_RAMP_MS * USECS_PER_MS;
	/* Its tokens are spent: the first request after the pause is its only one. */
	if (bucket->tat < until)
		bucket->tat = until;
}
