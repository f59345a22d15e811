/* webhooks.c - the webhook dispatcher inside `flovyn-bridge run`; see bridge.h and
 * docs/webhooks.md.
 *
 * Threads:
 *   - the watcher follows the KV bucket FLOVYN_SUBSCRIPTIONS and starts, replaces or removes
 *     one runner per subscription, so changes apply without a restart;
 *   - one runner per subscription fetches from the subscription's durable pull consumer on
 *     FLOVYN_EVENTS, builds and signs a batch, hands it to the delivery thread and settles the
 *     finished batches (ack, nak with delay, or dead-letter + term). Several bridge replicas
 *     fetching from the same durable split the load; the server hands each message to one;
 *   - one delivery thread drives every HTTP request with curl's multi interface, so a slow
 *     receiver costs a socket, not a thread.
 * Runners own their messages from fetch to settlement; the delivery thread only touches the
 * curl handle and the outcome fields, and hands the batch back through the runner's queue.
 *
 * Durables are never deleted on shutdown or on error, only when the subscription record is
 * deleted; handles are closed with fv_durable_close (unsubscribing would delete the consumer in
 * nats.c).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "bridge.h"
#include "cloudevents.h"
#include "dlq.h"
#include "flovyn/event.h"
#include "flovyn/log.h"
#include "flovyn/pattern.h"
#include "flovyn/stored.h"
#include "flovyn/subject.h"
#include "flovyn/types_filter.h"
#include "flovyn/units.h"
#include "subscriptions.h"
#include "webhook_http.h"

#define MAX_INFLIGHT_UNORDERED 4 /* batches in flight per subscription without --ordered */
#define STOP_GRACE_MAX_MS 5000   /* bounded wait for in-flight batches on stop */
#define ACK_WAIT_MIN_MS 1000
#define LAT_BUCKETS 8
#define FV_WEBHOOK_BODY_MAX (4 * 1024 * 1024) /* bytes of one POST body (one event may exceed) */

static const double lat_bounds_s[LAT_BUCKETS] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

typedef struct wh_runner wh_runner;

typedef struct wh_batch {
    wh_runner *r;
    fv_durable_msg **msgs;
    size_t n;
    char id[FV_WEBHOOK_ID_MAX];
    fv_buf body;
    fv_webhook_req req;
    uint64_t attempt;
    int64_t started_ms;
    /* written by the delivery thread */
    fv_webhook_outcome outcome;
    bool aborted;
    long status;
    char why[256];
    struct wh_batch *next;  /* runner's done queue / delivery submit queue */
    struct wh_batch *rnext; /* delivery thread's running list */
} wh_batch;

/* Appends b to a singly linked FIFO (the caller holds the queue's lock). */
static void fifo_push(wh_batch **head, wh_batch **tail, wh_batch *b)
{
    b->next = NULL;
    if (*tail)
        (*tail)->next = b;
    else
        *head = b;
    *tail = b;
}

struct wh_runner {
    fv_webhooks *w;
    fv_subscription sub;
    fv_types_filter *types;
    char durable[FV_ID_MAX + 16];
    fv_durable *d;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wh_batch *done_head, *done_tail;
    int inflight;    /* batches handed to the delivery thread and not yet settled */
    wh_batch *retry; /* ordered mode: the batch waiting for its next attempt */
    wh_batch *backlog, *backlog_tail; /* prepared batches not yet submitted, in order */
    int64_t retry_at;                 /* monotonic ms */
    int64_t last_progress_ms;
    int64_t ack_wait_ms;
    atomic_bool stopping;
    atomic_bool abort;
    int64_t stop_deadline;
    /* metrics */
    atomic_uint_fast64_t delivered, retried, dead, ignored, batches;
    atomic_uint_fast64_t lat_count, lat_sum_us, lat_bucket[LAT_BUCKETS];
    wh_runner *next;
};

/* A subscription whose runner could not start (JetStream unreachable or electing a leader, its
 * durable in conflict): its record is applied again later, the wait doubling up to
 * START_RETRY_MAX_MS, until it starts or the record changes or goes. Watcher thread only. */
typedef struct wh_pending {
    char *key;
    char *val;
    size_t len;
    int64_t due_ms, wait_ms;
    struct wh_pending *next;
} wh_pending;

#define START_RETRY_FIRST_MS 500
#define START_RETRY_MAX_MS 15000

struct fv_webhooks {
    fv_bus *bus;
    fv_webhooks_config cfg;
    fv_kv *kv;
    fv_kv_watcher *watcher;
    pthread_t watch_thread, deliver_thread;
    atomic_bool stopping;
    atomic_bool deliver_stop;
    pthread_mutex_t mu; /* runners list */
    wh_runner *runners;
    CURLM *multi;
    pthread_mutex_t qmu; /* submit queue */
    wh_batch *submit_head, *submit_tail;
    wh_pending *pending;
    atomic_int waiting; /* subscriptions in `pending`, for /metrics */
};

