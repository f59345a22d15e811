/* connection.c - the JetStream bus backend: connection, stream provisioning, readiness, epoch
 * and the vtable. The other files of bus/jetstream/ hold publish, reads, the live path,
 * subscriptions and durables (see jetstream_internal.h for the map and the nats.c 3.4.1
 * defects designed around).
 *
 * The connection never gives up (unbounded reconnect with jitter, a bounded reconnect buffer), so
 * a broker restart is an outage, not a crash; readiness is "connected and both streams exist",
 * cached briefly because /readyz may be polled often. The epoch is derived from both streams'
 * creation times: a recreated stream restarts its sequences, so cursors from before must become
 * `gap` instead of silently pointing into a different history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jetstream_internal.h"
#include "flovyn/log.h"

#define READY_TTL_MS 2000
#define NS_PER_MS 1000000LL

int64_t fv_js_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *fv_js_stream_name(fv_source src)
{
    return src == FV_SRC_EVENTS ? FV_STREAM_EVENTS : FV_STREAM_STREAMS;
}

fv_status fv_js_nats_err(fv_err *err, natsStatus s, jsErrCode jerr, const char *what)
{
    const char *last = nats_GetLastError(NULL);
    fv_status code = FV_EIO;
    if (s == NATS_TIMEOUT)
        code = FV_ETIMEOUT;
    else if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr)
        code = FV_ENOTFOUND;
    else if (s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
             s == NATS_CONNECTION_DISCONNECTED)
        code = FV_EUNAVAIL;
    else if (s == NATS_NO_MEMORY)
        code = FV_ENOMEM;
    if (jerr)
        return fv_err_set(err, code, "%s: %s (JetStream error %d)", what,
                          last && *last ? last : natsStatus_GetText(s), (int)jerr);
    return fv_err_set(err, code, "%s: %s", what, last && *last ? last : natsStatus_GetText(s));
}

/* --- connection ------------------------------------------------------------------------------- */
/* nats.c runs connection callbacks on its own thread, possibly after natsConnection_Destroy has
 * returned (the closed callback always does). They therefore reach the bus through this small
 * object, which the closed callback frees; destroy unhooks the bus first, under the lock. */
typedef struct fv_js_connstate {
    pthread_mutex_t mu;
    fv_js_bus *bus; /* NULL once the bus is being destroyed */
} fv_js_connstate;

static fv_js_bus *cs_lock(fv_js_connstate *cs)
{
    pthread_mutex_lock(&cs->mu);
    return cs->bus;
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    fv_js_connstate *cs = closure;
    fv_js_bus *b = cs_lock(cs);
    if (b) {
        atomic_store(&b->connected, false);
        fv_log(FV_LOG_WARN, "bus", "NATS disconnected", NULL);
        if (b->base.cfg.on_connection)
            b->base.cfg.on_connection(b->base.cfg.on_connection_ud, false);
    }
    pthread_mutex_unlock(&cs->mu);
}

/* cs->mu held. Republished messages sent while we were away are lost to the live subscription:
 * both live threads compare with the streams before they deliver anything newer. */
static void came_up(fv_js_bus *b, const char *msg)
{
    atomic_store(&b->connected, true);
    atomic_store(&b->live[0].probe, true);
    atomic_store(&b->live[1].probe, true);
    fv_log(FV_LOG_INFO, "bus", msg, NULL);
    if (b->base.cfg.on_connection)
        b->base.cfg.on_connection(b->base.cfg.on_connection_ud, true);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    fv_js_connstate *cs = closure;
    fv_js_bus *b = cs_lock(cs);
    if (b) {
        atomic_fetch_add(&b->st.reconnects, 1);
        came_up(b, "NATS reconnected");
    }
    pthread_mutex_unlock(&cs->mu);
}

/* first connection made in the background (connect_in_background): as a reconnect */
static void on_connected(natsConnection *nc, void *closure)
{
    fv_js_connstate *cs = closure;
    fv_js_bus *b = cs_lock(cs);
    if (b)
        came_up(b, "NATS connected");
    pthread_mutex_unlock(&cs->mu);
}

static void on_closed(natsConnection *nc, void *closure)
{
    fv_js_connstate *cs = closure;
    fv_js_bus *b = cs_lock(cs);
    if (b)
        atomic_store(&b->connected, false);
    pthread_mutex_unlock(&cs->mu);
    if (!b) { /* the bus is gone and this is the last callback */
        pthread_mutex_destroy(&cs->mu);
        free(cs);
    }
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
    /* slow consumer on a live subscription: the sequence jump is what triggers the refill */
    fv_js_connstate *cs = closure;
    fv_js_bus *b = cs_lock(cs);
    if (b) {
        for (int i = 0; i < 2; i++)
            if (sub && sub == b->live[i].sub)
                atomic_store(&b->live[i].probe, true);
        if (s != NATS_SLOW_CONSUMER)
            fv_log(FV_LOG_WARN, "bus", "NATS asynchronous error", "error", natsStatus_GetText(s),
                   NULL);
    }
    pthread_mutex_unlock(&cs->mu);
}

