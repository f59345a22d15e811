/* cmd_dlq.c - `flovyn-bridge dlq list|replay|purge`.
 *
 * replay delivers a webhook dead letter straight to its subscription's URL, signed exactly like
 * the dispatcher signs (same webhook-id for the same events), and removes the entry only after
 * a 2xx. It never republishes into FLOVYN_EVENTS: that would fan the event out to every SSE
 * client and every other subscription again. A subscription whose receiver still fails is not
 * tried further in the same run, so a broken receiver is not hammered.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "dlq.h"
#include "flovyn/event.h"
#include "flovyn/subject.h"
#include "subscriptions.h"
#include "webhook_http.h"
#include "cloudevents.h"

#define REPLAY_FAILED_MAX 64

typedef struct dlq_cfg {
    fv_bridge_common c;
    const char *subscription;
    int64_t limit;
    bool allow_private;
    int64_t timeout_ms;
} dlq_cfg;

#define D(f) offsetof(dlq_cfg, f)
static const fv_option dlq_options[] = {
    {"subscription", FV_OPT_STRING, D(subscription), NULL, "only this subscription's entries"},
    {"limit", FV_OPT_INT, D(limit), "1000", "list: most entries printed"},
    {"allow-private", FV_OPT_BOOL, D(allow_private), "false",
     "replay: allow loopback/private receivers for every subscription"},
    {"webhook-timeout", FV_OPT_DURATION, D(timeout_ms), "10s", "replay: per delivery request"},
    {"timeout", FV_OPT_ALIAS, 0, "webhook-timeout", NULL},
    {NULL, 0, 0, NULL, NULL},
};

static const char usage[] =
    "usage: flovyn-bridge dlq list [--subscription S] [--limit N]\n"
    "       flovyn-bridge dlq replay [--subscription S] [--allow-private] [--webhook-timeout 10s]\n"
    "       flovyn-bridge dlq purge [--subscription S]\n"
    "\n"
    "Dead letters in FLOVYN_DLQ: list prints one JSON object per line with its reason, replay\n"
    "delivers webhook dead letters again straight to their URL, purge deletes them.\n"
    "\n"
    "Examples:\n"
    "  flovyn-bridge dlq list --subscription acme-hook --limit 20\n"
    "  flovyn-bridge dlq replay --subscription acme-hook\n"
    "  flovyn-bridge dlq purge --subscription acme-hook\n";

static int list_one(void *ud, const fv_dlq_item *it)
{
    fv_buf b = FV_BUF_INIT;
    fv_buf_putc(&b, '{');
    fv_json_put_key(&b, "dlq_seq", true);
    fv_json_put_uint(&b, it->dlq_seq);
    fv_json_put_key(&b, "origin", false);
    fv_json_put_str_or_null(&b, it->origin);
    /* the origin under its first name: webhook dead letters were the only ones listed */
    fv_json_put_key(&b, "subscription", false);
    fv_json_put_str_or_null(&b, it->origin);
    fv_json_put_key(&b, "subject", false);
    fv_json_put_str_or_null(&b, it->subject);
    fv_json_put_key(&b, "stream", false);
    fv_json_put_str_or_null(&b, it->stream);
    fv_json_put_key(&b, "seq", false);
    fv_json_put_uint(&b, it->original_seq);
    fv_json_put_key(&b, "original_seq", false);
    fv_json_put_uint(&b, it->original_seq);
    fv_json_put_key(&b, "attempts", false);
    fv_json_put_int(&b, it->attempts);
    fv_json_put_key(&b, "reason", false);
    fv_json_put_str_or_null(&b, it->reason);
    fv_json_put_key(&b, "time_ms", false);
    fv_json_put_int(&b, it->time_ms);
    /* the body as the codec reads it (a dead letter of the checker may well decode: it was
     * refused for disagreeing with its subject) */
    fv_event ev;
    fv_stream_event se;
    fv_event_init(&ev);
    fv_stream_event_init(&se);
    fv_err err = {{0}};
    bool stream = it->stream && !strcmp(it->stream, FV_STREAM_STREAMS);
    fv_status st =
        stream ? fv_stream_event_decode(&se, it->content_type, it->data, it->len, NULL, &err)
               : fv_event_decode(&ev, it->content_type, it->data, it->len, NULL, &err);
    if (st == FV_OK) {
        fv_json_put_key(&b, "event", false);
        if (stream)
            fv_stream_event_to_json(&se, &b);
        else
            fv_event_to_json(&ev, &b);
    } else {
        fv_json_put_key(&b, "undecodable", false);
        fv_json_put_cstr(&b, err.msg);
    }
    fv_event_clear(&ev);
    fv_stream_event_clear(&se);
    fv_buf_puts(&b, "}\n");
    if (fv_buf_status(&b) == FV_OK)
        fwrite(b.data, 1, b.len, stdout);
    fv_buf_free(&b);
    return 0;
}

