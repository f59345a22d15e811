/* bench_gateway_fanout.c - how fast flovyn-gateway fans events out to many SSE clients.
 *
 * Starts the built gateway (memory bus, or JetStream with --nats-url URL), opens N tenant streams
 * (libcurl clients, one thread each), publishes M events through HTTP ingest in batches, and
 * prints the time until every client had every event and the resulting deliveries per second.
 *   bench_gateway_fanout [N clients] [M events] [--nats-url URL]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "flovyn/buf.h"
#include "gateway_fixture.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    int m = argc > 2 ? atoi(argv[2]) : 2000;
    const char *nats = argc > 4 && !strcmp(argv[3], "--nats-url") ? argv[4] : NULL;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char maxc[16];
    snprintf(maxc, sizeof maxc, "%d", n + 100);
    const char *args[] = {"--auth",
                          "none",
                          "--max-connections",
                          maxc,
                          "--max-connections-per-tenant",
                          maxc,
                          "--ingest-rate-per-tenant",
                          "0",
                          "--log-level",
                          "warn",
                          nats ? "--nats-url" : NULL,
                          nats,
                          NULL};
    fv_gateway g = {0};
    if (fv_gateway_start(&g, args) != 0)
        return 1;
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/stream", g.base);
    const char *h[] = {"X-Flovyn-Tenant: bench", NULL};
    fv_sse_client **c = calloc((size_t)n, sizeof *c);
    for (int i = 0; i < n; i++)
        c[i] = fv_sse_open(url, h);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 500 && fv_sse_first_retry(c[i]) < 0; k++)
            fv_sse_wait(c[i], 1, 10);
    snprintf(url, sizeof url, "%s/v1/events", g.base);
    const char *ph[] = {"X-Flovyn-Tenant: bench", "Content-Type: application/x-ndjson", NULL};
    double t0 = now_s();
    for (int i = 0; i < m;) {
        fv_buf b = FV_BUF_INIT;
        for (int k = 0; k < 100 && i < m; k++, i++)
            fv_buf_printf(&b,
                          "{\"workflow_execution_id\":\"wf-%d\",\"event_type\":\"task.progressed\","
                          "\"source\":\"bench\",\"data\":{\"i\":%d,\"text\":\"a typical small "
                          "progress update of a task\"}}\n",
                          i % 50, i);
        fv_http_resp r;
        fv_http_request("POST", url, ph, b.data, b.len, &r);
        if (r.status != 202)
            fprintf(stderr, "publish: %ld %s\n", r.status, r.body);
        fv_http_resp_free(&r);
        fv_buf_free(&b);
    }
    double t_pub = now_s() - t0;
    int complete = 0;
    for (int i = 0; i < n; i++)
        if (fv_sse_wait(c[i], (size_t)m, 60000) >= (size_t)m)
            complete++;
    double t_all = now_s() - t0;
    printf("bus %s  clients %d  events %d  publish %.2fs  all delivered %.2fs  "
           "complete clients %d  deliveries/s %.0f\n",
           nats ? "jetstream" : "memory", n, m, t_pub, t_all, complete, (double)n * m / t_all);
    for (int i = 0; i < n; i++)
        fv_sse_close(c[i]);
    free(c);
    fv_gateway_cleanup(&g);
    return 0;
}
