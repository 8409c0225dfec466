/* probe_replay: serves a `presence-sync probe --capture DIR` back to the
 * probe, to prove the capture is usable as a fixture
 * (tests/integration/test_probe.sh, its replay scenario, docs/operations.md).
 *
 *   probe_replay --capture DIR --listener http://127.0.0.1:PORT [--port N]
 *
 * One HTTP server on 127.0.0.1 plays every service the probe talked to:
 * - http.jsonl: each request is answered with the next recorded answer for
 *   its method and path (in recorded order), with the recorded status,
 *   Content-Type and Retry-After; the recorded addresses of the services in
 *   the bodies (token endpoints, discovery's apiEndpoint, the hub's
 *   WSSEndpoint) become this server's;
 * - inbound.jsonl: what reached the probe's listener while a request was
 *   out (Graph's validation requests during the subscription's create) is
 *   sent to --listener before that request is answered, as Graph does;
 * - signalr.jsonl: a WebSocket at the recorded hub path; after each record
 *   the probe sends, the records the hub sent next are sent back.
 * Prints "port=N" once it listens; SIGTERM/SIGINT stop it. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/json.h"
#include "core/http_server.h"
#include "core/log.h"
#include "ws_server.h"

#define RS 0x1e

struct exchange {
    long seq;
    char *method, *path; /* path decoded, no query */
    int status;
    char *content_type, *body;
    long retry_after_s; /* -1: none */
    bool used;
};

struct inbound {
    long seq;
    char *path, *query, *body;
    bool sent;
};

struct hubrec {
    bool sent; /* by the probe (else by the hub) */
    char *record;
};

static struct {
    struct exchange *x;
    size_t nx;
    struct inbound *in;
    size_t nin;
    struct hubrec *hub;
    size_t nhub, cursor;
    char hub_path[256];
    char *origins[16]; /* recorded host:port of the services */
    size_t n_origins;
    char self[64]; /* 127.0.0.1:PORT */
    const char *listener;
    pthread_mutex_t lock;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static char *dup_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

/* Splits a URL into its host:port (remembered as an origin) and its path
 * (decoded, without the query). */
static char *url_path(const char *url)
{
    CURLU *u = curl_url();
    char *path = NULL, *host = NULL, *port = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE);
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    }
    char origin[300];
    snprintf(origin, sizeof(origin), "%s:%s", host ? host : "", port ? port : "");
    bool known = false;
    for (size_t i = 0; i < R.n_origins; i++)
        known = known || strcmp(R.origins[i], origin) == 0;
    if (!known && host && R.n_origins < 16)
        R.origins[R.n_origins++] = strdup(origin);
    char *out = strdup(path ? path : "/");
    curl_free(path);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

static cJSON *next_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    cJSON *o = NULL;
    while (!o && getline(&line, &cap, f) > 0)
        o = json__parse_str(line);
    free(line);
    return o;
}

static void load_http(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/http.jsonl", dir);
    FILE *f = fopen(path, "r");
    cJSON *o;
    while (f && (o = next_line(f))) {
        R.x = realloc(R.x, (R.nx + 1) * sizeof(*R.x));
        struct exchange *e = &R.x[R.nx++];
        memset(e, 0, sizeof(*e));
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(o, "response");
        char *url = dup_str(o, "url");
        e->seq = (long)cJSON_GetObjectItemCaseSensitive(o, "seq")->valuedouble;
        e->method = dup_str(o, "method");
        e->path = url_path(url ? url : "");
        e->status = (int)cJSON_GetObjectItemCaseSensitive(resp, "status")->valuedouble;
        e->body = dup_str(resp, "body");
        e->retry_after_s = -1;
        const cJSON *ra = cJSON_GetObjectItemCaseSensitive(resp, "retry_after_ms");
        if (cJSON_IsNumber(ra) && ra->valuedouble >= 0)
            e->retry_after_s = (long)(ra->valuedouble / 1000);
        const cJSON *h;
        cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(resp, "headers"))
        {
            if (cJSON_IsString(h) && strncasecmp(h->valuestring, "content-type:", 13) == 0)
                e->content_type = strdup(h->valuestring + 13 + strspn(h->valuestring + 13, " "));
        }
        free(url);
        cJSON_Delete(o);
    }
    if (f)
        fclose(f);
}

