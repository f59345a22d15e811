/* log.h - structured logs: one JSON object per line on stderr (or text for humans).
 *
 * Fields are string pairs terminated by NULL:
 *   fv_log(FV_LOG_INFO, "gateway", "listening", "addr", "127.0.0.1:8080", NULL);
 * Callers never log secrets; URLs with tokens go through the gateway's redaction first.
 */
#ifndef FLOVYN_LOG_H
#define FLOVYN_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "flovyn/status.h"

typedef enum fv_log_level { FV_LOG_DEBUG = 0, FV_LOG_INFO, FV_LOG_WARN, FV_LOG_ERROR } fv_log_level;

/* level: debug|info|warn|error; format: json|text */
fv_status fv_log_setup(const char *level, const char *format, fv_err *err);
bool fv_log_enabled(fv_log_level lvl);
void fv_log(fv_log_level lvl, const char *component, const char *msg, ...)
    __attribute__((sentinel));

/* At most one line per period for something that can happen in a loop (a producer writing bad
 * messages): fv_log_limit_take counts one occurrence and says whether a line may be written now,
 * with *count the occurrences it stands for (this one and those not logged since the last line).
 * Zero-initialise; lock-free, any thread. */
typedef struct fv_log_limit {
    atomic_int_least64_t last_ms; /* monotonic time of the last line; 0 = none yet */
    atomic_uint_least64_t pending;
} fv_log_limit;
bool fv_log_limit_take(fv_log_limit *l, int64_t period_ms, uint64_t *count);

#endif
