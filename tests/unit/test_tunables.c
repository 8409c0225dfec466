/* The tuning and test knobs (connector/core/tunables.c): defaults, every knob
 * parsed, bad values refused with the variable's name, set knobs logged at
 * warn level, and every knob documented in docs/configuration.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/tunables.h"

/* name=value pairs, NULL-terminated */
static const char *table_get(const char *name, void *ctx)
{
    const char *const *kv = ctx;
    for (size_t i = 0; kv[i]; i += 2)
        if (strcmp(kv[i], name) == 0)
            return kv[i + 1];
    return NULL;
}

static int parse(struct tunables *t, const char *const *kv, char *err, size_t len)
{
    return tunables__parse(t, table_get, (void *)kv, err, len);
}

static void test_defaults(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    struct tunables t;
    char err[160] = "";
    assert_int_equal(parse(&t, none, err, sizeof(err)), 0);
    assert_memory_equal(&t, tunables__defaults(), sizeof(t));
    assert_int_equal(t.graph_renew_ms, 0);
    assert_int_equal(t.graph_resync_ms, 0);
    assert_int_equal(t.graph_rate_limit, 0);
    assert_int_equal(t.graph_rate_window_ms, 0);
    assert_int_equal(t.graph_http_timeout_ms, 15000);
    assert_int_equal(t.mapper_startup_ms, 30000);
    assert_int_equal(t.mapper_echo_grace_ms, 60000);
}

static void test_every_knob(void **state)
{
    (void)state;
    const char *kv[] = {"PS_GRAPH_RENEW_MS",
                        "2000",
                        "PS_GRAPH_RESYNC_MS",
                        "3000",
                        "PS_GRAPH_RATE_LIMIT",
                        "200",
                        "PS_GRAPH_RATE_WINDOW_MS",
                        "10000",
                        "PS_MAPPER_STARTUP_MS",
                        "0",
                        "PS_GRAPH_HTTP_TIMEOUT_MS",
                        "1500",
                        "PS_MAPPER_ECHO_GRACE_MS",
                        "60",
                        "PS_HTTP_MAX_BUFFERED_BYTES",
                        "1048576",
                        NULL};
    struct tunables t;
    char err[160] = "";
    assert_int_equal(parse(&t, kv, err, sizeof(err)), 0);
    assert_int_equal(t.graph_renew_ms, 2000);
    assert_int_equal(t.graph_resync_ms, 3000);
    assert_int_equal(t.graph_rate_limit, 200);
    assert_int_equal(t.graph_rate_window_ms, 10000);
    assert_int_equal(t.graph_http_timeout_ms, 1500);
    assert_int_equal(t.mapper_startup_ms, 0);
    assert_int_equal(t.mapper_echo_grace_ms, 60);
    assert_int_equal(t.http_max_buffered, 1048576);
}

static void test_empty_is_unset(void **state)
{
    (void)state;
    const char *kv[] = {"PS_GRAPH_HTTP_TIMEOUT_MS", "", NULL};
    struct tunables t;
    char err[160] = "";
    assert_int_equal(parse(&t, kv, err, sizeof(err)), 0);
    assert_int_equal(t.graph_http_timeout_ms, 15000);
}

static void assert_refused(const char *name, const char *value)
{
    const char *kv[] = {name, value, NULL};
    struct tunables t;
    char err[160] = "";
    if (parse(&t, kv, err, sizeof(err)) != -1)
        fail_msg("%s='%s' accepted", name, value);
    if (!strstr(err, name))
        fail_msg("error does not name %s: %s", name, err);
}

static void test_bad_values(void **state)
{
    (void)state;
    assert_refused("PS_GRAPH_RENEW_MS", "abc");
    assert_refused("PS_GRAPH_RENEW_MS", "2000ms");
    assert_refused("PS_GRAPH_RENEW_MS", " 2000");
    assert_refused("PS_GRAPH_RENEW_MS", "+2000");
    assert_refused("PS_GRAPH_RENEW_MS", "-1");
    assert_refused("PS_GRAPH_RENEW_MS", "0x10");
    assert_refused("PS_GRAPH_RENEW_MS", "99999999999999999999999");
    assert_refused("PS_GRAPH_RENEW_MS", "999");       /* below 1 s */
    assert_refused("PS_GRAPH_RESYNC_MS", "86400001"); /* above a day */
    assert_refused("PS_GRAPH_RATE_LIMIT", "0");
    assert_refused("PS_GRAPH_RATE_LIMIT", "1501"); /* above Graph's budget */
    assert_refused("PS_GRAPH_HTTP_TIMEOUT_MS", "0");
    assert_refused("PS_MAPPER_STARTUP_MS", "-5");
    assert_refused("PS_MAPPER_ECHO_GRACE_MS", "1e3");
}

/* The knob set is logged at warn level with its value; an unset one is not. */
static void test_logged(void **state)
{
    (void)state;
    char path[] = "/tmp/ps-test-tunables-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    const char *kv[] = {"PS_GRAPH_RESYNC_MS", "3000", NULL};
    struct tunables t;
    char err[160] = "";
    log__set_level(PS_LOG_WARN);
    int rc = parse(&t, kv, err, sizeof(err));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    log__set_level(PS_LOG_INFO);
    assert_int_equal(rc, 0);
    char buf[1024] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    assert_non_null(strstr(buf, " warn "));
    assert_non_null(strstr(buf, "test/tuning knob set: PS_GRAPH_RESYNC_MS=3000"));
    assert_null(strstr(buf, "PS_GRAPH_RENEW_MS"));
}

/* docs/configuration.md lists every knob. */
static void test_documented(void **state)
{
    (void)state;
    const char *src = getenv("PS_SRC");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/configuration.md", src);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    const char *section = strstr(doc, "## Tuning and test knobs");
    assert_non_null(section);
    for (size_t i = 0; tunables__name(i); i++) {
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "`%s`", tunables__name(i));
        if (!strstr(section, quoted))
            fail_msg("%s is not in docs/configuration.md's knob section", tunables__name(i));
    }
    assert_true(tunables__name(7) != NULL && tunables__name(8) == NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_every_knob),
        cmocka_unit_test(test_empty_is_unset), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_logged),         cmocka_unit_test(test_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
