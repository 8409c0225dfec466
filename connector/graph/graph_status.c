/* The tenant's B/health "graph" section builder; see graph_status.h. */
#include "graph/graph_status.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/health.h"
#include "core/loop.h"
#include "core/status.h"

#define GRAPH_STATUS_PARTS_MAX 8

struct graph_status_part {
    graph_status_fn fn;
    void *ctx;
};

struct graph_status {
    struct loop *loop;
    const char *tenant;
    char component[160]; /* "graph/<tenant>" for /readyz */
    struct graph_status_part parts[GRAPH_STATUS_PARTS_MAX];
    size_t n_parts;
    loop_timer_id timer; /* the pending rebuild; 0: none */
    bool stopped;
};

struct graph_status *graph_status__new(struct loop *loop, const char *tenant)
{
    struct graph_status *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->loop = loop;
    s->tenant = tenant;
    snprintf(s->component, sizeof(s->component), "graph/%s", tenant);
    return s;
}

int graph_status__add(struct graph_status *s, graph_status_fn fn, void *ctx)
{
    if (!s || !fn || s->n_parts == GRAPH_STATUS_PARTS_MAX)
        return -1;
    s->parts[s->n_parts++] = (struct graph_status_part){.fn = fn, .ctx = ctx};
    return 0;
}

static void graph_status__on_timer(void *arg)
{
    struct graph_status *s = arg;
    s->timer = 0;
    graph_status__rebuild(s);
}

void graph_status__changed(struct graph_status *s)
{
    if (!s || s->stopped || s->timer)
        return;
    s->timer = loop__timer(s->loop, 0, graph_status__on_timer, s);
    if (!s->timer) /* out of memory: rather now than never */
        graph_status__rebuild(s);
}

void graph_status__not_ready(struct graph_ready *r, const char *reason)
{
    if (r->ready)
        r->reason = reason;
    r->ready = false;
}

void graph_status__rebuild(struct graph_status *s)
{
    if (!s || s->stopped)
        return;
    loop__timer_cancel(s->loop, s->timer);
    s->timer = 0;
    cJSON *g = cJSON_CreateObject();
    if (!g)
        return;
    struct graph_ready r = {.ready = true, .reason = NULL};
    for (size_t i = 0; i < s->n_parts; i++)
        s->parts[i].fn(s->parts[i].ctx, g, &r);
    cJSON_AddBoolToObject(g, "ready", r.ready);
    status__set(s->tenant, "graph", g);
    health__set(s->component, r.ready, r.ready ? NULL : r.reason);
}

void graph_status__stop(struct graph_status *s)
{
    if (!s || s->stopped)
        return;
    s->stopped = true;
    loop__timer_cancel(s->loop, s->timer);
    s->timer = 0;
    health__remove(s->component);
}

void graph_status__free(struct graph_status *s)
{
    if (!s)
        return;
    graph_status__stop(s);
    free(s);
}
