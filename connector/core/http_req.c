/* One request of the HTTP client: the copy of the caller's call, its easy
 * handle's options, the response body, the result. See core/http_req.h.
 */
#include "core/http_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"

#define HTTP_DEFAULT_TIMEOUT_MS 10000L
#define HTTP_MAX_CONNECT_MS     5000L
#define HTTP_MAX_BODY           (16L * 1024 * 1024)

#define METRIC_REQUESTS "http_client_requests_total"
#define METRIC_DURATION "http_client_request_duration_seconds"

double http_req__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void http_req__free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* The request copies hold bearer tokens and passwords: wipe them. */
static void http_req__free_request(struct http_req *r)
{
    for (struct curl_slist *h = r->headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    if (r->body)
        explicit_bzero(r->body, r->body_len);
    free(r->body);
    http_req__free_secret(r->basic_pass);
    free(r->basic_user);
    free(r->method);
    free(r->url);
    free(r->ca_file);
    r->body = r->basic_pass = r->basic_user = r->method = r->url = r->ca_file = NULL;
}

/* What an observer gets of a finished request: copies made before the
 * request's own (secret-holding) copies are wiped. */
struct http_seen {
    char *method, *url, *body, *basic_user;
    size_t body_len;
    char **req_headers;  /* NULL-terminated */
    char **resp_headers; /* NULL-terminated */
};

static void http_req__free_secrets(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        http_req__free_secret(v[i]);
    free(v);
}

static void http_req__free_seen(struct http_seen *s)
{
    if (!s)
        return;
    free(s->method);
    free(s->url);
    if (s->body)
        explicit_bzero(s->body, s->body_len);
    free(s->body);
    free(s->basic_user);
    http_req__free_secrets(s->req_headers);
    http_req__free_secrets(s->resp_headers);
    free(s);
}

void http_req__free(struct http_req *r)
{
    http_req__free_seen(r->seen);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    http_req__free_request(r);
    free(r->rbody);
    free(r);
}

/* A header line must not smuggle in another header or a second request. */
static bool http_req__header_valid(const char *s)
{
    return s && strpbrk(s, "\r\n") == NULL;
}

static bool http_req__add_header(struct http_req *r, const char *name, const char *value)
{
    if (!http_req__header_valid(value)) {
        r->invalid = "header value contains CR or LF";
        return true; /* not a memory failure: completed with an error */
    }
    size_t len = strlen(name) + strlen(value) + 3;
    char *line = malloc(len);
    if (!line)
        return false;
    snprintf(line, len, "%s: %s", name, value);
    struct curl_slist *h = curl_slist_append(r->headers, line);
    explicit_bzero(line, len);
    free(line);
    if (!h)
        return false;
    r->headers = h;
    return true;
}

/* The call's headers, Content-Type and Authorization. false when out of
 * memory. */
static bool http_req__add_headers(struct http_req *r, const struct http_call *call)
{
    bool ok = true;
    for (const char *const *h = call->headers; ok && h && *h; h++) {
        if (!http_req__header_valid(*h)) {
            r->invalid = "header contains CR or LF";
            break;
        }
        struct curl_slist *l = curl_slist_append(r->headers, *h);
        ok = l != NULL;
        if (ok)
            r->headers = l;
    }
    if (ok && call->content_type)
        ok = http_req__add_header(r, "Content-Type", call->content_type);
    if (ok && call->bearer) {
        size_t len = strlen(call->bearer) + 8;
        char *v = malloc(len);
        ok = v != NULL;
        if (ok) {
            snprintf(v, len, "Bearer %s", call->bearer);
            ok = http_req__add_header(r, "Authorization", v);
            http_req__free_secret(v);
        }
    }
    /* curl adds "Expect: 100-continue" to large bodies; the round trip buys
     * nothing for the small JSON we send and some servers mishandle it. */
    if (ok) {
        struct curl_slist *l = curl_slist_append(r->headers, "Expect:");
        ok = l != NULL;
        if (ok)
            r->headers = l;
    }
    return ok;
}

/* Copies call into a new request. Returns NULL when out of memory. */
struct http_req *http_req__new(const struct http_call *call, http_done_fn fn, void *ctx)
{
    struct http_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->fn = fn;
    r->ctx = ctx;
    r->started_ms = http_req__now_ms();
    r->res.retry_after_ms = -1;
    r->timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
    r->max_body = call->max_body ? call->max_body : (size_t)HTTP_MAX_BODY;
    r->method = strdup(call->method ? call->method : "GET");
    r->url = strdup(call->url ? call->url : "");
    r->basic_user = str__dup(call->basic_user);
    r->basic_pass = str__dup(call->basic_user ? (call->basic_pass ? call->basic_pass : "") : NULL);
    r->ca_file = str__dup(call->ca_file);
    bool ok = r->method && r->url && (!call->basic_user || (r->basic_user && r->basic_pass)) &&
              (!call->ca_file || r->ca_file);
    if (ok && call->body) {
        r->body_len = call->body_len;
        r->body = malloc(call->body_len + 1);
        ok = r->body != NULL;
        if (ok)
            memcpy(r->body, call->body, call->body_len);
    }
    if (!call->url || !call->url[0])
        r->invalid = "no URL";
    if (!http_req__header_valid(r->method) || strchr(r->method, ' '))
        r->invalid = "bad method";
    if (ok)
        ok = http_req__add_headers(r, call);
    if (!ok) {
        http_req__free(r);
        return NULL;
    }
    return r;
}

static size_t http_req__on_body(char *data, size_t size, size_t n, void *arg)
{
    struct http_req *r = arg;
    size_t len = size * n;
    if (r->rlen + len > r->max_body) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (r->rlen + len + 1 > r->rcap) {
        size_t cap = r->rcap ? r->rcap : 4096;
        while (cap < r->rlen + len + 1)
            cap *= 2;
        char *p = realloc(r->rbody, cap);
        if (!p)
            return 0;
        r->rbody = p;
        r->rcap = cap;
    }
    memcpy(r->rbody + r->rlen, data, len);
    r->rlen += len;
    r->rbody[r->rlen] = '\0';
    return len;
}

static bool http_req__method_is(const struct http_req *r, const char *m)
{
    return strcmp(r->method, m) == 0;
}

/* Sets the options of r's easy handle; returns the first failure. */
CURLcode http_req__setup(struct http_req *r)
{
    CURL *e = r->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                           \
    do {                                        \
        if (rc == CURLE_OK)                     \
            rc = curl_easy_setopt(e, opt, val); \
    } while (0)
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_PRIVATE, r);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_TIMEOUT_MS, r->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        r->timeout_ms < HTTP_MAX_CONNECT_MS ? r->timeout_ms : HTTP_MAX_CONNECT_MS);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_USERAGENT, "presence-sync/" PS_VERSION);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
    SET(CURLOPT_WRITEFUNCTION, http_req__on_body);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_HTTPHEADER, r->headers);
    if (r->ca_file)
        SET(CURLOPT_CAINFO, r->ca_file);
    if (r->basic_user) {
        /* curl encodes any byte of user and password; never build it by hand */
        SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SET(CURLOPT_USERNAME, r->basic_user);
        SET(CURLOPT_PASSWORD, r->basic_pass);
    }
    if (http_req__method_is(r, "HEAD")) {
        SET(CURLOPT_NOBODY, 1L);
    }
    else if (r->body || http_req__method_is(r, "POST") || http_req__method_is(r, "PUT") ||
             http_req__method_is(r, "PATCH")) {
        /* Always a Content-Length, even 0: Graph answers 411 without one. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
        if (!http_req__method_is(r, "POST"))
            SET(CURLOPT_CUSTOMREQUEST, r->method);
    }
    else if (!http_req__method_is(r, "GET")) {
        SET(CURLOPT_CUSTOMREQUEST, r->method);
    }
#undef SET
    return rc;
}

static void http_req__count(int status, double elapsed_ms)
{
    char labels[32];
    if (status >= 100 && status < 600)
        snprintf(labels, sizeof(labels), "status=\"%dxx\"", status / 100);
    else
        snprintf(labels, sizeof(labels), "status=\"error\"");
    metrics__inc(METRIC_REQUESTS, labels, 1);
    metrics__observe(METRIC_DURATION, labels, elapsed_ms / 1000.0);
}

void http_req__outcome(struct http_req *r, CURLcode rc, const char *error)
{
    struct http_result *res = &r->res;
    if (rc == CURLE_OK && r->easy) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        res->status = (int)code;
        struct curl_header *h = NULL;
        if (curl_easy_header(r->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
            res->retry_after_ms = retry_after__parse_ms(h->value, time(NULL));
    }
    else {
        if (r->too_big) {
            rc = CURLE_FILESIZE_EXCEEDED;
            error = r->max_body == (size_t)HTTP_MAX_BODY ? "response body over 16 MiB"
                                                         : "response body over its size limit";
        }
        else if (rc == CURLE_FILESIZE_EXCEEDED) {
            error = r->max_body == (size_t)HTTP_MAX_BODY ? "response body over 16 MiB"
                                                         : "response body over its size limit";
        }
        res->status = 0;
        res->transport_error = rc;
        res->error = error ? error : (r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        r->rlen = 0;
    }
}

void http_req__complete(struct http_req *r)
{
    struct http_result *res = &r->res;
    if (!r->rbody)
        r->rbody = calloc(1, 1);
    if (r->rbody)
        r->rbody[r->rlen] = '\0';
    res->body = r->rbody ? r->rbody : (char *)"";
    res->body_len = r->rbody ? r->rlen : 0;
    res->elapsed_ms = http_req__now_ms() - r->started_ms;

    http_req__count(res->status, res->elapsed_ms);
    if (log__enabled(PS_LOG_DEBUG)) {
        char url[512];
        http__url_for_log(r->url, url, sizeof(url));
        if (res->transport_error)
            LOG_DEBUG("http", "failed method=%s url=%s error=\"%s\" ms=%.1f", r->method, url,
                      res->error, res->elapsed_ms);
        else
            LOG_DEBUG("http", "done method=%s url=%s status=%d ms=%.1f", r->method, url,
                      res->status, res->elapsed_ms);
    }
    http_req__free_request(r);
}

void http_req__describe_metrics(void)
{
    metrics__describe(METRIC_REQUESTS, METRIC_COUNTER,
                      "Outgoing HTTP requests by status class (error: no response)");
    metrics__describe(METRIC_DURATION, METRIC_HISTOGRAM,
                      "Seconds from starting an outgoing HTTP request to its answer (or "
                      "failure), by status class");
}

/* NULL-terminated copy of a header list, without curl's "Expect:" line. */
static char **http_req__seen_headers(const struct curl_slist *h)
{
    size_t n = 0;
    for (const struct curl_slist *p = h; p; p = p->next)
        n++;
    char **v = calloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (const struct curl_slist *p = h; v && p; p = p->next) {
        if (strcmp(p->data, "Expect:") != 0 && (v[k] = strdup(p->data)))
            k++;
    }
    return v;
}

/* The answer's header lines (the last response of the transfer). */
static char **http_req__seen_response_headers(CURL *easy)
{
    size_t n = 0, cap = 16;
    char **v = calloc(cap + 1, sizeof(*v));
    struct curl_header *h = NULL;
    while (v && easy && (h = curl_easy_nextheader(easy, CURLH_HEADER, -1, h))) {
        if (n == cap) {
            char **p = realloc(v, (2 * cap + 1) * sizeof(*v));
            if (!p)
                break;
            v = p;
            cap *= 2;
        }
        size_t len = strlen(h->name) + strlen(h->value) + 3;
        if ((v[n] = malloc(len)))
            snprintf(v[n++], len, "%s: %s", h->name, h->value);
        v[n] = NULL;
    }
    return v;
}

void http_req__keep_seen(struct http_req *r)
{
    struct http_seen *s = r->observe_fn ? calloc(1, sizeof(*s)) : NULL;
    if (!s)
        return;
    s->method = str__dup(r->method);
    s->url = str__dup(r->url);
    s->basic_user = str__dup(r->basic_user);
    if (r->body && (s->body = malloc(r->body_len + 1))) {
        memcpy(s->body, r->body, r->body_len);
        s->body[r->body_len] = '\0';
        s->body_len = r->body_len;
    }
    s->req_headers = http_req__seen_headers(r->headers);
    s->resp_headers = http_req__seen_response_headers(r->res.status ? r->easy : NULL);
    r->seen = s;
}

void http_req__show(const struct http_req *r)
{
    const struct http_seen *s = r->seen;
    if (!s || !r->observe_fn)
        return;
    struct http_exchange x = {
        .method = s->method,
        .url = s->url,
        .request_headers = (const char *const *)s->req_headers,
        .request_body = s->body,
        .request_body_len = s->body_len,
        .basic_user = s->basic_user,
        .response_headers = (const char *const *)s->resp_headers,
        .result = &r->res,
    };
    r->observe_fn(r->observe_ctx, &x);
}
