/* changeNotificationCollection parsing (graph/notification.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/notification.h"

#define ENC                                                                                    \
    "\"encryptedContent\":{\"data\":\"QUJD\",\"dataSignature\":\"c2ln\",\"dataKey\":\"a2V5\"," \
    "\"encryptionCertificateId\":\"notify-1\",\"encryptionCertificateThumbprint\":\"AB12\"}"

/* One valid rich change item for user u, subscription s. */
static int change_item(char *buf, size_t cap, const char *s, const char *u)
{
    return snprintf(buf, cap,
                    "{\"subscriptionId\":\"%s\",\"subscriptionExpirationDateTime\":"
                    "\"2026-11-26T11:00:00.0000000Z\",\"changeType\":\"updated\",\"resource\":"
                    "\"communications/presences/%s\",\"resourceData\":{\"@odata.type\":"
                    "\"#microsoft.graph.presence\",\"@odata.id\":\"users/%s/presence\",\"id\":"
                    "\"%s\"},\"clientState\":\"cs-%s\",\"tenantId\":\"t-1\",\"organizationId\":"
                    "\"t-1\",\"futureField\":{\"nested\":[1,2]}," ENC "}",
                    s, u, u, u, s);
}

static enum notification_body_status parse(const char *body, struct notification_batch *b)
{
    return notification__parse(body, strlen(body), b);
}

static void test_many_items(void **state)
{
    (void)state;
    char *body = malloc(200000);
    size_t off = (size_t)sprintf(body, "{\"value\":[");
    const char *subs[] = {"sub-a", "sub-b", "sub-c"};
    for (int i = 0; i < 30; i++) {
        char u[32];
        snprintf(u, sizeof(u), "user-%02d", i);
        if (i)
            body[off++] = ',';
        off += (size_t)change_item(body + off, 200000 - off, subs[i % 3], u);
    }
    sprintf(body + off, "],\"validationTokens\":[\"tok.en.one\",\"tok.en.two\"]}");

    struct notification_batch b;
    assert_int_equal(parse(body, &b), NOTIFICATION_BODY_OK);
    assert_int_equal(b.n_items, 30);
    assert_int_equal(b.n_tokens, 2);
    assert_string_equal(b.tokens[1], "tok.en.two");
    for (size_t i = 0; i < b.n_items; i++) {
        const struct notification_item *it = &b.items[i];
        char u[32], cs[32];
        snprintf(u, sizeof(u), "user-%02zu", i);
        snprintf(cs, sizeof(cs), "cs-%s", subs[i % 3]);
        assert_int_equal(it->status, NOTIFICATION_ITEM_OK);
        assert_string_equal(it->subscription_id, subs[i % 3]);
        assert_string_equal(it->client_state, cs);
        assert_string_equal(it->tenant_id, "t-1");
        assert_string_equal(it->change_type, "updated");
        assert_null(it->lifecycle_event);
        assert_false(notification__is_lifecycle(it));
        assert_string_equal(it->resource_id, u);
        assert_string_equal(it->subscription_expiration, "2026-11-26T11:00:00.0000000Z");
        assert_true(it->has_encrypted);
        assert_string_equal(it->encrypted.data, "QUJD");
        assert_string_equal(it->encrypted.data_signature, "c2ln");
        assert_string_equal(it->encrypted.data_key, "a2V5");
        assert_string_equal(it->encrypted.cert_id, "notify-1");
        assert_string_equal(it->encrypted.thumbprint, "AB12");
        char id[NOTIFICATION_ID_MAX + 1];
        assert_int_equal(notification__user_id_from_resource(it->resource, id, sizeof(id)),
                         NOTIFICATION_USER_OK);
        assert_string_equal(id, u);
        assert_int_equal(notification__user_id(it, id, sizeof(id)), NOTIFICATION_USER_OK);
        assert_string_equal(id, u);
    }
    notification__free(&b);
    assert_null(b.items);
    free(body);
}

