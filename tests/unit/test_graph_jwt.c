/* Graph validationTokens (graph/jwt.h): tokens signed here with generated
 * keys, checked against a JWKS built from the same keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/core_names.h>

#include "graph/jwt.h"
#include "test_graph_util.h"

#define CLIENT_ID "11111111-2222-3333-4444-555555555555"
#define TENANT    "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define TENANT2   "99999999-bbbb-cccc-dddd-eeeeeeeeeeee"
#define NOW       1795687200

static struct {
    EVP_PKEY *k1, *k2, *k_other;
    struct jwks *set; /* k1 as "kid-1", k2 as "kid-2" */
} fx;

static char *jwk_of(EVP_PKEY *k, const char *kid, const char *extra)
{
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
    unsigned char nb[512], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = tu_b64url(nb, (size_t)nl), *e64 = tu_b64url(eb, (size_t)el);
    char *out = malloc(2048);
    snprintf(out, 2048,
             "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"%s\",\"x5t\":\"%s\",\"n\":\"%s\","
             "\"e\":\"%s\"%s}",
             kid, kid, n64, e64, extra ? extra : "");
    free(n64);
    free(e64);
    BN_free(n);
    BN_free(e);
    return out;
}

/* header.payload.signature; key NULL leaves the signature empty. */
static char *make_token(const char *header, const char *payload, EVP_PKEY *key)
{
    char *h = tu_b64url((const unsigned char *)header, strlen(header));
    char *p = tu_b64url((const unsigned char *)payload, strlen(payload));
    size_t cap = strlen(h) + strlen(p) + 1024;
    char *tok = malloc(cap);
    snprintf(tok, cap, "%s.%s.", h, p);
    if (key) {
        unsigned char sig[512];
        size_t siglen = sizeof(sig);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)tok, strlen(tok) - 1) != 1)
            abort();
        EVP_MD_CTX_free(ctx);
        char *s = tu_b64url(sig, siglen);
        strcat(tok, s);
        free(s);
    }
    free(h);
    free(p);
    return tok;
}

#define HDR1 "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5t\":\"kid-1\",\"kid\":\"kid-1\"}"

/* A claims set like Graph's, with overridable pieces. */
static char *claims(const char *aud, const char *iss, const char *appid_member, long exp, long nbf)
{
    char *out = malloc(1024);
    snprintf(out, 1024,
             "{\"aud\":%s,\"iss\":\"%s\",\"iat\":%ld,\"nbf\":%ld,\"exp\":%ld,"
             "\"aio\":\"x\",%s,\"appidacr\":\"2\",\"idp\":\"https://sts.windows.net/" TENANT
             "/\",\"tid\":\"" TENANT "\",\"ver\":\"1.0\"}",
             aud, iss, nbf, nbf, exp, appid_member);
    return out;
}

#define AUD_OK   "\"" CLIENT_ID "\""
#define ISS_OK   "https://sts.windows.net/" TENANT "/"
#define APPID_OK "\"appid\":\"" JWT_GRAPH_PUBLISHER_APPID "\""

static const char *const tenants[] = {TENANT2, TENANT};

static struct jwt_expect expect(void)
{
    struct jwt_expect x = {CLIENT_ID, tenants, 2, NULL, NOW, -1, NULL, 0};
    return x;
}

static enum jwt_result verify_claims(const char *header, const char *payload, EVP_PKEY *key,
                                     struct jwt_claims *c)
{
    char *tok = make_token(header, payload, key);
    struct jwt_expect x = expect();
    enum jwt_result r = jwt__verify(fx.set, tok, &x, c);
    free(tok);
    return r;
}

#define assert_jwt(got, want) assert_string_equal(jwt__result_name(got), jwt__result_name(want))

