/* A request as core/http_server hands it to a handler, the answer the
 * handler fills in, and the accessors of the request's headers and query.
 *
 * The second part is for the server side only (core/http_server.c and the
 * simulators' WebSocket server, tests/fakes/common/ws_server.c): building a
 * request from a libwebsockets connection.
 */
#ifndef PS_CORE_HTTP_REQUEST_H
#define PS_CORE_HTTP_REQUEST_H

#include <stddef.h>

struct http_pending;
struct lws;

struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL-decoded path, no query */
    /* query string without '?', "" when none. libwebsockets decodes the
     * arguments while parsing, so this is rebuilt from them, re-encoded
     * (same values, maybe different spelling). Prefer http_request__query(). */
    const char *query;
    const char *body; /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    void *internal; /* struct http_request_src */
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

/* During a handler only: copy a request header (case-insensitive name, any
 * header incl. custom ones like X-Benemen-Token). Returns length or -1. */
int http_request__header(const struct http_request *req, const char *name, char *buf, size_t len);
/* During a handler (or a WebSocket open) only: a query argument, URL-decoded
 * exactly once ('+' is a space, %2B is '+'). An argument without '=' has the
 * value "". Returns length or -1 when absent / too long for buf. */
int http_request__query(const struct http_request *req, const char *name, char *buf, size_t len);

/* ---- server side ---------------------------------------------------------- */

/* What http_request.internal points at while the request is handled: the
 * connection whose headers and query the accessors read. */
struct http_request_src {
    struct lws *wsi;
    size_t max_header_bytes; /* no query argument is longer */
};

/* The request's method ("GET", "POST", ...), NULL for one not served. */
const char *http_request__method(struct lws *wsi);
/* The query string rebuilt from the decoded arguments, re-encoded (RFC 3986
 * unreserved characters kept): malloc'd, "" when none. */
char *http_request__query_string(struct lws *wsi, size_t max_header_bytes);

#endif
