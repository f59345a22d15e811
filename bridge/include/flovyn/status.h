/* status.h - the one error convention of the project.
 *
 * Every fallible call returns an fv_status: 0 on success, a negative code otherwise, and where a
 * user could act on the reason it also fills an fv_err with a sentence that says what and where
 * ("types: unknown item 'tokenz' at position 2"). Codes are for control flow, messages for people.
 */
#ifndef FLOVYN_STATUS_H
#define FLOVYN_STATUS_H

#include <stddef.h>

typedef int fv_status;

enum {
    FV_OK = 0,
    FV_EINVAL = -1,    /* invalid input: bad id, bad JSON, bad cursor, bad option */
    FV_ENOMEM = -2,    /* allocation failed */
    FV_ENOTFOUND = -3, /* no such stream, key, consumer, workflow */
    FV_ETOOBIG = -4,   /* a size limit was exceeded */
    FV_EIO = -5,       /* the bus or a peer failed (NATS error, socket error) */
    FV_ETIMEOUT = -6,  /* a bounded wait ran out */
    FV_ECLOSED = -7,   /* the object was closed or is shutting down */
    FV_EFULL = -8,     /* a bounded queue is full */
    FV_ECONFLICT = -9, /* an existing resource is incompatible (stream config, workflow owner) */
    FV_ENOTSUP = -10,  /* the backend does not offer this operation */
    FV_EAUTH = -11,    /* authentication or authorization failed */
    FV_EUNAVAIL = -12, /* not ready / not connected right now; retry later */
};

#define FV_ERR_MSG_MAX 256

/* Human-readable reason for a failure. Zero-initialize; fv_err_set overwrites. */
typedef struct fv_err {
    char msg[FV_ERR_MSG_MAX];
} fv_err;

/* Writes a printf-style message into err (if err is not NULL) and returns code, so that a
 * failing path reads `return fv_err_set(err, FV_EINVAL, "id: empty");`. */
fv_status fv_err_set(fv_err *err, fv_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message: "data: " + "invalid JSON at byte 3". */
fv_status fv_err_prefix(fv_err *err, fv_status code, const char *prefix);

/* Short stable name of a status code ("invalid", "not_found", ...). */
const char *fv_status_name(fv_status s);

#endif
