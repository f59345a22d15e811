/* fixture.h - real processes for integration tests: nats-server on a free port with a temporary
 * store, and any other child (the gateway, the bridge) started and stopped by its pid.
 *
 * Nothing here mocks NATS. Each test group starts its own server and kills only that pid.
 */
#ifndef FLOVYN_TEST_FIXTURE_H
#define FLOVYN_TEST_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

#include "flovyn/bus.h"

typedef struct fv_nats_server {
    pid_t pid;
    int port;
    char url[64];
    char store_dir[256];
    char log_path[300];
} fv_nats_server;

/* a TCP port on 127.0.0.1 that was free a moment ago */
int fv_test_free_port(void);
/* true once something accepts on 127.0.0.1:port (polls up to timeout_ms) */
bool fv_test_wait_port(int port, int timeout_ms);

/* starts `nats-server -js` on a free port with a fresh temporary store; 0 on success */
int fv_nats_start(fv_nats_server *s);
/* SIGKILL (crash) or SIGTERM (clean) the server and reap it; the store is kept */
void fv_nats_kill(fv_nats_server *s);
void fv_nats_stop(fv_nats_server *s);
/* starts again on the same port and store (after kill/stop); 0 on success */
int fv_nats_restart(fv_nats_server *s);
/* stops if running and removes the store */
void fv_nats_cleanup(fv_nats_server *s);

/* a JetStream bus on url with the library's defaults, `name` for NATS monitoring */
fv_status fv_test_bus_open(const char *url, const char *name, fv_bus **out, fv_err *err);

/* Direct JetStream requests on a connection of the test's own (the library exposes no nats.c
 * handle): what an operator would do by hand. 0 on success, -1 otherwise. */
int fv_test_js_delete_stream(const char *url, const char *stream);
/* 1 when the consumer exists, 0 when it does not, -1 when NATS could not answer */
int fv_test_js_consumer_exists(const char *url, const char *stream, const char *consumer);
/* a durable pull consumer with AckPolicy all (one the bridge's own ensure cannot update); 0 on
 * success */
int fv_test_js_consumer_add_ack_all(const char *url, const char *stream, const char *consumer);
int fv_test_js_consumer_delete(const char *url, const char *stream, const char *consumer);

/* fork+exec argv (argv[0] resolved via PATH or as given); stdout+stderr to log_path (or inherit
 * when NULL); extra environment "K=V" entries in env (NULL-terminated, may be NULL). */
pid_t fv_test_spawn(char *const argv[], char *const env[], const char *log_path);
/* SIGTERM/SIGKILL by pid and reap; returns the exit status as from waitpid, or -1 */
int fv_test_stop_pid(pid_t pid, int sig, int timeout_ms);

/* path of a built binary ("flovyn-gateway") in the build dir */
const char *fv_test_bin(const char *name);
/* fresh temporary directory (mkdtemp under $TMPDIR or /tmp) */
int fv_test_tmpdir(char *out, size_t cap, const char *tag);

#endif
