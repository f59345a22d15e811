/* main.c - flovyn-gateway: options and wiring only.
 *
 *   flovyn-gateway [options]   serve (CONTRACT §4, §6)
 *   flovyn-gateway token ...   mint a token (auth.c)
 * Signals are taken by sigwait on the main thread, so no handler runs inside library code;
 * SIGTERM/SIGINT drain and exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "flovyn/bus.h"
#include "flovyn/log.h"
#include "gw.h"

int main(int argc, char **argv)
{
    fv_bus_process_start();
    if (argc > 1 && !strcmp(argv[1], "token"))
        return fv_auth_token_main(argc - 2, argv + 2);
    fv_gw_config cfg;
    fv_err err = {{0}};
    bool help = false;
    if (fv_gw_config_parse(&cfg, argc - 1, argv + 1, &help, &err) != FV_OK) {
        fprintf(stderr, "flovyn-gateway: %s\n", err.msg);
        return 2;
    }
    if (help) {
        fv_gw_config_help(stdout);
        return 0;
    }
    if (fv_log_setup(cfg.log_level, cfg.log_format, &err) != FV_OK) {
        fprintf(stderr, "flovyn-gateway: %s\n", err.msg);
        return 2;
    }
    /* block the stop signals in every thread created from here on; main waits for them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    fv_gw *gw = NULL;
    fv_status st = fv_gw_create(&cfg, &gw, &err);
    if (st != FV_OK) {
        fv_log(FV_LOG_ERROR, "gateway", "cannot start", "error", err.msg, NULL);
        return st == FV_EINVAL ? 2 : 1;
    }
    if ((st = fv_gw_start(gw, &err)) != FV_OK) {
        fv_log(FV_LOG_ERROR, "gateway", "cannot listen", "error", err.msg, NULL);
        fv_gw_destroy(gw);
        return 1;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", fv_gw_port(gw));
    fv_log(FV_LOG_INFO, "gateway", "listening", "addr", cfg.listen, "port", port, "bus",
           cfg.nats_url && *cfg.nats_url ? "jetstream" : "memory", NULL);
    int sig = 0;
    sigwait(&set, &sig);
    fv_log(FV_LOG_INFO, "gateway", "signal received; draining", "signal",
           sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    fv_gw_shutdown(gw);
    fv_gw_destroy(gw);
    fv_log(FV_LOG_INFO, "gateway", "stopped", NULL);
    return 0;
}
