/*
 * host_match.c
 *		Host-keyed settings: an entry's host read, and the entry an origin
 *		gets (host_match.h).
 */
#include "push/host_match.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int
host_char(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']';
}

static void
skip_spaces(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

const char *
host_match_read_host(const char **p, char *host, bool first, bool *empty)
{
	size_t		len = 0;

	*empty = false;
	skip_spaces(p);
	if (**p == '\0' && first)
	{
		*empty = true;
		return NULL;
	}
	if ((*p)[0] == '*' && (*p)[1] == '.')
	{
		memcpy(host, "*.", 2);
		len = 2;
		*p += 2;
	}
	while (host_char((unsigned char) **p))
	{
		if (len == HOST_MATCH_HOST_MAX)
			return "a host name is at most 255 characters";
		host[len++] = (char) tolower((unsigned char) *(*p)++);
	}
	host[len] = '\0';
	if (len == 0 || strcmp(host, "*.") == 0)
		return "each entry starts with a host name, host:port or *.domain, then =";
	skip_spaces(p);
	if (*(*p)++ != '=')
		return "each entry starts with a host name, host:port or *.domain, then =";
	skip_spaces(p);
	return NULL;
}

const char *
host_match_read_separator(const char **p, bool *end)
{
	skip_spaces(p);
	*end = **p == '\0';
	if (*end)
		return NULL;
	if (*(*p)++ != ',')
		return "entries are separated by commas";
	return NULL;
}

int
host_match_best(const char *origin, const char *hosts, size_t stride, int n)
{
	const char *host = origin;
	const char *colon;
	size_t		host_len;
	int			by_host = -1;
	int			by_domain = -1;
	size_t		domain_len = 0;

	if (strncmp(host, "https://", 8) == 0)
		host += 8;
	/* The host without its port (an IPv6 literal keeps its brackets). */
	colon = strrchr(host, ':');
	if (colon != NULL && strchr(colon, ']') == NULL)
		host_len = (size_t) (colon - host);
	else
		host_len = strlen(host);

	for (int i = 0; i < n; i++)
	{
		const char *entry = hosts + stride * i;
		size_t		len = strlen(entry);

		if (strcasecmp(entry, host) == 0)
			return i;			/* host and port as the origin has them */
		if (len == host_len && strncasecmp(entry, host, host_len) == 0)
			by_host = i;
		else if (entry[0] == '*' && len - 1 < host_len && len - 1 > domain_len &&
				 strncasecmp(host + host_len - (len - 1), entry + 1, len - 1) == 0)
		{
			by_domain = i;
			domain_len = len - 1;
		}
	}
	return by_host >= 0 ? by_host : by_domain;
}
