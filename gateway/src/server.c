/* server.c - the gateway object and its libmicrohttpd daemon; see gw.h.
 *
 * MHD runs with epoll in its own thread pool (one thread per core) and an explicit connection
 * limit (its default stays at 1020 even with epoll). An SSE stream stays in MHD only until its
 * headers are sent: then its socket is handed over to the connection loop (conn.h), so streams
 * hold no MHD memory pool and never count against MHD's limit. MHD_USE_TURBO is what makes the
 * hand-over possible: without it MHD shuts the socket down (shutdown(2) reaches every duplicate
 * of a descriptor) when it frees its side. RLIMIT_NOFILE is raised to its hard limit so the
 * connection limit can be reached.
 *
 * A timer thread does everything periodic (keep-alives, token expiry, close_on_terminal
 * deadlines, finished streams whose client does not read) so MHD threads never sleep. Shutdown:
 * quiesce, end every stream (they flush and close), wait a moment for slow peers, let requests in
 * progress answer, stop MHD, then close what is left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "conn.h"
#include "cors.h"
#include "errors.h"
#include "flovyn/hmap.h"
#include "flovyn/log.h"
#include "flovyn/registry.h"
#include "flovyn/units.h"
#include "gw.h"
#include "jobs.h"
#include "ratelimit.h"
#include "reqlimit.h"
#include "router.h"
#include "stream.h"

#define TIMER_TICK_MS 100
/* A scan visits every open stream (token expiry, close_on_terminal's end, re-kicking a paused
 * replay): twice a second is prompt enough and keeps thousands of idle streams cheap */
#define SCAN_EVERY_MS 500
#define TRIM_EVERY_MS 5000
#define DRAIN_FLUSH_MS 1000   /* longest wait for open streams to flush their last bytes */
#define REQUEST_WAIT_MS 10000 /* longest wait for requests in progress to send their answer */
#define MAX_RATE_TENANTS 100000

static fv_gw *g_gw; /* for the response-header hook (CORS needs the configuration) */
/* opened once NATS answers (maybe after start); read by stream threads through registry_hint */
static _Atomic(fv_registry *) g_registry;
static atomic_bool g_provisioned; /* --provision done (or not asked for) */

static void add_headers(struct MHD_Connection *c, struct MHD_Response *r)
{
    if (g_gw && g_gw->cors)
        fv_cors_add_headers(g_gw->cors, r,
                            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"));
}

/* Registry answers are cached: this runs on the HTTP thread for every workflow stream that
 * starts, and a reconnect storm on one workflow would otherwise make thousands of KV requests for
 * the same key. A workflow's owner and first sequences never change once both are recorded, so
 * only complete entries are kept (a slot is overwritten by another workflow hashing to it). */
#define HINT_SLOTS 4096

typedef struct hint_slot {
    char workflow[FV_ID_MAX + 1];
    char tenant[FV_ID_MAX + 1];
    uint64_t ev, st;
} hint_slot;

static hint_slot g_hints[HINT_SLOTS];
static pthread_mutex_t g_hints_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t hint_index(const char *w)
{
    return (size_t)(fv_hash_str(w) % HINT_SLOTS);
}

static bool registry_hint(void *ud, const char *tenant, const char *workflow, uint64_t *ev,
                          uint64_t *st)
{
    (void)ud;
    if (!workflow || !*workflow)
        return false;
    hint_slot *slot = &g_hints[hint_index(workflow)];
    pthread_mutex_lock(&g_hints_mu);
    bool hit = strcmp(slot->workflow, workflow) == 0;
    hint_slot copy = *slot;
    pthread_mutex_unlock(&g_hints_mu);
    if (!hit) {
        fv_registry *reg = atomic_load(&g_registry);
        fv_registry_entry e;
        fv_err err = {{0}};
        if (!reg || fv_registry_get(reg, workflow, &e, &err) != FV_OK)
            return false;
        snprintf(copy.workflow, sizeof copy.workflow, "%s", workflow);
        snprintf(copy.tenant, sizeof copy.tenant, "%s", e.tenant_id);
        copy.ev = e.first_events_seq;
        copy.st = e.first_streams_seq;
        if (copy.ev && copy.st) {
            pthread_mutex_lock(&g_hints_mu);
            *slot = copy;
            pthread_mutex_unlock(&g_hints_mu);
        }
    }
    if (strcmp(copy.tenant, tenant) != 0)
        return false; /* another tenant's workflow: no hint, and nothing of it is delivered */
    *ev = copy.ev;
    *st = copy.st;
    return true;
}

static fv_status nats_side_setup(fv_gw *gw, fv_err *err);

/* MHD's own diagnostics go through the project logger, so stderr stays one JSON object per line */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    char red[600]; /* MHD quotes request URLs; a token in one never reaches the log */
    fv_redact_url(msg, red, sizeof red);
    fv_log(FV_LOG_DEBUG, "mhd", red, NULL);
}

