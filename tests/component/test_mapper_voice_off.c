/* Component test: the mapper (connector/mapper/) of a tenant whose Voice
 * writer is off (no voice.talking_request: docs/voice.md "Writing
 * 'talking'"), in process on the fake bus and the fake clock
 * (mapper_fixture.h). The mapper asks the process's real Voice writer
 * (voice/writer.h) at init whether the tenant takes writes; it then queues
 * no Voice write for a Teams call (B/sync shows the call and nothing
 * pending, nothing counted), while Voice -> Teams works as before. What
 * test_voice_writer_off.sh checked of the mapper end to end before it was
 * removed (docs/testing.md "What moved where"). */
#include "mapper_fixture.h"

#include "component.h"
#include "voice/writer.h"

#define ALICE "alice@contoso.com"
#define BOB   "bob@contoso.com"

struct off_fx {
    struct mfx *f;
    struct voice_writer *w;
    struct daemon_services svc;
};

static int off_teardown(void **st)
{
    struct off_fx *x = *st;
    if (x) {
        mfx__free(x->f);
        voice_writer__free(x->w);
        free(x);
    }
    return 0;
}

/* A mapper started with the process's Voice writer, tenant contoso off
 * (talking_request NULL) or on (a template). */
static struct off_fx *off_new(bool writer_on)
{
    struct off_fx *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    x->f = mfx__new(ALICE, BOB, NULL);
    char **kept = mfx__kill(x->f);
    assert_non_null(x->w = voice_writer__new(NULL));
    struct voice_talking_config on = {.mode = VOICE_TALKING_TEMPLATE,
                                      .method = "PUT",
                                      .path = "/users/{userId}/talking",
                                      .body = "{\"talking\":{talking}}"};
    assert_int_equal(
        voice_writer__add_tenant(x->w, "contoso", NULL, writer_on ? &on : NULL, NULL, NULL, NULL),
        0);
    assert_int_equal(voice_writer__enabled(x->w, "contoso"), writer_on);
    x->svc.voice_writer = x->w;
    x->f->services = &x->svc;
    mfx__restart(x->f, kept);
    return x;
}

/* Off: a Teams call is seen (B/sync inputs.teams.real_call) but nothing is
 * queued for Voice, nothing written or counted; the other direction sets
 * and clears the session as ever. */
static void test_writer_off(void **st)
{
    struct off_fx *x = *st = off_new(false);
    struct mfx *f = x->f;
    struct mfx_user *alice = mfx__user(f, ALICE), *bob = mfx__user(f, BOB);
    /* what the first process wrote at its start-up */
    int w0 = alice->voice_writes;
    double ok0 = metrics__get("mapper_voice_writes_total", "outcome=\"ok\"");
    double err0 = metrics__get("mapper_voice_writes_total", "outcome=\"error\"");
    mfx__teams(f, ALICE, MFX_CALL);
    comp_env__advance(&f->ce, 5000);
    assert_int_equal(alice->voice_writes, w0);
    assert_false(alice->talking);
    cJSON *s = mfx__sync(f, ALICE);
    const cJSON *teams =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "inputs"), "teams");
    assert_true(json__bool(teams, "real_call", false));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "pending")), 0);
    cJSON_Delete(s);
    assert_true(metrics__get("mapper_voice_writes_total", "outcome=\"ok\"") == ok0);
    assert_true(metrics__get("mapper_voice_writes_total", "outcome=\"error\"") == err0);
    mfx__teams(f, ALICE, MFX_IDLE);
    comp_env__advance(&f->ce, 5000);
    assert_int_equal(alice->voice_writes, w0);
    /* Voice -> Teams is untouched */
    mfx__voice_call(f, BOB, +1);
    assert_true(bob->session);
    assert_true(mfx__shown_is(bob, "Busy/InACall"));
    mfx__voice_call(f, BOB, -1);
    comp_env__advance(&f->ce, 1500);
    assert_false(bob->session);
    mfx__assert_all_clear(f);
}

/* On (the control): the same Teams call is written into Voice. */
static void test_writer_on(void **st)
{
    struct off_fx *x = *st = off_new(true);
    struct mfx *f = x->f;
    struct mfx_user *alice = mfx__user(f, ALICE);
    int w0 = alice->voice_writes;
    mfx__teams(f, ALICE, MFX_CALL);
    comp_env__advance(&f->ce, 5000);
    assert_true(alice->talking);
    assert_true(alice->voice_writes > w0);
    mfx__teams(f, ALICE, MFX_IDLE);
    comp_env__advance(&f->ce, 5000);
    assert_false(alice->talking);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_writer_off, off_teardown),
        cmocka_unit_test_teardown(test_writer_on, off_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
