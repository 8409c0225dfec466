/* A small server on core/http_server for tests/integration/test_http_server.sh.
 *
 *   http_server_probe MAX_BODY_BYTES [MAX_CONNECTIONS [TIMEOUT_SECS [MAX_BUFFERED]]]
 *
 * Listens on 127.0.0.1, any free port, prints `port=N` on stdout and runs
 * until SIGTERM/SIGINT. With HTTP_PROBE_CERT and HTTP_PROBE_KEY set (PEM
 * files) it serves HTTPS. With HTTP_PROBE_NO_WS=1 it has no WebSocket server
 * (tests/fakes/common/ws_server.c), as the daemon. Routes:
 *   GET  /healthz              200 "ok"
 *   POST /echo                 the body back (text/plain)
 *   POST /defer                200 "deferred" from another thread after 300 ms
 *   POST /slowdefer            200 "late" from another thread after 2 s
 *   GET  /header?name=X        the value of request header X (404 if absent)
 *   GET  /query?name=X         the decoded value of query argument X (404 if absent)
 *   GET  /stats                {"echo_calls":N,"ws_open":N,"ws_closed":N}
 *   GET  /metrics              Prometheus text of this process
 *   WS   /ws                   echoes every message; on open sends "hello <id>"
 *                              where id is the id= query argument
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/http_server.h"
#include "core/metrics.h"
#include "ws_server.h"

static atomic_int echo_calls, ws_open, ws_closed;

static char *dup_text(const char *s, size_t *len)
{
    *len = strlen(s);
    return strdup(s);
}

static int on_healthz(void *ctx, const struct http_request *req, struct http_response *resp,
                      struct http_pending *p)
{
    (void)ctx, (void)req, (void)p;
    resp->status = 200;
    resp->content_type = "text/plain";
    resp->body = dup_text("ok", &resp->body_len);
    return HTTP_DONE;
}

static int on_echo(void *ctx, const struct http_request *req, struct http_response *resp,
                   struct http_pending *p)
{
    (void)ctx, (void)p;
    atomic_fetch_add(&echo_calls, 1);
    resp->status = 200;
    resp->content_type = "text/plain";
    resp->body = malloc(req->body_len + 1);
    memcpy(resp->body, req->body, req->body_len + 1);
    resp->body_len = req->body_len;
    return HTTP_DONE;
}

struct later {
    struct http_pending *p;
    int ms;
    const char *text;
};

static void *complete_later(void *arg)
{
    struct later *l = arg;
    struct timespec ts = {l->ms / 1000, (long)(l->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    size_t len;
    char *body = dup_text(l->text, &len);
    http_server__complete(l->p, 200, "text/plain", body, len);
    free(l);
    return NULL;
}

static int defer_for(struct http_pending *p, int ms, const char *text)
{
    struct later *l = malloc(sizeof(*l));
    *l = (struct later){p, ms, text};
    pthread_t t;
    pthread_create(&t, NULL, complete_later, l);
    pthread_detach(t);
    return HTTP_DEFER;
}

static int on_defer(void *ctx, const struct http_request *req, struct http_response *resp,
                    struct http_pending *p)
{
    (void)ctx, (void)req, (void)resp;
    return defer_for(p, 300, "deferred");
}

static int on_slowdefer(void *ctx, const struct http_request *req, struct http_response *resp,
                        struct http_pending *p)
{
    (void)ctx, (void)req, (void)resp;
    return defer_for(p, 2000, "late");
}

/* /header and /query: the value named by ?name= */
static int lookup(const struct http_request *req, struct http_response *resp, bool header)
{
    char name[256], value[8192];
    int n = -1;
    if (http_request__query(req, "name", name, sizeof(name)) > 0)
        n = header ? http_request__header(req, name, value, sizeof(value))
                   : http_request__query(req, name, value, sizeof(value));
    resp->content_type = "text/plain";
    if (n < 0) {
        resp->status = 404;
        resp->body = dup_text("absent", &resp->body_len);
        return HTTP_DONE;
    }
    resp->status = 200;
    resp->body = malloc((size_t)n + 1);
    memcpy(resp->body, value, (size_t)n + 1);
    resp->body_len = (size_t)n;
    return HTTP_DONE;
}

