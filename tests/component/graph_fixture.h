/* The fixture of the Graph modules' component tests (test_graph_*.c): the
 * process's Graph client (tokens, calls, budget) on the daemon's own HTTP
 * client, against canned replies over real sockets (tests/lib/canned_http.c),
 * and one tenant's users, resync and subscriptions wired as graph_side.c
 * wires them (a finished lookup plans the subscriptions and asks for a
 * resync; a subscription asks for resyncs), on the real loop, the fake bus
 * and the fake clock. Header-only: each test program includes it once. */
#ifndef PS_TESTS_GRAPH_FIXTURE_H
#define PS_TESTS_GRAPH_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canned_http.h"
#include "comp_env.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/ids.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/status.h"
#include "fake_bus.h"
#include "graph/graph_client.h"
#include "graph/graph_status.h"
#include "graph/graph_writer.h"
#include "graph/resync.h"
#include "graph/subscriptions.h"
#include "graph/users.h"
#include "log_capture.h"

#define GF_TENANT_ID "11111111-2222-3333-4444-555555555555"
#define GF_CLIENT_ID "66666666-7777-8888-9999-000000000000"
#define GF_ID_A      "0f1e2d3c-aaaa-bbbb-cccc-00000000000a"
#define GF_ID_B      "0f1e2d3c-aaaa-bbbb-cccc-00000000000b"
#define GF_TOKEN     "/" GF_TENANT_ID "/oauth2/v2.0/token"
#define GF_BATCH     "/v1.0/$batch"
#define GF_SUBS      "/v1.0/subscriptions"
#define GF_READ      "/v1.0/communications/getPresencesByUserId"
#define GF_WALL0     1796600000000LL /* the fake wall clock's start */
#define GF_WAIT_MS   10000           /* real time for a reply over the sockets */
#define GF_REASONS   16

struct gfx {
    struct comp_env ce;
    struct canned_http *s;
    struct http_client *http;
    struct graph_client *gc;
    struct graph_client_tenant *t;
    struct graph_status *status;
    struct graph_users *users;
    struct graph_resync *resync;
    struct graph_subscriptions *subs;
    int rounds;                   /* on_resolved calls */
    char reasons[GF_REASONS][64]; /* what the subscriptions asked resyncs for */
    int n_reasons;
};

/* ---- the ground of every Graph component test ----------------------------- */

/* What gfx__ground builds: tenant "t" of the config. */
struct gfx_ground {
    const char *instance; /* the config's instance */
    const char *users;    /* the tenant's users, a JSON array */
    unsigned roles;       /* CONFIG_ROLE_* */
    bool logs;            /* the log captured (log_capture.h) from now on */
};

/* The process-wide metrics, status and health reset; a canned server (*s);
 * the harness (ce) on a config of tenant "t" (users g->users, one service
 * account, every secret PS_CT_SECRET) whose Graph login_url and api_url are
 * the canned server; the fake clock (wall GF_WALL0) and the daemon's HTTP
 * client (*http). */
static inline void gfx__ground(struct comp_env *ce, struct canned_http **s,
                               struct http_client **http, const struct gfx_ground *g)
{
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    metrics__reset();
    status__reset();
    health__reset();
    assert_non_null(*s = canned_http__start());
    const char *url = canned_http__url(*s);
    char cfg[1200];
    snprintf(
        cfg, sizeof(cfg),
        "{\"instance\":\"%s\",\"http\":{\"public_url\":\"https://x.example\"},"
        "\"tenants\":[{\"name\":\"t\",\"users\":%s,"
        "\"graph\":{\"tenant_id\":\"" GF_TENANT_ID "\",\"client_id\":\"" GF_CLIENT_ID "\","
        "\"client_secret_env\":\"PS_CT_SECRET\",\"login_url\":\"%s\",\"api_url\":\"%s/v1.0\","
        "\"service_accounts\":[{\"username\":\"svc@x.com\",\"password_env\":\"PS_CT_SECRET\"}]},"
        "\"voice\":{\"username\":\"v@x.com\",\"secret_key_env\":\"PS_CT_SECRET\"}}]}",
        g->instance, g->users, url, url);
    assert_int_equal(comp_env__init(ce, cfg, g->roles), 0);
    clock__fake_start(1000000, GF_WALL0);
    assert_non_null(*http = http_client__new(ce->loop));
    if (g->logs)
        assert_int_equal(log_capture__start(), 0);
}

