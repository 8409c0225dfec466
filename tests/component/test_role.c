/* Component test: the role component (connector/role/role.c) in process,
 * on the fake bus (the broker's echo of the lease's renewals) and the fake
 * clock. The clock fence of docs/ha.md ("What an instance does in each
 * role"): a holder whose renewals have not come back for fence_ms answers
 * role__writes false at once, by the lease's clock, before any tick of the
 * role runs (a process resumed after a pause); renewals heard again make it
 * write again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comp_env.h"
#include "component.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/lease.h"
#include "fake_bus.h"
#include "role/role.h"

#define CFG                                                                                      \
    "{\"instance\":\"ps-c\",\"mqtt\":{\"bridge_topic\":\"b\"},"                                  \
    "\"http\":{\"public_url\":\"https://x.example\"},"                                           \
    "\"tenants\":[{\"name\":\"t\",\"users\":[\"alice@x.com\"],\"graph\":{\"tenant_id\":"         \
    "\"11111111-2222-3333-4444-555555555555\",\"client_id\":\"66666666-7777-8888-9999-"          \
    "000000000000\",\"client_secret_env\":\"PS_CT_SECRET\",\"service_accounts\":[{\"username\":" \
    "\"svc@x.com\",\"password_env\":\"PS_CT_SECRET\"}]},\"voice\":{\"username\":\"v@x.com\","    \
    "\"secret_key_env\":\"PS_CT_SECRET\"}}]}"

struct env {
    struct comp_env ce;
    struct daemon_services services;
    void *state;
};

static int setup(void **st)
{
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    clock__fake_start(1000000, 1796000000000LL);
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(comp_env__init(&e->ce, CFG, CONFIG_ROLE_ALL), 0);
    e->ce.env.services = &e->services;
    e->ce.env.node = "ps-c-00000001";
    assert_int_equal(role_component.init(&e->ce.env, &e->state), 0);
    assert_ptr_equal(e->services.role, e->state);
    assert_int_equal(role_component.start(e->state), 0);
    *st = e;
    return 0;
}

static int teardown(void **st)
{
    struct env *e = *st;
    role_component.stop(e->state);
    comp_env__settle(&e->ce);
    role_component.free(e->state);
    comp_env__free(&e->ce);
    clock__fake_stop();
    free(e);
    return 0;
}

static void fenced_by_the_clock_without_a_tick(void **st)
{
    struct env *e = *st;
    struct role *r = e->services.role;
    struct lease_cfg lc;
    lease__cfg_default(&lc);
    assert_false(role__writes(r, "t")); /* settling: nobody writes yet */
    comp_env__advance(&e->ce, lc.settle_ms + 2 * lc.renew_ms);
    assert_true(role__writes(r, "t"));
    assert_string_equal(role__name(r, "t"), "active");
    assert_non_null(fake_bus__retained(e->ce.bus, "b/lease/t"));
    assert_false(role__writes(r, "other")); /* a tenant it does not know */

    /* The process stands still (no loop turn: no tick, no renewal, no
     * echo) while the clock moves: writes until fence_ms after the last
     * echo, not a moment longer, and no tick has to notice. The last echo
     * is at most renew_ms old now. */
    clock__fake_advance(lc.fence_ms - lc.renew_ms - 1);
    assert_true(role__writes(r, "t"));
    clock__fake_advance(lc.renew_ms + 1);
    assert_false(role__writes(r, "t"));
    assert_string_equal(role__name(r, "t"), "active"); /* the tick has not run */

    /* Resumed: the tick renews, the echo comes back, it writes again. */
    comp_env__advance(&e->ce, lc.renew_ms + 1000);
    assert_true(role__writes(r, "t"));
}

/* The broker connection drops: fenced at the next tick, before fence_ms. */
static void fenced_when_the_broker_goes(void **st)
{
    struct env *e = *st;
    struct role *r = e->services.role;
    struct lease_cfg lc;
    lease__cfg_default(&lc);
    comp_env__advance(&e->ce, lc.settle_ms + 2 * lc.renew_ms);
    assert_true(role__writes(r, "t"));
    fake_bus__set_connected(e->ce.bus, false);
    comp_env__advance(&e->ce, 500);
    assert_false(role__writes(r, "t"));
    fake_bus__set_connected(e->ce.bus, true);
    comp_env__advance(&e->ce, lc.renew_ms * 2);
    assert_true(role__writes(r, "t"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fenced_by_the_clock_without_a_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(fenced_when_the_broker_goes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
