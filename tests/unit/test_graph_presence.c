/* Presence evaluation and the teams/<id>/busy payload (graph/presence.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/presence.h"

static void test_busy_default(void **state)
{
    (void)state;
    struct {
        const char *activity;
        bool busy;
    } table[] = {
        {"InACall", true},
        {"InAConferenceCall", true},
        {"Presenting", true},
        {"inACall", true}, /* camelCase seen in newer docs */
        {"INACONFERENCECALL", true},
        {"presenting", true},
        {"InAMeeting", false}, /* calendar entry, not a call */
        {"Busy", false},
        {"Available", false},
        {"DoNotDisturb", false},
        {"Focusing", false}, /* unknown: tolerated, not busy */
        {"PresenceUnknown", false},
        {"InACal", false},
        {"InACallX", false},
        {"", false},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (presence__is_busy(table[i].activity, NULL, 0) != table[i].busy)
            fail_msg("activity %s", table[i].activity ? table[i].activity : "(null)");
    }
    assert_int_equal(presence__default_busy_count, 3);
}

static void test_busy_configured(void **state)
{
    (void)state;
    const char *const list[] = {"InAMeeting", "busy", "Focusing"};
    assert_true(presence__is_busy("InAMeeting", list, 3));
    assert_true(presence__is_busy("Busy", list, 3));
    assert_true(presence__is_busy("focusing", list, 3));
    assert_false(presence__is_busy("InACall", list, 3)); /* not configured */
    assert_false(presence__is_busy("InACall", list, 0)); /* empty list: nothing is busy */
    const char *const with_null[] = {NULL, "InACall"};
    assert_true(presence__is_busy("inacall", with_null, 2));
}

static void test_sequence(void **state)
{
    (void)state;
    assert_true(presence__seq_accept(NULL, NULL));
    assert_true(presence__seq_accept("", "0000000010"));
    assert_true(presence__seq_accept("0000000010", NULL));
    assert_true(presence__seq_accept("0000000010", ""));
    assert_true(presence__seq_accept("0000000010", "0000000011"));
    assert_true(presence__seq_accept("0000000010", "0000000010")); /* re-delivery */
    assert_false(presence__seq_accept("0000000011", "0000000010"));
    /* Lexicographic, as Graph documents it. */
    assert_true(presence__seq_accept("638500000000000000", "638500000000000001"));
    assert_false(presence__seq_accept("B", "A"));
    assert_true(presence__seq_accept("A", "AB"));
    assert_false(presence__seq_accept("AB", "A"));
}

static void test_parse(void **state)
{
    (void)state;
    const char *txt =
        "{\"@odata.type\":\"#Microsoft.Graph.presence\",\"@odata.id\":\"users/u1/presence\","
        "\"id\":\"u1\",\"availability\":\"Busy\",\"activity\":\"InACall\",\"sequenceNumber\":"
        "\"C1_05\",\"statusMessage\":null,\"outOfOfficeSettings\":{\"isOutOfOffice\":false},"
        "\"workLocation\":{}}";
    struct presence_state p;
    const char *why = "x";
    assert_int_equal(presence__parse_text(txt, strlen(txt), &p, &why), 0);
    assert_null(why);
    assert_string_equal(p.id, "u1");
    assert_string_equal(p.availability, "Busy");
    assert_string_equal(p.activity, "InACall");
    assert_string_equal(p.sequence, "C1_05");

    /* getPresencesByUserId response: each value[] element parses. */
    const char *resp = "{\"value\":[{\"id\":\"a\",\"availability\":\"Available\",\"activity\":"
                       "\"Available\"},{\"id\":\"b\",\"availability\":\"DoNotDisturb\","
                       "\"activity\":\"Presenting\",\"sequenceNumber\":null}]}";
    cJSON *root = cJSON_Parse(resp);
    const cJSON *v = cJSON_GetObjectItem(root, "value");
    assert_int_equal(presence__parse(cJSON_GetArrayItem(v, 0), &p, NULL), 0);
    assert_string_equal(p.sequence, "");
    assert_false(presence__is_busy(p.activity, NULL, 0));
    assert_int_equal(presence__parse(cJSON_GetArrayItem(v, 1), &p, NULL), 0);
    assert_string_equal(p.id, "b");
    assert_true(presence__is_busy(p.activity, NULL, 0));
    cJSON_Delete(root);
}

