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
 * Every write ends in one result, success or not, and the result goes to
 * the reconcile core, which decides about the retry (reconcile__done: Retry-After,
 * else backoff with a full-range random draw). No write holds a slot past
 * its result.
 */
#include "mapper/mapper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
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

struct mapper_write_ctx {
    struct mapper *m;
    struct mapper_user *u;
};

/* ---- helpers ---- */

static const char *mapper__side_name(enum reconcile_target target)
{
    return target == RECONCILE_TEAMS ? "teams" : "voice";
}

/* mapper_write_latency_seconds{side}: from the decision (reconcile__begin) to the
 * write being acknowledged; reads are not writes. In microseconds: a write
 * on a LAN takes less than the core's millisecond clock can see. */
static void mapper__observe_write(const struct mapper_user *u, enum reconcile_target target)
{
    char labels[32];
    snprintf(labels, sizeof(labels), "side=\"%s\"", mapper__side_name(target));
    metrics__observe("mapper_write_latency_seconds", labels,
                     (double)(clock__mono_us() - u->began_us[target]) / 1e6);
}

/* A failed write to the core: Retry-After when the writer had one (> 0),
 * else the core's backoff with a fresh full-range draw. */
static void mapper__failed(struct mapper_user *u, enum reconcile_target target,
                           int64_t retry_after_ms, const char *error)
{
    struct reconcile_result r = {
        .ok = false,
        .retry_after_ms = retry_after_ms > 0 ? retry_after_ms : -1,
        .random = backoff__random(),
        .error = error,
    };
    reconcile__done(&u->state, &u->t->config, target, &r, clock__mono_ms());
}

/* ---- Teams: the Graph writer ---- */

static enum graph_op mapper__graph_op(enum reconcile_action_kind kind)
{
    return kind == RECONCILE_GRAPH_SET_BUSY ? GRAPH_OP_SET_BUSY
           : kind == RECONCILE_GRAPH_CLEAR  ? GRAPH_OP_CLEAR
                                            : GRAPH_OP_READ;
}

/* mapper_graph_writes_total{action,outcome} (set, clear) and
 * mapper_graph_reads_total{outcome}: docs/observability.md. */
static void mapper__count_graph(enum reconcile_action_kind kind, bool ok)
{
    char labels[64];
    const char *outcome = ok ? "ok" : "error";
    if (kind == RECONCILE_GRAPH_READ) {
        snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome);
        metrics__inc("mapper_graph_reads_total", labels, 1);
        return;
    }
    snprintf(labels, sizeof(labels), "action=\"%s\",outcome=\"%s\"", reconcile__action_name(kind),
             outcome);
    metrics__inc("mapper_graph_writes_total", labels, 1);
}

static void mapper__graph_done(void *ctx, const struct graph_write_result *res)
{
    struct mapper_write_ctx *c = ctx;
    struct mapper *m = c->m;
    struct mapper_user *u = c->u;
    free(c);
    if (m->stopping || res->status == GRAPH_WRITE_STOPPED ||
        !u->state.target[RECONCILE_TEAMS].in_flight)
        return;
    enum reconcile_action_kind kind = u->state.target[RECONCILE_TEAMS].flight.kind;
    bool ok = res->status == GRAPH_WRITE_OK;
    mapper__count_graph(kind, ok);
    registry__touch(u);
    mapper__schedule(m);
    int64_t now = clock__mono_ms();
    if (ok && kind == RECONCILE_GRAPH_READ) {
        reconcile__teams_read(&u->state, &u->t->config, res->availability ? res->availability : "",
                              res->activity ? res->activity : "", now);
        LOG_INFO(SUB, "presence read tenant=%s id=%s availability=%s activity=%s real=%d",
                 u->t->name, u->id, res->availability, res->activity, (int)u->state.teams_real);
        return;
    }
    if (ok) {
        struct reconcile_result r = {.ok = true, .retry_after_ms = -1};
        mapper__observe_write(u, RECONCILE_TEAMS);
        reconcile__done(&u->state, &u->t->config, RECONCILE_TEAMS, &r, now);
        LOG_INFO(SUB, "graph write done tenant=%s id=%s action=%s", u->t->name, u->id,
                 reconcile__action_name(kind));
        return;
    }
    if (res->status == GRAPH_WRITE_NOT_FOUND)
        u->guid[0] = '\0'; /* stale or unknown: the writer looks the user up again */
    mapper__failed(u, RECONCILE_TEAMS, res->retry_after_ms, res->error);
    LOG_WARN(SUB, "graph write failed tenant=%s id=%s action=%s result=%s error=%s", u->t->name,
             u->id, reconcile__action_name(kind), graph_writer__status_name(res->status),
             res->error ? res->error : "");
}

