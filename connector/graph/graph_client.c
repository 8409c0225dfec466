/* The Graph client; see graph_client.h and docs/graph.md "The Graph client".
 *
 * A request first waits for its token, then (metered requests) for its
 * units of the tenant's presence budget, in order of arrival, then goes out
 * on the process's HTTP client. A 401 sends it again at once with a new
 * token, without taking units again: the budget counts what Graph serves,
 * and the 401 was refused before that. */
#include "graph/graph_client.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/status.h"
#include "core/str.h"
#include "graph/ratelimit.h"
#include "graph/tokens.h"

#define CLIENT_TIMEOUT_MS   30000
#define CLIENT_THROTTLED_MS 1000 /* a 429/503/504 without Retry-After */
/* Graph counts a request when it arrives, the budget when it leaves: a
 * request delayed on the way (a slow $batch) could land in the next window.
 * One second more on the window keeps every arrival window within the
 * limit; a request's way to Graph takes milliseconds (docs/graph.md). */
#define CLIENT_WINDOW_MARGIN_MS 1000

struct graph_client_tenant {
    struct graph_client *gc;
    const char *name;
    char *api_url; /* without a trailing '/' */
    char *token_url;
    const char *client_id;
    struct gtoken app;
    struct gtoken *accounts;
    size_t n_accounts;
    struct ratelimit budget;
    struct creq *q_head, *q_tail; /* waiting for the budget */
    loop_timer_id q_timer;
    int64_t q_timer_at;
};

struct graph_client {
    struct loop *loop;
    struct http_client *http;
    struct graph_client_tenant *tenants;
    size_t n_tenants;
    bool stopping;
    int64_t timeout_ms; /* a request's when it names none */
    void (*status_fn)(void *ctx, const char *tenant);
    void *status_ctx;
};

/* One request in the client. */
struct creq {
    struct graph_client_tenant *t;
    struct gtoken *tok;
    char method[8];
    char *url;
    char *body;
    const char *kind;
    unsigned units;
    bool units_taken; /* its budget units are spent (the 401 retry skips them) */
    bool fail_fast;
    int64_t timeout_ms;
    char *bearer; /* the token it carries (to drop on a 401) */
    int tries_401;
    graph_response_fn done;
    void *ctx;
    struct creq *next;
};

static void graph_client__pump(struct graph_client_tenant *t);

const char *graph_client__kind(const char *path)
{
    if (!path)
        return "other";
    if (strncmp(path, "/$batch", 7) == 0)
        return "batch";
    if (strncmp(path, "/communications/getPresencesByUserId", 36) == 0)
        return "presences";
    if (strncmp(path, "/subscriptions", 14) == 0)
        return "subscriptions";
    if (strncmp(path, "/users", 6) == 0)
        return strstr(path, "/presence") ? "presence" : "users";
    if (strncmp(path, "/communications/presences", 25) == 0)
        return "presence";
    return "other";
}

size_t graph_client__budget_for(unsigned roles)
{
    bool graph = roles & CONFIG_ROLE_GRAPH, mapper = roles & CONFIG_ROLE_MAPPER;
    if (graph && mapper)
        return GRAPH_PRESENCE_LIMIT;
    /* A split deployment: the graph process only reads (one request per 650
     * users and resync, or per basic-notification POST), the mapper process
     * reads and writes. */
    return mapper ? GRAPH_PRESENCE_LIMIT - 100 : 100;
}

/* ---- completion ---- */

static void graph_client__req_free(struct creq *r)
{
    free(r->url);
    free(r->body);
    free(r->bearer);
    free(r);
}

static void graph_client__req_finish(struct creq *r, const struct graph_response *res)
{
    r->done(r->ctx, res);
    graph_client__req_free(r);
}

static void graph_client__req_abort(struct creq *r)
{
    struct graph_response res = {.aborted = true, .retry_after_ms = -1};
    graph_client__req_finish(r, &res);
}

static void graph_client__req_fail(struct creq *r, const char *error)
{
    struct graph_response res = {.status = 0, .retry_after_ms = -1, .error = error};
    graph_client__req_finish(r, &res);
}

static void graph_client__count(const struct creq *r, int status)
{
    char labels[240];
    if (status > 0)
        snprintf(labels, sizeof(labels), "tenant=\"%s\",kind=\"%s\",status=\"%d\"", r->t->name,
                 r->kind, status);
    else
        snprintf(labels, sizeof(labels), "tenant=\"%s\",kind=\"%s\",status=\"error\"", r->t->name,
                 r->kind);
    metrics__inc("graph_requests_total", labels, 1);
}

