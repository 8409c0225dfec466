/* The Graph conformance corpus (tests/conformance/graph/, docs/graph.md):
 * every published shape is fed to the parser the daemon uses for it, with
 * Microsoft's placeholders replaced by values. Each corpus file must name its
 * source (a .source sidecar with url: and evidence: lines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "graph/jwt.h"
#include "graph/notification.h"
#include "graph/oidc.h"
#include "graph/presence.h"
#include "graph/tokens.h"
#include "test_graph_util.h"

#define USER   "2f1c6a55-6f0e-4b8f-9c1e-0d6f3b8a1c42"
#define SUB    "7d0e6f1a-3b2c-4d5e-8f90-a1b2c3d4e5f6"
#define TENANT "fec73c09-5f32-43fd-b767-9181f871fbcf"
#define OTHER  "ec12b2fe-4f61-42cf-8b4a-d42174e137db"
#define CLIENT "8e460676-ae3f-4b1e-8790-ee0fb5d6148f"
#define TOKTEN "84bd8158-6d4d-4958-8b9f-9d6445542f95"
#define CAP    (64 * 1024)

static char dir[1024];

static char *load(const char *name)
{
    char path[1400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    char *buf = calloc(1, CAP);
    size_t n = fread(buf, 1, CAP - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Replaces every occurrence of from with to, in place (buf has CAP bytes). */
static void subst(char *buf, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    for (char *p = strstr(buf, from); p; p = strstr(p + tl, from)) {
        if (strlen(buf) - fl + tl >= CAP)
            fail_msg("substitution overflows");
        memmove(p + tl, p + fl, strlen(p + fl) + 1);
        memcpy(p, to, tl);
    }
}

/* Microsoft's placeholders in the examples, and their values here. */
static char *load_filled(const char *name)
{
    static const char *const map[][2] = {
        {"{userId}", USER},
        {"{User Id}", USER},
        {"{id}", USER},
        {"{Subscription id}", SUB},
        {"{secret client state}", "client-state-1"},
        {"{Organization/Tenant id}", TENANT},
        {"<subscription_guid>", SUB},
        {"<tenant_guid>", TENANT},
        {"<secretClientState>", "client-state-1"},
        {"{Availability}", "Busy"},
        {"{Activity}", "InACall"},
    };
    char *buf = load(name);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        subst(buf, map[i][0], map[i][1]);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    /* PS_TEST_DATA is <src>/tests/unit/data (it need not exist) */
    const char *data = getenv("PS_TEST_DATA");
    snprintf(dir, sizeof(dir), "%s", data ? data : "tests/unit/data");
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
    }
    strncat(dir, "/conformance/graph", sizeof(dir) - strlen(dir) - 1);
    return 0;
}

/* Every file names its source; every sidecar has its file. */
static void test_sources(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t files = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        files++;
        char side[512];
        snprintf(side, sizeof(side), "%s.source", e->d_name);
        char *s = load(side);
        if (!strstr(s, "url: https://") || !strstr(s, "\nevidence: "))
            fail_msg("%s names no url: and evidence:", side);
        char *json = load(e->d_name);
        cJSON *o = cJSON_Parse(json);
        if (!o)
            fail_msg("%s is not JSON", e->d_name);
        cJSON_Delete(o);
        free(json);
        free(s);
    }
    closedir(d);
    assert_true(files >= 19);
}

/* One change item: parsed, and the user the daemon takes from it. */
static void expect_item(const char *file, bool rich, const char *user,
                        enum notification_user from_resource)
{
    char *body = load_filled(file);
    struct notification_batch b;
    assert_int_equal(notification__parse(body, strlen(body), &b), NOTIFICATION_BODY_OK);
    assert_int_equal(b.n_items, 1);
    const struct notification_item *it = &b.items[0];
    if (it->status != NOTIFICATION_ITEM_OK)
        fail_msg("%s: %s at %s", file, notification__item_status_name(it->status),
                 it->bad_field ? it->bad_field : "-");
    assert_false(notification__is_lifecycle(it));
    assert_int_equal(it->has_encrypted, rich);
    assert_int_equal(b.n_tokens, rich ? 1 : 0);
    char out[NOTIFICATION_ID_MAX + 1];
    assert_int_equal(notification__user_id(it, out, sizeof(out)), NOTIFICATION_USER_OK);
    assert_string_equal(out, user);
    assert_int_equal(notification__user_id_from_resource(it->resource, out, sizeof(out)),
                     from_resource);
    if (from_resource == NOTIFICATION_USER_OK)
        assert_string_equal(out, user);
    notification__free(&b);
    free(body);
}

