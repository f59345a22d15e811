/* durable.c - durable pull consumers (ARCHITECTURE "Data flow" 6) for webhooks,
 * handlers and the DLQ: explicit ack, max-deliver, back-off, nak with delay.
 *
 * The consumer is created or updated with js_AddConsumer / js_UpdateConsumer and opened by
 * binding to it by name (jsSubOptions Stream + Consumer), so opening never creates anything.
 * Closing only destroys the subscription object: in nats.c, unsubscribing or draining a
 * subscription deletes the consumer it created, and the consumer's ack floor is the whole point.
 * nats-server refuses a BackOff list unless MaxDeliver > len(BackOff), so the list is trimmed.
 * A fetch first asks without waiting for up to `max` messages and only then waits for one with a
 * FetchRequest expiry (3.4.1's Fetch ignores its timeout); waiting for a whole batch would hold a
 * lone message back until the expiry. Acks are synchronous: "acknowledged" then means the server
 * recorded it, which is what a restart may rely on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetstream_internal.h"

#define NS_PER_MS 1000000LL
#define BACKOFF_MAX 64

struct fv_durable {
    fv__js_bus *bus;
    natsSubscription *sub;
    char stream[64];
    char name[64];
};

struct fv_durable_msg {
    natsMsg *m;
    uint64_t seq, delivered;
    int64_t stored_ms;
    fv__js_bus *bus;
    fv_source src; /* of a durable on FLOVYN_STREAMS, else FLOVYN_EVENTS */
};

static fv_status check_name(const char *what, const char *s, fv_err *err)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63)
        return fv_err_set(err, FV_EINVAL, "durable: %s must be 1-63 characters", what);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return fv_err_set(err, FV_EINVAL, "durable: %s '%s' may only hold [A-Za-z0-9_-]", what,
                              s);
    }
    return FV_OK;
}

fv_status fv__js_durable_ensure(fv_bus *bus, const fv_durable_config *cfg, fv_err *err)
{
    fv__js_bus *b = fv__js(bus);
    fv_status st = check_name("stream", cfg->stream, err);
    if (st == FV_OK)
        st = check_name("name", cfg->name, err);
    if (st != FV_OK)
        return st;
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = cfg->name;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = (cfg->ack_wait_ms > 0 ? cfg->ack_wait_ms : 30000) * NS_PER_MS;
    cc.MaxDeliver = cfg->max_deliver > 0 ? cfg->max_deliver : -1;
    cc.DeliverPolicy = cfg->deliver_new ? js_DeliverNew : js_DeliverAll;
    if (cfg->start_ms > 0) {
        cc.DeliverPolicy = js_DeliverByStartTime;
        cc.OptStartTime = cfg->start_ms * NS_PER_MS;
    }
    if (cfg->filter_subject && *cfg->filter_subject)
        cc.FilterSubject = cfg->filter_subject;
    if (cfg->max_ack_pending > 0)
        cc.MaxAckPending = cfg->max_ack_pending;
    int64_t backoff[BACKOFF_MAX];
    size_t nb = cfg->backoff_n < BACKOFF_MAX ? cfg->backoff_n : BACKOFF_MAX;
    if (cfg->max_deliver > 0 && nb > (size_t)(cfg->max_deliver - 1))
        nb = (size_t)(cfg->max_deliver - 1); /* the server wants MaxDeliver > len(BackOff) */
    for (size_t i = 0; i < nb; i++)
        backoff[i] = cfg->backoff_ms[i] * NS_PER_MS;
    if (nb > 0) {
        cc.BackOff = backoff;
        cc.BackOffLen = (int)nb;
    }
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, b->js, cfg->stream, cfg->name, NULL, &jerr);
    if (s == NATS_OK) {
        /* the server refuses to change where a consumer starts; a durable made by an older
         * version (or another replica) keeps its own */
        if (ci->Config) {
            cc.DeliverPolicy = ci->Config->DeliverPolicy;
            cc.OptStartSeq = ci->Config->OptStartSeq;
            cc.OptStartTime = ci->Config->OptStartTime;
        }
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        jerr = 0;
        s = js_UpdateConsumer(&ci, b->js, cfg->stream, &cc, NULL, &jerr);
        if (s != NATS_OK) {
            fv__js_nats_err(err, s, jerr, "durable update");
            return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS ? FV_EUNAVAIL : FV_ECONFLICT;
        }
    } else if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
        jerr = 0;
        s = js_AddConsumer(&ci, b->js, cfg->stream, &cc, NULL, &jerr);
        if (s != NATS_OK)
            return fv__js_nats_err(err, s, jerr, "durable create");
    } else {
        return fv__js_nats_err(err, s, jerr, "durable lookup");
    }
    jsConsumerInfo_Destroy(ci);
    return FV_OK;
}