static int suite_setup(void **state)
{
    (void)state;
    fx.k1 = tu_rsa(2048);
    fx.k2 = tu_rsa(3072);
    fx.k_other = tu_rsa(2048);
    char *j1 = jwk_of(fx.k1, "kid-1", NULL);
    char *j2 =
        jwk_of(fx.k2, "kid-2", ",\"x5c\":[\"MIIB\"],\"issuer\":\"https://x/{tenantid}/v2.0\"");
    char *jenc = jwk_of(fx.k_other, "kid-enc", NULL);
    /* An encryption key must not be used to verify signatures. */
    char *p = strstr(jenc, "\"sig\"");
    memcpy(p, "\"enc\"", 5);
    char doc[8192];
    snprintf(doc, sizeof(doc),
             "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"ec-1\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":"
             "\"AA\"},%s,%s,%s,\"junk\"]}",
             j1, j2, jenc);
    char err[128];
    fx.set = jwt__jwks_parse(doc, strlen(doc), err, sizeof(err));
    free(j1);
    free(j2);
    free(jenc);
    return fx.set ? 0 : -1;
}

static int suite_teardown(void **state)
{
    (void)state;
    jwt__jwks_release(fx.set);
    EVP_PKEY_free(fx.k1);
    EVP_PKEY_free(fx.k2);
    EVP_PKEY_free(fx.k_other);
    return 0;
}

static void test_jwks_parse(void **state)
{
    (void)state;
    assert_int_equal(jwt__jwks_count(fx.set), 2); /* EC, enc and junk skipped */
    char err[128];
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":[]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"!!\",\"e\":\"AQAB\"}]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_null(jwt__jwks_parse(bad[i], strlen(bad[i]), err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
}

static void test_valid(void **state)
{
    (void)state;
    struct jwt_claims c;
    char *pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 3600, NOW - 60);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, &c), JWT_OK);
    assert_string_equal(c.tenant_id, TENANT);
    assert_string_equal(c.kid, "kid-1");
    assert_int_equal(c.exp, NOW + 3600);
    free(pl);

    /* Second key (3072 bits), aud as an array, azp instead of appid,
     * upper-case GUIDs. */
    pl = claims("[\"api://other\",\"" CLIENT_ID "\"]",
                "https://sts.windows.net/AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE/",
                "\"azp\":\"0BF30F3B-4A52-48DF-9A82-234910C4A086\"", NOW + 60, NOW);
    assert_jwt(verify_claims("{\"alg\":\"RS256\",\"kid\":\"kid-2\"}", pl, fx.k2, &c), JWT_OK);
    free(pl);
}

/* A v2 claim set as the identity platform writes one (docs/graph.md,
 * "Validation tokens"): v2.0 issuer, the publisher in azp, ver 2.0. */
static char *claims_v2(const char *iss, const char *publisher, const char *ver)
{
    char *out = malloc(1024);
    snprintf(out, 1024,
             "{\"aud\":\"" CLIENT_ID "\",\"iss\":\"%s\",\"iat\":%d,\"nbf\":%d,\"exp\":%d,"
             "\"aio\":\"x\",%s,\"azpacr\":\"2\",\"rh\":\"0.x\",\"tid\":\"" TENANT "\","
             "\"uti\":\"u\"%s%s%s}",
             iss, NOW, NOW, NOW + 3600, publisher, ver ? ",\"ver\":\"" : "", ver ? ver : "",
             ver ? "\"" : "");
    return out;
}

static void test_v2(void **state)
{
    (void)state;
    struct jwt_claims c;
    const char *iss = "https://login.microsoftonline.com/" TENANT "/v2.0";
    const char *azp = "\"azp\":\"" JWT_GRAPH_PUBLISHER_APPID "\"";
    char *pl = claims_v2(iss, azp, "2.0");
    assert_jwt(verify_claims(HDR1, pl, fx.k1, &c), JWT_OK);
    assert_int_equal(c.version, 2);
    assert_string_equal(c.tenant_id, TENANT);
    free(pl);
    /* without ver the issuer tells the version */
    pl = claims_v2(iss, azp, NULL);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, &c), JWT_OK);
    assert_int_equal(c.version, 2);
    free(pl);
    /* another app in azp, even with the publisher in a stray appid */
    pl = claims_v2(iss, "\"azp\":\"" CLIENT_ID "\",\"appid\":\"" JWT_GRAPH_PUBLISHER_APPID "\"",
                   "2.0");
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_WRONG_APPID);
    free(pl);
    /* a v2 token that names the publisher only in appid is read too */
    pl = claims_v2(iss, APPID_OK, "2.0");
    assert_jwt(verify_claims(HDR1, pl, fx.k1, &c), JWT_OK);
    free(pl);
    /* the v1 form reports version 1 */
    pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 60, NOW);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, &c), JWT_OK);
    assert_int_equal(c.version, 1);
    free(pl);
}

