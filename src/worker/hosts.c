/*
 * hosts.c
 *		The deliveries in flight, host by host: each started as host_rules.h
 *		allows or parked until its host has room, released when it cannot
 *		go, judged when its answer comes (delivery.h) and turned into an
 *		outcome for the next transaction; and the outages of hosts, probed
 *		and, when a host is back, what waited for it hastened.
 *
 * The worker's loop (worker.c) calls these between its transactions; all
 * state is the WorkerState it passes (worker_state.h).
 */
#include "postgres.h"

#include <stdlib.h>
#include <time.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "support/compat.h"
#include "shmem/counters.h"
#include "worker/delivery.h"
#include "http/endpoint.h"
#include "worker/host_rules.h"
#include "http/http.h"
#include "queue/claim.h"
#include "queue/record.h"
#include "push/receipt.h"
#include "support/spi_util.h"
#include "shmem/registry.h"
#include "settings.h"
#include "support/local_time.h"
#include "worker/recall.h"

#define USECS_PER_MS 1000

static void release_parked(WorkerState *w, HostState *host, double delay_ms,
						   const char *reason);

/* Keep o for the next transaction, with its endpoint (NULL: none). */
static void
add_outcome(WorkerState *w, const Outcome *o, const char *endpoint)
{
	worker_array_room((void **) &w->pending, w->npending, &w->pending_cap, sizeof(Outcome), 256);
	w->pending[w->npending] = *o;
	w->pending[w->npending].endpoint = NULL;
	if (endpoint != NULL && (w->pending[w->npending].endpoint = strdup(endpoint)) == NULL)
		elog(FATAL, "webpush worker: out of memory");
	w->npending++;
}

/*
 * What a finished request says of its host's outage (see "Outages"): no
 * connection makes it down, an answer brings it back.  A probe that found
 * no connection goes back to where it waited, its attempt not counted.
 */
static void
note_host_outage(WorkerState *w, const Delivery *d, const HttpRequest *req, Outcome *o)
{
	HostState  *host = d->host;
	TimestampTz now = GetCurrentTimestamp();
	bool		probe = host->probe_message != 0 &&
		host->probe_message == d->ref.message_id &&
		host->probe_subscription == d->ref.subscription_id;

	if (probe)
		host->probe_message = host->probe_subscription = 0;
	if (http_request_unreachable(req))
	{
		if (host->down_since == 0)
		{
			host->down_since = now;
			host->next_probe = TimestampTzPlusMilliseconds(now, PROBE_INTERVAL_MS);
			if (w->next_probe == 0 || host->next_probe < w->next_probe)
				w->next_probe = host->next_probe;
		}
		if (probe && o->kind != OUTCOME_EXPIRED)
		{
			long		secs;
			int			usecs;

			TimestampDifference(now, host->probe_was_due, &secs, &usecs);
			o->kind = OUTCOME_RELEASE;
			o->retry_delay_ms = secs * 1000.0 + usecs / 1000.0;
			/* Its delivery keeps the last_error of its own last attempt. */
			free(o->reason);
			o->reason = NULL;
		}
	}
	else if (http_request_status(req) > 0 && host->down_since != 0)
	{
		if (TimestampDifferenceExceeds(host->down_since, now, DOWN_BEFORE_HASTE_MS) &&
			TimestampDifferenceExceeds(host->last_haste, now, HASTE_MIN_INTERVAL_MS))
		{
			host->back = true;
			host->last_haste = now;
			w->hosts_back = true;
		}
		host->down_since = 0;
	}
	if (http_request_status(req) > 0 && host->facts.stall_released)
	{
		/*
		 * It answers again after a stall: what went back for
		 * webpush.timeout need not wait for it.  A stall is a second
		 * without an answer, and a push service (or a worker short of CPU)
		 * can pause that long under load.
		 */
		host->facts.stall_released = false;
		host->back = true;
		w->hosts_back = true;
	}
}

/*
 * What a finished request means for its delivery: the delivery core's
 * verdict, as an outcome for the next transaction to record.
 */
