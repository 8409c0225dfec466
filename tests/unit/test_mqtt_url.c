/* mqtt_topic__url_port(): the broker port bus.c looks for when it turns off Nagle's
 * algorithm on Paho's socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/mqtt_topic.h"

static void test_explicit_port(void **state)
{
    (void)state;
    assert_int_equal(mqtt_topic__url_port("mqtt://127.0.0.1:25742"), 25742);
    assert_int_equal(mqtt_topic__url_port("tcp://broker.example:1884"), 1884);
    assert_int_equal(mqtt_topic__url_port("ssl://broker.example:8884/"), 8884);
    assert_int_equal(mqtt_topic__url_port("ws://broker.example:9001/mqtt"), 9001);
    assert_int_equal(mqtt_topic__url_port("mqtt://[::1]:1885"), 1885);
    assert_int_equal(mqtt_topic__url_port("broker.example:1886"), 1886);
    assert_int_equal(mqtt_topic__url_port("mqtt://h:65535"), 65535);
}

static void test_default_port(void **state)
{
    (void)state;
    assert_int_equal(mqtt_topic__url_port("mqtt://broker.example"), 1883);
    assert_int_equal(mqtt_topic__url_port("tcp://broker.example/"), 1883);
    assert_int_equal(mqtt_topic__url_port("ssl://broker.example"), 8883);
    assert_int_equal(mqtt_topic__url_port("mqtts://broker.example"), 8883);
    assert_int_equal(mqtt_topic__url_port("ws://broker.example/mqtt"), 80);
    assert_int_equal(mqtt_topic__url_port("wss://broker.example/mqtt"), 443);
    assert_int_equal(mqtt_topic__url_port("mqtt://[::1]"), 1883);
    assert_int_equal(mqtt_topic__url_port("broker.example"), 1883);
}

static void test_unknown(void **state)
{
    (void)state;
    assert_int_equal(mqtt_topic__url_port(NULL), 0);
    assert_int_equal(mqtt_topic__url_port(""), 0);
    assert_int_equal(mqtt_topic__url_port("mqtt://"), 0);
    assert_int_equal(mqtt_topic__url_port("gopher://broker.example"), 0);
    assert_int_equal(mqtt_topic__url_port("mqtt://h:"), 0);
    assert_int_equal(mqtt_topic__url_port("mqtt://h:0"), 0);
    assert_int_equal(mqtt_topic__url_port("mqtt://h:65536"), 0);
    assert_int_equal(mqtt_topic__url_port("mqtt://h:99999999999"), 0);
    assert_int_equal(mqtt_topic__url_port("mqtt://h:12ab"), 0);
    assert_int_equal(mqtt_topic__url_port("mqtt://[::1:1883"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explicit_port),
        cmocka_unit_test(test_default_port),
        cmocka_unit_test(test_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
