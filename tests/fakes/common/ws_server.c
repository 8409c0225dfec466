/* The simulators' WebSocket server on core/http_server's hook.
 *
 * Everything lws does happens on the server's service thread. Other threads
 * only touch the send queues and close requests of connections, under
 * ws->lock, and then wake the service thread (http_server__wake()); on_wake
 * asks for a writable callback on each connection that has something to
 * send. Lock order: ws->lock, then the server's lock (inside
 * http_server__wake()).
 */
#include "ws_server.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"

struct ws_route {
    char *path;
    struct ws_handler h;
    void *ctx;
};

struct frame {
    struct frame *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct ws_conn {
    struct ws_server *ws;
    struct lws *wsi;
    const struct ws_route *route;
    void *user;
    /* under ws->lock */
    bool closed, close_req, want_write;
    struct frame *q_head, *q_tail;
    /* service thread only */
    char *rx;
    size_t rx_len, rx_cap;
    struct ws_conn *next; /* ws->conns, later ws->dead */
};

struct ws_server {
    struct http_server *srv;
    size_t max_message, max_header;
    struct ws_route *routes;
    size_t n_routes;
    pthread_mutex_t lock;
    struct ws_conn *conns;
    struct ws_conn *dead; /* closed; kept so late ws_server__send() calls are safe */
};

static void ws_server__free_frames(struct frame *f)
{
    while (f) {
        struct frame *next = f->next;
        free(f);
        f = next;
    }
}

/* The route of the request on wsi, its path copied into path. */
static const struct ws_route *ws_server__find(const struct ws_server *ws, struct lws *wsi,
                                              char *path, size_t len)
{
    if (lws_hdr_copy(wsi, path, (int)len, WSI_TOKEN_GET_URI) <= 0)
        return NULL;
    for (size_t i = 0; i < ws->n_routes; i++)
        if (!strcmp(ws->routes[i].path, path))
            return &ws->routes[i];
    return NULL;
}

/* Calls on_upgrade or on_open with the upgrade request: its headers and
 * query are readable through the http_request accessors. */
static int ws_server__with_request(struct ws_server *ws, struct lws *wsi, const char *path,
                                   const struct ws_route *r, struct ws_conn *c)
{
    char *query = http_request__query_string(wsi, ws->max_header);
    struct http_request_src src = {.wsi = wsi, .max_header_bytes = ws->max_header};
    struct http_request req = {
        .method = "GET", .path = path, .query = query ? query : "", .body = "", .internal = &src};
    int status = 0;
    if (c)
        r->h.on_open(r->ctx, c, &req);
    else
        status = r->h.on_upgrade(r->ctx, &req);
    free(query);
    return status;
}

/* Before the 101: a route's on_upgrade may refuse with a status (no
 * upgrade, a plain HTTP answer, as an ASP.NET Core hub does for an unknown
 * connection id or a bad token). */
static int ws_server__confirm_upgrade(struct ws_server *ws, struct lws *wsi)
{
    char path[1024];
    const struct ws_route *r = ws_server__find(ws, wsi, path, sizeof(path));
    if (!r || !r->h.on_upgrade)
        return 0;
    int status = ws_server__with_request(ws, wsi, path, r, NULL);
    if (status < 100 || status > 599)
        return 0;
    LOG_INFO("http", "websocket upgrade refused path=%s status=%d", path, status);
    /* lws writes the answer and ends the transaction itself (> 0) */
    return lws_return_http_status(wsi, (unsigned int)status, NULL) ? -1 : 1;
}

static int ws_server__on_open(struct ws_server *ws, struct lws *wsi, void **slot)
{
    char path[1024];
    const struct ws_route *r = ws_server__find(ws, wsi, path, sizeof(path));
    if (!r)
        return -1;
    struct ws_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->ws = ws;
    c->wsi = wsi;
    c->route = r;
    *slot = c;
    pthread_mutex_lock(&ws->lock);
    c->next = ws->conns;
    ws->conns = c;
    pthread_mutex_unlock(&ws->lock);
    if (r->h.on_open)
        ws_server__with_request(ws, wsi, path, r, c);
    return 0;
}

static int ws_server__on_receive(struct ws_server *ws, struct lws *wsi, struct ws_conn *c,
                                 const void *in, size_t len)
{
    if (!c)
        return -1;
    if (lws_is_first_fragment(wsi))
        c->rx_len = 0;
    if (c->rx_len + len > ws->max_message) {
        LOG_INFO("http", "closing websocket: message too big path=%s", c->route->path);
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
        return -1;
    }
    if (c->rx_len + len + 1 > c->rx_cap) {
        size_t cap = (c->rx_len + len + 1) * 2;
        char *grown = realloc(c->rx, cap);
        if (!grown)
            return -1;
        c->rx = grown;
        c->rx_cap = cap;
    }
    if (len)
        memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    c->rx[c->rx_len] = '\0';
    if (lws_is_final_fragment(wsi)) {
        size_t n = c->rx_len;
        c->rx_len = 0;
        if (c->route->h.on_message)
            c->route->h.on_message(c->route->ctx, c, c->rx, n);
    }
    return 0;
}

static int ws_server__on_writeable(struct ws_server *ws, struct lws *wsi, struct ws_conn *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&ws->lock);
    struct frame *f = c->q_head;
    if (f) {
        c->q_head = f->next;
        if (!c->q_head)
            c->q_tail = NULL;
    }
    bool more = c->q_head != NULL;
    bool close_req = c->close_req;
    pthread_mutex_unlock(&ws->lock);
    if (f) {
        int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
        free(f);
        if (n < 0)
            return -1;
    }
    if (more) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (close_req) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

/* CLOSED, or WSI_DESTROY without it: the connection moves to ws->dead. */
static void ws_server__on_closed(struct ws_server *ws, void **slot)
{
    struct ws_conn *c = slot ? *slot : NULL;
    if (!c)
        return;
    *slot = NULL;
    pthread_mutex_lock(&ws->lock);
    c->closed = true;
    c->wsi = NULL;
    struct frame *q = c->q_head;
    c->q_head = c->q_tail = NULL;
    for (struct ws_conn **pp = &ws->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    c->next = ws->dead;
    ws->dead = c;
    pthread_mutex_unlock(&ws->lock);
    ws_server__free_frames(q);
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
    if (c->route->h.on_close)
        c->route->h.on_close(c->route->ctx, c);
}

static int ws_server__callback(void *ctx, struct lws *wsi, int reason, void **slot, void *in,
                               size_t len)
{
    struct ws_server *ws = ctx;
    char path[1024];
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return ws_server__confirm_upgrade(ws, wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_server__find(ws, wsi, path, sizeof(path)) ? 0 : 1;
    case LWS_CALLBACK_ESTABLISHED:
        return ws_server__on_open(ws, wsi, slot);
    case LWS_CALLBACK_RECEIVE:
        return ws_server__on_receive(ws, wsi, *slot, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ws_server__on_writeable(ws, wsi, *slot);
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        ws_server__on_closed(ws, slot);
        return 0;
    default:
        return 0;
    }
}

/* Service thread, after a wake-up: ask for writable callbacks wherever
 * another thread left something to send. */
static void ws_server__on_wake(void *ctx)
{
    struct ws_server *ws = ctx;
    pthread_mutex_lock(&ws->lock);
    for (struct ws_conn *c = ws->conns; c; c = c->next) {
        if (c->want_write && !c->closed) {
            c->want_write = false;
            lws_callback_on_writable(c->wsi);
        }
    }
    pthread_mutex_unlock(&ws->lock);
}

static void ws_server__free_conns(struct ws_conn *c)
{
    while (c) {
        struct ws_conn *next = c->next;
        ws_server__free_frames(c->q_head);
        free(c->rx);
        free(c);
        c = next;
    }
}

static void ws_server__on_free(void *ctx)
{
    struct ws_server *ws = ctx;
    ws_server__free_conns(ws->conns);
    ws_server__free_conns(ws->dead);
    for (size_t i = 0; i < ws->n_routes; i++)
        free(ws->routes[i].path);
    free(ws->routes);
    pthread_mutex_destroy(&ws->lock);
    free(ws);
}

struct ws_server *ws_server__attach(struct http_server *srv)
{
    const struct http_server_options *opt = http_server__options(srv);
    struct ws_server *ws = opt ? calloc(1, sizeof(*ws)) : NULL;
    if (!ws)
        return NULL;
    ws->srv = srv;
    ws->max_message = opt->max_body_bytes;
    ws->max_header = opt->max_header_bytes;
    pthread_mutex_init(&ws->lock, NULL);
    struct http_server_hook hook = {.callback = ws_server__callback,
                                    .on_wake = ws_server__on_wake,
                                    .on_free = ws_server__on_free,
                                    .ctx = ws};
    if (http_server__hook(srv, &hook) != 0) {
        pthread_mutex_destroy(&ws->lock);
        free(ws);
        return NULL;
    }
    return ws;
}

int ws_server__route(struct ws_server *ws, const char *path, const struct ws_handler *h, void *ctx)
{
    /* routes are read on the service thread: none once it runs */
    if (!ws || !path || !h || http_server__port(ws->srv) > 0)
        return -1;
    struct ws_route *r = realloc(ws->routes, (ws->n_routes + 1) * sizeof(*r));
    if (!r)
        return -1;
    ws->routes = r;
    char *p = str__dup(path);
    if (!p)
        return -1;
    ws->routes[ws->n_routes++] = (struct ws_route){.path = p, .h = *h, .ctx = ctx};
    return 0;
}

int ws_server__send(struct ws_conn *c, const char *data, size_t len)
{
    if (!c)
        return -1;
    struct frame *f = malloc(sizeof(*f) + LWS_PRE + len);
    if (!f)
        return -1;
    f->next = NULL;
    f->len = len;
    if (len)
        memcpy(f->buf + LWS_PRE, data, len);
    struct ws_server *ws = c->ws;
    pthread_mutex_lock(&ws->lock);
    if (c->closed || c->close_req) {
        pthread_mutex_unlock(&ws->lock);
        free(f);
        return -1;
    }
    if (c->q_tail)
        c->q_tail->next = f;
    else
        c->q_head = f;
    c->q_tail = f;
    c->want_write = true;
    http_server__wake(ws->srv);
    pthread_mutex_unlock(&ws->lock);
    return 0;
}

void ws_server__close(struct ws_conn *c)
{
    if (!c)
        return;
    struct ws_server *ws = c->ws;
    pthread_mutex_lock(&ws->lock);
    bool wake = !c->closed && !c->close_req;
    c->close_req = true;
    c->want_write = true;
    if (wake)
        http_server__wake(ws->srv);
    pthread_mutex_unlock(&ws->lock);
}

void ws_server__set_user(struct ws_conn *c, void *user)
{
    if (c)
        c->user = user;
}

void *ws_server__user(struct ws_conn *c)
{
    return c ? c->user : NULL;
}
