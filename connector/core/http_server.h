/* HTTP server on libwebsockets, running its own service thread.
 *
 * Handlers are called on the libwebsockets service thread once the whole
 * request body is in (bodies over max_body_bytes get 413 without calling the
 * handler, as soon as Content-Length shows it). A handler must never block
 * (no I/O, no waiting on locks held for long, no sleeping): every other
 * connection waits while it runs. It either fills the response and returns
 * HTTP_DONE, or keeps `pending` and returns HTTP_DEFER, completing it later
 * from any thread with http_server__complete().
 * Unknown paths get 404; a known path with the wrong method gets 405 with an
 * Allow header (core/http_route.c). POST/PUT/PATCH without Content-Length
 * (e.g. chunked) get 411: libwebsockets 4.1 cannot decode chunked request
 * bodies.
 * Limits: at most max_connections sockets (more are closed on accept); a
 * client gets timeout_secs to send its headers, timeout_secs for its body
 * (dropped on the next byte after that), and a deferred answer must come
 * within timeout_secs or the connection is closed. Headers over
 * max_header_bytes drop the connection. The Content-Lengths of the bodies
 * being received are reserved against max_buffered_bytes; a request that
 * does not fit gets 503 with Retry-After: 1 and the connection is closed.
 *
 * The daemon serves no WebSockets: upgrades are refused unless a hook takes
 * them (the simulators' WebSocket server, tests/fakes/common/ws_server.c).
 */
#ifndef PS_HTTP_SERVER_H
#define PS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/http_request.h"

struct http_server;
struct http_pending;
struct lws;

struct http_server_options {
    const char *host; /* "127.0.0.1", "0.0.0.0", "::" */
    int port;         /* 0: any free port (see http_server__port) */
    size_t max_body_bytes;
    const char *tls_cert_file; /* both set: HTTPS */
    const char *tls_key_file;
    int max_connections;       /* 0: default 256 */
    int timeout_secs;          /* idle/slow client timeout; 0: default 10 */
    size_t max_header_bytes;   /* 0: default 8192 */
    size_t max_buffered_bytes; /* request bodies held at once; 0: default 256 MiB */
};

struct http_server *http_server__new(const struct http_server_options *opt);
/* The options in force: opt with the defaults filled in. */
const struct http_server_options *http_server__options(const struct http_server *srv);
/* Routes: call before http_server__start(). path is exact, or a prefix when
 * it ends with '/' and prefix is true. method NULL matches any. */
int http_server__route(struct http_server *srv, const char *method, const char *path, bool prefix,
                       http_handler_fn fn, void *ctx);
/* Before start: routes registered with exactly this path take bodies up to
 * max_body_bytes instead of the server's (larger or smaller; 413 above it).
 * Returns -1 when no route has that path. */
int http_server__route_body_limit(struct http_server *srv, const char *path, size_t max_body_bytes);
int http_server__start(struct http_server *srv); /* binds, starts the thread */
int http_server__port(const struct http_server *srv);
void http_server__stop(struct http_server *srv);
void http_server__free(struct http_server *srv);

/* Any thread: completes a deferred request; takes ownership of body.
 * content_type as in struct http_response ("": no Content-Type header).
 * Call it exactly once per deferred request, also when the client may have
 * gone (then it just frees), and never after http_server__free(). */
void http_server__complete(struct http_pending *p, int status, const char *content_type, char *body,
                           size_t body_len);
/* Any thread: like http_server__complete(), plus response headers
 * ("Name: value\r\n...", copied; NULL for none), e.g. Retry-After. */
void http_server__complete_headers(struct http_pending *p, int status, const char *content_type,
                                   const char *extra_headers, char *body, size_t body_len);

/* The WebSocket hook: what serves upgrades when a server has one (only the
 * simulators do). On the service thread, callback gets the libwebsockets
 * reasons of an upgrade and of the connection after it
 * (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, _FILTER_PROTOCOL_CONNECTION,
 * _ESTABLISHED, _RECEIVE, _SERVER_WRITEABLE, _CLOSED, _WSI_DESTROY; the last
 * also on the thread calling http_server__stop()) with conn the
 * connection's slot for the hook's own state, and returns what an lws
 * callback returns. on_wake runs on the service thread after
 * http_server__wake(); on_free in http_server__free(), after the stop. */
struct http_server_hook {
    int (*callback)(void *ctx, struct lws *wsi, int reason, void **conn, void *in, size_t len);
    void (*on_wake)(void *ctx);
    void (*on_free)(void *ctx);
    void *ctx;
};
/* Before start, at most once. */
int http_server__hook(struct http_server *srv, const struct http_server_hook *hook);
/* Any thread: wakes the service thread; a no-op once the server stopped. */
void http_server__wake(struct http_server *srv);

#endif
