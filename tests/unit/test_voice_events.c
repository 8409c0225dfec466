/* Voice call events from RTE MessageReceived and webhook bodies
 * (connector/voice/events.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "voice/events.h"

/* 2026-11-26T10:00:00Z */
#define T0 1795687200000LL

static int parse_rte(const char *json, struct voice_call_event *ev)
{
    cJSON *arg = cJSON_Parse(json);
    char err[128] = "";
    int rc = events__parse_rte(NULL, arg, ev, err, sizeof(err));
    if (rc < 0)
        assert_true(err[0] != '\0');
    cJSON_Delete(arg);
    return rc;
}

static int parse_hook(const char *body, struct voice_call_event *ev)
{
    char err[128] = "";
    int rc = events__parse_webhook(NULL, body, body ? strlen(body) : 0, ev, err, sizeof(err));
    if (rc < 0)
        assert_true(err[0] != '\0');
    return rc;
}

static void test_rte_names(void **state)
{
    (void)state;
    struct {
        const char *name;
        enum voice_call_kind kind;
    } cases[] = {
        {"UserCallInConnected", VOICE_CALL_CONNECTED},
        {"UserCallInDisconnected", VOICE_CALL_DISCONNECTED},
        {"UserCallOutConnected", VOICE_CALL_CONNECTED},
        {"UserCallOutDisconnected", VOICE_CALL_DISCONNECTED},
        {"usercallinconnected", VOICE_CALL_CONNECTED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"data\":{\"eventType\":\"%s\",\"userId\":\"AB-12\",\"callId\":\"C-9\","
                 "\"timestamp\":\"2026-11-26T10:00:00.0000000Z\"}}",
                 cases[i].name);
        struct voice_call_event ev;
        assert_int_equal(parse_rte(json, &ev), 0);
        assert_int_equal(ev.kind, cases[i].kind);
        assert_string_equal(ev.user_id, "ab-12"); /* lower-cased */
        assert_string_equal(ev.call_id, "c-9");
        assert_int_equal(ev.timestamp_ms, T0);
        assert_string_equal(ev.name, cases[i].name);
    }
}

static void test_rte_numbers(void **state)
{
    (void)state;
    int numbers[] = {11, 12, 14, 15};
    enum voice_call_kind kinds[] = {VOICE_CALL_CONNECTED, VOICE_CALL_DISCONNECTED,
                                    VOICE_CALL_CONNECTED, VOICE_CALL_DISCONNECTED};
    for (int i = 0; i < 4; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"data\":{\"eventType\":%d,\"userId\":\"u\",\"callId\":\"c\"}}", numbers[i]);
        struct voice_call_event ev;
        assert_int_equal(parse_rte(json, &ev), 0);
        assert_int_equal(ev.kind, kinds[i]);
        assert_int_equal(ev.timestamp_ms, 0); /* absent */
        /* the same number sent as text */
        snprintf(json, sizeof(json),
                 "{\"data\":{\"eventType\":\"%d\",\"userId\":\"u\",\"callId\":\"c\"}}", numbers[i]);
        assert_int_equal(parse_rte(json, &ev), 0);
        assert_int_equal(ev.kind, kinds[i]);
    }
}

static void test_rte_unknown_types_ignored(void **state)
{
    (void)state;
    const char *others[] = {
        "{\"data\":{\"eventType\":\"UserCallInComing\",\"userId\":\"u\",\"callId\":\"c\"}}",
        "{\"data\":{\"eventType\":140}}",
        "{\"data\":{\"eventType\":10,\"callerNumber\":\"+358\"}}",
        "{\"data\":{\"eventType\":13,\"userId\":\"u\",\"callId\":\"c\"}}",
        "{\"data\":{\"eventType\":\"SomethingNew\"}}",
        "{\"data\":{\"eventType\":11.5,\"userId\":\"u\",\"callId\":\"c\"}}",
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        struct voice_call_event ev;
        if (parse_rte(others[i], &ev) != 0)
            fail_msg("rejected %s", others[i]);
        assert_int_equal(ev.kind, VOICE_CALL_OTHER);
    }
}

