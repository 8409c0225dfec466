/* core/metrics: the Prometheus text exposition, checked line by line. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static int setup(void **state)
{
    (void)state;
    metrics__reset();
    return 0;
}

/* Asserts that the rendered text is exactly the given lines, in order. */
static void assert_render(const char *const *want, size_t n)
{
    char *text = metrics__render();
    assert_non_null(text);
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    size_t i = 0;
    for (; line; line = strtok_r(NULL, "\n", &save), i++) {
        if (i >= n)
            fail_msg("unexpected extra line %zu: %s", i, line);
        assert_string_equal(line, want[i]);
    }
    assert_int_equal(i, n);
    free(text);
}

#define ASSERT_RENDER(...)                                      \
    do {                                                        \
        const char *const want_[] = {__VA_ARGS__};              \
        assert_render(want_, sizeof(want_) / sizeof(want_[0])); \
    } while (0)

static void test_empty(void **state)
{
    (void)state;
    char *text = metrics__render();
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);
}

static void test_counter_with_help(void **state)
{
    (void)state;
    metrics__describe("mqtt_messages_total", METRIC_COUNTER, "Messages published.");
    metrics__inc("mqtt_messages_total", "topic=\"teams\"", 1);
    metrics__inc("mqtt_messages_total", "topic=\"teams\"", 2);
    metrics__inc("mqtt_messages_total", "topic=\"voice\"", 1);
    metrics__inc("mqtt_messages_total", NULL, 0.5);
    ASSERT_RENDER("# HELP presence_sync_mqtt_messages_total Messages published.",
                  "# TYPE presence_sync_mqtt_messages_total counter",
                  "presence_sync_mqtt_messages_total{topic=\"teams\"} 3",
                  "presence_sync_mqtt_messages_total{topic=\"voice\"} 1",
                  "presence_sync_mqtt_messages_total 0.5");
    assert_true(metrics__get("mqtt_messages_total", "topic=\"teams\"") == 3);
    assert_true(metrics__get("mqtt_messages_total", "") == 0.5);
    assert_true(metrics__get("mqtt_messages_total", "topic=\"none\"") == 0);
    assert_true(metrics__get("unknown", NULL) == 0);
}

static void test_gauge_and_undescribed(void **state)
{
    (void)state;
    metrics__set("users", "tenant=\"contoso\"", 650);
    metrics__set("users", "tenant=\"contoso\"", 12);
    metrics__inc("errors_total", "", 1);
    metrics__describe("up", METRIC_GAUGE, "1 while connected.");
    metrics__set("up", "", 1);
    metrics__set("ratio", NULL, 0.25);
    metrics__set("inf", NULL, INFINITY);
    metrics__set("ninf", NULL, -INFINITY);
    metrics__set("nan", NULL, NAN);
    metrics__set("big", NULL, 1e21);
    ASSERT_RENDER("# TYPE presence_sync_users gauge", "presence_sync_users{tenant=\"contoso\"} 12",
                  "# TYPE presence_sync_errors_total counter", "presence_sync_errors_total 1",
                  "# HELP presence_sync_up 1 while connected.", "# TYPE presence_sync_up gauge",
                  "presence_sync_up 1", "# TYPE presence_sync_ratio gauge",
                  "presence_sync_ratio 0.25", "# TYPE presence_sync_inf gauge",
                  "presence_sync_inf +Inf", "# TYPE presence_sync_ninf gauge",
                  "presence_sync_ninf -Inf", "# TYPE presence_sync_nan gauge",
                  "presence_sync_nan NaN", "# TYPE presence_sync_big gauge",
                  "presence_sync_big 1e+21");
}

static void test_describe_is_idempotent(void **state)
{
    (void)state;
    metrics__inc("x_total", NULL, 1);
    metrics__describe("x_total", METRIC_COUNTER, "First.");
    metrics__describe("x_total", METRIC_COUNTER, "First.");
    metrics__describe("x_total", METRIC_COUNTER, "Second.");
    ASSERT_RENDER("# HELP presence_sync_x_total Second.", "# TYPE presence_sync_x_total counter",
                  "presence_sync_x_total 1");
}