static void raise_nofile(unsigned need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fv_log(FV_LOG_WARN, "server", "could not raise RLIMIT_NOFILE", NULL);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need) {
        char have[24], want[24];
        snprintf(have, sizeof have, "%llu", (unsigned long long)rl.rlim_cur);
        snprintf(want, sizeof want, "%u", need);
        fv_log(FV_LOG_WARN, "server",
               "open-file limit is below the connection limit; raise it (ulimit -n, LimitNOFILE)",
               "nofile", have, "needed", want, NULL);
    }
}

fv_status fv_gw_create(const fv_gw_config *cfg, fv_gw **out, fv_err *err)
{
    *out = NULL;
    fv_gw *gw = calloc(1, sizeof *gw);
    if (!gw)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    gw->cfg = *cfg;
    fv_status st;
    fv_auth_config ac = {cfg->auth, cfg->jwt_secret_file, cfg->jwt_public_key_file};
    if ((st = fv_auth_create(&ac, &gw->auth, err)) != FV_OK)
        goto fail;
    if ((st = fv_cors_create(cfg->cors_origins, &gw->cors, err)) != FV_OK)
        goto fail;
    fv_bus_config bc;
    fv_bus_config_init(&bc);
    bc.nats_url = cfg->nats_url;
    bc.nats_creds = cfg->nats_creds;
    bc.nats_tls_ca = cfg->nats_tls_ca;
    bc.nats_tls_cert = cfg->nats_tls_cert;
    bc.nats_tls_key = cfg->nats_tls_key;
    bc.name = "flovyn-gateway";
    bc.prefix = cfg->prefix;
    bc.replicas = (int)cfg->replicas;
    bc.events_max_age_ms = cfg->events_max_age_ms;
    bc.streams_max_age_ms = cfg->streams_max_age_ms;
    bc.events_max_bytes = cfg->events_max_bytes;
    bc.streams_max_bytes = cfg->streams_max_bytes;
    bc.memory_history = (size_t)cfg->memory_history;
    bc.window_bytes = (size_t)cfg->window_bytes;
    /* short attempts, many of them, within a deadline: an HTTP thread never waits long on one
     * NATS request, and the first attempt after a new stream leader is elected succeeds */
    bc.publish_timeout_ms = (int)cfg->publish_timeout_ms;
    bc.publish_deadline_ms = (int)cfg->publish_deadline_ms;
    bc.connect_in_background = true;
    bc.publish_now = true; /* a client waits on each ingest; its events' latency counts */
    bc.after_callbacks = fv_streams_after_callbacks;
    bc.after_callbacks_ud = gw;
    if ((st = fv_bus_create(&bc, &gw->bus, err)) != FV_OK)
        goto fail;
    atomic_store(&g_provisioned, !cfg->provision);
    if (!fv_bus_is_memory(gw->bus)) {
        gw->first_seq_hint = registry_hint;
        gw->first_seq_hint_ud = NULL;
        /* NATS may not be up yet: what cannot be done now is retried by the timer thread, and
         * /readyz says 503 until the streams are there */
        if ((st = nats_side_setup(gw, err)) != FV_OK)
            goto fail;
    }
    if ((st = fv_streams_create(gw, &gw->streams)) != FV_OK ||
        (st = fv_ratelimit_create(cfg->ingest_rate_per_tenant, MAX_RATE_TENANTS, &gw->rate)) !=
            FV_OK ||
        (st = fv_reqlimit_create((size_t)cfg->max_requests_per_tenant, MAX_RATE_TENANTS,
                                 &gw->reqlimit)) != FV_OK) {
        fv_err_set(err, st, "out of memory");
        goto fail;
    }
    *out = gw;
    return FV_OK;
fail:
    fv_gw_destroy(gw);
    return st;
}

/* --provision and the registry, once NATS answers. Only a configuration error is returned; an
 * unreachable NATS leaves the step for the next call. */
