/* JWKS documents: jwt__jwks_parse on arbitrary bytes, then a lookup through
 * jwt__verify (a structurally valid token whose kid the document may hold). */
#include "fuzz_util.h"

#include "core/log.h"
#include "graph/jwt.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    struct jwks *set = jwt__jwks_parse((const char *)data, size, err, sizeof(err));
    if (!set) {
        FUZZ_ASSERT(memchr(err, 0, sizeof(err)) != NULL);
        return 0;
    }
    FUZZ_ASSERT(jwt__jwks_count(set) >= 1 && jwt__jwks_count(set) <= JWKS_MAX_KEYS);
    /* {"alg":"RS256","kid":"k1"} . {} . 256 bytes of signature */
    static const char tok[] =
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30."
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    static const char *const tenants[] = {"t"};
    struct jwt_expect x = {"aud", tenants, 1, NULL, 1795687200, -1, NULL, 0};
    struct jwt_claims c;
    FUZZ_ASSERT(jwt__verify(set, tok, &x, &c) != JWT_OK);
    struct jwks *ref = jwt__jwks_ref(set);
    jwt__jwks_release(ref);
    jwt__jwks_release(set);
    return 0;
}
