/* RS256 JWT verification against a JWKS for Graph validationTokens. */
#include "graph/jwt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/clock.h"
#include "core/b64.h"
#include "core/json.h"
#include "graph/oidc.h"

#define JWT_MIN_RSA_BITS 2048

struct jwks_key {
    char kid[128];
    EVP_PKEY *pkey;
};

/* Tokens this key set has verified (see jwt.h): SHA-256 over the token and
 * what was expected of it, with the times to check again on every use. */
struct jwt_verified {
    unsigned char hash[32];
    uint64_t used; /* 0: empty slot; else a use stamp, oldest is replaced */
    int64_t exp, nbf;
    bool has_nbf;
    char kid[128];
    char tenant_id[128];
    int version;
};

struct jwt_verified_cache {
    pthread_mutex_t mu;
    uint64_t stamp;
    size_t hits;
    struct jwt_verified e[JWT_VERIFIED_CACHE_SIZE];
};

struct jwks {
    atomic_int refs;
    size_t n;
    struct jwks_key keys[JWKS_MAX_KEYS];
    struct jwt_verified_cache *verified; /* NULL: no caching (out of memory) */
};

/* SHA-256, fetched once: EVP_sha256() fetches on every use in OpenSSL 3. */
static EVP_MD *jwt_sha256_fetched;
static pthread_once_t jwt_sha256_once = PTHREAD_ONCE_INIT;

static void jwt__sha256_init(void)
{
    jwt_sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
    ERR_clear_error();
}

static const EVP_MD *jwt__sha256(void)
{
    pthread_once(&jwt_sha256_once, jwt__sha256_init);
    return jwt_sha256_fetched ? jwt_sha256_fetched : EVP_sha256();
}

struct jwks_cache {
    pthread_mutex_t mu;
    struct jwks *cur;
    int64_t fetched_ms;
};

static void jwt__err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* Big-endian unsigned integer from a base64url JWK member. */
static BIGNUM *jwt__bn(const cJSON *jwk, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwk, name);
    if (!cJSON_IsString(v) || !v->valuestring)
        return NULL;
    unsigned char *bin = NULL;
    size_t len = 0;
    if (b64__decode_url(v->valuestring, strlen(v->valuestring), &bin, &len) != 0)
        return NULL;
    BIGNUM *bn = BN_bin2bn(bin, (int)len, NULL);
    free(bin);
    return bn;
}

static EVP_PKEY *jwt__rsa_from_jwk(const cJSON *jwk)
{
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = jwt__bn(jwk, "n");
    BIGNUM *e = jwt__bn(jwk, "e");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (!n || !e || !bld || BN_is_zero(e) || BN_num_bits(n) < JWT_MIN_RSA_BITS)
        goto out;
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    ERR_clear_error();
    return pkey;
}

/* Adds one JWK when it is a usable RSA signing key; skips it otherwise. */
static void jwt__add_jwk(struct jwks *set, const cJSON *jwk)
{
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(jwk, "use");
    if (!cJSON_IsString(kty) || strcmp(kty->valuestring, "RSA") != 0)
        return;
    if (!cJSON_IsString(kid) || !kid->valuestring[0] ||
        strlen(kid->valuestring) >= sizeof(set->keys[0].kid))
        return;
    if (use && (!cJSON_IsString(use) || strcmp(use->valuestring, "sig") != 0))
        return;
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->keys[i].kid, kid->valuestring) == 0)
            return; /* first one wins */
    }
    if (set->n == JWKS_MAX_KEYS)
        return;
    EVP_PKEY *pkey = jwt__rsa_from_jwk(jwk);
    if (!pkey)
        return;
    snprintf(set->keys[set->n].kid, sizeof(set->keys[0].kid), "%s", kid->valuestring);
    set->keys[set->n].pkey = pkey;
    set->n++;
}

