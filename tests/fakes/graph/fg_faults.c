/* fake-graph: injected faults, matched by method + path prefix for the next
 * N calls. Guarded by its own mutex: it is read on the libwebsockets thread
 * (see fg_sim.h for why). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fg_sim.h"

#define FG_MAX_RETRY_AFTER 3600

struct fg_fault {
    char method[16]; /* "" = any */
    char *prefix;
    struct fg_fault_hit hit;
    int remaining;
};

struct fg_faults {
    pthread_mutex_t lock;
    struct fg_vec list;
    char *retry_headers[FG_MAX_RETRY_AFTER + 1];
};

struct fg_faults *fg_faults__new(void)
{
    struct fg_faults *f = calloc(1, sizeof(*f));
    if (f) {
        pthread_mutex_init(&f->lock, NULL);
    }
    return f;
}

static void fg_fault__free(void *p)
{
    struct fg_fault *x = p;
    free(x->prefix);
    free(x);
}

void fg_faults__clear(struct fg_faults *f)
{
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->list.n; i++) {
        fg_fault__free(f->list.items[i]);
    }
    f->list.n = 0;
    pthread_mutex_unlock(&f->lock);
}

void fg_faults__free(struct fg_faults *f)
{
    if (!f) {
        return;
    }
    fg_faults__clear(f);
    free(f->list.items);
    for (size_t i = 0; i <= FG_MAX_RETRY_AFTER; i++) {
        free(f->retry_headers[i]);
    }
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static int fg_faults__int(const cJSON *spec, const char *name, int def, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, name);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

int fg_faults__add(struct fg_faults *f, const cJSON *spec, const char **err)
{
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(spec, "path");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(spec, "method");
    struct fg_fault x = {0};
    int delay = 0;
    if (!cJSON_IsString(path) || path->valuestring[0] != '/') {
        *err = "path: a path prefix starting with '/' is required";
        return -1;
    }
    if (method && (!cJSON_IsString(method) || strlen(method->valuestring) >= sizeof(x.method))) {
        *err = "method: must be a string such as \"POST\" or \"*\"";
        return -1;
    }
    if (fg_faults__int(spec, "status", 0, 0, 599, &x.hit.status) != 0 ||
        (x.hit.status != 0 && x.hit.status < 100)) {
        *err = "status: must be an HTTP status 100..599";
        return -1;
    }
    if (fg_faults__int(spec, "retry_after", -1, 0, FG_MAX_RETRY_AFTER, &x.hit.retry_after) != 0) {
        *err = "retry_after: must be 0..3600 seconds";
        return -1;
    }
    if (fg_faults__int(spec, "delay_ms", 0, 0, 600000, &delay) != 0) {
        *err = "delay_ms: must be 0..600000";
        return -1;
    }
    if (fg_faults__int(spec, "aadsts", 0, 0, 99999999, &x.hit.aadsts) != 0) {
        *err = "aadsts: must be an AADSTS number";
        return -1;
    }
    if (fg_faults__int(spec, "count", 1, 1, 1000000, &x.remaining) != 0) {
        *err = "count: must be 1..1000000";
        return -1;
    }
    x.hit.delay_ms = delay;
    if (x.hit.aadsts && !x.hit.status) {
        x.hit.status =
            (x.hit.aadsts == 7000215 || x.hit.aadsts == 7000222 || x.hit.aadsts == 7000218) ? 401
                                                                                            : 400;
    }
    if (!x.hit.status && !x.hit.delay_ms) {
        *err = "a fault needs status, aadsts or delay_ms";
        return -1;
    }
    if (method && strcmp(method->valuestring, "*") != 0) {
        snprintf(x.method, sizeof(x.method), "%s", method->valuestring);
    }
    x.hit.hit = true;
    struct fg_fault *copy = malloc(sizeof(*copy));
    if (!copy) {
        *err = "out of memory";
        return -1;
    }
    *copy = x;
    copy->prefix = strdup(path->valuestring);
    pthread_mutex_lock(&f->lock);
    int rc = copy->prefix ? fg_vec__push(&f->list, copy) : -1;
    pthread_mutex_unlock(&f->lock);
    if (rc != 0) {
        fg_fault__free(copy);
        *err = "out of memory";
    }
    return rc;
}

struct fg_fault_hit fg_faults__take(struct fg_faults *f, const char *method, const char *path)
{
    struct fg_fault_hit hit = {0};
    hit.retry_after = -1;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->list.n; i++) {
        struct fg_fault *x = f->list.items[i];
        if ((x->method[0] && strcasecmp(x->method, method) != 0) ||
            strncmp(path, x->prefix, strlen(x->prefix)) != 0) {
            continue;
        }
        hit = x->hit;
        if (--x->remaining == 0) {
            fg_fault__free(fg_vec__remove_at(&f->list, i));
        }
        break;
    }
    pthread_mutex_unlock(&f->lock);
    return hit;
}

cJSON *fg_faults__json(struct fg_faults *f)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->list.n; i++) {
        struct fg_fault *x = f->list.items[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "method", x->method[0] ? x->method : "*");
        cJSON_AddStringToObject(o, "path", x->prefix);
        cJSON_AddNumberToObject(o, "status", x->hit.status);
        cJSON_AddNumberToObject(o, "retry_after", x->hit.retry_after);
        cJSON_AddNumberToObject(o, "delay_ms", (double)x->hit.delay_ms);
        cJSON_AddNumberToObject(o, "aadsts", x->hit.aadsts);
        cJSON_AddNumberToObject(o, "remaining", x->remaining);
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&f->lock);
    return arr;
}

const char *fg_faults__retry_header(struct fg_faults *f, int seconds)
{
    if (seconds < 0 || seconds > FG_MAX_RETRY_AFTER) {
        return NULL;
    }
    /* built once per value and kept until exit: the server wants a string
     * that outlives the response */
    pthread_mutex_lock(&f->lock);
    if (!f->retry_headers[seconds]) {
        char buf[40];
        snprintf(buf, sizeof(buf), "Retry-After: %d\r\n", seconds);
        f->retry_headers[seconds] = strdup(buf);
    }
    const char *h = f->retry_headers[seconds];
    pthread_mutex_unlock(&f->lock);
    return h;
}

void fg_faults__respond(const struct fg_fault_hit *hit, const char *path, struct fg_resp *resp)
{
    if (strstr(path, "/oauth2/")) {
        if (hit->aadsts) {
            fg_oauth__error(resp, hit->aadsts, "injected fault");
            if (hit->status) {
                resp->status = hit->status;
            }
            return;
        }
        fg_oauth__error(resp, hit->status == 429 ? 90055 : 90033, "injected fault");
        resp->status = hit->status;
        return;
    }
    const char *code = "FaultInjected", *msg = "Injected fault.";
    switch (hit->status) {
    case 429:
        code = "TooManyRequests", msg = "Too many requests.";
        break;
    case 500:
        code = "InternalServerError", msg = "An internal server error occurred.";
        break;
    case 503:
        code = "ServiceUnavailable", msg = "The service is temporarily unavailable.";
        break;
    case 504:
        code = "GatewayTimeout", msg = "The gateway timed out.";
        break;
    default:
        break;
    }
    fg_resp__graph_error(resp, hit->status, code, msg);
    resp->retry_after = hit->retry_after;
}
