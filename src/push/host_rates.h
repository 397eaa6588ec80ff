/*
 * host_rates.h
 *		Per push-service rates (webpush.host_rates): how many requests a
 *		second the workers send to a host at most, and how many they may
 *		send at once after a pause (the burst).  FCM, Apple and WNS answer
 *		429 (WNS 406) to a sender that goes faster than they take.  Plain
 *		C: parsed and matched without a server, tested in test/unit.
 */
#ifndef WEBPUSH_HOST_RATES_H
#define WEBPUSH_HOST_RATES_H

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

#endif							/* WEBPUSH_HOST_RATES_H */