/* After the modules' stop: the HTTP client freed (completions still out
 * run on the loop) and settled. */
static inline void gfx__unplug(struct comp_env *ce, struct http_client *http)
{
    http_client__free(http);
    comp_env__settle(ce);
}

/* After the modules' free: the harness, the canned server, the fake clock
 * and the log capture (if any) ended. */
static inline void gfx__unground(struct comp_env *ce, struct canned_http *s)
{
    comp_env__free(ce);
    canned_http__stop(s);
    clock__fake_stop();
    log_capture__stop();
}

/* The process's Graph client on the ground, with that presence budget;
 * accounts: the tenants' service accounts sign in too. */
static inline struct graph_client *gfx__client(struct comp_env *ce, struct http_client *http,
                                               bool accounts, int budget, int64_t window_ms)
{
    struct graph_client_options o = {.loop = ce->loop,
                                     .http = http,
                                     .cfg = ce->cfg,
                                     .accounts = accounts,
                                     .budget = budget,
                                     .window_ms = window_ms};
    struct graph_client *gc = graph_client__new(&o);
    assert_non_null(gc);
    return gc;
}

/* The end of a presence writer on the process's Graph client on the ground,
 * in the daemon's order: both stopped, the client's HTTP unplugged, both
 * freed, the ground ended. */
static inline void gfx__end_writer(struct comp_env *ce, struct canned_http *s,
                                   struct http_client *http, struct graph_client *gc,
                                   struct graph_writer *w)
{
    graph_writer__stop(w);
    graph_client__stop(gc);
    gfx__unplug(ce, http);
    graph_writer__free(w);
    graph_client__free(gc);
    gfx__unground(ce, s);
}

/* ---- wiring, as graph_side.c does it -------------------------------------- */

static inline void gfx__on_resolved(void *ctx, bool first)
{
    (void)first;
    struct gfx *f = ctx;
    f->rounds++;
    struct graph_user *const *by_id;
    size_t n = users__resolved(f->users, &by_id);
    char *ids[8];
    for (size_t i = 0; i < n && i < 8; i++)
        ids[i] = by_id[i]->id;
    subscriptions__plan(f->subs, ids, n < 8 ? n : 8);
    resync__request(f->resync, first ? "start" : "users looked up");
}

static inline void gfx__want_resync(void *ctx, const char *reason)
{
    struct gfx *f = ctx;
    if (f->n_reasons < GF_REASONS)
        snprintf(f->reasons[f->n_reasons++], sizeof(f->reasons[0]), "%s", reason);
    resync__request(f->resync, reason);
}

static inline int gfx__count_reason(const struct gfx *f, const char *reason)
{
    int n = 0;
    for (int i = 0; i < f->n_reasons; i++)
        n += strcmp(f->reasons[i], reason) == 0;
    return n;
}

/* ---- canned replies -------------------------------------------------------- */

static inline void gfx__rule(struct gfx *f, const char *method, const char *path, int status,
                             const char *headers, const char *body, int times)
{
    canned_http__add(f->s, &(struct canned_rule){method, path, status, headers, body, times, 0});
}

/* Both users found by the $batch lookup (items "0" and "1": a and b). */
#define GF_LOOKUP_OK                                                                   \
    "{\"responses\":[{\"id\":\"0\",\"status\":200,\"body\":{\"id\":\"" GF_ID_A "\"}}," \
    "{\"id\":\"1\",\"status\":200,\"body\":{\"id\":\"" GF_ID_B "\"}}]}"

/* A subscription answer: id, granted for grant_ms from the fake wall's now. */
static inline char *gfx__sub_json(const char *id, int64_t grant_ms)
{
    char exp[40], *out = malloc(256);
    clock__iso8601_graph(clock__wall_ms() + grant_ms, exp, sizeof(exp));
    snprintf(out, 256,
             "{\"id\":\"%s\",\"resource\":\"/communications/presences\","
             "\"expirationDateTime\":\"%s\"}",
             id, exp);
    return out;
}

