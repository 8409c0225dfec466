/* The Graph webhook (docs/graph.md "Webhook", docs/http.md):
 * POST /graph/notify/<tenant> and POST /graph/lifecycle/<tenant>.
 *
 * On the libwebsockets thread only what cannot wait: the validation
 * handshake is answered there (200, text/plain, the URL-decoded token), and a
 * notification body is copied onto the worker queue and answered 202 at once,
 * before anything is checked, so Graph never sees a slow endpoint (and a
 * forger learns nothing). A full queue is answered 503 with Retry-After so
 * that Graph delivers again later. An unknown tenant is answered 404 at once:
 * it names no subscription of ours (docs/graph.md).
 *
 * On a worker: parse, then per item find its user (resourceData.id, then the
 * decrypted id, then the resource: docs/graph.md, "What Graph sends"), check
 * the tenant (always the GUID, identity.c), the clientState of the
 * subscription it names (constant time), for rich items the validationTokens
 * (against keys identity.c fetched on the loop; a worker never waits for
 * them) and decrypt. Every failed check drops the item and counts it in
 * notifications_total{outcome}; an item that is ours but cannot be verified
 * yet is read instead, so nothing is lost. What passed is posted to the loop
 * thread, which owns the users' state. See webhook.h. */
#include "graph/webhook.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/workqueue.h"
#include "graph/identity.h"
#include "graph/jwt.h"
#include "graph/notification.h"
#include "graph/notify_crypto.h"
#include "graph/resync.h"
#include "graph/subscriptions.h"
#include "graph/users.h"

#define WEBHOOK_TOKEN_MAX 4096
#define NOTIFY_PREFIX     "/graph/notify/"
#define LIFECYCLE_PREFIX  "/graph/lifecycle/"
/* Body limit of both webhook paths (docs/graph.md, "Webhook"): an item of a
 * 650-id subscription may carry the whole filter (29,288 bytes) twice
 * (resource and resourceData.@odata.id), plus encryptedContent (about
 * 1.5 KB with an RSA-4096 key) and the other fields: about 60.6 KB, so
 * 64 KiB an item; times the most items a POST may hold (the parser's
 * NOTIFICATION_MAX_ITEMS, 1000) = 65,536,000 bytes. Larger bodies get 413;
 * http.max_body_bytes still applies when it is larger. */
#define WEBHOOK_ITEM_MAX_BYTES   (64 * 1024)
#define WEBHOOK_NOTIFY_MAX_BYTES ((size_t)NOTIFICATION_MAX_ITEMS * WEBHOOK_ITEM_MAX_BYTES)

/* One tenant as the webhook sees it: struct webhook_tenant's modules (all
 * borrowed). Read-only once the routes exist, except token_versions_seen. */
struct wtenant {
    const char *name;
    const char *client_id; /* the audience of validationTokens */
    struct notify_key_store *keys;
    struct graph_identity *identity;
    struct graph_subscriptions *subs;
    struct graph_users *users;
    struct graph_resync *resync;
    struct graph_webhook *hook;
    atomic_int token_versions_seen; /* bit 1: v1 tokens, bit 2: v2 */
};

struct graph_webhook {
    struct loop *loop;
    struct workqueue *wq;    /* the decryption workers; NULL after stop */
    pthread_mutex_t wq_lock; /* a handler's push against webhook__stop */
    struct wtenant *tenants;
    size_t n_tenants;
    atomic_bool stopping;
};

/* Counts one notification outcome (any thread). */
static void webhook__count(const struct wtenant *t, const char *outcome, double n)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",outcome=\"%s\"", t ? t->name : "", outcome);
    metrics__inc("notifications_total", labels, n);
}

/* ---- worker side ------------------------------------------------------------------------ */

struct wjob {
    struct wtenant *t;
    int64_t recv_mono; /* request arrival, for notification_latency_seconds */
    char *body;
    size_t len;
};

