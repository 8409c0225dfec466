/* The mapper (connector/mapper/) in process for the component tests: the
 * real component on the harness of tests/lib/comp_env.h (fake bus, real
 * loop, fake clock), its two writers replaced through its ports (mapper.h)
 * by a small world:
 *  - Teams, per user: the user's own client activity (a 1:1 call, a
 *    meeting), a preferred state set by hand, and our app session
 *    (Busy/InACall), aggregated as Graph does (docs/graph.md): a preferred
 *    state above everything, else the highest availability, a tie to the
 *    session updated last;
 *  - Voice, per user: the real calls (as the Voice side reports them) and
 *    the 'talking' flag the mapper writes.
 * What the Graph side and the Voice side publish (teams/<id>/busy and
 * voice/<id>/talking, retained, on change) the world injects into the fake
 * bus. The writers answer on a later loop turn, once each, as the real ones
 * do (graph/graph_writer.h, voice/writer.h); Voice writes can be made to
 * fail. A restart keeps the world and the broker's retained topics and
 * starts a new mapper on them, as a SIGKILL and a new process would.
 * Header-only, like graph_fixture.h. */
#ifndef PS_TESTS_MAPPER_FIXTURE_H
#define PS_TESTS_MAPPER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comp_env.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "fake_bus.h"
#include "log_capture.h"
#include "mapper/mapper.h"

#define MFX_USERS_MAX 8
#define MFX_OPS_MAX   256
#define MFX_TRIES_MAX 64
#define MFX_WALL0     1796600000000LL
/* the mapper's read-back window closes 2 s after MQTT connected (mapper/inputs.c) */
#define MFX_SEED_MS 2100

enum mfx_client { MFX_IDLE, MFX_CALL, MFX_MEETING };

struct mfx_user {
    char addr[64];
    char guid[40]; /* the Graph object id, named in teams/<id>/busy */
    /* Teams */
    enum mfx_client client;
    const char *pref_av, *pref_act; /* preferred by hand; NULL: none */
    bool session;                   /* our app session */
    uint64_t client_at, session_at; /* update order, for ties */
    char shown[64];                 /* Availability/Activity last published */
    int sets, clears, reads;
    /* a Graph fault: the next gf_count writes of gf_op end gf_status (HTTP
     * gf_http, Retry-After gf_ra_ms or -1); gf_applied: Graph applied the
     * write all the same (a timeout after it landed) */
    enum graph_op gf_op;
    int gf_count;
    enum graph_write_status gf_status;
    int gf_http;
    int64_t gf_ra_ms;
    bool gf_applied;
    int64_t set_ms[MFX_TRIES_MAX]; /* when each setPresence arrived (monotonic) */
    int n_sets_seen;
    /* Voice */
    int calls;
    bool talking;
    int voice_writes;
    int voice_fail;                  /* the next n Voice writes fail (503); -1: every one */
    int64_t tries_ms[MFX_TRIES_MAX]; /* when each Voice write arrived (monotonic) */
};

struct mfx_op {
    bool voice;
    size_t user;
    enum graph_op gop;
    bool talking;
    graph_write_fn gcb;
    voice_write_fn vcb;
    void *ctx;
};

struct mfx {
    struct comp_env ce;
    void *mapper;
    char cfg[4096];
    struct mfx_user u[MFX_USERS_MAX];
    size_t n;
    unsigned configured; /* bit i: u[i] is in the tenant's user list */
    uint64_t tick;
    struct mfx_op ops[MFX_OPS_MAX];
    size_t n_ops;
    loop_timer_id flush;
    /* NULL, or the process's writers as the mapper's init wires them (a
     * test sets it before a (re)start; the world's ports replace the
     * writers after init, what init asked them stays) */
    struct daemon_services *services;
};

/* ---- the world ---------------------------------------------------------------- */

static inline struct mfx_user *mfx__user(struct mfx *f, const char *addr)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->u[i].addr, addr) == 0)
            return &f->u[i];
    }
    fail_msg("no user %s", addr);
    return NULL;
}

/* Not inlined: GCC's -Wstring-compare would see the constants through it. */
static __attribute__((noinline)) int mfx__rank(const char *av)
{
    return strcmp(av, "DoNotDisturb") == 0 ? 4 : strcmp(av, "Busy") == 0 ? 3 : 1;
}