static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
    /* 250 ms growing to 1 s, +/- 25 % so a fleet does not reconnect in lockstep */
    int64_t base = attempts <= 1 ? 250 : attempts == 2 ? 500 : 1000;
    return base - base / 4 + (int64_t)(rand() % (int)(base / 2 + 1));
}

static fv_status connect_nats(fv_js_bus *b, fv_err *err)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    const fv_bus_config *c = &b->base.cfg;
    /* split the comma-separated URL list (natsOptions_SetServers wants an array) */
    char urls[sizeof b->base.nats_url];
    snprintf(urls, sizeof urls, "%s", c->nats_url);
    const char *list[32];
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(urls, ",", &save); t && n < 32; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t)
            list[n++] = t;
    }
    if (n == 0) {
        natsOptions_Destroy(o);
        return fv_err_set(err, FV_EINVAL, "nats-url: no URL in '%s'", c->nats_url);
    }
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, list, n);
    if (s == NATS_OK && c->nats_creds)
        s = natsOptions_SetUserCredentialsFromFiles(o, c->nats_creds, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, c->name);
    if (s == NATS_OK)
        s = natsOptions_UseGlobalMessageDelivery(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, b);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(o, 64 * 1024 * 1024);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPendingMsgs(o, 1 << 20);
    fv_js_connstate *cs = calloc(1, sizeof *cs);
    if (!cs) {
        natsOptions_Destroy(o);
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&cs->mu, NULL);
    cs->bus = b;
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, cs);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, cs);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, cs);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_async_error, cs);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 5000);
    if (s == NATS_OK && c->connect_in_background)
        s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, cs);
    if (s != NATS_OK) {
        natsOptions_Destroy(o);
        pthread_mutex_destroy(&cs->mu);
        free(cs);
        return fv_js_nats_err(err, s, 0, "nats options");
    }
    s = natsConnection_Connect(&b->nc, o);
    natsOptions_Destroy(o);
    bool pending = s == NATS_NOT_YET_CONNECTED;
    if (pending) {
        fv_log(FV_LOG_WARN, "bus", "NATS not reachable yet; connecting in the background", "url",
               c->nats_url, NULL);
        s = NATS_OK;
    }
    if (s != NATS_OK) {
        b->nc = NULL;
        pthread_mutex_destroy(&cs->mu); /* never connected: no callback will come */
        free(cs);
        fv_err_set(err, FV_EUNAVAIL, "cannot connect to NATS at %s: %s", c->nats_url,
                   natsStatus_GetText(s));
        return FV_EUNAVAIL;
    }
    b->connstate = cs;
    atomic_store(&b->connected, !pending);

    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = (int64_t)c->max_inflight_publishes * 4 + 1024;
    jo.PublishAsync.AckHandler = fv_js_pub_ack_handler;
    jo.PublishAsync.AckHandlerClosure = b;
    s = natsConnection_JetStream(&b->js, b->nc, &jo);
    if (s != NATS_OK)
        return fv_js_nats_err(err, s, 0, "JetStream context");
    return FV_OK;
}

/* --- streams ---------------------------------------------------------------------------------- */
fv_status fv_js_stream_state(fv_js_bus *b, fv_source src, uint64_t *first, uint64_t *last,
                             int64_t *created, fv_err *err)
{
    return fv_js_stream_state_ex(b, src, first, last, created, NULL, err);
}

fv_status fv_js_stream_state_ex(fv_js_bus *b, fv_source src, uint64_t *first, uint64_t *last,
                                int64_t *created, int64_t *first_ms, fv_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, fv_js_stream_name(src), NULL, &jerr);
    if (s != NATS_OK)
        return fv_js_nats_err(err, s, jerr, fv_js_stream_name(src));
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

