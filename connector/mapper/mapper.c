/* The mapper component; see mapper.h and docs/mapper.md.
 *
 * Everything here runs on the loop thread. One "pump" re-plans the users
 * that changed (a dirty list) or came due (a full pass, when the timer
 * fires), hands their due actions to the writers, publishes B/sync and arms
 * one timer for the earliest next due time. It is posted to the loop after
 * an input or a completion, so the inputs already queued share its pass
 * (and the Graph writer's requests) without a coalescing delay: each hop of
 * a transition is measured in milliseconds (docs/performance.md §3).
 *
 * The writes themselves and their results are in writes.c.
 */
#include "mapper/mapper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/str.h"
#include "core/tunables.h"
#include "mapper/mapper_int.h"
#include "role/role.h"

#define SUB MAPPER_SUB

/* ---- the pump ---- */

/* This process writes for the tenant (docs/ha.md): as the watcher last
 * heard, and still by the lease's clock. */
static bool mapper__writes(const struct mapper *m, const struct mapper_tenant *t)
{
    return t->writes && role__writes(m->env->services ? m->env->services->role : NULL, t->name);
}

static void mapper__publish(struct mapper *m, struct mapper_user *u, int64_t now)
{
    if (!m->bus)
        return;
    char *js = reconcile__sync_json(&u->state, &u->t->config, now, m->wall_offset);
    if (js)
        bus__publish_state(m->bus, u->sync_topic, js);
    free(js);
}

static void mapper__pump_user(struct mapper *m, struct mapper_user *u, int64_t now)
{
    if (u->vwoken) { /* its slot is free for anyone again */
        u->vwoken = false;
        m->voice_woken--;
    }
    if (!mapper__writes(m, u->t))
        return; /* a standby: inputs kept, nothing written, no B/sync */
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = reconcile__plan(&u->state, &u->t->config, now, a);
    for (size_t i = 0; i < n; i++) {
        if (a[i].not_before > now)
            continue;
        if (a[i].kind == RECONCILE_VOICE_SET && u->vwait)
            continue; /* its turn comes with a wake-up */
        if (a[i].kind == RECONCILE_VOICE_SET && m->voice_in_flight >= MAPPER_VOICE_MAX_IN_FLIGHT) {
            writes__voice_wait(m, u);
            continue;
        }
        enum reconcile_target target =
            a[i].kind == RECONCILE_VOICE_SET ? RECONCILE_VOICE : RECONCILE_TEAMS;
        if (u->state.target[target].failures > 0) {
            char labels[32];
            snprintf(labels, sizeof(labels), "side=\"%s\"", writes__side_name(target));
            metrics__inc("mapper_retries_total", labels, 1);
        }
        reconcile__begin(&u->state, &a[i], now);
        u->began_us[target] = clock__mono_us();
        LOG_DEBUG(SUB, "action tenant=%s id=%s action=%s value=%d why=%s", u->t->name, u->id,
                  reconcile__action_name(a[i].kind), (int)a[i].value, a[i].why);
        if (a[i].kind == RECONCILE_VOICE_SET)
            writes__voice_start(m, u, a[i].value);
        else
            writes__graph_start(m, u, &a[i]);
    }
    /* Its view changed (an input, a completion, an action begun). */
    mapper__publish(m, u, now);
}

/* The user's next due time; a Voice write waiting for a slot is woken by a
 * completion, not by the timer (which would spin while the queue drains). */
static int64_t mapper__next_due(const struct mapper_user *u, int64_t now)
{
    if (!mapper__writes(u->t->m, u->t))
        return RECONCILE_NEVER;
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = reconcile__plan(&u->state, &u->t->config, now, a);
    int64_t due = RECONCILE_NEVER;
    for (size_t i = 0; i < n; i++) {
        if (u->vwait && a[i].kind == RECONCILE_VOICE_SET)
            continue;
        if (a[i].not_before < due)
            due = a[i].not_before;
    }
    return due;
}

static void mapper__timer_fired(void *arg)
{
    struct mapper *m = arg;
    m->timer = 0;
    m->timer_at = 0;
    m->full_pass = true;
    mapper__schedule(m);
}

/* Every user: the dirty ones and those that came due. Returns the earliest
 * next due time of all. */
