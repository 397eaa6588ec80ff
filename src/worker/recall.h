/*
 * recall.h
 *		The worker's recalls: the DELETE of a push message resource that a
 *		cancel queued (webpush.recalls), sent beside the deliveries, and the
 *		Location of a delivered message kept for it.
 *
 * Recalls run in a short transaction of their own, so that nothing they do
 * fails or holds up the deliveries' turn, and share the HTTP client (its
 * connections, per origin, and its address policy).  A few are in flight at
 * most.
 */
#ifndef WEBPUSH_WORKER_RECALL_H
#define WEBPUSH_WORKER_RECALL_H

#include "worker/worker_state.h"

/*
 * A delivered request's Location, malloc'd, when it is a push message
 * resource a cancel may DELETE (push_location_usable: https, on the
 * endpoint's origin); else NULL.
 */
extern char *recall_location(const HttpRequest *req, const char *origin);

/*
 * A COMMIT woke the worker, perhaps a cancel's: a look for due recalls
 * follows soon.  Only wake-ups lead to looks (and due times, and a look a
 * minute): a worker busy with deliveries looks no more often for them.
 */
extern void recall_note_wakeup(WorkerState *w);

/*
 * Step: record the answers of finished recalls, claim due ones and start
 * them.  Returns when the step has something to do next (0: only when
 * woken, or when a recall's answer comes).
 */
extern TimestampTz recall_turn(WorkerState *w);

/* A finished request that is a recall: judged and freed (true); else false. */
extern bool recall_collect(WorkerState *w, HttpRequest *done);

#endif							/* WEBPUSH_WORKER_RECALL_H */
