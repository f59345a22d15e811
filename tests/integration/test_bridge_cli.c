/* test_bridge_cli.c - the flovyn-bridge one-shot commands as a user runs them: the built binary
 * against a real nats-server, stdout and stderr captured, exit codes checked (0 ok, 2 bad input,
 * 1 runtime failure). One server for the group; each test uses a tenant of its own.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "fixture.h"
#include "flovyn/bus.h"
#include "flovyn/registry.h"
#include "flovyn/units.h"

extern char **environ;

static fv_nats_server srv;
static char tmpdir[256];

typedef struct cli_result {
    int code;
    char out[65536];
    char err[8192];
} cli_result;

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* runs program with args (NULL-terminated) and --nats-url of the test server unless url is
 * given ("" = none) */
static void run_program(cli_result *r, const char *program, const char *url, va_list ap)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)fv_test_bin(program);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 60)
        argv[n++] = (char *)a;
    char urlopt[128];
    const char *u = url ? url : srv.url;
    if (*u) {
        snprintf(urlopt, sizeof urlopt, "--nats-url=%s", u);
        argv[n++] = urlopt;
    }
    argv[n] = NULL;
    char outp[300], errp[300];
    snprintf(outp, sizeof outp, "%s/out", tmpdir);
    snprintf(errp, sizeof errp, "%s/err", tmpdir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    slurp(outp, r->out, sizeof r->out);
    slurp(errp, r->err, sizeof r->err);
}

/* flovyn-bridge args... (see run_program) */
static void cli(cli_result *r, const char *url, ...)
{
    va_list ap;
    va_start(ap, url);
    run_program(r, "flovyn-bridge", url, ap);
    va_end(ap);
}