void
hosts_judge(WorkerState *w, HttpRequest *req)
{
	Delivery   *d = http_request_owner(req);
	RetryBudget budget;
	Verdict		verdict;
	Outcome		o = {0};
	char		reason[RATES_REASON_LEN];
	double		delay_ms;

	budget.attempts = d->attempts;
	budget.max_attempts = webpush_max_attempts;
	budget.expires_at = d->expires_at;
	delivery_judge(req, &budget, &verdict);

	o.ref = d->ref;
	o.status = verdict.status;
	o.retry_delay_ms = verdict.retry_delay_ms;
	o.requested = true;
	o.bytes = (int64) http_request_body_len(req);
	o.timed_out = http_request_timed_out(req);
	o.answered_at = GetCurrentTimestamp();
	if (verdict.reason[0] != '\0')
		o.reason = strdup(verdict.reason);
	switch (verdict.kind)
	{
		case VERDICT_DELIVERED:
			o.kind = OUTCOME_DELIVERED;
			o.location = recall_location(req, d->host->origin);
			break;
		case VERDICT_RETRY:
			o.kind = OUTCOME_RETRY;
			break;
		case VERDICT_GONE:
			o.kind = OUTCOME_GONE;
			break;
		case VERDICT_FAILED:
			o.kind = OUTCOME_FAILED;
			break;
		case VERDICT_EXPIRED:
			o.kind = OUTCOME_EXPIRED;
			break;
	}
	note_host_outage(w, d, req, &o);
	if (rates_note_answer(d->host, req, o.answered_at, reason, sizeof(reason), &delay_ms))
		release_parked(w, d->host, delay_ms, reason);
	add_outcome(w, &o, http_request_url(req));
}

/* The state of an origin, created on first use. */
static HostState *
host_state(WorkerState *w, const char *origin)
{
	HostState  *host;
	bool		found;

	host = hash_search(w->hosts, origin, HASH_ENTER, &found);
	if (!found)
	{
		memset(&host->facts, 0, sizeof(host->facts));
		host->parked_head = host->parked_tail = NULL;
		host->down_since = 0;
		host->next_probe = 0;
		host->back = false;
		host->last_haste = 0;
		host->probe_message = 0;
		host->probe_subscription = 0;
		host->probe_was_due = 0;
		host->probe_deadline = 0;
		memset(&host->rate, 0, sizeof(host->rate));
	}
	return host;
}

/* The room hosts share, with the settings as they are now. */
HostRoom *
hosts_room_now(WorkerState *w)
{
	w->room.max_in_flight = webpush_max_in_flight;
	w->room.max_in_flight_per_host = webpush_max_in_flight_per_host;
	w->room.timeout_ms = webpush_timeout_ms;
	return &w->room;
}

/*
 * Add up what quiet hosts hold: hosts turn quiet as time passes, so this is
 * counted again before requests are started (launch keeps it up to date
 * while they are).  Quiet hosts that hold nothing are forgotten here: all
 * the worker knows of them is what it assumes of a host it has never seen.
 */
void
hosts_count_quiet(WorkerState *w, TimestampTz now)
{
	HASH_SEQ_STATUS scan;
	HostState  *host;

	HostRoom   *room = hosts_room_now(w);

	room->quiet_in_flight = 0;
	hash_seq_init(&scan, w->hosts);
	while ((host = hash_seq_search(&scan)) != NULL)
	{
		const HostFacts *facts = &host->facts;

		room->quiet_in_flight += host_quiet_in_flight(facts, room, now);
		if (!facts->answered && facts->in_flight == 0 && facts->nparked == 0 &&
			host->down_since == 0 && !host->back && !facts->room_released)
			(void) hash_search(w->hosts, host->origin, HASH_REMOVE, NULL);
	}
}

/*
 * A quiet host's request has finished, so the quiet share has room again:
 * what went back to the queue for want of it is due now, through the same
 * haste as for a host back from an outage.
 */
