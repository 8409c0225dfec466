/* The mapper's reconcile core, rule by rule (docs/mapper.md). Time is wall
 * milliseconds driven by the test; T0 is an arbitrary start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mapper/reconcile.h"

#define T0  1795000000000LL /* 2026-11-18 */
#define SEC 1000LL
#define MIN (60 * SEC)

static struct reconcile_config cfg;

static int setup(void **state)
{
    (void)state;
    reconcile__config_default(&cfg);
    return 0;
}

/* Each test's user frees what it owns (its texts, reconcile.h) when the test
 * returns. */
static void user_release(struct reconcile_user *u)
{
    reconcile__user_free(u);
}
#define OWNED __attribute__((cleanup(user_release)))

/* A user past start-up: both inputs idle, no leftovers. */
static void fresh_user(struct reconcile_user *u)
{
    reconcile__user_init(u, "contoso", "alice@contoso.com", T0);
    u->session = RECONCILE_SESSION_NONE;
    u->session_probe = false;
    u->flag = RECONCILE_FLAG_NONE;
    reconcile__teams_report(u, &cfg, "Available", "Available", T0, "notification", T0);
    reconcile__voice_report(u, false, 0, T0, "rte", T0);
}

/* The one action of `kind` in the plan, or NULL. */
static const struct reconcile_action *find(struct reconcile_action *a, size_t n,
                                           enum reconcile_action_kind kind)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].kind == kind)
            return &a[i];
    }
    return NULL;
}

static size_t plan(const struct reconcile_user *u, int64_t now, struct reconcile_action *a)
{
    return reconcile__plan(u, &cfg, now, a);
}

/* Begins the due action of kind and completes it with ok. */
static void run(struct reconcile_user *u, enum reconcile_action_kind kind, int64_t now, bool ok)
{
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(u, now, a);
    const struct reconcile_action *x = find(a, n, kind);
    assert_non_null(x);
    assert_true(x->not_before <= now);
    reconcile__begin(u, x, now);
    struct reconcile_result r = {.ok = ok, .retry_after_ms = -1, .random = 0, .error = "HTTP 500"};
    reconcile__done(u, &cfg, kind == RECONCILE_VOICE_SET ? RECONCILE_VOICE : RECONCILE_TEAMS, &r,
                    now);
}

static void read_result(struct reconcile_user *u, int64_t now, const char *av, const char *act)
{
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(u, now, a);
    const struct reconcile_action *x = find(a, n, RECONCILE_GRAPH_READ);
    assert_non_null(x);
    assert_true(x->not_before <= now);
    reconcile__begin(u, x, now);
    reconcile__teams_read(u, &cfg, av, act, now);
}

static void assert_idle(const struct reconcile_user *u, int64_t now)
{
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    assert_int_equal(plan(u, now, a), 0);
    assert_int_equal(reconcile__next_due(u, &cfg, now), RECONCILE_NEVER);
}

/* Nothing due now (a refresh may be planned for later). */
static void assert_nothing_due(const struct reconcile_user *u, int64_t now)
{
    assert_true(reconcile__next_due(u, &cfg, now) > now);
}

/* ---- start-up ---- */

/* Start-up reads first: a leftover Busy session of an earlier run can only
 * hide where the aggregate is Busy or DoNotDisturb; elsewhere no clear is
 * sent (a read of 650 users is one request, a clear one per user). */
static void test_startup_read_proves_no_leftover(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    reconcile__teams_report(&u, &cfg, "Available", "Available", T0, "notification", T0 + 10);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 20);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0 + 30, a);
    assert_int_equal(n, 2);
    assert_null(find(a, n, RECONCILE_GRAPH_CLEAR));
    const struct reconcile_action *r = find(a, n, RECONCILE_GRAPH_READ);
    assert_non_null(r);
    assert_true(r->not_before <= T0 + 30);
    assert_string_equal(r->why, "start-up read");
    const struct reconcile_action *v = find(a, n, RECONCILE_VOICE_SET);
    assert_non_null(v);
    assert_false(v->value);
    read_result(&u, T0 + 30, "Away", "Away");
    assert_int_equal(u.session, RECONCILE_SESSION_NONE);
    assert_false(u.teams_real);
    run(&u, RECONCILE_VOICE_SET, T0 + 30, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_FALSE);
    assert_idle(&u, T0 + 10 * MIN);
}

/* The read does not wait for the Voice input (it changes nothing), only for
 * the Teams one (its user_id lets many users share a read). */
static void test_startup_read_is_immediate(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0, a);
    assert_int_equal(find(a, n, RECONCILE_GRAPH_READ)->not_before, T0 + cfg.startup_ms);
    reconcile__teams_report(&u, &cfg, "Offline", "Offline", T0, "resync", T0 + 10);
    n = plan(&u, T0 + 10, a);
    assert_true(find(a, n, RECONCILE_GRAPH_READ)->not_before <= T0 + 10);
    read_result(&u, T0 + 10, "Offline", "Offline");
    assert_int_equal(u.session, RECONCILE_SESSION_NONE);
    assert_null(find(a, plan(&u, T0 + cfg.startup_ms, a), RECONCILE_GRAPH_CLEAR));
}

