/* publish.c - pipelined publish to JetStream with per-message acknowledgements.
 *
 * Every item becomes one natsMsg (protobuf, Content-Type, Nats-Msg-Id = dedup key) sent with
 * js_PublishMsgAsync and a per-message ack timeout (jsPubOptions.MaxWait: without it nats.c never
 * times an async publish out). The context's single AckHandler receives the original natsMsg
 * pointer back, so a small bus-wide table keyed by that pointer maps every ack to its batch and
 * item; concurrent batches from many threads share it and the bus-wide in-flight bound.
 * A timeout, a "no responders" (JetStream restarting) or a lost connection hands the message back
 * to the batch's thread, which resends the very same message - same Nats-Msg-Id, so JetStream
 * stores it once however many attempts reached it - until publish_attempts is used up. Nothing is
 * resent from the ack callback itself (that thread also delivers the acks a stalled resend would
 * wait for). js_PublishAsyncComplete is never used: it blocks forever without a wait, and the
 * batch already knows exactly which of its items are settled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jetstream_internal.h"
#include "flovyn/units.h"

#define PUB_BURST 64 /* messages built and registered per lock round trip */

typedef struct fv__js_resend {
    size_t idx;
    natsMsg *m;
} fv__js_resend;

typedef struct fv__js_batch {
    fv_publish_item *items;
    size_t n;
    int *attempts;
    fv__js_resend *rq; /* messages handed back for a resend (capacity 2n) */
    size_t rq_n;
    size_t round_pos, round_end; /* rq[round_pos..round_end) are being resent, in item order */
    int64_t retry_after_ms;      /* earliest resend (after "no responders") */
    int64_t deadline_ms;         /* no resend after this (fv__js_now_ms); 0 = none */
    size_t outstanding;          /* items sent or waiting for a resend */
} fv__js_batch;

static size_t ptr_hash(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    return (size_t)x & (cap - 1);
}

static void map_put(fv__js_pub *p, natsMsg *m, fv__js_batch *bt, size_t idx)
{
    size_t i = ptr_hash(m, p->cap);
    while (p->slots[i].msg)
        i = (i + 1) & (p->cap - 1);
    p->slots[i] = (fv__js_pub_slot){m, bt, idx};
}

/* linear probing with backward-shift deletion: no tombstones to accumulate */
static bool map_take(fv__js_pub *p, natsMsg *m, fv__js_batch **bt, size_t *idx)
{
    size_t i = ptr_hash(m, p->cap);
    while (p->slots[i].msg && p->slots[i].msg != m)
        i = (i + 1) & (p->cap - 1);
    if (!p->slots[i].msg)
        return false;
    *bt = p->slots[i].batch;
    *idx = p->slots[i].idx;
    size_t hole = i;
    for (size_t j = (i + 1) & (p->cap - 1); p->slots[j].msg; j = (j + 1) & (p->cap - 1)) {
        size_t home = ptr_hash(p->slots[j].msg, p->cap);
        /* move j into the hole unless its home lies cyclically in (hole, j] */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            p->slots[hole] = p->slots[j];
            hole = j;
        }
    }
    p->slots[hole].msg = NULL;
    return true;
}

fv_status fv__js_pub_init(fv__js_bus *b, fv_err *err)
{
    fv__js_pub *p = &b->pub;
    size_t want = (size_t)b->base.cfg.max_inflight_publishes * 2 + 16;
    p->cap = 64;
    while (p->cap < want)
        p->cap <<= 1;
    p->slots = calloc(p->cap, sizeof *p->slots);
    if (!p->slots)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->low_mark = b->base.cfg.max_inflight_publishes - b->base.cfg.max_inflight_publishes / 8;
    return FV_OK;
}

