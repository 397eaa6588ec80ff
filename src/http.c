/*
 * http.c
 *		Concurrent HTTPS POSTs to push services: the client, the wait, and
 *		libcurl's part (DNS, connecting, TLS, and HTTP/1.1).
 *
 * Requests go out over HTTP/2 (http2.c) on connections that libcurl opens;
 * origins that do not offer h2 are served by libcurl's HTTP/1.1.  libcurl
 * tells us which sockets it wants watched (CURLMOPT_SOCKETFUNCTION) and when
 * it next needs a timeout call (CURLMOPT_TIMERFUNCTION); we wait on those,
 * the HTTP/2 connections' sockets and the process latch in one WaitEventSet.
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

#include "compat.h"
#include "http_internal.h"
#include "retry_after.h"

#define HTTP_IDLE_HANDLES_MAX 1024
#define HTTP_MAX_HOST_CONNECTIONS 4

/* A handle for a new request: a recycled one, reset, or a new one. */
static CURL *
take_easy(HttpClient *client)
{
	CURL	   *easy;

	if (client->nidle == 0)
		return curl_easy_init();
	easy = client->idle[--client->nidle];
	/* Forgets every option; keeps buffers (connections live in the multi). */
	curl_easy_reset(easy);
	return easy;
}

/* A handle whose request is over (already removed from the multi). */
static void
give_back_easy(HttpClient *client, CURL *easy)
{
	if (client->nidle == client->idle_cap && client->idle_cap < HTTP_IDLE_HANDLES_MAX)
	{
		int			cap = client->idle_cap ? client->idle_cap * 2 : 64;
		CURL	  **grown = realloc(client->idle, cap * sizeof(CURL *));

		if (grown != NULL)
		{
			client->idle = grown;
			client->idle_cap = cap;
		}
	}
	if (client->nidle < client->idle_cap)
		client->idle[client->nidle++] = easy;
	else
		curl_easy_cleanup(easy);
}

static void
free_idle_handles(HttpClient *client)
{
	while (client->nidle > 0)
		curl_easy_cleanup(client->idle[--client->nidle]);
}

static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *clientp, void *socketp)
{
	HttpClient *client = clientp;
	int			i;

	(void) easy;
	(void) socketp;
	for (i = 0; i < client->nsockets; i++)
		if (client->sockets[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < client->nsockets)
			client->sockets[i] = client->sockets[--client->nsockets];
		client->wait_set_stale = true;
		return 0;
	}
	if (i == client->nsockets)
	{
		client->wait_set_stale = true;
		if (client->nsockets == client->sockets_cap)
		{
			int			cap = client->sockets_cap ? client->sockets_cap * 2 : 16;
			WatchedSocket *grown = realloc(client->sockets, cap * sizeof(WatchedSocket));

			if (grown == NULL)
				return -1;
			client->sockets = grown;
			client->sockets_cap = cap;
		}
		client->nsockets++;
	}
	client->sockets[i].fd = fd;
	client->sockets[i].what = what;
	return 0;
}

static int
timer_callback(CURLM *multi, long timeout_ms, void *clientp)
{
	HttpClient *client = clientp;

	(void) multi;
	/*
	 * The timeout counts from now, not from whenever the client next
	 * waits: kept as a deadline, it fires however often the wait is cut
	 * short (by the latch, other sockets, or a caller's shorter wait).
	 */
	client->timer_at_ms = timeout_ms < 0 ? -1 : http_now_ms() + timeout_ms;
	return 0;
}

/*
 * Runs right before libcurl connects, with the address DNS gave it: the one
 * place where a rebinding resolver cannot slip a private address past us.
 */