/* Issuer forms given by the caller (the tenant's OpenID configuration, e.g.
 * a national cloud) replace the defaults. */
static void test_issuer_forms(void **state)
{
    (void)state;
    const char *forms[] = {"https://login.microsoftonline.us/{tenantid}/v2.0"};
    struct jwt_expect x = expect();
    x.issuers = forms;
    x.n_issuers = 1;
    struct jwt_claims c;
    const char *azp = "\"azp\":\"" JWT_GRAPH_PUBLISHER_APPID "\"";
    char *pl = claims_v2("https://login.microsoftonline.us/" TENANT "/v2.0", azp, "2.0");
    char *tok = make_token(HDR1, pl, fx.k1);
    assert_jwt(jwt__verify(fx.set, tok, &x, &c), JWT_OK);
    free(tok);
    /* the same token is not accepted with the defaults (and vice versa) */
    struct jwt_expect d = expect();
    tok = make_token(HDR1, pl, fx.k1);
    assert_jwt(jwt__verify(fx.set, tok, &d, NULL), JWT_WRONG_ISSUER);
    free(tok);
    free(pl);
    pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 60, NOW);
    tok = make_token(HDR1, pl, fx.k1);
    assert_jwt(jwt__verify(fx.set, tok, &x, NULL), JWT_WRONG_ISSUER);
    free(tok);
    free(pl);
}

static void test_times(void **state)
{
    (void)state;
    char *pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW - 1000, NOW - 5000);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_EXPIRED);
    free(pl);
    /* Within the 5 min skew either way. */
    pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW - 100, NOW - 5000);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_OK);
    free(pl);
    pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 7200, NOW + 200);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_OK);
    free(pl);
    pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 7200, NOW + 1000);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_NOT_YET_VALID);
    free(pl);
    /* Missing exp, or a silly value, is malformed. */
    assert_jwt(verify_claims(HDR1, "{\"aud\":" AUD_OK ",\"iss\":\"" ISS_OK "\"," APPID_OK "}",
                             fx.k1, NULL),
               JWT_MALFORMED);
    assert_jwt(verify_claims(
                   HDR1, "{\"exp\":1e300,\"aud\":" AUD_OK ",\"iss\":\"" ISS_OK "\"," APPID_OK "}",
                   fx.k1, NULL),
               JWT_MALFORMED);
    assert_jwt(verify_claims(HDR1,
                             "{\"exp\":\"soon\",\"aud\":" AUD_OK ",\"iss\":\"" ISS_OK "\"," APPID_OK
                             "}",
                             fx.k1, NULL),
               JWT_MALFORMED);
}

static void test_wrong_claims(void **state)
{
    (void)state;
    char *pl = claims("\"22222222-2222-3333-4444-555555555555\"", ISS_OK, APPID_OK, NOW + 60, NOW);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_WRONG_AUDIENCE);
    free(pl);
    pl = claims("[]", ISS_OK, APPID_OK, NOW + 60, NOW);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_WRONG_AUDIENCE);
    free(pl);

    const char *bad_iss[] = {
        "https://sts.windows.net/00000000-bbbb-cccc-dddd-eeeeeeeeeeee/", /* tenant not ours */
        "https://sts.windows.net/" TENANT,                               /* no trailing / */
        "https://evil.example/" TENANT "/",
        "https://evil.example/" TENANT "/v2.0",
        "https://login.microsoftonline.com/" TENANT "/v2.0/",
        "https://login.microsoftonline.com/" TENANT,
        "https://login.microsoftonline.com/" TENANT "/v2.0x",
        "https://login.microsoftonline.com/00000000-bbbb-cccc-dddd-eeeeeeeeeeee/v2.0",
        "https://sts.windows.net/" TENANT "/x/",
        "https://sts.windows.net//",
        "https://sts.windows.net/{tenantid}/",
    };
    for (size_t i = 0; i < sizeof(bad_iss) / sizeof(bad_iss[0]); i++) {
        pl = claims(AUD_OK, bad_iss[i], APPID_OK, NOW + 60, NOW);
        assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_WRONG_ISSUER);
        free(pl);
    }

    pl = claims(AUD_OK, ISS_OK, "\"appid\":\"" CLIENT_ID "\"", NOW + 60, NOW);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_WRONG_APPID);
    free(pl);
    pl = claims(AUD_OK, ISS_OK, "\"other\":1", NOW + 60, NOW);
    assert_jwt(verify_claims(HDR1, pl, fx.k1, NULL), JWT_WRONG_APPID);
    free(pl);
}