/* ---- set-up ---------------------------------------------------------------- */

/* The subscriptions' role and clientState key (docs/ha.md) for the next
 * gfx__setup: a process alone with random clientStates unless a test sets
 * them first. */
static bool gfx_standby;
static const char *gfx_state_key;

/* Client, users, resync and subscriptions of tenant "t" (users a@x.com and
 * b@x.com, one service account) on a canned server; nothing started. */
static inline int gfx__setup(void **st)
{
    struct gfx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    gfx__ground(&f->ce, &f->s, &f->http,
                &(struct gfx_ground){.instance = "ps-g",
                                     .users = "[\"a@x.com\",\"b@x.com\"]",
                                     .roles = CONFIG_ROLE_GRAPH});
    f->gc = gfx__client(&f->ce, f->http, true, GRAPH_PRESENCE_LIMIT, GRAPH_PRESENCE_WINDOW_MS);
    assert_non_null(f->t = graph_client__tenant(f->gc, "t"));
    /* every token request (app and account) gets a token for an hour */
    gfx__rule(f, "POST", GF_TOKEN, 200, NULL,
              "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"tok-1\","
              "\"refresh_token\":\"r-1\"}",
              0);
    struct tenant_config *tc = &f->ce.cfg->tenants[0];
    assert_non_null(f->status = graph_status__new(f->ce.loop, "t"));
    struct graph_users_options uo = {.loop = f->ce.loop,
                                     .bus = f->ce.bus,
                                     .client = f->t,
                                     .tenant = "t",
                                     .topic_prefix = f->ce.cfg->mqtt.topic_prefix,
                                     .status = f->status,
                                     .on_resolved = gfx__on_resolved,
                                     .ctx = f};
    assert_non_null(f->users = users__new(&uo));
    struct graph_resync_options ro = {.loop = f->ce.loop,
                                      .bus = f->ce.bus,
                                      .client = f->t,
                                      .users = f->users,
                                      .tenant = "t",
                                      .graph = &tc->graph,
                                      .status = f->status};
    assert_non_null(f->resync = resync__new(&ro));
    struct graph_subscriptions_options so = {.loop = f->ce.loop,
                                             .client = f->t,
                                             .tenant = "t",
                                             .graph = &tc->graph,
                                             .notify_url = "https://x.example/graph/notify/t",
                                             .lifecycle_url = "https://x.example/graph/lifecycle/t",
                                             .status = f->status,
                                             .want_resync = gfx__want_resync,
                                             .ctx = f,
                                             .state_key = gfx_state_key,
                                             .standby = gfx_standby};
    gfx_standby = false;
    gfx_state_key = NULL;
    assert_non_null(f->subs = subscriptions__new(&so));
    assert_int_equal(graph_status__add(f->status, users__status, f->users), 0);
    assert_int_equal(graph_status__add(f->status, subscriptions__status, f->subs), 0);
    assert_int_equal(graph_status__add(f->status, resync__status, f->resync), 0);
    assert_int_equal(users__sync(f->users, tc->users, tc->n_users), 0);
    *st = f;
    return 0;
}

static inline int gfx__teardown(void **st)
{
    struct gfx *f = *st;
    users__stop(f->users);
    resync__stop(f->resync);
    subscriptions__stop(f->subs);
    graph_status__stop(f->status);
    graph_client__stop(f->gc);
    gfx__unplug(&f->ce, f->http);
    subscriptions__free(f->subs);
    resync__free(f->resync);
    users__free(f->users);
    graph_status__free(f->status);
    graph_client__free(f->gc);
    gfx__unground(&f->ce, f->s);
    free(f);
    return 0;
}

/* ---- waiting and looking ------------------------------------------------------ */

struct gfx_count {
    struct gfx *f;
    const char *method, *path;
    size_t n;
};

static inline bool gfx__count_reached(void *ctx)
{
    struct gfx_count *c = ctx;
    return canned_http__count(c->f->s, c->method, c->path) >= c->n;
}

/* Waits (real time) until n requests method path were seen. */
static inline bool gfx__wait_requests(struct gfx *f, const char *method, const char *path, size_t n)
{
    struct gfx_count c = {f, method, path, n};
    return comp_env__wait(&f->ce, gfx__count_reached, &c, GF_WAIT_MS);
}

