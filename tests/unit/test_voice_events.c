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
    int rc = events__parse_rte(arg, ev, err, sizeof(err));
    if (rc < 0)
        assert_true(err[0] != '\0');
    cJSON_Delete(arg);
    return rc;
}

static int parse_hook(const char *body, struct voice_call_event *ev)
{
    char err[128] = "";
    int rc = events__parse_webhook(body, body ? strlen(body) : 0, ev, err, sizeof(err));
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
        bool outbound;
    } cases[] = {
        {"UserCallInConnected", VOICE_CALL_CONNECTED, false},
        {"UserCallInDisconnected", VOICE_CALL_DISCONNECTED, false},
        {"UserCallOutConnected", VOICE_CALL_CONNECTED, true},
        {"UserCallOutDisconnected", VOICE_CALL_DISCONNECTED, true},
        {"usercallinconnected", VOICE_CALL_CONNECTED, false},
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
        assert_int_equal(ev.outbound, cases[i].outbound);
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
        assert_int_equal(ev.outbound, i >= 2);
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
        "{\"data\":{\"eventType\":\"UserStatus\",\"userId\":\"u\"}}",
        "{\"data\":{\"eventType\":\"UserCallInComing\",\"userId\":\"u\",\"callId\":\"c\"}}",
        "{\"data\":{\"eventType\":141}}",
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
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":5,\"callId\":\"c\"}}",
        "{\"data\":{\"eventType\":\"UserCallInConnected\",\"userId\":\"u\\n\",\"callId\":\"c\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct voice_call_event ev;
        if (parse_rte(bad[i], &ev) != -1)
            fail_msg("accepted %s", bad[i]);
    }
    struct voice_call_event ev;
    char err[64];
    assert_int_equal(events__parse_rte(NULL, &ev, err, sizeof(err)), -1);

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
    assert_true(ev.outbound);
    assert_string_equal(ev.user_id, "u-1");
    assert_string_equal(ev.call_id, "call-1");
    assert_int_equal(ev.timestamp_ms, T0);

    assert_int_equal(parse_hook("{\"EventType\":\"UserCallInDisconnected\",\"UserId\":\"u\","
                                "\"CallId\":\"c\"}",
                                &ev),
                     0);
    assert_int_equal(ev.kind, VOICE_CALL_DISCONNECTED);
    assert_false(ev.outbound);

    assert_int_equal(parse_hook("{\"EventType\":\"QueueCallInConnected\",\"QueueId\":\"q\"}", &ev),
                     0);
    assert_int_equal(ev.kind, VOICE_CALL_OTHER);

    /* camelCase is the RTE shape, not the webhook's */
    assert_int_equal(parse_hook("{\"eventType\":\"UserCallInConnected\",\"userId\":\"u\","
                                "\"callId\":\"c\"}",
                                &ev),
                     -1);
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
    assert_int_equal(events__parse_webhook(two, 17, &ev, err, sizeof(err)), 0);
    assert_string_equal(ev.name, "X");
    assert_int_equal(events__parse_webhook(two, strlen(two), &ev, err, sizeof(err)), -1);
}

static void test_kind_helpers(void **state)
{
    (void)state;
    bool out = true;
    assert_int_equal(events__kind_by_name("UserCallInConnected", &out), VOICE_CALL_CONNECTED);
    assert_false(out);
    assert_int_equal(events__kind_by_name(NULL, NULL), VOICE_CALL_OTHER);
    assert_int_equal(events__kind_by_number(15, &out), VOICE_CALL_DISCONNECTED);
    assert_true(out);
    assert_int_equal(events__kind_by_number(0, NULL), VOICE_CALL_OTHER);
    assert_string_equal(events__kind_name(VOICE_CALL_CONNECTED), "connected");
    assert_string_equal(events__kind_name(VOICE_CALL_DISCONNECTED), "disconnected");
    assert_string_equal(events__kind_name(VOICE_CALL_OTHER), "other");
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
