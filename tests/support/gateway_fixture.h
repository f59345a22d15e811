/* gateway_fixture.h - a real flovyn-gateway process and real HTTP/SSE clients for tests.
 *
 * The gateway is the built binary (fv_test_bin), started on a free port and stopped by its pid.
 * The SSE client is libcurl on its own thread: it parses frames (id, event, data, retry, comments)
 * the way EventSource does and collects them so a test can wait for N events with a timeout.
 * The HTTP helpers do one request and return status, headers and body.
 */
#ifndef FLOVYN_TEST_GATEWAY_FIXTURE_H
#define FLOVYN_TEST_GATEWAY_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct fv_gateway {
    pid_t pid;
    int port;
    char base[64];      /* "http://127.0.0.1:<port>" */
    char log_path[300]; /* gateway stderr */
    char dir[256];      /* temp dir (log, secret file) */
    char *args[64];     /* the extra arguments, kept for restart */
    int nargs;
} fv_gateway;

/* Starts flovyn-gateway with extra args (NULL-terminated list; --listen is added) on a free port
 * and waits for /healthz. 0 on success (the log is printed to stderr on failure). */
int fv_gateway_start(fv_gateway *g, const char *const *args);
/* Starts again on the same port with the same args (after stop or kill). */
int fv_gateway_restart(fv_gateway *g);
/* Sends sig (SIGTERM, SIGKILL) and reaps; returns the waitpid status, -1 if not running. */
int fv_gateway_stop(fv_gateway *g, int sig, int timeout_ms);
/* Stops if running (SIGTERM; the log is printed if the exit was not clean), removes the temp
 * dir, frees args. */
void fv_gateway_cleanup(fv_gateway *g);
/* Writes a secret file into g->dir (call before start, or use any dir); returns its path. */
const char *fv_gateway_write_secret(fv_gateway *g, const char *secret);
/* Prints the gateway log to stderr (for failing tests). */
void fv_gateway_dump_log(const fv_gateway *g);

/* --- plain HTTP ----------------------------------------------------------------------------- */
typedef struct fv_http_resp {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char *headers; /* raw response headers, NUL-terminated */
} fv_http_resp;

/* headers: NULL-terminated "Name: value" list (may be NULL). body may be NULL. 0 on transport
 * success (any HTTP status). */
int fv_http_request(const char *method, const char *url, const char *const *headers,
                    const char *body, size_t body_len, fv_http_resp *out);
void fv_http_resp_free(fv_http_resp *r);
/* value of a response header (case-insensitive name) copied into out; false if absent */
bool fv_http_resp_header(const fv_http_resp *r, const char *name, char *out, size_t cap);

/* --- SSE ------------------------------------------------------------------------------------ */
typedef struct fv_sse_event {
    char id[128];    /* "" when the frame had no id line */
    char event[160]; /* "message" when the frame had no event line */
    char *data;      /* joined data lines */
    long retry;      /* retry value seen in this frame, -1 if none */
} fv_sse_event;

typedef struct fv_sse_client fv_sse_client;

/* Connects in the background. headers as for fv_http_request. */
fv_sse_client *fv_sse_open(const char *url, const char *const *headers);
/* Waits until at least n events (frames with data) arrived, or the stream ended, or timeout.
 * Returns the number of events collected. */
size_t fv_sse_wait(fv_sse_client *c, size_t n, int timeout_ms);
/* Waits until the server closed the stream (true) or timeout (false). */
bool fv_sse_wait_closed(fv_sse_client *c, int timeout_ms);
/* Waits until at least n comment lines (": keep-alive") arrived; returns the count. */
int fv_sse_wait_comments(fv_sse_client *c, int n, int timeout_ms);
size_t fv_sse_count(fv_sse_client *c);
/* copy of event i (data is a new malloc'd string; free with fv_sse_event_free) */
bool fv_sse_get(fv_sse_client *c, size_t i, fv_sse_event *out);
void fv_sse_event_free(fv_sse_event *e);
/* index of the first event named `name` at or after `from`, or -1 */
long fv_sse_find(fv_sse_client *c, const char *name, size_t from);
long fv_sse_status(fv_sse_client *c);      /* HTTP status (0 until headers arrived) */
long fv_sse_first_retry(fv_sse_client *c); /* the first retry: value, -1 if none */
long fv_sse_last_retry(fv_sse_client *c);
bool fv_sse_closed(fv_sse_client *c);
/* the id of the last event that had one ("" if none) */
void fv_sse_last_id(fv_sse_client *c, char *out, size_t cap);
/* aborts the connection, joins the thread, frees everything */
void fv_sse_close(fv_sse_client *c);

/* A client that sends a GET and never reads, with a tiny receive buffer: a stalled peer. Returns
 * the socket (close it to end) or -1. */
int fv_test_stalled_client(int port, const char *path_and_query, const char *const *headers);

/* Reads a raw socket's HTTP response (chunked or close-delimited), returning the decoded body
 * (malloc'd, NUL- terminated, length in *len) once `stop` occurs `want` times, the body ends, or
 * timeout_ms. */
char *fv_test_read_raw_body(int fd, const char *stop, int want, int timeout_ms, size_t *len);

#endif
