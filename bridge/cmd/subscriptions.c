/* subscriptions.c - webhook subscription records, their validation and the KV bucket; see
 * subscriptions.h.
 *
 * Validation is complete here (the CLI and the dispatcher both call it), so a record that a
 * newer or older bridge wrote with a bad value is refused by the dispatcher with a log line
 * instead of crashing a delivery loop. The SSRF check of the URL's host is not part of it: it
 * needs DNS and is done by the CLI at add time and by curl at every connect.
 */
#include "subscriptions.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "flovyn/log.h"
#include "flovyn/registry.h"
#include "flovyn/types_filter.h"
#include "flovyn/units.h"

static const int64_t default_backoff[] = {1000, 5000, 30000, 120000, 600000};

void fv_subscription_init(fv_subscription *s)
{
    memset(s, 0, sizeof *s);
    s->max_attempts = 8;
    s->backoff_n = sizeof default_backoff / sizeof default_backoff[0];
    memcpy(s->backoff_ms, default_backoff, sizeof default_backoff);
    s->batch = 100;
}

fv_status fv_backoff_parse(const char *spec, int64_t *out, size_t cap, size_t *n, fv_err *err)
{
    *n = 0;
    if (!spec || !*spec)
        return fv_err_set(err, FV_EINVAL, "backoff: empty (give durations like 1s,5s,30s)");
    const char *p = spec;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char item[32];
        if (len == 0 || len >= sizeof item)
            return fv_err_set(err, FV_EINVAL, "backoff: item %zu is empty or too long", *n + 1);
        if (*n >= cap)
            return fv_err_set(err, FV_EINVAL, "backoff: more than %zu items", cap);
        memcpy(item, p, len);
        item[len] = '\0';
        int64_t ms;
        fv_err derr = {{0}};
        if (fv_duration_parse(item, &ms, &derr) != FV_OK || ms <= 0)
            return fv_err_set(err, FV_EINVAL, "backoff: '%s' is not a positive duration", item);
        out[(*n)++] = ms;
        if (!e)
            break;
        p = e + 1;
    }
    return FV_OK;
}

int64_t fv_subscription_backoff(const fv_subscription *s, uint64_t attempt)
{
    if (s->backoff_n == 0)
        return 1000;
    /* attempt 2 waits backoff[0] */
    uint64_t i = attempt >= 2 ? attempt - 2 : 0;
    if (i >= s->backoff_n)
        i = s->backoff_n - 1;
    return s->backoff_ms[i];
}

fv_status fv_subscription_durable_name(const fv_subscription *s, char *out, size_t cap)
{
    int n = snprintf(out, cap, FV_SUB_DURABLE_PREFIX "%s", s->name);
    return n < 0 || (size_t)n >= cap ? FV_ETOOBIG : FV_OK;
}

fv_status fv_subscription_validate(const fv_subscription *s, fv_err *err)
{
    fv_status st;
    if ((st = fv_id_validate("name", s->name, strlen(s->name), err)) != FV_OK)
        return st;
    if ((st = fv_id_validate("tenant", s->tenant_id, strlen(s->tenant_id), err)) != FV_OK)
        return st;
    fv_types_filter *f = NULL;
    if ((st = fv_types_filter_parse(s->types, FV_TYPES_DEFAULT_LIFECYCLE, &f, err)) != FV_OK)
        return st;
    bool wants_events = fv_types_filter_wants_events(f);
    fv_types_filter_destroy(f);
    if (!wants_events)
        return fv_err_set(err, FV_EINVAL,
                          "types: '%s' selects no lifecycle event (webhooks deliver lifecycle "
                          "events only)",
                          s->types);
    if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0)
        return fv_err_set(err, FV_EINVAL, "url: '%s' must start with http:// or https://", s->url);
    unsigned char key[FV_WHSEC_MAX_BYTES];
    size_t klen;
    if ((st = fv_webhook_secret_decode(s->secret, key, sizeof key, &klen, err)) != FV_OK)
        return st;
    if (s->max_attempts < 1 || s->max_attempts > FV_SUB_ATTEMPTS_MAX)
        return fv_err_set(err, FV_EINVAL, "max-attempts: %d is not between 1 and %d",
                          s->max_attempts, FV_SUB_ATTEMPTS_MAX);
    if (s->backoff_n < 1 || s->backoff_n > FV_SUB_BACKOFF_MAX)
        return fv_err_set(err, FV_EINVAL, "backoff: needs 1 to %d durations", FV_SUB_BACKOFF_MAX);
    for (size_t i = 0; i < s->backoff_n; i++)
        if (s->backoff_ms[i] <= 0 || s->backoff_ms[i] > 24LL * 3600 * 1000)
            return fv_err_set(err, FV_EINVAL, "backoff: item %zu is not between 1ms and 24h",
                              i + 1);
    if (s->batch < 1 || s->batch > FV_SUB_BATCH_MAX)
        return fv_err_set(err, FV_EINVAL, "batch: %d is not between 1 and %d", s->batch,
                          FV_SUB_BATCH_MAX);
    return FV_OK;
}

