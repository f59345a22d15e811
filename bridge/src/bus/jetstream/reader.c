/* reader.c - reading stored history: one ephemeral pull consumer from a start point, the
 * engine's reads built on it, and the engine records decoded from stored messages.
 *
 * The consumer is the narrowest one JetStream offers: one filter subject (nats-server 2.9 ignores
 * a filter list), no acks (AckNone: nothing to redeliver), consumer state in memory, and
 * InactiveThreshold 30 s so a crashed reader's consumer disappears on its own. Pulls use
 * FetchRequest with NoWait and Expires (3.4.1's Fetch ignores its timeout), so reaching the end
 * of the stream is an immediate answer, not a wait. The stream sequence, store time and pending
 * count come from the message's ack subject ($JS.ACK...), parsed in place: no allocation per
 * message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetstream_internal.h"
#include "flovyn/log.h"

#define NS_PER_MS 1000000LL

/* $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>            (v1)
 * $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.<r>
 */
static bool parse_ack_subject(const char *reply, uint64_t *delivered, uint64_t *sseq,
                              int64_t *ts_ns, uint64_t *pending)
{
    if (!reply || strncmp(reply, "$JS.ACK.", 8) != 0)
        return false;
    const char *tok[16];
    int n = 0;
    const char *p = reply;
    tok[n++] = p;
    for (; *p && n < 16; p++)
        if (*p == '.')
            tok[n++] = p + 1;
    int base;
    if (n == 9)
        base = 4;
    else if (n >= 11)
        base = 6;
    else
        return false;
    uint64_t v[5];
    for (int i = 0; i < 5; i++) {
        char *end = NULL;
        v[i] = strtoull(tok[base + i], &end, 10);
        if (end == tok[base + i] || (*end != '.' && *end != '\0'))
            return false;
    }
    if (delivered)
        *delivered = v[0];
    if (sseq)
        *sseq = v[1];
    if (ts_ns)
        *ts_ns = (int64_t)v[3];
    if (pending)
        *pending = v[4];
    return true;
}

bool fv__js_msg_meta(natsMsg *m, uint64_t *seq, int64_t *stored_ms)
{
    int64_t ts = 0;
    if (!parse_ack_subject(natsMsg_GetReply(m), NULL, seq, &ts, NULL))
        return false;
    if (stored_ms)
        *stored_ms = ts / NS_PER_MS;
    return true;
}

bool fv__js_msg_meta_full(natsMsg *m, uint64_t *seq, int64_t *stored_ms, uint64_t *delivered,
                          uint64_t *pending)
{
    int64_t ts = 0;
    if (!parse_ack_subject(natsMsg_GetReply(m), delivered, seq, &ts, pending))
        return false;
    if (stored_ms)
        *stored_ms = ts / NS_PER_MS;
    return true;
}

fv_status fv__js_reader_open(fv__js_bus *b, fv_source src, const char *filter, uint64_t seq,
                             fv__js_reader *r, fv_err *err)
{
    memset(r, 0, sizeof *r);
    r->bus = b;
    r->src = src;
    r->seen = seq > 0 ? seq - 1 : 0;
    r->whole = filter == NULL;
    char all[FV_SUBJECT_MAX];
    if (r->whole) {
        fv__js_subject_all(b, src, all, sizeof all);
        filter = all;
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = fv__js_stream_name(src);
    so.Config.AckPolicy = js_AckNone;
    so.Config.InactiveThreshold = 30LL * 1000 * NS_PER_MS;
    so.Config.MemoryStorage = true;
    so.Config.FilterSubject = filter;
    /* always from a known sequence: a start time becomes one first (fv__js_seq_at_time) */
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = seq > 0 ? seq : 1;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&r->sub, b->js, filter, NULL, NULL, &so, &jerr);
    if (s != NATS_OK) {
        r->sub = NULL;
        return fv__js_nats_err(err, s, jerr, "catch-up consumer");
    }
    /* a large fetch must never be dropped as a slow consumer */
    natsSubscription_SetPendingLimits(r->sub, -1, -1);
    return FV_OK;
}

