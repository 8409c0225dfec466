/* core/http_body: the budget of buffered request bodies (reserve, refuse,
 * give back, report the first refusal once) and a body buffer that grows as
 * bytes come, up to its announced length; no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/http_body.h"

static void test_budget(void **state)
{
    (void)state;
    struct http_budget b = {.max = 2500};
    struct http_body x = {0}, y = {0}, z = {0}, small = {0};
    bool first;
    assert_int_equal(http_body__open(&x, &b, 1000, &first), HTTP_BODY_OPEN);
    assert_int_equal(http_body__open(&y, &b, 1000, &first), HTTP_BODY_OPEN);
    assert_int_equal(b.used, 2000);
    assert_int_equal(http_body__open(&z, &b, 1000, &first), HTTP_BODY_FULL);
    assert_true(first);
    assert_null(z.buf);
    assert_int_equal(http_body__open(&z, &b, 501, &first), HTTP_BODY_FULL);
    assert_false(first);                                                        /* reported once */
    assert_int_equal(http_body__open(&small, &b, 500, &first), HTTP_BODY_OPEN); /* still fits */
    assert_int_equal(b.used, 2500);
    http_body__clear(&x, &b);
    http_body__clear(&small, &b);
    assert_int_equal(b.used, 1000);
    assert_int_equal(http_body__open(&z, &b, 1000, &first), HTTP_BODY_OPEN);
    http_body__clear(&y, &b);
    http_body__clear(&z, &b);
    assert_int_equal(b.used, 0);
    /* empty again: the next refusal is reported again */
    assert_int_equal(http_body__open(&x, &b, 10, &first), HTTP_BODY_OPEN);
    assert_int_equal(http_body__open(&y, &b, 2500, &first), HTTP_BODY_FULL);
    assert_true(first);
    http_body__clear(&x, &b);
    http_body__clear(&y, &b); /* never opened: gives nothing back */
    assert_int_equal(b.used, 0);
}

static void test_grows_to_announced(void **state)
{
    (void)state;
    struct http_budget b = {.max = SIZE_MAX};
    struct http_body x = {0};
    bool first;
    size_t n = 200000;
    assert_int_equal(http_body__open(&x, &b, n, &first), HTTP_BODY_OPEN);
    assert_true(x.cap < n); /* not allocated at the announced length */
    assert_string_equal(x.buf, "");
    char *chunk = malloc(n);
    memset(chunk, 'a', n);
    for (size_t off = 0; off < n; off += 7000)
        assert_int_equal(http_body__append(&x, chunk + off, off + 7000 > n ? n - off : 7000), 0);
    assert_int_equal(x.len, n);
    assert_int_equal(x.cap, n + 1); /* never past the announced length */
    assert_int_equal(x.buf[n], '\0');
    assert_int_equal(memcmp(x.buf, chunk, n), 0);
    free(chunk);
    http_body__clear(&x, &b);
    assert_null(x.buf);
}

static void test_small_and_empty(void **state)
{
    (void)state;
    struct http_budget b = {.max = 100};
    struct http_body x = {0};
    bool first;
    assert_int_equal(http_body__open(&x, &b, 0, &first), HTTP_BODY_OPEN); /* POST, length 0 */
    assert_string_equal(x.buf, "");
    assert_int_equal(http_body__append(&x, "", 0), 0);
    assert_int_equal(x.len, 0);
    http_body__clear(&x, &b);
    assert_int_equal(http_body__open(&x, &b, 5, &first), HTTP_BODY_OPEN);
    assert_int_equal(x.cap, 6);
    assert_int_equal(http_body__append(&x, "hel", 3), 0);
    assert_int_equal(http_body__append(&x, "lo", 2), 0);
    assert_string_equal(x.buf, "hello");
    http_body__clear(&x, &b);
    assert_int_equal(b.used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_grows_to_announced),
        cmocka_unit_test(test_small_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
