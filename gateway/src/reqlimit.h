/* reqlimit.h - per-tenant bound on concurrent non-SSE requests (ingest, history).
 *
 * SSE streams are bounded by the stream registry (stream.c); ingest and history requests hold an
 * HTTP thread or a publish slot while they run, so one tenant may have at most
 * --max-requests-per-tenant of them at once. Beyond that the answer is 503 with Retry-After
 * (CONTRACT §4: a non-SSE request that hits a capacity limit), and other tenants are unaffected.
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
