/* The interface between the daemon (daemon.c, the `run` verb) and its
 * components: the Graph client and side (graph/), the Voice side (voice/),
 * the mapper (mapper/) and Home Assistant discovery (hass/). A component
 * includes this header, never daemon.h; nothing under core/ includes
 * either (docs/architecture.md). */
#ifndef PS_COMPONENT_H
#define PS_COMPONENT_H

struct config;
struct loop;
struct bus;
struct http_server;
struct http_client;
struct graph_client;
struct graph_writer;
struct voice_writer;
struct tunables;
struct role;

/* What components share with each other. A component that provides a part
 * sets it in its init and clears it in its stop; a component that uses one
 * takes it in its init (the table in daemon.c orders them). */
struct daemon_services {
    struct graph_client *graph_client; /* tokens, calls, budget (graph/graph_client.h) */
    struct graph_writer *graph_writer; /* Teams presence writes (graph/graph_writer.h) */
    struct voice_writer *voice_writer; /* Voice 'talking' writes (voice/writer.h) */
    struct role *role;                 /* who is active per tenant (role/role.h) */
};

/* What a component gets to wire itself in; valid from init to free. */
struct daemon_env {
    struct config *cfg; /* the running config; user lists change on SIGHUP */
    struct loop *loop;
    struct bus *bus;
    struct http_server *http;
    /* The process's one HTTP client (curl thread and connection pool); freed
     * after every component stopped, so completions still find their state. */
    struct http_client *http_client;
    struct daemon_services *services;
    /* The tuning and test knobs (core/tunables.h), read once at start; never
     * NULL for a component the daemon runs (tests may leave it NULL: then
     * tunables__defaults()). */
    const struct tunables *tun;
    /* This process's roles (CONFIG_ROLE_*) and its B/state topic: <B>/state
     * for all roles, <B>/state/<roles> in a split deployment. */
    unsigned roles;
    const char *state_topic;
    /* This process's node id, unique per run: the MQTT client id and the
     * holder name in leases (docs/ha.md); and the roles joined by '-' in a
     * split deployment, NULL for a process that runs all of them. */
    const char *node;
    const char *split_name;
};

/* A part of the daemon (the Graph side, the Voice side, the mapper), listed
 * in the component table of daemon.c. Every hook runs on the loop thread;
 * any hook may be NULL. Order: init (all, in table order) -> HTTP listener
 * and MQTT start -> start (all) -> reload on each valid SIGHUP -> stop (all,
 * reverse order, before the bus says offline) -> free (all). */
struct daemon_component {
    const char *name;
    /* Allocate state, add HTTP routes, subscribe. 0 or -1 (the daemon exits 1). */
    int (*init)(const struct daemon_env *env, void **state);
    /* MQTT is connecting and HTTP is listening: begin work. 0 or -1. */
    int (*start)(void *state);
    /* env->cfg now holds the reloaded user lists. */
    void (*reload)(void *state);
    /* Graceful stop: finish or cancel work, bounded in time. */
    void (*stop)(void *state);
    void (*free)(void *state);
};

#endif