void
hosts_note_quiet_room(WorkerState *w)
{
	HASH_SEQ_STATUS scan;
	HostState  *host;

	if (!w->room.room_released)
		return;
	w->room.room_released = false;
	hash_seq_init(&scan, w->hosts);
	while ((host = hash_seq_search(&scan)) != NULL)
	{
		if (host->facts.room_released)
		{
			host->facts.room_released = false;
			host->back = true;
			w->hosts_back = true;
		}
	}
}

/*
 * Hand a claimed delivery back, unsent, due again after delay_ms.  With a
 * reason, a rate held it (RULE_THROTTLED): the reason becomes its
 * last_error, and it is due again no later than its expiry.
 */
static void
release_unsent(WorkerState *w, const DeliveryRef *ref, double delay_ms, const char *reason,
			   TimestampTz expires_at)
{
	Outcome		o = {0};

	o.ref = *ref;
	o.kind = OUTCOME_RELEASE;
	o.retry_delay_ms = delay_ms;
	if (reason != NULL)
	{
		TimestampTz now = GetCurrentTimestamp();

		o.retry_delay_ms = delay_ms = rates_hold_within_ttl(delay_ms, expires_at, now);
		o.rule = RULE_THROTTLED;
		o.hold_until = TimestampTzPlusMilliseconds(now, (int64) delay_ms);
		if ((o.reason = strdup(reason)) == NULL)
			elog(FATAL, "webpush worker: out of memory");
	}
	add_outcome(w, &o, NULL);
}

/*
 * The application's quiet hours, in the recipient's zone: a notification
 * that is not urgent, claimed inside them, is handed back due at their end
 * (its TTL counting from then, as for a send at a local time), and its
 * delivery says why.  True when it was held.
 */
static bool
hold_for_quiet_hours(WorkerState *w, const ClaimedMessage *m, const DeliveryRef *ref,
					 TimestampTz now)
{
	TimeADT		clock;
	bool		quiet;
	Outcome		o = {0};
	char		reason[160];
	const char *zone;

	if (!m->has_quiet_hours || strcmp(m->urgency, "high") == 0)
		return false;

	/*
	 * A subscription's zone that the time zone data no longer has (it was
	 * updated since the zone was stored) is read as the application's, as
	 * the sends at a local time read it; UTC when that one is gone too.
	 */
	zone = m->time_zone;
	if (!local_time_zone_known(zone))
		zone = local_time_zone_known(m->app_time_zone) ? m->app_time_zone : "UTC";
	clock = local_time_of_day(zone, now);
	if (m->quiet_start < m->quiet_end)
		quiet = clock >= m->quiet_start && clock < m->quiet_end;
	else
		quiet = clock >= m->quiet_start || clock < m->quiet_end;	/* over midnight */
	if (!quiet)
		return false;
	o.ref = *ref;
	o.kind = OUTCOME_RELEASE;
	o.rule = RULE_QUIET_HOURS;
	o.hold_until = local_time_next(m->quiet_end, zone, now);
	snprintf(reason, sizeof(reason), "quiet hours in %s: held until %02d:%02d there",
			 zone, (int) (m->quiet_end / USECS_PER_HOUR),
			 (int) (m->quiet_end % USECS_PER_HOUR / USECS_PER_MINUTE));
	if ((o.reason = strdup(reason)) == NULL)
		elog(FATAL, "webpush worker: out of memory");
	add_outcome(w, &o, m->endpoint);
	return true;
}

/* Put a built request on the wire; a failure to start comes back as done. */
static void
launch(WorkerState *w, Delivery *d, TimestampTz now)
{
	HostState  *host = d->host;

	if (!host_answering(&host->facts, hosts_room_now(w), now))
		w->room.quiet_in_flight++;
	http_client_start(w->http, d->req);
	if (host->facts.in_flight++ == 0)
		host->facts.last_progress = now;
}

/*
 * Hand back every request parked for host, due again after delay_ms, with
 * reason (NULL: none) as their last_error.
 */
static void
release_parked(WorkerState *w, HostState *host, double delay_ms, const char *reason)
{
	while (host->parked_head != NULL)
	{
		Delivery   *d = host->parked_head;

		host->parked_head = d->next_parked;
		release_unsent(w, &d->ref, delay_ms, reason, d->expires_at);
		http_request_free(d->req);
		free(d);
		host->facts.nparked--;
		w->total_parked--;
	}
	host->parked_tail = NULL;
}

