/* Event JSON building and hub message parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voice_event.h"

#define WALL_MS 1795687200123LL /* 2026-11-26T10:00:00.123Z */

static void test_names_numbers(void **state)
{
    (void)state;
    assert_string_equal(voice_event__name(VE_CALL_IN_CONNECTED), "UserCallInConnected");
    assert_string_equal(voice_event__name(VE_CALL_OUT_DISCONNECTED), "UserCallOutDisconnected");
    assert_null(voice_event__name(VE_CALL_KINDS));
    assert_int_equal(voice_event__kind("UserCallOutConnected"), VE_CALL_OUT_CONNECTED);
    assert_int_equal(voice_event__kind("usercalloutconnected"), -1);
    for (int k = 0; k < VE_CALL_KINDS; k++) {
        assert_true(voice_event__number(k) > 0);
        for (int j = 0; j < k; j++)
            assert_int_not_equal(voice_event__number(k), voice_event__number(j));
    }
    assert_true(voice_event__subscribable(NULL, "UserStatus"));
    assert_true(voice_event__subscribable(NULL, "UserCallInDisconnected"));
    assert_true(voice_event__subscribable(NULL, "UserAvailability"));
    assert_false(voice_event__subscribable(NULL, "UserCallInTeleported"));
    /* another vocabulary: its names are offered, the defaults are not */
    struct ve_vocab v;
    voice_event__vocab_default(&v);
    assert_string_equal(v.names[VE_USER_STATUS], "UserStatus");
    assert_int_equal(v.numbers[VE_USER_STATUS], 141);
    snprintf(v.names[VE_CALL_IN_CONNECTED], VE_NAME_LEN, "CallAnswered");
    assert_true(voice_event__subscribable(&v, "CallAnswered"));
    assert_false(voice_event__subscribable(&v, "UserCallInConnected"));
    assert_int_equal(voice_event__vocab_key("user_status"), VE_USER_STATUS);
    assert_int_equal(voice_event__vocab_key("nope"), -1);
    assert_int_equal(voice_event_format__parse("mixed"), VE_FMT_MIXED);
    assert_int_equal(voice_event_format__parse("nope"), -1);
}

static void test_rte_message_by_name(void **state)
{
    (void)state;
    char *s = voice_event__rte_message(NULL, "UserCallInConnected", -1, "u-1", "c-1", WALL_MS);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_int_equal(cJSON_GetObjectItem(o, "type")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(o, "target")->valuestring, "MessageReceived");
    assert_null(cJSON_GetObjectItem(o, "invocationId")); /* fire and forget */
    cJSON *args = cJSON_GetObjectItem(o, "arguments");
    assert_int_equal(cJSON_GetArraySize(args), 1);
    cJSON *data = cJSON_GetObjectItem(cJSON_GetArrayItem(args, 0), "data");
    assert_string_equal(cJSON_GetObjectItem(data, "eventType")->valuestring, "UserCallInConnected");
    assert_string_equal(cJSON_GetObjectItem(data, "userId")->valuestring, "u-1");
    assert_string_equal(cJSON_GetObjectItem(data, "callId")->valuestring, "c-1");
    assert_string_equal(cJSON_GetObjectItem(data, "timestamp")->valuestring,
                        "2026-11-26T10:00:00.1230000Z");
    assert_null(strchr(s, 0x1e));
    cJSON_Delete(o);
    free(s);
}

static void test_rte_message_by_number(void **state)
{
    (void)state;
    char *s = voice_event__rte_message(NULL, "UserCallInConnected", 11, "u", "c", WALL_MS);
    cJSON *o = cJSON_Parse(s);
    cJSON *data =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "arguments"), 0), "data");
    cJSON *et = cJSON_GetObjectItem(data, "eventType");
    assert_true(cJSON_IsNumber(et));
    assert_int_equal(et->valueint, 11);
    cJSON_Delete(o);
    free(s);
}

static void test_webhook_body(void **state)
{
    (void)state;
    char *s = voice_event__webhook_body("UserCallOutDisconnected", "u\"x", "c", WALL_MS, false);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "EventType")->valuestring,
                        "UserCallOutDisconnected");
    assert_string_equal(cJSON_GetObjectItem(o, "UserId")->valuestring, "u\"x");
    assert_string_equal(cJSON_GetObjectItem(o, "EntityType")->valuestring, "User");
    assert_string_equal(cJSON_GetObjectItem(o, "EntityId")->valuestring, "u\"x");
    assert_string_equal(cJSON_GetObjectItem(o, "CallId")->valuestring, "c");
    assert_non_null(cJSON_GetObjectItem(o, "Timestamp"));
    assert_non_null(cJSON_GetObjectItem(o, "Id"));
    cJSON_Delete(o);
    free(s);
    /* the user named by EntityId only */
    s = voice_event__webhook_body("UserCallInConnected", "u", "c", WALL_MS, true);
    o = cJSON_Parse(s);
    assert_null(cJSON_GetObjectItem(o, "UserId"));
    assert_string_equal(cJSON_GetObjectItem(o, "EntityId")->valuestring, "u");
    cJSON_Delete(o);
    free(s);
}

