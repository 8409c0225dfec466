/* Component test: the mapper (connector/mapper/) with calls on both sides,
 * in process on the fake bus and the fake clock (mapper_fixture.h); what
 * test_mapper_overlap.sh and test_mapper_voice_fail.sh checked end to end
 * (docs/mapper.md "Rules", "Echo rule", "Retries"):
 *  - overlapping calls: a Teams meeting during a Voice call, ended in both
 *    orders; a real Teams 1:1 (InACall, which looks exactly like our own
 *    session) with a Voice call, in both orders, the second decided by the
 *    settle read; DND set by hand stays through a Voice call; after every
 *    real call has ended no session of ours and Voice not talking;
 *  - a Voice write failing with 503 every time: retried with growing
 *    delays, the error in B/sync, another user's write goes through at
 *    once, the retries counted; when the fault goes the next retry lands. */
#include "mapper_fixture.h"

#define ALICE "alice@contoso.com"
#define BOB   "bob@contoso.com"
#define CAROL "carol@contoso.com"
#define DAVE  "dave@contoso.com"

/* The end state after every real call of u has ended: no session, not
 * talking, B/sync quiet, and it stays so. */
static void all_clear(struct mfx *f, const char *addr)
{
    struct mfx_user *u = mfx__user(f, addr);
    comp_env__advance(&f->ce, 1500); /* the settle read */
    assert_false(u->session);
    assert_false(u->talking);
    assert_true(mfx__quiet(f, addr));
    int sets = u->sets;
    comp_env__advance(&f->ce, 70000); /* past the echo grace */
    assert_false(u->session);
    assert_false(u->talking);
    assert_int_equal(u->sets, sets);
}

static void test_meeting_during_voice_call(void **st)
{
    struct mfx *f = *st = mfx__new(ALICE, BOB, NULL);
    struct mfx_user *alice = mfx__user(f, ALICE), *bob = mfx__user(f, BOB);
    /* alice: the meeting ends first, then the call */
    mfx__voice_call(f, ALICE, +1);
    assert_true(alice->session);
    assert_true(mfx__shown_is(alice, "Busy/InACall"));
    mfx__teams(f, ALICE, MFX_MEETING);
    assert_true(mfx__shown_is(alice, "Busy/InAConferenceCall"));
    assert_true(alice->talking); /* a meeting is a real call: mirrored */
    mfx__teams(f, ALICE, MFX_IDLE);
    assert_true(mfx__shown_is(alice, "Busy/InACall")); /* ours again */
    mfx__voice_call(f, ALICE, -1);
    assert_true(mfx__shown_is(alice, "Available/Available"));
    all_clear(f, ALICE);
    /* bob: the call ends first, then the meeting */
    mfx__voice_call(f, BOB, +1);
    assert_true(bob->session);
    mfx__teams(f, BOB, MFX_MEETING);
    assert_true(bob->talking);
    mfx__voice_call(f, BOB, -1);
    assert_false(bob->session);
    assert_true(mfx__shown_is(bob, "Busy/InAConferenceCall"));
    comp_env__advance(&f->ce, 3000);
    assert_true(bob->talking); /* the meeting goes on */
    mfx__teams(f, BOB, MFX_IDLE);
    all_clear(f, BOB);
}

static void test_teams_1to1_and_voice_call(void **st)
{
    struct mfx *f = *st = mfx__new(DAVE, NULL);
    struct mfx_user *dave = mfx__user(f, DAVE);
    /* the Teams 1:1 first, then a Voice call; the Teams call ends first */
    mfx__teams(f, DAVE, MFX_CALL);
    assert_true(dave->talking);
    mfx__voice_call(f, DAVE, +1);
    assert_true(dave->session);
    mfx__teams(f, DAVE, MFX_IDLE); /* Teams still shows InACall: ours */
    comp_env__advance(&f->ce, 1000);
    mfx__voice_call(f, DAVE, -1);
    all_clear(f, DAVE);
    assert_true(mfx__shown_is(dave, "Available/Available"));
    /* a Voice call first, then a Teams 1:1 that outlasts it: Teams shows
     * InACall before and after our clear; the settle read finds the user's
     * own call and mirrors it */
    mfx__voice_call(f, DAVE, +1);
    assert_true(dave->session);
    int reads = dave->reads;
    mfx__teams(f, DAVE, MFX_CALL);
    comp_env__advance(&f->ce, 1000);
    mfx__voice_call(f, DAVE, -1);
    assert_false(dave->session);
    comp_env__advance(&f->ce, 15000);
    assert_true(dave->reads > reads);
    assert_true(dave->talking);
    assert_true(mfx__sync_str_is(f, DAVE, "inputs", "teams", "source", "read"));
    cJSON *s = mfx__sync(f, DAVE);
    assert_true(json__bool(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "inputs"), "teams"),
        "real_call", false));
    cJSON_Delete(s);
    mfx__teams(f, DAVE, MFX_IDLE);
    all_clear(f, DAVE);
}

