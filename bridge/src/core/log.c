/* log.c - one JSON object per line on stderr; see log.h.
 *
 * A line is built in a local buffer and written with one write(2), so lines from different threads
 * never interleave. The writer is the project's JSON writer (buf.h), which escapes everything.
 */
#include "flovyn/log.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "flovyn/buf.h"
#include "flovyn/units.h"

static fv_log_level g_level = FV_LOG_INFO;
static bool g_text = false;

static const char *level_name(fv_log_level l)
{
    switch (l) {
    case FV_LOG_DEBUG: return "debug";
    case FV_LOG_INFO: return "info";
    case FV_LOG_WARN: return "warn";
    default: return "error";
    }
}

fv_status fv_log_setup(const char *level, const char *format, fv_err *err)
{
    if (level && *level) {
        if (!strcmp(level, "debug"))
            g_level = FV_LOG_DEBUG;
        else if (!strcmp(level, "info"))
            g_level = FV_LOG_INFO;
        else if (!strcmp(level, "warn") || !strcmp(level, "warning"))
            g_level = FV_LOG_WARN;
        else if (!strcmp(level, "error"))
            g_level = FV_LOG_ERROR;
        else
            return fv_err_set(err, FV_EINVAL, "log-level: '%s' is not debug|info|warn|error",
                              level);
    }
    if (format && *format) {
        if (!strcmp(format, "json"))
            g_text = false;
        else if (!strcmp(format, "text"))
            g_text = true;
        else
            return fv_err_set(err, FV_EINVAL, "log-format: '%s' is not json|text", format);
    }
    return FV_OK;
}

bool fv_log_enabled(fv_log_level lvl)
{
    return lvl >= g_level;
}

void fv_log(fv_log_level lvl, const char *component, const char *msg, ...)
{
    if (lvl < g_level)
        return;
    char ts[40];
    fv_time_format(fv_now_ms(), ts, sizeof ts);
    fv_buf b = FV_BUF_INIT;
    va_list ap;
    va_start(ap, msg);
    if (g_text) {
        fv_buf_printf(&b, "%s %-5s %s: %s", ts, level_name(lvl), component, msg);
        const char *k;
        while ((k = va_arg(ap, const char *))) {
            const char *v = va_arg(ap, const char *);
            fv_buf_printf(&b, " %s=%s", k, v ? v : "");
        }
    } else {
        fv_buf_puts(&b, "{\"ts\":");
        fv_json_put_cstr(&b, ts);
        fv_buf_puts(&b, ",\"level\":");
        fv_json_put_cstr(&b, level_name(lvl));
        fv_buf_puts(&b, ",\"component\":");
        fv_json_put_cstr(&b, component);
        fv_buf_puts(&b, ",\"msg\":");
        fv_json_put_cstr(&b, msg);
        const char *k;
        while ((k = va_arg(ap, const char *))) {
            const char *v = va_arg(ap, const char *);
            fv_json_put_key(&b, k, false);
            fv_json_put_cstr(&b, v ? v : "");
        }
        fv_buf_putc(&b, '}');
    }
    va_end(ap);
    fv_buf_putc(&b, '\n');
    if (!b.oom) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w;
    }
    fv_buf_free(&b);
}

bool fv_log_limit_take(fv_log_limit *l, int64_t period_ms, uint64_t *count)
{
    atomic_fetch_add(&l->pending, 1);
    int64_t now = fv_monotonic_ms();
    if (now == 0)
        now = 1; /* 0 means "never logged" */
    int64_t last = atomic_load(&l->last_ms);
    if ((last != 0 && now - last < period_ms) ||
        !atomic_compare_exchange_strong(&l->last_ms, &last, now))
        return false;
    *count = atomic_exchange(&l->pending, 0);
    return true;
}