static void test_lifecycle(void **state)
{
    (void)state;
    char item[2048];
    change_item(item, sizeof(item), "s1", "u1");
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"value\":[{\"subscriptionId\":\"s1\",\"subscriptionExpirationDateTime\":\"2026-11-"
             "26T11:00:00Z\",\"tenantId\":\"t-1\",\"clientState\":\"cs\",\"lifecycleEvent\":"
             "\"reauthorizationRequired\"},%s,{\"subscriptionId\":\"s2\",\"tenantId\":\"t-2\","
             "\"clientState\":\"cs\",\"lifecycleEvent\":\"subscriptionRemoved\",\"resource\":null}"
             "]}",
             item);
    struct notification_batch b;
    assert_int_equal(parse(body, &b), NOTIFICATION_BODY_OK);
    assert_int_equal(b.n_items, 3);
    assert_int_equal(b.n_tokens, 0);
    assert_int_equal(b.items[0].status, NOTIFICATION_ITEM_OK);
    assert_true(notification__is_lifecycle(&b.items[0]));
    assert_string_equal(b.items[0].lifecycle_event, "reauthorizationRequired");
    assert_null(b.items[0].change_type);
    assert_null(b.items[0].resource);
    assert_false(b.items[0].has_encrypted);
    assert_int_equal(b.items[1].status, NOTIFICATION_ITEM_OK);
    assert_false(notification__is_lifecycle(&b.items[1]));
    assert_int_equal(b.items[2].status, NOTIFICATION_ITEM_OK);
    assert_string_equal(b.items[2].lifecycle_event, "subscriptionRemoved");
    assert_string_equal(b.items[2].tenant_id, "t-2");
    notification__free(&b);
}

/* Each bad item sits between two good ones; only it is marked. */
static void expect_item(const char *bad_item, enum notification_item_status want,
                        const char *want_field)
{
    char good[2048];
    change_item(good, sizeof(good), "s1", "u1");
    size_t cap = strlen(bad_item) + 2 * strlen(good) + 64;
    char *body = malloc(cap);
    snprintf(body, cap, "{\"value\":[%s,%s,%s]}", good, bad_item, good);
    struct notification_batch b;
    assert_int_equal(parse(body, &b), NOTIFICATION_BODY_OK);
    assert_int_equal(b.n_items, 3);
    assert_int_equal(b.items[0].status, NOTIFICATION_ITEM_OK);
    assert_int_equal(b.items[2].status, NOTIFICATION_ITEM_OK);
    assert_string_equal(notification__item_status_name(b.items[1].status),
                        notification__item_status_name(want));
    if (want_field)
        assert_string_equal(b.items[1].bad_field, want_field);
    assert_false(b.items[1].has_encrypted && want_field && strstr(want_field, "encrypted"));
    notification__free(&b);
    free(body);
}

#define BASE "\"subscriptionId\":\"s\",\"tenantId\":\"t\",\"clientState\":\"c\","
#define CHG  "\"changeType\":\"updated\",\"resource\":\"communications/presences/u\""