struct wlife {
    char sub_id[GRAPH_ID_MAX + 1];
    char event[NOTIFICATION_KIND_MAX + 1];
};

struct wresult {
    struct wtenant *t;
    int64_t recv_mono;
    struct presence_state *up;
    size_t n_up;
    char **ids;
    size_t n_ids;
    struct wlife *life;
    size_t n_life;
    bool resync; /* an item names several users and could not be read: read everyone */
};

static void webhook__result_free(struct wresult *r)
{
    for (size_t i = 0; i < r->n_ids; i++)
        free(r->ids[i]);
    free(r->ids);
    free(r->up);
    free(r->life);
    free(r);
}

static void webhook__job_free(void *arg)
{
    struct wjob *j = arg;
    free(j->body);
    free(j);
}

/* Loop thread: apply what the worker accepted. */
static void webhook__apply(void *arg)
{
    struct wresult *r = arg;
    struct wtenant *t = r->t;
    if (!t->hook->stopping) {
        for (size_t i = 0; i < r->n_up; i++) {
            int rc = resync__apply(t->resync, &r->up[i], "notification");
            webhook__count(t,
                           rc >= 0                               ? "applied"
                           : users__by_id(t->users, r->up[i].id) ? "stale"
                                                                 : "unknown_user",
                           1);
        }
        resync__observe_latency(t->resync, r->recv_mono, r->n_up);
        if (r->n_ids)
            resync__read_ids(t->resync, r->ids, r->n_ids, r->recv_mono);
        if (r->resync)
            resync__request(t->resync, "notification for several users");
        for (size_t i = 0; i < r->n_life; i++)
            subscriptions__lifecycle(t->subs, r->life[i].sub_id, r->life[i].event);
    }
    webhook__result_free(r);
}

/* ---- validation tokens (never blocks: the keys come from identity.c) --------------------- */

/* The publisher's token versions seen so far (bit 1: v1, bit 2: v2), so the
 * first of each is logged: when Graph sends which is not documented. */
static void webhook__note_version(struct wtenant *t, int version)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",version=\"%d\"", t->name, version);
    metrics__inc("graph_validation_tokens_total", labels, 1);
    int bit = version == 2 ? 2 : 1;
    if (!(atomic_fetch_or(&t->token_versions_seen, bit) & bit))
        LOG_INFO("graph", "validation tokens seen tenant=%s version=%d", t->name, version);
}

static enum jwt_result webhook__verify_one(struct wtenant *t, const struct graph_ident *id,
                                           const char *token)
{
    const char *tenants[] = {id->tenant_guid};
    const char *issuers[] = {OIDC_ISSUER_V1, OIDC_ISSUER_V2, id->issuer};
    struct jwt_expect ex = {
        .audience = t->client_id,
        .tenant_ids = tenants,
        .n_tenants = 1,
        .skew_s = -1,
        .issuers = issuers,
        .n_issuers = id->issuer[0] ? 3 : 2,
    };
    struct jwks_cache *jwks = identity__jwks(t->identity);
    struct jwks *set = jwt__cache_get(jwks);
    int64_t fetched = jwt__cache_fetched_ms(jwks);
    if (!set || clock__wall_ms() - fetched > IDENTITY_JWKS_MAX_AGE_MS)
        identity__want_keys(t->identity);
    if (!set)
        return JWT_UNKNOWN_KID;
    struct jwt_claims claims;
    enum jwt_result r = jwt__verify(set, token, &ex, &claims);
    jwt__jwks_release(set);
    if (r == JWT_UNKNOWN_KID)
        identity__want_keys(
            t->identity); /* a rollover, or a forgery: one fetch per gap either way */
    else if (r == JWT_OK)
        webhook__note_version(t, claims.version);
    return r;
}

enum wtokens { WT_UNCHECKED = 0, WT_OK, WT_PENDING, WT_BAD };

/* All validationTokens must verify: each names an (app, tenant) pair in the
 * POST, and every pair here must be ours. A token whose key we do not hold
 * yet is "pending", not bad. */
