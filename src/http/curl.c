/*
 * curl.c
 *		libcurl's part of the HTTP client: easy handles, the multi handle's
 *		callbacks, the connect-time address policy, HTTP/1.1 requests, and
 *		the list of finished requests that http.c hands out.
 *
 * libcurl tells us which sockets it wants watched (CURLMOPT_SOCKETFUNCTION)
 * and when it next needs a timeout call (CURLMOPT_TIMERFUNCTION); http.c
 * waits on those.  The HTTP/2 connections (http2.c) are opened here too,
 * as "connect only" transfers, so that the address policy and TLS are the
 * same for both protocols.
 */
#include "postgres.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "http/http_internal.h"
#include "http/retry_after.h"
#include "support/compat.h"

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
void
http_give_back_easy(HttpClient *client, CURL *easy)
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

void
http_free_idle_handles(HttpClient *client)
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
bool
http_setup_multi(HttpClient *client)
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
 * Seconds an HTTP/1.1 connection may stay unused and still be reused.
 *
 * Not just the idle timeout: a transfer applies its CURLOPT_MAXAGE_CONN to
 * every connection in libcurl's cache, and closes those unused for longer,
 * the HTTP/2 ones (CONNECT_ONLY, http2.c) included; libcurl 7.88 counts
 * their idle time from their last curl_easy_send or curl_easy_recv (checked
 * 2026-12-03).  An HTTP/2 connection goes unused for the idle timeout at
 * most (http2.c then closes it), or for a request's timeout (a stream
 * waiting for its answer, then reset): never for both together.
 */
static long
h1_max_idle_s(const HttpClient *client)
{
	if (client->config.idle_timeout_ms <= 0)
		return 365L * 24 * 3600;
	return (client->config.idle_timeout_ms + client->config.timeout_ms) / 1000 + 1;
}

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
	SETOPT_OR_FAIL(easy, CURLOPT_MAXAGE_CONN, h1_max_idle_s(client));
	if (req->is_delete)
		SETOPT_OR_FAIL(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
	else
	{
		SETOPT_OR_FAIL(easy, CURLOPT_POST, 1L);
		SETOPT_OR_FAIL(easy, CURLOPT_POSTFIELDS, req->body ? (char *) req->body : "");
		SETOPT_OR_FAIL(easy, CURLOPT_POSTFIELDSIZE, (long) req->body_len);
	}
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

/*
 * Seconds from the response's Retry-After, or -1.  Parsed by our own bounded
 * parser (retry_after.c, fuzzed) rather than trusted to any library.
 */
long
http_response_retry_after(CURL *easy)
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

void
http_keep_location(HttpRequest *req, const char *value, size_t len)
{
	free(req->location);
	req->location = NULL;
	/* Out of memory loses only what a cancel could do with it. */
	if (len > 0 && len <= ENDPOINT_MAX_LEN && (req->location = malloc(len + 1)) != NULL)
	{
		memcpy(req->location, value, len);
		req->location[len] = '\0';
	}
}

/* The push message resource, from Location (libcurl 7.84 and later). */
void
http_response_location(HttpRequest *req)
{
#if LIBCURL_VERSION_NUM >= 0x075400
	struct curl_header *header;

	if (curl_easy_header(req->easy, "Location", 0, CURLH_HEADER, -1, &header) == CURLHE_OK)
	{
		http_keep_location(req, header->value, strlen(header->value));
		return;
	}
#endif
	http_keep_location(req, NULL, 0);
}

/* WNS's reason, from X-WNS-Error-Description (libcurl 7.84 and later). */
void
http_response_description(CURL *easy, char *out, size_t outlen)
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
