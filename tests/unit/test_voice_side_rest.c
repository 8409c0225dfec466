/* The Voice REST client's pure parts: the API base (trailing slashes),
 * no request before discovery, failure reasons and the retry rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/http_client.h"
#include "core/loop.h"
#include "voice/rest.h"

static void never_called(void *ctx, const struct http_result *res)
{
    (void)ctx, (void)res;
    fail_msg("completion for a request that was refused");
}

static void api_base(void **state)
{
    (void)state;
    struct voice_rest *r = voice_rest__new(NULL, "u@x.com", "s");
    assert_non_null(r);
    assert_null(voice_rest__api(r));
    /* no API base yet: refused before anything is queued */
    assert_int_equal(voice_rest__call(r, "GET", "/users/me", NULL, never_called, NULL), -1);
    assert_int_equal(voice_rest__set_api(r, "https://api.example.com/"), 0);
    assert_string_equal(voice_rest__api(r), "https://api.example.com");
    assert_int_equal(voice_rest__set_api(r, "https://api.example.com//"), 0);
    assert_string_equal(voice_rest__api(r), "https://api.example.com");
    assert_int_equal(voice_rest__set_api(r, "http://127.0.0.1:8080/api"), 0);
    assert_string_equal(voice_rest__api(r), "http://127.0.0.1:8080/api");
    assert_int_equal(voice_rest__set_api(r, NULL), 0);
    assert_null(voice_rest__api(r));
    voice_rest__free(r);
}

static void retry_rule(void **state)
{
    (void)state;
    struct http_result res = {0};
    int retry[] = {0, 408, 429, 500, 502, 503, 504};
    int no_retry[] = {200, 204, 400, 401, 403, 404, 409, 422};
    for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++) {
        res.status = retry[i];
        assert_true(voice_rest__retryable(&res));
    }
    for (size_t i = 0; i < sizeof(no_retry) / sizeof(no_retry[0]); i++) {
        res.status = no_retry[i];
        assert_false(voice_rest__retryable(&res));
    }
}

static void reasons(void **state)
{
    (void)state;
    char buf[96];
    struct http_result res = {.status = 401};
    assert_string_equal(voice_rest__reason(&res, buf, sizeof(buf)), "HTTP 401");
    res.status = 0;
    res.error = "Timeout was reached";
    assert_string_equal(voice_rest__reason(&res, buf, sizeof(buf)),
                        "transport error: Timeout was reached");
    res.error = NULL;
    assert_string_equal(voice_rest__reason(&res, buf, sizeof(buf)), "transport error: unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_base),
        cmocka_unit_test(retry_rule),
        cmocka_unit_test(reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