static void test_startup_clears_leftovers(void **state)
{
    (void)state;
    const char *hiding[][2] = {
        {"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}, {"busy", "InAMeeting"}};
    for (size_t i = 0; i < sizeof(hiding) / sizeof(hiding[0]); i++) {
        struct reconcile_user u OWNED;
        reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
        reconcile__teams_report(&u, &cfg, "Available", "Available", T0, "notification", T0 + 10);
        reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 20);
        read_result(&u, T0 + 25, hiding[i][0], hiding[i][1]);
        assert_int_equal(u.session, RECONCILE_SESSION_UNKNOWN);
        struct reconcile_action a[RECONCILE_MAX_ACTIONS];
        size_t n = plan(&u, T0 + 30, a);
        const struct reconcile_action *c = find(a, n, RECONCILE_GRAPH_CLEAR);
        assert_non_null(c);
        assert_true(c->not_before <= T0 + 30);
        assert_string_equal(c->why, "start-up");
        run(&u, RECONCILE_GRAPH_CLEAR, T0 + 30, true); /* 404 counts as done */
        /* The read follows settle later; the Voice 'false' waits for its truth. */
        n = plan(&u, T0 + 40, a);
        const struct reconcile_action *r = find(a, n, RECONCILE_GRAPH_READ);
        assert_non_null(r);
        assert_int_equal(r->not_before, T0 + 30 + cfg.settle_ms);
        const struct reconcile_action *v = find(a, n, RECONCILE_VOICE_SET);
        if (v && !v->value) /* not a call of the user's (Presenting is): it waits */
            assert_true(v->not_before > T0 + 30 + cfg.settle_ms);
        read_result(&u, T0 + 30 + cfg.settle_ms, "Available", "Available");
        if (u.flag != RECONCILE_FLAG_FALSE)
            run(&u, RECONCILE_VOICE_SET, T0 + 30 + cfg.settle_ms, true);
        assert_int_equal(u.flag, RECONCILE_FLAG_FALSE);
        assert_int_equal(u.session, RECONCILE_SESSION_NONE);
        assert_idle(&u, T0 + 10 * MIN);
    }
}

static void test_startup_waits_for_inputs(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0, a);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(a[i].not_before, T0 + cfg.startup_ms);
    /* A retained "talking" arrives: the session is set at once, not cleared. */
    reconcile__voice_report(&u, true, 1, T0, "rte", T0 + 5);
    n = plan(&u, T0 + 5, a);
    const struct reconcile_action *s = find(a, n, RECONCILE_GRAPH_SET_BUSY);
    assert_non_null(s);
    assert_true(s->not_before <= T0 + 5);
    /* A failed start-up read is retried, not skipped. */
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    n = plan(&u, T0 + cfg.startup_ms, a);
    reconcile__begin(&u, find(a, n, RECONCILE_GRAPH_READ), T0 + cfg.startup_ms);
    struct reconcile_result fail = {.ok = false, .retry_after_ms = 0, .error = "HTTP 503"};
    reconcile__done(&u, &cfg, RECONCILE_TEAMS, &fail, T0 + cfg.startup_ms);
    n = plan(&u, T0 + cfg.startup_ms + 1, a);
    assert_true(find(a, n, RECONCILE_GRAPH_READ)->not_before <= T0 + cfg.startup_ms + 1);
}

static void test_startup_leftover_session_echo_is_not_mirrored(void **state)
{
    (void)state;
    /* Retained teams topic shows InACall, which may be our old session. */
    struct reconcile_user u OWNED;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0 - MIN, "notification", T0);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0);
    assert_false(u.teams_real);
    assert_int_equal(u.origin, RECONCILE_ORIGIN_ECHO);
    read_result(&u, T0, "Busy", "InACall");
    assert_false(u.teams_real);
    run(&u, RECONCILE_GRAPH_CLEAR, T0, true);
    /* After the clear, Graph says the user is idle: the flag goes false. */
    read_result(&u, T0 + cfg.settle_ms, "Available", "Available");
    assert_false(u.teams_real);
    run(&u, RECONCILE_VOICE_SET, T0 + cfg.settle_ms, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_FALSE);
}

