/* connection.c - the JetStream backend's bottom layer: the NATS connection and its callbacks,
 * the one mapping of NATS and JetStream errors to fv_status, and the clock. Every other file of
 * bus/jetstream/ calls down to it; it calls none of them (the publish path's ack handler is handed
 * in by backend.c). See jetstream_internal.h for the map of the backend and the nats.c 3.4.1
 * defects designed around.
 *
 * The connection never gives up (unbounded reconnect with jitter, a bounded reconnect buffer), so
 * a broker restart is an outage, not a crash. A reconnect makes both live threads compare with
 * the streams before they deliver anything newer (republished messages sent meanwhile are lost).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jetstream_internal.h"
#include "flovyn/log.h"

int64_t fv__js_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *fv__js_header(natsMsg *m, const char *name)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, name, &v) == NATS_OK ? v : NULL;
}

fv_status fv__js_nats_err(fv_err *err, natsStatus s, jsErrCode jerr, const char *what)
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
typedef struct fv__js_connstate {
    pthread_mutex_t mu;
    fv__js_bus *bus; /* NULL once the bus is being destroyed */
} fv__js_connstate;

static fv__js_bus *cs_lock(fv__js_connstate *cs)
{
    pthread_mutex_lock(&cs->mu);
    return cs->bus;
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    fv__js_connstate *cs = closure;
    fv__js_bus *b = cs_lock(cs);
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
static void came_up(fv__js_bus *b, const char *msg)
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
    fv__js_connstate *cs = closure;
    fv__js_bus *b = cs_lock(cs);
    if (b) {
        atomic_fetch_add(&b->st.reconnects, 1);
        came_up(b, "NATS reconnected");
    }
    pthread_mutex_unlock(&cs->mu);
}

/* first connection made in the background (connect_in_background): as a reconnect */
static void on_connected(natsConnection *nc, void *closure)
{
    fv__js_connstate *cs = closure;
    fv__js_bus *b = cs_lock(cs);
    if (b)
        came_up(b, "NATS connected");
    pthread_mutex_unlock(&cs->mu);
}

static void on_closed(natsConnection *nc, void *closure)
{
    fv__js_connstate *cs = closure;
    fv__js_bus *b = cs_lock(cs);
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
    fv__js_connstate *cs = closure;
    fv__js_bus *b = cs_lock(cs);
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

fv_status fv__js_connect(fv__js_bus *b, jsPubAckHandler on_ack, fv_err *err)
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
    if (s == NATS_OK && (c->nats_tls_ca || c->nats_tls_cert))
        s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && c->nats_tls_ca)
        s = natsOptions_LoadCATrustedCertificates(o, c->nats_tls_ca);
    if (s == NATS_OK && c->nats_tls_cert)
        s = natsOptions_LoadCertificatesChain(o, c->nats_tls_cert, c->nats_tls_key);
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
    if (s == NATS_OK && c->publish_now)
        s = natsOptions_SetSendAsap(o, true);
    fv__js_connstate *cs = calloc(1, sizeof *cs);
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
        return fv__js_nats_err(err, s, 0, "nats options");
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
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = b;
    s = natsConnection_JetStream(&b->js, b->nc, &jo);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, 0, "JetStream context");
    return FV_OK;
}

/* callbacks from now on see no bus; the closed callback frees the state */
static void unhook(fv__js_bus *b)
{
    fv__js_connstate *cs = b->connstate;
    if (!cs)
        return;
    b->connstate = NULL;
    pthread_mutex_lock(&cs->mu);
    cs->bus = NULL;
    pthread_mutex_unlock(&cs->mu);
}

bool fv__js_close_if_offline(fv__js_bus *b)
{
    if (!b->nc || atomic_load(&b->connected))
        return false;
    atomic_store(&b->closing, true); /* no publish is sent again */
    unhook(b);
    natsConnection_Close(b->nc); /* requests waiting and to come fail at once */
    return true;
}

void fv__js_disconnect(fv__js_bus *b)
{
    if (b->js)
        jsCtx_Destroy(b->js);
    unhook(b);
    if (b->nc) {
        natsConnection_Close(b->nc);
        natsConnection_Destroy(b->nc);
    }
}
