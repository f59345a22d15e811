/* test_bus_jetstream_durable.c - durable pull consumers of the JetStream bus on a real
 * nats-server: nak with delay, term, max-deliver with an over-long back-off list, pending count,
 * and an ack floor that survives the owning process going away (its bus destroyed, a new one
 * opening the same durable by name).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus_suite.h"
#include "fixture.h"

static fv_nats_server srv;

static fv_bus *new_bus(void)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.name = "test-jsbus-durable";
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    if (fv_bus_create(&c, &bus, &err) != FV_OK)
        fail_msg("create: %s", err.msg);
    if (fv_bus_provision(bus, &err) != FV_OK)
        fail_msg("provision: %s", err.msg);
    return bus;
}

typedef struct fixture {
    fv_bus *bus;
    char tenant[FV_ID_MAX + 1];
    char name[FV_ID_MAX + 1];
    char filter[FV_SUBJECT_MAX];
    uint64_t seqs[8];
} fixture;

/* a tenant with n events and a durable consumer over them */
static void setup(fixture *f, int n, int max_deliver, int64_t ack_wait_ms, const int64_t *backoff,
                  size_t backoff_n)
{
    f->bus = new_bus();
    fv_bus_suite_tenant(f->tenant, sizeof f->tenant, "dur");
    fv_bus_suite_tenant(f->name, sizeof f->name, "wh");
    snprintf(f->filter, sizeof f->filter, "flovyn.v1.events.%s.>", f->tenant);
    for (int i = 0; i < n; i++) {
        fv_event ev;
        fv_bus_suite_event(&ev, f->tenant, "wf-d", NULL, "task.completed", NULL, "{\"k\":1}");
        f->seqs[i] = fv_bus_suite_publish(f->bus, &ev);
        fv_event_clear(&ev);
    }
    fv_durable_config dc = {.stream = FV_STREAM_EVENTS,
                            .name = f->name,
                            .filter_subject = f->filter,
                            .max_deliver = max_deliver,
                            .ack_wait_ms = ack_wait_ms,
                            .backoff_ms = backoff,
                            .backoff_n = backoff_n};
    fv_err err = {{0}};
    if (fv_bus_durable_ensure(f->bus, &dc, &err) != FV_OK)
        fail_msg("ensure: %s", err.msg);
    /* idempotent: ensuring again changes nothing and succeeds */
    if (fv_bus_durable_ensure(f->bus, &dc, &err) != FV_OK)
        fail_msg("ensure again: %s", err.msg);
}

static fv_durable *open_d(fixture *f)
{
    fv_durable *d = NULL;
    fv_err err = {{0}};
    if (fv_bus_durable_open(f->bus, FV_STREAM_EVENTS, f->name, &d, &err) != FV_OK)
        fail_msg("open: %s", err.msg);
    return d;
}

static size_t fetch(fv_durable *d, fv_durable_msg **msgs, size_t max, int timeout_ms)
{
    size_t n = 0;
    fv_err err = {{0}};
    if (fv_durable_fetch(d, max, timeout_ms, msgs, &n, &err) != FV_OK)
        fail_msg("fetch: %s", err.msg);
    return n;
}

static int group_setup(void **state)
{
    return fv_nats_start(&srv);
}
static int group_teardown(void **state)
{
    fv_nats_cleanup(&srv);
    return 0;
}

static void test_jetstream_durable_nak_with_delay_redelivers_after_the_delay(void **state)
{
    fixture f;
    setup(&f, 1, 5, 30000, NULL, 0);
    fv_durable *d = open_d(&f);
    fv_durable_msg *m[4];
    assert_int_equal(fetch(d, m, 4, 3000), 1);
    assert_int_equal(fv_durable_msg_seq(m[0]), f.seqs[0]);
    assert_int_equal(fv_durable_msg_delivered(m[0]), 1);
    assert_string_equal(fv_durable_msg_header(m[0], "Content-Type"), "application/x-protobuf");
    assert_true(fv_durable_msg_stored_ms(m[0]) > 0);
    size_t len = 0;
    fv_event ev;
    fv_event_init(&ev);
    const void *data = fv_durable_msg_data(m[0], &len);
    fv_err err = {{0}};
    assert_int_equal(
        fv_event_decode(&ev, fv_durable_msg_header(m[0], "Content-Type"), data, len, NULL, &err),
        FV_OK);
    assert_string_equal(ev.tenant_id, f.tenant);
    fv_event_clear(&ev);
    assert_int_equal(fv_durable_msg_nak(m[0], 1500), FV_OK);
    fv_durable_msg_destroy(m[0]);
    /* not before the delay (ack wait is 30 s, so only the nak can bring it back) */
    assert_int_equal(fetch(d, m, 4, 300), 0);
    assert_int_equal(fetch(d, m, 4, 5000), 1);
    assert_int_equal(fv_durable_msg_delivered(m[0]), 2);
    assert_int_equal(fv_durable_msg_seq(m[0]), f.seqs[0]);
    assert_int_equal(fv_durable_msg_ack(m[0]), FV_OK);
    fv_durable_msg_destroy(m[0]);
    assert_int_equal(fetch(d, m, 4, 300), 0);
    uint64_t pending = 99;
    assert_int_equal(fv_durable_pending(d, &pending, &err), FV_OK);
    assert_int_equal(pending, 0);
    fv_durable_close(d);
    assert_int_equal(fv_bus_durable_delete(f.bus, FV_STREAM_EVENTS, f.name, &err), FV_OK);
    assert_int_not_equal(fv_bus_durable_open(f.bus, FV_STREAM_EVENTS, f.name, &d, &err), FV_OK);
    fv_bus_destroy(f.bus);
}

