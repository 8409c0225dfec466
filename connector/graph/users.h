/* The configured users of one tenant, looked up in Azure AD (docs/graph.md
 * "Start-up, per tenant", step 2): address (UPN) -> object id, 20 lookups
 * per $batch through the Graph client (graph_client.h), each item judged on its
 * own. A throttled item (429) waits for its own Retry-After, other failures
 * back off; an address Azure AD does not know (404) is left out (one bad id
 * fails a whole presence subscription), logged once and listed in B/health.
 *
 * When a lookup round ends with everybody known (or after the first full
 * round), on_resolved is called: the composition root (graph_side.c) then
 * plans the subscriptions and reads everyone's presence. This module calls
 * no module above it.
 *
 * Each user also owns its busy topic (<prefix>teams/<id>/busy), cleared when
 * the user leaves the configuration, and the presence last published on it,
 * which resync.c writes (resync__apply is the only writer of `seen`).
 *
 * Loop thread only. */
#ifndef PS_GRAPH_USERS_H
#define PS_GRAPH_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/presence.h"

struct bus;
struct cJSON;
struct loop;
struct graph_client_tenant;
struct graph_ready;
struct graph_status;
struct graph_users;

#define GRAPH_ID_MAX 128 /* object and subscription ids */

enum graph_user_state { USERS_PENDING = 0, USERS_FOUND, USERS_NOT_FOUND };

/* The presence last published on the user's topic (resync.c's). */
struct graph_user_seen {
    bool have; /* a presence was seen */
    bool busy;
    /* Heap copies (NULL until seen), exactly sized: fixed arrays of the
     * longest values were 272 bytes a user (docs/performance.md). */
    char *availability;
    char *activity;
    char *seq;
    int64_t since_wall_ms; /* when busy last changed */
};

struct graph_user {
    char *upn;
    char *topic; /* <prefix>teams/<id>/busy */
    char *id;    /* Azure AD object id once USERS_FOUND, else NULL (heap: exactly sized) */
    enum graph_user_state state;
    int64_t retry_at_mono; /* a throttled lookup waits until then */
    struct graph_user_seen seen;
};

struct graph_users_options {
    struct loop *loop;
    struct bus *bus;
    struct graph_client_tenant *client;
    const char *tenant;       /* borrowed, for logs and labels */
    const char *topic_prefix; /* borrowed; NULL: none */
    struct graph_status *status;
    /* A lookup round ended with every user known, or the first full round
     * ended; first: the first time. */
    void (*on_resolved)(void *ctx, bool first);
    void *ctx;
};

struct graph_users *users__new(const struct graph_users_options *o);
/* Makes the list upns[0..n-1] (duplicates ignored, case-insensitively):
 * users that stay keep their id, state and topic; users that left have
 * their busy topic cleared. 0 or -1 (out of memory: nothing changed). */
int users__sync(struct graph_users *u, char *const *upns, size_t n);
/* Looks up the pending users whose Retry-After has passed (a round runs
 * at a time; asked during one, another follows). */
void users__resolve(struct graph_users *u);

size_t users__count(const struct graph_users *u);
/* The resolved users, sorted by id (case-insensitively): *out is valid until
 * the next users__sync or the end of a lookup round. */
size_t users__resolved(const struct graph_users *u, struct graph_user *const **out);
/* The resolved user with that object id (any case), or NULL. */
struct graph_user *users__by_id(const struct graph_users *u, const char *id);

/* The B/health part (graph_status.h): "users" {configured, resolved, not_found};
 * not ready until the first round ended. Sets graph_users_resolved. */
void users__status(void *ctx, struct cJSON *section, struct graph_ready *r);

/* Cancels the retry timer; answers still in flight are dropped. */
void users__stop(struct graph_users *u);
void users__free(struct graph_users *u);

#endif