static void test_notifications(void **state)
{
    (void)state;
    expect_item("notification-basic-bulk-one-id.json", false, USER, NOTIFICATION_USER_OK);
    expect_item("notification-basic-single.json", false, USER, NOTIFICATION_USER_OK);
    expect_item("notification-rich-single.json", true, USER, NOTIFICATION_USER_OK);
    expect_item("notification-rich-bulk-one-id.json", true, USER, NOTIFICATION_USER_OK);
    /* the whole filter names both users: resourceData.id tells which */
    expect_item("notification-bulk-whole-filter.json", false, OTHER, NOTIFICATION_USER_SEVERAL);
    expect_item("notification-rich-bulk-whole-filter.json", true, USER, NOTIFICATION_USER_SEVERAL);
}

static void test_decrypted(void **state)
{
    (void)state;
    char *body = load_filled("notification-rich-decrypted.json");
    struct presence_state p;
    const char *why = NULL;
    assert_int_equal(presence__parse_text(body, strlen(body), &p, &why), 0);
    assert_string_equal(p.id, USER);
    assert_true(presence__is_busy(p.activity, NULL, 0));
    assert_string_equal(p.sequence, ""); /* the docs' example has none */
    free(body);
}

static void test_lifecycle(void **state)
{
    (void)state;
    const char *events[] = {"reauthorizationRequired", "subscriptionRemoved", "missed"};
    for (size_t i = 0; i < 3; i++) {
        char file[128];
        snprintf(file, sizeof(file), "lifecycle-%s.json", events[i]);
        char *body = load_filled(file);
        struct notification_batch b;
        assert_int_equal(notification__parse(body, strlen(body), &b), NOTIFICATION_BODY_OK);
        assert_int_equal(b.items[0].status, NOTIFICATION_ITEM_OK);
        assert_true(notification__is_lifecycle(&b.items[0]));
        assert_string_equal(b.items[0].lifecycle_event, events[i]);
        assert_string_equal(b.items[0].subscription_id, SUB);
        notification__free(&b);
        free(body);
    }
}

/* A token with the corpus claims (times moved to now, aud kept), signed by
 * a key of a JWKS: the daemon's checks accept it with the right version. */
static void expect_claims(const char *file, int version)
{
    EVP_PKEY *k = tu_rsa(2048);
    char *claims = load(file);
    cJSON *c = cJSON_Parse(claims);
    int64_t now = (int64_t)time(NULL);
    cJSON_ReplaceItemInObject(c, "iat", cJSON_CreateNumber((double)now));
    cJSON_ReplaceItemInObject(c, "nbf", cJSON_CreateNumber((double)now));
    cJSON_ReplaceItemInObject(c, "exp", cJSON_CreateNumber((double)(now + 3600)));
    char *pl = cJSON_PrintUnformatted(c);
    const char *hdr = "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"corpus\"}";
    char *h64 = tu_b64url((const unsigned char *)hdr, strlen(hdr));
    char *p64 = tu_b64url((const unsigned char *)pl, strlen(pl));
    char *tok = malloc(8192);
    snprintf(tok, 8192, "%s.%s", h64, p64);
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &siglen, (unsigned char *)tok, strlen(tok)), 1);
    EVP_MD_CTX_free(md);
    char *s64 = tu_b64url(sig, siglen);
    strcat(tok, ".");
    strcat(tok, s64);
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(k, "n", &n);
    EVP_PKEY_get_bn_param(k, "e", &e);
    unsigned char nb[512], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = tu_b64url(nb, (size_t)nl), *e64 = tu_b64url(eb, (size_t)el);
    char doc[2048];
    snprintf(doc, sizeof(doc),
             "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"corpus\",\"n\":\"%s\",\"e\":\"%"
             "s\"}]}",
             n64, e64);
    char err[128];
    struct jwks *set = jwt__jwks_parse(doc, strlen(doc), err, sizeof(err));
    assert_non_null(set);
    const char *tenants[] = {TOKTEN};
    struct jwt_expect x = {.audience = CLIENT, .tenant_ids = tenants, .n_tenants = 1, .skew_s = -1};
    struct jwt_claims out;
    enum jwt_result r = jwt__verify(set, tok, &x, &out);
    if (r != JWT_OK)
        fail_msg("%s: %s", file, jwt__result_name(r));
    assert_int_equal(out.version, version);
    assert_string_equal(out.tenant_id, TOKTEN);
    /* another tenant's issuer is refused */
    const char *others[] = {TENANT};
    x.tenant_ids = others;
    assert_int_equal(jwt__verify(set, tok, &x, NULL), JWT_WRONG_ISSUER);
    jwt__jwks_release(set);
    BN_free(n);
    BN_free(e);
    free(n64);
    free(e64);
    free(s64);
    free(tok);
    free(h64);
    free(p64);
    free(pl);
    cJSON_Delete(c);
    free(claims);
    EVP_PKEY_free(k);
}

