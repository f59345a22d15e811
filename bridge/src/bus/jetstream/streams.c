/* streams.c - the two streams (FLOVYN_EVENTS, FLOVYN_STREAMS): their names, provisioning, their
 * state (first and last sequence, creation time), readiness and the epoch.
 *
 * Provisioning creates a stream or updates it in place, and refuses with a message a user can act
 * on what JetStream cannot change (storage, retention) or what belongs to another prefix.
 * Readiness is "connected and both streams exist", cached briefly because /readyz may be polled
 * often. The epoch is derived from both streams' creation times: a recreated stream restarts its
 * sequences, so cursors from before must become `gap` instead of silently pointing into a
 * different history.
 */
#include <stdio.h>
#include <string.h>

#include "jetstream_internal.h"
#include "flovyn/log.h"

#define READY_TTL_MS 2000
#define NS_PER_MS 1000000LL

const char *fv__js_stream_name(fv_source src)
{
    return src == FV_SRC_EVENTS ? FV_STREAM_EVENTS : FV_STREAM_STREAMS;
}

fv_status fv__js_stream_state(fv__js_bus *b, fv_source src, uint64_t *first, uint64_t *last,
                              int64_t *created, fv_err *err)
{
    return fv__js_stream_state_ex(b, src, first, last, created, NULL, err);
}

fv_status fv__js_stream_state_ex(fv__js_bus *b, fv_source src, uint64_t *first, uint64_t *last,
                                 int64_t *created, int64_t *first_ms, fv_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, fv__js_stream_name(src), NULL, &jerr);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, jerr, fv__js_stream_name(src));
    if (first)
        *first = si->State.FirstSeq;
    if (last)
        *last = si->State.LastSeq;
    if (created)
        *created = si->Created;
    if (first_ms)
        *first_ms = si->State.FirstTime / NS_PER_MS;
    jsStreamInfo_Destroy(si);
    return FV_OK;
}

