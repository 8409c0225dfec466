/* The Graph side as a daemon component (docs/graph.md, docs/architecture.md
 * "The Graph side"): the composition root of the Graph modules.
 *
 * Per tenant it builds, bottom up, on the process's Graph client
 * (graph_client.h: tokens, calls, the presence budget):
 *   users (users.h) <- subscriptions (subscriptions.h), resync (resync.h)
 *   <- the webhook (webhook.h, one for all tenants),
 * plus the tenant's identity (identity.h: GUID, validation-token keys) and
 * its B/health section (graph_status.h), and wires the callbacks: a finished user
 * lookup plans the subscriptions and asks for a resync; a (re)created
 * subscription or a `missed` event asks for a resync. No module calls a
 * module above it, and none calls back into this file.
 *
 * init: URLs, the notification key store (when a certificate is
 * configured), the modules and the webhook routes. start: look up the users
 * (then subscribe, resync), read the tenant's identity. reload (SIGHUP): the
 * new user lists; new users are looked up and the subscriptions re-planned.
 * stop: join the decryption workers, cancel every module's timers.
 *
 * With several instances (docs/ha.md) only the one that writes for the
 * tenant (role/role.h) holds its subscriptions; every instance looks users
 * up, reads presence and answers notifications. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "core/bus.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/json.h"
#include "core/str.h"
#include "core/tunables.h"
#include "graph/graph_client.h"
#include "graph/identity.h"
#include "graph/notify_crypto.h"
#include "graph/resync.h"
#include "graph/graph_status.h"
#include "graph/subscriptions.h"
#include "graph/users.h"
#include "graph/webhook.h"
#include "role/role.h"

/* One tenant's modules. */
struct graph_side_tenant {
    struct graph_side *side;
    const char *name;
    struct tenant_config *cfg;
    struct graph_client_tenant *gc;
    char *notify_url;
    char *lifecycle_url;
    char *life_topic; /* B/lifecycle/<tenant>: forwarded lifecycle events */
    char *subs_topic; /* B/subscriptions/<tenant>: the clientStates' fingerprints */
    char *cert_id;
    struct notify_key_store *keys; /* NULL: basic notifications */
    struct graph_status *status;
    struct graph_identity *identity;
    struct graph_users *users;
    struct graph_subscriptions *subs;
    struct graph_resync *resync;
};

struct graph_side {
    const struct daemon_env *env;
    struct graph_client *gc;
    struct graph_webhook *webhook;
    struct graph_side_tenant *tenants;
    size_t n_tenants;
    bool stopping;
};

static struct graph_side_tenant *graph_side__tenant(struct graph_side *side, const char *name)
{
    for (size_t i = 0; i < side->n_tenants; i++) {
        if (side->tenants[i].name && strcmp(side->tenants[i].name, name) == 0)
            return &side->tenants[i];
    }
    return NULL;
}

/* ---- the wiring ------------------------------------------------------------------------- */

/* A lookup round ended: subscribe the resolved users, read everyone. */
static void graph_side__on_resolved(void *ctx, bool first)
{
    struct graph_side_tenant *t = ctx;
    struct graph_user *const *by_id;
    size_t n = users__resolved(t->users, &by_id);
    char **ids = malloc((n ? n : 1) * sizeof(*ids));
    if (ids) {
        for (size_t i = 0; i < n; i++)
            ids[i] = by_id[i]->id;
        subscriptions__plan(t->subs, ids, n);
        free(ids);
    }
    resync__request(t->resync, first ? "start" : "users looked up");
}

/* The role changed (role/role.h): the subscriptions follow it. */
static void graph_side__on_role(void *ctx, const char *tenant, bool writes)
{
    struct graph_side *side = ctx;
    struct graph_side_tenant *t = graph_side__tenant(side, tenant);
    if (t && !side->stopping) {
        resync__set_standby(t->resync, !writes);
        subscriptions__set_writes(t->subs, writes);
    }
}

static void graph_side__want_resync(void *ctx, const char *reason)
{
    struct graph_side_tenant *t = ctx;
    resync__request(t->resync, reason);
}

/* A standby's verified lifecycle event, to the active instance: QoS 1, not
 * retained (docs/ha.md "Lifecycle events", docs/topics.md). */
static void graph_side__forward_lifecycle(void *ctx, const char *sub_id, const char *event)
{
    struct graph_side_tenant *t = ctx;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "tenant", t->name);
    cJSON_AddStringToObject(j, "subscriptionId", sub_id);
    cJSON_AddStringToObject(j, "lifecycleEvent", event);
    char *payload = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!payload ||
        bus__publish(t->side->env->bus, t->life_topic, payload, strlen(payload), false) != 0)
        LOG_WARN("graph", "lifecycle event not forwarded tenant=%s id=%s event=%s", t->name, sub_id,
                 event);
    free(payload);
}

