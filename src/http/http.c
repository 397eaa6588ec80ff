/*
 * http.c
 *		Concurrent HTTPS POSTs to push services: the client, its requests,
 *		and the wait on the latch and every socket.
 *
 * Requests go out over HTTP/2 (http2.c) on connections that libcurl opens;
 * origins that do not offer h2 are served by libcurl's HTTP/1.1 (curl.c).
 * We wait on the sockets libcurl asked for, the HTTP/2 connections' sockets
 * and the process latch in one WaitEventSet.
 */
#include "postgres.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "support/compat.h"
#include "http/http_internal.h"
#include "http/retry_after.h"


HttpClient *
http_client_create(const HttpClientConfig *config)
{
	HttpClient *client;
	static bool curl_ready = false;

	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		curl_ready = true;
	}
	client = calloc(1, sizeof(HttpClient));
	if (client == NULL)
		return NULL;
	client->multi = curl_multi_init();
	if (client->multi == NULL || !http_setup_multi(client))
	{
		if (client->multi != NULL)
			curl_multi_cleanup(client->multi);
		free(client);
		return NULL;
	}
	client->timer_at_ms = -1;
	http_client_configure(client, config);
	client->reset_pending = false;
	return client;
}

/* Whether a string setting (NULL or "" for none) equals our copy of it. */
static bool
same_setting(const char *setting, const char *ours)
{
	if (setting == NULL || setting[0] == '\0')
		return ours == NULL;
	return ours != NULL && strcmp(setting, ours) == 0;
}

static void
replace_setting(char **ours, const char *setting)
{
	free(*ours);
	*ours = (setting != NULL && setting[0] != '\0') ? strdup(setting) : NULL;
}

void
http_client_configure(HttpClient *client, const HttpClientConfig *config)
{
	bool		same_ca = same_setting(config->ca_file, client->ca_file);
	bool		same_proxy = same_setting(config->proxy, client->proxy);

	/* Connections made under other rules must not be reused. */
	if (!same_ca || !same_proxy || config->allow_private != client->config.allow_private)
		client->reset_pending = true;
	if (!same_ca)
		replace_setting(&client->ca_file, config->ca_file);
	if (!same_proxy)
		replace_setting(&client->proxy, config->proxy);
	client->config = *config;
	client->config.ca_file = client->ca_file;
	client->config.proxy = client->proxy;
}

bool
http_client_ready(HttpClient *client)
{
	if (!client->reset_pending)
		return true;
	if (client->in_flight > 0)
		return false;
	/* A new multi handle has an empty connection cache. */
	h2_close_all(client);
	http_free_idle_handles(client);
	curl_multi_cleanup(client->multi);
	client->multi = curl_multi_init();
	client->nsockets = 0;
	client->wait_set_stale = true;
	client->timer_at_ms = -1;
	if (client->multi == NULL)
		return false;
	if (!http_setup_multi(client))
	{
		/* Not ready: http_client_ready() keeps saying so, and nothing is sent. */
		curl_multi_cleanup(client->multi);
		client->multi = NULL;
		return false;
	}
	client->reset_pending = false;
	return true;
}

HttpRequest *
http_request_create(void)
{
	HttpRequest *req = calloc(1, sizeof(HttpRequest));

	if (req != NULL)
		req->retry_after = -1;
	return req;
}

void
http_request_free(HttpRequest *req)
{
	if (req == NULL)
		return;
	/* In flight or waiting on the done list: the client lets go of it. */
	if (req->client != NULL)
		http_client_cancel(req->client, req);
	curl_slist_free_all(req->headers);
	free(req->url);
	free(req->authority);
	free(req->path);
	free(req->body);
	free(req->response);
	free(req->location);
	free(req);
}

bool
http_request_set_url(HttpRequest *req, const char *url)
{
	char	   *copy = strdup(url);

	if (copy == NULL)
		return false;
	free(req->url);
	req->url = copy;
	return true;
}

bool
http_request_add_header(HttpRequest *req, const char *line)
{
	struct curl_slist *grown = curl_slist_append(req->headers, line);

	if (grown == NULL)
		return false;
	req->headers = grown;
	return true;
}

void
http_request_set_delete(HttpRequest *req)
{
	req->is_delete = true;
}

uint8 *
http_request_body_buffer(HttpRequest *req, size_t capacity)
{
	uint8	   *body = malloc(Max(capacity, 1));

	if (body == NULL)
		return NULL;
	free(req->body);
	req->body = body;
	req->body_cap = capacity;
	req->body_len = 0;
	return body;
}

