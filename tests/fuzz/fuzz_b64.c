/* The strict base64/base64url wrappers of core/b64.c (every encryptedContent blob
 * and JWT segment goes through them). Properties: decode(encode(x)) == x for
 * both alphabets; a decoded buffer is NUL-terminated at its length. */
#include "fuzz_util.h"

#include "core/b64.h"

static void check_roundtrip(const uint8_t *data, size_t size, bool url)
{
    if (!size)
        return;
    char *enc = url ? b64__encode_url(data, size) : b64__encode(data, size);
    FUZZ_ASSERT(enc != NULL);
    unsigned char *dec = NULL;
    size_t n = 0;
    int rc =
        url ? b64__decode_url(enc, strlen(enc), &dec, &n) : b64__decode(enc, strlen(enc), &dec, &n);
    FUZZ_ASSERT(rc == 0 && n == size && !memcmp(dec, data, size) && dec[n] == 0);
    free(dec);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *dec = NULL;
    size_t n = 0;
    if (b64__decode((const char *)data, size, &dec, &n) == 0) {
        FUZZ_ASSERT(dec[n] == 0 && n <= size);
        free(dec);
    }
    dec = NULL;
    if (b64__decode_url((const char *)data, size, &dec, &n) == 0) {
        FUZZ_ASSERT(dec[n] == 0 && n <= size);
        free(dec);
    }
    check_roundtrip(data, size, false);
    check_roundtrip(data, size, true);
    return 0;
}
