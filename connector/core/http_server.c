/* HTTP and WebSocket server on libwebsockets, with its own service thread.
 *
 * Everything lws does happens on the service thread. Other threads only touch
 * two things, both under srv->lock: deferred responses (struct http_pending)
 * and WebSocket send queues (struct ws_conn). They then wake the service
 * thread with lws_cancel_service(); LWS_CALLBACK_EVENT_WAIT_CANCELLED asks for
 * a writable callback on each connection that has something to send.
 */
#include "core/http_server.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"

#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_MAX_BUFFERED    (256u * 1024 * 1024) /* request bodies in memory at once */
#define BODY_FIRST_ALLOC        65536                /* a body buffer's first size */
#define DEFAULT_TIMEOUT_SECS    10
#define DEFAULT_HEADER_BYTES    8192
#define WRITE_CHUNK             16384
#define HDR_BUF                 4096

struct route {
    char *method; /* NULL: any */
    char *path;
    bool prefix;
    http_handler_fn fn;
    void *ctx;
    size_t max_body; /* 0: the server's max_body_bytes */
};

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
    struct http_server *srv;
    struct lws *wsi;
    const struct ws_route *route;
    void *user;
    /* under srv->lock */
    bool closed, close_req, want_write;
    struct frame *q_head, *q_tail;
    /* service thread only */
    char *rx;
    size_t rx_len, rx_cap;
    struct ws_conn *next; /* srv->conns, later srv->dead */
};

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
    struct route *routes;
    size_t n_routes;
    struct ws_route *ws_routes;
    size_t n_ws_routes;

    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct lws_protocols protocols[2];
    pthread_t thread;
    bool running;
    volatile int stopping;
    int port;
    int live_conns;   /* service thread only */
    size_t buffered;  /* request body bytes reserved by connections (service thread only) */
    bool busy_warned; /* the buffered budget was hit since it was last empty */

    pthread_mutex_t lock;
    struct http_pending *pendings;
    struct ws_conn *conns;
    struct ws_conn *dead; /* closed; kept so late ws__send() calls are safe */
};

/* What is being written back on one HTTP connection. */
struct out {
    bool active, headers_sent, close_after;
    int status;
    const char *content_type;
    char *body;
    size_t len, off;
    const char *extra;
    char *extra_owned;
};

enum pss_state { PSS_IDLE, PSS_BODY, PSS_DISCARD, PSS_WAIT, PSS_WRITING };

/* lws per-session data: one per connection, reused across keep-alive requests. */
struct pss {
    enum pss_state state;
    bool is_ws;
    const struct route *route;
    char method[8];
    char *path, *query;
    char *body;
    size_t body_len, body_cap;
    size_t reserved; /* of srv->buffered: the body's Content-Length */
    time_t deadline;
    struct http_pending *pending;
    struct out out;
    struct ws_conn *ws;
};

/* What http_request.internal points at during a handler. */
struct req_internal {
    struct lws *wsi;
    struct http_server *srv;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        LOG_ERROR("http", "out of memory");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) {
        LOG_ERROR("http", "out of memory");
        abort();
    }
    return p;
}

/* ---- lws log bridge ------------------------------------------------------ */

static void http__lws_log(int level, const char *line)
{
    char buf[512];
    size_t n = strlen(line);
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memcpy(buf, line, n);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    /* lws logs client misbehaviour (bad headers...) at error level: keep it
     * at debug so remote peers cannot flood the log; our own errors cover
     * what matters */
    (void)level;
    LOG_DEBUG("lws", "%s", buf);
}

/* ---- requests ------------------------------------------------------------ */

static const struct {
    enum lws_token_indexes tok;
    const char *name;
} methods[] = {
    {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
    {WSI_TOKEN_PUT_URI, "PUT"},       {WSI_TOKEN_PATCH_URI, "PATCH"},
    {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
    {WSI_TOKEN_HEAD_URI, "HEAD"},
};

static const char *http__method(struct lws *wsi)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
            return methods[i].name;
    return NULL;
}

static int http__fragment(struct lws *wsi, enum lws_token_indexes tok, int idx, char *buf, int len)
{
    return lws_hdr_copy_fragment(wsi, buf, len, tok, idx);
}

/* Appends s percent-encoded (RFC 3986 unreserved kept) to dst. */
static size_t http__urlencode(char *dst, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            dst[n++] = (char)c;
        }
        else {
            dst[n++] = '%';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
    }
    dst[n] = '\0';
    return n;
}

/* lws decodes the query while parsing and keeps only the decoded arguments,
 * so the query string handed to handlers is rebuilt from them, re-encoded:
 * a standard decoder gets the same values back. */