static int on_header(void *ctx, const struct http_request *req, struct http_response *resp,
                     struct http_pending *p)
{
    (void)ctx, (void)p;
    return lookup(req, resp, true);
}

static int on_query(void *ctx, const struct http_request *req, struct http_response *resp,
                    struct http_pending *p)
{
    (void)ctx, (void)p;
    return lookup(req, resp, false);
}

static int on_stats(void *ctx, const struct http_request *req, struct http_response *resp,
                    struct http_pending *p)
{
    (void)ctx, (void)req, (void)p;
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"echo_calls\":%d,\"ws_open\":%d,\"ws_closed\":%d}",
             atomic_load(&echo_calls), atomic_load(&ws_open), atomic_load(&ws_closed));
    resp->status = 200;
    resp->body = dup_text(buf, &resp->body_len);
    return HTTP_DONE;
}

static int on_metrics(void *ctx, const struct http_request *req, struct http_response *resp,
                      struct http_pending *p)
{
    (void)ctx, (void)req, (void)p;
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    resp->body = metrics__render();
    resp->body_len = strlen(resp->body);
    return HTTP_DONE;
}

static void ws_on_open(void *ctx, struct ws_conn *c, const struct http_request *req)
{
    (void)ctx;
    char id[256] = "", msg[300];
    atomic_fetch_add(&ws_open, 1);
    http_request__query(req, "id", id, sizeof(id));
    int n = snprintf(msg, sizeof(msg), "hello %s", id);
    ws_server__send(c, msg, (size_t)n);
}

static void ws_on_message(void *ctx, struct ws_conn *c, const char *data, size_t len)
{
    (void)ctx;
    if (len == 5 && !memcmp(data, "close", 5)) {
        ws_server__close(c);
        return;
    }
    ws_server__send(c, data, len);
}

static void ws_on_close(void *ctx, struct ws_conn *c)
{
    (void)ctx, (void)c;
    atomic_fetch_add(&ws_closed, 1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s MAX_BODY_BYTES [MAX_CONNECTIONS [TIMEOUT_SECS [MAX_BUFFERED]]]\n",
                argv[0]);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct http_server_options opt = {
        .host = "127.0.0.1",
        .port = 0,
        .max_body_bytes = strtoull(argv[1], NULL, 10),
        .max_connections = argc > 2 ? atoi(argv[2]) : 0,
        .timeout_secs = argc > 3 ? atoi(argv[3]) : 0,
        .max_buffered_bytes = argc > 4 ? strtoull(argv[4], NULL, 10) : 0,
        .tls_cert_file = getenv("HTTP_PROBE_CERT"),
        .tls_key_file = getenv("HTTP_PROBE_KEY"),
    };
    struct http_server *srv = http_server__new(&opt);
    http_server__route(srv, "GET", "/healthz", false, on_healthz, NULL);
    http_server__route(srv, "POST", "/echo", false, on_echo, NULL);
    http_server__route(srv, "POST", "/defer", false, on_defer, NULL);
    http_server__route(srv, "POST", "/slowdefer", false, on_slowdefer, NULL);
    http_server__route(srv, "GET", "/header", false, on_header, NULL);
    http_server__route(srv, "GET", "/query", false, on_query, NULL);
    http_server__route(srv, "GET", "/stats", false, on_stats, NULL);
    http_server__route(srv, "GET", "/metrics", false, on_metrics, NULL);
    struct ws_handler wh = {
        .on_open = ws_on_open, .on_message = ws_on_message, .on_close = ws_on_close};
    const char *no_ws = getenv("HTTP_PROBE_NO_WS");
    if (!(no_ws && !strcmp(no_ws, "1")) &&
        ws_server__route(ws_server__attach(srv), "/ws", &wh, NULL))
        return 1;
    if (http_server__start(srv)) {
        fprintf(stderr, "cannot start\n");
        return 1;
    }
    printf("port=%d\n", http_server__port(srv));
    fflush(stdout);

    sigdelset(&set, SIGPIPE);
    int sig;
    sigwait(&set, &sig);
    http_server__free(srv);
    return 0;
}
