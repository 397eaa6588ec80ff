/*
 * http2.c
 *		HTTP/2 to push services: libnghttp2 frames the requests over TLS
 *		connections that libcurl opened (DNS, the address policy, TLS and
 *		certificate checks stay libcurl's).
 *
 * Why not libcurl's own HTTP/2: measured on Debian 12's libcurl 7.88.1 on
 * 2026-12-03 (bench/h2_libcurl_vs_nghttp2.sh: 5,000 POSTs, 100 at once,
 * through one multi handle with CURLPIPE_MULTIPLEX, to Node.js 20's HTTP/2
 * server, whose nghttp2 1.61 guards against "rapid reset"), libcurl resets
 * the streams it has finished, and the server answers with GOAWAY
 * (INTERNAL_ERROR) after about 1,090 streams: 3 or 4 GOAWAYs and 5 to 7
 * connections for the 5,000 requests.  libcurl then sends again, on a new
 * connection, requests that were in flight when the GOAWAY came, although
 * the server had processed them: in four runs 14, 36, 60 and 74 of the 5,000
 * arrived twice, the same notification twice.  With the server's
 * MAX_CONCURRENT_STREAMS at 10, 28 to 31 connections, 13 and 26 duplicates,
 * and 7 requests failed ("Failure when receiving data from the peer").  The
 * client alone, without any encryption, used 134 to 270 us of CPU a request
 * (getrusage; two shared cores), more than the worker's whole message
 * (73 to 120 us, the encryption's 48 to 68 us included; docs/performance.md).
 * Here a stream ends when the response has ended, a stream the server
 * refused (REFUSED_STREAM, or above a GOAWAY's last stream) is started again
 * at once, and one that may have been processed is reported as failed, for
 * the caller to retry and record.
 *
 * Between requests: a connection idle for HttpClientConfig.idle_timeout_ms
 * is closed with a GOAWAY; one on which nothing has been received for a
 * while is checked with a PING before a new stream goes on it
 * (H2_PING_AFTER_QUIET_MS), and without an ACK what waited for it starts
 * again on a new connection.
 *
 * A connection is opened with CURLOPT_CONNECT_ONLY and ALPN offered through
 * the SSL_CTX (libcurl's own ALPN is off, so that it does not put its HTTP/2
 * layer on the connection); an origin that does not select h2 is remembered
 * and served by libcurl's HTTP/1.1 path.
 *
 * Longer than 800 lines: a connection's life (connect, SETTINGS, streams,
 * flow control, GOAWAY, refused streams, timeouts) is one state machine
 * driven by nghttp2's callbacks, and each part reads the others' state.
 */
#include "postgres.h"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_internal.h"
#include "http/retry_after.h"

/* Connections to one origin at most (old ones draining included). */
#define H2_MAX_CONNS_PER_ORIGIN 4
/* A refused request is started again this many times at most. */
#define H2_MAX_REFUSALS 5
/* What one write hands to TLS at most. */
#define H2_WRITE_CHUNK 65536

/*
 * Requests placed on a connection go out together: a write (a system call
 * and TLS records) per H2_FLUSH_EVERY requests, and the rest before the
 * client next waits (h2_tend).  The worker starts a claim's requests one
 * after the other, each after its encryption, so waiting for the last of a
 * large claim would leave the push service idle; sixteen typical requests
 * fill about one TLS record.
 */
#define H2_FLUSH_EVERY 16

/*
 * A connection on which nothing has been received for this long (or for half
 * of HttpClientConfig.idle_timeout_ms, when that is shorter) may be gone
 * without our knowing: a NAT or firewall between us forgets a flow after a
 * few quiet minutes, and a push service may drop it without a word.  A
 * request sent into such a connection waits for its whole timeout and then
 * counts as "may have been processed".  So a PING goes first, and the
 * request follows its ACK.  30 s is well under the shortest NAT timeouts
 * seen in practice, and a busy connection never pays for it.
 */
#define H2_PING_AFTER_QUIET_MS 30000
/*
 * The ACK of that PING is awaited this long (or HttpClientConfig.timeout_ms,
 * when shorter): push services answer from data centres in well under a
 * second, and the requests held back wait no longer than this before they
 * go out on a new connection.
 */
#define H2_PING_ACK_MS 3000

typedef enum H2State
{
	H2_CONNECTING,
	H2_READY,
	H2_DRAINING,				/* GOAWAY received: no new streams */
	H2_DEAD
} H2State;

