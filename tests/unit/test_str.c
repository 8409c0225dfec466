/* The shared string helpers (connector/core/str.c): concatenation, trailing
 * slashes, dup-or-null, relative paths, the optional error buffer and the
 * string buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/str.h"

static void assert_take(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_cat(void **state)
{
    (void)state;
    assert_take(str__cat("a", NULL), "a");
    assert_take(str__cat("", NULL), "");
    assert_take(str__cat("presence-sync/", "sync", "/", "alice@x.com", NULL),
                "presence-sync/sync/alice@x.com");
    assert_take(str__cat("https://h", "", "/graph/notify/", "t", NULL), "https://h/graph/notify/t");
}

static void test_dup_and_trim(void **state)
{
    (void)state;
    assert_null(str__dup(NULL));
    assert_take(str__dup("x"), "x");
    assert_null(str__trim_slash(NULL));
    assert_take(str__trim_slash("https://h/"), "https://h");
    assert_take(str__trim_slash("https://h///"), "https://h");
    assert_take(str__trim_slash("https://h/a"), "https://h/a");
    assert_take(str__trim_slash("/"), "");
    assert_take(str__trim_slash(""), "");
}

static void test_path(void **state)
{
    (void)state;
    assert_take(str__path("/etc/ps", "users.txt"), "/etc/ps/users.txt");
    assert_take(str__path("/etc/ps", "/abs/users.txt"), "/abs/users.txt");
    assert_take(str__path("", "users.txt"), "users.txt");
    assert_take(str__path(NULL, "users.txt"), "users.txt");
}

static void test_printf(void **state)
{
    (void)state;
    char err[8] = "";
    str__printf(err, sizeof(err), "%s %d", "code", 12345);
    assert_string_equal(err, "code 12"); /* truncated, terminated */
    str__printf(NULL, 10, "%s", "nothing happens");
    str__printf(err, 0, "%s", "nor here");
    assert_string_equal(err, "code 12");
}

static void test_strbuf(void **state)
{
    (void)state;
    struct strbuf b = {0};
    assert_take(strbuf__take(&b), ""); /* nothing put: an empty string */
    strbuf__puts(&b, "a");
    strbuf__put(&b, "bcdef", 2);
    strbuf__printf(&b, "%s%d", "-", 42);
    assert_int_equal(b.len, 6);
    assert_take(strbuf__take(&b), "abc-42");
    assert_null(b.s);
    /* grows past its first block */
    for (int i = 0; i < 1000; i++)
        strbuf__puts(&b, "0123456789");
    assert_int_equal(b.len, 10000);
    assert_int_equal(strlen(b.s), 10000);
    strbuf__free(&b);
    /* a failure sticks: later puts do nothing, take gives NULL, then it is
     * usable again */
    strbuf__puts(&b, "x");
    strbuf__fail(&b);
    strbuf__puts(&b, "y");
    assert_true(b.oom);
    assert_null(strbuf__take(&b));
    strbuf__puts(&b, "z");
    assert_take(strbuf__take(&b), "z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cat),    cmocka_unit_test(test_dup_and_trim),
        cmocka_unit_test(test_path),   cmocka_unit_test(test_printf),
        cmocka_unit_test(test_strbuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