/* What Graph shows: "Availability/Activity". */
static inline void mfx__shown(const struct mfx_user *u, char *av, char *act)
{
    if (u->pref_av) {
        strcpy(av, u->pref_av);
        strcpy(act, u->pref_act);
        return;
    }
    const char *cav = u->client == MFX_IDLE ? "Available" : "Busy";
    const char *cact = u->client == MFX_CALL      ? "InACall"
                       : u->client == MFX_MEETING ? "InAConferenceCall"
                                                  : "Available";
    bool ours =
        u->session && (mfx__rank("Busy") > mfx__rank(cav) ||
                       (mfx__rank("Busy") == mfx__rank(cav) && u->session_at > u->client_at));
    strcpy(av, ours ? "Busy" : cav);
    strcpy(act, ours ? "InACall" : cact);
}

static inline bool mfx__shown_is(const struct mfx_user *u, const char *want)
{
    char av[32], act[32], s[64];
    mfx__shown(u, av, act);
    snprintf(s, sizeof(s), "%s/%s", av, act);
    return strcmp(s, want) == 0;
}

static inline void mfx__since(char *out, size_t len)
{
    clock__iso8601_graph(clock__wall_ms(), out, len);
}

/* The Graph side's publish of teams/<id>/busy: on change, or always (a
 * resync's read). */
static inline void mfx__publish_teams(struct mfx *f, struct mfx_user *u, const char *source,
                                      bool always)
{
    char av[32], act[32], shown[64], since[40], js[512], topic[128];
    mfx__shown(u, av, act);
    snprintf(shown, sizeof(shown), "%s/%s", av, act);
    if (!always && strcmp(shown, u->shown) == 0)
        return;
    snprintf(u->shown, sizeof(u->shown), "%s", shown);
    mfx__since(since, sizeof(since));
    snprintf(js, sizeof(js),
             "{\"busy\":%s,\"availability\":\"%s\",\"activity\":\"%s\",\"since\":\"%s\","
             "\"source\":\"%s\",\"user_id\":\"%s\"}",
             mfx__rank(av) > 1 ? "true" : "false", av, act, since, source, u->guid);
    snprintf(topic, sizeof(topic), "teams/%.63s/busy", u->addr);
    fake_bus__inject(f->ce.bus, topic, js, true);
}

/* The Voice side's publish of voice/<id>/talking. */
static inline void mfx__publish_voice(struct mfx *f, struct mfx_user *u, const char *source)
{
    char since[40], js[256], topic[128];
    mfx__since(since, sizeof(since));
    snprintf(js, sizeof(js), "{\"talking\":%s,\"calls\":%d,\"since\":\"%s\",\"source\":\"%s\"}",
             u->calls > 0 ? "true" : "false", u->calls, since, source);
    snprintf(topic, sizeof(topic), "voice/%.63s/talking", u->addr);
    fake_bus__inject(f->ce.bus, topic, js, true);
}

/* A Voice call starts (+1) or ends (-1), seen by the Voice side. */
static inline void mfx__voice_call(struct mfx *f, const char *addr, int delta)
{
    struct mfx_user *u = mfx__user(f, addr);
    u->calls += delta;
    mfx__publish_voice(f, u, "rte");
    comp_env__settle(&f->ce);
}

/* The user's own Teams activity changes (notified). */
static inline void mfx__teams(struct mfx *f, const char *addr, enum mfx_client c)
{
    struct mfx_user *u = mfx__user(f, addr);
    u->client = c;
    u->client_at = ++f->tick;
    mfx__publish_teams(f, u, "notification", false);
    comp_env__settle(&f->ce);
}

static inline void mfx__preferred(struct mfx *f, const char *addr, const char *av, const char *act)
{
    struct mfx_user *u = mfx__user(f, addr);
    u->pref_av = av;
    u->pref_act = act;
    mfx__publish_teams(f, u, "notification", false);
    comp_env__settle(&f->ce);
}

/* ---- the writers ------------------------------------------------------------------ */

/* What Graph does with a write that lands. */
static inline void mfx__apply(struct mfx *f, struct mfx_user *u, enum graph_op op)
{
    if (op == GRAPH_OP_SET_BUSY) {
        u->session = true;
        u->session_at = ++f->tick;
        u->sets++;
    }
    else if (op == GRAPH_OP_CLEAR) {
        u->session = false;
        u->clears++;
    }
    else {
        u->reads++;
    }
}