static void test_rte_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "[]",
        "\"x\"",
        "{}",
        "{\"data\":[]}",
        "{\"data\":{}}",
        "{\"data\":{\"eventType\":null}}",
        "{\"data\":{\"eventType\":\"\"}}",
        "{\"data\":{\"eventType\":true}}",
        /* call events need both ids */
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"callId\":\"c\"}}",
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":\"u\"}}",
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":\"\",\"callId\":\"c\"}}",
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":5.5,\"callId\":\"c\"}}",
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":true,\"callId\":\"c\"}}",
        /* a status event needs a user */
        "{\"data\":{\"eventType\":\"UserStatus\"}}",
        "{\"data\":{\"eventType\":141,\"callId\":\"c\"}}",
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":\"u\\n\",\"callId\":\"c\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct voice_call_event ev;
        if (parse_rte(bad[i], &ev) != -1)
            fail_msg("accepted %s", bad[i]);
    }
    struct voice_call_event ev;
    char err[64];
    assert_int_equal(events__parse_rte(NULL, NULL, &ev, err, sizeof(err)), -1);

    /* an id longer than VOICE_ID_MAX - 1 */
    char json[512], id[VOICE_ID_MAX + 1];
    memset(id, 'a', VOICE_ID_MAX);
    id[VOICE_ID_MAX] = '\0';
    snprintf(
        json, sizeof(json),
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":\"%s\",\"callId\":\"c\"}}",
        id);
    assert_int_equal(parse_rte(json, &ev), -1);
    id[VOICE_ID_MAX - 1] = '\0'; /* the longest that fits */
    snprintf(
        json, sizeof(json),
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":\"%s\",\"callId\":\"c\"}}",
        id);
    assert_int_equal(parse_rte(json, &ev), 0);
}

static void test_timestamps(void **state)
{
    (void)state;
    struct {
        const char *ts;
        int64_t want;
    } cases[] = {
        {"\"2026-11-26T10:00:00Z\"", T0},
        {"\"2026-11-26T10:00:00.250Z\"", T0 + 250},
        {"\"2026-11-26T12:00:00+02:00\"", T0},
        {"\"2026-11-26T10:00:00\"", T0}, /* UTC without a zone */
        {"\"2026-11-26T10:00:00.5\"", T0 + 500},
        {"1795687200000", T0},
        {"1795687200", T0},
        {"\"yesterday\"", 0},
        {"null", 0},
        {"-5", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":\"u\",\"callId\":"
                 "\"c\",\"timestamp\":%s}}",
                 cases[i].ts);
        struct voice_call_event ev;
        assert_int_equal(parse_rte(json, &ev), 0);
        if (ev.timestamp_ms != cases[i].want)
            fail_msg("%s -> %lld", cases[i].ts, (long long)ev.timestamp_ms);
    }
}

static void test_webhook(void **state)
{
    (void)state;
    struct voice_call_event ev;
    assert_int_equal(parse_hook("{\"Id\":\"x\",\"EventType\":\"UserCallOutConnected\",\"UserId\":"
                                "\"U-1\",\"CallId\":\"Call-1\",\"Timestamp\":"
                                "\"2026-11-26T10:00:00.0000000Z\",\"EntityType\":\"User\"}",
                                &ev),
                     0);
    assert_int_equal(ev.kind, VOICE_CALL_CONNECTED);
    assert_string_equal(ev.user_id, "u-1");
    assert_string_equal(ev.call_id, "call-1");
    assert_int_equal(ev.timestamp_ms, T0);

    assert_int_equal(parse_hook("{\"EventType\":\"UserCallInDisconnected\",\"UserId\":\"u\","
                                "\"CallId\":\"c\"}",
                                &ev),
                     0);
    assert_int_equal(ev.kind, VOICE_CALL_DISCONNECTED);

    assert_int_equal(parse_hook("{\"EventType\":\"QueueCallInConnected\",\"QueueId\":\"q\"}", &ev),
                     0);
    assert_int_equal(ev.kind, VOICE_CALL_OTHER);

    /* member names in any case: camelCase (the RTE shape) is read too */
    assert_int_equal(parse_hook("{\"eventType\":\"UserCallInConnected\",\"userId\":\"u\","
                                "\"callId\":\"c\"}",
                                &ev),
                     0);
    assert_string_equal(ev.user_id, "u");
    /* a user event may name its user in EntityId only (docs/voice.md) */
    assert_int_equal(parse_hook("{\"EventType\":\"UserCallInConnected\",\"EntityType\":\"User\","
                                "\"EntityId\":\"E-1\",\"CallId\":\"c\"}",
                                &ev),
                     0);
    assert_string_equal(ev.user_id, "e-1");
    /* ... but not when the entity is something else */
    assert_int_equal(parse_hook("{\"EventType\":\"UserCallInConnected\",\"EntityType\":\"Queue\","
                                "\"EntityId\":\"q-1\",\"CallId\":\"c\"}",
                                &ev),
                     -1);
    /* UserId wins over EntityId */
    assert_int_equal(parse_hook("{\"EventType\":\"UserCallInConnected\",\"EntityId\":\"e\","
                                "\"UserId\":\"u\",\"CallId\":\"c\"}",
                                &ev),
                     0);
    assert_string_equal(ev.user_id, "u");
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "null",
                         "{\"EventType\":\"UserCallInConnected\"}",
                         "{\"EventType\":\"UserCallInConnected\",\"UserId\":\"u\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_hook(bad[i], &ev) != -1)
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(parse_hook(NULL, &ev), -1);
    /* the length bounds the body */
    static const char two[] = "{\"EventType\":\"X\"}{\"EventType\":\"Y\"}";
    char err[64];
    assert_int_equal(events__parse_webhook(NULL, two, 17, &ev, err, sizeof(err)), 0);
    assert_string_equal(ev.name, "X");
    assert_int_equal(events__parse_webhook(NULL, two, strlen(two), &ev, err, sizeof(err)), -1);
}

