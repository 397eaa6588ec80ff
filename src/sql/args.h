/*
 * args.h
 *		Argument helpers shared by the SQL-callable wrappers.
 */
#ifndef WEBPUSH_SQL_ARGS_H
#define WEBPUSH_SQL_ARGS_H

#include "postgres.h"

#include "fmgr.h"

#include "crypto/p256.h"

/*
 * Argument n was passed and is not NULL.  A library newer than the
 * extension's SQL definitions (before ALTER EXTENSION UPDATE) is called
 * with fewer arguments than it knows of: those count as not passed.
 */
#define ARG_GIVEN(n) (PG_NARGS() > (n) && !PG_ARGISNULL(n))

/*
 * Argument n, an application name: "default" when not passed at all (see
 * ARG_GIVEN), an error when NULL or invalid.
 */
extern char *application_arg(FunctionCallInfo fcinfo, int n);

/* base64url text of a 65-byte uncompressed P-256 point, or an ERROR. */
extern void public_key_arg(text *arg, const char *name, uint8 out[P256_PUBLIC_LEN]);

/* A public key as base64url text. */
extern text *public_key_text(const uint8 public_key[P256_PUBLIC_LEN]);

/*
 * fn(fcinfo), with any error it raises kept out of the server log's
 * STATEMENT and CONTEXT lines: for the functions that take a private key,
 * whose statement holds it.  One mechanism for the whole call, so that no
 * error path (a bad application name, a lookup, an out-of-memory) can
 * forget it.
 */
extern Datum call_hiding_statement(PGFunction fn, FunctionCallInfo fcinfo);

/*
 * Argument n, an application the calling role must be allowed to use
 * (application_arg, then app_require_use).
 */
extern char *used_application_arg(FunctionCallInfo fcinfo, int n);

/*
 * fn(fcinfo) as the role that owns the function being called, for the role
 * that called it (app_caller()): what SECURITY DEFINER gives, except that
 * the caller's rights stay known.  Every SQL function that touches the
 * extension's tables is such a wrapper; its SET search_path clause pins
 * the path, or, for webpush_send_user, which a row trigger calls for every
 * row, run_with_search_path_pinned around what needs it.
 */
extern Datum call_for_caller(PGFunction fn, FunctionCallInfo fcinfo);

/*
 * Call fn(arg) as the role that owns the function being called, for the
 * current role, with search_path pinned to pg_catalog, pg_temp: what
 * call_for_caller and SET search_path give a whole function, for one that
 * needs them only on some calls (webpush_notify).
 */
extern void run_as_function_owner(FunctionCallInfo fcinfo, void (*fn) (void *), void *arg);

/*
 * fn(arg) with search_path pinned to pg_catalog, pg_temp: what a SET
 * search_path clause gives, for the part of a function without one that
 * runs a statement, or an insert that may run what a DBA added to the
 * tables.
 */
extern void run_with_search_path_pinned(void (*fn) (void *), void *arg);

#endif							/* WEBPUSH_SQL_ARGS_H */
