/* router.c - request routing and per-request state; see router.h.
 *
 * The path arrives percent-decoded from MHD, so `%2E%2E` is already `..` here and an id is
 * checked by the one id validator: anything but [A-Za-z0-9_-] is a 400, never mapped. Ingest
 * bodies are read as they stream in and stop being buffered at --max-body (the 413 goes out once
 * the upload ends, because MHD 0.9.75 cannot queue a response mid-upload; a declared
 * Content-Length over the limit is refused before reading anything).
 *
 * A complete ingest body is handed to an ingest worker (jobs.h) with its connection suspended:
 * the publish may wait seconds for acknowledgements (a stream electing a leader), and an HTTP
 * thread must not. The worker resumes the connection with the answer ready; MHD then calls the
 * handler again, which queues it.
 */
#include "router.h"

#include <pthread.h>
#include <stdatomic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cors.h"
#include "errors.h"
#include "flovyn/buf.h"
#include "flovyn/log.h"
#include "flovyn/units.h"
#include "health.h"
#include "history.h"
#include "ingest.h"
#include "jobs.h"
#include "metrics.h"
#include "reqlimit.h"
#include "stream.h"

#include "static_assets.h"

#define PATH_ID_MAX 256
/* an upload that keeps going this far past the limit is cut off instead of drained */
#define DISCARD_FACTOR 4

typedef enum route {
    R_NOT_FOUND = 0,
    R_STREAM,
    R_INGEST,
    R_HISTORY,
    R_HEALTH,
    R_READY,
    R_METRICS,
    R_STATIC,
    R_PREFLIGHT,
    R_BAD_METHOD,
} route;

typedef struct fv_req {
    route r;
    fv_endpoint ep;
    fv_ingest_kind ik;
    char id[PATH_ID_MAX + 1];
    fv_principal pr;
    bool have_pr;
    fv_buf body;
    size_t discarded;
    bool too_big, ndjson, responded;
    bool counted; /* holds a place in the tenant's concurrent request limit */
    /* ingest on a worker */
    fv_job job;
    fv_gw *gw;
    struct MHD_Connection *mc;
    fv_http_answer answer;
    atomic_bool answer_ready; /* set by the worker before it resumes the connection */
} fv_req;

/* Orders a worker's resume after the handler's suspend: the handler submits and suspends under
 * it, the worker resumes under it, so a fast job never resumes a connection not yet suspended. */
static pthread_mutex_t g_suspend_mu = PTHREAD_MUTEX_INITIALIZER;

static void ingest_job(void *arg)
{
    fv_req *rq = arg;
    fv_ingest_run(rq->gw, rq->ik, rq->id, &rq->pr, rq->body.data ? rq->body.data : "", rq->body.len,
                  rq->ndjson, &rq->answer);
    pthread_mutex_lock(&g_suspend_mu);
    atomic_store(&rq->answer_ready, true);
    MHD_resume_connection(rq->mc);
    pthread_mutex_unlock(&g_suspend_mu);
}

/* hands the complete body to a worker; answers 503 itself when the workers are draining */
static enum MHD_Result ingest_submit(fv_gw *gw, struct MHD_Connection *mc, fv_req *rq)
{
    rq->gw = gw;
    rq->mc = mc;
    rq->job = (fv_job){.fn = ingest_job, .arg = rq};
    pthread_mutex_lock(&g_suspend_mu);
    bool ok = fv_jobs_submit(gw->jobs, &rq->job);
    if (ok)
        MHD_suspend_connection(mc);
    pthread_mutex_unlock(&g_suspend_mu);
    if (!ok)
        return fv_http_error(mc, 503, "unavailable", "shutting down", 2);
    return MHD_YES;
}

static bool starts(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0)
        return false;
    *rest = s + n;
    return true;
}

/* "{id}/<suffix>" -> id copied, returns the suffix (with its '/'), or NULL */
static const char *take_id(const char *rest, char *id)
{
    const char *slash = strchr(rest, '/');
    if (!slash)
        return NULL;
    size_t n = (size_t)(slash - rest);
    if (n > PATH_ID_MAX)
        n = PATH_ID_MAX; /* still invalid: ids are at most 64 bytes */
    memcpy(id, rest, n);
    id[n] = '\0';
    return slash;
}