struct H2Conn
{
	HttpClient *client;
	char	   *authority;		/* host[:port], as the URL has it */
	CURL	   *easy;			/* CONNECT_ONLY: owns the TLS connection */
	curl_socket_t fd;
	nghttp2_session *session;
	H2State		state;
	char		alpn[16];		/* what the server selected */
	SSL		   *ssl;			/* libcurl's, seen at the handshake's end */
	bool		refused_address;
	AddressClass refused_class;
	char		error[CURL_ERROR_SIZE];
	HttpRequest *waiting_head;	/* started before the connection was up */
	HttpRequest *waiting_tail;
	HttpRequest *streams;		/* submitted, not finished (h2_next/h2_prev) */
	bool		goaway;
	int32		goaway_last_id;
	int64		last_recv_ms;	/* when something last came, http_now_ms() */
	int64		idle_since_ms;	/* when its last stream ended */
	int64		ping_sent_ms;	/* a PING awaiting its ACK: when sent, else 0 */
	uint8	   *out;			/* bytes nghttp2 produced, not yet written */
	size_t		out_len;
	size_t		out_cap;
	bool		write_blocked;	/* TLS could not take more: wait writable */
	int			unflushed;		/* requests submitted since the last flush */
	int			position;		/* in the wait set */
	uint32		registered;
	H2Conn	   *next;
};

struct H1Origin
{
	char	   *authority;
	H1Origin   *next;
};


/* "host[:port]" and "/path?query" of an https URL; false if unparsable. */
static bool
split_url(const char *url, char **authority, char **path)
{
	const char *start;
	const char *slash;

	if (strncmp(url, "https://", 8) != 0)
		return false;
	start = url + 8;
	slash = strchr(start, '/');
	if (slash == NULL || slash == start)
		return false;
	*authority = strndup(start, slash - start);
	*path = strdup(slash);
	return *authority != NULL && *path != NULL;
}

static bool
origin_is_h1(HttpClient *client, const char *authority)
{
	H1Origin   *o;

	for (o = client->h1_origins; o != NULL; o = o->next)
		if (strcmp(o->authority, authority) == 0)
			return true;
	return false;
}

static void
remember_h1(HttpClient *client, const char *authority)
{
	H1Origin   *o;

	if (origin_is_h1(client, authority))
		return;
	o = malloc(sizeof(H1Origin));
	if (o == NULL)
		return;
	o->authority = strdup(authority);
	if (o->authority == NULL)
	{
		free(o);
		return;
	}
	o->next = client->h1_origins;
	client->h1_origins = o;
}

/* Finish req with an error (no HTTP status). */
static void
fail_request(HttpClient *client, HttpRequest *req, const char *why)
{
	req->status = 0;
	snprintf(req->error, sizeof(req->error), "%s", why);
	req->h2 = NULL;
	http_request_done(client, req);
}

/* A request the server did not process: start it again, soon. */
static void
restart_request(HttpClient *client, HttpRequest *req)
{
	req->h2 = NULL;
	req->stream_id = 0;
	if (++req->refusals > H2_MAX_REFUSALS)
	{
		fail_request(client, req, "the push service refused the request every time it was sent");
		return;
	}
	req->status = 0;
	req->retry_after = -1;
	req->error_description[0] = '\0';
	http_keep_location(req, NULL, 0);
	req->response_len = 0;
	req->body_sent = 0;
	req->h2_next = NULL;
	if (client->restart_tail)
		client->restart_tail->h2_next = req;
	else
		client->restart_head = req;
	client->restart_tail = req;
}

/* Requests that waited for a connection that will take no more: elsewhere. */
static void
restart_waiting(HttpClient *client, H2Conn *conn)
{
	HttpRequest *req;

	while ((req = conn->waiting_head) != NULL)
	{
		conn->waiting_head = req->h2_next;
		restart_request(client, req);
	}
	conn->waiting_tail = NULL;
}

static void
link_stream(H2Conn *conn, HttpRequest *req)
{
	req->h2_prev = NULL;
	req->h2_next = conn->streams;
	if (conn->streams)
		conn->streams->h2_prev = req;
	conn->streams = req;
}

static void
unlink_stream(H2Conn *conn, HttpRequest *req)
{
	if (req->h2_prev)
		req->h2_prev->h2_next = req->h2_next;
	else
		conn->streams = req->h2_next;
	if (req->h2_next)
		req->h2_next->h2_prev = req->h2_prev;
	req->h2_next = req->h2_prev = NULL;
	if (conn->streams == NULL)
		conn->idle_since_ms = http_now_ms();
}

/* nghttp2 callbacks ------------------------------------------------- */

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame,
		  const uint8_t *name, size_t namelen, const uint8_t *value,
		  size_t valuelen, uint8_t flags, void *user_data)
{
	HttpRequest *req;

	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	req = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (req == NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0)
	{
		long		status = 0;
		size_t		i;

		for (i = 0; i < valuelen && i < 3 && value[i] >= '0' && value[i] <= '9'; i++)
			status = status * 10 + (value[i] - '0');
		/* Informational answers (1xx) precede the real one. */
		if (status >= 200)
			req->status = status;
	}
	else if (namelen == 11 && memcmp(name, "retry-after", 11) == 0)
		req->retry_after = retry_after_parse((const char *) value, valuelen, time(NULL));
	else if (namelen == 8 && memcmp(name, "location", 8) == 0)
		http_keep_location(req, (const char *) value, valuelen);
	else if (namelen == 23 && memcmp(name, "x-wns-error-description", 23) == 0)
	{
		size_t		n = Min(valuelen, sizeof(req->error_description) - 1);

		memcpy(req->error_description, value, n);
		req->error_description[n] = '\0';
	}
	return 0;
}