static int64_t grace_ms(const fv_webhooks *w)
{
    return w->cfg.timeout_ms > 0 && w->cfg.timeout_ms < STOP_GRACE_MAX_MS ? w->cfg.timeout_ms
                                                                          : STOP_GRACE_MAX_MS;
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts;
    fv_deadline_ms(&ts, CLOCK_REALTIME, ms);
    pthread_cond_timedwait(cv, mu, &ts);
}

/* --- batches -------------------------------------------------------------------------------- */

static void batch_free(wh_batch *b)
{
    if (!b)
        return;
    fv_webhook_req_cleanup(&b->req);
    for (size_t i = 0; i < b->n; i++)
        fv_durable_msg_destroy(b->msgs[i]);
    free(b->msgs);
    fv_buf_free(&b->body);
    free(b);
}

/* Prepares the request of the batch's current attempt and queues it for the delivery thread. */
static void batch_submit(wh_runner *r, wh_batch *b)
{
    fv_webhooks *w = r->w;
    fv_err err = {{0}};
    fv_webhook_req_cleanup(&b->req);
    b->aborted = false;
    b->why[0] = '\0';
    fv_status st =
        fv_webhook_req_init(&b->req, r->sub.url, r->sub.secret, b->id, b->body.data, b->body.len,
                            r->sub.allow_private || w->cfg.allow_private, w->cfg.timeout_ms, &err);
    pthread_mutex_lock(&r->mu);
    r->inflight++;
    pthread_mutex_unlock(&r->mu);
    if (st != FV_OK) {
        /* cannot even build the request: settle it right away as a retry */
        b->outcome = FV_WH_RETRY;
        snprintf(b->why, sizeof b->why, "request: %.200s", err.msg);
        pthread_mutex_lock(&r->mu);
        fifo_push(&r->done_head, &r->done_tail, b);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    curl_easy_setopt(b->req.h, CURLOPT_PRIVATE, b);
    b->started_ms = fv_monotonic_ms();
    pthread_mutex_lock(&w->qmu);
    fifo_push(&w->submit_head, &w->submit_tail, b);
    pthread_mutex_unlock(&w->qmu);
    curl_multi_wakeup(w->multi);
}

/* --- the delivery thread -------------------------------------------------------------------- */

static void batch_finished(wh_batch *b, CURLcode rc, bool aborted)
{
    wh_runner *r = b->r;
    b->aborted = aborted;
    if (aborted) {
        b->outcome = FV_WH_RETRY;
        snprintf(b->why, sizeof b->why, "aborted at shutdown");
    } else {
        b->outcome = fv_webhook_req_outcome(&b->req, rc, &b->status, b->why, sizeof b->why);
    }
    int64_t us = (fv_monotonic_ms() - b->started_ms) * 1000;
    if (!aborted) {
        atomic_fetch_add(&r->lat_count, 1);
        atomic_fetch_add(&r->lat_sum_us, (uint64_t)(us > 0 ? us : 0));
        for (int i = 0; i < LAT_BUCKETS; i++)
            if ((double)us / 1e6 <= lat_bounds_s[i])
                atomic_fetch_add(&r->lat_bucket[i], 1);
    }
    pthread_mutex_lock(&r->mu);
    fifo_push(&r->done_head, &r->done_tail, b);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void *deliver_main(void *arg)
{
    fv_webhooks *w = arg;
    wh_batch *running = NULL;
    for (;;) {
        pthread_mutex_lock(&w->qmu);
        wh_batch *q = w->submit_head;
        w->submit_head = w->submit_tail = NULL;
        pthread_mutex_unlock(&w->qmu);
        while (q) {
            wh_batch *nx = q->next;
            if (curl_multi_add_handle(w->multi, q->req.h) != CURLM_OK) {
                batch_finished(q, CURLE_FAILED_INIT, false);
            } else {
                q->rnext = running;
                running = q;
            }
            q = nx;
        }
        int still = 0;
        curl_multi_perform(w->multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(w->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            wh_batch *b = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&b);
            CURLcode rc = m->data.result;
            curl_multi_remove_handle(w->multi, m->easy_handle);
            for (wh_batch **pp = &running; *pp; pp = &(*pp)->rnext)
                if (*pp == b) {
                    *pp = b->rnext;
                    break;
                }
            if (b)
                batch_finished(b, rc, false);
        }
        /* runners past their stop grace abort what they still have in flight */
        for (wh_batch **pp = &running; *pp;) {
            wh_batch *b = *pp;
            if (atomic_load(&b->r->abort)) {
                *pp = b->rnext;
                curl_multi_remove_handle(w->multi, b->req.h);
                batch_finished(b, CURLE_ABORTED_BY_CALLBACK, true);
            } else {
                pp = &b->rnext;
            }
        }
        if (atomic_load(&w->deliver_stop) && !running) {
            pthread_mutex_lock(&w->qmu);
            bool empty = !w->submit_head;
            pthread_mutex_unlock(&w->qmu);
            if (empty)
                break;
        }
        curl_multi_poll(w->multi, NULL, 0, 200, NULL);
    }
    return NULL;
}

/* --- settling batches ----------------------------------------------------------------------- */

static void dead_letter(wh_runner *r, fv_durable_msg *m, uint64_t attempts, const char *why)
{
    fv_err err = {{0}};
    fv_status st = fv_dlq_webhook_put(r->w->bus, r->sub.name, m, attempts, why, &err);
    if (st != FV_OK) {
        /* not stored in the DLQ: leave the message to be redelivered rather than lose it */
        fv_log(FV_LOG_ERROR, "webhooks", "dead-lettering failed; message left for redelivery",
               "subscription", r->sub.name, "error", err.msg, NULL);
        fv_durable_msg_nak(m, fv_subscription_backoff(&r->sub, attempts + 1));
        return;
    }
    fv_durable_msg_term(m);
    atomic_fetch_add(&r->dead, 1);
}

static uint64_t delivered_count(fv_durable_msg *m)
{
    uint64_t d = fv_durable_msg_delivered(m);
    return d ? d : 1;
}

static void settle(wh_runner *r, wh_batch *b)
{
    const fv_subscription *s = &r->sub;
    bool stopping = atomic_load(&r->stopping);
    if (b->outcome == FV_WH_DELIVERED) {
        for (size_t i = 0; i < b->n; i++)
            fv_durable_msg_ack(b->msgs[i]);
        atomic_fetch_add(&r->delivered, b->n);
        atomic_fetch_add(&r->batches, 1);
        batch_free(b);
        return;
    }
    if (b->aborted) {
        /* shutdown: let this or another replica take the batch again right away */
        for (size_t i = 0; i < b->n; i++)
            fv_durable_msg_nak(b->msgs[i], 0);
        batch_free(b);
        return;
    }
    if (b->outcome == FV_WH_RETRY) {
        atomic_fetch_add(&r->retried, 1);
        int64_t ra = b->req.retry_after_ms;
        if (s->ordered && !stopping && b->attempt < (uint64_t)s->max_attempts) {
            /* keep the order: retry this batch here, nothing after it goes out meanwhile */
            b->attempt++;
            r->retry = b;
            r->retry_at =
                fv_monotonic_ms() + (ra >= 0 ? ra : fv_subscription_backoff(s, b->attempt));
            for (size_t i = 0; i < b->n; i++)
                fv_durable_msg_in_progress(b->msgs[i]);
            r->last_progress_ms = fv_monotonic_ms();
            fv_log(FV_LOG_INFO, "webhooks", "delivery failed, will retry", "subscription", s->name,
                   "batch", b->id, "error", b->why, NULL);
            return;
        }
        for (size_t i = 0; i < b->n; i++) {
            uint64_t att = s->ordered ? b->attempt : delivered_count(b->msgs[i]);
            if (att >= (uint64_t)s->max_attempts) {
                char why[320];
                snprintf(why, sizeof why, "%d attempts failed, last: %s", s->max_attempts, b->why);
                dead_letter(r, b->msgs[i], att, why);
            } else {
                fv_durable_msg_nak(b->msgs[i], ra >= 0 ? ra : fv_subscription_backoff(s, att + 1));
            }
        }
        fv_log(FV_LOG_INFO, "webhooks", "delivery failed", "subscription", s->name, "batch", b->id,
               "error", b->why, NULL);
        batch_free(b);
        return;
    }
    /* permanent: the receiver refused the batch; retrying cannot help */
    char why[320];
    snprintf(why, sizeof why, "permanent failure: %s", b->why);
    fv_log(FV_LOG_WARN, "webhooks", "delivery refused, dead-lettering", "subscription", s->name,
           "batch", b->id, "error", b->why, NULL);
    for (size_t i = 0; i < b->n; i++)
        dead_letter(r, b->msgs[i], s->ordered ? b->attempt : delivered_count(b->msgs[i]), why);
    batch_free(b);
}

/* Settles every finished batch; returns how many. */
static int drain_done(wh_runner *r)
{
    pthread_mutex_lock(&r->mu);
    wh_batch *b = r->done_head;
    r->done_head = r->done_tail = NULL;
    pthread_mutex_unlock(&r->mu);
    int n = 0;
    while (b) {
        wh_batch *nx = b->next;
        settle(r, b);
        pthread_mutex_lock(&r->mu);
        r->inflight--;
        pthread_mutex_unlock(&r->mu);
        b = nx;
        n++;
    }
    return n;
}

/* Queues a prepared batch (not yet submitted) at the end of the runner's backlog. */
static void backlog_push(wh_runner *r, wh_batch *b)
{
    fifo_push(&r->backlog, &r->backlog_tail, b);
}

/* One batch of msgs[from, to) with the events already decoded. */
static void make_batch(wh_runner *r, fv_durable_msg **msgs, const fv_event **evp, size_t from,
                       size_t to)
{
    size_t n = to - from;
    wh_batch *b = calloc(1, sizeof *b);
    const char **ids = calloc(n, sizeof *ids);
    if (b)
        b->msgs = calloc(n, sizeof *b->msgs);
    bool ok = b && ids && b->msgs;
    if (ok) {
        b->r = r;
        b->attempt = 1;
        for (size_t i = 0; i < n; i++) {
            b->msgs[i] = msgs[from + i];
            ids[i] = evp[from + i]->id;
            if (delivered_count(b->msgs[i]) > b->attempt)
                b->attempt = delivered_count(b->msgs[i]);
        }
        b->n = n;
        fv_webhook_batch_id(ids, n, b->id, sizeof b->id);
        ok = fv_cloudevents_batch(&b->body, evp + from, n) == FV_OK;
    }
    free(ids);
    if (!ok) {
        /* out of memory: give the messages back for a later attempt */
        for (size_t i = from; i < to; i++) {
            fv_durable_msg_nak(msgs[i], 1000);
            if (!b || b->n == 0)
                fv_durable_msg_destroy(msgs[i]);
        }
        batch_free(b); /* destroys the messages it holds */
        return;
    }
    backlog_push(r, b);
}

/* Turns fetched messages into batches on the backlog: ones readers skip (flovyn/stored.h) and
 * ones the residual types check rejects are acked without delivery, and a body never grows past
 * FV_WEBHOOK_BODY_MAX (a fetch of large events becomes several POSTs). */
static void build_batches(wh_runner *r, fv_durable_msg **msgs, size_t n)
{
    fv_event *evs = calloc(n, sizeof *evs);
    const fv_event **evp = calloc(n, sizeof *evp);
    fv_durable_msg **keep = calloc(n, sizeof *keep);
    if (!evs || !evp || !keep) {
        for (size_t i = 0; i < n; i++) {
            fv_durable_msg_nak(msgs[i], 1000);
            fv_durable_msg_destroy(msgs[i]);
        }
        free(evs);
        free(evp);
        free(keep);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        fv_durable_msg *m = msgs[i];
        fv_err err = {{0}};
        if (delivered_count(m) > (uint64_t)r->sub.max_attempts) {
            /* only after a bridge died during the last attempt (the consumer's MaxDeliver is
             * unlimited so that such a message comes back here instead of vanishing) */
            dead_letter(r, m, delivered_count(m) - 1,
                        "delivery attempts exhausted (a bridge stopped during the last one)");
            fv_durable_msg_destroy(m);
            continue;
        }
        fv_event *ev = &evs[k];
        fv_stored_reason why;
        fv_status st = fv_durable_msg_read(m, ev, NULL, &why, &err);
        if (st == FV_ENOMEM) {
            fv_durable_msg_nak(m, 1000);
            fv_durable_msg_destroy(m);
            continue;
        }
        /* what readers skip is not delivered either; the checker dead-letters it, once */
        if (st != FV_OK || strcmp(ev->tenant_id, r->sub.tenant_id) != 0 ||
            !fv_types_filter_match_type(r->types, ev->event_type)) {
            fv_durable_msg_ack(m);
            fv_durable_msg_destroy(m);
            fv_event_clear(ev);
            atomic_fetch_add(&r->ignored, 1);
            continue;
        }
        evp[k] = ev;
        keep[k++] = m;
    }
    /* cut into batches by body size; each CloudEvent is measured once */
    fv_buf one = FV_BUF_INIT;
    size_t from = 0, bytes = 2;
    for (size_t i = 0; i < k; i++) {
        fv_buf_reset(&one);
        fv_cloudevent_write(&one, evp[i]);
        size_t sz = one.len + 1;
        if (i > from && bytes + sz > FV_WEBHOOK_BODY_MAX) {
            make_batch(r, keep, evp, from, i);
            from = i;
            bytes = 2;
        }
        bytes += sz;
    }
    if (k > from)
        make_batch(r, keep, evp, from, k);
    fv_buf_free(&one);
    for (size_t i = 0; i < k; i++)
        fv_event_clear(&evs[i]);
    free(evs);
    free(evp);
    free(keep);
}

static void *runner_main(void *arg)
{
    wh_runner *r = arg;
    fv_webhooks *w = r->w;
    const int limit = r->sub.ordered ? 1 : MAX_INFLIGHT_UNORDERED;
    size_t cap = (size_t)r->sub.batch;
    fv_durable_msg **msgs = calloc(cap, sizeof *msgs);
    int64_t last_err_log = 0;
    while (msgs) {
        drain_done(r);
        pthread_mutex_lock(&r->mu);
        int inflight = r->inflight;
        pthread_mutex_unlock(&r->mu);
        int64_t now = fv_monotonic_ms();
        if (atomic_load(&r->stopping)) {
            if (r->retry) {
                wh_batch *b = r->retry;
                r->retry = NULL;
                int64_t left = r->retry_at - now;
                for (size_t i = 0; i < b->n; i++)
                    fv_durable_msg_nak(b->msgs[i], left > 0 ? left : 0);
                batch_free(b);
            }
            while (r->backlog) {
                wh_batch *b = r->backlog;
                r->backlog = b->next;
                for (size_t i = 0; i < b->n; i++)
                    fv_durable_msg_nak(b->msgs[i], 0);
                batch_free(b);
            }
            r->backlog_tail = NULL;
            if (inflight == 0)
                break;
            if (now >= r->stop_deadline && !atomic_load(&r->abort)) {
                atomic_store(&r->abort, true);
                curl_multi_wakeup(w->multi);
            }
            pthread_mutex_lock(&r->mu);
            if (!r->done_head)
                timed_wait(&r->cv, &r->mu, 50);
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        if (r->retry && inflight == 0) {
            if (now >= r->retry_at) {
                wh_batch *b = r->retry;
                r->retry = NULL;
                batch_submit(r, b);
                continue;
            }
            if (now - r->last_progress_ms > r->ack_wait_ms / 3) {
                for (size_t i = 0; i < r->retry->n; i++)
                    fv_durable_msg_in_progress(r->retry->msgs[i]);
                r->last_progress_ms = now;
            }
            int64_t wait = r->retry_at - now;
            pthread_mutex_lock(&r->mu);
            timed_wait(&r->cv, &r->mu, wait < 200 ? wait : 200);
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        if (!r->retry && inflight < limit && r->backlog) {
            wh_batch *b = r->backlog;
            r->backlog = b->next;
            if (!r->backlog)
                r->backlog_tail = NULL;
            batch_submit(r, b);
            continue;
        }
        if (r->retry || inflight >= limit) {
            pthread_mutex_lock(&r->mu);
            if (!r->done_head)
                timed_wait(&r->cv, &r->mu, 200);
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        size_t n = 0;
        fv_err err = {{0}};
        fv_status st = fv_durable_fetch(r->d, cap, inflight ? 50 : 500, msgs, &n, &err);
        if (st != FV_OK && st != FV_ETIMEOUT) {
            if (now - last_err_log > 10000) {
                fv_log(FV_LOG_WARN, "webhooks", "fetch failed", "subscription", r->sub.name,
                       "error", err.msg[0] ? err.msg : fv_status_name(st), NULL);
                last_err_log = now;
            }
            pthread_mutex_lock(&r->mu);
            timed_wait(&r->cv, &r->mu, 500);
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        if (n > 0)
            build_batches(r, msgs, n);
    }
    free(msgs);
    return NULL;
}

/* --- runners -------------------------------------------------------------------------------- */

static fv_status runner_start(fv_webhooks *w, const fv_subscription *s, wh_runner **out,
                              fv_err *err)
{
    wh_runner *r = calloc(1, sizeof *r);
    if (!r)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    r->w = w;
    r->sub = *s;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    fv_status st = fv_types_filter_parse(s->types, FV_TYPES_DEFAULT_LIFECYCLE, &r->types, err);
    if (st != FV_OK)
        goto fail;
    fv_subscription_durable_name(s, r->durable, sizeof r->durable);
    fv_pattern p;
    fv_pattern_init(&p, s->tenant_id);
    p.types = r->types;
    char filter[FV_SUBJECT_MAX];
    if ((st = fv_pattern_events_filter(&p, fv_bus_prefix(w->bus), filter, sizeof filter)) !=
        FV_OK) {
        fv_err_set(err, st, "subscription '%s': cannot build its filter subject", s->name);
        goto fail;
    }
    fv_durable_config dc = {0};
    dc.stream = FV_STREAM_EVENTS;
    dc.name = r->durable;
    dc.filter_subject = filter;
    /* Unlimited on the server: the bridge dead-letters after max_attempts itself. With
     * MaxDeliver = max_attempts, a bridge killed during the last attempt would leave the event
     * neither delivered nor dead-lettered. */
    dc.max_deliver = 0;
    /* long enough for one request (a batch goes out as soon as it is fetched), short enough
     * that a crashed replica's batches come back soon */
    int64_t aw = 2 * w->cfg.timeout_ms + 1000;
    r->ack_wait_ms = dc.ack_wait_ms = aw > ACK_WAIT_MIN_MS ? aw : ACK_WAIT_MIN_MS;
    /* No consumer BackOff: nats-server takes AckWait from BackOff[0] when it is set, which
     * would redeliver a batch whose HTTP request is still running. Retries are scheduled by
     * NakWithDelay with the subscription's backoff instead (docs/webhooks.md). */
    dc.backoff_ms = NULL;
    dc.backoff_n = 0;
    dc.max_ack_pending = (int64_t)s->batch * (s->ordered ? 1 : MAX_INFLIGHT_UNORDERED * 2);
    /* every event stored since the subscription was added, however late a bridge gets to make
     * its durable (JetStream electing a leader, every bridge down); records without a creation
     * time start at what comes next */
    dc.deliver_new = true;
    dc.start_ms = s->created_ms;
    if ((st = fv_bus_durable_ensure(w->bus, &dc, err)) != FV_OK)
        goto fail;
    if ((st = fv_bus_durable_open(w->bus, FV_STREAM_EVENTS, r->durable, &r->d, err)) != FV_OK)
        goto fail;
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
        st = fv_err_set(err, FV_ENOMEM, "cannot start a thread");
        goto fail;
    }
    r->thread_started = true;
    *out = r;
    return FV_OK;
fail:
    if (r->d)
        fv_durable_close(r->d);
    fv_types_filter_destroy(r->types);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    return st;
}

static void runner_signal_stop(wh_runner *r)
{
    r->stop_deadline = fv_monotonic_ms() + grace_ms(r->w);
    atomic_store(&r->stopping, true);
    pthread_mutex_lock(&r->mu);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Stops (bounded), keeps the durable unless delete_durable. */
static void runner_destroy(wh_runner *r, bool delete_durable)
{
    if (r->thread_started) {
        if (!atomic_load(&r->stopping))
            runner_signal_stop(r);
        pthread_join(r->thread, NULL);
    }
    fv_durable_close(r->d);
    if (delete_durable) {
        fv_err err = {{0}};
        fv_status st = fv_bus_durable_delete(r->w->bus, FV_STREAM_EVENTS, r->durable, &err);
        if (st != FV_OK && st != FV_ENOTFOUND)
            fv_log(FV_LOG_WARN, "webhooks", "could not delete the durable", "durable", r->durable,
                   "error", err.msg, NULL);
    }
    fv_types_filter_destroy(r->types);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

static wh_runner *runner_take(fv_webhooks *w, const char *name)
{
    pthread_mutex_lock(&w->mu);
    wh_runner *found = NULL;
    for (wh_runner **pp = &w->runners; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->sub.name, name)) {
            found = *pp;
            *pp = found->next;
            break;
        }
    pthread_mutex_unlock(&w->mu);
    return found;
}

static bool same_delivery_config(const fv_subscription *a, const fv_subscription *b)
{
    fv_subscription x = *a, y = *b;
    x.created_ms = y.created_ms = 0;
    return memcmp(&x, &y, sizeof x) == 0;
}

static void pending_free(wh_pending *p)
{
    free(p->key);
    free(p->val);
    free(p);
}

/* takes the key's entry out of `pending`, or NULL */
static wh_pending *pending_take(fv_webhooks *w, const char *key)
{
    for (wh_pending **pp = &w->pending; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->key, key)) {
            wh_pending *p = *pp;
            *pp = p->next;
            atomic_fetch_sub(&w->waiting, 1);
            return p;
        }
    return NULL;
}

static void pending_add(fv_webhooks *w, const char *key, const void *val, size_t len,
                        int64_t wait_ms)
{
    wh_pending *p = calloc(1, sizeof *p);
    if (p) {
        p->key = strdup(key);
        p->val = malloc(len ? len : 1);
    }
    if (!p || !p->key || !p->val) {
        if (p)
            pending_free(p);
        fv_log(FV_LOG_ERROR, "webhooks", "out of memory: subscription not retried", "subscription",
               key, NULL);
        return;
    }
    memcpy(p->val, val, len);
    p->len = len;
    p->wait_ms = wait_ms;
    p->due_ms = fv_monotonic_ms() + wait_ms;
    p->next = w->pending;
    w->pending = p;
    atomic_fetch_add(&w->waiting, 1);
}

/* Applies a record; false when its runner could not start (worth another try). */
static bool apply_put(fv_webhooks *w, const char *key, const void *val, size_t len,
                      int64_t retry_ms)
{
    fv_subscription *s = malloc(sizeof *s);
    if (!s)
        return false;
    fv_err err = {{0}};
    if (fv_subscription_from_json(val, len, s, &err) != FV_OK || strcmp(s->name, key) != 0) {
        fv_log(FV_LOG_WARN, "webhooks", "ignoring invalid subscription record", "key", key, "error",
               err.msg[0] ? err.msg : "name differs from key", NULL);
        free(s);
        return true; /* the same record would fail the same way */
    }
    pthread_mutex_lock(&w->mu);
    bool same = false;
    for (wh_runner *r = w->runners; r; r = r->next)
        if (!strcmp(r->sub.name, key))
            same = same_delivery_config(&r->sub, s);
    pthread_mutex_unlock(&w->mu);
    if (same) {
        free(s);
        return true;
    }
    wh_runner *old = runner_take(w, key);
    if (old)
        runner_destroy(old, false);
    wh_runner *r = NULL;
    if (runner_start(w, s, &r, &err) != FV_OK) {
        char retry[32];
        snprintf(retry, sizeof retry, "%lld ms", (long long)retry_ms);
        fv_log(FV_LOG_ERROR, "webhooks", "cannot start subscription; retrying", "subscription", key,
               "error", err.msg, "retry_in", retry, NULL);
        free(s);
        return false;
    }
    pthread_mutex_lock(&w->mu);
    r->next = w->runners;
    w->runners = r;
    pthread_mutex_unlock(&w->mu);
    fv_log(FV_LOG_INFO, "webhooks", old ? "subscription updated" : "subscription started",
           "subscription", key, "tenant", s->tenant_id, "durable", r->durable, NULL);
    free(s);
    return true;
}

static void apply_delete(fv_webhooks *w, const char *key)
{
    wh_runner *r = runner_take(w, key);
    if (!r)
        return;
    runner_destroy(r, true);
    fv_log(FV_LOG_INFO, "webhooks", "subscription removed", "subscription", key, NULL);
}

/* a record from the watcher: it replaces whatever was waiting for the key */
static void apply_change(fv_webhooks *w, const fv_kv_change *c)
{
    wh_pending *p = pending_take(w, c->key);
    if (p)
        pending_free(p);
    if (c->op != FV_KV_PUT) {
        apply_delete(w, c->key);
        return;
    }
    if (!apply_put(w, c->key, c->value, c->len, START_RETRY_FIRST_MS))
        pending_add(w, c->key, c->value, c->len, START_RETRY_FIRST_MS);
}

/* tries again the records whose wait is over */
static void retry_pending(fv_webhooks *w)
{
    int64_t now = fv_monotonic_ms();
    wh_pending *due = NULL;
    for (wh_pending **pp = &w->pending; *pp;) {
        wh_pending *p = *pp;
        if (p->due_ms > now) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        atomic_fetch_sub(&w->waiting, 1);
        p->next = due;
        due = p;
    }
    while (due && !atomic_load(&w->stopping)) {
        wh_pending *p = due;
        due = p->next;
        int64_t wait = p->wait_ms * 2 < START_RETRY_MAX_MS ? p->wait_ms * 2 : START_RETRY_MAX_MS;
        if (!apply_put(w, p->key, p->val, p->len, wait))
            pending_add(w, p->key, p->val, p->len, wait);
        pending_free(p);
    }
    while (due) {
        wh_pending *p = due;
        due = p->next;
        pending_free(p);
    }
}

static void *watch_main(void *arg)
{
    fv_webhooks *w = arg;
    while (!atomic_load(&w->stopping)) {
        fv_kv_change c;
        bool have = false;
        fv_err err = {{0}};
        retry_pending(w);
        fv_status st = fv_kv_watcher_next(w->watcher, 250, &c, &have, &err);
        if (st == FV_ETIMEOUT)
            continue;
        if (st != FV_OK) {
            if (atomic_load(&w->stopping))
                break;
            fv_log(FV_LOG_WARN, "webhooks", "subscription watcher failed", "error", err.msg, NULL);
            fv_sleep_ms(250);
            continue;
        }
        if (!have)
            continue; /* marks the end of the initial values */
        apply_change(w, &c);
    }
    while (w->pending) {
        wh_pending *p = w->pending;
        w->pending = p->next;
        pending_free(p);
    }
    return NULL;
}

/* --- public --------------------------------------------------------------------------------- */

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

fv_status fv_webhooks_start(fv_bus *bus, const fv_webhooks_config *cfg, fv_webhooks **out,
                            fv_err *err)
{
    *out = NULL;
    if (fv_bus_is_memory(bus))
        return fv_err_set(err, FV_ENOTSUP, "webhooks need JetStream (--nats-url)");
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    fv_webhooks *w = calloc(1, sizeof *w);
    if (!w)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    w->bus = bus;
    if (cfg)
        w->cfg = *cfg;
    if (w->cfg.timeout_ms <= 0)
        w->cfg.timeout_ms = 10000;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->qmu, NULL);
    fv_status st = fv_subscriptions_open(bus, true, w->cfg.replicas, &w->kv, err);
    if (st != FV_OK)
        goto fail;
    w->multi = curl_multi_init();
    if (!w->multi) {
        st = fv_err_set(err, FV_ENOMEM, "curl_multi_init failed");
        goto fail;
    }
    st = fv_kv_watch_all(w->kv, &w->watcher, err);
    if (st != FV_OK)
        goto fail;
    if (pthread_create(&w->deliver_thread, NULL, deliver_main, w) != 0) {
        st = fv_err_set(err, FV_ENOMEM, "cannot start a thread");
        goto fail;
    }
    if (pthread_create(&w->watch_thread, NULL, watch_main, w) != 0) {
        atomic_store(&w->deliver_stop, true);
        curl_multi_wakeup(w->multi);
        pthread_join(w->deliver_thread, NULL);
        st = fv_err_set(err, FV_ENOMEM, "cannot start a thread");
        goto fail;
    }
    *out = w;
    return FV_OK;
fail:
    fv_kv_watcher_destroy(w->watcher);
    fv_kv_close(w->kv);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->qmu);
    free(w);
    return st;
}

void fv_webhooks_stop(fv_webhooks *w)
{
    if (!w)
        return;
    atomic_store(&w->stopping, true);
    fv_kv_watcher_stop(w->watcher);
    pthread_join(w->watch_thread, NULL);
    /* every runner stops fetching at once and gets the same bounded grace */
    pthread_mutex_lock(&w->mu);
    wh_runner *list = w->runners;
    w->runners = NULL;
    pthread_mutex_unlock(&w->mu);
    for (wh_runner *r = list; r; r = r->next)
        runner_signal_stop(r);
    while (list) {
        wh_runner *nx = list->next;
        runner_destroy(list, false);
        list = nx;
    }
    atomic_store(&w->deliver_stop, true);
    curl_multi_wakeup(w->multi);
    pthread_join(w->deliver_thread, NULL);
    curl_multi_cleanup(w->multi);
    fv_kv_watcher_destroy(w->watcher);
    fv_kv_close(w->kv);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->qmu);
    free(w);
}

void fv_webhooks_metrics(fv_webhooks *w, fv_buf *out)
{
    if (!w)
        return;
    fv_buf_puts(out, "# TYPE flovyn_webhook_delivered_total counter\n"
                     "# TYPE flovyn_webhook_retried_batches_total counter\n"
                     "# TYPE flovyn_webhook_dead_lettered_total counter\n"
                     "# TYPE flovyn_webhook_ignored_total counter\n"
                     "# TYPE flovyn_webhook_consumer_pending gauge\n"
                     "# TYPE flovyn_webhook_delivery_seconds histogram\n");
    fv_buf_printf(out,
                  "# HELP flovyn_webhook_subscriptions_waiting subscriptions whose delivery could "
                  "not start yet (retried)\n# TYPE flovyn_webhook_subscriptions_waiting gauge\n"
                  "flovyn_webhook_subscriptions_waiting %d\n",
                  atomic_load(&w->waiting));
    pthread_mutex_lock(&w->mu);
    for (wh_runner *r = w->runners; r; r = r->next) {
        const char *n = r->sub.name; /* a validated id: safe inside a label */
        fv_buf_printf(out, "flovyn_webhook_delivered_total{subscription=\"%s\"} %" PRIu64 "\n", n,
                      (uint64_t)atomic_load(&r->delivered));
        fv_buf_printf(out,
                      "flovyn_webhook_retried_batches_total{subscription=\"%s\"} %" PRIu64 "\n", n,
                      (uint64_t)atomic_load(&r->retried));
        fv_buf_printf(out, "flovyn_webhook_dead_lettered_total{subscription=\"%s\"} %" PRIu64 "\n",
                      n, (uint64_t)atomic_load(&r->dead));
        fv_buf_printf(out, "flovyn_webhook_ignored_total{subscription=\"%s\"} %" PRIu64 "\n", n,
                      (uint64_t)atomic_load(&r->ignored));
        uint64_t pending = 0;
        fv_err err = {{0}};
        if (fv_durable_pending(r->d, &pending, &err) == FV_OK)
            fv_buf_printf(out, "flovyn_webhook_consumer_pending{subscription=\"%s\"} %" PRIu64 "\n",
                          n, pending);
        for (int i = 0; i < LAT_BUCKETS; i++)
            fv_buf_printf(out,
                          "flovyn_webhook_delivery_seconds_bucket{subscription=\"%s\",le=\"%g\"} "
                          "%" PRIu64 "\n",
                          n, lat_bounds_s[i], (uint64_t)atomic_load(&r->lat_bucket[i]));
        uint64_t cnt = atomic_load(&r->lat_count);
        fv_buf_printf(out,
                      "flovyn_webhook_delivery_seconds_bucket{subscription=\"%s\",le=\"+Inf\"} "
                      "%" PRIu64 "\n"
                      "flovyn_webhook_delivery_seconds_sum{subscription=\"%s\"} %.6f\n"
                      "flovyn_webhook_delivery_seconds_count{subscription=\"%s\"} %" PRIu64 "\n",
                      n, cnt, n, (double)atomic_load(&r->lat_sum_us) / 1e6, n, cnt);
    }
    pthread_mutex_unlock(&w->mu);
}