/* An ephemeral consumer counts what is pending from the stream as its own server holds it. On a
 * replica still catching up (a node just restarted) it reports the end while the stream's leader
 * has stored more: the cluster test caught a read that took such an end for the truth and skipped
 * fifteen events. For a whole-stream reader the claim is checked against the leader: an end is
 * real when nothing was stored past what the reader has seen, or when messages were deleted
 * (which ones is not asked: the claim is taken). An unanswered check proves nothing either. */
#define BEHIND_ANSWERS_MAX 15

static fv_status claim_end(fv__js_reader *r, fv_err *err)
{
    if (!r->whole) {
        r->at_end = true;
        return FV_OK;
    }
    fv__js_stream_stat s = {0};
    fv_err serr = {{0}};
    fv_status st = fv__js_stream_stat_get(r->bus, r->src, 0, &s, &serr);
    if (st == FV_OK && (s.last <= r->seen || s.deleted > 0)) {
        r->behind_answers = 0;
        r->at_end = true;
        return FV_OK;
    }
    if (++r->behind_answers > BEHIND_ANSWERS_MAX)
        return fv_err_set(err, FV_EUNAVAIL,
                          "read of %s: its consumer stays behind the stream (seen %llu, stored "
                          "%llu)",
                          fv__js_stream_name(r->src), (unsigned long long)r->seen,
                          (unsigned long long)s.last);
    r->wait_next = true; /* a waiting pull: it answers once the replica has the next one */
    return FV_OK;
}

fv_status fv__js_reader_fetch(fv__js_reader *r, int batch, int expires_ms, natsMsgList *list,
                              fv_err *err)
{
    memset(list, 0, sizeof *list);
    jsFetchRequest fr;
    jsFetchRequest_Init(&fr);
    /* NoWait answers at once; after an empty answer that the consumer contradicts (it still
     * counts pending messages), wait - but for one message only: a waiting pull of a whole batch
     * would not return before the batch is full or the request expires */
    fr.Batch = r->wait_next ? 1 : batch;
    fr.NoWait = !r->wait_next;
    fr.Expires = (int64_t)expires_ms * NS_PER_MS;
    natsStatus s = natsSubscription_FetchRequest(list, r->sub, &fr);
    r->wait_next = false;
    if (s != NATS_OK && s != NATS_TIMEOUT && s != NATS_NOT_FOUND)
        return fv__js_nats_err(err, s, 0, "catch-up fetch");
    if (s != NATS_OK || list->Count == 0) {
        natsMsgList_Destroy(list);
        memset(list, 0, sizeof *list);
        /* an empty answer alone is not proof of the end: ask the consumer */
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        s = natsSubscription_GetConsumerInfo(&ci, r->sub, NULL, &jerr);
        if (s != NATS_OK)
            return fv__js_nats_err(err, s, jerr, "catch-up consumer info");
        bool done = ci->NumPending == 0;
        if (ci->Delivered.Stream > r->seen)
            r->seen = ci->Delivered.Stream;
        jsConsumerInfo_Destroy(ci);
        if (done)
            return claim_end(r, err);
        if (++r->empty_answers > 50)
            return fv_err_set(err, FV_EIO, "catch-up: the consumer keeps answering empty");
        r->wait_next = true;
        return FV_OK;
    }
    r->empty_answers = 0;
    r->behind_answers = 0; /* progress */
    /* "fewer than asked" is not proof of the end either; the last message's pending count is */
    uint64_t pending = 1, seq = 0;
    if (parse_ack_subject(natsMsg_GetReply(list->Msgs[list->Count - 1]), NULL, &seq, NULL,
                          &pending)) {
        if (seq > r->seen)
            r->seen = seq;
        if (pending > 0 && atomic_load(&r->bus->debug_false_ends) > 0) {
            atomic_fetch_sub(&r->bus->debug_false_ends, 1);
            pending = 0;
        }
        fv_err ignored = {{0}}; /* not the end yet: what came is handed on all the same */
        if (pending == 0)
            (void)claim_end(r, &ignored);
    }
    return FV_OK;
}

/* nats-server 2.9.10 (file storage) sometimes starts a DeliverByStartTime consumer at the end of
 * the stream (measured: 26 of 200 fresh consumers), which would silently skip history. So a time
 * becomes a sequence here, by binary search over direct gets ("first message at or after seq"):
 * about log2(messages) requests, and holes in the sequence cost nothing extra. */
