/* kv.c - JetStream KV buckets behind flovyn/kv.h, over nats.c's kvStore.
 *
 * Creating a bucket that exists with other limits fails in nats-server ("stream name already in
 * use"), so an existing bucket is brought to the configuration by updating its stream KV_<bucket>
 * in place: storage cannot change and is left alone, and replicas only ever go up (a bridge run
 * with fewer --replicas than the cluster was provisioned with must not shrink it). Conflicts of
 * the compare-and-set writes come back from JetStream as "wrong last sequence"; they are told
 * apart from I/O failures here so callers can just read again and retry.
 */
#include "flovyn/kv.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetstream_internal.h"

#define KV_NS_PER_MS 1000000LL
#define KV_LIST_WAIT_MS 5000

struct fv_kv {
    kvStore *kv;
    char bucket[128];
};

struct fv_kv_watcher {
    kvWatcher *w;
    kvEntry *last; /* the entry the last change points into */
    atomic_bool stopped;
};

static fv__js_bus *kv_bus(fv_bus *bus, const char *bucket, fv_err *err)
{
    fv__js_bus *b = fv__js_of(bus);
    if (!b)
        fv_err_set(err, FV_ENOTSUP, "%s: KV buckets need JetStream (--nats-url)",
                   bucket ? bucket : "KV");
    return b;
}

/* An existing bucket with other limits: its stream updated in place, never fewer replicas. */
static fv_status kv_update_limits(fv__js_bus *b, const kvConfig *kc, fv_err *create_err,
                                  fv_err *err)
{
    char sname[160];
    snprintf(sname, sizeof sname, "KV_%s", kc->Bucket);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, sname, NULL, &jerr);
    if (s != NATS_OK) {
        /* not there after all: the creation error is the one that explains it */
        if (err)
            *err = *create_err;
        return s == NATS_TIMEOUT ? FV_ETIMEOUT : FV_EIO;
    }
    jsStreamConfig *sc = si->Config;
    int replicas = sc->Replicas > kc->Replicas ? sc->Replicas : kc->Replicas;
    if (sc->MaxAge == kc->TTL && sc->Replicas == replicas && sc->MaxBytes == kc->MaxBytes &&
        sc->MaxMsgsPerSubject == kc->History) {
        jsStreamInfo_Destroy(si);
        return FV_OK;
    }
    sc->MaxAge = kc->TTL;
    sc->Replicas = replicas;
    sc->MaxBytes = kc->MaxBytes;
    sc->MaxMsgsPerSubject = kc->History;
    if (sc->Duplicates > kc->TTL && kc->TTL > 0)
        sc->Duplicates = kc->TTL;
    jsStreamInfo *si2 = NULL;
    jerr = 0;
    s = js_UpdateStream(&si2, b->js, sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    jsStreamInfo_Destroy(si2);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, jerr, kc->Bucket);
    return FV_OK;
}

static fv_status kv_ensure(fv__js_bus *b, const fv_kv_config *cfg, kvStore **out, fv_err *err)
{
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = cfg->bucket;
    kc.History = cfg->history > 0 ? (uint8_t)cfg->history : 1;
    kc.TTL = cfg->ttl_ms > 0 ? cfg->ttl_ms * KV_NS_PER_MS : 0;
    kc.MaxBytes = cfg->max_bytes > 0 ? cfg->max_bytes : -1;
    kc.StorageType = js_FileStorage;
    kc.Replicas = cfg->replicas > 0 ? cfg->replicas : 1;
    kvStore *kv = NULL;
    natsStatus s = js_CreateKeyValue(&kv, b->js, &kc);
    if (s == NATS_OK) {
        *out = kv;
        return FV_OK;
    }
    fv_err create_err = {{0}};
    fv__js_nats_err(&create_err, s, 0, cfg->bucket);
    fv_status st = kv_update_limits(b, &kc, &create_err, err);
    if (st != FV_OK)
        return st;
    s = js_KeyValue(out, b->js, cfg->bucket);
    return s == NATS_OK ? FV_OK : fv__js_nats_err(err, s, 0, cfg->bucket);
}

