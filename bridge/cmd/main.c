/* main.c - flovyn-bridge: picks the subcommand and hands it the rest of argv. Nothing else lives
 * here; each subcommand is its own module (bridge.h).
 */
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "flovyn/bus.h"

static const char usage[] =
    "usage: flovyn-bridge <command> [options]\n"
    "\n"
    "Commands:\n"
    "  run             the daemon: streams, registry, legacy adapter, webhooks, /healthz /metrics\n"
    "  init            create or update the streams and buckets (idempotent)\n"
    "  publish         publish one lifecycle or stream event, print its sequence\n"
    "  tail            print stored (and with --follow, new) events, one JSON per line\n"
    "  workflows get   print a workflow's registry entry\n"
    "  subscriptions   add|list|rm webhook subscriptions\n"
    "  dlq             list|replay|purge dead letters\n"
    "  demo            produce demo workflows\n"
    "\n"
    "`flovyn-bridge <command> --help` lists the command's options. Every option is also an\n"
    "environment variable: --nats-url <=> FLOVYN_NATS_URL.\n"
    "\n"
    "Example:\n"
    "  FLOVYN_NATS_URL=nats://127.0.0.1:4222 flovyn-bridge init\n";

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
} command;

static const command commands[] = {
    {"run", fv_cmd_run},   {"init", fv_cmd_init},           {"publish", fv_cmd_publish},
    {"tail", fv_cmd_tail}, {"workflows", fv_cmd_workflows}, {"subscriptions", fv_cmd_subscriptions},
    {"dlq", fv_cmd_dlq},   {"demo", fv_cmd_demo},
};

int main(int argc, char **argv)
{
    fv_bus_process_start();
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "flovyn-bridge: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
