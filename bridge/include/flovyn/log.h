/* log.h - structured logs: one JSON object per line on stderr (or text for humans).
 *
 * Fields are string pairs terminated by NULL:
 *   fv_log(FV_LOG_INFO, "gateway", "listening", "addr", "127.0.0.1:8080", NULL);
 * Callers never log secrets; URLs with tokens go through the gateway's redaction first.
 */
#ifndef FLOVYN_LOG_H
#define FLOVYN_LOG_H

#include <stdbool.h>

#include "flovyn/status.h"

typedef enum fv_log_level { FV_LOG_DEBUG = 0, FV_LOG_INFO, FV_LOG_WARN, FV_LOG_ERROR } fv_log_level;

/* level: debug|info|warn|error; format: json|text */
fv_status fv_log_setup(const char *level, const char *format, fv_err *err);
bool fv_log_enabled(fv_log_level lvl);
void fv_log(fv_log_level lvl, const char *component, const char *msg, ...)
    __attribute__((sentinel));

#endif
