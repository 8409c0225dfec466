/* The mapper component (docs/mapper.md): subscribes to `P teams/+/busy` and
 * `P voice/+/talking`, runs the reconcile core (reconcile.h) per user on the
 * loop thread, and hands the actions to two writers:
 *  - Teams presence (set Busy/InACall, clear, read) to the Graph writer
 *    (graph/graph_writer.h: object ids, $batch, the presence budget, tokens);
 *  - Voice 'talking' to the Voice side's writer (voice/writer.h).
 * It is policy only: it knows neither URLs, tokens nor HTTP statuses. Both
 * writers try once and report once; the reconcile core owns every retry.
 * Publishes `B/sync/<id>` (retained, on change) and reads the previous run's
 * back at start (which users may hold a session of ours). */
#ifndef PS_MAPPER_MAPPER_H
#define PS_MAPPER_MAPPER_H

#include <stdbool.h>

#include "component.h"
#include "graph/graph_writer.h"
#include "voice/writer.h"

#define MAPPER_RETIRE_TRIES        3  /* failed writes before a removed user is dropped */
#define MAPPER_VOICE_MAX_IN_FLIGHT 64 /* Voice writes in flight, all tenants */

/* The writers the mapper drives. The daemon wires the process's Graph
 * writer and Voice writer (env->services); tests wire in-process fakes. A
 * submit returns 0 (cb runs later, exactly once) or -1 (cb never runs). */
struct mapper_ports {
    void *graph;
    int (*graph_submit)(void *graph, const struct graph_write *op, graph_write_fn cb, void *ctx);
    void *voice;
    int (*voice_set)(void *voice, const char *tenant, const char *email, bool talking,
                     voice_write_fn cb, void *ctx);
    /* false: the tenant has no talking writer (no talking_request); NULL: on */
    bool (*voice_enabled)(void *voice, const char *tenant);
};

extern const struct daemon_component mapper_component;

/* Replaces the ports of a mapper made by mapper_component.init (tests). */
void mapper__set_ports(void *state, const struct mapper_ports *ports);

#endif