static enum wtokens webhook__tokens(struct wtenant *t, const struct graph_ident *id,
                                    const struct notification_batch *b)
{
    if (b->n_tokens == 0) {
        LOG_WARN("graph", "rich notification without validation tokens tenant=%s", t->name);
        return WT_BAD;
    }
    enum wtokens out = WT_OK;
    for (size_t i = 0; i < b->n_tokens; i++) {
        enum jwt_result r = webhook__verify_one(t, id, b->tokens[i]);
        if (r == JWT_UNKNOWN_KID) {
            out = WT_PENDING;
            continue;
        }
        if (r != JWT_OK) {
            LOG_WARN("graph", "validation token rejected tenant=%s reason=%s", t->name,
                     jwt__result_name(r));
            return WT_BAD;
        }
    }
    return out;
}

static void webhook__outcome_crypto(struct wtenant *t, enum notify_crypto_result r)
{
    char o[64];
    snprintf(o, sizeof(o), "decrypt_%s", notify_crypto__result_name(r));
    for (char *p = o; *p; p++) {
        if (*p == ' ' || *p == '-')
            *p = '_';
    }
    webhook__count(t, o, 1);
}

/* One rich item: decrypt and parse. uid: the user the item names in clear,
 * or NULL when only the decrypted id can tell. Returns 0 with *p filled. */
static int webhook__rich(struct wtenant *t, const struct notification_item *it, const char *uid,
                         struct presence_state *p)
{
    char *plain = NULL;
    size_t len = 0;
    enum notify_crypto_result r = notify_crypto__decrypt(t->keys, &it->encrypted, &plain, &len);
    if (r != NOTIFY_CRYPTO_OK) {
        LOG_WARN("graph", "notification dropped tenant=%s subscription=%s reason=%s", t->name,
                 it->subscription_id, notify_crypto__result_name(r));
        webhook__outcome_crypto(t, r);
        return -1;
    }
    const char *why = NULL;
    int rc = presence__parse_text(plain, len, p, &why);
    notify_crypto__plaintext_free(plain, len);
    if (rc != 0 || (uid && strcasecmp(p->id, uid) != 0)) {
        LOG_WARN("graph", "notification dropped tenant=%s subscription=%s reason=\"%s\"", t->name,
                 it->subscription_id, rc ? why : "presence id differs from resourceData.id");
        webhook__count(t, "malformed", 1);
        return -1;
    }
    return 0;
}

/* 0: ours; 1: ours as far as can be told, but the tenant GUID is not known
 * yet (a domain tenant_id before its OpenID configuration was read);
 * -1: dropped (counted). */
static int webhook__check(struct wtenant *t, const struct graph_ident *id,
                          const struct notification_item *it)
{
    if (it->status != NOTIFICATION_ITEM_OK) {
        LOG_WARN("graph", "notification item malformed tenant=%s reason=%s field=%s", t->name,
                 notification__item_status_name(it->status), it->bad_field ? it->bad_field : "-");
        webhook__count(t, "malformed", 1);
        return -1;
    }
    if (id->tenant_guid[0] && strcasecmp(it->tenant_id, id->tenant_guid) != 0) {
        LOG_WARN("graph", "notification for another tenant dropped tenant=%s tenant_id=%s", t->name,
                 it->tenant_id);
        webhook__count(t, "wrong_tenant", 1);
        return -1;
    }
    int m = subscriptions__check(t->subs, it->subscription_id, it->client_state);
    if (m < 0) {
        LOG_INFO("graph", "notification for an unknown subscription dropped tenant=%s id=%s",
                 t->name, it->subscription_id);
        webhook__count(t, "unknown_subscription", 1);
        return -1;
    }
    if (m == 0) {
        LOG_WARN("graph", "notification with a wrong clientState dropped tenant=%s id=%s", t->name,
                 it->subscription_id);
        webhook__count(t, "bad_client_state", 1);
        return -1;
    }
    return id->tenant_guid[0] ? 0 : 1;
}

