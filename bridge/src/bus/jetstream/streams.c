/* streams.c - stream management: the one "ensure a stream" (the bus's FLOVYN_EVENTS and
 * FLOVYN_STREAMS, and through flovyn/stream.h the bridge's FLOVYN_DLQ and legacy capture stream),
 * the two bus streams' names, state (first and last sequence, creation time), readiness and
 * epoch, and single messages of the bridge's streams (read by sequence, write, remove, purge).
 *
 * Provisioning creates a stream or updates it in place (never lowering its replicas), and refuses
 * with a message a user can act on what JetStream cannot change (storage, retention) or what
 * belongs to another prefix. Readiness is "connected and both streams exist", cached briefly
 * because /readyz may be polled often. The epoch is derived from both streams' creation times: a
 * recreated stream restarts its sequences, so cursors from before must become `gap` instead of
 * silently pointing into a different history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetstream_internal.h"
#include "flovyn/log.h"
#include "flovyn/stream.h"

#define READY_TTL_MS 2000
/* Readiness is asked on HTTP threads (/readyz, every ingest): its requests wait at most this
 * long, and a check that got no answer is repeated after READY_RETRY_MS */
#define READY_WAIT_MS 250
#define READY_RETRY_MS 250
#define NS_PER_MS 1000000LL

const char *fv__js_stream_name(fv_source src)
{
    return src == FV_SRC_EVENTS ? FV_STREAM_EVENTS : FV_STREAM_STREAMS;
}

void fv__js_subject_all(const fv__js_bus *b, fv_source src, char *out, size_t cap)
{
    if (src == FV_SRC_EVENTS)
        fv_subject_events_all(b->base.prefix, out, cap);
    else
        fv_subject_streams_all(b->base.prefix, out, cap);
}

fv_status fv__js_stream_stat_get(fv__js_bus *b, fv_source src, int64_t wait_ms,
                                 fv__js_stream_stat *out, fv_err *err)
{
    jsOptions o; /* wait_ms > 0 bounds the request instead of the context's 5 s */
    jsOptions_Init(&o);
    o.Wait = wait_ms;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s =
        js_GetStreamInfo(&si, b->js, fv__js_stream_name(src), wait_ms > 0 ? &o : NULL, &jerr);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, jerr, fv__js_stream_name(src));
    *out = (fv__js_stream_stat){.first = si->State.FirstSeq,
                                .last = si->State.LastSeq,
                                .deleted = si->State.NumDeleted,
                                .created = si->Created,
                                .first_ms = si->State.FirstTime / NS_PER_MS};
    jsStreamInfo_Destroy(si);
    return FV_OK;
}