fv_status fv_subscription_to_json(const fv_subscription *s, char **out, fv_err *err)
{
    json_t *o = json_object();
    json_t *bo = json_array();
    if (!o || !bo) {
        json_decref(o);
        json_decref(bo);
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->backoff_n; i++)
        json_array_append_new(bo, json_integer(s->backoff_ms[i]));
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "tenant_id", json_string(s->tenant_id));
    json_object_set_new(o, "types", json_string(s->types));
    json_object_set_new(o, "url", json_string(s->url));
    json_object_set_new(o, "secret", json_string(s->secret));
    json_object_set_new(o, "max_attempts", json_integer(s->max_attempts));
    json_object_set_new(o, "backoff_ms", bo);
    json_object_set_new(o, "batch", json_integer(s->batch));
    json_object_set_new(o, "ordered", json_boolean(s->ordered));
    json_object_set_new(o, "allow_private", json_boolean(s->allow_private));
    json_object_set_new(o, "created_ms", json_integer(s->created_ms));
    *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return *out ? FV_OK : fv_err_set(err, FV_ENOMEM, "out of memory");
}

static fv_status get_str(json_t *o, const char *key, char *out, size_t cap, bool required,
                         fv_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        out[0] = '\0';
        return required ? fv_err_set(err, FV_EINVAL, "record: missing '%s'", key) : FV_OK;
    }
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return fv_err_set(err, FV_EINVAL, "record: '%s' is not a string of at most %zu bytes", key,
                          cap - 1);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return FV_OK;
}

fv_status fv_subscription_from_json(const char *json, size_t len, fv_subscription *s, fv_err *err)
{
    fv_subscription_init(s);
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return fv_err_set(err, FV_EINVAL, "record: not a JSON object");
    }
    fv_status st;
    if ((st = get_str(o, "name", s->name, sizeof s->name, true, err)) != FV_OK ||
        (st = get_str(o, "tenant_id", s->tenant_id, sizeof s->tenant_id, true, err)) != FV_OK ||
        (st = get_str(o, "types", s->types, sizeof s->types, false, err)) != FV_OK ||
        (st = get_str(o, "url", s->url, sizeof s->url, true, err)) != FV_OK ||
        (st = get_str(o, "secret", s->secret, sizeof s->secret, true, err)) != FV_OK)
        goto out;
    json_t *v;
    if ((v = json_object_get(o, "max_attempts")) && json_is_integer(v))
        s->max_attempts = (int)json_integer_value(v);
    if ((v = json_object_get(o, "batch")) && json_is_integer(v))
        s->batch = (int)json_integer_value(v);
    s->ordered = json_is_true(json_object_get(o, "ordered"));
    s->allow_private = json_is_true(json_object_get(o, "allow_private"));
    if ((v = json_object_get(o, "created_ms")) && json_is_integer(v))
        s->created_ms = json_integer_value(v);
    if ((v = json_object_get(o, "backoff_ms")) && json_is_array(v)) {
        if (json_array_size(v) > FV_SUB_BACKOFF_MAX) {
            st = fv_err_set(err, FV_EINVAL, "record: more than %d backoff items",
                            FV_SUB_BACKOFF_MAX);
            goto out;
        }
        s->backoff_n = json_array_size(v);
        for (size_t i = 0; i < s->backoff_n; i++)
            s->backoff_ms[i] = json_integer_value(json_array_get(v, i));
    }
    st = fv_subscription_validate(s, err);
