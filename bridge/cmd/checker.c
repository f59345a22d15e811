/* checker.c - the stored-message checker; see checker.h.
 *
 * The judgement is fv_stored_read, the function every reader uses, so the checker dead-letters
 * exactly what readers skip - no second copy of the rule that could drift. Messages are acked
 * one by one once handled (synchronously: "acked" must mean the server recorded it, or a restart
 * could check a dead-lettered message again after the DLQ's dedup window), as the registry
 * maintainer does on the same streams.
 */
#include "checker.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "flovyn/log.h"
#include "flovyn/stored.h"
#include "flovyn/subject.h"
#include "flovyn/units.h"
#include "provision.h"

#define FETCH_BATCH 256
#define FETCH_WAIT_MS 250 /* per stream and turn: an idle stream delays the other this long */
#define LAG_PERIOD_MS 5000
#define LOG_PERIOD_MS 10000

typedef struct source {
    bool is_stream;
    const char *stream, *durable;
    fv_durable *d;
    atomic_uint_least64_t checked, pending;
    atomic_uint_least64_t dead[FV_STORED_COUNT];
} source;

struct fv_checker {
    fv_bus *bus;
    source src[2];
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_uint_least64_t errors;
    fv_log_limit log;
};

static void pause_ms(fv_checker *c, int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !atomic_load(&c->stop); slept += 50)
        fv_sleep_ms(50);
}

static void log_dead_letter(fv_checker *c, const char *stream, uint64_t seq, const char *subject,
                            const char *reason)
{
    uint64_t n = 0;
    if (!fv_log_limit_take(&c->log, LOG_PERIOD_MS, &n))
        return;
    char seqs[24], count[24];
    snprintf(seqs, sizeof seqs, "%" PRIu64, seq);
    snprintf(count, sizeof count, "%" PRIu64, n);
    fv_log(FV_LOG_WARN, "check", "stored message dead-lettered: readers skip it", "stream", stream,
           "seq", seqs, "subject", subject, "reason", reason, "dead_lettered_since_last_line",
           count, NULL);
}

static void handle(fv_checker *c, source *w, fv_durable_msg *dm)
{
    fv_event ev;
    fv_stream_event se;
    fv_stored_reason why;
    fv_err err = {{0}};
    fv_status st = fv_durable_msg_read(dm, &ev, &se, &why, &err);
    if (st == FV_OK) {
        if (w->is_stream)
            fv_stream_event_clear(&se);
        else
            fv_event_clear(&ev);
        if (fv_durable_msg_ack(dm) != FV_OK)
            atomic_fetch_add(&c->errors, 1); /* redelivered after AckWait: checked again */
        atomic_fetch_add(&w->checked, 1);
        return;
    }
    if (st != FV_EINVAL) { /* not judged (out of memory): later */
        atomic_fetch_add(&c->errors, 1);
        fv_durable_msg_nak(dm, 1000);
        return;
    }
    uint64_t seq = fv_durable_msg_seq(dm);
    const char *subject = fv_durable_msg_subject(dm);
    char reason[FV_ERR_MSG_MAX + 32], msg_id[96];
    snprintf(reason, sizeof reason, "%s: %s", fv_stored_reason_name(why), err.msg);
    snprintf(msg_id, sizeof msg_id, "check:%s:%" PRIu64, w->stream, seq);
    fv_dlq_entry e = {.origin = FV_DLQ_ORIGIN_CHECK,
                      .subject = subject,
                      .content_type = fv_durable_msg_header(dm, "Content-Type"),
                      .reason = reason,
                      .msg_id = msg_id,
                      .stream = w->stream,
                      .seq = seq};
    e.data = fv_durable_msg_data(dm, &e.len);
    fv_err derr = {{0}};
    if (fv_dlq_publish(c->bus, &e, &derr) != FV_OK) {
        atomic_fetch_add(&c->errors, 1);
        fv_log(FV_LOG_WARN, "check", "dead-lettering failed, will retry", "subject", subject,
               "error", derr.msg, NULL);
        fv_durable_msg_nak(dm, 2000);
        return;
    }
    log_dead_letter(c, w->stream, seq, subject, reason);
    if (fv_durable_msg_ack(dm) != FV_OK) {
        /* redelivered: the same Msg-Id stores the dead letter once, and it is counted then */
        atomic_fetch_add(&c->errors, 1);
        return;
    }
    atomic_fetch_add(&w->dead[why], 1);
    atomic_fetch_add(&w->checked, 1);
}

/* One thread takes turns on the two streams: checking is not latency-bound, and a batch
 * waiting on one stream costs the other at most FETCH_WAIT_MS. */
