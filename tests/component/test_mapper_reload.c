/* Component test: the mapper (connector/mapper/) across a reload of the
 * user lists (SIGHUP), in process on the fake bus and the fake clock
 * (mapper_fixture.h); what test_mapper_reload.sh checked end to end
 * (docs/mapper.md):
 *  - a user removed while the mapper holds a session of ours for it (a
 *    Voice call) gets the session cleared, and its B/sync/<id> removed;
 *  - a user removed while the mapper keeps its Voice flag set (a Teams
 *    meeting) gets the flag written false, and its B/sync/<id> removed (the
 *    Voice side still finds the id of a user that left its map:
 *    unit_voice_directory test_reload_keeps_former);
 *  - neither is given up before its writes were undone;
 *  - a user added is reconciled like at start-up, and the mapper works for
 *    it. */
#include "mapper_fixture.h"

#define ALICE "alice@contoso.com"
#define BOB   "bob@contoso.com"
#define CAROL "carol@contoso.com"

#define M_ALICE (1u << 0)
#define M_BOB   (1u << 1)
#define M_CAROL (1u << 2)

static bool sync_gone(struct mfx *f, const char *addr)
{
    char topic[128];
    snprintf(topic, sizeof(topic), "ps/sync/%s", addr);
    const char *v = fake_bus__retained(f->ce.bus, topic);
    return !v || !v[0];
}

static void test_reload_removes_and_adds(void **st)
{
    /* carol is known to both systems but not configured yet */
    struct mfx *f = *st = mfx__new_some(M_ALICE | M_BOB, ALICE, BOB, CAROL, NULL);
    struct mfx_user *alice = mfx__user(f, ALICE), *bob = mfx__user(f, BOB),
                    *carol = mfx__user(f, CAROL);
    comp_env__advance(&f->ce, 1000);
    assert_true(sync_gone(f, CAROL));
    assert_false(sync_gone(f, ALICE));

    mfx__voice_call(f, ALICE, +1);
    mfx__teams(f, BOB, MFX_MEETING);
    comp_env__advance(&f->ce, 2000);
    assert_true(alice->session);
    assert_true(bob->talking);

    mfx__reload(f, M_CAROL);
    /* alice's session is cleared although her call goes on; bob's flag is
     * written false although his meeting goes on */
    for (int s = 0; s < 20 && (alice->session || bob->talking); s++)
        comp_env__advance(&f->ce, 1000);
    assert_false(alice->session);
    assert_int_equal(alice->clears, 1);
    assert_false(bob->talking);
    for (int s = 0; s < 40 && !(sync_gone(f, ALICE) && sync_gone(f, BOB)); s++)
        comp_env__advance(&f->ce, 1000);
    assert_true(sync_gone(f, ALICE));
    assert_true(sync_gone(f, BOB));
    assert_int_equal(log_capture__count("user removed before its writes were undone"), 0);
    assert_int_equal(log_capture__count("user removed tenant=contoso"), 2);

    /* carol: reconciled like at start-up (her Voice flag written false, no
     * Teams write: she holds no session of ours) */
    for (int s = 0; s < 20 && !mfx__quiet(f, CAROL); s++)
        comp_env__advance(&f->ce, 1000);
    assert_true(mfx__quiet(f, CAROL));
    assert_int_equal(carol->sets + carol->clears, 0);
    assert_false(carol->talking);
    /* and the mapper works for her */
    mfx__voice_call(f, CAROL, +1);
    comp_env__advance(&f->ce, 100);
    assert_true(carol->session);
    mfx__voice_call(f, CAROL, -1);
    comp_env__advance(&f->ce, 100);
    assert_false(carol->session);
    /* the removed users' inputs move on: nothing is written for them */
    int writes = alice->sets + alice->clears + bob->voice_writes;
    mfx__voice_call(f, ALICE, -1);
    mfx__teams(f, BOB, MFX_IDLE);
    comp_env__advance(&f->ce, 5000);
    assert_int_equal(alice->sets + alice->clears + bob->voice_writes, writes);
    assert_true(sync_gone(f, ALICE) && sync_gone(f, BOB));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reload_removes_and_adds, mfx__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