static int
on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			  const uint8_t *data, size_t len, void *user_data)
{
	HttpRequest *req = nghttp2_session_get_stream_user_data(session, stream_id);

	/* The body is only kept for diagnostics: out of memory loses no answer. */
	if (req != NULL)
		(void) http_keep_response(req, (const char *) data, len);
	return 0;
}

static int
on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
				void *user_data)
{
	H2Conn	   *conn = user_data;
	HttpRequest *req = nghttp2_session_get_stream_user_data(session, stream_id);

	if (req == NULL)
		return 0;				/* cancelled */
	nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	unlink_stream(conn, req);
	if (error_code == NGHTTP2_NO_ERROR && req->status >= 200)
	{
		req->h2 = NULL;
		http_request_done(conn->client, req);
	}
	else if (error_code == NGHTTP2_REFUSED_STREAM)
		restart_request(conn->client, req);	/* not processed (RFC 9113 8.7) */
	else
	{
		char		why[128];

		snprintf(why, sizeof(why), "the push service reset the request (HTTP/2 %s)",
				 nghttp2_http2_strerror(error_code));
		fail_request(conn->client, req, why);
	}
	return 0;
}

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	H2Conn	   *conn = user_data;

	if (frame->hd.type == NGHTTP2_GOAWAY)
	{
		/*
		 * Streams above last_stream_id were not processed: nghttp2 closes
		 * them as refused, and they start again elsewhere.  The others may
		 * still be answered here.
		 */
		conn->goaway = true;
		conn->goaway_last_id = frame->goaway.last_stream_id;
		conn->state = H2_DRAINING;
	}
	else if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK))
		conn->ping_sent_ms = 0; /* alive: h2_socket_ready sends what waited */
	return 0;
}

static ssize_t
read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
		  uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	HttpRequest *req = source->ptr;
	size_t		n = Min(length, req->body_len - req->body_sent);

	memcpy(buf, req->body + req->body_sent, n);
	req->body_sent += n;
	if (req->body_sent == req->body_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t) n;
}

static nghttp2_session_callbacks *
session_callbacks(void)
{
	static nghttp2_session_callbacks *callbacks = NULL;

	if (callbacks == NULL && nghttp2_session_callbacks_new(&callbacks) == 0)
	{
		nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
		nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
		nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
		nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
	}
	return callbacks;
}

/* Connections ------------------------------------------------------- */

/* Offer h2 (and http/1.1) in ALPN, and learn which one the server chose. */
static void
alpn_info_callback(const SSL *ssl, int where, int ret)
{
	H2Conn	   *conn;
	const unsigned char *alpn = NULL;
	unsigned int len = 0;

	if (!(where & SSL_CB_HANDSHAKE_DONE))
		return;
	conn = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (conn == NULL)
		return;
	SSL_get0_alpn_selected(ssl, &alpn, &len);
	snprintf(conn->alpn, sizeof(conn->alpn), "%.*s", (int) len, alpn ? (const char *) alpn : "");
	/* libcurl does not hand it out for a connect-only transfer. */
	conn->ssl = (SSL *) ssl;
}

static CURLcode
ssl_ctx_callback(CURL *easy, void *ssl_ctx, void *clientp)
{
	static const unsigned char protocols[] = "\x02h2\x08http/1.1";

	/* libcurl makes an SSL_CTX for each connection. */
	SSL_CTX_set_app_data((SSL_CTX *) ssl_ctx, clientp);
	SSL_CTX_set_info_callback((SSL_CTX *) ssl_ctx, alpn_info_callback);
	if (SSL_CTX_set_alpn_protos((SSL_CTX *) ssl_ctx, protocols, sizeof(protocols) - 1) != 0)
		return CURLE_SSL_CONNECT_ERROR;
	return CURLE_OK;
}

static curl_socket_t
conn_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	H2Conn	   *conn = clientp;

	(void) purpose;
	return http_open_socket_checked(conn->client, address, &conn->refused_address,
									&conn->refused_class);
}

#define CONN_SETOPT(option, value) \
	do { \
		if (ok && curl_easy_setopt(easy, (option), (value)) != CURLE_OK) \
			ok = false; \
	} while (0)