static void expect_bad(const char *txt, const char *want)
{
    struct presence_state p;
    memset(&p, 'z', sizeof(p));
    const char *why = NULL;
    assert_int_equal(presence__parse_text(txt, strlen(txt), &p, &why), -1);
    assert_non_null(why);
    assert_string_equal(why, want);
    assert_string_equal(p.id, ""); /* nothing half-filled */
    assert_string_equal(p.activity, "");
}

static void test_parse_bad(void **state)
{
    (void)state;
    expect_bad("not json", "presence: not JSON");
    expect_bad("[]", "presence: not an object");
    expect_bad("{\"availability\":\"Busy\",\"activity\":\"InACall\"}", "id: missing");
    expect_bad("{\"id\":\"u\",\"activity\":\"InACall\"}", "availability: missing");
    expect_bad("{\"id\":\"u\",\"availability\":\"Busy\"}", "activity: missing");
    expect_bad("{\"id\":\"u\",\"availability\":\"Busy\",\"activity\":3}",
               "activity: not a string of 1..64 bytes");
    expect_bad("{\"id\":\"\",\"availability\":\"Busy\",\"activity\":\"InACall\"}",
               "id: not a string of 1..128 bytes");
    expect_bad("{\"id\":\"u\",\"availability\":\"Busy\",\"activity\":\"InACall\","
               "\"sequenceNumber\":5}",
               "sequenceNumber: not a string of up to 128 bytes");
    char big[256];
    snprintf(big, sizeof(big), "{\"id\":\"u\",\"availability\":\"Busy\",\"activity\":\"%065d\"}",
             0);
    expect_bad(big, "activity: not a string of 1..64 bytes");
    snprintf(big, sizeof(big), "{\"id\":\"u\",\"availability\":\"Busy\",\"activity\":\"%064d\"}",
             0);
    struct presence_state p;
    assert_int_equal(presence__parse_text(big, strlen(big), &p, NULL), 0);
    assert_int_equal(strlen(p.activity), 64);
    assert_int_equal(presence__parse_text(NULL, 0, &p, NULL), -1);
}

static void test_payload(void **state)
{
    (void)state;
    const int64_t t = 1795687200000LL; /* 2026-11-26T10:00:00Z */
    char *s = presence__busy_payload(true, "Busy", "InACall", t + 999, "notification", NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"busy\":true,\"availability\":\"Busy\",\"activity\":\"InACall\","
                           "\"since\":\"2026-11-26T10:00:00Z\",\"source\":\"notification\"}");
    free(s);
    /* With the Graph object id (for the mapper's getPresencesByUserId). */
    s = presence__busy_payload(true, "Busy", "InACall", t, "notification",
                               "2b3c1a9e-7a41-4f7e-9a51-0c1d2e3f4a5b");
    assert_string_equal(s, "{\"busy\":true,\"availability\":\"Busy\",\"activity\":\"InACall\","
                           "\"since\":\"2026-11-26T10:00:00Z\",\"source\":\"notification\","
                           "\"user_id\":\"2b3c1a9e-7a41-4f7e-9a51-0c1d2e3f4a5b\"}");
    free(s);
    s = presence__busy_payload(false, "Available", "Available", t, "resync", "");
    assert_string_equal(s, "{\"busy\":false,\"availability\":\"Available\",\"activity\":"
                           "\"Available\",\"since\":\"2026-11-26T10:00:00Z\",\"source\":"
                           "\"resync\"}");
    free(s);
    /* Unknown activity strings are passed through, escaped by cJSON. */
    s = presence__busy_payload(false, "Busy", "New\"Thing", t, "resync", NULL);
    cJSON *o = cJSON_Parse(s);
    assert_string_equal(cJSON_GetObjectItem(o, "activity")->valuestring, "New\"Thing");
    cJSON_Delete(o);
    free(s);
    assert_null(presence__busy_payload(true, "Busy", "InACall", t, "rte", NULL));
    assert_null(presence__busy_payload(true, "Busy", "InACall", t, NULL, NULL));
    assert_null(presence__busy_payload(true, NULL, "InACall", t, "resync", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_busy_default), cmocka_unit_test(test_busy_configured),
        cmocka_unit_test(test_sequence),     cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_bad),    cmocka_unit_test(test_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
