/* Small string helpers and the string buffer; see str.h. */
#include "core/str.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *str__cat(const char *first, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        n += strlen(s);
    va_end(ap);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    char *p = out;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t k = strlen(s);
        memcpy(p, s, k);
        p += k;
    }
    va_end(ap);
    *p = '\0';
    return out;
}

char *str__dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *str__trim_slash(const char *s)
{
    char *t = str__dup(s);
    size_t n = t ? strlen(t) : 0;
    while (n && t[n - 1] == '/')
        t[--n] = '\0';
    return t;
}

char *str__path(const char *dir, const char *file)
{
    if (file[0] == '/' || !dir || !dir[0])
        return strdup(file);
    return str__cat(dir, "/", file, NULL);
}

void str__printf(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void strbuf__fail(struct strbuf *b)
{
    strbuf__free(b);
    b->oom = true;
}

static bool strbuf__reserve(struct strbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra >= SIZE_MAX / 2 - b->len) {
        strbuf__fail(b);
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        strbuf__fail(b);
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void strbuf__put(struct strbuf *b, const char *src, size_t n)
{
    if (!strbuf__reserve(b, n))
        return;
    memcpy(b->s + b->len, src, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void strbuf__puts(struct strbuf *b, const char *src)
{
    strbuf__put(b, src, strlen(src));
}

void strbuf__printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        strbuf__fail(b);
        return;
    }
    if (!strbuf__reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *strbuf__take(struct strbuf *b)
{
    char *s = b->oom ? NULL : b->s ? b->s : strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    b->oom = false;
    return s;
}

void strbuf__free(struct strbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
