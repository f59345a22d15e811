/* test_gateway_direct.c - the gateway's own writing of SSE connections, over real socket pairs and
 * a real connection loop (its epoll thread), without libmicrohttpd: fv_conn_adopt stands for the
 * hand-over MHD's content reader makes. What is checked: frames queued before the hand-over go
 * out with it; a frame goes out at once; a batch writes a round in one go and not before its
 * flush; a full socket leaves the rest to the loop, which writes it as the client reads, with no
 * byte lost or repeated; a client that hangs up ends its stream without any write; a paused
 * producer goes on once the loop drained the queue; a finished stream closes after its last bytes;
 * a finished stream whose client never reads is closed by expiry; destroying the loop (shutdown)
 * ends every stream still open while writes are pending. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "flovyn/units.h"
#include "frame.h"
#include "metrics.h"

static atomic_int g_drained, g_closed;

static void on_drain(fv_conn *c)
{
    (void)c;
    atomic_fetch_add(&g_drained, 1);
}
static void on_closed(fv_conn *c)
{
    (void)c;
    atomic_fetch_add(&g_closed, 1);
}
static void on_destroy(fv_conn *c)
{
    free(c);
}
static const fv_conn_ops ops = {on_drain, on_closed, on_destroy};

typedef struct pair {
    fv_conn *c;
    int peer; /* the client's end */
} pair;

static fv_conn_loop *g_loop;

static int setup(void **state)
{
    (void)state;
    atomic_store(&g_drained, 0);
    atomic_store(&g_closed, 0);
    return fv_conn_loop_create(&g_loop) == FV_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fv_conn_loop_destroy(g_loop);
    g_loop = NULL;
    return 0;
}

/* a connection not yet handed over, and the socket pair it will get */
static pair open_pair(size_t limit, int sndbuf, int *server_fd)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (sndbuf > 0) {
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
    }
    pair p = {malloc(sizeof(fv_conn)), sv[1]};
    fv_conn_init(p.c, limit, &ops, g_loop);
    *server_fd = sv[0];
    return p;
}

/* handed over at once */
static pair adopted(size_t limit, int sndbuf)
{
    int fd;
    pair p = open_pair(limit, sndbuf, &fd);
    assert_int_equal(fv_conn_adopt(p.c, fd), FV_OK);
    return p;
}

static void close_pair(pair *p)
{
    if (p->peer >= 0)
        close(p->peer);
    fv_conn_unref(p->c); /* the creator's; the loop drops its own when the socket closes */
}

/* reads what arrives within wait_ms of quiet (0: what is there now) */
static size_t read_for(int fd, char *buf, size_t max, int wait_ms)
{
    size_t n = 0;
    struct pollfd pf = {fd, POLLIN, 0};
    while (n < max && poll(&pf, 1, wait_ms) > 0) {
        ssize_t r = read(fd, buf + n, max - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    return n;
}

static bool wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 500 && atomic_load(v) < want; i++)
        fv_sleep_ms(10);
    return atomic_load(v) >= want;
}

static void test_frames_queued_before_the_hand_over_go_out_with_it(void **state)
{
    (void)state;
    int fd;
    pair p = open_pair(4096, 0, &fd);
    assert_int_equal(fv_conn_push_bytes(p.c, "retry: 2000\n\n", 13, 0), FV_OK);
    char buf[64];
    assert_int_equal(read_for(p.peer, buf, sizeof buf, 0), 0); /* no socket yet */
    assert_int_equal(fv_conn_adopt(p.c, fd), FV_OK);
    assert_int_equal(read_for(p.peer, buf, sizeof buf, 0), 13);
    assert_memory_equal(buf, "retry: 2000\n\n", 13);
    assert_int_equal(fv_conn_loop_open(g_loop), 1);
    close_pair(&p);
}

static void test_a_frame_is_written_at_once(void **state)
{
    (void)state;
    pair p = adopted(4096, 0);
    fv_frame *f = fv_frame_new("data: 1\n\n", 9);
    assert_int_equal(fv_conn_push(p.c, "id: 7\n", 6, f, 0, false, NULL), FV_OK);
    char buf[64];
    assert_int_equal(read_for(p.peer, buf, sizeof buf, 0), 15);
    assert_memory_equal(buf, "id: 7\ndata: 1\n\n", 15);
    assert_int_equal(fv_conn_queued(p.c), 0);
    assert_int_equal(p.c->bytes_sent, 15);
    fv_frame_unref(f);
    close_pair(&p);
}

