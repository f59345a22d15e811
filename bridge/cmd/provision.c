/* provision.c - the bridge's streams and buckets beyond FLOVYN_EVENTS/FLOVYN_STREAMS, and the
 * dead-letter writer; see provision.h.
 *
 * Idempotence is "read, compare, create or update": an unchanged stream is not touched, a changed
 * limit is updated in place, and what JetStream cannot change (storage, retention) is reported as
 * a conflict instead of deleting anyone's data.
 */
#include "provision.h"

#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "flovyn/registry.h"
#include "flovyn/subject.h"
#include "flovyn/units.h"

#define JS_ERR_STREAM_NOT_FOUND 10059

static fv_status nats_fail(fv_err *err, natsStatus s, const char *what)
{
    natsStatus ls = NATS_OK;
    const char *txt = nats_GetLastError(&ls);
    if (ls != s || !txt || !*txt)
        txt = natsStatus_GetText(s);
    return fv_err_set(err, s == NATS_TIMEOUT ? FV_ETIMEOUT : FV_EIO, "%s: %s", what, txt);
}

static bool same_subjects(const jsStreamConfig *sc, const char *const *subjects, int n)
{
    if (sc->SubjectsLen != n)
        return false;
    for (int i = 0; i < n; i++)
        if (strcmp(sc->Subjects[i], subjects[i]) != 0)
            return false;
    return true;
}

fv_status fv_provision_stream(fv_bus *bus, const char *name, const char *const *subjects,
                              int nsubjects, int64_t max_age_ms, int64_t max_bytes, int replicas,
                              fv_err *err)
{
    jsCtx *js = fv_bus_jetstream(bus);
    if (!js)
        return fv_err_set(err, FV_ENOTSUP, "%s: streams need JetStream (--nats-url)", name);
    int64_t age_ns = max_age_ms > 0 ? max_age_ms * 1000000LL : 0;
    int64_t dup_ns = 120LL * 1000000000LL;
    if (age_ns > 0 && dup_ns > age_ns)
        dup_ns = age_ns;
    if (replicas < 1)
        replicas = 1;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, name, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JS_ERR_STREAM_NOT_FOUND) {
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        sc.Name = name;
        sc.Subjects = (const char **)subjects;
        sc.SubjectsLen = nsubjects;
        sc.Retention = js_LimitsPolicy;
        sc.Storage = js_FileStorage;
        sc.Discard = js_DiscardOld;
        sc.MaxAge = age_ns;
        sc.MaxBytes = max_bytes > 0 ? max_bytes : -1;
        sc.Duplicates = dup_ns;
        sc.Replicas = replicas;
        jerr = 0;
        s = js_AddStream(&si, js, &sc, NULL, &jerr);
        jsStreamInfo_Destroy(si);
        if (s != NATS_OK) {
            if (jerr == 10065)
                return fv_err_set(err, FV_ECONFLICT,
                                  "%s: its subjects overlap those of another stream", name);
            return nats_fail(err, s, name);
        }
        return FV_OK;
    }
    if (s != NATS_OK)
        return nats_fail(err, s, name);
    jsStreamConfig *sc = si->Config;
    if (sc->Storage != js_FileStorage || sc->Retention != js_LimitsPolicy) {
        jsStreamInfo_Destroy(si);
        return fv_err_set(err, FV_ECONFLICT,
                          "%s exists with another storage or retention policy, which JetStream "
                          "cannot change: delete it or fix it by hand",
                          name);
    }
    int64_t want_bytes = max_bytes > 0 ? max_bytes : -1;
    if (same_subjects(sc, subjects, nsubjects) && sc->MaxAge == age_ns &&
        sc->MaxBytes == want_bytes && sc->Replicas == replicas && sc->Duplicates == dup_ns) {
        jsStreamInfo_Destroy(si);
        return FV_OK;
    }
    const char **saved = sc->Subjects;
    int saved_n = sc->SubjectsLen;
    sc->Subjects = (const char **)subjects;
    sc->SubjectsLen = nsubjects;
    sc->MaxAge = age_ns;
    sc->MaxBytes = want_bytes;
    sc->Replicas = replicas;
    sc->Duplicates = dup_ns;
    jsStreamInfo *si2 = NULL;
    jerr = 0;
    s = js_UpdateStream(&si2, js, sc, NULL, &jerr);
    sc->Subjects = saved; /* the info owns its own subjects and frees them */
    sc->SubjectsLen = saved_n;
    jsStreamInfo_Destroy(si);
    jsStreamInfo_Destroy(si2);
    if (s != NATS_OK) {
        if (jerr == 10065)
            return fv_err_set(err, FV_ECONFLICT, "%s: its subjects overlap those of another stream",
                              name);
        return nats_fail(err, s, name);
    }
    return FV_OK;
}

