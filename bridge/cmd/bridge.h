/* bridge.h - what the flovyn-bridge subcommands share: the common option table and config, and
 * the entry points each subcommand module exports to main.c.
 *
 * main.c only picks the subcommand and wires things up; each subcommand lives in its own file.
 */
#ifndef FLOVYN_BRIDGE_H
#define FLOVYN_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "flovyn/bus.h"
#include "flovyn/options.h"

/* Options every subcommand understands (CONTRACT §6). */
typedef struct fv_bridge_common {
    const char *nats_url;
    const char *nats_creds;
    const char *nats_tls_ca, *nats_tls_cert, *nats_tls_key;
    const char *prefix;
    const char *http_addr;
    int64_t replicas;
    int64_t events_max_age_ms, streams_max_age_ms;
    int64_t events_max_bytes, streams_max_bytes;
    const char *log_level, *log_format;
} fv_bridge_common;

extern const fv_option fv_bridge_common_options[];

/* bus config from the common options */
void fv_bridge_bus_config(const fv_bridge_common *c, fv_bus_config *out);

/* Parses the common options plus `table` (may be NULL) into cfg, whose FIRST member must be an
 * fv_bridge_common (the common table's offsets are relative to it). Prints the usage and options
 * on --help. Returns -1 to continue, otherwise the exit status to return (0 after --help, 2 on bad
 * usage with the reason on stderr). Also sets up logging from --log-level/--log-format. */
int fv_bridge_parse_args(const char *usage, const fv_option *table, void *cfg, int argc,
                         char **argv, fv_options_result *res);
/* Opens the JetStream bus for a one-shot command (--nats-url required). Returns -1 on success
 * (*out set), otherwise the exit status (2 without --nats-url, 1 when NATS is unreachable). */
int fv_bridge_connect(const fv_bridge_common *c, const char *name, fv_bus **out);

/* Subcommands: argc/argv start after the subcommand word. Return the process exit status
 * (0 ok, 2 bad usage/invalid input with the reason on stderr, 1 runtime failure). */
int fv_cmd_init(int argc, char **argv);
int fv_cmd_publish(int argc, char **argv);
int fv_cmd_tail(int argc, char **argv);
int fv_cmd_workflows(int argc, char **argv);
int fv_cmd_run(int argc, char **argv);
int fv_cmd_subscriptions(int argc, char **argv); /* webhooks helper */
int fv_cmd_dlq(int argc, char **argv);           /* webhooks helper */
int fv_cmd_demo(int argc, char **argv);          /* demo producer */

/* The webhook dispatcher inside `flovyn-bridge run` (webhooks helper). Watches the subscription
 * bucket and runs one durable consumer per subscription; stop finishes or naks in-flight batches
 * and keeps every durable. */
typedef struct fv_webhooks fv_webhooks;
typedef struct fv_webhooks_config {
    bool allow_private; /* run --allow-private: loopback/private targets allowed (tests) */
    int64_t timeout_ms; /* per delivery request */
    int replicas;       /* of the subscription bucket when it must be created; 0 -> 1 */
} fv_webhooks_config;
fv_status fv_webhooks_start(fv_bus *bus, const fv_webhooks_config *cfg, fv_webhooks **out,
                            fv_err *err);
void fv_webhooks_stop(fv_webhooks *w);
/* Prometheus text lines appended to out (for the bridge's /metrics) */
void fv_webhooks_metrics(fv_webhooks *w, fv_buf *out);

#endif
