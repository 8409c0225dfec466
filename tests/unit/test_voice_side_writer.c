/* The talking writer's bookkeeping without a Voice server: unknown tenants
 * and users, a tenant without talking_request (off), writes that wait for
 * the user map (and give up after map_wait), a newer value replacing a
 * waiting one, and stop. (Writes against canned HTTP replies: component_voice_writer.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/http_client.h"
#include "core/loop.h"
#include "voice/rest.h"
#include "voice/writer.h"

struct fx {
    struct loop *loop;
    struct http_client *http;
    struct voice_rest *rest;
    struct voice_writer *w;
    int map_state; /* lookup answer: -1 not loaded, 0 unknown, 1 known */
    struct voice_write_result got[8];
    char emails[8][64];
    int n_got;
    int n_reported;
};

static int fx_lookup(void *ctx, const char *email, const char **user_id)
{
    struct fx *f = ctx;
    (void)email;
    *user_id = "u-1";
    return f->map_state;
}

static void fx_result(void *ctx, const struct voice_write_result *r)
{
    struct fx *f = ctx;
    assert_true(f->n_got < 8);
    f->got[f->n_got] = *r;
    snprintf(f->emails[f->n_got], sizeof(f->emails[0]), "%s", r->email);
    f->got[f->n_got].email = f->emails[f->n_got];
    f->got[f->n_got].tenant = NULL;
    f->got[f->n_got].error = NULL;
    f->n_got++;
}

