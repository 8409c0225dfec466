/* core/hmap: insert, find among equal hashes, remove, growth, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "core/hmap.h"

struct rec {
    struct hmap_node node;
    char key[32];
    int value;
};

static struct rec *find(struct hmap *m, const char *key, uint64_t h)
{
    for (struct hmap_node *n = hmap__first(m, h); n; n = hmap__next(n, h)) {
        struct rec *r = HMAP_ENTRY(n, struct rec, node);
        if (strcasecmp(r->key, key) == 0)
            return r;
    }
    return NULL;
}

static void test_hash(void **state)
{
    (void)state;
    assert_true(hmap__hash("") == 14695981039346656037ULL);
    assert_true(hmap__hash("a") == 0xaf63dc4c8601ec8cULL); /* FNV-1a test vector */
    assert_true(hmap__hash_ci("Alice@Contoso.COM") == hmap__hash("alice@contoso.com"));
    assert_true(hmap__hash("Alice") != hmap__hash("alice"));
}

static void count_fn(struct hmap_node *n, void *ctx)
{
    (void)n;
    (*(int *)ctx)++;
}

/* 10,000 records: every one found, the table grew, removal unlinks exactly
 * the record asked for. */
static void test_many(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct hmap m = {0};
    struct rec *recs = calloc(N, sizeof(*recs));
    assert_non_null(recs);
    for (int i = 0; i < N; i++) {
        snprintf(recs[i].key, sizeof(recs[i].key), "User%d@x.com", i);
        recs[i].value = i;
        assert_int_equal(hmap__insert(&m, &recs[i].node, hmap__hash_ci(recs[i].key)), 0);
    }
    assert_int_equal(m.count, N);
    assert_true(m.n_buckets * 3 >= m.count * 4);
    for (int i = 0; i < N; i += 7) {
        char key[32];
        snprintf(key, sizeof(key), "user%d@X.COM", i);
        struct rec *r = find(&m, key, hmap__hash_ci(key));
        assert_non_null(r);
        assert_int_equal(r->value, i);
    }
    hmap__remove(&m, &recs[42].node);
    assert_null(find(&m, "user42@x.com", hmap__hash_ci("user42@x.com")));
    assert_non_null(find(&m, "user43@x.com", hmap__hash_ci("user43@x.com")));
    assert_int_equal(m.count, N - 1);
    int seen = 0;
    hmap__each(&m, count_fn, &seen);
    assert_int_equal(seen, N - 1);
    hmap__clear(&m);
    assert_int_equal(m.count, 0);
    assert_null(hmap__first(&m, 1));
    free(recs);
}

/* Records sharing one hash value are told apart by their keys. */
static void test_same_hash(void **state)
{
    (void)state;
    struct hmap m = {0};
    struct rec a = {.key = "a", .value = 1}, b = {.key = "b", .value = 2}, c = {.key = "c"};
    assert_int_equal(hmap__insert(&m, &a.node, 5), 0);
    assert_int_equal(hmap__insert(&m, &b.node, 5), 0);
    assert_int_equal(hmap__insert(&m, &c.node, 5 + 16), 0); /* same bucket, other hash */
    assert_ptr_equal(find(&m, "a", 5), &a);
    assert_ptr_equal(find(&m, "b", 5), &b);
    assert_null(find(&m, "c", 5));
    assert_ptr_equal(find(&m, "c", 21), &c);
    hmap__remove(&m, &a.node);
    assert_null(find(&m, "a", 5));
    assert_ptr_equal(find(&m, "b", 5), &b);
    hmap__remove(&m, &a.node); /* not linked any more: nothing happens */
    assert_int_equal(m.count, 2);
    hmap__clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_same_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