static void test_a_batch_writes_its_round_once_at_the_flush(void **state)
{
    (void)state;
    pair a = adopted(1 << 20, 0), b = adopted(1 << 20, 0);
    fv_conn_batch batch = {0};
    fv_frame *f = fv_frame_new("data: x\n\n", 9);
    unsigned long long writes0 = atomic_load(&fv_gw_metrics.direct_writes);
    for (int i = 0; i < 100; i++) {
        char head[16];
        int hl = snprintf(head, sizeof head, "id: %d\n", i);
        assert_int_equal(fv_conn_push(a.c, head, (size_t)hl, f, 0, false, &batch), FV_OK);
        assert_int_equal(fv_conn_push(b.c, head, (size_t)hl, f, 0, false, &batch), FV_OK);
    }
    assert_int_equal(batch.n, 2); /* each connection joined once */
    char buf[8192];
    assert_int_equal(read_for(a.peer, buf, sizeof buf, 0), 0); /* nothing before the flush */
    fv_conn_batch_flush(&batch);
    assert_int_equal(batch.n, 0);
    /* 100 frames are 200 iovecs (id line, body): two sendmsg calls per connection, not 100 */
    assert_true(atomic_load(&fv_gw_metrics.direct_writes) - writes0 <= 4);
    char want[8192];
    size_t wn = 0;
    for (int i = 0; i < 100; i++)
        wn += (size_t)snprintf(want + wn, sizeof want - wn, "id: %d\ndata: x\n\n", i);
    for (int k = 0; k < 2; k++) {
        pair *p = k ? &b : &a;
        assert_int_equal(read_for(p->peer, buf, sizeof buf, 0), wn);
        assert_memory_equal(buf, want, wn);
        assert_int_equal(fv_conn_queued(p->c), 0);
    }
    fv_conn_batch_free(&batch);
    fv_frame_unref(f);
    close_pair(&a);
    close_pair(&b);
}

/* The socket fills mid-frame; frames pushed meanwhile queue behind the rest; the loop writes as
 * the client reads: the client gets exactly the bytes pushed, in order. */
static void test_a_full_socket_is_finished_by_the_loop_and_loses_nothing(void **state)
{
    (void)state;
    pair p = adopted(1 << 22, 4096);
    enum { N = 2000 };
    char body[299];
    memset(body, 'b', sizeof body);
    memcpy(body, "data: ", 6);
    memcpy(body + 297, "\n\n", 2);
    fv_frame *f = fv_frame_new(body, sizeof body);
    char *want = malloc(N * 320), *got = malloc(N * 320);
    size_t wn = 0, gn = 0;
    unsigned long long full0 = atomic_load(&fv_gw_metrics.socket_full);
    for (int i = 0; i < N; i++) {
        char head[16];
        int hl = snprintf(head, sizeof head, "id: %d\n", i);
        assert_int_equal(fv_conn_push(p.c, head, (size_t)hl, f, 0, false, NULL), FV_OK);
        memcpy(want + wn, head, (size_t)hl);
        memcpy(want + wn + hl, body, sizeof body);
        wn += (size_t)hl + sizeof body;
    }
    assert_true(atomic_load(&fv_gw_metrics.socket_full) > full0);
    assert_true(fv_conn_queued(p.c) > 0); /* the rest waits for room */
    gn = read_for(p.peer, got, N * 320, 2000);
    assert_int_equal(gn, wn);
    assert_memory_equal(got, want, wn);
    assert_int_equal(fv_conn_queued(p.c), 0);
    assert_int_equal(atomic_load(&f->refs), 1); /* every queued reference released */
    free(want);
    free(got);
    fv_frame_unref(f);
    close_pair(&p);
}

static void test_a_client_that_hangs_up_ends_its_stream(void **state)
{
    (void)state;
    pair p = adopted(4096, 0);
    unsigned long long hangups0 = atomic_load(&fv_gw_metrics.client_hangups);
    close(p.peer);
    p.peer = -1;
    assert_true(wait_for(&g_closed, 1)); /* noticed by the loop, no write needed */
    assert_int_equal(atomic_load(&fv_gw_metrics.client_hangups) - hangups0, 1);
    assert_true(fv_conn_is_done(p.c));
    fv_frame *f = fv_frame_new("data: 1\n\n", 9);
    assert_int_equal(fv_conn_push(p.c, NULL, 0, f, 0, false, NULL), FV_ECLOSED);
    assert_int_equal(atomic_load(&f->refs), 1);
    assert_int_equal(fv_conn_loop_open(g_loop), 0);
    fv_frame_unref(f);
    close_pair(&p);
}

/* A replay paused on a full queue goes on once the loop drained it below half. */
static void test_the_loop_drain_resumes_a_paused_producer(void **state)
{
    (void)state;
    pair p = adopted(64 * 1024, 4096);
    fv_frame *f = fv_frame_new("data: 0123456789012345678901234567890123456789\n\n", 48);
    fv_status st;
    size_t pushed = 0;
    while ((st = fv_conn_push(p.c, NULL, 0, f, 0, true, NULL)) == FV_OK)
        pushed++;
    assert_int_equal(st, FV_EFULL);
    assert_true(atomic_load(&p.c->paused));
    assert_int_equal(atomic_load(&g_drained), 0);
    char *buf = malloc(pushed * 48 + 1);
    assert_int_equal(read_for(p.peer, buf, pushed * 48, 2000), pushed * 48);
    assert_true(wait_for(&g_drained, 1));
    assert_false(atomic_load(&p.c->paused));
    free(buf);
    fv_frame_unref(f);
    close_pair(&p);
}

