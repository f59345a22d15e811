/* live.c - the live path (ARCHITECTURE "Data flow" 3): one core-NATS subscription per stream
 * per process on the RePublish subjects, checked for contiguity and appended to the engine's
 * window (engine.h), which fans each record out to the subscriptions of its tenant.
 *
 * Core NATS delivery is best effort: a reconnect, a slow-consumer drop or interest that has not
 * propagated yet loses republished messages silently. Because this subscription sees the whole
 * stream, `Nats-Sequence` must go up by exactly one; on a jump the missing range is read back
 * from JetStream (a whole-stream ephemeral consumer from the exact sequence) and dispatched
 * before the newer message. A probe of the stream's last sequence (after a reconnect, after a
 * drop, and once a second) also catches losses at the tail that no newer message would reveal,
 * and a changed creation time (stream recreated) restarts the count.
 *
 * Each source has its own thread reading a synchronous subscription: JetStream requests made for
 * a refill would deadlock inside a nats.c callback, and a subscription owned by one thread is
 * never destroyed while the library delivers to it. Each message is decoded once; subscriptions
 * of its tenant share the decoded event and one frame slot.
 *
 * Two threads would lose the causal order between the sources: a child workflow's
 * `workflow.started`, acknowledged before its first token was published, is republished first and
 * so is already queued on the events subscription when the token is read (one connection, one
 * socket), yet the streams thread could route the token first - and the consolidated stream,
 * which learns descendants from lifecycle events, would drop it. So before routing a stream event
 * the streams thread waits, bounded, until the events thread has handled everything queued at
 * that moment (wait_events_handled). When the events thread is idle this costs one pending-count
 * read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jetstream_internal.h"
#include "flovyn/log.h"
#include "flovyn/units.h"

#define PROBE_EVERY_MS 1000
#define REFILL_BATCH 512

/* Every message goes into the window, whichever tenant it belongs to: a resume of any tenant,
 * now or after a restart of its clients, is then served from memory. */
static void dispatch(fv__js_live_src *ls, fv__rec *r)
{
    fv__eng_append(ls->bus->eng, r, false);
}

/* The reader found its end before `to`, a sequence the stream has stored. Only what the stream no
 * longer holds is skipped: sequences below its first one (expired, purged), or the whole range
 * when messages were deleted inside the stream (which ones is not asked). Anything else means the
 * reader saw the end too early - a consumer on a leader just elected, still applying its log, as
 * the cluster test caught: the range is read again at the next attempt instead of being lost. */
static fv_status skip_gone(fv__js_live_src *ls, uint64_t to)
{
    fv__js_stream_stat s = {0};
    fv_err err = {{0}};
    fv_status st = fv__js_stream_stat_get(ls->bus, ls->src, 0, &s, &err);
    if (st != FV_OK)
        return st;
    if (s.deleted > 0 || s.first > to) {
        char range[64], state[96];
        snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)ls->expected,
                 (unsigned long long)to);
        snprintf(state, sizeof state, "first %llu last %llu deleted %llu",
                 (unsigned long long)s.first, (unsigned long long)s.last,
                 (unsigned long long)s.deleted);
        fv_log(FV_LOG_WARN, "bus", "live refill: sequences gone from the stream, skipped", "stream",
               fv__js_stream_name(ls->src), "range", range, "stream_state", state, NULL);
        ls->expected = to + 1;
        return FV_OK;
    }
    if (s.first > ls->expected)
        ls->expected = s.first;
    fv_log(FV_LOG_WARN, "bus", "live refill ended before the stream's end; reading again", "stream",
           fv__js_stream_name(ls->src), NULL);
    return FV_EUNAVAIL;
}

