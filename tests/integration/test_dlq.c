/* test_dlq.c - `flovyn-bridge dlq list|replay|purge` against dead letters made the real way: a
 * running bridge, a receiver that fails, and --max-attempts 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include "flovyn/json.h"

#include "webhook_env.h"

static wh_env env;

static int group_setup(void **state)
{
    return wh_env_setup(&env);
}

static int group_teardown(void **state)
{
    wh_env_teardown(&env);
    return 0;
}

static int test_teardown(void **state)
{
    wh_env_kill_bridges(&env);
    return 0;
}

/* the value span of a top-level member (the project's scanner: event data may hold numbers such
 * as 1e400 that jansson refuses) */
static fv_span member(const char *obj, size_t len, const char *key)
{
    fv_json_iter it;
    fv_json_iter_init(&it, obj, len);
    fv_span k, v = {NULL, 0};
    fv_json_kind kind;
    while (fv_json_next_member(&it, &k, &v, &kind, NULL) == 1)
        if (fv_json_key_is(k, key))
            return v;
    return (fv_span){NULL, 0};
}

static char *member_str(const char *obj, size_t len, const char *key, char *out, size_t cap)
{
    fv_span v = member(obj, len, key);
    if (!v.p || fv_json_string_decode(v, out, cap, NULL, NULL) != FV_OK)
        return NULL;
    return out;
}

static long long member_int(const char *obj, size_t len, const char *key)
{
    fv_span v = member(obj, len, key);
    int64_t n = -1;
    if (!v.p || fv_json_int64(v, &n, NULL) != FV_OK)
        return -1;
    return n;
}

/* n dead letters for subscription `name` of tenant `tenant`, ids written to ids */
static void make_dead_letters(const char *tenant, const char *name, fv_wh_receiver *r, int n,
                              char ids[][40])
{
    fv_wh_receiver_set_status(r, 503);
    const char *extra[] = {"--max-attempts", "1", NULL};
    assert_int_equal(wh_add_sub(&env, tenant, name, fv_wh_receiver_url(r), NULL, extra), 0);
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(b > 0);
    assert_true(wh_wait_durable(&env, name, true, 10000));
    for (int i = 0; i < n; i++)
        wh_publish(&env, tenant, "task.failed", "wf-dlq", "{\"attempt\":1e400}", ids[i]);
    assert_true(wh_wait_dlq(&env, name, n, 15000));
    wh_bridge_stop(&env, b, SIGTERM);
}

static void test_dlq_list_prints_json_lines_with_reason_and_original_event(void **state)
{
    fv_wh_receiver *r = fv_wh_receiver_start(WH_SECRET);
    char ids[3][40];
    make_dead_letters("tdl1", "list1", r, 3, ids);
    char *out = NULL;
    assert_int_equal(wh_dlq_count(&env, "list1", &out), 3);
    char *line = out;
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        size_t len = (size_t)(nl - line);
        char buf[512];
        assert_non_null(member_str(line, len, "subscription", buf, sizeof buf));
        assert_string_equal(buf, "list1");
        assert_int_equal(member_int(line, len, "attempts"), 1);
        assert_true(member_int(line, len, "original_seq") > 0);
        assert_true(member_int(line, len, "dlq_seq") > 0);
        assert_non_null(member_str(line, len, "reason", buf, sizeof buf));
        assert_non_null(strstr(buf, "HTTP 503"));
        assert_non_null(member_str(line, len, "subject", buf, sizeof buf));
        assert_string_equal(buf, "flovyn.v1.events.tdl1.wf-dlq._.task.failed");
        fv_span ev = member(line, len, "event");
        assert_non_null(ev.p);
        assert_non_null(member_str(ev.p, ev.n, "id", buf, sizeof buf));
        /* batches settle concurrently, so dead letters need not be in publish order */
        bool known = false;
        for (int j = 0; j < 3; j++)
            known = known || !strcmp(buf, ids[j]);
        assert_true(known);
        line = nl + 1;
    }
    for (int j = 0; j < 3; j++)
        assert_non_null(strstr(out, ids[j]));
    /* the producer's bytes survive the DLQ */
    assert_non_null(strstr(out, "\"data\":{\"attempt\":1e400}"));
    free(out);
    /* --limit */
    const char *lim[] = {"dlq", "list", "--subscription", "list1", "--limit", "2", NULL};
    assert_int_equal(wh_cli(&env, &out, NULL, lim), 0);
    assert_int_equal(wh_count_lines(out), 2);
    free(out);
    fv_wh_receiver_stop(r);
}