fv_status fv_js_stream_state_recent(fv_js_bus *b, fv_source src, int64_t max_age_ms,
                                    uint64_t *first, uint64_t *last, int64_t *first_ms, fv_err *err)
{
    int64_t now = fv_js_now_ms();
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
    fv_status st = fv_js_stream_state_ex(b, src, first, last, NULL, first_ms, err);
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

fv_status fv_js_refresh_streams(fv_js_bus *b, fv_err *err)
{
    int64_t created[2] = {0, 0};
    fv_status st = FV_OK;
    for (int i = 0; i < 2 && st == FV_OK; i++)
        st = fv_js_stream_state(b, (fv_source)i, NULL, NULL, &created[i], err);
    pthread_mutex_lock(&b->mu);
    b->streams_ok = st == FV_OK;
    b->ready_checked_ms = fv_js_now_ms();
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

static void stream_config(fv_js_bus *b, fv_source src, jsStreamConfig *sc, jsRePublish *rp,
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
    sc->Name = fv_js_stream_name(src);
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

static fv_status provision_one(fv_js_bus *b, fv_source src, fv_err *err)
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
        fv_js_nats_err(err, s, jerr, name);
        return FV_ECONFLICT;
    }
    return fv_js_nats_err(err, s, jerr, name);
}

static fv_status js_provision(fv_bus *bus, fv_err *err)
{
    fv_js_bus *b = fv_js(bus);
    for (int i = 0; i < 2; i++) {
        fv_status st = provision_one(b, (fv_source)i, err);
        if (st != FV_OK)
            return st;
    }
    return fv_js_refresh_streams(b, err);
}

static bool js_ready(fv_bus *bus)
{
    fv_js_bus *b = fv_js(bus);
    if (!atomic_load(&b->connected))
        return false;
    pthread_mutex_lock(&b->mu);
    bool stale = fv_js_now_ms() - b->ready_checked_ms > READY_TTL_MS;
    bool ok = b->streams_ok;
    pthread_mutex_unlock(&b->mu);
    if (stale) {
        fv_err e = {{0}};
        ok = fv_js_refresh_streams(b, &e) == FV_OK;
    }
    return ok && atomic_load(&b->connected);
}

static uint64_t js_epoch(fv_bus *bus)
{
    fv_js_bus *b = fv_js(bus);
    pthread_mutex_lock(&b->mu);
    uint64_t e = b->epoch;
    bool stale = e == 0 || fv_js_now_ms() - b->ready_checked_ms > READY_TTL_MS;
    pthread_mutex_unlock(&b->mu);
    if (stale) {
        fv_err er = {{0}};
        if (fv_js_refresh_streams(b, &er) == FV_OK) {
            pthread_mutex_lock(&b->mu);
            e = b->epoch;
            pthread_mutex_unlock(&b->mu);
        }
    }
    return e;
}

static fv_status js_last_seq(fv_bus *bus, fv_source src, uint64_t *out, fv_err *err)
{
    *out = 0;
    return fv_js_stream_state(fv_js(bus), src, NULL, out, NULL, err);
}

static void js_stats(fv_bus *bus, fv_bus_stats *o)
{
    fv_js_bus *b = fv_js(bus);
    o->published = atomic_load(&b->st.published);
    o->duplicates = atomic_load(&b->st.duplicates);
    o->publish_errors = atomic_load(&b->st.publish_errors);
    o->publish_retries = atomic_load(&b->st.publish_retries);
    o->live_gaps_refilled = atomic_load(&b->st.live_gaps_refilled);
    o->live_refill_msgs = atomic_load(&b->st.live_refill_msgs);
    o->reconnects = atomic_load(&b->st.reconnects);
    o->connected = atomic_load(&b->connected);
    if (b->eng)
        fv__eng_stats(b->eng, o);
}

static struct __natsConnection *js_nc(fv_bus *bus)
{
    return fv_js(bus)->nc;
}
static struct __jsCtx *js_ctx(fv_bus *bus)
{
    return fv_js(bus)->js;
}

static void js_destroy(fv_bus *bus)
{
    fv_js_bus *b = fv_js(bus);
    atomic_store(&b->closing, true);
    fv_js_live_stop(b); /* first: nothing appends to the engine after this */
    fv__eng_destroy(b->eng);
    fv_js_pub_destroy(b);
    if (b->js)
        jsCtx_Destroy(b->js);
    if (b->connstate) {
        fv_js_connstate *cs = b->connstate;
        pthread_mutex_lock(&cs->mu);
        cs->bus = NULL; /* callbacks from now on see no bus; on_closed frees cs */
        pthread_mutex_unlock(&cs->mu);
    }
    if (b->nc) {
        natsConnection_Close(b->nc);
        natsConnection_Destroy(b->nc);
    }
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* --- subscriptions: the engine, fed by the live path ------------------------------------------ */
static fv_status js_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err)
{
    fv_js_bus *b = fv_js(bus);
    if (js_epoch(bus) == 0)
        return fv_err_set(err, FV_EUNAVAIL, "subscribe: JetStream streams are not available");
    bool want[2] = {fv_pattern_wants_events(&cfg->pattern),
                    fv_pattern_wants_streams(&cfg->pattern)};
    /* the live path fixes where the window starts before a subscription plans its own start */
    fv_status st = fv_js_live_ensure(b, err);
    if (st == FV_OK)
        st = fv_js_live_wait(b, want, err);
    if (st != FV_OK)
        return st;
    return fv__eng_subscribe(b->eng, bus, cfg, out, err);
}

static fv_status js_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                         int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next,
                         fv_err *err)
{
    if (js_epoch(bus) == 0)
        return fv_err_set(err, FV_EUNAVAIL, "read: JetStream streams are not available");
    return fv__eng_read(fv_js(bus)->eng, p, start, limit, cb, ud, next, err);
}