/* B/lifecycle/<tenant>: acted on only for this topic's tenant, named again
 * in the payload; the subscriptions ignore what this instance does not hold. */
static void graph_side__on_forwarded(void *ctx, const char *topic, const char *payload, size_t len,
                                     bool retained)
{
    struct graph_side_tenant *t = ctx;
    if (t->side->stopping || strcmp(topic, t->life_topic) != 0 || retained)
        return;
    cJSON *j = json__parse(payload, len);
    const char *tenant = json__str(j, "tenant"), *id = json__str(j, "subscriptionId");
    const char *event = json__str(j, "lifecycleEvent");
    if (!tenant || !id || !event || strcmp(tenant, t->name) != 0)
        LOG_WARN("graph", "forwarded lifecycle event refused tenant=%s topic=%s reason=%s", t->name,
                 topic, tenant && id && event ? "another tenant" : "malformed");
    else
        subscriptions__lifecycle_forwarded(t->subs, id, event);
    cJSON_Delete(j);
}

/* The active instance's fingerprints, retained (docs/ha.md "Client secret
 * rotation"); every instance keeps the last one it read. */
static void graph_side__publish_fingerprints(void *ctx, const char *payload)
{
    struct graph_side_tenant *t = ctx;
    /* a plain retained publish: sent again after a fence, when a broker
     * restart may have lost it */
    if (bus__publish(t->side->env->bus, t->subs_topic, payload, strlen(payload), true) != 0)
        LOG_WARN("graph", "subscription fingerprints not published tenant=%s", t->name);
}

static void graph_side__on_fingerprints(void *ctx, const char *topic, const char *payload,
                                        size_t len, bool retained)
{
    (void)retained;
    struct graph_side_tenant *t = ctx;
    if (t->side->stopping || strcmp(topic, t->subs_topic) != 0)
        return;
    if (subscriptions__known(t->subs, payload, len) < 0)
        LOG_WARN("graph", "subscription fingerprints refused tenant=%s topic=%s", t->name, topic);
}

/* The client's token state changed: that tenant's section is rebuilt. */
static void graph_side__on_auth(void *ctx, const char *tenant)
{
    struct graph_side_tenant *t = graph_side__tenant(ctx, tenant);
    if (t)
        graph_status__changed(t->status);
}

/* ---- B/health parts of this file -------------------------------------------------------- */

static void graph_side__auth_part(void *ctx, cJSON *section, struct graph_ready *r)
{
    struct graph_side_tenant *t = ctx;
    bool ok = true;
    cJSON_AddItemToObject(section, "auth", graph_client__auth_json(t->gc, &ok));
    if (!ok)
        graph_status__not_ready(r, "Graph sign-in failing");
}

static void graph_side__notify_part(void *ctx, cJSON *section, struct graph_ready *r)
{
    (void)r;
    struct graph_side_tenant *t = ctx;
    cJSON_AddStringToObject(section, "notifications", t->keys ? "rich" : "basic");
    if (!t->keys)
        cJSON_AddStringToObject(section, "notifications_notice", CONFIG_BASIC_NOTICE);
}

/* The section's members in this order: auth, users, subscriptions,
 * last_resync, notifications, tenant (docs/graph.md "B/health and /readyz"). */
static int graph_side__status_parts(struct graph_side_tenant *t)
{
    struct graph_status *s = t->status;
    if (graph_status__add(s, graph_side__auth_part, t) < 0 ||
        graph_status__add(s, users__status, t->users) < 0 ||
        graph_status__add(s, subscriptions__status, t->subs) < 0 ||
        graph_status__add(s, resync__status, t->resync) < 0 ||
        graph_status__add(s, graph_side__notify_part, t) < 0 ||
        graph_status__add(s, identity__status, t->identity) < 0)
        return -1;
    return 0;
}

/* ---- init -------------------------------------------------------------------------------- */

static int graph_side__keys(struct graph_side_tenant *t)
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

static int graph_side__urls(struct graph_side_tenant *t)
{
    char *pub = str__trim_slash(t->side->env->cfg->http.public_url);
    if (pub) {
        t->notify_url = str__cat(pub, "/graph/notify/", t->name, NULL);
        t->lifecycle_url = str__cat(pub, "/graph/lifecycle/", t->name, NULL);
    }
    free(pub);
    const char *b = t->side->env->cfg->mqtt.bridge_topic;
    t->life_topic = str__cat(b, "/lifecycle/", t->name, NULL);
    t->subs_topic = str__cat(b, "/subscriptions/", t->name, NULL);
    return t->notify_url && t->lifecycle_url && t->life_topic && t->subs_topic ? 0 : -1;
}