static inline void mfx__answer(struct mfx *f, const struct mfx_op *op)
{
    struct mfx_user *u = &f->u[op->user];
    if (op->voice) {
        bool fail = u->voice_fail != 0;
        if (u->voice_fail > 0)
            u->voice_fail--;
        if (!fail)
            u->talking = op->talking;
        struct voice_write_result r = {.tenant = "contoso",
                                       .email = u->addr,
                                       .talking = op->talking,
                                       .status = fail ? VOICE_WRITE_FAILED : VOICE_WRITE_OK,
                                       .http_status = fail ? 503 : 204,
                                       .attempts = 1,
                                       .error = fail ? "Service Unavailable" : NULL,
                                       .retry_after_ms = -1};
        op->vcb(op->ctx, &r);
        return;
    }
    char av[32], act[32];
    bool fault = u->gf_count > 0 && u->gf_op == op->gop;
    if (fault) {
        u->gf_count--;
        if (u->gf_applied)
            mfx__apply(f, u, op->gop);
        mfx__shown(u, av, act);
        char err[64];
        snprintf(err, sizeof(err), "HTTP %d", u->gf_http);
        struct graph_write_result r = {.tenant = "contoso",
                                       .upn = u->addr,
                                       .op = op->gop,
                                       .status = u->gf_status,
                                       .http_status = u->gf_http,
                                       .retry_after_ms = u->gf_ra_ms,
                                       .error = u->gf_http ? err : "timed out"};
        op->gcb(op->ctx, &r);
        mfx__publish_teams(f, u, "notification", false);
        return;
    }
    mfx__apply(f, u, op->gop);
    mfx__shown(u, av, act);
    struct graph_write_result r = {.tenant = "contoso",
                                   .upn = u->addr,
                                   .op = op->gop,
                                   .status = GRAPH_WRITE_OK,
                                   .http_status = 200,
                                   .retry_after_ms = -1,
                                   .availability = av,
                                   .activity = act};
    op->gcb(op->ctx, &r);
    /* Graph notifies the change of the aggregate; the Graph side publishes it */
    mfx__publish_teams(f, u, "notification", false);
}

/* Answers every write queued before this turn (a later loop turn, as the
 * real writers' completions come). */
static inline void mfx__flush(void *arg)
{
    struct mfx *f = arg;
    f->flush = 0;
    struct mfx_op now[MFX_OPS_MAX];
    size_t n = f->n_ops;
    memcpy(now, f->ops, n * sizeof(now[0]));
    f->n_ops = 0;
    for (size_t k = 0; k < n; k++)
        mfx__answer(f, &now[k]);
}

static inline struct mfx_op *mfx__push(struct mfx *f, const char *addr)
{
    assert_true(f->n_ops < MFX_OPS_MAX);
    struct mfx_op *op = &f->ops[f->n_ops++];
    memset(op, 0, sizeof(*op));
    op->user = (size_t)(mfx__user(f, addr) - f->u);
    if (!f->flush)
        f->flush = loop__timer(f->ce.loop, 0, mfx__flush, f);
    return op;
}

static inline int mfx__graph_submit(void *graph, const struct graph_write *w, graph_write_fn cb,
                                    void *ctx)
{
    struct mfx *f = graph;
    struct mfx_op *op = mfx__push(f, w->upn);
    struct mfx_user *u = &f->u[op->user];
    if (w->op == GRAPH_OP_SET_BUSY && u->n_sets_seen < MFX_TRIES_MAX)
        u->set_ms[u->n_sets_seen] = clock__mono_ms();
    if (w->op == GRAPH_OP_SET_BUSY)
        u->n_sets_seen++;
    op->gop = w->op;
    op->gcb = cb;
    op->ctx = ctx;
    return 0;
}

static inline int mfx__voice_set(void *voice, const char *tenant, const char *email, bool talking,
                                 voice_write_fn cb, void *ctx)
{
    (void)tenant;
    struct mfx *f = voice;
    struct mfx_op *op = mfx__push(f, email);
    struct mfx_user *u = &f->u[op->user];
    if (u->voice_writes < MFX_TRIES_MAX)
        u->tries_ms[u->voice_writes] = clock__mono_ms();
    u->voice_writes++;
    op->voice = true;
    op->talking = talking;
    op->vcb = cb;
    op->ctx = ctx;
    return 0;
}

/* ---- the process -------------------------------------------------------------------- */

/* A new mapper on f->ce, its read-back window closed. */
static inline void mfx__start_mapper(struct mfx *f)
{
    f->ce.env.services = f->services;
    assert_int_equal(mapper_component.init(&f->ce.env, &f->mapper), 0);
    assert_non_null(f->mapper);
    struct mapper_ports ports = {
        .graph = f, .graph_submit = mfx__graph_submit, .voice = f, .voice_set = mfx__voice_set};
    mapper__set_ports(f->mapper, &ports);
    assert_int_equal(mapper_component.start(f->mapper), 0);
    comp_env__advance(&f->ce, MFX_SEED_MS);
}

