/*
 * host_rules.h
 *		Which push-service host may start a request now, and what becomes
 *		of a request when it may not.  Plain C with the clock passed in: the
 *		worker keeps the facts (worker.c), these functions decide, and
 *		test/unit checks them case by case.
 *
 * Anyone who can store a subscription chooses the host its notifications go
 * to, and a host that accepts requests and never answers holds each of them
 * for webpush.timeout.  Limits per host alone do not help against several
 * such hosts, so the worker sorts hosts by what they did:
 *
 * - A host is answering when the last of its requests that finished got an
 *   HTTP answer, and it is not stalled.
 * - A host is stalled when it has requests in flight and has finished none
 *   for HOST_STALL_MS.
 * - Every other host is quiet: one not heard from yet, one whose last
 *   request ended without an answer (timed out, connection failed), and a
 *   stalled one.
 *
 * Each host holds at most webpush.max_in_flight_per_host.  Quiet hosts
 * together hold at most host_quiet_share() (half of webpush.max_in_flight),
 * and beyond that a quiet host with nothing in flight may start one
 * request, up to host_probe_share() more in all: a push service the worker
 * has not heard from yet gets its first answer, and from then on it is
 * answering.  The rest of the room is only for answering hosts, so hosts
 * that do not answer cannot make one that does wait for their requests to
 * time out.  (A host that answered and then stops keeps what it was given
 * while it answered, up to its own limit: the share is decided when a
 * request starts.)
 *
 * A request whose host cannot take it now waits, built and signed, when its
 * host will soon have room (it is answering, or it is the only quiet host
 * holding requests, whose first answers are awaited); otherwise it goes
 * back to the queue, unsent and with no attempt counted: for HOST_STALL_MS
 * when its host's first answers are awaited, and for webpush.timeout when
 * it waits for requests that are not being answered to time out.  What
 * went back for webpush.timeout is due again sooner when the reason for
 * waiting ends: the stalled host answers again (stall_released), or a quiet
 * host's request finishes and so makes room in the quiet share
 * (room_released); the worker then makes it due at once.
 */
#ifndef WEBPUSH_HOST_RULES_H
#define WEBPUSH_HOST_RULES_H

#include <stdbool.h>
#include <stdint.h>

/* Microseconds, as PostgreSQL's TimestampTz counts them. */
typedef int64_t HostTime;

#define HOST_STALL_MS 1000

/* What the rules know of one host. */
typedef struct HostFacts
{
	int			in_flight;
	HostTime	last_progress;	/* last finish, or first start after idle */
	bool		answered;		/* its last finished request got an answer */
	int			nparked;		/* requests waiting for it, built */
	bool		stall_released; /* deliveries went back for webpush.timeout
								 * while it looked stalled */
	bool		room_released;	/* deliveries went back for webpush.timeout
								 * while quiet hosts held their share */
} HostFacts;

/* What they know of the worker's room, over all hosts. */
typedef struct HostRoom
{
	int			max_in_flight;	/* webpush.max_in_flight */
	int			max_in_flight_per_host; /* webpush.max_in_flight_per_host */
	long		timeout_ms;		/* webpush.timeout */
	int			quiet_in_flight;	/* held by quiet hosts now */
	HostTime	collected_at;	/* when answers were last collected */
	bool		room_released;	/* some host has room_released set */
} HostRoom;

/* What quiet hosts may hold together, and beyond it for first requests. */
extern int	host_quiet_share(const HostRoom *room);
extern int	host_probe_share(const HostRoom *room);

extern bool host_stalled(const HostFacts *host, const HostRoom *room, HostTime now);
extern bool host_answering(const HostFacts *host, const HostRoom *room, HostTime now);

/* What of its requests in flight counts against the quiet share. */
extern int	host_quiet_in_flight(const HostFacts *host, const HostRoom *room, HostTime now);

/*
 * May a request to host go on the wire now, with total_in_flight requests
 * in flight to all hosts?
 */
extern bool host_may_start(const HostFacts *host, const HostRoom *room,
						   int total_in_flight, HostTime now);

/*
 * For a request its host cannot start now: may it wait, parked, for room
 * that its host will soon have?  When not, *delay_ms says when it is worth
 * claiming again, and the host (and the room) note what went back, for an
 * earlier release.
 */
extern bool host_may_wait(HostFacts *host, HostRoom *room, HostTime now, double *delay_ms);

/* Milliseconds until a host with requests in flight would look stalled. */
extern long host_ms_until_stall(const HostFacts *host, HostTime now);

#endif							/* WEBPUSH_HOST_RULES_H */
