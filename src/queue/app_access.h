/*
 * app_access.h
 *		Which roles may use an application: webpush.application_roles.
 *
 * A role may subscribe, send, cancel and see messages in an application
 * when it has the privileges of a role granted that application (or is a
 * superuser); an owner may also grant it to others and change its subject.
 * The role checked is the one that called the SQL function: its current
 * user, as PostgreSQL checks EXECUTE (a SECURITY DEFINER caller's owner, a
 * table's owner in maintenance, the role that fires a trigger).  The
 * functions run as the extension's owner and remember that role
 * (call_for_caller); webpush.max_queued_per_role counts against it too.
 */
#ifndef WEBPUSH_APP_ACCESS_H
#define WEBPUSH_APP_ACCESS_H

#include "postgres.h"

/* The role whose rights the SQL functions check. */
extern Oid	app_caller(void);

/* Set the role a function runs for (InvalidOid: none); returns the last. */
extern Oid	app_set_caller(Oid role);

/*
 * Error unless the calling role may use the application.  Cached per
 * backend until webpush.application_roles or a role membership changes, so
 * that a row trigger pays for it once.
 */
extern void app_require_use(const char *app);

/* The same for another role (a trigger's table owner). */
extern void app_require_use_by(const char *app, Oid role);

/* Whether role may use the application (superusers always may). */
extern bool app_may_use(const char *app, Oid role);

/* Error unless the calling role owns the application (or is a superuser). */
extern void app_require_owner(const char *app);

/* Whether role itself (not through membership) owns the application. */
extern bool app_role_is_owner(const char *app, Oid role);

/*
 * Grant the application to role (as an owner when owner); an existing
 * grant takes the new owner flag.  The caller has checked the right to.
 */
extern void app_grant(const char *app, Oid role, bool owner);

/* Revoke it; false when role had no grant. */
extern bool app_revoke(const char *app, Oid role);

/* Forget every cached answer (webpush.application_roles changed). */
extern void app_access_forget(void);

#endif							/* WEBPUSH_APP_ACCESS_H */