static void test_startup_real_call_survives(void **state)
{
    (void)state;
    /* The retained InACall was a real call: the read says so (twice, since
     * right after our clear it is confirmed once), and the flag goes true
     * without first being written false. */
    struct reconcile_user u OWNED;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0 - MIN, "notification", T0);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0);
    read_result(&u, T0, "Busy", "InACall");
    run(&u, RECONCILE_GRAPH_CLEAR, T0, true);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0 + cfg.settle_ms, a);
    const struct reconcile_action *v = find(a, n, RECONCILE_VOICE_SET);
    assert_non_null(v);
    assert_true(v->not_before > T0 + cfg.settle_ms); /* held for the read */
    read_result(&u, T0 + cfg.settle_ms, "Busy", "InACall");
    assert_false(u.teams_real);
    read_result(&u, T0 + 2 * cfg.settle_ms, "Busy", "InACall");
    assert_true(u.teams_real);
    n = plan(&u, T0 + 2 * cfg.settle_ms, a);
    v = find(a, n, RECONCILE_VOICE_SET);
    assert_non_null(v);
    assert_true(v->value);
}

/* ---- Voice -> Teams ---- */

/* The previous run's record says it held a session: it is cleared without a
 * read first, whatever the aggregate shows (a user-preferred Away hides it
 * there, and the read would have "proved" it gone). */
static void test_record_may_hold_clears_whatever_shows(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    reconcile__restore(&u, RECONCILE_RECORD_MAY_HOLD);
    reconcile__teams_report(&u, &cfg, "Away", "Away", T0, "notification", T0 + 10);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 20);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0 + 30, a);
    assert_null(find(a, n, RECONCILE_GRAPH_READ));
    const struct reconcile_action *c = find(a, n, RECONCILE_GRAPH_CLEAR);
    assert_non_null(c);
    assert_true(c->not_before <= T0 + 30);
    assert_string_equal(c->why, "start-up");
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + 30, true);
    assert_int_equal(u.session, RECONCILE_SESSION_NONE);
    /* then the settle read, as after every clear */
    assert_true(u.need_read);
}

/* The record says no session: neither a read nor a clear for the session;
 * a user in a Voice call still gets one. */
static void test_record_none_skips_probe(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    reconcile__restore(&u, RECONCILE_RECORD_NONE);
    assert_int_equal(u.session, RECONCILE_SESSION_NONE);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 10);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 20);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0 + 30, a);
    assert_null(find(a, n, RECONCILE_GRAPH_READ));
    assert_null(find(a, n, RECONCILE_GRAPH_CLEAR));
    reconcile__voice_report(&u, true, 1, T0, "rte", T0 + 40);
    n = plan(&u, T0 + 40, a);
    assert_non_null(find(a, n, RECONCILE_GRAPH_SET_BUSY));
}

/* The user's own InACall arrives before the record (the retained teams
 * topic comes in with the subscription, the records a little later): it is
 * ambiguous while the session is unknown; a record saying "no session" makes
 * it the user's call, and the flag is written true, not false (found by
 * it_fault_random: a restarted instance wrote 'talking' false for a user in
 * a Teams call). */
static void test_record_none_after_incall(void **state)
{
    (void)state;
    struct reconcile_user u;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "resync", T0 + 10);
    assert_false(u.teams_real);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 20);
    reconcile__restore(&u, RECONCILE_RECORD_NONE);
    assert_true(u.teams_real);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0 + 30, a);
    assert_null(find(a, n, RECONCILE_GRAPH_READ));
    assert_null(find(a, n, RECONCILE_GRAPH_CLEAR));
    const struct reconcile_action *v = find(a, n, RECONCILE_VOICE_SET);
    assert_non_null(v);
    assert_true(v->value);
    /* a non-call busy activity before the record stays not a call */
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    reconcile__teams_report(&u, &cfg, "Busy", "InAMeeting", T0, "resync", T0 + 10);
    reconcile__restore(&u, RECONCILE_RECORD_NONE);
    assert_false(u.teams_real);
}

/* No record: the start-up read decides (Busy or DND shows: clear). A record
 * that comes too late (the user is past start-up) changes nothing. */
static void test_record_absent_and_late(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    reconcile__user_init(&u, "contoso", "alice@contoso.com", T0);
    reconcile__restore(&u, RECONCILE_RECORD_ABSENT);
    assert_true(u.session_probe);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 10);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 20);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    assert_non_null(find(a, plan(&u, T0 + 30, a), RECONCILE_GRAPH_READ));
    read_result(&u, T0 + 30, "Busy", "InACall");
    assert_non_null(find(a, plan(&u, T0 + 30, a), RECONCILE_GRAPH_CLEAR));
    reconcile__restore(&u, RECONCILE_RECORD_NONE); /* too late: the read said Busy */
    assert_int_equal(u.session, RECONCILE_SESSION_UNKNOWN);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + 40, true);
    reconcile__restore(&u, RECONCILE_RECORD_MAY_HOLD);
    assert_int_equal(u.session, RECONCILE_SESSION_NONE);
}

