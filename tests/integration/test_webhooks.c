/* test_webhooks.c - webhook delivery end to end: a real nats-server, the real flovyn-bridge
 * binary (`subscriptions`, `run`, `dlq`), and a real HTTP receiver that checks signatures itself.
 *
 * Covers signing and the CloudEvents body, residual type filtering, retries with backoff and
 * Retry-After, dead-lettering after the last attempt or a permanent refusal, replay from the DLQ,
 * the SSRF guards (at `add` and at connect time), subscriptions changing under a running bridge,
 * a subscription that cannot start at first (retried; nothing since it was added lost), crash and
 * clean restarts, and two replicas sharing a subscription. Backoffs are 100 ms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

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

static fv_wh_receiver *receiver(void)
{
    fv_wh_receiver *r = fv_wh_receiver_start(WH_SECRET);
    assert_non_null(r);
    return r;
}

static int test_teardown(void **state)
{
    wh_env_kill_bridges(&env);
    return 0;
}

static void stop_bridge(pid_t pid, int sig)
{
    int status = wh_bridge_stop(&env, pid, sig);
    if (sig == SIGTERM) {
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

static void test_webhook_delivers_signed_cloudevents_batch_of_matching_types(void **state)
{
    fv_wh_receiver *r = receiver();
    assert_int_equal(
        wh_add_sub(&env, "tsign", "sign", fv_wh_receiver_url(r), "workflow.*,task.failed", NULL),
        0);
    int port = 0;
    pid_t b = wh_bridge_start(&env, false, &port);
    assert_true(b > 0);
    assert_true(wh_wait_durable(&env, "sign", true, 10000));

    char id1[40], id2[40], id3[40], other[40];
    wh_publish(&env, "tsign", "workflow.started", "wf-a",
               "{\"x\":0.1,\"big\":12345678901234567890}", id1);
    wh_publish(&env, "tsign", "task.completed", "wf-a", "{}", id2); /* not subscribed */
    wh_publish(&env, "tsign", "task.failed", "wf-a", "[1,2]", id3);
    wh_publish(&env, "tother", "workflow.started", "wf-b", "{}", other); /* other tenant */
    assert_true(fv_wh_receiver_wait_distinct(r, 2, 15000));
    wh_sleep_ms(300);
    assert_true(fv_wh_receiver_has_event(r, id1));
    assert_true(fv_wh_receiver_has_event(r, id3));
    assert_false(fv_wh_receiver_has_event(r, id2));
    assert_false(fv_wh_receiver_has_event(r, other));
    assert_int_equal(fv_wh_receiver_bad_signatures(r), 0);

    fv_wh_request q;
    assert_true(fv_wh_receiver_request(r, 0, &q));
    assert_true(q.signature_ok);
    assert_string_equal(q.content_type, "application/cloudevents-batch+json");
    assert_true(strncmp(q.webhook_id, "msg_", 4) == 0);
    assert_true(strncmp(q.signature, "v1,", 3) == 0);
    long long ts = atoll(q.timestamp);
    assert_true(ts > 1700000000LL);
    /* the producer's bytes, not re-serialized */
    bool has_first = strstr(q.body, id1) != NULL;
    if (has_first)
        assert_non_null(strstr(q.body, "\"data\":{\"x\":0.1,\"big\":12345678901234567890}"));
    json_t *arr = json_loads(q.body, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    assert_true(json_is_array(arr));
    json_t *ce = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(ce, "specversion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(ce, "source")), "worker:test");
    assert_string_equal(json_string_value(json_object_get(ce, "subject")), "wf-a");
    assert_string_equal(json_string_value(json_object_get(ce, "tenantid")), "tsign");
    assert_string_equal(json_string_value(json_object_get(ce, "workflowexecutionid")), "wf-a");
    assert_string_equal(json_string_value(json_object_get(ce, "datacontenttype")),
                        "application/json");
    assert_non_null(json_string_value(json_object_get(ce, "time")));
    json_decref(arr);
    fv_wh_request_free(&q);

    assert_int_equal(wh_metric(port, "flovyn_webhook_delivered_total", "sign"), 2);
    stop_bridge(b, SIGTERM);
    fv_wh_receiver_stop(r);
}

static void test_webhook_retries_after_failures_with_same_webhook_id_then_acks(void **state)
{
    fv_wh_receiver *r = receiver();
    fv_wh_receiver_fail_next(r, 2, 503, -1);
    assert_int_equal(wh_add_sub(&env, "tretry", "retry", fv_wh_receiver_url(r), NULL, NULL), 0);
    int port = 0;
    pid_t b = wh_bridge_start(&env, false, &port);
    assert_true(b > 0);
    assert_true(wh_wait_durable(&env, "retry", true, 10000));
    char id[40];
    wh_publish(&env, "tretry", "workflow.completed", "wf-r", "{\"ok\":true}", id);
    assert_true(fv_wh_receiver_wait_distinct(r, 1, 15000));
    wh_sleep_ms(500); /* an ack lost would show up as a 4th request by now */
    assert_int_equal(fv_wh_receiver_requests(r), 3);
    fv_wh_request q[3];
    for (int i = 0; i < 3; i++)
        assert_true(fv_wh_receiver_request(r, (size_t)i, &q[i]));
    assert_int_equal(q[0].status, 503);
    assert_int_equal(q[1].status, 503);
    assert_int_equal(q[2].status, 200);
    /* same batch, same webhook-id; a new signature each attempt still verifies */
    assert_string_equal(q[0].webhook_id, q[1].webhook_id);
    assert_string_equal(q[1].webhook_id, q[2].webhook_id);
    for (int i = 0; i < 3; i++)
        assert_true(q[i].signature_ok);
    /* the 100ms backoff was waited between attempts */
    assert_true(q[1].at_ms - q[0].at_ms >= 90);
    assert_true(q[2].at_ms - q[1].at_ms >= 90);
    for (int i = 0; i < 3; i++)
        fv_wh_request_free(&q[i]);
    assert_int_equal(fv_wh_receiver_accepted(r), 1);
    assert_int_equal(wh_metric(port, "flovyn_webhook_retried_batches_total", "retry"), 2);
    assert_int_equal(wh_dlq_count(&env, "retry", NULL), 0);
    stop_bridge(b, SIGTERM);
    fv_wh_receiver_stop(r);
}

static void test_webhook_ordered_retries_in_place_and_keeps_order(void **state)
{
    fv_wh_receiver *r = receiver();
    fv_wh_receiver_fail_next(r, 2, 503, -1);
    const char *extra[] = {"--ordered", "--batch", "2", NULL};
    assert_int_equal(wh_add_sub(&env, "tord", "ordered", fv_wh_receiver_url(r), NULL, extra), 0);
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(wh_wait_durable(&env, "ordered", true, 10000));
    enum { N = 8 };
    char ids[N][40];
    for (int i = 0; i < N; i++)
        wh_publish(&env, "tord", "workflow.started", "wf-o", "{}", ids[i]);
    assert_true(fv_wh_receiver_wait_distinct(r, N, 15000));
    wh_sleep_ms(300);
    /* nothing overtook the failing batch, and each event was accepted once */
    assert_int_equal(fv_wh_receiver_accepted(r), N);
    for (int i = 0; i < N; i++) {
        char got[64];
        assert_true(fv_wh_receiver_accepted_id(r, (size_t)i, got, sizeof got));
        assert_string_equal(got, ids[i]);
    }
    fv_wh_request q0, q2;
    assert_true(fv_wh_receiver_request(r, 0, &q0));
    assert_true(fv_wh_receiver_request(r, 2, &q2));
    assert_int_equal(q0.status, 503);
    assert_int_equal(q2.status, 200);
    assert_string_equal(q0.webhook_id, q2.webhook_id); /* the same batch, retried in place */
    fv_wh_request_free(&q0);
    fv_wh_request_free(&q2);
    stop_bridge(b, SIGTERM);
    fv_wh_receiver_stop(r);
}

static void test_webhook_splits_large_batches_by_body_size(void **state)
{
    fv_wh_receiver *r = receiver();
    assert_int_equal(wh_add_sub(&env, "tbig", "big", fv_wh_receiver_url(r), NULL, NULL), 0);
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(wh_wait_durable(&env, "big", true, 10000));
    wh_bridge_stop(&env, b, SIGTERM); /* a backlog, so one fetch sees all of them */
    enum { N = 6, SZ = 900 * 1024 };
    char *data = malloc(SZ + 16);
    assert_non_null(data);
    memcpy(data, "\"", 1);
    memset(data + 1, 'x', SZ);
    memcpy(data + 1 + SZ, "\"", 2);
    for (int i = 0; i < N; i++)
        wh_publish(&env, "tbig", "workflow.started", "wf-big", data, NULL);
    free(data);
    b = wh_bridge_start(&env, false, NULL);
    assert_true(fv_wh_receiver_wait_distinct(r, N, 20000));
    size_t reqs = fv_wh_receiver_requests(r);
    assert_true(reqs >= 2); /* 6 x 900 KiB cannot go in one 4 MiB body */
    for (size_t i = 0; i < reqs; i++) {
        fv_wh_request q;
        assert_true(fv_wh_receiver_request(r, i, &q));
        assert_true(q.len <= 4 * 1024 * 1024);
        assert_true(q.signature_ok);
        fv_wh_request_free(&q);
    }
    assert_int_equal(fv_wh_receiver_accepted(r), N);
    stop_bridge(b, SIGTERM);
    fv_wh_receiver_stop(r);
}

static void test_webhook_honours_retry_after(void **state)
{
    fv_wh_receiver *r = receiver();
    fv_wh_receiver_fail_next(r, 1, 429, 1);
    assert_int_equal(wh_add_sub(&env, "tra", "retryafter", fv_wh_receiver_url(r), NULL, NULL), 0);
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(wh_wait_durable(&env, "retryafter", true, 10000));
    wh_publish(&env, "tra", "workflow.started", "wf-ra", "{}", NULL);
    assert_true(fv_wh_receiver_wait_distinct(r, 1, 15000));
    fv_wh_request q0, q1;
    assert_true(fv_wh_receiver_request(r, 0, &q0));
    assert_true(fv_wh_receiver_request(r, 1, &q1));
    assert_int_equal(q0.status, 429);
    assert_int_equal(q1.status, 200);
    /* Retry-After: 1 wins over the 100ms backoff */
    assert_true(q1.at_ms - q0.at_ms >= 900);
    fv_wh_request_free(&q0);
    fv_wh_request_free(&q1);
    stop_bridge(b, SIGTERM);
    fv_wh_receiver_stop(r);
}

static void test_webhook_always_failing_dead_letters_then_replay_delivers(void **state)
{
    fv_wh_receiver *r = receiver();
    fv_wh_receiver_set_status(r, 500);
    assert_int_equal(wh_add_sub(&env, "tdead", "dead", fv_wh_receiver_url(r), NULL, NULL), 0);
    int port = 0;
    pid_t b = wh_bridge_start(&env, false, &port);
    assert_true(wh_wait_durable(&env, "dead", true, 10000));
    char id1[40], id2[40];
    wh_publish(&env, "tdead", "workflow.failed", "wf-d", "{\"n\":1}", id1);
    wh_publish(&env, "tdead", "workflow.failed", "wf-d", "{\"n\":2}", id2);
    assert_true(wh_wait_dlq(&env, "dead", 2, 20000));
    /* 3 attempts (--max-attempts 3) of each event, never more */
    wh_sleep_ms(500);
    size_t events_tried = 0;
    for (size_t i = 0; i < fv_wh_receiver_requests(r); i++) {
        fv_wh_request q;
        fv_wh_receiver_request(r, i, &q);
        events_tried += q.nevents;
        fv_wh_request_free(&q);
    }
    assert_int_equal(events_tried, 6);
    assert_int_equal(fv_wh_receiver_accepted(r), 0);
    char *out = NULL;
    assert_int_equal(wh_dlq_count(&env, "dead", &out), 2);
    assert_non_null(strstr(out, id1));
    assert_non_null(strstr(out, id2));
    assert_non_null(strstr(out, "\"attempts\":3"));
    assert_non_null(strstr(out, "HTTP 500"));
    assert_non_null(strstr(out, "\"subscription\":\"dead\""));
    free(out);
    assert_int_equal(wh_metric(port, "flovyn_webhook_dead_lettered_total", "dead"), 2);
    stop_bridge(b, SIGTERM);

    /* receiver healthy again: replay delivers straight from the DLQ and empties it */
    fv_wh_receiver_set_status(r, 0);
    const char *replay[] = {"dlq", "replay", "--subscription", "dead", NULL};
    char *rout = NULL;
    assert_int_equal(wh_cli(&env, &rout, NULL, replay), 0);
    assert_non_null(strstr(rout, "\"replayed\":2"));
    free(rout);
    assert_int_equal(fv_wh_receiver_accepted_distinct(r), 2);
    assert_true(fv_wh_receiver_has_event(r, id1));
    assert_true(fv_wh_receiver_has_event(r, id2));
    assert_int_equal(fv_wh_receiver_bad_signatures(r), 0);
    assert_int_equal(wh_dlq_count(&env, "dead", NULL), 0);
    fv_wh_receiver_stop(r);
}

static void test_webhook_permanent_4xx_dead_letters_without_retry(void **state)
{
    fv_wh_receiver *r = receiver();
    fv_wh_receiver_set_status(r, 400);
    assert_int_equal(wh_add_sub(&env, "tperm", "perm", fv_wh_receiver_url(r), NULL, NULL), 0);
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(wh_wait_durable(&env, "perm", true, 10000));
    wh_publish(&env, "tperm", "workflow.started", "wf-p", "{}", NULL);
    assert_true(wh_wait_dlq(&env, "perm", 1, 15000));
    wh_sleep_ms(400);
    assert_int_equal(fv_wh_receiver_requests(r), 1);
    char *out = NULL;
    wh_dlq_count(&env, "perm", &out);
    assert_non_null(strstr(out, "permanent"));
    assert_non_null(strstr(out, "HTTP 400"));
    free(out);
    stop_bridge(b, SIGTERM);
    fv_wh_receiver_stop(r);
}

/* A subscription record that says nothing about private targets, stored without the CLI's
 * check (as a hostile or stale writer could); the bucket is returned open in *kv. */
static void put_unchecked_sub(const char *name, const char *tenant, const char *url, fv_kv **kv)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"name\":\"%s\",\"tenant_id\":\"%s\",\"types\":\"\",\"url\":\"%s\","
             "\"secret\":\"" WH_SECRET "\",\"max_attempts\":3,\"backoff_ms\":[100],"
             "\"batch\":10,\"ordered\":false,\"allow_private\":false,\"created_ms\":0}",
             name, tenant, url);
    fv_kv_config kc = {.bucket = "FLOVYN_SUBSCRIPTIONS"};
    assert_int_equal(fv_kv_open(env.bus, &kc, kv, NULL), FV_OK);
    assert_int_equal(fv_kv_put(*kv, name, json, strlen(json), NULL, NULL), FV_OK);
}

