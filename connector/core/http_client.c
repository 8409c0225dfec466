/* HTTP client: libcurl's multi interface on one thread of its own.
 *
 * Callers on any thread queue a copy of their request; the client thread
 * owns the CURLM and every easy handle, so libcurl is never touched from two
 * threads (curl_multi_wakeup is the one call made from outside, which is what
 * it is for). Finished easy handles are cleaned up, but their connections stay
 * in the multi handle's pool, so the next request to the same host reuses
 * them. Results are posted to the loop and the callback runs there.
 *
 * A request gets its easy handle only when one of its host's
 * HTTP_MAX_HOST_CONNS slots is free; until then it waits in a per-host FIFO
 * of ours. curl would hold it back the same way (CURLMOPT_MAX_HOST_CONNECTIONS),
 * but an added easy handle costs ~22 KiB (the handle and its 16 KiB receive
 * buffer) even while it waits: 10,000 queued writes held 150+ MiB. The
 * timeout still counts from the send, so a request that waits too long for a
 * slot ends with CURLE_OPERATION_TIMEDOUT, as it did inside curl.
 */
#include "core/http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/str.h"

#define HTTP_DEFAULT_TIMEOUT_MS 10000L
#define HTTP_MAX_CONNECT_MS     5000L
#define HTTP_MAX_BODY           (16L * 1024 * 1024)
#define HTTP_MAX_HOST_CONNS     8L
#define HTTP_MAX_POOLED         32L
#define HTTP_POLL_MS            1000
#define HTTP_EXPIRE_MS          50 /* how often waiting requests are checked for timeouts */

#define METRIC_REQUESTS "http_client_requests_total"
#define METRIC_DURATION "http_client_request_duration_seconds"

struct http_req {
    struct http_req *prev, *next; /* queue, in-flight or orphan list */
    http_done_fn fn;
    void *ctx;
    double started_ms;

    /* the request, copied */
    char *method;
    char *url;
    char *body;
    size_t body_len;
    struct curl_slist *headers; /* includes Content-Type and Authorization */
    char *basic_user;
    char *basic_pass;
    char *ca_file;
    long timeout_ms;
    const char *invalid; /* set when the request cannot be sent */

    /* the transfer */
    struct http_host *host; /* whose slot it waits for or holds */
    CURL *easy;
    char *rbody;
    size_t rlen, rcap;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
    struct http_result res;

    /* kept for the observer (http_client__observe), NULL without one; the
     * observer is copied too: the completion may run after the client is
     * freed (http_client__free posts the last ones) */
    struct http_seen *seen;
    http_observe_fn observe_fn;
    void *observe_ctx;
};

/* What an observer gets of a finished request: copies made before the
 * request's own (secret-holding) copies are wiped. */
struct http_seen {
    char *method, *url, *body, *basic_user;
    size_t body_len;
    char **req_headers;  /* NULL-terminated */
    char **resp_headers; /* NULL-terminated */
};

/* Client thread only. One per scheme://host:port, kept for the client's life
 * (the hosts are the configured APIs: a handful). */
struct http_host {
    struct http_host *next;
    char *key;
    long active;                            /* requests holding an easy handle */
    struct http_req *wait_head, *wait_tail; /* oldest first */
};

