/*
 * retry_after.c
 *		Retry-After: delay-seconds or an HTTP-date, bounded.
 */
#include "http/retry_after.h"

#include <string.h>

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};
static const char *const day_names[7] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
};
static const char *const long_day_names[7] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
};

/* A cursor over the header value; every reader checks the bound. */
typedef struct Cursor
{
	const char *p;
	const char *end;
} Cursor;

static int
take_literal(Cursor *c, const char *lit)
{
	size_t		n = strlen(lit);

	if ((size_t) (c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* Exactly "digits" decimal digits. */
static int
take_number(Cursor *c, int digits, int *out)
{
	int			v = 0;

	if (c->end - c->p < digits)
		return 0;
	for (int i = 0; i < digits; i++)
	{
		if (c->p[i] < '0' || c->p[i] > '9')
			return 0;
		v = v * 10 + (c->p[i] - '0');
	}
	c->p += digits;
	*out = v;
	return 1;
}

static int
take_name(Cursor *c, const char *const *names, int count, int *index)
{
	for (int i = 0; i < count; i++)
		if (take_literal(c, names[i]))
		{
			*index = i;
			return 1;
		}
	return 0;
}

/* "HH:MM:SS" */
static int
take_time(Cursor *c, int *h, int *m, int *s)
{
	return take_number(c, 2, h) && take_literal(c, ":") &&
		take_number(c, 2, m) && take_literal(c, ":") &&
		take_number(c, 2, s);
}

static int
is_leap(long year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Days from 1970-01-01 to the given civil date (proleptic Gregorian). */
static long
days_from_civil(long y, int m, int d)
{
	static const int before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	long		days = 0;

	for (long year = 1970; year < y; year++)
		days += is_leap(year) ? 366 : 365;
	days += before_month[m] + (m > 1 && is_leap(y) ? 1 : 0);
	return days + d - 1;
}

/* The date as seconds since the epoch, or -1 when it is not a real date. */
static long long
to_epoch(long year, int month, int day, int h, int m, int s)
{
	static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			last = month_days[month] + (month == 1 && is_leap(year) ? 1 : 0);

	/* Before 1970 is in the past anyway; 9999 keeps the arithmetic small. */
	if (year < 1970 || year > 9999 || day < 1 || day > last ||
		h > 23 || m > 59 || s > 60)
		return -1;
	return (long long) days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static long long
imf_fixdate(Cursor c)
{
	int			wday, day, month, year, h, m, s;

	if (take_name(&c, day_names, 7, &wday) && take_literal(&c, ", ") &&
		take_number(&c, 2, &day) && take_literal(&c, " ") &&
		take_name(&c, month_names, 12, &month) && take_literal(&c, " ") &&
		take_number(&c, 4, &year) && take_literal(&c, " ") &&
		take_time(&c, &h, &m, &s) && take_literal(&c, " GMT") && c.p == c.end)
		return to_epoch(year, month, day, h, m, s);
	return -1;
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit year, RFC 9110 rule) */
static long long
rfc850_date(Cursor c, time_t now)
{
	int			wday, day, month, yy, h, m, s;

	if (take_name(&c, long_day_names, 7, &wday) && take_literal(&c, ", ") &&
		take_number(&c, 2, &day) && take_literal(&c, "-") &&
		take_name(&c, month_names, 12, &month) && take_literal(&c, "-") &&
		take_number(&c, 2, &yy) && take_literal(&c, " ") &&
		take_time(&c, &h, &m, &s) && take_literal(&c, " GMT") && c.p == c.end)
	{
		/* A two-digit year more than 50 years ahead is in the past century. */
		long		this_year = 1970 + (long) (now / 31556952);
		long		year = (this_year / 100) * 100 + yy;

		if (year > this_year + 50)
			year -= 100;
		return to_epoch(year, month, day, h, m, s);
	}
	return -1;
}

/* asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space) */
static long long
asctime_date(Cursor c)
{
	int			wday, day, month, year, h, m, s;

	if (take_name(&c, day_names, 7, &wday) && take_literal(&c, " ") &&
		take_name(&c, month_names, 12, &month) && take_literal(&c, " "))
	{
		if (take_literal(&c, " "))
		{
			if (!take_number(&c, 1, &day))
				return -1;
		}
		else if (!take_number(&c, 2, &day))
			return -1;
		if (take_literal(&c, " ") && take_time(&c, &h, &m, &s) &&
			take_literal(&c, " ") && take_number(&c, 4, &year) && c.p == c.end)
			return to_epoch(year, month, day, h, m, s);
	}
	return -1;
}

long
retry_after_parse(const char *value, size_t len, time_t now)
{
	Cursor		c = {value, value + len};
	long long	when;

	while (c.p < c.end && (*c.p == ' ' || *c.p == '\t'))
		c.p++;
	while (c.end > c.p && (c.end[-1] == ' ' || c.end[-1] == '\t'))
		c.end--;
	if (c.p == c.end)
		return -1;

	if (*c.p >= '0' && *c.p <= '9')
	{
		long		seconds = 0;

		for (; c.p < c.end; c.p++)
		{
			if (*c.p < '0' || *c.p > '9')
				return -1;
			if (seconds < RETRY_AFTER_MAX_SECONDS)
				seconds = seconds * 10 + (*c.p - '0');
		}
		return seconds < RETRY_AFTER_MAX_SECONDS ? seconds : RETRY_AFTER_MAX_SECONDS;
	}

	when = imf_fixdate(c);
	if (when < 0)
		when = rfc850_date(c, now);
	if (when < 0)
		when = asctime_date(c);
	if (when < 0)
		return -1;
	if (when <= (long long) now)
		return 0;
	return when - now < RETRY_AFTER_MAX_SECONDS ? (long) (when - now) : RETRY_AFTER_MAX_SECONDS;
}