static void test_jetstream_durable_term_stops_redelivery(void **state)
{
    fixture f;
    setup(&f, 1, 5, 300, NULL, 0);
    fv_durable *d = open_d(&f);
    fv_durable_msg *m[4];
    assert_int_equal(fetch(d, m, 4, 3000), 1);
    assert_int_equal(fv_durable_msg_term(m[0]), FV_OK);
    fv_durable_msg_destroy(m[0]);
    /* ack wait 300 ms: without the term it would be back well within this wait */
    assert_int_equal(fetch(d, m, 4, 1500), 0);
    fv_durable_close(d);
    fv_bus_destroy(f.bus);
}

static void test_jetstream_durable_max_deliver_trims_a_longer_backoff_list(void **state)
{
    fixture f;
    int64_t backoff[] = {200, 200, 200, 200, 200};
    setup(&f, 1, 2, 200, backoff, 5); /* nats-server refuses MaxDeliver <= len(BackOff) */
    fv_durable *d = open_d(&f);
    fv_durable_msg *m[4];
    assert_int_equal(fetch(d, m, 4, 3000), 1);
    fv_durable_msg_destroy(m[0]); /* neither acked nor nakked: redelivered after back-off */
    assert_int_equal(fetch(d, m, 4, 3000), 1);
    assert_int_equal(fv_durable_msg_delivered(m[0]), 2);
    fv_durable_msg_destroy(m[0]);
    /* max deliver reached: never again */
    assert_int_equal(fetch(d, m, 4, 1200), 0);
    fv_durable_close(d);
    fv_bus_destroy(f.bus);
}

static void test_jetstream_durable_ack_floor_survives_the_owner_going_away(void **state)
{
    fixture f;
    setup(&f, 5, 10, 1000, NULL, 0);
    fv_durable *d = open_d(&f);
    fv_durable_msg *m[8];
    assert_int_equal(fetch(d, m, 8, 3000), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(fv_durable_msg_seq(m[i]), f.seqs[i]);
        if (i < 3)
            assert_int_equal(fv_durable_msg_ack(m[i]), FV_OK);
        fv_durable_msg_destroy(m[i]);
    }
    /* the owner stops: handle closed (never unsubscribed), connection gone */
    fv_durable_close(d);
    fv_bus_destroy(f.bus);

    f.bus = new_bus(); /* a restarted process */
    d = open_d(&f);    /* the consumer still exists: closing did not delete it */
    fv_err err = {{0}};
    uint64_t pending = 99;
    assert_int_equal(fv_durable_pending(d, &pending, &err), FV_OK);
    assert_int_equal(pending, 0); /* all five were delivered once */
    /* Only the two unacknowledged come back (after the 1 s ack wait), each first as a second
     * delivery. At least once, not exactly once: when a redelivery races a pull request that
     * expires, nats-server 2.9 may send one of them again (seen: with its count lowered back to
     * 1), so repeats are acknowledged and tolerated; an acknowledged one never comes back. */
    bool seen[2] = {false, false};
    for (int tries = 0; tries < 10 && !(seen[0] && seen[1]); tries++) {
        size_t n = fetch(d, m, 8, 1000);
        for (size_t i = 0; i < n; i++) {
            uint64_t seq = fv_durable_msg_seq(m[i]);
            if (seq != f.seqs[3] && seq != f.seqs[4])
                fail_msg("seq %llu came back though it was acknowledged or never published",
                         (unsigned long long)seq);
            int k = seq == f.seqs[4];
            if (!seen[k])
                assert_true(fv_durable_msg_delivered(m[i]) >= 2);
            seen[k] = true;
            assert_int_equal(fv_durable_msg_ack(m[i]), FV_OK);
            fv_durable_msg_destroy(m[i]);
        }
    }
    assert_true(seen[0] && seen[1]);
    /* then nothing but, at most, a late repeat of those two */
    for (size_t n, rounds = 0; (n = fetch(d, m, 8, 1500)) > 0; rounds++) {
        assert_true(rounds < 3);
        for (size_t i = 0; i < n; i++) {
            uint64_t seq = fv_durable_msg_seq(m[i]);
            assert_true(seq == f.seqs[3] || seq == f.seqs[4]);
            fv_durable_msg_ack(m[i]);
            fv_durable_msg_destroy(m[i]);
        }
    }
    fv_durable_close(d);
    fv_bus_destroy(f.bus);
}

