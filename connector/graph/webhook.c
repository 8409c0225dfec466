/* The Graph webhook (graph-presence.md §3, §4, §5; CONTRACT §5):
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
 * On a worker: parse, then per item check the tenant, the clientState of the
 * subscription it names (constant time), the validationTokens (JWKS fetched
 * here, cached, refetched on an unknown kid) for rich items, decrypt. Every
 * failed check drops the item and counts it in notifications_total{outcome}.
 * What passed is posted to the loop thread, which owns the users' state. */
#include "graph/gside.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/workqueue.h"
#include "daemon.h"
#include "graph/jwt.h"
#include "graph/notification.h"
#include "graph/notify_crypto.h"

#define WEBHOOK_TOKEN_MAX    4096
#define WEBHOOK_JWKS_MIN_GAP 10000 /* ms between fetches on an unknown kid */
#define WEBHOOK_JWKS_MAX_AGE (24LL * 3600 * 1000)
#define NOTIFY_PREFIX        "/graph/notify/"
#define LIFECYCLE_PREFIX     "/graph/lifecycle/"

void webhook__count(const struct gtenant *t, const char *outcome, double n)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",outcome=\"%s\"", t ? t->name : "", outcome);
    metrics__inc("notifications_total", labels, n);
}

/* ---- worker side ------------------------------------------------------------------------ */

struct wjob {
    struct gtenant *t;
    int64_t recv_mono; /* request arrival, for notification_latency_seconds */
    char *body;
    size_t len;
};

struct wlife {
    char sub_id[GSIDE_ID_MAX + 1];
    char event[NOTIFICATION_KIND_MAX + 1];
};

struct wresult {
    struct gtenant *t;
    int64_t recv_mono;
    struct presence_state *up;
    size_t n_up;
    char **ids;
    size_t n_ids;
    struct wlife *life;
    size_t n_life;
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

void webhook__job_free(void *arg)
{
    struct wjob *j = arg;
    free(j->body);
    free(j);
}

/* Loop thread: apply what the worker accepted. */
static void webhook__apply(void *arg)
{
    struct wresult *r = arg;
    struct gtenant *t = r->t;
    if (!t->side->stopping) {
        for (size_t i = 0; i < r->n_up; i++) {
            int rc = resync__apply(t, &r->up[i], "notification");
            webhook__count(t,
                           rc >= 0                        ? "applied"
                           : users__by_id(t, r->up[i].id) ? "stale"
                                                          : "unknown_user",
                           1);
        }
        resync__observe_latency(t, r->recv_mono, r->n_up);
        if (r->n_ids)
            resync__read_ids(t, r->ids, r->n_ids, r->recv_mono);
        for (size_t i = 0; i < r->n_life; i++)
            subs__lifecycle(t, r->life[i].sub_id, r->life[i].event);
    }
    webhook__result_free(r);
}

/* Blocking GET of the JWKS document on a worker (the workers may block; the
 * loop and the libwebsockets thread may not). */
struct wbuf {
    char *data;
    size_t len;
};

static size_t webhook__collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct wbuf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > JWKS_MAX_DOC_LEN)
        return 0;
    char *d = realloc(b->data, b->len + n + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, ptr, n);
    b->len += n;
    d[b->len] = '\0';
    b->data = d;
    return n;
}

static void webhook__fetch_jwks(struct gtenant *t, bool force)
{
    pthread_mutex_lock(&t->jwks_lock);
    int64_t now = clock__mono_ms();
    int64_t fetched = jwks_cache__fetched_ms(t->jwks);
    bool stale = fetched == 0 || clock__wall_ms() - fetched > WEBHOOK_JWKS_MAX_AGE;
    if ((!force && !stale) ||
        (t->jwks_tried_mono && now - t->jwks_tried_mono < WEBHOOK_JWKS_MIN_GAP)) {
        pthread_mutex_unlock(&t->jwks_lock);
        return;
    }
    t->jwks_tried_mono = now;
    struct wbuf b = {0};
    long status = 0;
    CURL *c = curl_easy_init();
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, t->jwks_url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, webhook__collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        CURLcode rc = curl_easy_perform(c);
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        else
            LOG_WARN("graph", "JWKS fetch failed tenant=%s url=%s error=%s", t->name, t->jwks_url,
                     curl_easy_strerror(rc));
        curl_easy_cleanup(c);
    }
    if (status == 200 && b.data) {
        char err[160];
        struct jwks *set = jwks__parse(b.data, b.len, err, sizeof(err));
        if (set) {
            LOG_INFO("graph", "JWKS loaded tenant=%s keys=%zu", t->name, jwks__count(set));
            jwks_cache__replace(t->jwks, set, clock__wall_ms());
        }
        else {
            LOG_WARN("graph", "JWKS unusable tenant=%s reason=\"%s\"", t->name, err);
        }
    }
    else if (status) {
        LOG_WARN("graph", "JWKS fetch failed tenant=%s url=%s status=%ld", t->name, t->jwks_url,
                 status);
    }
    free(b.data);
    pthread_mutex_unlock(&t->jwks_lock);
}

