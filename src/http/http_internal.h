/*
 * http_internal.h
 *		What http.c (the client and the wait), curl.c (libcurl: connecting,
 *		HTTP/1.1, finished requests) and http2.c (HTTP/2 framing with
 *		nghttp2 over the connections libcurl opened) share.  Not for use
 *		outside src/http/.  curl.c uses neither of the others; http2.c uses
 *		curl.c; http.c uses both.
 */
#ifndef WEBPUSH_HTTP_INTERNAL_H
#define WEBPUSH_HTTP_INTERNAL_H

#include "postgres.h"

#include <time.h>

#include "storage/latch.h"

#include <curl/curl.h>

#include "http/http.h"

struct HttpRequest
{
	/* Set up by the caller through http.h's setters. */
	char	   *url;
	struct curl_slist *headers;
	uint8	   *body;			/* may be NULL when body_len is 0 */
	size_t		body_len;
	size_t		body_cap;
	bool		is_delete;		/* DELETE, no body; else POST */
	void	   *owner;

	/* Set when the request completes. */
	long		status;			/* HTTP status, 0 when none was received */
	CURLcode	curl_code;
	char		error[HTTP_ERROR_KEEP]; /* why, when status is 0 */
	bool		refused_address;	/* blocked by the address policy */
	AddressClass refused_class; /* ... for being of this class */
	bool		unreachable;	/* no connection to its host could be made */
	bool		timed_out;		/* no answer within the timeout */
	long		retry_after;	/* seconds from Retry-After, -1 if absent */
	char		error_description[HTTP_DESCRIPTION_KEEP];
	char	   *response;		/* first HTTP_RESPONSE_KEEP bytes, NUL-ended */
	size_t		response_len;
	char	   *location;		/* Location, malloc'd; NULL if absent or too long */

	/* The client's. */
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
};

/* libcurl's message fits, with room for what we add around it. */
StaticAssertDecl(HTTP_ERROR_KEEP >= CURL_ERROR_SIZE + 128,
				 "HTTP_ERROR_KEEP is too small for libcurl's error buffer");

/* A socket libcurl asked us to watch. */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN / OUT / INOUT */
	int			position;		/* in the wait set */
	uint32		registered;		/* the WL_SOCKET_* events it waits for there */
} WatchedSocket;

/* Milliseconds on the monotonic clock, for deadlines. */
static inline int64
http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct H2Conn H2Conn;
typedef struct H1Origin H1Origin;

struct HttpClient
{
	CURLM	   *multi;
	HttpClientConfig config;
	char	   *ca_file;		/* our copy of config.ca_file */
	char	   *proxy;			/* our copy of config.proxy */
	int			in_flight;
	int64		timer_at_ms;	/* when libcurl wants its timeout action, on
								 * http_now_ms()'s clock; -1 for none */
	WatchedSocket *sockets;
	int			nsockets;
	int			sockets_cap;
	HttpRequest *done_head;
	HttpRequest *done_tail;
	bool		reset_pending;	/* drop all connections when idle */

	/*
	 * The latch, curl's sockets and the HTTP/2 connections' sockets, kept
	 * between waits and rebuilt only when a socket comes or goes.
	 */
	WaitEventSet *wait_set;
	bool		wait_set_stale;
	WaitEvent  *events;
	int			events_cap;

	/* Easy handles of finished HTTP/1.1 requests, kept for the next ones. */
	CURL	  **idle;
	int			nidle;
	int			idle_cap;

	/* HTTP/2 (http2.c) */
	H2Conn	   *conns;			/* every connection, any origin */
	H1Origin   *h1_origins;		/* origins that did not offer h2 */
	HttpRequest *restart_head;	/* refused streams, to start again */
	HttpRequest *restart_tail;
};

/* curl.c */
extern void http_request_done(HttpClient *client, HttpRequest *req);
/* Keep the first HTTP_RESPONSE_KEEP bytes of a response body. */
extern bool http_keep_response(HttpRequest *req, const char *data, size_t len);
extern bool http_start_with_curl(HttpClient *client, HttpRequest *req);
extern curl_socket_t http_open_socket_checked(HttpClient *client, struct curl_sockaddr *address,
											  bool *refused, AddressClass *refused_class);
/* The multi handle's options and callbacks; false if libcurl refuses one. */
extern bool http_setup_multi(HttpClient *client);
/* An easy handle whose request is over, kept for the next request. */
extern void http_give_back_easy(HttpClient *client, CURL *easy);
extern void http_free_idle_handles(HttpClient *client);
/* Seconds from a finished transfer's Retry-After, or -1. */
extern long http_response_retry_after(CURL *easy);
/* WNS's reason, from X-WNS-Error-Description; "" for none. */
extern void http_response_description(CURL *easy, char *out, size_t outlen);
/* A finished transfer's Location, kept in req. */
extern void http_response_location(HttpRequest *req);
/* Keep a Location of at most ENDPOINT_MAX_LEN bytes (else none). */
extern void http_keep_location(HttpRequest *req, const char *value, size_t len);

/* http2.c */

/*
 * Start req over HTTP/2 (on a connection to its origin, opened if needed).
 * False when the origin is known to offer only HTTP/1.1: the caller uses
 * libcurl's HTTP/1.1 path.  req counts as in flight either way.
 */
extern bool h2_start(HttpClient *client, HttpRequest *req);

/* A transfer libcurl finished: true when it was one of our connects. */
extern bool h2_connect_finished(HttpClient *client, CURL *easy, CURLcode result);

/* Read and write what a connection's socket is ready for. */
extern void h2_socket_ready(HttpClient *client, H2Conn *conn, uint32 events);

/*
 * Start refused requests again, time out the late ones, and return the ms
 * until the next deadline (-1 for none).
 */
extern long h2_tend(HttpClient *client);

/* Abandon a request that is on an HTTP/2 connection or waiting for one. */
extern void h2_cancel(HttpClient *client, HttpRequest *req);

/* Close every connection (the settings changed); nothing may be in flight. */
extern void h2_close_all(HttpClient *client);

/* The connections' sockets, for the wait set. */
extern int	h2_count_sockets(HttpClient *client);
extern void h2_add_sockets(HttpClient *client, WaitEventSet *set);
extern void h2_update_sockets(HttpClient *client, WaitEventSet *set);

#endif							/* WEBPUSH_HTTP_INTERNAL_H */
