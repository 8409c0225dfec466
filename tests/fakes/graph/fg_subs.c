/* fake-graph: /v1.0/subscriptions for presence (docs/graph.md "Subscriptions"):
 * create with the validation handshake, renew, reauthorize, list, delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/clock.h"
#include "core/http_client.h"
#include "core/log.h"
#include "fg_filter.h"
#include "fg_sim.h"

#define FG_EXPIRY_GRACE_MS 10000 /* request transit time */

static const char *fg_subs__string(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *fg_subs__json(const struct fg_sub *s, bool with_client_state)
{
    char exp[40];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "@odata.context",
                            "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity");
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "resource", s->resource);
    cJSON_AddStringToObject(o, "applicationId", s->client_id);
    cJSON_AddStringToObject(o, "changeType", "updated");
    if (with_client_state && s->client_state) {
        cJSON_AddStringToObject(o, "clientState", s->client_state);
    }
    else {
        cJSON_AddNullToObject(o, "clientState");
    }
    cJSON_AddStringToObject(o, "notificationUrl", s->notification_url);
    cJSON_AddNullToObject(o, "notificationQueryOptions");
    if (s->lifecycle_url) {
        cJSON_AddStringToObject(o, "lifecycleNotificationUrl", s->lifecycle_url);
    }
    else {
        cJSON_AddNullToObject(o, "lifecycleNotificationUrl");
    }
    cJSON_AddStringToObject(o, "expirationDateTime",
                            clock__iso8601_graph(s->expires_ms, exp, sizeof(exp)));
    cJSON_AddStringToObject(o, "creatorId", s->creator_id);
    cJSON_AddBoolToObject(o, "includeResourceData", s->include_resource_data);
    cJSON_AddStringToObject(o, "latestSupportedTlsVersion", s->latest_tls ? s->latest_tls : "v1_2");
    if (s->cert_b64) {
        cJSON_AddStringToObject(o, "encryptionCertificate", s->cert_b64);
        cJSON_AddStringToObject(o, "encryptionCertificateId", s->cert_id ? s->cert_id : "");
    }
    else {
        cJSON_AddNullToObject(o, "encryptionCertificate");
        cJSON_AddNullToObject(o, "encryptionCertificateId");
    }
    cJSON_AddNullToObject(o, "notificationUrlAppId");
    return o;
}

static void fg_subs__ext_error(struct fg_resp *resp, int status, const char *op,
                               const char *reason_status, const char *reason)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "Operation: %s; Exception: [Status Code: %s; Reason: %s]", op,
             reason_status, reason);
    fg_resp__graph_error(resp, status, "ExtensionError", msg);
}

/* Expiry check shared by create and renew. Returns 0 or fills resp. The
 * expiry granted may be earlier than asked (settings.grant_expiry_ms), as
 * Graph's may: the answer's expirationDateTime is what counts. */
static int fg_subs__expiry(const struct fg_sim *sim, const cJSON *b, int64_t *out,
                           struct fg_resp *resp)
{
    const char *s = fg_subs__string(b, "expirationDateTime");
    int64_t now = fg_sim__now();
    if (!s || clock__parse_iso8601(s, out) != 0) {
        fg_resp__graph_error(resp, 400, "InvalidRequest",
                             "expirationDateTime is missing or not a valid date time.");
        return -1;
    }
    if (*out <= now) {
        fg_resp__graph_error(resp, 400, "InvalidRequest",
                             "Subscription expiration date time must be in the future.");
        return -1;
    }
    if (*out > now + FG_SUB_MAX_MS + FG_EXPIRY_GRACE_MS) {
        fg_resp__graph_error(resp, 400, "InvalidRequest",
                             "Subscription expiration can only be 60 minutes in the future.");
        return -1;
    }
    if (sim->settings.grant_expiry_ms > 0 && *out > now + sim->settings.grant_expiry_ms)
        *out = now + sim->settings.grant_expiry_ms;
    return 0;
}

