/* The one base64 / base64url codec (connector/core/b64.c): RFC 4648 test
 * vectors, strictness (alphabet, padding, length), the exact byte count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/b64.h"

static void assert_decodes(int (*dec)(const char *, size_t, unsigned char **, size_t *),
                           const char *in, const char *want)
{
    unsigned char *out = NULL;
    size_t n = 0;
    if (dec(in, strlen(in), &out, &n) != 0)
        fail_msg("'%s' refused", in);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], '\0');
    free(out);
}

static void assert_refused(int (*dec)(const char *, size_t, unsigned char **, size_t *),
                           const char *in)
{
    unsigned char *out = (unsigned char *)"x";
    size_t n = 1;
    if (dec(in, strlen(in), &out, &n) != -1)
        fail_msg("'%s' accepted", in);
    assert_null(out);
    assert_int_equal(n, 0);
}

/* RFC 4648 section 10 */
static void test_rfc4648_vectors(void **state)
{
    (void)state;
    const char *plain[] = {"f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *std[] = {"Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char *url[] = {"Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 6; i++) {
        char *e = b64__encode((const unsigned char *)plain[i], strlen(plain[i]));
        assert_string_equal(e, std[i]);
        free(e);
        e = b64__encode_url((const unsigned char *)plain[i], strlen(plain[i]));
        assert_string_equal(e, url[i]);
        free(e);
        assert_decodes(b64__decode, std[i], plain[i]);
        assert_decodes(b64__decode_url, url[i], plain[i]);
    }
}

static void test_alphabets(void **state)
{
    (void)state;
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *e = b64__encode(bytes, 3);
    assert_string_equal(e, "+/+/");
    free(e);
    e = b64__encode_url(bytes, 3);
    assert_string_equal(e, "-_-_");
    free(e);
    assert_decodes(b64__decode, "+/+/", "\xfb\xff\xbf");
    assert_decodes(b64__decode_url, "-_-_", "\xfb\xff\xbf");
    assert_refused(b64__decode, "-_-_");     /* url alphabet in standard */
    assert_refused(b64__decode_url, "+/+/"); /* standard alphabet in url */
}

static void test_strict(void **state)
{
    (void)state;
    assert_refused(b64__decode, "");
    assert_refused(b64__decode, "Zg");    /* standard needs padding */
    assert_refused(b64__decode, "Zg=");   /* length not a multiple of 4 */
    assert_refused(b64__decode, "Z===");  /* three pads */
    assert_refused(b64__decode, "Zm 9v"); /* whitespace */
    assert_refused(b64__decode, "Zm9v\n");
    assert_refused(b64__decode, "Zm=v"); /* padding inside */
    assert_refused(b64__decode_url, "");
    assert_refused(b64__decode_url, "Z");     /* 1 mod 4 is never valid */
    assert_refused(b64__decode_url, "Zg==");  /* url has no padding */
    assert_refused(b64__decode_url, "Zm9v*"); /* outside the alphabet */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_alphabets),
        cmocka_unit_test(test_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
