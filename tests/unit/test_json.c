/* The strict JSON policy (connector/core/json.c): one value and only
 * whitespace after it, where cJSON's own parsers stop at the first value;
 * the typed member accessors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/json.h"

static void assert_parses(const char *s, size_t len)
{
    cJSON *v = json__parse(s, len);
    if (!v)
        fail_msg("'%.*s' refused", (int)len, s);
    cJSON_Delete(v);
}

static void assert_refused(const char *s, size_t len)
{
    cJSON *v = json__parse(s, len);
    if (v) {
        cJSON_Delete(v);
        fail_msg("'%.*s' accepted", (int)len, s ? s : "(null)");
    }
}

static void test_strict(void **state)
{
    (void)state;
    assert_parses("{}", 2);
    assert_parses(" {\"a\":1} \r\n\t", 12);
    assert_parses("[1,2]", 5);
    assert_parses("true", 4);
    assert_parses("\"x\"", 3);
    /* what cJSON_Parse / cJSON_ParseWithLength let through */
    assert_refused("{}garbage", 9);
    assert_refused("{} {}", 5);
    assert_refused("{}x", 3);
    assert_refused("{}\0", 3); /* a NUL byte inside the length */
    assert_refused("", 0);
    assert_refused(NULL, 3);
    assert_refused("{", 1);
    assert_refused("{\"a\":1", 6);
    /* the length bounds the input: the rest of the buffer is not read */
    assert_parses("{\"a\":1}garbage", 7);
    assert_refused("{\"a\":1}garbage", 5);
}

static void test_parse_str(void **state)
{
    (void)state;
    cJSON *v = json__parse_str("{\"a\":[1]}  ");
    assert_non_null(v);
    cJSON_Delete(v);
    assert_null(json__parse_str("{\"a\":[1]} ]"));
    assert_null(json__parse_str(NULL));
    assert_null(json__parse_str(""));
}

static void test_accessors(void **state)
{
    (void)state;
    cJSON *o = json__parse_str("{\"s\":\"v\",\"n\":2.5,\"b\":false,\"S\":1,\"ns\":3}");
    assert_non_null(o);
    assert_string_equal(json__str(o, "s"), "v");
    assert_null(json__str(o, "n"));
    assert_null(json__str(o, "missing"));
    assert_null(json__str(NULL, "s"));
    double d = -1;
    assert_true(json__num(o, "n", &d));
    assert_true(d == 2.5);
    assert_false(json__num(o, "s", &d));
    assert_true(d == 2.5); /* untouched */
    assert_false(json__bool(o, "b", true));
    assert_true(json__bool(o, "n", true));   /* not a boolean: the default */
    assert_false(json__bool(o, "x", false)); /* absent: the default */
    /* exact names: "S" is not "s" */
    assert_true(json__num(o, "S", &d));
    assert_true(d == 1);
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_parse_str),
        cmocka_unit_test(test_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
