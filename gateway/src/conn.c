/* conn.c - per-connection frame queue, the hand-over from libmicrohttpd, direct writes and the
 * connection loop; see conn.h.
 *
 * Rules that keep the socket safe: the descriptor is written, watched and closed only under the
 * connection's lock, and only while `fd` is set (between the hand-over and the close), so no
 * thread ever writes to a descriptor the kernel reused. The loop's epoll registration holds a
 * reference; a close (on any thread) takes the socket out of the epoll set and gives that
 * reference to the loop's graveyard, released by the loop thread after the events it already
 * fetched are handled, so an event never points at freed memory.
 *
 * Why this shape: waking MHD for each event (an eventfd write, a worker thread that walks the
 * whole suspended list, the content reader, a suspend again) cost more than the write itself and
 * added a thread hop to every delivery, and MHD's per-connection pool (8 KiB by default) stayed
 * allocated for the life of every idle stream (docs/decisions.md has the profile and figures).
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <microhttpd.h>

#include "flovyn/log.h"
#include "flovyn/units.h"
#include "metrics.h"

/* MHD allocates a response buffer of this size per connection; the reader never fills it (it
 * hands the socket over at its first call), so it only needs to exist */
#define FV_CONN_BLOCK 16
#define IOV_MAX_WRITE 128 /* iovecs per sendmsg: two per frame (its id line, its shared body) */
#define LOOP_EVENTS 256
#define LOOP_WAIT_MS 100
#define HANDOVER_RETRY_MS 5000 /* how long a take-over may wait for a free descriptor */

struct fv_conn_loop {
    int ep;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu; /* after a connection's lock, never before */
    fv_conn *open;      /* sockets open (each holds a reference) */
    size_t n;
    fv_conn **grave; /* closed: their reference is dropped by the loop thread */
    size_t ngrave, cgrave;
};

void fv_conn_init(fv_conn *c, size_t limit, const fv_conn_ops *ops, fv_conn_loop *loop)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->refs, 1);
    c->ops = ops;
    c->loop = loop;
    c->limit = limit;
    c->fd = -1;
}

void fv_conn_ref(fv_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

/* frees every queued entry (lock held, or the last reference) */
static void drop_queue(fv_conn *c)
{
    fv_conn_item *it = c->head;
    while (it) {
        fv_conn_item *next = it->next;
        for (uint32_t i = it->first; i < it->n; i++)
            fv_frame_unref(it->e[i].body);
        free(it);
        it = next;
    }
    c->head = c->tail = NULL;
    c->head_off = 0;
    c->bytes = 0;
}

void fv_conn_unref(fv_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    drop_queue(c);
    pthread_mutex_destroy(&c->mu);
    if (c->ops && c->ops->destroy)
        c->ops->destroy(c);
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

/* --- reading the queue ----------------------------------------------------------------------- */

/* The bytes of an entry: its id line, then its shared body. */
static size_t entry_len(const fv_conn_entry *e)
{
    return e->head_len + (e->body ? e->body->len : 0);
}

/* lock held: the first entry not yet fully written, dropping written-out blocks on the way (an
 * empty tail block is kept for the next append); NULL when nothing is queued */
static fv_conn_entry *front(fv_conn *c)
{
    while (c->head) {
        fv_conn_item *it = c->head;
        if (it->first < it->n)
            return &it->e[it->first];
        if (it == c->tail)
            return NULL;
        c->head = it->next;
        free(it);
    }
    return NULL;
}

/* lock held: k bytes from the front were written out */
static void consume(fv_conn *c, size_t k)
{
    c->bytes_sent += k;
    atomic_fetch_add_explicit(&fv_gw_metrics.bytes_sent, k, memory_order_relaxed);
    fv_conn_entry *e;
    while (k > 0 && (e = front(c))) {
        size_t left = entry_len(e) - c->head_off;
        if (k < left) {
            c->head_off += k;
            return;
        }
        k -= left;
        c->head_off = 0;
        c->bytes -= entry_len(e);
        fv_frame_unref(e->body);
        e->body = NULL;
        c->head->first++;
    }
    /* a fully written queue gives its last block back too: idle connections hold no block */
    if (c->head && !front(c)) {
        free(c->head);
        c->head = c->tail = NULL;
    }
}

/* lock held: up to max iovecs of queued bytes from the front; returns their count */
static int gather(fv_conn *c, struct iovec *iov, int max, size_t *total)
{
    int n = 0;
    size_t off = c->head_off;
    *total = 0;
    for (fv_conn_item *it = c->head; it && n + 2 <= max; it = it->next)
        for (uint32_t i = it->first; i < it->n && n + 2 <= max; i++) {
            fv_conn_entry *e = &it->e[i];
            if (off < e->head_len)
                iov[n++] = (struct iovec){e->head + off, e->head_len - off};
            size_t boff = off > e->head_len ? off - e->head_len : 0;
            if (e->body && boff < e->body->len)
                iov[n++] = (struct iovec){e->body->data + boff, e->body->len - boff};
            off = 0;
        }
    for (int k = 0; k < n; k++)
        *total += iov[k].iov_len;
    return n;
}

/* --- the socket ------------------------------------------------------------------------------ */

typedef enum { WR_ALL, WR_FULL, WR_FAILED } wr_result;

/* lock held, socket set: writes the queue until it is empty or the socket is full */
static wr_result write_locked(fv_conn *c)
{
    while (c->bytes > 0) {
        struct iovec iov[IOV_MAX_WRITE];
        size_t total;
        int n = gather(c, iov, IOV_MAX_WRITE, &total);
        if (n == 0)
            break;
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* the loop's edge-triggered EPOLLOUT fires once the socket drains */
                atomic_fetch_add_explicit(&fv_gw_metrics.socket_full, 1, memory_order_relaxed);
                return WR_FULL;
            }
            atomic_fetch_add(&fv_gw_metrics.write_failures, 1);
            return WR_FAILED;
        }
        consume(c, (size_t)w);
        atomic_fetch_add_explicit(&fv_gw_metrics.direct_writes, 1, memory_order_relaxed);
        /* a short write: the next call answers EAGAIN, which arms the loop's wake-up */
    }
    return WR_ALL;
}