static void test_bad_items(void **state)
{
    (void)state;
    expect_item("42", NOTIFICATION_ITEM_NOT_OBJECT, NULL);
    expect_item("[]", NOTIFICATION_ITEM_NOT_OBJECT, NULL);
    expect_item("{" BASE "\"changeType\":\"updated\",\"lifecycleEvent\":\"missed\","
                "\"resource\":\"r\"}",
                NOTIFICATION_ITEM_BOTH_KINDS, "lifecycleEvent");
    expect_item("{" BASE "\"resource\":\"r\"}", NOTIFICATION_ITEM_NO_KIND, "changeType");
    expect_item("{\"tenantId\":\"t\",\"clientState\":\"c\"," CHG "}",
                NOTIFICATION_ITEM_MISSING_FIELD, "subscriptionId");
    expect_item("{\"subscriptionId\":\"s\",\"tenantId\":\"t\"," CHG "}",
                NOTIFICATION_ITEM_MISSING_FIELD, "clientState");
    expect_item("{\"subscriptionId\":\"s\",\"clientState\":\"c\"," CHG "}",
                NOTIFICATION_ITEM_MISSING_FIELD, "tenantId");
    expect_item("{\"subscriptionId\":\"s\",\"tenantId\":\"t\",\"clientState\":null," CHG "}",
                NOTIFICATION_ITEM_MISSING_FIELD, "clientState");
    /* a change must name its user somewhere: resourceData.id or resource */
    expect_item("{" BASE "\"changeType\":\"updated\"}", NOTIFICATION_ITEM_MISSING_FIELD,
                "resourceData.id");
    expect_item("{" BASE "\"changeType\":\"updated\",\"resourceData\":{}}",
                NOTIFICATION_ITEM_MISSING_FIELD, "resourceData.id");
    expect_item("{\"subscriptionId\":7,\"tenantId\":\"t\",\"clientState\":\"c\"," CHG "}",
                NOTIFICATION_ITEM_WRONG_TYPE, "subscriptionId");
    expect_item("{" BASE "\"changeType\":true,\"resource\":\"r\"}", NOTIFICATION_ITEM_WRONG_TYPE,
                "changeType");
    expect_item("{" BASE CHG ",\"resourceData\":\"u\"}", NOTIFICATION_ITEM_WRONG_TYPE,
                "resourceData");
    expect_item("{" BASE CHG ",\"resourceData\":{\"id\":5}}", NOTIFICATION_ITEM_WRONG_TYPE,
                "resourceData.id");
    expect_item("{" BASE CHG ",\"subscriptionExpirationDateTime\":1}", NOTIFICATION_ITEM_WRONG_TYPE,
                "subscriptionExpirationDateTime");
    expect_item("{\"subscriptionId\":\"\",\"tenantId\":\"t\",\"clientState\":\"c\"," CHG "}",
                NOTIFICATION_ITEM_EMPTY_FIELD, "subscriptionId");
    expect_item("{" BASE CHG ",\"encryptedContent\":[]}", NOTIFICATION_ITEM_WRONG_TYPE,
                "encryptedContent");
    expect_item("{" BASE CHG ",\"encryptedContent\":{\"data\":\"QUJD\",\"dataSignature\":\"c2ln\","
                "\"encryptionCertificateId\":\"n\",\"encryptionCertificateThumbprint\":\"AB\"}}",
                NOTIFICATION_ITEM_MISSING_FIELD, "encryptedContent.dataKey");
    expect_item("{" BASE CHG ",\"encryptedContent\":{\"data\":\"QUJD\",\"dataSignature\":[],"
                "\"dataKey\":\"k\",\"encryptionCertificateId\":\"n\","
                "\"encryptionCertificateThumbprint\":\"AB\"}}",
                NOTIFICATION_ITEM_WRONG_TYPE, "encryptedContent.dataSignature");
    expect_item("{" BASE CHG ",\"encryptedContent\":{\"data\":\"QUJD\",\"dataSignature\":\"s\","
                "\"dataKey\":\"k\",\"encryptionCertificateId\":\"n\"}}",
                NOTIFICATION_ITEM_MISSING_FIELD,
                "encryptedContent.encryptionCertificateThumbprint");
}