static int fg_subs__cert(const cJSON *b, struct fg_sub *s, struct fg_resp *resp)
{
    const char *cert = fg_subs__string(b, "encryptionCertificate");
    const char *cert_id = fg_subs__string(b, "encryptionCertificateId");
    const char *err = NULL;
    EVP_PKEY *key = NULL;
    char thumb[48];
    if (!cert) {
        err = "A valid encryptionCertificate must be provided when includeResourceData is true.";
    }
    else if (!cert_id || !*cert_id || strlen(cert_id) > 128) {
        err = "encryptionCertificateId must be provided (at most 128 characters) when "
              "includeResourceData is true.";
    }
    else if (fg_crypto__parse_cert(cert, &key, thumb, &err) == 0) {
        EVP_PKEY_free(s->cert_key);
        free(s->cert_b64);
        free(s->cert_id);
        s->cert_key = key;
        s->cert_b64 = strdup(cert);
        s->cert_id = strdup(cert_id);
        snprintf(s->thumbprint, sizeof(s->thumbprint), "%s", thumb);
        return 0;
    }
    fg_resp__graph_error(resp, 400, "InvalidRequest", err);
    return -1;
}

static bool fg_subs__url_ok(const char *u)
{
    return u && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0) &&
           !strchr(u, ' ');
}

/* Validation handshake state for one create. */
struct fg_validation {
    struct fg_sim *sim;
    struct fg_req *r;
    char sub_id[FG_ID_LEN];
    char token[160];
    int outstanding;
    const char *code; /* first failure */
    const char *message;
};

struct fg_validation_call {
    struct fg_validation *v;
    char *url;
};

static void fg_subs__validation_done(struct fg_validation *v)
{
    struct fg_sim *sim = v->sim;
    struct fg_sub *s = fg_store__sub(&sim->store, v->sub_id);
    struct fg_resp resp = {.retry_after = -1, .client_request_id = v->r->client_request_id};
    if (!v->code && !s) {
        v->code = "InvalidRequest";
        v->message = "The subscription was removed during validation.";
    }
    if (v->code) {
        fg_store__remove_sub(&sim->store, v->sub_id);
        fg_resp__graph_error(&resp, 400, v->code, v->message);
        LOG_INFO("fake-graph", "subscription validation failed id=%s reason=%s", v->sub_id,
                 v->message);
    }
    else {
        s->pending = false;
        fg_resp__json(&resp, 201, fg_subs__json(s, true));
        LOG_INFO("fake-graph", "subscription created id=%s users=%zu rich=%d", s->id, s->n_users,
                 s->include_resource_data);
    }
    fg_sim__finish(v->r, &resp);
    free(v);
}

static void fg_subs__validation_reply(void *ctx, const struct http_result *res)
{
    struct fg_validation_call *c = ctx;
    struct fg_validation *v = c->v;
    const char *code = NULL, *msg = NULL;
    if (res->status == 0 && res->transport_error == CURLE_OPERATION_TIMEDOUT) {
        code = "InvalidRequest";
        msg = "Subscription validation request timed out.";
    }
    else if (res->status != 200) {
        code = "ValidationError";
        msg = "Subscription validation request failed. Notification endpoint must respond with "
              "200 OK to validation request.";
    }
    else if (res->body_len != strlen(v->token) || memcmp(res->body, v->token, res->body_len)) {
        code = "ValidationError";
        msg = "Subscription validation request failed. Response must exactly match "
              "validationToken query parameter.";
    }
    if (code && !v->code) {
        v->code = code;
        v->message = msg;
    }
    cJSON *d = cJSON_CreateObject();
    char ts[40];
    cJSON_AddStringToObject(d, "time", clock__iso8601_graph(fg_sim__now(), ts, sizeof(ts)));
    cJSON_AddStringToObject(d, "kind", "validation");
    cJSON_AddStringToObject(d, "url", c->url);
    cJSON_AddStringToObject(d, "subscriptionId", v->sub_id);
    cJSON_AddNumberToObject(d, "attempt", 1);
    cJSON_AddNumberToObject(d, "status", res->status);
    cJSON_AddNumberToObject(d, "ack_ms", res->elapsed_ms);
    cJSON_AddBoolToObject(d, "ok", code == NULL);
    if (code) {
        cJSON_AddStringToObject(d, "error", msg);
    }
    fg_sim__record_delivery(v->sim, d);
    free(c->url);
    free(c);
    if (--v->outstanding == 0) {
        fg_subs__validation_done(v);
    }
}

