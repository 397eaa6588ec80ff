/*
 * endpoint.c
 *		Push endpoint URLs: validation, the VAPID origin, and which network
 *		addresses the worker may connect to.
 *
 * URLs are parsed with libcurl's own parser so that what is validated here
 * is exactly what libcurl will later connect to.
 */
#include "http/endpoint.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/*
 * The IANA special-purpose address registries (IPv4 and IPv6), plus
 * multicast and the classic private ranges.  Everything listed is refused
 * unless private endpoints are allowed: push services live on ordinary
 * public unicast addresses, so even the blocks the registries mark as
 * globally reachable (AS112, AMT, 6to4 relays) have no business here.
 */
static AddressClass
ipv4_class(uint32_t a)
{
	if ((a >> 24) == 0)
		return ADDRESS_UNSPECIFIED; /* 0.0.0.0/8 "this network" */
	if ((a >> 24) == 127)
		return ADDRESS_LOOPBACK;
	if ((a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8)
		return ADDRESS_PRIVATE; /* 10/8, 172.16/12, 192.168/16 */
	if ((a >> 16) == 0xA9FE)
		return ADDRESS_LINK_LOCAL;	/* 169.254/16 */
	if ((a >> 22) == (100u << 2 | 1))
		return ADDRESS_CGNAT;	/* 100.64/10 */
	if ((a >> 28) == 0xE)
		return ADDRESS_MULTICAST;	/* 224/4 */
	if ((a >> 8) == 0xC05863)
		return ADDRESS_TRANSLATED;	/* 192.88.99/24 6to4 relay anycast */
	if ((a >> 28) == 0xF ||		/* 240/4 and broadcast */
		(a >> 8) == 0xC00000 || /* 192.0.0/24 protocol assignments */
		(a >> 8) == 0xC00002 || /* 192.0.2/24 documentation */
		(a >> 8) == 0xC01FC4 || /* 192.31.196/24 AS112 */
		(a >> 8) == 0xC034C1 || /* 192.52.193/24 AMT */
		(a >> 8) == 0xC0AF30 || /* 192.175.48/24 AS112 direct delegation */
		(a >> 8) == 0xC63364 || /* 198.51.100/24 documentation */
		(a >> 8) == 0xCB0071 || /* 203.0.113/24 documentation */
		(a >> 17) == (0xC612 >> 1)) /* 198.18/15 benchmarking */
		return ADDRESS_RESERVED;
	return ADDRESS_PUBLIC;
}

/* Whether the first bits of b are those of prefix. */
static int
has_prefix(const uint8_t *b, const uint8_t *prefix, int bits)
{
	int			whole = bits / 8;
	int			rest = bits % 8;

	if (memcmp(b, prefix, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((b[whole] ^ prefix[whole]) & (0xff << (8 - rest))) == 0;
}

static AddressClass
ipv6_class(const uint8_t *b)
{
	static const uint8_t zeros[16] = {0};
	static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64[16] = {0x00, 0x64, 0xff, 0x9b};	/* 64:ff9b::/96, /48 */
	static const uint8_t discard[16] = {0x01, 0x00};	/* 100::/64 */
	static const uint8_t ietf[16] = {0x20, 0x01, 0x00};	/* 2001::/23 (Teredo...) */
	static const uint8_t doc[16] = {0x20, 0x01, 0x0d, 0xb8};	/* 2001:db8::/32 */
	static const uint8_t sixtofour[16] = {0x20, 0x02};	/* 2002::/16 */
	static const uint8_t as112[16] = {0x26, 0x20, 0x00, 0x4f, 0x80, 0x00};	/* /48 */
	static const uint8_t doc2[16] = {0x3f, 0xff, 0x00};	/* 3fff::/20 */

	if (memcmp(b, zeros, 16) == 0)
		return ADDRESS_UNSPECIFIED;
	if (memcmp(b, zeros, 15) == 0 && b[15] == 1)
		return ADDRESS_LOOPBACK;
	if (has_prefix(b, mapped, 96))
		return ADDRESS_MAPPED;	/* ::ffff:a.b.c.d reaches IPv4 hosts */
	if (has_prefix(b, nat64, 32) && (has_prefix(b + 4, zeros, 64) ||
									 (b[4] == 0 && b[5] == 1)))
		return ADDRESS_TRANSLATED;	/* 64:ff9b::/96 and 64:ff9b:1::/48 */
	if (has_prefix(b, ietf, 23))
		return has_prefix(b, ietf, 32) ? ADDRESS_TRANSLATED /* Teredo */ :
			ADDRESS_RESERVED;
	if (has_prefix(b, sixtofour, 16))
		return ADDRESS_TRANSLATED;
	if ((b[0] & 0xfe) == 0xfc)
		return ADDRESS_UNIQUE_LOCAL;	/* fc00::/7 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return ADDRESS_LINK_LOCAL;	/* fe80::/10 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return ADDRESS_PRIVATE; /* fec0::/10, deprecated site-local */
	if (b[0] == 0xff)
		return ADDRESS_MULTICAST;
	if (has_prefix(b, discard, 64) || has_prefix(b, doc, 32) ||
		has_prefix(b, as112, 48) || has_prefix(b, doc2, 20))
		return ADDRESS_RESERVED;
	/* Only 2000::/3 is allocated for global unicast; the rest is reserved. */
	if ((b[0] & 0xe0) != 0x20)
		return ADDRESS_RESERVED;
	return ADDRESS_PUBLIC;
}

AddressClass
endpoint_address_class(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) addr;

		return ipv4_class(ntohl(in->sin_addr.s_addr));
	}
	if (addr->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) addr;

		return ipv6_class(in6->sin6_addr.s6_addr);
	}
	return ADDRESS_RESERVED;	/* unix sockets and anything else */
}