struct jwks *jwt__jwks_parse(const char *json, size_t len, char *err, size_t errlen)
{
    if (!json || len == 0 || len > JWKS_MAX_DOC_LEN) {
        jwt__err(err, errlen, "JWKS document empty or too large");
        return NULL;
    }
    cJSON *root = json__parse(json, len);
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(keys)) {
        jwt__err(err, errlen, root ? "JWKS has no keys array" : "JWKS is not JSON");
        cJSON_Delete(root);
        return NULL;
    }
    struct jwks *set = calloc(1, sizeof(*set));
    if (!set) {
        cJSON_Delete(root);
        jwt__err(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&set->refs, 1);
    set->verified = calloc(1, sizeof(*set->verified));
    if (set->verified && pthread_mutex_init(&set->verified->mu, NULL) != 0) {
        free(set->verified);
        set->verified = NULL;
    }
    const cJSON *jwk;
    cJSON_ArrayForEach(jwk, keys)
    {
        if (cJSON_IsObject(jwk))
            jwt__add_jwk(set, jwk);
    }
    cJSON_Delete(root);
    if (set->n == 0) {
        jwt__err(err, errlen, "JWKS holds no usable RSA signing key");
        jwt__jwks_release(set);
        return NULL;
    }
    return set;
}

struct jwks *jwt__jwks_ref(struct jwks *set)
{
    if (set)
        atomic_fetch_add(&set->refs, 1);
    return set;
}

void jwt__jwks_release(struct jwks *set)
{
    if (!set || atomic_fetch_sub(&set->refs, 1) != 1)
        return;
    for (size_t i = 0; i < set->n; i++)
        EVP_PKEY_free(set->keys[i].pkey);
    if (set->verified) {
        pthread_mutex_destroy(&set->verified->mu);
        free(set->verified);
    }
    free(set);
}

size_t jwt__jwks_verified_hits(const struct jwks *set)
{
    if (!set || !set->verified)
        return 0;
    pthread_mutex_lock(&set->verified->mu);
    size_t n = set->verified->hits;
    pthread_mutex_unlock(&set->verified->mu);
    return n;
}

size_t jwt__jwks_count(const struct jwks *set)
{
    return set ? set->n : 0;
}

