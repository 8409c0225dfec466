/* Graph URL paths for users: see paths.h. */
#include "graph/paths.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *paths__user_path(const char *upn)
{
    size_t n = strlen(upn);
    bool key_form = upn[0] == '$';
    char *out = malloc(n * 6 + 16);
    if (!out)
        return NULL;
    size_t o = (size_t)sprintf(out, "%s", key_form ? "/users('" : "/users/");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)upn[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     strchr("-._~@!$*+,;=:", c);
        if (c == '\'' && key_form)
            o += (size_t)sprintf(out + o, "''"); /* OData string literal */
        else if (plain && c)
            out[o++] = (char)c;
        else
            o += (size_t)sprintf(out + o, "%%%02X", c);
    }
    if (key_form)
        o += (size_t)sprintf(out + o, "')");
    out[o] = '\0';
    return out;
}

int paths__is_object_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= GRAPH_OBJECT_ID_MAX && strspn(s, "0123456789abcdefABCDEF-") == n;
}

char *paths__presence_path(const char *id, const char *suffix)
{
    if (!paths__is_object_id(id) || !suffix)
        return NULL;
    size_t n = strlen(id) + strlen(suffix) + 20;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "/users/%s/presence%s", id, suffix);
    return out;
}
