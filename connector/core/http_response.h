/* Writing an answer on one HTTP connection of core/http_server: the status
 * line and headers on one writable callback, then the body in chunks of
 * 16 kB, one per writable callback, so no connection holds the service
 * thread for long. */
#ifndef PS_CORE_HTTP_RESPONSE_H
#define PS_CORE_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

struct lws;

/* The answer being written (zero: none). */
struct http_out {
    bool active, headers_sent, close_after;
    int status;
    const char *content_type; /* NULL: no Content-Type header */
    char *body;
    size_t len, off;
    const char *extra; /* "Name: value\r\n..." */
    char *extra_owned;
};

/* Replaces the answer in o, taking ownership of body and extra_owned (which
 * wins over extra). ctype NULL means "application/json", "" no Content-Type
 * (the empty 200 of some real services). */
void http_response__set(struct http_out *o, int status, const char *ctype, char *body, size_t len,
                        const char *extra, char *extra_owned, bool close_after);
/* Frees what o owns and zeroes it. */
void http_response__clear(struct http_out *o);
/* The answer to a request the server refuses itself, {"error":"..."}: 404
 * and 405 keep the connection; 411, 413 and 503 close it (the body is not
 * read, or the client should come back later). extra_owned as in
 * http_response__set() (Allow, Retry-After). */
void http_response__error(struct http_out *o, int status, char *extra_owned);

enum http_response_step {
    HTTP_RESPONSE_MORE,   /* more to write: a writable callback was asked for */
    HTTP_RESPONSE_DONE,   /* all written */
    HTTP_RESPONSE_FAILED, /* the connection must close */
};
/* On HTTP_WRITEABLE: the headers, or the next chunk of the body. */
enum http_response_step http_response__write(struct lws *wsi, struct http_out *o);

#endif
