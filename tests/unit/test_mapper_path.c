/* The Graph path the mapper builds for a user (docs/graph.md "Presence
 * writes"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "graph/paths.h"
#include "mapper/mapper.h"

static void check(const char *upn, const char *want)
{
    char *p = paths__user_path(upn);
    assert_non_null(p);
    assert_string_equal(p, want);
    free(p);
}

static void test_plain(void **state)
{
    (void)state;
    check("alice@contoso.com", "/users/alice@contoso.com");
    check("Bob.O-K_x~@Contoso.com", "/users/Bob.O-K_x~@Contoso.com");
}

static void test_escaped(void **state)
{
    (void)state;
    /* '/', '?', '#', '%', space and non-ASCII would bend the path */
    check("a/b?c#d%e f@x.com", "/users/a%2Fb%3Fc%23d%25e%20f@x.com");
    check("j\xc3\xb6rg@x.com", "/users/j%C3%B6rg@x.com");
    /* guest UPN */
    check("ext_x.com#EXT#@contoso.onmicrosoft.com",
          "/users/ext_x.com%23EXT%23@contoso.onmicrosoft.com");
}

static void test_dollar_key_form(void **state)
{
    (void)state;
    check("$admin@x.com", "/users('$admin@x.com')");
    check("$o'neil@x.com", "/users('$o''neil@x.com')");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_escaped),
        cmocka_unit_test(test_dollar_key_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
