/*
 * local_time.h
 *		Times of day in a time zone, by PostgreSQL's own time zone rules:
 *		when one next comes, and what the clocks there show.  The zone is
 *		a name PostgreSQL knows (sql/validate.h checks names as they
 *		enter).
 */
#ifndef WEBPUSH_LOCAL_TIME_H
#define WEBPUSH_LOCAL_TIME_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/date.h"

/*
 * The first moment at or after "after" when clocks in zone show
 * local_time, daylight saving time included.
 */
extern TimestampTz local_time_next(TimeADT local_time, const char *zone, TimestampTz after);

/* Whether PostgreSQL's time zone database has zone (as stored, validated). */
extern bool local_time_zone_known(const char *zone);

/* The time of day clocks in zone show at "at". */
extern TimeADT local_time_of_day(const char *zone, TimestampTz at);

#endif							/* WEBPUSH_LOCAL_TIME_H */
