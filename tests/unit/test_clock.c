/* ISO 8601 formatting and parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/clock.h"

static void test_format(void **state)
{
    (void)state;
    char buf[40];
    assert_string_equal(clock__iso8601(1795687200123LL, buf, sizeof(buf)), "2026-11-26T10:00:00Z");
    assert_string_equal(clock__iso8601_graph(1795687200123LL, buf, sizeof(buf)),
                        "2026-11-26T10:00:00.1230000Z");
}

static void test_parse(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(clock__parse_iso8601("2026-11-26T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1795687200000LL);
    assert_int_equal(clock__parse_iso8601("2026-11-26T10:00:00.1234567Z", &ms), 0);
    assert_int_equal(ms, 1795687200123LL);
    assert_int_equal(clock__parse_iso8601("2026-11-26T12:00:00+02:00", &ms), 0);
    assert_int_equal(ms, 1795687200000LL);
    assert_int_equal(clock__parse_iso8601("2026-11-26T10:00:00+00:00", &ms), 0);
    assert_int_equal(ms, 1795687200000LL);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    int64_t ms = 0;
    const char *bad[] = {"",
                         "2026-11-26",
                         "2026-13-26T10:00:00Z",
                         "2026-11-26T10:00:00",
                         "2026-11-26T25:00:00Z",
                         "2026-11-26T10:00:00.Z",
                         "2026-11-26T10:00:00Zjunk",
                         "x026-11-26T10:00:00Z",
                         NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(clock__parse_iso8601(bad[i], &ms), -1);
    assert_int_equal(clock__parse_iso8601(NULL, &ms), -1);
}

static void test_round_trip(void **state)
{
    (void)state;
    char buf[40];
    int64_t back = 0;
    for (int64_t t = 0; t < 4102444800000LL; t += 86399999LL * 37) {
        int64_t sec = t / 1000 * 1000;
        clock__iso8601(sec, buf, sizeof(buf));
        assert_int_equal(clock__parse_iso8601(buf, &back), 0);
        assert_int_equal(back, sec);
    }
}

/* The microsecond clock is the millisecond one, finer, and moves. */
static void test_mono_us(void **state)
{
    (void)state;
    int64_t ms = clock__mono_ms();
    int64_t us = clock__mono_us();
    int64_t ms2 = clock__mono_ms();
    assert_true(us / 1000 >= ms && us / 1000 <= ms2);
    int64_t later = us;
    for (int i = 0; i < 1000000 && later == us; i++)
        later = clock__mono_us();
    assert_true(later > us);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_mono_us),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