const char *
address_class_name(AddressClass cls)
{
	switch (cls)
	{
		case ADDRESS_PUBLIC:
			return "public";
		case ADDRESS_UNSPECIFIED:
			return "unspecified";
		case ADDRESS_LOOPBACK:
			return "loopback";
		case ADDRESS_PRIVATE:
			return "private";
		case ADDRESS_LINK_LOCAL:
			return "link-local";
		case ADDRESS_CGNAT:
			return "carrier-grade NAT";
		case ADDRESS_MULTICAST:
			return "multicast";
		case ADDRESS_UNIQUE_LOCAL:
			return "unique-local";
		case ADDRESS_MAPPED:
			return "IPv4-mapped";
		case ADDRESS_TRANSLATED:
			return "IPv4-translating (NAT64, 6to4 or Teredo)";
		case ADDRESS_RESERVED:
			return "reserved";
	}
	return "unknown";
}

/*
 * Class of a host name when it is an address literal.  inet_aton accepts
 * the old shorthand forms ("2130706433", "0x7f.1") that resolvers honour too.
 */
static AddressClass
host_literal_class(const char *host)
{
	char		buf[64];
	size_t		len = strlen(host);
	struct in_addr v4;
	struct in6_addr v6;

	if (len >= 2 && host[0] == '[' && len - 2 < sizeof(buf))
	{
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		if (inet_pton(AF_INET6, buf, &v6) == 1)
			return ipv6_class(v6.s6_addr);
		return ADDRESS_RESERVED;
	}
	if (inet_aton(host, &v4) == 1)
		return ipv4_class(ntohl(v4.s_addr));
	return ADDRESS_PUBLIC;
}

int
endpoint_port_allowed(const EndpointPolicy *policy, int port)
{
	int			i;

	if (policy == NULL)
		return port == 443;
	if (policy->any_port)
		return 1;
	for (i = 0; i < policy->nports; i++)
		if (policy->ports[i] == port)
			return 1;
	return 0;
}

