/* One service account's presence subscription; see subscription.h. */
#include "graph/subscription.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "graph/graph_client.h"
#include "graph/notify_crypto.h"
#include "graph/graph_status.h"
#include "graph/subscription_adopt.h"
#include "graph/tokens.h"
#include "role/role.h"

#define SUBSCRIPTION_RETRY_BASE 2000
#define SUBSCRIPTION_RETRY_MAX  (5 * 60 * 1000)
/* reauthorizationRequired refreshes the token only when it expires sooner */
#define SUBSCRIPTION_REAUTH_REFRESH_MS (10 * 60 * 1000)

char *subscription__resource(char *const *ids, size_t n)
{
    static const char head[] = "/communications/presences?$filter=id in (";
    size_t cap = sizeof(head) + 2;
    for (size_t i = 0; i < n; i++)
        cap += strlen(ids[i]) + 3;
    char *r = malloc(cap);
    if (!r)
        return NULL;
    size_t o = (size_t)snprintf(r, cap, "%s", head);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(r + o, cap - o, "%s'%s'", i ? "," : "", ids[i]);
    snprintf(r + o, cap - o, ")");
    return r;
}

/* The live id and clientState ("" when none) to the owner's registry. */
void subscription__live(const struct subscription *sub)
{
    bool live = sub->state == SUBSCRIPTION_ACTIVE;
    if (sub->env->on_live)
        sub->env->on_live(sub->env->ctx, sub->account, live ? sub->id : "",
                          live ? sub->client_state : "");
}

/* ---- helpers ------------------------------------------------------------------------------ */

void subscription__set_error(struct subscription *sub, const struct graph_response *res,
                             const char *what)
{
    char code[64] = "";
    cJSON *o = res->body ? json__parse(res->body, res->body_len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(c))
        snprintf(code, sizeof(code), "%s", c->valuestring);
    snprintf(sub->last_error, sizeof(sub->last_error), "%s: %d %s%s%.160s", what, res->status, code,
             cJSON_IsString(m) ? " " : "", cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(o);
    LOG_WARN("graph", "subscription request failed tenant=%s account=%s error=\"%s\"",
             sub->env->tenant, sub->username, sub->last_error);
}

/* Counts one subscription event for the tenant (created, renewed, ...). */
void subscription__count(const struct subscription *sub, const char *metric)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", sub->env->tenant);
    metrics__inc(metric, labels, 1);
}

void subscription__active(struct subscription *sub, const char *how, const char *metric)
{
    sub->state = SUBSCRIPTION_ACTIVE;
    sub->last_error[0] = '\0';
    backoff__reset(&sub->bo);
    subscription__live(sub);
    char exp[32];
    LOG_INFO("graph", "subscription %s tenant=%s account=%s id=%s users=%zu expires=%s", how,
             sub->env->tenant, sub->username, sub->id, sub->n_ids,
             clock__iso8601(sub->expires_wall_ms, exp, sizeof(exp)));
    subscription__count(sub, metric);
}

static void subscription__on_timer(void *arg)
{
    struct subscription *sub = arg;
    sub->timer = 0;
    subscription__ensure(sub);
}

static void subscription__schedule(struct subscription *sub, int64_t delay_ms)
{
    struct loop *loop = sub->env->loop;
    loop__timer_cancel(loop, sub->timer);
    sub->timer = loop__timer(loop, delay_ms < 0 ? 0 : delay_ms, subscription__on_timer, sub);
}

void subscription__retry(struct subscription *sub, const struct graph_response *res)
{
    int64_t d = backoff__next(&sub->bo);
    if (res && res->retry_after_ms > d)
        d = res->retry_after_ms;
    subscription__schedule(sub, d);
    graph_status__changed(sub->env->status);
}

static void subscription__forget(struct subscription *sub)
{
    sub->id[0] = '\0';
    sub->client_state[0] = '\0';
    sub->expires_wall_ms = 0;
    sub->state = SUBSCRIPTION_IDLE;
    subscription__live(sub);
    graph_status__changed(sub->env->status);
}

