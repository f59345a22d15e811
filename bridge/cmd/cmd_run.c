/* cmd_run.c - `flovyn-bridge run`: the daemon. It wires the parts together and waits for a stop
 * signal; each part (registry maintainer, stored-message checker, legacy adapter, webhook
 * dispatcher, HTTP status) lives in its own module.
 *
 * Start order follows dependencies: connect (retried without bound: a bridge started before
 * NATS must come up by itself), provision (also retried), registry, checker, legacy adapter,
 * webhooks, then /healthz. Stop is the reverse, so no part outlives what it uses. SIGTERM/SIGINT
 * are blocked in every thread and taken by the main thread with sigtimedwait, so no handler runs in
 * the middle of a NATS or MHD call.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "checker.h"
#include "flovyn/log.h"
#include "flovyn/registry.h"
#include "flovyn/units.h"
#include "http_status.h"
#include "legacy_adapter.h"
#include "provision.h"

typedef struct run_cfg {
    fv_bridge_common c;
    int64_t dlq_max_age_ms, dlq_max_bytes;
    bool legacy, legacy_capture;
    const char *legacy_prefix;
    int64_t legacy_wait_ms, legacy_capture_max_age_ms;
    int64_t registry_sweep_after_ms;
    bool registry;
    bool webhooks, webhook_allow_private;
    int64_t webhook_timeout_ms;
} run_cfg;

#define R(f) offsetof(run_cfg, f)
static const fv_option run_options[] = {
    {"dlq-max-age", FV_OPT_DURATION, R(dlq_max_age_ms), "30d", "FLOVYN_DLQ retention"},
    {"dlq-max-bytes", FV_OPT_SIZE, R(dlq_max_bytes), "1G", "FLOVYN_DLQ size cap"},
    {"registry", FV_OPT_BOOL, R(registry), "true", "maintain the workflow registry"},
    {"registry-sweep-after", FV_OPT_DURATION, R(registry_sweep_after_ms), "24h",
     "delete registry entries of finished workflows after this long"},
    {"legacy", FV_OPT_BOOL, R(legacy), "true", "map Flovyn's legacy subjects to canonical ones"},
    {"legacy-prefix", FV_OPT_STRING, R(legacy_prefix), "flovyn", "prefix of the legacy subjects"},
    {"legacy-capture", FV_OPT_BOOL, R(legacy_capture), "false",
     "capture legacy subjects in the stream FLOVYN_LEGACY and consume it durably (nothing lost "
     "while the bridge is down)"},
    {"legacy-capture-max-age", FV_OPT_DURATION, R(legacy_capture_max_age_ms), "1h",
     "FLOVYN_LEGACY retention"},
    {"legacy-wait", FV_OPT_DURATION, R(legacy_wait_ms), "5s",
     "how long a legacy message of an unknown workflow waits before going to FLOVYN_DLQ"},
    {"webhooks", FV_OPT_BOOL, R(webhooks), "true", "run the webhook dispatcher"},
    {"allow-private", FV_OPT_BOOL, R(webhook_allow_private), "false",
     "allow webhook targets on loopback/private addresses (tests only)"},
    {"webhook-allow-private", FV_OPT_ALIAS, 0, "allow-private", NULL},
    {"webhook-timeout", FV_OPT_DURATION, R(webhook_timeout_ms), "10s", "per delivery request"},
    {NULL, 0, 0, NULL, NULL},
};

static const char usage[] =
    "usage: flovyn-bridge run [options]\n"
    "\n"
    "The daemon: provisions the streams and buckets, maintains the workflow registry, maps\n"
    "Flovyn's legacy subjects, delivers webhooks, and serves /healthz, /readyz and /metrics on\n"
    "--http-addr. Logs are JSON lines on stderr. SIGTERM or SIGINT stops it cleanly (exit 0).\n"
    "\n"
    "Example:\n"
    "  flovyn-bridge run --nats-url nats://127.0.0.1:4222 --http-addr 127.0.0.1:8081\n";

typedef struct daemon_parts {
    fv_bus *bus;
    fv_registry *reg;
    fv_registry_maintainer *maint;
    fv_checker *checker;
    fv_legacy_adapter *legacy;
    fv_webhooks *webhooks;
    fv_http_status *http;
    int64_t started_ms;
    /* set once every part above is started, cleared before they stop: the HTTP thread (up from
     * the first moment, so /healthz answers while NATS is still awaited) reads the parts only
     * while it is set */
    atomic_bool up;
} daemon_parts;

static sigset_t stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

/* waits up to ms for a stop signal; true if one came */
static bool wait_signal(int64_t ms)
{
    sigset_t set = stop_signals();
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    int sig = sigtimedwait(&set, NULL, &ts);
    if (sig > 0) {
        char name[16];
        snprintf(name, sizeof name, "%d", sig);
        fv_log(FV_LOG_INFO, "bridge", "stop signal received", "signal", name, NULL);
        return true;
    }
    return false;
}