static void graph_client__block(struct graph_client_tenant *t, int64_t retry_after_ms)
{
    int64_t ms = retry_after_ms >= 0 ? retry_after_ms : CLIENT_THROTTLED_MS;
    ratelimit__block(&t->budget, clock__mono_ms() + ms);
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__inc("graph_throttled_total", labels, 1);
    LOG_INFO("graph", "presence requests throttled tenant=%s wait_ms=%lld", t->name, (long long)ms);
}

bool graph_client__budget_tight(struct graph_client_tenant *t)
{
    if (t->q_head)
        return true;
    return ratelimit__available(&t->budget, clock__mono_ms()) < t->budget.limit / 2;
}

void graph_client__throttled(struct graph_client_tenant *t, int64_t retry_after_ms)
{
    graph_client__block(t, retry_after_ms);
    graph_client__pump(t);
}

/* ---- sending ---- */

static void graph_client__req_token(void *ctx, const char *bearer, const char *error);

static void graph_client__req_reply(void *ctx, const struct http_result *res)
{
    struct creq *r = ctx;
    struct graph_client_tenant *t = r->t;
    if (t->gc->stopping) {
        graph_client__req_abort(r);
        return;
    }
    graph_client__count(r, res->status);
    if (res->status == 401 && r->tries_401 == 0) {
        /* Once, now: the token expired early or was revoked. */
        LOG_INFO("graph", "401 from Graph, new token and again tenant=%s kind=%s", t->name,
                 r->kind);
        r->tries_401++;
        tokens__invalidate(r->tok, r->bearer);
        tokens__get(r->tok, graph_client__req_token, r, r->fail_fast);
        return;
    }
    if (r->units && (res->status == 429 || res->status == 503 || res->status == 504)) {
        graph_client__block(t, res->retry_after_ms);
        graph_client__pump(t);
    }
    struct graph_response out = {
        .status = res->status,
        .body = res->body,
        .body_len = res->body_len,
        .retry_after_ms = res->retry_after_ms,
        .error = res->status  ? NULL
                 : res->error ? res->error
                              : "no answer",
    };
    graph_client__req_finish(r, &out);
}

static void graph_client__req_dispatch(struct creq *r)
{
    /* a token renewed while it waited for the budget is the better one */
    const char *now = tokens__current(r->tok);
    if (now && strcmp(now, r->bearer) != 0) {
        char *b = strdup(now);
        if (b) {
            free(r->bearer);
            r->bearer = b;
        }
    }
    struct http_call call = {
        .method = r->method,
        .url = r->url,
        .body = r->body,
        .body_len = r->body ? strlen(r->body) : 0,
        .content_type = r->body ? "application/json" : NULL,
        .bearer = r->bearer,
        .timeout_ms = r->timeout_ms,
    };
    if (http_client__send(r->t->gc->http, &call, graph_client__req_reply, r) != 0)
        graph_client__req_fail(r, "cannot send");
}

static void graph_client__req_enqueue(struct creq *r)
{
    struct graph_client_tenant *t = r->t;
    r->next = NULL;
    if (t->q_tail)
        t->q_tail->next = r;
    else
        t->q_head = r;
    t->q_tail = r;
}

static void graph_client__req_token(void *ctx, const char *bearer, const char *error)
{
    struct creq *r = ctx;
    if (!bearer || r->t->gc->stopping) {
        if (error && !r->t->gc->stopping)
            graph_client__req_fail(r, error);
        else
            graph_client__req_abort(r);
        return;
    }
    char *b = strdup(bearer);
    if (!b) {
        graph_client__req_fail(r, "out of memory");
        return;
    }
    free(r->bearer);
    r->bearer = b;
    if (r->units && !r->units_taken) {
        graph_client__req_enqueue(r);
        graph_client__pump(r->t);
        return;
    }
    graph_client__req_dispatch(r);
}

static void graph_client__on_timer(void *arg)
{
    struct graph_client_tenant *t = arg;
    t->q_timer = 0;
    t->q_timer_at = 0;
    graph_client__pump(t);
}

/* Sends the queue's head while the budget allows; else a timer for when it
 * will. */
static void graph_client__pump(struct graph_client_tenant *t)
{
    struct graph_client *gc = t->gc;
    int64_t now = clock__mono_ms();
    while (t->q_head && !gc->stopping) {
        struct creq *r = t->q_head;
        size_t units = r->units < t->budget.limit ? r->units : t->budget.limit;
        if (ratelimit__available(&t->budget, now) < units) {
            int64_t at = ratelimit__when(&t->budget, units, now);
            if (t->q_timer && t->q_timer_at <= at)
                return;
            loop__timer_cancel(gc->loop, t->q_timer);
            t->q_timer_at = at;
            t->q_timer = loop__timer(gc->loop, at > now ? at - now : 1, graph_client__on_timer, t);
            return;
        }
        ratelimit__take(&t->budget, units, now);
        t->q_head = r->next;
        if (!t->q_head)
            t->q_tail = NULL;
        r->next = NULL;
        r->units_taken = true;
        char labels[160];
        snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
        metrics__inc("graph_presence_requests_total", labels, (double)r->units);
        graph_client__req_dispatch(r);
    }
}

