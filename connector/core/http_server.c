/* HTTP server on libwebsockets, with its own service thread.
 *
 * Everything lws does happens on the service thread. Other threads only touch
 * deferred responses (struct http_pending), under srv->lock, and then wake
 * the service thread with lws_cancel_service();
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED asks for a writable callback on each
 * connection whose answer is ready. Routing is core/http_route.c, the
 * request accessors core/http_request.c, the writing of an answer
 * core/http_response.c.
 */
#include "core/http_server.h"

#include <libwebsockets.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/http_body.h"
#include "core/http_response.h"
#include "core/http_route.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"

#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_MAX_BUFFERED    (256u * 1024 * 1024) /* request bodies in memory at once */
#define DEFAULT_MAX_BODY        4194304
#define DEFAULT_TIMEOUT_SECS    10
#define DEFAULT_HEADER_BYTES    8192

struct http_pending {
    struct http_server *srv;
    struct lws *wsi;
    /* under srv->lock */
    bool gone;      /* the client went away: complete() frees */
    bool completed; /* complete() was called: the service thread writes */
    bool scheduled; /* writable callback requested */
    int status;
    const char *content_type;
    char *body;
    size_t body_len;
    char *extra;               /* extra response headers, owned */
    struct http_pending *next; /* srv->pendings */
};

struct http_server {
    struct http_server_options opt;
    char *host, *cert, *key;
    struct http_routes routes;
    struct http_server_hook hook; /* WebSockets: none in the daemon */

    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct lws_protocols protocols[2];
    pthread_t thread;
    bool running;
    volatile int stopping;
    int port;
    int live_conns;            /* service thread only */
    struct http_budget budget; /* of buffered request bodies (service thread only) */

    pthread_mutex_t lock;
    struct http_pending *pendings;
};

enum pss_state { PSS_IDLE, PSS_BODY, PSS_DISCARD, PSS_WAIT, PSS_WRITING };

/* lws per-session data: one per connection, reused across keep-alive requests. */
struct pss {
    enum pss_state state;
    bool is_ws; /* upgraded: the hook owns the connection */
    const struct http_route *route;
    char method[8];
    char *path, *query;
    struct http_body body;
    time_t deadline;
    struct http_pending *pending;
    struct http_out out;
    void *ws; /* the hook's slot */
};

static void *http_server__alloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p) {
        LOG_ERROR("http", "out of memory");
        abort();
    }
    return p;
}

/* lws logs client misbehaviour (bad headers...) at error level: keep it at
 * debug so remote peers cannot flood the log; our own errors cover what
 * matters. */
static void http_server__lws_log(int level, const char *line)
{
    size_t n = strnlen(line, 511);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    (void)level;
    LOG_DEBUG("lws", "%.*s", (int)n, line);
}

/* ---- one request on a connection ----------------------------------------- */

static void http_server__reset_request(struct http_server *srv, struct pss *pss)
{
    http_body__clear(&pss->body, &srv->budget);
    free(pss->path);
    free(pss->query);
    http_response__clear(&pss->out);
    pss->path = pss->query = NULL;
    pss->route = NULL;
    pss->method[0] = '\0';
    pss->state = PSS_IDLE;
}

/* The answer in pss->out is written on the next HTTP_WRITEABLE (after the
 * body, when one is still coming). */
static void http_server__queue(struct lws *wsi, struct pss *pss)
{
    if (pss->state != PSS_DISCARD && pss->state != PSS_BODY)
        pss->state = PSS_WRITING;
    lws_callback_on_writable(wsi);
}

/* Takes ownership of body and extra_owned. */
static void http_server__respond(struct lws *wsi, struct pss *pss, int status, const char *ctype,
                                 char *body, size_t len, const char *extra, char *extra_owned)
{
    http_response__set(&pss->out, status, ctype, body, len, extra, extra_owned, false);
    http_server__queue(wsi, pss);
}

static void http_server__respond_error(struct lws *wsi, struct pss *pss, int status,
                                       char *extra_owned)
{
    http_response__error(&pss->out, status, extra_owned);
    http_server__queue(wsi, pss);
}

