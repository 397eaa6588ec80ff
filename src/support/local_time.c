/*
 * local_time.c
 *		Times of day in a time zone, by PostgreSQL's own time zone rules
 *		(local_time.h).
 */
#include "postgres.h"

#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "support/local_time.h"

/*
 * The first moment at or after "after" when clocks in zone show
 * local_time.  The wall clock of that day (or the next) is turned back
 * into a moment by PostgreSQL's own rules for the zone, so a change of
 * daylight saving time between "after" and then counts; a time a spring
 * change skips is read as PostgreSQL reads it (02:30 as 03:30 daylight
 * time), and one an autumn change repeats as its first occurrence.
 */
TimestampTz
local_time_next(TimeADT local_time, const char *zone_name, TimestampTz after)
{
	text	   *zone = cstring_to_text(zone_name);
	Timestamp	wall;
	Timestamp	day;
	TimestampTz due;

	wall = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone, PointerGetDatum(zone),
												 TimestampTzGetDatum(after)));
	day = wall / USECS_PER_DAY - (wall % USECS_PER_DAY < 0 ? 1 : 0);
	for (int next_day = 0;; next_day++)
	{
		Timestamp	candidate = (day + next_day) * USECS_PER_DAY + local_time;

		due = DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, PointerGetDatum(zone),
													  TimestampGetDatum(candidate)));
		/* The next day's always comes after: a zone moves by hours. */
		if (due >= after || next_day == 2)
			return due;
	}
}

TimeADT
local_time_of_day(const char *zone_name, TimestampTz at)
{
	Timestamp	wall;
	TimeADT		time;

	wall = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
												 PointerGetDatum(cstring_to_text(zone_name)),
												 TimestampTzGetDatum(at)));
	time = wall % USECS_PER_DAY;
	return time < 0 ? time + USECS_PER_DAY : time;
}

bool
local_time_zone_known(const char *zone)
{
	return zone[0] != '\0' && pg_tzset(zone) != NULL;
}
