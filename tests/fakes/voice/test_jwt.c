/* The RTE token: signing, verification, expiry, tampering; base64url. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fv_jwt.h"

static const unsigned char KEY[FV_JWT_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static void test_b64url(void **state)
{
    (void)state;
    const unsigned char in[] = {0xfb, 0xff, 0xfe, 'a'};
    for (size_t n = 0; n <= sizeof(in); n++) {
        char *e = fv_b64url__encode(in, n);
        assert_null(strpbrk(e, "+/="));
        size_t len = 0;
        unsigned char *d = fv_b64url__decode(e, strlen(e), &len);
        assert_non_null(d);
        assert_int_equal(len, n);
        assert_memory_equal(d, in, n);
        free(e);
        free(d);
    }
    size_t len;
    assert_null(fv_b64url__decode("a+b/", 4, &len));  /* standard alphabet refused */
    assert_null(fv_b64url__decode("abcde", 5, &len)); /* impossible length */
}

static void test_sign_verify(void **state)
{
    (void)state;
    char *t = fv_jwt__sign(KEY, sizeof(KEY), "user-1", 1000, 2000);
    assert_non_null(t);
    int64_t exp = 0;
    char sub[64];
    assert_int_equal(fv_jwt__verify(KEY, sizeof(KEY), t, 1500, &exp, sub, sizeof(sub)), FV_JWT_OK);
    assert_int_equal(exp, 2000);
    assert_string_equal(sub, "user-1");
    /* Expired at exp exactly and after. */
    assert_int_equal(fv_jwt__verify(KEY, sizeof(KEY), t, 2000, &exp, NULL, 0), FV_JWT_EXPIRED);
    free(t);
}

static void test_tampered(void **state)
{
    (void)state;
    char *t = fv_jwt__sign(KEY, sizeof(KEY), "user-1", 1000, 2000);
    int64_t exp;
    unsigned char other[FV_JWT_KEY_LEN];
    memcpy(other, KEY, sizeof(other));
    other[0] ^= 1;
    assert_int_equal(fv_jwt__verify(other, sizeof(other), t, 1500, &exp, NULL, 0), FV_JWT_BAD);
    /* Flip one character of the payload. */
    char *dot = strchr(t, '.');
    dot[2] = dot[2] == 'A' ? 'B' : 'A';
    assert_int_equal(fv_jwt__verify(KEY, sizeof(KEY), t, 1500, &exp, NULL, 0), FV_JWT_BAD);
    assert_int_equal(fv_jwt__verify(KEY, sizeof(KEY), "a.b", 1500, &exp, NULL, 0), FV_JWT_BAD);
    assert_int_equal(fv_jwt__verify(KEY, sizeof(KEY), "a.b.c.d", 1500, &exp, NULL, 0), FV_JWT_BAD);
    assert_int_equal(fv_jwt__verify(KEY, sizeof(KEY), "", 1500, &exp, NULL, 0), FV_JWT_BAD);
    assert_int_equal(fv_jwt__verify(KEY, sizeof(KEY), NULL, 1500, &exp, NULL, 0), FV_JWT_BAD);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_tampered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