static char *http__query_string(struct lws *wsi, size_t max)
{
    char *frag = xcalloc(1, max + 1);
    char *out = xcalloc(1, 1);
    size_t out_len = 0;
    for (int i = 0; http__fragment(wsi, WSI_TOKEN_HTTP_URI_ARGS, i, frag, (int)max + 1) >= 0; i++) {
        size_t flen = strlen(frag);
        char *grown = realloc(out, out_len + 3 * flen + 2);
        if (!grown)
            abort();
        out = grown;
        if (out_len)
            out[out_len++] = '&';
        char *eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        out_len += http__urlencode(out + out_len, frag);
        if (eq) {
            out[out_len++] = '=';
            out_len += http__urlencode(out + out_len, eq + 1);
        }
        out[out_len] = '\0';
    }
    free(frag);
    return out;
}

int http_request__query(const struct http_request *req, const char *name, char *buf, size_t len)
{
    const struct req_internal *ri = req ? req->internal : NULL;
    if (!ri || !name || !buf || !len)
        return -1;
    size_t max = ri->srv->opt.max_header_bytes;
    size_t nlen = strlen(name);
    char *frag = xcalloc(1, max + 1);
    int ret = -1;
    /* lws has already URL-decoded each argument ('+' too); decoding again
     * would corrupt values such as "a%2Bb" -> "a+b" -> "a b". */
    for (int i = 0; http__fragment(ri->wsi, WSI_TOKEN_HTTP_URI_ARGS, i, frag, (int)max + 1) >= 0;
         i++) {
        const char *val;
        if (!strncmp(frag, name, nlen) && frag[nlen] == '=')
            val = frag + nlen + 1;
        else if (!strcmp(frag, name))
            val = "";
        else
            continue;
        size_t vlen = strlen(val);
        if (vlen < len) {
            memcpy(buf, val, vlen + 1);
            ret = (int)vlen;
        }
        break;
    }
    free(frag);
    return ret;
}

int http_request__header(const struct http_request *req, const char *name, char *buf, size_t len)
{
    const struct req_internal *ri = req ? req->internal : NULL;
    if (!ri || !name || !buf || !len || len > INT32_MAX)
        return -1;
    size_t nlen = strlen(name);
    if (!nlen || nlen > 128)
        return -1;
    /* lws keeps header names lower-cased with their colon, e.g. "host:" */
    char key[132];
    for (size_t i = 0; i < nlen; i++)
        key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    key[nlen] = ':';
    key[nlen + 1] = '\0';

    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const char *s = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (s && !strcmp(s, key)) {
            int n = lws_hdr_total_length(ri->wsi, (enum lws_token_indexes)t);
            if (n <= 0 || (size_t)n >= len)
                return -1;
            return lws_hdr_copy(ri->wsi, buf, (int)len, (enum lws_token_indexes)t);
        }
    }
    return lws_hdr_custom_copy(ri->wsi, buf, (int)len, key, (int)nlen + 1);
}

/* ---- routing ------------------------------------------------------------- */

static bool route__path_matches(const struct route *r, const char *path)
{
    if (r->prefix)
        return !strncmp(path, r->path, strlen(r->path));
    return !strcmp(path, r->path);
}

/* Exact routes win over prefixes; among prefixes the longest wins. Sets
 * *path_known when some route has the path (for 404 vs 405). */
static const struct route *route__find(const struct http_server *srv, const char *method,
                                       const char *path, bool *path_known)
{
    const struct route *best = NULL;
    size_t best_len = 0;
    *path_known = false;
    for (size_t i = 0; i < srv->n_routes; i++) {
        const struct route *r = &srv->routes[i];
        if (!route__path_matches(r, path))
            continue;
        *path_known = true;
        if (r->method && strcmp(r->method, method))
            continue;
        size_t score = r->prefix ? strlen(r->path) : SIZE_MAX;
        if (!best || score > best_len) {
            best = r;
            best_len = score;
        }
    }
    return best;
}

static char *route__allow(const struct http_server *srv, const char *path)
{
    char allow[256] = "";
    for (size_t i = 0; i < srv->n_routes; i++) {
        const struct route *r = &srv->routes[i];
        if (!route__path_matches(r, path) || !r->method || strstr(allow, r->method))
            continue;
        if (strlen(allow) + strlen(r->method) + 3 >= sizeof(allow))
            break;
        if (allow[0])
            strcat(allow, ", ");
        strcat(allow, r->method);
    }
    char *h = xcalloc(1, strlen(allow) + 16);
    sprintf(h, "Allow: %s\r\n", allow);
    return h;
}

static const struct ws_route *ws_route__find(const struct http_server *srv, const char *path)
{
    for (size_t i = 0; i < srv->n_ws_routes; i++)
        if (!strcmp(srv->ws_routes[i].path, path))
            return &srv->ws_routes[i];
    return NULL;
}

