/* subscriptions.h - webhook subscription records and their home, the KV bucket
 * FLOVYN_SUBSCRIPTIONS.
 *
 * A record is the whole configuration of one subscription (tenant, types, URL, secret, retry
 * policy), stored as one JSON value under its name, so every bridge replica sees the same set
 * and a KV watcher applies changes without a restart. jansson builds and reads the records (the
 * project's own JSON; events never pass through here).
 */
#ifndef FLOVYN_SUBSCRIPTIONS_H
#define FLOVYN_SUBSCRIPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/bus.h"
#include "flovyn/id.h"
#include "flovyn/kv.h"
#include "flovyn/status.h"
#include "webhook_sign.h"

#define FV_SUBS_BUCKET "FLOVYN_SUBSCRIPTIONS"
#define FV_SUB_TYPES_MAX 512
#define FV_SUB_URL_MAX 2048
#define FV_SUB_BACKOFF_MAX 16
#define FV_SUB_BATCH_MAX 1000
#define FV_SUB_ATTEMPTS_MAX 100
#define FV_SUB_DURABLE_PREFIX "webhook_"

typedef struct fv_subscription {
    char name[FV_ID_MAX + 1]; /* KV key; the durable is "webhook_<name>" */
    char tenant_id[FV_ID_MAX + 1];
    char types[FV_SUB_TYPES_MAX]; /* the `types` grammar; "" = every lifecycle event */
    char url[FV_SUB_URL_MAX];
    char secret[FV_WHSEC_TEXT_MAX]; /* whsec_<base64> */
    int max_attempts;               /* deliveries of a batch before it is dead-lettered */
    int64_t backoff_ms[FV_SUB_BACKOFF_MAX];
    size_t backoff_n;
    int batch; /* most events per POST */
    bool ordered;
    bool allow_private;
    int64_t created_ms;
} fv_subscription;

/* defaults: 8 attempts, backoff 1s,5s,30s,2m,10m, batch 100 */
void fv_subscription_init(fv_subscription *s);
/* every field (name and tenant ids, types grammar, http(s) URL, secret form, bounds) */
fv_status fv_subscription_validate(const fv_subscription *s, fv_err *err);
/* "1s,5s,30s" -> milliseconds (each > 0, at most FV_SUB_BACKOFF_MAX) */
fv_status fv_backoff_parse(const char *spec, int64_t *out, size_t cap, size_t *n, fv_err *err);
/* backoff before delivery attempt `attempt` (from 2): the last entry repeats */
int64_t fv_subscription_backoff(const fv_subscription *s, uint64_t attempt);
fv_status fv_subscription_durable_name(const fv_subscription *s, char *out, size_t cap);

/* JSON record (malloc'd, caller frees) and back */
fv_status fv_subscription_to_json(const fv_subscription *s, char **out, fv_err *err);
fv_status fv_subscription_from_json(const char *json, size_t len, fv_subscription *s, fv_err *err);

/* Opens the bucket; with create, creates it when missing or brings it to the configuration (as
 * `flovyn-bridge init` does; an existing bucket's replicas are never lowered). JetStream only. */
fv_status fv_subscriptions_open(fv_bus *bus, bool create, int replicas, fv_kv **out, fv_err *err);
fv_status fv_subscriptions_put(fv_kv *kv, const fv_subscription *s, fv_err *err);
fv_status fv_subscriptions_get(fv_kv *kv, const char *name, fv_subscription *s, fv_err *err);
fv_status fv_subscriptions_delete(fv_kv *kv, const char *name, fv_err *err);
/* Calls cb for every stored record (in key order); records that fail to parse are skipped with
 * a warning in the log. */
fv_status fv_subscriptions_list(fv_kv *kv, int (*cb)(void *ud, const fv_subscription *s), void *ud,
                                fv_err *err);

#endif