static void load_inbound_and_hub(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/inbound.jsonl", dir);
    FILE *f = fopen(path, "r");
    cJSON *o;
    while (f && (o = next_line(f))) {
        R.in = realloc(R.in, (R.nin + 1) * sizeof(*R.in));
        struct inbound *in = &R.in[R.nin++];
        in->seq = (long)cJSON_GetObjectItemCaseSensitive(o, "seq")->valuedouble;
        in->path = dup_str(o, "path");
        in->query = dup_str(o, "query");
        in->body = dup_str(o, "body");
        in->sent = false;
        cJSON_Delete(o);
    }
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "%s/signalr.jsonl", dir);
    f = fopen(path, "r");
    while (f && (o = next_line(f))) {
        char *d = dup_str(o, "dir");
        if (d && strcmp(d, "open") == 0) {
            char *url = dup_str(o, "url");
            char *p = url_path(url ? url : "");
            snprintf(R.hub_path, sizeof(R.hub_path), "%s", p);
            free(p);
            free(url);
        }
        else if (d && (strcmp(d, "sent") == 0 || strcmp(d, "received") == 0)) {
            R.hub = realloc(R.hub, (R.nhub + 1) * sizeof(*R.hub));
            R.hub[R.nhub].sent = strcmp(d, "sent") == 0;
            R.hub[R.nhub++].record = dup_str(o, "record");
        }
        free(d);
        cJSON_Delete(o);
    }
    if (f)
        fclose(f);
}

/* body with every recorded service address replaced by ours (malloc'd). */
static char *rewrite(const char *body)
{
    char *out = strdup(body ? body : "");
    for (size_t i = 0; out && i < R.n_origins; i++) {
        const char *from = R.origins[i];
        size_t fl = strlen(from), tl = strlen(R.self);
        char *p;
        size_t at = 0;
        while ((p = strstr(out + at, from))) {
            size_t off = (size_t)(p - out), len = strlen(out);
            char *n = malloc(len - fl + tl + 1);
            if (!n)
                break;
            memcpy(n, out, off);
            memcpy(n + off, R.self, tl);
            memcpy(n + off + tl, p + fl, len - off - fl + 1);
            free(out);
            out = n;
            at = off + tl;
        }
    }
    return out;
}

/* Sends what reached the probe's listener between the previous answer and
 * this one (Graph's validation requests during a create). */
static void send_inbound(long after, long before)
{
    for (size_t i = 0; i < R.nin; i++) {
        struct inbound *in = &R.in[i];
        if (in->sent || in->seq <= after || in->seq >= before)
            continue;
        in->sent = true;
        char url[4096];
        snprintf(url, sizeof(url), "%s%s%s%s", R.listener, in->path,
                 in->query && in->query[0] ? "?" : "", in->query ? in->query : "");
        CURL *c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, in->body ? in->body : "");
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
        FILE *null = fopen("/dev/null", "w");
        curl_easy_setopt(c, CURLOPT_WRITEDATA, null);
        CURLcode rc = curl_easy_perform(c);
        fprintf(stderr, "probe_replay: inbound %s -> %d\n", in->path, (int)rc);
        fclose(null);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
    }
}

struct answer {
    struct http_pending *pending;
    long after, before;
    int status;
    const char *content_type;
    char *body;
    char headers[64];
};

static void *answer_thread(void *arg)
{
    struct answer *a = arg;
    send_inbound(a->after, a->before);
    char *body = a->body;
    /* the server keeps the content type's pointer: the exchange's own lives
     * as long as the process */
    http_server__complete_headers(a->pending, a->status, a->content_type ? a->content_type : "",
                                  a->headers[0] ? a->headers : NULL, body, body ? strlen(body) : 0);
    free(a);
    return NULL;
}