typedef struct replay_state {
    dlq_cfg *cfg;
    fv_bus *bus;
    fv_kv *kv;
    fv_subscription *sub; /* cache of the last one looked up */
    bool have_sub;
    char failed[REPLAY_FAILED_MAX][FV_ID_MAX + 1];
    int nfailed;
    uint64_t replayed, failures, skipped;
} replay_state;

static bool failed_before(replay_state *rs, const char *name)
{
    for (int i = 0; i < rs->nfailed; i++)
        if (!strcmp(rs->failed[i], name))
            return true;
    return false;
}

static void mark_failed(replay_state *rs, const char *name)
{
    if (rs->nfailed < REPLAY_FAILED_MAX)
        snprintf(rs->failed[rs->nfailed++], FV_ID_MAX + 1, "%s", name);
}

static int replay_one(void *ud, const fv_dlq_item *it)
{
    replay_state *rs = ud;
    fv_err err = {{0}};
    if (!it->origin || fv_dlq_origin_reserved(it->origin) || failed_before(rs, it->origin)) {
        rs->skipped++;
        return 0;
    }
    if (!rs->have_sub || strcmp(rs->sub->name, it->origin) != 0) {
        rs->have_sub = false;
        fv_status st = fv_subscriptions_get(rs->kv, it->origin, rs->sub, &err);
        if (st != FV_OK) {
            fprintf(stderr, "flovyn-bridge: dlq replay: seq %" PRIu64 ": %s; skipped\n",
                    it->dlq_seq, err.msg);
            rs->skipped++;
            if (st == FV_ENOTFOUND)
                mark_failed(rs, it->origin);
            return 0;
        }
        rs->have_sub = true;
    }
    fv_event ev;
    fv_event_init(&ev);
    if (fv_event_decode(&ev, it->content_type, it->data, it->len, NULL, &err) != FV_OK) {
        fprintf(stderr,
                "flovyn-bridge: dlq replay: seq %" PRIu64 " is not an event (%s); "
                "skipped\n",
                it->dlq_seq, err.msg);
        rs->skipped++;
        return 0;
    }
    const fv_event *evp = &ev;
    const char *id = ev.id;
    char batch_id[FV_WEBHOOK_ID_MAX];
    fv_webhook_batch_id(&id, 1, batch_id, sizeof batch_id);
    fv_buf body = FV_BUF_INIT;
    fv_cloudevents_batch(&body, &evp, 1);
    fv_event_clear(&ev);
    fv_webhook_req req;
    fv_status st = fv_buf_status(&body);
    if (st == FV_OK)
        st = fv_webhook_req_init(&req, rs->sub->url, rs->sub->secret, batch_id, body.data, body.len,
                                 rs->sub->allow_private || rs->cfg->allow_private,
                                 rs->cfg->timeout_ms, &err);
    if (st != FV_OK) {
        fv_buf_free(&body);
        fprintf(stderr, "flovyn-bridge: dlq replay: seq %" PRIu64 ": %s\n", it->dlq_seq, err.msg);
        rs->failures++;
        return 0;
    }
    CURLcode rc = curl_easy_perform(req.h);
    long status = 0;
    char why[256];
    fv_webhook_outcome oc = fv_webhook_req_outcome(&req, rc, &status, why, sizeof why);
    fv_webhook_req_cleanup(&req);
    fv_buf_free(&body);
    if (oc != FV_WH_DELIVERED) {
        fprintf(stderr,
                "flovyn-bridge: dlq replay: subscription '%s' seq %" PRIu64
                ": %s; its remaining entries are kept\n",
                it->origin, it->dlq_seq, why);
        rs->failures++;
        mark_failed(rs, it->origin);
        return 0;
    }
    if (fv_dlq_remove(rs->bus, it->dlq_seq, &err) != FV_OK) {
        fprintf(stderr,
                "flovyn-bridge: dlq replay: delivered seq %" PRIu64
                " but could not remove it: %s\n",
                it->dlq_seq, err.msg);
        rs->failures++;
        return 0;
    }
    rs->replayed++;
    return 0;
}