static inline bool gfx__answered(void *ctx)
{
    struct gfx *f = ctx;
    return http_client__unanswered(f->http) == 0;
}

/* Waits (real time) until every request sent has been answered and what
 * the answers set off has run, at this moment of the fake clock: no request
 * out, nothing left to run on the loop. A reply's real-time latency does not
 * matter (a loaded machine can take hundreds of ms), only that it comes
 * within GF_WAIT_MS. False when a request stays unanswered that long. */
static inline bool gfx__quiet(struct gfx *f)
{
    do {
        if (!comp_env__wait(&f->ce, gfx__answered, f, GF_WAIT_MS))
            return false;
    } while (comp_env__settle(&f->ce) > 0 || !gfx__answered(f));
    return true;
}

/* No further request method path comes before the fake clock moves on:
 * everything under way is answered and settled, and the count is unchanged. */
static inline bool gfx__no_more(struct gfx *f, const char *method, const char *path)
{
    size_t before = canned_http__count(f->s, method, path);
    return gfx__quiet(f) && canned_http__count(f->s, method, path) == before;
}

struct gfx_metric {
    const char *name, *labels;
    double at_least;
};

static inline bool gfx__metric_reached(void *ctx)
{
    struct gfx_metric *m = ctx;
    return metrics__get(m->name, m->labels) >= m->at_least;
}

static inline bool gfx__wait_metric(struct gfx *f, const char *name, const char *labels,
                                    double at_least)
{
    struct gfx_metric m = {name, labels, at_least};
    return comp_env__wait(&f->ce, gfx__metric_reached, &m, GF_WAIT_MS);
}

/* Runs the fake clock from timer to timer until cond holds or max_ms of
 * fake time passed. Before each step every request out is answered and
 * settled (gfx__quiet): a slow reply never lets the clock run past the timer
 * its answer would set. */
static inline bool gfx__until(struct gfx *f, bool (*cond)(void *ctx), void *ctx, int64_t max_ms)
{
    int64_t end = clock__mono_ms() + max_ms;
    for (;;) {
        if (!gfx__quiet(f))
            return false;
        if (cond(ctx))
            return true;
        int64_t now = clock__mono_ms(), due = loop__next_due(f->ce.loop);
        if (now >= end)
            return false;
        comp_env__advance(&f->ce, (due < end ? due : end) - now);
    }
}

static inline bool gfx__until_metric(struct gfx *f, const char *name, const char *labels,
                                     double at_least, int64_t max_ms)
{
    struct gfx_metric m = {name, labels, at_least};
    return gfx__until(f, gfx__metric_reached, &m, max_ms);
}

/* The retained busy topic of upn, or NULL. */
static inline const char *gfx__busy(struct gfx *f, const char *upn)
{
    char id[IDS_MAX_ID], topic[IDS_MAX_ID + 256];
    assert_int_equal(ids__encode(upn, id, sizeof(id)) >= 0, 1);
    snprintf(topic, sizeof(topic), "%steams/%s/busy", f->ce.cfg->mqtt.topic_prefix, id);
    return fake_bus__retained(f->ce.bus, topic);
}

struct gfx_busy {
    struct gfx *f;
    const char *upn, *want; /* a substring of the retained payload */
};

static inline bool gfx__busy_matches(void *ctx)
{
    struct gfx_busy *b = ctx;
    const char *p = gfx__busy(b->f, b->upn);
    return p && strstr(p, b->want);
}

/* Waits (real time) until upn's retained busy topic holds want. */
static inline bool gfx__wait_busy(struct gfx *f, const char *upn, const char *want)
{
    struct gfx_busy b = {f, upn, want};
    return comp_env__wait(&f->ce, gfx__busy_matches, &b, GF_WAIT_MS);
}

/* The body of the n-th request method path (malloc'd), or NULL. */
static inline char *gfx__body(struct gfx *f, const char *method, const char *path, size_t n)
{
    char *req = canned_http__request(f->s, method, path, n);
    if (!req)
        return NULL;
    const char *b = strstr(req, "\r\n\r\n");
    char *out = strdup(b ? b + 4 : "");
    free(req);
    return out;
}

#endif