/*
 * Start what waits for hosts that have room again and whose tokens have
 * come, and hand back what waits for a host that will not have room soon
 * (it would only hold other hosts' room).  Returns how long the worker may
 * wait, in ms, before a host with parked requests could stall or the next
 * parked request's token comes; -1 for no limit.
 */
long
hosts_tend(WorkerState *w, TimestampTz now)
{
	HASH_SEQ_STATUS scan;
	HostState  *host;
	long		wait_ms = -1;

	if (w->total_parked == 0)
		return -1;
	hosts_count_quiet(w, now);
	hash_seq_init(&scan, w->hosts);
	while ((host = hash_seq_search(&scan)) != NULL)
	{
		double		delay_ms;

		while (host->parked_head != NULL &&
			   host->parked_head->not_before <= now &&
			   http_client_ready(w->http) &&
			   host_may_start(&host->facts, hosts_room_now(w), http_client_in_flight(w->http), now))
		{
			Delivery   *d = host->parked_head;

			host->parked_head = d->next_parked;
			if (host->parked_head == NULL)
				host->parked_tail = NULL;
			host->facts.nparked--;
			w->total_parked--;
			launch(w, d, now);
		}
		if (host->parked_head == NULL)
			continue;
		/* Waiting for its token alone: the wait ends when it comes. */
		if (host->parked_head->not_before > now &&
			host_may_start(&host->facts, hosts_room_now(w), http_client_in_flight(w->http), now))
		{
			long		until_token = (long) ((host->parked_head->not_before - now +
											   USECS_PER_MS - 1) / USECS_PER_MS);

			if (wait_ms < 0 || until_token < wait_ms)
				wait_ms = until_token;
			continue;
		}
		if (!host_may_wait(&host->facts, hosts_room_now(w), now, &delay_ms))
			release_parked(w, host, delay_ms, NULL);
		else if (host->facts.in_flight > 0)
		{
			long		until_stall = host_ms_until_stall(&host->facts, now);

			if (wait_ms < 0 || until_stall < wait_ms)
				wait_ms = until_stall;
		}
	}
	return wait_ms;
}

/*
 * Encrypt, sign and start one claimed notification; park it when its host
 * will soon have room; hand it back when not; or record why it cannot be
 * sent.
 */
