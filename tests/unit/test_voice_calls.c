/* Call tracker: talking while at least one call is connected
 * (connector/voice/calls.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "voice/calls.h"

#define MIN_MS 60000LL

static struct voice_call_event ev_of(enum voice_call_kind kind, const char *user, const char *call)
{
    struct voice_call_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    snprintf(ev.user_id, sizeof(ev.user_id), "%s", user);
    snprintf(ev.call_id, sizeof(ev.call_id), "%s", call);
    return ev;
}

static int connect_(struct calls *t, const char *user, const char *call, int64_t now)
{
    struct voice_call_event ev = ev_of(VOICE_CALL_CONNECTED, user, call);
    return calls__event(t, &ev, now);
}

static int disconnect_(struct calls *t, const char *user, const char *call, int64_t now)
{
    struct voice_call_event ev = ev_of(VOICE_CALL_DISCONNECTED, user, call);
    return calls__event(t, &ev, now);
}

static void test_one_call(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    assert_non_null(t);
    assert_int_equal(calls__count(t, "u1"), 0);
    assert_int_equal(connect_(t, "u1", "c1", 1000), 1);
    assert_int_equal(calls__count(t, "u1"), 1);
    assert_int_equal(calls__count(t, "U1"), 1); /* case-insensitive */
    assert_int_equal(calls__since(t, "u1"), 1000);
    assert_int_equal(calls__users_talking(t), 1);
    assert_int_equal(disconnect_(t, "u1", "C1", 2000), 1);
    assert_int_equal(calls__count(t, "u1"), 0);
    assert_int_equal(calls__since(t, "u1"), 0);
    assert_int_equal(calls__users_talking(t), 0);
    calls__free(t);
}