static H2Conn *
conn_open(HttpClient *client, const char *authority)
{
	H2Conn	   *conn = calloc(1, sizeof(H2Conn));
	CURL	   *easy = curl_easy_init();
	char	   *url = malloc(strlen(authority) + 10);
	bool		ok = conn != NULL && easy != NULL && url != NULL;

	if (ok)
	{
		conn->client = client;
		conn->authority = strdup(authority);
		conn->fd = CURL_SOCKET_BAD;
		conn->state = H2_CONNECTING;
		sprintf(url, "https://%s/", authority);
		ok = conn->authority != NULL;
	}
	CONN_SETOPT(CURLOPT_URL, url);
	CONN_SETOPT(CURLOPT_CONNECT_ONLY, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	CONN_SETOPT(CURLOPT_PROTOCOLS_STR, "https");
#else
	CONN_SETOPT(CURLOPT_PROTOCOLS, (long) CURLPROTO_HTTPS);
#endif
	/* No HTTP layer of libcurl's on the connection: ALPN is ours. */
	CONN_SETOPT(CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	CONN_SETOPT(CURLOPT_SSL_ENABLE_ALPN, 0L);
	CONN_SETOPT(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_callback);
	CONN_SETOPT(CURLOPT_SSL_CTX_DATA, conn);
	CONN_SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	CONN_SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (client->ca_file != NULL)
		CONN_SETOPT(CURLOPT_CAINFO, client->ca_file);
	CONN_SETOPT(CURLOPT_PROXY, client->proxy ? client->proxy : "");
	if (client->proxy)
		CONN_SETOPT(CURLOPT_HTTPPROXYTUNNEL, 1L);
	CONN_SETOPT(CURLOPT_NOSIGNAL, 1L);
	CONN_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, client->config.timeout_ms);
	/*
	 * A transfer's own MAXAGE_CONN applies to every cached connection when
	 * it connects: this one's closes none of ours (curl.c, h1_max_idle_s).
	 */
	CONN_SETOPT(CURLOPT_MAXAGE_CONN, 365L * 24 * 3600);
	CONN_SETOPT(CURLOPT_OPENSOCKETFUNCTION, conn_open_socket);
	CONN_SETOPT(CURLOPT_OPENSOCKETDATA, conn);
	CONN_SETOPT(CURLOPT_ERRORBUFFER, conn ? conn->error : NULL);
	free(url);
	if (!ok || curl_multi_add_handle(client->multi, easy) != CURLM_OK)
	{
		if (easy)
			curl_easy_cleanup(easy);
		if (conn)
			free(conn->authority);
		free(conn);
		return NULL;
	}
	conn->easy = easy;
	conn->next = client->conns;
	client->conns = conn;
	return conn;
}

/* Unlink and free a connection whose requests have all been dealt with. */
static void
conn_destroy(HttpClient *client, H2Conn *conn)
{
	H2Conn	  **link = &client->conns;

	while (*link != NULL && *link != conn)
		link = &(*link)->next;
	if (*link == conn)
		*link = conn->next;
	if (conn->session)
		nghttp2_session_del(conn->session);
	/* Removing a CONNECT_ONLY handle closes its connection. */
	curl_multi_remove_handle(client->multi, conn->easy);
	curl_easy_cleanup(conn->easy);
	if (conn->fd != CURL_SOCKET_BAD)
		client->wait_set_stale = true;
	free(conn->out);
	free(conn->authority);
	free(conn);
}

/*
 * The connection is gone.  Requests not yet sent, and streams above a
 * GOAWAY's last stream, were not processed: they start again.  The others
 * may have been: they fail, for the caller to retry and record.
 */
static void
conn_fail(HttpClient *client, H2Conn *conn, const char *why)
{
	HttpRequest *req;

	conn->state = H2_DEAD;
	restart_waiting(client, conn);
	while ((req = conn->streams) != NULL)
	{
		unlink_stream(conn, req);
		if (conn->session)
			nghttp2_session_set_stream_user_data(conn->session, req->stream_id, NULL);
		if (conn->goaway && req->stream_id > conn->goaway_last_id)
			restart_request(client, req);
		else
		{
			char		msg[CURL_ERROR_SIZE + 128];

			snprintf(msg, sizeof(msg),
					 "the connection to the push service was lost before it answered (%s)", why);
			fail_request(client, req, msg);
		}
	}
	conn_destroy(client, conn);
}

/* nghttp2's pending frames out to TLS, in as few writes as possible. */
static bool
conn_flush(HttpClient *client, H2Conn *conn)
{
	for (;;)
	{
		size_t		sent = 0;
		CURLcode	rc;

		if (conn->out_len == 0)
		{
			const uint8_t *data;
			ssize_t		n;

			while (conn->out_len < H2_WRITE_CHUNK &&
				   (n = nghttp2_session_mem_send(conn->session, &data)) != 0)
			{
				if (n < 0)
				{
					conn_fail(client, conn, nghttp2_strerror((int) n));
					return false;
				}
				if (conn->out_len + n > conn->out_cap)
				{
					size_t		cap = Max(conn->out_cap * 2, conn->out_len + n + 4096);
					uint8	   *grown = realloc(conn->out, cap);

					if (grown == NULL)
					{
						conn_fail(client, conn, "out of memory");
						return false;
					}
					conn->out = grown;
					conn->out_cap = cap;
				}
				memcpy(conn->out + conn->out_len, data, n);
				conn->out_len += n;
			}
		}
		if (conn->out_len == 0)
		{
			conn->write_blocked = false;
			conn->unflushed = 0;
			return true;
		}
		/* After CURLE_AGAIN, TLS needs the same bytes again: they stay put. */
		rc = curl_easy_send(conn->easy, conn->out, conn->out_len, &sent);
		if (rc == CURLE_AGAIN)
		{
			conn->write_blocked = true;
			return true;
		}
		if (rc != CURLE_OK)
		{
			conn_fail(client, conn, curl_easy_strerror(rc));
			return false;
		}
		memmove(conn->out, conn->out + sent, conn->out_len - sent);
		conn->out_len -= sent;
	}
}

/* Everything the server sent, into nghttp2. */
static bool
conn_read(HttpClient *client, H2Conn *conn)
{
	uint8		buf[16384];

	for (;;)
	{
		size_t		n = 0;
		CURLcode	rc = curl_easy_recv(conn->easy, buf, sizeof(buf), &n);
		ssize_t		used;

		if (rc == CURLE_AGAIN)
			return true;
		if (rc != CURLE_OK || n == 0)
		{
			conn_fail(client, conn, rc != CURLE_OK ? curl_easy_strerror(rc) :
					  "closed by the push service");
			return false;
		}
		conn->last_recv_ms = http_now_ms();
		used = nghttp2_session_mem_recv(conn->session, buf, n);
		if (used < 0)
		{
			conn_fail(client, conn, nghttp2_strerror((int) used));
			return false;
		}
	}
}

/* Headers from the request's "Name: value" lines, lower-cased. */
static int
build_headers(HttpRequest *req, const char *authority, const char *path,
			  nghttp2_nv *nv, int max, char *names, size_t names_cap)
{
	struct curl_slist *h;
	int			n = 0;
	size_t		used = 0;

#define NV(n_, nl_, v_, vl_) \
	do { \
		nv[n].name = (uint8_t *) (n_); \
		nv[n].namelen = (nl_); \
		nv[n].value = (uint8_t *) (v_); \
		nv[n].valuelen = (vl_); \
		nv[n].flags = NGHTTP2_NV_FLAG_NONE; \
		n++; \
	} while (0)

	if (req->is_delete)
		NV(":method", 7, "DELETE", 6);
	else
		NV(":method", 7, "POST", 4);
	NV(":scheme", 7, "https", 5);
	NV(":authority", 10, authority, strlen(authority));
	NV(":path", 5, path, strlen(path));
	for (h = req->headers; h != NULL && n < max; h = h->next)
	{
		const char *colon = strchr(h->data, ':');
		const char *value;
		size_t		namelen;
		size_t		i;

		if (colon == NULL)
			continue;
		namelen = colon - h->data;
		value = colon + 1;
		while (*value == ' ')
			value++;
		if (*value == '\0' || used + namelen > names_cap)
			continue;			/* "Expect:" and the like: no header */
		for (i = 0; i < namelen; i++)
		{
			char		c = h->data[i];

			names[used + i] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
		}
		NV(names + used, namelen, value, strlen(value));
		used += namelen;
	}
	return n;
#undef NV
}

static void
conn_submit(HttpClient *client, H2Conn *conn, HttpRequest *req)
{
	nghttp2_nv	nv[32];
	char		names[1024];
	char		length[24];
	nghttp2_data_provider body;
	int			n;
	int32_t		id;

	n = build_headers(req, conn->authority, req->path, nv, lengthof(nv) - 1,
					  names, sizeof(names));
	snprintf(length, sizeof(length), "%zu", req->body_len);
	nv[n].name = (uint8_t *) "content-length";
	nv[n].namelen = 14;
	nv[n].value = (uint8_t *) length;
	nv[n].valuelen = strlen(length);
	nv[n].flags = NGHTTP2_NV_FLAG_NONE;
	n++;
	body.source.ptr = req;
	body.read_callback = read_body;
	req->body_sent = 0;
	id = nghttp2_submit_request(conn->session, NULL, nv, n,
								req->body_len > 0 ? &body : NULL, req);
	if (id < 0)
	{
		fail_request(client, req, nghttp2_strerror(id));
		return;
	}
	req->stream_id = id;
	req->h2 = conn;
	link_stream(conn, req);
}

/* Requests that waited for the connection to be up (or to answer a PING). */
static void
submit_waiting(HttpClient *client, H2Conn *conn)
{
	HttpRequest *req;

	while ((req = conn->waiting_head) != NULL)
	{
		conn->waiting_head = req->h2_next;
		conn_submit(client, conn, req);
	}
	conn->waiting_tail = NULL;
}

static int64
ping_after_quiet_ms(HttpClient *client)
{
	if (client->config.idle_timeout_ms > 0)
		return Min(H2_PING_AFTER_QUIET_MS, client->config.idle_timeout_ms / 2);
	return H2_PING_AFTER_QUIET_MS;
}

static int64
ping_ack_ms(HttpClient *client)
{
	return Min(H2_PING_ACK_MS, client->config.timeout_ms);
}

/* Up, with nothing on it or waiting for it, for the idle timeout or longer. */
static bool
conn_idle_expired(HttpClient *client, H2Conn *conn, int64 now)
{
	return conn->state == H2_READY && conn->streams == NULL &&
		conn->waiting_head == NULL && client->config.idle_timeout_ms > 0 &&
		now - conn->idle_since_ms >= client->config.idle_timeout_ms;
}

/* Say goodbye (GOAWAY, NO_ERROR) and close a connection nothing uses. */
static void
conn_close_idle(HttpClient *client, H2Conn *conn)
{
	if (nghttp2_session_terminate_session(conn->session, NGHTTP2_NO_ERROR) == 0 &&
		!conn_flush(client, conn))
		return;					/* conn_flush closed it */
	conn_destroy(client, conn);
}

/* The connection is up: HTTP/2 if the server chose it. */
bool
h2_connect_finished(HttpClient *client, CURL *easy, CURLcode result)
{
	H2Conn	   *conn;
	HttpRequest *req;
	nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};

	for (conn = client->conns; conn != NULL; conn = conn->next)
		if (conn->easy == easy)
			break;
	if (conn == NULL)
		return false;

	if (result != CURLE_OK)
	{
		char		why[CURL_ERROR_SIZE + 128];

		if (conn->refused_address)
			snprintf(why, sizeof(why),
					 "refused to connect to a %s address (webpush.allow_private_endpoints is off)",
					 address_class_name(conn->refused_class));
		else
			snprintf(why, sizeof(why), "%s",
					 conn->error[0] ? conn->error : curl_easy_strerror(result));
		while ((req = conn->waiting_head) != NULL)
		{
			conn->waiting_head = req->h2_next;
			req->refused_address = conn->refused_address;
			req->refused_class = conn->refused_class;
			req->unreachable = !conn->refused_address;
			fail_request(client, req, why);
		}
		conn->waiting_tail = NULL;
		conn_destroy(client, conn);
		return true;
	}

	if (strcmp(conn->alpn, "h2") != 0)
	{
		/* An HTTP/1.1 push service: libcurl serves this origin from now on. */
		remember_h1(client, conn->authority);
		while ((req = conn->waiting_head) != NULL)
		{
			conn->waiting_head = req->h2_next;
			req->h2 = NULL;
			if (!http_start_with_curl(client, req))
				http_request_done(client, req);
		}
		conn->waiting_tail = NULL;
		conn_destroy(client, conn);
		return true;
	}

	if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &conn->fd) != CURLE_OK ||
		conn->fd == CURL_SOCKET_BAD ||
		session_callbacks() == NULL ||
		nghttp2_session_client_new(&conn->session, session_callbacks(), conn) != 0 ||
		nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings,
								lengthof(settings)) != 0)
	{
		conn_fail(client, conn, "could not start an HTTP/2 session");
		return true;
	}
	conn->state = H2_READY;

	/*
	 * From here on, TLS reads what the socket has, not a record's header
	 * and then its body: two system calls a record become one for many.
	 * Safe because conn_read reads until TLS wants the socket again, so
	 * nothing read ahead waits for a socket event that will not come.
	 * (libcurl's own HTTP/1.1 reads stop at a response's end, so their
	 * connections keep the default.)
	 */
	if (conn->ssl != NULL)
		SSL_set_read_ahead(conn->ssl, 1);
	conn->last_recv_ms = conn->idle_since_ms = http_now_ms();
	client->wait_set_stale = true;
	submit_waiting(client, conn);
	(void) conn_flush(client, conn);
	return true;
}