static int on_http(void *ctx, const struct http_request *req, struct http_response *resp,
                   struct http_pending *pending)
{
    (void)ctx;
    pthread_mutex_lock(&R.lock);
    struct exchange *e = NULL;
    long after = 0;
    for (size_t i = 0; i < R.nx && !e; i++) {
        if (!R.x[i].used && strcmp(R.x[i].method, req->method) == 0 &&
            strcmp(R.x[i].path, req->path) == 0)
            e = &R.x[i];
    }
    for (size_t i = 0; e && i < R.nx; i++) {
        if (R.x[i].used && R.x[i].seq > after && R.x[i].seq < e->seq)
            after = R.x[i].seq;
    }
    if (e)
        e->used = true;
    pthread_mutex_unlock(&R.lock);
    if (!e) {
        fprintf(stderr, "probe_replay: nothing recorded for %s %s\n", req->method, req->path);
        resp->status = 404;
        resp->body = strdup("{\"error\":\"not in the capture\"}");
        resp->body_len = strlen(resp->body);
        return HTTP_DONE;
    }
    struct answer *a = calloc(1, sizeof(*a));
    a->pending = pending;
    a->after = after;
    a->before = e->seq;
    a->status = e->status;
    a->content_type = e->content_type;
    a->body = e->body ? rewrite(e->body) : NULL;
    if (e->retry_after_s >= 0)
        snprintf(a->headers, sizeof(a->headers), "Retry-After: %ld\r\n", e->retry_after_s);
    pthread_t th;
    pthread_create(&th, NULL, answer_thread, a);
    pthread_detach(th);
    return HTTP_DEFER;
}

/* ---- the hub ---- */

static void hub_answer(struct ws_conn *c)
{
    /* past the probe's record: every hub record up to its next one */
    while (R.cursor < R.nhub && !R.hub[R.cursor].sent) {
        char *rec = rewrite(R.hub[R.cursor++].record);
        size_t n = strlen(rec);
        char *frame = malloc(n + 2);
        memcpy(frame, rec, n);
        frame[n] = RS;
        ws_server__send(c, frame, n + 1);
        free(frame);
        free(rec);
    }
}

static void on_ws_open(void *ctx, struct ws_conn *c, const struct http_request *req)
{
    (void)ctx;
    (void)req;
    pthread_mutex_lock(&R.lock);
    R.cursor = 0;
    pthread_mutex_unlock(&R.lock);
    (void)c;
}

static void on_ws_message(void *ctx, struct ws_conn *c, const char *data, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&R.lock);
    for (size_t i = 0; i < len; i++) {
        if (data[i] != RS)
            continue;
        while (R.cursor < R.nhub && !R.hub[R.cursor].sent)
            R.cursor++; /* hub records the probe did not wait for */
        if (R.cursor < R.nhub)
            R.cursor++; /* this record of the probe's */
        hub_answer(c);
    }
    pthread_mutex_unlock(&R.lock);
}

static void on_ws_close(void *ctx, struct ws_conn *c)
{
    (void)ctx;
    (void)c;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--capture"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--listener"))
            R.listener = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
    }
    if (!dir || !R.listener) {
        fprintf(stderr, "usage: probe_replay --capture DIR --listener URL [--port N]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log__set_level(PS_LOG_WARN);
    load_http(dir);
    load_inbound_and_hub(dir);
    struct http_server_options o = {.host = "127.0.0.1", .port = port, .max_body_bytes = 1 << 20};
    struct http_server *srv = http_server__new(&o);
    struct ws_handler wh = {NULL, on_ws_open, on_ws_message, on_ws_close};
    if (!srv || http_server__route(srv, NULL, "/", true, on_http, NULL) != 0 ||
        (R.hub_path[0] && ws_server__route(ws_server__attach(srv), R.hub_path, &wh, NULL) != 0) ||
        http_server__start(srv) != 0) {
        fprintf(stderr, "probe_replay: cannot listen\n");
        return 1;
    }
    snprintf(R.self, sizeof(R.self), "127.0.0.1:%d", http_server__port(srv));
    printf("port=%d\n", http_server__port(srv));
    fprintf(stderr, "probe_replay: %zu exchanges, %zu inbound, %zu hub records, hub %s\n", R.nx,
            R.nin, R.nhub, R.hub_path);
    fflush(stdout);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop)
        pause();
    http_server__stop(srv);
    http_server__free(srv);
    return 0;
}
