/*
 * payload_limits.c
 *		Per push-service limits on a request's body (payload_limits.h).
 */
#include "push/payload_limits.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int
host_char(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']';
}

const char *
payload_limits_parse(const char *text, PayloadLimits *out)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	for (;;)
	{
		PayloadLimit *l;
		size_t		len = 0;
		long		bytes = 0;
		int			digits = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' && out->n == 0)
			return NULL;
		if (out->n == PAYLOAD_LIMITS_MAX)
			return "at most 16 entries";
		l = &out->limits[out->n];
		if (p[0] == '*' && p[1] == '.')
		{
			memcpy(l->host, "*.", 2);
			len = 2;
			p += 2;
		}
		while (host_char((unsigned char) *p))
		{
			if (len == PAYLOAD_LIMIT_HOST_MAX)
				return "a host name is at most 255 characters";
			l->host[len++] = (char) tolower((unsigned char) *p++);
		}
		l->host[len] = '\0';
		if (len == 0 || strcmp(l->host, "*.") == 0)
			return "each entry is host=bytes, with a host name, host:port or *.domain";
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			return "each entry is host=bytes, with a host name, host:port or *.domain";
		while (*p == ' ' || *p == '\t')
			p++;
		while (*p >= '0' && *p <= '9' && digits < 6)
		{
			bytes = bytes * 10 + (*p++ - '0');
			digits++;
		}
		if (digits == 0 || bytes < PAYLOAD_LIMIT_MIN_BYTES || bytes > PAYLOAD_LIMIT_MAX_BYTES)
			return "a limit is a number of bytes from 128 to 4096";
		l->bytes = (int) bytes;
		out->n++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return NULL;
		if (*p++ != ',')
			return "entries are separated by commas";
	}
}

int
payload_limit_for(const PayloadLimits *limits, const char *origin)
{
	const char *host = origin;
	const char *colon;
	size_t		host_len;
	int			by_host = 0;
	int			by_domain = 0;
	size_t		domain_len = 0;

	if (limits == NULL || limits->n == 0)
		return 0;
	if (strncmp(host, "https://", 8) == 0)
		host += 8;
	/* The host without its port (an IPv6 literal keeps its brackets). */
	colon = strrchr(host, ':');
	if (colon != NULL && strchr(colon, ']') == NULL)
		host_len = (size_t) (colon - host);
	else
		host_len = strlen(host);

	for (int i = 0; i < limits->n; i++)
	{
		const PayloadLimit *l = &limits->limits[i];
		size_t		len = strlen(l->host);

		if (strcasecmp(l->host, host) == 0)
			return l->bytes;	/* host and port as the origin has them */
		if (len == host_len && strncasecmp(l->host, host, host_len) == 0)
			by_host = l->bytes;
		else if (l->host[0] == '*' && len - 1 < host_len && len - 1 > domain_len &&
				 strncasecmp(host + host_len - (len - 1), l->host + 1, len - 1) == 0)
		{
			by_domain = l->bytes;
			domain_len = len - 1;
		}
	}
	return by_host ? by_host : by_domain;
}
