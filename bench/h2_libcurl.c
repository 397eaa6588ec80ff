/*
 * h2_libcurl.c
 *		libcurl's own HTTP/2, as webpush would use it: N POSTs through one
 *		multi handle with CURLPIPE_MULTIPLEX, at most C in flight, at most 4
 *		connections to the host.  Prints what became of them and the CPU
 *		time per request; bench/h2_libcurl_vs_nghttp2.sh runs it against a
 *		local HTTP/2 server that counts what it received.
 *
 * Usage: h2_libcurl URL N C CAFILE [verbose]
 * "verbose" turns on libcurl's debug text to count the GOAWAYs it reports
 * (it costs CPU: the CPU figure is the one of a run without it).
 */
#define _GNU_SOURCE				/* memmem */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static long goaways = 0;
static long retries = 0;

static int
debug_callback(CURL *easy, curl_infotype type, char *data, size_t size, void *clientp)
{
	(void) easy;
	(void) clientp;
	if (type != CURLINFO_TEXT)
		return 0;
	/* libcurl 7.88: "recveived GOAWAY, error=%d, last_stream=%u" */
	if (memmem(data, size, "GOAWAY", 6) != NULL && goaways++ == 0)
		fprintf(stderr, "first: %.*s", (int) size, data);
	/* ... and "Connection died, retrying a fresh connect" */
	if (memmem(data, size, "retrying a fresh connect", 24) != NULL)
		retries++;
	return 0;
}

static size_t
discard(char *data, size_t size, size_t nmemb, void *clientp)
{
	(void) data;
	(void) clientp;
	return size * nmemb;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double
wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	const char *url;
	int			n;
	int			concurrency;
	const char *ca;
	int			verbose;
	CURLM	   *multi;
	int			started = 0;
	int			finished = 0;
	int			running = 0;
	long		ok = 0;
	long		failed = 0;
	long		connects = 0;
	long		errors_by_code[CURL_LAST] = {0};
	static char body[4096];
	double		cpu0;
	double		wall0;

	if (argc < 5)
	{
		fprintf(stderr, "usage: %s URL N CONCURRENCY CAFILE [verbose]\n", argv[0]);
		return 2;
	}
	url = argv[1];
	n = atoi(argv[2]);
	concurrency = atoi(argv[3]);
	ca = argv[4];
	verbose = argc > 5 && strcmp(argv[5], "verbose") == 0;
	/* A push message's size: 4 kB of encrypted payload at most. */
	memset(body, 'x', sizeof(body));

	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 4L);
	cpu0 = cpu_seconds();
	wall0 = wall_seconds();
	while (finished < n)
	{
		CURLMsg    *msg;
		int			left;

		while (started < n && started - finished < concurrency)
		{
			CURL	   *easy = curl_easy_init();
			struct curl_slist *headers = NULL;
			char		id[64];

			snprintf(id, sizeof(id), "x-request-id: %d", started);
			headers = curl_slist_append(headers, id);
			headers = curl_slist_append(headers, "content-type: application/octet-stream");
			curl_easy_setopt(easy, CURLOPT_URL, url);
			curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
			curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
			curl_easy_setopt(easy, CURLOPT_CAINFO, ca);
			curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) (started % 2 ? 3000 : 200));
			curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
			curl_easy_setopt(easy, CURLOPT_PRIVATE, headers);
			curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
			curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
			if (verbose)
			{
				curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);
				curl_easy_setopt(easy, CURLOPT_DEBUGFUNCTION, debug_callback);
			}
			curl_multi_add_handle(multi, easy);
			started++;
		}
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			CURL	   *easy = msg->easy_handle;
			struct curl_slist *headers;
			long		status = 0;
			long		nc = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
			curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &nc);
			curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &headers);
			connects += nc;
			if (msg->data.result == CURLE_OK && status >= 200 && status < 300)
				ok++;
			else
			{
				failed++;
				errors_by_code[msg->data.result]++;
			}
			curl_multi_remove_handle(multi, easy);
			curl_easy_cleanup(easy);
			curl_slist_free_all(headers);
			finished++;
		}
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	{
		double		cpu = cpu_seconds() - cpu0;
		double		wall = wall_seconds() - wall0;
		int			i;
		const char *sep = "";

		printf("{\"libcurl\": \"%s\", \"requests\": %d, \"concurrency\": %d, \"ok\": %ld, \"failed\": %ld, "
			   "\"connections\": %ld, \"goaways_reported\": %ld, \"retried_fresh\": %ld, "
			   "\"cpu_us_per_request\": %.1f, \"wall_s\": %.2f, \"errors\": {",
			   curl_version_info(CURLVERSION_NOW)->version, n, concurrency, ok, failed,
			   connects, verbose ? goaways : -1, verbose ? retries : -1,
			   cpu * 1e6 / n, wall);
		for (i = 0; i < CURL_LAST; i++)
			if (errors_by_code[i])
			{
				printf("%s\"%s\": %ld", sep, curl_easy_strerror(i), errors_by_code[i]);
				sep = ", ";
			}
		printf("}}\n");
	}
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return 0;
}