fv_status fv_kv_open(fv_bus *bus, const fv_kv_config *cfg, fv_kv **out, fv_err *err)
{
    *out = NULL;
    fv__js_bus *b = kv_bus(bus, cfg->bucket, err);
    if (!b)
        return FV_ENOTSUP;
    fv_kv *kv = calloc(1, sizeof *kv);
    if (!kv)
        return fv_err_set(err, FV_ENOMEM, "%s: out of memory", cfg->bucket);
    snprintf(kv->bucket, sizeof kv->bucket, "%s", cfg->bucket);
    fv_status st;
    if (cfg->create) {
        st = kv_ensure(b, cfg, &kv->kv, err);
    } else {
        natsStatus s = js_KeyValue(&kv->kv, b->js, cfg->bucket);
        if (s == NATS_NOT_FOUND)
            st = fv_err_set(err, FV_ENOTFOUND,
                            "KV bucket %s does not exist (run `flovyn-bridge init`)", cfg->bucket);
        else
            st = s == NATS_OK ? FV_OK : fv__js_nats_err(err, s, 0, cfg->bucket);
    }
    if (st != FV_OK) {
        free(kv);
        return st;
    }
    *out = kv;
    return FV_OK;
}

fv_status fv_kv_ensure(fv_bus *bus, const fv_kv_config *cfg, fv_err *err)
{
    fv_kv_config c = *cfg;
    c.create = true;
    fv_kv *kv = NULL;
    fv_status st = fv_kv_open(bus, &c, &kv, err);
    fv_kv_close(kv);
    return st;
}

void fv_kv_close(fv_kv *kv)
{
    if (!kv)
        return;
    kvStore_Destroy(kv->kv);
    free(kv);
}

const char *fv_kv_bucket(const fv_kv *kv)
{
    return kv->bucket;
}

fv_status fv_kv_get(fv_kv *kv, const char *key, char **value, size_t *len, uint64_t *revision,
                    fv_err *err)
{
    *value = NULL;
    if (len)
        *len = 0;
    if (revision)
        *revision = 0;
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, kv->kv, key);
    if (s == NATS_NOT_FOUND)
        return fv_err_set(err, FV_ENOTFOUND, "%s: no key '%s'", kv->bucket, key);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, 0, kv->bucket);
    size_t n = (size_t)kvEntry_ValueLen(e);
    char *v = malloc(n + 1);
    if (!v) {
        kvEntry_Destroy(e);
        return fv_err_set(err, FV_ENOMEM, "%s: out of memory", kv->bucket);
    }
    if (n)
        memcpy(v, kvEntry_Value(e), n);
    v[n] = '\0';
    *value = v;
    if (len)
        *len = n;
    if (revision)
        *revision = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return FV_OK;
}

/* a compare-and-set write lost: JetStream's "wrong last sequence" */
static fv_status kv_write_err(fv_kv *kv, natsStatus s, const char *key, fv_err *err)
{
    const char *last = nats_GetLastError(NULL);
    if (s == NATS_ERR && last && strstr(last, "wrong last sequence"))
        return fv_err_set(err, FV_ECONFLICT, "%s: key '%s' changed meanwhile", kv->bucket, key);
    return fv__js_nats_err(err, s, 0, kv->bucket);
}

fv_status fv_kv_put(fv_kv *kv, const char *key, const void *value, size_t len, uint64_t *revision,
                    fv_err *err)
{
    uint64_t rev = 0;
    natsStatus s = kvStore_Put(&rev, kv->kv, key, value, (int)len);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, 0, kv->bucket);
    if (revision)
        *revision = rev;
    return FV_OK;
}

fv_status fv_kv_create(fv_kv *kv, const char *key, const void *value, size_t len,
                       uint64_t *revision, fv_err *err)
{
    uint64_t rev = 0;
    natsStatus s = kvStore_Create(&rev, kv->kv, key, value, (int)len);
    if (s != NATS_OK)
        return kv_write_err(kv, s, key, err);
    if (revision)
        *revision = rev;
    return FV_OK;
}