static void test_webhook_connect_time_guard_refuses_private_address(void **state)
{
    /* a bridge without --allow-private */
    fv_wh_receiver *r = receiver();
    fv_kv *kv = NULL;
    put_unchecked_sub("guard", "tguard", fv_wh_receiver_url(r), &kv);
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(wh_wait_durable(&env, "guard", true, 10000));
    wh_publish(&env, "tguard", "workflow.started", "wf-g", "{}", NULL);
    assert_true(wh_wait_dlq(&env, "guard", 1, 15000));
    assert_int_equal(fv_wh_receiver_requests(r), 0);
    char *out = NULL;
    wh_dlq_count(&env, "guard", &out);
    assert_non_null(strstr(out, "refused to connect to 127.0.0.1"));
    assert_non_null(strstr(out, "loopback"));
    free(out);
    stop_bridge(b, SIGTERM);
    assert_int_equal(fv_kv_delete(kv, "guard", NULL), FV_OK);
    fv_kv_close(kv);
    fv_wh_receiver_stop(r);
}

/* `run --allow-private` lifts the connect-time guard for every subscription; the old spelling
 * --webhook-allow-private still does, with one deprecation warning in the log */
static void test_run_allow_private_in_both_spellings_lifts_the_guard(void **state)
{
    static const char *const spellings[] = {"--allow-private", "--webhook-allow-private"};
    fv_wh_receiver *r = receiver();
    fv_kv *kv = NULL;
    put_unchecked_sub("lifted", "tlifted", fv_wh_receiver_url(r), &kv);
    for (size_t i = 0; i < 2; i++) {
        char log[400];
        pid_t b = wh_bridge_start_flag(&env, spellings[i], NULL, log);
        assert_true(b > 0);
        assert_true(wh_wait_durable(&env, "lifted", true, 10000));
        char id[40];
        wh_publish(&env, "tlifted", "workflow.started", "wf-late", "{}", id);
        assert_true(fv_wh_receiver_wait_distinct(r, i + 1, 15000));
        assert_true(fv_wh_receiver_has_event(r, id));
        stop_bridge(b, SIGTERM);
        FILE *f = fopen(log, "r");
        assert_non_null(f);
        char text[1 << 16];
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        const char *w = strstr(text, "deprecated");
        if (i == 0) {
            assert_null(w);
        } else {
            assert_non_null(w);
            assert_non_null(strstr(w, "\"option\":\"--webhook-allow-private\""));
            assert_non_null(strstr(w, "\"use\":\"--allow-private\""));
            assert_null(strstr(w + 1, "deprecated"));
        }
    }
    assert_int_equal(wh_dlq_count(&env, "lifted", NULL), 0);
    assert_int_equal(fv_kv_delete(kv, "lifted", NULL), FV_OK);
    fv_kv_close(kv);
    fv_wh_receiver_stop(r);
}

