/* core/http_route: which route answers a request, what a request gets
 * before its body is read (413, 411, 405 with Allow, 404), per-route body
 * limits; no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/http_route.h"

static int h_a, h_b, h_c, h_d; /* their addresses tell the routes apart */

static int handler(void *ctx, const struct http_request *req, struct http_response *resp,
                   struct http_pending *p)
{
    (void)ctx, (void)req, (void)resp, (void)p;
    return HTTP_DONE;
}

static int setup(void **state)
{
    struct http_routes *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    if (http_route__add(t, "GET", "/healthz", false, handler, &h_a) ||
        http_route__add(t, "POST", "/echo", false, handler, &h_b) ||
        http_route__add(t, NULL, "/api/", true, handler, &h_c) ||
        http_route__add(t, "GET", "/api/v1/", true, handler, &h_d) ||
        http_route__add(t, "PUT", "/echo", false, handler, &h_b) ||
        http_route__add(t, "POST", "/echo", false, handler, &h_b))
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    http_route__free(*state);
    free(*state);
    return 0;
}

static void *ctx_of(const struct http_routes *t, const char *method, const char *path)
{
    bool known;
    const struct http_route *r = http_route__find(t, method, path, &known);
    return r ? r->ctx : NULL;
}

static void test_exact_and_prefix(void **state)
{
    const struct http_routes *t = *state;
    assert_ptr_equal(ctx_of(t, "GET", "/healthz"), &h_a);
    assert_null(ctx_of(t, "GET", "/healthz/x")); /* exact means exact */
    assert_null(ctx_of(t, "GET", "/health"));
    assert_ptr_equal(ctx_of(t, "DELETE", "/api/x"), &h_c);      /* any method */
    assert_ptr_equal(ctx_of(t, "GET", "/api/v1/users"), &h_d);  /* longest prefix */
    assert_ptr_equal(ctx_of(t, "POST", "/api/v1/users"), &h_c); /* longest that takes POST */
    assert_null(ctx_of(t, "GET", "/api"));                      /* a prefix ends with '/' */
}

static void test_known_path(void **state)
{
    const struct http_routes *t = *state;
    bool known = true;
    assert_null(http_route__find(t, "GET", "/nope", &known));
    assert_false(known);
    assert_null(http_route__find(t, "DELETE", "/echo", &known));
    assert_true(known);
}

static void test_allow(void **state)
{
    const struct http_routes *t = *state;
    char *h = http_route__allow(t, "/echo");
    assert_string_equal(h, "Allow: POST, PUT\r\n"); /* each method once */
    free(h);
    h = http_route__allow(t, "/nope");
    assert_string_equal(h, "Allow: \r\n");
    free(h);
}

static void test_admit(void **state)
{
    const struct http_routes *t = *state;
    const struct http_route *r = NULL;
    assert_int_equal(http_route__admit(t, "POST", "/echo", 10, 10, &r), 0);
    assert_ptr_equal(r->ctx, &h_b);
    assert_int_equal(http_route__admit(t, "POST", "/echo", 11, 10, &r), 413);
    assert_int_equal(http_route__admit(t, "POST", "/nope", 11, 10, &r), 413); /* before 404 */
    assert_null(r);
    assert_int_equal(http_route__admit(t, "POST", "/echo", -1, 10, &r), 411); /* chunked */
    assert_int_equal(http_route__admit(t, "PUT", "/echo", -1, 10, &r), 411);
    assert_int_equal(http_route__admit(t, "PATCH", "/api/x", -1, 10, &r), 411);
    assert_int_equal(http_route__admit(t, "GET", "/healthz", -1, 10, &r), 0);
    assert_int_equal(http_route__admit(t, "DELETE", "/echo", -1, 10, &r), 405);
    assert_int_equal(http_route__admit(t, "GET", "/nope", -1, 10, &r), 404);
    assert_int_equal(http_route__admit(t, "GET", "/nope", 0, 10, &r), 404);
}

static void test_body_limit(void **state)
{
    struct http_routes *t = *state;
    assert_int_equal(http_route__body_limit(t, "/nope", 100), -1);
    assert_int_equal(http_route__body_limit(t, "/echo", 100), 0);
    const struct http_route *r = NULL;
    assert_int_equal(http_route__admit(t, "POST", "/echo", 100, 10, &r), 0); /* larger */
    assert_int_equal(http_route__limit(r, 10), 100);
    assert_int_equal(http_route__admit(t, "POST", "/echo", 101, 10, &r), 413);
    assert_int_equal(http_route__admit(t, "PUT", "/echo", 100, 10, &r), 0); /* same path */
    assert_int_equal(http_route__body_limit(t, "/healthz", 5), 0);          /* smaller */
    assert_int_equal(http_route__admit(t, "GET", "/healthz", 6, 10, &r), 413);
    assert_int_equal(http_route__limit(NULL, 10), 10);
}

static void test_bad_arguments(void **state)
{
    struct http_routes *t = *state;
    size_t n = t->n;
    assert_int_equal(http_route__add(t, "GET", NULL, false, handler, NULL), -1);
    assert_int_equal(http_route__add(t, "GET", "/x", false, NULL, NULL), -1);
    assert_int_equal(t->n, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exact_and_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