/* One POST on a worker. */
struct wpost {
    struct wtenant *t;
    const struct notification_batch *b;
    struct wresult *r;
    struct graph_ident id;
    enum wtokens tokens; /* checked once, when the first rich item needs them */
};

/* The item is ours but its content cannot be used (basic, or not verifiable
 * yet): the loop reads the user's presence. An item that names several users
 * and nobody in particular makes the loop read everyone. */
static void webhook__read(struct wpost *w, enum notification_user who, const char *uid,
                          const char *outcome)
{
    struct wresult *r = w->r;
    if (who != NOTIFICATION_USER_OK) {
        LOG_INFO("graph", "notification names no single user tenant=%s why=%s: reading everyone",
                 w->t->name, outcome);
        webhook__count(w->t, "unattributed", 1);
        r->resync = true;
        return;
    }
    r->ids[r->n_ids] = strdup(uid);
    if (r->ids[r->n_ids]) {
        r->n_ids++;
        webhook__count(w->t, outcome, 1);
    }
}

static void webhook__change(struct wpost *w, const struct notification_item *it, int tenant)
{
    struct wtenant *t = w->t;
    char uid[NOTIFICATION_ID_MAX + 1];
    enum notification_user who = notification__user_id(it, uid, sizeof(uid));
    if (who == NOTIFICATION_USER_NONE) {
        LOG_WARN("graph", "notification names no user tenant=%s subscription=%s", t->name,
                 it->subscription_id);
        webhook__count(t, "malformed", 1);
        return;
    }
    if (it->has_encrypted && !t->keys) {
        webhook__count(t, "unexpected_rich", 1);
        return;
    }
    if (tenant > 0) {
        webhook__read(w, who, uid, "tenant_pending");
        return;
    }
    if (!it->has_encrypted) {
        webhook__read(w, who, uid, "basic"); /* only the id; the loop reads the presence */
        return;
    }
    if (w->tokens == WT_UNCHECKED)
        w->tokens = webhook__tokens(t, &w->id, w->b);
    if (w->tokens != WT_OK) {
        /* Its clientState is ours, so Graph sent it; a token we cannot verify
         * (yet: a signing key rolled over, keys being fetched) must not lose
         * the change: the user's presence is read instead. */
        webhook__read(w, who, uid,
                      w->tokens == WT_PENDING ? "validation_keys_pending" : "bad_validation_token");
        return;
    }
    struct wresult *r = w->r;
    if (webhook__rich(t, it, who == NOTIFICATION_USER_OK ? uid : NULL, &r->up[r->n_up]) == 0)
        r->n_up++;
}

static struct wresult *webhook__result_new(struct wtenant *t, int64_t recv_mono, size_t n)
{
    struct wresult *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->t = t;
    r->recv_mono = recv_mono;
    r->up = calloc(n, sizeof(*r->up));
    r->ids = calloc(n, sizeof(*r->ids));
    r->life = calloc(n, sizeof(*r->life));
    if (!r->up || !r->ids || !r->life) {
        webhook__result_free(r);
        return NULL;
    }
    return r;
}

