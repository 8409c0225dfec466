/* The Graph side as a daemon component (docs/graph.md).
 *
 * init: per tenant the URLs, tokens, the notification key store (when a
 * certificate is configured) and the webhook routes. start: sign in, look up
 * the users, subscribe, resync. reload (SIGHUP): user lists changed -> look
 * up the new ones, re-plan the subscriptions. stop: cancel timers, join the
 * decryption workers, stop the HTTP client. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/status.h"
#include "core/str.h"
#include "core/tunables.h"
#include "core/workqueue.h"
#include "component.h"
#include "graph/client.h"
#include "graph/gside.h"
#include "graph/jwt.h"
#include "graph/notify_crypto.h"

#define GSIDE_QUEUE_MAX 10000

struct gtenant *gside__tenant(struct gside *side, const char *name)
{
    for (size_t i = 0; i < side->n_tenants; i++) {
        if (strcmp(side->tenants[i].name, name) == 0)
            return &side->tenants[i];
    }
    return NULL;
}

struct gtoken *gside__account(struct gtenant *t, int a)
{
    return graph_client__account(t->gc, (size_t)a);
}

/* ---- Graph calls through the process's client --------------------------- */

static void gcall__answered(void *ctx, const struct graph_response *res)
{
    struct gcall *c = ctx;
    if (res->aborted || c->t->side->stopping) {
        c->done(c, NULL);
        free(c);
        return;
    }
    struct http_result hr = {
        .status = res->status,
        .error = res->error,
        .body = (char *)(res->body ? res->body : ""),
        .body_len = res->body ? res->body_len : 0,
        .retry_after_ms = res->retry_after_ms,
    };
    c->done(c, &hr);
    free(c);
}

void gcall__start_metered(struct gtenant *t, struct gtoken *tok, const char *method, char *url,
                          char *body, unsigned units, gcall_done_fn done, void *ctx, int64_t aux)
{
    struct gcall *c = calloc(1, sizeof(*c));
    struct gcall tmp = {.t = t, .done = done, .ctx = ctx, .aux = aux};
    if (c)
        *c = tmp;
    struct graph_request req = {
        .method = method, .url = url, .body = body, .token = tok, .units = units};
    int rc = c && url ? graph_client__send(t->gc, &req, gcall__answered, c) : -1;
    free(url);
    free(body);
    if (rc == 0)
        return;
    free(c);
    done(&tmp, NULL);
}

void gcall__start(struct gtenant *t, struct gtoken *tok, const char *method, char *url, char *body,
                  gcall_done_fn done, void *ctx, int64_t aux)
{
    gcall__start_metered(t, tok, method, url, body, 0, done, ctx, aux);
}

/* The client's token state changed: rebuild that tenant's section. */
static void gside__on_auth(void *ctx, const char *tenant)
{
    struct gtenant *t = gside__tenant(ctx, tenant);
    if (t)
        gside__status(t);
}

void gside__status(struct gtenant *t)
{
    cJSON *g = cJSON_CreateObject();
    if (!g)
        return;
    bool auth_ok = true;
    cJSON_AddItemToObject(g, "auth", graph_client__auth_json(t->gc, &auth_ok));
    cJSON *users = cJSON_AddObjectToObject(g, "users");
    size_t ok = 0;
    cJSON *missing = cJSON_CreateArray();
    for (size_t i = 0; i < t->n_users; i++) {
        ok += t->users[i].rs == USER_OK;
        if (t->users[i].rs == USER_NOT_FOUND)
            cJSON_AddItemToArray(missing, cJSON_CreateString(t->users[i].upn));
    }
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__set("graph_users_resolved", labels, (double)ok);
    subs__metrics(t);
    cJSON_AddNumberToObject(users, "configured", (double)t->n_users);
    cJSON_AddNumberToObject(users, "resolved", (double)ok);
    cJSON_AddItemToObject(users, "not_found", missing);
    cJSON_AddItemToObject(g, "subscriptions", subs__status_json(t));
    char ts[32];
    if (t->last_resync_wall_ms)
        cJSON_AddStringToObject(g, "last_resync",
                                clock__iso8601(t->last_resync_wall_ms, ts, sizeof(ts)));
    else
        cJSON_AddNullToObject(g, "last_resync");
    cJSON_AddStringToObject(g, "notifications", t->keys ? "rich" : "basic");
    if (!t->keys)
        cJSON_AddStringToObject(g, "notifications_notice", GSIDE_BASIC_NOTICE);
    cJSON_AddItemToObject(g, "tenant", identity__status_json(t));

    /* ready: every account that has users holds a live subscription */
    bool ready = auth_ok && t->resolved_once;
    const char *reason = !auth_ok ? "Graph sign-in failing" : NULL;
    if (!t->resolved_once && !reason)
        reason = "looking up users";
    for (size_t a = 0; a < t->n_accounts && ready; a++) {
        if (t->subs[a].n_ids && t->subs[a].state != SUB_ACTIVE) {
            ready = false;
            reason = "subscriptions not live";
        }
    }
    cJSON_AddBoolToObject(g, "ready", ready);
    status__set(t->name, "graph", g);
    char comp[160];
    snprintf(comp, sizeof(comp), "graph/%s", t->name);
    health__set(comp, ready, ready ? NULL : reason);
}