static int64_t subscription__renew_delay(const struct subscription *sub)
{
    /* half of what is left, so a failed renewal has the other half to retry */
    int64_t d = (sub->expires_wall_ms - clock__wall_ms()) / 2;
    int64_t ov = sub->env->renew_ms;
    if (ov > 0 && ov < d)
        d = ov;
    return d < SUBSCRIPTION_MIN_RENEW ? SUBSCRIPTION_MIN_RENEW : d;
}

/* After a success: recreate when the user list changed meanwhile, else
 * renew in time. */
void subscription__next(struct subscription *sub)
{
    if (sub->replan)
        subscription__ensure(sub);
    else
        subscription__schedule(sub, subscription__renew_delay(sub));
}

static int subscription__read(struct subscription *sub, const struct graph_response *res)
{
    cJSON *o = res->body ? json__parse(res->body, res->body_len) : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expirationDateTime");
    int64_t wall = 0;
    int rc = -1;
    if (cJSON_IsString(exp) && clock__parse_iso8601(exp->valuestring, &wall) == 0) {
        if (cJSON_IsString(id) && id->valuestring[0] && strlen(id->valuestring) <= GRAPH_ID_MAX)
            snprintf(sub->id, sizeof(sub->id), "%s", id->valuestring);
        sub->expires_wall_ms = wall;
        rc = sub->id[0] ? 0 : -1;
    }
    cJSON_Delete(o);
    return rc;
}

/* One request with the account's delegated token; done runs exactly once
 * unless stopping (a request that cannot be sent answers status 0). */
struct sub_call {
    struct subscription *sub;
    sub_done_fn done;
};

static void subscription__answered(void *ctx, const struct graph_response *res)
{
    struct sub_call *c = ctx;
    struct subscription *sub = c->sub;
    sub_done_fn done = c->done;
    free(c);
    if (res->aborted || sub->env->stopping)
        return;
    done(sub, res);
}

void subscription__call(struct subscription *sub, const char *method, const char *path, char *body,
                        sub_done_fn done)
{
    const struct subscription_env *env = sub->env;
    struct graph_request req = {.method = method,
                                .path = path,
                                .body = body,
                                .token = graph_client__account(env->client, sub->account)};
    struct sub_call *c = malloc(sizeof(*c));
    if (c)
        *c = (struct sub_call){.sub = sub, .done = done};
    int rc = c ? graph_client__send(env->client, &req, subscription__answered, c) : -1;
    free(body);
    if (rc == 0)
        return;
    free(c);
    struct graph_response none = {.status = 0, .retry_after_ms = -1, .error = "cannot send"};
    if (!env->stopping)
        done(sub, &none);
}

/* ---- create ---------------------------------------------------------------------------- */

static char *subscription__create_body(struct subscription *sub)
{
    const struct subscription_env *o = sub->env;
    char exp[40];
    unsigned char rnd[SUBSCRIPTIONS_CLIENT_STATE_LEN / 2];
    if (sub->derived_state[0]) {
        snprintf(sub->client_state, sizeof(sub->client_state), "%s", sub->derived_state);
    }
    else {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            return NULL;
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(sub->client_state + 2 * i, 3, "%02x", rnd[i]);
    }
    char *resource = subscription__resource(sub->ids, sub->n_ids);
    cJSON *j = cJSON_CreateObject();
    if (!resource || !j) {
        free(resource);
        cJSON_Delete(j);
        return NULL;
    }
    cJSON_AddStringToObject(j, "changeType", "updated");
    cJSON_AddStringToObject(j, "notificationUrl", o->notify_url);
    cJSON_AddStringToObject(j, "lifecycleNotificationUrl", o->lifecycle_url);
    cJSON_AddStringToObject(j, "resource", resource);
    cJSON_AddStringToObject(
        j, "expirationDateTime",
        clock__iso8601_graph(clock__wall_ms() + SUBSCRIPTIONS_LIFETIME_MS, exp, sizeof(exp)));
    cJSON_AddStringToObject(j, "clientState", sub->client_state);
    if (o->keys) {
        char *cert = notify_crypto__store_cert_base64(o->keys, o->cert_id);
        cJSON_AddBoolToObject(j, "includeResourceData", true);
        cJSON_AddStringToObject(j, "encryptionCertificate", cert ? cert : "");
        cJSON_AddStringToObject(j, "encryptionCertificateId", o->cert_id);
        free(cert);
    }
    free(resource);
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return body;
}

