/* talking_request templates and the voice/<id>/talking payload
 * (connector/voice/talking.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voice/talking.h"

static const struct talking_template default_tpl = {TALKING_SIMULATOR_METHOD,
                                                    TALKING_SIMULATOR_PATH, TALKING_SIMULATOR_BODY};

static void test_default_template(void **state)
{
    (void)state;
    assert_null(talking__validate_template(&default_tpl));
    struct talking_call r;
    assert_int_equal(talking__render(&default_tpl, "0a1b-2c", "alice@contoso.com", true, &r), 0);
    assert_string_equal(r.method, "PUT");
    assert_string_equal(r.path, "/users/0a1b-2c/externalcallstate");
    assert_string_equal(r.body, "{\"InCall\":true,\"Source\":\"MSTeams\"}");
    talking_call__free(&r);
    assert_int_equal(talking__render(&default_tpl, "0a1b-2c", "alice@contoso.com", false, &r), 0);
    assert_string_equal(r.body, "{\"InCall\":false,\"Source\":\"MSTeams\"}");
    talking_call__free(&r);
}

static void test_path_escaping(void **state)
{
    (void)state;
    struct talking_template tpl = {"POST", "/x/{email}/y/{userId}?t={talking}", NULL};
    assert_null(talking__validate_template(&tpl));
    struct talking_call r;
    const char *email = "a+b\"c\\d/e#f?g&h%i j\xc3\xa9\x01@x.com";
    assert_int_equal(talking__render(&tpl, "id/../..", email, true, &r), 0);
    assert_string_equal(r.path, "/x/a%2Bb%22c%5Cd%2Fe%23f%3Fg%26h%25i%20j%C3%A9%01%40x.com/y/"
                                "id%2F..%2F..?t=true");
    assert_null(r.body);
    talking_call__free(&r);
}

/* Renders a body with {email}/{userId} inside a JSON string and checks that
 * the JSON parses back to exactly the original values. */
static void assert_body_round_trip(const char *user, const char *email)
{
    struct talking_template tpl = {"PUT", "/u",
                                   "{\"e\":\"{email}\",\"u\":\"{userId}\",\"t\":{talking}}"};
    struct talking_call r;
    assert_int_equal(talking__render(&tpl, user, email, true, &r), 0);
    cJSON *j = cJSON_Parse(r.body);
    if (!j)
        fail_msg("body is not JSON: %s", r.body);
    assert_string_equal(cJSON_GetObjectItem(j, "e")->valuestring, email);
    assert_string_equal(cJSON_GetObjectItem(j, "u")->valuestring, user);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "t")));
    assert_int_equal(cJSON_GetArraySize(j), 3); /* nothing injected */
    cJSON_Delete(j);
    talking_call__free(&r);
}