/*
 * Put req on a connection to its origin; false if none can be had.  On a
 * connection that has been quiet for a while, it waits for the ACK of a PING
 * first (H2_PING_AFTER_QUIET_MS).
 */
static bool
place_request(HttpClient *client, HttpRequest *req)
{
	H2Conn	   *conn;
	H2Conn	   *next;
	H2Conn	   *usable = NULL;
	int			count = 0;
	int64		now = http_now_ms();

	for (conn = client->conns; conn != NULL; conn = next)
	{
		next = conn->next;
		if (strcmp(conn->authority, req->authority) != 0)
			continue;
		if (conn_idle_expired(client, conn, now))
		{
			conn_close_idle(client, conn);
			continue;
		}
		count++;
		if (conn->state == H2_READY || conn->state == H2_CONNECTING)
			usable = conn;
	}
	if (usable == NULL && count < H2_MAX_CONNS_PER_ORIGIN)
		usable = conn_open(client, req->authority);
	if (usable == NULL)
		return false;
	req->h2 = usable;
	if (usable->state == H2_READY && usable->ping_sent_ms == 0 &&
		now - usable->last_recv_ms >= ping_after_quiet_ms(client))
	{
		if (nghttp2_submit_ping(usable->session, NGHTTP2_FLAG_NONE, NULL) == 0)
			usable->ping_sent_ms = now;
	}
	if (usable->state == H2_READY && usable->ping_sent_ms == 0)
	{
		conn_submit(client, usable, req);
		if (++usable->unflushed >= H2_FLUSH_EVERY)
			(void) conn_flush(client, usable);
	}
	else
	{
		req->h2_next = NULL;
		if (usable->waiting_tail)
			usable->waiting_tail->h2_next = req;
		else
			usable->waiting_head = req;
		usable->waiting_tail = req;
		if (usable->state == H2_READY)
			(void) conn_flush(client, usable);	/* the PING */
	}
	return true;
}

