/* reqlimit.h - per-tenant bound on things held at once.
 *
 * Two users: the stream registry (stream.c) bounds open SSE streams per tenant
 * (--max-connections-per-tenant); the router bounds concurrent non-SSE requests (ingest,
 * history), which hold an HTTP thread or a publish slot while they run, to
 * --max-requests-per-tenant, answering 503 with Retry-After beyond it (CONTRACT §4: a non-SSE
 * request that hits a capacity limit). Other tenants are unaffected either way.
 */
#ifndef FLOVYN_GW_REQLIMIT_H
#define FLOVYN_GW_REQLIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "flovyn/status.h"

typedef struct fv_reqlimit fv_reqlimit;

fv_status fv_reqlimit_create(size_t per_tenant, size_t max_tenants, fv_reqlimit **out);
void fv_reqlimit_destroy(fv_reqlimit *l);
/* true when the request may run; every true must be paired with fv_reqlimit_end */
bool fv_reqlimit_begin(fv_reqlimit *l, const char *tenant);
void fv_reqlimit_end(fv_reqlimit *l, const char *tenant);

#endif