static void test_two_terminals_overlap(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    /* desk phone call, then a mobile call while the first is still up */
    assert_int_equal(connect_(t, "u1", "desk", 1000), 1);
    assert_int_equal(connect_(t, "u1", "mobile", 2000), 0); /* already talking */
    assert_int_equal(calls__count(t, "u1"), 2);
    assert_int_equal(calls__since(t, "u1"), 1000);
    /* the first one ends: still talking */
    assert_int_equal(disconnect_(t, "u1", "desk", 3000), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    assert_int_equal(calls__since(t, "u1"), 2000);
    /* the last one ends */
    assert_int_equal(disconnect_(t, "u1", "mobile", 4000), 1);
    assert_int_equal(calls__count(t, "u1"), 0);
    calls__free(t);
}

static void test_duplicates_and_unknown(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    /* a disconnect for a call never seen: harmless */
    assert_int_equal(disconnect_(t, "u1", "ghost", 500), 0);
    assert_int_equal(calls__users_talking(t), 0);
    assert_int_equal(connect_(t, "u1", "c1", 1000), 1);
    /* duplicate Connected (RTE and webhook both deliver it) */
    assert_int_equal(connect_(t, "u1", "c1", 1500), 0);
    assert_int_equal(connect_(t, "U1", "C1", 1600), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    assert_int_equal(calls__since(t, "u1"), 1000); /* the first sighting counts */
    /* unknown call of a talking user */
    assert_int_equal(disconnect_(t, "u1", "ghost", 1700), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    /* other user's call id */
    assert_int_equal(disconnect_(t, "u2", "c1", 1800), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    assert_int_equal(disconnect_(t, "u1", "c1", 2000), 1);
    /* duplicate Disconnected */
    assert_int_equal(disconnect_(t, "u1", "c1", 2100), 0);
    assert_int_equal(calls__count(t, "u1"), 0);
    calls__free(t);
}

static void test_other_events_and_bad_input(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    struct voice_call_event other = ev_of(VOICE_CALL_OTHER, "u1", "c1");
    assert_int_equal(calls__event(t, &other, 1000), 0);
    assert_int_equal(calls__count(t, "u1"), 0);
    assert_int_equal(connect_(t, "", "c1", 1000), -1);
    assert_int_equal(connect_(t, "u1", "", 1000), -1);
    assert_int_equal(calls__users_talking(t), 0);
    assert_int_equal(calls__count(t, NULL), 0);
    assert_int_equal(calls__count(t, ""), 0);
    calls__free(t);
    calls__free(NULL);
}

static void test_per_user_cap(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    char id[16];
    for (int i = 0; i < CALLS_MAX_PER_USER; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        assert_int_equal(connect_(t, "u1", id, 1000), i == 0 ? 1 : 0);
    }
    assert_int_equal(connect_(t, "u1", "one-too-many", 1000), -1);
    assert_int_equal(calls__count(t, "u1"), CALLS_MAX_PER_USER);
    /* a known call is still a harmless duplicate */
    assert_int_equal(connect_(t, "u1", "c0", 1000), 0);
    calls__free(t);
}

struct dropped {
    char user[8][VOICE_ID_MAX];
    char call[8][VOICE_ID_MAX];
    int64_t started[8];
    bool stopped[8];
    int n;
};

static void on_drop(void *ctx, const char *user, const char *call, int64_t started, bool stopped)
{
    struct dropped *d = ctx;
    assert_true(d->n < 8);
    snprintf(d->user[d->n], VOICE_ID_MAX, "%s", user);
    snprintf(d->call[d->n], VOICE_ID_MAX, "%s", call);
    d->started[d->n] = started;
    d->stopped[d->n] = stopped;
    d->n++;
}

static void test_expiry(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    int64_t t0 = 1000000;
    assert_int_equal(connect_(t, "u1", "old", t0), 1);
    assert_int_equal(connect_(t, "u1", "new", t0 + 100 * MIN_MS), 0);
    assert_int_equal(connect_(t, "u2", "only", t0 + 10 * MIN_MS), 1);
    struct dropped d = {0};

    /* exactly at the limit: not older than it */
    assert_int_equal(calls__expire(t, t0 + 480 * MIN_MS, 480, on_drop, &d), 0);
    assert_int_equal(d.n, 0);
    /* one ms later the first call goes; u1 is still on "new" */
    assert_int_equal(calls__expire(t, t0 + 480 * MIN_MS + 1, 480, on_drop, &d), 1);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.user[0], "u1");
    assert_string_equal(d.call[0], "old");
    assert_int_equal(d.started[0], t0);
    assert_false(d.stopped[0]);
    assert_int_equal(calls__count(t, "u1"), 1);

    /* u2's only call goes: it stops talking */
    assert_int_equal(calls__expire(t, t0 + 490 * MIN_MS + 1, 480, on_drop, &d), 1);
    assert_string_equal(d.user[1], "u2");
    assert_true(d.stopped[1]);
    assert_int_equal(calls__count(t, "u2"), 0);
    assert_int_equal(calls__users_talking(t), 1);

    /* a late disconnect of an expired call is harmless */
    assert_int_equal(disconnect_(t, "u2", "only", t0 + 491 * MIN_MS), 0);
    /* disabled expiry */
    assert_int_equal(calls__expire(t, t0 + 100000 * MIN_MS, 0, on_drop, &d), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    /* NULL callback */
    assert_int_equal(calls__expire(t, t0 + 100000 * MIN_MS, 480, NULL, NULL), 1);
    assert_int_equal(calls__users_talking(t), 0);
    calls__free(t);
}

static void test_clear_all(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    assert_int_equal(connect_(t, "u1", "a", 1), 1);
    assert_int_equal(connect_(t, "u1", "b", 2), 0);
    assert_int_equal(connect_(t, "u2", "c", 3), 1);
    struct dropped d = {0};
    assert_int_equal(calls__clear_all(t, on_drop, &d), 3);
    assert_int_equal(d.n, 3);
    int stopped = 0;
    for (int i = 0; i < d.n; i++)
        stopped += d.stopped[i];
    assert_int_equal(stopped, 2); /* one per user */
    assert_int_equal(calls__users_talking(t), 0);
    assert_int_equal(calls__count(t, "u1"), 0);
    /* usable afterwards */
    assert_int_equal(connect_(t, "u1", "a", 10), 1);
    assert_int_equal(calls__clear_all(t, NULL, NULL), 1);
    calls__free(t);
}

/* Calls carried over from the previous run (retained topic at start). */
static void test_seed_and_unknown_disconnects(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    const int64_t since = 5000;
    assert_int_equal(calls__seed(t, "U1", 2, since), 1);
    assert_int_equal(calls__count(t, "u1"), 2);
    assert_int_equal(calls__carried(t, "u1"), 2);
    assert_int_equal(calls__since(t, "u1"), since);
    assert_int_equal(calls__users_talking(t), 1);
    /* a real call on top: counted, since stays the oldest */
    assert_int_equal(connect_(t, "u1", "new", 9000), 0);
    assert_int_equal(calls__count(t, "u1"), 3);
    assert_int_equal(calls__carried(t, "u1"), 2);
    assert_int_equal(calls__since(t, "u1"), since);
    /* the real call's own Disconnected ends it, not a carried one */
    assert_int_equal(disconnect_(t, "u1", "new", 9500), 0);
    assert_int_equal(calls__carried(t, "u1"), 2);
    /* unknown callIds (calls of the previous run) consume carried calls */
    assert_int_equal(disconnect_(t, "u1", "old-a", 10000), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    assert_int_equal(calls__carried(t, "u1"), 1);
    assert_int_equal(disconnect_(t, "u1", "old-b", 11000), 1);
    assert_int_equal(calls__count(t, "u1"), 0);
    assert_int_equal(calls__since(t, "u1"), 0);
    assert_int_equal(calls__users_talking(t), 0);
    /* none left: another unknown Disconnected changes nothing */
    assert_int_equal(disconnect_(t, "u1", "old-c", 12000), 0);
    /* seeding another user does not touch the first; n == 0 is a no-op */
    assert_int_equal(calls__seed(t, "u2", 0, since), 0);
    assert_int_equal(calls__count(t, "u2"), 0);
    assert_int_equal(calls__seed(t, "u2", 1, since), 1);
    assert_int_equal(disconnect_(t, "u3", "x", 13000), 0);
    assert_int_equal(calls__count(t, "u2"), 1);
    /* seeding a user who already talks is not a transition */
    assert_int_equal(calls__seed(t, "u2", 1, since), 0);
    assert_int_equal(calls__count(t, "u2"), 2);
    calls__free(t);
}

static void test_seed_bad_input_and_cap(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    assert_int_equal(calls__seed(t, "", 1, 1), -1);
    char longid[VOICE_ID_MAX + 4];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(calls__seed(t, longid, 1, 1), -1);
    assert_int_equal(calls__seed(t, "u1", CALLS_MAX_PER_USER + 1, 1), -1);
    assert_int_equal(calls__count(t, "u1"), 0); /* nothing added */
    assert_int_equal(calls__seed(t, "u1", CALLS_MAX_PER_USER, 1), 1);
    assert_int_equal(calls__count(t, "u1"), CALLS_MAX_PER_USER);
    assert_int_equal(connect_(t, "u1", "one-more", 2), -1);
    assert_int_equal(calls__seed(t, "u1", 1, 1), -1);
    calls__free(t);
}

/* Seeded calls are bounded by max_call_minutes from their `since`. */
static void test_seed_expiry(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    const int64_t since = 1000 * MIN_MS;
    assert_int_equal(calls__seed(t, "u1", 2, since), 1);
    assert_int_equal(connect_(t, "u1", "real", since + 30 * MIN_MS), 0);
    struct dropped d = {0};
    assert_int_equal(calls__expire(t, since + 60 * MIN_MS, 60, on_drop, &d), 0);
    assert_int_equal(calls__expire(t, since + 61 * MIN_MS, 60, on_drop, &d), 2);
    assert_int_equal(d.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(d.user[i], "u1");
        assert_string_equal(d.call[i], ""); /* carried over: no callId */
        assert_int_equal(d.started[i], since);
        assert_false(d.stopped[i]); /* the real call remains */
    }
    assert_int_equal(calls__count(t, "u1"), 1);
    assert_int_equal(calls__carried(t, "u1"), 0);
    assert_int_equal(calls__since(t, "u1"), since + 30 * MIN_MS);
    /* an old callId's Disconnected now finds nothing to end */
    assert_int_equal(disconnect_(t, "u1", "old", since + 62 * MIN_MS), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    /* only carried calls: the last one expiring stops the user talking */
    assert_int_equal(calls__seed(t, "u2", 1, since), 1);
    d.n = 0;
    assert_int_equal(calls__expire(t, since + 61 * MIN_MS, 60, on_drop, &d), 1);
    assert_string_equal(d.user[0], "u2");
    assert_true(d.stopped[0]);
    assert_int_equal(calls__users_talking(t), 1);
    calls__free(t);
}

static double elapsed_ms(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

/* 10,000 users, each with two overlapping calls: every transition is
 * reported once, and the map stays fast. */
static int drops;
static void count_drop(void *ctx, const char *user_id, const char *call_id, int64_t started_ms,
                       bool stopped_talking)
{
    (void)ctx, (void)user_id, (void)call_id, (void)started_ms, (void)stopped_talking;
    drops++;
}

/* UserStatus with a rule is authoritative (docs/voice.md "UserStatus"). */
static void test_status(void **state)
{
    (void)state;
    struct calls *t = calls__new();
    assert_non_null(t);
    /* free ends every call, whatever their Disconnected did */
    assert_int_equal(connect_(t, "u1", "c1", 1000), 1);
    assert_int_equal(connect_(t, "u1", "c2", 1500), 0);
    assert_int_equal(calls__seed(t, "u1", 1, 500), 0);
    drops = 0;
    assert_int_equal(calls__status(t, "U1", false, 2000, count_drop, NULL), 1);
    assert_int_equal(drops, 3);
    assert_int_equal(calls__count(t, "u1"), 0);
    assert_int_equal(calls__users_talking(t), 0);
    assert_int_equal(calls__status(t, "u1", false, 2100, NULL, NULL), 0); /* nothing to end */
    /* talking without a call seen: one stand-in call */
    assert_int_equal(calls__status(t, "u1", true, 3000, NULL, NULL), 1);
    assert_int_equal(calls__count(t, "u1"), 1);
    assert_int_equal(calls__since(t, "u1"), 3000);
    assert_int_equal(calls__status(t, "u1", true, 3100, NULL, NULL), 0); /* still one */
    assert_int_equal(calls__count(t, "u1"), 1);
    /* the real Connected takes its place (the earlier start stays) */
    assert_int_equal(connect_(t, "u1", "c3", 3200), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    assert_int_equal(calls__since(t, "u1"), 3000);
    assert_int_equal(disconnect_(t, "u1", "c3", 3300), 1);
    assert_int_equal(calls__count(t, "u1"), 0);
    /* an unknown Disconnected never ends the stand-in (only carried-over
     * calls end that way) */
    assert_int_equal(calls__status(t, "u1", true, 4000, NULL, NULL), 1);
    assert_int_equal(disconnect_(t, "u1", "zz", 4100), 0);
    assert_int_equal(calls__count(t, "u1"), 1);
    /* talking while calls are known changes nothing */
    assert_int_equal(connect_(t, "u2", "c9", 5000), 1);
    assert_int_equal(calls__status(t, "u2", true, 5100, NULL, NULL), 0);
    assert_int_equal(calls__count(t, "u2"), 1);
    assert_int_equal(calls__status(t, "", true, 1, NULL, NULL), -1);
    calls__free(t);
}

static void test_scale_10000_users(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct calls *t = calls__new();
    char user[64], call[64];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int changes = 0;
    for (int i = 0; i < N; i++) {
        snprintf(user, sizeof(user), "%08x-0000-4000-8000-%012d", i * 2654435761u, i);
        snprintf(call, sizeof(call), "call-%d-a", i);
        changes += connect_(t, user, call, i);
        snprintf(call, sizeof(call), "call-%d-b", i);
        changes += connect_(t, user, call, i);
    }
    assert_int_equal(changes, N);
    assert_int_equal(calls__users_talking(t), N);
    for (int i = 0; i < N; i++) {
        snprintf(user, sizeof(user), "%08X-0000-4000-8000-%012d", i * 2654435761u, i);
        assert_int_equal(calls__count(t, user), 2);
        snprintf(call, sizeof(call), "call-%d-a", i);
        assert_int_equal(disconnect_(t, user, call, N + i), 0);
    }
    /* the b calls expire */
    assert_int_equal(calls__expire(t, N + 60 * MIN_MS, 1, NULL, NULL), N);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(calls__users_talking(t), 0);
    double ms = elapsed_ms(a, b);
    print_message("10000 users x 2 calls, lookups, expiry: %.1f ms\n", ms);
    assert_true(ms < 2000); /* a linear scan would take seconds under ASan */
    calls__free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_call),
        cmocka_unit_test(test_two_terminals_overlap),
        cmocka_unit_test(test_duplicates_and_unknown),
        cmocka_unit_test(test_other_events_and_bad_input),
        cmocka_unit_test(test_per_user_cap),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_clear_all),
        cmocka_unit_test(test_seed_and_unknown_disconnects),
        cmocka_unit_test(test_seed_bad_input_and_cap),
        cmocka_unit_test(test_seed_expiry),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_scale_10000_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
