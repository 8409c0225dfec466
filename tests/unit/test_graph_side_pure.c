/* Pure helpers of the networked Graph side: form encoding of secrets, AADSTS
 * parsing and explanations, /users/{upn} paths, the quoted-id subscription
 * resource and the split of users over service accounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/paths.h"
#include "graph/subscription.h"
#include "graph/subscriptions.h"
#include "graph/tokens.h"

static void test_form_encodes_every_value(void **state)
{
    (void)state;
    const char *p[] = {"client_id", "abc", "client_secret", "a+b/c=d&e%f g~",
                       "password",  NULL,  "scope",         "https://graph.microsoft.com/.default"};
    char *f = tokens__form(p, 4);
    assert_non_null(f);
    assert_string_equal(f, "client_id=abc&client_secret=a%2Bb%2Fc%3Dd%26e%25f%20g~&"
                           "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default");
    free(f);
}

static void test_form_empty(void **state)
{
    (void)state;
    const char *p[] = {"a", NULL};
    char *f = tokens__form(p, 1);
    assert_non_null(f);
    assert_string_equal(f, "");
    free(f);
}

static void test_parse_error_codes(void **state)
{
    (void)state;
    char err[64];
    assert_int_equal(tokens__parse_error("{\"error\":\"invalid_grant\",\"error_codes\":[50076],"
                                         "\"error_description\":\"AADSTS50079: x\"}",
                                         err, sizeof(err)),
                     50076);
    assert_string_equal(err, "invalid_grant");
    /* no error_codes: from the description */
    assert_int_equal(tokens__parse_error("{\"error\":\"invalid_client\",\"error_description\":"
                                         "\"AADSTS7000215: Invalid client secret\"}",
                                         err, sizeof(err)),
                     7000215);
    assert_string_equal(err, "invalid_client");
    assert_int_equal(tokens__parse_error("not json", err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(tokens__parse_error(NULL, err, sizeof(err)), 0);
    assert_int_equal(
        tokens__parse_error("{\"error\":\"temporarily_unavailable\"}", err, sizeof(err)), 0);
    assert_string_equal(err, "temporarily_unavailable");
}

static void test_explanations(void **state)
{
    (void)state;
    assert_non_null(strstr(tokens__explain(50076), "multi-factor"));
    assert_non_null(strstr(tokens__explain(50055), "expired"));
    assert_non_null(strstr(tokens__explain(50126), "password"));
    assert_non_null(strstr(tokens__explain(50173), "revoked"));
    assert_non_null(strstr(tokens__explain(65001), "consent"));
    assert_non_null(strstr(tokens__explain(7000215), "client secret"));
    assert_null(tokens__explain(1));
}

static void test_users_path(void **state)
{
    (void)state;
    char *p = paths__user_path("alice@contoso.com");
    assert_string_equal(p, "/users/alice@contoso.com");
    free(p);
    p = paths__user_path("guest_x.com#EXT#@contoso.onmicrosoft.com");
    assert_string_equal(p, "/users/guest_x.com%23EXT%23@contoso.onmicrosoft.com");
    free(p);
    p = paths__user_path("a b/c?d%e@x.com");
    assert_string_equal(p, "/users/a%20b%2Fc%3Fd%25e@x.com");
    free(p);
    p = paths__user_path("$admin@x.com");
    assert_string_equal(p, "/users('$admin@x.com')");
    free(p);
    p = paths__user_path("$o'neil@x.com");
    assert_string_equal(p, "/users('$o''neil@x.com')");
    free(p);
}

static void test_resource_quotes_ids(void **state)
{
    (void)state;
    char *ids[] = {"11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"};
    char *r = subscription__resource(ids, 2);
    assert_string_equal(r, "/communications/presences?$filter=id in "
                           "('11111111-1111-1111-1111-111111111111',"
                           "'22222222-2222-2222-2222-222222222222')");
    free(r);
    r = subscription__resource(ids, 1);
    assert_string_equal(r, "/communications/presences?$filter=id in "
                           "('11111111-1111-1111-1111-111111111111')");
    free(r);
}

static void test_resource_650(void **state)
{
    (void)state;
    char *ids[650];
    for (int i = 0; i < 650; i++) {
        ids[i] = malloc(37);
        snprintf(ids[i], 37, "%08d-0000-0000-0000-000000000000", i);
    }
    char *r = subscription__resource(ids, 650);
    size_t quotes = 0;
    for (const char *c = r; *c; c++)
        quotes += *c == '\'';
    assert_int_equal(quotes, 1300);
    assert_int_equal(strlen(r), 41 + 650 * 38 + 649 + 1);
    free(r);
    for (int i = 0; i < 650; i++)
        free(ids[i]);
}

static void test_split(void **state)
{
    (void)state;
    size_t f, c, total = 0;
    /* 700 over 2: 350 + 350 */
    subscriptions__split(700, 2, 0, &f, &c);
    assert_int_equal(f, 0);
    assert_int_equal(c, 350);
    subscriptions__split(700, 2, 1, &f, &c);
    assert_int_equal(f, 350);
    assert_int_equal(c, 350);
    /* 1300 over 2: 650 each, the limit */
    subscriptions__split(1300, 2, 1, &f, &c);
    assert_int_equal(c, 650);
    /* 7 over 3: 3 + 2 + 2, contiguous, complete */
    size_t next = 0;
    for (size_t a = 0; a < 3; a++) {
        subscriptions__split(7, 3, a, &f, &c);
        assert_int_equal(f, next);
        next += c;
        total += c;
        assert_true(c == 2 || c == 3);
    }
    assert_int_equal(total, 7);
    /* fewer users than accounts: some accounts idle */
    subscriptions__split(1, 3, 2, &f, &c);
    assert_int_equal(c, 0);
    subscriptions__split(5, 0, 0, &f, &c);
    assert_int_equal(c, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_encodes_every_value),
        cmocka_unit_test(test_form_empty),
        cmocka_unit_test(test_parse_error_codes),
        cmocka_unit_test(test_explanations),
        cmocka_unit_test(test_users_path),
        cmocka_unit_test(test_resource_quotes_ids),
        cmocka_unit_test(test_resource_650),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
