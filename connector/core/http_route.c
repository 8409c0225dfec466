/* The route table of core/http_server (see http_route.h). */
#include "core/http_route.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

int http_route__add(struct http_routes *t, const char *method, const char *path, bool prefix,
                    http_handler_fn fn, void *ctx)
{
    if (!t || !path || !fn)
        return -1;
    struct http_route r = {
        .method = str__dup(method), .path = str__dup(path), .prefix = prefix, .fn = fn, .ctx = ctx};
    struct http_route *v = realloc(t->v, (t->n + 1) * sizeof(*v));
    if (!r.path || (method && !r.method) || !v) {
        free(r.method);
        free(r.path);
        if (v)
            t->v = v;
        return -1;
    }
    t->v = v;
    t->v[t->n++] = r;
    return 0;
}

int http_route__body_limit(struct http_routes *t, const char *path, size_t max_body)
{
    if (!t || !path)
        return -1;
    int n = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].path, path) == 0) {
            t->v[i].max_body = max_body;
            n++;
        }
    }
    return n ? 0 : -1;
}

static bool http_route__matches(const struct http_route *r, const char *path)
{
    if (r->prefix)
        return !strncmp(path, r->path, strlen(r->path));
    return !strcmp(path, r->path);
}

const struct http_route *http_route__find(const struct http_routes *t, const char *method,
                                          const char *path, bool *path_known)
{
    const struct http_route *best = NULL;
    size_t best_len = 0;
    *path_known = false;
    for (size_t i = 0; i < t->n; i++) {
        const struct http_route *r = &t->v[i];
        if (!http_route__matches(r, path))
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

size_t http_route__limit(const struct http_route *r, size_t max_body)
{
    return r && r->max_body ? r->max_body : max_body;
}

int http_route__admit(const struct http_routes *t, const char *method, const char *path,
                      long long length, size_t max_body, const struct http_route **route)
{
    bool known;
    *route = http_route__find(t, method, path, &known);
    bool body_method =
        !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
    if (length >= 0 && (unsigned long long)length > http_route__limit(*route, max_body))
        return 413;
    if (length < 0 && body_method)
        return 411;
    if (!*route)
        return known ? 405 : 404;
    return 0;
}

/* Whether list ("GET, POST") names method already. */
static bool http_route__listed(const char *list, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = list; (p = strstr(p, method)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

char *http_route__allow(const struct http_routes *t, const char *path)
{
    char allow[256] = "";
    for (size_t i = 0; i < t->n; i++) {
        const struct http_route *r = &t->v[i];
        if (!http_route__matches(r, path) || !r->method || http_route__listed(allow, r->method))
            continue;
        if (strlen(allow) + strlen(r->method) + 3 >= sizeof(allow))
            break;
        if (allow[0])
            strcat(allow, ", ");
        strcat(allow, r->method);
    }
    return str__cat("Allow: ", allow, "\r\n", NULL);
}

void http_route__free(struct http_routes *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].method);
        free(t->v[i].path);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}