fv_status fv__js_stream_state_recent(fv__js_bus *b, fv_source src, int64_t max_age_ms,
                                     uint64_t *first, uint64_t *last, int64_t *first_ms,
                                     fv_err *err)
{
    int64_t now = fv__js_now_ms();
    pthread_mutex_lock(&b->mu);
    bool fresh = b->state_cache[src].at_ms > 0 && now - b->state_cache[src].at_ms <= max_age_ms;
    if (fresh) {
        *first = b->state_cache[src].first;
        *last = b->state_cache[src].last;
        *first_ms = b->state_cache[src].first_ms;
    }
    pthread_mutex_unlock(&b->mu);
    if (fresh)
        return FV_OK;
    fv_status st = fv__js_stream_state_ex(b, src, first, last, NULL, first_ms, err);
    if (st == FV_OK) {
        pthread_mutex_lock(&b->mu);
        b->state_cache[src].at_ms = now;
        b->state_cache[src].first = *first;
        b->state_cache[src].last = *last;
        b->state_cache[src].first_ms = *first_ms;
        pthread_mutex_unlock(&b->mu);
    }
    return st;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

fv_status fv__js_refresh_streams(fv__js_bus *b, fv_err *err)
{
    int64_t created[2] = {0, 0};
    fv_status st = FV_OK;
    for (int i = 0; i < 2 && st == FV_OK; i++)
        st = fv__js_stream_state(b, (fv_source)i, NULL, NULL, &created[i], err);
    pthread_mutex_lock(&b->mu);
    b->streams_ok = st == FV_OK;
    b->ready_checked_ms = fv__js_now_ms();
    if (st == FV_OK) {
        b->created[0] = created[0];
        b->created[1] = created[1];
        /* 12 hex digits are plenty to tell incarnations apart and keep cursors short */
        uint64_t e = mix64((uint64_t)created[0] ^ mix64((uint64_t)created[1])) & 0xffffffffffffULL;
        b->epoch = e ? e : 1;
    }
    pthread_mutex_unlock(&b->mu);
    return st;
}

static int64_t ns_of_ms(int64_t ms)
{
    return ms * NS_PER_MS;
}

static void stream_config(fv__js_bus *b, fv_source src, jsStreamConfig *sc, jsRePublish *rp,
                          const char **subjects, char *subj, char *rsrc, char *rdst)
{
    const fv_bus_config *c = &b->base.cfg;
    char live[FV_PREFIX_MAX + 32];
    if (src == FV_SRC_EVENTS) {
        fv_subject_events_all(b->base.prefix, subj, FV_SUBJECT_MAX);
        fv_subject_live_events(b->base.prefix, live, sizeof live);
    } else {
        fv_subject_streams_all(b->base.prefix, subj, FV_SUBJECT_MAX);
        fv_subject_live_streams(b->base.prefix, live, sizeof live);
    }
    snprintf(rsrc, FV_SUBJECT_MAX, "%s", subj);
    snprintf(rdst, FV_SUBJECT_MAX, "%s.>", live);
    subjects[0] = subj;
    int64_t max_age = src == FV_SRC_EVENTS ? c->events_max_age_ms : c->streams_max_age_ms;
    int64_t max_bytes = src == FV_SRC_EVENTS ? c->events_max_bytes : c->streams_max_bytes;
    int64_t dup = max_age < 120000 ? max_age : 120000;
    jsStreamConfig_Init(sc);
    jsRePublish_Init(rp);
    rp->Source = rsrc;
    rp->Destination = rdst;
    sc->Name = fv__js_stream_name(src);
    sc->Subjects = subjects;
    sc->SubjectsLen = 1;
    /* file storage for both: stream events are short-lived, but a broker restart must not lose
     * a run's tokens that a client is about to resume */
    sc->Storage = js_FileStorage;
    sc->Retention = js_LimitsPolicy;
    sc->Discard = js_DiscardOld;
    sc->MaxAge = ns_of_ms(max_age);
    sc->MaxBytes = max_bytes;
    sc->Replicas = c->replicas;
    sc->Duplicates = ns_of_ms(dup);
    sc->RePublish = rp;
    sc->AllowDirect = true;
}

static fv_status provision_one(fv__js_bus *b, fv_source src, fv_err *err)
{
    jsStreamConfig sc;
    jsRePublish rp;
    const char *subjects[1];
    char subj[FV_SUBJECT_MAX], rsrc[FV_SUBJECT_MAX], rdst[FV_SUBJECT_MAX];
    stream_config(b, src, &sc, &rp, subjects, subj, rsrc, rdst);
    const char *name = sc.Name;

    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, name, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        jerr = 0;
        s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
        if (s == NATS_OK) {
            jsStreamInfo_Destroy(si);
            fv_log(FV_LOG_INFO, "bus", "stream created", "stream", name, NULL);
            return FV_OK;
        }
    } else if (s == NATS_OK) {
        const jsStreamConfig *cur = si->Config;
        if (cur->Storage != sc.Storage) {
            bool mem = cur->Storage == js_MemoryStorage;
            jsStreamInfo_Destroy(si);
            return fv_err_set(err, FV_ECONFLICT,
                              "stream %s exists with %s storage; flovyn needs file storage "
                              "(storage cannot change: recreate the stream)",
                              name, mem ? "memory" : "other");
        }
        if (cur->Retention != sc.Retention) {
            jsStreamInfo_Destroy(si);
            return fv_err_set(err, FV_ECONFLICT,
                              "stream %s exists with a non-limits retention policy; flovyn needs "
                              "limits retention (retention cannot change: recreate the stream)",
                              name);
        }
        if (cur->SubjectsLen != 1 || strcmp(cur->Subjects[0], subj) != 0) {
            fv_status st = fv_err_set(
                err, FV_ECONFLICT,
                "stream %s exists for subjects '%s', not '%s' (another --prefix uses it); stream "
                "names are per account: use another account or remove the stream",
                name, cur->SubjectsLen > 0 ? cur->Subjects[0] : "", subj);
            jsStreamInfo_Destroy(si);
            return st;
        }
        jsStreamInfo_Destroy(si);
        si = NULL;
        s = js_UpdateStream(&si, b->js, &sc, NULL, &jerr);
        if (s == NATS_OK) {
            jsStreamInfo_Destroy(si);
            return FV_OK;
        }
    }
    if (jerr == JSStreamSubjectOverlapErr)
        return fv_err_set(
            err, FV_ECONFLICT,
            "stream %s: subjects '%s' overlap a stream that already exists (JetStream "
            "error 10065); remove or change the other stream, or use another --prefix",
            name, subj);
    if (jerr == JSStreamNameExistErr)
        return fv_err_set(
            err, FV_ECONFLICT,
            "stream %s exists with an incompatible configuration (JetStream error %d)", name,
            (int)jerr);
    if (jerr == JSStreamInvalidConfig || jerr == JSStreamReplicasNotSupportedErr ||
        jerr == JSStreamMirrorNotUpdatableErr || jerr == JSStreamUpdateErr) {
        fv__js_nats_err(err, s, jerr, name);
        return FV_ECONFLICT;
    }
    return fv__js_nats_err(err, s, jerr, name);
}

fv_status fv__js_provision(fv__js_bus *b, fv_err *err)
{
    for (int i = 0; i < 2; i++) {
        fv_status st = provision_one(b, (fv_source)i, err);
        if (st != FV_OK)
            return st;
    }
    return fv__js_refresh_streams(b, err);
}

bool fv__js_ready(fv__js_bus *b)
{
    if (!atomic_load(&b->connected))
        return false;
    pthread_mutex_lock(&b->mu);
    bool stale = fv__js_now_ms() - b->ready_checked_ms > READY_TTL_MS;
    bool ok = b->streams_ok;
    pthread_mutex_unlock(&b->mu);
    if (stale) {
        fv_err e = {{0}};
        ok = fv__js_refresh_streams(b, &e) == FV_OK;
    }
    return ok && atomic_load(&b->connected);
}

uint64_t fv__js_epoch(fv__js_bus *b)
{
    pthread_mutex_lock(&b->mu);
    uint64_t e = b->epoch;
    bool stale = e == 0 || fv__js_now_ms() - b->ready_checked_ms > READY_TTL_MS;
    pthread_mutex_unlock(&b->mu);
    if (stale) {
        fv_err er = {{0}};
        if (fv__js_refresh_streams(b, &er) == FV_OK) {
            pthread_mutex_lock(&b->mu);
            e = b->epoch;
            pthread_mutex_unlock(&b->mu);
        }
    }
    return e;
}
