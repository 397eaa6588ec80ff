/*
 * fuzz_endpoint.c
 *		libFuzzer harness: push endpoint URLs and the address policy, each
 *		checked against an independent oracle.
 *
 * The oracle is a plain table of the IANA special-purpose blocks written as
 * CIDR text, parsed with inet_pton and matched bit by bit; hosts are read as
 * addresses with getaddrinfo(AI_NUMERICHOST), the way the resolver reads
 * them.  A first byte of 0 or 1 makes the rest a raw IPv4 or IPv6 address
 * for endpoint_address_class; anything else makes the input a URL for
 * endpoint_parse under the default policy (no private addresses, port 443).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http/endpoint.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every block a push endpoint must not reach, from the IANA registries. */
static const char *const blocked[] = {
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24",
	"192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24",
	"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",
	"240.0.0.0/4",
	"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48",
	"100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48",
	"3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
};

static int
in_block(int family, const uint8_t *addr, const char *cidr)
{
	char		text[64];
	uint8_t		net[16];
	char	   *slash;
	int			bits;
	int			i;

	snprintf(text, sizeof(text), "%s", cidr);
	slash = strchr(text, '/');
	*slash = '\0';
	bits = atoi(slash + 1);
	if (inet_pton(family, text, net) != 1)
		return 0;				/* a block of the other family */
	for (i = 0; i < bits; i++)
	{
		int			mask = 0x80 >> (i % 8);

		if ((addr[i / 8] & mask) != (net[i / 8] & mask))
			return 0;
	}
	return 1;
}

static int
oracle_public(int family, const uint8_t *addr)
{
	size_t		i;

	/* IPv6 global unicast is 2000::/3; nothing else is allocated. */
	if (family == AF_INET6 && (addr[0] & 0xe0) != 0x20)
		return 0;
	for (i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
		if (in_block(family, addr, blocked[i]))
			return 0;
	return 1;
}

static void
check_address(int family, const uint8_t *addr)
{
	struct sockaddr_storage ss;
	int			ours;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET)
	{
		struct sockaddr_in *in = (struct sockaddr_in *) &ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, addr, 4);
	}
	else
	{
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, addr, 16);
	}
	ours = endpoint_address_class((struct sockaddr *) &ss) == ADDRESS_PUBLIC;
	if (ours != oracle_public(family, addr))
		abort();
}

static void
check_url(const uint8_t *data, size_t size)
{
	Endpoint	ep;
	char		host[ENDPOINT_MAX_LEN + 16];
	const char *start;
	const char *end;
	struct addrinfo hints;
	struct addrinfo *res = NULL;

	if (memchr(data, '\0', size) != NULL)
		return;					/* SQL text cannot hold NUL */
	if (endpoint_parse((const char *) data, size, NULL, &ep) != ENDPOINT_OK)
	{
		(void) endpoint_parse((const char *) data, size,
							  &(EndpointPolicy) {1, 1, 0, {0}}, &ep);
		return;
	}
	if (strncmp(ep.origin, "https://", 8) != 0 || strchr(ep.origin, '@') != NULL ||
		ep.port != 443 || ep.literal_class != ADDRESS_PUBLIC)
		abort();

	/* The host the origin names, as the resolver would read it. */
	start = ep.origin + 8;
	if (*start == '[')
	{
		end = strchr(start, ']');
		if (end == NULL)
			abort();
		start++;
	}
	else
		end = start + strcspn(start, ":");
	snprintf(host, sizeof(host), "%.*s", (int) (end - start), start);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_family = AF_UNSPEC;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return;					/* a name: the connect-time check decides */
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
	{
		const uint8_t *addr = ai->ai_family == AF_INET ?
			(const uint8_t *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr :
			(const uint8_t *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;

		/* Accepted under the default policy: the oracle must agree. */
		if (!oracle_public(ai->ai_family, addr))
			abort();
	}
	freeaddrinfo(res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 5 && data[0] == 0)
		check_address(AF_INET, data + 1);
	else if (size >= 17 && data[0] == 1)
		check_address(AF_INET6, data + 1);
	else
		check_url(data, size);
	return 0;
}
