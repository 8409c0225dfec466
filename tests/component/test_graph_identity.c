/* Component test: a tenant's identity (connector/graph/identity.c) in
 * process, against canned replies of the identity platform over real
 * sockets, on the fake clock (docs/graph.md "Tenant id and signing keys");
 * the logic under what test_graph_jwks_flood.sh, test_graph_jwks_rotate.sh
 * and test_graph_domain_tenant.sh checked against fake-graph:
 *  - at start the OpenID configuration is read once and the keys are
 *    fetched from its jwks_uri (logged with the count and the URL);
 *  - workers asking for keys (unknown kids) from several threads at once
 *    cost at most one fetch per 10 s, and none while a fetch hangs; a
 *    rollover's new keys replace the old;
 *  - a domain as tenant_id: the GUID is pending (B/health source "pending",
 *    id null) while the document fails, the read is retried with backoff,
 *    then the GUID comes from its issuer (source "openid-configuration",
 *    logged), read at the domain's own URL. */
#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>

#include "core/b64.h"
#include "graph/identity.h"
#include "graph/jwt.h"
#include "graph_fixture.h"

#define GUID   "11111111-2222-3333-4444-555555555555"
#define DOMAIN "contoso.onmicrosoft.com"
#define OIDC   "/v2.0/.well-known/openid-configuration"
#define KEYS   "/" GUID "/discovery/v2.0/keys"

struct fx {
    struct comp_env ce;
    struct canned_http *s;
    struct http_client *http;
    struct graph_status *status;
    struct graph_identity *id;
    char jwks1[2048]; /* one key, kid-1 */
    char jwks2[4096]; /* kid-1 and kid-2 */
};

/* A JWK of a fresh RSA key. */
static void jwk(const char *kid, char *out, size_t len)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
    unsigned char nb[512], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = b64__encode_url(nb, (size_t)nl), *e64 = b64__encode_url(eb, (size_t)el);
    assert_non_null(n64);
    assert_non_null(e64);
    snprintf(out, len, "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}",
             kid, n64, e64);
    free(n64);
    free(e64);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(k);
}

static int setup(void **st)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    gfx__ground(&f->ce, &f->s, &f->http,
                &(struct gfx_ground){.instance = "ps-i",
                                     .users = "[\"a@x.com\"]",
                                     .roles = CONFIG_ROLE_GRAPH,
                                     .logs = true});
    assert_non_null(f->status = graph_status__new(f->ce.loop, "t"));
    char k1[1024], k2[1024];
    jwk("kid-1", k1, sizeof(k1));
    jwk("kid-2", k2, sizeof(k2));
    snprintf(f->jwks1, sizeof(f->jwks1), "{\"keys\":[%s]}", k1);
    snprintf(f->jwks2, sizeof(f->jwks2), "{\"keys\":[%s,%s]}", k1, k2);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    if (f->id)
        identity__stop(f->id);
    graph_status__stop(f->status);
    gfx__unplug(&f->ce, f->http);
    if (f->id)
        identity__free(f->id);
    graph_status__free(f->status);
    gfx__unground(&f->ce, f->s);
    free(f);
    return 0;
}

/* The OpenID configuration of the tenant: issuer with the GUID, the keys at
 * KEYS on the canned server. */
static void oidc_rule(struct fx *f, const char *path, int status, int times)
{
    static char doc[512];
    snprintf(doc, sizeof(doc),
             "{\"issuer\":\"https://login.microsoftonline.com/" GUID "/v2.0\","
             "\"jwks_uri\":\"%s" KEYS "\",\"token_endpoint\":\"%s/" GUID "/oauth2/v2.0/token\"}",
             canned_http__url(f->s), canned_http__url(f->s));
    canned_http__add(f->s, &(struct canned_rule){"GET", path, status, NULL,
                                                 status == 200 ? doc : "{}", times, 0});
}

static void start(struct fx *f, const char *tenant_id)
{
    struct graph_identity_options o = {.loop = f->ce.loop,
                                       .http = f->http,
                                       .tenant = "t",
                                       .tenant_id = tenant_id,
                                       .login_url = canned_http__url(f->s),
                                       .status = f->status};
    assert_non_null(f->id = identity__new(&o));
    identity__start(f->id);
}

struct count {
    struct fx *f;
    const char *path;
    size_t n;
};

static bool reached(void *ctx)
{
    struct count *c = ctx;
    return canned_http__count(c->f->s, "GET", c->path) >= c->n;
}

/* Waits (real time) until n requests to path came, and their answers ran. */
static bool wait_gets(struct fx *f, const char *path, size_t n)
{
    struct count c = {f, path, n};
    bool ok = comp_env__wait(&f->ce, reached, &c, GF_WAIT_MS);
    while (ok && http_client__unanswered(f->http) > 0)
        comp_env__wait(&f->ce, reached, &c, 50);
    comp_env__settle(&f->ce);
    return ok;
}

static size_t keys_count(struct fx *f)
{
    struct jwks *set = jwt__cache_get(identity__jwks(f->id));
    size_t n = jwt__jwks_count(set);
    jwt__jwks_release(set);
    return n;
}

/* The "tenant" part of B/health, printed (malloc'd). */
static char *tenant_json(struct fx *f)
{
    cJSON *sec = cJSON_CreateObject();
    struct graph_ready r = {.ready = true};
    identity__status(f->id, sec, &r);
    char *js = cJSON_PrintUnformatted(cJSON_GetObjectItem(sec, "tenant"));
    cJSON_Delete(sec);
    return js;
}

