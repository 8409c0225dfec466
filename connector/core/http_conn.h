/* Internal to the HTTP server (core/http_server.c, core/http_conn.c): the
 * server's state, a deferred answer, and one connection's request cycle.
 *
 * http_server.c owns the libwebsockets context, its service thread and the
 * protocol callback; http_conn.c runs one request on a connection (parse,
 * admit by route, take the body, call the handler, write the answer) and the
 * service thread's side of deferred answers. Everything here runs on the
 * service thread except what is marked "under srv->lock".
 */
#ifndef PS_HTTP_CONN_H
#define PS_HTTP_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <libwebsockets.h>

#include "core/http_body.h"
#include "core/http_response.h"
#include "core/http_route.h"
#include "core/http_server.h"

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

/* calloc that aborts when out of memory */
void *http_conn__alloc(size_t n);

/* The libwebsockets HTTP reasons of one connection; each returns what the
 * lws callback should return. */
int http_conn__on_request(struct lws *wsi, struct pss *pss, struct http_server *srv);
int http_conn__on_body(struct lws *wsi, struct pss *pss, struct http_server *srv, const void *in,
                       size_t len);
int http_conn__on_body_done(struct lws *wsi, struct pss *pss, struct http_server *srv);
int http_conn__on_writeable(struct lws *wsi, struct pss *pss, struct http_server *srv);
/* Forgets the request in pss and gives its body's reservation back. */
void http_conn__reset_request(struct http_server *srv, struct pss *pss);
/* The connection is going away: its deferred answer must not dangle. */
void http_conn__drop_pending(struct pss *pss, struct http_server *srv);
/* Caller holds srv->lock. */
void http_conn__unlink_pending(struct http_server *srv, struct http_pending *p);
void http_conn__free_pending(struct http_pending *p);

#endif