static void test_voice_call_sets_refreshes_clears(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    assert_idle(&u, T0 + SEC);
    reconcile__voice_report(&u, true, 1, T0 + SEC, "rte", T0 + SEC);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0 + SEC, true);
    assert_int_equal(u.session, RECONCILE_SESSION_BUSY);
    assert_int_equal(u.session_expires, T0 + SEC + cfg.session_ms);
    /* Refresh is planned 5 minutes before the end of a 15 minute session. */
    assert_int_equal(reconcile__next_due(&u, &cfg, T0 + 2 * SEC), T0 + SEC + 10 * MIN);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0 + SEC + 10 * MIN, true);
    assert_int_equal(u.session_expires, T0 + SEC + 10 * MIN + cfg.session_ms);
    /* A second call on another terminal changes nothing. */
    reconcile__voice_report(&u, true, 2, T0 + SEC, "rte", T0 + 11 * MIN);
    assert_int_equal(reconcile__next_due(&u, &cfg, T0 + 11 * MIN), T0 + SEC + 20 * MIN);
    /* Last call ends: clear, then read after settle. */
    reconcile__voice_report(&u, false, 0, T0 + 12 * MIN, "rte", T0 + 12 * MIN);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + 12 * MIN, true);
    assert_int_equal(u.session, RECONCILE_SESSION_NONE);
    assert_int_equal(reconcile__next_due(&u, &cfg, T0 + 12 * MIN), T0 + 12 * MIN + cfg.settle_ms);
    read_result(&u, T0 + 12 * MIN + cfg.settle_ms, "Available", "Available");
    assert_idle(&u, T0 + 13 * MIN);
    assert_int_equal(u.flag, RECONCILE_FLAG_NONE); /* never touched */
}

static void test_short_session_refresh(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    cfg.session_ms = 5 * MIN;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, true);
    /* Half of a short session, never at or after its end. */
    assert_int_equal(reconcile__next_due(&u, &cfg, T0), T0 + 150 * SEC);
    reconcile__config_default(&cfg);
}

/* ---- Teams -> Voice ---- */

static void test_teams_call_mirrored_and_cleared(void **state)
{
    (void)state;
    const char *acts[][2] = {{"Busy", "InACall"},
                             {"Busy", "InAConferenceCall"},
                             {"DoNotDisturb", "Presenting"},
                             {"Busy", "inaconferencecall"}};
    for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
        struct reconcile_user u OWNED;
        fresh_user(&u);
        reconcile__teams_report(&u, &cfg, acts[i][0], acts[i][1], T0, "notification", T0 + SEC);
        assert_true(u.teams_real);
        run(&u, RECONCILE_VOICE_SET, T0 + SEC, true);
        assert_int_equal(u.flag, RECONCILE_FLAG_TRUE);
        assert_idle(&u, T0 + 2 * SEC);
        reconcile__teams_report(&u, &cfg, "Available", "Available", T0, "notification",
                                T0 + 3 * SEC);
        struct reconcile_action a[RECONCILE_MAX_ACTIONS];
        size_t n = plan(&u, T0 + 3 * SEC, a);
        assert_int_equal(n, 1);
        assert_int_equal(a[0].kind, RECONCILE_VOICE_SET);
        assert_false(a[0].value);
        run(&u, RECONCILE_VOICE_SET, T0 + 3 * SEC, true);
        assert_idle(&u, T0 + 4 * SEC);
    }
}

static void test_not_calls_are_not_mirrored(void **state)
{
    (void)state;
    const char *acts[][2] = {{"Busy", "InAMeeting"},           {"Busy", "Busy"},
                             {"DoNotDisturb", "DoNotDisturb"}, {"Away", "Away"},
                             {"Offline", "OffWork"},           {"Busy", "Focusing"}};
    for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
        struct reconcile_user u OWNED;
        fresh_user(&u);
        reconcile__teams_report(&u, &cfg, acts[i][0], acts[i][1], T0, "notification", T0 + SEC);
        assert_false(u.teams_real);
        assert_idle(&u, T0 + SEC);
    }
}

static void test_configured_busy_list(void **state)
{
    (void)state;
    static const char *const busy[] = {"InAMeeting"};
    cfg.busy = busy;
    cfg.n_busy = 1;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__teams_report(&u, &cfg, "Busy", "inameeting", T0, "notification", T0 + SEC);
    assert_true(u.teams_real);
    reconcile__teams_report(&u, &cfg, "Busy", "InAConferenceCall", T0, "notification", T0 + SEC);
    assert_false(u.teams_real);
    reconcile__config_default(&cfg);
}

static void test_only_own_flags_are_cleared(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u); /* flag NONE: we never wrote it */
    reconcile__teams_report(&u, &cfg, "Available", "Available", T0, "resync", T0 + SEC);
    assert_idle(&u, T0 + SEC);
    u.flag = RECONCILE_FLAG_FALSE;
    assert_idle(&u, T0 + SEC);
    u.flag = RECONCILE_FLAG_TRUE;
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    assert_int_equal(plan(&u, T0 + SEC, a), 1);
    assert_false(a[0].value);
}

/* ---- echo rule ---- */

