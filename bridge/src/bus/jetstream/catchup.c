/* catchup.c - subscriptions of the JetStream bus: where they start, catch-up from
 * the store, the hand-over to the live path, pause/resume, close; and bounded reads.
 *
 * A subscription starts in catch-up for every source it wants. From the moment it enters the
 * tenant index (before anything is read from the store) the live thread copies every message of
 * its filter into a bounded hand-over buffer. A worker (at most max_catchups run at once; the
 * rest wait in a FIFO) reads the store with an ephemeral consumer from the start point and
 * delivers. Hand-over happens under the subscription's lock, so the live thread cannot slip a
 * message in between: either catch-up has delivered a sequence at or past the first buffered one
 * (ARCHITECTURE: not merely "NumPending reached 0"), or the consumer reported nothing pending with
 * an intact buffer; then the buffered tail is delivered (sequences already delivered dropped) and
 * the source turns live. A full buffer is dropped and catch-up simply runs another round from
 * where it is. A start point already at the stream's end needs no consumer at all.
 *
 * FV_SUB_PAUSE leaves the held message in the store: the subscription goes back to catch-up at
 * that sequence (capturing again), releases its worker, and fv_sub_resume queues it again.
 * Callbacks run under the subscription's own lock (never two at once, in order per source);
 * fv_sub_close only flips a flag under a leaf lock that is never held across a callback, and a
 * reaper thread unlinks the subscription, so closing never waits for a callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jetstream_internal.h"
#include "flovyn/log.h"

#define CU_EXPIRES_MS 2000
#define CU_RETRY_MS 250
#define CU_MAX_FAILURES 120 /* about 30 s of an unreachable JetStream before ERROR */
#define READ_BATCH 256

typedef enum { CU_DONE, CU_PAUSED, CU_CLOSED, CU_ERROR } cu_result;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool is_closed(fv_js_sub *s)
{
    return atomic_load(&s->closed);
}

static void set_paused(fv_js_sub *s, bool v)
{
    pthread_mutex_lock(&s->gate);
    s->paused = v;
    pthread_mutex_unlock(&s->gate);
}

static bool get_paused(fv_js_sub *s)
{
    pthread_mutex_lock(&s->gate);
    bool v = s->paused;
    pthread_mutex_unlock(&s->gate);
    return v;
}

/* s->mu held. No callback starts once fv_sub_close returned: checked under the gate. */
static int call(fv_js_sub *s, fv_msg *m)
{
    pthread_mutex_lock(&s->gate);
    bool closed = atomic_load(&s->closed);
    pthread_mutex_unlock(&s->gate);
    if (closed)
        return FV_SUB_OK;
    return s->cfg.on_msg(s->cfg.ud, m);
}

static fv_cursor cursor_now(const fv_js_sub *s)
{
    return (fv_cursor){s->s[0].wanted ? s->s[0].pos : 0, s->s[1].wanted ? s->s[1].pos : 0,
                       s->epoch};
}

static void buf_clear(fv_js_srcstate *ss)
{
    for (size_t i = 0; i < ss->buf_n; i++)
        fv_js_lmsg_unref(ss->buf[i]);
    ss->buf_n = 0;
}

static bool buf_grow(fv_js_srcstate *ss)
{
    if (ss->buf_cap >= ss->buf_max)
        return false;
    size_t cap = ss->buf_cap ? ss->buf_cap * 2 : 16;
    if (cap > ss->buf_max)
        cap = ss->buf_max;
    fv_js_lmsg **nb = realloc(ss->buf, cap * sizeof *nb);
    if (!nb)
        return false; /* treated like a full buffer: another round of catch-up, nothing lost */
    ss->buf = nb;
    ss->buf_cap = cap;
    return true;
}

static void buf_release(fv_js_srcstate *ss)
{
    buf_clear(ss);
    free(ss->buf);
    ss->buf = NULL;
    ss->buf_cap = 0;
}

/* s->mu held: everything wanted goes back to catch-up, capturing, held at next_seq */
static void enter_pause(fv_js_sub *s)
{
    set_paused(s, true);
    for (int i = 0; i < 2; i++) {
        fv_js_srcstate *ss = &s->s[i];
        if (!ss->wanted)
            continue;
        ss->mode = FV_JS_MODE_CATCHUP;
        buf_clear(ss);
        ss->capturing = true;
        ss->overflow = false;
        ss->no_fetch = false;
    }
}

static int send_ctl(fv_js_sub *s, fv_msg_kind kind, const char *error)
{
    fv_msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind;
    m.cursor = cursor_now(s);
    m.error = error;
    if (kind == FV_MSG_GAP) {
        m.gap_requested = s->gap_requested;
        m.gap_resumed_from = s->gap_from;
        m.cursor = s->gap_from;
    }
    return call(s, &m);
}

static bool until_passed(const fv_js_sub *s, int64_t stored_ms)
{
    return s->cfg.start.until_ms && stored_ms > s->cfg.start.until_ms;
}

