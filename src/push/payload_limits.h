/*
 * payload_limits.h
 *		Per push-service limits on a request's body, below the 4,096 bytes
 *		every service takes (webpush.payload_limits): Firefox for Android
 *		receives what Mozilla's autopush bridges to it only up to about
 *		3,070 bytes.  Plain C: parsed and matched without a server, tested
 *		in test/unit.
 */
#ifndef WEBPUSH_PAYLOAD_LIMITS_H
#define WEBPUSH_PAYLOAD_LIMITS_H

#include <stddef.h>

#include "push/host_match.h"

#define PAYLOAD_LIMITS_MAX		16
#define PAYLOAD_LIMIT_HOST_MAX	HOST_MATCH_HOST_MAX
#define PAYLOAD_LIMIT_MIN_BYTES	128
#define PAYLOAD_LIMIT_MAX_BYTES	4096

typedef struct PayloadLimit
{
	char		host[PAYLOAD_LIMIT_HOST_MAX + 1];	/* "host", "host:port" or
													 * "*.domain", lower case */
	int			bytes;
} PayloadLimit;

typedef struct PayloadLimits
{
	int			n;
	PayloadLimit limits[PAYLOAD_LIMITS_MAX];
} PayloadLimits;

/*
 * Parse "host=bytes, *.domain=bytes, ..." (empty: none) into out.  NULL on
 * success, else a static sentence saying what is wrong.
 */
extern const char *payload_limits_parse(const char *text, PayloadLimits *out);

/*
 * The limit for a push service's origin ("https://host" or
 * "https://host:port"), or 0 for none: an entry naming the host and port
 * wins over one naming the host, which wins over the longest "*.domain"
 * the host is in.
 */
extern int	payload_limit_for(const PayloadLimits *limits, const char *origin);

#endif							/* WEBPUSH_PAYLOAD_LIMITS_H */