fv_status fv__js_seq_at_time(fv__js_bus *b, fv_source src, int64_t time_ms, uint64_t *out,
                             fv_err *err)
{
    fv__js_stream_stat stat = {0};
    fv_status st = fv__js_stream_stat_get(b, src, 0, &stat, err);
    if (st != FV_OK)
        return st;
    uint64_t first = stat.first, last = stat.last;
    char all[FV_SUBJECT_MAX];
    fv__js_subject_all(b, src, all, sizeof all);
    int64_t want_ns = time_ms * NS_PER_MS;
    uint64_t best = last + 1;
    uint64_t lo = first > 0 ? first : 1, hi = last;
    for (int guard = 0; lo <= hi && guard < 128; guard++) {
        uint64_t mid = lo + (hi - lo) / 2;
        jsDirectGetMsgOptions o;
        jsDirectGetMsgOptions_Init(&o);
        o.Sequence = mid;
        o.NextBySubject = all;
        natsMsg *m = NULL;
        natsStatus s = js_DirectGetMsg(&m, b->js, fv__js_stream_name(src), NULL, &o);
        if (s == NATS_NOT_FOUND) {
            if (mid == 0)
                break;
            hi = mid - 1;
            continue;
        }
        if (s != NATS_OK)
            return fv__js_nats_err(err, s, 0, "time lookup");
        uint64_t seq = natsMsg_GetSequence(m);
        int64_t t = natsMsg_GetTime(m);
        natsMsg_Destroy(m);
        if (seq < mid) /* never expected; avoid looping */
            seq = mid;
        if (seq > hi || t >= want_ns) {
            if (seq <= hi && seq < best)
                best = seq;
            if (mid == 0)
                break;
            hi = mid - 1;
        } else {
            lo = seq + 1;
        }
    }
    *out = best;
    return FV_OK;
}

void fv__js_reader_close(fv__js_reader *r)
{
    if (!r->sub)
        return;
    /* Unsubscribe deletes the ephemeral consumer now instead of after InactiveThreshold */
    natsSubscription_Unsubscribe(r->sub);
    natsSubscription_Destroy(r->sub);
    r->sub = NULL;
}

/* --- records and the engine's reads ----------------------------------------------------------- */

#define SKIP_LOG_PERIOD_MS 10000

/* A stored message readers skip is counted by reason and logged, at most one line per period per
 * bus with the number skipped since the previous line: a producer writing bad messages in a loop
 * must not flood the log, and the count in /metrics is exact anyway. */
static void report_skip(fv__js_bus *b, fv_source src, uint64_t seq, const char *subject,
                        fv_stored_reason why, const fv_err *err)
{
    atomic_fetch_add(&b->st.skipped[why], 1);
    uint64_t n = 0;
    if (!fv_log_limit_take(&b->st.skip_log, SKIP_LOG_PERIOD_MS, &n))
        return;
    char seqs[24], count[24];
    snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)seq);
    snprintf(count, sizeof count, "%llu", (unsigned long long)n);
    fv_log(FV_LOG_WARN, "bus", "stored message skipped: readers never serve it", "stream",
           fv__js_stream_name(src), "seq", seqs, "subject", subject, "reason",
           fv_stored_reason_name(why), "error", err->msg, "skipped_since_last_line", count, NULL);
}

typedef struct stored_lookup {
    fv__js_bus *b;
    fv_source src;
    uint64_t seq;
    int64_t fallback_ms;
} stored_lookup;

/* The live path gets no store time (nats-server 2.9 republishes without one): for a body that
 * leaves timestamp_ms out, it is asked of the stream, so a live delivery shows the same time as
 * a read of the store. */
static int64_t lookup_stored_time(void *ud)
{
    stored_lookup *l = ud;
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = l->seq;
    natsMsg *m = NULL;
    if (js_DirectGetMsg(&m, l->b->js, fv__js_stream_name(l->src), NULL, &o) != NATS_OK)
        return l->fallback_ms;
    int64_t t = natsMsg_GetTime(m) / NS_PER_MS;
    natsMsg_Destroy(m);
    return t > 0 ? t : l->fallback_ms;
}

