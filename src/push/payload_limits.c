/*
 * payload_limits.c
 *		Per push-service limits on a request's body (payload_limits.h).
 */
#include "push/payload_limits.h"

#include <string.h>

#include "push/host_match.h"

const char *
payload_limits_parse(const char *text, PayloadLimits *out)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	for (;;)
	{
		PayloadLimit *l;
		long		bytes = 0;
		int			digits = 0;
		bool		end;
		const char *problem;

		if (out->n == PAYLOAD_LIMITS_MAX)
			return "at most 16 entries";
		l = &out->limits[out->n];
		if ((problem = host_match_read_host(&p, l->host, out->n == 0, &end)) != NULL)
			return problem;
		if (end)
			return NULL;
		while (*p >= '0' && *p <= '9' && digits < 6)
		{
			bytes = bytes * 10 + (*p++ - '0');
			digits++;
		}
		if (digits == 0 || bytes < PAYLOAD_LIMIT_MIN_BYTES || bytes > PAYLOAD_LIMIT_MAX_BYTES)
			return "a limit is a number of bytes from 128 to 4096";
		l->bytes = (int) bytes;
		out->n++;
		if ((problem = host_match_read_separator(&p, &end)) != NULL || end)
			return problem;
	}
}

int
payload_limit_for(const PayloadLimits *limits, const char *origin)
{
	int			i;

	if (limits == NULL || limits->n == 0)
		return 0;
	i = host_match_best(origin, limits->limits[0].host, sizeof(PayloadLimit), limits->n);
	return i >= 0 ? limits->limits[i].bytes : 0;
}
