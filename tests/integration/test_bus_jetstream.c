/* test_bus_jetstream.c - the shared bus behaviour suite (tests/support/bus_suite.h) run against
 * the JetStream backend on a real nats-server: the same tests the memory bus passes, with 10,000
 * events published concurrently during the resume test. One server for the group; every test
 * uses tenants of its own, so they share the streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "bus_suite.h"
#include "fixture.h"

static fv_nats_server srv;

static fv_bus *make(void *ctx)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.name = "test-bus-suite";
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    if (fv_bus_create(&c, &bus, &err) != FV_OK) {
        fprintf(stderr, "bus: %s\n", err.msg);
        return NULL;
    }
    if (fv_bus_provision(bus, &err) != FV_OK) {
        fprintf(stderr, "provision: %s\n", err.msg);
        fv_bus_destroy(bus);
        return NULL;
    }
    return bus;
}

int main(void)
{
    if (fv_nats_start(&srv) != 0)
        return 1;
    fv_bus_suite suite = {
        .make = make, .ctx = &srv, .concurrent_events = 10000, .timeout_ms = 30000};
    int failed = fv_bus_suite_run("bus_jetstream", &suite);
    fv_nats_cleanup(&srv);
    return failed;
}
