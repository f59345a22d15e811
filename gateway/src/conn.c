/* conn.c - per-connection frame queue and suspend/resume; see conn.h.
 *
 * The rule that keeps MHD safe: `suspended` is set and MHD_suspend_connection is called together
 * under the lock (reader side), and only the thread that flips `suspended` back to false calls
 * MHD_resume_connection (outside the lock). A suspended connection is never closed by MHD, so the
 * MHD_Connection pointer is valid for that call; after the free callback `closed` stops everyone.
 */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "metrics.h"

/* MHD allocates a response buffer of this size per connection, but a chunked response is read
 * straight into the connection's write buffer (its pool), so the buffer only needs to exist:
 * measured 4 KiB less resident memory per idle stream than with 4096. */
#define FV_CONN_BLOCK 256

static atomic_long g_suspended;

long fv_conn_suspended_count(void)
{
    return atomic_load(&g_suspended);
}

void fv_conn_init(fv_conn *c, size_t limit, const fv_conn_ops *ops)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->refs, 1);
    c->ops = ops;
    c->limit = limit;
}

void fv_conn_ref(fv_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void fv_conn_unref(fv_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    fv_conn_item *it = c->head;
    while (it) {
        fv_conn_item *next = it->next;
        for (uint32_t i = it->first; i < it->n; i++)
            fv_frame_unref(it->e[i].body);
        free(it);
        it = next;
    }
    pthread_mutex_destroy(&c->mu);
    if (c->ops && c->ops->destroy)
        c->ops->destroy(c);
}

/* called with the lock held; returns true when the caller must resume after unlocking */
static bool take_resume(fv_conn *c)
{
    if (c->suspended && !c->closed) {
        c->suspended = false;
        return true;
    }
    return false;
}

/* g_suspended counts a connection until its resume call has returned, so shutdown never stops
 * the daemon while a producer is still inside MHD_resume_connection */
static void resume(fv_conn *c)
{
    MHD_resume_connection(c->mc);
    atomic_fetch_sub(&g_suspended, 1);
}

#define BLOCK_FIRST 2 /* entries in a connection's first block: one live event, rarely more */
#define BLOCK_MORE 32 /* entries in a block behind another one: catch-up turns */

static fv_conn_item *block_new(uint32_t cap)
{
    fv_conn_item *it = malloc(sizeof *it + cap * sizeof it->e[0]);
    if (it) {
        it->next = NULL;
        it->n = it->first = 0;
        it->cap = cap;
    }
    return it;
}

/* lock held: the entry the next frame goes into, or NULL when a new block must be linked */
static fv_conn_entry *tail_slot(fv_conn *c)
{
    return c->tail && c->tail->n < c->tail->cap ? &c->tail->e[c->tail->n] : NULL;
}

/* lock held: links a block behind the tail */
static void link_block(fv_conn *c, fv_conn_item *it)
{
    if (c->tail)
        c->tail->next = it;
    else
        c->head = it;
    c->tail = it;
}

fv_status fv_conn_push(fv_conn *c, const char *head, size_t head_len, fv_frame *body, size_t slack,
                       bool pause_if_full)
{
    if (head_len > sizeof((fv_conn_entry *)0)->head)
        return FV_EINVAL;
    size_t n = head_len + (body ? body->len : 0);
    fv_conn_item *spare = NULL;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->closed || c->done) {
            pthread_mutex_unlock(&c->mu);
            free(spare);
            return FV_ECLOSED;
        }
        /* an event larger than the whole queue still goes out alone, or it would block its
         * stream forever (events may carry up to 1 MiB of data; the queue default is 256 KiB) */
        if (c->bytes > 0 && c->bytes + n > c->limit + slack) {
            if (pause_if_full)
                c->paused = true;
            pthread_mutex_unlock(&c->mu);
            free(spare);
            return FV_EFULL;
        }
        if (tail_slot(c))
            break;
        if (spare) {
            link_block(c, spare);
            spare = NULL;
            break;
        }
        /* no room: allocate outside the lock, then look again (the queue may have moved) */
        uint32_t cap = c->tail ? BLOCK_MORE : BLOCK_FIRST;
        pthread_mutex_unlock(&c->mu);
        spare = block_new(cap);
        if (!spare)
            return FV_ENOMEM;
        pthread_mutex_lock(&c->mu);
    }
    fv_conn_entry *e = tail_slot(c);
    e->head_len = (uint8_t)head_len;
    if (head_len)
        memcpy(e->head, head, head_len);
    e->body = fv_frame_ref(body);
    c->tail->n++;
    c->bytes += n;
    bool r = take_resume(c);
    if (r)
        fv_conn_ref(c);
    pthread_mutex_unlock(&c->mu);
    free(spare);
    if (r) {
        resume(c);
        fv_conn_unref(c);
    }
    return FV_OK;
}

fv_status fv_conn_push_bytes(fv_conn *c, const char *p, size_t n, size_t slack)
{
    fv_frame *f = fv_frame_new(p, n);
    if (!f)
        return FV_ENOMEM;
    fv_status st = fv_conn_push(c, NULL, 0, f, slack, false);
    fv_frame_unref(f);
    return st;
}