static int64_t mapper__pass_all(struct mapper *m, int64_t now)
{
    int64_t next = RECONCILE_NEVER;
    for (size_t i = 0; i < m->n_tenants; i++) {
        struct mapper_tenant *t = &m->tenants[i];
        for (size_t k = 0; k < t->n_users; k++) {
            struct mapper_user *u = t->users[k];
            if (u->dirty)
                continue; /* the dirty pass that follows takes it */
            int64_t due = mapper__next_due(u, now);
            if (due <= now) {
                mapper__pump_user(m, u, now);
                due = mapper__next_due(u, now);
            }
            if (due < next)
                next = due;
        }
    }
    return next;
}

/* The dirty users only (a pass per input or completion costs what changed,
 * not the number of users). A user re-dirtied during the pass (a refused
 * write) comes round again, a bounded number of times. Returns the earliest
 * next due time among them. */
static int64_t mapper__pass_dirty(struct mapper *m, int64_t now)
{
    int64_t next = RECONCILE_NEVER;
    for (int round = 0; round < 3 && m->dirty_head; round++) {
        struct mapper_user *list = m->dirty_head;
        m->dirty_head = NULL;
        while (list) {
            struct mapper_user *u = list;
            list = u->dnext;
            u->dnext = NULL;
            u->dirty = false;
            mapper__pump_user(m, u, now);
            int64_t due = mapper__next_due(u, now);
            if (due < next)
                next = due;
            if (u->state.retired)
                m->reap_due = true;
        }
    }
    return next;
}

static void mapper__arm(struct mapper *m, int64_t next, int64_t now)
{
    if (next >= RECONCILE_NEVER - 1)
        return;
    if (m->timer && m->timer_at <= next)
        return;
    if (m->timer)
        loop__timer_cancel(m->loop, m->timer);
    int64_t delay = next > now ? next - now : 0;
    /* Never sleep more than a minute at once (a cheap safety net). */
    if (delay > 60000)
        delay = 60000;
    m->timer_at = now + delay;
    m->timer = loop__timer(m->loop, delay > 0 ? delay : 1, mapper__timer_fired, m);
}

static void mapper__pump(void *arg)
{
    struct mapper *m = arg;
    m->pump_queued = false;
    m->pump_timer = 0;
    /* While the previous run's records are read, nothing is done: the
     * inputs wait in the core, the dirty list keeps the users. */
    if (m->stopping || m->seeding)
        return;
    int64_t now = clock__mono_ms();
    int64_t next = RECONCILE_NEVER;
    if (m->full_pass) {
        m->full_pass = false;
        m->reap_due = true;
        next = mapper__pass_all(m, now);
    }
    int64_t d = mapper__pass_dirty(m, now);
    if (d < next)
        next = d;
    /* Slots a woken user did not take go to the next waiting ones. */
    writes__voice_wake(m);
    /* Users made dirty by a refused write above wait for the next pass. */
    if (m->dirty_head)
        mapper__schedule(m);
    if (m->reap_due) {
        m->reap_due = false;
        for (size_t i = 0; i < m->n_tenants; i++)
            registry__reap(&m->tenants[i], now);
    }
    mapper__arm(m, next, now);
}

void mapper__schedule(struct mapper *m)
{
    if (m->pump_queued || m->stopping)
        return;
    m->pump_queued = true;
    /* A timer due now runs after the work already posted to the loop, so
     * the inputs of a burst share one pass (and the writers' requests). */
    m->pump_timer = loop__timer(m->loop, 0, mapper__pump, m);
}

/* ---- the role (docs/ha.md) ---- */

/* A takeover starts from the truth as a fresh start would: what was written
 * is unknown again (the previous holder's B/sync records are read back),
 * what the inputs say is kept. A user with a write in flight (the end of a
 * fence) keeps its state: the answer is still to come. */
static void mapper__restart_user(struct mapper_user *u, int64_t now)
{
    struct reconcile_user *s = &u->state;
    if (s->target[RECONCILE_TEAMS].in_flight || s->target[RECONCILE_VOICE].in_flight)
        return;
    struct reconcile_teams_input teams = s->teams;
    struct reconcile_voice_input voice = s->voice;
    bool real = s->teams_real, retired = s->retired;
    enum reconcile_origin origin = s->origin;
    free(s->last_error); /* on the heap; the init below forgets it */
    reconcile__user_init(s, u->t->name, u->address, now);
    s->teams = teams;
    s->voice = voice;
    s->teams_real = real;
    s->origin = origin;
    s->retired = retired;
    registry__touch(u);
}

