/* Writing an answer with libwebsockets (see http_response.h). */
#include "core/http_response.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define WRITE_CHUNK 16384
#define HDR_BUF     4096

void http_response__set(struct http_out *o, int status, const char *ctype, char *body, size_t len,
                        const char *extra, char *extra_owned, bool close_after)
{
    http_response__clear(o);
    *o = (struct http_out){
        .active = true,
        .status = status,
        .content_type = !ctype     ? "application/json"
                        : ctype[0] ? ctype
                                   : NULL,
        .body = body,
        .len = body ? len : 0,
        .extra = extra_owned ? extra_owned : extra,
        .extra_owned = extra_owned,
        .close_after = close_after,
    };
}

void http_response__clear(struct http_out *o)
{
    free(o->body);
    free(o->extra_owned);
    memset(o, 0, sizeof(*o));
}

static const struct {
    int status;
    const char *msg;
    bool close_after;
} errors[] = {
    {404, "not found", false},
    {405, "method not allowed", false},
    {411, "Content-Length required", true},
    {413, "request body too large", true},
    {503, "busy: too many request bodies in flight", true},
};

void http_response__error(struct http_out *o, int status, char *extra_owned)
{
    const char *msg = "error";
    bool close_after = true;
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        if (errors[i].status == status) {
            msg = errors[i].msg;
            close_after = errors[i].close_after;
        }
    }
    char *body = calloc(1, strlen(msg) + 16);
    if (!body) {
        LOG_ERROR("http", "out of memory");
        abort();
    }
    size_t len = (size_t)sprintf(body, "{\"error\":\"%s\"}", msg);
    http_response__set(o, status, "application/json", body, len, NULL, extra_owned, close_after);
}

/* Adds "Name: value\r\n..." lines to the header block. */
static int http_response__add_extra(struct lws *wsi, const char *extra, unsigned char **p,
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

static enum http_response_step http_response__headers(struct lws *wsi, struct http_out *o)
{
    unsigned char buf[LWS_PRE + HDR_BUF];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    if (lws_add_http_common_headers(wsi, (unsigned int)o->status, o->content_type, o->len, &p,
                                    end) ||
        http_response__add_extra(wsi, o->extra, &p, end))
        return HTTP_RESPONSE_FAILED;
    if (o->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                       (const unsigned char *)"close", 5, &p, end))
        return HTTP_RESPONSE_FAILED;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return HTTP_RESPONSE_FAILED;
    o->headers_sent = true;
    if (!o->len)
        return HTTP_RESPONSE_DONE;
    lws_callback_on_writable(wsi);
    return HTTP_RESPONSE_MORE;
}

static enum http_response_step http_response__chunk(struct lws *wsi, struct http_out *o)
{
    size_t n = o->len - o->off;
    if (n > WRITE_CHUNK)
        n = WRITE_CHUNK;
    unsigned char buf[LWS_PRE + WRITE_CHUNK];
    memcpy(buf + LWS_PRE, o->body + o->off, n);
    o->off += n;
    bool last = o->off == o->len;
    if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return HTTP_RESPONSE_FAILED;
    if (last)
        return HTTP_RESPONSE_DONE;
    lws_callback_on_writable(wsi);
    return HTTP_RESPONSE_MORE;
}

enum http_response_step http_response__write(struct lws *wsi, struct http_out *o)
{
    if (!o->headers_sent)
        return http_response__headers(wsi, o);
    if (o->off < o->len)
        return http_response__chunk(wsi, o);
    return HTTP_RESPONSE_DONE;
}
