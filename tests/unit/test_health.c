/* core/health: readiness aggregation and its JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/health.h"

static int setup(void **state)
{
    (void)state;
    health__reset();
    return 0;
}

static void assert_json(const char *want, bool want_ready)
{
    bool ready = !want_ready;
    char *json = health__json(&ready);
    assert_non_null(json);
    assert_string_equal(json, want);
    assert_int_equal(ready, want_ready);
    free(json);
}

static void test_nothing_registered(void **state)
{
    (void)state;
    assert_json("{\"ready\":true,\"components\":{}}", true);
    char *json = health__json(NULL); /* ready pointer is optional */
    assert_non_null(json);
    free(json);
}

static void test_all_ready(void **state)
{
    (void)state;
    health__set("mqtt", true, NULL);
    health__set("graph/contoso", true, NULL);
    assert_json("{\"ready\":true,\"components\":{"
                "\"mqtt\":{\"ready\":true,\"reason\":null},"
                "\"graph/contoso\":{\"ready\":true,\"reason\":null}}}",
                true);
}

static void test_one_not_ready(void **state)
{
    (void)state;
    health__set("mqtt", true, NULL);
    health__set("voice/contoso", false, "link down: connect refused");
    assert_json("{\"ready\":false,\"components\":{"
                "\"mqtt\":{\"ready\":true,\"reason\":null},"
                "\"voice/contoso\":{\"ready\":false,\"reason\":\"link down: connect refused\"}}}",
                false);
}

/* Updating keeps the position; the reason is replaced (and copied). */
static void test_update_and_copy(void **state)
{
    (void)state;
    char reason[] = "AADSTS7000215 invalid client secret";
    health__set("graph/contoso", false, reason);
    health__set("mqtt", false, "connecting");
    reason[0] = 'X';
    assert_json("{\"ready\":false,\"components\":{"
                "\"graph/contoso\":{\"ready\":false,\"reason\":\"AADSTS7000215 invalid client "
                "secret\"},"
                "\"mqtt\":{\"ready\":false,\"reason\":\"connecting\"}}}",
                false);
    health__set("graph/contoso", true, NULL);
    health__set("mqtt", true, NULL);
    assert_json("{\"ready\":true,\"components\":{"
                "\"graph/contoso\":{\"ready\":true,\"reason\":null},"
                "\"mqtt\":{\"ready\":true,\"reason\":null}}}",
                true);
}

static void test_remove(void **state)
{
    (void)state;
    health__set("mqtt", true, NULL);
    health__set("voice/old", false, "gone");
    health__remove("voice/old");
    health__remove("never-there");
    assert_json("{\"ready\":true,\"components\":{\"mqtt\":{\"ready\":true,\"reason\":null}}}",
                true);
}

/* Reasons come from remote errors: they must come out as valid JSON. */
static void test_reason_escaped(void **state)
{
    (void)state;
    health__set("graph/x", false, "bad \"quote\"\nnew line\\");
    assert_json("{\"ready\":false,\"components\":{"
                "\"graph/x\":{\"ready\":false,\"reason\":\"bad \\\"quote\\\"\\nnew line\\\\\"}}}",
                false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nothing_registered, setup),
        cmocka_unit_test_setup(test_all_ready, setup),
        cmocka_unit_test_setup(test_one_not_ready, setup),
        cmocka_unit_test_setup(test_update_and_copy, setup),
        cmocka_unit_test_setup(test_remove, setup),
        cmocka_unit_test_setup(test_reason_escaped, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    health__reset();
    return rc;
}