static fv_status nats_side_setup(fv_gw *gw, fv_err *err)
{
    const fv_gw_config *cfg = &gw->cfg;
    fv_bus_stats bs;
    fv_bus_get_stats(gw->bus, &bs);
    if (!bs.connected)
        return FV_OK; /* requests would only wait in the reconnect buffer */
    if (!atomic_load(&g_provisioned)) {
        fv_err perr = {{0}};
        fv_status st = fv_bus_provision(gw->bus, &perr);
        if (st == FV_OK)
            st = fv_registry_provision(gw->bus, cfg->events_max_age_ms, (int)cfg->replicas, &perr);
        if (st == FV_ECONFLICT || st == FV_EINVAL) {
            if (err)
                *err = perr;
            return st;
        }
        if (st != FV_OK) {
            fv_log(FV_LOG_WARN, "server", "provisioning deferred until NATS answers", "reason",
                   perr.msg, NULL);
            return FV_OK;
        }
        atomic_store(&g_provisioned, true);
    }
    if (!atomic_load(&g_registry)) {
        fv_registry *reg = NULL;
        fv_err rerr = {{0}};
        if (fv_registry_open(gw->bus, &reg, &rerr) == FV_OK)
            atomic_store(&g_registry, reg);
        else if (!gw->registry_warned) {
            gw->registry_warned = true;
            fv_log(FV_LOG_INFO, "server",
                   "workflow registry not available (yet); workflow streams scan from the start",
                   "reason", rerr.msg, NULL);
        }
    }
    return FV_OK;
}

static void *timer_main(void *arg)
{
    fv_gw *gw = arg;
    int64_t next_hb = fv_monotonic_ms() + gw->cfg.heartbeat_ms;
    int64_t next_scan = 0, next_trim = 0;
    size_t trimmed_at = 0;
    while (!atomic_load(&gw->timer_stop)) {
        fv_sleep_ms(TIMER_TICK_MS);
        int64_t now = fv_monotonic_ms();
        /* A burst of opens leaves freed memory behind (each open passes through an 8 KiB MHD pool
         * before its socket is handed over), which the allocator keeps: give whole free pages
         * back once the number of streams has moved, at most every few seconds. */
        size_t open = fv_streams_open(gw->streams);
        if (now >= next_trim && open != trimmed_at) {
            malloc_trim(0);
            trimmed_at = open;
            next_trim = now + TRIM_EVERY_MS;
        }
        bool hb = now >= next_hb;
        if (hb)
            next_hb = now + gw->cfg.heartbeat_ms;
        if (!hb && now < next_scan)
            continue;
        next_scan = now + SCAN_EVERY_MS;
        fv_streams_tick(gw->streams, hb);
        if (hb && !fv_bus_is_memory(gw->bus) &&
            (!atomic_load(&g_provisioned) || !atomic_load(&g_registry)))
            nats_side_setup(gw, NULL);
    }
    return NULL;
}

static fv_status resolve(const fv_gw_config *cfg, struct sockaddr_storage *ss, bool *v6,
                         fv_err *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%u", cfg->port);
    int rc = getaddrinfo(cfg->host[0] ? cfg->host : NULL, port, &hints, &res);
    if (rc != 0 || !res)
        return fv_err_set(err, FV_EINVAL, "listen: cannot resolve '%s': %s", cfg->host,
                          gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return FV_OK;
}

fv_status fv_gw_start(fv_gw *gw, fv_err *err)
{
    raise_nofile((unsigned)gw->cfg.max_connections + 256 + 64);
    g_gw = gw;
    fv_http_set_header_hook(add_headers);
    struct sockaddr_storage ss;
    bool v6 = false;
    fv_status st = resolve(&gw->cfg, &ss, &v6, err);
    if (st != FV_OK)
        return st;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads =
        gw->cfg.threads > 0 ? (unsigned)gw->cfg.threads : (unsigned)(cores > 0 ? cores : 1);
    if (!gw->loop && fv_conn_loop_create(&gw->loop) != FV_OK)
        return fv_err_set(err, FV_EIO, "cannot start the connection loop");
    if (!gw->jobs && !(gw->jobs = fv_jobs_create((size_t)gw->cfg.ingest_threads)))
        return fv_err_set(err, FV_EIO, "cannot start the ingest threads");
    /* TURBO: no shutdown(2) when MHD frees a connection, which the SSE hand-over needs */
    /* ITC: MHD_quiesce_daemon needs it; suspend/resume: ingest waits on a worker (router.c) */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* streams + a margin for short requests (ingest, history, health); a stream leaves MHD once
     * its headers are out, so this bounds requests in progress and streams being opened. At the
     * limit MHD stops accepting: further clients wait in the listen backlog. */
    unsigned limit = (unsigned)gw->cfg.max_connections + 256;
    unsigned timeout_s = (unsigned)(gw->cfg.heartbeat_ms * 4 / 1000);
    if (timeout_s < 60)
        timeout_s = 60;
    /* the logger first: MHD reports problems with the options that follow through it */
    gw->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, fv_router_handle, gw, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)gw->cfg.connection_memory, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_NOTIFY_COMPLETED, fv_router_completed, gw,
        MHD_OPTION_END);
    if (!gw->mhd)
        return fv_err_set(err, FV_EIO, "listen: cannot serve on %s (address in use?)",
                          gw->cfg.listen);
    atomic_store(&gw->timer_stop, false);
    if (pthread_create(&gw->timer, NULL, timer_main, gw) != 0) {
        MHD_stop_daemon(gw->mhd);
        gw->mhd = NULL;
        return fv_err_set(err, FV_EIO, "cannot start the timer thread");
    }
    gw->timer_started = true;
    return FV_OK;
}

