/*
 * settings.h
 *		The settings (GUCs), read by the SQL functions, the queue and the
 *		worker; settings.c defines them.
 */
#ifndef WEBPUSH_SETTINGS_H
#define WEBPUSH_SETTINGS_H

#include "postgres.h"

#include "http/endpoint.h"
#include "push/host_rates.h"
#include "push/payload_limits.h"

/* The extension version whose tables this library's statements use. */
#define WEBPUSH_SQL_VERSION "0.4"

extern char *webpush_subject;
extern char *webpush_ca_file;
extern char *webpush_proxy;
extern bool webpush_allow_private_endpoints;
extern int	webpush_timeout_ms;
extern int	webpush_http_idle_timeout_ms;
extern char *webpush_database_names;
extern int	webpush_workers;
extern int	webpush_max_attempts;
extern int	webpush_batch_size;
extern int	webpush_max_in_flight;
extern int	webpush_history_retention_s;
extern int	webpush_max_in_flight_per_host;
extern int	webpush_max_queued_per_role;
extern char *webpush_allowed_ports;
extern EndpointPolicy webpush_endpoint_policy;
extern char *webpush_payload_limits_text;
extern PayloadLimits webpush_payload_limits;
extern char *webpush_host_rates_text;
extern HostRates webpush_host_rates;

/* Define the settings (from _PG_init). */
extern void settings_define(void);

/* Does webpush.database_name (empty: every database) include dbname? */
extern bool settings_database_served(const char *dbname);

#endif							/* WEBPUSH_SETTINGS_H */
