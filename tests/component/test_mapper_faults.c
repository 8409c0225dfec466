/* Component test: the mapper (connector/mapper/) under write faults, in
 * process on the fake bus and the fake clock (mapper_fixture.h); what
 * test_mapper_faults.sh checked end to end (docs/mapper.md "Retries"):
 * Graph 429 with Retry-After (honoured, shown in B/sync), 500s on a clear,
 * timeouts where Graph applied the set or the clear after the writer gave
 * up, several users' writes failing at once, Voice writes failing twice:
 * every case converges, sessions while the call lasts, none after it,
 * Voice flags right, nothing pending. (How the writer turns HTTP into these
 * results: component_graph_writer, unit_graph_writer.) */
#include "mapper_fixture.h"

#define ALICE "alice@contoso.com"
#define BOB   "bob@contoso.com"
#define CAROL "carol@contoso.com"
#define DAVE  "dave@contoso.com"

static void fault(struct mfx_user *u, enum graph_op op, int count, enum graph_write_status st,
                  int http, int64_t ra_ms, bool applied)
{
    u->gf_op = op;
    u->gf_count = count;
    u->gf_status = st;
    u->gf_http = http;
    u->gf_ra_ms = ra_ms;
    u->gf_applied = applied;
}

/* setPresence answered 429 with Retry-After 2 s twice: retried no sooner,
 * the error in B/sync; then clearPresence answered 500 twice: cleared. */
static void test_throttled_then_failing_clear(void **st)
{
    struct mfx *f = *st = mfx__new(ALICE, NULL);
    struct mfx_user *alice = mfx__user(f, ALICE);
    fault(alice, GRAPH_OP_SET_BUSY, 2, GRAPH_WRITE_THROTTLED, 429, 2000, false);
    mfx__voice_call(f, ALICE, +1);
    comp_env__advance(&f->ce, 10000);
    assert_true(alice->session);
    assert_int_equal(alice->n_sets_seen, 3);
    assert_true(alice->set_ms[1] - alice->set_ms[0] >= 2000);
    assert_true(alice->set_ms[2] - alice->set_ms[1] >= 2000);
    cJSON *s = mfx__sync(f, ALICE);
    const char *err = json__str(cJSON_GetObjectItemCaseSensitive(s, "last_error"), "error");
    assert_non_null(err);
    assert_non_null(strstr(err, "graph_set_busy: HTTP 429"));
    cJSON_Delete(s);
    fault(alice, GRAPH_OP_CLEAR, 2, GRAPH_WRITE_FAILED, 500, -1, false);
    mfx__voice_call(f, ALICE, -1);
    comp_env__advance(&f->ce, 20000);
    assert_int_equal(alice->gf_count, 0);
    assert_false(alice->session);
    assert_true(mfx__quiet(f, ALICE));
}

/* The writer gave up (timeout) after Graph applied the set: the session
 * exists, the set is retried, B/sync says busy, nothing pending; then the
 * same with the clear: gone, and it stays gone. */
static void test_timeouts_after_applied(void **st)
{
    struct mfx *f = *st = mfx__new(BOB, NULL);
    struct mfx_user *bob = mfx__user(f, BOB);
    fault(bob, GRAPH_OP_SET_BUSY, 1, GRAPH_WRITE_FAILED, 0, -1, true);
    mfx__voice_call(f, BOB, +1);
    comp_env__advance(&f->ce, 10000);
    assert_true(bob->session);
    assert_int_equal(bob->n_sets_seen, 2);
    assert_true(mfx__sync_str_is(f, BOB, "written", "teams", "session", "busy"));
    assert_true(mfx__quiet(f, BOB));
    fault(bob, GRAPH_OP_CLEAR, 1, GRAPH_WRITE_FAILED, 0, -1, true);
    mfx__voice_call(f, BOB, -1);
    comp_env__advance(&f->ce, 10000);
    assert_false(bob->session);
    assert_true(mfx__quiet(f, BOB));
    int sets = bob->sets;
    comp_env__advance(&f->ce, 70000);
    assert_false(bob->session);
    assert_int_equal(bob->sets, sets);
    assert_true(mfx__shown_is(bob, "Available/Available"));
    mfx__assert_all_clear(f);
}

/* Three calls start at once and each one's first set is throttled (a
 * whole $batch answered 503 with Retry-After 1 s ends every item so):
 * all three sessions set after the wait; all cleared after the calls. Then
 * Voice writes failing twice (500): the flag follows a Teams meeting all
 * the same. */
static void test_burst_and_voice_failures(void **st)
{
    struct mfx *f = *st = mfx__new(CAROL, DAVE, ALICE, NULL);
    const char *who[] = {CAROL, DAVE, ALICE};
    for (int i = 0; i < 3; i++)
        fault(mfx__user(f, who[i]), GRAPH_OP_SET_BUSY, 1, GRAPH_WRITE_THROTTLED, 503, 1000, false);
    for (int i = 0; i < 3; i++) {
        struct mfx_user *u = mfx__user(f, who[i]);
        u->calls++;
        mfx__publish_voice(f, u, "rte");
    }
    comp_env__settle(&f->ce);
    comp_env__advance(&f->ce, 5000);
    for (int i = 0; i < 3; i++) {
        struct mfx_user *u = mfx__user(f, who[i]);
        assert_true(u->session);
        assert_int_equal(u->n_sets_seen, 2);
        assert_true(u->set_ms[1] - u->set_ms[0] >= 1000);
        mfx__voice_call(f, who[i], -1);
    }
    comp_env__advance(&f->ce, 5000);
    struct mfx_user *dave = mfx__user(f, DAVE);
    dave->voice_fail = 2;
    mfx__teams(f, DAVE, MFX_MEETING);
    comp_env__advance(&f->ce, 10000);
    assert_true(dave->talking);
    assert_int_equal(dave->voice_fail, 0);
    mfx__teams(f, DAVE, MFX_IDLE);
    comp_env__advance(&f->ce, 5000);
    mfx__assert_all_clear(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_throttled_then_failing_clear, mfx__teardown),
        cmocka_unit_test_teardown(test_timeouts_after_applied, mfx__teardown),
        cmocka_unit_test_teardown(test_burst_and_voice_failures, mfx__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