void graph_client__set_timeout(struct graph_client *gc, int64_t ms)
{
    if (gc && ms > 0)
        gc->timeout_ms = ms;
}

int graph_client__send(struct graph_client_tenant *t, const struct graph_request *req,
                       graph_response_fn done, void *ctx)
{
    if (!t || !req || !req->method || (!req->path && !req->url) || !done || t->gc->stopping)
        return -1;
    struct creq *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->t = t;
    r->tok = req->token ? req->token : &t->app;
    snprintf(r->method, sizeof(r->method), "%s", req->method);
    if (req->path) {
        size_t n = strlen(t->api_url) + strlen(req->path) + 1;
        r->url = malloc(n);
        if (r->url)
            snprintf(r->url, n, "%s%s", t->api_url, req->path);
    }
    else {
        r->url = strdup(req->url);
    }
    const char *below = req->path;
    if (!below && r->url && strncmp(r->url, t->api_url, strlen(t->api_url)) == 0)
        below = r->url + strlen(t->api_url);
    r->kind = graph_client__kind(below);
    r->body = req->body ? strdup(req->body) : NULL;
    r->units = req->units;
    r->fail_fast = req->fail_fast;
    r->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : t->gc->timeout_ms;
    r->done = done;
    r->ctx = ctx;
    if (!r->url || (req->body && !r->body)) {
        graph_client__req_free(r);
        return -1;
    }
    tokens__get(r->tok, graph_client__req_token, r, r->fail_fast);
    return 0;
}

/* ---- tenants and status ---- */

struct graph_client_tenant *graph_client__tenant(struct graph_client *gc, const char *name)
{
    for (size_t i = 0; gc && name && i < gc->n_tenants; i++) {
        if (strcmp(gc->tenants[i].name, name) == 0)
            return &gc->tenants[i];
    }
    return NULL;
}

const char *graph_client__name(const struct graph_client_tenant *t)
{
    return t->name;
}

const char *graph_client__client_id(const struct graph_client_tenant *t)
{
    return t->client_id;
}

struct gtoken *graph_client__app(struct graph_client_tenant *t)
{
    return &t->app;
}

struct gtoken *graph_client__account(struct graph_client_tenant *t, size_t i)
{
    return i < t->n_accounts ? &t->accounts[i] : NULL;
}

cJSON *graph_client__auth_json(const struct graph_client_tenant *t, bool *ok)
{
    cJSON *auth = cJSON_CreateObject();
    bool good = !tokens__failing(&t->app);
    cJSON_AddItemToObject(auth, "app", tokens__status_json(&t->app));
    if (t->accounts) {
        cJSON *accts = cJSON_AddArrayToObject(auth, "accounts");
        for (size_t a = 0; a < t->n_accounts; a++) {
            cJSON_AddItemToArray(accts, tokens__status_json(&t->accounts[a]));
            good = good && !tokens__failing(&t->accounts[a]);
        }
    }
    cJSON_AddStringToObject(auth, "state", good ? "ok" : "error");
    if (ok)
        *ok = good;
    return auth;
}

/* The client's own section, when no Graph side publishes one. */
static void graph_client__publish_status(struct graph_client_tenant *t)
{
    cJSON *g = cJSON_CreateObject();
    if (!g)
        return;
    cJSON_AddItemToObject(g, "auth", graph_client__auth_json(t, NULL));
    status__set(t->name, "graph", g);
}

static void graph_client__token_state(void *ctx)
{
    struct graph_client_tenant *t = ctx;
    struct graph_client *gc = t->gc;
    if (gc->stopping)
        return;
    if (gc->status_fn)
        gc->status_fn(gc->status_ctx, t->name);
    else
        graph_client__publish_status(t);
}

void graph_client__on_status(struct graph_client *gc, void (*fn)(void *ctx, const char *tenant),
                             void *ctx)
{
    if (!gc)
        return;
    gc->status_fn = fn;
    gc->status_ctx = ctx;
}

void graph_client__start(struct graph_client *gc)
{
    for (size_t i = 0; !gc->status_fn && i < gc->n_tenants; i++)
        graph_client__publish_status(&gc->tenants[i]);
}

/* ---- life cycle ---- */

