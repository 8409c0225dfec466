/* MQTT topic rules: mqtt_topic__matches(), mqtt_topic__filter_valid(),
 * mqtt_topic__valid(). Cases follow the examples of MQTT 3.1.1 / 5.0 §4.7. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mqtt_topic.h"

#define MATCH(f, t)    assert_true(mqtt_topic__matches((f), (t)))
#define NO_MATCH(f, t) assert_false(mqtt_topic__matches((f), (t)))

static void test_exact(void **state)
{
    (void)state;
    MATCH("a/b/c", "a/b/c");
    NO_MATCH("a/b/c", "a/b");
    NO_MATCH("a/b", "a/b/c");
    NO_MATCH("a/b/c", "a/b/cd");
    NO_MATCH("a/b/cd", "a/b/c");
    /* case-sensitive */
    NO_MATCH("ACCOUNTS", "Accounts");
    /* empty levels are levels */
    MATCH("a//b", "a//b");
    NO_MATCH("a/b", "a//b");
    MATCH("/", "/");
    NO_MATCH("/a", "a");
    NO_MATCH("a/", "a");
}

static void test_multi_level(void **state)
{
    (void)state;
    MATCH("sport/tennis/player1/#", "sport/tennis/player1");
    MATCH("sport/tennis/player1/#", "sport/tennis/player1/ranking");
    MATCH("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon");
    NO_MATCH("sport/tennis/player1/#", "sport/tennis/player2");
    NO_MATCH("sport/tennis/player1/#", "sport/tennis/player10");
    MATCH("sport/#", "sport");
    MATCH("#", "sport");
    MATCH("#", "sport/tennis");
    MATCH("#", "/");
    MATCH("/#", "/");
    MATCH("/#", "/finance");
    NO_MATCH("/#", "finance");
    MATCH("teams/#", "teams/alice@contoso.com/busy");
}

static void test_single_level(void **state)
{
    (void)state;
    MATCH("sport/tennis/+", "sport/tennis/player1");
    MATCH("sport/tennis/+", "sport/tennis/player2");
    NO_MATCH("sport/tennis/+", "sport/tennis/player1/ranking");
    NO_MATCH("sport/+", "sport");
    MATCH("sport/+", "sport/");
    MATCH("+/+", "/finance");
    MATCH("/+", "/finance");
    NO_MATCH("+", "/finance");
    MATCH("+", "finance");
    MATCH("+/tennis/#", "sport/tennis/player1/ranking");
    MATCH("+/tennis/#", "sport/tennis");
    NO_MATCH("+/tennis/#", "sport/soccer/player1");
    MATCH("a/+/b", "a//b");
    MATCH("teams/+/busy", "teams/a%2Bb@x.com/busy");
    NO_MATCH("teams/+/busy", "teams/a/b/busy");
    NO_MATCH("teams/+/busy", "voice/alice@x.com/talking");
    MATCH("+/+/+", "p/teams/x");
    NO_MATCH("+/+/+", "teams/x");
}

static void test_dollar_topics(void **state)
{
    (void)state;
    NO_MATCH("#", "$SYS/broker/uptime");
    NO_MATCH("#", "$SYS");
    NO_MATCH("+/monitor/Clients", "$SYS/monitor/Clients");
    NO_MATCH("+", "$SYS");
    MATCH("$SYS/#", "$SYS/broker/uptime");
    MATCH("$SYS/monitor/+", "$SYS/monitor/Clients");
    MATCH("$SYS/#", "$SYS");
    /* only a leading '$' is special */
    MATCH("#", "a/$b");
    MATCH("a/+", "a/$b");
}

static void test_invalid_never_match(void **state)
{
    (void)state;
    /* bad filters */
    NO_MATCH("sport/tennis#", "sport/tennis#");
    NO_MATCH("sport/tennis#", "sport/tennis");
    NO_MATCH("sport/tennis/#/ranking", "sport/tennis/x/ranking");
    NO_MATCH("sport+", "sport+");
    NO_MATCH("sport+", "sport1");
    NO_MATCH("+a/b", "xa/b");
    NO_MATCH("##", "a");
    NO_MATCH("", "");
    NO_MATCH("", "a");
    NO_MATCH(NULL, "a");
    /* bad topic names: wildcards are not allowed in names */
    NO_MATCH("#", "a/+");
    NO_MATCH("#", "a/#");
    NO_MATCH("a/+", "a/+");
    NO_MATCH("#", "");
    NO_MATCH("#", NULL);
}

static void test_filter_valid(void **state)
{
    (void)state;
    assert_true(mqtt_topic__filter_valid("#"));
    assert_true(mqtt_topic__filter_valid("+"));
    assert_true(mqtt_topic__filter_valid("+/+"));
    assert_true(mqtt_topic__filter_valid("/+/"));
    assert_true(mqtt_topic__filter_valid("a/+/b/#"));
    assert_true(mqtt_topic__filter_valid("/"));
    assert_true(mqtt_topic__filter_valid("$SYS/#"));
    assert_false(mqtt_topic__filter_valid(""));
    assert_false(mqtt_topic__filter_valid(NULL));
    assert_false(mqtt_topic__filter_valid("a#"));
    assert_false(mqtt_topic__filter_valid("a/#/b"));
    assert_false(mqtt_topic__filter_valid("#/"));
    assert_false(mqtt_topic__filter_valid("a+"));
    assert_false(mqtt_topic__filter_valid("+a"));
    assert_false(mqtt_topic__filter_valid("a/b+/c"));
    assert_false(mqtt_topic__filter_valid("++"));
}

static void test_topic_valid(void **state)
{
    (void)state;
    assert_true(mqtt_topic__valid("a"));
    assert_true(mqtt_topic__valid("/"));
    assert_true(mqtt_topic__valid("presence-sync/state"));
    assert_true(mqtt_topic__valid("teams/a%2Bb@x.com/busy"));
    assert_true(mqtt_topic__valid("$SYS/x"));
    assert_false(mqtt_topic__valid(""));
    assert_false(mqtt_topic__valid(NULL));
    assert_false(mqtt_topic__valid("a+b"));
    assert_false(mqtt_topic__valid("a/#"));

    /* MQTT strings are at most 65535 bytes */
    char *big = malloc(65537);
    assert_non_null(big);
    memset(big, 'a', 65536);
    big[65536] = '\0';
    assert_false(mqtt_topic__valid(big));
    assert_false(mqtt_topic__filter_valid(big));
    big[65535] = '\0';
    assert_true(mqtt_topic__valid(big));
    assert_true(mqtt_topic__matches("#", big));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_multi_level),
        cmocka_unit_test(test_single_level),
        cmocka_unit_test(test_dollar_topics),
        cmocka_unit_test(test_invalid_never_match),
        cmocka_unit_test(test_filter_valid),
        cmocka_unit_test(test_topic_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
