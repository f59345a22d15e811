/* kv.h - JetStream KV buckets: the workflow registry (FLOVYN_WORKFLOWS), webhook subscriptions
 * (FLOVYN_SUBSCRIPTIONS) and whatever else the bridge keeps as small keyed records.
 *
 * A bucket is the stream KV_<bucket>; opening one with create set makes it or brings its limits
 * (TTL, history, max bytes, replicas) to the configuration, in place. Replicas are never lowered:
 * an operator who raised them, or a bridge run with --replicas 3, is not undone by a later call
 * with fewer. Writes return the new revision; fv_kv_create and fv_kv_update are the
 * compare-and-set pair two writers settle races with. JetStream only: on the memory bus every
 * call is FV_ENOTSUP. No nats.c type crosses this header.
 */
#ifndef FLOVYN_KV_H
#define FLOVYN_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/bus.h"
#include "flovyn/status.h"

typedef struct fv_kv fv_kv;
typedef struct fv_kv_watcher fv_kv_watcher;

typedef struct fv_kv_config {
    const char *bucket;
    bool create;       /* create or update the bucket; false: it must exist (FV_ENOTFOUND) */
    int history;       /* values kept per key; 0 -> 1 */
    int64_t ttl_ms;    /* 0 = no expiry (one TTL for the whole bucket) */
    int64_t max_bytes; /* 0 = unlimited */
    int replicas;      /* 0 -> 1; an existing bucket's replicas are never lowered */
} fv_kv_config;

/* Creates or updates the bucket (as fv_kv_open with create set) without keeping a handle. */
fv_status fv_kv_ensure(fv_bus *bus, const fv_kv_config *cfg, fv_err *err);
fv_status fv_kv_open(fv_bus *bus, const fv_kv_config *cfg, fv_kv **out, fv_err *err);
void fv_kv_close(fv_kv *kv);
const char *fv_kv_bucket(const fv_kv *kv);

/* The current value (malloc'd, NUL-terminated for convenience; the caller frees it) and its
 * revision. FV_ENOTFOUND when the key is absent or deleted. */
fv_status fv_kv_get(fv_kv *kv, const char *key, char **value, size_t *len, uint64_t *revision,
                    fv_err *err);
/* Unconditional write; *revision (may be NULL) is the new one. */
fv_status fv_kv_put(fv_kv *kv, const char *key, const void *value, size_t len, uint64_t *revision,
                    fv_err *err);
/* Writes only if the key is absent (or deleted): FV_ECONFLICT when it holds a value. */
fv_status fv_kv_create(fv_kv *kv, const char *key, const void *value, size_t len,
                       uint64_t *revision, fv_err *err);
/* Writes only if the key is still at last_revision: FV_ECONFLICT when somebody wrote first. */
fv_status fv_kv_update(fv_kv *kv, const char *key, const void *value, size_t len,
                       uint64_t last_revision, uint64_t *revision, fv_err *err);
/* Deletes a key (watchers see a delete); fv_kv_purge also drops its history. */
fv_status fv_kv_delete(fv_kv *kv, const char *key, fv_err *err);
fv_status fv_kv_purge(fv_kv *kv, const char *key, fv_err *err);

/* Every live key (no order; an empty bucket is FV_OK with *n = 0). Free with fv_kv_keys_free. */
fv_status fv_kv_keys(fv_kv *kv, char ***keys, size_t *n, fv_err *err);
void fv_kv_keys_free(char **keys, size_t n);

/* --- watching: every key's current value first, then each change as it happens --------------- */
typedef enum fv_kv_op { FV_KV_PUT = 0, FV_KV_DELETE = 1 } fv_kv_op;

typedef struct fv_kv_change {
    fv_kv_op op;       /* a purge is reported as a delete */
    const char *key;   /* valid until the next fv_kv_watcher_next or fv_kv_watcher_destroy */
    const void *value; /* FV_KV_PUT only */
    size_t len;
    uint64_t revision;
} fv_kv_change;

fv_status fv_kv_watch_all(fv_kv *kv, fv_kv_watcher **out, fv_err *err);
/* Waits up to timeout_ms. FV_OK with *have = true: a change in *out; FV_OK with *have = false:
 * the initial values have all been given; FV_ETIMEOUT: nothing yet; FV_ECLOSED once stopped. */
fv_status fv_kv_watcher_next(fv_kv_watcher *w, int timeout_ms, fv_kv_change *out, bool *have,
                             fv_err *err);
/* Makes a waiting or later fv_kv_watcher_next return; any thread. */
void fv_kv_watcher_stop(fv_kv_watcher *w);
void fv_kv_watcher_destroy(fv_kv_watcher *w);

#endif
