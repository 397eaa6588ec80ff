/*
 * cap_counts.h
 *		What the worker counts for the frequency caps of the deliveries it
 *		claimed (the rules are worker/cap_rules.h).
 */
#ifndef WEBPUSH_QUEUE_CAP_COUNTS_H
#define WEBPUSH_QUEUE_CAP_COUNTS_H

#include "postgres.h"

#include "queue/claim.h"

/*
 * For each of claimed[0..n) with a cap (cap_max > 0), what the history
 * holds of the last window of its user: the messages delivered to them,
 * each with its last delivery, oldest first (cap_ncounted, cap_messages,
 * cap_times, allocated in caller).  One statement, and only when some are
 * capped; SPI is connected.
 */
extern void queue_count_capped(MemoryContext caller, ClaimedMessage *claimed, int n);

#endif							/* WEBPUSH_QUEUE_CAP_COUNTS_H */
