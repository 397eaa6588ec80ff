/*
 * retry_after.h
 *		Parsing of the Retry-After header (RFC 9110 section 10.2.3) that push
 *		services send with 429 and 503: delay-seconds or an HTTP-date.
 *
 * Push services are remote input: the value is bounded and every malformed
 * form is refused rather than guessed at.  Pure C, no PostgreSQL headers.
 */
#ifndef WEBPUSH_RETRY_AFTER_H
#define WEBPUSH_RETRY_AFTER_H

#include <stddef.h>
#include <time.h>

/* Longer waits are cut to this (a day): a push service cannot park a message forever. */
#define RETRY_AFTER_MAX_SECONDS (24L * 3600)

/*
 * Seconds to wait, from 0 to RETRY_AFTER_MAX_SECONDS, for a header value of
 * len bytes received at now; -1 when the value is neither form.  A date in
 * the past means 0.  Accepts the three date forms RFC 9110 requires readers
 * to accept (IMF-fixdate, RFC 850, asctime), surrounding spaces and tabs.
 */
extern long retry_after_parse(const char *value, size_t len, time_t now);

#endif							/* WEBPUSH_RETRY_AFTER_H */
