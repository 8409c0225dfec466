/* One service account's presence subscription (docs/graph.md
 * "Subscriptions"), the state machine under subscriptions.h:
 *
 *   idle -> listing (first run: the account's old presence subscriptions of
 *   this app are listed) -> deleting -> creating -> active -> renewing ...
 *
 * created with a fresh random clientState and, with a certificate,
 * includeResourceData; renewed at half of the time left of the expiry Graph
 * granted; recreated when Graph answers 404 or removes it; replaced (deleted,
 * created) when its users change, since Graph cannot change a resource;
 * reauthorized on reauthorizationRequired. Failed requests are retried with
 * backoff, at least after their Retry-After.
 *
 * The account tells its owner through the callbacks of its env: on_live
 * when its live id and clientState change (the owner's registry for the
 * webhook workers), want_resync after each (re)creation.
 *
 * Loop thread only. */
#ifndef PS_GRAPH_SUBSCRIPTION_H
#define PS_GRAPH_SUBSCRIPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/loop.h"
#include "graph/subscriptions.h"
#include "graph/users.h"

struct role;
struct graph_response;

/* Renewals come at least this far apart; an adopted subscription must have
 * twice as long left. */
#define SUBSCRIPTION_MIN_RENEW 1000

/* What one tenant's accounts share; owned by subscriptions.c. */
struct subscription_env {
    struct loop *loop;
    struct graph_client_tenant *client;
    const char *tenant;
    const char *notify_url;
    const char *lifecycle_url;
    struct notify_key_store *keys; /* NULL: basic notifications */
    const char *cert_id;
    int64_t renew_ms; /* > 0: renew at least this often */
    struct graph_status *status;
    /* id and client_state are "" when none is live */
    void (*on_live)(void *ctx, size_t account, const char *id, const char *client_state);
    void (*want_resync)(void *ctx, const char *reason);
    /* May the listed subscription id, otherwise ours, be adopted with this
     * clientState? (the holder's fingerprint, docs/ha.md); NULL: yes. */
    bool (*adoptable)(void *ctx, const char *id, const char *client_state);
    void *ctx;
    bool stopping; /* set by the owner at stop: answers are dropped */
    /* This process writes for the tenant (role/role.h): only then does it
     * create, renew, reauthorize or delete subscriptions (docs/ha.md). */
    bool writes;
    const struct role *role; /* checked again at each request; NULL: alone */
};

enum subscription_state {
    SUBSCRIPTION_IDLE = 0,
    SUBSCRIPTION_LISTING,
    SUBSCRIPTION_DELETING,
    SUBSCRIPTION_CREATING,
    SUBSCRIPTION_ACTIVE,
};

struct subscription {
    const struct subscription_env *env;
    size_t account;
    const char *username; /* the service account (borrowed) */
    char **ids;           /* its users' ids */
    size_t n_ids;
    char id[GRAPH_ID_MAX + 1]; /* Graph's id while active */
    char client_state[SUBSCRIPTIONS_CLIENT_STATE_LEN + 1];
    /* What clientState this account's subscriptions carry: the same for every
     * instance with this configuration (subscriptions__client_state), so an
     * instance that takes over adopts them; "" makes a random one each time. */
    char derived_state[SUBSCRIPTIONS_CLIENT_STATE_LEN + 1];
    int64_t expires_wall_ms; /* as Graph granted it */
    enum subscription_state state;
    bool listed; /* startup cleanup done for this account */
    bool replan; /* ids changed while busy: replace afterwards */
    bool busy;   /* a request is in flight */
    int outstanding;
    loop_timer_id timer;
    struct backoff bo;
    char last_error[256];
};

void subscription__init(struct subscription *sub, const struct subscription_env *env,
                        size_t account, const char *username);
/* The account's share of the users (ids[0..n-1], sorted); brings the
 * subscription to it. */
void subscription__plan(struct subscription *sub, char *const *ids, size_t n);
/* The role changed (env->writes is already set): a takeover lists the
 * account's subscriptions and adopts ours (docs/ha.md); a loss cancels the
 * renewal timer, keeping what is live for the webhook's checks. */
void subscription__role(struct subscription *sub);
/* A lifecycle event for this subscription. */
void subscription__lifecycle(struct subscription *sub, const char *event);
/* Its B/health entry: {account, state, users, id, expires, error}. */
struct cJSON *subscription__json(const struct subscription *sub);
void subscription__stop(struct subscription *sub);
void subscription__free(struct subscription *sub);

/* ---- the state machine's steps, shared with subscription_adopt.c ---------- */

typedef void (*sub_done_fn)(struct subscription *sub, const struct graph_response *res);
/* One request with the account's delegated token (body taken, may be NULL);
 * done runs exactly once unless stopping (unsent: status 0). */
void subscription__call(struct subscription *sub, const char *method, const char *path, char *body,
                        sub_done_fn done);
/* Brings the account to its next step (list, create, renew, replace). */
void subscription__ensure(struct subscription *sub);
/* After a success: replaced when the users changed meanwhile, else renewed
 * in time. */
void subscription__next(struct subscription *sub);
/* Again after the backoff, at least after res's Retry-After (res may be NULL). */
void subscription__retry(struct subscription *sub, const struct graph_response *res);
/* The failure of what into last_error and the log. */
void subscription__set_error(struct subscription *sub, const struct graph_response *res,
                             const char *what);
/* The live id and clientState ("" when none) to the owner's registry. */
void subscription__live(const struct subscription *sub);
/* Counts one subscription event of the tenant in metric. */
void subscription__count(const struct subscription *sub, const char *metric);
/* Its id, clientState and expiry set (created or adopted, by how): active,
 * the last error cleared, the backoff reset, live to the owner, logged
 * ("subscription <how>") and counted in metric. */
void subscription__active(struct subscription *sub, const char *how, const char *metric);

/* The resource of a presence subscription over ids: quoted, comma-separated.
 * malloc'd. Pure. */
char *subscription__resource(char *const *ids, size_t n);

#endif