static void test_status_and_fields(void **state)
{
    (void)state;
    struct ve_vocab v;
    voice_event__vocab_default(&v);
    snprintf(v.user_field, sizeof(v.user_field), "entityId");
    snprintf(v.call_field, sizeof(v.call_field), "callGuid");
    char *s = voice_event__rte_message(&v, "CallAnswered", -1, "u", "c", WALL_MS);
    cJSON *o = cJSON_Parse(s);
    cJSON *data =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "arguments"), 0), "data");
    assert_string_equal(cJSON_GetObjectItem(data, "entityId")->valuestring, "u");
    assert_string_equal(cJSON_GetObjectItem(data, "callGuid")->valuestring, "c");
    assert_null(cJSON_GetObjectItem(data, "userId"));
    cJSON_Delete(o);
    free(s);
    s = voice_event__rte_status(NULL, "UserStatus", 141, "u", 2, WALL_MS);
    o = cJSON_Parse(s);
    data = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "arguments"), 0), "data");
    assert_int_equal(cJSON_GetObjectItem(data, "eventType")->valueint, 141);
    assert_string_equal(cJSON_GetObjectItem(data, "status")->valuestring, "Talking");
    assert_int_equal(cJSON_GetObjectItem(data, "activeCalls")->valueint, 2);
    cJSON_Delete(o);
    free(s);
    s = voice_event__rte_status(NULL, "UserStatus", -1, "u", 0, WALL_MS);
    assert_non_null(strstr(s, "\"status\":\"Available\""));
    free(s);
}

static void test_completion_and_close(void **state)
{
    (void)state;
    char *a = rte__completion("7", "[1,2]", NULL);
    assert_string_equal(a, "{\"type\":3,\"invocationId\":\"7\",\"result\":[1,2]}");
    char *b = rte__completion("8", NULL, "bad");
    assert_string_equal(b, "{\"type\":3,\"invocationId\":\"8\",\"error\":\"bad\"}");
    char *c = rte__close("token expired", true);
    assert_string_equal(c, "{\"type\":7,\"error\":\"token expired\",\"allowReconnect\":true}");
    free(a);
    free(b);
    free(c);
}

static void test_handshake(void **state)
{
    (void)state;
    char err[160];
    assert_int_equal(
        rte__parse_handshake("{\"protocol\":\"json\",\"version\":1}", err, sizeof(err)), 0);
    assert_int_equal(
        rte__parse_handshake("{\"protocol\":\"messagepack\",\"version\":1}", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "messagepack"));
    assert_int_equal(
        rte__parse_handshake("{\"protocol\":\"json\",\"version\":2}", err, sizeof(err)), -1);
    assert_int_equal(rte__parse_handshake("not json", err, sizeof(err)), -1);
    assert_int_equal(rte__parse_handshake("{\"version\":1}", err, sizeof(err)), -1);
}

static bool known(void *ctx, const char *id)
{
    (void)ctx;
    return !strcmp(id, "u1") || !strcmp(id, "u2");
}

static int parse_sub(const char *json, struct rte_sub *subs, int max, char *err)
{
    struct rte_msg m;
    assert_int_equal(rte__parse_msg(json, &m), 0);
    int n = rte__parse_subscribe(m.arguments, known, NULL, NULL, subs, max, err, 160);
    rte_msg__free(&m);
    return n;
}

static void test_subscribe(void **state)
{
    (void)state;
    struct rte_sub subs[4];
    char err[160];
    const char *ok = "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Subscribe\",\"arguments\":"
                     "[[{\"EntityId\":\"u1\",\"EventName\":\"UserCallInConnected\"},"
                     "{\"EntityId\":\"u2\",\"EventName\":\"UserStatus\"}]]}";
    struct rte_msg m;
    assert_int_equal(rte__parse_msg(ok, &m), 0);
    assert_int_equal(m.type, 1);
    assert_string_equal(m.invocation_id, "1");
    assert_string_equal(m.target, "Subscribe");
    rte_msg__free(&m);
    assert_int_equal(parse_sub(ok, subs, 4, err), 2);
    assert_string_equal(subs[0].entity_id, "u1");
    assert_string_equal(subs[1].event_name, "UserStatus");

    assert_int_equal(parse_sub("{\"type\":1,\"target\":\"Subscribe\",\"arguments\":[[{\"EntityId\":"
                               "\"u9\",\"EventName\":\"UserStatus\"}]]}",
                               subs, 4, err),
                     -1);
    assert_non_null(strstr(err, "unknown entity"));
    assert_int_equal(parse_sub("{\"type\":1,\"target\":\"Subscribe\",\"arguments\":[[{\"EntityId\":"
                               "\"u1\",\"EventName\":\"Bogus\"}]]}",
                               subs, 4, err),
                     -1);
    assert_non_null(strstr(err, "unknown event name"));
    assert_int_equal(
        parse_sub("{\"type\":1,\"target\":\"Subscribe\",\"arguments\":[]}", subs, 4, err), -1);
    assert_int_equal(
        parse_sub("{\"type\":1,\"target\":\"Subscribe\",\"arguments\":[[{\"EntityId\":1}]]}", subs,
                  4, err),
        -1);
    assert_int_equal(parse_sub(ok, subs, 1, err), -1); /* more than max */
    assert_int_equal(rte__parse_msg("{\"target\":\"x\"}", &m), -1);
    assert_int_equal(rte__parse_msg("[1]", &m), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_numbers),
        cmocka_unit_test(test_rte_message_by_name),
        cmocka_unit_test(test_rte_message_by_number),
        cmocka_unit_test(test_webhook_body),
        cmocka_unit_test(test_status_and_fields),
        cmocka_unit_test(test_completion_and_close),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_subscribe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
