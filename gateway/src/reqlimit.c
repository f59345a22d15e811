/* reqlimit.c - per-tenant concurrent request bound; see reqlimit.h. */
#include "reqlimit.h"

#include <stdint.h>
#include <stdlib.h>

#include "tmap.h"

struct fv_reqlimit {
    int64_t per_tenant;
    fv_tmap *map;
};

typedef struct step {
    int64_t max;
    int delta;
} step;

static int count(void *val, bool *remove, void *ud)
{
    int64_t *n = val;
    step *s = ud;
    if (s->delta > 0 && *n >= s->max) {
        *remove = *n == 0;
        return FV_EFULL;
    }
    *n += s->delta;
    *remove = *n <= 0;
    return FV_OK;
}

fv_status fv_reqlimit_create(size_t per_tenant, size_t max_tenants, fv_reqlimit **out)
{
    fv_reqlimit *l = calloc(1, sizeof *l);
    if (!l)
        return FV_ENOMEM;
    l->per_tenant = (int64_t)per_tenant;
    if (fv_tmap_create(sizeof(int64_t), max_tenants, &l->map) != FV_OK) {
        free(l);
        return FV_ENOMEM;
    }
    *out = l;
    return FV_OK;
}

void fv_reqlimit_destroy(fv_reqlimit *l)
{
    if (!l)
        return;
    fv_tmap_destroy(l->map);
    free(l);
}

bool fv_reqlimit_begin(fv_reqlimit *l, const char *tenant)
{
    step s = {l->per_tenant, +1};
    return fv_tmap_update(l->map, tenant, count, &s) == FV_OK;
}

void fv_reqlimit_end(fv_reqlimit *l, const char *tenant)
{
    step s = {0, -1};
    fv_tmap_update(l->map, tenant, count, &s);
}