void fv__js_stored_msg(natsMsg *m, fv_source src, uint64_t seq, int64_t stored_ms,
                       fv_stored_msg *out)
{
    /* republished messages carry their canonical subject in Nats-Subject */
    const char *subj = fv__js_header(m, "Nats-Subject");
    if (!subj)
        subj = natsMsg_GetSubject(m);
    *out = (fv_stored_msg){
        .is_stream = src == FV_SRC_STREAMS,
        .seq = seq,
        .subject = subj ? subj : "",
        .content_type = fv__js_header(m, "Content-Type"),
        .data = natsMsg_GetData(m),
        .len = (size_t)natsMsg_GetDataLength(m),
        .stored_ms = stored_ms,
    };
}

fv__rec *fv__js_rec_from_nats(fv__js_bus *b, fv_source src, natsMsg *m, uint64_t seq,
                              int64_t stored_ms, bool stored_exact)
{
    fv__rec *r = fv__rec_new(src);
    if (!r)
        return NULL;
    r->seq = seq;
    r->stored_ms = stored_ms;
    fv_stored_msg sm;
    fv__js_stored_msg(m, src, seq, stored_exact ? stored_ms : 0, &sm);
    stored_lookup look = {b, src, seq, stored_ms};
    sm.stored_time = lookup_stored_time;
    sm.ud = &look;
    const char *subj = sm.subject;
    fv_stored_reason why;
    fv_err err = {{0}};
    fv_status st =
        fv_stored_read(b->base.prefix, &sm, &b->base.cfg.limits, &r->ev, &r->se, &why, &err);
    r->decoded = st == FV_OK;
    /* skipped or not, the record keeps its place: its sequence still counts */
    if (st == FV_EINVAL)
        report_skip(b, src, seq, subj, why, &err);
    if (st == FV_ENOMEM || fv__rec_finish(r, subj) != FV_OK) {
        fv__rec_unref(r);
        return NULL;
    }
    return r;
}

typedef struct eng_reader {
    fv__js_bus *b;
    fv_source src;
    fv__js_reader r;
} eng_reader;

#define ENG_READ_EXPIRES_MS 2000

fv_status fv__js_eng_read_open(void *ctx, fv_source src, const char *filter, uint64_t from,
                               void **h, fv_err *err)
{
    fv__js_bus *b = ctx;
    *h = NULL;
    eng_reader *er = calloc(1, sizeof *er);
    if (!er)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    er->b = b;
    er->src = src;
    fv_status st = fv__js_reader_open(b, src, filter, from, &er->r, err);
    if (st != FV_OK) {
        free(er);
        return st;
    }
    *h = er;
    return FV_OK;
}

fv_status fv__js_eng_read_next(void *ctx, void *h, size_t max, fv__rec **out, size_t *n,
                               bool *at_end, fv_err *err)
{
    eng_reader *er = h;
    (void)ctx;
    *n = 0;
    *at_end = false;
    /* "at the end" was true when it was said: a reader used again asks again, or what was stored
     * since would be taken as absent */
    er->r.at_end = false;
    natsMsgList list;
    fv_status st = fv__js_reader_fetch(&er->r, (int)max, ENG_READ_EXPIRES_MS, &list, err);
    if (st != FV_OK)
        return st;
    for (int i = 0; i < list.Count && *n < max; i++) {
        uint64_t seq = 0;
        int64_t stored = 0;
        if (!fv__js_msg_meta(list.Msgs[i], &seq, &stored))
            continue;
        fv__rec *r = fv__js_rec_from_nats(er->b, er->src, list.Msgs[i], seq, stored, true);
        if (!r) {
            st = fv_err_set(err, FV_ENOMEM, "read: out of memory");
            break;
        }
        out[(*n)++] = r;
    }
    natsMsgList_Destroy(&list);
    if (st != FV_OK) {
        for (size_t i = 0; i < *n; i++)
            fv__rec_unref(out[i]);
        *n = 0;
        return st;
    }
    *at_end = er->r.at_end;
    return FV_OK;
}

void fv__js_eng_read_close(void *ctx, void *h)
{
    eng_reader *er = h;
    (void)ctx;
    if (!er)
        return;
    fv__js_reader_close(&er->r);
    free(er);
}