static void test_subscriptions_add_refuses_private_url_without_flag(void **state)
{
    const char *args[] = {"subscriptions", "add",           "--tenant", "tpriv",
                          "--name",        "priv",          "--url",    "http://127.0.0.1:9/hook",
                          "--secret-file", env.secret_file, NULL};
    char *err = NULL;
    assert_int_equal(wh_cli(&env, NULL, &err, args), 2);
    assert_non_null(strstr(err, "loopback"));
    assert_non_null(strstr(err, "--allow-private"));
    free(err);
    const char *meta[] = {
        "subscriptions", "add",           "--tenant", "tpriv",
        "--name",        "priv",          "--url",    "http://169.254.169.254/latest",
        "--secret-file", env.secret_file, NULL};
    assert_int_equal(wh_cli(&env, NULL, &err, meta), 2);
    assert_non_null(strstr(err, "metadata"));
    free(err);
    /* nothing was stored */
    const char *list[] = {"subscriptions", "list", "--tenant", "tpriv", NULL};
    char *out = NULL;
    assert_int_equal(wh_cli(&env, &out, NULL, list), 0);
    assert_int_equal(wh_count_lines(out), 0);
    free(out);
    /* bad input is refused with exit 2 too */
    const char *badtypes[] = {"subscriptions",   "add",           "--tenant",
                              "tpriv",           "--url",         "http://127.0.0.1:9/",
                              "--allow-private", "--secret-file", env.secret_file,
                              "--types",         "workflow.>.x",  NULL};
    assert_int_equal(wh_cli(&env, NULL, NULL, badtypes), 2);
    const char *badtenant[] = {
        "subscriptions",   "add",           "--tenant",      "a.b", "--url", "http://127.0.0.1:9/",
        "--allow-private", "--secret-file", env.secret_file, NULL};
    assert_int_equal(wh_cli(&env, NULL, NULL, badtenant), 2);
    /* with the flag it is accepted, and list never shows the secret */
    const char *ok[] = {
        "subscriptions", "add",           "--tenant",        "tpriv",
        "--name",        "priv",          "--url",           "http://127.0.0.1:9/hook",
        "--secret-file", env.secret_file, "--allow-private", NULL};
    assert_int_equal(wh_cli(&env, &out, NULL, ok), 0);
    assert_non_null(strstr(out, "\"created\":true"));
    free(out);
    assert_int_equal(wh_cli(&env, &out, NULL, ok), 0); /* the same name again replaces it */
    assert_non_null(strstr(out, "\"updated\":true"));
    free(out);
    assert_int_equal(wh_cli(&env, &out, NULL, list), 0);
    assert_int_equal(wh_count_lines(out), 1);
    assert_non_null(strstr(out, "\"name\":\"priv\""));
    assert_null(strstr(out, "whsec_"));
    free(out);
    assert_int_equal(wh_rm_sub(&env, "priv"), 0);
    assert_int_equal(wh_rm_sub(&env, "priv"), 2); /* gone */
}