static void test_body_escaping(void **state)
{
    (void)state;
    assert_body_round_trip("plain", "alice@contoso.com");
    assert_body_round_trip("q\"uote", "a\",\"x\":\"injected@x.com");
    assert_body_round_trip("back\\slash", "a\\\"b@x.com");
    assert_body_round_trip("sl/ash+plus#hash", "a/b+c#d@x.com");
    assert_body_round_trip("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "j\xc3\xbcrgen@x.com");
    assert_body_round_trip("ctl\x01\x1f\x7f\t\r\n", "a\nb@x.com");
    /* the escaped text itself */
    struct talking_template tpl = {"PUT", "/u", "{\"e\":\"{email}\"}"};
    struct talking_call r;
    assert_int_equal(talking__render(&tpl, "u", "a\"b\\c\n\x01/", false, &r), 0);
    assert_string_equal(r.body, "{\"e\":\"a\\\"b\\\\c\\n\\u0001/\"}");
    talking_call__free(&r);
}

static void test_braces_and_unknown_placeholders(void **state)
{
    (void)state;
    /* JSON braces, empty braces and unknown names pass through at run time */
    struct talking_template tpl = {"PUT", "/u/{userId}",
                                   "{\"a\":{\"b\":{talking}},\"c\":\"{}{ x}{unknown}{9}\"}"};
    struct talking_call r;
    assert_int_equal(talking__render(&tpl, "u1", "e@x", false, &r), 0);
    assert_string_equal(r.body, "{\"a\":{\"b\":false},\"c\":\"{}{ x}{unknown}{9}\"}");
    talking_call__free(&r);
    /* ...but config-check rejects the unknown one */
    const char *e = talking__validate_template(&tpl);
    assert_non_null(e);
    assert_non_null(strstr(e, "talking_request.body"));
    assert_non_null(strstr(e, "unknown placeholder"));

    /* an unterminated brace at the end */
    struct talking_template t2 = {"PUT", "/u/{userId", NULL};
    assert_int_equal(talking__render(&t2, "u1", "e@x", false, &r), 0);
    assert_string_equal(r.path, "/u/{userId");
    talking_call__free(&r);
}

static void test_validate_rejects(void **state)
{
    (void)state;
    struct {
        struct talking_template tpl;
        const char *want; /* substring of the error */
    } bad[] = {
        {{"put", "/u", NULL}, "talking_request.method"},
        {{"{talking}", "/u", NULL}, "talking_request.method"},
        {{NULL, "/u", NULL}, "talking_request.method"},
        {{"PUT", "u/{userId}", NULL}, "talking_request.path"},
        {{"PUT", NULL, NULL}, "talking_request.path"},
        {{"PUT", "/u/{userid}", NULL}, "unknown placeholder"},
        {{"PUT", "/u/{user}", NULL}, "unknown placeholder"},
        {{"PUT", "/u/ x", NULL}, "talking_request.path"},
        {{"PUT", "/u/\r\nX: y", NULL}, "talking_request.path"},
        {{"PUT", "/u#frag", NULL}, "talking_request.path"},
        {{"PUT", "/u", "{\"InCall\":{talking}"}, "not JSON"},
        {{"PUT", "/u", "{\"id\":{userId}}"}, "not JSON"},
        {{"PUT", "/u", "{\"InCall\":\"{Talking}\"}"}, "unknown placeholder"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *e = talking__validate_template(&bad[i].tpl);
        if (!e || !strstr(e, bad[i].want))
            fail_msg("case %zu: got %s, want %s", i, e ? e : "(accepted)", bad[i].want);
    }
    assert_non_null(talking__validate_template(NULL));
    /* good ones */
    struct talking_template good[] = {
        {"POST", "/users/{userId}/status", "{\"email\":\"{email}\",\"talking\":{talking}}"},
        {"PATCH", "/users/{email}", ""},
        {"DELETE", "/x?a={talking}", NULL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *e = talking__validate_template(&good[i]);
        if (e)
            fail_msg("good case %zu rejected: %s", i, e);
    }
}

static void test_render_rejects(void **state)
{
    (void)state;
    struct talking_call r;
    assert_int_equal(talking__render(&default_tpl, "", "e@x", true, &r), -1);
    assert_null(r.path);
    assert_int_equal(talking__render(&default_tpl, "u", NULL, true, &r), -1);
    assert_int_equal(talking__render(NULL, "u", "e@x", true, &r), -1);
}

static void test_payload(void **state)
{
    static const char *const ids[] = {"c-1", "c-2"};
    (void)state;
    /* 2026-11-26T10:00:00Z */
    char *p = talking__payload(true, 1, 1795687200000LL, "rte", ids, 1);
    assert_non_null(p);
    assert_string_equal(
        p, "{\"talking\":true,\"calls\":1,\"since\":\"2026-11-26T10:00:00Z\",\"source\":"
           "\"rte\",\"call_ids\":[\"c-1\"]}");
    free(p);
    p = talking__payload(false, 0, 1795687200999LL, "webhook", NULL, 0);
    assert_string_equal(p, "{\"talking\":false,\"calls\":0,\"since\":\"2026-11-26T10:00:00Z\","
                           "\"source\":\"webhook\"}");
    free(p);
    /* a carried-over call without an id counts, but is not named */
    p = talking__payload(true, 3, 1795687200000LL, "resync", ids, 2);
    assert_non_null(strstr(p, "\"calls\":3"));
    assert_non_null(strstr(p, "\"call_ids\":[\"c-1\",\"c-2\"]"));
    free(p);
    assert_null(talking__payload(true, 1, 0, "notification", NULL, 0));
    assert_null(talking__payload(true, 1, 0, NULL, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_template),
        cmocka_unit_test(test_path_escaping),
        cmocka_unit_test(test_body_escaping),
        cmocka_unit_test(test_braces_and_unknown_placeholders),
        cmocka_unit_test(test_validate_rejects),
        cmocka_unit_test(test_render_rejects),
        cmocka_unit_test(test_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
