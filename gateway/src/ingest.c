/* ingest.c - HTTP ingest of FlovynEvents and StreamEvents; see ingest.h.
 *
 * The body arrives whole (bounded by --max-body while it streams in, see router.c), is split into
 * item spans without building a tree, and each item goes through the library's codec and
 * validation, so `data`/`payload` are stored as the producer's bytes. Valid items are published as
 * one pipelined batch and the answer waits for it: a 202 means durable. The tenant of an item is
 * never taken from the body: a different tenant_id there rejects the item, an absent one means
 * the caller's.
 */
#include "ingest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "flovyn/json.h"
#include "flovyn/log.h"
#include "flovyn/units.h"
#include "metrics.h"
#include "ratelimit.h"

bool fv_ingest_content_type_ok(const char *ctype, bool *ndjson)
{
    *ndjson = false;
    if (!ctype)
        return false;
    while (*ctype == ' ')
        ctype++;
    size_t n = strcspn(ctype, "; \t");
    if (n == 16 && !strncasecmp(ctype, "application/json", n))
        return true;
    if (n == 20 && !strncasecmp(ctype, "application/x-ndjson", n)) {
        *ndjson = true;
        return true;
    }
    return false;
}

static bool ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int split_lines(const char *body, size_t len, fv_ingest_span *spans, size_t max,
                       bool *too_many)
{
    size_t count = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t a = pos, b = end;
        while (a < b && ws(body[a]))
            a++;
        while (b > a && ws(body[b - 1]))
            b--;
        pos = end + 1;
        if (a == b)
            continue;
        if (count >= max) {
            *too_many = true;
            break;
        }
        fv_json_kind kind = FV_JSON_INVALID;
        bool ok = fv_json_validate(body + a, b - a, FV_JSON_MAX_DEPTH, &kind, NULL) == FV_OK &&
                  kind == FV_JSON_OBJECT;
        spans[count].p = body + a;
        spans[count].n = ok ? b - a : 0;
        spans[count].raw_n = b - a;
        count++;
    }
    return (int)count;
}

int fv_ingest_split(const char *body, size_t len, bool ndjson, fv_ingest_span *spans, size_t max,
                    bool *too_many, fv_err *err)
{
    *too_many = false;
    size_t off = 0;
    while (off < len && ws(body[off]))
        off++;
    if (off == len)
        return fv_err_set(err, FV_EINVAL, "body: empty");
    if (ndjson)
        return split_lines(body, len, spans, max, too_many);
    if (body[off] == '[') {
        fv_json_kind whole = FV_JSON_INVALID;
        fv_status st = fv_json_validate(body + off, len - off, FV_JSON_MAX_DEPTH, &whole, err);
        if (st != FV_OK)
            return fv_err_prefix(err, st, "body: ");
        fv_json_iter it;
        fv_json_iter_init(&it, body + off, len - off);
        size_t count = 0;
        fv_span v;
        fv_json_kind kind;
        int r;
        while ((r = fv_json_next_element(&it, &v, &kind, err)) == 1) {
            if (count >= max) {
                *too_many = true;
                break;
            }
            spans[count].p = v.p;
            spans[count].n = kind == FV_JSON_OBJECT ? v.n : 0;
            spans[count].raw_n = v.n;
            count++;
        }
        if (r < 0)
            return fv_err_prefix(err, r, "body: ");
        return (int)count;
    }
    fv_json_kind kind = FV_JSON_INVALID;
    fv_err first = {{0}};
    if (fv_json_validate(body + off, len - off, FV_JSON_MAX_DEPTH, &kind, &first) == FV_OK) {
        if (kind != FV_JSON_OBJECT)
            return fv_err_set(err, FV_EINVAL,
                              "body: expected a JSON object, an array of objects or NDJSON");
        if (max == 0) {
            *too_many = true;
            return 0;
        }
        spans[0].p = body + off;
        spans[0].n = len - off;
        while (spans[0].n && ws(spans[0].p[spans[0].n - 1]))
            spans[0].n--;
        spans[0].raw_n = spans[0].n;
        return 1;
    }
    /* not one JSON value: NDJSON sent as application/json, if it has several lines */
    size_t lines = 0;
    for (size_t i = off; i < len; i++)
        if (body[i] == '\n') {
            size_t j = i + 1;
            while (j < len && ws(body[j]))
                j++;
            if (j < len)
                lines++;
        }
    if (lines == 0) {
        if (err)
            *err = first;
        return fv_err_prefix(err, FV_EINVAL, "body: ");
    }
    return split_lines(body, len, spans, max, too_many);
}

fv_status fv_ingest_item_error(const fv_ingest_span *sp, size_t index, fv_err *err)
{
    fv_json_kind kind = FV_JSON_INVALID;
    fv_err e = {{0}};
    if (fv_json_validate(sp->p, sp->raw_n, FV_JSON_MAX_DEPTH, &kind, &e) != FV_OK)
        return fv_err_set(err, FV_EINVAL, "line %zu: %s", index + 1, e.msg);
    return fv_err_set(err, FV_EINVAL, "item must be a JSON object");
}

