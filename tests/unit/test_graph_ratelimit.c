/* The presence rate limiter: never more than `limit` sends in any window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "graph/ratelimit.h"

static void test_invalid(void **state)
{
    (void)state;
    struct ratelimit rl;
    assert_int_equal(ratelimit__init(&rl, 0, 1000), -1);
    assert_int_equal(ratelimit__init(&rl, 10, 0), -1);
}

static void test_burst_then_window(void **state)
{
    (void)state;
    struct ratelimit rl;
    assert_int_equal(ratelimit__init(&rl, 1500, 30000), 0);
    assert_int_equal(ratelimit__available(&rl, 0), 1500);
    assert_int_equal(ratelimit__take(&rl, 1000, 0), 1000);
    assert_int_equal(ratelimit__take(&rl, 1000, 10), 500); /* capped */
    assert_int_equal(ratelimit__available(&rl, 29999), 0);
    assert_int_equal(ratelimit__when(&rl, 1, 29999), 30000);
    assert_int_equal(ratelimit__when(&rl, 1001, 20000), 30010);
    assert_int_equal(ratelimit__available(&rl, 30000), 1000);
    assert_int_equal(ratelimit__available(&rl, 30010), 1500);
    ratelimit__free(&rl);
}

static void test_block_retry_after(void **state)
{
    (void)state;
    struct ratelimit rl;
    assert_int_equal(ratelimit__init(&rl, 10, 1000), 0);
    ratelimit__block(&rl, 5000);
    assert_int_equal(ratelimit__available(&rl, 4999), 0);
    assert_int_equal(ratelimit__when(&rl, 3, 100), 5000);
    ratelimit__block(&rl, 3000); /* an earlier end does not shorten it */
    assert_int_equal(ratelimit__available(&rl, 4000), 0);
    assert_int_equal(ratelimit__available(&rl, 5000), 10);
    ratelimit__free(&rl);
}

/* Random sends at random times; a brute-force check of every window. */
static void test_random_never_exceeds(void **state)
{
    (void)state;
    enum { LIMIT = 50, WINDOW = 1000, N = 20000 };
    struct ratelimit rl;
    assert_int_equal(ratelimit__init(&rl, LIMIT, WINDOW), 0);
    int64_t *sent = calloc(N * 4, sizeof(*sent));
    size_t n_sent = 0;
    uint32_t x = 12345;
    int64_t now = 0;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        now += (x >> 16) % 40;
        size_t want = (x >> 8) % 8;
        int64_t when = ratelimit__when(&rl, want ? want : 1, now);
        assert_true(when >= now);
        size_t got = ratelimit__take(&rl, want, now);
        assert_true(got <= want);
        if (got < want && want <= LIMIT)
            assert_true(when > now); /* it said so */
        for (size_t k = 0; k < got; k++)
            sent[n_sent++] = now;
    }
    /* Every window [t - WINDOW + 1, t] holds at most LIMIT sends. */
    size_t lo = 0;
    for (size_t hi = 0; hi < n_sent; hi++) {
        while (sent[lo] <= sent[hi] - WINDOW)
            lo++;
        assert_true(hi - lo + 1 <= LIMIT);
    }
    /* Demand is above the limit: it lets close to the limit through. */
    assert_true(n_sent > (size_t)(now / WINDOW) * LIMIT * 8 / 10);
    free(sent);
    ratelimit__free(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_burst_then_window),
        cmocka_unit_test(test_block_retry_after),
        cmocka_unit_test(test_random_never_exceeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