/* The child process: acknowledges the first three messages of the durable, says so on stdout,
 * then keeps fetching (holding the other two unacknowledged) until it is killed. */
static int child_main(const char *url, const char *name)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = url;
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    if (fv_bus_create(&c, &bus, &err) != FV_OK)
        return 3;
    fv_durable *d = NULL;
    if (fv_bus_durable_open(bus, FV_STREAM_EVENTS, name, &d, &err) != FV_OK)
        return 4;
    fv_durable_msg *m[8];
    size_t n = 0, got = 0;
    while (got < 5) {
        if (fv_durable_fetch(d, 8 - got, 2000, m, &n, &err) != FV_OK)
            return 5;
        for (size_t i = 0; i < n; i++, got++) {
            if (got < 3)
                fv_durable_msg_ack(m[i]);
            fv_durable_msg_destroy(m[i]); /* the other two stay unacknowledged */
        }
    }
    printf("acked\n");
    fflush(stdout);
    for (;;) {
        fv_durable_fetch(d, 8, 1000, m, &n, &err); /* busy owner, killed from outside */
        for (size_t i = 0; i < n; i++)
            fv_durable_msg_destroy(m[i]);
    }
}

static void test_jetstream_durable_ack_floor_survives_sigterm_of_the_owner_process(void **state)
{
    fixture f;
    setup(&f, 5, 10, 1000, NULL, 0);
    char log[512];
    snprintf(log, sizeof log, "%s/durable-child.log", srv.store_dir);
    char self[512];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';
    char *argv[] = {self, "child", srv.url, f.name, NULL};
    pid_t pid = fv_test_spawn(argv, NULL, log);
    assert_true(pid > 0);
    /* wait until the child reports its three acknowledgements */
    bool acked = false;
    for (int i = 0; i < 300 && !acked; i++) {
        FILE *fp = fopen(log, "r");
        char line[256];
        while (fp && fgets(line, sizeof line, fp))
            if (strncmp(line, "acked", 5) == 0)
                acked = true;
        if (fp)
            fclose(fp);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(acked);
    fv_test_stop_pid(pid, SIGTERM, 5000);

    /* a new owner: only the two the child held come back, as second deliveries */
    fv_durable *d = open_d(&f);
    fv_durable_msg *m[8];
    size_t got = 0;
    uint64_t seen[8];
    for (int tries = 0; tries < 10 && got < 2; tries++) {
        size_t n = fetch(d, m + got, 8 - got, 1000);
        for (size_t i = 0; i < n; i++) {
            seen[got + i] = fv_durable_msg_seq(m[got + i]);
            assert_int_equal(fv_durable_msg_ack(m[got + i]), FV_OK);
            fv_durable_msg_destroy(m[got + i]);
        }
        got += n;
    }
    assert_int_equal(got, 2);
    assert_int_equal(seen[0], f.seqs[3]);
    assert_int_equal(seen[1], f.seqs[4]);
    assert_int_equal(fetch(d, m, 8, 1500), 0);
    fv_durable_close(d);
    fv_bus_destroy(f.bus);
}

static void test_jetstream_durable_rejects_bad_names_and_memory_bus(void **state)
{
    fv_bus *bus = new_bus();
    fv_durable_config dc = {.stream = FV_STREAM_EVENTS, .name = "bad.name"};
    fv_err err = {{0}};
    assert_int_equal(fv_bus_durable_ensure(bus, &dc, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "bad.name"));
    fv_bus_destroy(bus);
    fv_bus_config c;
    fv_bus_config_init(&c);
    fv_bus *mem = NULL;
    assert_int_equal(fv_bus_create(&c, &mem, &err), FV_OK);
    dc.name = "ok";
    assert_int_equal(fv_bus_durable_ensure(mem, &dc, &err), FV_ENOTSUP);
    fv_bus_destroy(mem);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "child") == 0)
        return child_main(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jetstream_durable_nak_with_delay_redelivers_after_the_delay),
        cmocka_unit_test(test_jetstream_durable_term_stops_redelivery),
        cmocka_unit_test(test_jetstream_durable_max_deliver_trims_a_longer_backoff_list),
        cmocka_unit_test(test_jetstream_durable_ack_floor_survives_the_owner_going_away),
        cmocka_unit_test(test_jetstream_durable_ack_floor_survives_sigterm_of_the_owner_process),
        cmocka_unit_test(test_jetstream_durable_rejects_bad_names_and_memory_bus),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
