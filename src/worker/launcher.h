/*
 * launcher.h
 *		The launcher: one background worker that starts a delivery worker
 *		for every database where the extension is installed.
 *
 * At server start it starts a worker in each database that accepts
 * connections; a worker that finds no extension there says so and exits,
 * and the launcher waits until a CREATE EXTENSION (or ALTER EXTENSION
 * UPDATE) in that database asks again at COMMIT.  Workers that fail are
 * restarted; workers of a database being dropped stay off.  The workers
 * outlive a launcher that exits (pg_terminate_backend, an error): the
 * postmaster starts a new one, which adopts them, so that each database
 * keeps exactly one worker per webpush.workers.
 */
#ifndef WEBPUSH_LAUNCHER_H
#define WEBPUSH_LAUNCHER_H

#include "postgres.h"

/* Register the launcher and reserve shared memory; from _PG_init. */
extern void launcher_register(void);

extern PGDLLEXPORT void webpush_launcher_main(Datum arg);

#endif							/* WEBPUSH_LAUNCHER_H */
