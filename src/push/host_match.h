/*
 * host_match.h
 *		Settings that give push-service hosts a value each, written
 *		"host=value, *.domain=value, host:port=value" (webpush.payload_limits,
 *		webpush.host_rates): the host part of an entry read, and which entry
 *		an origin gets.  Plain C, tested in test/unit.
 */
#ifndef WEBPUSH_HOST_MATCH_H
#define WEBPUSH_HOST_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#define HOST_MATCH_HOST_MAX 255

/*
 * Read "host =" at *p (spaces around it allowed) into host
 * (HOST_MATCH_HOST_MAX + 1 bytes), lower case, and move *p past the "=".
 * *p at the end of the text, before any entry: *empty is set and NULL
 * returned.  NULL on success, else a static sentence naming what is wrong.
 */
extern const char *host_match_read_host(const char **p, char *host, bool first, bool *empty);

/*
 * After an entry's value: spaces, then the end (*end set) or a comma.
 * NULL on success, else a static sentence.
 */
extern const char *host_match_read_separator(const char **p, bool *end);

/*
 * Which of hosts[0..n-1] a push service's origin ("https://host" or
 * "https://host:port") gets, or -1 for none: an entry naming the host and
 * port wins over one naming the host, which wins over the longest
 * "*.domain" the host is in.  hosts[i] is at stride bytes from hosts[i-1].
 */
extern int	host_match_best(const char *origin, const char *hosts, size_t stride, int n);

#endif							/* WEBPUSH_HOST_MATCH_H */