uint16_t fv_gw_port(fv_gw *gw)
{
    if (!gw->mhd)
        return 0;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(gw->mhd, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : gw->cfg.port;
}

void fv_gw_shutdown(fv_gw *gw)
{
    if (!gw->mhd)
        return;
    atomic_store(&gw->stopping, true);
    if (fv_bus_close_if_offline(gw->bus))
        fv_log(FV_LOG_WARN, "server", "NATS unreachable while stopping: not waiting for it", NULL);
    MHD_socket lfd = MHD_quiesce_daemon(gw->mhd);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    size_t open = fv_streams_open(gw->streams);
    fv_streams_drain(gw->streams);
    /* every stream is finished: each closes once its last bytes are written; slow peers get a
     * moment, then the loop closes them */
    int64_t start = fv_monotonic_ms();
    while (fv_streams_open(gw->streams) > 0 && fv_monotonic_ms() - start < DRAIN_FLUSH_MS)
        fv_sleep_ms(20);
    /* Ingest and history requests already taken keep going: wait until each has sent its
     * answer, or a publish that became durable could reach its client as a reset instead of
     * a 202 (stop closes connections without flushing what they still have to send). The
     * ingest workers finish first: MHD cannot stop with a connection still suspended. */
    fv_jobs_drain(gw->jobs);
    start = fv_monotonic_ms();
    while (fv_router_inflight() > 0 && fv_monotonic_ms() - start < REQUEST_WAIT_MS)
        fv_sleep_ms(10);
    if (gw->timer_started) {
        atomic_store(&gw->timer_stop, true);
        pthread_join(gw->timer, NULL);
        gw->timer_started = false;
    }
    char n[24];
    snprintf(n, sizeof n, "%zu", open);
    fv_log(FV_LOG_INFO, "server", "stopping; streams ended with retry", "streams", n, NULL);
    /* joins the HTTP threads: in-flight ingest requests finish their publishes first */
    MHD_stop_daemon(gw->mhd);
    gw->mhd = NULL;
    fv_conn_loop_destroy(gw->loop); /* the streams still open end here */
    gw->loop = NULL;
}

void fv_gw_destroy(fv_gw *gw)
{
    if (!gw)
        return;
    if (gw->mhd)
        fv_gw_shutdown(gw);
    fv_conn_loop_destroy(gw->loop); /* started, but the daemon was not */
    gw->loop = NULL;
    fv_jobs_destroy(gw->jobs);
    gw->jobs = NULL;
    fv_registry *reg = atomic_exchange(&g_registry, NULL);
    if (reg)
        fv_registry_close(reg);
    fv_bus_destroy(gw->bus);
    fv_streams_destroy(gw->streams);
    fv_ratelimit_destroy(gw->rate);
    fv_reqlimit_destroy(gw->reqlimit);
    fv_cors_destroy(gw->cors);
    fv_auth_destroy(gw->auth);
    if (g_gw == gw) {
        fv_http_set_header_hook(NULL);
        g_gw = NULL;
    }
    free(gw);
}