bool
h2_start(HttpClient *client, HttpRequest *req)
{
	char	   *authority = NULL;
	char	   *path = NULL;

	if (!split_url(req->url, &authority, &path))
	{
		free(authority);
		free(path);
		fail_request(client, req, "the endpoint is not an https URL");
		return true;
	}
	if (origin_is_h1(client, authority))
	{
		free(authority);
		free(path);
		return false;
	}
	free(req->authority);
	free(req->path);
	req->authority = authority;
	req->path = path;
	req->deadline_ms = http_now_ms() + client->config.timeout_ms;
	if (!place_request(client, req))
		fail_request(client, req, "could not open a connection to the push service");
	return true;
}

void
h2_socket_ready(HttpClient *client, H2Conn *conn, uint32 events)
{
	H2Conn	   *c;

	/* The wait set may be older than the connection list. */
	for (c = client->conns; c != NULL && c != conn; c = c->next)
		;
	if (c == NULL || conn->state == H2_CONNECTING || conn->state == H2_DEAD)
		return;
	if ((events & WL_SOCKET_READABLE) && !conn_read(client, conn))
		return;
	/* The PING came back, or a GOAWAY instead: what waited for it goes on. */
	if (conn->waiting_head != NULL && conn->state == H2_DRAINING)
		restart_waiting(client, conn);
	else if (conn->waiting_head != NULL && conn->ping_sent_ms == 0)
		submit_waiting(client, conn);
	if (!conn_flush(client, conn))
		return;
	/* Drained after a GOAWAY: nothing more will come. */
	if (conn->state == H2_DRAINING && conn->streams == NULL && conn->out_len == 0)
		conn_destroy(client, conn);
}

