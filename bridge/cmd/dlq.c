/* dlq.c - webhook dead letters in FLOVYN_DLQ; see dlq.h.
 *
 * Listing walks the stream by sequence with plain "get message" requests instead of a consumer:
 * a one-shot command leaves nothing behind on the server, deleted entries (replayed ones) are
 * just skipped, and the walk is bounded by the stream's sequence range. Dead letters are few
 * by nature; a DLQ that grows large is an operational problem that `dlq purge` solves.
 */
#include "dlq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/subject.h"
#include "provision.h"

bool fv_dlq_origin_reserved(const char *name)
{
    return !strcmp(name, "registry") || !strcmp(name, "legacy") || !strcmp(name, "webhook") ||
           !strcmp(name, "unknown");
}

fv_status fv_dlq_webhook_put(fv_bus *bus, const char *subscription, fv_durable_msg *m,
                             uint64_t attempts, const char *why, fv_err *err)
{
    size_t len = 0;
    const void *data = fv_durable_msg_data(m, &len);
    char msg_id[FV_ID_MAX + 48];
    snprintf(msg_id, sizeof msg_id, "webhook:%s:%" PRIu64, subscription, fv_durable_msg_seq(m));
    fv_dlq_entry e = {
        .origin = subscription,
        .subject = fv_durable_msg_subject(m),
        .data = data,
        .len = len,
        .content_type = fv_durable_msg_header(m, "Content-Type"),
        .reason = why,
        .attempts = attempts > INT32_MAX ? INT32_MAX : (int)attempts,
        .msg_id = msg_id,
    };
    return fv_dlq_publish(bus, &e, err);
}

/* out-parameter form: gcc -O3 takes a returned header pointer for one to a local */
static void header(natsMsg *m, const char *k, const char **out)
{
    if (natsMsgHeader_Get(m, k, out) != NATS_OK)
        *out = NULL;
}

fv_status fv_dlq_scan(fv_bus *bus, const char *subscription, size_t limit,
                      int (*cb)(void *ud, const fv_dlq_item *it), void *ud, fv_err *err)
{
    jsCtx *js = fv_bus_jetstream(bus);
    if (!js)
        return fv_err_set(err, FV_ENOTSUP, "the DLQ needs JetStream (--nats-url)");
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, FV_STREAM_DLQ, NULL, &jerr);
    if (s == NATS_NOT_FOUND)
        return fv_err_set(err, FV_ENOTFOUND, "stream %s does not exist (run `flovyn-bridge init`)",
                          FV_STREAM_DLQ);
    if (s != NATS_OK)
        return fv_err_set(err, FV_EIO, "reading %s: %s", FV_STREAM_DLQ, natsStatus_GetText(s));
    uint64_t first = si->State.FirstSeq, last = si->State.LastSeq, msgs = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    char want[FV_SUBJECT_MAX] = "";
    if (subscription)
        snprintf(want, sizeof want, "%s.v1.dlq.%s", fv_bus_prefix(bus), subscription);
    size_t n = 0;
    fv_status st = FV_OK;
    for (uint64_t seq = first; msgs > 0 && seq <= last && seq != 0; seq++) {
        natsMsg *m = NULL;
        s = js_GetMsg(&m, js, FV_STREAM_DLQ, seq, NULL, &jerr);
        if (s == NATS_NOT_FOUND)
            continue; /* deleted (replayed) entry */
        if (s != NATS_OK) {
            st = fv_err_set(err, FV_EIO, "reading %s seq %" PRIu64 ": %s", FV_STREAM_DLQ, seq,
                            natsStatus_GetText(s));
            break;
        }
        if (want[0] && strcmp(natsMsg_GetSubject(m), want) != 0) {
            natsMsg_Destroy(m);
            continue;
        }
        fv_dlq_item it = {0};
        it.dlq_seq = seq;
        header(m, "Flovyn-Dlq-Origin", &it.origin);
        header(m, "Flovyn-Dlq-Subject", &it.subject);
        header(m, "Flovyn-Dlq-Reason", &it.reason);
        header(m, "Content-Type", &it.content_type);
        const char *a = NULL;
        header(m, "Flovyn-Dlq-Attempts", &a);
        it.attempts = a ? atoi(a) : 0;
        const char *t = NULL;
        header(m, "Flovyn-Dlq-Time", &t);
        it.time_ms = t ? strtoll(t, NULL, 10) : 0;
        const char *id = NULL;
        header(m, "Nats-Msg-Id", &id);
        const char *colon = id && !strncmp(id, "webhook:", 8) ? strrchr(id, ':') : NULL;
        it.original_seq = colon ? strtoull(colon + 1, NULL, 10) : 0;
        it.data = natsMsg_GetData(m);
        it.len = (size_t)natsMsg_GetDataLength(m);
        int stop = cb(ud, &it);
        natsMsg_Destroy(m);
        if (stop || (limit && ++n >= limit))
            break;
    }
    return st;
}

fv_status fv_dlq_remove(fv_bus *bus, uint64_t dlq_seq, fv_err *err)
{
    jsCtx *js = fv_bus_jetstream(bus);
    if (!js)
        return fv_err_set(err, FV_ENOTSUP, "the DLQ needs JetStream (--nats-url)");
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteMsg(js, FV_STREAM_DLQ, dlq_seq, NULL, &jerr);
    if (s != NATS_OK && s != NATS_NOT_FOUND)
        return fv_err_set(err, FV_EIO, "removing %s seq %" PRIu64 ": %s", FV_STREAM_DLQ, dlq_seq,
                          natsStatus_GetText(s));
    return FV_OK;
}

fv_status fv_dlq_purge(fv_bus *bus, const char *subscription, fv_err *err)
{
    jsCtx *js = fv_bus_jetstream(bus);
    if (!js)
        return fv_err_set(err, FV_ENOTSUP, "the DLQ needs JetStream (--nats-url)");
    char subj[FV_SUBJECT_MAX];
    snprintf(subj, sizeof subj, "%s.v1.dlq.%s", fv_bus_prefix(bus),
             subscription ? subscription : ">");
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = subj;
    jsErrCode jerr = 0;
    natsStatus s = js_PurgeStream(js, FV_STREAM_DLQ, &o, &jerr);
    if (s == NATS_NOT_FOUND)
        return FV_OK;
    if (s != NATS_OK)
        return fv_err_set(err, FV_EIO, "purging %s: %s", FV_STREAM_DLQ, natsStatus_GetText(s));
    return FV_OK;
}
