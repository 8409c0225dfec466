/* voice.capture (connector/voice/capture.h): redaction of credentials by
 * member name and by value, the per-name count, the line shape and the
 * file mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "voice/capture.h"

static void test_secret_values(void **state)
{
    (void)state;
    assert_true(capture__is_secret_value("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
    assert_true(capture__is_secret_value("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0."));
    assert_true(capture__is_secret_value("Bearer abc"));
    assert_true(capture__is_secret_value("basic dXNlcjpwYXNz"));
    assert_false(capture__is_secret_value("eyJ is not a token"));
    assert_false(capture__is_secret_value("a.b.c"));
    assert_false(capture__is_secret_value("2026-11-26T10:00:00.123"));
    assert_false(capture__is_secret_value("+358401234567"));
    assert_false(capture__is_secret_value(NULL));
}

static void test_redact(void **state)
{
    (void)state;
    cJSON *in = cJSON_Parse(
        "{\"data\":{\"eventType\":\"UserStatus\",\"userId\":\"u\",\"AccessToken\":\"t1\","
        "\"nested\":[{\"Secret\":{\"x\":1}},\"Bearer t2\",\"plain\"],\"password\":null,"
        "\"raw\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\",\"Authorization\":5}}");
    cJSON *out = capture__redact(in);
    char *s = cJSON_PrintUnformatted(out);
    assert_string_equal(s, "{\"data\":{\"eventType\":\"UserStatus\",\"userId\":\"u\","
                           "\"AccessToken\":\"[redacted]\",\"nested\":[{\"Secret\":\"[redacted]\"},"
                           "\"[redacted]\",\"plain\"],\"password\":null,\"raw\":\"[redacted]\","
                           "\"Authorization\":\"[redacted]\"}}");
    free(s);
    /* the input is untouched */
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(in, "data"), "AccessToken")->valuestring, "t1");
    cJSON_Delete(out);
    cJSON_Delete(in);
    /* a bare secret, and NULL */
    cJSON *b = cJSON_CreateString("Bearer x");
    out = capture__redact(b);
    assert_string_equal(out->valuestring, CAPTURE_REDACTED);
    cJSON_Delete(out);
    cJSON_Delete(b);
    out = capture__redact(NULL);
    assert_true(cJSON_IsNull(out));
    cJSON_Delete(out);
}

static void test_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ps-capture.XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c.jsonl", dir);
    struct capture *c = capture__open(path, 2);
    assert_non_null(c);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    cJSON *p = cJSON_Parse("{\"data\":{\"eventType\":\"A\",\"token\":\"x\"}}");
    for (int i = 0; i < 3; i++)
        assert_int_equal(capture__record(c, "contoso", "message_received", "A", p), i < 2);
    assert_true(capture__record(c, "contoso", "message_received", "B", p));
    assert_true(capture__record(c, "contoso", "available_subscriptions", "A", p));
    assert_false(capture__wants(c, "message_received", "A"));
    assert_true(capture__wants(c, "message_received", "C"));
    assert_false(capture__record(NULL, "t", "k", "n", p));
    cJSON_Delete(p);
    capture__close(c);

    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        assert_string_equal(cJSON_GetObjectItem(o, "tenant")->valuestring, "contoso");
        assert_non_null(cJSON_GetObjectItem(o, "at"));
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "payload"), "data"),
                                "token")
                ->valuestring,
            CAPTURE_REDACTED);
        cJSON_Delete(o);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 4);
    /* appends: a second open keeps the lines (and counts anew) */
    c = capture__open(path, 1);
    assert_non_null(c);
    capture__close(c);
    unlink(path);
    rmdir(dir);
    /* a file that cannot be opened: NULL, logged */
    assert_null(capture__open("/nonexistent-dir/c.jsonl", 1));
    assert_null(capture__open(path, 0));
}

int main(void)
{
    log__set_level(PS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_values),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
