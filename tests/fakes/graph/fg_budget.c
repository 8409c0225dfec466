/* fake-graph: the presence limit; see fg_budget.h. */
#include "fg_budget.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FG_BUDGET_KEY 64

/* The arrivals of one (tenant, app) inside the window, oldest first. */
struct fg_budget_app {
    char tenant[FG_BUDGET_KEY];
    char client_id[FG_BUDGET_KEY];
    int64_t *t;
    size_t head, n, cap;
    uint64_t total, refused;
    size_t max_in_window;
};

struct fg_budget {
    struct fg_budget_app *apps;
    size_t n_apps;
    size_t limit;
    int64_t window_ms;
};

struct fg_budget *fg_budget__new(void)
{
    struct fg_budget *b = calloc(1, sizeof(*b));
    if (b) {
        b->limit = 1500;
        b->window_ms = 30000;
    }
    return b;
}

void fg_budget__reset(struct fg_budget *b)
{
    for (size_t i = 0; i < b->n_apps; i++)
        free(b->apps[i].t);
    free(b->apps);
    b->apps = NULL;
    b->n_apps = 0;
}

void fg_budget__free(struct fg_budget *b)
{
    if (!b)
        return;
    fg_budget__reset(b);
    free(b);
}

void fg_budget__configure(struct fg_budget *b, size_t limit, int64_t window_ms)
{
    b->limit = limit;
    if (window_ms > 0)
        b->window_ms = window_ms;
}

static struct fg_budget_app *fg_budget__app(struct fg_budget *b, const char *tenant,
                                            const char *client_id)
{
    for (size_t i = 0; i < b->n_apps; i++) {
        if (strcasecmp(b->apps[i].tenant, tenant) == 0 &&
            strcasecmp(b->apps[i].client_id, client_id) == 0)
            return &b->apps[i];
    }
    struct fg_budget_app *grown = realloc(b->apps, (b->n_apps + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    b->apps = grown;
    struct fg_budget_app *a = &b->apps[b->n_apps++];
    memset(a, 0, sizeof(*a));
    snprintf(a->tenant, sizeof(a->tenant), "%s", tenant);
    snprintf(a->client_id, sizeof(a->client_id), "%s", client_id);
    return a;
}

static int fg_budget__push(struct fg_budget_app *a, int64_t now)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        int64_t *t = malloc(cap * sizeof(*t));
        if (!t)
            return -1;
        for (size_t i = 0; i < a->n; i++)
            t[i] = a->t[(a->head + i) % a->cap];
        free(a->t);
        a->t = t;
        a->cap = cap;
        a->head = 0;
    }
    a->t[(a->head + a->n) % a->cap] = now;
    a->n++;
    return 0;
}

int fg_budget__take(struct fg_budget *b, const char *tenant, const char *client_id, int64_t now)
{
    struct fg_budget_app *a = fg_budget__app(b, tenant ? tenant : "", client_id ? client_id : "");
    if (!a)
        return 0;
    while (a->n > 0 && a->t[a->head] <= now - b->window_ms) {
        a->head = (a->head + 1) % a->cap;
        a->n--;
    }
    if (b->limit && a->n >= b->limit) {
        a->refused++;
        int64_t wait = a->t[a->head] + b->window_ms - now;
        int s = (int)((wait + 999) / 1000);
        return s >= 1 ? s : 1;
    }
    if (fg_budget__push(a, now) != 0)
        return 0;
    a->total++;
    if (a->n > a->max_in_window)
        a->max_in_window = a->n;
    return 0;
}

cJSON *fg_budget__json(const struct fg_budget *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "limit", (double)b->limit);
    cJSON_AddNumberToObject(o, "window_ms", (double)b->window_ms);
    cJSON *arr = cJSON_AddArrayToObject(o, "apps");
    for (size_t i = 0; i < b->n_apps; i++) {
        const struct fg_budget_app *a = &b->apps[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "tenant", a->tenant);
        cJSON_AddStringToObject(x, "client_id", a->client_id);
        cJSON_AddNumberToObject(x, "total", (double)a->total);
        cJSON_AddNumberToObject(x, "refused", (double)a->refused);
        cJSON_AddNumberToObject(x, "max_in_window", (double)a->max_in_window);
        cJSON_AddItemToArray(arr, x);
    }
    return o;
}
