/* Which instance is active for each tenant; see role.h and docs/ha.md.
 * Everything runs on the loop thread. */
#include "role/role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "component.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/health.h"
#include "core/lease.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/status.h"
#include "core/str.h"

#define SUB           "role"
#define ROLE_TICK_MS  200 /* the connection is polled, timers checked, this often */
#define ROLE_WATCHERS 8   /* components that follow the role (graph, voice, mapper) */

struct role_tenant {
    char *name;
    char *topic; /* B/lease/<tenant>[/<roles>] */
    struct lease lease;
    char shown[64]; /* the role last logged */
    bool writes;    /* lease__writes() as last told to the watchers */
};

struct role_watcher {
    role_change_fn fn;
    void *ctx;
};

struct role {
    const struct daemon_env *env;
    struct role_tenant *tenants;
    size_t n;
    bool connected;
    bool stopped;
    loop_timer_id timer;
    struct role_watcher watchers[ROLE_WATCHERS];
    size_t n_watchers;
};

static struct role_tenant *role__tenant(const struct role *r, const char *tenant)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (!strcmp(r->tenants[i].name, tenant))
            return &r->tenants[i];
    return NULL;
}

bool role__writes(const struct role *r, const char *tenant)
{
    if (!r)
        return true;
    const struct role_tenant *t = role__tenant(r, tenant);
    /* The fence by the clock as well as by the last tick: a process resumed
     * after a pause (SIGSTOP, a VM frozen) runs its due timers in any order,
     * and must not write before its role tick notices (docs/ha.md). */
    return t && lease__writes(&t->lease) &&
           clock__mono_ms() - t->lease.echo_ms < t->lease.cfg.fence_ms;
}

int role__watch(struct role *r, role_change_fn fn, void *ctx)
{
    if (!r)
        return 0;
    if (r->n_watchers == ROLE_WATCHERS)
        return -1;
    r->watchers[r->n_watchers++] = (struct role_watcher){fn, ctx};
    return 0;
}

const char *role__name(const struct role *r, const char *tenant)
{
    const struct role_tenant *t = role__tenant(r, tenant);
    return t ? lease__role_name(&t->lease) : "active";
}

const char *role__holder(const struct role *r, const char *tenant)
{
    const struct role_tenant *t = role__tenant(r, tenant);
    return t ? lease__holder(&t->lease) : NULL;
}

/* The watchers, when lease__writes() changed: a takeover (or the end of a
 * fence) starts the sides' writes, a loss stops them. */
static void role__tell(struct role *r, struct role_tenant *t)
{
    bool writes = lease__writes(&t->lease);
    if (writes == t->writes)
        return;
    t->writes = writes;
    /* B/health is the active instance's (docs/ha.md "What each instance
     * publishes"): published while this process writes for any tenant */
    bool any = false;
    for (size_t i = 0; i < r->n; i++)
        any = any || r->tenants[i].writes;
    status__mute(!any);
    for (size_t i = 0; i < r->n_watchers; i++)
        r->watchers[i].fn(r->watchers[i].ctx, t->name, writes);
}

static void role__publish(struct role *r, struct role_tenant *t, const struct lease_out *out)
{
    if (out->publish &&
        bus__publish(r->env->bus, t->topic, out->payload, strlen(out->payload), true) != 0)
        LOG_WARN(SUB, "lease publish failed tenant=%s", t->name);
}

/* The log line, B/health's "role" section and the metric, when the role or
 * the holder changed. */
static void role__show(struct role_tenant *t)
{
    const struct lease *l = &t->lease;
    const char *holder = lease__holder(l);
    char now[sizeof t->shown];
    snprintf(now, sizeof now, "%s/%.40s", lease__role_name(l), holder ? holder : "");
    if (!strcmp(now, t->shown))
        return;
    snprintf(t->shown, sizeof t->shown, "%s", now);
    LOG_INFO(SUB, "role tenant=%s role=%s node=%s holder=%s holder_instance=%s epoch=%llu", t->name,
             lease__role_name(l), l->node, holder ? holder : "none",
             holder && *l->holder_instance ? l->holder_instance : "none",
             (unsigned long long)l->key.epoch);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", lease__role_name(l));
    cJSON_AddStringToObject(o, "node", l->node);
    if (holder) {
        cJSON_AddStringToObject(o, "holder", holder);
        cJSON_AddStringToObject(o, "holder_instance", l->holder_instance);
    }
    cJSON_AddNumberToObject(o, "epoch", (double)l->key.epoch);
    cJSON_AddNumberToObject(o, "takeovers", (double)l->takeovers);
    status__set(t->name, "role", o);
    /* /readyz: a standby is ready (it answers notifications, docs/ha.md);
     * the reason says its role and the holder */
    char comp[160], why[320];
    snprintf(comp, sizeof comp, "role/%s", t->name);
    snprintf(why, sizeof why, "%s, active: %s (%s)", lease__role_name(l), holder ? holder : "none",
             holder && *l->holder_instance ? l->holder_instance : "none");
    health__set(comp, true, why);
    char labels[96];
    snprintf(labels, sizeof labels, "tenant=\"%s\"", t->name);
    metrics__set("role_active", labels, lease__writes(l) ? 1 : 0);
}

