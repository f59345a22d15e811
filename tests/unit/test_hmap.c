/* The one hash table (hmap.h): elements found by key across growth, removed in place, and
 * distinct keys with a shared bucket kept apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "flovyn/hmap.h"

typedef struct item {
    fv_hnode node;
    char key[16];
    int value;
} item;

static void test_hmap_finds_every_key_across_growth_and_after_removals(void **state)
{
    (void)state;
    enum { N = 5000 };
    fv_hmap m;
    assert_int_equal(fv_hmap_init(&m, 0), FV_OK);
    assert_int_equal(m.nbuckets, 16);
    item *items = calloc(N, sizeof *items);
    for (int i = 0; i < N; i++) {
        snprintf(items[i].key, sizeof items[i].key, "k-%d", i);
        items[i].value = i;
        fv_hmap_put(&m, &items[i].node, items[i].key);
    }
    assert_int_equal(m.n, N);
    assert_true(m.nbuckets >= N); /* grew: at most one node per bucket on average */
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "k-%d", i);
        item *it = (item *)fv_hmap_get(&m, k);
        assert_non_null(it);
        assert_int_equal(it->value, i);
    }
    assert_null(fv_hmap_get(&m, "k-5000"));
    assert_null(fv_hmap_get(&m, ""));
    for (int i = 0; i < N; i += 2)
        fv_hmap_del(&m, &items[i].node);
    assert_int_equal(m.n, N / 2);
    for (int i = 0; i < N; i++) {
        item *it = (item *)fv_hmap_get(&m, items[i].key);
        if (i % 2)
            assert_ptr_equal(it, &items[i]);
        else
            assert_null(it);
    }
    fv_hmap_free(&m);
    free(items);
}

static void test_hmap_hash_is_fnv1a(void **state)
{
    (void)state;
    /* published FNV-1a 64 test vectors: callers may rely on the values staying put */
    assert_true(fv_hash_str("") == 0xcbf29ce484222325ULL);
    assert_true(fv_hash_str("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(fv_hash_str("foobar") == 0x85944171f73967e8ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmap_finds_every_key_across_growth_and_after_removals),
        cmocka_unit_test(test_hmap_hash_is_fnv1a),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
