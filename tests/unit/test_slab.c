/* core/slab: texts copied whole, blocks given back as soon as they hold no
 * live text, large texts through malloc, everything freed with the slab. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/slab.h"

#define N 5000

static int setup(void **state)
{
    *state = slab__new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    slab__free(*state);
    return 0;
}

static void copies_are_whole_and_aligned(void **state)
{
    struct slab *s = *state;
    char *a = slab__strdup(s, "");
    char *b = slab__strdup(s, "{\"busy\":true}");
    char *c = slab__strdup(s, "x");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_string_equal(a, "");
    assert_string_equal(b, "{\"busy\":true}");
    assert_string_equal(c, "x");
    assert_int_equal((uintptr_t)b % sizeof(void *), 0);
    assert_int_equal(slab__blocks(s), 1);
    slab__release(s, b);
    assert_string_equal(a, ""); /* the others are untouched */
    assert_string_equal(c, "x");
    slab__release(s, a);
    slab__release(s, c);
    slab__release(s, NULL);
    assert_int_equal(slab__blocks(s), 1); /* the current block is kept */
}

/* A FIFO queue's worth of texts: many blocks while they are held, one left
 * once all are released, in whatever order. */
static void blocks_go_back_when_empty(void **state)
{
    struct slab *s = *state;
    static char *t[N];
    char text[300];
    for (int i = 0; i < N; i++) {
        snprintf(text, sizeof(text), "{\"i\":%d,\"pad\":\"%0250d\"}", i, i);
        assert_non_null(t[i] = slab__strdup(s, text));
    }
    size_t full = slab__blocks(s);
    assert_true(full >= N * 260 / (64 * 1024)); /* ~1.5 MB: over 20 blocks */
    for (int i = 0; i < N; i += 2)              /* every other: no block empties */
        slab__release(s, t[i]);
    assert_int_equal(slab__blocks(s), full);
    for (int i = 0; i < N; i++) {
        if (i % 2) {
            snprintf(text, sizeof(text), "{\"i\":%d,\"pad\":\"%0250d\"}", i, i);
            assert_string_equal(t[i], text);
            slab__release(s, t[i]);
        }
    }
    assert_int_equal(slab__blocks(s), 1);
    /* and it is used again from its start */
    char *again = slab__strdup(s, "again");
    assert_string_equal(again, "again");
    assert_int_equal(slab__blocks(s), 1);
    slab__release(s, again);
}

static void large_texts_come_from_malloc(void **state)
{
    struct slab *s = *state;
    size_t len = 100 * 1024;
    char *big = malloc(len + 1);
    assert_non_null(big);
    memset(big, 'b', len);
    big[len] = 0;
    char *copy = slab__strdup(s, big);
    assert_non_null(copy);
    assert_string_equal(copy, big);
    assert_int_equal(slab__blocks(s), 0); /* no block for it */
    slab__release(s, copy);
    free(big);
}

/* Freed with live texts in it: no leak (ASan's leak check in CI). */
static void free_with_live_texts(void **state)
{
    struct slab *s = *state;
    for (int i = 0; i < 1000; i++)
        assert_non_null(slab__strdup(s, "held until the slab goes"));
    assert_true(slab__blocks(s) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(copies_are_whole_and_aligned, setup, teardown),
        cmocka_unit_test_setup_teardown(blocks_go_back_when_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(large_texts_come_from_malloc, setup, teardown),
        cmocka_unit_test_setup_teardown(free_with_live_texts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
