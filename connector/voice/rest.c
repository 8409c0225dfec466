/* Voice REST client: see rest.h. */
#include "voice/rest.h"

#include "core/metrics.h"
#include "core/str.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REST_TIMEOUT_MS 10000
/* GET /users lists every user of the account in one answer: room for ~600,000 */
#define REST_USERS_MAX_BODY ((size_t)96 * 1024 * 1024)

struct voice_rest {
    struct http_client *http;
    char *username;
    char *secret;
    char *api;
    char *tenant;  /* label of voice_requests_total; NULL until set */
    char *ca_file; /* NULL: the system store */
};

/* Counts the answer (voice_requests_total{tenant,status}) and hands it on.
 * Holds its own copy of the labels: the voice_rest may be gone by then. */
struct rest_req {
    http_done_fn fn;
    void *ctx;
    char tenant[128];
};

static void rest__done(void *arg, const struct http_result *res)
{
    struct rest_req *q = arg;
    char labels[200], status[16];
    if (res->status > 0)
        snprintf(status, sizeof(status), "%d", res->status);
    else
        snprintf(status, sizeof(status), "error");
    if (q->tenant[0])
        snprintf(labels, sizeof(labels), "tenant=\"%s\",status=\"%s\"", q->tenant, status);
    else
        snprintf(labels, sizeof(labels), "status=\"%s\"", status);
    metrics__inc("voice_requests_total", labels, 1);
    http_done_fn fn = q->fn;
    void *ctx = q->ctx;
    free(q);
    fn(ctx, res);
}

static int rest__send(struct voice_rest *r, const struct http_call *call, http_done_fn fn,
                      void *ctx)
{
    struct rest_req *q = calloc(1, sizeof(*q));
    if (!q)
        return -1;
    q->fn = fn;
    q->ctx = ctx;
    snprintf(q->tenant, sizeof(q->tenant), "%s", r->tenant ? r->tenant : "");
    int rc = http_client__send(r->http, call, rest__done, q);
    if (rc != 0)
        free(q);
    return rc;
}

int voice_rest__set_ca_file(struct voice_rest *r, const char *ca_file)
{
    char *c = str__dup(ca_file);
    if (ca_file && !c)
        return -1;
    free(r->ca_file);
    r->ca_file = c;
    return 0;
}

int voice_rest__set_tenant(struct voice_rest *r, const char *tenant)
{
    char *t = str__dup(tenant);
    if (tenant && !t)
        return -1;
    free(r->tenant);
    r->tenant = t;
    return 0;
}

/* What the maintained Python client sends; X-Json-Serializer: 2 selects the
 * newer serializer (docs/voice.md "Assumptions", A2). */
static const char *const rest_headers[] = {"Accept: application/json", "X-Json-Serializer: 2",
                                           NULL};

struct voice_rest *voice_rest__new(struct http_client *http, const char *username,
                                   const char *secret)
{
    struct voice_rest *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    metrics__describe("voice_requests_total", METRIC_COUNTER,
                      "Voice REST requests (discovery, users, token, negotiate, talking) by "
                      "HTTP status (error: no answer)");
    r->http = http;
    r->username = strdup(username ? username : "");
    r->secret = strdup(secret ? secret : "");
    if (!r->username || !r->secret) {
        voice_rest__free(r);
        return NULL;
    }
    return r;
}

void voice_rest__free(struct voice_rest *r)
{
    if (!r)
        return;
    if (r->secret)
        OPENSSL_cleanse(r->secret, strlen(r->secret));
    free(r->secret);
    free(r->username);
    free(r->api);
    free(r->tenant);
    free(r->ca_file);
    free(r);
}

int voice_rest__set_api(struct voice_rest *r, const char *api_url)
{
    char *api = NULL;
    if (api_url) {
        size_t n = strlen(api_url);
        while (n && api_url[n - 1] == '/')
            n--;
        if (!(api = strndup(api_url, n)))
            return -1;
    }
    free(r->api);
    r->api = api;
    return 0;
}

const char *voice_rest__api(const struct voice_rest *r)
{
    return r->api;
}

static char *rest__join(const char *base, const char *path)
{
    return str__cat(base, path[0] == '/' ? "" : "/", path, NULL);
}

int voice_rest__discover(struct voice_rest *r, const char *discovery_url, const char *email,
                         http_done_fn fn, void *ctx)
{
    char *user = http__escape(email);
    size_t n = strlen(discovery_url) + (user ? strlen(user) : 0) + 32;
    char *url = malloc(n);
    if (!user || !url) {
        free(user);
        free(url);
        return -1;
    }
    size_t blen = strlen(discovery_url);
    while (blen && discovery_url[blen - 1] == '/')
        blen--;
    snprintf(url, n, "%.*s/api/user?user=%s", (int)blen, discovery_url, user);
    struct http_call call = {
        .method = "GET",
        .url = url,
        .headers = rest_headers,
        .timeout_ms = REST_TIMEOUT_MS,
        .ca_file = r->ca_file,
    };
    int rc = rest__send(r, &call, fn, ctx);
    free(user);
    free(url);
    return rc;
}

int voice_rest__call(struct voice_rest *r, const char *method, const char *path, const char *body,
                     http_done_fn fn, void *ctx)
{
    if (!r->api)
        return -1;
    char *url = rest__join(r->api, path);
    if (!url)
        return -1;
    struct http_call call = {
        .method = method,
        .url = url,
        .headers = rest_headers,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .content_type = body ? "application/json" : NULL,
        .basic_user = r->username,
        .basic_pass = r->secret,
        .timeout_ms = REST_TIMEOUT_MS,
        .ca_file = r->ca_file,
        /* the user list is one answer: 100,000 users are about 17 MiB
         * (docs/scaling.md) */
        .max_body = strcmp(path, "/users") == 0 ? REST_USERS_MAX_BODY : 0,
    };
    int rc = rest__send(r, &call, fn, ctx);
    free(url);
    return rc;
}

int voice_rest__post_bearer(struct voice_rest *r, const char *url, const char *bearer,
                            http_done_fn fn, void *ctx)
{
    struct http_call call = {
        .method = "POST",
        .url = url,
        .headers = rest_headers,
        .body = "",
        .body_len = 0,
        .content_type = "text/plain",
        .bearer = bearer,
        .timeout_ms = REST_TIMEOUT_MS,
        .ca_file = r->ca_file,
    };
    return rest__send(r, &call, fn, ctx);
}

const char *voice_rest__reason(const struct http_result *res, char *buf, size_t len)
{
    if (res->status == 0)
        snprintf(buf, len, "transport error: %s", res->error ? res->error : "unknown");
    else
        snprintf(buf, len, "HTTP %d", res->status);
    return buf;
}

int voice_rest__retryable(const struct http_result *res)
{
    return res->status == 0 || res->status == 408 || res->status == 429 || res->status >= 500;
}
