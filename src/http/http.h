/*
 * http.h
 *		Concurrent HTTPS POSTs (and a cancel's DELETEs) to push services
 *		through one libcurl multi handle: HTTP/2 multiplexing, connection
 *		reuse, per-request timeouts, and the connect-time address policy.
 *
 * The caller starts requests and then calls http_client_wait, which sleeps on
 * the process latch and on libcurl's sockets together, so a COMMIT that wakes
 * the worker is seen at once even while requests are in flight.  Knows
 * nothing of queues or SQL; all memory handed to libcurl is malloc'd.
 */
#ifndef WEBPUSH_HTTP_H
#define WEBPUSH_HTTP_H

#include "postgres.h"

#include "http/endpoint.h"

/* Bytes of a response body kept for diagnostics (Apple's JSON reason...). */
#define HTTP_RESPONSE_KEEP 1024
/* ... and of a reason given in a header, NUL included. */
#define HTTP_DESCRIPTION_KEEP 256
/* ... and of why a request got no answer, NUL included. */
#define HTTP_ERROR_KEEP 384

typedef struct HttpClientConfig
{
	long		timeout_ms;		/* whole request, connect included */
	const char *ca_file;		/* extra CA bundle, NULL or "" for none */
	const char *proxy;			/* HTTP CONNECT proxy URL, NULL or "" for none */
	bool		allow_private;	/* connect to non-public addresses too */
	long		idle_timeout_ms;	/* close a connection unused this long */
} HttpClientConfig;

typedef struct HttpClient HttpClient;

/*
 * One POST (or DELETE) to a push service.  Opaque: the caller sets it up with the
 * http_request_set_* functions, starts it, and reads the answer with the
 * getters below once http_client_next_done has returned it.  Every getter is
 * a field read: the worker calls them for thousands of requests a second.
 */
typedef struct HttpRequest HttpRequest;

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
 * A new request, with nothing set; the caller sets its URL, headers and body.
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
 * Setting a request up, before http_client_start.  Each returns false when
 * out of memory, the request then unchanged.
 */
extern bool http_request_set_url(HttpRequest *req, const char *url);
/* One "Name: value" line; "Name:" with no value sends no such header. */
extern bool http_request_add_header(HttpRequest *req, const char *line);
/* A DELETE of a push message resource (RFC 8030 §5: a 201's Location), no body. */
extern void http_request_set_delete(HttpRequest *req);

/*
 * The body is written in place (the encryption's output goes straight
 * there): a buffer of capacity bytes, NULL when out of memory, then the
 * length used, at most capacity.
 */
extern uint8 *http_request_body_buffer(HttpRequest *req, size_t capacity);
extern void http_request_set_body_len(HttpRequest *req, size_t len);

/* The caller's pointer, untouched by the client (the worker's delivery). */
extern void http_request_set_owner(HttpRequest *req, void *owner);
extern void *http_request_owner(const HttpRequest *req);

extern const char *http_request_url(const HttpRequest *req);
/* Bytes of the body, as sent (what the counters count). */
extern size_t http_request_body_len(const HttpRequest *req);

/*
 * The answer, once the request is done.  The status is 0 when no HTTP
 * answer came; http_request_error then says why.
 */
extern long http_request_status(const HttpRequest *req);
/* Why there was no answer; "" when there was one. */
extern const char *http_request_error(const HttpRequest *req);
/* No answer because the address policy refused the address connected to. */
extern bool http_request_refused_address(const HttpRequest *req);
/* No answer because no connection to the host could be made. */
extern bool http_request_unreachable(const HttpRequest *req);
/* No answer within HttpClientConfig.timeout_ms. */
extern bool http_request_timed_out(const HttpRequest *req);
/* Seconds from Retry-After, -1 when absent or unparsable. */
extern long http_request_retry_after(const HttpRequest *req);
/* X-WNS-Error-Description, the only reason WNS gives; "" when absent. */
extern const char *http_request_description(const HttpRequest *req);
/*
 * The answer's Location (RFC 8030 §5: the push message resource), as sent;
 * NULL when absent or longer than ENDPOINT_MAX_LEN.
 */
extern const char *http_request_location(const HttpRequest *req);

/*
 * The first HTTP_RESPONSE_KEEP bytes of the response body, NUL-ended, and
 * their length in *len; NULL (and 0) when the body was empty.
 */
extern const char *http_request_response(const HttpRequest *req, size_t *len);

/*
 * Start a request.  It is in flight until http_client_next_done returns it;
 * a request that cannot be sent comes back that way too, with status 0 and
 * http_request_error saying why.
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
