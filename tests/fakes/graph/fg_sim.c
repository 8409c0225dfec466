/* fake-graph: request plumbing. The libwebsockets thread copies each request
 * and posts it to the loop thread, which routes it, answers it and records it. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/loop.h"
#include "fg_sim.h"

#define FG_MAX_RECORDS     20000
#define FG_RECORD_BODY_MAX 65536
#define FG_SWEEP_MS        200

int64_t fg_sim__now(void)
{
    return clock__wall_ms();
}

int fg_sim__init(struct fg_sim *sim, struct loop *loop, struct http_client *cli)
{
    memset(sim, 0, sizeof(*sim));
    sim->loop = loop;
    sim->cli = cli;
    fg_store__init(&sim->store);
    sim->settings.batch_window_ms = 0;
    sim->settings.retry_base_ms = 1000;
    sim->settings.retry_max = 5;
    sim->settings.validation_timeout_ms = 10000;
    sim->settings.delivery_timeout_ms = 3000;
    sim->settings.resource_form = FG_RESOURCE_ONE_ID;
    sim->settings.token_version = 1;
    sim->next_record = 1;
    sim->next_delivery = 1;
    sim->faults = fg_faults__new();
    sim->budget = fg_budget__new();
    if (!sim->faults || !sim->budget || fg_signer__init(&sim->signer) != 0) {
        return -1;
    }
    return 0;
}

static void fg_sim__clear_vec(struct fg_vec *v)
{
    for (size_t i = 0; i < v->n; i++) {
        cJSON_Delete(v->items[i]);
    }
    v->n = 0;
}

void fg_sim__free(struct fg_sim *sim)
{
    fg_notify__clear(sim);
    free(sim->outboxes.items);
    fg_store__free(&sim->store);
    fg_signer__free(&sim->signer);
    fg_signer__free(&sim->prev_signer);
    fg_faults__free(sim->faults);
    fg_budget__free(sim->budget);
    fg_sim__clear_vec(&sim->records);
    free(sim->records.items);
    fg_sim__clear_vec(&sim->deliveries);
    free(sim->deliveries.items);
}

void fg_sim__reset(struct fg_sim *sim)
{
    fg_notify__clear(sim);
    fg_store__clear(&sim->store);
    fg_faults__clear(sim->faults);
    fg_budget__reset(sim->budget);
    fg_sim__clear_vec(&sim->records);
    fg_sim__clear_vec(&sim->deliveries);
}

void fg_resp__json(struct fg_resp *resp, int status, cJSON *body)
{
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = body ? cJSON_PrintUnformatted(body) : NULL;
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    cJSON_Delete(body);
}

void fg_resp__empty(struct fg_resp *resp, int status)
{
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = NULL;
    resp->body_len = 0;
}

void fg_resp__no_content_type(struct fg_resp *resp, int status)
{
    resp->status = status;
    resp->content_type = ""; /* http_server: no Content-Type header */
    resp->body = NULL;
    resp->body_len = 0;
}

