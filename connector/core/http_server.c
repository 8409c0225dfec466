/* HTTP server on libwebsockets, with its own service thread.
 *
 * Everything lws does happens on the service thread. Other threads only touch
 * deferred responses (struct http_pending), under srv->lock, and then wake
 * the service thread with lws_cancel_service();
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED asks for a writable callback on each
 * connection whose answer is ready. This file is the lws server (context,
 * service thread, protocol callback, connection limit, WebSocket hook,
 * lifecycle); one request on a connection is core/http_conn.c, routing
 * core/http_route.c, the request accessors core/http_request.c, the writing
 * of an answer core/http_response.c.
 */
#include "core/http_conn.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"

#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_MAX_BUFFERED    (256u * 1024 * 1024) /* request bodies in memory at once */
#define DEFAULT_MAX_BODY        4194304
#define DEFAULT_TIMEOUT_SECS    10
#define DEFAULT_HEADER_BYTES    8192

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

/* ---- deferred completion, from any thread -------------------------------- */

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
        http_conn__unlink_pending(srv, p);
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
        http_conn__reset_request(srv, pss);
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
        return http_conn__on_request(wsi, pss, srv);
    case LWS_CALLBACK_HTTP_BODY:
        return http_conn__on_body(wsi, pss, srv, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return http_conn__on_body_done(wsi, pss, srv);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_conn__on_writeable(wsi, pss, srv);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (!pss->is_ws) {
            http_conn__drop_pending(pss, srv);
            http_conn__reset_request(srv, pss);
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
        http_conn__drop_pending(pss, srv);
        if (pss->ws && srv->hook.callback)
            srv->hook.callback(srv->hook.ctx, wsi, LWS_CALLBACK_WSI_DESTROY, &pss->ws, NULL, 0);
        http_conn__reset_request(srv, pss);
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
    struct http_server *srv = http_conn__alloc(sizeof(*srv));
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
        http_conn__free_pending(p);
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
