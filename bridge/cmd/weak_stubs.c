/* weak_stubs.c - placeholders so flovyn-bridge links while modules built in parallel are missing.
 *
 * Each is a weak symbol: the real (strong) definition in its own module replaces it at link time.
 * This file goes away once every module exists.
 */
#include <stdio.h>

#include "bridge.h"

static int not_built(const char *cmd)
{
    fprintf(stderr, "flovyn-bridge: %s is not built in this binary\n", cmd);
    return 1;
}

__attribute__((weak)) int fv_cmd_subscriptions(int argc, char **argv)
{
    return not_built("subscriptions");
}

__attribute__((weak)) int fv_cmd_dlq(int argc, char **argv)
{
    return not_built("dlq");
}

__attribute__((weak)) int fv_cmd_demo(int argc, char **argv)
{
    return not_built("demo");
}

__attribute__((weak)) fv_status fv_webhooks_start(fv_bus *bus, const fv_webhooks_config *cfg,
                                                  fv_webhooks **out, fv_err *err)
{
    *out = NULL;
    return fv_err_set(err, FV_ENOTSUP, "webhooks are not built in this binary");
}

__attribute__((weak)) void fv_webhooks_stop(fv_webhooks *w) {}

__attribute__((weak)) void fv_webhooks_metrics(fv_webhooks *w, fv_buf *out) {}