/* ---- responses ----------------------------------------------------------- */

static void pss__reset_request(struct http_server *srv, struct pss *pss)
{
    srv->buffered -= pss->reserved;
    pss->reserved = 0;
    free(pss->path);
    free(pss->query);
    free(pss->body);
    free(pss->out.body);
    free(pss->out.extra_owned);
    pss->path = pss->query = pss->body = NULL;
    pss->body_len = pss->body_cap = 0;
    pss->route = NULL;
    pss->method[0] = '\0';
    memset(&pss->out, 0, sizeof(pss->out));
    pss->state = PSS_IDLE;
}

/* Queues a response on this connection; it is written on the next
 * HTTP_WRITEABLE. Takes ownership of body and extra_owned. */
static void http__respond(struct lws *wsi, struct pss *pss, int status, const char *ctype,
                          char *body, size_t len, const char *extra, char *extra_owned,
                          bool close_after)
{
    free(pss->out.body);
    free(pss->out.extra_owned);
    pss->out = (struct out){
        .active = true,
        .status = status,
        /* "" asks for no Content-Type (an empty 200 of some real services) */
        .content_type = !ctype     ? "application/json"
                        : ctype[0] ? ctype
                                   : NULL,
        .body = body,
        .len = body ? len : 0,
        .extra = extra_owned ? extra_owned : extra,
        .extra_owned = extra_owned,
        .close_after = close_after,
    };
    if (pss->state != PSS_DISCARD && pss->state != PSS_BODY)
        pss->state = PSS_WRITING;
    lws_callback_on_writable(wsi);
}

static void http__respond_error(struct lws *wsi, struct pss *pss, int status, const char *msg,
                                char *extra_owned, bool close_after)
{
    char *body = xcalloc(1, strlen(msg) + 16);
    int n = sprintf(body, "{\"error\":\"%s\"}", msg);
    http__respond(wsi, pss, status, "application/json", body, (size_t)n, NULL, extra_owned,
                  close_after);
}

/* Adds "Name: value\r\n..." lines to the header block. */
static int http__add_extra(struct lws *wsi, const char *extra, unsigned char **p,
                           unsigned char *end)
{
    while (extra && *extra) {
        const char *eol = strstr(extra, "\r\n");
        size_t line = eol ? (size_t)(eol - extra) : strlen(extra);
        const char *colon = memchr(extra, ':', line);
        if (colon && colon > extra && (size_t)(colon - extra) < 120) {
            char name[128];
            size_t nl = (size_t)(colon - extra);
            for (size_t i = 0; i < nl; i++)
                name[i] = (char)(extra[i] >= 'A' && extra[i] <= 'Z' ? extra[i] + 32 : extra[i]);
            name[nl] = ':';
            name[nl + 1] = '\0';
            const char *v = colon + 1;
            while (v < extra + line && (*v == ' ' || *v == '\t'))
                v++;
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                            (const unsigned char *)v, (int)(extra + line - v), p,
                                            end))
                return -1;
        }
        extra += line;
        if (eol)
            extra += 2;
    }
    return 0;
}

/* Route patterns, not raw paths, label the counter: bounded cardinality. */
static void http__count(const struct pss *pss)
{
    char labels[256];
    snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",code=\"%d\"",
             pss->method[0] ? pss->method : "?", pss->route ? pss->route->path : "",
             pss->out.status);
    metrics__inc("http_requests_total", labels, 1);
}

/* HTTP_WRITEABLE: headers first, then the body in chunks. Returns what the
 * lws callback should return. */
