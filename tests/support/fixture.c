/* fixture.c - real nats-server and child processes for integration tests; see fixture.h. */
#include "fixture.h"
#include "flovyn/units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

int fv_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

bool fv_test_wait_port(int port, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)port);
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return true;
        fv_sleep_ms(20);
    }
    return false;
}

pid_t fv_test_spawn(char *const argv[], char *const env[], const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
            close(devnull);
        }
        for (int i = 0; env && env[i]; i++)
            putenv(env[i]);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int fv_test_stop_pid(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    kill(pid, sig);
    int status = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        fv_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}

int fv_test_tmpdir(char *out, size_t cap, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/flovyn-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    return mkdtemp(out) ? 0 : -1;
}

const char *fv_test_bin(const char *name)
{
    static __thread char path[512];
    snprintf(path, sizeof path, "%s/%s", FV_BUILD_DIR, name);
    return path;
}

static int nats_launch(fv_nats_server *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    char *argv[] = {"nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd", s->store_dir, NULL};
    s->pid = fv_test_spawn(argv, NULL, s->log_path);
    if (s->pid <= 0)
        return -1;
    if (!fv_test_wait_port(s->port, 10000)) {
        fv_test_stop_pid(s->pid, SIGKILL, 1000);
        s->pid = 0;
        fprintf(stderr, "nats-server did not start on port %d (log %s)\n", s->port, s->log_path);
        return -1;
    }
    return 0;
}

int fv_nats_start(fv_nats_server *s)
{
    memset(s, 0, sizeof *s);
    if (fv_test_tmpdir(s->store_dir, sizeof s->store_dir, "nats") != 0)
        return -1;
    snprintf(s->log_path, sizeof s->log_path, "%s/nats.log", s->store_dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = fv_test_free_port();
        snprintf(s->url, sizeof s->url, "nats://127.0.0.1:%d", s->port);
        if (nats_launch(s) == 0)
            return 0;
    }
    return -1;
}

void fv_nats_kill(fv_nats_server *s)
{
    if (s->pid > 0)
        fv_test_stop_pid(s->pid, SIGKILL, 5000);
    s->pid = 0;
}

void fv_nats_stop(fv_nats_server *s)
{
    if (s->pid > 0)
        fv_test_stop_pid(s->pid, SIGTERM, 10000);
    s->pid = 0;
}

int fv_nats_restart(fv_nats_server *s)
{
    if (s->pid > 0)
        fv_nats_stop(s);
    /* the port may linger in TIME_WAIT for clients, not for the listener; retry briefly */
    for (int attempt = 0; attempt < 50; attempt++) {
        if (nats_launch(s) == 0)
            return 0;
        fv_sleep_ms(100);
    }
    return -1;
}

void fv_nats_cleanup(fv_nats_server *s)
{
    fv_nats_kill(s);
    if (s->store_dir[0] && strncmp(s->store_dir, "/", 1) == 0 && strstr(s->store_dir, "flovyn-")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->store_dir);
        int r = system(cmd);
        (void)r;
    }
    s->store_dir[0] = '\0';
}

/* --- direct JetStream requests ---------------------------------------------------------------- */

static int js_connect(const char *url, natsConnection **nc, jsCtx **js)
{
    *nc = NULL;
    *js = NULL;
    if (natsConnection_ConnectTo(nc, url) != NATS_OK)
        return -1;
    if (natsConnection_JetStream(js, *nc, NULL) != NATS_OK) {
        natsConnection_Destroy(*nc);
        return -1;
    }
    return 0;
}

static void js_disconnect(natsConnection *nc, jsCtx *js)
{
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

int fv_test_js_delete_stream(const char *url, const char *stream)
{
    natsConnection *nc;
    jsCtx *js;
    if (js_connect(url, &nc, &js) != 0)
        return -1;
    natsStatus s = js_DeleteStream(js, stream, NULL, NULL);
    js_disconnect(nc, js);
    return s == NATS_OK ? 0 : -1;
}

int fv_test_js_consumer_exists(const char *url, const char *stream, const char *consumer)
{
    natsConnection *nc;
    jsCtx *js;
    if (js_connect(url, &nc, &js) != 0)
        return -1;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, js, stream, consumer, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    js_disconnect(nc, js);
    if (s == NATS_OK)
        return 1;
    return s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr ? 0 : -1;
}

int fv_test_js_consumer_add_ack_all(const char *url, const char *stream, const char *consumer)
{
    natsConnection *nc;
    jsCtx *js;
    if (js_connect(url, &nc, &js) != 0)
        return -1;
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = consumer;
    cc.AckPolicy = js_AckAll;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddConsumer(&ci, js, stream, &cc, NULL, &jerr);
    if (s != NATS_OK)
        fprintf(stderr, "add consumer %s: %s (%d) %s\n", consumer, natsStatus_GetText(s), (int)jerr,
                nats_GetLastError(NULL));
    jsConsumerInfo_Destroy(ci);
    js_disconnect(nc, js);
    return s == NATS_OK ? 0 : -1;
}

int fv_test_js_consumer_delete(const char *url, const char *stream, const char *consumer)
{
    natsConnection *nc;
    jsCtx *js;
    if (js_connect(url, &nc, &js) != 0)
        return -1;
    natsStatus s = js_DeleteConsumer(js, stream, consumer, NULL, NULL);
    js_disconnect(nc, js);
    return s == NATS_OK ? 0 : -1;
}

fv_status fv_test_bus_open(const char *url, const char *name, fv_bus **out, fv_err *err)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = url;
    c.name = name;
    return fv_bus_create(&c, out, err);
}
