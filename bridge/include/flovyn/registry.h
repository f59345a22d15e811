/* registry.h - the workflow registry: which tenant owns a workflow, its parent, its status and the
 * first sequence of its events in FLOVYN_EVENTS and FLOVYN_STREAMS.
 *
 * Stored in the JetStream KV bucket FLOVYN_WORKFLOWS (key = workflow id, value = a small JSON
 * record built with jansson). The bridge's maintainer writes it from durable consumers on both
 * streams, so it catches up after downtime; the gateway reads it to start a workflow stream at its
 * first stored sequence instead of scanning from sequence 1 (ARCHITECTURE.md "Data flow" 4), and
 * the legacy adapter reads it to learn the tenant of tenant-less legacy subjects.
 *
 * Ownership is first come: the first tenant seen for a workflow id owns it; an event of another
 * tenant with the same workflow id is refused (FV_ECONFLICT) and never overwrites the entry.
 * First sequences are recorded once. JetStream only: on the memory bus fv_registry_open is
 * FV_ENOTSUP.
 */
#ifndef FLOVYN_REGISTRY_H
#define FLOVYN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/buf.h"
#include "flovyn/bus.h"
#include "flovyn/id.h"
#include "flovyn/status.h"

#define FV_BUCKET_WORKFLOWS "FLOVYN_WORKFLOWS"
#define FV_BUCKET_SUBSCRIPTIONS "FLOVYN_SUBSCRIPTIONS"
#define FV_WF_STATUS_MAX 32

typedef struct fv_registry_entry {
    char workflow_execution_id[FV_ID_MAX + 1];
    char tenant_id[FV_ID_MAX + 1];
    char parent_workflow_execution_id[FV_ID_MAX + 1]; /* "" = none known */
    char status[FV_WF_STATUS_MAX];                    /* running, completed, failed, ... */
    uint64_t first_events_seq;                        /* 0 = no lifecycle event seen yet */
    uint64_t first_streams_seq;                       /* 0 = no stream event seen yet */
    int64_t created_ms, updated_ms;
    uint64_t revision; /* KV revision the entry was read at */
} fv_registry_entry;

typedef struct fv_registry fv_registry;

/* FLOVYN_WORKFLOWS with a TTL of at least the events' max age (KV TTL is per bucket); creates
 * or updates it as fv_kv_ensure (never fewer replicas than it has). */
fv_status fv_registry_provision(fv_bus *bus, int64_t ttl_ms, int replicas, fv_err *err);

/* Binds to FLOVYN_WORKFLOWS (FV_ENOTFOUND when it does not exist: run `flovyn-bridge init`). */
fv_status fv_registry_open(fv_bus *bus, fv_registry **out, fv_err *err);
void fv_registry_close(fv_registry *reg);

/* FV_ENOTFOUND when the workflow is unknown. Invalid workflow id: FV_EINVAL. */
fv_status fv_registry_get(fv_registry *reg, const char *workflow, fv_registry_entry *out,
                          fv_err *err);
/* {"workflow_execution_id":..,"tenant_id":..,"parent_workflow_execution_id":..|null,"status":..,
 *  "first_events_seq":N,"first_streams_seq":N,"created_ms":N,"updated_ms":N} */
fv_status fv_registry_entry_to_json(const fv_registry_entry *e, fv_buf *out);

/* "running" for workflow.started/created/resumed..., the terminal word for workflow.completed,
 * .failed, .cancelled/.canceled, .terminated, .timed_out; NULL when the type changes nothing. */
const char *fv_registry_status_for_type(const char *event_type, bool *terminal);

/* One stored event, as the maintainer sees it. */
typedef struct fv_registry_obs {
    const char *tenant_id;
    const char *workflow_execution_id;
    const char *parent_workflow_execution_id; /* NULL or "" = none */
    const char *event_type;                   /* lifecycle type; NULL for stream events */
    fv_source source;
    uint64_t seq;
    int64_t time_ms; /* when it was stored; 0 = now */
} fv_registry_obs;

/* Records an observation: creates the entry (first seq, parent, status) or completes it (first
 * seq of the other source, parent when it was unknown, status on workflow.* types). Concurrent
 * writers are settled by KV revisions. FV_ECONFLICT (entry unchanged, err names the owner) when
 * another tenant owns the workflow. */
fv_status fv_registry_observe(fv_registry *reg, const fv_registry_obs *o, fv_err *err);

/* Deletes entries in a terminal status not updated for older_than_ms. */
fv_status fv_registry_sweep(fv_registry *reg, int64_t older_than_ms, size_t *removed, fv_err *err);

/* --- the maintainer (inside `flovyn-bridge run`) ------------------------------------------- */
typedef struct fv_registry_maintainer fv_registry_maintainer;

typedef struct fv_registry_maintainer_config {
    int64_t sweep_after_ms;    /* 0 -> 24 h */
    int64_t sweep_interval_ms; /* 0 -> min(sweep_after / 4, 10 min) */
    /* A stored message that cannot be recorded (another tenant owns the workflow, undecodable)
     * is handed here; return FV_OK once it is kept (FLOVYN_DLQ), otherwise it is redelivered.
     * msg_id ("registry:<stream>:<seq>") names the stored message, so a redelivery after a
     * crash between the dead letter and the ack can be deduplicated. */
    fv_status (*dead_letter)(void *ud, const char *subject, const void *data, size_t len,
                             const char *content_type, const char *reason, const char *msg_id);
    void *dead_letter_ud;
} fv_registry_maintainer_config;

typedef struct fv_registry_stats {
    uint64_t observed, conflicts, dead_lettered, errors, swept;
    uint64_t pending[2]; /* messages not yet read by the durables (by fv_source), a few s old */
} fv_registry_stats;

/* Durable consumers `flovyn-registry-events` / `flovyn-registry-streams` (created if missing)
 * and one thread each. reg must outlive the maintainer. */
fv_status fv_registry_maintainer_start(fv_bus *bus, fv_registry *reg,
                                       const fv_registry_maintainer_config *cfg,
                                       fv_registry_maintainer **out, fv_err *err);
/* Finishes the batch in hand and keeps the durables. */
void fv_registry_maintainer_stop(fv_registry_maintainer *m);
void fv_registry_maintainer_stats(fv_registry_maintainer *m, fv_registry_stats *out);

#endif