static void test_keys_and_signature(void **state)
{
    (void)state;
    char *pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 60, NOW);
    /* Unknown kid: the caller refreshes the JWKS. */
    assert_jwt(verify_claims("{\"alg\":\"RS256\",\"kid\":\"kid-9\"}", pl, fx.k1, NULL),
               JWT_UNKNOWN_KID);
    /* The encryption-only key was not loaded. */
    assert_jwt(verify_claims("{\"alg\":\"RS256\",\"kid\":\"kid-enc\"}", pl, fx.k_other, NULL),
               JWT_UNKNOWN_KID);
    /* Signed by a stranger under a known kid. */
    assert_jwt(verify_claims(HDR1, pl, fx.k_other, NULL), JWT_BAD_SIGNATURE);
    /* kid-2's key under kid-1. */
    assert_jwt(verify_claims(HDR1, pl, fx.k2, NULL), JWT_BAD_SIGNATURE);

    /* Tampered payload: a valid token's signature on another payload. */
    char *good = make_token(HDR1, pl, fx.k1);
    char *pl2 = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 999999, NOW);
    char *evil = make_token(HDR1, pl2, NULL);
    const char *sig = strrchr(good, '.') + 1;
    char *forged = malloc(strlen(evil) + strlen(sig) + 1);
    strcpy(forged, evil);
    strcat(forged, sig);
    struct jwt_expect x = expect();
    assert_jwt(jwt__verify(fx.set, good, &x, NULL), JWT_OK);
    assert_jwt(jwt__verify(fx.set, forged, &x, NULL), JWT_BAD_SIGNATURE);
    /* Flip one character of the signature. */
    char *flip = strdup(good);
    char *s = strrchr(flip, '.') + 10;
    *s = *s == 'A' ? 'B' : 'A';
    assert_jwt(jwt__verify(fx.set, flip, &x, NULL), JWT_BAD_SIGNATURE);
    /* No key set at all: every kid is unknown. */
    assert_jwt(jwt__verify(NULL, good, &x, NULL), JWT_UNKNOWN_KID);
    free(flip);
    free(forged);
    free(evil);
    free(good);
    free(pl2);
    free(pl);
}