/* Reads [from, to] from the stream and dispatches it; ls->expected follows what was dispatched. */
static fv_status refill(fv__js_live_src *ls, uint64_t to)
{
    fv__js_bus *b = ls->bus;
    fv__js_reader r;
    fv_err err = {{0}};
    fv_status st = fv__js_reader_open(b, ls->src, NULL, ls->expected, &r, &err);
    if (st != FV_OK) {
        fv_log(FV_LOG_WARN, "bus", "live refill failed, retrying", "error", err.msg, NULL);
        return st;
    }
    atomic_fetch_add(&b->st.live_gaps_refilled, 1);
    while (ls->expected <= to && !atomic_load(&b->closing)) {
        natsMsgList list;
        st = fv__js_reader_fetch(&r, REFILL_BATCH, 2000, &list, &err);
        if (st != FV_OK)
            break;
        for (int i = 0; i < list.Count; i++) {
            uint64_t seq = 0;
            int64_t stored = 0;
            if (!fv__js_msg_meta(list.Msgs[i], &seq, &stored) || seq < ls->expected)
                continue;
            if (seq > to)
                break;
            fv__rec *rec = fv__js_rec_from_nats(b, ls->src, list.Msgs[i], seq, stored, true);
            if (!rec)
                continue;
            atomic_fetch_add(&b->st.live_refill_msgs, 1);
            dispatch(ls, rec);
            ls->expected = seq + 1;
        }
        natsMsgList_Destroy(&list);
        if (r.at_end)
            break;
    }
    fv__js_reader_close(&r);
    if (st == FV_OK && ls->expected <= to)
        st = skip_gone(ls, to);
    return st;
}

/* Compares with the stream; false if the stream is unreachable. A forced probe (reconnect, slow
 * consumer) refills up to the stream's end at once; the periodic one only up to what the stream
 * held a probe ago and only while nothing is queued - a message still in flight is not lost. */
static bool probe(fv__js_live_src *ls, bool forced)
{
    fv__js_stream_stat s = {0};
    fv_err err = {{0}};
    if (fv__js_stream_stat_get(ls->bus, ls->src, 0, &s, &err) != FV_OK) {
        atomic_fetch_add(&ls->probes_failed, 1);
        /* a live path that cannot see its stream delivers nothing new: say so, every 10 s */
        int64_t now = fv__js_now_ms();
        if (now - ls->probe_warned_ms >= 10000) {
            ls->probe_warned_ms = now;
            fv_log(FV_LOG_WARN, "bus", "live probe: the stream does not answer", "stream",
                   fv__js_stream_name(ls->src), "error", err.msg, NULL);
        }
        return false;
    }
    atomic_store(&ls->shown_stream_last, s.last);
    if (ls->expected == 0) {
        ls->expected = s.last + 1;
        ls->stream_created = s.created;
        fv__eng_start_source(ls->bus->eng, ls->src, s.last);
        atomic_store(&ls->initialized, true);
        return true;
    }
    if (s.created != ls->stream_created) {
        /* recreated: a new history from sequence 1; every subscription on it ends */
        ls->stream_created = s.created;
        ls->expected = s.first > 0 ? s.first : 1;
        fv_log(FV_LOG_WARN, "bus", "stream recreated, live sequence restarted", "stream",
               fv__js_stream_name(ls->src), NULL);
        fv__eng_reset_source(ls->bus->eng, ls->src, ls->expected - 1,
                             "the stream was recreated; resume from your cursor");
    }
    uint64_t target = forced ? s.last : ls->prev_probe_last;
    ls->prev_probe_last = s.last;
    if (!forced) {
        int queued = 0;
        if (natsSubscription_GetPending(ls->sub, &queued, NULL) == NATS_OK && queued > 0)
            return true;
    }
    if (target >= ls->expected && target <= s.last)
        return refill(ls, target) == FV_OK;
    return true;
}

#define CAUSAL_WAIT_MAX_US 1000000

