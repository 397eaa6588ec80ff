/*
 * cap_rules.c
 *		Whether a message fits under a user's frequency cap (cap_rules.h).
 */
#include "worker/cap_rules.h"

#include <stdio.h>
#include <stdlib.h>

#define USECS_PER_SECOND INT64_C(1000000)
#define USECS_PER_DAY (86400 * USECS_PER_SECOND)

/* By message, then latest first: a message's first entry is its latest. */
static int
by_message_then_latest(const void *a, const void *b)
{
	const CapCounted *x = a;
	const CapCounted *y = b;

	if (x->message_id != y->message_id)
		return x->message_id < y->message_id ? -1 : 1;
	return x->at > y->at ? -1 : (x->at < y->at ? 1 : 0);
}

static int
by_time(const void *a, const void *b)
{
	const CapCounted *x = a;
	const CapCounted *y = b;

	return x->at < y->at ? -1 : (x->at > y->at ? 1 : 0);
}

bool
cap_allows(CapCounted *counted, int n, int64_t message_id, int max,
		   CapTime window, CapTime now, CapTime *room_at)
{
	int			distinct = 0;
	int			i;

	/* One entry per message, at its latest time. */
	qsort(counted, n, sizeof(CapCounted), by_message_then_latest);
	for (i = 0; i < n; i++)
	{
		if (counted[i].message_id == message_id)
			return true;		/* counted already: it adds nothing */
		if (distinct == 0 || counted[distinct - 1].message_id != counted[i].message_id)
			counted[distinct++] = counted[i];
	}
	if (distinct < max)
		return true;

	/*
	 * distinct - max + 1 of them must leave the window for one more to fit:
	 * the oldest, by their times.
	 */
	qsort(counted, distinct, sizeof(CapCounted), by_time);
	*room_at = counted[distinct - max].at + window;
	if (*room_at <= now)
		*room_at = now + USECS_PER_SECOND;	/* the count lags: look again soon */
	return false;
}

void
cap_window_text(CapTime window, char *out, int outlen)
{
	int64_t		days = window / USECS_PER_DAY;
	int64_t		secs = window % USECS_PER_DAY / USECS_PER_SECOND;

	if (days > 0 && secs == 0)
		snprintf(out, outlen, "%lld day%s", (long long) days, days == 1 ? "" : "s");
	else if (days > 0)
		snprintf(out, outlen, "%lld day%s %02lld:%02lld:%02lld", (long long) days,
				 days == 1 ? "" : "s", (long long) (secs / 3600),
				 (long long) (secs / 60 % 60), (long long) (secs % 60));
	else
		snprintf(out, outlen, "%02lld:%02lld:%02lld", (long long) (secs / 3600),
				 (long long) (secs / 60 % 60), (long long) (secs % 60));
}
