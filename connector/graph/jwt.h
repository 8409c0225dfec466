/* Verification of Graph `validationTokens` (docs/graph.md "Tenant id and
 * signing keys").
 *
 * Design: a JWKS document is parsed once into an immutable, reference-counted
 * `struct jwks` of RSA public keys (EVP_PKEYs built from n/e with
 * EVP_PKEY_fromdata). Verification threads borrow a reference from a
 * `struct jwks_cache`; whoever refreshes the keys (after `JWT_UNKNOWN_KID`, or
 * on a timer, since Microsoft rotates roughly daily) parses a new document and
 * swaps it in with jwt__cache_replace. The old set is freed when its last
 * borrower releases it, so a swap never blocks or breaks a verification in
 * progress. No network here: fetching the document is the caller's job.
 *
 * jwt__verify accepts only RS256 compact JWS (so `alg: none` and HMAC
 * confusion are rejected as malformed), checks the signature before looking
 * at any claim, then exp/nbf with a clock skew allowance, aud (string or
 * array) == our client id, iss == one of the accepted issuer forms for a
 * tenant we serve (v1 `https://sts.windows.net/{tid}/`, v2
 * `https://login.microsoftonline.com/{tid}/v2.0`, or what the tenant's
 * OpenID configuration names), and the publisher (v1: appid, v2: azp; either
 * claim is read) == the Graph change-notification publisher
 * (docs/graph.md, "Validation tokens").
 *
 * Verified tokens are remembered per key set: Graph sends the same
 * validationTokens with every POST for about an hour, and an RS256 check per
 * POST was a measurable share of the ingest cost (docs/performance.md §2).
 * The cache is keyed by SHA-256 over the exact token and the expectations
 * (audience, tenants, appid), holds only tokens that passed every check, and
 * checks exp/nbf again on every hit, so an expired token is still rejected.
 * A new key set (jwt__cache_replace) starts with an empty cache.
 */
#ifndef PS_GRAPH_JWT_H
#define PS_GRAPH_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_GRAPH_PUBLISHER_APPID "0bf30f3b-4a52-48df-9a82-234910c4a086"
#define JWT_DEFAULT_SKEW_S        300
#define JWT_MAX_TOKEN_LEN         16384
#define JWKS_MAX_KEYS             64
#define JWKS_MAX_DOC_LEN          (1024 * 1024)
#define JWT_VERIFIED_CACHE_SIZE   32 /* tokens remembered per key set */

enum jwt_result {
    JWT_OK = 0,
    JWT_UNKNOWN_KID, /* refresh the JWKS once, then verify again */
    JWT_BAD_SIGNATURE,
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,
    JWT_WRONG_AUDIENCE,
    JWT_WRONG_ISSUER,
    JWT_WRONG_APPID,
    JWT_MALFORMED,
};

struct jwks;

/* Parses `{"keys":[{"kty":"RSA","kid":"..","n":"..","e":"..",...}]}`. Keys
 * that are not RSA, are marked `"use"` other than "sig", lack kid/n/e, or are
 * smaller than 2048 bits are skipped (a JWKS may carry other key types); a
 * document with no usable key is an error. Returns a set with one reference,
 * or NULL with a reason in err. */
struct jwks *jwt__jwks_parse(const char *json, size_t len, char *err, size_t errlen);
/* Takes / drops a reference; the set is freed with its last reference. */
struct jwks *jwt__jwks_ref(struct jwks *set);
void jwt__jwks_release(struct jwks *set);
size_t jwt__jwks_count(const struct jwks *set);
/* How many jwt__verify calls this set answered from its cache (for tests). */
size_t jwt__jwks_verified_hits(const struct jwks *set);

/* The current key set, swapped atomically under a mutex. */
struct jwks_cache;
struct jwks_cache *jwt__cache_new(void);
void jwt__cache_free(struct jwks_cache *cache);
/* Installs set (the cache takes over the caller's reference; NULL clears)
 * and records when (wall ms). The previous set is released. */
void jwt__cache_replace(struct jwks_cache *cache, struct jwks *set, int64_t fetched_ms);
/* A new reference to the current set (or NULL); jwt__jwks_release it when done. */
struct jwks *jwt__cache_get(struct jwks_cache *cache);
/* Wall ms of the last replace, 0 if never. */
int64_t jwt__cache_fetched_ms(struct jwks_cache *cache);

struct jwt_expect {
    const char *audience;          /* our app's client id */
    const char *const *tenant_ids; /* tenants we serve (GUIDs) */
    size_t n_tenants;
    const char *appid; /* NULL: JWT_GRAPH_PUBLISHER_APPID */
    int64_t now_s;     /* wall clock seconds; 0: now */
    int skew_s;        /* < 0: JWT_DEFAULT_SKEW_S */
    /* Accepted issuers, templates with `{tenantid}`; NULL: the v1 and v2
     * issuers of Microsoft's public cloud. */
    const char *const *issuers;
    size_t n_issuers;
};

/* What a valid token said (filled on JWT_OK, partly filled otherwise). */
struct jwt_claims {
    char kid[128];
    char tenant_id[128]; /* from iss */
    int64_t exp;
    int version; /* 1 or 2: `ver`, else the issuer's form (…/v2.0 is 2) */
};

enum jwt_result jwt__verify(const struct jwks *set, const char *token,
                            const struct jwt_expect *expect, struct jwt_claims *claims);

const char *jwt__result_name(enum jwt_result r);

#endif
