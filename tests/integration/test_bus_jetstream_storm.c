/* test_bus_jetstream_storm.c - a resume storm on a cold JetStream bus, on a real nats-server.
 *
 * A gateway restarts under its clients: a bus whose window is empty (its live path starts with
 * the first subscription) gets the shared suite's 2,000 scattered resumes at once, some for the
 * whole tenant and some for one workflow, while publishing goes on; the suite checks that each
 * gets exactly its records, in order, without gap, then LIVE. What this test adds is the cost:
 * the storm must take a handful of JetStream consumers, not one per subscription (ARCHITECTURE
 * "Data flow" 4: shared readers). A plain NATS connection counts the server's own
 * $JS.EVENT.ADVISORY.CONSUMER.CREATED advisories of FLOVYN_EVENTS and FLOVYN_STREAMS, not the
 * bus's counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <nats/nats.h>

#include "bus_suite.h"
#include "fixture.h"
#include "flovyn/units.h"

#define MAX_CONSUMERS 4 /* per stream during the storm: "a handful" (the goal is <= 2) */

static fv_nats_server srv;

typedef struct advisories {
    atomic_int events, streams, other, unparsed;
} advisories;

static void on_advisory(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    advisories *a = closure;
    json_error_t jerr;
    json_t *root = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, &jerr);
    const char *stream = root ? json_string_value(json_object_get(root, "stream")) : NULL;
    if (!stream)
        atomic_fetch_add(&a->unparsed, 1);
    else if (strcmp(stream, FV_STREAM_EVENTS) == 0)
        atomic_fetch_add(&a->events, 1);
    else if (strcmp(stream, FV_STREAM_STREAMS) == 0)
        atomic_fetch_add(&a->streams, 1);
    else
        atomic_fetch_add(&a->other, 1);
    json_decref(root);
    natsMsg_Destroy(msg);
}

static fv_bus *make_cold_bus(void *ctx)
{
    (void)ctx;
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.name = "test-storm-cold";
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    if (fv_bus_create(&c, &bus, &err) != FV_OK || fv_bus_provision(bus, &err) != FV_OK) {
        fprintf(stderr, "bus: %s\n", err.msg);
        fv_bus_destroy(bus);
        return NULL;
    }
    return bus;
}

static void test_jetstream_resume_storm_on_a_cold_bus_costs_a_handful_of_consumers(void **state)
{
    (void)state;
    natsConnection *nc = NULL;
    natsSubscription *adv_sub = NULL;
    advisories *adv = calloc(1, sizeof *adv);
    assert_non_null(adv);
    assert_int_equal(natsConnection_ConnectTo(&nc, srv.url), NATS_OK);
    assert_int_equal(natsConnection_Subscribe(&adv_sub, nc, "$JS.EVENT.ADVISORY.CONSUMER.CREATED.>",
                                              on_advisory, adv),
                     NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);

    /* every resume served right (the suite fails the test otherwise) ... */
    fv_bus_suite suite = {.make = make_cold_bus};
    void *st = &suite;
    fv_bus_suite_test_many_scattered_resumes_each_get_exactly_their_events(&st);

    /* ... and now what it cost: advisories already sent are in by the time a flush returns */
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    fv_sleep_ms(200);
    int events = atomic_load(&adv->events), streams = atomic_load(&adv->streams);
    printf("# storm on a cold bus: consumers created: %s %d, %s %d (other streams %d, "
           "unparsed %d)\n",
           FV_STREAM_EVENTS, events, FV_STREAM_STREAMS, streams, atomic_load(&adv->other),
           atomic_load(&adv->unparsed));
    natsSubscription_Destroy(adv_sub);
    natsConnection_Destroy(nc);
    free(adv);
    if (events > MAX_CONSUMERS || streams > MAX_CONSUMERS)
        fail_msg("a storm of resumes created %d consumers on %s and %d on %s; expected at most %d "
                 "per stream (shared readers, not one consumer per subscription)",
                 events, FV_STREAM_EVENTS, streams, FV_STREAM_STREAMS, MAX_CONSUMERS);
}

static int group_setup(void **state)
{
    return fv_nats_start(&srv);
}

static int group_teardown(void **state)
{
    fv_nats_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jetstream_resume_storm_on_a_cold_bus_costs_a_handful_of_consumers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
