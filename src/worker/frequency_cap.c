/*
 * frequency_cap.c
 *		An application's frequency cap in the worker: what counts for a
 *		user (the history as the claim read it, and what this worker let
 *		through since), whether a claimed delivery fits (cap_rules.h), and
 *		what becomes of one that does not.
 */
#include "postgres.h"

#include <stdlib.h>

#include "utils/timestamp.h"

#include "queue/claim.h"
#include "queue/record.h"
#include "worker/cap_rules.h"
#include "worker/delivery.h"
#include "worker/worker_state.h"

/* Count a delivery let through under a frequency cap (worker_state.h). */
static void
remember_capped(WorkerState *w, const DeliveryRef *ref, TimestampTz now)
{
	CappedDelivery *c;

	worker_array_room((void **) &w->capped, w->ncapped, &w->capped_cap,
					  sizeof(CappedDelivery), 64);
	c = &w->capped[w->ncapped];
	strlcpy(c->application, ref->application, sizeof(c->application));
	if ((c->user_id = strdup(ref->user_id)) == NULL)
		elog(FATAL, "webpush worker: out of memory");
	c->message_id = ref->message_id;
	c->subscription_id = ref->subscription_id;
	c->at = now;
	w->ncapped++;
}

void
frequency_cap_forget(WorkerState *w, const DeliveryRef *ref)
{
	int			i;

	for (i = 0; i < w->ncapped; i++)
	{
		CappedDelivery *c = &w->capped[i];

		if (c->message_id == ref->message_id && c->subscription_id == ref->subscription_id)
		{
			free(c->user_id);
			*c = w->capped[--w->ncapped];
			return;
		}
	}
}

/*
 * The application's frequency cap, for a recipient with a user
 * (cap_rules.h): what the history counted at the claim, and what this
 * worker let through since and has not recorded yet, this claim's
 * deliveries included, so that two deliveries to one user claimed together
 * do not both pass a cap of one.  Any urgency: a cap is about how many
 * notifications a person puts up with.  A message over it is dropped (a
 * failure, not an attempt) or handed back until the window has room, its
 * TTL still counting from its due time; either says why.  True when it
 * was, with *o (its ref set already) made that outcome; one that fits is
 * counted (ref->capped) until its outcome is recorded.
 */
bool
frequency_cap_holds(WorkerState *w, const ClaimedMessage *m, DeliveryRef *ref,
					TimestampTz now, Outcome *o)
{
	CapCounted *counted;
	int			n = 0;
	int			i;
	bool		fits;
	TimestampTz room_at = 0;
	char		window[64];
	char		reason[160];

	if (m->cap_max == 0)
		return false;
	counted = palloc(sizeof(CapCounted) * (m->cap_ncounted + w->ncapped + 1));
	for (i = 0; i < m->cap_ncounted; i++)
	{
		counted[n].message_id = m->cap_messages[i];
		counted[n++].at = m->cap_times[i];
	}
	for (i = 0; i < w->ncapped; i++)
	{
		const CappedDelivery *c = &w->capped[i];

		if (strcmp(c->application, ref->application) == 0 && strcmp(c->user_id, ref->user_id) == 0)
		{
			counted[n].message_id = c->message_id;
			counted[n++].at = c->at;
		}
	}
	fits = cap_allows(counted, n, ref->message_id, m->cap_max, m->cap_window, now, &room_at);
	pfree(counted);
	if (fits)
	{
		remember_capped(w, ref, now);
		ref->capped = true;
		return false;
	}

	cap_window_text(m->cap_window, window, sizeof(window));
	if (m->cap_drop)
	{
		o->kind = OUTCOME_FAILED;
		o->rule = RULE_CAP_DROPPED;
		o->not_attempted = true;
		snprintf(reason, sizeof(reason), "frequency cap: %d per %s (dropped)", m->cap_max, window);
	}
	else
	{
		o->kind = OUTCOME_RELEASE;
		o->rule = RULE_CAP_DEFERRED;
		o->hold_until = room_at;
		snprintf(reason, sizeof(reason), "frequency cap: %d per %s (deferred until the window has room)",
				 m->cap_max, window);
	}
	if ((o->reason = strdup(reason)) == NULL)
		elog(FATAL, "webpush worker: out of memory");
	return true;
}
