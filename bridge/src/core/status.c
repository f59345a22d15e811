/* status.c - error messages that say what and where; see status.h. */
#include "flovyn/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

fv_status fv_err_set(fv_err *err, fv_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

fv_status fv_err_prefix(fv_err *err, fv_status code, const char *prefix)
{
    if (err) {
        char tmp[FV_ERR_MSG_MAX];
        snprintf(tmp, sizeof tmp, "%s%s", prefix, err->msg);
        memcpy(err->msg, tmp, sizeof tmp);
    }
    return code;
}

const char *fv_status_name(fv_status s)
{
    switch (s) {
    case FV_OK: return "ok";
    case FV_EINVAL: return "invalid";
    case FV_ENOMEM: return "out_of_memory";
    case FV_ENOTFOUND: return "not_found";
    case FV_ETOOBIG: return "too_large";
    case FV_EIO: return "io_error";
    case FV_ETIMEOUT: return "timeout";
    case FV_ECLOSED: return "closed";
    case FV_EFULL: return "full";
    case FV_ECONFLICT: return "conflict";
    case FV_ENOTSUP: return "not_supported";
    case FV_EAUTH: return "unauthorized";
    case FV_EUNAVAIL: return "unavailable";
    default: return "error";
    }
}
