/* Request accessors and request building on libwebsockets' parsed headers.
 * lws keeps header names lower-cased with their colon ("host:") and the
 * query as URL-decoded arguments, one fragment each. */
#include "core/http_request.h"

#include <libwebsockets.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static const struct {
    enum lws_token_indexes tok;
    const char *name;
} methods[] = {
    {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
    {WSI_TOKEN_PUT_URI, "PUT"},       {WSI_TOKEN_PATCH_URI, "PATCH"},
    {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
    {WSI_TOKEN_HEAD_URI, "HEAD"},
};

static void *http_request__alloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p) {
        LOG_ERROR("http", "out of memory");
        abort();
    }
    return p;
}

const char *http_request__method(struct lws *wsi)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
            return methods[i].name;
    return NULL;
}

/* The idx-th query argument ("name=value", decoded) into buf; < 0 past the last. */
static int http_request__arg(struct lws *wsi, int idx, char *buf, size_t len)
{
    return lws_hdr_copy_fragment(wsi, buf, (int)len, WSI_TOKEN_HTTP_URI_ARGS, idx);
}

/* Appends s percent-encoded (RFC 3986 unreserved kept) to dst. */
static size_t http_request__urlencode(char *dst, const char *s)
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
char *http_request__query_string(struct lws *wsi, size_t max)
{
    char *frag = http_request__alloc(max + 1);
    char *out = http_request__alloc(1);
    size_t out_len = 0;
    for (int i = 0; http_request__arg(wsi, i, frag, max + 1) >= 0; i++) {
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
        out_len += http_request__urlencode(out + out_len, frag);
        if (eq) {
            out[out_len++] = '=';
            out_len += http_request__urlencode(out + out_len, eq + 1);
        }
        out[out_len] = '\0';
    }
    free(frag);
    return out;
}

int http_request__query(const struct http_request *req, const char *name, char *buf, size_t len)
{
    const struct http_request_src *src = req ? req->internal : NULL;
    if (!src || !name || !buf || !len)
        return -1;
    size_t max = src->max_header_bytes;
    size_t nlen = strlen(name);
    char *frag = http_request__alloc(max + 1);
    int ret = -1;
    /* lws has already URL-decoded each argument ('+' too); decoding again
     * would corrupt values such as "a%2Bb" -> "a+b" -> "a b". */
    for (int i = 0; http_request__arg(src->wsi, i, frag, max + 1) >= 0; i++) {
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
    const struct http_request_src *src = req ? req->internal : NULL;
    if (!src || !name || !buf || !len || len > INT32_MAX)
        return -1;
    size_t nlen = strlen(name);
    if (!nlen || nlen > 128)
        return -1;
    char key[132];
    for (size_t i = 0; i < nlen; i++)
        key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    key[nlen] = ':';
    key[nlen + 1] = '\0';

    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const char *s = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (s && !strcmp(s, key)) {
            int n = lws_hdr_total_length(src->wsi, (enum lws_token_indexes)t);
            if (n <= 0 || (size_t)n >= len)
                return -1;
            return lws_hdr_copy(src->wsi, buf, (int)len, (enum lws_token_indexes)t);
        }
    }
    return lws_hdr_custom_copy(src->wsi, buf, (int)len, key, (int)nlen + 1);
}