static int http__write(struct lws *wsi, struct pss *pss)
{
    struct out *o = &pss->out;
    if (!o->headers_sent) {
        unsigned char buf[LWS_PRE + HDR_BUF];
        unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
        if (lws_add_http_common_headers(wsi, (unsigned int)o->status, o->content_type, o->len, &p,
                                        end) ||
            http__add_extra(wsi, o->extra, &p, end))
            return -1;
        if (o->close_after &&
            lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close",
                                         5, &p, end))
            return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        o->headers_sent = true;
        if (o->len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    else if (o->off < o->len) {
        size_t n = o->len - o->off;
        if (n > WRITE_CHUNK)
            n = WRITE_CHUNK;
        unsigned char buf[LWS_PRE + WRITE_CHUNK];
        memcpy(buf + LWS_PRE, o->body + o->off, n);
        o->off += n;
        bool last = o->off == o->len;
        if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
            (int)n)
            return -1;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    bool close_after = o->close_after;
    struct http_server *srv = lws_context_user(lws_get_context(wsi));
    http__count(pss);
    pss__reset_request(srv, pss);
    if (close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- handlers and deferred completion ------------------------------------ */

static void http__run_handler(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    struct req_internal ri = {.wsi = wsi, .srv = srv};
    struct http_request req = {
        .method = pss->method,
        .path = pss->path,
        .query = pss->query ? pss->query : "",
        .body = pss->body ? pss->body : "",
        .body_len = pss->body_len,
        .internal = &ri,
    };
    struct http_response resp = {.status = 200};
    struct http_pending *p = xcalloc(1, sizeof(*p));
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
    http__respond(wsi, pss, resp.status ? resp.status : 500, resp.content_type, resp.body,
                  resp.body_len, resp.extra_headers, NULL, false);
}

void http_server__complete(struct http_pending *p, int status, const char *content_type, char *body,
                           size_t body_len)
{
    http_server__complete_headers(p, status, content_type, NULL, body, body_len);
}

void http_server__complete_headers(struct http_pending *p, int status, const char *content_type,
                                   const char *extra_headers, char *body, size_t body_len)
{
    if (!p) {
        free(body);
        return;
    }
    struct http_server *srv = p->srv;
    pthread_mutex_lock(&srv->lock);
    if (p->completed) {
        /* a second completion is a caller bug; keep the first answer */
        pthread_mutex_unlock(&srv->lock);
        LOG_WARN("http", "deferred request completed twice status=%d", status);
        free(body);
        return;
    }
    if (p->gone) {
        /* the client left first: nobody will write this */
        for (struct http_pending **pp = &srv->pendings; *pp; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }
        pthread_mutex_unlock(&srv->lock);
        free(body);
        free(p);
        return;
    }
    p->completed = true;
    p->status = status;
    p->content_type = content_type;
    p->extra = str__dup(extra_headers);
    p->body = body;
    p->body_len = body ? body_len : 0;
    /* under the lock: stop() clears srv->ctx before destroying it */
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->lock);
}

/* Service thread: picks up a completed deferred response, if any. */
static void http__take_pending(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    struct http_pending *p = pss->pending;
    pthread_mutex_lock(&srv->lock);
    if (!p->completed) {
        pthread_mutex_unlock(&srv->lock);
        return;
    }
    for (struct http_pending **pp = &srv->pendings; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    pss->pending = NULL;
    http__respond(wsi, pss, p->status, p->content_type, p->body, p->body_len, NULL, p->extra,
                  false);
    free(p);
}

/* Service thread: the connection is going away; a pending must not dangle. */
static void http__drop_pending(struct pss *pss, struct http_server *srv)
{
    struct http_pending *p = pss->pending;
    if (!p)
        return;
    pss->pending = NULL;
    pthread_mutex_lock(&srv->lock);
    if (p->completed) {
        for (struct http_pending **pp = &srv->pendings; *pp; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }
        pthread_mutex_unlock(&srv->lock);
        free(p->body);
        free(p->extra);
        free(p);
        return;
    }
    p->gone = true;
    p->wsi = NULL;
    pthread_mutex_unlock(&srv->lock);
}

/* ---- the HTTP side of the protocol callback ------------------------------ */

/* The body limit of the request's route (the server's for unknown paths). */
static size_t http__body_limit(const struct http_server *srv, const struct pss *pss)
{
    return pss->route && pss->route->max_body ? pss->route->max_body : srv->opt.max_body_bytes;
}

/* Reserves n bytes of the server's budget of buffered request bodies for
 * this request: false when that would pass max_buffered_bytes (the request
 * then gets 503 with Retry-After: Graph and well-behaved clients retry).
 * Bounds the memory that many large uploads at once can take, which the
 * per-route body limits alone do not (256 connections x 65 MB). */
static bool http__reserve(struct http_server *srv, struct pss *pss, size_t n)
{
    if (n > srv->opt.max_buffered_bytes - srv->buffered) {
        metrics__inc("http_busy_rejections_total", NULL, 1);
        if (!srv->busy_warned)
            LOG_WARN("http",
                     "request bodies refused with 503: buffered=%zu requested=%zu "
                     "max_buffered_bytes=%zu",
                     srv->buffered, n, srv->opt.max_buffered_bytes);
        srv->busy_warned = true;
        return false;
    }
    if (srv->buffered == 0)
        srv->busy_warned = false;
    srv->buffered += n;
    pss->reserved = n;
    return true;
}

static int http__on_request(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    if (pss->pending || pss->out.active)
        return -1; /* a pipelined request before the last answer: not supported */
    pss__reset_request(srv, pss);
    const char *method = http__method(wsi);
    char *uri = NULL;
    int ulen = 0;
    if (!method || lws_http_get_uri_and_method(wsi, &uri, &ulen) < 0 || !uri)
        return -1;
    snprintf(pss->method, sizeof(pss->method), "%s", method);
    pss->path = strndup(uri, (size_t)ulen);
    pss->query = http__query_string(wsi, srv->opt.max_header_bytes);
    if (!pss->path)
        return -1;
    pss->deadline = time(NULL) + srv->opt.timeout_secs;

    char cl[32] = "";
    bool has_cl = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    long long clen = has_cl ? atoll(cl) : 0;
    bool body_method =
        !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
    /* lws calls HTTP_BODY_COMPLETION when there is a length > 0, and for
     * POST with an explicit length of 0 */
    bool expect_body = clen > 0 || (has_cl && !strcmp(method, "POST"));

    bool known;
    pss->route = route__find(srv, method, pss->path, &known);
    enum pss_state next = expect_body ? PSS_DISCARD : PSS_IDLE;

    if (has_cl && (clen < 0 || (unsigned long long)clen > http__body_limit(srv, pss))) {
        pss->state = next;
        http__respond_error(wsi, pss, 413, "request body too large", NULL, true);
        return 0;
    }
    if (body_method && !has_cl) {
        /* lws 4.1 does not decode chunked request bodies; without a length
         * there is no way to know where the body ends */
        pss->state = next;
        http__respond_error(wsi, pss, 411, "Content-Length required", NULL, true);
        return 0;
    }
    if (!pss->route) {
        /* answered once the (small enough) body is read and dropped, so the
         * connection can be kept */
        pss->state = next;
        if (known)
            http__respond_error(wsi, pss, 405, "method not allowed", route__allow(srv, pss->path),
                                false);
        else
            http__respond_error(wsi, pss, 404, "not found", NULL, false);
        return 0;
    }
    if (expect_body && !http__reserve(srv, pss, (size_t)clen)) {
        pss->state = next;
        http__respond_error(wsi, pss, 503, "busy: too many request bodies in flight",
                            strdup("Retry-After: 1\r\n"), true);
        return 0;
    }
    if (expect_body) {
        /* lws calls HTTP_BODY_COMPLETION, also for POST with length 0; the
         * buffer grows as the body comes, so a large Content-Length that is
         * never sent costs nothing but its reservation */
        pss->state = PSS_BODY;
        pss->body_cap = (size_t)clen < BODY_FIRST_ALLOC ? (size_t)clen + 1 : BODY_FIRST_ALLOC;
        pss->body = malloc(pss->body_cap);
        if (!pss->body)
            return -1;
        pss->body[0] = '\0';
        return 0;
    }
    http__run_handler(wsi, pss, srv);
    return 0;
}

static int http__on_body(struct lws *wsi, struct pss *pss, struct http_server *srv, const void *in,
                         size_t len)
{
    if (time(NULL) > pss->deadline) {
        LOG_INFO("http", "dropping slow client path=%s", pss->path ? pss->path : "");
        return -1;
    }
    if (pss->state != PSS_BODY)
        return 0; /* discarding the body of a request already answered */
    if (pss->body_len + len > http__body_limit(srv, pss)) {
        pss->state = PSS_DISCARD;
        http__respond_error(wsi, pss, 413, "request body too large", NULL, true);
        return 0;
    }
    if (pss->body_len + len + 1 > pss->body_cap) {
        size_t need = pss->body_len + len + 1;
        size_t cap = pss->body_cap * 2;
        if (cap > pss->reserved + 1)
            cap = pss->reserved + 1;
        if (cap < need)
            cap = need;
        char *grown = realloc(pss->body, cap);
        if (!grown)
            return -1;
        pss->body = grown;
        pss->body_cap = cap;
    }
    if (len)
        memcpy(pss->body + pss->body_len, in, len);
    pss->body_len += len;
    pss->body[pss->body_len] = '\0';
    return 0;
}

static int http__on_body_done(struct lws *wsi, struct pss *pss, struct http_server *srv)
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
    http__run_handler(wsi, pss, srv);
    return 0;
}

/* ---- the WebSocket side -------------------------------------------------- */

static void ws__free_frames(struct frame *f)
{
    while (f) {
        struct frame *next = f->next;
        free(f);
        f = next;
    }
}

/* Before the 101: a route's on_upgrade may refuse with a status (no
 * upgrade, a plain HTTP answer, as an ASP.NET Core hub does for an unknown
 * connection id or a bad token). */
static int ws__confirm_upgrade(struct lws *wsi, struct http_server *srv)
{
    char path[1024];
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
        return 0;
    const struct ws_route *r = ws_route__find(srv, path);
    if (!r || !r->h.on_upgrade)
        return 0;
    char *query = http__query_string(wsi, srv->opt.max_header_bytes);
    struct req_internal ri = {.wsi = wsi, .srv = srv};
    struct http_request req = {
        .method = "GET", .path = path, .query = query ? query : "", .body = "", .internal = &ri};
    int status = r->h.on_upgrade(r->ctx, &req);
    free(query);
    if (status < 100 || status > 599)
        return 0;
    LOG_INFO("http", "websocket upgrade refused path=%s status=%d", path, status);
    /* lws writes the answer and ends the transaction itself (> 0) */
    return lws_return_http_status(wsi, (unsigned int)status, NULL) ? -1 : 1;
}

static int ws__on_open(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    char path[1024];
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    const struct ws_route *r = ws_route__find(srv, path);
    if (!r)
        return -1;
    struct ws_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->wsi = wsi;
    c->route = r;
    pss->is_ws = true;
    pss->ws = c;
    pthread_mutex_lock(&srv->lock);
    c->next = srv->conns;
    srv->conns = c;
    pthread_mutex_unlock(&srv->lock);

    char *query = http__query_string(wsi, srv->opt.max_header_bytes);
    struct req_internal ri = {.wsi = wsi, .srv = srv};
    struct http_request req = {
        .method = "GET", .path = path, .query = query, .body = "", .internal = &ri};
    if (r->h.on_open)
        r->h.on_open(r->ctx, c, &req);
    free(query);
    return 0;
}

static int ws__on_receive(struct lws *wsi, struct pss *pss, struct http_server *srv, const void *in,
                          size_t len)
{
    struct ws_conn *c = pss->ws;
    if (!c)
        return -1;
    if (lws_is_first_fragment(wsi))
        c->rx_len = 0;
    if (c->rx_len + len > srv->opt.max_body_bytes) {
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

static int ws__on_writeable(struct lws *wsi, struct pss *pss, struct http_server *srv)
{
    struct ws_conn *c = pss->ws;
    if (!c)
        return 0;
    pthread_mutex_lock(&srv->lock);
    struct frame *f = c->q_head;
    if (f) {
        c->q_head = f->next;
        if (!c->q_head)
            c->q_tail = NULL;
    }
    bool more = c->q_head != NULL;
    bool close_req = c->close_req;
    pthread_mutex_unlock(&srv->lock);
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

static void ws__on_closed(struct pss *pss, struct http_server *srv)
{
    struct ws_conn *c = pss->ws;
    if (!c)
        return;
    pss->ws = NULL;
    pthread_mutex_lock(&srv->lock);
    c->closed = true;
    c->wsi = NULL;
    struct frame *q = c->q_head;
    c->q_head = c->q_tail = NULL;
    for (struct ws_conn **pp = &srv->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    c->next = srv->dead;
    srv->dead = c;
    pthread_mutex_unlock(&srv->lock);
    ws__free_frames(q);
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
    if (c->route->h.on_close)
        c->route->h.on_close(c->route->ctx, c);
}

int ws__send(struct ws_conn *c, const char *data, size_t len)
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
    struct http_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    if (c->closed || c->close_req) {
        pthread_mutex_unlock(&srv->lock);
        free(f);
        return -1;
    }
    if (c->q_tail)
        c->q_tail->next = f;
    else
        c->q_head = f;
    c->q_tail = f;
    c->want_write = true;
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->lock);
    return 0;
}

void ws__close(struct ws_conn *c)
{
    if (!c)
        return;
    struct http_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    bool wake = !c->closed && !c->close_req;
    c->close_req = true;
    c->want_write = true;
    if (wake && srv->ctx)
        lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->lock);
}

void ws__set_user(struct ws_conn *c, void *user)
{
    if (c)
        c->user = user;
}

void *ws__user(struct ws_conn *c)
{
    return c ? c->user : NULL;
}

/* ---- the protocol callback ----------------------------------------------- */

/* Service thread, after lws_cancel_service(): ask for writable callbacks
 * wherever another thread left something to send. */
static void http__on_wake(struct http_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    for (struct http_pending *p = srv->pendings; p; p = p->next) {
        if (p->completed && !p->gone && !p->scheduled) {
            p->scheduled = true;
            lws_callback_on_writable(p->wsi);
        }
    }
    for (struct ws_conn *c = srv->conns; c; c = c->next) {
        if (c->want_write && !c->closed) {
            c->want_write = false;
            lws_callback_on_writable(c->wsi);
        }
    }
    pthread_mutex_unlock(&srv->lock);
}

static int http__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    struct http_server *srv = lws_context_user(lws_get_context(wsi));
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        if (srv->live_conns >= srv->opt.max_connections) {
            LOG_WARN("http", "connection refused: limit reached max_connections=%d",
                     srv->opt.max_connections);
            return 1;
        }
        return 0;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        srv->live_conns++;
        lws_set_opaque_user_data(wsi, srv);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (pss) {
            /* normally done at CLOSED / CLOSED_HTTP already */
            http__drop_pending(pss, srv);
            ws__on_closed(pss, srv);
            pss__reset_request(srv, pss);
        }
        if (lws_get_opaque_user_data(wsi) == srv) {
            lws_set_opaque_user_data(wsi, NULL);
            srv->live_conns--;
        }
        return 0;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        http__on_wake(srv);
        return 0;

    case LWS_CALLBACK_HTTP:
        if (!pss)
            return -1;
        return http__on_request(wsi, pss, srv);
    case LWS_CALLBACK_HTTP_BODY:
        if (!pss)
            return -1;
        return http__on_body(wsi, pss, srv, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!pss)
            return -1;
        return http__on_body_done(wsi, pss, srv);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!pss)
            return 0;
        if (pss->pending)
            http__take_pending(wsi, pss, srv);
        /* a response to a request whose body is still coming waits for it,
         * unless the connection closes after it (413, 411) */
        if (!pss->out.active || pss->state == PSS_BODY ||
            (pss->state == PSS_DISCARD && !pss->out.close_after))
            return 0;
        return http__write(wsi, pss);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss && !pss->is_ws) {
            http__drop_pending(pss, srv);
            pss__reset_request(srv, pss);
        }
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return ws__confirm_upgrade(wsi, srv);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char path[1024];
        if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 ||
            !ws_route__find(srv, path))
            return 1;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        if (!pss)
            return -1;
        pss__reset_request(srv, pss);
        return ws__on_open(wsi, pss, srv);
    case LWS_CALLBACK_RECEIVE:
        if (!pss)
            return -1;
        return ws__on_receive(wsi, pss, srv, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss)
            return 0;
        return ws__on_writeable(wsi, pss, srv);
    case LWS_CALLBACK_CLOSED:
        if (pss)
            ws__on_closed(pss, srv);
        return 0;

    default:
        return 0;
    }
}