/* flovyn-gateway args..., never given a --nats-url */
static void gateway_cli(cli_result *r, ...)
{
    va_list ap;
    va_start(ap, r);
    run_program(r, "flovyn-gateway", "", ap);
    va_end(ap);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int group_setup(void **state)
{
    unsetenv("FLOVYN_NATS_URL");
    if (fv_test_tmpdir(tmpdir, sizeof tmpdir, "bridge-cli") != 0)
        return -1;
    return fv_nats_start(&srv);
}

static int group_teardown(void **state)
{
    fv_nats_cleanup(&srv);
    static const char *const files[] = {"out", "err", "follow.out", "run-late.log"};
    char path[400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return 0;
}

/* true if the stream exists on the server at url; its MaxAge in ms into *max_age_ms */
static bool stream_info(const char *url, const char *name, int64_t *max_age_ms)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    bool ok = natsConnection_ConnectTo(&nc, url) == NATS_OK &&
              natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
              js_GetStreamInfo(&si, js, name, NULL, &jerr) == NATS_OK;
    if (ok && max_age_ms)
        *max_age_ms = si->Config->MaxAge / 1000000;
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return ok;
}

static bool stream_exists(const char *name)
{
    return stream_info(srv.url, name, NULL);
}

static void test_init_creates_everything_and_is_idempotent(void **state)
{
    cli_result r;
    cli(&r, NULL, "init", NULL);
    assert_int_equal(r.code, 0);
    cli(&r, NULL, "init", NULL);
    assert_int_equal(r.code, 0);
    assert_true(stream_exists("FLOVYN_EVENTS"));
    assert_true(stream_exists("FLOVYN_STREAMS"));
    assert_true(stream_exists("FLOVYN_DLQ"));
    assert_true(stream_exists("KV_FLOVYN_WORKFLOWS"));
    assert_true(stream_exists("KV_FLOVYN_SUBSCRIPTIONS"));
    /* a changed limit is applied in place, not refused */
    cli(&r, NULL, "init", "--dlq-max-age", "2d", "--events-max-age", "3d", NULL);
    assert_int_equal(r.code, 0);
    int64_t age = 0;
    assert_true(stream_info(srv.url, "FLOVYN_DLQ", &age));
    assert_int_equal(age, 2LL * 86400 * 1000);
    /* the registry's TTL follows the events' retention (one TTL per bucket) */
    assert_true(stream_info(srv.url, "KV_FLOVYN_WORKFLOWS", &age));
    assert_int_equal(age, 3LL * 86400 * 1000);
    cli(&r, NULL, "init", NULL);
    assert_int_equal(r.code, 0);
    assert_true(stream_info(srv.url, "KV_FLOVYN_WORKFLOWS", &age));
    assert_int_equal(age, 7LL * 86400 * 1000);
}

static void test_publish_prints_sequence_and_duplicate_prints_same(void **state)
{
    cli_result r;
    cli(&r, NULL, "publish", "--tenant", "tpub", "--type", "workflow.started", "--workflow", "w1",
        "--id", "ev-1", "--data", "{\"n\":0.1}", NULL);
    assert_int_equal(r.code, 0);
    unsigned long long seq = strtoull(r.out, NULL, 10);
    assert_true(seq > 0);
    cli_result d;
    cli(&d, NULL, "publish", "--tenant", "tpub", "--type", "workflow.started", "--workflow", "w1",
        "--id", "ev-1", "--data", "{\"n\":0.1}", NULL);
    assert_int_equal(d.code, 0);
    assert_int_equal(strtoull(d.out, NULL, 10), seq);
    assert_non_null(strstr(d.err, "duplicate"));
    /* same id, other tenant: a different event */
    cli(&d, NULL, "publish", "--tenant", "tpub2", "--type", "workflow.started", "--id", "ev-1",
        NULL);
    assert_int_equal(d.code, 0);
    assert_true(strtoull(d.out, NULL, 10) > seq);
    assert_null(strstr(d.err, "duplicate"));
}

static void test_publish_rejects_bad_ids_and_json_with_exit_2(void **state)
{
    cli_result r;
    cli(&r, NULL, "publish", "--tenant", "a.>", "--type", "task.created", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "tenant_id"));
    cli(&r, NULL, "publish", "--tenant", "t", "--type", "task.created", "--workflow", "*", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "workflow_execution_id"));
    cli(&r, NULL, "publish", "--tenant", "t", "--type", "task.created", "--data", "{\"a\":", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "JSON"));
    cli(&r, NULL, "publish", "--tenant", "t", "--type", "error.x", NULL);
    assert_int_equal(r.code, 2);
    cli(&r, NULL, "publish", "--tenant", "t", NULL);
    assert_int_equal(r.code, 2);
    cli(&r, NULL, "publish", "--tenant", "t", "--type", "a.b", "--bogus", "1", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--bogus"));
    cli(&r, NULL, "tail", "--tenant", "*", NULL);
    assert_int_equal(r.code, 2);
    cli(&r, NULL, "tail", "--tenant", "t", "--types", "tokenz", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "tokenz"));
    cli(&r, NULL, "tail", "--tenant", "t", "--since", "yesterday-ish", NULL);
    assert_int_equal(r.code, 2);
    cli(&r, NULL, "workflows", "get", "a.b", NULL);
    assert_int_equal(r.code, 2);
    cli(&r, NULL, "frobnicate", NULL);
    assert_int_equal(r.code, 2);
}

static void test_missing_or_unreachable_nats(void **state)
{
    cli_result r;
    cli(&r, "", "publish", "--tenant", "t", "--type", "a.b", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--nats-url"));
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", fv_test_free_port());
    cli(&r, url, "publish", "--tenant", "t", "--type", "a.b", NULL);
    assert_int_equal(r.code, 1);
}

static void test_help_lists_options_and_env(void **state)
{
    cli_result r;
    cli(&r, "", "tail", "--help", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "--from-seq"));
    assert_non_null(strstr(r.out, "FLOVYN_NATS_URL"));
    cli(&r, "", "run", "--help", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "--legacy-capture"));
    assert_non_null(strstr(r.out, "--registry-sweep-after"));
}

/* the part of a --help text from its "Example" heading on, holding an invocation of `cmd` */
static void assert_help_example(const cli_result *r, const char *cmd)
{
    if (r->code != 0 || !strstr(r->out, "Example"))
        fail_msg("%s --help: exit %d, no \"Example\" in:\n%s", cmd, r->code, r->out);
    if (!strstr(strstr(r->out, "Example"), cmd))
        fail_msg("%s --help: the examples do not invoke it:\n%s", cmd, r->out);
}

