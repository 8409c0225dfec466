/* The route table of core/http_server: which handler answers a method and a
 * path, which methods a path allows (for 405), and per-route body limits.
 * Pure (no sockets, no threads): tests/unit/test_http_route.c. */
#ifndef PS_CORE_HTTP_ROUTE_H
#define PS_CORE_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/http_request.h"

struct http_route {
    char *method; /* NULL: any */
    char *path;
    bool prefix; /* path is a prefix (it ends with '/') */
    http_handler_fn fn;
    void *ctx;
    size_t max_body; /* 0: the server's max_body_bytes */
};

/* Zero-initialise; http_route__free() frees. */
struct http_routes {
    struct http_route *v;
    size_t n;
};

/* Adds a route; method NULL matches any. -1 on bad arguments or no memory. */
int http_route__add(struct http_routes *t, const char *method, const char *path, bool prefix,
                    http_handler_fn fn, void *ctx);
/* Routes registered with exactly this path take bodies up to max_body
 * bytes. -1 when no route has that path. */
int http_route__body_limit(struct http_routes *t, const char *path, size_t max_body);
/* The route that answers: exact routes win over prefixes, among prefixes the
 * longest wins. *path_known tells whether some route has the path with
 * another method (405 rather than 404). NULL when none. */
const struct http_route *http_route__find(const struct http_routes *t, const char *method,
                                          const char *path, bool *path_known);
/* The body limit of route r: its own, else the server's max_body (also
 * when r is NULL). */
size_t http_route__limit(const struct http_route *r, size_t max_body);
/* What a request gets before its body is read: 0 when a handler takes it
 * (*route), else 413 (a Content-Length over the limit), 411 (POST, PUT or
 * PATCH without a Content-Length: libwebsockets 4.1 cannot decode chunked
 * request bodies, so nothing tells where one ends), 405 (routes have the
 * path with other methods) or 404. length is the Content-Length, -1 when
 * there is none; *route is set in every case (NULL without a route). */
int http_route__admit(const struct http_routes *t, const char *method, const char *path,
                      long long length, size_t max_body, const struct http_route **route);
/* "Allow: GET, POST\r\n": the methods routes of path answer (malloc'd,
 * NULL on no memory). */
char *http_route__allow(const struct http_routes *t, const char *path);
void http_route__free(struct http_routes *t);

#endif
