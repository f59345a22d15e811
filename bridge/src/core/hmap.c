/* hmap.c - the one hash table; see hmap.h. Growing keeps the load at most one node per bucket;
 * a failed grow is not an error (chains only get longer). */
#include "flovyn/hmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t fv_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64: offset basis, then the prime */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

fv_status fv_hmap_init(fv_hmap *m, size_t buckets)
{
    size_t nb = 16;
    while (nb < buckets)
        nb *= 2;
    m->buckets = calloc(nb, sizeof *m->buckets);
    m->nbuckets = m->buckets ? nb : 0;
    m->n = 0;
    return m->buckets ? FV_OK : FV_ENOMEM;
}

void fv_hmap_free(fv_hmap *m)
{
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->n = 0;
}

fv_hnode *fv_hmap_get(const fv_hmap *m, const char *key)
{
    if (!m->nbuckets)
        return NULL;
    uint64_t h = fv_hash_str(key);
    for (fv_hnode *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->next)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

static void grow(fv_hmap *m)
{
    size_t nb = m->nbuckets * 2;
    fv_hnode **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (fv_hnode *n = m->buckets[i], *next; n; n = next) {
            next = n->next;
            size_t k = n->hash & (nb - 1);
            n->next = b[k];
            b[k] = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

void fv_hmap_put(fv_hmap *m, fv_hnode *n, const char *key)
{
    if (m->n >= m->nbuckets)
        grow(m);
    n->key = key;
    n->hash = fv_hash_str(key);
    size_t k = n->hash & (m->nbuckets - 1);
    n->next = m->buckets[k];
    m->buckets[k] = n;
    m->n++;
}

void fv_hmap_del(fv_hmap *m, fv_hnode *n)
{
    fv_hnode **pp = &m->buckets[n->hash & (m->nbuckets - 1)];
    while (*pp && *pp != n)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = n->next;
        m->n--;
    }
    n->next = NULL;
}
