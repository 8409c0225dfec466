/* Request bodies in memory and their budget (see http_body.h). */
#include "core/http_body.h"

#include <stdlib.h>
#include <string.h>

#define BODY_FIRST_ALLOC 65536 /* a body buffer's first size */

int http_body__open(struct http_body *body, struct http_budget *budget, size_t n, bool *first)
{
    *first = false;
    if (n > budget->max - budget->used) {
        *first = !budget->warned;
        budget->warned = true;
        return HTTP_BODY_FULL;
    }
    size_t cap = n < BODY_FIRST_ALLOC ? n + 1 : BODY_FIRST_ALLOC;
    char *buf = malloc(cap);
    if (!buf)
        return HTTP_BODY_NOMEM;
    if (budget->used == 0)
        budget->warned = false;
    budget->used += n;
    buf[0] = '\0';
    *body = (struct http_body){.buf = buf, .cap = cap, .reserved = n};
    return HTTP_BODY_OPEN;
}

int http_body__append(struct http_body *body, const void *in, size_t len)
{
    size_t need = body->len + len + 1;
    if (need > body->cap) {
        size_t cap = body->cap * 2;
        if (cap > body->reserved + 1)
            cap = body->reserved + 1;
        if (cap < need)
            cap = need;
        char *grown = realloc(body->buf, cap);
        if (!grown)
            return -1;
        body->buf = grown;
        body->cap = cap;
    }
    if (len)
        memcpy(body->buf + body->len, in, len);
    body->len += len;
    body->buf[body->len] = '\0';
    return 0;
}

void http_body__clear(struct http_body *body, struct http_budget *budget)
{
    budget->used -= body->reserved;
    free(body->buf);
    *body = (struct http_body){0};
}