bool fv_conn_finish(fv_conn *c, const char *last, size_t n)
{
    fv_frame *f = last && n ? fv_frame_new(last, n) : NULL;
    fv_conn_item *it = f ? block_new(1) : NULL;
    pthread_mutex_lock(&c->mu);
    bool first = !c->done && !c->closed;
    if (first) {
        c->done = true;
        fv_conn_entry *e = f ? tail_slot(c) : NULL;
        if (f && !e && it) {
            link_block(c, it);
            it = NULL;
            e = tail_slot(c);
        }
        if (e) {
            e->head_len = 0;
            e->body = f;
            f = NULL;
            c->tail->n++;
            c->bytes += n;
        }
    }
    bool r = take_resume(c);
    if (r)
        fv_conn_ref(c);
    pthread_mutex_unlock(&c->mu);
    free(it);
    fv_frame_unref(f);
    if (r) {
        resume(c);
        fv_conn_unref(c);
    }
    return first;
}

bool fv_conn_is_done(fv_conn *c)
{
    pthread_mutex_lock(&c->mu);
    bool d = c->done || c->closed;
    pthread_mutex_unlock(&c->mu);
    return d;
}

bool fv_conn_is_paused_with_room(fv_conn *c)
{
    pthread_mutex_lock(&c->mu);
    bool p = c->paused && !c->closed && !c->done && c->bytes <= c->limit / 2;
    pthread_mutex_unlock(&c->mu);
    return p;
}

size_t fv_conn_queued(fv_conn *c)
{
    pthread_mutex_lock(&c->mu);
    size_t b = c->bytes;
    pthread_mutex_unlock(&c->mu);
    return b;
}

/* copies queued bytes into buf; called with the lock held */
static size_t copy_locked(fv_conn *c, char *buf, size_t max)
{
    size_t w = 0;
    while (c->head && w < max) {
        fv_conn_item *it = c->head;
        if (it->first == it->n) { /* written out (or an empty tail: keep that one) */
            if (it == c->tail)
                break;
            c->head = it->next;
            free(it);
            continue;
        }
        fv_conn_entry *e = &it->e[it->first];
        size_t total = e->head_len + (e->body ? e->body->len : 0);
        while (c->head_off < total && w < max) {
            size_t off = c->head_off, k;
            if (off < e->head_len) {
                k = e->head_len - off;
                if (k > max - w)
                    k = max - w;
                memcpy(buf + w, e->head + off, k);
            } else {
                off -= e->head_len;
                k = e->body->len - off;
                if (k > max - w)
                    k = max - w;
                memcpy(buf + w, e->body->data + off, k);
            }
            w += k;
            c->head_off += k;
        }
        if (c->head_off < total)
            break;
        c->head_off = 0;
        c->bytes -= total;
        fv_frame_unref(e->body);
        e->body = NULL;
        it->first++;
    }
    /* a fully written queue gives its last block back too: idle connections hold no block */
    if (c->head && c->head == c->tail && c->head->first == c->head->n) {
        free(c->head);
        c->head = c->tail = NULL;
    }
    return w;
}

long fv_conn_take(fv_conn *c, char *buf, size_t max)
{
    pthread_mutex_lock(&c->mu);
    size_t w = copy_locked(c, buf, max);
    bool end = w == 0 && (c->done || c->closed);
    pthread_mutex_unlock(&c->mu);
    return end ? -1 : (long)w;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    fv_conn *c = cls;
    (void)pos;
    pthread_mutex_lock(&c->mu);
    size_t w = copy_locked(c, buf, max);
    if (w > 0) {
        c->bytes_sent += w;
        atomic_fetch_add_explicit(&fv_gw_metrics.bytes_sent, w, memory_order_relaxed);
        bool drain = c->paused && c->bytes <= c->limit / 2 && !c->done;
        if (drain)
            c->paused = false;
        pthread_mutex_unlock(&c->mu);
        if (drain && c->ops->on_drain)
            c->ops->on_drain(c);
        return (ssize_t)w;
    }
    if (c->done) {
        pthread_mutex_unlock(&c->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* empty: suspend under the lock, so a producer either sees `suspended` (and resumes) or
     * appended before we looked */
    c->suspended = true;
    atomic_fetch_add(&g_suspended, 1);
    MHD_suspend_connection(c->mc);
    bool drain = c->paused;
    if (drain)
        c->paused = false;
    pthread_mutex_unlock(&c->mu);
    if (drain && c->ops->on_drain)
        c->ops->on_drain(c);
    return 0;
}

static void reader_free(void *cls)
{
    fv_conn *c = cls;
    pthread_mutex_lock(&c->mu);
    c->closed = true;
    if (c->suspended) { /* only possible when the daemon stops */
        c->suspended = false;
        atomic_fetch_sub(&g_suspended, 1);
    }
    pthread_mutex_unlock(&c->mu);
    if (c->ops->on_closed)
        c->ops->on_closed(c);
    fv_conn_unref(c);
}

struct MHD_Response *fv_conn_response(fv_conn *c, struct MHD_Connection *mc)
{
    c->mc = mc;
    fv_conn_ref(c);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, FV_CONN_BLOCK, reader, c, reader_free);
    if (!r) {
        fv_conn_unref(c);
        return NULL;
    }
    return r;
}