curl_socket_t
http_open_socket_checked(HttpClient *client, struct curl_sockaddr *address,
						 bool *refused, AddressClass *refused_class)
{
	AddressClass cls = endpoint_address_class(&address->addr);

	/*
	 * Through a proxy, the address is the proxy's, which a superuser chose:
	 * the proxy resolves the push service, and its own egress rules decide.
	 */
	if (cls != ADDRESS_PUBLIC && !client->config.allow_private && client->proxy == NULL)
	{
		/* The message is written when the transfer ends: curl's comes last. */
		*refused = true;
		*refused_class = cls;
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

static curl_socket_t
open_socket_callback(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	HttpRequest *req = clientp;

	(void) purpose;
	return http_open_socket_checked(req->client, address, &req->refused_address,
									&req->refused_class);
}

bool
http_keep_response(HttpRequest *req, const char *data, size_t len)
{
	size_t		keep = Min(len, HTTP_RESPONSE_KEEP - req->response_len);

	if (keep > 0)
	{
		char	   *grown = realloc(req->response, req->response_len + keep + 1);

		if (grown == NULL)
			return false;
		req->response = grown;
		memcpy(req->response + req->response_len, data, keep);
		req->response_len += keep;
		req->response[req->response_len] = '\0';
	}
	return true;				/* the rest is read and dropped */
}

static size_t
write_callback(char *data, size_t size, size_t nmemb, void *clientp)
{
	size_t		len = size * nmemb;

	/* Zero aborts the transfer. */
	return http_keep_response(clientp, data, len) ? len : 0;
}

/* False when libcurl refuses one of the options (as for easy handles). */
static bool
setup_multi(HttpClient *client)
{
	CURLM	   *m = client->multi;

	/*
	 * MAX_HOST_CONNECTIONS: a burst of requests to an origin with no
	 * connection yet would otherwise open one connection each (PIPEWAIT
	 * does not hold them back while the first handshake is under way;
	 * measured: 101 connections for 500 messages).  Beyond this many
	 * connections per host, requests wait in libcurl's queue and go out
	 * multiplexed on the HTTP/2 connection once it is up; an HTTP/1.1 push
	 * service still gets this many in parallel.
	 */
	return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, socket_callback) == CURLM_OK &&
		curl_multi_setopt(m, CURLMOPT_SOCKETDATA, client) == CURLM_OK &&
		curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_callback) == CURLM_OK &&
		curl_multi_setopt(m, CURLMOPT_TIMERDATA, client) == CURLM_OK &&
		curl_multi_setopt(m, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX) == CURLM_OK &&
		curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long) HTTP_MAX_HOST_CONNECTIONS) == CURLM_OK;
}

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
	if (client->multi == NULL || !setup_multi(client))
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
	free_idle_handles(client);
	curl_multi_cleanup(client->multi);
	client->multi = curl_multi_init();
	client->nsockets = 0;
	client->wait_set_stale = true;
	client->timer_at_ms = -1;
	if (client->multi == NULL)
		return false;
	if (!setup_multi(client))
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
	free(req);
}

/*
 * Set an option or fail the request: an option libcurl refuses (one this
 * build lacks, or out of memory) would otherwise go unnoticed, and an
 * unapplied security option is worse than a request not sent.
 */
