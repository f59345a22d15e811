/* bus_suite.h - the behaviour every bus backend must show, as one test suite run against the
 * memory bus (tests/unit/test_bus_memory.c) and against JetStream on a real nats-server
 * (tests/integration/test_bus_jetstream*.c).
 *
 * How to use it:
 *
 *   static fv_bus *make(void *ctx) { ... create and return a fresh bus, or NULL ... }
 *   static void drop(fv_bus *bus, void *ctx) { fv_bus_destroy(bus); }
 *
 *   int main(void) {
 *       fv_bus_suite suite = {.make = make, .teardown = drop, .ctx = &my_server,
 *                             .concurrent_events = 10000};
 *       return fv_bus_suite_run("bus_jetstream", &suite);   // every shared test, one group
 *   }
 *
 * or pick tests into your own cmocka group: every fv_bus_suite_test_* function is a cmocka test
 * whose state must point to an fv_bus_suite, e.g.
 *   cmocka_unit_test_prestate(fv_bus_suite_test_dedup, &suite).
 *
 * Each test calls make() once (or twice), uses tenants of its own (fv_bus_suite_tenant), so the
 * same server can serve every test, and calls teardown() at the end. Nothing assumes sequences
 * start at 1 or that the bus is empty.
 *
 * fv_collector is the message recorder both suites use: pass fv_collector_on_msg/on_release as the
 * callbacks and the collector as ud, then wait for N messages with a timeout (a condition
 * variable, no sleeping loops). It also checks that callbacks never overlap and never run on the
 * thread that published.
 */
#ifndef FLOVYN_TEST_BUS_SUITE_H
#define FLOVYN_TEST_BUS_SUITE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/bus.h"
#include "flovyn/subject.h"

typedef struct fv_bus_suite {
    fv_bus *(*make)(void *ctx);               /* a new bus; NULL fails the test */
    void (*teardown)(fv_bus *bus, void *ctx); /* NULL -> fv_bus_destroy */
    void *ctx;
    size_t concurrent_events; /* events published during the concurrent resume; 0 -> 2000 */
    int timeout_ms;           /* longest wait for expected messages; 0 -> 15000 */
} fv_bus_suite;

/* Runs every shared test below as one cmocka group; returns the number of failed tests. */
int fv_bus_suite_run(const char *group_name, fv_bus_suite *suite);

/* The shared tests (cmocka signature; *state is the fv_bus_suite). */
void fv_bus_suite_test_round_trip_both_kinds_keeps_data_bytes(void **state);
void fv_bus_suite_test_tenant_never_sees_another_tenant(void **state);
void fv_bus_suite_test_filters_by_type_category_wildcard_workflow_task_source(void **state);
void fv_bus_suite_test_dedup_by_tenant_and_id(void **state);
void fv_bus_suite_test_resume_from_cursor_during_concurrent_publish(void **state);
void fv_bus_suite_test_pause_and_resume_lose_nothing(void **state);
void fv_bus_suite_test_start_first_of_a_workflow(void **state);
void fv_bus_suite_test_start_time(void **state);
void fv_bus_suite_test_gap_on_foreign_epoch_cursor(void **state);
void fv_bus_suite_test_merged_sources_keep_order_per_source(void **state);
void fv_bus_suite_test_read_pages_with_next_cursor(void **state);
void fv_bus_suite_test_close_releases_once_and_stops_callbacks(void **state);
void fv_bus_suite_test_until_ends_the_stream(void **state);
void fv_bus_suite_test_accept_predicate_sees_events_in_order(void **state);
/* 2,000 subscriptions resume at once from cursors scattered over 3,000 retained records while
 * 500 more are published: each gets exactly its records after its cursor, in order, no gap */
void fv_bus_suite_test_many_scattered_resumes_each_get_exactly_their_events(void **state);
/* FV_SUB_PAUSE answered while fv_sub_resume runs (inside the callback, or on another thread just
 * before/at/after the pause); one resume per pause, and the subscription always continues */
void fv_bus_suite_test_resume_racing_a_pause_is_never_lost(void **state);

/* --- building blocks, also for backend-specific tests -------------------------------------- */

/* "<tag>-<16 random hex digits>": a tenant (or workflow) id no other test uses */
void fv_bus_suite_tenant(char *out, size_t cap, const char *tag);

/* Fills a lifecycle event (id = a fresh UUIDv4 unless id is given); data is JSON text or NULL.
 * Asserts on invalid input. Clear it with fv_event_clear. */
void fv_bus_suite_event(fv_event *ev, const char *tenant, const char *workflow, const char *task,
                        const char *type, const char *id, const char *data);
void fv_bus_suite_stream(fv_stream_event *se, const char *tenant, const char *workflow,
                         const char *task, int64_t sequence, fv_stream_kind kind,
                         const char *payload);
/* publish + assert FV_OK; returns the stored sequence */
uint64_t fv_bus_suite_publish(fv_bus *bus, const fv_event *ev);
uint64_t fv_bus_suite_publish_stream(fv_bus *bus, const fv_stream_event *se);

/* One recorded message: the fields of fv_msg, with the event copied. */
typedef struct fv_collected {
    fv_msg_kind kind;
    fv_source source;
    uint64_t seq;
    int64_t stored_ms;
    fv_cursor cursor;
    fv_cursor gap_requested, gap_resumed_from;
    fv_event ev;        /* FV_MSG_EVENT */
    fv_stream_event se; /* FV_MSG_STREAM */
    char subject[FV_SUBJECT_MAX];
} fv_collected;

typedef struct fv_collector {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fv_collected *items; /* every message, in delivery order (read after fv_collector_stop) */
    size_t n, cap;
    size_t n_data;   /* FV_MSG_EVENT + FV_MSG_STREAM recorded */
    size_t pause_at; /* when set and n_data == pause_at: answer FV_SUB_PAUSE once, record
                        nothing, set paused */
    bool paused;
    int releases; /* on_release calls (must end as exactly 1) */
    int in_cb;
    bool overlapped;   /* a callback started while another one ran */
    bool on_forbidden; /* a callback ran on `forbidden` (the publishing thread) */
    pthread_t forbidden;
    bool check_forbidden;
    size_t calls_after_release; /* callbacks that began after on_release (must stay 0) */
    unsigned slow_us;           /* a slow consumer: sleep this long after each of the first */
    size_t slow_until;          /* slow_until event/stream messages */
} fv_collector;

void fv_collector_init(fv_collector *c);
void fv_collector_destroy(fv_collector *c);
/* callbacks for fv_sub_config / fv_bus_read (ud = the collector) */
int fv_collector_on_msg(void *ud, const fv_msg *m);
void fv_collector_on_release(void *ud);
/* wait until at least n event/stream messages were recorded; false on timeout */
bool fv_collector_wait(fv_collector *c, size_t n, int timeout_ms);
/* wait until a message of this kind was recorded */
bool fv_collector_wait_kind(fv_collector *c, fv_msg_kind kind, int timeout_ms);
bool fv_collector_wait_paused(fv_collector *c, int timeout_ms);
bool fv_collector_wait_released(fv_collector *c, int timeout_ms);
size_t fv_collector_count(fv_collector *c); /* n_data, locked */
/* sets pause_at (locked) and clears `paused` */
void fv_collector_pause_at(fv_collector *c, size_t n_data);
/* fv_sub_close + wait for on_release; afterwards items may be read without the lock */
void fv_collector_stop(fv_collector *c, fv_sub *sub, int timeout_ms);
/* index of the first item of kind at or after from, or c->n */
size_t fv_collector_find(const fv_collector *c, fv_msg_kind kind, size_t from);

#endif
