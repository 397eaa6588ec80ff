/*
 * settings.c
 *		The settings (GUCs): their variables, their checks, and their
 *		definition when the library loads.
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "crypto/vapid.h"
#include "http/endpoint.h"
#include "support/compat.h"
#include "settings.h"

char	   *webpush_subject = NULL;
char	   *webpush_ca_file = NULL;
char	   *webpush_proxy = NULL;
bool		webpush_allow_private_endpoints = false;
int			webpush_timeout_ms = 30000;
int			webpush_http_idle_timeout_ms = 300000;
char	   *webpush_database_names = NULL;
int			webpush_workers = 1;
int			webpush_max_attempts = 10;
int			webpush_batch_size = 500;
int			webpush_max_in_flight = 200;
int			webpush_history_retention_s = 7 * 24 * 3600;
int			webpush_max_in_flight_per_host = 100;
int			webpush_max_queued_per_role = 0;
char	   *webpush_allowed_ports = NULL;

char	   *webpush_payload_limits_text = NULL;
/* webpush.payload_limits, parsed. */
PayloadLimits webpush_payload_limits;
char	   *webpush_host_rates_text = NULL;
/* webpush.host_rates, parsed. */
HostRates	webpush_host_rates;

/* allow_private_endpoints and allowed_ports, as endpoint.c takes them. */
EndpointPolicy webpush_endpoint_policy = {0, 0, 1, {443}};


static bool
check_subject(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;
	const char *problem;

	(void) extra;
	(void) source;
	if (s == NULL || s[0] == '\0')
		return true;
	if ((problem = vapid_subject_problem(s)) == NULL)
		return true;
	GUC_check_errdetail("%s", problem);
	GUC_check_errhint("Give a contact at your own domain, such as mailto:admin@example.com.");
	return false;
}

static bool
check_proxy(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;

	(void) extra;
	(void) source;
	if (s == NULL || s[0] == '\0' ||
		(strncmp(s, "http://", 7) == 0 && s[7] != '\0') ||
		(strncmp(s, "https://", 8) == 0 && s[8] != '\0'))
		return true;
	GUC_check_errdetail("webpush.proxy must be an http:// or https:// URL of an HTTP CONNECT proxy, or empty.");
	return false;
}

static void
assign_allow_private(bool newval, void *extra)
{
	(void) extra;
	webpush_endpoint_policy.allow_private = newval;
}

static bool
check_allowed_ports(char **newval, void **extra, GucSource source)
{
	EndpointPolicy parsed;
	EndpointPolicy *copy;

	(void) source;
	if (*newval == NULL || endpoint_parse_port_list(*newval, &parsed) != 0)
	{
		GUC_check_errdetail("webpush.allowed_ports must be a comma-separated list of at most %d port numbers, or *.",
							ENDPOINT_MAX_PORTS);
		return false;
	}
	copy = webpush_guc_malloc(sizeof(EndpointPolicy));
	if (copy == NULL)
		return false;
	*copy = parsed;
	*extra = copy;
	return true;
}

static void
assign_allowed_ports(const char *newval, void *extra)
{
	const EndpointPolicy *parsed = extra;

	(void) newval;
	webpush_endpoint_policy.any_port = parsed->any_port;
	webpush_endpoint_policy.nports = parsed->nports;
	memcpy(webpush_endpoint_policy.ports, parsed->ports, sizeof(parsed->ports));
}

/*
 * A host-keyed setting parsed (problem NULL) or not: its parsed form is the
 * GUC's extra, else the check fails with the parser's sentence and hint.
 */
static bool
host_setting_checked(const char *name, const char *problem, const char *hint,
					 const void *parsed, size_t size, void **extra)
{
	void	   *copy;

	if (problem != NULL)
	{
		GUC_check_errdetail("%s: %s.", name, problem);
		GUC_check_errhint("%s", hint);
		return false;
	}
	copy = webpush_guc_malloc(size);
	if (copy == NULL)
		return false;
	memcpy(copy, parsed, size);
	*extra = copy;
	return true;
}

static bool
check_payload_limits(char **newval, void **extra, GucSource source)
{
	PayloadLimits parsed;

	(void) source;
	if (*newval == NULL)
		return true;
	return host_setting_checked("webpush.payload_limits", payload_limits_parse(*newval, &parsed),
								"For example: updates.push.services.mozilla.com=3070",
								&parsed, sizeof(parsed), extra);
}

static bool
check_host_rates(char **newval, void **extra, GucSource source)
{
	HostRates	parsed;

	(void) source;
	if (*newval == NULL)
		return true;
	return host_setting_checked("webpush.host_rates", host_rates_parse(*newval, &parsed),
								"Each entry is host=rate or host=rate/burst, in requests per second; for example: fcm.googleapis.com=1000/2000, *.notify.windows.com=50",
								&parsed, sizeof(parsed), extra);
}

static void
assign_host_rates(const char *newval, void *extra)
{
	(void) newval;
	if (extra != NULL)
		webpush_host_rates = *(const HostRates *) extra;
	else
		webpush_host_rates.n = 0;
}

static void
assign_payload_limits(const char *newval, void *extra)
{
	(void) newval;
	if (extra != NULL)
		webpush_payload_limits = *(const PayloadLimits *) extra;
	else
		webpush_payload_limits.n = 0;
}