static void test_dnd_by_hand_stays(void **st)
{
    struct mfx *f = *st = mfx__new(CAROL, NULL);
    struct mfx_user *carol = mfx__user(f, CAROL);
    mfx__preferred(f, CAROL, "DoNotDisturb", "DoNotDisturb");
    mfx__voice_call(f, CAROL, +1);
    assert_true(carol->session);
    comp_env__advance(&f->ce, 2000);
    assert_true(mfx__shown_is(carol, "DoNotDisturb/DoNotDisturb"));
    assert_false(carol->talking);
    mfx__voice_call(f, CAROL, -1);
    all_clear(f, CAROL);
    assert_true(mfx__shown_is(carol, "DoNotDisturb/DoNotDisturb"));
    assert_string_equal(carol->pref_av, "DoNotDisturb");
}

/* The gaps between alice's Voice writes grow (backoff 1 s doubling,
 * jittered): a later gap is longer than 1.5 times the shorter first ones. */
static void assert_backoff(const struct mfx_user *u, int from)
{
    int n = u->voice_writes - from;
    assert_true(n >= 5);
    int64_t g[MFX_TRIES_MAX] = {0};
    for (int i = 0; i + 1 < n; i++)
        g[i] = u->tries_ms[from + i + 1] - u->tries_ms[from + i];
    int64_t first = g[0] < g[1] ? g[0] : g[1], later = 0;
    for (int i = 2; i + 1 < n; i++)
        later = g[i] > later ? g[i] : later;
    if (later <= first * 3 / 2)
        fail_msg("no backoff: first gaps %lld %lld, later at most %lld", (long long)g[0],
                 (long long)g[1], (long long)later);
}

static void test_voice_write_failing(void **st)
{
    struct mfx *f = *st = mfx__new(ALICE, BOB, NULL);
    struct mfx_user *alice = mfx__user(f, ALICE), *bob = mfx__user(f, BOB);
    alice->voice_fail = -1;
    int from = alice->voice_writes;
    double retries = metrics__get("mapper_retries_total", "side=\"voice\"");
    mfx__teams(f, ALICE, MFX_CALL);
    comp_env__advance(&f->ce, 10000);
    assert_true(alice->voice_writes - from >= 3);
    cJSON *s = mfx__sync(f, ALICE);
    const char *err = json__str(cJSON_GetObjectItemCaseSensitive(s, "last_error"), "error");
    assert_non_null(err);
    assert_non_null(strstr(err, "voice_set: failed: HTTP 503"));
    cJSON_Delete(s);
    /* bob's write is not held up by alice's failing one */
    mfx__teams(f, BOB, MFX_CALL);
    assert_true(bob->talking);
    assert_false(alice->talking);
    comp_env__advance(&f->ce, 20000);
    assert_backoff(alice, from);
    assert_true(metrics__get("mapper_retries_total", "side=\"voice\"") - retries >= 2);
    /* the fault goes: the next retry lands */
    alice->voice_fail = 0;
    comp_env__advance(&f->ce, 70000);
    assert_true(alice->talking);
    mfx__teams(f, ALICE, MFX_IDLE);
    mfx__teams(f, BOB, MFX_IDLE);
    comp_env__advance(&f->ce, 1500);
    assert_false(alice->talking || bob->talking);
    assert_true(mfx__quiet(f, ALICE));
    mfx__assert_all_clear(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_meeting_during_voice_call, mfx__teardown),
        cmocka_unit_test_teardown(test_teams_1to1_and_voice_call, mfx__teardown),
        cmocka_unit_test_teardown(test_dnd_by_hand_stays, mfx__teardown),
        cmocka_unit_test_teardown(test_voice_write_failing, mfx__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
