/*
 * webpush.h
 *		Settings (GUCs) shared by the SQL functions and the worker.
 */
#ifndef WEBPUSH_H
#define WEBPUSH_H

#include "postgres.h"

extern char *webpush_subject;
extern char *webpush_ca_file;
extern bool webpush_allow_private_endpoints;
extern int	webpush_timeout_ms;

/* Error unless webpush.subject is set; returns it. */
extern const char *webpush_require_subject(void);

#endif							/* WEBPUSH_H */