static int gside__keys(struct gtenant *t)
{
    const struct graph_config *g = &t->cfg->graph;
    if (!g->encryption_cert_file)
        return 0;
    char err[256];
    t->cert_id = str__cat("presence-sync-", t->name, NULL);
    t->keys = notify_crypto__store_new();
    if (!t->cert_id || !t->keys ||
        notify_crypto__store_add_files(t->keys, t->cert_id, g->encryption_cert_file,
                                       g->encryption_key_file, err, sizeof(err)) != 0) {
        LOG_ERROR("graph",
                  "cannot load the notification certificate tenant=%s cert=%s "
                  "error=\"%s\"",
                  t->name, g->encryption_cert_file, t->keys ? err : "out of memory");
        return -1;
    }
    char thumb[48];
    if (notify_crypto__store_thumbprint(t->keys, t->cert_id, thumb, sizeof(thumb)) == 0)
        LOG_INFO("graph", "rich notifications tenant=%s certificate_id=%s thumbprint=%s", t->name,
                 t->cert_id, thumb);
    return 0;
}

static int gside__tenant_init(struct gside *side, struct gtenant *t, size_t i)
{
    struct config *cfg = side->env->cfg;
    t->side = side;
    t->index = i;
    t->cfg = &cfg->tenants[i];
    t->name = t->cfg->name;
    pthread_mutex_init(&t->reg_lock, NULL);
    pthread_mutex_init(&t->ident_lock, NULL);
    struct graph_config *g = &t->cfg->graph;
    t->gc = graph_client__tenant(side->gc, t->name);
    if (!t->gc)
        return -1;
    t->app = graph_client__app(t->gc);
    char *pub = str__trim_slash(cfg->http.public_url);
    char *login = str__trim_slash(g->login_url);
    if (!pub || !login) {
        free(pub);
        free(login);
        return -1;
    }
    int ident = identity__init(t, login);
    t->notify_url = str__cat(pub, "/graph/notify/", t->name, NULL);
    t->lifecycle_url = str__cat(pub, "/graph/lifecycle/", t->name, NULL);
    free(pub);
    free(login);
    t->jwks = jwks_cache__new();
    t->n_accounts = g->n_accounts;
    t->subs = calloc(t->n_accounts ? t->n_accounts : 1, sizeof(*t->subs));
    t->reg = calloc(t->n_accounts ? t->n_accounts : 1, sizeof(*t->reg));
    if (ident != 0 || !t->notify_url || !t->lifecycle_url || !t->jwks || !t->subs || !t->reg)
        return -1;
    for (size_t a = 0; a < t->n_accounts; a++) {
        t->subs[a].t = t;
        t->subs[a].account = (int)a;
        backoff__init(&t->subs[a].bo, 2000, 5 * 60 * 1000);
    }
    backoff__init(&t->resolve_bo, 2000, 5 * 60 * 1000);
    if (gside__keys(t) < 0)
        return -1;
    if (users__sync(t) < 0)
        return -1;
    if (t->n_accounts == 0 && t->n_users)
        LOG_WARN("graph", "no service accounts: no presence subscriptions tenant=%s", t->name);
    if (!t->keys)
        LOG_WARN("graph", "basic notifications tenant=%s: %s", t->name, GSIDE_BASIC_NOTICE);
    LOG_INFO("graph", "tenant ready tenant=%s users=%zu accounts=%zu notify_url=%s", t->name,
             t->n_users, t->n_accounts, t->notify_url);
    return 0;
}

static void gside__tenant_free(struct gtenant *t)
{
    if (!t->side)
        return;
    subs__free(t);
    users__free(t);
    free(t->subs);
    free(t->reg);
    identity__free(t);
    free(t->jwks_url);
    free(t->notify_url);
    free(t->lifecycle_url);
    free(t->cert_id);
    notify_crypto__store_free(t->keys);
    jwks_cache__free(t->jwks);
    pthread_mutex_destroy(&t->reg_lock);
    pthread_mutex_destroy(&t->ident_lock);
}

static void gside__free(void *state)
{
    struct gside *side = state;
    if (!side)
        return;
    workqueue__free(side->wq); /* no-op when stop ran */
    side->wq = NULL;
    side->stopping = true;
    for (size_t i = 0; i < side->n_tenants; i++)
        gside__tenant_free(&side->tenants[i]);
    free(side->tenants);
    free(side);
}

