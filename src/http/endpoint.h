/*
 * endpoint.h
 *		Push endpoint URLs: validation, the VAPID origin, and which network
 *		addresses the worker may connect to.
 *
 * A subscription's endpoint is attacker-controlled input as far as the
 * database is concerned: without these checks any role allowed to subscribe
 * could make the server send requests into its own private network.  The
 * parse-time check catches literal addresses early; the connect-time check
 * (endpoint_address_class on the resolved address) is the one that counts,
 * since DNS can say anything.  No PostgreSQL headers.
 */
#ifndef WEBPUSH_ENDPOINT_H
#define WEBPUSH_ENDPOINT_H

#include <stddef.h>
#include <sys/socket.h>

#define ENDPOINT_MAX_LEN	2048

typedef enum EndpointError
{
	ENDPOINT_OK = 0,
	ENDPOINT_EMPTY,
	ENDPOINT_TOO_LONG,
	ENDPOINT_BAD_CHARACTER,		/* control characters or spaces */
	ENDPOINT_NOT_URL,
	ENDPOINT_NOT_HTTPS,
	ENDPOINT_NO_HOST,
	ENDPOINT_USERINFO,
	ENDPOINT_NON_PUBLIC_ADDRESS,
	ENDPOINT_PORT_NOT_ALLOWED
} EndpointError;

typedef enum AddressClass
{
	ADDRESS_PUBLIC = 0,
	ADDRESS_UNSPECIFIED,
	ADDRESS_LOOPBACK,
	ADDRESS_PRIVATE,
	ADDRESS_LINK_LOCAL,
	ADDRESS_CGNAT,
	ADDRESS_MULTICAST,
	ADDRESS_UNIQUE_LOCAL,
	ADDRESS_MAPPED,
	ADDRESS_TRANSLATED,			/* NAT64, 6to4, Teredo: reach IPv4 hosts */
	ADDRESS_RESERVED
} AddressClass;

#define ENDPOINT_MAX_PORTS	16

/*
 * What a superuser allows beyond public hosts on port 443
 * (webpush.allow_private_endpoints, webpush.allowed_ports).  A NULL policy
 * is the strictest: public addresses, port 443 only.
 */
typedef struct EndpointPolicy
{
	int			allow_private;
	int			any_port;
	int			nports;
	int			ports[ENDPOINT_MAX_PORTS];
} EndpointPolicy;

typedef struct Endpoint
{
	/* "https://host" or "https://host:port": the VAPID aud claim */
	char		origin[ENDPOINT_MAX_LEN + 16];
	/* class of the host when it is an address literal, else ADDRESS_PUBLIC */
	AddressClass literal_class;
	int			port;
} Endpoint;

/*
 * Validate a push endpoint URL and compute its origin, under a policy (NULL:
 * the default one).
 */
extern EndpointError endpoint_parse(const char *url, size_t len,
									const EndpointPolicy *policy, Endpoint *out);

/*
 * Parse a port list ("443", "443, 8443" or "*") into policy->ports; 0 on
 * success, -1 when it is not such a list.
 */
extern int	endpoint_parse_port_list(const char *list, EndpointPolicy *policy);

/* Whether the policy (NULL: the default) allows connecting to port. */
extern int	endpoint_port_allowed(const EndpointPolicy *policy, int port);

/* A human-readable sentence for an EndpointError. */
extern const char *endpoint_error_message(EndpointError err);

/* Classify a resolved socket address (AF_INET or AF_INET6). */
extern AddressClass endpoint_address_class(const struct sockaddr *addr);

/* "loopback", "private", ...: for error messages. */
extern const char *address_class_name(AddressClass cls);

#endif							/* WEBPUSH_ENDPOINT_H */