static void test_subscription_added_and_removed_at_runtime(void **state)
{
    fv_wh_receiver *r = receiver();
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(b > 0);
    assert_int_equal(wh_add_sub(&env, "trt", "runtime", fv_wh_receiver_url(r), NULL, NULL), 0);
    assert_true(wh_wait_durable(&env, "runtime", true, 10000));
    char id1[40], id2[40];
    wh_publish(&env, "trt", "workflow.started", "wf-rt", "{}", id1);
    assert_true(fv_wh_receiver_wait_distinct(r, 1, 15000));
    assert_int_equal(wh_rm_sub(&env, "runtime"), 0);
    /* the running bridge deletes the durable: nothing more is delivered */
    assert_true(wh_wait_durable(&env, "runtime", false, 10000));
    wh_publish(&env, "trt", "workflow.completed", "wf-rt", "{}", id2);
    wh_sleep_ms(800);
    assert_false(fv_wh_receiver_has_event(r, id2));
    assert_int_equal(fv_wh_receiver_accepted(r), 1);
    stop_bridge(b, SIGTERM);
    fv_wh_receiver_stop(r);
}

/* A subscription whose durable cannot be made when the bridge first sees it - here a consumer of
 * the same name with another ack policy, which the server refuses to update; in a cluster,
 * JetStream electing a leader - is tried again until it starts. It then delivers every event
 * stored since the subscription was added, also those stored while it could not start, and
 * none from before. */