static void test_length_caps(void **state)
{
    (void)state;
    char *big = malloc(NOTIFICATION_RESOURCE_MAX + 512);
    char cs[NOTIFICATION_CLIENT_STATE_MAX + 2];
    /* clientState at the cap passes, one over fails. */
    memset(cs, 'x', NOTIFICATION_CLIENT_STATE_MAX);
    cs[NOTIFICATION_CLIENT_STATE_MAX] = '\0';
    snprintf(big, NOTIFICATION_RESOURCE_MAX + 512,
             "{\"value\":[{\"subscriptionId\":\"s\",\"tenantId\":\"t\",\"clientState\":\"%s\","
             "\"lifecycleEvent\":\"missed\"}]}",
             cs);
    struct notification_batch b;
    assert_int_equal(parse(big, &b), NOTIFICATION_BODY_OK);
    assert_int_equal(b.items[0].status, NOTIFICATION_ITEM_OK);
    notification__free(&b);
    cs[NOTIFICATION_CLIENT_STATE_MAX] = 'x';
    cs[NOTIFICATION_CLIENT_STATE_MAX + 1] = '\0';
    snprintf(big, NOTIFICATION_RESOURCE_MAX + 512,
             "{\"subscriptionId\":\"s\",\"tenantId\":\"t\",\"clientState\":\"%s\","
             "\"lifecycleEvent\":\"missed\"}",
             cs);
    expect_item(big, NOTIFICATION_ITEM_TOO_LONG, "clientState");

    char *res = malloc(NOTIFICATION_RESOURCE_MAX + 2);
    memset(res, 'r', NOTIFICATION_RESOURCE_MAX + 1);
    res[NOTIFICATION_RESOURCE_MAX + 1] = '\0';
    snprintf(big, NOTIFICATION_RESOURCE_MAX + 512,
             "{" BASE "\"changeType\":\"updated\",\"resource\":\"%s\"}", res);
    expect_item(big, NOTIFICATION_ITEM_TOO_LONG, "resource");
    /* at the cap it is kept: the whole filter of a bulk subscription is long */
    res[NOTIFICATION_RESOURCE_MAX] = '\0';
    snprintf(big, NOTIFICATION_RESOURCE_MAX + 512,
             "{\"value\":[{" BASE "\"changeType\":\"updated\",\"resource\":\"%s\","
             "\"resourceData\":{\"id\":\"u-1\"}}]}",
             res);
    struct notification_batch rb;
    assert_int_equal(parse(big, &rb), NOTIFICATION_BODY_OK);
    assert_int_equal(rb.items[0].status, NOTIFICATION_ITEM_OK);
    assert_int_equal(strlen(rb.items[0].resource), NOTIFICATION_RESOURCE_MAX);
    notification__free(&rb);
    free(res);
    free(big);

    /* encryptedContent.data over 1 MiB */
    size_t n = NOTIFICATION_DATA_MAX + 4;
    char *huge = malloc(n + 1024);
    int off = sprintf(huge, "{" BASE CHG ",\"encryptedContent\":{\"data\":\"");
    memset(huge + off, 'A', n);
    sprintf(huge + off + n, "\",\"dataSignature\":\"s\",\"dataKey\":\"k\","
                            "\"encryptionCertificateId\":\"n\","
                            "\"encryptionCertificateThumbprint\":\"AB\"}}");
    expect_item(huge, NOTIFICATION_ITEM_TOO_LONG, "encryptedContent.data");
    free(huge);
}

static void expect_body(const char *body, enum notification_body_status want)
{
    struct notification_batch b;
    assert_string_equal(notification__body_status_name(parse(body, &b)),
                        notification__body_status_name(want));
    if (want != NOTIFICATION_BODY_OK) {
        assert_int_equal(b.n_items, 0);
        assert_null(b.items);
        assert_null(b.tokens);
    }
    notification__free(&b);
}

static void test_bad_bodies(void **state)
{
    (void)state;
    expect_body("", NOTIFICATION_BODY_NOT_JSON);
    expect_body("{\"value\":[", NOTIFICATION_BODY_NOT_JSON);
    expect_body("validationToken=abc", NOTIFICATION_BODY_NOT_JSON);
    expect_body("[]", NOTIFICATION_BODY_NOT_OBJECT);
    expect_body("\"value\"", NOTIFICATION_BODY_NOT_OBJECT);
    expect_body("{}", NOTIFICATION_BODY_NO_VALUE);
    expect_body("{\"Value\":[]}", NOTIFICATION_BODY_NO_VALUE);
    expect_body("{\"value\":{}}", NOTIFICATION_BODY_VALUE_NOT_ARRAY);
    expect_body("{\"value\":null}", NOTIFICATION_BODY_VALUE_NOT_ARRAY);
    expect_body("{\"value\":[],\"validationTokens\":\"x.y.z\"}", NOTIFICATION_BODY_BAD_TOKENS);
    expect_body("{\"value\":[],\"validationTokens\":[\"a.b.c\",1]}", NOTIFICATION_BODY_BAD_TOKENS);
    expect_body("{\"value\":[],\"validationTokens\":[\"\"]}", NOTIFICATION_BODY_BAD_TOKENS);
    expect_body("{\"value\":[],\"validationTokens\":null}", NOTIFICATION_BODY_OK);
    expect_body("{\"value\":[],\"x\":1}", NOTIFICATION_BODY_OK);
    assert_int_equal(notification__parse(NULL, 0, &(struct notification_batch){0}),
                     NOTIFICATION_BODY_NOT_JSON);

    /* Not NUL-terminated input: only len bytes are read. */
    const char *txt = "{\"value\":[]}garbage";
    struct notification_batch b;
    assert_int_equal(notification__parse(txt, 12, &b), NOTIFICATION_BODY_OK);
    notification__free(&b);
}