static void fx_report(void *ctx, const struct voice_write_result *r)
{
    struct fx *f = ctx;
    (void)r;
    f->n_reported++;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->loop = loop__new();
    f->http = http_client__new(f->loop);
    f->rest = voice_rest__new(f->http, "integration@contoso.com", "k+/=&%");
    f->w = voice_writer__new(f->loop);
    f->map_state = -1;
    assert_non_null(f->w);
    struct voice_talking_config tc = {.mode = VOICE_TALKING_TEMPLATE,
                                      .method = "PUT",
                                      .path = "/users/{userId}/externalcallstate",
                                      .body = "{\"InCall\":{talking}}"};
    assert_int_equal(
        voice_writer__add_tenant(f->w, "contoso", f->rest, &tc, fx_lookup, fx_report, f), 0);
    struct voice_talking_config off = {.mode = VOICE_TALKING_OFF};
    assert_int_equal(
        voice_writer__add_tenant(f->w, "oneway", f->rest, &off, fx_lookup, fx_report, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    voice_writer__stop(f->w);
    http_client__free(f->http);
    voice_writer__free(f->w);
    voice_rest__free(f->rest);
    loop__free(f->loop);
    free(f);
    return 0;
}

static void unknown_tenant_is_refused(void **state)
{
    struct fx *f = *state;
    assert_int_equal(voice_writer__set_talking(f->w, "fabrikam", "a@x.com", true, fx_result, f),
                     -1);
    assert_int_equal(voice_writer__set_talking(f->w, "contoso", "", true, fx_result, f), -1);
    assert_int_equal(f->n_got, 0);
}

static void writer_off_without_talking_request(void **state)
{
    struct fx *f = *state;
    assert_true(voice_writer__enabled(f->w, "contoso"));
    assert_false(voice_writer__enabled(f->w, "oneway"));
    assert_false(voice_writer__enabled(f->w, "fabrikam"));
    assert_false(voice_writer__enabled(NULL, "contoso"));
    f->map_state = 1;
    assert_int_equal(voice_writer__set_talking(f->w, "oneway", "a@x.com", true, fx_result, f), -1);
    assert_int_equal(f->n_got, 0);
    assert_int_equal(voice_writer__pending(f->w), 0);
}

static void stop_loop(void *arg)
{
    loop__stop(arg);
}

/* A map that never loads fails the write (single attempt): the caller's
 * slot is given back, with the reason. */
static void map_wait_ends(void **state)
{
    struct fx *f = *state;
    f->map_state = -1;
    voice_writer__set_map_wait(f->w, 300);
    assert_int_equal(voice_writer__set_talking(f->w, "contoso", "a@x.com", true, fx_result, f), 0);
    assert_int_equal(f->n_got, 0);
    loop__timer(f->loop, 2000, stop_loop, f->loop);
    loop__run(f->loop);
    assert_int_equal(f->n_got, 1);
    assert_int_equal(f->got[0].status, VOICE_WRITE_FAILED);
    assert_int_equal(f->got[0].attempts, 0);
    assert_int_equal(f->got[0].retry_after_ms, -1);
    assert_int_equal(voice_writer__pending(f->w), 0);
    assert_int_equal(voice_writer__slots(f->w), 0); /* the idle slot is freed */
}

static void unknown_user_completes_at_once(void **state)
{
    struct fx *f = *state;
    f->map_state = 0;
    assert_int_equal(voice_writer__set_talking(f->w, "contoso", "ghost@x.com", true, fx_result, f),
                     0);
    assert_int_equal(f->n_got, 1);
    assert_int_equal(f->got[0].status, VOICE_WRITE_UNKNOWN_USER);
    assert_true(f->got[0].talking);
    assert_int_equal(f->got[0].attempts, 0);
    assert_int_equal(f->n_reported, 1);
    assert_int_equal(voice_writer__pending(f->w), 0);
    /* its slot is idle: kept until the loop's next turn (the callback may
     * still use it), then freed; a new write gets a new one */
    assert_int_equal(voice_writer__slots(f->w), 1);
    loop__timer(f->loop, 50, stop_loop, f->loop);
    loop__run(f->loop);
    assert_int_equal(voice_writer__slots(f->w), 0);
    assert_int_equal(voice_writer__set_talking(f->w, "contoso", "ghost@x.com", false, fx_result, f),
                     0);
    assert_int_equal(f->n_got, 2);
    assert_int_equal(f->got[1].status, VOICE_WRITE_UNKNOWN_USER);
}

static void waits_for_the_map_then_stops(void **state)
{
    struct fx *f = *state;
    f->map_state = -1; /* user map not loaded: the write waits */
    assert_int_equal(voice_writer__set_talking(f->w, "contoso", "a@x.com", true, fx_result, f), 0);
    assert_int_equal(f->n_got, 0);
    assert_int_equal(voice_writer__pending(f->w), 1);
    /* a newer value replaces the waiting one at once */
    assert_int_equal(voice_writer__set_talking(f->w, "contoso", "A@X.com", false, fx_result, f), 0);
    assert_int_equal(f->n_got, 1);
    assert_int_equal(f->got[0].status, VOICE_WRITE_SUPERSEDED);
    assert_true(f->got[0].talking);
    assert_int_equal(voice_writer__pending(f->w), 1); /* same user, case-insensitive */
    /* another user is independent */
    assert_int_equal(voice_writer__set_talking(f->w, "contoso", "b@x.com", true, fx_result, f), 0);
    assert_int_equal(voice_writer__pending(f->w), 2);
    assert_int_equal(voice_writer__slots(f->w), 2); /* waiting slots are kept */
    voice_writer__stop(f->w);
    assert_int_equal(f->n_got, 3);
    for (int i = 1; i < 3; i++)
        assert_int_equal(f->got[i].status, VOICE_WRITE_STOPPED);
    assert_int_equal(voice_writer__pending(f->w), 0);
    /* after stop every write ends as stopped */
    assert_int_equal(voice_writer__set_talking(f->w, "contoso", "a@x.com", true, fx_result, f), 0);
    assert_int_equal(f->n_got, 4);
    assert_int_equal(f->got[3].status, VOICE_WRITE_STOPPED);
    /* the tenant's report sees every final result, as the caller does */
    assert_int_equal(f->n_reported, 4);
}

static void status_names(void **state)
{
    (void)state;
    assert_string_equal(voice_write_status__name(VOICE_WRITE_OK), "ok");
    assert_string_equal(voice_write_status__name(VOICE_WRITE_SUPERSEDED), "superseded");
    assert_string_equal(voice_write_status__name(VOICE_WRITE_FAILED), "failed");
    assert_string_equal(voice_write_status__name(VOICE_WRITE_UNKNOWN_USER), "unknown_user");
    assert_string_equal(voice_write_status__name(VOICE_WRITE_STOPPED), "stopped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unknown_tenant_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(writer_off_without_talking_request, setup, teardown),
        cmocka_unit_test_setup_teardown(map_wait_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_user_completes_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(waits_for_the_map_then_stops, setup, teardown),
        cmocka_unit_test(status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