static void route_of(const char *url, const char *method, fv_req *rq)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool post = !strcmp(method, "POST");
    const char *rest, *sfx;
    rq->r = R_NOT_FOUND;
    if (!strcmp(url, "/v1/events/stream")) {
        rq->r = get ? R_STREAM : R_BAD_METHOD;
        rq->ep = FV_EP_TENANT;
    } else if (!strcmp(url, "/v1/events")) {
        rq->r = get ? R_HISTORY : post ? R_INGEST : R_BAD_METHOD;
        rq->ik = FV_INGEST_EVENTS;
    } else if (starts(url, "/v1/workflow-executions/", &rest) && (sfx = take_id(rest, rq->id))) {
        if (!strcmp(sfx, "/stream")) {
            rq->r = get ? R_STREAM : R_BAD_METHOD;
            rq->ep = FV_EP_WORKFLOW;
        } else if (!strcmp(sfx, "/stream/consolidated")) {
            rq->r = get ? R_STREAM : R_BAD_METHOD;
            rq->ep = FV_EP_CONSOLIDATED;
        } else if (!strcmp(sfx, "/stream-events")) {
            rq->r = post ? R_INGEST : R_BAD_METHOD;
            rq->ik = FV_INGEST_STREAM_EVENTS;
        }
    } else if (starts(url, "/v1/task-executions/", &rest) && (sfx = take_id(rest, rq->id))) {
        if (!strcmp(sfx, "/stream")) {
            rq->r = get ? R_STREAM : R_BAD_METHOD;
            rq->ep = FV_EP_TASK;
        }
    } else if (!strcmp(url, "/healthz")) {
        rq->r = get ? R_HEALTH : R_BAD_METHOD;
    } else if (!strcmp(url, "/readyz")) {
        rq->r = get ? R_READY : R_BAD_METHOD;
    } else if (!strcmp(url, "/metrics")) {
        rq->r = get ? R_METRICS : R_BAD_METHOD;
    } else if (get) {
        rq->r = R_STATIC;
    }
}

/* true when the caller may go on; otherwise an error response was queued into *ret */
static bool authenticate(fv_gw *gw, struct MHD_Connection *mc, fv_req *rq, bool get, bool write,
                         enum MHD_Result *ret)
{
    fv_err err = {{0}};
    if (fv_auth_request(gw->auth, mc, get, &rq->pr, &err) != FV_OK) {
        *ret = fv_http_error(mc, 401, "unauthorized", err.msg[0] ? err.msg : "missing token", 0);
        return false;
    }
    rq->have_pr = true;
    if (write ? !rq->pr.can_write : !rq->pr.can_read) {
        *ret = fv_http_error(
            mc, 403, "forbidden",
            write ? "token lacks the events:write scope" : "token lacks the events:read scope", 0);
        return false;
    }
    return true;
}

static enum MHD_Result static_page(fv_gw *gw, struct MHD_Connection *mc, const char *method,
                                   const char *url)
{
    if (!strcmp(url, "/demo/token") && gw->cfg.demo_tenant && *gw->cfg.demo_tenant) {
        char *json = NULL;
        fv_err err = {{0}};
        if (fv_static_demo_token(gw->auth, gw->cfg.demo_tenant, gw->cfg.demo_token_ttl_ms, &json,
                                 &err) != FV_OK)
            return fv_http_error(mc, 404, "not_found", err.msg, 0);
        enum MHD_Result ret = fv_http_reply(mc, 200, "application/json", json, strlen(json));
        free(json);
        return ret;
    }
    int r = fv_static_serve(mc, method, url);
    if (r >= 0)
        return (enum MHD_Result)r;
    return fv_http_error(mc, 404, "not_found", "no such endpoint", 0);
}

static enum MHD_Result ingest_first(fv_gw *gw, struct MHD_Connection *mc, fv_req *rq)
{
    const char *ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
    enum MHD_Result ret = MHD_NO;
    if (!authenticate(gw, mc, rq, false, true, &ret)) {
        rq->responded = true;
        return ret;
    }
    if (atomic_load(&gw->stopping)) {
        rq->responded = true;
        return fv_http_error(mc, 503, "unavailable", "shutting down", 2);
    }
    /* fail fast while NATS is away: a publish would hold an HTTP thread for its whole retry
     * budget, and with a few threads that stalls every other request too */
    if (!fv_bus_ready(gw->bus)) {
        rq->responded = true;
        return fv_http_error(mc, 503, "unavailable",
                             "the event store is not reachable right now; retry", 2);
    }
    if (!(rq->counted = fv_reqlimit_begin(gw->reqlimit, rq->pr.tenant_id))) {
        rq->responded = true;
        return fv_http_error(mc, 503, "unavailable", "too many concurrent requests for this tenant",
                             1);
    }
    if (!fv_ingest_content_type_ok(ct, &rq->ndjson)) {
        rq->responded = true;
        return fv_http_error(mc, 415, "unsupported_media_type",
                             "Content-Type must be application/json or application/x-ndjson", 0);
    }
    if (rq->ik == FV_INGEST_STREAM_EVENTS) {
        fv_err err = {{0}};
        if (fv_id_validate("workflow_execution_id", rq->id, strlen(rq->id), &err) != FV_OK) {
            rq->responded = true;
            return fv_http_error(mc, 400, "bad_request", err.msg, 0);
        }
    }
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)gw->cfg.max_body) {
        rq->responded = true;
        char msg[96];
        snprintf(msg, sizeof msg, "body larger than %lld bytes (--max-body)",
                 (long long)gw->cfg.max_body);
        return fv_http_error(mc, 413, "payload_too_large", msg, 0);
    }
    return MHD_YES;
}

