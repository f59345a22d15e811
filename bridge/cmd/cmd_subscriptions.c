/* cmd_subscriptions.c - `flovyn-bridge subscriptions add|list|rm`: manage webhook subscription
 * records in the KV bucket; a running bridge applies each change through its KV watcher.
 *
 * Everything is validated before anything is stored, including that the URL's host does not
 * resolve to an internal address (the delivery path checks the connected address again).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "dlq.h"
#include "flovyn/units.h"
#include "ssrf.h"
#include "subscriptions.h"

#define SECRET_FILE_MAX 4096

typedef struct add_cfg {
    fv_bridge_common c;
    const char *tenant, *types, *url, *secret_file, *name, *backoff;
    int64_t max_attempts, batch;
    bool ordered, allow_private;
} add_cfg;

#define A(f) offsetof(add_cfg, f)
static const fv_option add_options[] = {
    {"tenant", FV_OPT_STRING, A(tenant), NULL, "tenant whose events are delivered (required)"},
    {"types", FV_OPT_STRING, A(types), NULL,
     "event types, the `types` grammar: 'workflow.*,task.failed' (default: every lifecycle event)"},
    {"url", FV_OPT_STRING, A(url), NULL, "http(s) URL the batches are POSTed to (required)"},
    {"secret-file", FV_OPT_STRING, A(secret_file), NULL,
     "file holding the signing secret: whsec_<base64> or raw bytes (required)"},
    {"name", FV_OPT_STRING, A(name), NULL, "subscription name (default: <tenant>-<random>)"},
    {"max-attempts", FV_OPT_INT, A(max_attempts), "8", "deliveries before dead-lettering"},
    {"backoff", FV_OPT_STRING, A(backoff), "1s,5s,30s,2m,10m",
     "waits before the 2nd, 3rd, ... attempt (the last one repeats)"},
    {"batch", FV_OPT_INT, A(batch), "100", "most events per POST"},
    {"ordered", FV_OPT_BOOL, A(ordered), "false",
     "one batch in flight, retried in place: strict order, lower throughput"},
    {"allow-private", FV_OPT_BOOL, A(allow_private), "false",
     "allow a URL on loopback/private/link-local addresses"},
    {NULL, 0, 0, NULL, NULL},
};

typedef struct list_cfg {
    fv_bridge_common c;
    const char *tenant;
} list_cfg;

static const fv_option list_options[] = {
    {"tenant", FV_OPT_STRING, offsetof(list_cfg, tenant), NULL, "only this tenant's"},
    {NULL, 0, 0, NULL, NULL},
};

static const char usage[] =
    "usage: flovyn-bridge subscriptions add --tenant T --url URL --secret-file F [--types ...]\n"
    "                                       [--name N] [--max-attempts 8] [--backoff 1s,5s,...]\n"
    "                                       [--batch 100] [--ordered] [--allow-private]\n"
    "       flovyn-bridge subscriptions list [--tenant T]\n"
    "       flovyn-bridge subscriptions rm NAME\n"
    "\n"
    "Examples:\n"
    "  flovyn-bridge subscriptions add --tenant acme --types 'workflow.*,task.failed' \\\n"
    "      --url https://hooks.example.test/flovyn --secret-file hook.secret --name acme-hook\n"
    "  flovyn-bridge subscriptions list --tenant acme\n"
    "  flovyn-bridge subscriptions rm acme-hook\n";

static int fail(int code, const char *what, const fv_err *err)
{
    fprintf(stderr, "flovyn-bridge: subscriptions %s: %s\n", what, err->msg);
    return code;
}

static int read_secret(const char *path, char *out, size_t cap, fv_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fv_err_set(err, FV_EINVAL, "secret-file: cannot open '%s'", path);
        return -1;
    }
    char buf[SECRET_FILE_MAX + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n > SECRET_FILE_MAX) {
        fv_err_set(err, FV_EINVAL, "secret-file: '%s' is larger than %d bytes", path,
                   SECRET_FILE_MAX);
        return -1;
    }
    fv_status st = fv_webhook_secret_normalize(buf, n, out, cap, err);
    memset(buf, 0, sizeof buf);
    return st == FV_OK ? 0 : -1;
}

static int cmd_add(int argc, char **argv)
{
    add_cfg cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, add_options, &cfg, argc, argv, &res);
    if (rc >= 0)
        return rc;
    fv_err err = {{0}};
    if (res.npositional > 0) {
        fprintf(stderr, "flovyn-bridge: subscriptions add: unexpected argument '%s'\n",
                res.positional[0]);
        return 2;
    }
    if (!cfg.tenant || !cfg.url || !cfg.secret_file) {
        fprintf(stderr, "flovyn-bridge: subscriptions add: --tenant, --url and --secret-file are "
                        "required\n");
        return 2;
    }
    fv_subscription *s = calloc(1, sizeof *s);
    if (!s)
        return 1;
    fv_subscription_init(s);
    int code = 2;
    if (strlen(cfg.tenant) >= sizeof s->tenant_id || strlen(cfg.url) >= sizeof s->url ||
        (cfg.types && strlen(cfg.types) >= sizeof s->types) ||
        (cfg.name && strlen(cfg.name) >= sizeof s->name)) {
        fv_err_set(&err, FV_EINVAL, "an argument is too long");
        goto out;
    }
    snprintf(s->tenant_id, sizeof s->tenant_id, "%s", cfg.tenant);
    snprintf(s->types, sizeof s->types, "%s", cfg.types ? cfg.types : "");
    snprintf(s->url, sizeof s->url, "%s", cfg.url);
    s->max_attempts =
        (int)(cfg.max_attempts > 0 && cfg.max_attempts < 1000000 ? cfg.max_attempts : 0);
    s->batch = (int)(cfg.batch > 0 && cfg.batch < 1000000 ? cfg.batch : 0);
    s->ordered = cfg.ordered;
    s->allow_private = cfg.allow_private;
    s->created_ms = fv_now_ms();
    if (cfg.name) {
        snprintf(s->name, sizeof s->name, "%s", cfg.name);
    } else {
        char uuid[40];
        fv_uuid4(uuid, sizeof uuid);
        snprintf(s->name, sizeof s->name, "%.50s-%.8s", s->tenant_id, uuid);
    }
    if (fv_backoff_parse(cfg.backoff, s->backoff_ms, FV_SUB_BACKOFF_MAX, &s->backoff_n, &err) !=
            FV_OK ||
        read_secret(cfg.secret_file, s->secret, sizeof s->secret, &err) != 0 ||
        fv_subscription_validate(s, &err) != FV_OK)
        goto out;
    if (fv_dlq_origin_reserved(s->name)) {
        fv_err_set(&err, FV_EINVAL, "name: '%s' is reserved", s->name);
        goto out;
    }
    fv_status st = fv_ssrf_check_url(s->url, s->allow_private, &err);
    if (st != FV_OK) {
        code = st == FV_EUNAVAIL ? 1 : 2;
        goto out;
    }
    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&cfg.c, "flovyn-bridge subscriptions", &bus)) >= 0) {
        code = rc;
        err.msg[0] = '\0';
        goto out;
    }
    fv_kv *kv = NULL;
    code = 1;
    /* adding an existing name replaces its record: a running bridge restarts the runner on the
     * same durable, so delivery continues from where it was (say so in the output) */
    bool existed = false;
    if (fv_subscriptions_open(bus, true, (int)cfg.c.replicas, &kv, &err) == FV_OK) {
        fv_subscription *old = malloc(sizeof *old);
        fv_err gerr = {{0}};
        fv_status gs = old ? fv_subscriptions_get(kv, s->name, old, &gerr) : FV_ENOMEM;
        existed = gs != FV_ENOTFOUND && gs != FV_ENOMEM;
        if (gs == FV_OK)
            s->created_ms = old->created_ms;
        free(old);
        if (fv_subscriptions_put(kv, s, &err) == FV_OK) {
            char durable[FV_ID_MAX + 16];
            fv_subscription_durable_name(s, durable, sizeof durable);
            printf("{\"name\":\"%s\",\"durable\":\"%s\",\"%s\":true}\n", s->name, durable,
                   existed ? "updated" : "created");
            code = 0;
        }
    }
    if (kv)
        fv_kv_close(kv);
    fv_bus_destroy(bus);