out:
    json_decref(o);
    return st;
}

/* --- the KV bucket -------------------------------------------------------------------------- */

fv_status fv_subscriptions_open(fv_bus *bus, bool create, int replicas, fv_kv **out, fv_err *err)
{
    *out = NULL;
    if (fv_bus_is_memory(bus))
        return fv_err_set(err, FV_ENOTSUP, "subscriptions need JetStream (--nats-url)");
    /* the same configuration `flovyn-bridge init` gives the bucket, so both agree on it */
    fv_kv_config kc = {.bucket = FV_SUBS_BUCKET, .create = create, .replicas = replicas};
    return fv_kv_open(bus, &kc, out, err);
}

fv_status fv_subscriptions_put(fv_kv *kv, const fv_subscription *s, fv_err *err)
{
    char *json = NULL;
    fv_status st = fv_subscription_to_json(s, &json, err);
    if (st != FV_OK)
        return st;
    fv_err kerr = {{0}};
    st = fv_kv_put(kv, s->name, json, strlen(json), NULL, &kerr);
    free(json);
    if (st != FV_OK)
        return fv_err_set(err, st, "storing subscription '%s': %s", s->name, kerr.msg);
    return FV_OK;
}

fv_status fv_subscriptions_get(fv_kv *kv, const char *name, fv_subscription *s, fv_err *err)
{
    char *json = NULL;
    size_t len = 0;
    fv_err kerr = {{0}};
    fv_status st = fv_kv_get(kv, name, &json, &len, NULL, &kerr);
    if (st == FV_ENOTFOUND)
        return fv_err_set(err, FV_ENOTFOUND, "no subscription named '%s'", name);
    if (st != FV_OK)
        return fv_err_set(err, st, "reading subscription '%s': %s", name, kerr.msg);
    st = fv_subscription_from_json(json, len, s, err);
    free(json);
    return st;
}

fv_status fv_subscriptions_delete(fv_kv *kv, const char *name, fv_err *err)
{
    char *json = NULL;
    size_t len = 0;
    fv_err kerr = {{0}};
    fv_status st = fv_kv_get(kv, name, &json, &len, NULL, &kerr);
    free(json);
    if (st == FV_ENOTFOUND)
        return fv_err_set(err, FV_ENOTFOUND, "no subscription named '%s'", name);
    if (st == FV_OK)
        st = fv_kv_delete(kv, name, &kerr);
    if (st != FV_OK)
        return fv_err_set(err, st, "deleting subscription '%s': %s", name, kerr.msg);
    return FV_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

fv_status fv_subscriptions_list(fv_kv *kv, int (*cb)(void *ud, const fv_subscription *s), void *ud,
                                fv_err *err)
{
    char **keys = NULL;
    size_t n = 0;
    fv_err kerr = {{0}};
    fv_status st = fv_kv_keys(kv, &keys, &n, &kerr);
    if (st != FV_OK)
        return fv_err_set(err, st, "listing subscriptions: %s", kerr.msg);
    qsort(keys, n, sizeof keys[0], cmp_str);
    fv_subscription *s = malloc(sizeof *s);
    st = s ? FV_OK : fv_err_set(err, FV_ENOMEM, "out of memory");
    for (size_t i = 0; s && i < n; i++) {
        fv_err rerr = {{0}};
        fv_status rs = fv_subscriptions_get(kv, keys[i], s, &rerr);
        if (rs == FV_ENOTFOUND)
            continue; /* deleted meanwhile */
        if (rs != FV_OK) {
            fv_log(FV_LOG_WARN, "subscriptions", "skipping unreadable record", "key", keys[i],
                   "error", rerr.msg, NULL);
            continue;
        }
        if (cb(ud, s) != 0)
            break;
    }
    free(s);
    fv_kv_keys_free(keys, n);
    return st;
}