static void subscription__created_ok(struct subscription *sub)
{
    const struct subscription_env *env = sub->env;
    subscription__active(sub, "created", "graph_subscriptions_created_total");
    subscription__next(sub); /* users changed meanwhile: replaced at once */
    graph_status__changed(env->status);
    /* notifications before this moment are lost: read everyone */
    if (env->want_resync)
        env->want_resync(env->ctx, "subscription created");
}

static void subscription__created(struct subscription *sub, const struct graph_response *res)
{
    sub->busy = false;
    if (res->status == 201 || res->status == 200) {
        if (subscription__read(sub, res) == 0) {
            subscription__created_ok(sub);
            return;
        }
        snprintf(sub->last_error, sizeof(sub->last_error), "create: unreadable answer");
    }
    else {
        subscription__set_error(sub, res, "create");
    }
    sub->state = SUBSCRIPTION_IDLE;
    sub->client_state[0] = '\0';
    sub->id[0] = '\0';
    if (res->status == 409)
        sub->listed = false; /* an old one is in the way: list and delete first */
    subscription__count(sub, "graph_subscription_failures_total");
    subscription__retry(sub, res);
}

static void subscription__create(struct subscription *sub)
{
    char *body = subscription__create_body(sub);
    if (!body) {
        subscription__retry(sub, NULL);
        return;
    }
    sub->state = SUBSCRIPTION_CREATING;
    sub->busy = true;
    LOG_INFO("graph", "creating subscription tenant=%s account=%s users=%zu", sub->env->tenant,
             sub->username, sub->n_ids);
    subscription__call(sub, "POST", "/subscriptions", body, subscription__created);
}

/* ---- renew and reauthorize ------------------------------------------------------------ */

/* Graph does not know the subscription any more: a new one. */
static void subscription__gone(struct subscription *sub)
{
    LOG_WARN("graph", "subscription is gone, recreating tenant=%s account=%s id=%s",
             sub->env->tenant, sub->username, sub->id);
    subscription__forget(sub);
    sub->listed = true;
    subscription__ensure(sub);
}

static void subscription__renewed(struct subscription *sub, const struct graph_response *res)
{
    sub->busy = false;
    if (res->status == 200 && subscription__read(sub, res) == 0) {
        backoff__reset(&sub->bo);
        sub->last_error[0] = '\0';
        LOG_DEBUG("graph", "subscription renewed tenant=%s id=%s", sub->env->tenant, sub->id);
        subscription__count(sub, "graph_subscriptions_renewed_total");
        graph_status__changed(sub->env->status);
        subscription__next(sub);
        return;
    }
    if (res->status == 404) {
        subscription__gone(sub);
        return;
    }
    subscription__set_error(sub, res, "renew");
    subscription__count(sub, "graph_subscription_failures_total");
    if (clock__wall_ms() >= sub->expires_wall_ms) {
        subscription__forget(sub); /* too late to renew: it has expired */
        sub->listed = false;
    }
    subscription__retry(sub, res);
}

