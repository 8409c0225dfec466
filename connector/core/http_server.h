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
 * Allow header. POST/PUT/PATCH without Content-Length (e.g. chunked) get 411:
 * libwebsockets 4.1 cannot decode chunked request bodies.
 * Limits: at most max_connections sockets (more are closed on accept); a
 * client gets timeout_secs to send its headers, timeout_secs for its body
 * (dropped on the next byte after that), and a deferred answer must come
 * within timeout_secs or the connection is closed. Headers over
 * max_header_bytes drop the connection. The Content-Lengths of the bodies
 * being received are reserved against max_buffered_bytes; a request that
 * does not fit gets 503 with Retry-After: 1 and the connection is closed.
 *
 * WebSocket routes (used by the Voice simulator's SignalR hub) get their
 * callbacks on the service thread too (on_close also from the thread calling
 * http_server__stop()); ws__send() and ws__close() are thread-safe.
 */
#ifndef PS_HTTP_SERVER_H
#define PS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct http_server;
struct http_pending;
struct ws_conn;

struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL-decoded path, no query */
    /* query string without '?', "" when none. libwebsockets decodes the
     * arguments while parsing, so this is rebuilt from them, re-encoded
     * (same values, maybe different spelling). Prefer http_request__query(). */
    const char *query;
    const char *body; /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    void *internal;
};

struct http_response {
    int status;
    const char *content_type; /* static string; NULL: "application/json"; "": none */
    char *body;               /* malloc'd; the server frees it */
    size_t body_len;
    const char *extra_headers; /* static, "Name: value\r\n..." or NULL */
};

enum { HTTP_DONE = 0, HTTP_DEFER = 1 };

typedef int (*http_handler_fn)(void *ctx, const struct http_request *req,
                               struct http_response *resp, struct http_pending *pending);

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

/* During a handler only: copy a request header (case-insensitive name, any
 * header incl. custom ones like X-Benemen-Token). Returns length or -1. */
int http_request__header(const struct http_request *req, const char *name, char *buf, size_t len);
/* During a handler (or ws on_open) only: a query argument, URL-decoded
 * exactly once ('+' is a space, %2B is '+'). An argument without '=' has the
 * value "". Returns length or -1 when absent / too long for buf. */
int http_request__query(const struct http_request *req, const char *name, char *buf, size_t len);

/* WebSocket routes. */
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
int http_server__ws_route(struct http_server *srv, const char *path, const struct ws_handler *h,
                          void *ctx);
/* Any thread. Queues one text frame; returns -1 if the connection closed.
 * A ws_conn stays valid (sends return -1) after on_close until
 * http_server__free(), so a late send from another thread is harmless. */
int ws__send(struct ws_conn *c, const char *data, size_t len);
/* Any thread. Closes the connection (on_close follows). */
void ws__close(struct ws_conn *c);
/* Per-connection user pointer. */
void ws__set_user(struct ws_conn *c, void *user);
void *ws__user(struct ws_conn *c);

#endif