out:
    memset(s->secret, 0, sizeof s->secret);
    free(s);
    if (code != 0 && err.msg[0])
        return fail(code, "add", &err);
    return code;
}

static int print_one(void *ud, const fv_subscription *s)
{
    const char *tenant = ud;
    if (tenant && strcmp(tenant, s->tenant_id) != 0)
        return 0;
    fv_buf b = FV_BUF_INIT;
    fv_buf_putc(&b, '{');
    fv_json_put_key(&b, "name", true);
    fv_json_put_cstr(&b, s->name);
    fv_json_put_key(&b, "tenant_id", false);
    fv_json_put_cstr(&b, s->tenant_id);
    fv_json_put_key(&b, "types", false);
    fv_json_put_cstr(&b, s->types);
    fv_json_put_key(&b, "url", false);
    fv_json_put_cstr(&b, s->url);
    fv_json_put_key(&b, "max_attempts", false);
    fv_json_put_int(&b, s->max_attempts);
    fv_json_put_key(&b, "backoff_ms", false);
    fv_buf_putc(&b, '[');
    for (size_t i = 0; i < s->backoff_n; i++) {
        if (i)
            fv_buf_putc(&b, ',');
        fv_json_put_int(&b, s->backoff_ms[i]);
    }
    fv_buf_putc(&b, ']');
    fv_json_put_key(&b, "batch", false);
    fv_json_put_int(&b, s->batch);
    fv_json_put_key(&b, "ordered", false);
    fv_buf_puts(&b, s->ordered ? "true" : "false");
    fv_json_put_key(&b, "allow_private", false);
    fv_buf_puts(&b, s->allow_private ? "true" : "false");
    fv_json_put_key(&b, "created_ms", false);
    fv_json_put_int(&b, s->created_ms);
    fv_buf_puts(&b, "}\n"); /* the secret is never printed */
    if (fv_buf_status(&b) == FV_OK)
        fwrite(b.data, 1, b.len, stdout);
    fv_buf_free(&b);
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    list_cfg cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, list_options, &cfg, argc, argv, &res);
    if (rc >= 0)
        return rc;
    fv_err err = {{0}};
    if (cfg.tenant && fv_id_validate("tenant", cfg.tenant, strlen(cfg.tenant), &err) != FV_OK)
        return fail(2, "list", &err);
    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&cfg.c, "flovyn-bridge subscriptions", &bus)) >= 0)
        return rc;
    fv_kv *kv = NULL;
    fv_status st = fv_subscriptions_open(bus, false, 1, &kv, &err);
    if (st == FV_OK)
        st = fv_subscriptions_list(kv, print_one, (void *)cfg.tenant, &err);
    else if (st == FV_ENOTFOUND)
        st = FV_OK; /* no bucket: no subscriptions */
    if (kv)
        fv_kv_close(kv);
    fv_bus_destroy(bus);
    return st == FV_OK ? 0 : fail(1, "list", &err);
}