static void test_a_finished_stream_closes_after_its_last_bytes(void **state)
{
    (void)state;
    pair p = adopted(4096, 0);
    assert_true(fv_conn_finish(p.c, "event: end\ndata: {}\n\n", 21));
    assert_false(fv_conn_finish(p.c, "x", 1)); /* once */
    char buf[64];
    assert_int_equal(read_for(p.peer, buf, sizeof buf, 1000), 21);
    assert_memory_equal(buf, "event: end\ndata: {}\n\n", 21);
    assert_int_equal(read(p.peer, buf, sizeof buf), 0); /* then end of file */
    assert_int_equal(atomic_load(&g_closed), 1);
    assert_int_equal(fv_conn_loop_open(g_loop), 0);
    close_pair(&p);
}

static void test_a_finished_stream_whose_client_never_reads_expires(void **state)
{
    (void)state;
    pair p = adopted(1 << 22, 4096);
    fv_frame *f = fv_frame_new("data: 0123456789012345678901234567890123456789\n\n", 48);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(fv_conn_push(p.c, NULL, 0, f, 0, false, NULL), FV_OK);
    fv_conn_finish(p.c, "event: end\ndata: {}\n\n", 21);
    assert_int_equal(atomic_load(&g_closed), 0); /* still writing */
    int64_t now = fv_monotonic_ms();
    fv_conn_expire(p.c, now, 60000); /* within the grace: kept */
    assert_int_equal(atomic_load(&g_closed), 0);
    fv_conn_expire(p.c, now + 60000, 60000);
    assert_int_equal(atomic_load(&g_closed), 1);
    assert_int_equal(fv_conn_queued(p.c), 0);
    assert_int_equal(atomic_load(&f->refs), 1);
    fv_frame_unref(f);
    close_pair(&p);
}

/* Shutdown with writes pending: destroying the loop ends every open stream, once each. */
static void test_destroying_the_loop_ends_streams_with_writes_pending(void **state)
{
    (void)state;
    pair a = adopted(1 << 22, 4096), b = adopted(1 << 22, 4096);
    fv_frame *f = fv_frame_new("data: 0123456789012345678901234567890123456789\n\n", 48);
    for (int i = 0; i < 2000; i++) {
        fv_conn_push(a.c, NULL, 0, f, 0, false, NULL);
        fv_conn_push(b.c, NULL, 0, f, 0, false, NULL);
    }
    assert_true(fv_conn_queued(a.c) > 0);
    fv_conn_loop_destroy(g_loop);
    g_loop = NULL;
    assert_int_equal(atomic_load(&g_closed), 2);
    assert_int_equal(atomic_load(&f->refs), 1);
    fv_frame_unref(f);
    close_pair(&a);
    close_pair(&b);
    assert_int_equal(fv_conn_loop_create(&g_loop), FV_OK); /* for teardown */
}

/* Many producers and the loop race on one connection: the client still gets every frame of each
 * producer, in that producer's order (under ASan/TSan this is the lock discipline's test). */
typedef struct prod {
    fv_conn *c;
    int id;
} prod;

static void *producer(void *arg)
{
    prod *p = arg;
    for (int i = 0; i < 500; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "p%d %d\n", p->id, i);
        while (fv_conn_push_bytes(p->c, line, (size_t)n, 0) == FV_EFULL)
            fv_sleep_ms(1);
    }
    return NULL;
}

static void test_concurrent_producers_keep_each_order(void **state)
{
    (void)state;
    pair p = adopted(8192, 4096);
    pthread_t t[4];
    prod ps[4];
    for (int i = 0; i < 4; i++) {
        ps[i] = (prod){p.c, i};
        pthread_create(&t[i], NULL, producer, &ps[i]);
    }
    char *buf = malloc(1 << 20);
    size_t n = 0;
    int next[4] = {0};
    while (n < (1 << 20)) {
        size_t r = read_for(p.peer, buf + n, (1 << 20) - n, 300);
        if (r == 0)
            break;
        n += r;
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    n += read_for(p.peer, buf + n, (1 << 20) - n, 300);
    buf[n] = '\0';
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        int who, seq;
        assert_int_equal(sscanf(line, "p%d %d", &who, &seq), 2);
        assert_int_equal(seq, next[who]);
        next[who]++;
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(next[i], 500);
    free(buf);
    close_pair(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_frames_queued_before_the_hand_over_go_out_with_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_frame_is_written_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_batch_writes_its_round_once_at_the_flush, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_full_socket_is_finished_by_the_loop_and_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_client_that_hangs_up_ends_its_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_loop_drain_resumes_a_paused_producer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_finished_stream_closes_after_its_last_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_finished_stream_whose_client_never_reads_expires,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroying_the_loop_ends_streams_with_writes_pending,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_producers_keep_each_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