static int fg_subs__validate_url(struct fg_validation *v, const char *base)
{
    char *esc = http__escape(v->token);
    size_t len = strlen(base) + (esc ? strlen(esc) : 0) + 32;
    struct fg_validation_call *c = calloc(1, sizeof(*c));
    char *url = malloc(len);
    if (!esc || !c || !url) {
        free(esc);
        free(c);
        free(url);
        return -1;
    }
    snprintf(url, len, "%s%svalidationToken=%s", base, strchr(base, '?') ? "&" : "?", esc);
    free(esc);
    c->v = v;
    c->url = url;
    struct http_call call = {
        .method = "POST",
        .url = url,
        .body = "",
        .body_len = 0,
        .content_type = "text/plain; charset=utf-8",
        .timeout_ms = v->sim->settings.validation_timeout_ms,
    };
    v->outstanding++;
    if (http_client__send(v->sim->cli, &call, fg_subs__validation_reply, c) != 0) {
        v->outstanding--;
        free(url);
        free(c);
        return -1;
    }
    return 0;
}

/* Checks the users named in the filter; Graph fails the whole create when
 * one of them is unknown (a field report, docs/graph.md). */
static int fg_subs__users(struct fg_sim *sim, struct fg_sub *s, struct fg_resp *resp)
{
    enum fg_filter_result fr = fg_filter__parse(s->resource, &s->user_ids, &s->n_users);
    if (fr != FG_FILTER_OK) {
        fg_resp__graph_error(resp, 400,
                             fr == FG_FILTER_BAD_RESOURCE ? "InvalidRequest" : "BadRequest",
                             fg_filter__message(fr));
        return -1;
    }
    for (size_t i = 0; i < s->n_users; i++) {
        struct fg_user *u = fg_store__user(&sim->store, s->tenant, s->user_ids[i]);
        if (!u || strcasecmp(u->id, s->user_ids[i]) != 0) {
            fg_subs__ext_error(resp, 500, "Create", "InternalServerError",
                               "One or more user ids in the filter are not valid.");
            return -1;
        }
    }
    return 0;
}

static int fg_subs__fill(struct fg_sim *sim, struct fg_req *r, const cJSON *b, struct fg_sub *s,
                         struct fg_resp *resp)
{
    const char *change = fg_subs__string(b, "changeType");
    const char *nurl = fg_subs__string(b, "notificationUrl");
    const char *lurl = fg_subs__string(b, "lifecycleNotificationUrl");
    const char *cs = fg_subs__string(b, "clientState");
    const char *tls = fg_subs__string(b, "latestSupportedTlsVersion");
    const cJSON *rich = cJSON_GetObjectItemCaseSensitive(b, "includeResourceData");
    const char *res = fg_subs__string(b, "resource");
    snprintf(s->tenant, sizeof(s->tenant), "%s", r->token->tenant);
    snprintf(s->client_id, sizeof(s->client_id), "%s", r->token->client_id);
    snprintf(s->creator_id, sizeof(s->creator_id), "%s", r->token->user_id);
    if (!change || strcmp(change, "updated") != 0) {
        fg_resp__graph_error(resp, 400, "InvalidRequest",
                             "changeType must be 'updated' for presence subscriptions.");
        return -1;
    }
    if (!fg_subs__url_ok(nurl) || (lurl && !fg_subs__url_ok(lurl))) {
        fg_resp__graph_error(resp, 400, "InvalidRequest",
                             "notificationUrl and lifecycleNotificationUrl must be absolute "
                             "http(s) URLs.");
        return -1;
    }
    if (!res) {
        fg_resp__graph_error(resp, 400, "InvalidRequest", "resource is required.");
        return -1;
    }
    s->resource = strdup(res);
    if (fg_subs__users(sim, s, resp) != 0 || fg_subs__expiry(sim, b, &s->expires_ms, resp) != 0) {
        return -1;
    }
    if (cs && strlen(cs) > FG_CLIENT_STATE_MAX) {
        fg_resp__graph_error(resp, 400, "InvalidRequest",
                             "clientState must be at most 128 characters.");
        return -1;
    }
    if (tls && strcmp(tls, "v1_0") && strcmp(tls, "v1_1") && strcmp(tls, "v1_2") &&
        strcmp(tls, "v1_3")) {
        fg_resp__graph_error(resp, 400, "InvalidRequest",
                             "latestSupportedTlsVersion must be v1_0, v1_1, v1_2 or v1_3.");
        return -1;
    }
    s->include_resource_data = cJSON_IsTrue(rich);
    if (s->include_resource_data && fg_subs__cert(b, s, resp) != 0) {
        return -1;
    }
    s->notification_url = strdup(nurl);
    s->lifecycle_url = lurl ? strdup(lurl) : NULL;
    s->client_state = cs ? strdup(cs) : NULL;
    s->latest_tls = tls ? strdup(tls) : NULL;
    return 0;
}

