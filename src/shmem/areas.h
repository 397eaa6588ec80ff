/*
 * areas.h
 *		One pair of shared memory hooks for the areas that ask for it: each
 *		says how to request its memory and locks, and how to attach to them
 *		(ShmemInitStruct, ShmemInitHash, GetNamedLWLockTranche), and the
 *		hooks call them in turn.
 *
 * Register from _PG_init when preloaded.  The request runs from
 * shmem_request_hook from PostgreSQL 15 on, straight away before; attach
 * runs in shmem_startup_hook with AddinShmemInitLock held.
 */
#ifndef WEBPUSH_SHMEM_AREAS_H
#define WEBPUSH_SHMEM_AREAS_H

#include "postgres.h"

typedef void (*ShmemAreaFn) (void);

extern void shmem_area_register(ShmemAreaFn request, ShmemAreaFn attach);

#endif							/* WEBPUSH_SHMEM_AREAS_H */