static void mapper__on_role(void *ctx, const char *tenant, bool writes)
{
    struct mapper *m = ctx;
    struct mapper_tenant *t = NULL;
    for (size_t i = 0; i < m->n_tenants && !t; i++)
        if (!strcmp(m->tenants[i].name, tenant))
            t = &m->tenants[i];
    if (m->stopping || !t || t->writes == writes)
        return;
    t->writes = writes;
    LOG_INFO(SUB, "%s tenant=%s users=%zu",
             writes ? "writing: start-up reconcile" : "standby: writing nothing", tenant,
             t->n_users);
    if (!writes)
        return;
    /* while the start's records are still read, the users are fresh anyway */
    if (!m->seeding) {
        int64_t now = clock__mono_ms();
        for (size_t k = 0; k < t->n_users; k++)
            mapper__restart_user(t->users[k], now);
        m->records = 0;
        inputs__seed_start(m);
    }
    mapper__schedule(m);
}

/* ---- component ---- */

static void mapper__tenant_free(struct mapper_tenant *t)
{
    registry__free_users(t);
    for (size_t i = 0; i < t->n_busy; i++)
        free(t->busy[i]);
    free(t->busy);
    free(t->name);
}

static int mapper__tenant_init(struct mapper *m, struct mapper_tenant *t, const struct config *cfg,
                               const struct tenant_config *tc)
{
    const struct graph_config *g = &tc->graph;
    t->m = m;
    t->name = strdup(tc->name);
    if (!t->name)
        return -1;
    reconcile__config_default(&t->config);
    t->config.session_ms = (int64_t)g->presence_session_minutes * 60 * 1000;
    t->config.settle_ms = (int64_t)cfg->mapper.settle_seconds * 1000;
    t->config.startup_ms = m->startup_ms;
    t->config.echo_grace_ms = m->echo_grace_ms;
    /* No talking_request: Teams -> Voice is off for the tenant (docs/voice.md). */
    t->config.no_voice_writes =
        m->ports.voice_enabled && !m->ports.voice_enabled(m->ports.voice, tc->name);
    if (g->n_busy_activities) {
        t->busy = calloc(g->n_busy_activities, sizeof(*t->busy));
        if (!t->busy)
            return -1;
        for (size_t i = 0; i < g->n_busy_activities; i++) {
            t->busy[i] = strdup(g->busy_activities[i]);
            if (!t->busy[i])
                return -1;
            t->n_busy++;
        }
        t->config.busy = (const char *const *)t->busy;
        t->config.n_busy = t->n_busy;
    }
    t->writes = role__writes(m->env->services ? m->env->services->role : NULL, tc->name);
    return registry__sync_users(t, tc);
}

static void mapper__describe_metrics(void)
{
    metrics__describe("mapper_graph_writes_total", METRIC_COUNTER,
                      "Teams presence writes of the mapper (set our session, clear it), by action "
                      "and outcome.");
    metrics__describe(
        "mapper_graph_reads_total", METRIC_COUNTER,
        "Teams presence reads of the mapper (start-up and settle reads), by outcome.");
    metrics__describe("mapper_voice_writes_total", METRIC_COUNTER,
                      "Voice 'talking' writes of the mapper, by outcome.");
    metrics__describe("mapper_input_errors_total", METRIC_COUNTER,
                      "Unusable messages on teams/+/busy and voice/+/talking.");
    metrics__describe("mapper_retries_total", METRIC_COUNTER,
                      "Mapper writes retried after a failure, by side (teams, voice).");
    metrics__describe("mapper_users", METRIC_GAUGE, "Users the mapper follows (users mapped).");
    metrics__describe("mapper_write_latency_seconds", METRIC_HISTOGRAM,
                      "Seconds from the mapper's decision to write to the write being "
                      "acknowledged, by side written (teams, voice).");
    /* created at 0 so rate() and alerts work from the start */
    metrics__inc("mapper_retries_total", "side=\"teams\"", 0);
    metrics__inc("mapper_retries_total", "side=\"voice\"", 0);
}

void mapper__set_ports(void *state, const struct mapper_ports *ports)
{
    struct mapper *m = state;
    if (m && ports)
        m->ports = *ports;
}

static void mapper__free(void *state);

static int mapper__subscribe(struct mapper *m)
{
    char *tf = str__cat(m->teams_prefix, "+/busy", NULL);
    char *vf = str__cat(m->voice_prefix, "+/talking", NULL);
    int rc = tf && vf ? 0 : -1;
    if (rc == 0)
        rc = bus__subscribe(m->bus, tf, inputs__on_teams, m);
    if (rc == 0)
        rc = bus__subscribe(m->bus, vf, inputs__on_voice, m);
    free(tf);
    free(vf);
    return rc;
}