static void log_request(const char *method, const char *url, struct MHD_Connection *mc)
{
    if (!fv_log_enabled(FV_LOG_DEBUG))
        return;
    /* rebuild the query string so a token in it is redacted, never logged */
    char full[1024], red[1024];
    const char *q = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "access_token");
    snprintf(full, sizeof full, "%s%s", url, q ? "?access_token=x" : "");
    fv_redact_url(full, red, sizeof red);
    fv_log(FV_LOG_DEBUG, "http", "request", "method", method, "url", red, NULL);
}

/* requests begun and not yet completed (response sent, or connection gone) */
static atomic_long g_inflight;

long fv_router_inflight(void)
{
    return atomic_load(&g_inflight);
}

enum MHD_Result fv_router_handle(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    fv_gw *gw = cls;
    fv_req *rq = *con_cls;
    (void)version;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        atomic_fetch_add(&g_inflight, 1);
        atomic_fetch_add(&fv_gw_metrics.http_requests, 1);
        log_request(method, url, mc);
        if (gw->cors && fv_cors_is_preflight(mc, method)) {
            rq->r = R_PREFLIGHT;
        } else {
            route_of(url, method, rq);
        }
        if (rq->r == R_INGEST)
            return ingest_first(gw, mc, rq);
        return MHD_YES;
    }
    if (rq->r == R_INGEST) {
        if (*upload_size) {
            size_t n = *upload_size;
            *upload_size = 0;
            if (rq->responded || rq->too_big) {
                rq->discarded += n;
                /* a client that keeps sending far past the limit is cut off */
                return rq->discarded > (size_t)gw->cfg.max_body * DISCARD_FACTOR ? MHD_NO : MHD_YES;
            }
            if (rq->body.len + n > (size_t)gw->cfg.max_body) {
                rq->too_big = true;
                fv_buf_free(&rq->body);
                rq->discarded += n;
                return MHD_YES;
            }
            if (fv_buf_append(&rq->body, upload, n) != FV_OK)
                return MHD_NO;
            return MHD_YES;
        }
        if (rq->responded) {
            if (atomic_exchange(&rq->answer_ready, false))
                return fv_http_answer_send(mc, &rq->answer);
            return MHD_YES;
        }
        rq->responded = true;
        if (rq->too_big) {
            char msg[96];
            snprintf(msg, sizeof msg, "body larger than %lld bytes (--max-body)",
                     (long long)gw->cfg.max_body);
            return fv_http_error(mc, 413, "payload_too_large", msg, 0);
        }
        return ingest_submit(gw, mc, rq);
    }
    if (*upload_size) { /* a body on a GET: ignored */
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->responded)
        return MHD_YES;
    rq->responded = true;
    switch (rq->r) {
    case R_PREFLIGHT: {
        struct MHD_Response *r = fv_cors_preflight_response(
            gw->cors, MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin"));
        if (!r)
            return MHD_NO;
        enum MHD_Result ret = MHD_queue_response(mc, 204, r);
        MHD_destroy_response(r);
        return ret;
    }
    case R_HEALTH: return fv_health_live(gw, mc);
    case R_READY: return fv_health_ready(gw, mc);
    case R_METRICS: return fv_health_metrics(gw, mc);
    case R_STATIC: return static_page(gw, mc, method, url);
    case R_BAD_METHOD: return fv_http_error(mc, 405, "method_not_allowed", "method not allowed", 0);
    case R_NOT_FOUND: return fv_http_error(mc, 404, "not_found", "no such endpoint", 0);
    case R_HISTORY: {
        enum MHD_Result ret = MHD_NO;
        if (!authenticate(gw, mc, rq, true, false, &ret))
            return ret;
        if (atomic_load(&gw->stopping))
            return fv_http_error(mc, 503, "unavailable", "shutting down", 2);
        if (!(rq->counted = fv_reqlimit_begin(gw->reqlimit, rq->pr.tenant_id)))
            return fv_http_error(mc, 503, "unavailable",
                                 "too many concurrent requests for this tenant", 1);
        return fv_history_handle(gw, mc, &rq->pr);
    }
    case R_STREAM: {
        enum MHD_Result ret = MHD_NO;
        if (!authenticate(gw, mc, rq, true, false, &ret))
            return ret;
        rq->have_pr = false; /* moved into the stream */
        return fv_stream_open(gw, mc, rq->ep, rq->ep == FV_EP_TENANT ? NULL : rq->id, &rq->pr);
    }
    default: return fv_http_error(mc, 404, "not_found", "no such endpoint", 0);
    }
}

void fv_router_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)mc;
    (void)toe;
    fv_gw *gw = cls;
    fv_req *rq = *con_cls;
    if (!rq)
        return;
    if (rq->counted)
        fv_reqlimit_end(gw->reqlimit, rq->pr.tenant_id);
    if (rq->have_pr)
        fv_principal_clear(&rq->pr);
    fv_buf_free(&rq->body);
    fv_buf_free(&rq->answer.body);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&g_inflight, 1);
}
