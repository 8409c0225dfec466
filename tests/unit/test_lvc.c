/* core/lvc: the bus's last-value cache without a broker: on-change only,
 * newest value wins, lost hand-overs sent again, stale completions ignored,
 * texts forgotten once acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/lvc.h"

static int setup(void **state)
{
    *state = lvc__new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    lvc__free(*state);
    return 0;
}

/* Hands the next queued value over and returns its generation. */
static uint64_t hand(struct lvc *c, const char *topic, const char *payload)
{
    struct lvc_entry *e = lvc__next(c);
    assert_non_null(e);
    assert_string_equal(lvc_entry__topic(e), topic);
    assert_string_equal(lvc_entry__payload(e), payload);
    return lvc__handed(c, e);
}

static struct lvc_entry *entry_of(struct lvc *c, const char *topic, const char *payload,
                                  uint64_t *gen)
{
    struct lvc_entry *e = lvc__next(c);
    assert_non_null(e);
    assert_string_equal(lvc_entry__topic(e), topic);
    assert_string_equal(lvc_entry__payload(e), payload);
    *gen = lvc__handed(c, e);
    return e;
}

static void test_on_change_only(void **state)
{
    struct lvc *c = *state;
    assert_int_equal(lvc__want(c, "t/a", "1"), 1);
    assert_int_equal(lvc__want(c, "t/a", "1"), 0); /* same as asked */
    assert_int_equal(lvc__queued(c), 1);
    uint64_t g;
    struct lvc_entry *e = entry_of(c, "t/a", "1", &g);
    assert_null(lvc__next(c));
    lvc__acked(c, e, g);
    assert_int_equal(lvc__texts(c), 0); /* only the digest is kept */
    assert_int_equal(lvc__want(c, "t/a", "1"), 0);
    assert_int_equal(lvc__want(c, "t/a", "2"), 1);
    assert_int_equal(lvc__topics(c), 1);
}

/* Three values while one is queued: one hand-over, with the newest. */
static void test_newest_wins(void **state)
{
    struct lvc *c = *state;
    lvc__want(c, "t/a", "1");
    lvc__want(c, "t/b", "x");
    lvc__want(c, "t/a", "2");
    lvc__want(c, "t/a", "3");
    assert_int_equal(lvc__queued(c), 2);
    hand(c, "t/a", "3");
    hand(c, "t/b", "x");
    assert_null(lvc__next(c));
}

/* Back to the value already handed over before the queue ran: nothing to
 * send, and the entry leaves the queue without a hand-over. */
static void test_back_to_sent(void **state)
{
    struct lvc *c = *state;
    lvc__want(c, "t/a", "1");
    uint64_t g;
    struct lvc_entry *e = entry_of(c, "t/a", "1", &g);
    lvc__acked(c, e, g);
    assert_int_equal(lvc__want(c, "t/a", "2"), 1);
    assert_int_equal(lvc__want(c, "t/a", "1"), 0);
    assert_null(lvc__next(c));
    assert_int_equal(lvc__queued(c), 0);
    assert_int_equal(lvc__texts(c), 0);
}

/* A hand-over lost with the connection is sent again; a completion of an
 * older hand-over (the topic went out again since) changes nothing. */
static void test_lost_and_stale(void **state)
{
    struct lvc *c = *state;
    lvc__want(c, "t/a", "1");
    uint64_t g1;
    struct lvc_entry *e = entry_of(c, "t/a", "1", &g1);
    lvc__lost(c, e, g1);
    uint64_t g2;
    assert_ptr_equal(entry_of(c, "t/a", "1", &g2), e);
    assert_true(g2 > g1);
    lvc__lost(c, e, g1); /* stale: ignored */
    assert_null(lvc__next(c));
    lvc__acked(c, e, g1); /* stale: the text is still needed */
    assert_int_equal(lvc__texts(c), 1);
    lvc__acked(c, e, g2);
    assert_int_equal(lvc__texts(c), 0);
    assert_false(lvc__current(e, g1));
    assert_true(lvc__current(e, g2));
}

/* The online state after a reconnect goes out first and even unchanged. */
static void test_want_first(void **state)
{
    struct lvc *c = *state;
    lvc__want(c, "b/state", "online");
    uint64_t g;
    struct lvc_entry *e = entry_of(c, "b/state", "online", &g);
    lvc__acked(c, e, g);
    lvc__want(c, "t/a", "1");
    assert_int_equal(lvc__want_first(c, "b/state", "online"), 1);
    hand(c, "b/state", "online");
    hand(c, "t/a", "1");
}

/* A refused hand-over leaves the queue; the value is not sent again until
 * it changes. */
static void test_drop(void **state)
{
    struct lvc *c = *state;
    lvc__want(c, "t/a", "1");
    struct lvc_entry *e = lvc__next(c);
    lvc__drop(c, e);
    assert_null(lvc__next(c));
    assert_int_equal(lvc__want(c, "t/a", "2"), 1);
    hand(c, "t/a", "2");
}

/* 30,000 topics acknowledged keep no text. */
static void test_many_topics(void **state)
{
    struct lvc *c = *state;
    char topic[64], payload[64];
    for (int i = 0; i < 30000; i++) {
        snprintf(topic, sizeof(topic), "ps/sync/user%d@x.com", i);
        snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
        assert_int_equal(lvc__want(c, topic, payload), 1);
    }
    struct lvc_entry *e;
    while ((e = lvc__next(c)) != NULL) {
        uint64_t g = lvc__handed(c, e);
        lvc__acked(c, e, g);
    }
    assert_int_equal(lvc__topics(c), 30000);
    assert_int_equal(lvc__texts(c), 0);
    assert_int_equal(lvc__want(c, "ps/sync/user7@x.com", "{\"n\":7}"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_on_change_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newest_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_to_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_and_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_want_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_topics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