bool
settings_database_served(const char *dbname)
{
	char	   *names;
	List	   *list = NIL;
	ListCell   *lc;
	bool		allowed = false;

	if (webpush_database_names == NULL || webpush_database_names[0] == '\0')
		return true;
	names = pstrdup(webpush_database_names);
	if (!SplitIdentifierString(names, ',', &list))
		return false;
	foreach(lc, list)
		if (strcmp(lfirst(lc), dbname) == 0)
			allowed = true;
	list_free(list);
	pfree(names);
	return allowed;
}

void
settings_define(void)
{
	/*
	 * Superusers only: it becomes the "default" application's contact when
	 * that is made, whoever's call makes it.
	 */
	DefineCustomStringVariable("webpush.subject",
							   "Contact for the application server (VAPID \"sub\"): a mailto: address or https: URL.",
							   "Push services use it to reach the sender; Apple rejects mailto: addresses at localhost.",
							   &webpush_subject,
							   "",
							   PGC_SUSET,
							   0,
							   check_subject, NULL, NULL);

	DefineCustomStringVariable("webpush.ca_file",
							   "Extra CA bundle (PEM file) trusted when connecting to push services.",
							   "Empty means the system's trust store only.",
							   &webpush_ca_file,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("webpush.proxy",
							   "HTTP CONNECT proxy for every connection to a push service, e.g. http://proxy.internal:3128.",
							   "Empty: connect directly. Proxy variables in the server's environment are never used.",
							   &webpush_proxy,
							   "",
							   PGC_SUSET,
							   0,
							   check_proxy, NULL, NULL);

	DefineCustomBoolVariable("webpush.allow_private_endpoints",
							 "Allows push endpoints on loopback, private and other non-public addresses.",
							 "Checked when connecting, so DNS cannot get around it. Only for tests and private push services.",
							 &webpush_allow_private_endpoints,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, assign_allow_private, NULL);

	DefineCustomStringVariable("webpush.allowed_ports",
							   "Ports push endpoints may use: a comma-separated list, or * for any.",
							   "Every push service listens on 443; other ports are for tests and private push services.",
							   &webpush_allowed_ports,
							   "443",
							   PGC_SUSET,
							   0,
							   check_allowed_ports, assign_allowed_ports, NULL);

	DefineCustomIntVariable("webpush.timeout",
							"Time limit for one request to a push service, connecting included.",
							NULL,
							&webpush_timeout_ms,
							30000, 100, 600000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webpush.http_idle_timeout",
							"Time after which a connection to a push service with no request on it is closed.",
							"A connection quiet for 30 s, or half this time when that is shorter, is checked with an HTTP/2 PING before the next request goes on it.",
							&webpush_http_idle_timeout_ms,
							300000, 1000, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webpush.max_attempts",
							"Delivery attempts before a notification is recorded as failed.",
							"Retries follow 5xx answers, timeouts, connection errors and 429.",
							&webpush_max_attempts,
							10, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webpush.batch_size",
							"Notifications a worker claims from the queue in one transaction.",
							NULL,
							&webpush_batch_size,
							500, 1, 100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webpush.max_in_flight",
							"Requests a worker keeps in flight at once, over all push services.",
							NULL,
							&webpush_max_in_flight,
							200, 1, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webpush.max_in_flight_per_host",
							"Requests a worker keeps in flight at once to one push service host.",
							"A host that stops answering holds at most this many of webpush.max_in_flight; the others keep the rest.",
							&webpush_max_in_flight_per_host,
							100, 1, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webpush.max_queued_per_role",
							"Notifications one role may have waiting in the queue; 0 for no limit.",
							"Set it for a role with ALTER ROLE ... SET, or for everyone in postgresql.conf.",
							&webpush_max_queued_per_role,
							0, 0, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webpush.history_retention",
							"How long outcomes stay in webpush.history.",
							NULL,
							&webpush_history_retention_s,
							7 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("webpush.payload_limits",
							   "Limits on a request's body below 4096 bytes, by push service host: host=bytes, *.domain=bytes, ...",
							   "A notification whose encrypted body is larger fails for that host, with the reason in webpush.history.",
							   &webpush_payload_limits_text,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_payload_limits, assign_payload_limits, NULL);

	DefineCustomStringVariable("webpush.host_rates",
							   "Requests per second a push service host is sent at most, with a burst: host=rate/burst, *.domain=rate, ...",
							   "The workers of a database keep each rate together.  A host that answers 429 or 406 with Retry-After is sent nothing until then, and then half its rate, back to the full rate over 10 s.",
							   &webpush_host_rates_text,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_host_rates, assign_host_rates, NULL);

	/*
	 * Workers, their shared memory and the settings that size them exist
	 * only when preloaded: restart-only settings cannot be defined in a
	 * backend that loads the library on demand.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("webpush.database_name",
								   "Restricts the background workers to these databases (comma-separated); empty for all.",
								   "Without it, every database where the extension is installed gets webpush.workers workers.",
								   &webpush_database_names,
								   "",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);

		DefineCustomIntVariable("webpush.workers",
								"Background workers per database with the extension, draining the queue in parallel.",
								NULL,
								&webpush_workers,
								1, 1, 16,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
	}

	webpush_reserve_guc_prefix("webpush");
}