/* f->cfg with the users of f->configured. */
static inline void mfx__config(struct mfx *f)
{
    char users[512] = "";
    for (size_t i = 0; i < f->n; i++) {
        if (f->configured & (1u << i))
            snprintf(users + strlen(users), sizeof(users) - strlen(users), "%s\"%s\"",
                     users[0] ? "," : "", f->u[i].addr);
    }
    snprintf(f->cfg, sizeof(f->cfg),
             "{\"instance\":\"ps-m\",\"mqtt\":{\"bridge_topic\":\"ps\"},"
             "\"http\":{\"public_url\":\"https://x.example\"},"
             "\"tenants\":[{\"name\":\"contoso\",\"users\":[%s],\"graph\":{\"tenant_id\":"
             "\"11111111-2222-3333-4444-555555555555\",\"client_id\":"
             "\"66666666-7777-8888-9999-000000000000\",\"client_secret_env\":\"PS_CT_SECRET\","
             "\"presence_session_minutes\":15,"
             "\"service_accounts\":[{\"username\":\"svc@contoso.com\",\"password_env\":"
             "\"PS_CT_SECRET\"}]},\"voice\":{\"username\":\"v@contoso.com\","
             "\"secret_key_env\":\"PS_CT_SECRET\"}}],"
             "\"mapper\":{\"enabled\":true,\"settle_seconds\":1}}",
             users);
}

/* Users alice@contoso.com etc. (NULL-terminated), those of the bit mask
 * `configured` in the user list (bit 0: the first). Each side has published
 * the start state of those (Available, not talking) when the mapper starts;
 * settle 1 s, sessions of 15 minutes. */
static inline struct mfx *mfx__new_some(unsigned configured, const char *first, ...)
{
    struct mfx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    metrics__reset();
    assert_int_equal(log_capture__start(), 0);
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(f->n < MFX_USERS_MAX);
        struct mfx_user *u = &f->u[f->n];
        snprintf(u->addr, sizeof(u->addr), "%s", a);
        snprintf(u->guid, sizeof(u->guid), "0f1e2d3c-aaaa-bbbb-cccc-%012zu", f->n + 1);
        f->n++;
    }
    va_end(ap);
    f->configured = configured;
    mfx__config(f);
    clock__fake_start(1000000, MFX_WALL0);
    assert_int_equal(comp_env__init(&f->ce, f->cfg, CONFIG_ROLE_ALL), 0);
    for (size_t i = 0; i < f->n; i++) {
        if (!(f->configured & (1u << i)))
            continue;
        mfx__publish_teams(f, &f->u[i], "resync", true);
        mfx__publish_voice(f, &f->u[i], "rte");
    }
    mfx__start_mapper(f);
    return f;
}

#define mfx__new(...) mfx__new_some(~0u, __VA_ARGS__)

/* SIGHUP with the users of the bit mask `configured`: the mapper reloads;
 * the Graph side clears teams/<id>/busy of a user it no longer reads
 * (graph/users.c) and, like the Voice side, publishes an added user's state
 * (the Graph side's read: source resync). */
static inline void mfx__reload(struct mfx *f, unsigned configured)
{
    unsigned was = f->configured;
    f->configured = configured;
    mfx__config(f);
    assert_int_equal(comp_env__reload(&f->ce, f->cfg), 0);
    mapper_component.reload(f->mapper);
    for (size_t i = 0; i < f->n; i++) {
        unsigned bit = 1u << i;
        char topic[128];
        if ((was & bit) && !(configured & bit)) {
            snprintf(topic, sizeof(topic), "teams/%s/busy", f->u[i].addr);
            fake_bus__inject(f->ce.bus, topic, "", true);
            f->u[i].shown[0] = '\0';
        }
        else if (!(was & bit) && (configured & bit)) {
            mfx__publish_teams(f, &f->u[i], "resync", true);
            mfx__publish_voice(f, &f->u[i], "rte");
        }
    }
    comp_env__settle(&f->ce);
}

/* The mapper stops; its writes still out never reach the world. */
static inline void mfx__stop_mapper(struct mfx *f)
{
    mapper_component.stop(f->mapper);
    for (size_t k = 0; k < f->n_ops; k++) {
        if (f->ops[k].voice) {
            struct voice_write_result v = {.status = VOICE_WRITE_STOPPED, .retry_after_ms = -1};
            f->ops[k].vcb(f->ops[k].ctx, &v);
        }
        else {
            struct graph_write_result g = {.status = GRAPH_WRITE_STOPPED, .retry_after_ms = -1};
            f->ops[k].gcb(f->ops[k].ctx, &g);
        }
    }
    f->n_ops = 0;
    if (f->flush)
        loop__timer_cancel(f->ce.loop, f->flush);
    f->flush = 0;
    mapper_component.free(f->mapper);
    f->mapper = NULL;
}