static void test_every_subcommand_help_shows_an_example(void **state)
{
    static const char *const subs[][2] = {
        {"run", NULL},
        {"init", NULL},
        {"publish", NULL},
        {"tail", NULL},
        {"workflows", "get"},
        {"subscriptions", "add"},
        {"subscriptions", "list"},
        {"subscriptions", "rm"},
        {"dlq", "list"},
        {"dlq", "replay"},
        {"dlq", "purge"},
        {"demo", NULL},
    };
    cli_result r;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "flovyn-bridge %s%s%s", subs[i][0], subs[i][1] ? " " : "",
                 subs[i][1] ? subs[i][1] : "");
        if (subs[i][1])
            cli(&r, "", subs[i][0], subs[i][1], "--help", NULL);
        else
            cli(&r, "", subs[i][0], "--help", NULL);
        assert_help_example(&r, cmd);
    }
    cli(&r, "", "--help", NULL);
    assert_help_example(&r, "flovyn-bridge ");
    gateway_cli(&r, "--help", NULL);
    assert_help_example(&r, "flovyn-gateway --");
    gateway_cli(&r, "token", "--help", NULL);
    assert_help_example(&r, "flovyn-gateway token");
}

static void test_deprecated_spelling_works_and_warns_once(void **state)
{
    cli_result r;
    cli(&r, NULL, "init", NULL);
    assert_int_equal(r.code, 0);
    /* dlq's per-request timeout is --webhook-timeout, as on `run`; --timeout still works */
    cli(&r, NULL, "dlq", "list", "--subscription", "nobody", "--timeout", "3s", "--log-format",
        "text", NULL);
    assert_int_equal(r.code, 0);
    const char *w = strstr(r.err, "deprecated");
    assert_non_null(w);
    assert_non_null(strstr(w, "--timeout"));
    assert_non_null(strstr(w, "--webhook-timeout"));
    assert_null(strstr(w + 1, "deprecated")); /* one line */
    /* the value went to the option: a bad one is refused under the spelling used */
    cli(&r, NULL, "dlq", "list", "--timeout", "soon", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--timeout"));
    /* the new spelling is silent */
    cli(&r, NULL, "dlq", "list", "--subscription", "nobody", "--webhook-timeout", "3s", NULL);
    assert_int_equal(r.code, 0);
    assert_null(strstr(r.err, "deprecated"));
}

static void test_tail_prints_json_lines_filtered_by_types(void **state)
{
    cli_result r;
    cli(&r, NULL, "publish", "--tenant", "ttail", "--type", "workflow.started", "--workflow", "wt",
        NULL);
    assert_int_equal(r.code, 0);
    cli(&r, NULL, "publish", "--tenant", "ttail", "--type", "task.completed", "--workflow", "wt",
        "--task", "k1", "--data", "{\"big\":12345678901234567890}", NULL);
    assert_int_equal(r.code, 0);
    unsigned long long seq_task = strtoull(r.out, NULL, 10);
    cli(&r, NULL, "publish", "--tenant", "ttail", "--type", "task.failed", "--workflow", "wt",
        "--task", "k2", NULL);
    assert_int_equal(r.code, 0);
    cli(&r, NULL, "publish", "--tenant", "tother", "--type", "task.completed", NULL);
    assert_int_equal(r.code, 0);

    cli(&r, NULL, "tail", "--tenant", "ttail", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 3);
    assert_null(strstr(r.out, "tother"));

    cli(&r, NULL, "tail", "--tenant", "ttail", "--types", "task.completed", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_non_null(strstr(r.out, "\"event_type\":\"task.completed\""));
    assert_non_null(strstr(r.out, "\"big\":12345678901234567890")); /* producer's bytes */
    char want[64];
    snprintf(want, sizeof want, "\"seq\":%llu", seq_task);
    assert_non_null(strstr(r.out, want));

    cli(&r, NULL, "tail", "--tenant", "ttail", "--types", "task", NULL);
    assert_int_equal(count_lines(r.out), 2);

    cli(&r, NULL, "tail", "--tenant", "ttail", "--limit", "1", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_non_null(strstr(r.out, "workflow.started"));
}

static void test_tail_from_seq_and_since(void **state)
{
    cli_result r;
    cli(&r, NULL, "publish", "--tenant", "tstart", "--type", "workflow.started", NULL);
    unsigned long long s1 = strtoull(r.out, NULL, 10);
    usleep(30000);
    int64_t mid = fv_now_ms();
    usleep(30000);
    cli(&r, NULL, "publish", "--tenant", "tstart", "--type", "workflow.completed", NULL);
    unsigned long long s2 = strtoull(r.out, NULL, 10);
    assert_true(s2 > s1);

    char seq[32];
    snprintf(seq, sizeof seq, "%llu", s2);
    cli(&r, NULL, "tail", "--tenant", "tstart", "--from-seq", seq, NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_non_null(strstr(r.out, "workflow.completed"));

    char since[32];
    snprintf(since, sizeof since, "%lld", (long long)mid);
    cli(&r, NULL, "tail", "--tenant", "tstart", "--since", since, NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_non_null(strstr(r.out, "workflow.completed"));

    char rfc[40];
    fv_time_format(mid, rfc, sizeof rfc);
    cli(&r, NULL, "tail", "--tenant", "tstart", "--since", rfc, NULL);
    assert_int_equal(count_lines(r.out), 1);
}

static void test_stream_event_publish_and_tail_shows_kind(void **state)
{
    cli_result r;
    cli(&r, NULL, "publish", "--tenant", "tstream", "--workflow", "ws", "--stream-kind", "TOKEN",
        "--sequence", "7", "--payload", "{\"text\":\"hi\"}", NULL);
    assert_int_equal(r.code, 0);
    assert_true(strtoull(r.out, NULL, 10) > 0);
    cli(&r, NULL, "publish", "--tenant", "tstream", "--workflow", "ws", "--stream-kind", "tokens",
        "--sequence", "8", NULL);
    assert_int_equal(r.code, 2);
    cli(&r, NULL, "publish", "--tenant", "tstream", "--workflow", "ws", "--stream-kind", "token",
        NULL);
    assert_int_equal(r.code, 2);
    /* a workflow view includes its stream events */
    cli(&r, NULL, "tail", "--tenant", "tstream", "--workflow", "ws", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_non_null(strstr(r.out, "\"kind\":\"token\""));
    assert_non_null(strstr(r.out, "\"sequence\":7"));
    assert_non_null(strstr(r.out, "\"payload\":{\"text\":\"hi\"}"));
    /* the tenant view is lifecycle-only unless asked */
    cli(&r, NULL, "tail", "--tenant", "tstream", NULL);
    assert_int_equal(count_lines(r.out), 0);
    cli(&r, NULL, "tail", "--tenant", "tstream", "--types", "tokens", NULL);
    assert_int_equal(count_lines(r.out), 1);
}

static bool wait_in_file(const char *path, const char *needle, int timeout_ms)
{
    char buf[16384] = "";
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        slurp(path, buf, sizeof buf);
        if (strstr(buf, needle))
            return true;
        usleep(50000);
    }
    return false;
}

static void test_tail_follow_prints_new_events_until_terminated(void **state)
{
    char outp[300];
    snprintf(outp, sizeof outp, "%s/follow.out", tmpdir);
    unlink(outp);
    char url[128], since[32];
    snprintf(url, sizeof url, "--nats-url=%s", srv.url);
    /* --since now: an event published before the subscription is in place is still shown */
    snprintf(since, sizeof since, "--since=%lld", (long long)fv_now_ms() - 1);
    char *argv[] = {(char *)fv_test_bin("flovyn-bridge"),
                    "tail",
                    "--tenant",
                    "tfollow",
                    "--follow",
                    since,
                    url,
                    "--log-level",
                    "error",
                    NULL};
    pid_t pid = fv_test_spawn(argv, NULL, outp);
    assert_true(pid > 0);
    cli_result r;
    cli(&r, NULL, "publish", "--tenant", "tfollow", "--type", "workflow.started", "--id", "f1",
        NULL);
    assert_int_equal(r.code, 0);
    assert_true(wait_in_file(outp, "\"id\":\"f1\"", 10000));
    /* subscribed for sure now: this one arrives live */
    cli(&r, NULL, "publish", "--tenant", "tfollow", "--type", "workflow.completed", "--id", "f2",
        NULL);
    assert_int_equal(r.code, 0);
    assert_true(wait_in_file(outp, "\"id\":\"f2\"", 10000));
    int status = fv_test_stop_pid(pid, SIGTERM, 5000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_workflows_get_prints_entry_or_fails(void **state)
{
    /* the registry is written by `run`; here the library records an entry directly */
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    fv_bus *bus = NULL;
    fv_registry *reg = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_create(&c, &bus, &err), FV_OK);
    assert_int_equal(fv_registry_open(bus, &reg, &err), FV_OK);
    fv_registry_obs o = {.tenant_id = "twf",
                         .workflow_execution_id = "wf-get",
                         .parent_workflow_execution_id = "wf-parent",
                         .event_type = "workflow.started",
                         .source = FV_SRC_EVENTS,
                         .seq = 42};
    assert_int_equal(fv_registry_observe(reg, &o, &err), FV_OK);
    fv_registry_close(reg);
    fv_bus_destroy(bus);

    cli_result r;
    cli(&r, NULL, "workflows", "get", "wf-get", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\"tenant_id\":\"twf\""));
    assert_non_null(strstr(r.out, "\"parent_workflow_execution_id\":\"wf-parent\""));
    assert_non_null(strstr(r.out, "\"first_events_seq\":42"));
    assert_non_null(strstr(r.out, "\"status\":\"running\""));
    cli(&r, NULL, "workflows", "get", "wf-unknown", NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "not in the registry"));
    cli(&r, NULL, "workflows", NULL);
    assert_int_equal(r.code, 2);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

static long http_code(int port, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static void test_run_started_before_nats_connects_when_it_comes_up(void **state)
{
    fv_nats_server late;
    assert_int_equal(fv_nats_start(&late), 0);
    fv_nats_stop(&late);
    char url[128], http[64], logp[300];
    snprintf(url, sizeof url, "--nats-url=%s", late.url);
    int port = fv_test_free_port();
    snprintf(http, sizeof http, "--http-addr=127.0.0.1:%d", port);
    snprintf(logp, sizeof logp, "%s/run-late.log", tmpdir);
    char *argv[] = {
        (char *)fv_test_bin("flovyn-bridge"), "run", url, http, "--webhooks=false", NULL};
    pid_t pid = fv_test_spawn(argv, NULL, logp);
    assert_true(pid > 0);
    assert_true(fv_test_wait_port(port, 10000));
    /* alive but not ready while NATS is away */
    assert_int_equal(http_code(port, "/healthz"), 200);
    assert_int_equal(http_code(port, "/readyz"), 503);
    assert_int_equal(http_code(port, "/nope"), 404);
    assert_int_equal(fv_nats_restart(&late), 0);
    long code = 0;
    for (int i = 0; i < 150 && code != 200; i++) {
        usleep(100000);
        code = http_code(port, "/readyz");
    }
    assert_int_equal(code, 200);
    assert_true(stream_info(late.url, "FLOVYN_DLQ", NULL));
    assert_true(stream_info(late.url, "KV_FLOVYN_WORKFLOWS", NULL));
    int status = fv_test_stop_pid(pid, SIGTERM, 10000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    fv_nats_cleanup(&late);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_creates_everything_and_is_idempotent),
        cmocka_unit_test(test_publish_prints_sequence_and_duplicate_prints_same),
        cmocka_unit_test(test_publish_rejects_bad_ids_and_json_with_exit_2),
        cmocka_unit_test(test_missing_or_unreachable_nats),
        cmocka_unit_test(test_help_lists_options_and_env),
        cmocka_unit_test(test_every_subcommand_help_shows_an_example),
        cmocka_unit_test(test_deprecated_spelling_works_and_warns_once),
        cmocka_unit_test(test_tail_prints_json_lines_filtered_by_types),
        cmocka_unit_test(test_tail_from_seq_and_since),
        cmocka_unit_test(test_stream_event_publish_and_tail_shows_kind),
        cmocka_unit_test(test_tail_follow_prints_new_events_until_terminated),
        cmocka_unit_test(test_workflows_get_prints_entry_or_fails),
        cmocka_unit_test(test_run_started_before_nats_connects_when_it_comes_up),
    };
    return cmocka_run_group_tests_name("bridge_cli", tests, group_setup, group_teardown);
}