/* ---- lifecycle ----------------------------------------------------------- */

struct http_server *http_server__new(const struct http_server_options *opt)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->opt = *opt;
    srv->host = xstrdup(opt->host && opt->host[0] ? opt->host : "127.0.0.1");
    srv->cert = opt->tls_cert_file ? xstrdup(opt->tls_cert_file) : NULL;
    srv->key = opt->tls_key_file ? xstrdup(opt->tls_key_file) : NULL;
    if (srv->opt.max_connections <= 0)
        srv->opt.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (srv->opt.timeout_secs <= 0)
        srv->opt.timeout_secs = DEFAULT_TIMEOUT_SECS;
    if (!srv->opt.max_header_bytes)
        srv->opt.max_header_bytes = DEFAULT_HEADER_BYTES;
    if (srv->opt.max_header_bytes > 65000)
        srv->opt.max_header_bytes = 65000; /* lws keeps it in a short */
    if (!srv->opt.max_body_bytes)
        srv->opt.max_body_bytes = 4194304;
    if (!srv->opt.max_buffered_bytes)
        srv->opt.max_buffered_bytes = DEFAULT_MAX_BUFFERED;
    pthread_mutex_init(&srv->lock, NULL);
    return srv;
}

int http_server__route(struct http_server *srv, const char *method, const char *path, bool prefix,
                       http_handler_fn fn, void *ctx)
{
    if (!srv || !path || !fn || srv->running)
        return -1;
    struct route *r = realloc(srv->routes, (srv->n_routes + 1) * sizeof(*r));
    if (!r)
        return -1;
    srv->routes = r;
    srv->routes[srv->n_routes++] = (struct route){
        .method = method ? xstrdup(method) : NULL,
        .path = xstrdup(path),
        .prefix = prefix,
        .fn = fn,
        .ctx = ctx,
    };
    return 0;
}

