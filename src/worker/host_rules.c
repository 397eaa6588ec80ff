/*
 * host_rules.c
 *		Which push-service host may start a request now (host_rules.h).
 */
#include "worker/host_rules.h"

#define USECS_PER_MS 1000

int
host_quiet_share(const HostRoom *room)
{
	return room->max_in_flight / 2 > 1 ? room->max_in_flight / 2 : 1;
}

int
host_probe_share(const HostRoom *room)
{
	return room->max_in_flight / 10 > 1 ? room->max_in_flight / 10 : 1;
}

/*
 * A host's answers are seen only when the worker collects them, so its
 * silence is measured up to the last collection: a worker busy with a large
 * claim, or short of CPU, must not take its own delay for the host's.
 */
bool
host_stalled(const HostFacts *host, const HostRoom *room, HostTime now)
{
	HostTime	seen = now < room->collected_at ? now : room->collected_at;

	return host->in_flight > 0 &&
		seen - host->last_progress >= (HostTime) HOST_STALL_MS * USECS_PER_MS;
}

bool
host_answering(const HostFacts *host, const HostRoom *room, HostTime now)
{
	return host->answered && !host_stalled(host, room, now);
}

int
host_quiet_in_flight(const HostFacts *host, const HostRoom *room, HostTime now)
{
	return host_answering(host, room, now) ? 0 : host->in_flight;
}

bool
host_may_start(const HostFacts *host, const HostRoom *room, int total_in_flight,
			   HostTime now)
{
	if (host->in_flight >= room->max_in_flight_per_host ||
		total_in_flight >= room->max_in_flight)
		return false;
	if (host_answering(host, room, now) || room->quiet_in_flight < host_quiet_share(room))
		return true;
	return host->in_flight == 0 &&
		room->quiet_in_flight < host_quiet_share(room) + host_probe_share(room);
}

bool
host_may_wait(HostFacts *host, HostRoom *room, HostTime now, double *delay_ms)
{
	if (host_stalled(host, room, now))
	{
		/*
		 * Back when its requests in flight have timed out, or as soon as it
		 * answers again.  A stall is a second without an answer, and a push
		 * service (or a worker short of CPU) can pause that long under load.
		 */
		*delay_ms = room->timeout_ms;
		host->stall_released = true;
		return false;
	}
	if (host_answering(host, room, now))
		return true;

	/*
	 * Quiet, with its first requests out: it answers or stalls within a
	 * second.  Parked requests take room from the next claim, so only the
	 * one quiet host holding requests parks (a push service the worker has
	 * just started to use gets its whole burst once it answers); with more,
	 * parking one after the other, hosts that answer would wait a second
	 * for each.
	 */
	if (host->in_flight > 0)
	{
		if (room->quiet_in_flight == host->in_flight)
			return true;
		*delay_ms = HOST_STALL_MS;
		return false;
	}

	/*
	 * Quiet hosts fill their share: room comes when one of their requests
	 * finishes, or else as their requests time out.
	 */
	*delay_ms = room->timeout_ms;
	host->room_released = true;
	room->room_released = true;
	return false;
}

long
host_ms_until_stall(const HostFacts *host, HostTime now)
{
	HostTime	stall_at = host->last_progress + (HostTime) (HOST_STALL_MS + 1) * USECS_PER_MS;

	if (stall_at <= now)
		return 1;
	return (long) ((stall_at - now) / USECS_PER_MS) + 1;
}
