/*
 * ddl_hook.h
 *		The utility hook that keeps the workers in step with CREATE, ALTER
 *		and DROP EXTENSION webpush, and with DROP DATABASE.
 */
#ifndef WEBPUSH_DDL_HOOK_H
#define WEBPUSH_DDL_HOOK_H

/* Install the hook; from _PG_init when preloaded. */
extern void ddl_hook_install(void);

#endif							/* WEBPUSH_DDL_HOOK_H */
