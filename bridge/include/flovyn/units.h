/* units.h - clocks, times, durations and sizes as users write them.
 *
 * One parser for each so that flags, query parameters (`since`, `until`) and configuration agree:
 * times are RFC 3339 or epoch milliseconds; durations "7d", "1h", "2m", "30s", "250ms";
 * sizes "10G", "512M", "64K", "1024" (binary multiples).
 */
#ifndef FLOVYN_UNITS_H
#define FLOVYN_UNITS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "flovyn/status.h"

int64_t fv_now_ms(void);       /* CLOCK_REALTIME, epoch milliseconds */
int64_t fv_monotonic_ms(void); /* CLOCK_MONOTONIC milliseconds */
void fv_sleep_ms(int64_t ms);  /* sleeps ms milliseconds (0 or less: returns at once) */
/* the moment ms milliseconds from now on clock (CLOCK_MONOTONIC, CLOCK_REALTIME): the deadline
 * of a pthread_cond_timedwait on a condition variable of that clock */
void fv_deadline_ms(struct timespec *out, clockid_t clock, int64_t ms);
fv_status fv_time_parse(const char *s, int64_t *out_ms, fv_err *err);
void fv_time_format(int64_t ms, char *out, size_t cap); /* "2026-01-01T00:00:00.123Z", cap >= 32 */
fv_status fv_duration_parse(const char *s, int64_t *out_ms, fv_err *err);
fv_status fv_size_parse(const char *s, int64_t *out, fv_err *err);

#endif