long
h2_tend(HttpClient *client)
{
	H2Conn	   *conn;
	H2Conn	   *next;
	HttpRequest *req;
	int64		now = http_now_ms();
	int64		earliest = -1;

	/* Refused requests go out again at once, on a connection that takes them. */
	while ((req = client->restart_head) != NULL)
	{
		client->restart_head = req->h2_next;
		if (client->restart_head == NULL)
			client->restart_tail = NULL;
		req->h2_next = NULL;
		if (!place_request(client, req))
			fail_request(client, req, "could not open a connection to the push service");
	}

	for (conn = client->conns; conn != NULL; conn = next)
	{
		HttpRequest *r;
		HttpRequest *rnext;
		bool		cancelled = false;

		next = conn->next;
		if (conn->unflushed > 0 && conn->state == H2_READY &&
			!conn_flush(client, conn))
			continue;			/* conn_flush closed it */
		if (conn->ping_sent_ms != 0 && conn->state == H2_READY)
		{
			int64		ack_due = conn->ping_sent_ms + ping_ack_ms(client);

			if (ack_due <= now)
			{
				/*
				 * Gone without a word.  What waited for the PING was never
				 * sent and goes out on a new connection; streams already
				 * sent may have been processed, and fail.
				 */
				conn_fail(client, conn, "no answer to a PING");
				continue;
			}
			if (earliest < 0 || ack_due < earliest)
				earliest = ack_due;
		}
		if (conn_idle_expired(client, conn, now))
		{
			conn_close_idle(client, conn);
			continue;
		}
		if (conn->state == H2_READY && conn->streams == NULL &&
			conn->waiting_head == NULL && client->config.idle_timeout_ms > 0)
		{
			int64		idle_due = conn->idle_since_ms + client->config.idle_timeout_ms;

			if (earliest < 0 || idle_due < earliest)
				earliest = idle_due;
		}
		for (r = conn->waiting_head; r != NULL; r = r->h2_next)
			if (earliest < 0 || r->deadline_ms < earliest)
				earliest = r->deadline_ms;
		for (r = conn->streams; r != NULL; r = rnext)
		{
			rnext = r->h2_next;
			if (r->deadline_ms <= now)
			{
				char		why[256];

				/*
				 * What the connection was doing says whose the wait was:
				 * a request not sent in full waited for flow control or
				 * the socket, one sent in full for the push service.
				 */
				snprintf(why, sizeof(why),
						 "timed out: no answer within %ld ms (%zu of %zu body bytes sent; send window %d, connection's %d; %zu bytes waiting for the socket%s)",
						 client->config.timeout_ms, r->body_sent, r->body_len,
						 nghttp2_session_get_stream_remote_window_size(conn->session, r->stream_id),
						 nghttp2_session_get_remote_window_size(conn->session),
						 conn->out_len, conn->write_blocked ? ", which is full" : "");
				unlink_stream(conn, r);
				nghttp2_session_set_stream_user_data(conn->session, r->stream_id, NULL);
				nghttp2_submit_rst_stream(conn->session, NGHTTP2_FLAG_NONE, r->stream_id,
										  NGHTTP2_CANCEL);
				r->timed_out = true;
				fail_request(client, r, why);
				cancelled = true;
			}
			else if (earliest < 0 || r->deadline_ms < earliest)
				earliest = r->deadline_ms;
		}
		if (cancelled)
			(void) conn_flush(client, conn);
	}
	/* Requests the loop above put back start at the next call, at once. */
	if (client->restart_head != NULL)
		return 0;
	if (earliest < 0)
		return -1;
	return earliest > now ? (long) (earliest - now) : 0;
}