/* lock held: the socket leaves the loop and closes; the loop's reference goes to its graveyard.
 * A stream that ends normally gets a FIN after its last bytes (what the client sent is read
 * away first, or the close would reset the connection and lose them). */
static void close_locked(fv_conn *c)
{
    fv_conn_loop *l = c->loop;
    if (!c->failed) {
        char sink[512];
        for (int i = 0; i < 16 && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) {
        }
        shutdown(c->fd, SHUT_WR);
    }
    epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->closed = true;
    drop_queue(c);
    pthread_mutex_lock(&l->mu);
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        l->open = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    c->lprev = c->lnext = NULL;
    l->n--;
    if (l->ngrave == l->cgrave) {
        size_t cap = l->cgrave ? l->cgrave * 2 : 64;
        fv_conn **g = realloc(l->grave, cap * sizeof *g);
        if (g) {
            l->grave = g;
            l->cgrave = cap;
        }
    }
    if (l->ngrave < l->cgrave)
        l->grave[l->ngrave++] = c;
    else
        c = NULL; /* no memory to defer: the reference is kept (leaked) rather than freed early */
    pthread_mutex_unlock(&l->mu);
}

/* lock held: writes what is queued (unless the socket is known full, or not ours yet) and closes
 * the socket when the stream is finished and written out, or the client failed. Returns true
 * when it closed: the caller runs on_closed after unlocking. */
static bool flush_locked(fv_conn *c)
{
    if (c->fd < 0)
        return false;
    if (!c->failed && !c->out_wait && c->bytes > 0) {
        wr_result r = write_locked(c);
        if (r == WR_FULL)
            c->out_wait = true;
        else if (r == WR_FAILED)
            c->failed = true;
    }
    if (c->failed || (c->done && c->bytes == 0)) {
        close_locked(c);
        return true;
    }
    return false;
}

/* lock held: the drain rule - a producer told to wait goes on once the queue is below half */
static bool take_drain(fv_conn *c)
{
    bool drain = c->paused && c->bytes <= c->limit / 2 && !c->done && !c->closed;
    if (drain)
        c->paused = false;
    return drain;
}

/* after unlocking: the follow-ups a flush asked for */
static void after_flush(fv_conn *c, bool closed_now, bool drain)
{
    if (closed_now && c->ops->on_closed)
        c->ops->on_closed(c);
    if (drain && c->ops->on_drain)
        c->ops->on_drain(c);
}

/* lock held: flush, then the drain rule */
static void flush_and_drain(fv_conn *c, bool *closed_now, bool *drain)
{
    *closed_now = flush_locked(c);
    *drain = take_drain(c);
}

/* --- the loop -------------------------------------------------------------------------------- */

static void grave_release(fv_conn_loop *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->ngrave;
    fv_conn **g = n ? malloc(n * sizeof *g) : NULL;
    if (g) {
        memcpy(g, l->grave, n * sizeof *g);
        l->ngrave = 0;
    }
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; g && i < n; i++)
        fv_conn_unref(g[i]);
    free(g);
}