/* s->mu held. Delivers (or scans past) one stored message; FV_SUB_PAUSE leaves it held. */
static int deliver(fv_js_sub *s, fv_js_lmsg *lm, bool shared)
{
    fv_js_srcstate *ss = &s->s[lm->src];
    if (lm->seq < ss->next_seq || s->ended)
        return FV_SUB_OK;
    if (until_passed(s, lm->stored_ms)) {
        if (send_ctl(s, FV_MSG_END, NULL) == FV_SUB_PAUSE)
            return FV_SUB_PAUSE;
        s->ended = true;
        return FV_SUB_OK;
    }
    bool match =
        lm->decoded && (lm->src == FV_SRC_EVENTS ? fv_pattern_match_event(&s->pattern, &lm->ev)
                                                 : fv_pattern_match_stream(&s->pattern, &lm->se));
    if (match) {
        fv_msg m;
        memset(&m, 0, sizeof m);
        m.kind = lm->src == FV_SRC_EVENTS ? FV_MSG_EVENT : FV_MSG_STREAM;
        m.source = lm->src;
        m.seq = lm->seq;
        m.stored_ms = lm->stored_ms;
        m.cursor = cursor_now(s);
        if (lm->src == FV_SRC_EVENTS) {
            m.cursor.events_seq = lm->seq;
            m.ev = &lm->ev;
        } else {
            m.cursor.streams_seq = lm->seq;
            m.se = &lm->se;
        }
        m.subject = lm->subject;
        if (shared) {
            m.shared = &lm->shared;
            m.shared_free = &lm->shared_free;
        }
        if (call(s, &m) == FV_SUB_PAUSE)
            return FV_SUB_PAUSE;
    }
    if (lm->seq > ss->pos)
        ss->pos = lm->seq;
    ss->next_seq = lm->seq + 1;
    return FV_SUB_OK;
}