static fv_status registry_dead_letter(void *ud, const char *subject, const void *data, size_t len,
                                      const char *content_type, const char *reason,
                                      const char *msg_id)
{
    fv_dlq_entry e = {.origin = "registry",
                      .subject = subject,
                      .data = data,
                      .len = len,
                      .content_type = content_type,
                      .reason = reason,
                      .msg_id = msg_id};
    fv_err err = {{0}};
    fv_status st = fv_dlq_publish(ud, &e, &err);
    if (st != FV_OK)
        fv_log(FV_LOG_ERROR, "registry", "dead-lettering failed", "subject", subject, "error",
               err.msg, NULL);
    return st;
}

static bool ready(void *ud)
{
    daemon_parts *p = ud;
    return atomic_load(&p->up) && fv_bus_ready(p->bus);
}

static void counter(fv_buf *b, const char *name, const char *type, uint64_t v)
{
    fv_buf_printf(b, "# TYPE flovyn_bridge_%s %s\nflovyn_bridge_%s %llu\n", name, type, name,
                  (unsigned long long)v);
}

static void metrics(void *ud, fv_buf *b)
{
    daemon_parts *p = ud;
    bool up = atomic_load(&p->up);
    counter(b, "up", "gauge", up);
    counter(b, "uptime_seconds", "gauge", (uint64_t)((fv_monotonic_ms() - p->started_ms) / 1000));
    if (!up)
        return;
    fv_bus_stats bs;
    fv_bus_get_stats(p->bus, &bs);
    counter(b, "nats_connected", "gauge", bs.connected);
    counter(b, "nats_reconnects_total", "counter", bs.reconnects);
    counter(b, "published_total", "counter", bs.published);
    counter(b, "publish_duplicates_total", "counter", bs.duplicates);
    counter(b, "publish_errors_total", "counter", bs.publish_errors);
    counter(b, "publish_retries_total", "counter", bs.publish_retries);
    if (p->maint) {
        fv_registry_stats rs;
        fv_registry_maintainer_stats(p->maint, &rs);
        counter(b, "registry_observed_total", "counter", rs.observed);
        counter(b, "registry_conflicts_total", "counter", rs.conflicts);
        counter(b, "registry_dead_lettered_total", "counter", rs.dead_lettered);
        counter(b, "registry_errors_total", "counter", rs.errors);
        counter(b, "registry_swept_total", "counter", rs.swept);
        counter(b, "registry_events_pending", "gauge", rs.pending[FV_SRC_EVENTS]);
        counter(b, "registry_streams_pending", "gauge", rs.pending[FV_SRC_STREAMS]);
    }
    fv_checker_metrics(p->checker, b);
    if (p->legacy)
        fv_legacy_metrics(p->legacy, b);
    if (p->webhooks)
        fv_webhooks_metrics(p->webhooks, b);
}

static void stop_all(daemon_parts *p)
{
    atomic_store(&p->up, false);
    if (fv_bus_close_if_offline(p->bus))
        fv_log(FV_LOG_WARN, "bridge", "NATS unreachable while stopping: not waiting for it", NULL);
    fv_http_status_stop(p->http);
    if (p->webhooks)
        fv_webhooks_stop(p->webhooks);
    fv_legacy_stop(p->legacy);
    fv_checker_stop(p->checker);
    fv_registry_maintainer_stop(p->maint);
    fv_registry_close(p->reg);
    fv_bus_destroy(p->bus);
}

typedef fv_status (*step_fn)(daemon_parts *p, const run_cfg *cfg, fv_err *err);

/* Runs a start step until it succeeds or a stop signal comes, with capped backoff: NATS may come
 * up after the bridge. Invalid configuration and conflicts are returned at once (retrying cannot
 * fix them); FV_ECLOSED when stopped meanwhile. */
static fv_status retry_step(step_fn fn, daemon_parts *p, const run_cfg *cfg, const char *what,
                            fv_err *err)
{
    int64_t delay = 500;
    for (;;) {
        *err = (fv_err){{0}};
        fv_status st = fn(p, cfg, err);
        if (st == FV_OK || st == FV_ECONFLICT || st == FV_EINVAL)
            return st;
        fv_log(FV_LOG_WARN, "bridge", "start step failed, retrying", "step", what, "error",
               err->msg, NULL);
        if (wait_signal(delay))
            return FV_ECLOSED;
        delay = delay * 2 > 10000 ? 10000 : delay * 2;
    }
}

static fv_status step_connect(daemon_parts *p, const run_cfg *cfg, fv_err *err)
{
    fv_bus_config bc;
    fv_bridge_bus_config(&cfg->c, &bc);
    bc.name = "flovyn-bridge run";
    bc.publish_now = true; /* the legacy adapter's events go on to browsers: no 1 ms wait */
    return fv_bus_create(&bc, &p->bus, err);
}

