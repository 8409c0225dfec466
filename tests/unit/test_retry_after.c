/* Retry-After: delta-seconds and HTTP-date (RFC 9110 §10.2.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/backoff.h"

/* Wed, 21 Oct 2015 07:28:00 GMT */
#define T0     ((time_t)1445412480)
#define DAY_MS (INT64_C(86400) * 1000)

static void test_delta_seconds(void **state)
{
    (void)state;
    assert_int_equal(retry_after__parse_ms("0", T0), 0);
    assert_int_equal(retry_after__parse_ms("1", T0), 1000);
    assert_int_equal(retry_after__parse_ms("7", T0), 7000);
    assert_int_equal(retry_after__parse_ms("120", T0), 120000);
    assert_int_equal(retry_after__parse_ms("007", T0), 7000);
    assert_int_equal(retry_after__parse_ms("  30 ", T0), 30000);
    assert_int_equal(retry_after__parse_ms("\t5\r\n", T0), 5000);
}

static void test_huge_values_capped(void **state)
{
    (void)state;
    assert_int_equal(retry_after__parse_ms("86399", T0), 86399000);
    assert_int_equal(retry_after__parse_ms("86400", T0), DAY_MS);
    assert_int_equal(retry_after__parse_ms("86401", T0), DAY_MS);
    assert_int_equal(retry_after__parse_ms("99999999999999999999999999999", T0), DAY_MS);
    assert_int_equal(retry_after__parse_ms("Fri, 31 Dec 9999 23:59:59 GMT", T0), DAY_MS);
}

static void test_http_date(void **state)
{
    (void)state;
    assert_int_equal(retry_after__parse_ms("Wed, 21 Oct 2015 07:28:30 GMT", T0), 30000);
    assert_int_equal(retry_after__parse_ms("Wed, 21 Oct 2015 08:28:00 GMT", T0), 3600000);
    /* the obsolete forms RFC 9110 still requires recipients to accept */
    assert_int_equal(retry_after__parse_ms("Wednesday, 21-Oct-15 07:28:10 GMT", T0), 10000);
    assert_int_equal(retry_after__parse_ms("Wed Oct 21 07:28:20 2015", T0), 20000);
    assert_int_equal(retry_after__parse_ms(" Wed, 21 Oct 2015 07:28:30 GMT ", T0), 30000);
}

static void test_past_date_is_zero(void **state)
{
    (void)state;
    assert_int_equal(retry_after__parse_ms("Wed, 21 Oct 2015 07:28:00 GMT", T0), 0);
    assert_int_equal(retry_after__parse_ms("Wed, 21 Oct 2015 07:27:00 GMT", T0), 0);
    assert_int_equal(retry_after__parse_ms("Thu, 01 Jan 1970 00:00:01 GMT", T0), 0);
}

static void test_invalid(void **state)
{
    (void)state;
    const char *bad[] = {"",    "   ",     "-5",    "-0",   "+5",  "1.5",  "5s",   "5 s",
                         "abc", "garbage", "12abc", "0x10", "1e3", "Wed,", "later"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (retry_after__parse_ms(bad[i], T0) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(retry_after__parse_ms(NULL, T0), -1);
    /* absurdly long input */
    char longv[400];
    for (size_t i = 0; i < sizeof(longv) - 1; i++)
        longv[i] = 'a';
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(retry_after__parse_ms(longv, T0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_seconds), cmocka_unit_test(test_huge_values_capped),
        cmocka_unit_test(test_http_date),     cmocka_unit_test(test_past_date_is_zero),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