static void test_malformed(void **state)
{
    (void)state;
    char *pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 60, NOW);
    /* alg none, with or without a signature */
    assert_jwt(verify_claims("{\"alg\":\"none\",\"kid\":\"kid-1\"}", pl, NULL, NULL),
               JWT_MALFORMED);
    assert_jwt(verify_claims("{\"alg\":\"none\",\"kid\":\"kid-1\"}", pl, fx.k1, NULL),
               JWT_MALFORMED);
    assert_jwt(verify_claims("{\"alg\":\"HS256\",\"kid\":\"kid-1\"}", pl, fx.k1, NULL),
               JWT_MALFORMED);
    assert_jwt(verify_claims("{\"alg\":\"RS256\"}", pl, fx.k1, NULL), JWT_MALFORMED);
    assert_jwt(
        verify_claims("{\"alg\":\"RS256\",\"kid\":\"kid-1\",\"crit\":[\"b64\"]}", pl, fx.k1, NULL),
        JWT_MALFORMED);
    assert_jwt(verify_claims("[1]", pl, fx.k1, NULL), JWT_MALFORMED);
    assert_jwt(verify_claims(HDR1, "[\"not an object\"]", fx.k1, NULL), JWT_MALFORMED);
    assert_jwt(verify_claims(HDR1, "not json", fx.k1, NULL), JWT_MALFORMED);
    /* Properly signed RS256 with no signature bytes. */
    assert_jwt(verify_claims(HDR1, pl, NULL, NULL), JWT_MALFORMED);

    struct jwt_expect x = expect();
    char *good = make_token(HDR1, pl, fx.k1);
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", ".b.c", "a..c", "a.b."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_jwt(jwt__verify(fx.set, bad[i], &x, NULL), JWT_MALFORMED);
    assert_jwt(jwt__verify(fx.set, NULL, &x, NULL), JWT_MALFORMED);
    /* Padding and the standard alphabet are not base64url. */
    char *padded = malloc(strlen(good) + 2);
    const char *d = strchr(good, '.');
    sprintf(padded, "%.*s=%s", (int)(d - good), good, d);
    assert_jwt(jwt__verify(fx.set, padded, &x, NULL), JWT_MALFORMED);
    char *plus = strdup(good);
    plus[2] = '+';
    assert_jwt(jwt__verify(fx.set, plus, &x, NULL), JWT_MALFORMED);
    /* Over the length cap. */
    char *huge = malloc(JWT_MAX_TOKEN_LEN + 10);
    memset(huge, 'A', JWT_MAX_TOKEN_LEN + 9);
    huge[JWT_MAX_TOKEN_LEN + 9] = '\0';
    huge[10] = '.';
    huge[20] = '.';
    assert_jwt(jwt__verify(fx.set, huge, &x, NULL), JWT_MALFORMED);
    free(huge);
    free(plus);
    free(padded);
    free(good);
    free(pl);
}

static void test_cache(void **state)
{
    (void)state;
    struct jwks_cache *c = jwt__cache_new();
    assert_null(jwt__cache_get(c));
    assert_int_equal(jwt__cache_fetched_ms(c), 0);

    char *pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 60, NOW);
    char *tok = make_token(HDR1, pl, fx.k1);
    struct jwt_expect x = expect();

    jwt__cache_replace(c, jwt__jwks_ref(fx.set), 1000);
    struct jwks *borrowed = jwt__cache_get(c);
    assert_ptr_equal(borrowed, fx.set);
    assert_int_equal(jwt__cache_fetched_ms(c), 1000);

    /* A refresh that only has kid-2: the borrowed old set stays usable. */
    char *j2 = jwk_of(fx.k2, "kid-2", NULL);
    char doc[4096];
    snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", j2);
    struct jwks *fresh = jwt__jwks_parse(doc, strlen(doc), NULL, 0);
    assert_non_null(fresh);
    jwt__cache_replace(c, fresh, 2000);
    assert_jwt(jwt__verify(borrowed, tok, &x, NULL), JWT_OK);
    jwt__jwks_release(borrowed);
    struct jwks *now = jwt__cache_get(c);
    assert_ptr_equal(now, fresh);
    assert_jwt(jwt__verify(now, tok, &x, NULL), JWT_UNKNOWN_KID);
    jwt__jwks_release(now);
    free(j2);
    free(tok);
    free(pl);
    jwt__cache_free(c);
    /* fx.set still alive: the suite holds its own reference. */
    assert_int_equal(jwt__jwks_count(fx.set), 2);
}

/* Verified tokens are remembered per key set, and a remembered token is
 * still held to its times and to what is expected of it. */
