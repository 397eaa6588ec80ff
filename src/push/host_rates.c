/*
 * host_rates.c
 *		Per push-service rates (host_rates.h).
 */
#include "push/host_rates.h"

#include <math.h>
#include <string.h>

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