static void test_own_echo_not_mirrored(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0, a);
    reconcile__begin(&u, find(a, n, RECONCILE_GRAPH_SET_BUSY), T0);
    /* The echo may even arrive before the set completes. */
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 100);
    assert_false(u.teams_real);
    assert_int_equal(u.origin, RECONCILE_ORIGIN_ECHO);
    struct reconcile_result ok = {.ok = true, .retry_after_ms = -1};
    reconcile__done(&u, &cfg, RECONCILE_TEAMS, &ok, T0 + 200);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 300);
    reconcile__teams_report(&u, &cfg, "Busy", "Busy", T0, "notification", T0 + 400); /* variant */
    assert_false(u.teams_real);
    n = plan(&u, T0 + 500, a);
    assert_null(find(a, n, RECONCILE_VOICE_SET));
    assert_false(u.need_read); /* we hold the session: nothing to read yet */
}

static void test_other_busy_during_session_is_real(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, true);
    reconcile__teams_report(&u, &cfg, "Busy", "InAConferenceCall", T0, "notification", T0 + SEC);
    assert_true(u.teams_real);
    run(&u, RECONCILE_VOICE_SET, T0 + SEC, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_TRUE);
    /* Meeting ends first; the aggregate falls back to our InACall:
     * ambiguous, belief kept (Voice talks anyway while its call lasts). */
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 2 * SEC);
    assert_true(u.teams_real);
    /* Voice call ends: clear, read the truth, then the flag goes. */
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 3 * SEC);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + 3 * SEC, true);
    read_result(&u, T0 + 3 * SEC + cfg.settle_ms, "Available", "Available");
    run(&u, RECONCILE_VOICE_SET, T0 + 3 * SEC + cfg.settle_ms, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_FALSE);
    assert_idle(&u, T0 + 10 * MIN);
}

/* The hard case: a real Teams 1:1 call (InACall) and a Voice call at once. */
static void test_teams_1to1_then_voice_call(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0);
    assert_true(u.teams_real); /* no session of ours: real */
    run(&u, RECONCILE_VOICE_SET, T0, true);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0 + SEC);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0 + SEC, true);
    /* Teams call ends; aggregate stays InACall (ours): belief kept. */
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 2 * SEC);
    assert_true(u.teams_real);
    assert_nothing_due(&u, T0 + 3 * SEC);
    /* Voice call ends: clear, read: idle -> flag false; nothing stale. */
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 4 * SEC);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + 4 * SEC, true);
    read_result(&u, T0 + 4 * SEC + cfg.settle_ms, "Available", "Available");
    run(&u, RECONCILE_VOICE_SET, T0 + 4 * SEC + cfg.settle_ms, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_FALSE);
    assert_int_equal(u.session, RECONCILE_SESSION_NONE);
    assert_idle(&u, T0 + 10 * MIN);
}

static void test_voice_call_then_teams_1to1_outlasting(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, true);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + SEC); /* echo */
    /* Real Teams 1:1 starts: indistinguishable, not mirrored (Voice talks). */
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 2 * SEC);
    assert_false(u.teams_real);
    /* Voice call ends while the Teams call lasts: the read finds it. */
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 3 * SEC);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + 3 * SEC, true);
    int64_t t = T0 + 3 * SEC + cfg.settle_ms;
    read_result(&u, t, "Busy", "InACall");
    assert_false(u.teams_real); /* confirmed once more first */
    read_result(&u, t + cfg.settle_ms, "Busy", "InACall");
    assert_true(u.teams_real);
    run(&u, RECONCILE_VOICE_SET, t + cfg.settle_ms, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_TRUE);
    /* Teams call ends. */
    reconcile__teams_report(&u, &cfg, "Available", "Available", T0, "notification", t + MIN);
    run(&u, RECONCILE_VOICE_SET, t + MIN, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_FALSE);
    assert_idle(&u, t + 2 * MIN);
}

static void test_late_echo_after_clear_triggers_read(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, true);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + SEC);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + SEC, true);
    read_result(&u, T0 + SEC + cfg.settle_ms, "Available", "Available");
    assert_idle(&u, T0 + 7 * SEC);
    /* The echo of our set arrives late, within the grace window. */
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 20 * SEC);
    assert_false(u.teams_real);
    assert_true(u.need_read);
    read_result(&u, T0 + 20 * SEC, "Available", "Available");
    assert_false(u.teams_real);
    assert_idle(&u, T0 + 21 * SEC);
    /* After the grace window an InACall is simply real. */
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + 2 * MIN);
    assert_true(u.teams_real);
}

/* A real call that starts while the settle read is out: the read answers
 * what it saw before (Available), the notification says InACall. The read
 * does not overwrite the newer report; the user is read again and the call
 * is mirrored. */