static int cmd_rm(int argc, char **argv)
{
    fv_bridge_common cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, NULL, &cfg, argc, argv, &res);
    if (rc >= 0)
        return rc;
    fv_err err = {{0}};
    if (res.npositional != 1) {
        fprintf(stderr, "flovyn-bridge: subscriptions rm: give exactly one NAME\n");
        return 2;
    }
    const char *name = res.positional[0];
    if (fv_id_validate("name", name, strlen(name), &err) != FV_OK)
        return fail(2, "rm", &err);
    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&cfg, "flovyn-bridge subscriptions", &bus)) >= 0)
        return rc;
    fv_kv *kv = NULL;
    fv_status st = fv_subscriptions_open(bus, false, 1, &kv, &err);
    if (st == FV_OK)
        st = fv_subscriptions_delete(kv, name, &err);
    if (kv)
        fv_kv_close(kv);
    fv_bus_destroy(bus);
    if (st == FV_ENOTFOUND)
        return fail(2, "rm", &err);
    return st == FV_OK ? 0 : fail(1, "rm", &err);
}

int fv_cmd_subscriptions(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "add"))
        return cmd_add(argc - 1, argv + 1);
    if (!strcmp(argv[0], "list"))
        return cmd_list(argc - 1, argv + 1);
    if (!strcmp(argv[0], "rm"))
        return cmd_rm(argc - 1, argv + 1);
    fprintf(stderr, "flovyn-bridge: subscriptions: unknown action '%s'\n%s", argv[0], usage);
    return 2;
}