static int fg_subs__create(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp)
{
    if (r->token->kind != FG_TOKEN_DELEGATED) {
        fg_subs__ext_error(resp, 403, "Create", "Forbidden",
                           "Presence subscriptions need a delegated token; application "
                           "permissions are not supported.");
        return FG_DONE;
    }
    cJSON *b = fg_sim__parse_json(r);
    struct fg_sub *s = calloc(1, sizeof(*s));
    if (!b || !s) {
        cJSON_Delete(b);
        free(s);
        fg_resp__graph_error(resp, 400, "BadRequest", "Empty or invalid JSON payload.");
        return FG_DONE;
    }
    int rc = fg_subs__fill(sim, r, b, s, resp);
    cJSON_Delete(b);
    if (rc != 0) {
        fg_sub__free(s);
        return FG_DONE;
    }
    if (fg_store__conflict(&sim->store, s->tenant, s->client_id, s->creator_id)) {
        fg_sub__free(s);
        fg_subs__ext_error(resp, 409, "Create", "Conflict",
                           "A subscripton already exists. It must be deleted before a another "
                           "can be made");
        return FG_DONE;
    }
    struct fg_validation *v = calloc(1, sizeof(*v));
    if (!v) {
        fg_sub__free(s);
        fg_resp__graph_error(resp, 500, "InternalServerError", "out of memory");
        return FG_DONE;
    }
    fg_store__guid(s->id);
    s->pending = true;
    s->created_ms = fg_sim__now();
    char rid[37];
    fg_store__guid(rid);
    v->sim = sim;
    v->r = r;
    snprintf(v->sub_id, sizeof(v->sub_id), "%s", s->id);
    /* characters that need URL-decoding, as Graph's tokens have */
    snprintf(v->token, sizeof(v->token),
             "Validation: Testing client application reachability for subscription "
             "Request-Id: %s +/=",
             rid);
    fg_store__add_sub(&sim->store, s);
    int failed = fg_subs__validate_url(v, s->notification_url) != 0;
    if (s->lifecycle_url && !failed) {
        failed = fg_subs__validate_url(v, s->lifecycle_url) != 0;
    }
    if (failed) {
        v->code = "InvalidRequest";
        v->message = "Subscription validation request could not be sent.";
    }
    if (v->outstanding == 0) {
        fg_subs__validation_done(v);
    }
    return FG_ASYNC;
}

static bool fg_subs__owned(const struct fg_req *r, const struct fg_sub *s)
{
    if (s->pending || strcasecmp(s->tenant, r->token->tenant) != 0 ||
        strcasecmp(s->client_id, r->token->client_id) != 0) {
        return false;
    }
    /* a delegated caller sees only its own; an app token sees the app's */
    return r->token->kind == FG_TOKEN_APP || strcasecmp(s->creator_id, r->token->user_id) == 0;
}

