/*
 * local_time.c
 *		Times of day in a time zone, by PostgreSQL's own time zone rules
 *		(local_time.h).
 */
#include "postgres.h"

#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "support/local_time.h"

/*
 * Zones are read by name in PostgreSQL's time zone database only, never
 * in the table of time zone abbreviations that AT TIME ZONE (timestamptz_zone,
 * timestamp_zone) consults first: there "CET", "EET", "MET" and "WET" are
 * fixed offsets, while the zones of those names keep summer time, and what
 * "EST" means depends on the session's timezone_abbreviations (Australian
 * Eastern time under 'Australia').  The SQL function, the enqueue and the
 * worker must all read a stored zone the same way, as its rules say.
 */
static pg_tz *
zone_rules(const char *zone_name)
{
	pg_tz	   *tz = zone_name[0] != '\0' ? pg_tzset(zone_name) : NULL;

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" not recognized", zone_name)));
	return tz;
}

static void
out_of_range(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("timestamp out of range")));
}

/* What clocks in tz show at "at" (timestamptz_zone, for a zone by name). */
static Timestamp
wall_clock(TimestampTz at, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			offset;
	Timestamp	wall;

	if (timestamp2tm(at, &offset, &tm, &fsec, NULL, tz) != 0 ||
		tm2timestamp(&tm, fsec, NULL, &wall) != 0)
		out_of_range();
	return wall;
}

/* The moment clocks in tz show wall (timestamp_zone, for a zone by name). */
static TimestampTz
moment_of(Timestamp wall, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			offset;
	TimestampTz moment;

	if (timestamp2tm(wall, NULL, &tm, &fsec, NULL, NULL) != 0)
		out_of_range();
	offset = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, fsec, &offset, &moment) != 0)
		out_of_range();
	return moment;
}

/*
 * The first moment at or after "after" when clocks in zone show
 * local_time.  The wall clock of that day (or the next) is turned back
 * into a moment by PostgreSQL's own rules for the zone, so a change of
 * daylight saving time between "after" and then counts; a time a spring
 * change skips is read as PostgreSQL reads it (02:30 as 03:30 daylight
 * time), and one an autumn change repeats as PostgreSQL reads it too, at
 * its second occurrence (02:30 standard time).
 */
TimestampTz
local_time_next(TimeADT local_time, const char *zone_name, TimestampTz after)
{
	pg_tz	   *tz = zone_rules(zone_name);
	Timestamp	wall;
	Timestamp	day;
	TimestampTz due;

	wall = wall_clock(after, tz);
	day = wall / USECS_PER_DAY - (wall % USECS_PER_DAY < 0 ? 1 : 0);
	for (int next_day = 0;; next_day++)
	{
		Timestamp	candidate = (day + next_day) * USECS_PER_DAY + local_time;

		due = moment_of(candidate, tz);
		/* The next day's always comes after: a zone moves by hours. */
		if (due >= after || next_day == 2)
			return due;
	}
}

TimeADT
local_time_of_day(const char *zone_name, TimestampTz at)
{
	Timestamp	wall = wall_clock(at, zone_rules(zone_name));
	TimeADT		time = wall % USECS_PER_DAY;

	return time < 0 ? time + USECS_PER_DAY : time;
}

bool
local_time_zone_known(const char *zone)
{
	return zone[0] != '\0' && pg_tzset(zone) != NULL;
}
