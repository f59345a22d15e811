/* bench_gateway_idle.c - resident memory of flovyn-gateway per idle SSE connection.
 *
 * Starts the built gateway on the memory bus, opens N tenant streams from raw sockets, waits until
 * each got its first `retry:` frame (the stream is established and its connection suspended), and
 * prints the growth of the gateway's VmRSS divided by N, for each --connection-memory value given.
 *   bench_gateway_idle [N] [pool sizes...]      e.g. bench_gateway_idle 2000 8K 32K
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gateway_fixture.h"

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static int measure(int n, const char *pool)
{
    char maxc[16];
    snprintf(maxc, sizeof maxc, "%d", n + 100);
    const char *args[] = {"--auth",
                          "none",
                          "--connection-memory",
                          pool,
                          "--max-connections",
                          maxc,
                          "--max-connections-per-tenant",
                          maxc,
                          "--log-level",
                          "warn",
                          NULL};
    fv_gateway g = {0};
    if (fv_gateway_start(&g, args) != 0)
        return -1;
    struct timespec settle = {0, 300 * 1000000L};
    nanosleep(&settle, NULL);
    long before = rss_kib(g.pid);
    const char *h[] = {"X-Flovyn-Tenant: bench", NULL};
    int *fds = calloc((size_t)n, sizeof *fds);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = fv_test_stalled_client(g.port, "/v1/events/stream", h);
        char buf[1024];
        struct pollfd p = {fds[i], POLLIN, 0};
        if (fds[i] >= 0 && poll(&p, 1, 5000) == 1 && read(fds[i], buf, sizeof buf) > 0)
            ok++;
    }
    nanosleep(&settle, NULL);
    long after = rss_kib(g.pid);
    printf("connection-memory %-4s  streams %5d  rss before %7ld KiB  after %7ld KiB  "
           "per connection %.1f KiB\n",
           pool, ok, before, after, ok ? (double)(after - before) / ok : 0.0);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    fv_gateway_cleanup(&g);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    if (argc > 2) {
        for (int i = 2; i < argc; i++)
            measure(n, argv[i]);
    } else {
        measure(n, "8K");
        measure(n, "32K");
    }
    return 0;
}