void
http_request_set_body_len(HttpRequest *req, size_t len)
{
	Assert(len <= req->body_cap);
	req->body_len = Min(len, req->body_cap);
}

void
http_request_set_owner(HttpRequest *req, void *owner)
{
	req->owner = owner;
}

void *
http_request_owner(const HttpRequest *req)
{
	return req->owner;
}

const char *
http_request_url(const HttpRequest *req)
{
	return req->url;
}

size_t
http_request_body_len(const HttpRequest *req)
{
	return req->body_len;
}

long
http_request_status(const HttpRequest *req)
{
	return req->status;
}

const char *
http_request_error(const HttpRequest *req)
{
	return req->status == 0 ? req->error : "";
}

bool
http_request_refused_address(const HttpRequest *req)
{
	return req->refused_address;
}

bool
http_request_unreachable(const HttpRequest *req)
{
	return req->unreachable;
}

bool
http_request_timed_out(const HttpRequest *req)
{
	return req->timed_out;
}

long
http_request_retry_after(const HttpRequest *req)
{
	return req->retry_after;
}

const char *
http_request_description(const HttpRequest *req)
{
	return req->error_description;
}

const char *
http_request_location(const HttpRequest *req)
{
	return req->location;
}

const char *
http_request_response(const HttpRequest *req, size_t *len)
{
	*len = req->response != NULL ? req->response_len : 0;
	return req->response;
}

void
http_client_start(HttpClient *client, HttpRequest *req)
{
	req->client = client;
	req->error[0] = '\0';
	req->status = 0;
	req->timed_out = false;
	client->in_flight++;
	if (!h2_start(client, req) && !http_start_with_curl(client, req))
		http_request_done(client, req);
}
/* Take a finished request off the done list (it is there exactly once). */
static void
unlink_done(HttpClient *client, HttpRequest *req)
{
	HttpRequest **link = &client->done_head;
	HttpRequest *prev = NULL;

	while (*link != NULL && *link != req)
	{
		prev = *link;
		link = &(*link)->next_done;
	}
	if (*link == NULL)
		return;
	*link = req->next_done;
	if (client->done_tail == req)
		client->done_tail = prev;
	req->next_done = NULL;
}

void
http_client_cancel(HttpClient *client, HttpRequest *req)
{
	if (req->client != client)
		return;
	if (req->done_listed)
		unlink_done(client, req);
	else
	{
		if (req->easy != NULL)
		{
			curl_multi_remove_handle(client->multi, req->easy);
			curl_easy_cleanup(req->easy);
			req->easy = NULL;
		}
		else
			h2_cancel(client, req);
		client->in_flight--;
	}
	req->done_listed = false;
	req->client = NULL;
}

int
http_client_in_flight(HttpClient *client)
{
	return client->in_flight;
}

/* Move what libcurl finished onto the done list. */
static void
collect_finished(HttpClient *client)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(client->multi, &left)) != NULL)
	{
		HttpRequest *req = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (h2_connect_finished(client, msg->easy_handle, msg->data.result))
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		req->curl_code = msg->data.result;
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status);
		req->retry_after = http_response_retry_after(req->easy);
		http_response_description(req->easy, req->error_description, sizeof(req->error_description));
		http_response_location(req);
		if (req->curl_code != CURLE_OK)
		{
			req->status = 0;
			req->timed_out = req->curl_code == CURLE_OPERATION_TIMEDOUT;
			req->unreachable = !req->refused_address &&
				(req->curl_code == CURLE_COULDNT_RESOLVE_HOST ||
				 req->curl_code == CURLE_COULDNT_CONNECT ||
				 req->curl_code == CURLE_SSL_CONNECT_ERROR);
			if (req->refused_address)
				snprintf(req->error, sizeof(req->error),
						 "refused to connect to a %s address (webpush.allow_private_endpoints is off)",
						 address_class_name(req->refused_class));
			else if (req->error[0] == '\0')
				snprintf(req->error, sizeof(req->error), "%s",
						 curl_easy_strerror(req->curl_code));
		}
		curl_multi_remove_handle(client->multi, req->easy);
		http_give_back_easy(client, req->easy);
		req->easy = NULL;
		http_request_done(client, req);
	}
}

static uint32
socket_events(const WatchedSocket *sock)
{
	uint32		ev = 0;

	if (sock->what & CURL_POLL_IN)
		ev |= WL_SOCKET_READABLE;
	if (sock->what & CURL_POLL_OUT)
		ev |= WL_SOCKET_WRITEABLE;
	return ev;
}

/*
 * Bring the wait set in line with curl's sockets: modify the events of the
 * ones that changed, rebuild when sockets came or went (or one waits for
 * nothing, which a set cannot express).  Returns the set's size.
 */