static void test_item_limit(void **state)
{
    (void)state;
    const char *lc = "{\"subscriptionId\":\"s\",\"tenantId\":\"t\",\"clientState\":\"c\","
                     "\"lifecycleEvent\":\"reauthorizationRequired\"}";
    size_t cap = (strlen(lc) + 1) * (NOTIFICATION_MAX_ITEMS + 1) + 64;
    char *body = malloc(cap);
    for (int count = NOTIFICATION_MAX_ITEMS; count <= NOTIFICATION_MAX_ITEMS + 1; count++) {
        size_t off = (size_t)sprintf(body, "{\"value\":[");
        for (int i = 0; i < count; i++)
            off += (size_t)sprintf(body + off, "%s%s", i ? "," : "", lc);
        strcpy(body + off, "]}");
        struct notification_batch b;
        enum notification_body_status rc = parse(body, &b);
        if (count == NOTIFICATION_MAX_ITEMS) {
            assert_int_equal(rc, NOTIFICATION_BODY_OK);
            assert_int_equal(b.n_items, NOTIFICATION_MAX_ITEMS);
            assert_int_equal(b.items[NOTIFICATION_MAX_ITEMS - 1].status, NOTIFICATION_ITEM_OK);
        }
        else {
            assert_int_equal(rc, NOTIFICATION_BODY_TOO_MANY_ITEMS);
        }
        notification__free(&b);
    }
    free(body);

    /* Too many tokens. */
    char *tb = malloc(16 * (NOTIFICATION_MAX_TOKENS + 2) + 64);
    size_t off = (size_t)sprintf(tb, "{\"value\":[],\"validationTokens\":[");
    for (int i = 0; i <= NOTIFICATION_MAX_TOKENS; i++)
        off += (size_t)sprintf(tb + off, "%s\"a.b.c\"", i ? "," : "");
    strcpy(tb + off, "]}");
    expect_body(tb, NOTIFICATION_BODY_BAD_TOKENS);
    free(tb);
}