static int fg_subs__not_found(struct fg_resp *resp)
{
    fg_resp__graph_error(resp, 404, "ResourceNotFound",
                         "The object was not found (the subscription may have expired).");
    return FG_DONE;
}

static int fg_subs__renew(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                          struct fg_sub *s)
{
    cJSON *b = fg_sim__parse_json(r);
    int64_t exp = s->expires_ms;
    if (!b) {
        fg_resp__graph_error(resp, 400, "BadRequest", "Empty or invalid JSON payload.");
    }
    else if (cJSON_GetObjectItemCaseSensitive(b, "expirationDateTime") &&
             fg_subs__expiry(sim, b, &exp, resp) != 0) {
        /* resp filled */
    }
    else if (cJSON_GetObjectItemCaseSensitive(b, "encryptionCertificate") &&
             fg_subs__cert(b, s, resp) != 0) {
        /* resp filled */
    }
    else {
        s->expires_ms = exp;
        s->reauthorized_ms = fg_sim__now();
        fg_resp__json(resp, 200, fg_subs__json(s, false));
        LOG_INFO("fake-graph", "subscription renewed id=%s", s->id);
    }
    cJSON_Delete(b);
    (void)sim;
    return FG_DONE;
}

int fg_subs__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp, const char *sub_path)
{
    if (fg_graph__auth(sim, r, resp) != 0) {
        return FG_DONE;
    }
    const char *m = r->method;
    if (!*sub_path || strcmp(sub_path, "/") == 0) {
        if (strcmp(m, "POST") == 0) {
            return fg_subs__create(sim, r, resp);
        }
        if (strcmp(m, "GET") == 0) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "@odata.context",
                                    "https://graph.microsoft.com/v1.0/$metadata#subscriptions");
            cJSON *arr = cJSON_AddArrayToObject(o, "value");
            for (size_t i = 0; i < sim->store.subs.n; i++) {
                struct fg_sub *s = sim->store.subs.items[i];
                if (fg_subs__owned(r, s)) {
                    cJSON *j = fg_subs__json(s, false);
                    cJSON_DeleteItemFromObject(j, "@odata.context");
                    cJSON_AddItemToArray(arr, j);
                }
            }
            fg_resp__json(resp, 200, o);
            return FG_DONE;
        }
        fg_resp__graph_error(resp, 405, "MethodNotAllowed", "Method not allowed.");
        return FG_DONE;
    }
    char id[FG_ID_LEN];
    const char *rest = strchr(sub_path + 1, '/');
    size_t len = rest ? (size_t)(rest - sub_path - 1) : strlen(sub_path + 1);
    if (len == 0 || len >= sizeof(id)) {
        return fg_subs__not_found(resp);
    }
    memcpy(id, sub_path + 1, len);
    id[len] = '\0';
    struct fg_sub *s = fg_store__sub(&sim->store, id);
    if (!s || !fg_subs__owned(r, s) || s->expires_ms <= fg_sim__now()) {
        return fg_subs__not_found(resp);
    }
    if (rest && strcmp(rest, "/reauthorize") == 0 && strcmp(m, "POST") == 0) {
        s->reauthorized_ms = fg_sim__now();
        fg_resp__empty(resp, 204);
        return FG_DONE;
    }
    if (rest) {
        fg_resp__graph_error(resp, 400, "BadRequest",
                             "Resource not found for the segment in the request path.");
        return FG_DONE;
    }
    if (strcmp(m, "GET") == 0) {
        fg_resp__json(resp, 200, fg_subs__json(s, false));
        return FG_DONE;
    }
    if (strcmp(m, "PATCH") == 0) {
        return fg_subs__renew(sim, r, resp, s);
    }
    if (strcmp(m, "DELETE") == 0) {
        LOG_INFO("fake-graph", "subscription deleted id=%s", s->id);
        fg_store__remove_sub(&sim->store, id);
        fg_resp__empty(resp, 204);
        return FG_DONE;
    }
    fg_resp__graph_error(resp, 405, "MethodNotAllowed", "Method not allowed.");
    return FG_DONE;
}