fv_status fv__js_stream_state_recent(fv__js_bus *b, fv_source src, int64_t max_age_ms,
                                     int64_t wait_ms, uint64_t *first, uint64_t *last,
                                     int64_t *first_ms, fv_err *err)
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
    fv__js_stream_stat s = {0};
    fv_status st = fv__js_stream_stat_get(b, src, wait_ms, &s, err);
    if (st == FV_OK) {
        *first = s.first;
        *last = s.last;
        *first_ms = s.first_ms;
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
    pthread_mutex_lock(&b->mu);
    if (b->refreshing) { /* another thread asks right now: the cache is as good */
        pthread_mutex_unlock(&b->mu);
        return FV_OK;
    }
    b->refreshing = true;
    pthread_mutex_unlock(&b->mu);
    int64_t created[2] = {0, 0};
    fv_status st = FV_OK;
    for (int i = 0; i < 2 && st == FV_OK; i++) {
        fv__js_stream_stat s = {0};
        st = fv__js_stream_stat_get(b, (fv_source)i, READY_WAIT_MS, &s, err);
        created[i] = s.created;
    }
    int64_t now = fv__js_now_ms();
    pthread_mutex_lock(&b->mu);
    b->refreshing = false;
    if (st == FV_OK || st == FV_ENOTFOUND) {
        b->streams_ok = st == FV_OK;
        b->ready_checked_ms = now;
    } else {
        /* no answer in time (a stream electing its leader, JetStream restarting): that proves
         * nothing about the streams, so keep what is known and ask again soon */
        b->ready_checked_ms = now - READY_TTL_MS + READY_RETRY_MS;
    }
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

/* --- the one "ensure a stream" ------------------------------------------------------------------
 */

static bool same_subjects(const jsStreamConfig *sc, const fv__js_stream_spec *sp)
{
    if (sc->SubjectsLen != sp->nsubjects)
        return false;
    for (int i = 0; i < sp->nsubjects; i++)
        if (strcmp(sc->Subjects[i], sp->subjects[i]) != 0)
            return false;
    return true;
}

static bool same_str(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* the limits flovyn owns on a stream, applied to sc (a fresh or an existing configuration) */
static void spec_apply(const fv__js_stream_spec *sp, jsStreamConfig *sc, jsRePublish *rp,
                       int replicas)
{
    int64_t age = ns_of_ms(sp->max_age_ms > 0 ? sp->max_age_ms : 0);
    int64_t dup = ns_of_ms(120000);
    if (age > 0 && dup > age)
        dup = age;
    sc->Subjects = (const char **)sp->subjects;
    sc->SubjectsLen = sp->nsubjects;
    sc->Discard = js_DiscardOld;
    sc->MaxAge = age;
    sc->MaxBytes = sp->max_bytes > 0 ? sp->max_bytes : -1;
    sc->Replicas = replicas;
    sc->Duplicates = dup;
    if (sp->republish_src) {
        jsRePublish_Init(rp);
        rp->Source = sp->republish_src;
        rp->Destination = sp->republish_dst;
        sc->RePublish = rp;
    }
    if (sp->allow_direct)
        sc->AllowDirect = true;
}

/* nothing flovyn owns differs: the stream is left untouched */
static bool spec_holds(const fv__js_stream_spec *sp, const jsStreamConfig *cur, int replicas)
{
    jsStreamConfig want;
    jsRePublish rp;
    jsStreamConfig_Init(&want);
    spec_apply(sp, &want, &rp, replicas);
    if (!same_subjects(cur, sp) || cur->Discard != want.Discard || cur->MaxAge != want.MaxAge ||
        cur->MaxBytes != want.MaxBytes || cur->Replicas != want.Replicas ||
        cur->Duplicates != want.Duplicates)
        return false;
    if (sp->republish_src && (!cur->RePublish || cur->RePublish->HeadersOnly ||
                              !same_str(cur->RePublish->Source, sp->republish_src) ||
                              !same_str(cur->RePublish->Destination, sp->republish_dst)))
        return false;
    return !sp->allow_direct || cur->AllowDirect;
}

static fv_status refuse_existing(const fv__js_stream_spec *sp, const jsStreamConfig *cur,
                                 fv_err *err)
{
    const char *name = sp->name;
    if (cur->Storage != js_FileStorage)
        return fv_err_set(err, FV_ECONFLICT,
                          "stream %s exists with %s storage; flovyn needs file storage "
                          "(storage cannot change: recreate the stream)",
                          name, cur->Storage == js_MemoryStorage ? "memory" : "other");
    if (cur->Retention != js_LimitsPolicy)
        return fv_err_set(err, FV_ECONFLICT,
                          "stream %s exists with a non-limits retention policy; flovyn needs "
                          "limits retention (retention cannot change: recreate the stream)",
                          name);
    if (sp->subjects_owned && !same_subjects(cur, sp))
        return fv_err_set(
            err, FV_ECONFLICT,
            "stream %s exists for subjects '%s', not '%s' (another --prefix uses it); stream "
            "names are per account: use another account or remove the stream",
            name, cur->SubjectsLen > 0 ? cur->Subjects[0] : "", sp->subjects[0]);
    return FV_OK;
}

static fv_status ensure_failed(const fv__js_stream_spec *sp, natsStatus s, jsErrCode jerr,
                               fv_err *err)
{
    const char *name = sp->name;
    if (jerr == JSStreamSubjectOverlapErr)
        return fv_err_set(err, FV_ECONFLICT,
                          "stream %s: subjects '%s' overlap a stream that already exists "
                          "(JetStream error 10065); remove or change the other stream, or use "
                          "another prefix",
                          name, sp->subjects[0]);
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

fv_status fv__js_stream_ensure(fv__js_bus *b, const fv__js_stream_spec *sp, fv_err *err)
{
    int want_replicas = sp->replicas > 0 ? sp->replicas : 1;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, sp->name, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        jsStreamConfig sc;
        jsRePublish rp;
        jsStreamConfig_Init(&sc);
        sc.Name = sp->name;
        sc.Storage = js_FileStorage;
        sc.Retention = js_LimitsPolicy;
        spec_apply(sp, &sc, &rp, want_replicas);
        jerr = 0;
        s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
        if (s != NATS_OK)
            return ensure_failed(sp, s, jerr, err);
        jsStreamInfo_Destroy(si);
        fv_log(FV_LOG_INFO, "bus", "stream created", "stream", sp->name, NULL);
        return FV_OK;
    }
    if (s != NATS_OK)
        return ensure_failed(sp, s, jerr, err);
    jsStreamConfig *cur = si->Config;
    fv_status st = refuse_existing(sp, cur, err);
    /* never fewer replicas than the stream has: an operator or a run with a larger --replicas
     * raised them on purpose */
    int replicas = cur->Replicas > want_replicas ? cur->Replicas : want_replicas;
    if (st != FV_OK || spec_holds(sp, cur, replicas)) {
        jsStreamInfo_Destroy(si);
        return st;
    }
    /* update in place, so limits flovyn does not own stay as an operator set them; the info
     * owns its subjects and republish and frees them, so they are put back before that */
    const char **subjects = cur->Subjects;
    int nsubjects = cur->SubjectsLen;
    jsRePublish *republish = cur->RePublish;
    jsRePublish rp;
    spec_apply(sp, cur, &rp, replicas);
    jsStreamInfo *si2 = NULL;
    jerr = 0;
    s = js_UpdateStream(&si2, b->js, cur, NULL, &jerr);
    cur->Subjects = subjects;
    cur->SubjectsLen = nsubjects;
    cur->RePublish = republish;
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK)
        return ensure_failed(sp, s, jerr, err);
    jsStreamInfo_Destroy(si2);
    return FV_OK;
}

static fv_status provision_one(fv__js_bus *b, fv_source src, fv_err *err)
{
    const fv_bus_config *c = &b->base.cfg;
    char subj[FV_SUBJECT_MAX], live[FV_PREFIX_MAX + 32], rdst[FV_SUBJECT_MAX];
    if (src == FV_SRC_EVENTS) {
        fv_subject_events_all(b->base.prefix, subj, sizeof subj);
        fv_subject_live_events(b->base.prefix, live, sizeof live);
    } else {
        fv_subject_streams_all(b->base.prefix, subj, sizeof subj);
        fv_subject_live_streams(b->base.prefix, live, sizeof live);
    }
    snprintf(rdst, sizeof rdst, "%s.>", live);
    const char *subjects[1] = {subj};
    /* file storage for both: stream events are short-lived, but a broker restart must not lose
     * a run's tokens that a client is about to resume */
    fv__js_stream_spec sp = {
        .name = fv__js_stream_name(src),
        .subjects = subjects,
        .nsubjects = 1,
        .max_age_ms = src == FV_SRC_EVENTS ? c->events_max_age_ms : c->streams_max_age_ms,
        .max_bytes = src == FV_SRC_EVENTS ? c->events_max_bytes : c->streams_max_bytes,
        .replicas = c->replicas,
        .republish_src = subj,
        .republish_dst = rdst,
        .allow_direct = true,
        .subjects_owned = true,
    };
    return fv__js_stream_ensure(b, &sp, err);
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

/* refreshes the readiness cache when it is older than READY_TTL_MS; b->mu not held */
static void refresh_if_stale(fv__js_bus *b)
{
    pthread_mutex_lock(&b->mu);
    bool stale = b->epoch == 0 || fv__js_now_ms() - b->ready_checked_ms > READY_TTL_MS;
    pthread_mutex_unlock(&b->mu);
    if (stale) {
        fv_err e = {{0}};
        fv__js_refresh_streams(b, &e);
    }
}

bool fv__js_ready(fv__js_bus *b)
{
    if (!atomic_load(&b->connected))
        return false;
    refresh_if_stale(b);
    pthread_mutex_lock(&b->mu);
    bool ok = b->streams_ok;
    pthread_mutex_unlock(&b->mu);
    return ok && atomic_load(&b->connected);
}

uint64_t fv__js_epoch(fv__js_bus *b)
{
    refresh_if_stale(b);
    pthread_mutex_lock(&b->mu);
    uint64_t e = b->epoch;
    pthread_mutex_unlock(&b->mu);
    return e;
}

/* --- the bridge's other streams (flovyn/stream.h) ---------------------------------------------
 */

static fv__js_bus *stream_bus(fv_bus *bus, const char *what, fv_err *err)
{
    fv__js_bus *b = fv__js_of(bus);
    if (!b)
        fv_err_set(err, FV_ENOTSUP, "%s: streams need JetStream (--nats-url)", what);
    return b;
}

fv_status fv_stream_ensure(fv_bus *bus, const fv_stream_config *cfg, fv_err *err)
{
    fv__js_bus *b = stream_bus(bus, cfg->name, err);
    if (!b)
        return FV_ENOTSUP;
    if (cfg->nsubjects < 1)
        return fv_err_set(err, FV_EINVAL, "stream %s: no subject", cfg->name);
    fv__js_stream_spec sp = {
        .name = cfg->name,
        .subjects = cfg->subjects,
        .nsubjects = cfg->nsubjects,
        .max_age_ms = cfg->max_age_ms,
        .max_bytes = cfg->max_bytes,
        .replicas = cfg->replicas,
    };
    return fv__js_stream_ensure(b, &sp, err);
}

fv_status fv_stream_info(fv_bus *bus, const char *stream, fv_stream_state *out, fv_err *err)
{
    memset(out, 0, sizeof *out);
    fv__js_bus *b = stream_bus(bus, stream, err);
    if (!b)
        return FV_ENOTSUP;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, stream, NULL, &jerr);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, jerr, stream);
    out->first_seq = si->State.FirstSeq;
    out->last_seq = si->State.LastSeq;
    out->msgs = si->State.Msgs;
    out->replicas = si->Config->Replicas;
    jsStreamInfo_Destroy(si);
    return FV_OK;
}