static void gside__describe_metrics(void)
{
    metrics__describe("graph_resyncs_total", METRIC_COUNTER, "Full presence re-reads");
    metrics__describe("graph_presence_read_failures_total", METRIC_COUNTER,
                      "Failed getPresencesByUserId chunks");
    metrics__describe("graph_presence_stale_total", METRIC_COUNTER,
                      "Out-of-order presence updates dropped");
    metrics__describe(
        "graph_users_resolved", METRIC_GAUGE,
        "Configured users resolved to Azure AD object ids (users mapped, Graph side)");
    metrics__describe("graph_subscriptions", METRIC_GAUGE, "Live presence subscriptions");
    metrics__describe("graph_subscription_expiry_timestamp_seconds", METRIC_GAUGE,
                      "Unix time at which the account's presence subscription expires, as "
                      "Graph returned it (0: none live)");
    metrics__describe("graph_subscriptions_created_total", METRIC_COUNTER,
                      "Presence subscriptions created");
    metrics__describe("graph_subscriptions_renewed_total", METRIC_COUNTER,
                      "Presence subscriptions renewed (PATCH)");
    metrics__describe("graph_subscriptions_reauthorized_total", METRIC_COUNTER,
                      "Presence subscriptions reauthorized");
    metrics__describe("graph_subscription_failures_total", METRIC_COUNTER,
                      "Failed subscription create/renew/reauthorize requests");
    metrics__describe("graph_jwks_fetches_total", METRIC_COUNTER,
                      "Fetches of the keys that sign Graph's validationTokens (at most one per "
                      "10 s, however many unknown kids arrive)");
}

static int gside__init(const struct daemon_env *env, void **state)
{
    struct gside *side = calloc(1, sizeof(*side));
    if (!side)
        return -1;
    *state = side;
    side->env = env;
    side->loop = env->loop;
    side->bus = env->bus;
    const struct tunables *tun = env->tun ? env->tun : tunables__defaults();
    side->renew_override_ms = tun->graph_renew_ms;
    side->resync_override_ms = tun->graph_resync_ms;
    gside__describe_metrics();
    side->n_tenants = env->cfg->n_tenants;
    side->tenants = calloc(side->n_tenants ? side->n_tenants : 1, sizeof(*side->tenants));
    side->gc = env->services ? env->services->graph_client : NULL;
    if (!side->gc)
        LOG_ERROR("graph", "no Graph client in this process");
    /* decryption workers, one per core */
    side->wq = workqueue__new(0, GSIDE_QUEUE_MAX, webhook__job_free);
    if (!side->tenants || !side->gc || !side->wq)
        goto fail;
    for (size_t i = 0; i < side->n_tenants; i++) {
        if (gside__tenant_init(side, &side->tenants[i], i) < 0) {
            LOG_ERROR("graph", "cannot set up tenant tenant=%s", env->cfg->tenants[i].name);
            goto fail;
        }
    }
    if (webhook__routes(side) < 0) {
        LOG_ERROR("graph", "cannot add the webhook routes");
        goto fail;
    }
    graph_client__on_status(side->gc, gside__on_auth, side);
    LOG_INFO("graph", "graph side ready tenants=%zu workers=%zu", side->n_tenants,
             workqueue__threads(side->wq));
    return 0;
fail:
    gside__free(side);
    *state = NULL;
    return -1;
}

static int gside__start(void *state)
{
    struct gside *side = state;
    side->started = true;
    for (size_t i = 0; i < side->n_tenants; i++) {
        struct gtenant *t = &side->tenants[i];
        gside__status(t);
        identity__start(t);
        users__resolve(t);
        resync__start_timer(t);
    }
    return 0;
}

static void gside__reload(void *state)
{
    struct gside *side = state;
    if (side->stopping)
        return;
    for (size_t i = 0; i < side->n_tenants; i++) {
        struct gtenant *t = &side->tenants[i];
        if (users__sync(t) < 0) {
            LOG_ERROR("graph", "reload failed for tenant tenant=%s", t->name);
            continue;
        }
        LOG_INFO("graph", "users reloaded tenant=%s users=%zu", t->name, t->n_users);
        /* lookups of new users, then subs__plan replaces what changed */
        users__resolve(t);
        gside__status(t);
    }
}

static void gside__stop(void *state)
{
    struct gside *side = state;
    side->stopping = true;
    /* workers first: after this nothing posts results any more */
    workqueue__free(side->wq);
    side->wq = NULL;
    for (size_t i = 0; i < side->n_tenants; i++) {
        struct gtenant *t = &side->tenants[i];
        loop__timer_cancel(side->loop, t->resolve_timer);
        t->resolve_timer = 0;
        identity__stop(t);
        resync__stop(t);
        subs__stop(t);
        char comp[160];
        snprintf(comp, sizeof(comp), "graph/%s", t->name);
        health__remove(comp);
    }
    /* pending calls complete (aborted) when the daemon stops the Graph client
     * and the HTTP client; they see `stopping` */
    graph_client__on_status(side->gc, NULL, NULL);
}

const struct daemon_component graph_component = {
    .name = "graph",
    .init = gside__init,
    .start = gside__start,
    .reload = gside__reload,
    .stop = gside__stop,
    .free = gside__free,
};
