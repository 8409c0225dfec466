/* One request on a connection of the HTTP server, on the libwebsockets
 * service thread: the method, path and query taken, the request admitted by
 * its route (core/http_route.c), its body taken within the budget of
 * buffered bodies, the handler called, and the answer written
 * (core/http_response.c); a deferred answer picked up once another thread
 * completed it (http_server__complete, core/http_server.c).
 */
#include "core/http_conn.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"

void *http_conn__alloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p) {
        LOG_ERROR("http", "out of memory");
        abort();
    }
    return p;
}

/* ---- one request on a connection ----------------------------------------- */

void http_conn__reset_request(struct http_server *srv, struct pss *pss)
{
    http_body__clear(&pss->body, &srv->budget);
    free(pss->path);
    free(pss->query);
    http_response__clear(&pss->out);
    pss->path = pss->query = NULL;
    pss->route = NULL;
    pss->method[0] = '\0';
    pss->state = PSS_IDLE;
}

/* The answer in pss->out is written on the next HTTP_WRITEABLE (after the
 * body, when one is still coming). */
static void http_conn__queue(struct lws *wsi, struct pss *pss)
{
    if (pss->state != PSS_DISCARD && pss->state != PSS_BODY)
        pss->state = PSS_WRITING;
    lws_callback_on_writable(wsi);
}

/* Takes ownership of body and extra_owned. */
static void http_conn__respond(struct lws *wsi, struct pss *pss, int status, const char *ctype,
                               char *body, size_t len, const char *extra, char *extra_owned)
{
    http_response__set(&pss->out, status, ctype, body, len, extra, extra_owned, false);
    http_conn__queue(wsi, pss);
}

static void http_conn__respond_error(struct lws *wsi, struct pss *pss, int status,
                                     char *extra_owned)
{
    http_response__error(&pss->out, status, extra_owned);
    http_conn__queue(wsi, pss);
}

/* Route patterns, not raw paths, label the counter: bounded cardinality. */
static void http_conn__count(const struct pss *pss)
{
    char labels[256];
    snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",code=\"%d\"",
             pss->method[0] ? pss->method : "?", pss->route ? pss->route->path : "",
             pss->out.status);
    metrics__inc("http_requests_total", labels, 1);
}

/* HTTP_WRITEABLE: writes the next part of the answer; once it is all out,
 * the connection waits for its next request or closes. Returns what the
 * lws callback should return. */