/* Route patterns, not raw paths, label the counter: bounded cardinality. */
static void http_server__count(const struct pss *pss)
{
    char labels[256];
    snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",code=\"%d\"",
             pss->method[0] ? pss->method : "?", pss->route ? pss->route->path : "",
             pss->out.status);
    metrics__inc("http_requests_total", labels, 1);
}

/* HTTP_WRITEABLE: writes the next part of the answer; once it is all out,
 * the connection waits for its next request or closes. Returns what the
 * lws callback should return. */
static int http_server__write(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    enum http_response_step step = http_response__write(wsi, &pss->out);
    if (step == HTTP_RESPONSE_FAILED)
        return -1;
    if (step == HTTP_RESPONSE_MORE)
        return 0;
    bool close_after = pss->out.close_after;
    http_server__count(pss);
    http_server__reset_request(srv, pss);
    if (close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- handlers and deferred completion ------------------------------------ */

/* Caller holds srv->lock. */
static void http_server__unlink_pending(struct http_server *srv, struct http_pending *p)
{
    for (struct http_pending **pp = &srv->pendings; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static void http_server__free_pending(struct http_pending *p)
{
    free(p->body);
    free(p->extra);
    free(p);
}

static void http_server__run_handler(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    struct http_request_src src = {.wsi = wsi, .max_header_bytes = srv->opt.max_header_bytes};
    struct http_request req = {
        .method = pss->method,
        .path = pss->path,
        .query = pss->query ? pss->query : "",
        .body = pss->body.buf ? pss->body.buf : "",
        .body_len = pss->body.len,
        .internal = &src,
    };
    struct http_response resp = {.status = 200};
    struct http_pending *p = http_server__alloc(sizeof(*p));
    p->srv = srv;
    p->wsi = wsi;
    pss->state = PSS_WAIT;

    int rc = pss->route->fn(pss->route->ctx, &req, &resp, p);
    if (rc == HTTP_DEFER) {
        free(resp.body);
        pthread_mutex_lock(&srv->lock);
        p->next = srv->pendings;
        srv->pendings = p;
        pss->pending = p;
        pthread_mutex_unlock(&srv->lock);
        /* the client gets timeout_secs to see its answer */
        lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, srv->opt.timeout_secs);
        return;
    }
    free(p);
    http_server__respond(wsi, pss, resp.status ? resp.status : 500, resp.content_type, resp.body,
                         resp.body_len, resp.extra_headers, NULL);
}

void http_server__complete(struct http_pending *p, int status, const char *content_type, char *body,
                           size_t body_len)
{
    http_server__complete_headers(p, status, content_type, NULL, body, body_len);
}

void http_server__complete_headers(struct http_pending *p, int status, const char *content_type,
                                   const char *extra_headers, char *body, size_t body_len)
{
    if (!p) {
        free(body);
        return;
    }
    struct http_server *srv = p->srv;
    pthread_mutex_lock(&srv->lock);
    if (p->completed) {
        /* a second completion is a caller bug; keep the first answer */
        pthread_mutex_unlock(&srv->lock);
        LOG_WARN("http", "deferred request completed twice status=%d", status);
        free(body);
        return;
    }
    if (p->gone) {
        /* the client left first: nobody will write this */
        http_server__unlink_pending(srv, p);
        pthread_mutex_unlock(&srv->lock);
        free(body);
        free(p);
        return;
    }
    p->completed = true;
    p->status = status;
    p->content_type = content_type;
    p->extra = str__dup(extra_headers);
    p->body = body;
    p->body_len = body ? body_len : 0;
    /* under the lock: stop() clears srv->ctx before destroying it */
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->lock);
}

/* Service thread: picks up a completed deferred response, if any. */
static void http_server__take_pending(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    struct http_pending *p = pss->pending;
    pthread_mutex_lock(&srv->lock);
    if (!p->completed) {
        pthread_mutex_unlock(&srv->lock);
        return;
    }
    http_server__unlink_pending(srv, p);
    pthread_mutex_unlock(&srv->lock);
    pss->pending = NULL;
    http_server__respond(wsi, pss, p->status, p->content_type, p->body, p->body_len, NULL,
                         p->extra);
    free(p);
}

/* Service thread: the connection is going away; a pending must not dangle. */
static void http_server__drop_pending(struct pss *pss, struct http_server *srv)
{
    struct http_pending *p = pss->pending;
    if (!p)
        return;
    pss->pending = NULL;
    pthread_mutex_lock(&srv->lock);
    if (p->completed) {
        http_server__unlink_pending(srv, p);
        pthread_mutex_unlock(&srv->lock);
        http_server__free_pending(p);
        return;
    }
    p->gone = true;
    p->wsi = NULL;
    pthread_mutex_unlock(&srv->lock);
}

/* ---- receiving a request ------------------------------------------------- */

/* Reserves the announced body length in the budget of buffered bodies; a
 * body that does not fit gets 503 with Retry-After (Graph and well-behaved
 * clients retry). -1 when out of memory. */
static int http_server__open_body(struct lws *wsi, struct pss *pss, struct http_server *srv,
                                  size_t n)
{
    bool first;
    int rc = http_body__open(&pss->body, &srv->budget, n, &first);
    if (rc != HTTP_BODY_FULL)
        return rc == HTTP_BODY_OPEN ? 0 : -1;
    metrics__inc("http_busy_rejections_total", NULL, 1);
    if (first)
        LOG_WARN("http",
                 "request bodies refused with 503: buffered=%zu requested=%zu "
                 "max_buffered_bytes=%zu",
                 srv->budget.used, n, srv->budget.max);
    http_server__respond_error(wsi, pss, 503, str__dup("Retry-After: 1\r\n"));
    return 0;
}

/* Takes the method, path and query of a new request; -1 when unusable. */
static int http_server__parse(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    const char *method = http_request__method(wsi);
    char *uri = NULL;
    int ulen = 0;
    if (!method || lws_http_get_uri_and_method(wsi, &uri, &ulen) < 0 || !uri)
        return -1;
    snprintf(pss->method, sizeof(pss->method), "%s", method);
    pss->path = strndup(uri, (size_t)ulen);
    pss->query = http_request__query_string(wsi, srv->opt.max_header_bytes);
    if (!pss->path)
        return -1;
    pss->deadline = time(NULL) + srv->opt.timeout_secs;
    return 0;
}

static int http_server__on_request(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    if (pss->pending || pss->out.active)
        return -1; /* a pipelined request before the last answer: not supported */
    http_server__reset_request(srv, pss);
    if (http_server__parse(wsi, pss, srv))
        return -1;
    char cl[32] = "";
    long long clen = -1;
    if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        clen = atoll(cl) < 0 ? LLONG_MAX : atoll(cl);
    /* lws calls HTTP_BODY_COMPLETION when there is a length > 0, and for
     * POST with an explicit length of 0 */
    bool expect_body = clen > 0 || (clen == 0 && !strcmp(pss->method, "POST"));
    int status = http_route__admit(&srv->routes, pss->method, pss->path, clen,
                                   srv->opt.max_body_bytes, &pss->route);
    pss->state = expect_body ? PSS_DISCARD : PSS_IDLE;
    if (status) {
        /* the body, when one comes, is read and dropped */
        http_server__respond_error(
            wsi, pss, status, status == 405 ? http_route__allow(&srv->routes, pss->path) : NULL);
        return 0;
    }
    if (!expect_body) {
        http_server__run_handler(wsi, pss, srv);
        return 0;
    }
    if (http_server__open_body(wsi, pss, srv, (size_t)clen))
        return -1;
    if (!pss->out.active)
        pss->state = PSS_BODY;
    return 0;
}

static int http_server__on_body(struct lws *wsi, struct pss *pss, struct http_server *srv,
                                const void *in, size_t len)
{
    if (time(NULL) > pss->deadline) {
        LOG_INFO("http", "dropping slow client path=%s", pss->path ? pss->path : "");
        return -1;
    }
    if (pss->state != PSS_BODY)
        return 0; /* discarding the body of a request already answered */
    if (pss->body.len + len > http_route__limit(pss->route, srv->opt.max_body_bytes)) {
        pss->state = PSS_DISCARD;
        http_server__respond_error(wsi, pss, 413, NULL);
        return 0;
    }
    return http_body__append(&pss->body, in, len);
}

static int http_server__on_body_done(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    if (pss->state == PSS_DISCARD) {
        /* an error response waits for the body to be read */
        if (pss->out.active && !pss->out.close_after) {
            pss->state = PSS_WRITING;
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    if (pss->state != PSS_BODY)
        return 0;
    http_server__run_handler(wsi, pss, srv);
    return 0;
}

static int http_server__on_writeable(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    if (pss->pending)
        http_server__take_pending(wsi, pss, srv);
    /* a response to a request whose body is still coming waits for it,
     * unless the connection closes after it (413, 411) */
    if (!pss->out.active || pss->state == PSS_BODY ||
        (pss->state == PSS_DISCARD && !pss->out.close_after))
        return 0;
    return http_server__write(wsi, pss, srv);
}

/* ---- the protocol callback ----------------------------------------------- */

/* Service thread, after lws_cancel_service(): ask for writable callbacks
 * wherever another thread completed an answer. */
static void http_server__on_wake(struct http_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    for (struct http_pending *p = srv->pendings; p; p = p->next) {
        if (p->completed && !p->gone && !p->scheduled) {
            p->scheduled = true;
            lws_callback_on_writable(p->wsi);
        }
    }
    pthread_mutex_unlock(&srv->lock);
    if (srv->hook.on_wake)
        srv->hook.on_wake(srv->hook.ctx);
}

/* The reasons of an upgrade and of a WebSocket: the hook's, if any. Without
 * one the upgrade is refused when lws asks which protocol takes it. */
static int http_server__on_ws(struct lws *wsi, int reason, struct pss *pss, struct http_server *srv,
                              void *in, size_t len)
{
    if (!pss && reason != LWS_CALLBACK_HTTP_CONFIRM_UPGRADE &&
        reason != LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
        return reason == LWS_CALLBACK_ESTABLISHED || reason == LWS_CALLBACK_RECEIVE ? -1 : 0;
    if (reason == LWS_CALLBACK_ESTABLISHED)
        http_server__reset_request(srv, pss);
    if (!srv->hook.callback)
        return reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION ? 1
               : reason == LWS_CALLBACK_ESTABLISHED              ? -1
                                                                 : 0;
    int rc = srv->hook.callback(srv->hook.ctx, wsi, reason, pss ? &pss->ws : NULL, in, len);
    if (reason == LWS_CALLBACK_ESTABLISHED && pss->ws)
        pss->is_ws = true;
    return rc;
}

/* The HTTP reasons; pss is set for all of them. */
static int http_server__on_http(struct lws *wsi, int reason, struct pss *pss,
                                struct http_server *srv, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return http_server__on_request(wsi, pss, srv);
    case LWS_CALLBACK_HTTP_BODY:
        return http_server__on_body(wsi, pss, srv, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return http_server__on_body_done(wsi, pss, srv);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_server__on_writeable(wsi, pss, srv);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (!pss->is_ws) {
            http_server__drop_pending(pss, srv);
            http_server__reset_request(srv, pss);
        }
        return 0;
    }
    return 0;
}

/* A connection ends: its pending must not dangle, its reservation is given
 * back (normally done at CLOSED / CLOSED_HTTP already). */
static void http_server__on_destroy(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    if (pss) {
        http_server__drop_pending(pss, srv);
        if (pss->ws && srv->hook.callback)
            srv->hook.callback(srv->hook.ctx, wsi, LWS_CALLBACK_WSI_DESTROY, &pss->ws, NULL, 0);
        http_server__reset_request(srv, pss);
    }
    if (lws_get_opaque_user_data(wsi) == srv) {
        lws_set_opaque_user_data(wsi, NULL);
        srv->live_conns--;
    }
}

static int http_server__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                                 void *in, size_t len)
{
    struct http_server *srv = lws_context_user(lws_get_context(wsi));
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        if (srv->live_conns < srv->opt.max_connections)
            return 0;
        LOG_WARN("http", "connection refused: limit reached max_connections=%d",
                 srv->opt.max_connections);
        return 1;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        srv->live_conns++;
        lws_set_opaque_user_data(wsi, srv);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        http_server__on_destroy(wsi, pss, srv);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        http_server__on_wake(srv);
        return 0;
    case LWS_CALLBACK_HTTP:
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return pss ? http_server__on_http(wsi, reason, pss, srv, in, len) : -1;
    case LWS_CALLBACK_HTTP_WRITEABLE:
    case LWS_CALLBACK_CLOSED_HTTP:
        return pss ? http_server__on_http(wsi, reason, pss, srv, in, len) : 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLOSED:
        return http_server__on_ws(wsi, reason, pss, srv, in, len);
    default:
        return 0;
    }
}

/* ---- lifecycle ----------------------------------------------------------- */

struct http_server *http_server__new(const struct http_server_options *opt)
{
    struct http_server *srv = http_server__alloc(sizeof(*srv));
    srv->opt = *opt;
    srv->host = str__dup(opt->host && opt->host[0] ? opt->host : "127.0.0.1");
    srv->cert = str__dup(opt->tls_cert_file);
    srv->key = str__dup(opt->tls_key_file);
    if (!srv->host || (opt->tls_cert_file && !srv->cert) || (opt->tls_key_file && !srv->key))
        abort(); /* out of memory at start-up */
    srv->opt.host = srv->host;
    srv->opt.tls_cert_file = srv->cert;
    srv->opt.tls_key_file = srv->key;
    if (srv->opt.max_connections <= 0)
        srv->opt.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (srv->opt.timeout_secs <= 0)
        srv->opt.timeout_secs = DEFAULT_TIMEOUT_SECS;
    if (!srv->opt.max_header_bytes)
        srv->opt.max_header_bytes = DEFAULT_HEADER_BYTES;
    if (srv->opt.max_header_bytes > 65000)
        srv->opt.max_header_bytes = 65000; /* lws keeps it in a short */
    if (!srv->opt.max_body_bytes)
        srv->opt.max_body_bytes = DEFAULT_MAX_BODY;
    if (!srv->opt.max_buffered_bytes)
        srv->opt.max_buffered_bytes = DEFAULT_MAX_BUFFERED;
    srv->budget.max = srv->opt.max_buffered_bytes;
    pthread_mutex_init(&srv->lock, NULL);
    return srv;
}

const struct http_server_options *http_server__options(const struct http_server *srv)
{
    return srv ? &srv->opt : NULL;
}

int http_server__route(struct http_server *srv, const char *method, const char *path, bool prefix,
                       http_handler_fn fn, void *ctx)
{
    if (!srv || srv->running)
        return -1;
    return http_route__add(&srv->routes, method, path, prefix, fn, ctx);
}

int http_server__route_body_limit(struct http_server *srv, const char *path, size_t max_body_bytes)
{
    if (!srv || srv->running)
        return -1;
    return http_route__body_limit(&srv->routes, path, max_body_bytes);
}

int http_server__hook(struct http_server *srv, const struct http_server_hook *hook)
{
    if (!srv || !hook || !hook->callback || srv->running || srv->hook.callback)
        return -1;
    srv->hook = *hook;
    return 0;
}

void http_server__wake(struct http_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    /* under the lock: stop() clears srv->ctx before destroying it */
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->lock);
}

static void *http_server__thread(void *arg)
{
    struct http_server *srv = arg;
    pthread_setname_np(pthread_self(), "ps-http"); /* for top -H and perf */
    while (!srv->stopping)
        if (lws_service(srv->ctx, 0) < 0)
            break;
    return NULL;
}

static void http_server__context_info(struct http_server *srv,
                                      struct lws_context_creation_info *info)
{
    memset(info, 0, sizeof(*info));
    info->port = srv->opt.port;
    /* "0.0.0.0" / "::" mean every interface; lws wants NULL for that */
    bool any = !strcmp(srv->host, "0.0.0.0") || !strcmp(srv->host, "::");
    info->iface = any ? NULL : srv->host;
    if (!strcmp(srv->host, "0.0.0.0"))
        info->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info->protocols = srv->protocols;
    info->user = srv;
    info->timeout_secs = (unsigned int)srv->opt.timeout_secs;
    info->timeout_secs_ah_idle = (unsigned int)srv->opt.timeout_secs;
    info->keepalive_timeout = srv->opt.timeout_secs;
    info->max_http_header_data = (unsigned short)srv->opt.max_header_bytes;
    info->max_http_header_pool =
        (unsigned short)(srv->opt.max_connections > 1024 ? 1024 : srv->opt.max_connections);
    info->count_threads = 1;
    if (srv->cert && srv->key) {
        info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info->ssl_cert_filepath = srv->cert;
        info->ssl_private_key_filepath = srv->key;
        /* h2 streams do not carry custom headers in lws 4.1 */
        info->alpn = "http/1.1";
    }
}

static void http_server__describe_metrics(void)
{
    metrics__describe("http_requests_total", METRIC_COUNTER,
                      "HTTP requests answered, by method, route pattern and status code.");
    metrics__describe("http_busy_rejections_total", METRIC_COUNTER,
                      "Requests answered 503 because the request bodies being received "
                      "already fill max_buffered_bytes");
}

int http_server__start(struct http_server *srv)
{
    if (!srv || srv->running)
        return -1;
    lws_set_log_level(LLL_ERR | LLL_WARN, http_server__lws_log);
    http_server__describe_metrics();
    srv->protocols[0] = (struct lws_protocols){
        .name = "presence-sync",
        .callback = http_server__callback,
        .per_session_data_size = sizeof(struct pss),
        .rx_buffer_size = 0,
    };
    struct lws_context_creation_info info;
    http_server__context_info(srv, &info);
    srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        LOG_ERROR("http", "cannot listen host=%s port=%d", srv->host, srv->opt.port);
        return -1;
    }
    srv->vh = lws_get_vhost_by_name(srv->ctx, "default");
    srv->port = srv->vh ? lws_get_vhost_listen_port(srv->vh) : srv->opt.port;
    srv->stopping = 0;
    if (srv->port <= 0 || pthread_create(&srv->thread, NULL, http_server__thread, srv)) {
        if (srv->port <= 0)
            LOG_ERROR("http", "cannot listen host=%s port=%d", srv->host, srv->opt.port);
        lws_context_destroy(srv->ctx);
        srv->ctx = NULL;
        return -1;
    }
    srv->running = true;
    LOG_INFO("http", "listening host=%s port=%d tls=%s", srv->host, srv->port,
             srv->cert && srv->key ? "on" : "off");
    return 0;
}

int http_server__port(const struct http_server *srv)
{
    return srv ? srv->port : -1;
}

void http_server__stop(struct http_server *srv)
{
    if (!srv || !srv->running)
        return;
    srv->stopping = 1;
    lws_cancel_service(srv->ctx);
    pthread_join(srv->thread, NULL);
    srv->running = false;
    pthread_mutex_lock(&srv->lock);
    struct lws_context *ctx = srv->ctx;
    srv->ctx = NULL; /* no more wake-ups from other threads */
    pthread_mutex_unlock(&srv->lock);
    /* closes every connection: pendings are flagged gone, the hook's
     * connections closed */
    lws_context_destroy(ctx);
}

void http_server__free(struct http_server *srv)
{
    if (!srv)
        return;
    http_server__stop(srv);
    for (struct http_pending *p = srv->pendings, *next; p; p = next) {
        next = p->next;
        http_server__free_pending(p);
    }
    if (srv->hook.on_free)
        srv->hook.on_free(srv->hook.ctx);
    http_route__free(&srv->routes);
    free(srv->host);
    free(srv->cert);
    free(srv->key);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
