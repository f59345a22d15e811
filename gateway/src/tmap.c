/* tmap.c - bounded tenant map over the one hash table (flovyn/hmap.h); see tmap.h. */
#include "tmap.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/hmap.h"
#include "flovyn/id.h"

#define TMAP_BUCKETS 1024 /* initial; the table grows with the tenants it holds */

typedef struct entry {
    fv_hnode node; /* first: an fv_hnode * is the entry */
    char tenant[FV_ID_MAX + 1];
    _Alignas(max_align_t) unsigned char val[];
} entry;

struct fv_tmap {
    pthread_mutex_t mu;
    size_t value_size, max;
    fv_hmap h;
};

fv_status fv_tmap_create(size_t value_size, size_t max_entries, fv_tmap **out)
{
    fv_tmap *m = calloc(1, sizeof *m);
    if (!m)
        return FV_ENOMEM;
    if (fv_hmap_init(&m->h, TMAP_BUCKETS) != FV_OK) {
        free(m);
        return FV_ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->value_size = value_size;
    m->max = max_entries;
    *out = m;
    return FV_OK;
}

void fv_tmap_destroy(fv_tmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->h.nbuckets; i++) {
        fv_hnode *n = m->h.buckets[i];
        while (n) {
            fv_hnode *next = n->next;
            free(n);
            n = next;
        }
    }
    fv_hmap_free(&m->h);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int fv_tmap_update(fv_tmap *m, const char *tenant, int (*fn)(void *val, bool *remove, void *ud),
                   void *ud)
{
    if (strlen(tenant) > FV_ID_MAX)
        return FV_EINVAL;
    pthread_mutex_lock(&m->mu);
    entry *e = (entry *)fv_hmap_get(&m->h, tenant);
    if (!e) {
        if (m->h.n >= m->max) {
            pthread_mutex_unlock(&m->mu);
            return FV_EFULL;
        }
        e = calloc(1, sizeof *e + m->value_size);
        if (!e) {
            pthread_mutex_unlock(&m->mu);
            return FV_ENOMEM;
        }
        strcpy(e->tenant, tenant);
        fv_hmap_put(&m->h, &e->node, e->tenant);
    }
    bool remove = false;
    int r = fn(e->val, &remove, ud);
    if (remove) {
        fv_hmap_del(&m->h, &e->node);
        free(e);
    }
    pthread_mutex_unlock(&m->mu);
    return r;
}

size_t fv_tmap_size(fv_tmap *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->h.n;
    pthread_mutex_unlock(&m->mu);
    return n;
}
