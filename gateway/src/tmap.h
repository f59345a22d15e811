/* tmap.h - a bounded map from tenant id to a small fixed-size value, behind one mutex.
 *
 * Per-tenant state of the gateway (open stream counts, ingest token buckets) is tiny and touched
 * once per request, so one lock and chained buckets are enough. The map never holds more than
 * max_entries tenants: a new tenant beyond that is refused (the caller answers 503/429), which
 * bounds memory against a flood of made-up tenant ids.
 */
#ifndef FLOVYN_GW_TMAP_H
#define FLOVYN_GW_TMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "flovyn/status.h"

typedef struct fv_tmap fv_tmap;

fv_status fv_tmap_create(size_t value_size, size_t max_entries, fv_tmap **out);
void fv_tmap_destroy(fv_tmap *m);

/* Runs fn on the tenant's value under the map's lock (a new value starts zeroed). fn may set
 * *remove to drop the entry afterwards. Returns fn's result, or FV_EFULL when the tenant is new
 * and the map is full. */
int fv_tmap_update(fv_tmap *m, const char *tenant, int (*fn)(void *val, bool *remove, void *ud),
                   void *ud);
size_t fv_tmap_size(fv_tmap *m);

#endif
