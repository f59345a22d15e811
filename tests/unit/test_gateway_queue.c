/* test_gateway_queue.c - the gateway's bounded pieces without a network: the per-connection frame
 * queue (byte bound, pause, finish, reference counts), shared frames built once per fan-out, the
 * ingest body splitter and the per-tenant token bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn.h"
#include "frame.h"
#include "ingest.h"
#include "ratelimit.h"
#include "reqlimit.h"
#include "stream.h"

static int g_destroyed, g_drained;
static void on_destroy(fv_conn *c)
{
    g_destroyed++;
    free(c);
}
static void on_drain(fv_conn *c)
{
    (void)c;
    g_drained++;
}
static const fv_conn_ops ops = {on_drain, NULL, on_destroy};

static fv_conn *new_conn(size_t limit)
{
    fv_conn *c = malloc(sizeof *c);
    fv_conn_init(c, limit, &ops, NULL);
    return c;
}

/* Hundreds of frames span many blocks; reads of odd sizes cut entries and blocks anywhere, and
 * pushes interleave with reads: the byte stream is exact, every frame reference is dropped once
 * written, and a drained queue holds no block (idle connections cost nothing). */
static void test_queue_blocks_keep_order_across_boundaries_and_free_when_drained(void **state)
{
    (void)state;
    enum { N = 300 };
    fv_conn *c = new_conn(1 << 20);
    fv_frame *f = fv_frame_new("data: xyz\n\n", 11);
    char *want = malloc(N * 32), *got = malloc(N * 32);
    size_t wn = 0, gn = 0;
    long r;
    for (int i = 0; i < N; i++) {
        char head[32];
        int hl = snprintf(head, sizeof head, "id: %d\n", i);
        assert_int_equal(fv_conn_push(c, head, (size_t)hl, f, 0, false, NULL), FV_OK);
        memcpy(want + wn, head, (size_t)hl);
        memcpy(want + wn + hl, "data: xyz\n\n", 11);
        wn += (size_t)hl + 11;
        if (i % 7 == 0) /* a reader takes a little while the producer goes on */
            while (gn < wn && (r = fv_conn_take(c, got + gn, 13)) > 0)
                gn += (size_t)r;
    }
    while ((r = fv_conn_take(c, got + gn, 17)) > 0)
        gn += (size_t)r;
    assert_int_equal(gn, wn);
    assert_memory_equal(got, want, wn);
    assert_int_equal(atomic_load(&f->refs), 1);
    assert_int_equal(fv_conn_queued(c), 0);
    assert_null(c->head);
    assert_null(c->tail);
    free(want);
    free(got);
    fv_frame_unref(f);
    fv_conn_unref(c);
}

