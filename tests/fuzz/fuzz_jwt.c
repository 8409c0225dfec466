/* Graph validationTokens: jwt__verify against a JWKS made at init.
 * The signature is checked before any claim, so raw bytes only reach the
 * header and base64 handling; the signed mode reaches the claim checks:
 *
 *   byte 0  flags: bit 0 raw mode (the rest is the token verbatim),
 *           bit 1 sign with a key that is not in the JWKS (same kid),
 *           bit 2 flip one bit of the signature,
 *           bit 3 encode header and payload as padded standard base64
 *   rest    "header JSON\npayload JSON", both signed RS256 as they are
 *
 * Properties: a token whose signature is not the JWKS key's never verifies,
 * and a verified token names one of our tenants. */
#include "fuzz_util.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "core/log.h"
#include "graph/jwt.h"

#define CLIENT_ID "11111111-2222-3333-4444-555555555555"
#define TENANT    "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define TENANT2   "contoso.onmicrosoft.com"
#define NOW       1795687200 /* 2026-11-26T10:00:00Z, the seeds' iat */

static EVP_PKEY *k1, *k_other;
static struct jwks *set;
static const char *const tenants[] = {TENANT2, TENANT};

static char *jwk_of(EVP_PKEY *k, const char *kid)
{
    BIGNUM *n = NULL, *e = NULL;
    if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e))
        abort();
    unsigned char nb[512], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = fu_b64url(nb, (size_t)nl), *e64 = fu_b64url(eb, (size_t)el);
    char *out = malloc(2048);
    if (!out)
        abort();
    snprintf(out, 2048,
             "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}", kid, n64,
             e64);
    free(n64);
    free(e64);
    BN_free(n);
    BN_free(e);
    return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    k1 = EVP_RSA_gen(2048);
    k_other = EVP_RSA_gen(2048);
    if (!k1 || !k_other)
        abort();
    char *j1 = jwk_of(k1, "fuzz-kid");
    char doc[4096];
    snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", j1);
    free(j1);
    char err[128];
    if (!(set = jwt__jwks_parse(doc, strlen(doc), err, sizeof(err))))
        abort();
    return 0;
}

static char *segment(const char *s, bool std)
{
    return std ? fu_b64((const unsigned char *)s, strlen(s))
               : fu_b64url((const unsigned char *)s, strlen(s));
}

static char *make_token(const char *header, const char *payload, uint8_t flags)
{
    char *h = segment(header, flags & 8), *p = segment(payload, flags & 8);
    size_t cap = strlen(h) + strlen(p) + 1024;
    char *tok = malloc(cap);
    if (!tok)
        abort();
    snprintf(tok, cap, "%s.%s.", h, p);
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, flags & 2 ? k_other : k1) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)tok, strlen(tok) - 1) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    if (flags & 4)
        sig[siglen / 2] ^= 0x10;
    char *s = fu_b64url(sig, siglen);
    strcat(tok, s);
    free(s);
    free(h);
    free(p);
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t flags = fu_byte(&data, &size);
    char *in = fu_str(data, size), *tok;
    if (flags & 1) {
        tok = in;
        in = NULL;
    }
    else {
        char *parts[2];
        fu_split(in, '\n', parts, 2);
        tok = make_token(parts[0], parts[1], flags);
    }
    struct jwt_expect x = {CLIENT_ID, tenants, 2, NULL, NOW, -1, NULL, 0};
    struct jwt_claims c;
    memset(&c, 0x5a, sizeof(c));
    enum jwt_result r = jwt__verify(set, tok, &x, &c);
    FUZZ_ASSERT(jwt__result_name(r) != NULL);
    if (getenv("PS_FUZZ_DEBUG")) /* which branch a seed reaches */
        fprintf(stderr, "result %s\n", jwt__result_name(r));
    if (!(flags & 1) && (flags & 6))
        FUZZ_ASSERT(r != JWT_OK);
    if (r == JWT_OK) {
        FUZZ_ASSERT(memchr(c.tenant_id, 0, sizeof(c.tenant_id)) != NULL);
        FUZZ_ASSERT(!strcmp(c.tenant_id, TENANT) || !strcmp(c.tenant_id, TENANT2));
    }
    free(tok);
    free(in);
    return 0;
}