/* A stream event has no tenant in its shape; one given anyway must be the caller's. */
static fv_status check_body_tenant(const char *p, size_t n, const char *tenant, fv_err *err)
{
    fv_json_iter it;
    fv_json_iter_init(&it, p, n);
    fv_span k, v;
    fv_json_kind kind;
    int r;
    while ((r = fv_json_next_member(&it, &k, &v, &kind, err)) == 1) {
        if (!fv_json_key_is(k, "tenant_id") && !fv_json_key_is(k, "tenantId"))
            continue;
        if (kind == FV_JSON_NULL)
            continue;
        char t[FV_ID_MAX + 2];
        if (kind != FV_JSON_STRING || fv_json_string_decode(v, t, sizeof t, NULL, NULL) != FV_OK ||
            strcmp(t, tenant) != 0)
            return fv_err_set(err, FV_EAUTH, "tenant_id: not the caller's tenant");
    }
    return r < 0 ? r : FV_OK;
}

static const char *item_code(fv_status st)
{
    switch (st) {
    case FV_EINVAL: return "invalid";
    case FV_EAUTH: return "forbidden";
    case FV_ETOOBIG: return "too_large";
    case FV_EUNAVAIL:
    case FV_EIO:
    case FV_ETIMEOUT:
    case FV_ECLOSED: return "unavailable";
    default: return fv_status_name(st);
    }
}

static unsigned http_status_for(fv_status st)
{
    switch (st) {
    case FV_EINVAL: return 400;
    case FV_EAUTH: return 403;
    case FV_ETOOBIG: return 413;
    default: return 503;
    }
}