fv_status fv_provision_dlq(fv_bus *bus, int replicas, int64_t max_age_ms, int64_t max_bytes,
                           fv_err *err)
{
    char subj[FV_SUBJECT_MAX];
    snprintf(subj, sizeof subj, "%s.v1.dlq.>", fv_bus_prefix(bus));
    const char *subjects[1] = {subj};
    return fv_provision_stream(bus, FV_STREAM_DLQ, subjects, 1,
                               max_age_ms > 0 ? max_age_ms : FV_DLQ_MAX_AGE_DEFAULT_MS,
                               max_bytes > 0 ? max_bytes : FV_DLQ_MAX_BYTES_DEFAULT, replicas, err);
}

fv_status fv_provision_all(fv_bus *bus, const fv_bridge_common *c, const fv_provision_config *pc,
                           fv_err *err)
{
    fv_status st = fv_bus_provision(bus, err);
    if (st != FV_OK)
        return fv_err_prefix(err, st, "streams: ");
    if ((st = fv_provision_dlq(bus, (int)c->replicas, pc ? pc->dlq_max_age_ms : 0,
                               pc ? pc->dlq_max_bytes : 0, err)) != FV_OK)
        return st;
    /* KV TTL is one value per bucket (nats-server 2.9): the registry must outlive the events it
     * points into, so its entries live as long as FLOVYN_EVENTS keeps events */
    int64_t ttl = c->events_max_age_ms > 0 ? c->events_max_age_ms : 7LL * 86400 * 1000;
    if ((st = fv_registry_provision(bus, ttl, (int)c->replicas, err)) != FV_OK)
        return st;
    return fv_kv_bucket_ensure(bus, FV_BUCKET_SUBSCRIPTIONS, 0, (int)c->replicas, err);
}

fv_status fv_dlq_publish(fv_bus *bus, const fv_dlq_entry *e, fv_err *err)
{
    jsCtx *js = fv_bus_jetstream(bus);
    if (!js)
        return fv_err_set(err, FV_ENOTSUP, "dead letters need JetStream (--nats-url)");
    char subj[FV_SUBJECT_MAX];
    snprintf(subj, sizeof subj, "%s.v1.dlq.%s", fv_bus_prefix(bus),
             e->origin && *e->origin ? e->origin : "unknown");
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subj, NULL, e->data, (int)e->len);
    if (s != NATS_OK)
        return nats_fail(err, s, "dlq");
    char num[32];
    natsMsgHeader_Set(msg, "Flovyn-Dlq-Origin", e->origin ? e->origin : "unknown");
    /* header values are single lines */
    char reason[FV_ERR_MSG_MAX * 2];
    snprintf(reason, sizeof reason, "%s", e->reason ? e->reason : "unknown");
    for (char *p = reason; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    natsMsgHeader_Set(msg, "Flovyn-Dlq-Reason", reason);
    if (e->subject)
        natsMsgHeader_Set(msg, "Flovyn-Dlq-Subject", e->subject);
    if (e->attempts > 0) {
        snprintf(num, sizeof num, "%d", e->attempts);
        natsMsgHeader_Set(msg, "Flovyn-Dlq-Attempts", num);
    }
    snprintf(num, sizeof num, "%lld", (long long)fv_now_ms());
    natsMsgHeader_Set(msg, "Flovyn-Dlq-Time", num);
    if (e->content_type)
        natsMsgHeader_Set(msg, "Content-Type", e->content_type);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    po.MsgId = e->msg_id;
    po.ExpectStream = FV_STREAM_DLQ;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    s = js_PublishMsg(&pa, js, msg, &po, &jerr);
    natsMsg_Destroy(msg);
    jsPubAck_Destroy(pa);
    if (s != NATS_OK)
        return nats_fail(err, s, "dlq publish");
    return FV_OK;
}
