/* gw.h - the gateway object: configuration, the bus, auth, CORS and the HTTP daemon, shared by
 * every module of gateway/src. main.c creates one; tests may create one in-process.
 */
#ifndef FLOVYN_GW_GW_H
#define FLOVYN_GW_GW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "flovyn/bus.h"
#include "flovyn/status.h"

struct MHD_Daemon;
struct fv_cors;
typedef struct fv_streams fv_streams;
typedef struct fv_conn_loop fv_conn_loop;
typedef struct fv_ratelimit fv_ratelimit;
typedef struct fv_reqlimit fv_reqlimit;

/* Hook for the bridge's workflow registry: the first stored sequences of a workflow, so a
 * workflow stream's catch-up starts there instead of scanning (ARCHITECTURE "Data flow" 4).
 * Returns false when unknown; NULL = no registry. */
typedef bool (*fv_first_seq_hint_fn)(void *ud, const char *tenant, const char *workflow,
                                     uint64_t *events_seq, uint64_t *streams_seq);

typedef struct fv_gw {
    fv_gw_config cfg;
    fv_bus *bus;
    fv_auth *auth;
    struct fv_cors *cors;
    struct MHD_Daemon *mhd;
    fv_streams *streams;
    fv_conn_loop *loop; /* the SSE sockets once libmicrohttpd handed them over (conn.h) */
    fv_ratelimit *rate;
    fv_reqlimit *reqlimit;
    struct fv_jobs *jobs; /* ingest workers (jobs.h) */
    atomic_bool stopping;
    pthread_t timer;
    bool timer_started;
    atomic_bool timer_stop;
    fv_first_seq_hint_fn first_seq_hint;
    void *first_seq_hint_ud;
    bool registry_warned; /* timer thread only */
} fv_gw;

/* server.c */
fv_status fv_gw_create(const fv_gw_config *cfg, fv_gw **out, fv_err *err);
/* binds and starts serving (and the heartbeat timer) */
fv_status fv_gw_start(fv_gw *gw, fv_err *err);
/* SIGTERM: stop accepting, end open streams with retry: (they flush and close), stop the
 * daemon (in-flight ingest requests finish first) */
void fv_gw_shutdown(fv_gw *gw);
void fv_gw_destroy(fv_gw *gw);
/* the port actually bound (useful with --listen host:0) */
uint16_t fv_gw_port(fv_gw *gw);

#endif
