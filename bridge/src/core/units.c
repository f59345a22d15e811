/* units.c - times, durations and sizes; see units.h.
 *
 * Parsers are strict: trailing garbage, negative values and overflow are errors that name the
 * input, because these values come from flags and query strings typed by people.
 */
#include "flovyn/units.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <time.h>

int64_t fv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fv_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fv_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    /* an interrupted sleep goes on with what is left */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void fv_deadline_ms(struct timespec *out, clockid_t clock, int64_t ms)
{
    clock_gettime(clock, out);
    if (ms < 0)
        ms = 0;
    out->tv_sec += (time_t)(ms / 1000);
    out->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

/* days since 1970-01-01 for a proleptic Gregorian date (no timegm dependence on TZ) */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

fv_status fv_time_parse(const char *s, int64_t *out_ms, fv_err *err)
{
    if (!s || !*s)
        return fv_err_set(err, FV_EINVAL, "time: empty");
    size_t n = strlen(s);
    bool all_digits = true;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            all_digits = false;
    if (all_digits) {
        if (n > 15)
            return fv_err_set(err, FV_EINVAL, "time: '%.40s' is out of range", s);
        *out_ms = strtoll(s, NULL, 10);
        return FV_OK;
    }
    const char *p = s;
    int Y, M, D, h, mi, sec;
    if (parse_digits(&p, 4, &Y) || *p++ != '-' || parse_digits(&p, 2, &M) || *p++ != '-' ||
        parse_digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
        goto bad;
    p++;
    if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &mi) || *p++ != ':' ||
        parse_digits(&p, 2, &sec))
        goto bad;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60)
        goto bad;
    int64_t ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        int64_t frac = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        if (digits == 0)
            goto bad;
        while (digits++ < 3)
            frac *= 10;
        ms = frac;
    }
    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            goto bad;
        offset_min = sign * (oh * 60 + om);
    } else {
        goto bad;
    }
    if (*p)
        goto bad;
    int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return FV_OK;
bad:
    return fv_err_set(err, FV_EINVAL,
                      "time: '%.40s' is neither RFC 3339 (2026-01-01T00:00:00Z) nor epoch "
                      "milliseconds",
                      s);
}

void fv_time_format(int64_t ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* number followed by a unit from the table; returns value * multiplier */
static fv_status parse_scaled(const char *what, const char *s, const char *const *units,
                              const int64_t *mult, size_t nunits, int64_t *out, fv_err *err)
{
    if (!s || !*s)
        return fv_err_set(err, FV_EINVAL, "%s: empty", what);
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        goto bad;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno)
        goto bad;
    for (size_t i = 0; i < nunits; i++) {
        if (strcasecmp(end, units[i]) == 0) {
            if (mult[i] && v > (unsigned long long)(INT64_MAX / mult[i]))
                goto bad;
            *out = (int64_t)v * mult[i];
            return FV_OK;
        }
    }
bad:
    return fv_err_set(err, FV_EINVAL, "%s: cannot parse '%.40s'", what, s);
}

fv_status fv_duration_parse(const char *s, int64_t *out_ms, fv_err *err)
{
    static const char *const units[] = {"ms", "s", "m", "h", "d", ""};
    static const int64_t mult[] = {1, 1000, 60000, 3600000, 86400000, 1000};
    return parse_scaled("duration (e.g. 7d, 1h, 30s, 250ms)", s, units, mult, 6, out_ms, err);
}

fv_status fv_size_parse(const char *s, int64_t *out, fv_err *err)
{
    static const char *const units[] = {"",    "b", "k",  "kb",  "kib", "m",  "mb",
                                        "mib", "g", "gb", "gib", "t",   "tb", "tib"};
    static const int64_t K = 1024, M = 1024 * 1024, G = 1024LL * 1024 * 1024,
                         T = 1024LL * 1024 * 1024 * 1024;
    const int64_t mult[] = {1, 1, K, K, K, M, M, M, G, G, G, T, T, T};
    return parse_scaled("size (e.g. 10G, 512M, 64K)", s, units, mult, 14, out, err);
}
