/* Exponential backoff with equal jitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "core/backoff.h"

static void test_bounds_per_attempt(void **state)
{
    (void)state;
    struct backoff b;
    backoff__init(&b, 1000, 60000);
    /* caps: 1000, 2000, 4000, ..., 32000, 60000, 60000 */
    int64_t caps[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        struct backoff lo = b, hi = b;
        assert_int_equal(backoff__next_with(&lo, 0), caps[i] / 2);
        assert_int_equal(backoff__next_with(&hi, UINT32_MAX), caps[i]);
        int64_t d = backoff__next_with(&b, UINT32_MAX / 2);
        assert_true(d >= caps[i] / 2 && d <= caps[i]);
        assert_int_equal(b.attempt, (int)i + 1);
    }
}

static void test_reset(void **state)
{
    (void)state;
    struct backoff b;
    backoff__init(&b, 500, 10000);
    for (int i = 0; i < 10; i++)
        backoff__next_with(&b, 7);
    assert_int_equal(backoff__next_with(&b, UINT32_MAX), 10000);
    backoff__reset(&b);
    assert_int_equal(b.attempt, 0);
    assert_int_equal(backoff__next_with(&b, UINT32_MAX), 500);
}

static void test_never_zero(void **state)
{
    (void)state;
    struct backoff b;
    backoff__init(&b, 1, 1);
    assert_int_equal(backoff__next_with(&b, 0), 1);
    backoff__init(&b, 0, 0);
    assert_true(backoff__next_with(&b, 0) >= 1);
    backoff__init(&b, -5, -5);
    assert_true(backoff__next_with(&b, 0) >= 1);
    /* max below base: base wins, still not zero */
    backoff__init(&b, 100, 10);
    assert_int_equal(backoff__next_with(&b, UINT32_MAX), 100);
}

static void test_large_attempts_do_not_overflow(void **state)
{
    (void)state;
    struct backoff b;
    backoff__init(&b, 1000, INT64_MAX);
    for (int i = 0; i < 200; i++) {
        int64_t d = backoff__next_with(&b, UINT32_MAX);
        assert_true(d > 0);
    }
    assert_true(b.attempt <= 62);
    assert_true(backoff__next_with(&b, UINT32_MAX) > INT64_MAX / 4);

    /* attempt set directly to something absurd */
    backoff__init(&b, 1000, 300000);
    b.attempt = INT_MAX;
    assert_int_equal(backoff__next_with(&b, UINT32_MAX), 300000);
    assert_int_equal(b.attempt, INT_MAX);
    b.attempt = INT_MAX;
    int64_t d = backoff__next_with(&b, 0);
    assert_int_equal(d, 150000);
}

static void test_random_draw_spreads(void **state)
{
    (void)state;
    /* The real draw: within bounds, and not all the same. */
    int64_t min = INT64_MAX, max = 0;
    for (int i = 0; i < 200; i++) {
        struct backoff b;
        backoff__init(&b, 1000, 60000);
        b.attempt = 3; /* cap 8000 */
        int64_t d = backoff__next(&b);
        assert_true(d >= 4000 && d <= 8000);
        if (d < min)
            min = d;
        if (d > max)
            max = d;
    }
    assert_true(max - min > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_per_attempt),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_never_zero),
        cmocka_unit_test(test_large_attempts_do_not_overflow),
        cmocka_unit_test(test_random_draw_spreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