struct fv_stream_msg {
    natsMsg *m;
    uint64_t seq;
};

fv_status fv_stream_get(fv_bus *bus, const char *stream, uint64_t seq, fv_stream_msg **out,
                        fv_err *err)
{
    *out = NULL;
    fv__js_bus *b = stream_bus(bus, stream, err);
    if (!b)
        return FV_ENOTSUP;
    fv_stream_msg *sm = calloc(1, sizeof *sm);
    if (!sm)
        return fv_err_set(err, FV_ENOMEM, "%s: out of memory", stream);
    jsErrCode jerr = 0;
    natsStatus s = js_GetMsg(&sm->m, b->js, stream, seq, NULL, &jerr);
    if (s != NATS_OK) {
        free(sm);
        char what[160];
        snprintf(what, sizeof what, "reading %s seq %llu", stream, (unsigned long long)seq);
        return fv__js_nats_err(err, s, jerr, what);
    }
    sm->seq = seq;
    *out = sm;
    return FV_OK;
}

const char *fv_stream_msg_subject(const fv_stream_msg *m)
{
    return natsMsg_GetSubject(m->m);
}

const void *fv_stream_msg_data(const fv_stream_msg *m, size_t *len)
{
    *len = (size_t)natsMsg_GetDataLength(m->m);
    return natsMsg_GetData(m->m);
}