struct jwks_cache *jwt__cache_new(void)
{
    struct jwks_cache *c = calloc(1, sizeof(*c));
    if (c && pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void jwt__cache_free(struct jwks_cache *cache)
{
    if (!cache)
        return;
    jwt__jwks_release(cache->cur);
    pthread_mutex_destroy(&cache->mu);
    free(cache);
}

void jwt__cache_replace(struct jwks_cache *cache, struct jwks *set, int64_t fetched_ms)
{
    pthread_mutex_lock(&cache->mu);
    struct jwks *old = cache->cur;
    cache->cur = set;
    cache->fetched_ms = fetched_ms;
    pthread_mutex_unlock(&cache->mu);
    jwt__jwks_release(old);
}

struct jwks *jwt__cache_get(struct jwks_cache *cache)
{
    pthread_mutex_lock(&cache->mu);
    struct jwks *set = jwt__jwks_ref(cache->cur);
    pthread_mutex_unlock(&cache->mu);
    return set;
}

int64_t jwt__cache_fetched_ms(struct jwks_cache *cache)
{
    pthread_mutex_lock(&cache->mu);
    int64_t t = cache->fetched_ms;
    pthread_mutex_unlock(&cache->mu);
    return t;
}

static EVP_PKEY *jwt__find_key(const struct jwks *set, const char *kid)
{
    for (size_t i = 0; set && i < set->n; i++) {
        if (strcmp(set->keys[i].kid, kid) == 0)
            return set->keys[i].pkey;
    }
    return NULL;
}

/* base64url segment -> JSON object, or NULL. */
static cJSON *jwt__segment_json(const char *seg, size_t len)
{
    unsigned char *bin = NULL;
    size_t binlen = 0;
    if (b64__decode_url(seg, len, &bin, &binlen) != 0)
        return NULL;
    cJSON *obj = json__parse((const char *)bin, binlen);
    free(bin);
    if (obj && !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

static enum jwt_result jwt__check_signature(EVP_PKEY *pkey, const char *signed_part,
                                            size_t signed_len, const char *sig_b64, size_t sig_len)
{
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (b64__decode_url(sig_b64, sig_len, &sig, &siglen) != 0)
        return JWT_MALFORMED;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok =
        ctx && EVP_DigestVerifyInit(ctx, NULL, jwt__sha256(), NULL, pkey) == 1 &&
        EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)signed_part, signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    ERR_clear_error();
    return ok ? JWT_OK : JWT_BAD_SIGNATURE;
}

/* Header: RS256 only, kid required, no `crit` extensions we would ignore. */
static enum jwt_result jwt__check_header(const cJSON *hdr, const char **kid)
{
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256") != 0)
        return JWT_MALFORMED;
    if (!cJSON_IsString(k) || !k->valuestring[0])
        return JWT_MALFORMED;
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit"))
        return JWT_MALFORMED;
    *kid = k->valuestring;
    return JWT_OK;
}

/* NumericDate within a sane range (a cast of a huge double would be UB). */
static bool jwt__time(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0 && v->valuedouble < 1e13))
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

/* exp and nbf against the clock (also for a token found in the cache). */
static enum jwt_result jwt__times_ok(const struct jwt_expect *x, int64_t exp, bool has_nbf,
                                     int64_t nbf)
{
    int64_t now = x->now_s ? x->now_s : clock__wall_ms() / 1000;
    int64_t skew = x->skew_s < 0 ? JWT_DEFAULT_SKEW_S : x->skew_s;
    if (now > exp + skew)
        return JWT_EXPIRED;
    if (has_nbf && now + skew < nbf)
        return JWT_NOT_YET_VALID;
    return JWT_OK;
}

static enum jwt_result jwt__check_times(const cJSON *claims, const struct jwt_expect *x,
                                        struct jwt_claims *out, bool *has_nbf, int64_t *nbf_s)
{
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    *has_nbf = nbf != NULL;
    *nbf_s = 0;
    if (!jwt__time(exp, &out->exp) || (nbf && !jwt__time(nbf, nbf_s)))
        return JWT_MALFORMED;
    return jwt__times_ok(x, out->exp, *has_nbf, *nbf_s);
}

static bool jwt__aud_matches(const cJSON *aud, const char *want)
{
    if (cJSON_IsString(aud))
        return strcasecmp(aud->valuestring, want) == 0;
    const cJSON *a;
    if (cJSON_IsArray(aud)) {
        cJSON_ArrayForEach(a, aud)
        {
            if (cJSON_IsString(a) && strcasecmp(a->valuestring, want) == 0)
                return true;
        }
    }
    return false;
}

static const char *const jwt_default_issuers[] = {OIDC_ISSUER_V1, OIDC_ISSUER_V2};

/* iss == template with {tenantid} replaced by tenant (case-insensitive:
 * host names and GUIDs are). */
static bool jwt__issuer_is(const char *iss, const char *tmpl, const char *tenant)
{
    const char *slot = strstr(tmpl, OIDC_TENANT_SLOT);
    if (!slot)
        return false;
    size_t head = (size_t)(slot - tmpl), tlen = strlen(tenant);
    const char *tail = slot + strlen(OIDC_TENANT_SLOT);
    return strlen(iss) == head + tlen + strlen(tail) && strncasecmp(iss, tmpl, head) == 0 &&
           strncasecmp(iss + head, tenant, tlen) == 0 && strcasecmp(iss + head + tlen, tail) == 0;
}

static enum jwt_result jwt__check_issuer(const cJSON *claims, const struct jwt_expect *x,
                                         struct jwt_claims *out)
{
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
    if (!cJSON_IsString(iss))
        return JWT_WRONG_ISSUER;
    const char *const *forms = x->issuers ? x->issuers : jwt_default_issuers;
    size_t n_forms = x->issuers ? x->n_issuers : 2;
    for (size_t f = 0; f < n_forms; f++) {
        for (size_t i = 0; forms[f] && i < x->n_tenants; i++) {
            const char *t = x->tenant_ids[i];
            if (!t || !jwt__issuer_is(iss->valuestring, forms[f], t))
                continue;
            /* the configured spelling: GUIDs compare case-insensitively */
            snprintf(out->tenant_id, sizeof(out->tenant_id), "%s", t);
            size_t len = strlen(iss->valuestring);
            out->version = len >= 5 && !strcasecmp(iss->valuestring + len - 5, "/v2.0") ? 2 : 1;
            return JWT_OK;
        }
    }
    return JWT_WRONG_ISSUER;
}

/* The publisher: `appid` in v1 tokens, `azp` in v2; either is read, the
 * one of the token's version first. */
static enum jwt_result jwt__check_publisher(const cJSON *claims, const struct jwt_expect *x,
                                            struct jwt_claims *out)
{
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(claims, "ver");
    if (cJSON_IsString(ver) &&
        (!strcmp(ver->valuestring, "1.0") || !strcmp(ver->valuestring, "2.0")))
        out->version = ver->valuestring[0] - '0';
    const char *want = x->appid ? x->appid : JWT_GRAPH_PUBLISHER_APPID;
    const char *first = out->version == 2 ? "azp" : "appid";
    const char *second = out->version == 2 ? "appid" : "azp";
    const cJSON *appid = cJSON_GetObjectItemCaseSensitive(claims, first);
    if (!appid)
        appid = cJSON_GetObjectItemCaseSensitive(claims, second);
    if (!cJSON_IsString(appid) || strcasecmp(appid->valuestring, want) != 0)
        return JWT_WRONG_APPID;
    return JWT_OK;
}

static enum jwt_result jwt__check_claims(const cJSON *claims, const struct jwt_expect *x,
                                         struct jwt_claims *out, bool *has_nbf, int64_t *nbf_s)
{
    enum jwt_result rc = jwt__check_times(claims, x, out, has_nbf, nbf_s);
    if (rc != JWT_OK)
        return rc;
    if (!x->audience ||
        !jwt__aud_matches(cJSON_GetObjectItemCaseSensitive(claims, "aud"), x->audience))
        return JWT_WRONG_AUDIENCE;
    rc = jwt__check_issuer(claims, x, out);
    if (rc != JWT_OK)
        return rc;
    return jwt__check_publisher(claims, x, out);
}

/* The cache key: the token and everything expected of it except the time,
 * each followed by a NUL (which none of them contains), so no two different
 * (token, expectations) give the same input. */
static bool jwt__verified_key(const char *token, const struct jwt_expect *x, unsigned char hash[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const char *appid = x->appid ? x->appid : JWT_GRAPH_PUBLISHER_APPID;
    bool ok = ctx && EVP_DigestInit_ex(ctx, jwt__sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, token, strlen(token) + 1) == 1 &&
              EVP_DigestUpdate(ctx, x->audience ? x->audience : "",
                               x->audience ? strlen(x->audience) + 1 : 1) == 1 &&
              EVP_DigestUpdate(ctx, appid, strlen(appid) + 1) == 1;
    for (size_t i = 0; ok && i < x->n_tenants; i++) {
        const char *t = x->tenant_ids[i] ? x->tenant_ids[i] : "";
        ok = EVP_DigestUpdate(ctx, t, strlen(t) + 1) == 1;
    }
    /* a separator no issuer or tenant contains, then the issuer forms */
    ok = ok && EVP_DigestUpdate(ctx, "\n", 2) == 1;
    for (size_t i = 0; ok && x->issuers && i < x->n_issuers; i++) {
        const char *f = x->issuers[i] ? x->issuers[i] : "";
        ok = EVP_DigestUpdate(ctx, f, strlen(f) + 1) == 1;
    }
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, hash, &len) == 1 && len == 32;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* A token verified before with the same expectations: its claims into out,
 * and the time checks done again. Returns false when not cached. */
static bool jwt__verified_get(struct jwt_verified_cache *c, const unsigned char hash[32],
                              const struct jwt_expect *x, struct jwt_claims *out,
                              enum jwt_result *rc)
{
    bool found = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < JWT_VERIFIED_CACHE_SIZE; i++) {
        struct jwt_verified *e = &c->e[i];
        if (!e->used || memcmp(e->hash, hash, 32) != 0)
            continue;
        e->used = ++c->stamp;
        c->hits++;
        memcpy(out->kid, e->kid, sizeof(out->kid));
        memcpy(out->tenant_id, e->tenant_id, sizeof(out->tenant_id));
        out->exp = e->exp;
        out->version = e->version;
        *rc = jwt__times_ok(x, e->exp, e->has_nbf, e->nbf);
        found = true;
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

static void jwt__verified_put(struct jwt_verified_cache *c, const unsigned char hash[32],
                              const struct jwt_claims *claims, bool has_nbf, int64_t nbf)
{
    pthread_mutex_lock(&c->mu);
    struct jwt_verified *slot = &c->e[0];
    for (size_t i = 0; i < JWT_VERIFIED_CACHE_SIZE; i++) {
        struct jwt_verified *e = &c->e[i];
        if (e->used && memcmp(e->hash, hash, 32) == 0) {
            slot = e; /* another thread verified it meanwhile */
            break;
        }
        if (e->used < slot->used)
            slot = e; /* empty (0) or least recently used */
    }
    memcpy(slot->hash, hash, 32);
    slot->used = ++c->stamp;
    slot->exp = claims->exp;
    slot->has_nbf = has_nbf;
    slot->nbf = nbf;
    memcpy(slot->kid, claims->kid, sizeof(slot->kid));
    memcpy(slot->tenant_id, claims->tenant_id, sizeof(slot->tenant_id));
    slot->version = claims->version;
    pthread_mutex_unlock(&c->mu);
}

enum jwt_result jwt__verify(const struct jwks *set, const char *token,
                            const struct jwt_expect *expect, struct jwt_claims *claims)
{
    struct jwt_claims scratch;
    struct jwt_claims *out = claims ? claims : &scratch;
    memset(out, 0, sizeof(*out));
    if (!token || !expect || strnlen(token, JWT_MAX_TOKEN_LEN + 1) > JWT_MAX_TOKEN_LEN)
        return JWT_MALFORMED;
    unsigned char hash[32];
    bool cacheable = set && set->verified && jwt__verified_key(token, expect, hash);
    enum jwt_result cached;
    if (cacheable && jwt__verified_get(set->verified, hash, expect, out, &cached))
        return cached;
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.') || d1 == token || d2 == d1 + 1 || !d2[1])
        return JWT_MALFORMED;

    cJSON *hdr = jwt__segment_json(token, (size_t)(d1 - token));
    const char *kid = NULL;
    enum jwt_result rc = hdr ? jwt__check_header(hdr, &kid) : JWT_MALFORMED;
    EVP_PKEY *pkey = NULL;
    if (rc == JWT_OK) {
        snprintf(out->kid, sizeof(out->kid), "%s", kid);
        pkey = jwt__find_key(set, kid);
        if (!pkey)
            rc = JWT_UNKNOWN_KID;
    }
    cJSON_Delete(hdr);
    if (rc != JWT_OK)
        return rc;

    rc = jwt__check_signature(pkey, token, (size_t)(d2 - token), d2 + 1, strlen(d2 + 1));
    if (rc != JWT_OK)
        return rc;
    cJSON *payload = jwt__segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!payload)
        return JWT_MALFORMED;
    bool has_nbf = false;
    int64_t nbf_s = 0;
    rc = jwt__check_claims(payload, expect, out, &has_nbf, &nbf_s);
    cJSON_Delete(payload);
    if (rc == JWT_OK && cacheable)
        jwt__verified_put(set->verified, hash, out, has_nbf, nbf_s);
    return rc;
}

const char *jwt__result_name(enum jwt_result r)
{
    switch (r) {
    case JWT_OK:
        return "ok";
    case JWT_UNKNOWN_KID:
        return "unknown_kid";
    case JWT_BAD_SIGNATURE:
        return "bad_signature";
    case JWT_EXPIRED:
        return "expired";
    case JWT_NOT_YET_VALID:
        return "not_yet_valid";
    case JWT_WRONG_AUDIENCE:
        return "wrong_audience";
    case JWT_WRONG_ISSUER:
        return "wrong_issuer";
    case JWT_WRONG_APPID:
        return "wrong_appid";
    case JWT_MALFORMED:
        return "malformed";
    }
    return "unknown";
}
