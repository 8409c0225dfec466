/* fake-graph presence rules: aggregation, setPresence combinations,
 * expirationDuration parsing and range (docs/graph.md "Graph facts
 * the daemon relies on"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fg_presence.h"

static struct fg_session ses(const char *av, const char *act, int64_t updated)
{
    struct fg_session s;
    memset(&s, 0, sizeof(s));
    strcpy(s.id, "s");
    strcpy(s.p.availability, av);
    strcpy(s.p.activity, act);
    s.updated_ms = updated;
    return s;
}

static void check(const struct fg_session *s, size_t n, const struct fg_presence *pref,
                  const char *av, const char *act)
{
    struct fg_presence out;
    fg_presence__aggregate(s, n, pref, &out);
    assert_string_equal(out.availability, av);
    assert_string_equal(out.activity, act);
}

static void test_no_session_is_offline(void **state)
{
    (void)state;
    check(NULL, 0, NULL, "Offline", "Offline");
}

static void test_preferred_needs_a_session(void **state)
{
    (void)state;
    struct fg_presence pref = {"DoNotDisturb", "DoNotDisturb"};
    check(NULL, 0, &pref, "Offline", "Offline");
    struct fg_session s[] = {ses("Busy", "InACall", 1)};
    check(s, 1, &pref, "DoNotDisturb", "DoNotDisturb");
    struct fg_presence away = {"Away", "Away"};
    check(s, 1, &away, "Away", "Away"); /* preferred beats a higher session */
}

/* Every ordered pair of the four ranked availabilities: the higher wins,
 * whichever order the sessions are in, and its activity is shown. */
static void test_session_order_table(void **state)
{
    (void)state;
    static const char *const st[][2] = {{"Away", "Away"},
                                        {"Available", "Available"},
                                        {"Busy", "InACall"},
                                        {"DoNotDisturb", "Presenting"}};
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < 4; j++) {
            struct fg_session s[] = {ses(st[i][0], st[i][1], 1), ses(st[j][0], st[j][1], 2)};
            size_t w = i > j ? i : j;
            check(s, 2, NULL, st[w][0], st[w][1]);
        }
    }
    assert_true(fg_presence__rank("DoNotDisturb") > fg_presence__rank("Busy"));
    assert_true(fg_presence__rank("Busy") > fg_presence__rank("Available"));
    assert_true(fg_presence__rank("Available") > fg_presence__rank("Away"));
    assert_int_equal(fg_presence__rank("Offline"), 0);
}

static void test_winning_session_activity(void **state)
{
    (void)state;
    struct fg_session s[] = {ses("Available", "Available", 1), ses("Busy", "InAMeeting", 2),
                             ses("Busy", "InAConferenceCall", 3), ses("Away", "Away", 4)};
    /* equal rank: the most recently updated session wins */
    check(s, 4, NULL, "Busy", "InAConferenceCall");
    s[1].updated_ms = 9;
    check(s, 4, NULL, "Busy", "InAMeeting");
}

static void test_session_combos(void **state)
{
    (void)state;
    assert_true(fg_presence__valid_session_combo("Available", "Available"));
    assert_true(fg_presence__valid_session_combo("Busy", "InACall"));
    assert_true(fg_presence__valid_session_combo("Busy", "InAConferenceCall"));
    assert_true(fg_presence__valid_session_combo("Away", "Away"));
    assert_true(fg_presence__valid_session_combo("DoNotDisturb", "Presenting"));
    assert_false(fg_presence__valid_session_combo("Busy", "InAMeeting"));
    assert_false(fg_presence__valid_session_combo("Busy", "Busy"));
    assert_false(fg_presence__valid_session_combo("DoNotDisturb", "DoNotDisturb"));
    assert_false(fg_presence__valid_session_combo("Available", "InACall"));
    assert_false(fg_presence__valid_session_combo("busy", "inacall"));
    assert_false(fg_presence__valid_session_combo("Offline", "Offline"));
    assert_false(fg_presence__valid_session_combo(NULL, "Away"));
    assert_true(fg_presence__valid_preferred_combo("Offline", "OffWork"));
    assert_false(fg_presence__valid_preferred_combo("Busy", "InACall"));
}

static void test_duration_parse(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(fg_presence__parse_duration("PT5M", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(fg_presence__parse_duration("PT1H30M", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(fg_presence__parse_duration("PT90S", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(fg_presence__parse_duration("PT0.5S", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(fg_presence__parse_duration("P1DT1H", &ms), 0);
    assert_int_equal(ms, 90000000);
    assert_int_equal(fg_presence__parse_duration("P1W", &ms), 0);
    assert_int_equal(ms, 604800000);
    const char *bad[] = {"",    "P",      "PT",    "5M",   "PT5", "PT5X",  "PTM",  "PT1M1H",
                         "P5M", "PT1.5M", "PT5M ", "pt5m", "P1Y", "PT-5M", "PTT5M"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fg_presence__parse_duration(bad[i], &ms), -1);
    }
}

static void test_expiration_range(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(fg_presence__expiration(NULL, &ms), 0);
    assert_int_equal(ms, 5 * 60000);
    assert_int_equal(fg_presence__expiration("PT5M", &ms), 0);
    assert_int_equal(fg_presence__expiration("PT4H", &ms), 0);
    assert_int_equal(ms, 4 * 3600000);
    assert_int_equal(fg_presence__expiration("PT240M", &ms), 0);
    assert_int_equal(fg_presence__expiration("PT1H", &ms), 0);
    assert_int_equal(fg_presence__expiration("PT4M59S", &ms), -2);
    assert_int_equal(fg_presence__expiration("PT4H0.5S", &ms), -2);
    assert_int_equal(fg_presence__expiration("P1D", &ms), -2);
    assert_int_equal(fg_presence__expiration("PT1M", &ms), -2);
    assert_int_equal(fg_presence__expiration("one hour", &ms), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_session_is_offline),
        cmocka_unit_test(test_preferred_needs_a_session),
        cmocka_unit_test(test_session_order_table),
        cmocka_unit_test(test_winning_session_activity),
        cmocka_unit_test(test_session_combos),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_expiration_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
