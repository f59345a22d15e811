/* hmap.h - the one hash table: string keys, intrusive nodes, chained, grows by doubling.
 *
 * An element embeds an fv_hnode and owns its key; the table only links nodes, so it allocates
 * nothing per element and an element can be found, unlinked and freed by its owner in O(1). Not
 * thread-safe: the owner's lock covers it. FNV-1a hashing (fv_hash_str) is exposed for callers
 * that bucket by hand (sharding, jitter).
 */
#ifndef FLOVYN_HMAP_H
#define FLOVYN_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "flovyn/status.h"

typedef struct fv_hnode {
    struct fv_hnode *next;
    uint64_t hash;
    const char *key; /* owned by the element */
} fv_hnode;

typedef struct fv_hmap {
    fv_hnode **buckets;
    size_t nbuckets; /* power of two */
    size_t n;
} fv_hmap;

uint64_t fv_hash_str(const char *s);

/* buckets: initial count, rounded up to a power of two (0 -> 16) */
fv_status fv_hmap_init(fv_hmap *m, size_t buckets);
/* frees the bucket array; the elements stay the owner's */
void fv_hmap_free(fv_hmap *m);
fv_hnode *fv_hmap_get(const fv_hmap *m, const char *key);
/* links n under key (a string the element owns); a duplicate key is the caller's concern */
void fv_hmap_put(fv_hmap *m, fv_hnode *n, const char *key);
/* unlinks n, which must be in the table */
void fv_hmap_del(fv_hmap *m, fv_hnode *n);

#endif
