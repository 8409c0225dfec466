/* fake-graph: presence resource / $filter parsing, see fg_filter.h. */
#include "fg_filter.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

static const char *fg_filter__skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

static int fg_filter__add(char ***ids, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < *n; i++) {
        if (strlen((*ids)[i]) == len && strncasecmp((*ids)[i], s, len) == 0) {
            return 0;
        }
    }
    char **grown = realloc(*ids, (*n + 1) * sizeof(char *));
    if (!grown) {
        return -1;
    }
    *ids = grown;
    grown[*n] = strndup(s, len);
    if (!grown[*n]) {
        return -1;
    }
    (*n)++;
    return 0;
}

/* Parses `id in ('a','b')`, the whole rest of the string. */
static enum fg_filter_result fg_filter__list(const char *p, char ***ids, size_t *n)
{
    p = fg_filter__skip_ws(p);
    if (strncmp(p, "id", 2) != 0) {
        return FG_FILTER_INVALID_CLAUSE;
    }
    p = fg_filter__skip_ws(p + 2);
    if (strncasecmp(p, "in", 2) != 0) {
        return FG_FILTER_INVALID_CLAUSE;
    }
    p = fg_filter__skip_ws(p + 2);
    if (*p != '(') {
        return FG_FILTER_INVALID_CLAUSE;
    }
    p = fg_filter__skip_ws(p + 1);
    size_t count = 0;
    for (;;) {
        if (*p != '\'') {
            return FG_FILTER_INVALID_CLAUSE;
        }
        const char *end = strchr(p + 1, '\'');
        if (!end || end == p + 1) {
            return FG_FILTER_INVALID_CLAUSE;
        }
        if (++count > FG_FILTER_MAX_IDS) {
            return FG_FILTER_TOO_MANY;
        }
        if (fg_filter__add(ids, n, p + 1, (size_t)(end - p - 1)) != 0) {
            return FG_FILTER_INVALID_CLAUSE;
        }
        p = fg_filter__skip_ws(end + 1);
        if (*p == ',') {
            p = fg_filter__skip_ws(p + 1);
            continue;
        }
        if (*p == ')') {
            p = fg_filter__skip_ws(p + 1);
            return *p ? FG_FILTER_INVALID_CLAUSE : FG_FILTER_OK;
        }
        return FG_FILTER_INVALID_CLAUSE;
    }
}

static enum fg_filter_result fg_filter__parse_decoded(const char *r, char ***ids, size_t *n)
{
    static const char base[] = "communications/presences";
    if (*r == '/') {
        r++;
    }
    if (strncasecmp(r, base, sizeof(base) - 1) != 0) {
        return FG_FILTER_BAD_RESOURCE;
    }
    r += sizeof(base) - 1;
    if (*r == '/') {
        const char *id = r + 1;
        if (!*id || strchr(id, '/') || strchr(id, '?')) {
            return FG_FILTER_BAD_RESOURCE;
        }
        return fg_filter__add(ids, n, id, strlen(id)) == 0 ? FG_FILTER_OK : FG_FILTER_BAD_RESOURCE;
    }
    if (strncmp(r, "?$filter=", 9) != 0) {
        return FG_FILTER_BAD_RESOURCE;
    }
    return fg_filter__list(r + 9, ids, n);
}

enum fg_filter_result fg_filter__parse(const char *resource, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!resource) {
        return FG_FILTER_BAD_RESOURCE;
    }
    /* Clients may send the resource percent-encoded; Graph accepts both. */
    char *decoded = NULL;
    if (strchr(resource, '%')) {
        int len = 0;
        decoded = curl_easy_unescape(NULL, resource, 0, &len);
        if (!decoded || (size_t)len != strlen(decoded)) {
            curl_free(decoded);
            return FG_FILTER_BAD_RESOURCE;
        }
    }
    enum fg_filter_result r = fg_filter__parse_decoded(decoded ? decoded : resource, ids, n);
    curl_free(decoded);
    if (r != FG_FILTER_OK) {
        fg_filter__free(*ids, *n);
        *ids = NULL;
        *n = 0;
    }
    return r;
}

void fg_filter__free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
    }
    free(ids);
}

const char *fg_filter__message(enum fg_filter_result r)
{
    switch (r) {
    case FG_FILTER_OK:
        return "ok";
    case FG_FILTER_BAD_RESOURCE:
        return "Resource not supported for presence subscriptions.";
    case FG_FILTER_INVALID_CLAUSE:
        return "Invalid filter clause";
    case FG_FILTER_TOO_MANY:
        return "Too many ids in the filter clause: the maximum is 650.";
    }
    return "?";
}

char *fg_filter__encoded(char *const *ids, size_t n)
{
    static const char head[] = "communications/presences?$filter=id+in+(";
    size_t len = sizeof(head) + 1;
    for (size_t i = 0; i < n; i++) {
        len += strlen(ids[i]) + 9; /* %27 id %27 %2c */
    }
    char *out = malloc(len);
    if (!out) {
        return NULL;
    }
    size_t at = (size_t)snprintf(out, len, "%s", head);
    for (size_t i = 0; i < n; i++) {
        at += (size_t)snprintf(out + at, len - at, "%s%%27%s%%27", i ? "%2c" : "", ids[i]);
    }
    snprintf(out + at, len - at, ")");
    return out;
}