void
h2_cancel(HttpClient *client, HttpRequest *req)
{
	H2Conn	   *conn = req->h2;
	HttpRequest **link;
	HttpRequest *prev = NULL;

	if (conn == NULL)
	{
		/* Perhaps waiting to start again. */
		for (link = &client->restart_head; *link != NULL; link = &(*link)->h2_next)
		{
			if (*link == req)
			{
				*link = req->h2_next;
				if (client->restart_tail == req)
					client->restart_tail = prev;
				break;
			}
			prev = *link;
		}
		return;
	}
	if (req->stream_id > 0)
	{
		unlink_stream(conn, req);
		nghttp2_session_set_stream_user_data(conn->session, req->stream_id, NULL);
		nghttp2_submit_rst_stream(conn->session, NGHTTP2_FLAG_NONE, req->stream_id,
								  NGHTTP2_CANCEL);
		(void) conn_flush(client, conn);
	}
	else
	{
		for (link = &conn->waiting_head; *link != NULL; link = &(*link)->h2_next)
		{
			if (*link == req)
			{
				*link = req->h2_next;
				if (conn->waiting_tail == req)
					conn->waiting_tail = prev;
				break;
			}
			prev = *link;
		}
	}
	req->h2 = NULL;
	req->h2_next = NULL;
}

void
h2_close_all(HttpClient *client)
{
	H1Origin   *o;

	while (client->conns != NULL)
		conn_destroy(client, client->conns);
	while ((o = client->h1_origins) != NULL)
	{
		client->h1_origins = o->next;
		free(o->authority);
		free(o);
	}
}

static uint32
conn_events(const H2Conn *conn)
{
	return WL_SOCKET_READABLE |
		(conn->write_blocked ? WL_SOCKET_WRITEABLE : 0);
}

int
h2_count_sockets(HttpClient *client)
{
	H2Conn	   *conn;
	int			n = 0;

	for (conn = client->conns; conn != NULL; conn = conn->next)
		if (conn->state != H2_CONNECTING && conn->fd != CURL_SOCKET_BAD)
			n++;
	return n;
}

void
h2_add_sockets(HttpClient *client, WaitEventSet *set)
{
	H2Conn	   *conn;

	for (conn = client->conns; conn != NULL; conn = conn->next)
	{
		if (conn->state == H2_CONNECTING || conn->fd == CURL_SOCKET_BAD)
			continue;
		conn->registered = conn_events(conn);
		conn->position = AddWaitEventToSet(set, conn->registered, conn->fd, NULL, conn);
	}
}

void
h2_update_sockets(HttpClient *client, WaitEventSet *set)
{
	H2Conn	   *conn;

	for (conn = client->conns; conn != NULL; conn = conn->next)
	{
		uint32		ev;

		if (conn->state == H2_CONNECTING || conn->fd == CURL_SOCKET_BAD)
			continue;
		ev = conn_events(conn);
		if (ev != conn->registered)
		{
			ModifyWaitEvent(set, conn->position, ev, NULL);
			conn->registered = ev;
		}
	}
}