static void test_report_during_read_is_not_overwritten(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, true);
    reconcile__voice_report(&u, false, 0, T0 + SEC, "rte", T0 + SEC);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + SEC, true);
    int64_t t = T0 + SEC + cfg.settle_ms;
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, t, a);
    const struct reconcile_action *r = find(a, n, RECONCILE_GRAPH_READ);
    assert_non_null(r);
    reconcile__begin(&u, r, t);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", t, "notification", t + 5);
    reconcile__teams_read(&u, &cfg, "Available", "Available", t + 10);
    assert_string_equal(u.teams.activity, "InACall"); /* the report stays */
    n = plan(&u, t + 10, a);
    r = find(a, n, RECONCILE_GRAPH_READ);
    assert_non_null(r); /* read again, at once */
    assert_true(r->not_before <= t + 10);
    read_result(&u, t + 10, "Busy", "InACall");
    read_result(&u, t + 10 + cfg.settle_ms, "Busy", "InACall"); /* confirmed */
    assert_true(u.teams_real);
    n = plan(&u, t + 10 + cfg.settle_ms, a);
    const struct reconcile_action *v = find(a, n, RECONCILE_VOICE_SET);
    assert_non_null(v);
    assert_true(v->value);
}

static void test_replay_is_idempotent(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__teams_report(&u, &cfg, "Busy", "InAConferenceCall", T0, "notification", T0);
    run(&u, RECONCILE_VOICE_SET, T0, true);
    for (int i = 0; i < 3; i++) {
        reconcile__teams_report(&u, &cfg, "Busy", "InAConferenceCall", T0, "resync", T0 + i);
        assert_idle(&u, T0 + i);
    }
    /* Lost intermediate events: meeting end + new meeting never seen; only
     * the final level matters. */
    reconcile__teams_report(&u, &cfg, "Available", "Available", T0, "resync", T0 + 10);
    reconcile__teams_report(&u, &cfg, "Available", "Available", T0, "resync", T0 + 11);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    assert_int_equal(plan(&u, T0 + 12, a), 1);
}

/* ---- ordering, retries, failures ---- */

static void test_one_write_in_flight_per_side(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    reconcile__teams_report(&u, &cfg, "Busy", "Presenting", T0, "notification", T0);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0, a);
    assert_int_equal(n, 2);
    reconcile__begin(&u, find(a, n, RECONCILE_GRAPH_SET_BUSY), T0);
    n = plan(&u, T0, a);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, RECONCILE_VOICE_SET);
    /* The call ends while the set is in flight: nothing queued behind it;
     * when the set completes, the clear follows. */
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 10);
    n = plan(&u, T0 + 10, a);
    assert_null(find(a, n, RECONCILE_GRAPH_CLEAR));
    struct reconcile_result ok = {.ok = true, .retry_after_ms = -1};
    reconcile__done(&u, &cfg, RECONCILE_TEAMS, &ok, T0 + 20);
    n = plan(&u, T0 + 20, a);
    assert_non_null(find(a, n, RECONCILE_GRAPH_CLEAR));
}

static void test_newer_desire_replaces_queued_retry(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, false);
    assert_int_equal(u.target[RECONCILE_TEAMS].failures, 1);
    assert_int_equal(u.session, RECONCILE_SESSION_UNKNOWN); /* may have landed */
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0, a);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, RECONCILE_GRAPH_SET_BUSY);
    assert_true(a[0].not_before > T0);
    assert_true(a[0].not_before <= T0 + cfg.retry_base_ms);
    /* Call ends before the retry: the queued set becomes a clear. */
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 10);
    n = plan(&u, T0 + 10, a);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, RECONCILE_GRAPH_CLEAR);
    assert_true(a[0].not_before > T0 + 10);
    assert_non_null(strstr(u.last_error, "graph_set_busy: HTTP 500"));
}

static void test_retry_after_and_backoff(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__teams_report(&u, &cfg, "Busy", "InAConferenceCall", T0, "notification", T0);
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = plan(&u, T0, a);
    reconcile__begin(&u, &a[0], T0);
    struct reconcile_result r429 = {.ok = false, .retry_after_ms = 7000, .error = "HTTP 429"};
    reconcile__done(&u, &cfg, RECONCILE_VOICE, &r429, T0);
    assert_int_equal(reconcile__next_due(&u, &cfg, T0), T0 + 7000);
    assert_int_equal(u.flag, RECONCILE_FLAG_UNKNOWN);
    /* Backoff grows without Retry-After, capped at retry_max_ms. */
    int64_t prev = 0;
    int64_t t = T0 + 7000;
    for (int i = 0; i < 20; i++) {
        n = plan(&u, t, a);
        assert_int_equal(n, 1);
        reconcile__begin(&u, &a[0], t);
        struct reconcile_result r = {.ok = false, .retry_after_ms = -1, .random = UINT32_MAX};
        reconcile__done(&u, &cfg, RECONCILE_VOICE, &r, t);
        int64_t d = reconcile__next_due(&u, &cfg, t) - t;
        assert_true(d >= prev || d == cfg.retry_max_ms);
        assert_true(d <= cfg.retry_max_ms);
        prev = d;
        t += d;
    }
    assert_int_equal(prev, cfg.retry_max_ms);
    run(&u, RECONCILE_VOICE_SET, t, true);
    assert_int_equal(u.target[RECONCILE_VOICE].failures, 0);
    assert_idle(&u, t);
}

