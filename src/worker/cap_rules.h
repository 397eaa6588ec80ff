/*
 * cap_rules.h
 *		An application's frequency cap: whether one more message may go to
 *		a user, and when it may once it may not.  Plain C with the clock
 *		passed in: the worker gathers what counts (frequency_cap.c), this
 *		decides, and test/unit checks it case by case.
 *
 * What counts against a user's cap of max messages per window: each
 * message delivered to any of the user's subscriptions in the application
 * within the last window (the history), and each one any worker has let
 * through and not yet recorded (in flight, or waiting for its host:
 * shmem/cap_holds.h).  A message counts once however many of the user's
 * devices it reaches, so a delivery of a message that counts already
 * always fits.
 */
#ifndef WEBPUSH_CAP_RULES_H
#define WEBPUSH_CAP_RULES_H

#include <stdbool.h>
#include <stdint.h>

/* Microseconds, as PostgreSQL's TimestampTz counts them. */
typedef int64_t CapTime;

/* One message counted against a user's cap, and when it last reached them. */
typedef struct CapCounted
{
	int64_t		message_id;
	CapTime		at;
} CapCounted;

/*
 * Whether message_id may go to a user for whom counted[0..n) count (a
 * message may appear more than once: it counts once, at its latest time;
 * the array is sorted in place).  True when the message counts already or
 * fewer than max messages count.  False when over the cap: then *room_at
 * is when the window has room for it, the moment the oldest messages that
 * leave room have been in it for window microseconds (never before now).
 */
extern bool cap_allows(CapCounted *counted, int n, int64_t message_id, int max,
					   CapTime window, CapTime now, CapTime *room_at);

/*
 * The window as the reason says it: "01:00:00", "1 day", "2 days 00:30:00"
 * (as PostgreSQL shows an interval), into out.
 */
extern void cap_window_text(CapTime window, char *out, int outlen);

#endif							/* WEBPUSH_CAP_RULES_H */
