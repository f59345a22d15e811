/* ratelimit.h - per-tenant token buckets for HTTP ingest (--ingest-rate-per-tenant).
 *
 * A bucket holds at most one second's worth of events and refills continuously, so a tenant may
 * burst up to its rate and sustain exactly its rate. A request takes all its items or none; when
 * it cannot, the caller answers 429 with Retry-After saying when enough tokens will be there.
 */
#ifndef FLOVYN_GW_RATELIMIT_H
#define FLOVYN_GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "flovyn/status.h"

typedef struct fv_ratelimit fv_ratelimit;

/* rate = events per second; 0 = unlimited */
fv_status fv_ratelimit_create(int64_t rate, size_t max_tenants, fv_ratelimit **out);
void fv_ratelimit_destroy(fv_ratelimit *rl);
/* FV_OK, or FV_EFULL with *retry_after_s >= 1; now_ms is a monotonic clock */
fv_status fv_ratelimit_take(fv_ratelimit *rl, const char *tenant, size_t n, int64_t now_ms,
                            int *retry_after_s);

#endif