int http_server__route_body_limit(struct http_server *srv, const char *path, size_t max_body_bytes)
{
    if (!srv || !path || srv->running)
        return -1;
    int n = 0;
    for (size_t i = 0; i < srv->n_routes; i++) {
        if (strcmp(srv->routes[i].path, path) == 0) {
            srv->routes[i].max_body = max_body_bytes;
            n++;
        }
    }
    return n ? 0 : -1;
}

int http_server__ws_route(struct http_server *srv, const char *path, const struct ws_handler *h,
                          void *ctx)
{
    if (!srv || !path || !h || srv->running)
        return -1;
    struct ws_route *r = realloc(srv->ws_routes, (srv->n_ws_routes + 1) * sizeof(*r));
    if (!r)
        return -1;
    srv->ws_routes = r;
    srv->ws_routes[srv->n_ws_routes++] = (struct ws_route){
        .path = xstrdup(path),
        .h = *h,
        .ctx = ctx,
    };
    return 0;
}

static void *http__thread(void *arg)
{
    struct http_server *srv = arg;
    while (!srv->stopping)
        if (lws_service(srv->ctx, 0) < 0)
            break;
    return NULL;
}

int http_server__start(struct http_server *srv)
{
    if (!srv || srv->running)
        return -1;
    lws_set_log_level(LLL_ERR | LLL_WARN, http__lws_log);
    metrics__describe("http_requests_total", METRIC_COUNTER,
                      "HTTP requests answered, by method, route pattern and status code.");
    metrics__describe("http_busy_rejections_total", METRIC_COUNTER,
                      "Requests answered 503 because the request bodies being received "
                      "already fill max_buffered_bytes");

    srv->protocols[0] = (struct lws_protocols){
        .name = "presence-sync",
        .callback = http__callback,
        .per_session_data_size = sizeof(struct pss),
        .rx_buffer_size = 0,
    };

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = srv->opt.port;
    /* "0.0.0.0" / "::" mean every interface; lws wants NULL for that */
    bool any = !strcmp(srv->host, "0.0.0.0") || !strcmp(srv->host, "::");
    info.iface = any ? NULL : srv->host;
    if (!strcmp(srv->host, "0.0.0.0"))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.protocols = srv->protocols;
    info.user = srv;
    info.timeout_secs = (unsigned int)srv->opt.timeout_secs;
    info.timeout_secs_ah_idle = (unsigned int)srv->opt.timeout_secs;
    info.keepalive_timeout = srv->opt.timeout_secs;
    info.max_http_header_data = (unsigned short)srv->opt.max_header_bytes;
    info.max_http_header_pool =
        (unsigned short)(srv->opt.max_connections > 1024 ? 1024 : srv->opt.max_connections);
    info.count_threads = 1;
    if (srv->cert && srv->key) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = srv->cert;
        info.ssl_private_key_filepath = srv->key;
        /* h2 streams do not carry custom headers in lws 4.1 */
        info.alpn = "http/1.1";
    }
    srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        LOG_ERROR("http", "cannot listen host=%s port=%d", srv->host, srv->opt.port);
        return -1;
    }
    srv->vh = lws_get_vhost_by_name(srv->ctx, "default");
    srv->port = srv->vh ? lws_get_vhost_listen_port(srv->vh) : srv->opt.port;
    if (srv->port <= 0) {
        LOG_ERROR("http", "cannot listen host=%s port=%d", srv->host, srv->opt.port);
        lws_context_destroy(srv->ctx);
        srv->ctx = NULL;
        return -1;
    }
    srv->stopping = 0;
    if (pthread_create(&srv->thread, NULL, http__thread, srv)) {
        lws_context_destroy(srv->ctx);
        srv->ctx = NULL;
        return -1;
    }
    srv->running = true;
    LOG_INFO("http", "listening host=%s port=%d tls=%s", srv->host, srv->port,
             srv->cert && srv->key ? "on" : "off");
    return 0;
}

