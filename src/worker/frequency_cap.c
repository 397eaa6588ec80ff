/*
 * frequency_cap.c
 *		An application's frequency cap in the worker: what counts for a
 *		user (the history as the claim read it, and what every worker let
 *		through and has not recorded: shmem/cap_holds.h), whether a claimed
 *		delivery fits (cap_rules.h), and what becomes of one that does not.
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "queue/claim.h"
#include "queue/record.h"
#include "shmem/cap_holds.h"
#include "worker/cap_rules.h"
#include "worker/delivery.h"
#include "worker/worker_state.h"

/*
 * A delivery the holds cannot count for (no room, or a claim older than
 * what they still know): handed back, to be claimed and counted again.
 */
#define CAP_RECOUNT_MS 1000

void
frequency_cap_forget(const Outcome *o)
{
	cap_holds_recorded(cap_holds_user(o->ref.application, o->ref.user_id),
					   o->ref.message_id, o->ref.subscription_id,
					   o->kind == OUTCOME_DELIVERED);
}

/*
 * Count the user's holds under the lock, and take one for the delivery
 * when it fits: one step, so that no other worker's decision comes between.
 * Returns CAP_BOOK_UNSURE when the holds cannot count for this claim or
 * have no room for the delivery, else whether it fits (with *room_at set
 * when not).  Nothing is allocated under the lock: when the user's holds
 * outnumber the room made for them, more is made and they are counted
 * again.
 */
static int
count_and_take(WorkerState *w, const ClaimedMessage *m, const DeliveryRef *ref,
			   TimestampTz now, TimestampTz *room_at)
{
	uint64		user = cap_holds_user(ref->application, ref->user_id);
	int			room = 16;
	int			nheld;
	int			i;
	int			result;
	CapBookCounted *held = palloc(sizeof(CapBookCounted) * room);
	CapCounted *counted;

	for (;;)
	{
		counted = palloc(sizeof(CapCounted) * (m->cap_ncounted + room));
		cap_holds_lock();
		nheld = cap_holds_count(user, w->cap_epoch, now, held, room);
		if (nheld <= room)
			break;
		cap_holds_unlock();
		pfree(counted);
		room = nheld;
		held = repalloc(held, sizeof(CapBookCounted) * room);
	}
	if (nheld == CAP_BOOK_UNSURE)
		result = CAP_BOOK_UNSURE;
	else
	{
		for (i = 0; i < m->cap_ncounted; i++)
		{
			counted[i].message_id = m->cap_messages[i];
			counted[i].at = m->cap_times[i];
		}
		for (i = 0; i < nheld; i++)
		{
			counted[m->cap_ncounted + i].message_id = held[i].message_id;
			counted[m->cap_ncounted + i].at = held[i].at;
		}
		result = cap_allows(counted, m->cap_ncounted + nheld, ref->message_id,
							m->cap_max, m->cap_window, now, room_at);
		if (result && !cap_holds_take(user, ref->message_id, ref->subscription_id, now))
			result = CAP_BOOK_UNSURE;
	}
	cap_holds_unlock();
	pfree(counted);
	pfree(held);
	return result;
}

/*
 * The application's frequency cap, for a recipient with a user
 * (cap_rules.h): what the history counted at the claim, and what every
 * worker let through and has not recorded, this claim's deliveries
 * included, so that two deliveries to one user do not both pass a cap of
 * one, whichever workers claimed them.  Any urgency: a cap is about how
 * many notifications a person puts up with.  A message over it is dropped
 * (a failure, not an attempt) or handed back until the window has room,
 * its TTL still counting from its due time; either says why.  True when
 * it was, with *o (its ref set already) made that outcome; one that fits
 * holds its place (ref->capped) until its outcome is recorded.
 */
bool
frequency_cap_holds(WorkerState *w, const ClaimedMessage *m, DeliveryRef *ref,
					TimestampTz now, Outcome *o)
{
	int			fits;
	TimestampTz room_at = 0;
	char		window[64];
	char		reason[160];

	if (m->cap_max == 0)
		return false;
	fits = count_and_take(w, m, ref, now, &room_at);
	if (fits == CAP_BOOK_UNSURE)
	{
		/* Not over the cap, as far as anyone knows: no rule's outcome. */
		o->kind = OUTCOME_RELEASE;
		o->retry_delay_ms = CAP_RECOUNT_MS;
		return true;
	}
	if (fits)
	{
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