#define SETOPT_OR_FAIL(easy, option, value) \
	do { \
		CURLcode	setopt_rc_ = curl_easy_setopt((easy), (option), (value)); \
		if (setopt_rc_ != CURLE_OK) \
		{ \
			snprintf(req->error, sizeof(req->error), "libcurl refused %s: %s", \
					 #option, curl_easy_strerror(setopt_rc_)); \
			goto fail; \
		} \
	} while (0)

/*
 * Start req through libcurl (HTTP/1.1 push services); false, with req->error
 * set, if libcurl refuses it.  The caller counts it in flight.
 */
bool
http_start_with_curl(HttpClient *client, HttpRequest *req)
{
	CURL	   *easy = take_easy(client);
	CURLMcode	mc;

	req->error[0] = '\0';
	if (easy == NULL)
	{
		snprintf(req->error, sizeof(req->error), "could not create a libcurl handle");
		return false;
	}

	SETOPT_OR_FAIL(easy, CURLOPT_URL, req->url);
	/* Only https, never follow redirects, always verify the peer. */
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT_OR_FAIL(easy, CURLOPT_PROTOCOLS_STR, "https");
#else
	SETOPT_OR_FAIL(easy, CURLOPT_PROTOCOLS, (long) CURLPROTO_HTTPS);
#endif
	SETOPT_OR_FAIL(easy, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT_OR_FAIL(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT_OR_FAIL(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (client->ca_file != NULL)
		SETOPT_OR_FAIL(easy, CURLOPT_CAINFO, client->ca_file);

	/*
	 * webpush.proxy, or an empty proxy, which turns off libcurl's reading of
	 * http_proxy, https_proxy and all_proxy from the postmaster's
	 * environment: where the worker connects is the database's decision.
	 */
	SETOPT_OR_FAIL(easy, CURLOPT_PROXY, client->proxy ? client->proxy : "");
	if (client->proxy)
		SETOPT_OR_FAIL(easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
	/* libcurl must leave PostgreSQL's SIGALRM handling alone. */
	SETOPT_OR_FAIL(easy, CURLOPT_NOSIGNAL, 1L);
	SETOPT_OR_FAIL(easy, CURLOPT_TIMEOUT_MS, client->config.timeout_ms);
	SETOPT_OR_FAIL(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	/* A transfer may prune idle connections: never the HTTP/2 ones (http2.c). */
	SETOPT_OR_FAIL(easy, CURLOPT_MAXAGE_CONN, 365L * 24 * 3600);
	SETOPT_OR_FAIL(easy, CURLOPT_POST, 1L);
	SETOPT_OR_FAIL(easy, CURLOPT_POSTFIELDS, req->body ? (char *) req->body : "");
	SETOPT_OR_FAIL(easy, CURLOPT_POSTFIELDSIZE, (long) req->body_len);
	SETOPT_OR_FAIL(easy, CURLOPT_HTTPHEADER, req->headers);
	SETOPT_OR_FAIL(easy, CURLOPT_USERAGENT, "webpush-postgresql");
	SETOPT_OR_FAIL(easy, CURLOPT_ERRORBUFFER, req->error);
	SETOPT_OR_FAIL(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket_callback);
	SETOPT_OR_FAIL(easy, CURLOPT_OPENSOCKETDATA, req);
	SETOPT_OR_FAIL(easy, CURLOPT_WRITEFUNCTION, write_callback);
	SETOPT_OR_FAIL(easy, CURLOPT_WRITEDATA, req);
	SETOPT_OR_FAIL(easy, CURLOPT_PRIVATE, req);

	req->easy = easy;
	mc = curl_multi_add_handle(client->multi, easy);
	if (mc != CURLM_OK)
	{
		snprintf(req->error, sizeof(req->error), "%s", curl_multi_strerror(mc));
		req->easy = NULL;
		goto fail;
	}
	return true;

fail:
	curl_easy_cleanup(easy);
	return false;
}

void
http_client_start(HttpClient *client, HttpRequest *req)
{
	req->client = client;
	req->error[0] = '\0';
	req->status = 0;
	client->in_flight++;
	if (!h2_start(client, req) && !http_start_with_curl(client, req))
		http_request_done(client, req);
}

/* A request is over: onto the done list, where the caller collects it. */
void
http_request_done(HttpClient *client, HttpRequest *req)
{
	client->in_flight--;
	/* req->client stays set: the client owns it until next_done. */
	req->done_listed = true;
	req->next_done = NULL;
	if (client->done_tail)
		client->done_tail->next_done = req;
	else
		client->done_head = req;
	client->done_tail = req;
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

/*
 * Seconds from the response's Retry-After, or -1.  Parsed by our own bounded
 * parser (retry_after.c, fuzzed) rather than trusted to any library.
 */
static long
response_retry_after(CURL *easy)
{
#if LIBCURL_VERSION_NUM >= 0x075400
	struct curl_header *header;

	if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &header) != CURLHE_OK)
		return -1;
	return retry_after_parse(header->value, strlen(header->value), time(NULL));
#else
	curl_off_t	seconds = -1;

	/* Before 7.84 there is no header API: libcurl's own parse. */
	if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &seconds) != CURLE_OK || seconds < 0)
		return -1;
	return seconds < RETRY_AFTER_MAX_SECONDS ? (long) seconds : RETRY_AFTER_MAX_SECONDS;
#endif
}

/* WNS's reason, from X-WNS-Error-Description (libcurl 7.84 and later). */
static void
response_description(CURL *easy, char *out, size_t outlen)
{
#if LIBCURL_VERSION_NUM >= 0x075400
	struct curl_header *header;

	if (curl_easy_header(easy, "X-WNS-Error-Description", 0, CURLH_HEADER, -1, &header) == CURLHE_OK)
	{
		snprintf(out, outlen, "%s", header->value);
		return;
	}
#endif
	out[0] = '\0';
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
		req->retry_after = response_retry_after(req->easy);
		response_description(req->easy, req->error_description, sizeof(req->error_description));
		if (req->curl_code != CURLE_OK)
		{
			req->status = 0;
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
		give_back_easy(client, req->easy);
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