static void test_verified_cache(void **state)
{
    (void)state;
    char *j1 = jwk_of(fx.k1, "kid-1", NULL);
    char doc[4096];
    snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", j1);
    struct jwks *set = jwt__jwks_parse(doc, strlen(doc), NULL, 0);
    assert_non_null(set);
    char *pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 600, NOW - 60);
    char *tok = make_token(HDR1, pl, fx.k1);
    struct jwt_expect x = expect();
    struct jwt_claims c;

    assert_jwt(jwt__verify(set, tok, &x, &c), JWT_OK);
    assert_int_equal(jwt__jwks_verified_hits(set), 0);
    memset(&c, 0, sizeof(c));
    assert_jwt(jwt__verify(set, tok, &x, &c), JWT_OK);
    assert_int_equal(jwt__jwks_verified_hits(set), 1);
    assert_string_equal(c.kid, "kid-1");
    assert_string_equal(c.tenant_id, TENANT);
    assert_int_equal(c.exp, NOW + 600);

    /* from the cache, and still expired / not yet valid */
    x.now_s = NOW + 600 + JWT_DEFAULT_SKEW_S + 1;
    assert_jwt(jwt__verify(set, tok, &x, NULL), JWT_EXPIRED);
    x.now_s = NOW - 60 - JWT_DEFAULT_SKEW_S - 1;
    assert_jwt(jwt__verify(set, tok, &x, NULL), JWT_NOT_YET_VALID);
    x.skew_s = 0;
    x.now_s = NOW + 601;
    assert_jwt(jwt__verify(set, tok, &x, NULL), JWT_EXPIRED);
    assert_int_equal(jwt__jwks_verified_hits(set), 4);

    /* other expectations: checked in full, not answered from the cache */
    x = expect();
    x.audience = "api://someone-else";
    assert_jwt(jwt__verify(set, tok, &x, NULL), JWT_WRONG_AUDIENCE);
    x = expect();
    x.n_tenants = 1; /* TENANT2 only */
    assert_jwt(jwt__verify(set, tok, &x, NULL), JWT_WRONG_ISSUER);
    x = expect();
    x.appid = "22222222-0000-0000-0000-000000000000";
    assert_jwt(jwt__verify(set, tok, &x, NULL), JWT_WRONG_APPID);
    assert_int_equal(jwt__jwks_verified_hits(set), 4);

    /* a token differing in one signature character is checked in full */
    x = expect();
    char *bad = strdup(tok);
    size_t at = strlen(bad) - 20;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    assert_jwt(jwt__verify(set, bad, &x, NULL), JWT_BAD_SIGNATURE);
    assert_jwt(jwt__verify(set, bad, &x, NULL), JWT_BAD_SIGNATURE);
    /* a rejected token is not remembered */
    char *old_pl = claims(AUD_OK, ISS_OK, APPID_OK, NOW - 1000, NOW - 5000);
    char *old = make_token(HDR1, old_pl, fx.k1);
    assert_jwt(jwt__verify(set, old, &x, NULL), JWT_EXPIRED);
    assert_jwt(jwt__verify(set, old, &x, NULL), JWT_EXPIRED);
    assert_int_equal(jwt__jwks_verified_hits(set), 4);

    /* more tokens than the cache holds: the least recently used drop out,
     * and every token still verifies */
    for (int i = 0; i < JWT_VERIFIED_CACHE_SIZE + 4; i++) {
        char *p = claims(AUD_OK, ISS_OK, APPID_OK, NOW + 700 + i, NOW - 60);
        char *t = make_token(HDR1, p, fx.k1);
        assert_jwt(jwt__verify(set, t, &x, NULL), JWT_OK);
        free(t);
        free(p);
    }
    size_t hits = jwt__jwks_verified_hits(set);
    assert_jwt(jwt__verify(set, tok, &x, NULL), JWT_OK);
    assert_int_equal(jwt__jwks_verified_hits(set), hits); /* was evicted */
    assert_jwt(jwt__verify(set, tok, &x, NULL), JWT_OK);
    assert_int_equal(jwt__jwks_verified_hits(set), hits + 1);

    /* a new key set (a JWKS refresh) remembers nothing */
    struct jwks *fresh = jwt__jwks_parse(doc, strlen(doc), NULL, 0);
    assert_non_null(fresh);
    assert_jwt(jwt__verify(fresh, tok, &x, NULL), JWT_OK);
    assert_int_equal(jwt__jwks_verified_hits(fresh), 0);
    jwt__jwks_release(fresh);

    free(old);
    free(old_pl);
    free(bad);
    free(tok);
    free(pl);
    free(j1);
    jwt__jwks_release(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwks_parse),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_wrong_claims),
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_issuer_forms),
        cmocka_unit_test(test_keys_and_signature),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_verified_cache),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
