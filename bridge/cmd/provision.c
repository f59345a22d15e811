/* provision.c - the bridge's streams and buckets beyond FLOVYN_EVENTS/FLOVYN_STREAMS, and the
 * dead-letter writer; see provision.h.
 *
 * Only what the bridge provisions and with which limits lives here; how a stream or a bucket is
 * created or updated is the library's (flovyn/stream.h, flovyn/kv.h, one implementation that
 * fv_bus_provision shares): an unchanged one is not touched, a changed limit is updated in place,
 * replicas are never lowered, and what JetStream cannot change is reported as a conflict instead
 * of deleting anyone's data.
 */
#include "provision.h"

#include <stdio.h>
#include <string.h>

#include "flovyn/kv.h"
#include "flovyn/registry.h"
#include "flovyn/stream.h"
#include "flovyn/subject.h"
#include "flovyn/units.h"

fv_status fv_provision_dlq(fv_bus *bus, int replicas, int64_t max_age_ms, int64_t max_bytes,
                           fv_err *err)
{
    char subj[FV_SUBJECT_MAX];
    snprintf(subj, sizeof subj, "%s.v1.dlq.>", fv_bus_prefix(bus));
    const char *subjects[1] = {subj};
    fv_stream_config sc = {
        .name = FV_STREAM_DLQ,
        .subjects = subjects,
        .nsubjects = 1,
        .max_age_ms = max_age_ms > 0 ? max_age_ms : FV_DLQ_MAX_AGE_DEFAULT_MS,
        .max_bytes = max_bytes > 0 ? max_bytes : FV_DLQ_MAX_BYTES_DEFAULT,
        .replicas = replicas,
    };
    return fv_stream_ensure(bus, &sc, err);
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
    fv_kv_config kc = {.bucket = FV_BUCKET_SUBSCRIPTIONS, .replicas = (int)c->replicas};
    return fv_kv_ensure(bus, &kc, err);
}

fv_status fv_dlq_publish(fv_bus *bus, const fv_dlq_entry *e, fv_err *err)
{
    if (fv_bus_is_memory(bus))
        return fv_err_set(err, FV_ENOTSUP, "dead letters need JetStream (--nats-url)");
    const char *origin = e->origin && *e->origin ? e->origin : "unknown";
    char subj[FV_SUBJECT_MAX];
    snprintf(subj, sizeof subj, "%s.v1.dlq.%s", fv_bus_prefix(bus), origin);
    /* header values are single lines */
    char reason[FV_ERR_MSG_MAX * 2];
    snprintf(reason, sizeof reason, "%s", e->reason ? e->reason : "unknown");
    for (char *p = reason; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    char attempts[32], now[32], seq[32];
    snprintf(attempts, sizeof attempts, "%d", e->attempts);
    snprintf(now, sizeof now, "%lld", (long long)fv_now_ms());
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)e->seq);
    fv_stream_header h[8];
    size_t nh = 0;
    h[nh++] = (fv_stream_header){"Flovyn-Dlq-Origin", e->origin ? e->origin : "unknown"};
    h[nh++] = (fv_stream_header){"Flovyn-Dlq-Reason", reason};
    if (e->subject)
        h[nh++] = (fv_stream_header){"Flovyn-Dlq-Subject", e->subject};
    if (e->stream) {
        h[nh++] = (fv_stream_header){"Flovyn-Dlq-Stream", e->stream};
        h[nh++] = (fv_stream_header){"Flovyn-Dlq-Seq", seq};
    }
    if (e->attempts > 0)
        h[nh++] = (fv_stream_header){"Flovyn-Dlq-Attempts", attempts};
    h[nh++] = (fv_stream_header){"Flovyn-Dlq-Time", now};
    if (e->content_type)
        h[nh++] = (fv_stream_header){"Content-Type", e->content_type};
    fv_stream_pub p = {
        .subject = subj,
        .data = e->data,
        .len = e->len,
        .headers = h,
        .nheaders = nh,
        .msg_id = e->msg_id,
        .expect_stream = FV_STREAM_DLQ,
    };
    fv_status st = fv_stream_publish(bus, &p, NULL, err);
    return st == FV_OK ? FV_OK : fv_err_prefix(err, st, "dlq: ");
}