void fv__js_pub_destroy(fv__js_bus *b)
{
    fv__js_pub *p = &b->pub;
    if (!p->slots)
        return;
    free(p->slots);
    p->slots = NULL;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

static bool retryable(natsStatus s)
{
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED ||
           s == NATS_INSUFFICIENT_BUFFER || s == NATS_IO_ERROR || s == NATS_STALE_CONNECTION;
}

static fv_status status_of(natsStatus s)
{
    if (s == NATS_TIMEOUT)
        return FV_ETIMEOUT;
    if (s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
        s == NATS_CONNECTION_DISCONNECTED || s == NATS_INSUFFICIENT_BUFFER)
        return FV_EUNAVAIL;
    return FV_EIO;
}

/* Settles item idx after a failed attempt: back to its batch for a resend, or failed for good.
 * pub.mu held; takes ownership of m. */
static void attempt_failed(fv__js_bus *b, fv__js_batch *bt, size_t idx, natsMsg *m, natsStatus s,
                           int jerr, const char *text)
{
    fv_publish_item *it = &bt->items[idx];
    int64_t now = fv__js_now_ms();
    if (jerr == 0 && retryable(s) && bt->attempts[idx] < b->base.cfg.publish_attempts &&
        (bt->deadline_ms == 0 || now < bt->deadline_ms) && !atomic_load(&b->closing)) {
        bt->rq[bt->rq_n++] = (fv__js_resend){idx, m};
        if (s == NATS_NO_RESPONDERS || s == NATS_INSUFFICIENT_BUFFER) {
            /* JetStream is electing or restarting: give it a moment instead of burning attempts */
            int64_t pause = 250LL * bt->attempts[idx];
            int64_t at = now + (pause < 1000 ? pause : 1000);
            if (at > bt->retry_after_ms)
                bt->retry_after_ms = at;
        }
        atomic_fetch_add(&b->st.publish_retries, 1);
        return;
    }
    int size = natsMsg_GetDataLength(m);
    natsMsg_Destroy(m);
    bt->outstanding--;
    atomic_fetch_add(&b->st.publish_errors, 1);
    if (s == NATS_MAX_PAYLOAD)
        it->status = fv_err_set(&it->err, FV_ETOOBIG,
                                "publish: the encoded event (%d bytes) exceeds the NATS server's "
                                "max_payload; raise max_payload or lower the data limit",
                                size);
    else if (jerr)
        it->status = fv_err_set(&it->err, FV_EIO, "publish: JetStream refused the event: %s (%d)",
                                text ? text : "error", jerr);
    else
        it->status =
            fv_err_set(&it->err, status_of(s), "publish: not acknowledged after %d attempt(s): %s",
                       bt->attempts[idx], text && *text ? text : natsStatus_GetText(s));
}

void fv__js_pub_ack_handler(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    fv__js_bus *b = closure;
    fv__js_pub *p = &b->pub;
    fv__js_batch *bt = NULL;
    size_t idx = 0;
    pthread_mutex_lock(&p->mu);
    if (!map_take(p, msg, &bt, &idx)) {
        pthread_mutex_unlock(&p->mu);
        natsMsg_Destroy(msg);
        return;
    }
    p->inflight--;
    if (pa) {
        fv_publish_item *it = &bt->items[idx];
        it->status = FV_OK;
        it->result.seq = pa->Sequence;
        it->result.duplicate = pa->Duplicate;
        bt->outstanding--;
        atomic_fetch_add(pa->Duplicate ? &b->st.duplicates : &b->st.published, 1);
        natsMsg_Destroy(msg);
    } else {
        attempt_failed(b, bt, idx, msg, pae ? pae->Err : NATS_ERR, pae ? (int)pae->ErrCode : 0,
                       pae ? pae->ErrText : NULL);
        p->wake = true;
    }
    /* Wake publishers only when it pays: the window drained to its low mark, a batch finished,
     * or something needs a resend. One wake-up per ack would cost a context switch per event. */
    if (p->waiters > 0 && (p->wake || bt->outstanding == 0 || p->inflight <= p->low_mark)) {
        p->wake = false;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

static fv_status build_msg(fv__js_bus *b, const fv_publish_item *it, fv_buf *enc, natsMsg **out,
                           fv_err *err)
{
    char subj[FV_SUBJECT_MAX + 1], key[FV_DEDUP_KEY_MAX + 1];
    fv_status st;
    fv_buf_reset(enc);
    if (it->ev) {
        st = fv_subject_for_event(b->base.prefix, it->ev, subj, sizeof subj, err);
        if (st == FV_OK)
            st = fv_event_dedup_key(it->ev, key, sizeof key);
        if (st == FV_OK)
            st = fv_event_to_proto(it->ev, enc);
    } else {
        st = fv_subject_for_stream_event(b->base.prefix, it->se, subj, sizeof subj, err);
        if (st == FV_OK)
            st = fv_stream_event_dedup_key(it->se, key, sizeof key);
        if (st == FV_OK)
            st = fv_stream_event_to_proto(it->se, enc);
    }
    if (st != FV_OK)
        return err && err->msg[0] ? st : fv_err_set(err, st, "publish: cannot encode the event");
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subj, NULL, enc->data, (int)enc->len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Content-Type", "application/x-protobuf");
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", key);
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        return fv__js_nats_err(err, s, 0, "publish");
    }
    *out = m;
    return FV_OK;
}

static int resend_cmp(const void *a, const void *b)
{
    size_t x = ((const fv__js_resend *)a)->idx, y = ((const fv__js_resend *)b)->idx;
    return x < y ? -1 : x > y;
}

/* sends m for item idx; pub.mu held on entry and on return */
static void send_locked(fv__js_bus *b, fv__js_batch *bt, size_t idx, natsMsg *m, jsPubOptions *po)
{
    fv__js_pub *p = &b->pub;
    bt->attempts[idx]++;
    p->inflight++;
    map_put(p, m, bt, idx);
    pthread_mutex_unlock(&p->mu);
    natsMsg *owned = m;
    natsStatus s = js_PublishMsgAsync(b->js, &owned, po);
    pthread_mutex_lock(&p->mu);
    if (s != NATS_OK && owned) {
        /* not sent (nats.c handed the message back): no ack will come for it */
        fv__js_batch *x = NULL;
        size_t xi = 0;
        if (map_take(p, m, &x, &xi)) {
            p->inflight--;
            attempt_failed(b, bt, idx, m, s, 0, nats_GetLastError(NULL));
        }
    }
}

fv_status fv__js_publish_batch(fv_bus *bus, fv_publish_item *items, size_t n, fv_err *err)
{
    fv__js_bus *b = fv__js(bus);
    fv__js_pub *p = &b->pub;
    if (n == 0)
        return FV_OK;
    fv__js_batch bt = {.items = items, .n = n};
    if (b->base.cfg.publish_deadline_ms > 0)
        bt.deadline_ms = fv__js_now_ms() + b->base.cfg.publish_deadline_ms;
    bt.attempts = calloc(n, sizeof *bt.attempts);
    bt.rq = calloc(2 * n, sizeof *bt.rq);
    if (!bt.attempts || !bt.rq) {
        free(bt.attempts);
        free(bt.rq);
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = b->base.cfg.publish_timeout_ms;
    const int max_inflight = b->base.cfg.max_inflight_publishes;
    fv_buf enc;
    fv_buf_init(&enc);

    size_t next = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (next < n && items[next].status != FV_OK)
            next++; /* invalid items were settled by bus.c */
        if (next >= n && bt.outstanding == 0)
            break;
        int64_t now = fv__js_now_ms();
        /* Resends go in rounds, so that a batch is stored in its order even when attempts fail:
         * a round starts once nothing of the batch is in flight any more (every outstanding item
         * was handed back) and resends those items in item order; what a round's attempts hand
         * back waits for the next round, and no new item is sent while resends are pending. */
        if (bt.round_pos == bt.round_end && bt.rq_n > 0 && bt.rq_n == bt.outstanding &&
            now >= bt.retry_after_ms) {
            qsort(bt.rq, bt.rq_n, sizeof *bt.rq, resend_cmp);
            bt.round_pos = 0;
            bt.round_end = bt.rq_n;
        }
        if (bt.round_pos < bt.round_end && p->inflight < max_inflight) {
            fv__js_resend r = bt.rq[bt.round_pos++];
            if (bt.round_pos == bt.round_end) { /* round over: keep what came back meanwhile */
                memmove(bt.rq, bt.rq + bt.round_end, (bt.rq_n - bt.round_end) * sizeof *bt.rq);
                bt.rq_n -= bt.round_end;
                bt.round_pos = bt.round_end = 0;
            }
            send_locked(b, &bt, r.idx, r.m, &po);
            continue;
        }
        if (next < n && p->inflight < max_inflight && bt.rq_n == 0) {
            /* a burst: build outside the lock, register all at once, send without the lock */
            int room = max_inflight - p->inflight;
            if (room > PUB_BURST)
                room = PUB_BURST;
            p->inflight += room; /* hold the window while building */
            pthread_mutex_unlock(&p->mu);
            size_t bidx[PUB_BURST];
            natsMsg *bmsg[PUB_BURST];
            int k = 0;
            while (k < room && next < n) {
                size_t idx = next++;
                if (items[idx].status != FV_OK)
                    continue;
                fv_status st = build_msg(b, &items[idx], &enc, &bmsg[k], &items[idx].err);
                if (st != FV_OK) {
                    items[idx].status = st;
                    atomic_fetch_add(&b->st.publish_errors, 1);
                    continue;
                }
                items[idx].status = FV_EUNAVAIL; /* pending until its ack */
                bidx[k++] = idx;
            }
            pthread_mutex_lock(&p->mu);
            p->inflight -= room;
            for (int i = 0; i < k; i++) {
                bt.attempts[bidx[i]]++;
                bt.outstanding++;
                p->inflight++;
                map_put(p, bmsg[i], &bt, bidx[i]);
            }
            pthread_mutex_unlock(&p->mu);
            int nfail = 0;
            natsStatus fst[PUB_BURST];
            for (int i = 0; i < k; i++) {
                natsMsg *owned = bmsg[i];
                natsStatus ps = js_PublishMsgAsync(b->js, &owned, &po);
                if (ps != NATS_OK && owned) {
                    /* not sent (nats.c handed the message back): no ack will come for it */
                    bidx[nfail] = bidx[i];
                    bmsg[nfail] = bmsg[i];
                    fst[nfail++] = ps;
                }
            }
            pthread_mutex_lock(&p->mu);
            for (int i = 0; i < nfail; i++) {
                fv__js_batch *x = NULL;
                size_t xi = 0;
                if (map_take(p, bmsg[i], &x, &xi)) {
                    p->inflight--;
                    attempt_failed(b, &bt, bidx[i], bmsg[i], fst[i], 0, nats_GetLastError(NULL));
                }
            }
            continue;
        }
        /* wait for the window to drain, the batch to settle, a handed-back message, or the
         * resend delay */
        int64_t wait_ms = 100;
        if (bt.rq_n > 0 && bt.retry_after_ms > now && bt.retry_after_ms - now < wait_ms)
            wait_ms = bt.retry_after_ms - now;
        struct timespec ts;
        fv_deadline_ms(&ts, CLOCK_REALTIME, wait_ms);
        p->waiters++;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        p->waiters--;
    }
    pthread_mutex_unlock(&p->mu);
    fv_buf_free(&enc);
    free(bt.attempts);
    free(bt.rq);
    return FV_OK;
}