static void *checker_main(void *arg)
{
    fv_checker *c = arg;
    fv_durable_msg *msgs[FETCH_BATCH];
    int64_t next_lag = 0;
    while (!atomic_load(&c->stop)) {
        bool lag = fv_monotonic_ms() >= next_lag;
        if (lag)
            next_lag = fv_monotonic_ms() + LAG_PERIOD_MS;
        for (int i = 0; i < 2 && !atomic_load(&c->stop); i++) {
            source *w = &c->src[i];
            fv_err err = {{0}};
            uint64_t pending = 0;
            if (lag && fv_durable_pending(w->d, &pending, &err) == FV_OK)
                atomic_store(&w->pending, pending);
            size_t n = 0;
            fv_status st = fv_durable_fetch(w->d, FETCH_BATCH, FETCH_WAIT_MS, msgs, &n, &err);
            if (st != FV_OK && st != FV_ETIMEOUT) {
                /* disconnected or the consumer is being recreated: back off, the bus reconnects */
                atomic_fetch_add(&c->errors, 1);
                fv_log(FV_LOG_DEBUG, "check", "fetch failed", "stream", w->stream, "error", err.msg,
                       NULL);
                pause_ms(c, 1000);
                continue;
            }
            for (size_t k = 0; k < n; k++) {
                handle(c, w, msgs[k]);
                fv_durable_msg_destroy(msgs[k]);
            }
        }
    }
    return NULL;
}

void fv_checker_stop(fv_checker *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    if (c->started)
        pthread_join(c->thread, NULL);
    for (int i = 0; i < 2; i++)
        fv_durable_close(c->src[i].d); /* the handle only: the consumer keeps its ack floor */
    free(c);
}

/* the durable of one stream, from its first stored message on; created if missing */
static fv_status open_source(fv_checker *c, source *w, fv_err *err)
{
    char filter[FV_SUBJECT_MAX];
    if (w->is_stream)
        fv_subject_streams_all(fv_bus_prefix(c->bus), filter, sizeof filter);
    else
        fv_subject_events_all(fv_bus_prefix(c->bus), filter, sizeof filter);
    fv_durable_config dc = {.stream = w->stream,
                            .name = w->durable,
                            .filter_subject = filter,
                            .ack_wait_ms = 30000,
                            .max_ack_pending = 4 * FETCH_BATCH};
    fv_status st = fv_bus_durable_ensure(c->bus, &dc, err);
    return st == FV_OK ? fv_bus_durable_open(c->bus, w->stream, w->durable, &w->d, err) : st;
}

fv_status fv_checker_start(fv_bus *bus, fv_checker **out, fv_err *err)
{
    *out = NULL;
    if (fv_bus_is_memory(bus))
        return fv_err_set(err, FV_ENOTSUP, "the checker needs JetStream (--nats-url)");
    fv_checker *c = calloc(1, sizeof *c);
    if (!c)
        return fv_err_set(err, FV_ENOMEM, "check: out of memory");
    c->bus = bus;
    c->src[0] = (source){.stream = FV_STREAM_EVENTS, .durable = "flovyn-check-events"};
    c->src[1] =
        (source){.is_stream = true, .stream = FV_STREAM_STREAMS, .durable = "flovyn-check-streams"};
    fv_status st = open_source(c, &c->src[0], err);
    if (st == FV_OK)
        st = open_source(c, &c->src[1], err);
    if (st == FV_OK && pthread_create(&c->thread, NULL, checker_main, c) != 0)
        st = fv_err_set(err, FV_ENOMEM, "cannot start a thread");
    if (st != FV_OK) {
        fv_checker_stop(c);
        return fv_err_prefix(err, st, "check: ");
    }
    c->started = true;
    *out = c;
    return FV_OK;
}

void fv_checker_metrics(fv_checker *c, fv_buf *b)
{
    if (!c)
        return;
    fv_buf_puts(b, "# TYPE flovyn_bridge_stored_checked_total counter\n");
    for (int i = 0; i < 2; i++)
        fv_buf_printf(b, "flovyn_bridge_stored_checked_total{stream=\"%s\"} %" PRIu64 "\n",
                      c->src[i].stream, (uint64_t)atomic_load(&c->src[i].checked));
    fv_buf_puts(b, "# TYPE flovyn_bridge_stored_dead_lettered_total counter\n");
    for (int i = 0; i < 2; i++)
        for (int r = FV_STORED_OK + 1; r < FV_STORED_COUNT; r++)
            fv_buf_printf(b,
                          "flovyn_bridge_stored_dead_lettered_total{stream=\"%s\",reason=\"%s\"} "
                          "%" PRIu64 "\n",
                          c->src[i].stream, fv_stored_reason_name((fv_stored_reason)r),
                          (uint64_t)atomic_load(&c->src[i].dead[r]));
    fv_buf_printf(b,
                  "# TYPE flovyn_bridge_stored_check_errors_total counter\n"
                  "flovyn_bridge_stored_check_errors_total %" PRIu64 "\n",
                  (uint64_t)atomic_load(&c->errors));
    fv_buf_puts(b, "# TYPE flovyn_bridge_stored_check_pending gauge\n");
    for (int i = 0; i < 2; i++)
        fv_buf_printf(b, "flovyn_bridge_stored_check_pending{stream=\"%s\"} %" PRIu64 "\n",
                      c->src[i].stream, (uint64_t)atomic_load(&c->src[i].pending));
}
