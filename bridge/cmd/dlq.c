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

#include "flovyn/stream.h"
#include "flovyn/subject.h"
#include "provision.h"

bool fv_dlq_origin_reserved(const char *name)
{
    return !strcmp(name, "registry") || !strcmp(name, "legacy") || !strcmp(name, "webhook") ||
           !strcmp(name, "unknown") || !strcmp(name, FV_DLQ_ORIGIN_CHECK);
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
        .stream = FV_STREAM_EVENTS,
        .seq = fv_durable_msg_seq(m),
    };
    return fv_dlq_publish(bus, &e, err);
}

/* Where the original was stored: the Flovyn-Dlq-Stream/-Seq headers, or, in dead letters
 * written before them, the Msg-Id ("webhook:<subscription>:<seq>" of FLOVYN_EVENTS,
 * "registry:<stream>:<seq>"). */
static void origin_of(const fv_stream_msg *m, fv_dlq_item *it, char *stream, size_t cap)
{
    const char *s = fv_stream_msg_header(m, "Flovyn-Dlq-Stream");
    const char *q = fv_stream_msg_header(m, "Flovyn-Dlq-Seq");
    if (s && q) {
        snprintf(stream, cap, "%s", s);
        it->stream = stream;
        it->original_seq = strtoull(q, NULL, 10);
        return;
    }
    const char *id = fv_stream_msg_header(m, "Nats-Msg-Id");
    const char *first = id ? strchr(id, ':') : NULL;
    const char *last = id ? strrchr(id, ':') : NULL;
    if (!first || last == first)
        return;
    it->original_seq = strtoull(last + 1, NULL, 10);
    if (!strncmp(id, "webhook:", 8))
        snprintf(stream, cap, "%s", FV_STREAM_EVENTS);
    else
        snprintf(stream, cap, "%.*s", (int)(last - first - 1), first + 1);
    it->stream = stream;
}

fv_status fv_dlq_scan(fv_bus *bus, const char *subscription, size_t limit,
                      int (*cb)(void *ud, const fv_dlq_item *it), void *ud, fv_err *err)
{
    if (fv_bus_is_memory(bus))
        return fv_err_set(err, FV_ENOTSUP, "the DLQ needs JetStream (--nats-url)");
    fv_stream_state ss;
    fv_status st = fv_stream_info(bus, FV_STREAM_DLQ, &ss, err);
    if (st == FV_ENOTFOUND)
        return fv_err_set(err, FV_ENOTFOUND, "stream %s does not exist (run `flovyn-bridge init`)",
                          FV_STREAM_DLQ);
    if (st != FV_OK)
        return fv_err_prefix(err, st, "reading ");
    char want[FV_SUBJECT_MAX] = "";
    if (subscription)
        snprintf(want, sizeof want, "%s.v1.dlq.%s", fv_bus_prefix(bus), subscription);
    size_t n = 0;
    for (uint64_t seq = ss.first_seq; ss.msgs > 0 && seq <= ss.last_seq && seq != 0; seq++) {
        fv_stream_msg *m = NULL;
        st = fv_stream_get(bus, FV_STREAM_DLQ, seq, &m, err);
        if (st == FV_ENOTFOUND) {
            st = FV_OK;
            continue; /* deleted (replayed) entry */
        }
        if (st != FV_OK)
            break;
        if (want[0] && strcmp(fv_stream_msg_subject(m), want) != 0) {
            fv_stream_msg_destroy(m);
            continue;
        }
        fv_dlq_item it = {0};
        it.dlq_seq = seq;
        it.origin = fv_stream_msg_header(m, "Flovyn-Dlq-Origin");
        it.subject = fv_stream_msg_header(m, "Flovyn-Dlq-Subject");
        it.reason = fv_stream_msg_header(m, "Flovyn-Dlq-Reason");
        it.content_type = fv_stream_msg_header(m, "Content-Type");
        const char *a = fv_stream_msg_header(m, "Flovyn-Dlq-Attempts");
        it.attempts = a ? atoi(a) : 0;
        const char *t = fv_stream_msg_header(m, "Flovyn-Dlq-Time");
        it.time_ms = t ? strtoll(t, NULL, 10) : 0;
        char stream[64];
        origin_of(m, &it, stream, sizeof stream);
        it.data = fv_stream_msg_data(m, &it.len);
        int stop = cb(ud, &it);
        fv_stream_msg_destroy(m);
        if (stop || (limit && ++n >= limit))
            break;
    }
    return st;
}

fv_status fv_dlq_remove(fv_bus *bus, uint64_t dlq_seq, fv_err *err)
{
    if (fv_bus_is_memory(bus))
        return fv_err_set(err, FV_ENOTSUP, "the DLQ needs JetStream (--nats-url)");
    return fv_stream_delete_msg(bus, FV_STREAM_DLQ, dlq_seq, err);
}

fv_status fv_dlq_purge(fv_bus *bus, const char *subscription, fv_err *err)
{
    if (fv_bus_is_memory(bus))
        return fv_err_set(err, FV_ENOTSUP, "the DLQ needs JetStream (--nats-url)");
    char subj[FV_SUBJECT_MAX];
    snprintf(subj, sizeof subj, "%s.v1.dlq.%s", fv_bus_prefix(bus),
             subscription ? subscription : ">");
    return fv_stream_purge(bus, FV_STREAM_DLQ, subj, err);
}
