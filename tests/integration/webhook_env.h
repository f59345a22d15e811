/* webhook_env.h - what the webhook and DLQ integration tests share: one real nats-server, the
 * real flovyn-bridge binary for every command (`init`, `subscriptions`, `run`, `dlq`), a library
 * bus for publishing, and small helpers around them. Header-only (static functions) so each test
 * executable stays one file plus this.
 */
#ifndef FLOVYN_TEST_WEBHOOK_ENV_H
#define FLOVYN_TEST_WEBHOOK_ENV_H

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fixture.h"
#include "flovyn/bus.h"
#include "flovyn/event.h"
#include "flovyn/kv.h"
#include "webhook_receiver.h"

/* 24 bytes "flovyn-webhook-test-key!" */
#define WH_SECRET "whsec_ZmxvdnluLXdlYmhvb2stdGVzdC1rZXkh"

typedef struct wh_env {
    fv_nats_server nats;
    fv_bus *bus;
    char dir[256];
    char secret_file[300];
    int seq;          /* unique names per call */
    pid_t bridges[8]; /* running bridges, killed by wh_env_kill_bridges when a test fails */
} wh_env;

static inline void wh_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline int64_t wh_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs `flovyn-bridge <args...> --nats-url URL`, waits (bounded) and returns the exit status
 * (-1 on a crash or timeout). stdout (and stderr) go to the files out/errp when not NULL. */