int fv_cmd_dlq(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *action = argv[0];
    if (strcmp(action, "list") && strcmp(action, "replay") && strcmp(action, "purge")) {
        fprintf(stderr, "flovyn-bridge: dlq: unknown action '%s'\n%s", action, usage);
        return 2;
    }
    dlq_cfg cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, dlq_options, &cfg, argc - 1, argv + 1, &res);
    if (rc >= 0)
        return rc;
    fv_err err = {{0}};
    if (res.npositional > 0) {
        fprintf(stderr, "flovyn-bridge: dlq %s: unexpected argument '%s'\n", action,
                res.positional[0]);
        return 2;
    }
    if (cfg.subscription &&
        fv_id_validate("subscription", cfg.subscription, strlen(cfg.subscription), &err) != FV_OK) {
        fprintf(stderr, "flovyn-bridge: dlq %s: %s\n", action, err.msg);
        return 2;
    }
    if (cfg.limit < 0) {
        fprintf(stderr, "flovyn-bridge: dlq %s: --limit must be >= 0\n", action);
        return 2;
    }
    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&cfg.c, "flovyn-bridge dlq", &bus)) >= 0)
        return rc;
    fv_status st = FV_OK;
    int code = 0;
    if (!strcmp(action, "list")) {
        st = fv_dlq_scan(bus, cfg.subscription, (size_t)cfg.limit, list_one, NULL, &err);
        if (st == FV_ENOTFOUND)
            st = FV_OK; /* no DLQ stream yet: nothing dead-lettered */
    } else if (!strcmp(action, "purge")) {
        st = fv_dlq_purge(bus, cfg.subscription, &err);
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        replay_state rs = {.cfg = &cfg, .bus = bus};
        rs.sub = calloc(1, sizeof *rs.sub);
        st = rs.sub ? fv_subscriptions_open(bus, false, 1, &rs.kv, &err) : FV_ENOMEM;
        if (st == FV_OK)
            st = fv_dlq_scan(bus, cfg.subscription, 0, replay_one, &rs, &err);
        if (st == FV_ENOTFOUND)
            st = FV_OK;
        if (st == FV_OK) {
            printf("{\"replayed\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"skipped\":%" PRIu64 "}\n",
                   rs.replayed, rs.failures, rs.skipped);
            code = rs.failures ? 1 : 0;
        }
        if (rs.kv)
            fv_kv_close(rs.kv);
        free(rs.sub);
        curl_global_cleanup();
    }
    fv_bus_destroy(bus);
    if (st != FV_OK) {
        fprintf(stderr, "flovyn-bridge: dlq %s: %s\n", action, err.msg[0] ? err.msg : "failed");
        return 1;
    }
    return code;
}