static void test_kind_helpers(void **state)
{
    (void)state;
    assert_int_equal(events__kind_by_name(NULL, "UserCallInConnected"), VOICE_CALL_CONNECTED);
    assert_int_equal(events__kind_by_name(NULL, "userstatus"), VOICE_USER_STATUS);
    assert_int_equal(events__kind_by_name(NULL, NULL), VOICE_CALL_OTHER);
    assert_int_equal(events__kind_by_number(NULL, 15), VOICE_CALL_DISCONNECTED);
    assert_int_equal(events__kind_by_number(NULL, 141), VOICE_USER_STATUS);
    assert_int_equal(events__kind_by_number(NULL, 0), VOICE_CALL_OTHER);
    assert_int_equal(events__kind_by_number(NULL, -1), VOICE_CALL_OTHER);
    assert_string_equal(events__kind_name(VOICE_CALL_CONNECTED), "connected");
    assert_string_equal(events__kind_name(VOICE_CALL_DISCONNECTED), "disconnected");
    assert_string_equal(events__kind_name(VOICE_USER_STATUS), "user_status");
    assert_string_equal(events__kind_name(VOICE_CALL_OTHER), "other");
    struct events_model *m = events__model_default();
    assert_non_null(m);
    assert_int_equal(events__model_count(m), 5);
    assert_string_equal(events__model_name(m, 4), "UserStatus");
    assert_int_equal(events__model_kind(m, 4), VOICE_USER_STATUS);
    assert_false(events__model_has_status_rule(m));
    events__model_free(m);
}

