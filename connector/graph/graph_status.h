/* One tenant's "graph" section of B/health and its readiness for /readyz
 * (docs/graph.md "B/health and /readyz"), pulled from the modules that own
 * the facts.
 *
 * Each module adds a part at init: a function that puts its members into
 * the section and says whether its share is ready. A module whose shown
 * state changed calls graph_status__changed(), which only marks the section
 * dirty and arms one zero-delay timer; on the next loop turn the section is
 * rebuilt by asking every part, in the order added, and the first part that
 * is not ready names the reason. However many changes a turn brings, the
 * section is built once. No module calls another to rebuild it.
 *
 * Loop thread only. */
#ifndef PS_GRAPH_GRAPH_STATUS_H
#define PS_GRAPH_GRAPH_STATUS_H

#include <stdbool.h>

struct cJSON;
struct loop;
struct graph_status;

/* What the parts say about readiness; starts ready. */
struct graph_ready {
    bool ready;
    const char *reason; /* the first part's that was not ready */
};

/* Adds the part's members to section; may call graph_status__not_ready. */
typedef void (*graph_status_fn)(void *ctx, struct cJSON *section, struct graph_ready *r);

/* tenant is borrowed (the running config). NULL when out of memory. */
struct graph_status *graph_status__new(struct loop *loop, const char *tenant);
/* Parts are asked in the order added. 0 or -1 (out of memory). */
int graph_status__add(struct graph_status *s, graph_status_fn fn, void *ctx);
/* Something a part shows changed: rebuild on the next loop turn. s may be
 * NULL (a module used alone). */
void graph_status__changed(struct graph_status *s);
/* Rebuilds now: status__set(tenant, "graph", ...) and
 * health__set("graph/<tenant>", ...). */
void graph_status__rebuild(struct graph_status *s);
/* The part's share is not ready; the first reason given is kept. */
void graph_status__not_ready(struct graph_ready *r, const char *reason);
/* Cancels a pending rebuild, removes the readiness entry; no rebuild after. */
void graph_status__stop(struct graph_status *s);
void graph_status__free(struct graph_status *s);

#endif