static int
prepare_wait_set(HttpClient *client)
{
	int			size = client->nsockets + h2_count_sockets(client) + 2;
	int			i;

	for (i = 0; i < client->nsockets && !client->wait_set_stale; i++)
		if (socket_events(&client->sockets[i]) == 0)
			client->wait_set_stale = true;

	if (client->wait_set != NULL && !client->wait_set_stale)
	{
		for (i = 0; i < client->nsockets; i++)
		{
			WatchedSocket *sock = &client->sockets[i];
			uint32		ev = socket_events(sock);

			if (ev != sock->registered)
			{
				ModifyWaitEvent(client->wait_set, sock->position, ev, NULL);
				sock->registered = ev;
			}
		}
		h2_update_sockets(client, client->wait_set);
		return size;
	}

	if (client->wait_set != NULL)
		FreeWaitEventSet(client->wait_set);
	if (client->events_cap < size)
	{
		client->events_cap = Max(size, 2 * client->events_cap);
		client->events = client->events == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(WaitEvent) * client->events_cap) :
			repalloc(client->events, sizeof(WaitEvent) * client->events_cap);
	}
	client->wait_set = webpush_create_wait_event_set(size);
	AddWaitEventToSet(client->wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(client->wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	size = 2;
	for (i = 0; i < client->nsockets; i++)
	{
		WatchedSocket *sock = &client->sockets[i];

		sock->registered = socket_events(sock);
		if (sock->registered == 0)
			continue;
		sock->position = AddWaitEventToSet(client->wait_set, sock->registered,
										   sock->fd, NULL, NULL);
		size++;
	}
	/* The HTTP/2 connections' sockets carry their connection as user data. */
	h2_add_sockets(client, client->wait_set);
	size += h2_count_sockets(client);
	client->wait_set_stale = false;
	return size;
}

/* Let libcurl act on a socket event or a timeout. */
static void
socket_action(HttpClient *client, curl_socket_t fd, int mask)
{
	int			running;

	curl_multi_socket_action(client->multi, fd, mask, &running);
}

/* Run libcurl's timeout action if its deadline has come; true if it ran. */
static bool
fire_due_timer(HttpClient *client)
{
	if (client->timer_at_ms < 0 || client->timer_at_ms > http_now_ms())
		return false;
	client->timer_at_ms = -1;
	socket_action(client, CURL_SOCKET_TIMEOUT, 0);
	return true;
}

bool
http_client_wait(HttpClient *client, long timeout_ms, uint32 wait_event_info)
{
	WaitEvent  *events;
	int			nevents;
	int			i;
	bool		latch_set = false;
	long		wait_ms = timeout_ms;

	long		h2_wait_ms;

	/* libcurl's timeout is due (or asked for at once): act before sleeping. */
	if (fire_due_timer(client))
		collect_finished(client);
	/* Refused HTTP/2 requests go out again; late ones time out. */
	h2_wait_ms = h2_tend(client);
	if (client->done_head != NULL)
		return false;
	if (client->timer_at_ms >= 0)
	{
		long		until_timer = (long) Max(client->timer_at_ms - http_now_ms(), 0);

		if (wait_ms < 0 || until_timer < wait_ms)
			wait_ms = until_timer;
	}
	if (h2_wait_ms >= 0 && (wait_ms < 0 || h2_wait_ms < wait_ms))
		wait_ms = h2_wait_ms;

	nevents = prepare_wait_set(client);
	nevents = WaitEventSetWait(client->wait_set, wait_ms, client->events, nevents,
							   wait_event_info);
	events = client->events;

	(void) fire_due_timer(client);
	for (i = 0; i < nevents; i++)
	{
		if (events[i].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			latch_set = true;
		}
		else if (events[i].user_data != NULL)
			h2_socket_ready(client, events[i].user_data, events[i].events);
		else if (events[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
		{
			int			mask = 0;

			if (events[i].events & WL_SOCKET_READABLE)
				mask |= CURL_CSELECT_IN;
			if (events[i].events & WL_SOCKET_WRITEABLE)
				mask |= CURL_CSELECT_OUT;
			socket_action(client, events[i].fd, mask);
		}
	}
	collect_finished(client);
	(void) h2_tend(client);
	return latch_set;
}

HttpRequest *
http_client_next_done(HttpClient *client)
{
	HttpRequest *req = client->done_head;

	if (req != NULL)
	{
		client->done_head = req->next_done;
		if (client->done_head == NULL)
			client->done_tail = NULL;
		req->next_done = NULL;
		req->done_listed = false;
		req->client = NULL;
	}
	return req;
}