static void test_validation_tokens(void **state)
{
    (void)state;
    expect_claims("validation-token-v1-claims.json", 1);
    expect_claims("validation-token-v2-claims.json", 2);
}

static void expect_presences(const char *file, size_t n, const char *first_activity)
{
    char *body = load(file);
    cJSON *o = cJSON_Parse(body);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
    assert_int_equal(cJSON_GetArraySize(v), (int)n);
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, v)
    {
        struct presence_state p;
        const char *why = NULL;
        assert_int_equal(presence__parse(it, &p, &why), 0);
        if (i++ == 0)
            assert_string_equal(p.activity, first_activity);
    }
    cJSON_Delete(o);
    free(body);
}

static void test_presence_answers(void **state)
{
    (void)state;
    char *body = load("presence-get.json");
    struct presence_state p;
    const char *why = NULL;
    assert_int_equal(presence__parse_text(body, strlen(body), &p, &why), 0);
    assert_string_equal(p.availability, "DoNotDisturb");
    assert_true(presence__is_busy(p.activity, NULL, 0)); /* Presenting is busy by default */
    free(body);
    expect_presences("presence-list.json", 1, "BeRightBack");
    expect_presences("presences-by-user-id.json", 2, "InAMeeting");
}

static void test_openid_configuration(void **state)
{
    (void)state;
    char *body = load("openid-configuration-v2.json");
    struct oidc_doc d;
    char err[128];
    assert_int_equal(oidc__parse(body, strlen(body), &d, err, sizeof(err)), 0);
    assert_string_equal(d.tenant_guid, "88888888-8888-8888-8888-888888888888");
    assert_string_equal(d.jwks_uri, "https://login.microsoftonline.com/"
                                    "88888888-8888-8888-8888-888888888888/discovery/v2.0/keys");
    char *tmpl = oidc__issuer_template(d.issuer);
    assert_string_equal(tmpl, OIDC_ISSUER_V2);
    free(tmpl);
    free(body);
}

static void test_errors(void **state)
{
    (void)state;
    char err[64];
    char *body = load("error-aadsts.json");
    assert_int_equal(tokens__parse_error(body, err, sizeof(err)), 70011);
    assert_string_equal(err, "invalid_scope");
    free(body);
    body = load("error-aadsts-interaction.json");
    assert_int_equal(tokens__parse_error(body, err, sizeof(err)), 50076);
    assert_string_equal(err, "invalid_grant");
    assert_non_null(tokens__explain(50076));
    free(body);
    /* Graph's envelope: what the daemon reads of it (error.code, .message) */
    body = load("error-graph.json");
    cJSON *o = cJSON_Parse(body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "code")));
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
    cJSON_Delete(o);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_notifications),
        cmocka_unit_test(test_decrypted),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_validation_tokens),
        cmocka_unit_test(test_presence_answers),
        cmocka_unit_test(test_openid_configuration),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