static void on_event(fv_conn *c, uint32_t ev)
{
    bool closed_now = false, drain = false;
    pthread_mutex_lock(&c->mu);
    if (c->fd >= 0) {
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            /* the client went away: its stream ends now, not at the next heartbeat */
            atomic_fetch_add(&fv_gw_metrics.client_hangups, 1);
            c->failed = true;
            closed_now = flush_locked(c);
        } else if ((ev & EPOLLOUT) && c->out_wait) {
            /* room after a write found the socket full (the one set out_wait under this lock,
             * so the wake-up cannot be seen before it); other EPOLLOUT reports (the first, when
             * the socket joins) leave writing to the producers */
            c->out_wait = false;
            flush_and_drain(c, &closed_now, &drain);
        }
    }
    pthread_mutex_unlock(&c->mu);
    after_flush(c, closed_now, drain);
}

static void *loop_main(void *arg)
{
    fv_conn_loop *l = arg;
    struct epoll_event evs[LOOP_EVENTS];
    while (!atomic_load(&l->stop)) {
        int n = epoll_wait(l->ep, evs, LOOP_EVENTS, LOOP_WAIT_MS);
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
        grave_release(l); /* after the events fetched with them */
    }
    return NULL;
}

fv_status fv_conn_loop_create(fv_conn_loop **out)
{
    fv_conn_loop *l = calloc(1, sizeof *l);
    if (!l)
        return FV_ENOMEM;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        free(l);
        return FV_EIO;
    }
    pthread_mutex_init(&l->mu, NULL);
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        close(l->ep);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return FV_EIO;
    }
    *out = l;
    return FV_OK;
}

size_t fv_conn_loop_open(fv_conn_loop *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void fv_conn_loop_destroy(fv_conn_loop *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    /* every socket still open ends now (shutdown gave them their chance to flush) */
    for (;;) {
        pthread_mutex_lock(&l->mu);
        fv_conn *c = l->open;
        if (c)
            fv_conn_ref(c);
        pthread_mutex_unlock(&l->mu);
        if (!c)
            break;
        pthread_mutex_lock(&c->mu);
        bool closed_now = false;
        if (c->fd >= 0) {
            c->failed = true; /* no FIN after a partial frame: the client sees a reset */
            closed_now = flush_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
        after_flush(c, closed_now, false);
        fv_conn_unref(c);
    }
    grave_release(l);
    free(l->grave);
    close(l->ep);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

fv_status fv_conn_adopt(fv_conn *c, int fd)
{
    fv_conn_loop *l = c->loop;
    pthread_mutex_lock(&c->mu);
    if (c->closed || c->fd >= 0 || !l || atomic_load(&l->stop)) {
        pthread_mutex_unlock(&c->mu);
        close(fd);
        return FV_ECLOSED;
    }
    /* every write is a whole frame (or a round of them): send it now, never wait for more */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fv_conn_ref(c); /* the loop's */
    pthread_mutex_lock(&l->mu);
    c->lprev = NULL;
    c->lnext = l->open;
    if (l->open)
        l->open->lprev = c;
    l->open = c;
    l->n++;
    pthread_mutex_unlock(&l->mu);
    c->fd = fd;
    c->handed = true;
    /* edge-triggered: a wake-up for room only after a write found the socket full */
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        c->failed = true; /* closed just below, as a failed client */
    bool closed_now, drain;
    flush_and_drain(c, &closed_now, &drain);
    pthread_mutex_unlock(&c->mu);
    after_flush(c, closed_now, drain);
    return FV_OK;
}

/* --- writing to the queue -------------------------------------------------------------------- */

/* lock held: the connection joins the batch; false when the batch cannot grow */
static bool batch_add(fv_conn_batch *b, fv_conn *c)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        fv_conn **v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return false;
        b->v = v;
        b->cap = cap;
    }
    fv_conn_ref(c);
    c->batched = true;
    b->v[b->n++] = c;
    return true;
}

fv_status fv_conn_push(fv_conn *c, const char *head, size_t head_len, fv_frame *body, size_t slack,
                       bool pause_if_full, fv_conn_batch *batch)
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
    /* with a batch the write waits for the round's flush (one write for all the round's frames);
     * a socket not ours yet, or full, is written by the hand-over or the loop */
    bool closed_now = false, drain = false;
    bool deferred = batch && (c->batched || (c->fd >= 0 && !c->out_wait && batch_add(batch, c)));
    if (!deferred)
        flush_and_drain(c, &closed_now, &drain);
    pthread_mutex_unlock(&c->mu);
    free(spare);
    after_flush(c, closed_now, drain);
    return FV_OK;
}

