/* Topic-id codec (docs/topics.md "User ids in topics"). Properties, trapped on violation:
 *   decode(encode(x)) == lower(x) for every address 1..IDS_MAX_ADDRESS bytes;
 *   encode(decode(id)) == id for every id decode accepts (canonical);
 *   encoded ids hold only [a-z0-9._@-] and %XX with upper-case hex;
 *   neither writes past outlen (exact-size heap buffers from byte 0).
 *
 *   byte 0  a buffer size for the tight-buffer checks
 *   rest    the string (up to the first NUL) used as address and as id */
#include "fuzz_util.h"

#include "core/ids.h"

static void check_encode(const char *addr, size_t tight)
{
    char enc[IDS_MAX_ID], dec[IDS_MAX_ADDRESS + 1];
    size_t len = strlen(addr);
    int rc = ids__encode(addr, enc, sizeof(enc));
    FUZZ_ASSERT((rc == 0) == (len >= 1 && len <= IDS_MAX_ADDRESS));
    if (rc != 0)
        return;
    for (const char *p = enc; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                     c == '@' || c == '-';
        if (c == '%') {
            FUZZ_ASSERT(strchr("0123456789ABCDEF", p[1]) && p[1] &&
                        strchr("0123456789ABCDEF", p[2]) && p[2]);
            p += 2;
        }
        else {
            FUZZ_ASSERT(plain);
        }
    }
    FUZZ_ASSERT(ids__decode(enc, dec, sizeof(dec)) == 0);
    FUZZ_ASSERT(strlen(dec) == len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)addr[i];
        unsigned char want = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
        FUZZ_ASSERT((unsigned char)dec[i] == want);
    }
    /* a tight buffer either holds the whole id or is refused untouched past its end */
    char *t = malloc(tight ? tight : 1);
    if (!t)
        abort();
    rc = ids__encode(addr, t, tight);
    FUZZ_ASSERT(rc != 0 || (tight > strlen(enc) && !strcmp(t, enc)));
    free(t);
}

static void check_decode(const char *id, size_t tight)
{
    char dec[IDS_MAX_ADDRESS + 1], enc[IDS_MAX_ID];
    if (ids__decode(id, dec, sizeof(dec)) == 0) {
        FUZZ_ASSERT(ids__encode(dec, enc, sizeof(enc)) == 0);
        FUZZ_ASSERT(!strcmp(enc, id));
    }
    char *t = malloc(tight ? tight : 1);
    if (!t)
        abort();
    if (ids__decode(id, t, tight) == 0)
        FUZZ_ASSERT(strlen(t) < tight);
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t tight = fu_byte(&data, &size) * 4;
    char *s = fu_str(data, size);
    check_encode(s, tight);
    check_decode(s, tight);
    free(s);
    return 0;
}