static void test_dlq_replay_keeps_entries_while_receiver_still_fails(void **state)
{
    fv_wh_receiver *r = fv_wh_receiver_start(WH_SECRET);
    char ids[3][40];
    make_dead_letters("tdl2", "stillbad", r, 3, ids);
    size_t before = fv_wh_receiver_requests(r);
    const char *replay[] = {"dlq", "replay", "--subscription", "stillbad", NULL};
    char *err = NULL;
    assert_int_equal(wh_cli(&env, NULL, &err, replay), 1);
    assert_non_null(strstr(err, "HTTP 503"));
    free(err);
    /* one try for the subscription, not one per entry: a broken receiver is not hammered */
    assert_int_equal(fv_wh_receiver_requests(r) - before, 1);
    assert_int_equal(wh_dlq_count(&env, "stillbad", NULL), 3);
    fv_wh_receiver_stop(r);
}

static void test_dlq_replay_never_republishes_into_events(void **state)
{
    fv_wh_receiver *r = fv_wh_receiver_start(WH_SECRET);
    char ids[2][40];
    make_dead_letters("tdl3", "norepub", r, 2, ids);
    uint64_t last_before = 0, last_after = 0;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_last_seq(env.bus, FV_SRC_EVENTS, &last_before, &err), FV_OK);
    fv_wh_receiver_set_status(r, 0);
    const char *replay[] = {"dlq", "replay", "--subscription", "norepub", NULL};
    assert_int_equal(wh_cli(&env, NULL, NULL, replay), 0);
    assert_true(fv_wh_receiver_has_event(r, ids[0]));
    assert_true(fv_wh_receiver_has_event(r, ids[1]));
    assert_int_equal(fv_bus_last_seq(env.bus, FV_SRC_EVENTS, &last_after, &err), FV_OK);
    assert_int_equal(last_after, last_before);
    assert_int_equal(wh_dlq_count(&env, "norepub", NULL), 0);
    /* replaying an empty DLQ is a no-op */
    char *out = NULL;
    assert_int_equal(wh_cli(&env, &out, NULL, replay), 0);
    assert_non_null(strstr(out, "\"replayed\":0"));
    free(out);
    fv_wh_receiver_stop(r);
}

static void test_dlq_purge_removes_only_that_subscription(void **state)
{
    fv_wh_receiver *r1 = fv_wh_receiver_start(WH_SECRET);
    fv_wh_receiver *r2 = fv_wh_receiver_start(WH_SECRET);
    char a[2][40], b[2][40];
    make_dead_letters("tdl4", "purgeme", r1, 2, a);
    make_dead_letters("tdl5", "keepme", r2, 2, b);
    const char *purge[] = {"dlq", "purge", "--subscription", "purgeme", NULL};
    assert_int_equal(wh_cli(&env, NULL, NULL, purge), 0);
    assert_int_equal(wh_dlq_count(&env, "purgeme", NULL), 0);
    assert_int_equal(wh_dlq_count(&env, "keepme", NULL), 2);
    /* entries of a removed subscription have nowhere to go: replay skips and keeps them */
    assert_int_equal(wh_rm_sub(&env, "keepme"), 0);
    size_t before = fv_wh_receiver_requests(r2);
    const char *replay[] = {"dlq", "replay", "--subscription", "keepme", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(wh_cli(&env, &out, &err, replay), 0);
    assert_non_null(strstr(out, "\"skipped\":2"));
    assert_non_null(strstr(err, "no subscription named 'keepme'"));
    free(out);
    free(err);
    assert_int_equal(wh_dlq_count(&env, "keepme", NULL), 2);
    assert_int_equal(fv_wh_receiver_requests(r2), before); /* nothing was sent */
    const char *bad[] = {"dlq", "purge", "--subscription", "no.dots", NULL};
    assert_int_equal(wh_cli(&env, NULL, NULL, bad), 2);
    const char *unknown[] = {"dlq", "frobnicate", NULL};
    assert_int_equal(wh_cli(&env, NULL, NULL, unknown), 2);
    fv_wh_receiver_stop(r1);
    fv_wh_receiver_stop(r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dlq_list_prints_json_lines_with_reason_and_original_event,
                                  test_teardown),
        cmocka_unit_test_teardown(test_dlq_replay_keeps_entries_while_receiver_still_fails,
                                  test_teardown),
        cmocka_unit_test_teardown(test_dlq_replay_never_republishes_into_events, test_teardown),
        cmocka_unit_test_teardown(test_dlq_purge_removes_only_that_subscription, test_teardown),
    };
    return cmocka_run_group_tests_name("dlq", tests, group_setup, group_teardown);
}