void fv_conn_batch_flush(fv_conn_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        fv_conn *c = b->v[i];
        bool closed_now, drain;
        pthread_mutex_lock(&c->mu);
        c->batched = false;
        flush_and_drain(c, &closed_now, &drain);
        pthread_mutex_unlock(&c->mu);
        after_flush(c, closed_now, drain);
        fv_conn_unref(c); /* the batch's */
    }
    b->n = 0;
}

void fv_conn_batch_free(fv_conn_batch *b)
{
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

fv_status fv_conn_push_bytes(fv_conn *c, const char *p, size_t n, size_t slack)
{
    fv_frame *f = fv_frame_new(p, n);
    if (!f)
        return FV_ENOMEM;
    fv_status st = fv_conn_push(c, NULL, 0, f, slack, false, NULL);
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
        c->done_ms = fv_monotonic_ms();
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
    /* the last bytes go out now and the socket closes behind them (a batch holding this
     * connection finds it closed) */
    bool closed_now = flush_locked(c);
    pthread_mutex_unlock(&c->mu);
    free(it);
    fv_frame_unref(f);
    after_flush(c, closed_now, false);
    return first;
}

void fv_conn_expire(fv_conn *c, int64_t now_ms, int64_t grace_ms)
{
    bool closed_now = false;
    pthread_mutex_lock(&c->mu);
    if (c->done && c->fd >= 0 && now_ms - c->done_ms >= grace_ms) {
        c->failed = true;
        closed_now = flush_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
    after_flush(c, closed_now, false);
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

long fv_conn_take(fv_conn *c, char *buf, size_t max)
{
    pthread_mutex_lock(&c->mu);
    struct iovec iov[IOV_MAX_WRITE];
    size_t total, w = 0;
    int n = gather(c, iov, IOV_MAX_WRITE, &total);
    for (int k = 0; k < n && w < max; k++) {
        size_t m = iov[k].iov_len < max - w ? iov[k].iov_len : max - w;
        memcpy(buf + w, iov[k].iov_base, m);
        w += m;
    }
    if (w)
        consume(c, w);
    bool end = w == 0 && (c->done || c->closed);
    pthread_mutex_unlock(&c->mu);
    return end ? -1 : (long)w;
}

/* --- libmicrohttpd -----------------------------------------------------------------------------
 */

/* MHD's content reader, called once the response headers went out: the first call hands the
 * socket over (a duplicate of MHD's descriptor), the second ends MHD's body so it frees its side.
 */
static fv_log_limit g_handover_log;

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    fv_conn *c = cls;
    (void)pos;
    (void)buf;
    (void)max;
    if (c->handed) /* written by this thread, in fv_conn_adopt */
        return MHD_CONTENT_READER_END_OF_STREAM;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
        /* In a burst of opens MHD holds the descriptors of the streams it handed over until the
         * end of its turn: answering 0 brings this connection back at the next turn, when they
         * are released. Bounded, for a process that is really out of descriptors. */
        int64_t now = fv_monotonic_ms();
        if (c->handover_since == 0)
            c->handover_since = now;
        if (now - c->handover_since < HANDOVER_RETRY_MS)
            return 0;
    }
    if (fd < 0) {
        int e = errno;
        uint64_t n = 0;
        atomic_fetch_add(&fv_gw_metrics.handover_failures, 1);
        if (fv_log_limit_take(&g_handover_log, 10000, &n)) {
            char count[24];
            snprintf(count, sizeof count, "%llu", (unsigned long long)n);
            fv_log(FV_LOG_WARN, "stream", "cannot take over an SSE socket; the client will retry",
                   "error", ci ? strerror(e) : "no socket", "since_last_line", count, NULL);
        }
        return MHD_CONTENT_READER_END_WITH_ERROR; /* the free callback ends the stream */
    }
    if (fv_conn_adopt(c, fd) != FV_OK)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    /* MHD keeps a connection whose body ended until it next looks at it, which for an idle socket
     * is its timeout (and the descriptor stays open meanwhile): a connection on the manual timeout
     * list (0: never expires) is looked at on every turn of its thread. Answering 0 now brings that
     * turn at once; its end-of-stream (below) then frees MHD's side in the same turn. */
    MHD_set_connection_option(c->mc, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    return 0;
}

static void reader_free(void *cls)
{
    fv_conn *c = cls;
    pthread_mutex_lock(&c->mu);
    /* no hand-over (the client left first, or the daemon stopped): the stream ends here */
    bool closed_now = !c->handed && !c->closed;
    if (closed_now) {
        c->closed = true;
        drop_queue(c);
    }
    pthread_mutex_unlock(&c->mu);
    after_flush(c, closed_now, false);
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
    /* close-delimited: the body is the SSE bytes as they are, on a socket that is ours */
    MHD_set_response_options(r, MHD_RF_HTTP_VERSION_1_0_ONLY, MHD_RO_END);
    return r;
}
