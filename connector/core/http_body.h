/* The request bodies core/http_server holds in memory. A budget shared by a
 * server's connections bounds them all: each body reserves its announced
 * Content-Length when its headers arrive, which the per-route body limits
 * alone do not bound (256 connections x 65 MB). A body's buffer grows as
 * the bytes come, so a large Content-Length that is never sent costs
 * nothing but its reservation. Pure, used on the service thread only:
 * tests/unit/test_http_body.c. */
#ifndef PS_CORE_HTTP_BODY_H
#define PS_CORE_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>

struct http_budget {
    size_t max;  /* max_buffered_bytes */
    size_t used; /* reserved by the bodies being received */
    bool warned; /* a refusal was reported since the budget was last empty */
};

/* Zero-initialise. */
struct http_body {
    char *buf; /* NUL-terminated (NULL before http_body__open) */
    size_t len, cap;
    size_t reserved; /* of the budget: the announced length */
};

enum { HTTP_BODY_OPEN = 0, HTTP_BODY_FULL = 1, HTTP_BODY_NOMEM = -1 };
/* Reserves the announced length n in budget and allocates the first part of
 * the buffer. HTTP_BODY_FULL when n does not fit (*first tells whether it is
 * the first refusal since the budget was last empty: the one worth a log
 * line), HTTP_BODY_NOMEM (nothing reserved) when out of memory. */
int http_body__open(struct http_body *body, struct http_budget *budget, size_t n, bool *first);
/* Appends len bytes; -1 when out of memory. The buffer grows by doubling,
 * never past the announced length unless more bytes than that come (the
 * caller refuses a body over its limit before it appends). */
int http_body__append(struct http_body *body, const void *in, size_t len);
/* Frees the buffer and gives its reservation back to budget. */
void http_body__clear(struct http_body *body, struct http_budget *budget);

#endif