struct http_client {
    struct loop *loop;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t lock;     /* guards queue, stopping and orphans */
    struct http_req *queue;   /* sent, not yet started; newest first */
    struct http_req *orphans; /* finished, but the loop no longer takes posts */
    bool stopping;
    struct http_req *active;    /* client thread only */
    struct http_host *hosts;    /* client thread only */
    size_t n_waiting;           /* client thread only */
    double expired_ms;          /* last scan for waiting requests past their timeout */
    http_observe_fn observe_fn; /* set before the first request */
    void *observe_ctx;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void http__global_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double http__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void list__push(struct http_req **head, struct http_req *r)
{
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void list__remove(struct http_req **head, struct http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Oldest first, so requests start in the order they were sent. */
static struct http_req *list__reverse(struct http_req *head)
{
    struct http_req *out = NULL;
    while (head) {
        struct http_req *next = head->next;
        list__push(&out, head);
        head = next;
    }
    return out;
}

static void str__free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* The request copies hold bearer tokens and passwords: wipe them. */
static void req__free_request(struct http_req *r)
{
    for (struct curl_slist *h = r->headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    if (r->body)
        explicit_bzero(r->body, r->body_len);
    free(r->body);
    str__free_secret(r->basic_pass);
    free(r->basic_user);
    free(r->method);
    free(r->url);
    free(r->ca_file);
    r->body = r->basic_pass = r->basic_user = r->method = r->url = r->ca_file = NULL;
}

static void strv__free_secret(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        str__free_secret(v[i]);
    free(v);
}

static void seen__free(struct http_seen *s)
{
    if (!s)
        return;
    free(s->method);
    free(s->url);
    if (s->body)
        explicit_bzero(s->body, s->body_len);
    free(s->body);
    free(s->basic_user);
    strv__free_secret(s->req_headers);
    strv__free_secret(s->resp_headers);
    free(s);
}

static void req__free(struct http_req *r)
{
    seen__free(r->seen);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    req__free_request(r);
    free(r->rbody);
    free(r);
}

/* A header line must not smuggle in another header or a second request. */
static bool header__valid(const char *s)
{
    return s && strpbrk(s, "\r\n") == NULL;
}

static bool req__add_header(struct http_req *r, const char *name, const char *value)
{
    if (!header__valid(value)) {
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

/* Copies call into a new request. Returns NULL when out of memory. */
static struct http_req *req__new(const struct http_call *call, http_done_fn fn, void *ctx)
{
    struct http_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->fn = fn;
    r->ctx = ctx;
    r->started_ms = http__now_ms();
    r->res.retry_after_ms = -1;
    r->timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
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
    if (!header__valid(r->method) || strchr(r->method, ' '))
        r->invalid = "bad method";
    for (const char *const *h = call->headers; ok && h && *h; h++) {
        if (!header__valid(*h)) {
            r->invalid = "header contains CR or LF";
            break;
        }
        struct curl_slist *l = curl_slist_append(r->headers, *h);
        ok = l != NULL;
        if (ok)
            r->headers = l;
    }
    if (ok && call->content_type)
        ok = req__add_header(r, "Content-Type", call->content_type);
    if (ok && call->bearer) {
        size_t len = strlen(call->bearer) + 8;
        char *v = malloc(len);
        ok = v != NULL;
        if (ok) {
            snprintf(v, len, "Bearer %s", call->bearer);
            ok = req__add_header(r, "Authorization", v);
            str__free_secret(v);
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
    if (!ok) {
        req__free(r);
        return NULL;
    }
    return r;
}

static size_t http__on_body(char *data, size_t size, size_t n, void *arg)
{
    struct http_req *r = arg;
    size_t len = size * n;
    if (r->rlen + len > (size_t)HTTP_MAX_BODY) {
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

static bool method__is(const struct http_req *r, const char *m)
{
    return strcmp(r->method, m) == 0;
}

/* Sets the options of r's easy handle; returns the first failure. */
static CURLcode req__setup(struct http_req *r)
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
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_BODY);
    SET(CURLOPT_WRITEFUNCTION, http__on_body);
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
    if (method__is(r, "HEAD")) {
        SET(CURLOPT_NOBODY, 1L);
    }
    else if (r->body || method__is(r, "POST") || method__is(r, "PUT") || method__is(r, "PATCH")) {
        /* Always a Content-Length, even 0: Graph answers 411 without one. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
        if (!method__is(r, "POST"))
            SET(CURLOPT_CUSTOMREQUEST, r->method);
    }
    else if (!method__is(r, "GET")) {
        SET(CURLOPT_CUSTOMREQUEST, r->method);
    }
#undef SET
    return rc;
}

static void http__count(int status, double elapsed_ms)
{
    char labels[32];
    if (status >= 100 && status < 600)
        snprintf(labels, sizeof(labels), "status=\"%dxx\"", status / 100);
    else
        snprintf(labels, sizeof(labels), "status=\"error\"");
    metrics__inc(METRIC_REQUESTS, labels, 1);
    metrics__observe(METRIC_DURATION, labels, elapsed_ms / 1000.0);
}

/* Runs on the loop thread. */
static void http__deliver(void *arg)
{
    struct http_req *r = arg;
    struct http_seen *s = r->seen;
    if (s && r->observe_fn) {
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
    r->fn(r->ctx, &r->res);
    req__free(r);
}

/* NULL-terminated copy of a header list, without curl's "Expect:" line. */
static char **seen__headers(const struct curl_slist *h)
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
static char **seen__response_headers(CURL *easy)
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

/* Client thread: the observer's copy, before the request is wiped. */
static void req__keep_for_observer(struct http_req *r)
{
    struct http_seen *s = calloc(1, sizeof(*s));
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
    s->req_headers = seen__headers(r->headers);
    s->resp_headers = seen__response_headers(r->res.status ? r->easy : NULL);
    r->seen = s;
}

/* Hands a finished request to the loop, or keeps it for http_client__free
 * when the loop no longer runs posted work. */
static void client__post(struct http_client *cli, struct http_req *r)
{
    if (loop__post(cli->loop, http__deliver, r) == 0)
        return;
    pthread_mutex_lock(&cli->lock);
    list__push(&cli->orphans, r);
    pthread_mutex_unlock(&cli->lock);
}

/* Fills r->res from the transfer's outcome and releases the transfer. */
static void req__finish(struct http_client *cli, struct http_req *r, CURLcode rc, const char *error)
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
            error = "response body over 16 MiB";
        }
        else if (rc == CURLE_FILESIZE_EXCEEDED) {
            error = "response body over 16 MiB";
        }
        res->status = 0;
        res->transport_error = rc;
        res->error = error ? error : (r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        r->rlen = 0;
    }
    if (cli->observe_fn) {
        r->observe_fn = cli->observe_fn;
        r->observe_ctx = cli->observe_ctx;
        req__keep_for_observer(r);
    }
    if (r->easy) {
        curl_multi_remove_handle(cli->multi, r->easy);
        curl_easy_cleanup(r->easy); /* the connection stays in the multi's pool */
        r->easy = NULL;
    }
    if (!r->rbody)
        r->rbody = calloc(1, 1);
    if (r->rbody)
        r->rbody[r->rlen] = '\0';
    res->body = r->rbody ? r->rbody : (char *)"";
    res->body_len = r->rbody ? r->rlen : 0;
    res->elapsed_ms = http__now_ms() - r->started_ms;

    http__count(res->status, res->elapsed_ms);
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
    req__free_request(r);
    client__post(cli, r);
}

/* Client thread: creates r's easy handle and adds it to the multi, with
 * what is left of its timeout. */
static void client__start(struct http_client *cli, struct http_req *r)
{
    long left = r->timeout_ms - (long)(http__now_ms() - r->started_ms);
    if (left <= 0) {
        req__finish(cli, r, CURLE_OPERATION_TIMEDOUT, "timed out waiting for a connection");
        return;
    }
    r->timeout_ms = left;
    r->easy = curl_easy_init();
    if (!r->easy) {
        req__finish(cli, r, CURLE_OUT_OF_MEMORY, NULL);
        return;
    }
    CURLcode rc = req__setup(r);
    if (rc != CURLE_OK) {
        req__finish(cli, r, rc, NULL);
        return;
    }
    if (curl_multi_add_handle(cli->multi, r->easy) != CURLM_OK) {
        req__finish(cli, r, CURLE_FAILED_INIT, "cannot add transfer");
        return;
    }
    r->host->active++;
    list__push(&cli->active, r);
}

/* "scheme://host:port" of url (malloc'd), "" when curl cannot parse it (the
 * transfer then fails with curl's own error). */
static char *http__host_key(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *key = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t len = strlen(scheme) + strlen(host) + strlen(port) + 5;
        key = malloc(len);
        if (key)
            snprintf(key, len, "%s://%s:%s", scheme, host, port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return key ? key : strdup("");
}

static struct http_host *client__host(struct http_client *cli, const char *url)
{
    char *key = http__host_key(url);
    if (!key)
        return NULL;
    for (struct http_host *h = cli->hosts; h; h = h->next) {
        if (strcmp(h->key, key) == 0) {
            free(key);
            return h;
        }
    }
    struct http_host *h = calloc(1, sizeof(*h));
    if (!h) {
        free(key);
        return NULL;
    }
    h->key = key;
    h->next = cli->hosts;
    cli->hosts = h;
    return h;
}

/* Client thread: queues a fresh request behind the others to its host. */
static void client__enqueue(struct http_client *cli, struct http_req *r)
{
    if (r->invalid) {
        req__finish(cli, r, CURLE_BAD_FUNCTION_ARGUMENT, r->invalid);
        return;
    }
    struct http_host *h = client__host(cli, r->url);
    if (!h) {
        req__finish(cli, r, CURLE_OUT_OF_MEMORY, NULL);
        return;
    }
    r->host = h;
    r->next = NULL;
    r->prev = h->wait_tail;
    if (h->wait_tail)
        h->wait_tail->next = r;
    else
        h->wait_head = r;
    h->wait_tail = r;
    cli->n_waiting++;
}

static void host__unwait(struct http_client *cli, struct http_host *h, struct http_req *r)
{
    if (r == h->wait_tail)
        h->wait_tail = r->prev;
    list__remove(&h->wait_head, r);
    cli->n_waiting--;
}

/* Starts waiting requests while their hosts have free slots. */
static void client__dispatch(struct http_client *cli)
{
    for (struct http_host *h = cli->hosts; h; h = h->next) {
        while (h->wait_head && h->active < HTTP_MAX_HOST_CONNS) {
            struct http_req *r = h->wait_head;
            host__unwait(cli, h, r);
            client__start(cli, r);
        }
    }
}

/* Ends waiting requests whose timeout has passed (every HTTP_EXPIRE_MS). */
static void client__expire(struct http_client *cli)
{
    double now = http__now_ms();
    if (!cli->n_waiting || now - cli->expired_ms < HTTP_EXPIRE_MS)
        return;
    cli->expired_ms = now;
    for (struct http_host *h = cli->hosts; h; h = h->next) {
        struct http_req *r = h->wait_head;
        while (r) {
            struct http_req *next = r->next;
            if (now - r->started_ms >= (double)r->timeout_ms) {
                host__unwait(cli, h, r);
                req__finish(cli, r, CURLE_OPERATION_TIMEDOUT, "timed out waiting for a connection");
            }
            r = next;
        }
    }
}

/* Returns how many transfers finished. */
static int client__collect(struct http_client *cli)
{
    CURLMsg *msg;
    int left, finished = 0;
    while ((msg = curl_multi_info_read(cli->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct http_req *r = NULL;
        CURLcode rc = msg->data.result; /* msg is invalid after remove_handle */
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        list__remove(&cli->active, r);
        r->host->active--;
        req__finish(cli, r, rc, NULL);
        finished++;
    }
    return finished;
}

static void client__abort(struct http_client *cli, struct http_req *list)
{
    while (list) {
        struct http_req *next = list->next;
        req__finish(cli, list, CURLE_ABORTED_BY_CALLBACK, "http client stopped");
        list = next;
    }
}

static void *client__main(void *arg)
{
    struct http_client *cli = arg;
    for (;;) {
        pthread_mutex_lock(&cli->lock);
        struct http_req *fresh = list__reverse(cli->queue);
        cli->queue = NULL;
        bool stop = cli->stopping;
        pthread_mutex_unlock(&cli->lock);

        if (stop) {
            client__abort(cli, fresh);
            struct http_req *active = cli->active;
            cli->active = NULL;
            client__abort(cli, active);
            for (struct http_host *h = cli->hosts; h; h = h->next) {
                client__abort(cli, h->wait_head);
                h->wait_head = h->wait_tail = NULL;
            }
            cli->n_waiting = 0;
            return NULL;
        }
        while (fresh) {
            struct http_req *next = fresh->next;
            client__enqueue(cli, fresh);
            fresh = next;
        }
        client__expire(cli);
        client__dispatch(cli);
        int running = 0;
        CURLMcode mc = curl_multi_perform(cli->multi, &running);
        if (mc != CURLM_OK)
            LOG_ERROR("http", "curl_multi_perform failed error=\"%s\"", curl_multi_strerror(mc));
        /* Removing a finished handle frees a connection slot and moves a
         * transfer waiting for one (CURLMOPT_MAX_HOST_CONNECTIONS) to the
         * connect state; curl 7.88 does not always leave a timer for it, so
         * it would sit until the poll times out. Perform again first. */
        if (client__collect(cli) > 0)
            continue;
        curl_multi_poll(cli->multi, NULL, 0, cli->n_waiting ? HTTP_EXPIRE_MS : HTTP_POLL_MS, NULL);
    }
}

struct http_client *http_client__new(struct loop *deliver_to)
{
    pthread_once(&curl_once, http__global_init);
    if (curl_init_rc != CURLE_OK) {
        LOG_ERROR("http", "curl_global_init failed error=\"%s\"", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    struct http_client *cli = calloc(1, sizeof(*cli));
    if (!cli)
        return NULL;
    cli->loop = deliver_to;
    cli->multi = curl_multi_init();
    if (!cli->multi) {
        free(cli);
        return NULL;
    }
    curl_multi_setopt(cli->multi, CURLMOPT_MAX_HOST_CONNECTIONS, HTTP_MAX_HOST_CONNS);
    curl_multi_setopt(cli->multi, CURLMOPT_MAXCONNECTS, HTTP_MAX_POOLED);
    metrics__describe(METRIC_REQUESTS, METRIC_COUNTER,
                      "Outgoing HTTP requests by status class (error: no response)");
    metrics__describe(METRIC_DURATION, METRIC_HISTOGRAM,
                      "Seconds from starting an outgoing HTTP request to its answer (or "
                      "failure), by status class");
    pthread_mutex_init(&cli->lock, NULL);
    if (pthread_create(&cli->thread, NULL, client__main, cli) != 0) {
        LOG_ERROR("http", "cannot start the client thread");
        pthread_mutex_destroy(&cli->lock);
        curl_multi_cleanup(cli->multi);
        free(cli);
        return NULL;
    }
    return cli;
}

int http_client__send(struct http_client *cli, const struct http_call *call, http_done_fn fn,
                      void *ctx)
{
    if (!cli || !call || !fn)
        return -1;
    struct http_req *r = req__new(call, fn, ctx);
    if (!r) {
        LOG_ERROR("http", "out of memory queueing a request");
        return -1;
    }
    pthread_mutex_lock(&cli->lock);
    if (cli->stopping) {
        pthread_mutex_unlock(&cli->lock);
        req__free(r);
        return -1;
    }
    list__push(&cli->queue, r);
    /* Under the lock: free() cannot clean up the multi handle meanwhile. */
    curl_multi_wakeup(cli->multi);
    pthread_mutex_unlock(&cli->lock);
    return 0;
}

void http_client__free(struct http_client *cli)
{
    if (!cli)
        return;
    pthread_mutex_lock(&cli->lock);
    cli->stopping = true;
    curl_multi_wakeup(cli->multi);
    pthread_mutex_unlock(&cli->lock);
    pthread_join(cli->thread, NULL);

    /* Completions the loop refused (it has stopped): the caller owns the
     * loop's thread, so run them here rather than leak their contexts. */
    pthread_mutex_lock(&cli->lock);
    struct http_req *orphans = list__reverse(cli->orphans);
    cli->orphans = NULL;
    pthread_mutex_unlock(&cli->lock);
    while (orphans) {
        struct http_req *next = orphans->next;
        http__deliver(orphans);
        orphans = next;
    }
    curl_multi_cleanup(cli->multi);
    while (cli->hosts) {
        struct http_host *next = cli->hosts->next;
        free(cli->hosts->key);
        free(cli->hosts);
        cli->hosts = next;
    }
    pthread_mutex_destroy(&cli->lock);
    free(cli);
}

void http_client__observe(struct http_client *cli, http_observe_fn fn, void *ctx)
{
    if (!cli)
        return;
    cli->observe_fn = fn;
    cli->observe_ctx = ctx;
}

char *http__escape(const char *s)
{
    if (!s)
        return NULL;
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    if (!e)
        return NULL;
    char *out = strdup(e);
    curl_free(e);
    return out;
}

/* libcurl's URL parser takes any scheme with CURLU_NON_SUPPORT_SCHEME. */
void http__url_for_log(const char *url, char *buf, size_t len)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL, *port = NULL, *path = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_USER, &user, 0);
        curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        snprintf(buf, len, "%s://%s%s%s%s%s", scheme, user || pass ? "***@" : "", host,
                 port ? ":" : "", port ? port : "", path && strcmp(path, "/") ? path : "");
    }
    else {
        snprintf(buf, len, "(not a URL)");
    }
    curl_free(scheme);
    curl_free(user);
    curl_free(pass);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
}
