/*
 * worker.h
 *		The background worker that drains webpush.queue.
 */
#ifndef WEBPUSH_WORKER_H
#define WEBPUSH_WORKER_H

#include "postgres.h"

/* Register one worker per database and per webpush.workers; from _PG_init. */
extern void worker_register_all(void);

extern PGDLLEXPORT void webpush_worker_main(Datum arg);

#endif							/* WEBPUSH_WORKER_H */