static fv_status step_provision(daemon_parts *p, const run_cfg *cfg, fv_err *err)
{
    fv_provision_config pc = {.dlq_max_age_ms = cfg->dlq_max_age_ms,
                              .dlq_max_bytes = cfg->dlq_max_bytes};
    fv_status st = fv_provision_all(p->bus, &cfg->c, &pc, err);
    if (st == FV_OK && !p->reg)
        st = fv_registry_open(p->bus, &p->reg, err);
    return st;
}

static fv_status step_registry(daemon_parts *p, const run_cfg *cfg, fv_err *err)
{
    fv_registry_maintainer_config mc = {.sweep_after_ms = cfg->registry_sweep_after_ms,
                                        .dead_letter = registry_dead_letter,
                                        .dead_letter_ud = p->bus};
    return fv_registry_maintainer_start(p->bus, p->reg, &mc, &p->maint, err);
}

static fv_status step_check(daemon_parts *p, const run_cfg *cfg, fv_err *err)
{
    (void)cfg;
    return fv_checker_start(p->bus, &p->checker, err);
}

static fv_status step_legacy(daemon_parts *p, const run_cfg *cfg, fv_err *err)
{
    fv_legacy_config lc = {.legacy_prefix = cfg->legacy_prefix,
                           .capture = cfg->legacy_capture,
                           .capture_max_age_ms = cfg->legacy_capture_max_age_ms,
                           .replicas = (int)cfg->c.replicas,
                           .wait_ms = cfg->legacy_wait_ms};
    return fv_legacy_start(p->bus, p->reg, &lc, &p->legacy, err);
}

static fv_status step_webhooks(daemon_parts *p, const run_cfg *cfg, fv_err *err)
{
    fv_webhooks_config wc = {.allow_private = cfg->webhook_allow_private,
                             .timeout_ms = cfg->webhook_timeout_ms};
    fv_status st = fv_webhooks_start(p->bus, &wc, &p->webhooks, err);
    if (st == FV_ENOTSUP) {
        fv_log(FV_LOG_WARN, "bridge", "webhooks disabled", "reason", err->msg, NULL);
        p->webhooks = NULL;
        return FV_OK;
    }
    return st;
}

int fv_cmd_run(int argc, char **argv)
{
    run_cfg cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, run_options, &cfg, argc, argv, &res);
    if (rc >= 0)
        return rc;
    if (res.npositional > 0) {
        fprintf(stderr, "flovyn-bridge run: unexpected argument '%s'\n", res.positional[0]);
        return 2;
    }
    if (!cfg.c.nats_url || !*cfg.c.nats_url) {
        fprintf(stderr, "flovyn-bridge run: --nats-url (or FLOVYN_NATS_URL) is required\n");
        return 2;
    }
    sigset_t set = stop_signals();
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    daemon_parts p = {.started_ms = fv_monotonic_ms()};
    atomic_init(&p.up, false);
    fv_err err = {{0}};
    fv_http_status_config hc = {
        .addr = cfg.c.http_addr, .metrics = metrics, .ready = ready, .ud = &p};
    fv_status st = fv_http_status_start(&hc, &p.http, &err);
    if (st == FV_OK)
        st = retry_step(step_connect, &p, &cfg, "connect", &err);
    if (st == FV_OK) {
        fv_log(FV_LOG_INFO, "bridge", "connected", "nats", cfg.c.nats_url, NULL);
        st = retry_step(step_provision, &p, &cfg, "provision", &err);
    }
    if (st == FV_OK && cfg.registry)
        st = retry_step(step_registry, &p, &cfg, "registry", &err);
    if (st == FV_OK)
        st = retry_step(step_check, &p, &cfg, "check", &err);
    if (st == FV_OK && cfg.legacy)
        st = retry_step(step_legacy, &p, &cfg, "legacy", &err);
    if (st == FV_OK && cfg.webhooks)
        st = retry_step(step_webhooks, &p, &cfg, "webhooks", &err);
    if (st != FV_OK)
        goto out;
    atomic_store(&p.up, true);
    fv_log(FV_LOG_INFO, "bridge", "running", "http", cfg.c.http_addr, "legacy",
           cfg.legacy ? (cfg.legacy_capture ? "capture" : "core") : "off", NULL);

    while (!wait_signal(1000))
        ;
    st = FV_OK;

out:
    if (st != FV_OK && st != FV_ECLOSED) {
        fv_log(FV_LOG_ERROR, "bridge", "cannot start", "error",
               err.msg[0] ? err.msg : fv_status_name(st), NULL);
        fprintf(stderr, "flovyn-bridge run: %s\n", err.msg[0] ? err.msg : fv_status_name(st));
    }
    stop_all(&p);
    fv_log(FV_LOG_INFO, "bridge", "stopped", NULL);
    if (st == FV_OK || st == FV_ECLOSED)
        return 0;
    return st == FV_EINVAL ? 2 : 1;
}
