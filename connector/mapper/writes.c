/* The mapper's writes (mapper_int.h): each due action handed to the Graph
 * writer or the Voice writer through the ports, and each result given to
 * the reconcile core, the one owner of retries (reconcile__done:
 * Retry-After, else backoff with a full-range random draw). No write holds
 * a slot past its result. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "mapper/mapper_int.h"

#define SUB MAPPER_SUB

struct mapper_write_ctx {
    struct mapper *m;
    struct mapper_user *u;
};

const char *writes__side_name(enum reconcile_target target)
{
    return target == RECONCILE_TEAMS ? "teams" : "voice";
}

/* mapper_write_latency_seconds{side}: from the decision (reconcile__begin) to the
 * write being acknowledged; reads are not writes. In microseconds: a write
 * on a LAN takes less than the core's millisecond clock can see. */
static void writes__observe(const struct mapper_user *u, enum reconcile_target target)
{
    char labels[32];
    snprintf(labels, sizeof(labels), "side=\"%s\"", writes__side_name(target));
    metrics__observe("mapper_write_latency_seconds", labels,
                     (double)(clock__mono_us() - u->began_us[target]) / 1e6);
}

/* A failed write to the core: Retry-After when the writer had one (> 0),
 * else the core's backoff with a fresh full-range draw. */
static void writes__failed(struct mapper_user *u, enum reconcile_target target,
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

static enum graph_op writes__graph_op(enum reconcile_action_kind kind)
{
    return kind == RECONCILE_GRAPH_SET_BUSY ? GRAPH_OP_SET_BUSY
           : kind == RECONCILE_GRAPH_CLEAR  ? GRAPH_OP_CLEAR
                                            : GRAPH_OP_READ;
}

/* mapper_graph_writes_total{action,outcome} (set, clear) and
 * mapper_graph_reads_total{outcome}: docs/observability.md. */
static void writes__count_graph(enum reconcile_action_kind kind, bool ok)
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

static void writes__graph_done(void *ctx, const struct graph_write_result *res)
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
    writes__count_graph(kind, ok);
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
        writes__observe(u, RECONCILE_TEAMS);
        reconcile__done(&u->state, &u->t->config, RECONCILE_TEAMS, &r, now);
        LOG_INFO(SUB, "graph write done tenant=%s id=%s action=%s", u->t->name, u->id,
                 reconcile__action_name(kind));
        return;
    }
    if (res->status == GRAPH_WRITE_NOT_FOUND)
        u->guid[0] = '\0'; /* stale or unknown: the writer looks the user up again */
    writes__failed(u, RECONCILE_TEAMS, res->retry_after_ms, res->error);
    LOG_WARN(SUB, "graph write failed tenant=%s id=%s action=%s result=%s error=%s", u->t->name,
             u->id, reconcile__action_name(kind), graph_writer__status_name(res->status),
             res->error ? res->error : "");
}

void writes__graph_start(struct mapper *m, struct mapper_user *u, const struct reconcile_action *a)
{
    struct mapper_write_ctx *c = calloc(1, sizeof(*c));
    struct graph_write w = {
        .tenant = u->t->name,
        .upn = u->address,
        .user_id = u->guid[0] ? u->guid : NULL,
        .op = writes__graph_op(a->kind),
        .session_ms = u->t->config.session_ms,
    };
    int rc = -1;
    if (c && m->ports.graph_submit) {
        c->m = m;
        c->u = u;
        rc = m->ports.graph_submit(m->ports.graph, &w, writes__graph_done, c);
    }
    if (rc == 0)
        return;
    free(c);
    writes__failed(u, RECONCILE_TEAMS, -1,
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
void writes__voice_wait(struct mapper *m, struct mapper_user *u)
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
void writes__voice_wake(struct mapper *m)
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
static void writes__voice_release(struct mapper *m)
{
    if (m->voice_in_flight > 0)
        m->voice_in_flight--;
    writes__voice_wake(m);
}

static void writes__voice_done(void *ctx, const struct voice_write_result *res)
{
    struct mapper_write_ctx *c = ctx;
    struct mapper *m = c->m;
    struct mapper_user *u = c->u;
    free(c);
    writes__voice_release(m);
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
        writes__observe(u, RECONCILE_VOICE);
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
    writes__failed(u, RECONCILE_VOICE, res->retry_after_ms, err);
    LOG_WARN(SUB, "voice write failed tenant=%s id=%s error=%s", u->t->name, u->id, err);
}

void writes__voice_start(struct mapper *m, struct mapper_user *u, bool value)
{
    struct mapper_write_ctx *c = calloc(1, sizeof(*c));
    int rc = -1;
    if (c && m->ports.voice_set) {
        c->m = m;
        c->u = u;
        m->voice_in_flight++;
        rc = m->ports.voice_set(m->ports.voice, u->t->name, u->state.address, value,
                                writes__voice_done, c);
        if (rc != 0)
            writes__voice_release(m);
    }
    if (rc == 0)
        return;
    free(c);
    writes__failed(u, RECONCILE_VOICE, -1,
                   m->ports.voice_set ? "voice writer refused" : "voice side not running");
}

static int writes__graph_submit(void *graph, const struct graph_write *op, graph_write_fn cb,
                                void *ctx)
{
    return graph_writer__submit(graph, op, cb, ctx);
}

static int writes__voice_set(void *voice, const char *tenant, const char *email, bool talking,
                             voice_write_fn cb, void *ctx)
{
    return voice_writer__set_talking(voice, tenant, email, talking, cb, ctx);
}

static bool writes__voice_enabled(void *voice, const char *tenant)
{
    return voice_writer__enabled(voice, tenant);
}

/* The process's writers (env->services), looked up once: the components
 * that provide them come first in the daemon's table. */
void writes__wire(struct mapper *m)
{
    const struct daemon_services *s = m->env->services;
    if (s && s->graph_writer) {
        m->ports.graph = s->graph_writer;
        m->ports.graph_submit = writes__graph_submit;
    }
    else {
        LOG_WARN(SUB, "no Graph writer: Teams presence is not written");
    }
    if (s && s->voice_writer) {
        m->ports.voice = s->voice_writer;
        m->ports.voice_set = writes__voice_set;
        m->ports.voice_enabled = writes__voice_enabled;
    }
    else {
        LOG_WARN(SUB, "no Voice writer: Voice 'talking' is not written");
    }
}
