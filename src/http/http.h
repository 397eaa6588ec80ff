/*
 * http.h
 *		Concurrent HTTPS POSTs to push services through one libcurl multi
 *		handle: HTTP/2 multiplexing, connection reuse, per-request timeouts,
 *		and the connect-time address policy.
 *
 * The caller starts requests and then calls http_client_wait, which sleeps on
 * the process latch and on libcurl's sockets together, so a COMMIT that wakes
 * the worker is seen at once even while requests are in flight.  Knows
 * nothing of queues or SQL; all memory handed to libcurl is malloc'd.
 */
#ifndef WEBPUSH_HTTP_H
#define WEBPUSH_HTTP_H

#include "postgres.h"

#include <curl/curl.h>

#include "http/endpoint.h"

/* Bytes of a response body kept for diagnostics (Apple's JSON reason...). */
#define HTTP_RESPONSE_KEEP 1024
/* ... and of a reason given in a header, NUL included. */
#define HTTP_DESCRIPTION_KEEP 256

typedef struct HttpClientConfig
{
	long		timeout_ms;		/* whole request, connect included */
	const char *ca_file;		/* extra CA bundle, NULL or "" for none */
	const char *proxy;			/* HTTP CONNECT proxy URL, NULL or "" for none */
	bool		allow_private;	/* connect to non-public addresses too */
} HttpClientConfig;

typedef struct HttpClient HttpClient;

typedef struct HttpRequest
{
	/* Set by the caller before http_client_start; freed by http_request_free. */
	char	   *url;
	struct curl_slist *headers;
	uint8	   *body;			/* may be NULL when body_len is 0 */
	size_t		body_len;
	void	   *owner;			/* the caller's, untouched here */

	/* Set when the request completes. */
	long		status;			/* HTTP status, 0 when none was received */
	CURLcode	curl_code;
	char		error[CURL_ERROR_SIZE + 128];	/* why, when status is 0 */
	bool		refused_address;	/* blocked by the address policy */
	AddressClass refused_class; /* ... for being of this class */
	bool		unreachable;	/* no connection to its host could be made */
	long		retry_after;	/* seconds from Retry-After, -1 if absent */
	/* WNS gives its reason only in X-WNS-Error-Description ("" if absent). */
	char		error_description[HTTP_DESCRIPTION_KEEP];
	char	   *response;		/* first HTTP_RESPONSE_KEEP bytes, NUL-ended */
	size_t		response_len;

	/* Private to http.c and http2.c. */
	CURL	   *easy;			/* HTTP/1.1 through libcurl */
	HttpClient *client;
	struct HttpRequest *next_done;
	bool		done_listed;
	struct H2Conn *h2;			/* HTTP/2: its connection */
	int32		stream_id;		/* 0 until submitted */
	char	   *authority;
	char	   *path;
	size_t		body_sent;
	int64		deadline_ms;	/* CLOCK_MONOTONIC */
	int			refusals;		/* times the server refused it unprocessed */
	struct HttpRequest *h2_next;
	struct HttpRequest *h2_prev;
} HttpRequest;

extern HttpClient *http_client_create(const HttpClientConfig *config);

/*
 * Apply new settings.  When the CA file or the address policy changed, open
 * connections were made under the old rules and must not be reused: the
 * client then needs a reset, done by http_client_ready once nothing is in
 * flight.
 */
extern void http_client_configure(HttpClient *client, const HttpClientConfig *config);

/* Whether new requests may start (no reset pending); resets when it can. */
extern bool http_client_ready(HttpClient *client);

/*
 * A zeroed request; the caller fills url, headers and body.
 *
 * Ownership: from http_client_start until http_client_next_done returns it,
 * a request belongs to the client (in flight, then on the done list).
 * http_request_free may still be called at any point, for example when an
 * error unwinds the caller: the client lets go of the request first, so
 * nothing it keeps can point to freed memory.
 */
extern HttpRequest *http_request_create(void);
extern void http_request_free(HttpRequest *req);

/*
 * Start a request.  It is in flight until http_client_next_done returns it;
 * a request that cannot be sent comes back that way too, with status 0 and
 * req->error saying why.
 */
extern void http_client_start(HttpClient *client, HttpRequest *req);

/* Abandon a started request, in flight or finished but not yet collected. */
extern void http_client_cancel(HttpClient *client, HttpRequest *req);

extern int	http_client_in_flight(HttpClient *client);

/*
 * Wait up to timeout_ms (-1: no limit other than libcurl's own timers) for
 * network activity or the process latch, and let libcurl make progress.
 * Returns true when the latch was set (it is reset here).
 */
extern bool http_client_wait(HttpClient *client, long timeout_ms, uint32 wait_event_info);

/* Next completed request, or NULL. */
extern HttpRequest *http_client_next_done(HttpClient *client);

#endif							/* WEBPUSH_HTTP_H */