/* A hub whose vocabulary differs: configuration alone makes it work. */
static void test_custom_model(void **state)
{
    (void)state;
    static const char *const users[] = {"payload.agent.id", "entityId"};
    static const char *const calls[] = {"payload.callGuid"};
    struct events_model *m = events__model_new();
    assert_non_null(m);
    assert_int_equal(events__model_add(m, VOICE_CALL_CONNECTED, "CallStarted", 201), 0);
    assert_int_equal(events__model_add(m, VOICE_CALL_CONNECTED, "QueueCallInUserConnected", -1), 0);
    assert_int_equal(events__model_add(m, VOICE_CALL_DISCONNECTED, "CallEnded", 202), 0);
    assert_int_equal(events__model_add(m, VOICE_CALL_OTHER, "X", 1), -1);
    assert_int_equal(events__model_add(m, VOICE_CALL_CONNECTED, "", 1), -1);
    assert_int_equal(events__model_user_fields(m, users, 2), 0);
    assert_int_equal(events__model_call_fields(m, calls, 1), 0);
    struct voice_call_event ev;
    char err[160];
    cJSON *a = cJSON_Parse("{\"data\":{\"eventType\":201,\"payload\":{\"Agent\":{\"ID\":\"A-7\"},"
                           "\"CALLGUID\":\"G-1\"}}}");
    assert_int_equal(events__parse_rte(m, a, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.kind, VOICE_CALL_CONNECTED);
    assert_string_equal(ev.user_id, "a-7");
    assert_string_equal(ev.call_id, "g-1");
    cJSON_Delete(a);
    /* the fallback path, and a queue event added by name only */
    a = cJSON_Parse("{\"data\":{\"eventType\":\"QueueCallInUserConnected\",\"EntityId\":\"u\","
                    "\"payload\":{\"callGuid\":\"g\"}}}");
    assert_int_equal(events__parse_rte(m, a, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.kind, VOICE_CALL_CONNECTED);
    assert_string_equal(ev.user_id, "u");
    cJSON_Delete(a);
    /* the default names mean nothing to this model */
    a = cJSON_Parse("{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":\"u\","
                    "\"callId\":\"c\"}}");
    assert_int_equal(events__parse_rte(m, a, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.kind, VOICE_CALL_OTHER);
    cJSON_Delete(a);
    /* the default ids are not read either: the error names the field */
    a = cJSON_Parse("{\"data\":{\"eventType\":202,\"userId\":\"u\",\"callId\":\"c\"}}");
    assert_int_equal(events__parse_rte(m, a, &ev, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "payload.agent.id"));
    cJSON_Delete(a);
    events__model_free(m);
}

static void test_status_rule(void **state)
{
    (void)state;
    static const char *const talking[] = {"Talking", "3"}, *const free_v[] = {"Available"};
    struct events_model *m = events__model_default();
    assert_non_null(m);
    assert_int_equal(events__model_status_rule(m, "status", talking, 2, free_v, 1), 0);
    assert_true(events__model_has_status_rule(m));
    struct {
        const char *json;
        enum voice_status want;
        const char *value;
    } cases[] = {
        {"{\"data\":{\"eventType\":\"UserStatus\",\"userId\":\"U\",\"status\":\"talking\"}}",
         VOICE_STATUS_TALKING, "talking"},
        {"{\"data\":{\"eventType\":141,\"userId\":\"u\",\"Status\":\"Available\"}}",
         VOICE_STATUS_FREE, "Available"},
        {"{\"data\":{\"eventType\":141,\"userId\":\"u\",\"status\":3}}", VOICE_STATUS_TALKING, "3"},
        {"{\"data\":{\"eventType\":141,\"userId\":\"u\",\"status\":\"Wrapping\"}}",
         VOICE_STATUS_UNKNOWN, "Wrapping"},
        {"{\"data\":{\"eventType\":141,\"userId\":\"u\"}}", VOICE_STATUS_UNKNOWN, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct voice_call_event ev;
        char err[160];
        cJSON *a = cJSON_Parse(cases[i].json);
        assert_int_equal(events__parse_rte(m, a, &ev, err, sizeof(err)), 0);
        assert_int_equal(ev.kind, VOICE_USER_STATUS);
        assert_string_equal(ev.user_id, "u");
        if (ev.status != cases[i].want)
            fail_msg("%s -> %d", cases[i].json, ev.status);
        assert_string_equal(ev.status_value, cases[i].value);
        cJSON_Delete(a);
    }
    events__model_free(m);
}

static void test_available(void **state)
{
    (void)state;
    struct {
        const char *json;
        size_t n;
        const char *first;
    } ok[] = {
        {"[\"UserStatus\",\"UserCallInComing\"]", 2, "UserStatus"},
        {"[{\"EventName\":\"UserStatus\"},{\"eventName\":\"QueueStatus\"},{\"x\":1}]", 2,
         "UserStatus"},
        {"[{\"Name\":\"A\",\"Id\":1}]", 1, "A"},
        {"{\"events\":[\"A\",\"B\",5,\"\"]}", 2, "A"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char **names = NULL, err[128];
        size_t n = 0;
        cJSON *a = cJSON_Parse(ok[i].json);
        if (events__parse_available(a, &names, &n, err, sizeof(err)) != 0)
            fail_msg("%s: %s", ok[i].json, err);
        assert_int_equal(n, ok[i].n);
        assert_string_equal(names[0], ok[i].first);
        events__names_free(names, n);
        cJSON_Delete(a);
    }
    const char *bad[] = {"[]", "{}", "null", "\"UserStatus\"", "[1,2]", "{\"a\":{}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char **names = NULL, err[128] = "";
        size_t n = 0;
        cJSON *a = cJSON_Parse(bad[i]);
        if (events__parse_available(a, &names, &n, err, sizeof(err)) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_true(err[0] != '\0');
        assert_null(names);
        cJSON_Delete(a);
    }
}

static void test_lookup(void **state)
{
    (void)state;
    cJSON *o = cJSON_Parse("{\"A\":{\"b\":{\"C\":7}},\"x\":1}");
    assert_int_equal(events__lookup(o, "a.B.c")->valueint, 7);
    assert_null(events__lookup(o, "a.b.d"));
    assert_null(events__lookup(o, "x.y"));
    assert_null(events__lookup(NULL, "x"));
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rte_names),
        cmocka_unit_test(test_rte_numbers),
        cmocka_unit_test(test_rte_unknown_types_ignored),
        cmocka_unit_test(test_rte_malformed),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_kind_helpers),
        cmocka_unit_test(test_custom_model),
        cmocka_unit_test(test_status_rule),
        cmocka_unit_test(test_available),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