/* --- live side ------------------------------------------------------------------------------- */
void fv_js_sub_on_live(fv_js_sub *s, fv_js_lmsg *lm)
{
    if (is_closed(s))
        return;
    pthread_mutex_lock(&s->mu);
    fv_js_srcstate *ss = &s->s[lm->src];
    if (is_closed(s) || s->ended) {
        /* nothing */
    } else if (ss->mode == FV_JS_MODE_LIVE) {
        if (deliver(s, lm, true) == FV_SUB_PAUSE)
            enter_pause(s);
    } else if (ss->capturing && !ss->overflow && lm->seq >= ss->next_seq &&
               fv_subject_matches(ss->filter, lm->subject)) {
        if (ss->buf_n == ss->buf_cap && !buf_grow(ss)) {
            /* catch-up is too far behind to bridge with a buffer: it reads another round */
            buf_clear(ss);
            ss->overflow = true;
        } else {
            atomic_fetch_add(&lm->refs, 1);
            ss->buf[ss->buf_n++] = lm;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* s->mu held: delivers the buffered tail and turns the source live */
static cu_result handover(fv_js_sub *s, int src)
{
    fv_js_srcstate *ss = &s->s[src];
    size_t i = 0;
    for (; i < ss->buf_n; i++) {
        if (is_closed(s))
            break;
        if (deliver(s, ss->buf[i], false) == FV_SUB_PAUSE) {
            /* the held message and all after it are in the store; capture again from here */
            enter_pause(s);
            return CU_PAUSED;
        }
    }
    buf_release(ss);
    ss->capturing = false;
    ss->no_fetch = false;
    ss->mode = FV_JS_MODE_LIVE;
    return is_closed(s) ? CU_CLOSED : CU_DONE;
}

/* The stream under a subscription was recreated: its sequences start again, so positions and
 * cursors of this subscription mean nothing there. It ends with ERROR; a client resuming with
 * its cursor then meets the new epoch and gets `gap` and a replay. */
void fv_js_sub_fail(fv_js_sub *s, const char *why)
{
    pthread_mutex_lock(&s->mu);
    if (!s->ended && !is_closed(s)) {
        send_ctl(s, FV_MSG_ERROR, why);
        s->ended = true;
    }
    pthread_mutex_unlock(&s->mu);
}

/* --- catch-up -------------------------------------------------------------------------------- */
/* One catch-up round per source that still needs one: a reader (consumer) per source, merged by
 * store time so a two-source subscription replays in the order things happened (each source in
 * its own order regardless). */
typedef struct cu_src {
    bool active; /* still catching up in this call */
    bool open;   /* reader open */
    bool ranged; /* reader exhausted or nothing to read: the round's end logic is due */
    fv_js_reader r;
    natsMsgList list;
    int idx;
    uint64_t last; /* stream's last sequence before the reader was created */
} cu_src;

static void cu_close(cu_src *c)
{
    if (c->list.Msgs || c->list.Count)
        natsMsgList_Destroy(&c->list);
    memset(&c->list, 0, sizeof c->list);
    c->idx = 0;
    if (c->open)
        fv_js_reader_close(&c->r);
    c->open = false;
}

static cu_result cu_fail(fv_js_sub *s, int *failures, const char *msg)
{
    if (++*failures >= CU_MAX_FAILURES) {
        pthread_mutex_lock(&s->mu);
        send_ctl(s, FV_MSG_ERROR, msg);
        s->ended = true;
        pthread_mutex_unlock(&s->mu);
        return CU_ERROR;
    }
    sleep_ms(CU_RETRY_MS);
    return CU_DONE; /* retry */
}

/* s->mu held: whether the subscription may go on; sets *res when not */
static bool cu_may_continue(fv_js_sub *s, cu_result *res)
{
    if (is_closed(s) || s->ended) {
        *res = CU_CLOSED;
        return false;
    }
    if (get_paused(s)) {
        *res = CU_PAUSED;
        return false;
    }
    return true;
}

/* Starts a round for source src: false when the source needs no reader (live, or handed over) */
static cu_result cu_round(fv_js_bus *b, fv_js_sub *s, int src, cu_src *c, int *failures)
{
    fv_js_srcstate *ss = &s->s[src];
    cu_result res = CU_DONE;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (!cu_may_continue(s, &res)) {
            pthread_mutex_unlock(&s->mu);
            return res;
        }
        if (ss->mode == FV_JS_MODE_LIVE) {
            c->active = false;
            pthread_mutex_unlock(&s->mu);
            return CU_DONE;
        }
        if (ss->no_fetch && !ss->overflow) {
            res = handover(s, src);
            c->active = false;
            pthread_mutex_unlock(&s->mu);
            return res;
        }
        if (ss->overflow) {
            buf_clear(ss);
            ss->overflow = false;
        }
        ss->capturing = true;
        ss->no_fetch = false;
        fv_js_rd_from from = ss->next_seq > 0 ? FV_RD_SEQ : ss->from;
        uint64_t start = ss->next_seq;
        int64_t start_ms = ss->from_time_ms;
        pthread_mutex_unlock(&s->mu);

        fv_err err = {{0}};
        fv_status st = fv_js_stream_state(b, (fv_source)src, NULL, &c->last, NULL, &err);
        if (st == FV_OK && from == FV_RD_SEQ && start > c->last) {
            c->ranged = true; /* nothing stored at or after the start: no consumer needed */
            return CU_DONE;
        }
        if (st == FV_OK)
            st = fv_js_reader_open(b, (fv_source)src, ss->filter, from, start, start_ms, &c->r,
                                   &err);
        if (st == FV_OK) {
            c->open = true;
            c->ranged = false;
            *failures = 0;
            return CU_DONE;
        }
        res = cu_fail(s, failures, err.msg);
        if (res != CU_DONE)
            return res;
    }
}

/* The consumer saw every message of the filter up to c->last: advance, hand over or go again.
 * Returns CU_DONE with c->active cleared when the source is live. */
static cu_result cu_end_of_round(fv_js_sub *s, int src, cu_src *c)
{
    fv_js_srcstate *ss = &s->s[src];
    cu_result res = CU_DONE;
    cu_close(c);
    c->ranged = false;
    pthread_mutex_lock(&s->mu);
    if (!cu_may_continue(s, &res)) {
        pthread_mutex_unlock(&s->mu);
        return res;
    }
    if (ss->next_seq <= c->last)
        ss->next_seq = c->last + 1;
    if (ss->pos < c->last)
        ss->pos = c->last;
    if (!ss->overflow) {
        res = handover(s, src);
        c->active = false;
    }
    /* else: the buffer overflowed meanwhile; the caller starts another round */
    pthread_mutex_unlock(&s->mu);
    return res;
}

static cu_result catchup(fv_js_bus *b, fv_js_sub *s)
{
    cu_src cs[2];
    memset(cs, 0, sizeof cs);
    int failures = 0;
    cu_result res = CU_DONE;
    for (int i = 0; i < 2; i++)
        cs[i].active = s->s[i].wanted;
    for (;;) {
        if (atomic_load(&s->bus->closing)) {
            res = CU_CLOSED;
            break;
        }
        /* every active source without a reader starts a round */
        bool any = false;
        for (int i = 0; i < 2 && res == CU_DONE; i++)
            if (cs[i].active && !cs[i].open && !cs[i].ranged)
                res = cu_round(b, s, i, &cs[i], &failures);
        /* A source that reached its end hands over only when the other one did too: its live
         * tail must not overtake older messages the other source still replays. */
        bool all_ranged = true;
        for (int i = 0; i < 2; i++)
            if (cs[i].active && !cs[i].ranged)
                all_ranged = false;
        for (int i = 0; i < 2 && res == CU_DONE; i++)
            if (all_ranged && cs[i].active && cs[i].ranged)
                res = cu_end_of_round(s, i, &cs[i]);
        for (int i = 0; i < 2; i++)
            if (cs[i].active)
                any = true;
        if (res != CU_DONE || !any)
            break;
        /* refill empty lookaheads */
        bool fetch_failed = false;
        for (int i = 0; i < 2; i++) {
            cu_src *c = &cs[i];
            if (!c->active || !c->open || c->ranged || c->idx < c->list.Count)
                continue;
            natsMsgList_Destroy(&c->list);
            memset(&c->list, 0, sizeof c->list);
            c->idx = 0;
            if (c->r.at_end) {
                c->ranged = true;
                continue;
            }
            fv_err err = {{0}};
            if (fv_js_reader_fetch(&c->r, (int)s->cfg.max_catchup_batch, CU_EXPIRES_MS, &c->list,
                                   &err) != FV_OK) {
                cu_close(c); /* a new consumer from where we are */
                fetch_failed = true;
                res = cu_fail(s, &failures, err.msg);
            } else if (c->list.Count == 0 && c->r.at_end) {
                c->ranged = true;
            }
        }
        if (res != CU_DONE)
            break;
        if (fetch_failed)
            continue;
        /* the oldest lookahead goes first - which needs every source's lookahead (or its end) */
        bool waiting = false;
        for (int i = 0; i < 2; i++)
            if (cs[i].active && cs[i].open && !cs[i].ranged && cs[i].idx >= cs[i].list.Count)
                waiting = true;
        if (waiting)
            continue;
        int pick = -1;
        int64_t pick_ms = 0;
        uint64_t pick_seq = 0;
        for (int i = 0; i < 2; i++) {
            cu_src *c = &cs[i];
            if (!c->active || !c->open || c->idx >= c->list.Count)
                continue;
            uint64_t seq = 0;
            int64_t ms = 0;
            if (!fv_js_msg_meta(c->list.Msgs[c->idx], &seq, &ms)) {
                c->idx++;
                pick = -2; /* skip it, look again */
                break;
            }
            if (pick == -1 || ms < pick_ms) {
                pick = i;
                pick_ms = ms;
                pick_seq = seq;
            }
        }
        if (pick < 0)
            continue;
        cu_src *c = &cs[pick];
        fv_js_srcstate *ss = &s->s[pick];
        fv_js_lmsg *lm =
            fv_js_lmsg_from_nats(b, (fv_source)pick, c->list.Msgs[c->idx], pick_seq, pick_ms);
        c->idx++;
        if (!lm)
            continue;
        pthread_mutex_lock(&s->mu);
        if (!cu_may_continue(s, &res)) {
            /* res set */
        } else if (deliver(s, lm, false) == FV_SUB_PAUSE) {
            set_paused(s, true);
            res = CU_PAUSED;
        } else if (s->ended) {
            res = CU_CLOSED;
        } else if (!cs[1 - pick].active && ss->buf_n > 0 && !ss->overflow &&
                   ss->next_seq >= ss->buf[0]->seq) {
            /* caught up with the live tail: the buffer holds the rest */
            res = handover(s, pick);
            c->active = false;
            pthread_mutex_unlock(&s->mu);
            fv_js_lmsg_unref(lm);
            cu_close(c);
            if (res != CU_DONE)
                break;
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        fv_js_lmsg_unref(lm);
        if (res != CU_DONE)
            break;
    }
    for (int i = 0; i < 2; i++)
        cu_close(&cs[i]);
    return res;
}

static void run_catchup(fv_js_bus *b, fv_js_sub *s)
{
    if (is_closed(s) || get_paused(s))
        return;
    pthread_mutex_lock(&s->mu);
    if (s->gap_pending && !s->ended) {
        if (send_ctl(s, FV_MSG_GAP, NULL) == FV_SUB_PAUSE) {
            set_paused(s, true);
            pthread_mutex_unlock(&s->mu);
            return;
        }
        s->gap_pending = false;
    }
    pthread_mutex_unlock(&s->mu);
    if (catchup(b, s) != CU_DONE)
        return;
    pthread_mutex_lock(&s->mu);
    if (!s->live_sent && !s->ended && !is_closed(s)) {
        bool all_live = true;
        for (int i = 0; i < 2; i++)
            if (s->s[i].wanted && s->s[i].mode != FV_JS_MODE_LIVE)
                all_live = false;
        if (all_live) {
            if (s->cfg.start.until_ms && fv_js_now_ms() > s->cfg.start.until_ms) {
                /* everything stored up to `until` was read: nothing later can qualify */
                if (send_ctl(s, FV_MSG_END, NULL) == FV_SUB_PAUSE)
                    enter_pause(s);
                else
                    s->ended = true;
            } else if (send_ctl(s, FV_MSG_LIVE, NULL) == FV_SUB_PAUSE) {
                enter_pause(s);
            } else {
                s->live_sent = true;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* --- workers and reaper ---------------------------------------------------------------------- */
static void *worker_main(void *arg)
{
    fv_js_bus *b = arg;
    pthread_mutex_lock(&b->cu_mu);
    for (;;) {
        while (!b->cu_stop && !b->cu_head) {
            b->cu_idle++;
            pthread_cond_wait(&b->cu_cv, &b->cu_mu);
            b->cu_idle--;
        }
        if (b->cu_stop)
            break;
        fv_js_sub *s = b->cu_head;
        b->cu_head = s->queue_next;
        if (!b->cu_head)
            b->cu_tail = NULL;
        s->queue_next = NULL;
        atomic_fetch_sub(&b->st.catchups_waiting, 1);
        atomic_fetch_add(&b->st.catchups_running, 1);
        atomic_fetch_add(&b->st.catchups_total, 1);
        pthread_mutex_unlock(&b->cu_mu);

        run_catchup(b, s);

        pthread_mutex_lock(&b->cu_mu);
        atomic_fetch_sub(&b->st.catchups_running, 1);
        s->queued = false;
        bool again = false;
        if (!is_closed(s) && !get_paused(s)) {
            /* resumed while we ran, or a source is still catching up */
            for (int i = 0; i < 2; i++)
                if (s->s[i].wanted && s->s[i].mode == FV_JS_MODE_CATCHUP && !s->ended)
                    again = true;
        }
        if (again && !b->cu_stop) {
            s->queued = true;
            if (b->cu_tail)
                b->cu_tail->queue_next = s;
            else
                b->cu_head = s;
            b->cu_tail = s;
            atomic_fetch_add(&b->st.catchups_waiting, 1);
            pthread_mutex_unlock(&b->cu_mu);
            sleep_ms(10); /* let others go first */
            pthread_mutex_lock(&b->cu_mu);
            continue;
        }
        pthread_mutex_unlock(&b->cu_mu);
        fv_js_sub_unref(s); /* the queue's reference */
        pthread_mutex_lock(&b->cu_mu);
    }
    pthread_mutex_unlock(&b->cu_mu);
    return NULL;
}

/* cu_mu held */
static void queue_push_locked(fv_js_bus *b, fv_js_sub *s)
{
    if (s->queued || b->cu_stop)
        return;
    s->queued = true;
    atomic_fetch_add(&s->refs, 1);
    if (b->cu_tail)
        b->cu_tail->queue_next = s;
    else
        b->cu_head = s;
    b->cu_tail = s;
    atomic_fetch_add(&b->st.catchups_waiting, 1);
    if (b->cu_idle == 0 && b->cu_nthreads < b->base.cfg.max_catchups) {
        if (pthread_create(&b->cu_threads[b->cu_nthreads], NULL, worker_main, b) == 0)
            b->cu_nthreads++;
    }
    pthread_cond_broadcast(&b->cu_cv);
}

/* `until` passed on a live subscription with nothing new arriving: END once the live path has
 * routed everything the streams held after that moment (so nothing stored before `until` is
 * still on its way). Runs on the reaper's tick. */
static void end_expired(fv_js_bus *b)
{
    int64_t now = fv_js_now_ms();
    fv_js_sub *cand[64];
    int n = 0;
    pthread_rwlock_rdlock(&b->index_lock);
    /* the usual case: no stream has an `until`, and thousands of idle ones are not walked */
    for (size_t i = 0; b->index_until && i < FV_JS_INDEX_BUCKETS && n < 64; i++) {
        for (fv_js_sub *s = b->index[i]; s && n < 64; s = s->index_next) {
            if (!s->cfg.start.until_ms || now <= s->cfg.start.until_ms || s->ended ||
                !s->live_sent || is_closed(s))
                continue;
            atomic_fetch_add(&s->refs, 1);
            cand[n++] = s;
        }
    }
    pthread_rwlock_unlock(&b->index_lock);
    bool routed[2] = {true, true};
    for (int src = 0; src < 2 && n > 0; src++) {
        uint64_t last = 0;
        fv_err err = {{0}};
        if (fv_js_stream_state(b, (fv_source)src, NULL, &last, NULL, &err) != FV_OK ||
            atomic_load(&b->live[src].dispatched) < last)
            routed[src] = false;
    }
    for (int i = 0; i < n; i++) {
        fv_js_sub *s = cand[i];
        pthread_mutex_lock(&s->mu);
        bool ok = !s->ended && !is_closed(s) && !get_paused(s);
        for (int src = 0; src < 2; src++)
            if (s->s[src].wanted && (!routed[src] || s->s[src].mode != FV_JS_MODE_LIVE))
                ok = false;
        if (ok && send_ctl(s, FV_MSG_END, NULL) != FV_SUB_PAUSE)
            s->ended = true;
        pthread_mutex_unlock(&s->mu);
        fv_js_sub_unref(s);
    }
}

static void *reaper_main(void *arg)
{
    fv_js_bus *b = arg;
    pthread_mutex_lock(&b->cu_mu);
    for (;;) {
        if (!b->reap_head && !b->cu_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 250 * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            if (pthread_cond_timedwait(&b->cu_cv, &b->cu_mu, &ts) != 0 && !b->reap_head &&
                !b->cu_stop) {
                pthread_mutex_unlock(&b->cu_mu);
                end_expired(b);
                pthread_mutex_lock(&b->cu_mu);
            }
            continue;
        }
        fv_js_sub *s = b->reap_head;
        if (!s)
            break; /* stopping and nothing left */
        b->reap_head = s->reap_next;
        pthread_mutex_unlock(&b->cu_mu);
        fv_js_index_remove(b, s);
        fv_js_sub_unref(s); /* the subscription's own reference */
        pthread_mutex_lock(&b->cu_mu);
    }
    pthread_mutex_unlock(&b->cu_mu);
    return NULL;
}

fv_status fv_js_catchup_start(fv_js_bus *b, fv_err *err)
{
    pthread_mutex_init(&b->cu_mu, NULL);
    pthread_cond_init(&b->cu_cv, NULL);
    b->cu_threads = calloc((size_t)b->base.cfg.max_catchups, sizeof *b->cu_threads);
    if (!b->cu_threads)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    if (pthread_create(&b->reaper, NULL, reaper_main, b) != 0)
        return fv_err_set(err, FV_ENOMEM, "cannot start the reaper thread");
    b->reaper_started = true;
    return FV_OK;
}

/* after the live threads stopped: nothing delivers any more */
void fv_js_catchup_stop(fv_js_bus *b)
{
    if (!b->cu_threads)
        return;
    pthread_mutex_lock(&b->cu_mu);
    b->cu_stop = true;
    pthread_cond_broadcast(&b->cu_cv);
    pthread_mutex_unlock(&b->cu_mu);
    for (int i = 0; i < b->cu_nthreads; i++)
        pthread_join(b->cu_threads[i], NULL);
    if (b->reaper_started)
        pthread_join(b->reaper, NULL);
    /* drop what is still queued, then release subscriptions never closed */
    while (b->cu_head) {
        fv_js_sub *s = b->cu_head;
        b->cu_head = s->queue_next;
        s->queued = false;
        fv_js_sub_unref(s);
    }
    for (size_t i = 0; i < FV_JS_INDEX_BUCKETS; i++) {
        while (b->index[i]) {
            fv_js_sub *s = b->index[i];
            b->index[i] = s->index_next;
            atomic_store(&s->closed, true);
            fv_js_sub_unref(s);
        }
    }
    free(b->cu_threads);
    b->cu_threads = NULL;
    pthread_mutex_destroy(&b->cu_mu);
    pthread_cond_destroy(&b->cu_cv);
}

void fv_js_sub_unref(fv_js_sub *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (int i = 0; i < 2; i++) {
        buf_clear(&s->s[i]);
        free(s->s[i].buf);
    }
    void (*rel)(void *) = s->cfg.on_release;
    void *ud = s->cfg.ud;
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->gate);
    free(s);
    if (rel)
        rel(ud);
}

/* --- where a subscription or read starts (CONTRACT §4) ---------------------------------------- */
typedef struct start_plan {
    uint64_t pos[2];  /* cursor position before the first delivery */
    uint64_t next[2]; /* first sequence to read (0: by `from`) */
    fv_js_rd_from from[2];
    bool no_fetch[2];
    bool gap;
    fv_cursor gap_requested, gap_from;
} start_plan;

#define STATE_CACHE_MS 250

static fv_status plan_start(fv_js_bus *b, const fv_start *st, const bool want[2], uint64_t epoch,
                            start_plan *p, fv_err *err)
{
    memset(p, 0, sizeof *p);
    uint64_t floor[2] = {0, 0}, last[2] = {0, 0};
    int64_t first_ms[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        if (!want[i])
            continue;
        uint64_t first = 0;
        /* A start from a known position only needs the retained floor, and a copy a quarter of
         * a second old is as good as the answer the server would give a moment before the
         * consumer exists. NEW needs the true last sequence: where "after the call" begins. */
        fv_status rc =
            st->kind == FV_START_NEW
                ? fv_js_stream_state_ex(b, (fv_source)i, &first, &last[i], NULL, &first_ms[i], err)
                : fv_js_stream_state_recent(b, (fv_source)i, STATE_CACHE_MS, &first, &last[i],
                                            &first_ms[i], err);
        if (rc != FV_OK)
            return rc;
        floor[i] = first > 0 ? first - 1 : 0;
    }
    switch (st->kind) {
    case FV_START_NEW:
        for (int i = 0; i < 2; i++) {
            p->pos[i] = last[i];
            p->no_fetch[i] = true;
        }
        break;
    case FV_START_CURSOR:
        p->gap_requested = st->cursor;
        if (st->cursor.epoch != epoch) {
            p->gap = true;
            p->pos[0] = floor[0];
            p->pos[1] = floor[1];
        } else {
            p->pos[0] = st->cursor.events_seq;
            p->pos[1] = st->cursor.streams_seq;
        }
        break;
    case FV_START_SEQ:
        p->gap_requested = (fv_cursor){st->events_seq ? st->events_seq - 1 : 0,
                                       st->streams_seq ? st->streams_seq - 1 : 0, epoch};
        p->pos[0] = st->events_seq ? st->events_seq - 1 : floor[0];
        p->pos[1] = st->streams_seq ? st->streams_seq - 1 : floor[1];
        break;
    case FV_START_FIRST:
        p->pos[0] = st->events_seq > floor[0] ? st->events_seq - 1 : floor[0];
        p->pos[1] = st->streams_seq > floor[1] ? st->streams_seq - 1 : floor[1];
        break;
    case FV_START_TIME:
        p->gap_requested.epoch = epoch;
        for (int i = 0; i < 2; i++) {
            p->pos[i] = floor[i];
            if (!want[i])
                continue;
            /* something stored after the requested time may already be gone */
            if (floor[i] > 0 && first_ms[i] >= st->time_ms)
                p->gap = true;
            uint64_t at = 0;
            fv_status rc = fv_js_seq_at_time(b, (fv_source)i, st->time_ms, &at, err);
            if (rc != FV_OK)
                return rc;
            if (at > 0 && at - 1 > p->pos[i])
                p->pos[i] = at - 1;
        }
        break;
    }
    for (int i = 0; i < 2; i++) {
        if (!want[i]) {
            p->pos[i] = 0;
            continue;
        }
        if (st->kind == FV_START_CURSOR || st->kind == FV_START_SEQ) {
            if (p->pos[i] < floor[i]) { /* before retained history */
                p->pos[i] = floor[i];
                p->gap = true;
            }
        }
        p->from[i] = FV_RD_SEQ;
        p->next[i] = p->pos[i] + 1;
    }
    if (!want[0])
        p->gap_requested.events_seq = 0;
    if (!want[1])
        p->gap_requested.streams_seq = 0;
    p->gap_from = (fv_cursor){p->pos[0], p->pos[1], epoch};
    return FV_OK;
}

static fv_status filters(fv_js_bus *b, const fv_pattern *p, bool want[2],
                         char f[2][FV_SUBJECT_MAX + 1], fv_err *err)
{
    want[0] = fv_pattern_wants_events(p);
    want[1] = fv_pattern_wants_streams(p);
    if (want[0] && fv_pattern_events_filter(p, b->base.prefix, f[0], FV_SUBJECT_MAX + 1) != FV_OK)
        return fv_err_set(err, FV_EINVAL, "pattern: cannot build the events filter");
    if (want[1] && fv_pattern_streams_filter(p, b->base.prefix, f[1], FV_SUBJECT_MAX + 1) != FV_OK)
        return fv_err_set(err, FV_EINVAL, "pattern: cannot build the streams filter");
    return FV_OK;
}

/* --- public ops ------------------------------------------------------------------------------- */
fv_status fv_js_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err)
{
    fv_js_bus *b = fv_js(bus);
    uint64_t epoch = bus->ops->epoch(bus);
    if (epoch == 0)
        return fv_err_set(err, FV_EUNAVAIL, "subscribe: JetStream streams are not available");
    fv_js_sub *s = calloc(1, sizeof *s);
    if (!s)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    s->base.bus = bus;
    s->bus = b;
    s->cfg = *cfg;
    if (s->cfg.max_catchup_batch == 0)
        s->cfg.max_catchup_batch = 256;
    if (s->cfg.max_catchup_batch > 4096)
        s->cfg.max_catchup_batch = 4096;
    s->pattern = cfg->pattern;
    s->epoch = epoch;
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->gate, NULL);
    bool want[2];
    char f[2][FV_SUBJECT_MAX + 1] = {"", ""};
    fv_status st = filters(b, &s->pattern, want, f, err);
    for (int i = 0; i < 2 && st == FV_OK; i++) {
        fv_js_srcstate *ss = &s->s[i];
        ss->wanted = want[i];
        ss->mode = FV_JS_MODE_CATCHUP;
        ss->capturing = want[i];
        memcpy(ss->filter, f[i], sizeof ss->filter);
        ss->filter[sizeof ss->filter - 1] = '\0';
        ss->buf_max = b->base.cfg.live_buffer_per_sub;
    }
    if (st != FV_OK) {
        s->cfg.on_release = NULL; /* the caller still owns ud */
        fv_js_sub_unref(s);
        return st;
    }
    st = fv_js_live_ensure(b, err);
    if (st == FV_OK)
        st = fv_js_live_wait(b, want, err);
    if (st != FV_OK) {
        s->cfg.on_release = NULL;
        fv_js_sub_unref(s);
        return st;
    }
    /* capture first, then look at the streams: nothing stored in between can be missed */
    fv_js_index_add(b, s);
    start_plan plan;
    st = plan_start(b, &cfg->start, want, epoch, &plan, err);
    if (st != FV_OK) {
        fv_js_index_remove(b, s);
        s->cfg.on_release = NULL;
        fv_js_sub_unref(s);
        return st;
    }
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < 2; i++) {
        fv_js_srcstate *ss = &s->s[i];
        ss->pos = plan.pos[i];
        ss->next_seq = plan.next[i];
        ss->from = plan.from[i];
        ss->from_time_ms = cfg->start.time_ms;
        ss->no_fetch = plan.no_fetch[i];
    }
    s->gap_pending = plan.gap;
    s->gap_requested = plan.gap_requested;
    s->gap_from = plan.gap_from;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&b->cu_mu);
    queue_push_locked(b, s);
    pthread_mutex_unlock(&b->cu_mu);
    *out = &s->base;
    return FV_OK;
}

void fv_js_sub_resume(fv_sub *sub)
{
    fv_js_sub *s = (fv_js_sub *)sub;
    fv_js_bus *b = s->bus;
    set_paused(s, false);
    pthread_mutex_lock(&b->cu_mu);
    queue_push_locked(b, s);
    pthread_mutex_unlock(&b->cu_mu);
}

void fv_js_sub_close(fv_sub *sub)
{
    fv_js_sub *s = (fv_js_sub *)sub;
    fv_js_bus *b = s->bus;
    pthread_mutex_lock(&s->gate);
    bool was = atomic_exchange(&s->closed, true);
    pthread_mutex_unlock(&s->gate);
    if (was)
        return;
    pthread_mutex_lock(&b->cu_mu);
    s->reap_next = b->reap_head;
    b->reap_head = s;
    pthread_cond_broadcast(&b->cu_cv);
    pthread_mutex_unlock(&b->cu_mu);
}

bool fv_js_sub_catching_up(fv_sub *sub)
{
    fv_js_sub *s = (fv_js_sub *)sub;
    pthread_mutex_lock(&s->gate);
    bool paused = s->paused;
    pthread_mutex_unlock(&s->gate);
    if (paused)
        return true;
    for (int i = 0; i < 2; i++)
        if (s->s[i].wanted && s->s[i].mode != FV_JS_MODE_LIVE)
            return true;
    return false;
}

/* --- bounded read ----------------------------------------------------------------------------- */
typedef struct read_ctx {
    const fv_pattern *p;
    int (*cb)(void *ud, const fv_msg *m);
    void *ud;
    uint64_t pos[2];
    bool want[2];
    uint64_t epoch;
    size_t count, limit;
    int64_t until_ms;
    bool stopped; /* limit reached or the callback paused */
    bool at_last; /* this source passed what was stored when the read started */
    bool ended;   /* past `until` */
} read_ctx;

static fv_cursor read_cursor(const read_ctx *c)
{
    return (fv_cursor){c->want[0] ? c->pos[0] : 0, c->want[1] ? c->pos[1] : 0, c->epoch};
}

/* false: stop reading */
static bool read_one(read_ctx *c, fv_js_lmsg *lm)
{
    if (lm->seq <= c->pos[lm->src] && c->pos[lm->src] != 0)
        return true;
    if (c->until_ms && lm->stored_ms > c->until_ms) {
        c->ended = true;
        return false;
    }
    bool match = lm->decoded && (lm->src == FV_SRC_EVENTS ? fv_pattern_match_event(c->p, &lm->ev)
                                                          : fv_pattern_match_stream(c->p, &lm->se));
    if (match) {
        if (c->count >= c->limit) {
            c->stopped = true;
            return false;
        }
        fv_msg m;
        memset(&m, 0, sizeof m);
        m.kind = lm->src == FV_SRC_EVENTS ? FV_MSG_EVENT : FV_MSG_STREAM;
        m.source = lm->src;
        m.seq = lm->seq;
        m.stored_ms = lm->stored_ms;
        uint64_t save = c->pos[lm->src];
        c->pos[lm->src] = lm->seq;
        m.cursor = read_cursor(c);
        m.ev = lm->src == FV_SRC_EVENTS ? &lm->ev : NULL;
        m.se = lm->src == FV_SRC_STREAMS ? &lm->se : NULL;
        m.subject = lm->subject;
        if (c->cb(c->ud, &m) == FV_SUB_PAUSE) {
            c->pos[lm->src] = save;
            c->stopped = true;
            return false;
        }
        c->count++;
        return true;
    }
    c->pos[lm->src] = lm->seq;
    return true;
}

fv_status fv_js_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                     int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next, fv_err *err)
{
    fv_js_bus *b = fv_js(bus);
    uint64_t epoch = bus->ops->epoch(bus);
    if (epoch == 0)
        return fv_err_set(err, FV_EUNAVAIL, "read: JetStream streams are not available");
    read_ctx c = {
        .p = p, .cb = cb, .ud = ud, .epoch = epoch, .limit = limit, .until_ms = start->until_ms};
    char f[2][FV_SUBJECT_MAX + 1] = {"", ""};
    fv_status st = filters(b, p, c.want, f, err);
    if (st != FV_OK)
        return st;
    start_plan plan;
    st = plan_start(b, start, c.want, epoch, &plan, err);
    if (st != FV_OK)
        return st;
    c.pos[0] = plan.pos[0];
    c.pos[1] = plan.pos[1];
    if (next)
        *next = read_cursor(&c);
    if (plan.gap) {
        fv_msg m;
        memset(&m, 0, sizeof m);
        m.kind = FV_MSG_GAP;
        m.gap_requested = plan.gap_requested;
        m.gap_resumed_from = plan.gap_from;
        m.cursor = plan.gap_from;
        if (cb(ud, &m) == FV_SUB_PAUSE)
            return FV_OK;
    }
    for (int src = 0; src < 2 && !c.stopped && !c.ended; src++) {
        if (!c.want[src] || plan.no_fetch[src])
            continue;
        uint64_t last = 0;
        st = fv_js_stream_state(b, (fv_source)src, NULL, &last, NULL, err);
        if (st != FV_OK)
            return st;
        if (plan.from[src] == FV_RD_SEQ && plan.next[src] > last)
            continue;
        fv_js_reader r;
        st = fv_js_reader_open(b, (fv_source)src, f[src], plan.from[src], plan.next[src],
                               start->time_ms, &r, err);
        if (st != FV_OK)
            return st;
        while (!c.stopped && !c.ended) {
            natsMsgList list;
            st = fv_js_reader_fetch(&r, READ_BATCH, CU_EXPIRES_MS, &list, err);
            if (st != FV_OK)
                break;
            for (int i = 0; i < list.Count && !c.stopped && !c.ended; i++) {
                uint64_t seq = 0;
                int64_t stored = 0;
                if (!fv_js_msg_meta(list.Msgs[i], &seq, &stored))
                    continue;
                if (seq > last) {
                    /* a bounded read ends at what was stored when it started */
                    c.at_last = true;
                    break;
                }
                fv_js_lmsg *lm = fv_js_lmsg_from_nats(b, (fv_source)src, list.Msgs[i], seq, stored);
                if (!lm)
                    continue;
                read_one(&c, lm);
                fv_js_lmsg_unref(lm);
            }
            natsMsgList_Destroy(&list);
            if (r.at_end || c.at_last)
                break;
        }
        c.at_last = false;
        fv_js_reader_close(&r);
        if (st != FV_OK)
            return st;
        if (!c.stopped && !c.ended && c.pos[src] < last)
            c.pos[src] = last; /* every message of the filter up to `last` was seen */
    }
    if (next)
        *next = read_cursor(&c);
    if (!c.stopped) {
        fv_msg m;
        memset(&m, 0, sizeof m);
        m.kind = FV_MSG_END;
        m.cursor = read_cursor(&c);
        cb(ud, &m);
    }
    return FV_OK;
}
