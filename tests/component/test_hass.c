/* Component test: Home Assistant discovery (connector/hass/hass.c) in
 * process, against the fake bus (tests/lib/fake_bus.c) and the real loop,
 * config and ids. What tests/integration/test_observability.sh (part hass)
 * checks against mosquitto, in milliseconds: configs retained per user and
 * role, republished when HA comes online (not on offline), removed users'
 * configs cleared and new users' published on reload, nothing sent twice. */
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
#include "core/config.h"
#include "hass/hass.h"
#include "fake_bus.h"

#define CFG(users)                                                                        \
    "{\"instance\":\"ps-c\",\"homeassistant\":{\"enabled\":true,\"prefix\":\"ha\"},"      \
    "\"mqtt\":{\"topic_prefix\":\"p/\"},\"http\":{\"public_url\":\"https://x.example\"}," \
    "\"tenants\":[{\"name\":\"t\",\"users\":" users ",\"graph\":{\"tenant_id\":"          \
    "\"11111111-2222-3333-4444-555555555555\",\"client_id\":\"66666666-7777-8888-9999-"   \
    "000000000000\",\"client_secret_env\":"                                               \
    "\"PS_CT_SECRET\",\"service_accounts\":[{\"username\":\"svc@x.com\","                 \
    "\"password_env\":\"PS_CT_SECRET\"}]},\"voice\":{\"username\":\"v@x.com\","           \
    "\"secret_key_env\":\"PS_CT_SECRET\"}}]}"

struct env {
    struct comp_env ce;
    void *state;
};

static int setup(void **st)
{
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(comp_env__init(&e->ce, CFG("[\"alice@x.com\",\"a+b.c@x.com\"]"),
                                    CONFIG_ROLE_GRAPH | CONFIG_ROLE_VOICE),
                     0);
    assert_int_equal(hass_component.init(&e->ce.env, &e->state), 0);
    assert_int_equal(hass_component.start(e->state), 0);
    comp_env__settle(&e->ce);
    *st = e;
    return 0;
}

static int teardown(void **st)
{
    struct env *e = *st;
    hass_component.free(e->state);
    comp_env__free(&e->ce);
    free(e);
    return 0;
}

static const char *config_of(struct env *e, const char *id, const char *sensor)
{
    char node[HASS_NODE_MAX], topic[256];
    assert_int_equal(hass__node_id("p/", id, node, sizeof(node)), 0);
    snprintf(topic, sizeof(topic), "ha/binary_sensor/%s/%s/config", node, sensor);
    return fake_bus__retained(e->ce.bus, topic);
}

static void test_configs_retained(void **st)
{
    struct env *e = *st;
    assert_int_equal(fake_bus__published(e->ce.bus, "ha/binary_sensor/#"), 4);
    const char *c = config_of(e, "a+b.c@x.com", "teams_busy");
    assert_non_null(c);
    assert_non_null(strstr(c, "\"state_topic\":\"p/teams/a%2Bb.c@x.com/busy\""));
    assert_non_null(config_of(e, "alice@x.com", "voice_talking"));
}

static void test_republished_on_online(void **st)
{
    struct env *e = *st;
    fake_bus__inject(e->ce.bus, "ha/status", "offline", false);
    comp_env__settle(&e->ce);
    assert_int_equal(fake_bus__published(e->ce.bus, "ha/binary_sensor/#"), 4);
    fake_bus__inject(e->ce.bus, "ha/status", "online", false);
    comp_env__settle(&e->ce);
    assert_int_equal(fake_bus__published(e->ce.bus, "ha/binary_sensor/#"), 8);
}

static void test_reload(void **st)
{
    struct env *e = *st;
    assert_int_equal(comp_env__reload(&e->ce, CFG("[\"a+b.c@x.com\",\"carol@x.com\"]")), 0);
    hass_component.reload(e->state);
    comp_env__settle(&e->ce);
    assert_null(config_of(e, "alice@x.com", "teams_busy"));
    assert_null(config_of(e, "alice@x.com", "voice_talking"));
    assert_non_null(config_of(e, "carol@x.com", "teams_busy"));
    /* 4 at start, 2 clears, 2 new: a+b.c's unchanged configs are not resent */
    assert_int_equal(fake_bus__published(e->ce.bus, "ha/binary_sensor/#"), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_configs_retained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_republished_on_online, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