static void test_user_id_from_resource(void **state)
{
    (void)state;
    enum {
        OK = NOTIFICATION_USER_OK,
        NO = NOTIFICATION_USER_NONE,
        MANY = NOTIFICATION_USER_SEVERAL
    };
    struct {
        const char *in;
        int want;
        const char *id;
    } cases[] = {
        /* single-user subscription forms (docs' examples) */
        {"communications/presences/6e5e-11", OK, "6e5e-11"},
        {"/communications/presences/6e5e-11", OK, "6e5e-11"},
        {"Communications/Presences/ABC", OK, "ABC"},
        {"communications/presences('abc-1')", OK, "abc-1"},
        {"communications/presences(abc-1)", OK, "abc-1"},
        {"users/u-9/presence", OK, "u-9"},
        {"/users/u-9/presence", OK, "u-9"},
        {"Users/u-9/Presence", OK, "u-9"},
        {"users('u-9')/presence", OK, "u-9"},
        /* bulk: the 2024 breaking-change post, one id */
        {"communications/presences?$filter=id+in+(%27e1b2c3d4-0000-4000-8000-000000000001%27)", OK,
         "e1b2c3d4-0000-4000-8000-000000000001"},
        {"/communications/presences?$filter=id in ('a-1')", OK, "a-1"},
        {"communications/presences?%24filter=id%20in%20(%27a-1%27)", OK, "a-1"},
        {"communications/presences?$filter=id+in+(+%27a-1%27+)", OK, "a-1"},
        {"communications/presences/?$filter=id+in+(%27a-1%27)", OK, "a-1"},
        {"communications/presences?$filter=ID+IN+(%27a-1%27)", OK, "a-1"},
        {"communications/presences?$filter=id+eq+%27a-1%27", OK, "a-1"},
        {"communications/presences?$select=id&$filter=id+in+(%27a-1%27)", OK, "a-1"},
        /* bulk: the subscription's whole filter (a 2021 capture: %2c) */
        {"communications/presences?$filter=id+in+(%27a-1%27%2c%27b-2%27)", MANY, NULL},
        {"communications/presences?$filter=id in ('a-1', 'b-2', 'c-3')", MANY, NULL},
        {"communications/presences?$filter=id+in+(%27a-1%27%2C%27a-1%27)", MANY, NULL},
        /* not a user */
        {"communications/presences?$filter=id+in+()", NO, NULL},
        {"communications/presences?$filter=id+in+(a-1)", NO, NULL},
        {"communications/presences?$filter=id+in+(%27a-1%27", NO, NULL},
        {"communications/presences?$filter=id+in+(%27a-1%27)x", NO, NULL},
        {"communications/presences?$filter=id+in+(%27a-1%27,)", NO, NULL},
        {"communications/presences?$filter=id+in+(%27a+b%27)", NO, NULL},
        {"communications/presences?$filter=id+in+(%27a%2Fb%27)", NO, NULL},
        {"communications/presences?$filter=id+in+(%27%27)", NO, NULL},
        {"communications/presences?$filter=name+eq+%27a%27", NO, NULL},
        {"communications/presences?$filter=idin(%27a%27)", NO, NULL},
        {"communications/presences?$top=1", NO, NULL},
        {"communications/presences?", NO, NULL},
        {"communications/presences/", NO, NULL},
        {"communications/presences", NO, NULL},
        {"communications/presences/a/b", NO, NULL},
        {"communications/presencesX/a", NO, NULL},
        {"users/u-9", NO, NULL},
        {"users/u-9/presence/x", NO, NULL},
        {"users//presence", NO, NULL},
        {"users('u-9/presence", NO, NULL},
        {"users/a b/presence", NO, NULL},
        {"users/a+b/presence", NO, NULL},
        {"users/a%00b/presence", NO, NULL},
        {"me/presence", NO, NULL},
        {"", NO, NULL},
    };
    char out[NOTIFICATION_ID_MAX + 1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = (int)notification__user_id_from_resource(cases[i].in, out, sizeof(out));
        if (rc != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].in, rc, cases[i].want);
        if (cases[i].id)
            assert_string_equal(out, cases[i].id);
    }
    assert_int_equal(notification__user_id_from_resource(NULL, out, sizeof(out)), NO);
    char tiny[4];
    assert_int_equal(notification__user_id_from_resource("users/abcd/presence", tiny, sizeof(tiny)),
                     NO);
    char longid[300] = "communications/presences/";
    memset(longid + strlen(longid), 'a', NOTIFICATION_ID_MAX + 1);
    char big[512];
    assert_int_equal(notification__user_id_from_resource(longid, big, sizeof(big)), NO);
}

/* The whole filter of a 650-id subscription (about 29 KB), as the resource
 * of an item: several users; the item's resourceData.id names the one. */