static struct graph_identity *graph_side__identity(struct graph_side_tenant *t)
{
    const struct daemon_env *env = t->side->env;
    char *login = str__trim_slash(t->cfg->graph.login_url);
    if (!login)
        return NULL;
    struct graph_identity_options o = {.loop = env->loop,
                                       .http = env->http_client,
                                       .tenant = t->name,
                                       .tenant_id = t->cfg->graph.tenant_id,
                                       .login_url = login,
                                       .status = t->status};
    struct graph_identity *id = identity__new(&o);
    free(login);
    return id;
}

/* users, subscriptions and resync of the tenant, wired. */
static int graph_side__modules(struct graph_side_tenant *t, const struct tunables *tun)
{
    const struct daemon_env *env = t->side->env;
    struct graph_users_options uo = {.loop = env->loop,
                                     .bus = env->bus,
                                     .client = t->gc,
                                     .tenant = t->name,
                                     .topic_prefix = env->cfg->mqtt.topic_prefix,
                                     .status = t->status,
                                     .on_resolved = graph_side__on_resolved,
                                     .ctx = t};
    t->users = users__new(&uo);
    struct graph_resync_options ro = {.loop = env->loop,
                                      .bus = env->bus,
                                      .client = t->gc,
                                      .users = t->users,
                                      .tenant = t->name,
                                      .graph = &t->cfg->graph,
                                      .period_ms = tun->graph_resync_ms,
                                      .status = t->status};
    t->resync = t->users ? resync__new(&ro) : NULL;
    bool ha = env->services && env->services->role && env->bus; /* docs/ha.md */
    struct graph_subscriptions_options so = {
        .loop = env->loop,
        .client = t->gc,
        .tenant = t->name,
        .graph = &t->cfg->graph,
        .notify_url = t->notify_url,
        .lifecycle_url = t->lifecycle_url,
        .keys = t->keys,
        .cert_id = t->cert_id,
        .renew_ms = tun->graph_renew_ms,
        .status = t->status,
        .want_resync = graph_side__want_resync,
        .ctx = t,
        .state_key = t->cfg->graph.client_secret.value,
        .role = env->services ? env->services->role : NULL,
        .standby = !role__writes(env->services ? env->services->role : NULL, t->name),
        .forward_lifecycle = ha ? graph_side__forward_lifecycle : NULL,
        .publish_fingerprints = ha ? graph_side__publish_fingerprints : NULL};
    t->subs = subscriptions__new(&so);
    if (t->resync)
        resync__set_standby(t->resync, so.standby);
    t->identity = graph_side__identity(t);
    if (!t->users || !t->resync || !t->subs || !t->identity)
        return -1;
    return graph_side__status_parts(t);
}

static int graph_side__tenant_init(struct graph_side *side, struct graph_side_tenant *t, size_t i)
{
    const struct tunables *tun = side->env->tun ? side->env->tun : tunables__defaults();
    t->side = side;
    t->cfg = &side->env->cfg->tenants[i];
    t->name = t->cfg->name;
    t->gc = graph_client__tenant(side->gc, t->name);
    t->status = graph_status__new(side->env->loop, t->name);
    if (!t->gc || !t->status || graph_side__urls(t) < 0 || graph_side__keys(t) < 0 ||
        graph_side__modules(t, tun) < 0)
        return -1;
    if (users__sync(t->users, t->cfg->users, t->cfg->n_users) < 0)
        return -1;
    struct webhook_tenant wt = {.name = t->name,
                                .client_id = t->cfg->graph.client_id,
                                .keys = t->keys,
                                .identity = t->identity,
                                .subs = t->subs,
                                .users = t->users,
                                .resync = t->resync};
    if (webhook__add_tenant(side->webhook, &wt) < 0)
        return -1;
    /* the active instance hears the lifecycle events a standby received */
    if (side->env->services && side->env->services->role && side->env->bus &&
        (bus__subscribe(side->env->bus, t->life_topic, graph_side__on_forwarded, t) < 0 ||
         bus__subscribe(side->env->bus, t->subs_topic, graph_side__on_fingerprints, t) < 0))
        return -1;
    if (t->cfg->graph.n_accounts == 0 && t->cfg->n_users)
        LOG_WARN("graph", "no service accounts: no presence subscriptions tenant=%s", t->name);
    if (!t->keys)
        LOG_WARN("graph", "basic notifications tenant=%s: %s", t->name, CONFIG_BASIC_NOTICE);
    LOG_INFO("graph", "tenant ready tenant=%s users=%zu accounts=%zu notify_url=%s", t->name,
             users__count(t->users), t->cfg->graph.n_accounts, t->notify_url);
    return 0;
}

static void graph_side__tenant_free(struct graph_side_tenant *t)
{
    if (!t->side)
        return;
    subscriptions__free(t->subs);
    resync__free(t->resync);
    users__free(t->users);
    identity__free(t->identity);
    graph_status__free(t->status);
    free(t->notify_url);
    free(t->lifecycle_url);
    free(t->life_topic);
    free(t->subs_topic);
    free(t->cert_id);
    notify_crypto__store_free(t->keys);
}