static int mapper__init(const struct daemon_env *env, void **state)
{
    const struct config *cfg = env->cfg;
    *state = NULL;
    if (!cfg->mapper.enabled) {
        LOG_INFO(SUB, "mapper disabled by config");
        return 0;
    }
    struct mapper *m = calloc(1, sizeof(*m));
    if (!m)
        return -1;
    m->env = env;
    m->loop = env->loop;
    m->bus = env->bus;
    const struct tunables *tun = env->tun ? env->tun : tunables__defaults();
    m->startup_ms = tun->mapper_startup_ms;
    m->echo_grace_ms = tun->mapper_echo_grace_ms;
    m->wall_offset = clock__wall_ms() - clock__mono_ms();
    const char *p = cfg->mqtt.topic_prefix ? cfg->mqtt.topic_prefix : "";
    m->teams_prefix = str__cat(p, "teams/", NULL);
    m->voice_prefix = str__cat(p, "voice/", NULL);
    m->sync_prefix = str__cat(cfg->mqtt.bridge_topic, "/sync/", NULL);
    m->sync_filter = str__cat(cfg->mqtt.bridge_topic, "/sync/+", NULL);
    m->tenants = calloc(cfg->n_tenants ? cfg->n_tenants : 1, sizeof(*m->tenants));
    if (!m->teams_prefix || !m->voice_prefix || !m->sync_prefix || !m->sync_filter || !m->tenants)
        goto fail;
    writes__wire(m); /* before the tenants: they ask whether Voice takes writes */
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        m->n_tenants++;
        if (mapper__tenant_init(m, &m->tenants[i], cfg, &cfg->tenants[i]) != 0)
            goto fail;
    }
    mapper__describe_metrics();
    if (m->bus && mapper__subscribe(m) != 0)
        goto fail;
    if (role__watch(env->services ? env->services->role : NULL, mapper__on_role, m) < 0)
        goto fail;
    *state = m;
    return 0;
fail:
    LOG_ERROR(SUB, "cannot initialise the mapper");
    mapper__free(m);
    return -1;
}

static int mapper__start(void *state)
{
    struct mapper *m = state;
    if (!m)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < m->n_tenants; i++)
        n += m->tenants[i].n_users;
    LOG_INFO(SUB, "mapper started tenants=%zu users=%zu startup_ms=%lld", m->n_tenants, n,
             (long long)m->startup_ms);
    inputs__seed_start(m);
    mapper__schedule(m);
    return 0;
}

static void mapper__reload(void *state)
{
    struct mapper *m = state;
    if (!m)
        return;
    const struct config *cfg = m->env->cfg;
    for (size_t i = 0; i < m->n_tenants; i++) {
        const struct tenant_config *tc = NULL;
        for (size_t k = 0; k < cfg->n_tenants; k++) {
            if (strcmp(cfg->tenants[k].name, m->tenants[i].name) == 0)
                tc = &cfg->tenants[k];
        }
        registry__sync_users(&m->tenants[i], tc);
    }
    mapper__schedule(m);
}

static void mapper__stop(void *state)
{
    struct mapper *m = state;
    if (!m || m->stopping)
        return;
    m->stopping = true;
    inputs__seed_stop(m);
    if (m->timer)
        loop__timer_cancel(m->loop, m->timer);
    m->timer = 0;
    if (m->pump_timer)
        loop__timer_cancel(m->loop, m->pump_timer);
    m->pump_timer = 0;
    /* Writes in flight end (stopped) when the writers stop and see
     * `stopping`. Sessions left in Teams expire by themselves
     * (expirationDuration); the next run clears them from its records. */
}

static void mapper__free(void *state)
{
    struct mapper *m = state;
    if (!m)
        return;
    mapper__stop(m);
    for (size_t i = 0; i < m->n_tenants; i++)
        mapper__tenant_free(&m->tenants[i]);
    free(m->tenants);
    hmap__clear(&m->by_id);
    free(m->teams_prefix);
    free(m->voice_prefix);
    free(m->sync_prefix);
    free(m->sync_filter);
    free(m);
}

const struct daemon_component mapper_component = {
    .name = "mapper",
    .init = mapper__init,
    .start = mapper__start,
    .reload = mapper__reload,
    .stop = mapper__stop,
    .free = mapper__free,
};