void
hosts_start_delivery(WorkerState *w, const ClaimedMessage *m, VapidSigner *signer,
			   SignerStatus signer_status, TimestampTz now)
{
	Endpoint	ep;
	PushMessage msg;
	uint8		spliced[ECE_MAX_PLAINTEXT];
	HostState  *host;
	HttpRequest *req;
	Delivery   *d;
	const char *error;
	Outcome		o = {0};
	long		secs;
	int			usecs;
	bool		room;
	bool		start;
	double		delay_ms;
	TimestampTz not_before;
	char		held_by[RATES_REASON_LEN];
	DeliveryRef ref = m->ref;

	/* From here the delivery's outcome owns the user's name (queue/record.h). */
	if (m->ref.user_id != NULL && (ref.user_id = strdup(m->ref.user_id)) == NULL)
		elog(FATAL, "webpush worker: out of memory");
	o.ref = ref;

	/*
	 * Cancelled while it was in flight, and back: the cancel's reason, as
	 * for the deliveries the cancel found waiting.
	 */
	if (m->cancelled)
	{
		o.kind = OUTCOME_CANCELLED;
		o.reason = strdup("cancelled with webpush_cancel()");
		o.not_attempted = true;
		add_outcome(w, &o, m->endpoint);
		return;
	}

	/* Unsubscribed, or its push service answered 404/410 to another message. */
	if (m->endpoint == NULL)
	{
		o.kind = OUTCOME_FAILED;
		o.reason = strdup("subscription gone: it was removed (unsubscribed, or gone at its push service) before this was sent");
		o.not_attempted = true;
		add_outcome(w, &o, m->endpoint);
		return;
	}

	/* Sent later than its TTL allows: the push service would drop it. */
	TimestampDifference(m->expires_at, now, &secs, &usecs);
	if (now > m->expires_at && secs >= 1)
	{
		o.kind = OUTCOME_EXPIRED;
		o.reason = strdup("TTL ran out before it could be sent");
		add_outcome(w, &o, m->endpoint);
		return;
	}

	if (hold_for_quiet_hours(w, m, &ref, now))
		return;
	if (frequency_cap_holds(w, m, &ref, now, &o))
	{
		add_outcome(w, &o, m->endpoint);
		return;
	}
	o.ref = ref;				/* counted under the cap, when capped */

	if (signer_status == SIGNER_NO_SUBJECT)
	{
		/* Kept until "default" gets a subject (webpush.subject, reload). */
		if (TimestampDifferenceExceeds(w->last_subject_warning, now, MAINTENANCE_INTERVAL_MS))
		{
			ereport(WARNING,
					(errmsg("webpush worker: application \"default\" has no subject, its notifications wait"),
					 errhint("Set webpush.subject in postgresql.conf or with ALTER SYSTEM, then reload; or SELECT webpush_application('default', 'mailto:admin@example.com').")));
			w->last_subject_warning = now;
		}
		release_unsent(w, &ref, MAINTENANCE_INTERVAL_MS, NULL, 0);
		return;
	}
	if (signer == NULL)
	{
		o.kind = OUTCOME_FAILED;
		o.reason = strdup(signer_status_message(signer_status));
		add_outcome(w, &o, m->endpoint);
		return;
	}

	/* Re-checked here: the endpoint settings may have changed. */
	if (endpoint_parse(m->endpoint, strlen(m->endpoint),
					   &webpush_endpoint_policy, &ep) != ENDPOINT_OK)
	{
		o.kind = OUTCOME_FAILED;
		o.reason = strdup("the endpoint is not allowed (non-public address, port not in webpush.allowed_ports, or invalid URL)");
		add_outcome(w, &o, m->endpoint);
		return;
	}

	/*
	 * Decided before the crypto, which is wasted on what goes back.  Behind
	 * requests already parked for the host, a new one waits its turn; a
	 * host parks at most what the worker's room leaves beyond its own
	 * share.
	 */
	host = host_state(w, ep.origin);
	if (!rates_take(w, host, m, now, &not_before, &delay_ms, held_by, sizeof(held_by)))
	{
		release_unsent(w, &ref, delay_ms, held_by, m->expires_at);
		return;
	}
	room = host->facts.nparked == 0 &&
		host_may_start(&host->facts, hosts_room_now(w), http_client_in_flight(w->http), now);
	start = room && not_before <= now;
	if (!room)
	{
		if (!host_may_wait(&host->facts, hosts_room_now(w), now, &delay_ms))
		{
			release_unsent(w, &ref, delay_ms, NULL, 0);
			return;
		}
		if (host->facts.nparked >= Max(webpush_max_in_flight - webpush_max_in_flight_per_host, 0))
		{
			release_unsent(w, &ref, HOST_STALL_MS, NULL, 0);
			return;
		}
	}

	memset(&msg, 0, sizeof(msg));
	msg.signer = signer;
	msg.endpoint = m->endpoint;
	msg.origin = ep.origin;
	msg.p256dh = m->p256dh;
	msg.auth = m->auth;
	msg.payload = m->payload;
	msg.payload_len = m->payload_len;
	/*
	 * A notification built by webpush_notification() or webpush_notify()
	 * carries "receipt": true; this recipient's copy names its message and
	 * subscription, which the service worker reports back.  The builders
	 * left room for them; a payload without room is sent as it was stored.
	 */
	if (m->payload != NULL)
	{
		size_t		n = receipt_splice(m->payload, m->payload_len,
									   m->ref.message_id, m->ref.subscription_id,
									   spliced, sizeof(spliced));

		if (n > 0)
		{
			msg.payload = spliced;
			msg.payload_len = n;
		}
	}
	/* A service with a smaller limit than 4096 bytes would refuse it. */
	if (msg.payload != NULL)
	{
		int			limit = payload_limit_for(&webpush_payload_limits, ep.origin);
		size_t		body = ECE_BODY_LEN(msg.payload_len);

		if (limit > 0 && body > (size_t) limit)
		{
			char		reason[ENDPOINT_MAX_LEN + 128];

			snprintf(reason, sizeof(reason),
					 "the encrypted body is %zu bytes, above the %d that webpush.payload_limits allows for %s",
					 body, limit, ep.origin + strlen("https://"));
			o.kind = OUTCOME_FAILED;
			o.reason = strdup(reason);
			o.not_attempted = true;
			add_outcome(w, &o, m->endpoint);
			return;
		}
	}

	/* What is left of the TTL, so the push service keeps it no longer. */
	TimestampDifference(now, m->expires_at, &secs, &usecs);
	msg.ttl = (int32) Min(secs + (usecs >= 500000 ? 1 : 0), PG_INT32_MAX);
	msg.urgency = m->urgency;
	msg.topic = m->topic[0] ? m->topic : NULL;

	req = http_request_create();
	d = malloc(sizeof(Delivery));
	if (req == NULL || d == NULL)
		elog(FATAL, "webpush worker: out of memory");
	d->ref = ref;
	d->attempts = m->attempts;
	d->expires_at = m->expires_at;
	d->host = host;
	d->req = req;
	d->not_before = not_before;
	d->next_parked = NULL;
	http_request_set_owner(req, d);

	error = delivery_build_request(&msg, req);
	if (error != NULL)
	{
		o.kind = OUTCOME_FAILED;
		o.reason = strdup(error);
		add_outcome(w, &o, m->endpoint);
		http_request_free(req);
		free(d);
		return;
	}
	if (start)
	{
		launch(w, d, now);
		return;
	}
	if (host->parked_tail != NULL)
		host->parked_tail->next_parked = d;
	else
		host->parked_head = d;
	host->parked_tail = d;
	host->facts.nparked++;
	w->total_parked++;
}