static void mapper__graph_start(struct mapper *m, struct mapper_user *u,
                                const struct reconcile_action *a)
{
    struct mapper_write_ctx *c = calloc(1, sizeof(*c));
    struct graph_write w = {
        .tenant = u->t->name,
        .upn = u->address,
        .user_id = u->guid[0] ? u->guid : NULL,
        .op = mapper__graph_op(a->kind),
        .session_ms = u->t->config.session_ms,
    };
    int rc = -1;
    if (c && m->ports.graph_submit) {
        c->m = m;
        c->u = u;
        rc = m->ports.graph_submit(m->ports.graph, &w, mapper__graph_done, c);
    }
    if (rc == 0)
        return;
    free(c);
    mapper__failed(u, RECONCILE_TEAMS, -1,
                   m->ports.graph_submit ? "graph writer refused" : "Graph client not running");
}

/* ---- Voice: the Voice side's writer ---- */

/* Voice writes in flight are capped (MAPPER_VOICE_MAX_IN_FLIGHT): the
 * start-up reconcile writes every user's flag, and 10,000 requests queued at
 * once cost megabytes that the heap does not give back. Users wait in order;
 * a user on the list starts its write only when woken, and a wake-up that a
 * user did not use (it had nothing to write any more, or others took the
 * slot) is passed on at the end of the pass, so no free slot is left with
 * users still waiting. */
static void mapper__voice_wait(struct mapper *m, struct mapper_user *u)
{
    if (u->vwait)
        return;
    u->vwait = true;
    u->vnext = NULL;
    if (m->vwait_tail)
        m->vwait_tail->vnext = u;
    else
        m->vwait_head = u;
    m->vwait_tail = u;
}

/* Wakes waiting users, one per free slot not yet promised to a woken one. */
static void mapper__voice_wake(struct mapper *m)
{
    while (m->vwait_head && !m->stopping &&
           m->voice_in_flight + m->voice_woken < MAPPER_VOICE_MAX_IN_FLIGHT) {
        struct mapper_user *u = m->vwait_head;
        m->vwait_head = u->vnext;
        if (!m->vwait_head)
            m->vwait_tail = NULL;
        u->vnext = NULL;
        u->vwait = false;
        u->vwoken = true;
        m->voice_woken++;
        registry__touch(u);
        mapper__schedule(m);
    }
}

/* Every result gives its slot back, whatever it says. */
static void mapper__voice_release(struct mapper *m)
{
    if (m->voice_in_flight > 0)
        m->voice_in_flight--;
    mapper__voice_wake(m);
}

