/* bench_advisories.c - counts the JetStream consumers nats-server creates, from the server's own
 * advisories ($JS.EVENT.ADVISORY.CONSUMER.CREATED.<stream>.<consumer>), not from the gateway's
 * counters: what a resume storm really costs the broker.
 *
 *   bench_advisories --nats-url URL      prints "ready" once subscribed, then on SIGTERM/SIGINT
 *                                        one line: events=N streams=N other=N
 */
#include <nats/nats.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long n_events, n_streams, n_other;
static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    const char *p = natsMsg_GetSubject(m) + strlen("$JS.EVENT.ADVISORY.CONSUMER.CREATED.");
    if (strncmp(p, "FLOVYN_EVENTS.", 14) == 0)
        atomic_fetch_add(&n_events, 1);
    else if (strncmp(p, "FLOVYN_STREAMS.", 15) == 0)
        atomic_fetch_add(&n_streams, 1);
    else
        atomic_fetch_add(&n_other, 1);
    natsMsg_Destroy(m);
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--nats-url"))
            url = argv[i + 1];
    if (!url) {
        fprintf(stderr, "usage: bench_advisories --nats-url URL\n");
        return 2;
    }
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub, nc, "$JS.EVENT.ADVISORY.CONSUMER.CREATED.>", on_msg,
                                     NULL);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_advisories: %s\n", natsStatus_GetText(s));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        usleep(20000);
    natsConnection_Flush(nc);
    usleep(100000); /* advisories already on the wire */
    printf("events=%ld streams=%ld other=%ld\n", atomic_load(&n_events), atomic_load(&n_streams),
           atomic_load(&n_other));
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return 0;
}
