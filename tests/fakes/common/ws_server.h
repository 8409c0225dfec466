/* A WebSocket server for the simulators (the Voice simulator's SignalR hub,
 * tests/tools/http_server_probe), plugged into core/http_server through its
 * hook; the daemon has none.
 *
 * Routes get their callbacks on the server's service thread (on_close also
 * on the thread calling http_server__stop()); ws_server__send() and
 * ws_server__close() are thread-safe.
 */
#ifndef PS_FAKES_WS_SERVER_H
#define PS_FAKES_WS_SERVER_H

#include <stddef.h>

#include "core/http_server.h"

struct ws_server;
struct ws_conn;

struct ws_handler {
    /* Optional, service thread, before the upgrade: 0 accepts, an HTTP
     * status (e.g. 401, 404, 409) refuses with that answer and no 101.
     * Headers and query are readable; it must not block. */
    int (*on_upgrade)(void *ctx, const struct http_request *req);
    void (*on_open)(void *ctx, struct ws_conn *c, const struct http_request *req);
    /* one whole message (fragments are joined); text or binary */
    void (*on_message)(void *ctx, struct ws_conn *c, const char *data, size_t len);
    void (*on_close)(void *ctx, struct ws_conn *c);
};

/* Before http_server__start(), once per server: a WebSocket server on srv.
 * srv owns it (http_server__free() frees it). Messages over the server's
 * max_body_bytes close the connection (1009). NULL on no memory or when srv
 * has a hook already. */
struct ws_server *ws_server__attach(struct http_server *srv);
/* Before http_server__start(): an exact path (NULL ws: -1). */
int ws_server__route(struct ws_server *ws, const char *path, const struct ws_handler *h, void *ctx);
/* Any thread. Queues one text frame; returns -1 if the connection closed.
 * A ws_conn stays valid (sends return -1) after on_close until
 * http_server__free(), so a late send from another thread is harmless. */
int ws_server__send(struct ws_conn *c, const char *data, size_t len);
/* Any thread. Closes the connection (on_close follows). */
void ws_server__close(struct ws_conn *c);
/* Per-connection user pointer. */
void ws_server__set_user(struct ws_conn *c, void *user);
void *ws_server__user(struct ws_conn *c);

#endif