int
endpoint_parse_port_list(const char *list, EndpointPolicy *policy)
{
	const char *p = list;

	policy->any_port = 0;
	policy->nports = 0;
	for (;;)
	{
		long		port = 0;
		int			digits = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '*')
		{
			policy->any_port = 1;
			p++;
		}
		else
		{
			while (*p >= '0' && *p <= '9' && digits < 6)
			{
				port = port * 10 + (*p++ - '0');
				digits++;
			}
			if (digits == 0 || port < 1 || port > 65535 ||
				policy->nports == ENDPOINT_MAX_PORTS)
				return -1;
			policy->ports[policy->nports++] = (int) port;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			return -1;
	}
}

EndpointError
endpoint_parse(const char *url, size_t len, const EndpointPolicy *policy, Endpoint *out)
{
	int			allow_private = policy != NULL && policy->allow_private;
	CURLU	   *u;
	char		buf[ENDPOINT_MAX_LEN + 1];
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *port = NULL;
	char	   *user = NULL;
	char	   *password = NULL;
	EndpointError err = ENDPOINT_OK;
	size_t		i;
	int			n;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return ENDPOINT_EMPTY;
	if (len > ENDPOINT_MAX_LEN)
		return ENDPOINT_TOO_LONG;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) url[i];

		if (c <= 0x20 || c == 0x7f)
			return ENDPOINT_BAD_CHARACTER;
	}
	memcpy(buf, url, len);
	buf[len] = '\0';

	/* libcurl would read "https:///x" as host "x"; an endpoint names its host. */
	if (len >= 8 && strncasecmp(buf, "https://", 8) == 0 && (len == 8 || buf[8] == '/'))
		return ENDPOINT_NO_HOST;

	u = curl_url();
	if (u == NULL)
		return ENDPOINT_NOT_URL;
	if (curl_url_set(u, CURLUPART_URL, buf, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
	{
		err = ENDPOINT_NOT_URL;
		goto done;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		strcmp(scheme, "https") != 0)
	{
		err = ENDPOINT_NOT_HTTPS;
		goto done;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
		curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
	{
		err = ENDPOINT_USERINFO;
		goto done;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
	{
		err = ENDPOINT_NO_HOST;
		goto done;
	}
	for (i = 0; host[i]; i++)
		host[i] = (char) tolower((unsigned char) host[i]);

	out->literal_class = host_literal_class(host);
	if (out->literal_class != ADDRESS_PUBLIC && !allow_private)
	{
		err = ENDPOINT_NON_PUBLIC_ADDRESS;
		goto done;
	}

	/* The origin names the port only when it is not https's default. */
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	out->port = port != NULL ? atoi(port) : 443;
	if (!endpoint_port_allowed(policy, out->port))
	{
		err = ENDPOINT_PORT_NOT_ALLOWED;
		goto done;
	}
	if (port != NULL && strcmp(port, "443") != 0)
		n = snprintf(out->origin, sizeof(out->origin), "https://%s:%s", host, port);
	else
		n = snprintf(out->origin, sizeof(out->origin), "https://%s", host);
	if (n < 0 || (size_t) n >= sizeof(out->origin))
		err = ENDPOINT_TOO_LONG;

done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(u);
	return err;
}

const char *
endpoint_error_message(EndpointError err)
{
	switch (err)
	{
		case ENDPOINT_OK:
			return "valid";
		case ENDPOINT_EMPTY:
			return "The endpoint is empty.";
		case ENDPOINT_TOO_LONG:
			return "The endpoint is longer than 2048 bytes.";
		case ENDPOINT_BAD_CHARACTER:
			return "The endpoint contains spaces or control characters.";
		case ENDPOINT_NOT_URL:
			return "The endpoint is not an absolute URL.";
		case ENDPOINT_NOT_HTTPS:
			return "Push endpoints must use the https scheme.";
		case ENDPOINT_NO_HOST:
			return "The endpoint has no host.";
		case ENDPOINT_USERINFO:
			return "The endpoint contains a user name or password.";
		case ENDPOINT_NON_PUBLIC_ADDRESS:
			return "The endpoint's host is a loopback, private or otherwise non-public address.";
		case ENDPOINT_PORT_NOT_ALLOWED:
			return "The endpoint's port is not in webpush.allowed_ports.";
	}
	return "The endpoint is invalid.";
}