static enum jwt_result webhook__verify_one(struct gtenant *t, const char *token)
{
    const char *tenants[] = {t->cfg->graph.tenant_id};
    struct jwt_expect ex = {
        .audience = t->cfg->graph.client_id,
        .tenant_ids = tenants,
        .n_tenants = 1,
        .skew_s = -1,
    };
    struct jwt_claims claims;
    enum jwt_result r = JWT_UNKNOWN_KID;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt || !jwks_cache__fetched_ms(t->jwks))
            webhook__fetch_jwks(t, attempt > 0);
        struct jwks *set = jwks_cache__get(t->jwks);
        if (!set)
            continue;
        r = jwt__verify(set, token, &ex, &claims);
        jwks__release(set);
        if (r != JWT_UNKNOWN_KID)
            break;
    }
    return r;
}

/* All validationTokens must verify: each names an (app, tenant) pair in the
 * POST, and every pair here must be ours. */
static bool webhook__tokens_ok(struct gtenant *t, const struct notification_batch *b)
{
    if (b->n_tokens == 0)
        return false;
    for (size_t i = 0; i < b->n_tokens; i++) {
        enum jwt_result r = webhook__verify_one(t, b->tokens[i]);
        if (r != JWT_OK) {
            LOG_WARN("graph", "validation token rejected tenant=%s reason=%s", t->name,
                     jwt__result_name(r));
            return false;
        }
    }
    return true;
}

static void webhook__outcome_crypto(struct gtenant *t, enum notify_crypto_result r)
{
    char o[64];
    snprintf(o, sizeof(o), "decrypt_%s", notify_crypto__result_name(r));
    for (char *p = o; *p; p++) {
        if (*p == ' ' || *p == '-')
            *p = '_';
    }
    webhook__count(t, o, 1);
}

/* One rich item: decrypt and parse. Returns 0 with *p filled. */
static int webhook__rich(struct gtenant *t, const struct notification_item *it, const char *uid,
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
    if (rc != 0 || strcasecmp(p->id, uid) != 0) {
        LOG_WARN("graph", "notification dropped tenant=%s subscription=%s reason=\"%s\"", t->name,
                 it->subscription_id, rc ? why : "presence id differs from resource");
        webhook__count(t, "malformed", 1);
        return -1;
    }
    return 0;
}

static int webhook__check(struct gtenant *t, const struct notification_item *it)
{
    if (it->status != NOTIFICATION_ITEM_OK) {
        LOG_WARN("graph", "notification item malformed tenant=%s reason=%s field=%s", t->name,
                 notification__item_status_name(it->status), it->bad_field ? it->bad_field : "-");
        webhook__count(t, "malformed", 1);
        return -1;
    }
    if (strcasecmp(it->tenant_id, t->cfg->graph.tenant_id) != 0) {
        LOG_WARN("graph", "notification for another tenant dropped tenant=%s tenant_id=%s", t->name,
                 it->tenant_id);
        webhook__count(t, "wrong_tenant", 1);
        return -1;
    }
    int m = subs__reg_check(t, it->subscription_id, it->client_state);
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
    return 0;
}