static void test_subscription_that_cannot_start_is_retried_and_loses_nothing(void **state)
{
    fv_wh_receiver *r = receiver();
    char before[40], during[3][40];
    wh_publish(&env, "tlate", "workflow.started", "wf-late", "{}", before);
    wh_sleep_ms(50);
    assert_int_equal(fv_test_js_consumer_add_ack_all(env.nats.url, "FLOVYN_EVENTS", "webhook_late"),
                     0);
    assert_int_equal(wh_add_sub(&env, "tlate", "late", fv_wh_receiver_url(r), NULL, NULL), 0);
    int port = 0;
    pid_t b = wh_bridge_start(&env, false, &port);
    assert_true(b > 0);
    long long waiting = -1;
    for (int i = 0; i < 200 && waiting != 1; i++, wh_sleep_ms(50))
        waiting = wh_metric(port, "flovyn_webhook_subscriptions_waiting", NULL);
    assert_int_equal(waiting, 1);
    for (int i = 0; i < 3; i++)
        wh_publish(&env, "tlate", "workflow.completed", "wf-late", "{}", during[i]);
    wh_sleep_ms(700); /* at least one more failed attempt */
    assert_int_equal(wh_metric(port, "flovyn_webhook_subscriptions_waiting", NULL), 1);
    assert_int_equal(fv_test_js_consumer_delete(env.nats.url, "FLOVYN_EVENTS", "webhook_late"), 0);
    assert_true(fv_wh_receiver_wait_distinct(r, 3, 20000));
    for (int i = 0; i < 3; i++)
        assert_true(fv_wh_receiver_has_event(r, during[i]));
    wh_sleep_ms(500);
    assert_false(fv_wh_receiver_has_event(r, before));
    assert_int_equal(wh_metric(port, "flovyn_webhook_subscriptions_waiting", NULL), 0);
    stop_bridge(b, SIGTERM);
    fv_wh_receiver_stop(r);
}