static void *asker(void *arg)
{
    for (int i = 0; i < 2000; i++)
        identity__want_keys(arg);
    return NULL;
}

/* Four worker threads meeting unknown kids all at once. */
static void flood(struct fx *f)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, asker, f->id), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    comp_env__settle(&f->ce);
}

static void test_keys_at_most_once_per_gap(void **st)
{
    struct fx *f = *st;
    oidc_rule(f, "/" GUID OIDC, 200, 0);
    canned_http__add(f->s, &(struct canned_rule){"GET", KEYS, 200, NULL, f->jwks1, 1, 0});
    canned_http__add(f->s, &(struct canned_rule){"GET", KEYS, 200, NULL, f->jwks2, 0, 0});
    start(f, GUID);
    assert_true(wait_gets(f, KEYS, 1));
    char want[256];
    snprintf(want, sizeof(want), "validation-token keys loaded tenant=t keys=1 url=%s" KEYS,
             canned_http__url(f->s));
    assert_true(log_capture__has(want));
    assert_int_equal(keys_count(f), 1);
    /* a flood within the gap: one fetch, when the gap ends, none before */
    comp_env__advance(&f->ce, 2000);
    flood(f);
    comp_env__advance(&f->ce, 7999);
    assert_true(wait_gets(f, KEYS, 1));
    assert_int_equal(canned_http__count(f->s, "GET", KEYS), 1);
    comp_env__advance(&f->ce, 1);
    assert_true(wait_gets(f, KEYS, 2));
    assert_int_equal(keys_count(f), 2); /* the rollover's keys replace the old */
    /* asking on for 30 s, every 500 ms: one fetch per 10 s */
    for (int i = 0; i < 60; i++) {
        flood(f);
        comp_env__advance(&f->ce, 500);
        assert_true(wait_gets(f, KEYS, 2));
    }
    size_t n = canned_http__count(f->s, "GET", KEYS);
    print_message("key fetches in 30 s of asking: %zu\n", n - 2);
    assert_true(n - 2 >= 2 && n - 2 <= 3);
    assert_int_equal(canned_http__count(f->s, "GET", "/" GUID OIDC), 1); /* read once */
    assert_int_equal(metrics__get("graph_jwks_fetches_total", "tenant=\"t\""), (double)n);
}

static void test_no_fetch_while_one_hangs(void **st)
{
    struct fx *f = *st;
    oidc_rule(f, "/" GUID OIDC, 200, 0);
    canned_http__add(f->s, &(struct canned_rule){"GET", KEYS, 200, NULL, f->jwks1, 1, 0});
    canned_http__add(f->s, &(struct canned_rule){"GET", KEYS, 200, NULL, f->jwks2, 0, 1500});
    start(f, GUID);
    assert_true(wait_gets(f, KEYS, 1));
    comp_env__advance(&f->ce, 10000);
    flood(f); /* past the gap: a fetch at once, answered 1.5 s later (real time) */
    struct count c = {f, KEYS, 2};
    assert_true(comp_env__wait(&f->ce, reached, &c, GF_WAIT_MS));
    for (int i = 0; i < 5; i++) { /* asked on while it hangs, past further gaps */
        comp_env__advance(&f->ce, 10000);
        flood(f);
        assert_int_equal(canned_http__count(f->s, "GET", KEYS), 2);
    }
    assert_true(wait_gets(f, KEYS, 2));
    assert_int_equal(keys_count(f), 2);
    assert_int_equal(canned_http__count(f->s, "GET", KEYS), 2);
}

static void test_domain_resolved_later(void **st)
{
    struct fx *f = *st;
    oidc_rule(f, "/" DOMAIN OIDC, 503, 2);
    oidc_rule(f, "/" DOMAIN OIDC, 200, 0);
    canned_http__add(f->s, &(struct canned_rule){"GET", KEYS, 200, NULL, f->jwks1, 0, 0});
    start(f, DOMAIN);
    struct graph_ident now;
    identity__snapshot(f->id, &now);
    assert_string_equal(now.tenant_guid, ""); /* not a GUID: pending */
    assert_true(wait_gets(f, "/" DOMAIN OIDC, 1));
    char *js = tenant_json(f);
    print_message("%s\n", js);
    assert_non_null(strstr(js, "\"configured\":\"" DOMAIN "\",\"id\":null,\"source\":\"pending\""));
    assert_non_null(strstr(js, "\"openid_configuration_state\":\"error\""));
    free(js);
    assert_true(log_capture__has("cannot read the tenant's OpenID configuration tenant=t"));
    /* retried with backoff, not at once */
    comp_env__settle(&f->ce);
    assert_int_equal(canned_http__count(f->s, "GET", "/" DOMAIN OIDC), 1);
    for (int i = 0; i < 60 && canned_http__count(f->s, "GET", KEYS) == 0; i++) {
        comp_env__advance(&f->ce, 1000);
        wait_gets(f, "/" DOMAIN OIDC, 1);
    }
    assert_true(wait_gets(f, KEYS, 1));
    assert_int_equal(canned_http__count(f->s, "GET", "/" DOMAIN OIDC), 3);
    identity__snapshot(f->id, &now);
    assert_string_equal(now.tenant_guid, GUID);
    js = tenant_json(f);
    assert_non_null(strstr(js, "\"id\":\"" GUID "\",\"source\":\"openid-configuration\""));
    free(js);
    assert_true(log_capture__has("tenant id resolved tenant=t domain=" DOMAIN " id=" GUID));
    assert_int_equal(canned_http__count(f->s, "GET", "/" GUID OIDC), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keys_at_most_once_per_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_fetch_while_one_hangs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_resolved_later, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