static void test_queue_delivers_head_then_body_in_order(void **state)
{
    (void)state;
    fv_conn *c = new_conn(4096);
    fv_frame *f = fv_frame_new("event: x\ndata: 1\n\n", 18);
    assert_int_equal(fv_conn_push(c, "id: a\n", 6, f, 0, false, NULL), FV_OK);
    assert_int_equal(fv_conn_push(c, "id: b\n", 6, f, 0, false, NULL), FV_OK);
    assert_int_equal(atomic_load(&f->refs), 3); /* ours + two queued items share one frame */
    char buf[128];
    /* read in small pieces: frames split across reads reassemble exactly */
    size_t n = 0;
    long r;
    while ((r = fv_conn_take(c, buf + n, 5)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    assert_string_equal(buf, "id: a\nevent: x\ndata: 1\n\nid: b\nevent: x\ndata: 1\n\n");
    assert_int_equal(atomic_load(&f->refs), 1); /* written items dropped their references */
    assert_int_equal(fv_conn_queued(c), 0);
    fv_frame_unref(f);
    fv_conn_unref(c);
}

static void test_full_queue_refuses_and_marks_pause_only_when_asked(void **state)
{
    (void)state;
    g_drained = 0;
    fv_conn *c = new_conn(4096);
    char big[1500];
    memset(big, 'x', sizeof big);
    fv_frame *f = fv_frame_new(big, sizeof big);
    assert_int_equal(fv_conn_push(c, NULL, 0, f, 0, false, NULL), FV_OK);
    assert_int_equal(fv_conn_push(c, NULL, 0, f, 0, false, NULL), FV_OK);
    assert_int_equal(fv_conn_push(c, NULL, 0, f, 0, false, NULL), FV_EFULL); /* 4500 > 4096 */
    assert_false(c->paused);
    assert_int_equal(fv_conn_push(c, NULL, 0, f, 0, true, NULL), FV_EFULL);
    assert_true(c->paused);
    /* control frames may use the slack so a closing client still learns why */
    assert_int_equal(
        fv_conn_push_bytes(c, "event: overloaded\ndata: {}\n\n", 28, FV_CONN_CONTROL_SLACK), FV_OK);
    assert_int_equal(fv_conn_queued(c), 3028);
    assert_false(fv_conn_is_paused_with_room(c));
    char buf[2000];
    assert_int_equal(fv_conn_take(c, buf, sizeof buf), 2000);
    assert_true(fv_conn_is_paused_with_room(c)); /* 1028 <= 4096 / 2 */
    fv_frame_unref(f);
    fv_conn_unref(c);
}

static void test_an_event_larger_than_the_queue_goes_out_alone(void **state)
{
    (void)state;
    fv_conn *c = new_conn(4096);
    char *big = malloc(10000);
    memset(big, 'x', 10000);
    fv_frame *f = fv_frame_new(big, 10000);
    assert_int_equal(fv_conn_push(c, NULL, 0, f, 0, true, NULL), FV_OK); /* empty queue: accepted */
    assert_int_equal(fv_conn_push_bytes(c, "a", 1, 0), FV_EFULL);        /* behind it: waits */
    char buf[4096];
    while (fv_conn_take(c, buf, sizeof buf) > 0) {
    }
    assert_int_equal(fv_conn_push_bytes(c, "a", 1, 0), FV_OK);
    fv_frame_unref(f);
    free(big);
    fv_conn_unref(c);
}

static void test_finish_ends_after_the_queue_drains_and_refuses_more(void **state)
{
    (void)state;
    fv_conn *c = new_conn(4096);
    assert_int_equal(fv_conn_push_bytes(c, "a", 1, 0), FV_OK);
    assert_true(fv_conn_finish(c, "retry: 250\n\n", 12));
    assert_false(fv_conn_finish(c, "x", 1)); /* idempotent: first one wins */
    assert_int_equal(fv_conn_push_bytes(c, "b", 1, 0), FV_ECLOSED);
    char buf[64];
    long n = fv_conn_take(c, buf, sizeof buf);
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "aretry: 250\n\n", 13);
    assert_int_equal(fv_conn_take(c, buf, sizeof buf), -1); /* end of stream */
    assert_int_equal(fv_conn_take(c, buf, sizeof buf), -1);
    fv_conn_unref(c);
}

static void test_connection_state_lives_until_the_last_reference(void **state)
{
    (void)state;
    g_destroyed = 0;
    fv_conn *c = new_conn(4096);
    fv_conn_ref(c); /* e.g. the bus */
    fv_conn_ref(c); /* e.g. MHD */
    fv_conn_unref(c);
    fv_conn_unref(c);
    assert_int_equal(g_destroyed, 0);
    fv_frame *f = fv_frame_new("x", 1);
    fv_conn_push(c, NULL, 0, f, 0, false, NULL);
    fv_conn_unref(c); /* queued frames are released with it */
    assert_int_equal(g_destroyed, 1);
    assert_int_equal(atomic_load(&f->refs), 1);
    fv_frame_unref(f);
}

static void test_a_fanned_out_event_is_framed_once_and_shared(void **state)
{
    (void)state;
    fv_event ev;
    fv_event_init(&ev);
    strcpy(ev.id, "e1");
    strcpy(ev.tenant_id, "t");
    strcpy(ev.event_type, "task.completed");
    strcpy(ev.source, "s");
    ev.timestamp_ms = 1;
    void *slot = NULL;
    void (*slot_free)(void *) = NULL;
    fv_msg m = {0};
    m.kind = FV_MSG_EVENT;
    m.ev = &ev;
    m.shared = &slot;
    m.shared_free = &slot_free;
    fv_frame *a = fv_frame_for_msg(&m);
    fv_frame *b = fv_frame_for_msg(&m);
    assert_non_null(a);
    assert_ptr_equal(a, b); /* the second subscriber reuses the first one's frame */
    assert_ptr_equal(slot, a);
    assert_non_null(strstr(a->data, "event: task.completed\ndata: {"));
    assert_int_equal(atomic_load(&a->refs), 3);
    slot_free(slot); /* the bus frees its slot after the dispatch */
    fv_frame_unref(a);
    fv_frame_unref(b);
    fv_event_clear(&ev);
}

static void test_ingest_split_object_array_and_ndjson(void **state)
{
    (void)state;
    fv_ingest_span sp[4];
    fv_err e = {{0}}, err = {{0}};
    bool too_many;
    assert_int_equal(fv_ingest_split(" {\"a\":1} ", 9, false, sp, 4, &too_many, &err), 1);
    assert_int_equal(sp[0].n, 7);
    const char arr[] = "[{\"a\":1}, 2, {\"b\":[1,2]}]";
    assert_int_equal(fv_ingest_split(arr, strlen(arr), false, sp, 4, &too_many, &err), 3);
    assert_int_equal(sp[1].n, 0); /* not an object: an item error, not a request error */
    assert_int_equal(fv_ingest_item_error(&sp[1], 1, &e), FV_EINVAL);
    assert_string_equal(e.msg, "item must be a JSON object");
    assert_int_equal(sp[2].n, 11);
    const char nd[] = "{\"a\":1}\n\n{bad\r\n{\"c\":3}\n[1]\n";
    assert_int_equal(fv_ingest_split(nd, strlen(nd), true, sp, 4, &too_many, &err), 4);
    assert_int_equal(sp[0].n, 7);
    assert_int_equal(sp[1].n, 0);
    assert_int_equal(sp[1].raw_n, 4); /* "{bad", its line ending trimmed */
    assert_int_equal(fv_ingest_item_error(&sp[1], 1, &e), FV_EINVAL);
    assert_memory_equal(e.msg, "line 2: ", 8);
    assert_int_equal(sp[2].n, 7);
    assert_int_equal(sp[3].n, 0); /* JSON, but not an object */
    assert_int_equal(fv_ingest_item_error(&sp[3], 3, &e), FV_EINVAL);
    assert_string_equal(e.msg, "item must be a JSON object");
    assert_false(too_many);
    /* NDJSON sent as application/json is still understood */
    assert_int_equal(fv_ingest_split(nd, strlen(nd), false, sp, 4, &too_many, &err), 4);
    assert_int_equal(
        fv_ingest_split("{\"a\":1}\n{\"a\":1}\n{\"a\":1}", 23, true, sp, 2, &too_many, &err), 2);
    assert_true(too_many);
    assert_true(fv_ingest_split("{\"a\":", 5, false, sp, 4, &too_many, &err) < 0);
    assert_true(fv_ingest_split("  ", 2, false, sp, 4, &too_many, &err) < 0);
    assert_true(fv_ingest_split("[1,", 3, false, sp, 4, &too_many, &err) < 0);
}

static void test_ingest_content_types(void **state)
{
    (void)state;
    bool nd;
    assert_true(fv_ingest_content_type_ok("application/json", &nd) && !nd);
    assert_true(fv_ingest_content_type_ok("application/json; charset=utf-8", &nd) && !nd);
    assert_true(fv_ingest_content_type_ok("Application/X-NDJSON", &nd) && nd);
    assert_false(fv_ingest_content_type_ok("text/plain", &nd));
    assert_false(fv_ingest_content_type_ok("application/jsonx", &nd));
    assert_false(fv_ingest_content_type_ok(NULL, &nd));
}

static void test_token_bucket_allows_the_rate_and_says_when_to_retry(void **state)
{
    (void)state;
    fv_ratelimit *rl;
    assert_int_equal(fv_ratelimit_create(10, 100, &rl), FV_OK);
    int ra;
    assert_int_equal(fv_ratelimit_take(rl, "a", 10, 1000, &ra), FV_OK);
    assert_int_equal(fv_ratelimit_take(rl, "a", 1, 1000, &ra), FV_EFULL);
    assert_int_equal(ra, 1);
    assert_int_equal(fv_ratelimit_take(rl, "b", 5, 1000, &ra), FV_OK); /* per tenant */
    assert_int_equal(fv_ratelimit_take(rl, "a", 5, 1500, &ra), FV_OK); /* refilled 5 in 0.5 s */
    assert_int_equal(fv_ratelimit_take(rl, "a", 1, 1500, &ra), FV_EFULL);
    fv_ratelimit_destroy(rl);
    assert_int_equal(fv_ratelimit_create(0, 100, &rl), FV_OK); /* 0 = unlimited */
    assert_int_equal(fv_ratelimit_take(rl, "a", 1000000, 0, &ra), FV_OK);
    fv_ratelimit_destroy(rl);
}

static void test_concurrent_requests_are_bounded_per_tenant(void **state)
{
    (void)state;
    fv_reqlimit *l;
    assert_int_equal(fv_reqlimit_create(2, 10, &l), FV_OK);
    assert_true(fv_reqlimit_begin(l, "a"));
    assert_true(fv_reqlimit_begin(l, "a"));
    assert_false(fv_reqlimit_begin(l, "a")); /* third at once: refused */
    assert_true(fv_reqlimit_begin(l, "b"));  /* another tenant is unaffected */
    fv_reqlimit_end(l, "a");
    assert_true(fv_reqlimit_begin(l, "a")); /* a finished request frees its place */
    fv_reqlimit_end(l, "a");
    fv_reqlimit_end(l, "a");
    fv_reqlimit_end(l, "b");
    fv_reqlimit_destroy(l);
}

static void test_terminal_types(void **state)
{
    (void)state;
    assert_true(fv_is_workflow_terminal("workflow.completed"));
    assert_true(fv_is_workflow_terminal("workflow.terminated"));
    assert_false(fv_is_workflow_terminal("workflow.started"));
    assert_false(fv_is_workflow_terminal("task.completed"));
    assert_true(fv_is_task_terminal("task.failed"));
    assert_false(fv_is_task_terminal("task.started"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_delivers_head_then_body_in_order),
        cmocka_unit_test(test_full_queue_refuses_and_marks_pause_only_when_asked),
        cmocka_unit_test(test_an_event_larger_than_the_queue_goes_out_alone),
        cmocka_unit_test(test_finish_ends_after_the_queue_drains_and_refuses_more),
        cmocka_unit_test(test_connection_state_lives_until_the_last_reference),
        cmocka_unit_test(test_a_fanned_out_event_is_framed_once_and_shared),
        cmocka_unit_test(test_ingest_split_object_array_and_ndjson),
        cmocka_unit_test(test_ingest_content_types),
        cmocka_unit_test(test_token_bucket_allows_the_rate_and_says_when_to_retry),
        cmocka_unit_test(test_concurrent_requests_are_bounded_per_tenant),
        cmocka_unit_test(test_terminal_types),
        cmocka_unit_test(test_queue_blocks_keep_order_across_boundaries_and_free_when_drained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