static void test_webhook_kill9_during_delivery_loses_nothing(void **state)
{
    fv_wh_receiver *r = receiver();
    /* the first batch stays in flight for a second and is then refused, so its events can
     * only arrive through the next bridge's redelivery of the unacked messages */
    fv_wh_receiver_set_delay(r, 1000);
    fv_wh_receiver_fail_next(r, 1, 503, -1);
    assert_int_equal(wh_add_sub(&env, "tkill", "kill", fv_wh_receiver_url(r), NULL, NULL), 0);
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(wh_wait_durable(&env, "kill", true, 10000));
    char ids[20][40];
    for (int i = 0; i < 20; i++)
        wh_publish(&env, "tkill", "workflow.started", "wf-k", "{}", ids[i]);
    for (int i = 0; i < 500 && fv_wh_receiver_arrivals(r) == 0; i++)
        wh_sleep_ms(10);
    assert_true(fv_wh_receiver_arrivals(r) > 0);
    assert_int_equal(fv_wh_receiver_requests(r), 0);
    wh_bridge_stop(&env, b, SIGKILL); /* mid-request, nothing acked */
    fv_wh_receiver_set_delay(r, 0);
    pid_t b2 = wh_bridge_start(&env, false, NULL);
    assert_true(b2 > 0);
    assert_true(fv_wh_receiver_wait_distinct(r, 20, 30000));
    for (int i = 0; i < 20; i++)
        assert_true(fv_wh_receiver_has_event(r, ids[i]));
    printf("# kill -9: %zu requests, %zu events accepted for 20 distinct (at-least-once "
           "duplicates: %zu)\n",
           fv_wh_receiver_requests(r), fv_wh_receiver_accepted(r), fv_wh_receiver_accepted(r) - 20);
    stop_bridge(b2, SIGTERM);
    fv_wh_receiver_stop(r);
}

