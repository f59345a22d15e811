/* cmd_init.c - `flovyn-bridge init`: create or update every stream and bucket the system uses.
 *
 * Safe to run any number of times (deploy scripts, CI, each start of `run` does the same): it
 * changes only what differs from the configuration and never deletes data.
 */
#include <stddef.h>
#include <stdio.h>

#include "bridge.h"
#include "flovyn/log.h"
#include "provision.h"

typedef struct init_cfg {
    fv_bridge_common c; /* first: the common table's offsets */
    int64_t dlq_max_age_ms, dlq_max_bytes;
} init_cfg;

static const fv_option init_options[] = {
    {"dlq-max-age", FV_OPT_DURATION, offsetof(init_cfg, dlq_max_age_ms), "30d",
     "FLOVYN_DLQ retention"},
    {"dlq-max-bytes", FV_OPT_SIZE, offsetof(init_cfg, dlq_max_bytes), "1G", "FLOVYN_DLQ size cap"},
    {NULL, 0, 0, NULL, NULL},
};

static const char usage[] =
    "usage: flovyn-bridge init [options]\n"
    "\n"
    "Creates or updates (idempotently) the streams FLOVYN_EVENTS, FLOVYN_STREAMS, FLOVYN_DLQ and\n"
    "the KV buckets FLOVYN_WORKFLOWS and FLOVYN_SUBSCRIPTIONS. Exit 0 when all exist as\n"
    "configured, 1 when NATS fails or an existing stream conflicts, 2 on bad usage.\n"
    "\n"
    "Example:\n"
    "  flovyn-bridge init --nats-url nats://127.0.0.1:4222 --events-max-age 14d --replicas 3\n";

int fv_cmd_init(int argc, char **argv)
{
    init_cfg cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, init_options, &cfg, argc, argv, &res);
    if (rc >= 0)
        return rc;
    if (res.npositional > 0) {
        fprintf(stderr, "flovyn-bridge init: unexpected argument '%s'\n", res.positional[0]);
        return 2;
    }
    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&cfg.c, "flovyn-bridge init", &bus)) >= 0)
        return rc;
    fv_provision_config pc = {.dlq_max_age_ms = cfg.dlq_max_age_ms,
                              .dlq_max_bytes = cfg.dlq_max_bytes};
    fv_err err = {{0}};
    fv_status st = fv_provision_all(bus, &cfg.c, &pc, &err);
    fv_bus_destroy(bus);
    if (st != FV_OK) {
        fprintf(stderr, "flovyn-bridge init: %s\n", err.msg[0] ? err.msg : fv_status_name(st));
        return 1;
    }
    fv_log(FV_LOG_INFO, "init", "streams and buckets are provisioned", NULL);
    return 0;
}