static void test_histogram(void **state)
{
    (void)state;
    metrics__describe("request_seconds", METRIC_HISTOGRAM, "Request latency.");
    metrics__observe("request_seconds", "api=\"graph\"", 0.001); /* on a bound: le="0.001" */
    metrics__observe("request_seconds", "api=\"graph\"", 0.003); /* le="0.005" */
    metrics__observe("request_seconds", "api=\"graph\"", 0.2);   /* le="0.25" */
    metrics__observe("request_seconds", "api=\"graph\"", 10);    /* le="10" */
    metrics__observe("request_seconds", "api=\"graph\"", 42);    /* only +Inf */
    metrics__observe("request_seconds", "api=\"graph\"", NAN);   /* ignored */
    ASSERT_RENDER("# HELP presence_sync_request_seconds Request latency.",
                  "# TYPE presence_sync_request_seconds histogram",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.001\"} 1",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.0025\"} 1",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.005\"} 2",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.01\"} 2",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.025\"} 2",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.05\"} 2",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.1\"} 2",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.25\"} 3",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"0.5\"} 3",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"1\"} 3",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"2.5\"} 3",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"5\"} 3",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"10\"} 4",
                  "presence_sync_request_seconds_bucket{api=\"graph\",le=\"+Inf\"} 5",
                  "presence_sync_request_seconds_sum{api=\"graph\"} 52.204",
                  "presence_sync_request_seconds_count{api=\"graph\"} 5");
    assert_true(metrics__get("request_seconds", "api=\"graph\"") == 5);
}

static void test_histogram_without_labels(void **state)
{
    (void)state;
    metrics__observe("lag_seconds", NULL, 0.05);
    char *text = metrics__render();
    assert_non_null(strstr(text, "# TYPE presence_sync_lag_seconds histogram\n"));
    assert_non_null(strstr(text, "\npresence_sync_lag_seconds_bucket{le=\"0.025\"} 0\n"));
    assert_non_null(strstr(text, "\npresence_sync_lag_seconds_bucket{le=\"0.05\"} 1\n"));
    assert_non_null(strstr(text, "\npresence_sync_lag_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(text, "\npresence_sync_lag_seconds_sum 0.05\n"));
    assert_non_null(strstr(text, "\npresence_sync_lag_seconds_count 1\n"));
    free(text);
}

/* A histogram name used as a counter (or the reverse) is refused, not mixed. */
static void test_type_mismatch(void **state)
{
    (void)state;
    metrics__observe("h_seconds", NULL, 1);
    metrics__inc("h_seconds", NULL, 5);
    metrics__inc("c_total", NULL, 2);
    metrics__observe("c_total", NULL, 1);
    assert_true(metrics__get("h_seconds", NULL) == 1);
    assert_true(metrics__get("c_total", NULL) == 2);
    char *text = metrics__render();
    assert_null(strstr(text, "presence_sync_c_total_bucket"));
    assert_non_null(strstr(text, "\npresence_sync_c_total 2\n"));
    free(text);
}

static void test_reset(void **state)
{
    (void)state;
    metrics__inc("a_total", NULL, 1);
    metrics__reset();
    assert_true(metrics__get("a_total", NULL) == 0);
    char *text = metrics__render();
    assert_string_equal(text, "");
    free(text);
}

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        metrics__inc("race_total", "k=\"v\"", 1);
        metrics__observe("race_seconds", NULL, 0.01);
        if (i % 1000 == 0)
            free(metrics__render());
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(metrics__get("race_total", "k=\"v\"") == 40000);
    assert_true(metrics__get("race_seconds", NULL) == 40000);
}

/* Label values from the config (an account name may hold `"` or `\`) are
 * escaped, so one odd name cannot break the whole exposition. */
static void test_labels_escaped(void **state)
{
    (void)state;
    char buf[128];
    metrics__labels(buf, sizeof(buf), "tenant", "contoso", "account", "a\"b\\c\nd", NULL);
    assert_string_equal(buf, "tenant=\"contoso\",account=\"a\\\"b\\\\c\\nd\"");
    metrics__set("odd", buf, 1);
    ASSERT_RENDER("# TYPE presence_sync_odd gauge",
                  "presence_sync_odd{tenant=\"contoso\",account=\"a\\\"b\\\\c\\nd\"} 1");
    metrics__labels(buf, sizeof(buf), "instance", NULL, NULL);
    assert_string_equal(buf, "instance=\"\"");
}

/* A pair that does not fit is left out whole: never half a quoted value. */
static void test_labels_truncated(void **state)
{
    (void)state;
    char buf[24];
    metrics__labels(buf, sizeof(buf), "tenant", "contoso", "account", "a-long-account-name", NULL);
    assert_string_equal(buf, "tenant=\"contoso\"");
    metrics__labels(buf, sizeof(buf), "t", "\"\"\"\"\"\"\"\"\"\"", NULL);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_empty, setup),
        cmocka_unit_test_setup(test_counter_with_help, setup),
        cmocka_unit_test_setup(test_gauge_and_undescribed, setup),
        cmocka_unit_test_setup(test_describe_is_idempotent, setup),
        cmocka_unit_test_setup(test_histogram, setup),
        cmocka_unit_test_setup(test_histogram_without_labels, setup),
        cmocka_unit_test_setup(test_type_mismatch, setup),
        cmocka_unit_test_setup(test_reset, setup),
        cmocka_unit_test_setup(test_threads, setup),
        cmocka_unit_test_setup(test_labels_escaped, setup),
        cmocka_unit_test_setup(test_labels_truncated, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics__reset();
    return rc;
}