static int graph_client__tenant_init(struct graph_client *gc, struct graph_client_tenant *t,
                                     const struct tenant_config *tc,
                                     const struct graph_client_options *o)
{
    const struct graph_config *g = &tc->graph;
    t->gc = gc;
    t->name = tc->name;
    t->client_id = g->client_id ? g->client_id : "";
    t->api_url = str__trim_slash(g->api_url ? g->api_url : "");
    char *login = str__trim_slash(g->login_url ? g->login_url : "");
    if (login && g->tenant_id) {
        size_t n = strlen(login) + strlen(g->tenant_id) + 32;
        t->token_url = malloc(n);
        if (t->token_url)
            snprintf(t->token_url, n, "%s/%s/oauth2/v2.0/token", login, g->tenant_id);
    }
    free(login);
    if (!t->api_url || !t->token_url ||
        ratelimit__init(&t->budget, o->budget, o->window_ms + CLIENT_WINDOW_MARGIN_MS) != 0)
        return -1;
    struct gtoken_config c = {
        .loop = gc->loop,
        .http = gc->http,
        .tenant = t->name,
        .token_url = t->token_url,
        .client_id = t->client_id,
        .secret = g->client_secret.value ? g->client_secret.value : "",
        .on_state = graph_client__token_state,
        .state_ctx = t,
    };
    if (g->client_secret.value)
        log__redact(g->client_secret.value);
    tokens__init(&t->app, &c);
    if (!o->accounts)
        return 0;
    t->n_accounts = g->n_accounts;
    t->accounts = calloc(t->n_accounts ? t->n_accounts : 1, sizeof(*t->accounts));
    if (!t->accounts)
        return -1;
    for (size_t a = 0; a < t->n_accounts; a++) {
        c.username = g->accounts[a].username;
        c.password = g->accounts[a].password.value;
        tokens__init(&t->accounts[a], &c);
    }
    return 0;
}

static void graph_client__describe(void)
{
    metrics__describe("graph_requests_total", METRIC_COUNTER,
                      "Graph API requests answered, by kind and HTTP status (error: no answer)");
    metrics__describe("graph_presence_requests_total", METRIC_COUNTER,
                      "Presence requests sent, as Graph counts them against its limit (each "
                      "$batch item one, a getPresencesByUserId one)");
    metrics__describe("graph_throttled_total", METRIC_COUNTER,
                      "Presence requests or $batch items answered 429/503/504");
    metrics__describe("graph_token_refreshes_total", METRIC_COUNTER,
                      "Graph tokens acquired (account=\"app\" or a service account)");
    metrics__describe("graph_token_failures_total", METRIC_COUNTER,
                      "Failed Graph token requests (code: AADSTS code, http_<status> or "
                      "unreachable)");
}

struct graph_client *graph_client__new(const struct graph_client_options *o)
{
    if (!o || !o->loop || !o->http || !o->cfg || o->budget == 0 || o->window_ms <= 0)
        return NULL;
    struct graph_client *gc = calloc(1, sizeof(*gc));
    if (!gc)
        return NULL;
    gc->loop = o->loop;
    gc->timeout_ms = CLIENT_TIMEOUT_MS;
    gc->http = o->http;
    graph_client__describe();
    gc->tenants = calloc(o->cfg->n_tenants ? o->cfg->n_tenants : 1, sizeof(*gc->tenants));
    if (!gc->tenants) {
        free(gc);
        return NULL;
    }
    for (size_t i = 0; i < o->cfg->n_tenants; i++) {
        gc->n_tenants++;
        if (graph_client__tenant_init(gc, &gc->tenants[i], &o->cfg->tenants[i], o) != 0) {
            graph_client__free(gc);
            return NULL;
        }
        char labels[160];
        snprintf(labels, sizeof(labels), "tenant=\"%s\"", gc->tenants[i].name);
        metrics__inc("graph_presence_requests_total", labels, 0);
        metrics__inc("graph_throttled_total", labels, 0);
    }
    return gc;
}

void graph_client__stop(struct graph_client *gc)
{
    if (!gc || gc->stopping)
        return;
    gc->stopping = true;
    for (size_t i = 0; i < gc->n_tenants; i++) {
        struct graph_client_tenant *t = &gc->tenants[i];
        loop__timer_cancel(gc->loop, t->q_timer);
        t->q_timer = 0;
        while (t->q_head) {
            struct creq *r = t->q_head;
            t->q_head = r->next;
            graph_client__req_abort(r);
        }
        t->q_tail = NULL;
        tokens__stop(&t->app);
        for (size_t a = 0; a < t->n_accounts; a++)
            tokens__stop(&t->accounts[a]);
    }
}

void graph_client__free(struct graph_client *gc)
{
    if (!gc)
        return;
    graph_client__stop(gc);
    for (size_t i = 0; i < gc->n_tenants; i++) {
        struct graph_client_tenant *t = &gc->tenants[i];
        tokens__free(&t->app);
        for (size_t a = 0; a < t->n_accounts; a++)
            tokens__free(&t->accounts[a]);
        free(t->accounts);
        free(t->api_url);
        free(t->token_url);
        ratelimit__free(&t->budget);
    }
    free(gc->tenants);
    free(gc);
}
