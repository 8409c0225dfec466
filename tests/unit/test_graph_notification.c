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
        assert_int_equal(graph__user_id_from_resource(it->resource, id, sizeof(id)), 0);
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
    expect_item("{" BASE "\"changeType\":\"updated\"}", NOTIFICATION_ITEM_MISSING_FIELD,
                "resource");
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

    char res[NOTIFICATION_RESOURCE_MAX + 2];
    memset(res, 'r', sizeof(res) - 1);
    res[sizeof(res) - 1] = '\0';
    snprintf(big, NOTIFICATION_RESOURCE_MAX + 512,
             "{" BASE "\"changeType\":\"updated\",\"resource\":\"%s\"}", res);
    expect_item(big, NOTIFICATION_ITEM_TOO_LONG, "resource");
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
    struct {
        const char *in;
        const char *want; /* NULL: rejected */
    } cases[] = {
        {"communications/presences/6e5e-11", "6e5e-11"},
        {"/communications/presences/6e5e-11", "6e5e-11"},
        {"Communications/Presences/ABC", "ABC"},
        {"communications/presences('abc-1')", "abc-1"},
        {"communications/presences(abc-1)", "abc-1"},
        {"users/u-9/presence", "u-9"},
        {"/users/u-9/presence", "u-9"},
        {"Users/u-9/Presence", "u-9"},
        {"users('u-9')/presence", "u-9"},
        {"communications/presences/", NULL},
        {"communications/presences", NULL},
        {"communications/presences/a/b", NULL},
        {"communications/presences?$filter=id in ('a')", NULL},
        {"communications/presencesX/a", NULL},
        {"users/u-9", NULL},
        {"users/u-9/presence/x", NULL},
        {"users//presence", NULL},
        {"users('u-9/presence", NULL},
        {"users/a b/presence", NULL},
        {"me/presence", NULL},
        {"", NULL},
    };
    char out[NOTIFICATION_ID_MAX + 1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = graph__user_id_from_resource(cases[i].in, out, sizeof(out));
        if (cases[i].want) {
            if (rc != 0)
                fail_msg("rejected %s", cases[i].in);
            assert_string_equal(out, cases[i].want);
        }
        else if (rc != -1) {
            fail_msg("accepted %s", cases[i].in);
        }
    }
    assert_int_equal(graph__user_id_from_resource(NULL, out, sizeof(out)), -1);
    char tiny[4];
    assert_int_equal(graph__user_id_from_resource("users/abcd/presence", tiny, sizeof(tiny)), -1);
    char longid[300] = "communications/presences/";
    memset(longid + strlen(longid), 'a', NOTIFICATION_ID_MAX + 1);
    char big[512];
    assert_int_equal(graph__user_id_from_resource(longid, big, sizeof(big)), -1);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