void fg_resp__graph_error(struct fg_resp *resp, int status, const char *code, const char *message)
{
    char date[32], rid[37], crid[37];
    clock__iso8601(fg_sim__now(), date, sizeof(date));
    fg_store__guid(rid);
    fg_store__guid(crid);
    if (resp->client_request_id && strlen(resp->client_request_id) < sizeof(crid)) {
        snprintf(crid, sizeof(crid), "%s", resp->client_request_id);
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", message);
    cJSON *inner = cJSON_AddObjectToObject(err, "innerError");
    cJSON_AddStringToObject(inner, "date", date);
    cJSON_AddStringToObject(inner, "request-id", rid);
    cJSON_AddStringToObject(inner, "client-request-id", crid);
    fg_resp__json(resp, status, root);
}

cJSON *fg_sim__parse_json(const struct fg_req *r)
{
    if (!r->body || r->body_len == 0) {
        return NULL;
    }
    return cJSON_ParseWithLength(r->body, r->body_len);
}

static void fg_sim__push_capped(struct fg_vec *v, cJSON *item)
{
    if (v->n >= FG_MAX_RECORDS) {
        cJSON_Delete(fg_vec__remove_at(v, 0));
    }
    if (fg_vec__push(v, item) != 0) {
        cJSON_Delete(item);
    }
}

void fg_sim__record_delivery(struct fg_sim *sim, cJSON *d)
{
    cJSON_AddNumberToObject(d, "seq", (double)sim->next_delivery++);
    fg_sim__push_capped(&sim->deliveries, d);
}

static bool fg_sim__is_write(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* The record of one answered request; token endpoint bodies are never kept
 * (they hold passwords and secrets): fg_oauth.c fills r->who instead. */
static cJSON *fg_sim__record_new(const struct fg_req *r, int status)
{
    char ts[32];
    cJSON *o = cJSON_CreateObject();
    int64_t now = fg_sim__now();
    cJSON_AddStringToObject(o, "time", clock__iso8601_graph(now, ts, sizeof(ts)));
    cJSON_AddNumberToObject(o, "t_ms", (double)now);
    cJSON_AddStringToObject(o, "method", r->method);
    cJSON_AddStringToObject(o, "path", r->path);
    cJSON_AddStringToObject(o, "query", r->query ? r->query : "");
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddNumberToObject(o, "ms", (double)(clock__mono_ms() - r->start_ms));
    cJSON_AddBoolToObject(o, "batch_item", r->batch_item);
    if (r->who[0]) {
        cJSON_AddStringToObject(o, "auth", r->who);
    }
    if (fg_sim__is_write(r->method) && r->body && !strstr(r->path, "/oauth2/")) {
        size_t n = r->body_len < FG_RECORD_BODY_MAX ? r->body_len : FG_RECORD_BODY_MAX;
        char *copy = strndup(r->body, n);
        if (copy) {
            cJSON_AddStringToObject(o, "body", copy);
            free(copy);
        }
    }
    return o;
}

static void fg_sim__record(struct fg_sim *sim, cJSON *rec)
{
    cJSON_AddNumberToObject(rec, "seq", (double)sim->next_record++);
    fg_sim__push_capped(&sim->records, rec);
}

static void fg_req__free(struct fg_req *r)
{
    free(r->path);
    free(r->query);
    free(r->body);
    free(r->authorization);
    free(r->content_type);
    free(r->host);
    free(r->client_request_id);
    free(r->forwarded_proto);
    free(r);
}

/* Graph answers with request-id and client-request-id (the caller's, or the
 * request-id when none was sent); the identity platform with x-ms-request-id
 * and the caller's client-request-id. */
static void fg_sim__correlation_headers(const struct fg_req *r, char *buf, size_t len)
{
    char rid[37];
    fg_store__guid(rid);
    const char *crid = r->client_request_id;
    bool graph = strncmp(r->path, "/v1.0/", 6) == 0;
    if (graph) {
        snprintf(buf, len, "request-id: %s\r\nclient-request-id: %s\r\n", rid, crid ? crid : rid);
    }
    else if (crid) {
        snprintf(buf, len, "x-ms-request-id: %s\r\nclient-request-id: %s\r\n", rid, crid);
    }
    else {
        snprintf(buf, len, "x-ms-request-id: %s\r\n", rid);
    }
}

void fg_sim__base_url(const struct fg_req *r, char *buf, size_t len)
{
    bool https = r->forwarded_proto && strcasecmp(r->forwarded_proto, "https") == 0;
    snprintf(buf, len, "%s://%s", https ? "https" : "http", r->host ? r->host : "127.0.0.1");
}

void fg_sim__finish(struct fg_req *r, struct fg_resp *resp)
{
    if (strncmp(r->path, "/_sim/", 6) != 0) {
        fg_sim__record(r->sim, fg_sim__record_new(r, resp->status));
    }
    LOG_DEBUG("fake-graph", "answered method=%s path=%s status=%d", r->method, r->path,
              resp->status);
    if (r->pending) {
        char hdr[320];
        fg_sim__correlation_headers(r, hdr, sizeof(hdr));
        const char *ra = fg_faults__retry_header(r->sim->faults, resp->retry_after);
        if (ra && strlen(hdr) + strlen(ra) < sizeof(hdr))
            strcat(hdr, ra);
        http_server__complete_headers(r->pending, resp->status,
                                      resp->content_type ? resp->content_type : "application/json",
                                      hdr, resp->body, resp->body_len);
    }
    else {
        free(resp->body);
    }
    resp->body = NULL;
    fg_req__free(r);
}

/* Splits /{tenant}/oauth2/v2.0/token; returns the tenant or NULL. */
static int fg_sim__token_path(const char *path, char *tenant, size_t len)
{
    const char *slash = strchr(path + 1, '/');
    if (!slash || strcmp(slash, "/oauth2/v2.0/token") != 0 || (size_t)(slash - path - 1) >= len ||
        slash == path + 1) {
        return -1;
    }
    memcpy(tenant, path + 1, (size_t)(slash - path - 1));
    tenant[slash - path - 1] = '\0';
    return 0;
}

static int fg_sim__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp)
{
    char tenant[FG_ID_LEN];
    const char *p = r->path;
    if (strncmp(p, "/_sim/", 6) == 0) {
        return fg_control__route(sim, r, resp, p + 5);
    }
    if (strncmp(p, "/v1.0/subscriptions", 19) == 0 && (p[19] == '\0' || p[19] == '/')) {
        return fg_subs__route(sim, r, resp, p + 19);
    }
    if (strncmp(p, "/v1.0/", 6) == 0) {
        return fg_graph__route(sim, r, resp, p + 5);
    }
    if (strncasecmp(p, "/common/userrealm/", 18) == 0) { /* MSAL Go: UserRealm */
        return fg_oidc__realm(sim, r, resp, p + 18);
    }
    if (strstr(p, "/discovery/") || strstr(p, "/.well-known/openid-configuration")) {
        return fg_oidc__route(sim, r, resp);
    }
    if (fg_sim__token_path(p, tenant, sizeof(tenant)) == 0) {
        if (strcmp(r->method, "POST") != 0) {
            fg_oauth__error(resp, 900561, "The endpoint only accepts POST requests.");
            return FG_DONE;
        }
        return fg_oauth__token(sim, r, resp, tenant);
    }
    fg_resp__graph_error(resp, 404, "BadRequest",
                         "Resource not found for the segment in the request path.");
    return FG_DONE;
}

static void fg_sim__run(void *arg)
{
    struct fg_req *r = arg;
    struct fg_resp resp = {.retry_after = -1, .client_request_id = r->client_request_id};
    if (r->fault.hit && r->fault.status) {
        /* a delayed fault: after the delay it fails (Retry-After cannot be
         * sent on a deferred response) */
        fg_faults__respond(&r->fault, r->path, &resp);
        fg_sim__finish(r, &resp);
        return;
    }
    if (fg_sim__route(r->sim, r, &resp) == FG_DONE) {
        fg_sim__finish(r, &resp);
    }
}

static void fg_sim__dispatch(void *arg)
{
    struct fg_req *r = arg;
    if (r->fault.hit && r->fault.delay_ms > 0) {
        loop__timer(r->sim->loop, r->fault.delay_ms, fg_sim__run, r);
        return;
    }
    fg_sim__run(r);
}

struct fg_record_job {
    struct fg_sim *sim;
    cJSON *rec;
};

static void fg_sim__record_job(void *arg)
{
    struct fg_record_job *j = arg;
    fg_sim__record(j->sim, j->rec);
    free(j);
}

static char *fg_sim__header(const struct http_request *req, const char *name)
{
    char buf[8192];
    int n = http_request__header(req, name, buf, sizeof(buf));
    return n >= 0 ? strndup(buf, (size_t)n) : NULL;
}

/* libwebsockets thread: copy and hand over; never touch the state. */
static int fg_sim__on_http(void *ctx, const struct http_request *req, struct http_response *resp,
                           struct http_pending *pending)
{
    struct fg_sim *sim = ctx;
    struct fg_req *r = calloc(1, sizeof(*r));
    if (!r) {
        resp->status = 503;
        return HTTP_DONE;
    }
    r->sim = sim;
    r->start_ms = clock__mono_ms();
    snprintf(r->method, sizeof(r->method), "%s", req->method);
    r->path = strdup(req->path);
    r->query = strdup(req->query ? req->query : "");
    r->body = req->body ? strndup(req->body, req->body_len) : strdup("");
    r->body_len = req->body ? req->body_len : 0;
    r->authorization = fg_sim__header(req, "Authorization");
    r->content_type = fg_sim__header(req, "Content-Type");
    r->host = fg_sim__header(req, "Host");
    r->client_request_id = fg_sim__header(req, "client-request-id");
    if (!r->client_request_id) {
        /* MSAL sends it in the query of token requests */
        char crid[128];
        int n = http_request__query(req, "client-request-id", crid, sizeof(crid));
        r->client_request_id = n > 0 ? strndup(crid, (size_t)n) : NULL;
    }
    r->forwarded_proto = fg_sim__header(req, "X-Forwarded-Proto");
    if (!r->path || !r->query || !r->body) {
        fg_req__free(r);
        resp->status = 503;
        return HTTP_DONE;
    }
    if (strncmp(r->path, "/_sim/", 6) != 0) {
        r->fault = fg_faults__take(sim->faults, r->method, r->path);
    }
    if (r->fault.hit && r->fault.status && r->fault.delay_ms == 0) {
        /* answered here so that Retry-After can go in a real header */
        struct fg_resp fr = {.retry_after = -1, .client_request_id = r->client_request_id};
        fg_faults__respond(&r->fault, r->path, &fr);
        resp->status = fr.status;
        resp->content_type = "application/json";
        resp->body = fr.body;
        resp->body_len = fr.body_len;
        resp->extra_headers = fg_faults__retry_header(sim->faults, r->fault.retry_after);
        struct fg_record_job *j = malloc(sizeof(*j));
        if (j) {
            j->sim = sim;
            j->rec = fg_sim__record_new(r, fr.status);
            cJSON_AddBoolToObject(j->rec, "fault", true);
            if (loop__post(sim->loop, fg_sim__record_job, j) != 0) {
                cJSON_Delete(j->rec);
                free(j);
            }
        }
        fg_req__free(r);
        return HTTP_DONE;
    }
    r->pending = pending;
    if (loop__post(sim->loop, fg_sim__dispatch, r) != 0) {
        r->pending = NULL;
        fg_req__free(r);
        resp->status = 503;
        return HTTP_DONE;
    }
    return HTTP_DEFER;
}

int fg_sim__routes(struct fg_sim *sim, struct http_server *srv)
{
    sim->srv = srv;
    return http_server__route(srv, NULL, "/", true, fg_sim__on_http, sim);
}

static void fg_sim__sweep(void *arg)
{
    struct fg_sim *sim = arg;
    struct fg_vec changed = {0};
    size_t removed = 0;
    fg_store__sweep(&sim->store, fg_sim__now(), &changed, &removed);
    if (removed) {
        LOG_INFO("fake-graph", "subscriptions expired count=%zu", removed);
    }
    for (size_t i = 0; i < changed.n; i++) {
        fg_notify__user_changed(sim, changed.items[i]);
    }
    free(changed.items);
    loop__timer(sim->loop, FG_SWEEP_MS, fg_sim__sweep, sim);
}

void fg_sim__start_sweep(struct fg_sim *sim)
{
    loop__timer(sim->loop, FG_SWEEP_MS, fg_sim__sweep, sim);
}
