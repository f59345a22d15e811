/* tmap.c - bounded tenant map; see tmap.h. */
#include "tmap.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/id.h"

#define TMAP_BUCKETS 1024

typedef struct entry {
    struct entry *next;
    char tenant[FV_ID_MAX + 1];
    _Alignas(max_align_t) unsigned char val[];
} entry;

struct fv_tmap {
    pthread_mutex_t mu;
    size_t value_size, max, n;
    entry *b[TMAP_BUCKETS];
};

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

fv_status fv_tmap_create(size_t value_size, size_t max_entries, fv_tmap **out)
{
    fv_tmap *m = calloc(1, sizeof *m);
    if (!m)
        return FV_ENOMEM;
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
    for (size_t i = 0; i < TMAP_BUCKETS; i++) {
        entry *e = m->b[i];
        while (e) {
            entry *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int fv_tmap_update(fv_tmap *m, const char *tenant, int (*fn)(void *val, bool *remove, void *ud),
                   void *ud)
{
    if (strlen(tenant) > FV_ID_MAX)
        return FV_EINVAL;
    uint32_t h = hash(tenant) % TMAP_BUCKETS;
    pthread_mutex_lock(&m->mu);
    entry **pp = &m->b[h];
    while (*pp && strcmp((*pp)->tenant, tenant) != 0)
        pp = &(*pp)->next;
    if (!*pp) {
        if (m->n >= m->max) {
            pthread_mutex_unlock(&m->mu);
            return FV_EFULL;
        }
        entry *e = calloc(1, sizeof *e + m->value_size);
        if (!e) {
            pthread_mutex_unlock(&m->mu);
            return FV_ENOMEM;
        }
        strcpy(e->tenant, tenant);
        *pp = e;
        m->n++;
    }
    bool remove = false;
    int r = fn((*pp)->val, &remove, ud);
    if (remove) {
        entry *e = *pp;
        *pp = e->next;
        free(e);
        m->n--;
    }
    pthread_mutex_unlock(&m->mu);
    return r;
}

size_t fv_tmap_size(fv_tmap *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->n;
    pthread_mutex_unlock(&m->mu);
    return n;
}
