/* The mapper's internals, shared by its files (loop thread only):
 *  - mapper.c: the component, the pump, the writes and their results;
 *  - registry.c: the users, their hash by topic id, retiring and reaping;
 *  - inputs.c: teams/+/busy and voice/+/talking decoding, and the read-back
 *    of the previous run's B/sync/+ at start. */
#ifndef PS_MAPPER_INT_H
#define PS_MAPPER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hmap.h"
#include "core/loop.h"
#include "graph/paths.h"
#include "mapper/mapper.h"
#include "mapper/reconcile.h"

#define MAPPER_SUB "mapper"

struct mapper_tenant;
struct config;
struct tenant_config;

struct mapper_user {
    struct reconcile_user state; /* the reconcile core's view of the user */
    struct mapper_tenant *t;
    char *address; /* as configured; state.address points here */
    char *id;      /* topic id */
    char *sync_topic;
    char guid[GRAPH_OBJECT_ID_MAX + 1]; /* Graph object id (teams payload), "" unknown */
    bool dirty;
    int64_t began_us[2];       /* per side: when its write began, for the latency */
    struct mapper_user *dnext; /* dirty list */
    bool vwait;                /* its Voice write waits for a slot (in the wait list) */
    bool vwoken;               /* taken off the wait list, a slot kept for its next pass */
    struct mapper_user *vnext; /* Voice wait list */
    struct hmap_node hnode;    /* in mapper.by_id */
    bool hashed;
};

struct mapper_tenant {
    struct mapper *m;
    char *name;
    struct reconcile_config config; /* the reconcile core's settings */
    char **busy;
    size_t n_busy;
    struct mapper_user **users;
    size_t n_users;
    bool writes; /* this process writes for the tenant (role/role.h, docs/ha.md) */
};

struct mapper {
    const struct daemon_env *env;
    struct loop *loop;
    struct bus *bus;
    struct mapper_ports ports;
    struct mapper_tenant *tenants;
    size_t n_tenants;
    struct hmap by_id; /* the users by topic id, all tenants */
    struct mapper_user *dirty_head;
    struct mapper_user *vwait_head, *vwait_tail;
    int voice_in_flight;
    int voice_woken;    /* users woken for a free slot, not pumped yet */
    bool full_pass;     /* re-plan everyone: timer, start, reload */
    bool reap_due;      /* a retired user may be done */
    char *teams_prefix; /* P teams/ */
    char *voice_prefix; /* P voice/ */
    char *sync_prefix;  /* B/sync/ */
    char *sync_filter;  /* B/sync/+ (read back at start) */
    loop_timer_id timer;
    int64_t timer_at;
    loop_timer_id pump_timer;
    bool pump_queued;
    bool stopping;
    /* start: the previous run's B/sync/+ is read before anything is done */
    bool seeding;
    int64_t seed_started_ms, seed_connected_ms;
    loop_timer_id seed_timer;
    size_t records;                    /* read back */
    int64_t startup_ms, echo_grace_ms; /* core/tunables.h */
    int64_t wall_offset;               /* wall - monotonic, for B/sync times */
};

/* mapper.c */
void mapper__schedule(struct mapper *m);

/* writes.c */
const char *writes__side_name(enum reconcile_target target);
/* Hands a due Teams action to the Graph writer (a refusal is a failed write). */
void writes__graph_start(struct mapper *m, struct mapper_user *u, const struct reconcile_action *a);
/* Hands a due Voice flag to the Voice writer; the caller holds a slot. */
void writes__voice_start(struct mapper *m, struct mapper_user *u, bool value);
/* Queues u for a Voice slot; writes__voice_wake wakes waiting users. */
void writes__voice_wait(struct mapper *m, struct mapper_user *u);
void writes__voice_wake(struct mapper *m);
/* The process's writers (env->services) as the mapper's ports. */
void writes__wire(struct mapper *m);

/* registry.c */
struct mapper_user *registry__find(struct mapper *m, const char *id);
/* Marks u for the next pump's pass (B/sync published, plan re-run). */
void registry__touch(struct mapper_user *u);
/* Builds or updates t's users from tc (NULL: every user retired). */
int registry__sync_users(struct mapper_tenant *t, const struct tenant_config *tc);
/* Drops retired users with nothing left to do. */
void registry__reap(struct mapper_tenant *t, int64_t now);
void registry__free_users(struct mapper_tenant *t);

/* inputs.c */
void inputs__on_teams(void *ctx, const char *topic, const char *payload, size_t len, bool retained);
void inputs__on_voice(void *ctx, const char *topic, const char *payload, size_t len, bool retained);
/* The record of a previous run's B/sync payload (pure). */
enum reconcile_record inputs__record(const char *payload, size_t len, const char *tenant);
/* Subscribes B/sync/+ and waits for the retained records (or ends the seed
 * at once without a bus). */
int inputs__seed_start(struct mapper *m);
void inputs__seed_stop(struct mapper *m);

#endif