static void test_failed_clear_retried(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, true);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + SEC);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + SEC, false);
    assert_int_equal(u.session, RECONCILE_SESSION_UNKNOWN); /* it may have landed */
    int64_t due = reconcile__next_due(&u, &cfg, T0 + SEC);
    run(&u, RECONCILE_GRAPH_CLEAR, due, true);
    assert_int_equal(u.session, RECONCILE_SESSION_NONE);
}

static void test_failed_false_write_keeps_flag_owned(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__teams_report(&u, &cfg, "Busy", "InAConferenceCall", T0, "notification", T0);
    run(&u, RECONCILE_VOICE_SET, T0, true);
    reconcile__teams_report(&u, &cfg, "Available", "Available", T0, "notification", T0 + SEC);
    run(&u, RECONCILE_VOICE_SET, T0 + SEC, false);
    assert_int_equal(u.flag, RECONCILE_FLAG_UNKNOWN); /* still ours to clear */
    int64_t due = reconcile__next_due(&u, &cfg, T0 + SEC);
    run(&u, RECONCILE_VOICE_SET, due, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_FALSE);
}

static void test_retired_user_winds_down(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    reconcile__teams_report(&u, &cfg, "Busy", "Presenting", T0, "notification", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, true);
    run(&u, RECONCILE_VOICE_SET, T0, true);
    u.retired = true;
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + SEC, true);
    run(&u, RECONCILE_VOICE_SET, T0 + SEC, true);
    assert_int_equal(u.flag, RECONCILE_FLAG_FALSE);
    assert_idle(&u, T0 + 2 * SEC); /* no settle read for a removed user */
}

static void test_calls_count_wins_over_flag(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 0, T0, "rte", T0);
    assert_false(u.voice.talking);
    reconcile__voice_report(&u, false, 2, T0, "rte", T0);
    assert_true(u.voice.talking);
    reconcile__voice_report(&u, true, -1, T0, "rte", T0); /* no count given */
    assert_true(u.voice.talking);
}

/* ---- B/sync ---- */

static void test_sync_json(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    fresh_user(&u);
    reconcile__voice_report(&u, true, 1, T0, "rte", T0);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0, true);
    reconcile__teams_report(&u, &cfg, "Busy", "InACall", T0, "notification", T0 + SEC);
    reconcile__voice_report(&u, false, 0, T0, "rte", T0 + 2 * SEC);
    run(&u, RECONCILE_GRAPH_CLEAR, T0 + 2 * SEC, false);
    char *js = reconcile__sync_json(&u, &cfg, T0 + 2 * SEC, 0);
    assert_non_null(js);
    cJSON *j = cJSON_Parse(js);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "user")->valuestring, "alice@contoso.com");
    assert_string_equal(cJSON_GetObjectItem(j, "tenant")->valuestring, "contoso");
    cJSON *in = cJSON_GetObjectItem(j, "inputs");
    cJSON *t = cJSON_GetObjectItem(in, "teams");
    assert_string_equal(cJSON_GetObjectItem(t, "activity")->valuestring, "InACall");
    assert_string_equal(cJSON_GetObjectItem(t, "origin")->valuestring, "echo");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(t, "real_call")));
    cJSON *v = cJSON_GetObjectItem(in, "voice");
    assert_int_equal(cJSON_GetObjectItem(v, "calls")->valueint, 0);
    cJSON *w = cJSON_GetObjectItem(j, "written");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(w, "teams"), "session")->valuestring, "unknown");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(w, "voice"), "talking")->valuestring, "none");
    cJSON *p = cJSON_GetObjectItem(j, "pending");
    assert_int_equal(cJSON_GetArraySize(p), 1);
    cJSON *p0 = cJSON_GetArrayItem(p, 0);
    assert_string_equal(cJSON_GetObjectItem(p0, "action")->valuestring, "graph_clear");
    assert_int_equal(cJSON_GetObjectItem(p0, "failures")->valueint, 1);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(p0, "not_before")));
    cJSON *e = cJSON_GetObjectItem(j, "last_error");
    assert_string_equal(cJSON_GetObjectItem(e, "error")->valuestring, "graph_clear: HTTP 500");
    cJSON_Delete(j);
    free(js);
    /* Same state, same text: B/sync is published on change only. */
    char *a1 = reconcile__sync_json(&u, &cfg, T0 + 2 * SEC, 0);
    char *a2 = reconcile__sync_json(&u, &cfg, T0 + 2 * SEC, 0);
    assert_string_equal(a1, a2);
    free(a1);
    free(a2);
}