static void subscription__renew(struct subscription *sub)
{
    char exp[40], path[GRAPH_ID_MAX + 32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(
        o, "expirationDateTime",
        clock__iso8601_graph(clock__wall_ms() + SUBSCRIPTIONS_LIFETIME_MS, exp, sizeof(exp)));
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    snprintf(path, sizeof(path), "/subscriptions/%s", sub->id);
    sub->busy = true;
    subscription__call(sub, "PATCH", path, body, subscription__renewed);
}

static void subscription__reauthorized(struct subscription *sub, const struct graph_response *res)
{
    sub->busy = false;
    if (res->status == 204 || res->status == 200) {
        LOG_INFO("graph", "subscription reauthorized tenant=%s account=%s id=%s", sub->env->tenant,
                 sub->username, sub->id);
        subscription__count(sub, "graph_subscriptions_reauthorized_total");
        subscription__next(sub);
        return;
    }
    if (res->status == 404) {
        subscription__gone(sub);
        return;
    }
    subscription__set_error(sub, res, "reauthorize");
    subscription__count(sub, "graph_subscription_failures_total");
    subscription__retry(sub, res); /* the renewal (PATCH) reauthorizes too */
}

static void subscription__reauthorize(struct subscription *sub)
{
    if (sub->busy || !sub->env->writes || !role__writes(sub->env->role, sub->env->tenant))
        return; /* a renewal or recreation in flight reauthorizes anyway */
    const struct subscription_env *env = sub->env;
    /* Graph asks for "a valid access token", and may ask every few minutes:
     * a fresh one only when ours is about to expire (docs/graph.md,
     * "Subscriptions") */
    struct gtoken *tok = graph_client__account(env->client, sub->account);
    if (!tok->access || tok->expires_mono - clock__mono_ms() < SUBSCRIPTION_REAUTH_REFRESH_MS)
        tokens__invalidate(tok, NULL);
    loop__timer_cancel(env->loop, sub->timer);
    sub->timer = 0;
    sub->busy = true;
    char path[GRAPH_ID_MAX + 48];
    snprintf(path, sizeof(path), "/subscriptions/%s/reauthorize", sub->id);
    subscription__call(sub, "POST", path, NULL, subscription__reauthorized);
}

/* ---- the per-account state machine ---------------------------------------------------- */

/* Deletes the live subscription (its users changed: Graph cannot change a
 * resource, so it is replaced; or it has no users any more). */
static void subscription__replace(struct subscription *sub)
{
    char id[GRAPH_ID_MAX + 1];
    snprintf(id, sizeof(id), "%s", sub->id);
    sub->replan = false;
    subscription__forget(sub);
    sub->busy = true;
    sub->state = SUBSCRIPTION_DELETING;
    sub->outstanding = 0;
    subscription_adopt__delete(sub, id);
}

void subscription__ensure(struct subscription *sub)
{
    const struct subscription_env *env = sub->env;
    if (env->stopping || sub->busy)
        return;
    loop__timer_cancel(env->loop, sub->timer);
    sub->timer = 0;
    if (!env->writes || !role__writes(env->role, env->tenant))
        return; /* a standby: subscription__role() starts again on a takeover */
    if (sub->state == SUBSCRIPTION_ACTIVE && sub->replan) {
        subscription__replace(sub);
        return;
    }
    sub->replan = false;
    if (sub->state == SUBSCRIPTION_ACTIVE) {
        subscription__renew(sub);
        return;
    }
    if (sub->n_ids == 0) {
        sub->state = SUBSCRIPTION_IDLE;
        graph_status__changed(env->status);
        return;
    }
    if (!sub->listed) {
        sub->state = SUBSCRIPTION_LISTING;
        sub->busy = true;
        subscription__call(sub, "GET", "/subscriptions", NULL, subscription_adopt__listed);
        return;
    }
    subscription__create(sub);
}

static const char *subscription__state_name(const struct subscription *sub)
{
    switch (sub->state) {
    case SUBSCRIPTION_LISTING:
        return "listing";
    case SUBSCRIPTION_DELETING:
        return "deleting";
    case SUBSCRIPTION_CREATING:
        return "creating";
    case SUBSCRIPTION_ACTIVE:
        return "active";
    default:
        return !sub->env->writes ? "standby" : sub->n_ids ? "none" : "unused";
    }
}

cJSON *subscription__json(const struct subscription *sub)
{
    cJSON *o = cJSON_CreateObject();
    char ts[32];
    cJSON_AddStringToObject(o, "account", sub->username);
    cJSON_AddStringToObject(o, "state", subscription__state_name(sub));
    cJSON_AddNumberToObject(o, "users", (double)sub->n_ids);
    if (sub->state == SUBSCRIPTION_ACTIVE) {
        cJSON_AddStringToObject(o, "id", sub->id);
        cJSON_AddStringToObject(o, "expires", clock__iso8601(sub->expires_wall_ms, ts, sizeof(ts)));
    }
    if (sub->last_error[0])
        cJSON_AddStringToObject(o, "error", sub->last_error);
    return o;
}

static void subscription__free_ids(struct subscription *sub)
{
    for (size_t i = 0; i < sub->n_ids; i++)
        free(sub->ids[i]);
    free(sub->ids);
    sub->ids = NULL;
    sub->n_ids = 0;
}

/* Takes ids[0..n-1]: 1 changed, 0 the same. */
static int subscription__take(struct subscription *sub, char *const *ids, size_t n)
{
    bool same = n == sub->n_ids;
    for (size_t i = 0; same && i < n; i++)
        same = strcasecmp(sub->ids[i], ids[i]) == 0;
    if (same)
        return 0;
    subscription__free_ids(sub);
    sub->ids = calloc(n ? n : 1, sizeof(*sub->ids));
    for (size_t i = 0; sub->ids && i < n; i++) {
        sub->ids[i] = strdup(ids[i]);
        sub->n_ids += sub->ids[i] != NULL;
    }
    return 1;
}

void subscription__plan(struct subscription *sub, char *const *ids, size_t n)
{
    bool changed = subscription__take(sub, ids, n);
    if (!changed && (sub->state != SUBSCRIPTION_IDLE || n == 0))
        return; /* unchanged and alive (or busy getting there) */
    if (changed && sub->state != SUBSCRIPTION_IDLE)
        sub->replan = true;
    if (sub->n_ids == 0 && sub->state == SUBSCRIPTION_ACTIVE) {
        if (!sub->busy && sub->env->writes &&
            role__writes(sub->env->role, sub->env->tenant)) /* busy: its answer sees replan */
            subscription__replace(sub);
        return;
    }
    subscription__ensure(sub);
}

void subscription__role(struct subscription *sub)
{
    const struct subscription_env *env = sub->env;
    if (!env->writes) {
        loop__timer_cancel(env->loop, sub->timer);
        sub->timer = 0;
        return;
    }
    /* a subscription of our own last term is renewed (404: recreated);
     * otherwise the account's list is read and ours adopted */
    if (sub->state != SUBSCRIPTION_ACTIVE)
        sub->listed = false;
    subscription__ensure(sub);
}

void subscription__lifecycle(struct subscription *sub, const char *event)
{
    LOG_INFO("graph", "lifecycle event tenant=%s account=%s id=%s event=%s", sub->env->tenant,
             sub->username, sub->id, event);
    if (strcasecmp(event, "reauthorizationRequired") == 0) {
        subscription__reauthorize(sub);
    }
    else if (strcasecmp(event, "subscriptionRemoved") == 0) {
        subscription__forget(sub);
        sub->listed = true;
        subscription__ensure(sub);
    }
    else if (strcasecmp(event, "missed") == 0 && sub->env->want_resync) {
        sub->env->want_resync(sub->env->ctx, "missed");
    }
}

void subscription__init(struct subscription *sub, const struct subscription_env *env,
                        size_t account, const char *username)
{
    memset(sub, 0, sizeof(*sub));
    sub->env = env;
    sub->account = account;
    sub->username = username;
    backoff__init(&sub->bo, SUBSCRIPTION_RETRY_BASE, SUBSCRIPTION_RETRY_MAX);
}

void subscription__stop(struct subscription *sub)
{
    loop__timer_cancel(sub->env->loop, sub->timer);
    sub->timer = 0;
}

void subscription__free(struct subscription *sub)
{
    subscription__stop(sub);
    subscription__free_ids(sub);
}