fv_status fv__js_durable_delete(fv_bus *bus, const char *stream, const char *name, fv_err *err)
{
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteConsumer(fv__js(bus)->js, stream, name, NULL, &jerr);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, jerr, "durable delete");
    return FV_OK;
}

fv_status fv__js_durable_open(fv_bus *bus, const char *stream, const char *name, fv_durable **out,
                              fv_err *err)
{
    fv__js_bus *b = fv__js(bus);
    fv_status st = check_name("stream", stream, err);
    if (st == FV_OK)
        st = check_name("name", name, err);
    if (st != FV_OK)
        return st;
    /* binding needs a subject the consumer accepts: its filter, or the stream's subject */
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, b->js, stream, name, NULL, &jerr);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, jerr, "durable open");
    char subj[FV_SUBJECT_MAX + 1] = "";
    if (ci->Config && ci->Config->FilterSubject && *ci->Config->FilterSubject)
        snprintf(subj, sizeof subj, "%s", ci->Config->FilterSubject);
    jsConsumerInfo_Destroy(ci);
    if (!subj[0]) {
        jsStreamInfo *si = NULL;
        s = js_GetStreamInfo(&si, b->js, stream, NULL, &jerr);
        if (s != NATS_OK)
            return fv__js_nats_err(err, s, jerr, "durable open");
        if (si->Config && si->Config->SubjectsLen > 0)
            snprintf(subj, sizeof subj, "%s", si->Config->Subjects[0]);
        jsStreamInfo_Destroy(si);
    }
    fv_durable *d = calloc(1, sizeof *d);
    if (!d)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    d->bus = b;
    snprintf(d->stream, sizeof d->stream, "%s", stream);
    snprintf(d->name, sizeof d->name, "%s", name);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = d->stream;
    so.Consumer = d->name;
    s = js_PullSubscribe(&d->sub, b->js, subj, d->name, NULL, &so, &jerr);
    if (s != NATS_OK) {
        free(d);
        return fv__js_nats_err(err, s, jerr, "durable bind");
    }
    *out = d;
    return FV_OK;
}

void fv_durable_close(fv_durable *d)
{
    if (!d)
        return;
    /* never Unsubscribe/Drain: that would delete the durable consumer */
    natsSubscription_Destroy(d->sub);
    free(d);
}

static size_t take(fv_durable *d, natsMsgList *list, fv_durable_msg **msgs, size_t room)
{
    fv_source src = strcmp(d->stream, FV_STREAM_STREAMS) == 0 ? FV_SRC_STREAMS : FV_SRC_EVENTS;
    size_t n = 0;
    for (int i = 0; i < list->Count; i++) {
        fv_durable_msg *dm = n < room ? calloc(1, sizeof *dm) : NULL;
        if (!dm) {
            /* not handed out: it will be redelivered after AckWait */
            natsMsg_Destroy(list->Msgs[i]);
            list->Msgs[i] = NULL;
            continue;
        }
        dm->m = list->Msgs[i];
        dm->bus = d->bus;
        dm->src = src;
        list->Msgs[i] = NULL;
        fv__js_msg_meta_full(dm->m, &dm->seq, &dm->stored_ms, &dm->delivered, NULL);
        msgs[n++] = dm;
    }
    natsMsgList_Destroy(list);
    return n;
}

static natsStatus fetch(fv_durable *d, int batch, bool no_wait, int timeout_ms, natsMsgList *list)
{
    jsFetchRequest fr;
    jsFetchRequest_Init(&fr);
    fr.Batch = batch;
    fr.NoWait = no_wait;
    fr.Expires = (int64_t)(timeout_ms > 0 ? timeout_ms : 1) * NS_PER_MS;
    memset(list, 0, sizeof *list);
    return natsSubscription_FetchRequest(list, d->sub, &fr);
}

/* Without a connection a request only waits for its timeout (nats.c buffers it for a reconnect):
 * say so at once, so the runner backs off and a SIGTERM meanwhile is not kept waiting. */
static fv_status unreachable(const fv_durable *d, fv_err *err)
{
    if (atomic_load(&d->bus->connected))
        return FV_OK;
    return fv_err_set(err, FV_EUNAVAIL, "durable %s: not connected to NATS", d->name);
}