void fv_ingest_run(fv_gw *gw, fv_ingest_kind kind, const char *path_wf, const fv_principal *pr,
                   const char *body, size_t len, bool ndjson, fv_http_answer *out)
{
    size_t max = (size_t)gw->cfg.max_items;
    fv_err err = {{0}};
    /* Only the spans are sized by --max-items (16 bytes each, not zeroed); the rest by the items
     * found. Zeroing per-item arrays for 1,000 items on every request - 1.5 MB, mostly events -
     * was 19 % of the gateway's CPU at 200 single-event requests/s (perf). */
    fv_ingest_span *spans = malloc(max * sizeof *spans);
    fv_err *errs = NULL;
    fv_status *status = NULL;
    fv_publish_item *pubs = NULL;
    size_t *pub_of = NULL;
    fv_event *evs = NULL;
    fv_stream_event *ses = NULL;
    int n = 0;
    fv_http_answer_error(out, 503, "unavailable", "out of memory", 1);
    if (!spans)
        goto out;
    bool too_many = false;
    int found = fv_ingest_split(body, len, ndjson, spans, max, &too_many, &err);
    if (found < 0) {
        atomic_fetch_add(&fv_gw_metrics.ingest_rejected, 1);
        fv_http_answer_error(out, 400, "bad_request", err.msg, 0);
        goto out;
    }
    if (too_many) {
        char msg[96];
        snprintf(msg, sizeof msg, "body: more than %zu items in one request (--max-items)", max);
        fv_http_answer_error(out, 413, "payload_too_large", msg, 0);
        goto out;
    }
    if (found == 0) {
        fv_http_answer_error(out, 400, "bad_request", "body: no items", 0);
        goto out;
    }
    size_t items = (size_t)found;
    errs = calloc(items, sizeof *errs);
    status = calloc(items, sizeof *status);
    pubs = calloc(items, sizeof *pubs);
    pub_of = calloc(items, sizeof *pub_of);
    if (kind == FV_INGEST_EVENTS)
        evs = calloc(items, sizeof *evs);
    else
        ses = calloc(items, sizeof *ses);
    if (!errs || !status || !pubs || !pub_of || (!evs && !ses))
        goto out;
    n = found;
    int retry_after = 0;
    if (fv_ratelimit_take(gw->rate, pr->tenant_id, (size_t)n, fv_monotonic_ms(), &retry_after) !=
        FV_OK) {
        atomic_fetch_add(&fv_gw_metrics.ingest_rate_limited, 1);
        char msg[128];
        snprintf(msg, sizeof msg,
                 "ingest rate limit of %lld events/s for this tenant; retry in %d s",
                 (long long)gw->cfg.ingest_rate_per_tenant, retry_after);
        fv_http_answer_error(out, 429, "rate_limited", msg, retry_after);
        goto out;
    }
    const fv_limits lim = {0};
    size_t npub = 0;
    for (int i = 0; i < n; i++) {
        fv_err *e = &errs[i];
        if (!spans[i].n) {
            status[i] = fv_ingest_item_error(&spans[i], (size_t)i, e);
            continue;
        }
        fv_status st;
        if (evs) {
            fv_event *ev = &evs[i];
            st = fv_event_from_json(ev, spans[i].p, spans[i].n, &lim, e);
            if (st == FV_OK) {
                if (!ev->tenant_id[0])
                    snprintf(ev->tenant_id, sizeof ev->tenant_id, "%s", pr->tenant_id);
                else if (strcmp(ev->tenant_id, pr->tenant_id) != 0)
                    st = fv_err_set(e, FV_EAUTH, "tenant_id: not the caller's tenant");
            }
            if (st == FV_OK)
                st = fv_event_fill_defaults(ev);
            if (st == FV_OK)
                pubs[npub].ev = ev;
        } else {
            fv_stream_event *se = &ses[i];
            st = check_body_tenant(spans[i].p, spans[i].n, pr->tenant_id, e);
            if (st == FV_OK)
                st = fv_stream_event_from_json(se, spans[i].p, spans[i].n, &lim, e);
            if (st == FV_OK) {
                snprintf(se->tenant_id, sizeof se->tenant_id, "%s", pr->tenant_id);
                if (!se->workflow_execution_id[0])
                    snprintf(se->workflow_execution_id, sizeof se->workflow_execution_id, "%s",
                             path_wf);
                else if (strcmp(se->workflow_execution_id, path_wf) != 0)
                    st = fv_err_set(e, FV_EINVAL,
                                    "workflow_execution_id: '%s' is not the workflow of the path",
                                    se->workflow_execution_id);
                if (se->timestamp_ms == 0)
                    se->timestamp_ms = fv_now_ms();
            }
            if (st == FV_OK)
                pubs[npub].se = se;
        }
        status[i] = st;
        if (st == FV_OK)
            pub_of[npub++] = (size_t)i;
    }
    if (npub > 0) {
        int64_t t0 = fv_monotonic_ms();
        fv_status st = fv_bus_publish_batch(gw->bus, pubs, npub, &err);
        uint64_t us = (uint64_t)(fv_monotonic_ms() - t0) * 1000;
        for (size_t k = 0; k < npub; k++) {
            size_t i = pub_of[k];
            if (st != FV_OK) {
                status[i] = st;
                errs[i] = err;
            } else {
                status[i] = pubs[k].status;
                if (pubs[k].status != FV_OK)
                    errs[i] = pubs[k].err;
            }
        }
        if (st == FV_OK)
            fv_metrics_observe_publish_us(us);
    }
    /* results */
    fv_buf b = FV_BUF_INIT;
    size_t ok = 0, k = 0;
    fv_status first_bad = FV_OK;
    const char *first_msg = "";
    fv_buf_puts(&b, "{\"results\":[");
    for (int i = 0; i < n; i++) {
        if (i)
            fv_buf_putc(&b, ',');
        fv_buf_printf(&b, "{\"index\":%d", i);
        if (status[i] == FV_OK) {
            while (k < npub && pub_of[k] != (size_t)i)
                k++;
            const fv_publish_result *res = &pubs[k].result;
            if (evs) {
                fv_buf_puts(&b, ",\"id\":");
                fv_json_put_cstr(&b, evs[i].id);
            } else {
                fv_buf_printf(&b, ",\"sequence\":%lld", (long long)ses[i].sequence);
            }
            fv_buf_printf(&b, ",\"seq\":%llu,\"duplicate\":%s}", (unsigned long long)res->seq,
                          res->duplicate ? "true" : "false");
            ok++;
            if (res->duplicate)
                atomic_fetch_add(&fv_gw_metrics.ingest_duplicate, 1);
            else
                atomic_fetch_add(&fv_gw_metrics.ingest_accepted, 1);
        } else {
            if (first_bad == FV_OK) {
                first_bad = status[i];
                first_msg = errs[i].msg;
            }
            fv_buf_puts(&b, ",\"error\":{\"code\":");
            fv_json_put_cstr(&b, item_code(status[i]));
            fv_buf_puts(&b, ",\"message\":");
            fv_json_put_cstr(&b, errs[i].msg[0] ? errs[i].msg : fv_status_name(status[i]));
            fv_buf_puts(&b, "}}");
            atomic_fetch_add(&fv_gw_metrics.ingest_rejected, 1);
        }
    }
    fv_buf_puts(&b, "]");
    unsigned code = 202;
    if (ok == 0) {
        code = http_status_for(first_bad);
        fv_buf_puts(&b, ",\"error\":{\"code\":");
        fv_json_put_cstr(&b, fv_http_code_name(code));
        fv_buf_puts(&b, ",\"message\":");
        fv_json_put_cstr(&b, first_msg);
        fv_buf_putc(&b, '}');
    }
    fv_buf_puts(&b, "}\n");
    fv_buf_free(&out->body);
    out->body = b; /* an out-of-memory body closes the connection (fv_http_answer_send) */
    out->status = code;
    out->retry_after_s = code == 503 ? 1 : 0;
out:
    for (int i = 0; i < n; i++) {
        if (evs)
            fv_event_clear(&evs[i]);
        if (ses)
            fv_stream_event_clear(&ses[i]);
    }
    free(spans);
    free(errs);
    free(status);
    free(pubs);
    free(pub_of);
    free(evs);
    free(ses);
}