static void wait_events_handled(fv__js_bus *b)
{
    fv__js_live_src *ev = &b->live[FV_SRC_EVENTS];
    if (!ev->started || !ev->sub || atomic_load(&ev->holding))
        return;
    /* nats.c counts a message as delivered in the same locked step that takes it off the queue,
     * so delivered + queued covers everything queued now, taken or not. The count is read after
     * the queue: a message taken in between is counted twice, which only makes the target too
     * high - and the idle check below ends such a wait. */
    int queued = 0;
    int64_t delivered = 0;
    if (natsSubscription_GetPending(ev->sub, &queued, NULL) != NATS_OK || queued < 0 ||
        natsSubscription_GetDelivered(ev->sub, &delivered) != NATS_OK)
        return;
    uint64_t target = (uint64_t)delivered + (uint64_t)queued;
    for (int waited = 0; atomic_load(&ev->handled) < target && waited < CAUSAL_WAIT_MAX_US;
         waited += 200) {
        if (atomic_load(&ev->holding) || atomic_load(&b->closing))
            return;
        int now_queued = 0;
        int64_t now_delivered = 0;
        if (natsSubscription_GetDelivered(ev->sub, &now_delivered) == NATS_OK &&
            atomic_load(&ev->handled) == (uint64_t)now_delivered &&
            natsSubscription_GetPending(ev->sub, &now_queued, NULL) == NATS_OK && now_queued == 0)
            return; /* idle: everything that was queued is handled */
        struct timespec ts = {0, 200000L};
        nanosleep(&ts, NULL);
    }
}

static uint64_t header_seq(natsMsg *m)
{
    const char *v = fv__js_header(m, "Nats-Sequence");
    return v ? strtoull(v, NULL, 10) : 0;
}

static void *live_main(void *arg)
{
    fv__js_live_src *ls = arg;
    fv__js_bus *b = ls->bus;
    int64_t last_probe = 0;
    natsMsg *held = NULL; /* a message waiting for its gap to be refilled */
    while (!atomic_load(&b->closing)) {
        /* every path of the loop body ends here: what was taken is handled, but a held one.
         * Counted by nats.c, not by this thread: a count of its own would be raised only after
         * the take, and the streams thread, seeing the queue empty and the counts equal in that
         * instant, would route a token before the lifecycle event this thread holds. */
        int64_t delivered = 0;
        atomic_store(&ls->holding, held != NULL);
        if (natsSubscription_GetDelivered(ls->sub, &delivered) == NATS_OK)
            atomic_store(&ls->handled, (uint64_t)delivered - (held ? 1 : 0));
        atomic_store(&ls->shown_next, ls->expected);
        int64_t now = fv__js_now_ms();
        bool forced = atomic_load(&ls->probe);
        if (ls->expected == 0 || forced || now - last_probe >= PROBE_EVERY_MS) {
            atomic_store(&ls->probe, false);
            last_probe = now;
            if (!probe(ls, forced) && ls->expected == 0) {
                fv_sleep_ms(250);
                continue;
            }
        }
        natsMsg *m = held;
        held = NULL;
        if (!m) {
            natsStatus s = natsSubscription_NextMsg(&m, ls->sub, 200);
            if (s == NATS_TIMEOUT)
                continue;
            if (s != NATS_OK) {
                /* NATS_SLOW_CONSUMER: messages were dropped; the sequence jump shows where */
                atomic_store(&ls->probe, true);
                if (s != NATS_SLOW_CONSUMER)
                    fv_sleep_ms(100);
                continue;
            }
            int pause_us = atomic_load(&ls->debug_pause_us);
            if (pause_us > 0) {
                struct timespec ts = {pause_us / 1000000, (pause_us % 1000000) * 1000L};
                nanosleep(&ts, NULL);
            }
            if (atomic_load(&ls->debug_drop) > 0) {
                atomic_fetch_sub(&ls->debug_drop, 1);
                natsMsg_Destroy(m);
                continue;
            }
        }
        uint64_t seq = header_seq(m);
        if (seq == 0 || seq < ls->expected) {
            natsMsg_Destroy(m); /* already dispatched (refilled) or not a republish */
            continue;
        }
        if (seq > ls->expected && refill(ls, seq - 1) != FV_OK) {
            held = m; /* nothing newer before the hole is filled */
            fv_sleep_ms(250);
            continue;
        }
        if (seq < ls->expected) {
            natsMsg_Destroy(m);
            continue;
        }
        if (ls->src == FV_SRC_STREAMS)
            wait_events_handled(b);
        if (!fv__eng_wait_space(b->eng)) { /* bounded fan-out queue: the subscription buffers */
            held = m;
            continue;
        }
        fv__rec *r = fv__js_rec_from_nats(b, ls->src, m, seq, fv__js_now_ms(), false);
        natsMsg_Destroy(m);
        if (!r) {
            fv_sleep_ms(10);
            continue;
        }
        dispatch(ls, r);
        ls->expected = seq + 1;
    }
    natsMsg_Destroy(held);
    return NULL;
}