static void role__on_message(void *ctx, const char *topic, const char *payload, size_t len,
                             bool retained)
{
    (void)retained;
    struct role *r = ctx;
    for (size_t i = 0; i < r->n; i++) {
        struct role_tenant *t = &r->tenants[i];
        if (strcmp(t->topic, topic))
            continue;
        struct lease_out out = {0};
        if (len == 0)
            return; /* a cleared lease: nothing to follow */
        if (lease__on_message(&t->lease, payload, len, clock__mono_ms(), &out) != 0) {
            LOG_WARN(SUB, "lease message ignored: not a lease tenant=%s bytes=%zu", t->name, len);
            return;
        }
        role__publish(r, t, &out);
        role__show(t);
        role__tell(r, t);
        return;
    }
}

static void role__tick(void *arg)
{
    struct role *r = arg;
    r->timer = 0;
    if (r->stopped)
        return;
    int64_t now = clock__mono_ms();
    bool connected = bus__connected(r->env->bus);
    for (size_t i = 0; i < r->n; i++) {
        struct role_tenant *t = &r->tenants[i];
        if (connected && !r->connected)
            lease__on_subscribed(&t->lease, now);
        else if (!connected && r->connected)
            lease__on_disconnected(&t->lease, now);
        struct lease_out out;
        lease__tick(&t->lease, now, &out);
        role__publish(r, t, &out);
        role__show(t);
        role__tell(r, t);
    }
    r->connected = connected;
    r->timer = loop__timer(r->env->loop, ROLE_TICK_MS, role__tick, r);
}

static int role__add_tenant(struct role *r, struct role_tenant *t, const struct tenant_config *tc,
                            const struct lease_cfg *cfg)
{
    const struct daemon_env *env = r->env;
    t->name = str__dup(tc->name);
    if (env->split_name)
        t->topic =
            str__cat(env->cfg->mqtt.bridge_topic, "/lease/", tc->name, "/", env->split_name, NULL);
    else
        t->topic = str__cat(env->cfg->mqtt.bridge_topic, "/lease/", tc->name, NULL);
    if (!t->name || !t->topic)
        return -1;
    lease__init(&t->lease, cfg, env->node, env->cfg->instance, clock__mono_ms());
    return bus__subscribe(env->bus, t->topic, role__on_message, r);
}

static int role__init(const struct daemon_env *env, void **state)
{
    struct role *r = calloc(1, sizeof *r);
    const struct config *cfg = env->cfg;
    if (!r || !(r->tenants = calloc(cfg->n_tenants ? cfg->n_tenants : 1, sizeof *r->tenants))) {
        free(r);
        return -1;
    }
    r->env = env;
    *state = r;
    metrics__describe("role_active", METRIC_GAUGE,
                      "1 while this instance is the active one for the tenant (docs/ha.md)");
    struct lease_cfg lc;
    lease__cfg_default(&lc);
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        r->n = i + 1; /* role__free frees what a failed add allocated */
        if (role__add_tenant(r, &r->tenants[i], &cfg->tenants[i], &lc) != 0)
            return -1;
    }
    env->services->role = r;
    if (r->n)
        status__mute(true); /* until this process holds a lease */
    LOG_INFO(SUB, "lease node=%s tenants=%zu lease_ms=%lld renew_ms=%lld fence_ms=%lld", env->node,
             r->n, (long long)lc.lease_ms, (long long)lc.renew_ms, (long long)lc.fence_ms);
    return 0;
}

static int role__start(void *state)
{
    struct role *r = state;
    r->timer = loop__timer(r->env->loop, 0, role__tick, r);
    return r->timer ? 0 : -1;
}

/* SIGTERM: an active holder hands over at once (docs/ha.md "Release"). */
static void role__stop(void *state)
{
    struct role *r = state;
    r->stopped = true;
    if (r->timer)
        loop__timer_cancel(r->env->loop, r->timer);
    r->timer = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct role_tenant *t = &r->tenants[i];
        bool was = lease__writes(&t->lease);
        struct lease_out out;
        lease__release(&t->lease, clock__mono_ms(), &out);
        role__publish(r, t, &out);
        if (was)
            LOG_INFO(SUB, "lease released tenant=%s node=%s", t->name, t->lease.node);
    }
    r->env->services->role = NULL;
}

static void role__free(void *state)
{
    struct role *r = state;
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->tenants[i].name);
        free(r->tenants[i].topic);
    }
    free(r->tenants);
    free(r);
}

const struct daemon_component role_component = {
    .name = "role",
    .init = role__init,
    .start = role__start,
    .stop = role__stop,
    .free = role__free,
};