fv_status fv_durable_fetch(fv_durable *d, size_t max, int timeout_ms, fv_durable_msg **msgs,
                           size_t *n, fv_err *err)
{
    *n = 0;
    if (max == 0)
        return FV_OK;
    fv_status st = unreachable(d, err);
    if (st != FV_OK)
        return st;
    int batch = max > 4096 ? 4096 : (int)max;
    natsMsgList list;
    natsStatus s = fetch(d, batch, true, timeout_ms > 0 ? timeout_ms : 1000, &list);
    if (s == NATS_OK && list.Count > 0) {
        *n = take(d, &list, msgs, max);
        return FV_OK;
    }
    natsMsgList_Destroy(&list);
    if (s != NATS_OK && s != NATS_TIMEOUT && s != NATS_NOT_FOUND)
        return fv__js_nats_err(err, s, 0, "durable fetch");
    if (timeout_ms <= 0)
        return FV_OK;
    s = fetch(d, 1, false, timeout_ms, &list);
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND)
        return FV_OK;
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, 0, "durable fetch");
    *n = take(d, &list, msgs, max);
    if (*n > 0 && *n < max) {
        s = fetch(d, (int)(max - *n > 4096 ? 4096 : max - *n), true, 1000, &list);
        if (s == NATS_OK)
            *n += take(d, &list, msgs + *n, max - *n);
        else
            natsMsgList_Destroy(&list);
    }
    return FV_OK;
}

const void *fv_durable_msg_data(const fv_durable_msg *m, size_t *len)
{
    if (len)
        *len = (size_t)natsMsg_GetDataLength(m->m);
    return natsMsg_GetData(m->m);
}

const char *fv_durable_msg_subject(const fv_durable_msg *m)
{
    return natsMsg_GetSubject(m->m);
}

const char *fv_durable_msg_header(const fv_durable_msg *m, const char *name)
{
    return fv__js_header(m->m, name);
}

uint64_t fv_durable_msg_seq(const fv_durable_msg *m)
{
    return m->seq;
}
uint64_t fv_durable_msg_delivered(const fv_durable_msg *m)
{
    return m->delivered;
}
int64_t fv_durable_msg_stored_ms(const fv_durable_msg *m)
{
    return m->stored_ms;
}

fv_status fv_durable_msg_read(const fv_durable_msg *m, fv_event *ev, fv_stream_event *se,
                              fv_stored_reason *why, fv_err *err)
{
    fv_stored_msg sm;
    fv__js_stored_msg(m->m, m->src, m->seq, m->stored_ms, &sm);
    return fv_stored_read(m->bus->base.prefix, &sm, &m->bus->base.cfg.limits, ev, se, why, err);
}

static fv_status ack_status(natsStatus s, const char *what)
{
    return s == NATS_OK ? FV_OK : s == NATS_TIMEOUT ? FV_ETIMEOUT : FV_EIO;
}

fv_status fv_durable_msg_ack(fv_durable_msg *m)
{
    return ack_status(natsMsg_AckSync(m->m, NULL, NULL), "ack");
}

fv_status fv_durable_msg_nak(fv_durable_msg *m, int64_t delay_ms)
{
    natsStatus s =
        delay_ms > 0 ? natsMsg_NakWithDelay(m->m, delay_ms, NULL) : natsMsg_Nak(m->m, NULL);
    return ack_status(s, "nak");
}

fv_status fv_durable_msg_term(fv_durable_msg *m)
{
    return ack_status(natsMsg_Term(m->m, NULL), "term");
}

fv_status fv_durable_msg_in_progress(fv_durable_msg *m)
{
    return ack_status(natsMsg_InProgress(m->m, NULL), "in progress");
}

void fv_durable_msg_destroy(fv_durable_msg *m)
{
    if (!m)
        return;
    natsMsg_Destroy(m->m);
    free(m);
}

fv_status fv_durable_pending(fv_durable *d, uint64_t *pending, fv_err *err)
{
    fv_status st = unreachable(d, err);
    if (st != FV_OK)
        return st;
    /* a figure for /metrics: not worth more than a second of a runner's time */
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 1000;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, d->bus->js, d->stream, d->name, &o, &jerr);
    if (s != NATS_OK)
        return fv__js_nats_err(err, s, jerr, "durable info");
    *pending = ci->NumPending;
    jsConsumerInfo_Destroy(ci);
    return FV_OK;
}