static int http_conn__write(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    enum http_response_step step = http_response__write(wsi, &pss->out);
    if (step == HTTP_RESPONSE_FAILED)
        return -1;
    if (step == HTTP_RESPONSE_MORE)
        return 0;
    bool close_after = pss->out.close_after;
    http_conn__count(pss);
    http_conn__reset_request(srv, pss);
    if (close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- handlers and deferred completion ------------------------------------ */

/* Caller holds srv->lock. */
void http_conn__unlink_pending(struct http_server *srv, struct http_pending *p)
{
    for (struct http_pending **pp = &srv->pendings; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

void http_conn__free_pending(struct http_pending *p)
{
    free(p->body);
    free(p->extra);
    free(p);
}

static void http_conn__run_handler(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    struct http_request_src src = {.wsi = wsi, .max_header_bytes = srv->opt.max_header_bytes};
    struct http_request req = {
        .method = pss->method,
        .path = pss->path,
        .query = pss->query ? pss->query : "",
        .body = pss->body.buf ? pss->body.buf : "",
        .body_len = pss->body.len,
        .internal = &src,
    };
    struct http_response resp = {.status = 200};
    struct http_pending *p = http_conn__alloc(sizeof(*p));
    p->srv = srv;
    p->wsi = wsi;
    pss->state = PSS_WAIT;

    int rc = pss->route->fn(pss->route->ctx, &req, &resp, p);
    if (rc == HTTP_DEFER) {
        free(resp.body);
        pthread_mutex_lock(&srv->lock);
        p->next = srv->pendings;
        srv->pendings = p;
        pss->pending = p;
        pthread_mutex_unlock(&srv->lock);
        /* the client gets timeout_secs to see its answer */
        lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, srv->opt.timeout_secs);
        return;
    }
    free(p);
    http_conn__respond(wsi, pss, resp.status ? resp.status : 500, resp.content_type, resp.body,
                       resp.body_len, resp.extra_headers, NULL);
}

/* Service thread: picks up a completed deferred response, if any. */
static void http_conn__take_pending(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    struct http_pending *p = pss->pending;
    pthread_mutex_lock(&srv->lock);
    if (!p->completed) {
        pthread_mutex_unlock(&srv->lock);
        return;
    }
    http_conn__unlink_pending(srv, p);
    pthread_mutex_unlock(&srv->lock);
    pss->pending = NULL;
    http_conn__respond(wsi, pss, p->status, p->content_type, p->body, p->body_len, NULL, p->extra);
    free(p);
}

/* Service thread: the connection is going away; a pending must not dangle. */
void http_conn__drop_pending(struct pss *pss, struct http_server *srv)
{
    struct http_pending *p = pss->pending;
    if (!p)
        return;
    pss->pending = NULL;
    pthread_mutex_lock(&srv->lock);
    if (p->completed) {
        http_conn__unlink_pending(srv, p);
        pthread_mutex_unlock(&srv->lock);
        http_conn__free_pending(p);
        return;
    }
    p->gone = true;
    p->wsi = NULL;
    pthread_mutex_unlock(&srv->lock);
}

/* ---- receiving a request ------------------------------------------------- */

/* Reserves the announced body length in the budget of buffered bodies; a
 * body that does not fit gets 503 with Retry-After (Graph and well-behaved
 * clients retry). -1 when out of memory. */
static int http_conn__open_body(struct lws *wsi, struct pss *pss, struct http_server *srv, size_t n)
{
    bool first;
    int rc = http_body__open(&pss->body, &srv->budget, n, &first);
    if (rc != HTTP_BODY_FULL)
        return rc == HTTP_BODY_OPEN ? 0 : -1;
    metrics__inc("http_busy_rejections_total", NULL, 1);
    if (first)
        LOG_WARN("http",
                 "request bodies refused with 503: buffered=%zu requested=%zu "
                 "max_buffered_bytes=%zu",
                 srv->budget.used, n, srv->budget.max);
    http_conn__respond_error(wsi, pss, 503, str__dup("Retry-After: 1\r\n"));
    return 0;
}

/* Takes the method, path and query of a new request; -1 when unusable. */
static int http_conn__parse(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    const char *method = http_request__method(wsi);
    char *uri = NULL;
    int ulen = 0;
    if (!method || lws_http_get_uri_and_method(wsi, &uri, &ulen) < 0 || !uri)
        return -1;
    snprintf(pss->method, sizeof(pss->method), "%s", method);
    pss->path = strndup(uri, (size_t)ulen);
    pss->query = http_request__query_string(wsi, srv->opt.max_header_bytes);
    if (!pss->path)
        return -1;
    pss->deadline = time(NULL) + srv->opt.timeout_secs;
    return 0;
}

int http_conn__on_request(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    if (pss->pending || pss->out.active)
        return -1; /* a pipelined request before the last answer: not supported */
    http_conn__reset_request(srv, pss);
    if (http_conn__parse(wsi, pss, srv))
        return -1;
    char cl[32] = "";
    long long clen = -1;
    if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        clen = atoll(cl) < 0 ? LLONG_MAX : atoll(cl);
    /* lws calls HTTP_BODY_COMPLETION when there is a length > 0, and for
     * POST with an explicit length of 0 */
    bool expect_body = clen > 0 || (clen == 0 && !strcmp(pss->method, "POST"));
    int status = http_route__admit(&srv->routes, pss->method, pss->path, clen,
                                   srv->opt.max_body_bytes, &pss->route);
    pss->state = expect_body ? PSS_DISCARD : PSS_IDLE;
    if (status) {
        /* the body, when one comes, is read and dropped */
        http_conn__respond_error(wsi, pss, status,
                                 status == 405 ? http_route__allow(&srv->routes, pss->path) : NULL);
        return 0;
    }
    if (!expect_body) {
        http_conn__run_handler(wsi, pss, srv);
        return 0;
    }
    if (http_conn__open_body(wsi, pss, srv, (size_t)clen))
        return -1;
    if (!pss->out.active)
        pss->state = PSS_BODY;
    return 0;
}

int http_conn__on_body(struct lws *wsi, struct pss *pss, struct http_server *srv, const void *in,
                       size_t len)
{
    if (time(NULL) > pss->deadline) {
        LOG_INFO("http", "dropping slow client path=%s", pss->path ? pss->path : "");
        return -1;
    }
    if (pss->state != PSS_BODY)
        return 0; /* discarding the body of a request already answered */
    if (pss->body.len + len > http_route__limit(pss->route, srv->opt.max_body_bytes)) {
        pss->state = PSS_DISCARD;
        http_conn__respond_error(wsi, pss, 413, NULL);
        return 0;
    }
    return http_body__append(&pss->body, in, len);
}

int http_conn__on_body_done(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    if (pss->state == PSS_DISCARD) {
        /* an error response waits for the body to be read */
        if (pss->out.active && !pss->out.close_after) {
            pss->state = PSS_WRITING;
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    if (pss->state != PSS_BODY)
        return 0;
    http_conn__run_handler(wsi, pss, srv);
    return 0;
}

int http_conn__on_writeable(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    if (pss->pending)
        http_conn__take_pending(wsi, pss, srv);
    /* a response to a request whose body is still coming waits for it,
     * unless the connection closes after it (413, 411) */
    if (!pss->out.active || pss->state == PSS_BODY ||
        (pss->state == PSS_DISCARD && !pss->out.close_after))
        return 0;
    return http_conn__write(wsi, pss, srv);
}