/* The inputs' texts: Graph's vocabulary is shared, anything else is the
 * user's own copy (at most RECONCILE_VALUE_MAX bytes); a copied user owns
 * its copies, so freeing one leaves the other intact (ASan checks). */
static void test_texts_owned_and_copied(void **state)
{
    (void)state;
    struct reconcile_user u OWNED;
    struct reconcile_user v OWNED;
    fresh_user(&u);
    struct reconcile_user w OWNED;
    fresh_user(&w);
    assert_ptr_equal(u.teams.availability, w.teams.availability); /* "Available": shared */
    char odd[200];
    memset(odd, 'x', sizeof(odd) - 1);
    odd[sizeof(odd) - 1] = '\0';
    reconcile__teams_report(&u, &cfg, "SomethingNew", odd, T0, "notification", T0 + 1);
    assert_string_equal(u.teams.availability, "SomethingNew");
    assert_int_equal(strlen(u.teams.activity), RECONCILE_VALUE_MAX);
    reconcile__voice_report(&u, true, 1, T0, "a-new-source", T0 + 1);
    run(&u, RECONCILE_GRAPH_SET_BUSY, T0 + 2, false); /* a failure: last_error */
    assert_string_equal(u.last_error, "graph_set_busy: HTTP 500");
    assert_int_equal(reconcile__user_copy(&v, &u), 0);
    assert_ptr_not_equal(v.teams.availability, u.teams.availability);
    assert_ptr_not_equal(v.last_error, u.last_error);
    reconcile__user_free(&u);
    assert_null(u.last_error);
    assert_null(u.teams.availability);
    char *js = reconcile__sync_json(&v, &cfg, T0 + 3, 0);
    assert_non_null(strstr(js, "\"availability\":\"SomethingNew\""));
    assert_non_null(strstr(js, "\"source\":\"a-new-source\""));
    assert_non_null(strstr(js, "\"error\":\"graph_set_busy: HTTP 500\""));
    free(js);
    /* Back to a value of the vocabulary: the copy is released. */
    reconcile__teams_report(&v, &cfg, "Available", "Available", T0, "resync", T0 + 4);
    assert_ptr_equal(v.teams.availability, w.teams.availability);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_texts_owned_and_copied, setup),
        cmocka_unit_test_setup(test_startup_read_proves_no_leftover, setup),
        cmocka_unit_test_setup(test_startup_read_is_immediate, setup),
        cmocka_unit_test_setup(test_startup_clears_leftovers, setup),
        cmocka_unit_test_setup(test_startup_waits_for_inputs, setup),
        cmocka_unit_test_setup(test_startup_leftover_session_echo_is_not_mirrored, setup),
        cmocka_unit_test_setup(test_startup_real_call_survives, setup),
        cmocka_unit_test_setup(test_record_may_hold_clears_whatever_shows, setup),
        cmocka_unit_test_setup(test_record_none_skips_probe, setup),
        cmocka_unit_test_setup(test_record_none_after_incall, setup),
        cmocka_unit_test_setup(test_record_absent_and_late, setup),
        cmocka_unit_test_setup(test_voice_call_sets_refreshes_clears, setup),
        cmocka_unit_test_setup(test_short_session_refresh, setup),
        cmocka_unit_test_setup(test_teams_call_mirrored_and_cleared, setup),
        cmocka_unit_test_setup(test_not_calls_are_not_mirrored, setup),
        cmocka_unit_test_setup(test_configured_busy_list, setup),
        cmocka_unit_test_setup(test_only_own_flags_are_cleared, setup),
        cmocka_unit_test_setup(test_own_echo_not_mirrored, setup),
        cmocka_unit_test_setup(test_other_busy_during_session_is_real, setup),
        cmocka_unit_test_setup(test_teams_1to1_then_voice_call, setup),
        cmocka_unit_test_setup(test_voice_call_then_teams_1to1_outlasting, setup),
        cmocka_unit_test_setup(test_late_echo_after_clear_triggers_read, setup),
        cmocka_unit_test_setup(test_report_during_read_is_not_overwritten, setup),
        cmocka_unit_test_setup(test_replay_is_idempotent, setup),
        cmocka_unit_test_setup(test_one_write_in_flight_per_side, setup),
        cmocka_unit_test_setup(test_newer_desire_replaces_queued_retry, setup),
        cmocka_unit_test_setup(test_retry_after_and_backoff, setup),
        cmocka_unit_test_setup(test_failed_clear_retried, setup),
        cmocka_unit_test_setup(test_failed_false_write_keeps_flag_owned, setup),
        cmocka_unit_test_setup(test_retired_user_winds_down, setup),
        cmocka_unit_test_setup(test_calls_count_wins_over_flag, setup),
        cmocka_unit_test_setup(test_sync_json, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