static void test_webhook_sigterm_restart_keeps_ack_floor(void **state)
{
    fv_wh_receiver *r = receiver();
    assert_int_equal(wh_add_sub(&env, "tterm", "term", fv_wh_receiver_url(r), NULL, NULL), 0);
    pid_t b = wh_bridge_start(&env, false, NULL);
    assert_true(wh_wait_durable(&env, "term", true, 10000));
    for (int i = 0; i < 5; i++)
        wh_publish(&env, "tterm", "workflow.started", "wf-t", "{}", NULL);
    assert_true(fv_wh_receiver_wait_distinct(r, 5, 15000));
    wh_sleep_ms(200);
    stop_bridge(b, SIGTERM);
    /* the durable outlives the bridge, and events published meanwhile wait in it */
    assert_true(wh_wait_durable(&env, "term", true, 1000));
    for (int i = 0; i < 5; i++)
        wh_publish(&env, "tterm", "workflow.completed", "wf-t", "{}", NULL);
    pid_t b2 = wh_bridge_start(&env, false, NULL);
    assert_true(fv_wh_receiver_wait_distinct(r, 10, 15000));
    wh_sleep_ms(500);
    /* acked before the stop: not delivered again */
    assert_int_equal(fv_wh_receiver_accepted(r), 10);
    stop_bridge(b2, SIGTERM);
    fv_wh_receiver_stop(r);
}