int http_server__port(const struct http_server *srv)
{
    return srv ? srv->port : -1;
}

void http_server__stop(struct http_server *srv)
{
    if (!srv || !srv->running)
        return;
    srv->stopping = 1;
    lws_cancel_service(srv->ctx);
    pthread_join(srv->thread, NULL);
    srv->running = false;
    pthread_mutex_lock(&srv->lock);
    struct lws_context *ctx = srv->ctx;
    srv->ctx = NULL; /* no more wake-ups from other threads */
    pthread_mutex_unlock(&srv->lock);
    /* closes every connection: pendings are flagged gone, on_close runs */
    lws_context_destroy(ctx);
}

void http_server__free(struct http_server *srv)
{
    if (!srv)
        return;
    http_server__stop(srv);
    for (struct http_pending *p = srv->pendings, *next; p; p = next) {
        next = p->next;
        free(p->body);
        free(p->extra);
        free(p);
    }
    for (struct ws_conn *c = srv->dead, *next; c; c = next) {
        next = c->next;
        ws__free_frames(c->q_head);
        free(c->rx);
        free(c);
    }
    for (size_t i = 0; i < srv->n_routes; i++) {
        free(srv->routes[i].method);
        free(srv->routes[i].path);
    }
    for (size_t i = 0; i < srv->n_ws_routes; i++)
        free(srv->ws_routes[i].path);
    free(srv->routes);
    free(srv->ws_routes);
    free(srv->host);
    free(srv->cert);
    free(srv->key);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