static void webhook__work(void *arg)
{
    struct wjob *j = arg;
    struct wtenant *t = j->t;
    struct notification_batch b;
    enum notification_body_status bs = notification__parse(j->body, j->len, &b);
    if (bs != NOTIFICATION_BODY_OK) {
        LOG_WARN("graph", "notification body rejected tenant=%s reason=%s", t->name,
                 notification__body_status_name(bs));
        webhook__count(t, "malformed", 1);
        webhook__job_free(j);
        return;
    }
    struct wpost w = {.t = t, .b = &b, .tokens = WT_UNCHECKED};
    w.r = webhook__result_new(t, j->recv_mono, b.n_items ? b.n_items : 1);
    identity__snapshot(t->identity, &w.id);
    for (size_t i = 0; w.r && i < b.n_items; i++) {
        const struct notification_item *it = &b.items[i];
        int tenant = webhook__check(t, &w.id, it);
        if (tenant < 0)
            continue;
        if (notification__is_lifecycle(it)) {
            struct wlife *l = &w.r->life[w.r->n_life++];
            snprintf(l->sub_id, sizeof(l->sub_id), "%s", it->subscription_id);
            snprintf(l->event, sizeof(l->event), "%s", it->lifecycle_event);
            webhook__count(t, "lifecycle", 1);
            continue;
        }
        webhook__change(&w, it, tenant);
    }
    notification__free(&b);
    webhook__job_free(j);
    struct wresult *r = w.r;
    if (r && (r->n_up + r->n_ids + r->n_life > 0 || r->resync) &&
        loop__post(t->hook->loop, webhook__apply, r) == 0)
        return;
    if (r)
        webhook__result_free(r);
}

/* ---- libwebsockets thread -------------------------------------------------------------- */

static struct wtenant *webhook__tenant(struct graph_webhook *side, const char *name)
{
    for (size_t i = 0; i < side->n_tenants; i++) {
        if (strcmp(side->tenants[i].name, name) == 0)
            return &side->tenants[i];
    }
    return NULL;
}

/* Queues a job on the workers; -1 after webhook__stop (Graph delivers
 * again: 503) or when the queue is full. */
static int webhook__push(struct graph_webhook *side, struct wjob *j)
{
    pthread_mutex_lock(&side->wq_lock);
    int rc = side->wq ? workqueue__push(side->wq, webhook__work, j) : -1;
    pthread_mutex_unlock(&side->wq_lock);
    return rc;
}

/* Both paths take either kind of item: the item says which it is. */
static int webhook__handle(struct graph_webhook *side, bool lifecycle,
                           const struct http_request *req, struct http_response *resp)
{
    const char *prefix = lifecycle ? LIFECYCLE_PREFIX : NOTIFY_PREFIX;
    const char *name = req->path + strlen(prefix);
    struct wtenant *t = strchr(name, '/') ? NULL : webhook__tenant(side, name);
    if (!t) {
        webhook__count(NULL, "unknown_tenant", 1);
        resp->status = 404;
        resp->content_type = "application/json";
        resp->body = strdup("{\"error\":\"unknown tenant\"}");
        resp->body_len = resp->body ? strlen(resp->body) : 0;
        return HTTP_DONE;
    }
    char *token = malloc(WEBHOOK_TOKEN_MAX);
    int n = token ? http_request__query(req, "validationToken", token, WEBHOOK_TOKEN_MAX) : -1;
    if (n >= 0) {
        /* the handshake: answered here, within Graph's 10 s, never queued */
        resp->status = 200;
        resp->content_type = "text/plain";
        resp->body = token;
        resp->body_len = (size_t)n;
        metrics__inc("graph_validations_total", NULL, 1);
        LOG_INFO("graph", "validation handshake answered tenant=%s path=%s", t->name, req->path);
        return HTTP_DONE;
    }
    free(token);
    struct wjob *j = calloc(1, sizeof(*j));
    if (j) {
        j->t = t;
        j->recv_mono = clock__mono_ms();
        j->len = req->body_len;
        j->body = malloc(req->body_len + 1);
        if (j->body) {
            memcpy(j->body, req->body ? req->body : "", req->body_len);
            j->body[req->body_len] = '\0';
        }
    }
    if (!j || !j->body || webhook__push(side, j) != 0) {
        if (j)
            webhook__job_free(j);
        webhook__count(t, "queue_full", 1);
        resp->status = 503;
        resp->content_type = "application/json";
        resp->extra_headers = "Retry-After: 10\r\n";
        resp->body = strdup("{\"error\":\"busy, deliver again later\"}");
        resp->body_len = resp->body ? strlen(resp->body) : 0;
        return HTTP_DONE;
    }
    resp->status = 202;
    resp->content_type = "text/plain";
    resp->body = NULL;
    resp->body_len = 0;
    return HTTP_DONE;
}

