/*
 * worker.h
 *		The background worker that drains webpush.queue of one database; the
 *		launcher (launcher.h) starts it.
 */
#ifndef WEBPUSH_WORKER_H
#define WEBPUSH_WORKER_H

#include "postgres.h"

extern PGDLLEXPORT void webpush_worker_main(Datum arg);

#endif							/* WEBPUSH_WORKER_H */