static void test_whole_filter_650(void **state)
{
    (void)state;
    size_t cap = 64 * 1024;
    char *res = malloc(cap);
    size_t off = (size_t)snprintf(res, cap, "communications/presences?$filter=id+in+(");
    for (int i = 0; i < 650; i++)
        off += (size_t)snprintf(res + off, cap - off, "%s%%27%08x-0000-4000-8000-%012d%%27",
                                i ? "%2c" : "", i, i);
    snprintf(res + off, cap - off, ")");
    assert_true(strlen(res) > 28000 && strlen(res) < NOTIFICATION_RESOURCE_MAX);
    char out[NOTIFICATION_ID_MAX + 1];
    assert_int_equal(notification__user_id_from_resource(res, out, sizeof(out)),
                     NOTIFICATION_USER_SEVERAL);

    size_t bcap = 2 * cap + 1024;
    char *body = malloc(bcap);
    snprintf(body, bcap,
             "{\"value\":[{\"subscriptionId\":\"s\",\"clientState\":\"c\",\"changeType\":"
             "\"updated\",\"resource\":\"%s\",\"resourceData\":{\"@odata.type\":"
             "\"#Microsoft.Graph.presence\",\"@odata.id\":\"%s\",\"id\":"
             "\"00000007-0000-4000-8000-000000000007\"},\"tenantId\":\"t\"},"
             "{\"subscriptionId\":\"s\",\"clientState\":\"c\",\"changeType\":\"updated\","
             "\"resource\":\"%s\",\"tenantId\":\"t\"}]}",
             res, res, res);
    struct notification_batch b;
    assert_int_equal(parse(body, &b), NOTIFICATION_BODY_OK);
    assert_int_equal(b.items[0].status, NOTIFICATION_ITEM_OK);
    assert_int_equal(notification__user_id(&b.items[0], out, sizeof(out)), NOTIFICATION_USER_OK);
    assert_string_equal(out, "00000007-0000-4000-8000-000000000007");
    /* without resourceData.id only the decrypted content could tell */
    assert_int_equal(b.items[1].status, NOTIFICATION_ITEM_OK);
    assert_int_equal(notification__user_id(&b.items[1], out, sizeof(out)),
                     NOTIFICATION_USER_SEVERAL);
    notification__free(&b);
    free(body);
    free(res);
}

/* resourceData.id first, the resource only as a fallback. */
static void test_user_sources(void **state)
{
    (void)state;
    const char *body =
        "{\"value\":["
        /* 0: resourceData.id wins over a resource naming somebody else */
        "{" BASE "\"changeType\":\"updated\",\"resource\":\"communications/presences/x-1\","
        "\"resourceData\":{\"id\":\"y-2\"}},"
        /* 1: no resourceData: the resource's one id */
        "{" BASE "\"changeType\":\"updated\",\"resource\":"
        "\"communications/presences?$filter=id+in+(%27z-3%27)\"},"
        /* 2: resourceData.id not an id: the resource */
        "{" BASE "\"changeType\":\"updated\",\"resource\":\"users/w-4/presence\","
        "\"resourceData\":{\"id\":\"a/b\"}},"
        /* 3: only resourceData.id, no resource at all */
        "{" BASE "\"changeType\":\"updated\",\"resourceData\":{\"id\":\"v-5\"}},"
        /* 4: nothing usable */
        "{" BASE "\"changeType\":\"updated\",\"resource\":\"me/presence\"}"
        "]}";
    const char *want[] = {"y-2", "z-3", "w-4", "v-5", NULL};
    struct notification_batch b;
    assert_int_equal(parse(body, &b), NOTIFICATION_BODY_OK);
    assert_int_equal(b.n_items, 5);
    for (size_t i = 0; i < 5; i++) {
        char out[NOTIFICATION_ID_MAX + 1];
        assert_int_equal(b.items[i].status, NOTIFICATION_ITEM_OK);
        enum notification_user r = notification__user_id(&b.items[i], out, sizeof(out));
        if (want[i]) {
            assert_int_equal(r, NOTIFICATION_USER_OK);
            assert_string_equal(out, want[i]);
        }
        else {
            assert_int_equal(r, NOTIFICATION_USER_NONE);
        }
    }
    notification__free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_items),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_bad_items),
        cmocka_unit_test(test_length_caps),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_item_limit),
        cmocka_unit_test(test_user_id_from_resource),
        cmocka_unit_test(test_whole_filter_650),
        cmocka_unit_test(test_user_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