/* The live subscriptions start with the first subscription: a process that only publishes
 * (ingest, the CLI) never receives the whole stream's republished traffic. */
fv_status fv__js_live_ensure(fv__js_bus *b, fv_err *err)
{
    pthread_mutex_lock(&b->mu);
    fv_status st = FV_OK;
    if (!b->live_started) {
        st = fv__js_live_start(b, err);
        b->live_started = st == FV_OK;
    }
    pthread_mutex_unlock(&b->mu);
    return st;
}

fv_status fv__js_live_start(fv__js_bus *b, fv_err *err)
{
    for (int i = 0; i < 2; i++) {
        fv__js_live_src *ls = &b->live[i];
        char root[FV_PREFIX_MAX + 32], subj[FV_PREFIX_MAX + 40];
        if (i == FV_SRC_EVENTS)
            fv_subject_live_events(b->base.prefix, root, sizeof root);
        else
            fv_subject_live_streams(b->base.prefix, root, sizeof root);
        snprintf(subj, sizeof subj, "%s.>", root);
        natsStatus s = natsConnection_SubscribeSync(&ls->sub, b->nc, subj);
        if (s == NATS_OK)
            s = natsSubscription_SetPendingLimits(ls->sub, 1 << 21, 1 << 30);
        if (s != NATS_OK)
            return fv__js_nats_err(err, s, 0, "live subscription");
        if (pthread_create(&ls->thread, NULL, live_main, ls) != 0)
            return fv_err_set(err, FV_ENOMEM, "cannot start the live thread");
        ls->started = true;
    }
    return FV_OK;
}

fv_status fv__js_live_wait(fv__js_bus *b, const bool want[2], fv_err *err)
{
    /* A subscription reads the stream's last sequence to know where it starts; the live thread
     * must have fixed its own starting point before that, or it could skip what the
     * subscription expects from it. Bounded, and short, since an HTTP thread waits here: the
     * streams may not exist yet, or JetStream may not answer (a stream electing its leader);
     * the subscriber is told to come back. */
    for (int waited = 0; waited < 1000; waited += 5) {
        bool ok = true;
        for (int i = 0; i < 2; i++)
            if (want[i] && !atomic_load(&b->live[i].initialized))
                ok = false;
        if (ok)
            return FV_OK;
        if (waited == 0) {
            atomic_store(&b->live[0].probe, true);
            atomic_store(&b->live[1].probe, true);
        }
        fv_sleep_ms(5);
    }
    return fv_err_set(err, FV_EUNAVAIL,
                      "subscribe: the live path has no stream to follow yet "
                      "(streams not provisioned or JetStream unreachable)");
}

void fv__js_live_stats(fv__js_bus *b, fv_bus_stats *o)
{
    pthread_mutex_lock(&b->mu); /* live_stop clears `started` and the subscriptions under it */
    for (int i = 0; i < 2; i++) {
        fv__js_live_src *ls = &b->live[i];
        o->live_next_seq[i] = atomic_load(&ls->shown_next);
        o->live_stream_last[i] = atomic_load(&ls->shown_stream_last);
        o->live_probes_failed[i] = atomic_load(&ls->probes_failed);
        int queued = 0;
        if (ls->started && ls->sub &&
            natsSubscription_GetPending(ls->sub, &queued, NULL) == NATS_OK)
            o->live_queued[i] = queued > 0 ? (uint64_t)queued : 0;
    }
    pthread_mutex_unlock(&b->mu);
}

void fv__js_live_stop(fv__js_bus *b)
{
    atomic_store(&b->closing, true);
    for (int i = 0; i < 2; i++) {
        fv__js_live_src *ls = &b->live[i];
        if (ls->started)
            pthread_join(ls->thread, NULL);
        pthread_mutex_lock(&b->mu); /* fv__js_live_stats reads the subscription under it */
        ls->started = false;
        natsSubscription *sub = ls->sub;
        ls->sub = NULL;
        pthread_mutex_unlock(&b->mu);
        natsSubscription_Destroy(sub);
    }
}
