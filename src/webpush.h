/*
 * webpush.h
 *		Settings (GUCs) shared by the SQL functions and the worker.
 */
#ifndef WEBPUSH_H
#define WEBPUSH_H

#include "postgres.h"

#include "endpoint.h"

/* The extension version whose tables this library's statements use. */
#define WEBPUSH_SQL_VERSION "0.4"

extern char *webpush_subject;
extern char *webpush_ca_file;
extern char *webpush_proxy;
extern bool webpush_allow_private_endpoints;
extern int	webpush_timeout_ms;
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

#endif							/* WEBPUSH_H */
