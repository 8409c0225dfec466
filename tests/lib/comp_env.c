/* The component-test harness of comp_env.h. */
#include "comp_env.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/tunables.h"
#include "fake_bus.h"

#define COMP_MAX_TURNS 10000

static int comp_env__parse(const char *json, struct config **out)
{
    struct config_error err;
    memset(&err, 0, sizeof(err));
    if (config__parse(json, ".", out, &err) == 0)
        return 0;
    fprintf(stderr, "component test config: %s: %s\n", err.path, err.msg);
    return -1;
}

int comp_env__init(struct comp_env *ce, const char *json, unsigned roles)
{
    memset(ce, 0, sizeof(*ce));
    if (comp_env__parse(json, &ce->cfg) < 0 || !(ce->loop = loop__new()))
        return -1;
    snprintf(ce->state_topic, sizeof(ce->state_topic), "%s/state", ce->cfg->mqtt.bridge_topic);
    struct bus_options bo = {.url = "mqtt://127.0.0.1:1",
                             .client_id = ce->cfg->instance,
                             .protocol = 5,
                             .state_topic = ce->state_topic,
                             .online_payload = "{\"state\":\"online\"}",
                             .will_payload = "{\"state\":\"offline\"}"};
    if (!(ce->bus = bus__new(ce->loop, &bo)) || bus__start(ce->bus) < 0)
        return -1;
    ce->tun = *tunables__defaults();
    ce->env = (struct daemon_env){.cfg = ce->cfg,
                                  .loop = ce->loop,
                                  .bus = ce->bus,
                                  .tun = &ce->tun,
                                  .roles = roles,
                                  .state_topic = ce->state_topic};
    return 0;
}

int comp_env__reload(struct comp_env *ce, const char *json)
{
    struct config *cfg;
    if (comp_env__parse(json, &cfg) < 0)
        return -1;
    config__free(ce->cfg);
    ce->cfg = ce->env.cfg = cfg;
    return 0;
}

void comp_env__free(struct comp_env *ce)
{
    if (ce->bus)
        bus__stop(ce->bus);
    if (ce->loop) {
        loop__stop(ce->loop);
        loop__run(ce->loop); /* drains what was posted, then closes */
    }
    bus__free(ce->bus);
    loop__free(ce->loop);
    config__free(ce->cfg);
    memset(ce, 0, sizeof(*ce));
}

int comp_env__settle(struct comp_env *ce)
{
    int turns = 0;
    while (turns < COMP_MAX_TURNS && loop__run_once(ce->loop, 0) > 0)
        turns++;
    return turns;
}

/* Real time, whether the clock is fake or not. */
static int64_t comp_env__real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool comp_env__wait(struct comp_env *ce, bool (*cond)(void *ctx), void *ctx, int timeout_ms)
{
    /* Not counted in loop turns: with a fake clock a turn waits only until
     * the next timer is due in fake time (1 ms when it is 1 ms away), so
     * turns say nothing about how long a reply had. */
    int64_t end = comp_env__real_ms() + timeout_ms;
    while (!cond(ctx)) {
        if (comp_env__real_ms() >= end)
            return false;
        loop__run_once(ce->loop, 50);
        comp_env__settle(ce);
    }
    return true;
}

void comp_env__advance(struct comp_env *ce, int64_t ms)
{
    int64_t end = clock__mono_ms() + ms;
    comp_env__settle(ce);
    for (;;) {
        int64_t due = loop__next_due(ce->loop), now = clock__mono_ms();
        int64_t step = (due < end ? due : end) - now;
        if (step > 0)
            clock__fake_advance(step);
        comp_env__settle(ce);
        if (due >= end)
            return;
    }
}
