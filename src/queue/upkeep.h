/*
 * upkeep.h
 *		The worker's upkeep of the queue: orphaned deliveries handed back,
 *		the history purged, the queue's gauges counted.
 */
#ifndef WEBPUSH_QUEUE_UPKEEP_H
#define WEBPUSH_QUEUE_UPKEEP_H

#include "postgres.h"

#include "shmem/counters.h"

/*
 * Hand back deliveries claimed by workers that no longer run and, when
 * including_own, by this one: a worker that holds no delivery (nothing in
 * flight, waiting for room or to be recorded) and still has rows claimed
 * lost track of them (another session changed their key).
 */
extern int64 queue_reclaim_orphans(bool including_own);

/* History rows (and messages) one purge removes at most: bounded work per turn. */
#define QUEUE_PURGE_BATCH 10000

/*
 * Remove history older than retention_s seconds, and the messages of that
 * age with nothing left to send, at most QUEUE_PURGE_BATCH rows of each,
 * and the recalls finished that long ago; returns how many history rows
 * (QUEUE_PURGE_BATCH: there may be more).
 */
extern int64 queue_purge_history(int retention_s);

/*
 * Count the queue's gauges by application and host (counters.h), allocated
 * in the caller's memory context; returns how many rows, and in *cost_ms
 * how long the count took (planning aside).
 */
extern int	queue_count_gauges(GaugeRow **out, double *cost_ms);

#endif							/* WEBPUSH_QUEUE_UPKEEP_H */
