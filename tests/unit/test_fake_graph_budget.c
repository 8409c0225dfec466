/* fake-graph's presence limit (fg_budget.c): counted per app and tenant in
 * a sliding window, refused over the limit with the wait until the oldest
 * request leaves it, and the fullest window remembered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fg_budget.h"

#define T0 1795000000000LL

static double field(const cJSON *o, int app, const char *name)
{
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "apps"), app);
    return cJSON_GetObjectItem(a, name)->valuedouble;
}

static void test_limit_per_app(void **state)
{
    (void)state;
    struct fg_budget *b = fg_budget__new();
    fg_budget__configure(b, 3, 10000);
    assert_int_equal(fg_budget__take(b, "t", "app", T0), 0);
    assert_int_equal(fg_budget__take(b, "t", "app", T0 + 1000), 0);
    assert_int_equal(fg_budget__take(b, "t", "app", T0 + 2000), 0);
    /* the fourth in 10 s: refused until the first leaves (at T0 + 10 s) */
    assert_int_equal(fg_budget__take(b, "t", "app", T0 + 2500), 8);
    /* another app, another tenant: their own budgets */
    assert_int_equal(fg_budget__take(b, "t", "other", T0 + 2500), 0);
    assert_int_equal(fg_budget__take(b, "u", "app", T0 + 2500), 0);
    /* the window slides */
    assert_int_equal(fg_budget__take(b, "t", "app", T0 + 10000), 0);
    assert_int_equal(fg_budget__take(b, "t", "app", T0 + 10001), 1);
    cJSON *o = fg_budget__json(b);
    assert_int_equal(field(o, 0, "total"), 4);
    assert_int_equal(field(o, 0, "refused"), 2);
    assert_int_equal(field(o, 0, "max_in_window"), 3);
    assert_int_equal(field(o, 1, "total"), 1);
    cJSON_Delete(o);
    fg_budget__free(b);
}

/* Limit 0 counts only; the fullest window is exact over many arrivals. */
static void test_count_only(void **state)
{
    (void)state;
    struct fg_budget *b = fg_budget__new();
    fg_budget__configure(b, 0, 1000);
    for (int i = 0; i < 5000; i++) /* 5 per 10 ms: 500 in any second */
        assert_int_equal(fg_budget__take(b, "t", "app", T0 + (i / 5) * 10), 0);
    cJSON *o = fg_budget__json(b);
    assert_int_equal(field(o, 0, "total"), 5000);
    assert_int_equal(field(o, 0, "refused"), 0);
    assert_int_equal(field(o, 0, "max_in_window"), 500);
    cJSON_Delete(o);
    fg_budget__reset(b);
    o = fg_budget__json(b);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "apps")), 0);
    assert_int_equal(cJSON_GetObjectItem(o, "window_ms")->valuedouble, 1000);
    cJSON_Delete(o);
    fg_budget__free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_per_app),
        cmocka_unit_test(test_count_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
