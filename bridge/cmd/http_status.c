/* http_status.c - /healthz, /readyz and /metrics of flovyn-bridge on libmicrohttpd; see
 * http_status.h. One internal polling thread is plenty for a scrape every few seconds, and the
 * connection limit keeps a misbehaving client from holding more than a few sockets. */
#include "http_status.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flovyn/log.h"

struct fv_http_status {
    struct MHD_Daemon *d;
    fv_http_status_config cfg;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *ctype,
                             fv_buf *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        body->len, body->data ? body->data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    fv_http_status *h = cls;
    fv_buf b = FV_BUF_INIT;
    unsigned code = 200;
    const char *ctype = "application/json";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        code = 405;
        fv_buf_puts(&b, "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"GET only\"}}");
    } else if (!strcmp(url, "/healthz")) {
        fv_buf_puts(&b, "{\"status\":\"ok\"}");
    } else if (!strcmp(url, "/readyz")) {
        bool ok = !h->cfg.ready || h->cfg.ready(h->cfg.ud);
        code = ok ? 200 : 503;
        fv_buf_puts(&b, ok ? "{\"status\":\"ready\"}" : "{\"status\":\"not_ready\"}");
    } else if (!strcmp(url, "/metrics")) {
        ctype = "text/plain; version=0.0.4";
        if (h->cfg.metrics)
            h->cfg.metrics(h->cfg.ud, &b);
    } else {
        code = 404;
        fv_buf_puts(&b, "{\"error\":{\"code\":\"not_found\",\"message\":\"/healthz, /readyz, "
                        "/metrics\"}}");
    }
    enum MHD_Result r = fv_buf_status(&b) == FV_OK ? reply(c, code, ctype, &b) : MHD_NO;
    fv_buf_free(&b);
    return r;
}

/* MHD's own diagnostics as project log lines (stderr stays one JSON object per line) */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    fv_log(FV_LOG_WARN, "http", msg, NULL);
}

/* "host:port", "[v6]:port" or ":port" */
static fv_status resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len, fv_err *err)
{
    char host[256], port[16];
    const char *colon = strrchr(addr, ':');
    if (!colon || !colon[1] || strlen(colon + 1) >= sizeof port)
        return fv_err_set(err, FV_EINVAL, "http-addr: '%s' is not host:port", addr);
    size_t hn = (size_t)(colon - addr);
    if (hn >= sizeof host)
        return fv_err_set(err, FV_EINVAL, "http-addr: host too long");
    memcpy(host, addr, hn);
    host[hn] = '\0';
    if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
        memmove(host, host + 1, hn - 2);
        host[hn - 2] = '\0';
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || !res)
        return fv_err_set(err, FV_EINVAL, "http-addr: cannot resolve '%s': %s", addr,
                          gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return FV_OK;
}

fv_status fv_http_status_start(const fv_http_status_config *cfg, fv_http_status **out, fv_err *err)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    fv_status st = resolve(cfg->addr ? cfg->addr : "127.0.0.1:8081", &ss, &sl, err);
    if (st != FV_OK)
        return st;
    fv_http_status *h = calloc(1, sizeof *h);
    if (!h)
        return fv_err_set(err, FV_ENOMEM, "http: out of memory");
    h->cfg = *cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* the logger first (libmicrohttpd complains about any option before it), and the real port
     * as MHD's port argument: with 0 there, a failed bind was logged as "port 0" */
    uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    h->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return fv_err_set(err, FV_EIO,
                          "http: cannot listen on %s (in use, or not a local "
                          "address?)",
                          cfg->addr);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    *out = h;
    return FV_OK;
}

void fv_http_status_stop(fv_http_status *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}

int fv_http_status_port(const fv_http_status *h)
{
    return h->port;
}