static void webhook__work(void *arg)
{
    struct wjob *j = arg;
    struct gtenant *t = j->t;
    struct notification_batch b;
    enum notification_body_status bs = notification__parse(j->body, j->len, &b);
    if (bs != NOTIFICATION_BODY_OK) {
        LOG_WARN("graph", "notification body rejected tenant=%s reason=%s", t->name,
                 notification__body_status_name(bs));
        webhook__count(t, "malformed", 1);
        webhook__job_free(j);
        return;
    }
    struct wresult *r = calloc(1, sizeof(*r));
    size_t n = b.n_items ? b.n_items : 1;
    if (r) {
        r->t = t;
        r->recv_mono = j->recv_mono;
        r->up = calloc(n, sizeof(*r->up));
        r->ids = calloc(n, sizeof(*r->ids));
        r->life = calloc(n, sizeof(*r->life));
    }
    if (!r || !r->up || !r->ids || !r->life) {
        if (r)
            webhook__result_free(r);
        notification__free(&b);
        webhook__job_free(j);
        return;
    }
    int tokens = -1; /* checked once, when the first rich item needs it */
    for (size_t i = 0; i < b.n_items; i++) {
        const struct notification_item *it = &b.items[i];
        if (webhook__check(t, it) != 0)
            continue;
        if (notification__is_lifecycle(it)) {
            snprintf(r->life[r->n_life].sub_id, sizeof(r->life[0].sub_id), "%s",
                     it->subscription_id);
            snprintf(r->life[r->n_life].event, sizeof(r->life[0].event), "%s", it->lifecycle_event);
            r->n_life++;
            webhook__count(t, "lifecycle", 1);
            continue;
        }
        char uid[NOTIFICATION_ID_MAX + 1];
        if (graph__user_id_from_resource(it->resource, uid, sizeof(uid)) != 0) {
            webhook__count(t, "malformed", 1);
            continue;
        }
        if (it->has_encrypted) {
            if (!t->keys) {
                webhook__count(t, "unexpected_rich", 1);
                continue;
            }
            if (tokens < 0)
                tokens = webhook__tokens_ok(t, &b) ? 1 : 0;
            if (!tokens) {
                /* Its clientState is ours, so Graph sent it; a token we cannot
                 * verify yet (a signing key rolled over less than the JWKS
                 * refetch gap ago) must not lose the change: the user's
                 * presence is read instead, as for a basic notification. */
                webhook__count(t, "bad_validation_token", 1);
                r->ids[r->n_ids] = strdup(uid);
                if (r->ids[r->n_ids])
                    r->n_ids++;
                continue;
            }
            if (webhook__rich(t, it, uid, &r->up[r->n_up]) == 0)
                r->n_up++;
            continue;
        }
        /* basic: only the id; the loop reads the presence */
        r->ids[r->n_ids] = strdup(uid);
        if (r->ids[r->n_ids]) {
            r->n_ids++;
            webhook__count(t, "basic", 1);
        }
    }
    notification__free(&b);
    webhook__job_free(j);
    if (r->n_up + r->n_ids + r->n_life == 0 || loop__post(t->side->loop, webhook__apply, r) != 0)
        webhook__result_free(r);
}

/* ---- libwebsockets thread -------------------------------------------------------------- */

/* Both paths take either kind of item: the item says which it is. */
static int webhook__handle(struct gside *side, bool lifecycle, const struct http_request *req,
                           struct http_response *resp)
{
    const char *prefix = lifecycle ? LIFECYCLE_PREFIX : NOTIFY_PREFIX;
    const char *name = req->path + strlen(prefix);
    struct gtenant *t = strchr(name, '/') ? NULL : gside__tenant(side, name);
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
    if (!j || !j->body || workqueue__push(side->wq, webhook__work, j) != 0) {
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

int webhook__routes(struct gside *side)
{
    metrics__describe("notifications_total", METRIC_COUNTER,
                      "Graph notification items by outcome (applied, basic, lifecycle, or why "
                      "they were dropped)");
    metrics__describe("notification_latency_seconds", METRIC_HISTOGRAM,
                      "Seconds from a Graph notification's arrival to the busy state being "
                      "decided (published or found unchanged)");
    metrics__describe("graph_validations_total", METRIC_COUNTER,
                      "Graph validation handshakes answered");
    struct http_server *srv = side->env->http;
    if (http_server__route(srv, "POST", NOTIFY_PREFIX, true, webhook__on_notify, side) < 0 ||
        http_server__route(srv, "POST", LIFECYCLE_PREFIX, true, webhook__on_lifecycle, side) < 0)
        return -1;
    return 0;
}