static inline int wh_cli(wh_env *e, char **out, char **errp, const char *const *args)
{
    char *argv[48];
    int n = 0;
    argv[n++] = (char *)fv_test_bin("flovyn-bridge");
    for (; args[n - 1] && n < 44; n++)
        argv[n] = (char *)args[n - 1];
    argv[n++] = "--nats-url";
    argv[n++] = e->nats.url;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    argv[n] = NULL;
    char opath[400], epath[400];
    snprintf(opath, sizeof opath, "%s/cli-%d.out", e->dir, ++e->seq);
    snprintf(epath, sizeof epath, "%s/cli-%d.err", e->dir, e->seq);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *o = freopen(opath, "w", stdout);
        FILE *er = freopen(epath, "w", stderr);
        (void)o;
        (void)er;
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0, rc = -1;
    for (int waited = 0; waited < 30000; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        wh_sleep_ms(10);
    }
    if (rc == -1 && waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    const char *paths[2] = {opath, epath};
    char **dst[2] = {out, errp};
    for (int i = 0; i < 2; i++) {
        if (!dst[i])
            continue;
        *dst[i] = NULL;
        FILE *f = fopen(paths[i], "rb");
        if (!f)
            continue;
        char *buf = calloc(1, 1 << 20);
        size_t got = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
        (void)got;
        fclose(f);
        *dst[i] = buf;
    }
    return rc;
}

static inline int wh_env_setup(wh_env *e)
{
    memset(e, 0, sizeof *e);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (fv_test_tmpdir(e->dir, sizeof e->dir, "webhooks") != 0 || fv_nats_start(&e->nats) != 0)
        return -1;
    snprintf(e->secret_file, sizeof e->secret_file, "%s/secret", e->dir);
    FILE *f = fopen(e->secret_file, "w");
    if (!f)
        return -1;
    fputs(WH_SECRET "\n", f);
    fclose(f);
    const char *init[] = {"init", NULL};
    char *err = NULL;
    int rc = wh_cli(e, NULL, &err, init);
    if (rc != 0) {
        fprintf(stderr, "flovyn-bridge init failed (%d): %s\n", rc, err ? err : "");
        free(err);
        return -1;
    }
    free(err);
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = e->nats.url;
    c.name = "webhook-test-publisher";
    fv_err ferr = {{0}};
    if (fv_bus_create(&c, &e->bus, &ferr) != FV_OK) {
        fprintf(stderr, "bus: %s\n", ferr.msg);
        return -1;
    }
    return 0;
}

static inline int wh_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* FV_KEEP_LOGS=1 keeps the bridges' logs and the CLI outputs for a look after a failure */
static inline void wh_env_teardown(wh_env *e)
{
    fv_bus_destroy(e->bus);
    fv_nats_cleanup(&e->nats);
    const char *keep = getenv("FV_KEEP_LOGS");
    if (keep && *keep && strcmp(keep, "0") != 0)
        fprintf(stderr, "# logs kept in %s\n", e->dir);
    else if (e->dir[0] && strstr(e->dir, "flovyn-webhooks-"))
        nftw(e->dir, wh_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* `flovyn-bridge run` with only the webhook dispatcher of interest and `private_flag` (a
 * spelling of --allow-private); returns its pid, the HTTP port of its /metrics in *http_port and
 * the path of its log in log (400 bytes) when not NULL. */
static inline pid_t wh_bridge_start_flag(wh_env *e, const char *private_flag, int *http_port,
                                         char *log_path)
{
    int port = fv_test_free_port();
    char addr[64], log[400];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/bridge-%d.log", e->dir, ++e->seq);
    if (log_path)
        snprintf(log_path, 400, "%s", log);
    char *argv[] = {(char *)fv_test_bin("flovyn-bridge"),
                    "run",
                    "--nats-url",
                    e->nats.url,
                    "--http-addr",
                    addr,
                    "--legacy=false",
                    "--webhook-timeout",
                    "2s",
                    (char *)private_flag,
                    "--log-level",
                    "debug",
                    NULL};
    pid_t pid = fv_test_spawn(argv, NULL, log);
    if (pid > 0 && !fv_test_wait_port(port, 10000)) {
        fprintf(stderr, "bridge did not open %s (log %s)\n", addr, log);
        fv_test_stop_pid(pid, SIGKILL, 1000);
        return -1;
    }
    if (http_port)
        *http_port = port;
    for (int i = 0; i < 8; i++)
        if (!e->bridges[i]) {
            e->bridges[i] = pid;
            break;
        }
    return pid;
}

static inline pid_t wh_bridge_start(wh_env *e, bool allow_private, int *http_port)
{
    return wh_bridge_start_flag(e, allow_private ? "--allow-private" : "--allow-private=false",
                                http_port, NULL);
}

/* stops a bridge this env started; returns the waitpid status */
static inline int wh_bridge_stop(wh_env *e, pid_t pid, int sig)
{
    for (int i = 0; i < 8; i++)
        if (e->bridges[i] == pid)
            e->bridges[i] = 0;
    return fv_test_stop_pid(pid, sig, 15000);
}

/* per-test teardown: a failed assertion skips the test's own stops */
static inline void wh_env_kill_bridges(wh_env *e)
{
    for (int i = 0; i < 8; i++)
        if (e->bridges[i]) {
            fv_test_stop_pid(e->bridges[i], SIGKILL, 5000);
            e->bridges[i] = 0;
        }
}

/* GETs the bridge's /metrics and returns the value of `metric{subscription="name"}` (of `metric`
 * when name is NULL) or -1. */
static inline size_t wh_write_buf(char *p, size_t s, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = s * n;
    if (have + add >= 65535)
        add = 65535 - have;
    memcpy(buf + have, p, add);
    buf[have + add] = '\0';
    return s * n;
}

static inline long long wh_metric(int http_port, const char *metric, const char *name)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", http_port);
    char *buf = calloc(1, 65536);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, wh_write_buf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    long long v = -1;
    if (rc == CURLE_OK) {
        char key[256]; /* name NULL: a metric without labels, at the start of its line */
        if (name)
            snprintf(key, sizeof key, "%s{subscription=\"%s\"} ", metric, name);
        else
            snprintf(key, sizeof key, "\n%s ", metric);
        char *p = strstr(buf, key);
        if (p)
            v = atoll(p + strlen(key));
    }
    free(buf);
    return v;
}

/* subscriptions add with test-friendly defaults (100ms backoff, 3 attempts) plus extra args */
static inline int wh_add_sub(wh_env *e, const char *tenant, const char *name, const char *url,
                             const char *types, const char *const *extra)
{
    const char *args[40] = {
        "subscriptions",  "add", "--tenant",       tenant,         "--name",    name,
        "--url",          url,   "--secret-file",  e->secret_file, "--backoff", "100ms",
        "--max-attempts", "3",   "--allow-private"};
    int n = 15;
    if (types) {
        args[n++] = "--types";
        args[n++] = types;
    }
    for (int i = 0; extra && extra[i] && n < 38; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char *err = NULL;
    int rc = wh_cli(e, NULL, &err, args);
    if (rc != 0)
        fprintf(stderr, "subscriptions add failed (%d): %s\n", rc, err ? err : "");
    free(err);
    return rc;
}

static inline int wh_rm_sub(wh_env *e, const char *name)
{
    const char *args[] = {"subscriptions", "rm", name, NULL};
    return wh_cli(e, NULL, NULL, args);
}

/* Publishes one event; its id is written to id_out (cap >= 37). */
static inline void wh_publish(wh_env *e, const char *tenant, const char *type, const char *workflow,
                              const char *data, char *id_out)
{
    fv_event ev;
    fv_event_init(&ev);
    snprintf(ev.tenant_id, sizeof ev.tenant_id, "%s", tenant);
    snprintf(ev.event_type, sizeof ev.event_type, "%s", type);
    snprintf(ev.workflow_execution_id, sizeof ev.workflow_execution_id, "%s", workflow);
    snprintf(ev.source, sizeof ev.source, "worker:test");
    fv_limits lim = {0};
    fv_err err = {{0}};
    if (fv_event_set_data(&ev, data, strlen(data), &lim, &err) != FV_OK)
        fprintf(stderr, "data: %s\n", err.msg);
    fv_event_fill_defaults(&ev);
    if (id_out)
        memcpy(id_out, ev.id, 37); /* a UUIDv4: 36 chars + NUL */
    fv_publish_result res;
    if (fv_bus_publish_event(e->bus, &ev, &res, &err) != FV_OK)
        fprintf(stderr, "publish: %s\n", err.msg);
    fv_event_clear(&ev);
}

static inline size_t wh_count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* entries of `dlq list --subscription name` (its stdout in *out when not NULL) */
static inline int wh_dlq_count(wh_env *e, const char *name, char **out)
{
    const char *args[] = {"dlq", "list", "--subscription", name, NULL};
    char *o = NULL;
    int rc = wh_cli(e, &o, NULL, args);
    int n = rc == 0 ? (int)wh_count_lines(o) : -1;
    if (out)
        *out = o;
    else
        free(o);
    return n;
}

static inline bool wh_wait_dlq(wh_env *e, const char *name, int want, int timeout_ms)
{
    int64_t end = wh_mono_ms() + timeout_ms;
    while (wh_dlq_count(e, name, NULL) < want) {
        if (wh_mono_ms() > end)
            return false;
        wh_sleep_ms(100);
    }
    return true;
}

/* polls until the subscription's durable consumer exists (or no longer exists) */
static inline bool wh_wait_durable(wh_env *e, const char *name, bool exists, int timeout_ms)
{
    char durable[128];
    snprintf(durable, sizeof durable, "webhook_%s", name);
    int64_t end = wh_mono_ms() + timeout_ms;
    for (;;) {
        int r = fv_test_js_consumer_exists(e->nats.url, "FLOVYN_EVENTS", durable);
        if ((r == 1) == exists)
            return true;
        if (wh_mono_ms() > end)
            return false;
        wh_sleep_ms(50);
    }
}

#endif