static void graph_side__free(void *state)
{
    struct graph_side *side = state;
    if (!side)
        return;
    side->stopping = true;
    webhook__free(side->webhook); /* joins the workers (no-op when stop ran) */
    for (size_t i = 0; i < side->n_tenants; i++)
        graph_side__tenant_free(&side->tenants[i]);
    free(side->tenants);
    free(side);
}

static void graph_side__describe_metrics(void)
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
    metrics__describe("graph_subscriptions_adopted_total", METRIC_COUNTER,
                      "Presence subscriptions another instance made, taken over (docs/ha.md)");
    metrics__describe("graph_subscriptions_reauthorized_total", METRIC_COUNTER,
                      "Presence subscriptions reauthorized");
    metrics__describe("graph_subscription_failures_total", METRIC_COUNTER,
                      "Failed subscription create/renew/reauthorize requests");
    metrics__describe("graph_jwks_fetches_total", METRIC_COUNTER,
                      "Fetches of the keys that sign Graph's validationTokens (at most one per "
                      "10 s, however many unknown kids arrive)");
}

static int graph_side__init(const struct daemon_env *env, void **state)
{
    struct graph_side *side = calloc(1, sizeof(*side));
    if (!side)
        return -1;
    *state = side;
    side->env = env;
    graph_side__describe_metrics();
    side->n_tenants = env->cfg->n_tenants;
    side->tenants = calloc(side->n_tenants ? side->n_tenants : 1, sizeof(*side->tenants));
    side->gc = env->services ? env->services->graph_client : NULL;
    if (!side->gc)
        LOG_ERROR("graph", "no Graph client in this process");
    side->webhook = webhook__new(env->loop, 0); /* decryption workers, one per core */
    if (!side->tenants || !side->gc || !side->webhook)
        goto fail;
    for (size_t i = 0; i < side->n_tenants; i++) {
        if (graph_side__tenant_init(side, &side->tenants[i], i) < 0) {
            LOG_ERROR("graph", "cannot set up tenant tenant=%s", env->cfg->tenants[i].name);
            goto fail;
        }
    }
    if (webhook__routes(side->webhook, env->http, env->cfg->http.max_body_bytes) < 0) {
        LOG_ERROR("graph", "cannot add the webhook routes");
        goto fail;
    }
    graph_client__on_status(side->gc, graph_side__on_auth, side);
    if (role__watch(env->services ? env->services->role : NULL, graph_side__on_role, side) < 0)
        goto fail;
    LOG_INFO("graph", "graph side ready tenants=%zu workers=%zu", side->n_tenants,
             webhook__workers(side->webhook));
    return 0;
fail:
    graph_side__free(side);
    *state = NULL;
    return -1;
}

static int graph_side__start(void *state)
{
    struct graph_side *side = state;
    for (size_t i = 0; i < side->n_tenants; i++) {
        struct graph_side_tenant *t = &side->tenants[i];
        graph_status__rebuild(t->status);
        identity__start(t->identity);
        users__resolve(t->users);
        resync__start(t->resync);
    }
    return 0;
}

static void graph_side__reload(void *state)
{
    struct graph_side *side = state;
    if (side->stopping)
        return;
    for (size_t i = 0; i < side->n_tenants; i++) {
        struct graph_side_tenant *t = &side->tenants[i];
        if (users__sync(t->users, t->cfg->users, t->cfg->n_users) < 0) {
            LOG_ERROR("graph", "reload failed for tenant tenant=%s", t->name);
            continue;
        }
        LOG_INFO("graph", "users reloaded tenant=%s users=%zu", t->name, users__count(t->users));
        /* lookups of new users; their end re-plans the subscriptions */
        users__resolve(t->users);
    }
}

static void graph_side__stop(void *state)
{
    struct graph_side *side = state;
    side->stopping = true;
    /* workers first: after this nothing posts results any more */
    webhook__stop(side->webhook);
    for (size_t i = 0; i < side->n_tenants; i++) {
        struct graph_side_tenant *t = &side->tenants[i];
        users__stop(t->users);
        identity__stop(t->identity);
        resync__stop(t->resync);
        subscriptions__stop(t->subs);
        graph_status__stop(t->status);
    }
    /* calls still out complete (aborted) when the daemon stops the Graph
     * client and the HTTP client; each module drops them after its stop */
    graph_client__on_status(side->gc, NULL, NULL);
}

const struct daemon_component graph_component = {
    .name = "graph",
    .init = graph_side__init,
    .start = graph_side__start,
    .reload = graph_side__reload,
    .stop = graph_side__stop,
    .free = graph_side__free,
};