const char *fv_stream_msg_header(const fv_stream_msg *m, const char *name)
{
    return fv__js_header(m->m, name);
}

uint64_t fv_stream_msg_seq(const fv_stream_msg *m)
{
    return m->seq;
}

void fv_stream_msg_destroy(fv_stream_msg *m)
{
    if (!m)
        return;
    natsMsg_Destroy(m->m);
    free(m);
}

fv_status fv_stream_publish(fv_bus *bus, const fv_stream_pub *p, uint64_t *seq, fv_err *err)
{
    fv__js_bus *b = stream_bus(bus, p->subject, err);
    if (!b)
        return FV_ENOTSUP;
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, p->subject, NULL, p->data, (int)p->len);
    for (size_t i = 0; s == NATS_OK && i < p->nheaders; i++)
        s = natsMsgHeader_Set(msg, p->headers[i].name, p->headers[i].value);
    if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        return fv__js_nats_err(err, s, 0, p->subject);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000; /* without it a lost ack waits forever */
    po.MsgId = p->msg_id;
    po.ExpectStream = p->expect_stream;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    s = js_PublishMsg(&pa, b->js, msg, &po, &jerr);
    natsMsg_Destroy(msg);
    if (s == NATS_OK && seq)
        *seq = pa->Sequence;
    jsPubAck_Destroy(pa);
    if (s != NATS_OK) {
        char what[FV_SUBJECT_MAX + 16];
        snprintf(what, sizeof what, "publish %s", p->subject);
        return fv__js_nats_err(err, s, jerr, what);
    }
    return FV_OK;
}

fv_status fv_stream_delete_msg(fv_bus *bus, const char *stream, uint64_t seq, fv_err *err)
{
    fv__js_bus *b = stream_bus(bus, stream, err);
    if (!b)
        return FV_ENOTSUP;
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteMsg(b->js, stream, seq, NULL, &jerr);
    /* already gone: nats-server 2.9 answers a generic 10057 saying "no message found" */
    const char *last = nats_GetLastError(NULL);
    if (s == NATS_OK || s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr ||
        jerr == JSSequenceNotFoundErr ||
        (jerr == JSStreamMsgDeleteFailed && last && strstr(last, "no message found")))
        return FV_OK;
    char what[160];
    snprintf(what, sizeof what, "removing %s seq %llu", stream, (unsigned long long)seq);
    return fv__js_nats_err(err, s, jerr, what);
}

fv_status fv_stream_purge(fv_bus *bus, const char *stream, const char *subject, fv_err *err)
{
    fv__js_bus *b = stream_bus(bus, stream, err);
    if (!b)
        return FV_ENOTSUP;
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = subject;
    jsErrCode jerr = 0;
    natsStatus s = js_PurgeStream(b->js, stream, &o, &jerr);
    if (s == NATS_OK || s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
        return FV_OK;
    char what[160];
    snprintf(what, sizeof what, "purging %s", stream);
    return fv__js_nats_err(err, s, jerr, what);
}