/*
 * In the turn's transaction, before the claim (see "Outages"): what waits
 * for hosts that came back is due now; a down host with nothing in flight
 * gets its probe.  A host with nothing waiting for it is down no more.
 * Hosts change here only in what the transaction cannot take back: a
 * failed transaction loses a haste or a probe, which the delivery's own
 * retry makes up for.
 */
void
hosts_hasten(WorkerState *w)
{
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS scan;
	HostState  *host;

	if (!w->hosts_back && (w->next_probe == 0 || now < w->next_probe))
		return;
	w->hosts_back = false;
	w->next_probe = 0;
	hash_seq_init(&scan, w->hosts);
	while ((host = hash_seq_search(&scan)) != NULL)
	{
		/* The origin without "https://", as queue_hasten_host names hosts. */
		const char *name = host->origin + strlen("https://");

		if (host->back)
		{
			host->back = false;
			if (queue_hasten_host(name) > 0)
				w->claim_wanted = true;
			continue;
		}
		if (host->down_since == 0)
			continue;
		if (host->probe_message != 0 && now >= host->probe_deadline)
			host->probe_message = host->probe_subscription = 0;
		if (now >= host->next_probe)
		{
			host->next_probe = TimestampTzPlusMilliseconds(now, PROBE_INTERVAL_MS);
			/* A request in flight will tell: no probe beside it. */
			if (host->facts.in_flight == 0 && host->probe_message == 0)
			{
				/* A retry due before the next probe is as good as one. */
				int			probed = queue_hasten_one(name, PROBE_INTERVAL_MS,
													  &host->probe_message,
													  &host->probe_subscription,
													  &host->probe_was_due);

				if (probed > 0)
				{
					host->probe_deadline =
						TimestampTzPlusMilliseconds(now, PROBE_INTERVAL_MS + webpush_timeout_ms);
					w->claim_wanted = true;
				}
				else if (probed < 0)
					host->down_since = 0;
			}
		}
		if (host->down_since != 0 &&
			(w->next_probe == 0 || host->next_probe < w->next_probe))
			w->next_probe = host->next_probe;
	}
}
