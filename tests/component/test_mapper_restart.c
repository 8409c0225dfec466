/* Component test: the mapper (connector/mapper/) across a restart, in
 * process on the fake bus and the fake clock (mapper_fixture.h); what
 * test_mapper_restart.sh checked end to end in a minute (docs/mapper.md
 * "Start-up", docs/guarantees.md):
 *  - the process dies mid-call; its retained B/sync/<id> records, the Voice
 *    side's carried-over voice/<id>/talking and the Graph side's start-up
 *    read are what the new mapper starts from;
 *  - bob's Teams meeting ended while it was dead: the start-up reconcile
 *    clears the Voice flag the dead run left, and bob, whose record says he
 *    held no session of ours, gets no clearPresence;
 *  - carol's Voice call lasts across the restart: her session stays until
 *    the call ends;
 *  - alice's call ended unseen: her session stays while the Voice side
 *    carries the call over, and goes when it drops it (max_call_minutes:
 *    component_voice_calls, test_seeding);
 *  - the restarted mapper works as before.
 * And the hidden case (test_mapper_restart_hidden.sh, which keeps the real
 * SIGKILL end to end): a session of ours under a preferred state set by hand
 * is cleared from the record alone. */
#include "mapper_fixture.h"

#define ALICE "alice@contoso.com"
#define BOB   "bob@contoso.com"
#define CAROL "carol@contoso.com"

static void test_restart_mid_call(void **st)
{
    struct mfx *f = *st = mfx__new(ALICE, BOB, CAROL, NULL);
    struct mfx_user *alice = mfx__user(f, ALICE), *bob = mfx__user(f, BOB),
                    *carol = mfx__user(f, CAROL);
    mfx__voice_call(f, ALICE, +1);
    mfx__voice_call(f, CAROL, +1);
    mfx__teams(f, BOB, MFX_MEETING);
    comp_env__advance(&f->ce, 500);
    assert_true(alice->session && carol->session && bob->talking);
    assert_true(mfx__sync_str_is(f, ALICE, "written", "teams", "session", "busy"));
    assert_true(mfx__sync_str_is(f, BOB, "written", "teams", "session", "none"));

    char **kept = mfx__kill(f);
    /* while it is dead: alice's call ends (its Disconnected is lost with the
     * process), bob's meeting ends; what the dead run wrote stays */
    alice->calls = 0;
    bob->client = MFX_IDLE;
    bob->client_at = ++f->tick;
    assert_true(alice->session && bob->talking);

    mfx__restart(f, kept);
    comp_env__advance(&f->ce, 1000);
    assert_false(bob->talking);
    assert_int_equal(bob->clears, 0); /* no blind clear */
    /* carol's call and alice's carried-over one keep their sessions, long
     * past the settle and echo windows */
    for (int s = 0; s < 90; s++) {
        comp_env__advance(&f->ce, 1000);
        assert_true(carol->session && alice->session);
    }
    assert_int_equal(carol->clears + alice->clears, 0);

    mfx__voice_call(f, CAROL, -1);
    comp_env__advance(&f->ce, 100);
    assert_false(carol->session);
    /* the restarted mapper works: a new call, its session, its end */
    mfx__voice_call(f, CAROL, +1);
    comp_env__advance(&f->ce, 100);
    assert_true(carol->session);
    mfx__voice_call(f, CAROL, -1);
    comp_env__advance(&f->ce, 100);
    assert_false(carol->session);
    /* the Voice side drops alice's carried-over call (source resync) */
    mfx__publish_voice(f, alice, "resync");
    comp_env__advance(&f->ce, 100);
    assert_false(alice->session);
    comp_env__advance(&f->ce, 5000);
    mfx__assert_all_clear(f);
}

/* Sessions of ours hidden under a preferred state: alice (Away by hand) and
 * carol (Available by hand) held one when the process died; their calls
 * ended meanwhile. Graph shows the preferred state, so a read would see no
 * session: the records say both may hold one, and exactly those two are
 * cleared; bob (DND by hand, no session) is not. Preferred states stay. */
static void test_restart_hidden_sessions(void **st)
{
    struct mfx *f = *st = mfx__new(ALICE, BOB, CAROL, NULL);
    struct mfx_user *alice = mfx__user(f, ALICE), *bob = mfx__user(f, BOB),
                    *carol = mfx__user(f, CAROL);
    mfx__preferred(f, BOB, "DoNotDisturb", "DoNotDisturb");
    mfx__voice_call(f, ALICE, +1);
    mfx__voice_call(f, CAROL, +1);
    comp_env__advance(&f->ce, 500);
    assert_true(alice->session && carol->session);
    char **kept = mfx__kill(f);
    alice->calls = carol->calls = 0;
    alice->pref_av = "Away", alice->pref_act = "Away";
    carol->pref_av = "Available", carol->pref_act = "Available";
    /* the calls' retained topics went with them: nothing is carried over */
    for (size_t i = 0; i < f->n; i++) {
        char *v = kept[3 * i + 1];
        if (v && strstr(v, "\"talking\":true")) {
            free(v);
            kept[3 * i + 1] = NULL;
        }
    }
    mfx__restart(f, kept);
    for (size_t i = 0; i < f->n; i++)
        mfx__publish_voice(f, &f->u[i], "rte");
    comp_env__advance(&f->ce, 5000);
    assert_false(alice->session || carol->session);
    assert_int_equal(alice->clears, 1);
    assert_int_equal(carol->clears, 1);
    assert_int_equal(bob->clears, 0);
    assert_string_equal(alice->pref_av, "Away");
    assert_string_equal(bob->pref_av, "DoNotDisturb");
    mfx__assert_all_clear(f);
    /* resetting the preferred state shows no leftover InACall: nothing to
     * mirror */
    mfx__preferred(f, ALICE, NULL, NULL);
    comp_env__advance(&f->ce, 2000);
    assert_true(mfx__shown_is(alice, "Available/Available"));
    assert_false(alice->talking);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restart_mid_call, mfx__teardown),
        cmocka_unit_test_teardown(test_restart_hidden_sessions, mfx__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
