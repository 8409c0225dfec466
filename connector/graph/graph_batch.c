/* JSON batching for Graph; see graph_batch.h. */
#include "graph/graph_batch.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/backoff.h"
#include "core/json.h"
#include "graph/paths.h"

#define BATCH_RETRY_AFTER_CAP_S (24 * 3600) /* as retry_after__parse_ms */

static cJSON *graph_batch__item_json(const struct graph_batch_item *it, size_t k)
{
    char id[24];
    snprintf(id, sizeof(id), "%zu", k);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "id", id) ||
        !cJSON_AddStringToObject(o, "method", it->method) ||
        !cJSON_AddStringToObject(o, "url", it->url)) {
        cJSON_Delete(o);
        return NULL;
    }
    if (!it->body)
        return o;
    cJSON *body = json__parse_str(it->body);
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    if (!body || !h || !cJSON_AddStringToObject(h, "Content-Type", "application/json")) {
        cJSON_Delete(body);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(o, "body", body);
    return o;
}

char *graph_batch__encode(const struct graph_batch_item *items, size_t n)
{
    if (n == 0 || n > GRAPH_BATCH_MAX)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *reqs = root ? cJSON_AddArrayToObject(root, "requests") : NULL;
    for (size_t k = 0; reqs && k < n; k++) {
        if (!items[k].method || !items[k].url) {
            reqs = NULL;
            break;
        }
        cJSON *it = graph_batch__item_json(&items[k], k);
        if (!it)
            reqs = NULL;
        else
            cJSON_AddItemToArray(reqs, it);
    }
    char *s = reqs ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

int64_t graph_batch__retry_after(const cJSON *headers, time_t now)
{
    const cJSON *v = NULL;
    cJSON_ArrayForEach(v, headers)
    {
        if (!v->string || strcasecmp(v->string, "Retry-After") != 0)
            continue;
        if (cJSON_IsString(v))
            return retry_after__parse_ms(v->valuestring, now);
        if (cJSON_IsNumber(v)) {
            double s = v->valuedouble;
            if (!(s >= 0)) /* negative or NaN */
                return -1;
            if (s > BATCH_RETRY_AFTER_CAP_S)
                s = BATCH_RETRY_AFTER_CAP_S;
            return (int64_t)(s * 1000);
        }
        return -1;
    }
    return -1;
}

/* The item index of an id ("0".."n-1"), or -1. */
static long graph_batch__index(const cJSON *id, size_t n)
{
    if (!cJSON_IsString(id) || !id->valuestring[0])
        return -1;
    char *end;
    errno = 0;
    unsigned long k = strtoul(id->valuestring, &end, 10);
    if (*end || errno || id->valuestring[0] == '-' || id->valuestring[0] == '+' || k >= n)
        return -1;
    return (long)k;
}

int graph_batch__decode(const cJSON *root, struct graph_batch_answer *out, size_t n, time_t now)
{
    for (size_t k = 0; k < n; k++)
        out[k] = (struct graph_batch_answer){.status = 0, .retry_after_ms = -1, .body = NULL};
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "responses");
    if (!cJSON_IsArray(arr))
        return -1;
    int answered = 0;
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, arr)
    {
        long k = graph_batch__index(cJSON_GetObjectItemCaseSensitive(it, "id"), n);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "status");
        if (k < 0 || out[k].status || !cJSON_IsNumber(st) || st->valuedouble < 100 ||
            st->valuedouble > 599)
            continue;
        out[k].status = (int)st->valuedouble;
        out[k].retry_after_ms =
            graph_batch__retry_after(cJSON_GetObjectItemCaseSensitive(it, "headers"), now);
        out[k].body = cJSON_GetObjectItemCaseSensitive(it, "body");
        answered++;
    }
    return answered;
}

const char *graph_batch__error_code(const cJSON *body)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    return cJSON_IsString(code) ? code->valuestring : NULL;
}

char *graph_batch__lookup_url(const char *upn)
{
    char *path = paths__user_path(upn);
    if (!path)
        return NULL;
    size_t n = strlen(path) + 40;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "%s?$select=id,userPrincipalName", path);
    free(path);
    return url;
}

int graph_batch__lookup_result(const struct graph_batch_answer *a, char *id, size_t len)
{
    if (a->status == 404 || a->status == 400)
        return 0;
    const cJSON *oid = cJSON_GetObjectItemCaseSensitive(a->body, "id");
    if (a->status != 200 || !cJSON_IsString(oid) || !oid->valuestring[0] ||
        strlen(oid->valuestring) >= len)
        return -1;
    memcpy(id, oid->valuestring, strlen(oid->valuestring) + 1);
    return 1;
}