static void mapper__voice_done(void *ctx, const struct voice_write_result *res)
{
    struct mapper_write_ctx *c = ctx;
    struct mapper *m = c->m;
    struct mapper_user *u = c->u;
    free(c);
    mapper__voice_release(m);
    if (m->stopping || res->status == VOICE_WRITE_STOPPED ||
        !u->state.target[RECONCILE_VOICE].in_flight)
        return;
    bool ok = res->status == VOICE_WRITE_OK;
    char labels[64];
    snprintf(labels, sizeof(labels), "outcome=\"%s\"", ok ? "ok" : "error");
    metrics__inc("mapper_voice_writes_total", labels, 1);
    registry__touch(u);
    mapper__schedule(m);
    if (ok) {
        struct reconcile_result r = {.ok = true, .retry_after_ms = -1};
        mapper__observe_write(u, RECONCILE_VOICE);
        reconcile__done(&u->state, &u->t->config, RECONCILE_VOICE, &r, clock__mono_ms());
        LOG_INFO(SUB, "voice talking written tenant=%s id=%s talking=%s", u->t->name, u->id,
                 res->talking ? "true" : "false");
        return;
    }
    char err[160];
    if (res->http_status)
        snprintf(err, sizeof(err), "%s: HTTP %d%s%s", voice_write_status__name(res->status),
                 res->http_status, res->error ? " " : "", res->error ? res->error : "");
    else
        snprintf(err, sizeof(err), "%s%s%s", voice_write_status__name(res->status),
                 res->error ? ": " : "", res->error ? res->error : "");
    mapper__failed(u, RECONCILE_VOICE, res->retry_after_ms, err);
    LOG_WARN(SUB, "voice write failed tenant=%s id=%s error=%s", u->t->name, u->id, err);
}

static void mapper__voice_start(struct mapper *m, struct mapper_user *u, bool value)
{
    struct mapper_write_ctx *c = calloc(1, sizeof(*c));
    int rc = -1;
    if (c && m->ports.voice_set) {
        c->m = m;
        c->u = u;
        m->voice_in_flight++;
        rc = m->ports.voice_set(m->ports.voice, u->t->name, u->state.address, value,
                                mapper__voice_done, c);
        if (rc != 0)
            mapper__voice_release(m);
    }
    if (rc == 0)
        return;
    free(c);
    mapper__failed(u, RECONCILE_VOICE, -1,
                   m->ports.voice_set ? "voice writer refused" : "voice side not running");
}

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
            mapper__voice_wait(m, u);
            continue;
        }
        enum reconcile_target target =
            a[i].kind == RECONCILE_VOICE_SET ? RECONCILE_VOICE : RECONCILE_TEAMS;
        if (u->state.target[target].failures > 0) {
            char labels[32];
            snprintf(labels, sizeof(labels), "side=\"%s\"", mapper__side_name(target));
            metrics__inc("mapper_retries_total", labels, 1);
        }
        reconcile__begin(&u->state, &a[i], now);
        u->began_us[target] = clock__mono_us();
        LOG_DEBUG(SUB, "action tenant=%s id=%s action=%s value=%d why=%s", u->t->name, u->id,
                  reconcile__action_name(a[i].kind), (int)a[i].value, a[i].why);
        if (a[i].kind == RECONCILE_VOICE_SET)
            mapper__voice_start(m, u, a[i].value);
        else
            mapper__graph_start(m, u, &a[i]);
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
    mapper__voice_wake(m);
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

static int mapper__graph_submit(void *graph, const struct graph_write *op, graph_write_fn cb,
                                void *ctx)
{
    return graph_writer__submit(graph, op, cb, ctx);
}

static int mapper__voice_set(void *voice, const char *tenant, const char *email, bool talking,
                             voice_write_fn cb, void *ctx)
{
    return voice_writer__set_talking(voice, tenant, email, talking, cb, ctx);
}

static bool mapper__voice_enabled(void *voice, const char *tenant)
{
    return voice_writer__enabled(voice, tenant);
}

/* The process's writers (env->services), looked up once: the components
 * that provide them come first in the daemon's table. */
static void mapper__wire(struct mapper *m)
{
    const struct daemon_services *s = m->env->services;
    if (s && s->graph_writer) {
        m->ports.graph = s->graph_writer;
        m->ports.graph_submit = mapper__graph_submit;
    }
    else {
        LOG_WARN(SUB, "no Graph writer: Teams presence is not written");
    }
    if (s && s->voice_writer) {
        m->ports.voice = s->voice_writer;
        m->ports.voice_set = mapper__voice_set;
        m->ports.voice_enabled = mapper__voice_enabled;
    }
    else {
        LOG_WARN(SUB, "no Voice writer: Voice 'talking' is not written");
    }
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
    mapper__wire(m); /* before the tenants: they ask whether Voice takes writes */
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
