/* Log line format, levels, escaping of control bytes and secret masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

/* Runs the logging calls with stderr sent to a temp file; returns its text. */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/ps-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    static char buf[8192];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return buf;
}

static void log_levels(void)
{
    log__set_level(PS_LOG_INFO);
    LOG_DEBUG("test", "hidden");
    LOG_INFO("mqtt", "connected url=%s", "mqtt://x");
    LOG_ERROR("graph", "token failed code=%d", 50076);
}

static void test_format_and_levels(void **state)
{
    (void)state;
    char *out = capture(log_levels);
    assert_null(strstr(out, "hidden"));
    char *line = strstr(out, " info mqtt connected url=mqtt://x\n");
    assert_non_null(line);
    assert_non_null(strstr(out, " error graph token failed code=50076\n"));
    /* 2026-11-26T10:00:00.123Z */
    assert_int_equal(out[4], '-');
    assert_int_equal(out[10], 'T');
    assert_int_equal(out[23], 'Z');
}

static void log_injection(void)
{
    LOG_WARN("http", "bad token=%s", "a\nFAKE error line\r\x01");
}

static void test_control_bytes_escaped(void **state)
{
    (void)state;
    char *out = capture(log_injection);
    assert_non_null(strstr(out, "bad token=a\\x0AFAKE error line\\x0D\\x01\n"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

static void log_secret(void)
{
    log__redact("s3cr3t+/=value");
    log__redact("ab"); /* too short: ignored */
    LOG_ERROR("cfg", "oops value=s3cr3t+/=value and again s3cr3t+/=value ab");
}

static void test_secret_masked(void **state)
{
    (void)state;
    char *out = capture(log_secret);
    assert_null(strstr(out, "s3cr3t"));
    assert_non_null(strstr(out, "oops value=*** and again *** ab\n"));
    log__redact_clear();
}

/* Tokens rotate every hour per account: each new one takes its
 * predecessor's place, the count stays flat, and the newest is masked after
 * 1,000 rotations (masking once stopped after 64 registrations). */
static char rotated[32];

static void log_rotated(void)
{
    LOG_ERROR("graph", "leak=%s", rotated);
}

static void test_rotation_replaces(void **state)
{
    (void)state;
    char prev[32] = "";
    log__redact("config-secret-1");
    for (int i = 0; i < 1000; i++) {
        snprintf(rotated, sizeof(rotated), "token-%04d-abcdef", i);
        log__redact_replace(prev[0] ? prev : NULL, rotated);
        memcpy(prev, rotated, sizeof(prev));
    }
    assert_int_equal(log__redact_count(), 2);
    char *out = capture(log_rotated);
    assert_non_null(strstr(out, "leak=***\n"));
    /* an unknown predecessor adds; an already masked value only drops it */
    log__redact_replace("never-registered", "another-secret");
    assert_int_equal(log__redact_count(), 3);
    log__redact_replace("another-secret", "config-secret-1");
    assert_int_equal(log__redact_count(), 2);
    for (int i = 0; i < 200; i++) {
        snprintf(rotated, sizeof(rotated), "separate-%04d", i);
        log__redact(rotated);
    }
    assert_int_equal(log__redact_count(), 202);
    out = capture(log_rotated);
    assert_non_null(strstr(out, "leak=***\n"));
    log__redact_clear();
    assert_int_equal(log__redact_count(), 0);
}

static void test_parse_level(void **state)
{
    (void)state;
    enum ps_log_level l;
    assert_int_equal(log__parse_level("debug", &l), 0);
    assert_int_equal(l, PS_LOG_DEBUG);
    assert_int_equal(log__parse_level("warn", &l), 0);
    assert_int_equal(l, PS_LOG_WARN);
    assert_int_equal(log__parse_level("verbose", &l), -1);
    assert_int_equal(log__parse_level(NULL, &l), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_levels), cmocka_unit_test(test_control_bytes_escaped),
        cmocka_unit_test(test_secret_masked),     cmocka_unit_test(test_rotation_replaces),
        cmocka_unit_test(test_parse_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