/* The process dies: the broker keeps the retained topics. */
static inline char **mfx__kill(struct mfx *f)
{
    char **kept = calloc(3 * f->n, sizeof(*kept));
    assert_non_null(kept);
    for (size_t i = 0; i < f->n; i++) {
        char t[3][128];
        snprintf(t[0], sizeof(t[0]), "teams/%s/busy", f->u[i].addr);
        snprintf(t[1], sizeof(t[1]), "voice/%s/talking", f->u[i].addr);
        snprintf(t[2], sizeof(t[2]), "ps/sync/%s", f->u[i].addr);
        for (int k = 0; k < 3; k++) {
            const char *v = fake_bus__retained(f->ce.bus, t[k]);
            kept[3 * i + k] = v ? strdup(v) : NULL;
        }
    }
    mfx__stop_mapper(f);
    comp_env__free(&f->ce);
    return kept;
}

/* A new process on the retained topics `kept` (mfx__kill): the Voice side
 * carries its calls over from voice/<id>/talking (docs/voice.md "Daemon
 * restarts"), the mapper reads B/sync/<id> back, then the Graph side's
 * start-up read publishes everyone's presence (source resync). */
static inline void mfx__restart(struct mfx *f, char **kept)
{
    assert_int_equal(comp_env__init(&f->ce, f->cfg, CONFIG_ROLE_ALL), 0);
    for (size_t i = 0; i < f->n; i++) {
        char t[3][128];
        snprintf(t[0], sizeof(t[0]), "teams/%s/busy", f->u[i].addr);
        snprintf(t[1], sizeof(t[1]), "voice/%s/talking", f->u[i].addr);
        snprintf(t[2], sizeof(t[2]), "ps/sync/%s", f->u[i].addr);
        for (int k = 0; k < 3; k++) {
            if (kept[3 * i + k])
                fake_bus__inject(f->ce.bus, t[k], kept[3 * i + k], true);
            free(kept[3 * i + k]);
        }
    }
    free(kept);
    mfx__start_mapper(f);
    for (size_t i = 0; i < f->n; i++)
        mfx__publish_teams(f, &f->u[i], "resync", true);
    comp_env__settle(&f->ce);
}

static inline void mfx__free(struct mfx *f)
{
    if (!f)
        return;
    if (f->mapper)
        mfx__stop_mapper(f);
    comp_env__free(&f->ce);
    clock__fake_stop();
    log_capture__stop();
    free(f);
}

static inline int mfx__teardown(void **st)
{
    mfx__free(*st);
    return 0;
}

/* ---- looking ---------------------------------------------------------------------- */

/* The retained B/sync/<id>, parsed (cJSON_Delete it). */
static inline cJSON *mfx__sync(struct mfx *f, const char *addr)
{
    char topic[128];
    snprintf(topic, sizeof(topic), "ps/sync/%s", addr);
    const char *v = fake_bus__retained(f->ce.bus, topic);
    return v ? json__parse_str(v) : NULL;
}

/* B/sync shows both inputs and nothing pending. */
static inline bool mfx__quiet(struct mfx *f, const char *addr)
{
    cJSON *s = mfx__sync(f, addr);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(s, "inputs");
    bool q = json__bool(cJSON_GetObjectItemCaseSensitive(in, "teams"), "known", false) &&
             json__bool(cJSON_GetObjectItemCaseSensitive(in, "voice"), "known", false) &&
             cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "pending")) == 0;
    cJSON_Delete(s);
    return q;
}

/* A string in B/sync/<id> at path a.b (two keys; b NULL: one). */
static inline bool mfx__sync_str_is(struct mfx *f, const char *addr, const char *a, const char *b,
                                    const char *c, const char *want)
{
    cJSON *s = mfx__sync(f, addr);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(s, a);
    if (b)
        o = cJSON_GetObjectItemCaseSensitive(o, b);
    const char *v = json__str(o, c);
    bool ok = v && strcmp(v, want) == 0;
    if (!ok)
        print_message("B/sync/%s: %s.%s.%s is %s, expected %s\n", addr, a, b ? b : "", c,
                      v ? v : "(none)", want);
    cJSON_Delete(s);
    return ok;
}

/* Every user: no session of ours, Voice not talking, B/sync quiet. */
static inline void mfx__assert_all_clear(struct mfx *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct mfx_user *u = &f->u[i];
        if (u->session || u->talking || !mfx__quiet(f, u->addr))
            fail_msg("%s: session %d talking %d quiet %d", u->addr, u->session, u->talking,
                     mfx__quiet(f, u->addr));
    }
}

#endif