static int webhook__on_notify(void *ctx, const struct http_request *req, struct http_response *resp,
                              struct http_pending *pending)
{
    (void)pending;
    return webhook__handle(ctx, false, req, resp);
}

static int webhook__on_lifecycle(void *ctx, const struct http_request *req,
                                 struct http_response *resp, struct http_pending *pending)
{
    (void)pending;
    return webhook__handle(ctx, true, req, resp);
}

static void webhook__describe(void)
{
    metrics__describe("notifications_total", METRIC_COUNTER,
                      "Graph notification items by outcome (applied, basic, lifecycle, or why "
                      "they were dropped)");
    metrics__describe("notification_latency_seconds", METRIC_HISTOGRAM,
                      "Seconds from a Graph notification's arrival to the busy state being "
                      "decided (published or found unchanged)");
    metrics__describe("graph_validations_total", METRIC_COUNTER,
                      "Graph validation handshakes answered");
    metrics__describe("graph_validation_tokens_total", METRIC_COUNTER,
                      "Graph validationTokens verified, by version (1: sts.windows.net issuer, "
                      "2: v2.0 issuer)");
}

/* ---- life cycle ---------------------------------------------------------------------------- */

struct graph_webhook *webhook__new(struct loop *loop, size_t workers)
{
    struct graph_webhook *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->loop = loop;
    atomic_init(&w->stopping, false);
    pthread_mutex_init(&w->wq_lock, NULL);
    w->wq = workqueue__new(workers, WEBHOOK_QUEUE_MAX, webhook__job_free);
    if (!w->wq) {
        webhook__free(w);
        return NULL;
    }
    webhook__describe();
    return w;
}

int webhook__add_tenant(struct graph_webhook *w, const struct webhook_tenant *t)
{
    struct wtenant *grown = realloc(w->tenants, (w->n_tenants + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    /* the entries moved: nothing refers to them before the routes exist */
    w->tenants = grown;
    struct wtenant *e = &w->tenants[w->n_tenants++];
    *e = (struct wtenant){.name = t->name,
                          .client_id = t->client_id,
                          .keys = t->keys,
                          .identity = t->identity,
                          .subs = t->subs,
                          .users = t->users,
                          .resync = t->resync,
                          .hook = w};
    atomic_init(&e->token_versions_seen, 0);
    return 0;
}

int webhook__routes(struct graph_webhook *side, struct http_server *srv, size_t max_body_bytes)
{
    size_t limit = max_body_bytes;
    if (limit < WEBHOOK_NOTIFY_MAX_BYTES)
        limit = WEBHOOK_NOTIFY_MAX_BYTES;
    if (http_server__route(srv, "POST", NOTIFY_PREFIX, true, webhook__on_notify, side) < 0 ||
        http_server__route(srv, "POST", LIFECYCLE_PREFIX, true, webhook__on_lifecycle, side) < 0 ||
        http_server__route_body_limit(srv, NOTIFY_PREFIX, limit) < 0 ||
        http_server__route_body_limit(srv, LIFECYCLE_PREFIX, limit) < 0)
        return -1;
    return 0;
}

size_t webhook__workers(const struct graph_webhook *w)
{
    return w->wq ? workqueue__threads(w->wq) : 0;
}

void webhook__stop(struct graph_webhook *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->wq_lock);
    atomic_store(&w->stopping, true);
    struct workqueue *wq = w->wq;
    w->wq = NULL; /* handlers answer 503 from now on */
    pthread_mutex_unlock(&w->wq_lock);
    workqueue__free(wq); /* joins the workers: nothing is posted after this */
}

void webhook__free(struct graph_webhook *w)
{
    if (!w)
        return;
    webhook__stop(w);
    pthread_mutex_destroy(&w->wq_lock);
    free(w->tenants);
    free(w);
}
