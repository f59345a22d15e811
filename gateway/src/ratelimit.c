/* ratelimit.c - per-tenant token buckets; see ratelimit.h. */
#include "ratelimit.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "tmap.h"

struct fv_ratelimit {
    double rate;
    fv_tmap *map;
};

typedef struct bucket {
    double tokens;
    int64_t last_ms;
    bool init;
} bucket;

typedef struct take_ctx {
    double rate;
    double n;
    int64_t now;
    int retry_after;
} take_ctx;

fv_status fv_ratelimit_create(int64_t rate, size_t max_tenants, fv_ratelimit **out)
{
    fv_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return FV_ENOMEM;
    rl->rate = (double)rate;
    if (fv_tmap_create(sizeof(bucket), max_tenants, &rl->map) != FV_OK) {
        free(rl);
        return FV_ENOMEM;
    }
    *out = rl;
    return FV_OK;
}

void fv_ratelimit_destroy(fv_ratelimit *rl)
{
    if (!rl)
        return;
    fv_tmap_destroy(rl->map);
    free(rl);
}

static int take(void *val, bool *remove, void *ud)
{
    bucket *b = val;
    take_ctx *t = ud;
    (void)remove;
    if (!b->init) {
        b->init = true;
        b->tokens = t->rate;
        b->last_ms = t->now;
    }
    double elapsed = (double)(t->now - b->last_ms) / 1000.0;
    if (elapsed > 0) {
        b->tokens = fmin(t->rate, b->tokens + elapsed * t->rate);
        b->last_ms = t->now;
    }
    if (t->n <= b->tokens) {
        b->tokens -= t->n;
        return FV_OK;
    }
    /* a request larger than the bucket can never pass whole: it waits for a full bucket */
    double need = fmin(t->n, t->rate) - b->tokens;
    double secs = need / t->rate;
    t->retry_after = (int)ceil(secs < 1 ? 1 : secs);
    return FV_EFULL;
}

fv_status fv_ratelimit_take(fv_ratelimit *rl, const char *tenant, size_t n, int64_t now_ms,
                            int *retry_after_s)
{
    *retry_after_s = 0;
    if (!rl || rl->rate <= 0 || n == 0)
        return FV_OK;
    /* a request larger than one second's budget passes only on a full bucket, emptying it */
    take_ctx t = {rl->rate, (double)n > rl->rate ? rl->rate : (double)n, now_ms, 1};
    int rc = fv_tmap_update(rl->map, tenant, take, &t);
    if (rc == FV_EFULL)
        *retry_after_s = t.retry_after > 0 ? t.retry_after : 1;
    return rc == FV_OK ? FV_OK : FV_EFULL;
}
