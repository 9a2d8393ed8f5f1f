/*
 * time.c - instants as RFC 3339 date-times in UTC, whole seconds (trust
 * file expiry, the tool's times).
 *
 *   YYYY-MM-DDTHH:MM:SSZ   (RFC 3339 §5.6, "Z" only, no fraction)
 *
 * The conversion to Unix seconds is plain arithmetic on the proleptic
 * Gregorian calendar: no timegm(), no TZ, no locale. Leap seconds (":60")
 * are not accepted: Unix time has no name for them.
 */
#include <string.h>

#include "peerlink.h"
#include "util/buf.h"

#define EPOCH_YEAR 1970u
#define DAY        86400u

static int is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Leap years in 1..y. */
static uint64_t leaps_through(unsigned y)
{
    return y / 4 - y / 100 + y / 400;
}

/* Days from 1970-01-01 to January 1st of year y (y >= 1970). */
static uint64_t days_before_year(unsigned y)
{
    return 365u * (uint64_t)(y - EPOCH_YEAR) + leaps_through(y - 1) - leaps_through(EPOCH_YEAR - 1);
}

static const unsigned short month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static unsigned days_in_month(unsigned y, unsigned m)
{
    return month_days[m - 1] + (m == 2 && is_leap(y));
}

/* Days from January 1st to the first of month m in year y. */
static unsigned days_before_month(unsigned y, unsigned m)
{
    unsigned n = 0;
    for (unsigned i = 1; i < m; i++)
        n += days_in_month(y, i);
    return n;
}

/* Exactly n decimal digits; anything else fails the reader. */
static unsigned digits(pl_rd *r, size_t n)
{
    pl_span s = pl_rd_take(r, n);
    unsigned v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') {
            pl_rd_fail(r);
            return 0;
        }
        v = v * 10 + (unsigned)(s.p[i] - '0');
    }
    return v;
}

int pl_time_parse(const char *s, size_t len, uint64_t *out, const char **why)
{
    const char *ignored;
    why = why ? why : &ignored;
    pl_rd r = pl_rd_init(s, len);
    unsigned y = digits(&r, 4);
    pl_rd_expect(&r, "-");
    unsigned mo = digits(&r, 2);
    pl_rd_expect(&r, "-");
    unsigned d = digits(&r, 2);
    pl_rd_expect(&r, "T");
    unsigned h = digits(&r, 2);
    pl_rd_expect(&r, ":");
    unsigned mi = digits(&r, 2);
    pl_rd_expect(&r, ":");
    unsigned sec = digits(&r, 2);
    pl_rd_expect(&r, "Z");
    if (!pl_rd_finish(&r)) {
        *why = "a time must be UTC, written YYYY-MM-DDTHH:MM:SSZ, e.g. 2026-12-01T00:00:00Z";
        return PL_ERR_PARSE;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59) {
        *why = "not a valid calendar date and time";
        return PL_ERR_PARSE;
    }
    if (y < EPOCH_YEAR) {
        *why = "times before 1970-01-01T00:00:00Z are not supported";
        return PL_ERR_PARSE;
    }
    uint64_t days = days_before_year(y) + days_before_month(y, mo) + (d - 1);
    *out = days * DAY + h * 3600u + mi * 60u + sec;
    return PL_OK;
}

static void put_digits(char *out, unsigned v, size_t n)
{
    while (n-- > 0) {
        out[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

int pl_time_format(uint64_t t, char *out, size_t cap)
{
    if (t > PL_TIME_MAX)
        return PL_ERR_INVAL; /* the year would need five digits */
    if (cap < PL_TIME_LEN + 1)
        return PL_ERR_BUFSIZE;
    uint64_t days = t / DAY;
    unsigned secs = (unsigned)(t % DAY);
    /* A year has at most 366 days, so this starts at or before the year. */
    unsigned y = EPOCH_YEAR + (unsigned)(days / 366);
    while (days_before_year(y + 1) <= days)
        y++;
    unsigned yday = (unsigned)(days - days_before_year(y));
    unsigned m = 1;
    while (m < 12 && days_before_month(y, m + 1) <= yday)
        m++;
    unsigned d = yday - days_before_month(y, m) + 1;
    memcpy(out, "0000-00-00T00:00:00Z", PL_TIME_LEN + 1);
    put_digits(out, y, 4);
    put_digits(out + 5, m, 2);
    put_digits(out + 8, d, 2);
    put_digits(out + 11, secs / 3600, 2);
    put_digits(out + 14, secs / 60 % 60, 2);
    put_digits(out + 17, secs % 60, 2);
    return PL_TIME_LEN;
}