fv_status fv_kv_update(fv_kv *kv, const char *key, const void *value, size_t len,
                       uint64_t last_revision, uint64_t *revision, fv_err *err)
{
    uint64_t rev = 0;
    natsStatus s = kvStore_Update(&rev, kv->kv, key, value, (int)len, last_revision);
    if (s != NATS_OK)
        return kv_write_err(kv, s, key, err);
    if (revision)
        *revision = rev;
    return FV_OK;
}

fv_status fv_kv_delete(fv_kv *kv, const char *key, fv_err *err)
{
    natsStatus s = kvStore_Delete(kv->kv, key);
    return s == NATS_OK ? FV_OK : fv__js_nats_err(err, s, 0, kv->bucket);
}

fv_status fv_kv_purge(fv_kv *kv, const char *key, fv_err *err)
{
    natsStatus s = kvStore_Purge(kv->kv, key, NULL);
    return s == NATS_OK ? FV_OK : fv__js_nats_err(err, s, 0, kv->bucket);
}

fv_status fv_kv_keys(fv_kv *kv, char ***keys, size_t *n, fv_err *err)
{
    *keys = NULL;
    *n = 0;
    kvKeysList list = {0};
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.Timeout = KV_LIST_WAIT_MS;
    natsStatus s = kvStore_Keys(&list, kv->kv, &wo);
    if (s == NATS_NOT_FOUND)
        return FV_OK; /* no key at all */
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, 0, kv->bucket);
    /* the list's own array is handed over; kvKeysList_Destroy would free it */
    *keys = list.Keys;
    *n = (size_t)list.Count;
    return FV_OK;
}

void fv_kv_keys_free(char **keys, size_t n)
{
    kvKeysList list = {.Keys = keys, .Count = (int)n};
    kvKeysList_Destroy(&list);
}

/* --- watching --------------------------------------------------------------------------------- */

fv_status fv_kv_watch_all(fv_kv *kv, fv_kv_watcher **out, fv_err *err)
{
    *out = NULL;
    fv_kv_watcher *w = calloc(1, sizeof *w);
    if (!w)
        return fv_err_set(err, FV_ENOMEM, "%s: out of memory", kv->bucket);
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    natsStatus s = kvStore_WatchAll(&w->w, kv->kv, &wo);
    if (s != NATS_OK) {
        free(w);
        char what[160];
        snprintf(what, sizeof what, "watching %s", kv->bucket);
        return fv__js_nats_err(err, s, 0, what);
    }
    *out = w;
    return FV_OK;
}

fv_status fv_kv_watcher_next(fv_kv_watcher *w, int timeout_ms, fv_kv_change *out, bool *have,
                             fv_err *err)
{
    *have = false;
    memset(out, 0, sizeof *out);
    kvEntry_Destroy(w->last);
    w->last = NULL;
    if (atomic_load(&w->stopped))
        return fv_err_set(err, FV_ECLOSED, "KV watcher stopped");
    kvEntry *e = NULL;
    natsStatus s = kvWatcher_Next(&e, w->w, timeout_ms > 0 ? timeout_ms : 1);
    if (s == NATS_TIMEOUT)
        return FV_ETIMEOUT;
    if (s != NATS_OK) {
        if (atomic_load(&w->stopped))
            return fv_err_set(err, FV_ECLOSED, "KV watcher stopped");
        return fv__js_nats_err(err, s, 0, "KV watcher");
    }
    if (!e)
        return FV_OK; /* marks the end of the initial values */
    w->last = e;
    *have = true;
    out->op = kvEntry_Operation(e) == kvOp_Put ? FV_KV_PUT : FV_KV_DELETE;
    out->key = kvEntry_Key(e);
    out->revision = kvEntry_Revision(e);
    if (out->op == FV_KV_PUT) {
        out->value = kvEntry_Value(e);
        out->len = (size_t)kvEntry_ValueLen(e);
    }
    return FV_OK;
}

void fv_kv_watcher_stop(fv_kv_watcher *w)
{
    if (!w)
        return;
    atomic_store(&w->stopped, true);
    kvWatcher_Stop(w->w);
}

void fv_kv_watcher_destroy(fv_kv_watcher *w)
{
    if (!w)
        return;
    kvEntry_Destroy(w->last);
    kvWatcher_Destroy(w->w);
    free(w);
}