static uint64_t eng_epoch(void *ctx)
{
    return js_epoch(&((fv_js_bus *)ctx)->base);
}

#define STATE_CACHE_MS 250

/* A start from a known position only needs the retained floor, and a copy a quarter of a second
 * old is as good as the answer the server would give a moment later: a reconnect storm must not
 * wait on one stream-info request per client. NEW needs the true last sequence. */
static fv_status eng_store_state(void *ctx, fv_source src, bool fresh, uint64_t *floor,
                                 int64_t *lost_ms, uint64_t *last, fv_err *err)
{
    fv_js_bus *b = ctx;
    uint64_t first = 0;
    int64_t first_ms = 0;
    fv_status st =
        fresh ? fv_js_stream_state_ex(b, src, &first, last, NULL, &first_ms, err)
              : fv_js_stream_state_recent(b, src, STATE_CACHE_MS, &first, last, &first_ms, err);
    if (st != FV_OK)
        return st;
    *floor = first > 0 ? first - 1 : 0;
    *lost_ms = first_ms; /* the newest lost one is not known: the oldest kept stands for it */
    return FV_OK;
}

static fv_status eng_seq_at_time(void *ctx, fv_source src, int64_t time_ms, uint64_t *out,
                                 fv_err *err)
{
    return fv_js_seq_at_time(ctx, src, time_ms, out, err);
}

static const fv_bus_ops js_ops = {
    .destroy = js_destroy,
    .provision = js_provision,
    .ready = js_ready,
    .epoch = js_epoch,
    .last_seq = js_last_seq,
    .publish_batch = fv_js_publish_batch,
    .subscribe = js_subscribe,
    .sub_resume = fv__eng_sub_resume,
    .sub_close = fv__eng_sub_close,
    .sub_catching_up = fv__eng_sub_catching_up,
    .read = js_read,
    .stats = js_stats,
    .durable_ensure = fv_js_durable_ensure,
    .durable_delete = fv_js_durable_delete,
    .durable_open = fv_js_durable_open,
    .nats_connection = js_nc,
    .jetstream = js_ctx,
};

fv_status fv_bus_jetstream_create(const fv_bus_config *cfg, fv_bus **out, fv_err *err)
{
    *out = NULL;
    fv_js_bus *b = calloc(1, sizeof *b);
    if (!b)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    fv_status st = fv_bus_base_init(&b->base, &js_ops, cfg, err);
    if (st != FV_OK) {
        free(b);
        return st;
    }
    pthread_mutex_init(&b->mu, NULL);
    for (int i = 0; i < 2; i++) {
        b->live[i].bus = b;
        b->live[i].src = (fv_source)i;
    }
    st = fv_js_pub_init(b, err);
    if (st == FV_OK)
        st = connect_nats(b, err);
    if (st == FV_OK) {
        fv_err ignored = {{0}};
        fv_js_refresh_streams(b, &ignored); /* streams may not be provisioned yet */
        fv__eng_config ec = {.prefix = b->base.prefix, .readers = 2};
        ec.window_bytes[0] = ec.window_bytes[1] = cfg->window_bytes;
        fv__eng_ops ops = {.ctx = b,
                           .epoch = eng_epoch,
                           .store_state = eng_store_state,
                           .seq_at_time = eng_seq_at_time,
                           .read_open = fv_js_eng_read_open,
                           .read_next = fv_js_eng_read_next,
                           .read_close = fv_js_eng_read_close};
        st = fv__eng_create(&ec, &ops, &b->eng, err);
    }
    if (st != FV_OK) {
        js_destroy(&b->base);
        return st;
    }
    *out = &b->base;
    return FV_OK;
}

void fv_js_debug_drop_live(fv_bus *bus, fv_source src, int n)
{
    atomic_store(&fv_js(bus)->live[src].debug_drop, n);
}