static void test_two_bridge_replicas_split_load_without_loss(void **state)
{
    fv_wh_receiver *r = receiver();
    fv_wh_receiver_set_delay(r, 20);
    const char *extra[] = {"--batch", "10", NULL};
    assert_int_equal(wh_add_sub(&env, "tsplit", "split", fv_wh_receiver_url(r), NULL, extra), 0);
    int p1 = 0, p2 = 0;
    pid_t b1 = wh_bridge_start(&env, false, &p1);
    pid_t b2 = wh_bridge_start(&env, false, &p2);
    assert_true(b1 > 0 && b2 > 0);
    assert_true(wh_wait_durable(&env, "split", true, 10000));
    wh_sleep_ms(500); /* both replicas fetching */
    enum { N = 400 };
    for (int i = 0; i < N; i++)
        wh_publish(&env, "tsplit", "workflow.started", "wf-s", "{}", NULL);
    assert_true(fv_wh_receiver_wait_distinct(r, N, 30000));
    wh_sleep_ms(300);
    long long d1 = wh_metric(p1, "flovyn_webhook_delivered_total", "split");
    long long d2 = wh_metric(p2, "flovyn_webhook_delivered_total", "split");
    size_t acc = fv_wh_receiver_accepted(r);
    printf("# replicas: bridge1 delivered %lld, bridge2 %lld, receiver accepted %zu for %d "
           "distinct (duplicates %zu)\n",
           d1, d2, acc, N, acc - N);
    assert_true(d1 > 0);
    assert_true(d2 > 0);
    assert_true(d1 + d2 >= N);
    stop_bridge(b1, SIGTERM);
    stop_bridge(b2, SIGTERM);
    fv_wh_receiver_stop(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_webhook_delivers_signed_cloudevents_batch_of_matching_types,
                                  test_teardown),
        cmocka_unit_test_teardown(
            test_webhook_retries_after_failures_with_same_webhook_id_then_acks, test_teardown),
        cmocka_unit_test_teardown(test_webhook_ordered_retries_in_place_and_keeps_order,
                                  test_teardown),
        cmocka_unit_test_teardown(test_webhook_splits_large_batches_by_body_size, test_teardown),
        cmocka_unit_test_teardown(test_webhook_honours_retry_after, test_teardown),
        cmocka_unit_test_teardown(test_webhook_always_failing_dead_letters_then_replay_delivers,
                                  test_teardown),
        cmocka_unit_test_teardown(test_webhook_permanent_4xx_dead_letters_without_retry,
                                  test_teardown),
        cmocka_unit_test_teardown(test_webhook_connect_time_guard_refuses_private_address,
                                  test_teardown),
        cmocka_unit_test_teardown(test_run_allow_private_in_both_spellings_lifts_the_guard,
                                  test_teardown),
        cmocka_unit_test_teardown(test_subscriptions_add_refuses_private_url_without_flag,
                                  test_teardown),
        cmocka_unit_test_teardown(test_subscription_added_and_removed_at_runtime, test_teardown),
        cmocka_unit_test_teardown(test_subscription_that_cannot_start_is_retried_and_loses_nothing,
                                  test_teardown),
        cmocka_unit_test_teardown(test_webhook_kill9_during_delivery_loses_nothing, test_teardown),
        cmocka_unit_test_teardown(test_webhook_sigterm_restart_keeps_ack_floor, test_teardown),
        cmocka_unit_test_teardown(test_two_bridge_replicas_split_load_without_loss, test_teardown),
    };
    return cmocka_run_group_tests_name("webhooks", tests, group_setup, group_teardown);
}
