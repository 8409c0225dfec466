/* The networked Graph side (internal to ps_graph_side): shared types of the
 * component (graph_side.c), tokens (tokens.c), user lookups (users.c),
 * subscriptions (subscriptions.c), the webhook (webhook.c) and presence
 * reads (resync.c). See docs/graph.md.
 *
 * Threads: everything here belongs to the loop thread, except
 *  - gtenant.name, .cfg->graph (immutable after init), .keys, .jwks: read by
 *    the libwebsockets thread and the decryption workers;
 *  - gtenant.reg (subscription id -> clientState), guarded by reg_lock: the
 *    workers check clientState against it;
 *  - gtenant.ident (tenant GUID, issuer), guarded by ident_lock, and
 *    gtenant.keys_wanted (atomic): identity.c.
 */
#ifndef PS_GRAPH_GSIDE_H
#define PS_GRAPH_GSIDE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/loop.h"
#include "graph/batch.h"
#include "graph/oidc.h"
#include "graph/presence.h"
#include "graph/tokens.h"

struct daemon_env;
struct http_client;
struct http_result;
struct workqueue;
struct notify_key_store;
struct jwks_cache;
struct tenant_config;
struct gside;
struct gtenant;
struct resync_chunk;
struct graph_client;
struct graph_client_tenant;

#define GSIDE_ID_MAX           128
#define GSIDE_CLIENT_STATE_LEN 64 /* hex of 32 random bytes; Graph allows 128 */
#define GSIDE_BATCH_MAX        GRAPH_BATCH_MAX
#define GSIDE_PRESENCE_CHUNK   650
#define GSIDE_SUB_LIFETIME_MS  (55LL * 60 * 1000) /* asked for; Graph allows 60 min */
/* Said by the log at start, B/health and check-config when no certificate
 * is configured (docs/graph.md, "Basic or rich notifications"). */
#define GSIDE_BASIC_NOTICE CONFIG_BASIC_NOTICE

/* ---- Graph calls through the process's Graph client (client.h) ---------- */

struct gcall;
/* res NULL: aborted (stopping). The call is freed after done returns. */
typedef void (*gcall_done_fn)(struct gcall *c, const struct http_result *res);

struct gcall {
    struct gtenant *t;
    gcall_done_fn done;
    void *ctx;
    int64_t aux; /* caller's small value */
};

/* Takes url and body (malloc'd). units: presence requests Graph counts for
 * it (0: not metered); a 401 is retried once at once by the client. */
void gcall__start(struct gtenant *t, struct gtoken *tok, const char *method, char *url, char *body,
                  gcall_done_fn done, void *ctx, int64_t aux);
void gcall__start_metered(struct gtenant *t, struct gtoken *tok, const char *method, char *url,
                          char *body, unsigned units, gcall_done_fn done, void *ctx, int64_t aux);

/* ---- users.c ---------------------------------------------------------------- */

enum guser_rs { USER_PENDING = 0, USER_OK, USER_NOT_FOUND };

struct guser {
    char *upn;
    char *topic; /* <prefix>teams/<id>/busy */
    char id[GSIDE_ID_MAX + 1];
    enum guser_rs rs;
    int64_t retry_at_mono; /* per-item 429 */
    bool have;             /* a presence was seen */
    bool busy;
    char availability[PRESENCE_VALUE_MAX + 1];
    char activity[PRESENCE_VALUE_MAX + 1];
    char seq[PRESENCE_SEQ_MAX + 1];
    int64_t since_wall_ms;
};

/* Rebuilds t->users from t->cfg (keeps what is known about users that stay;
 * clears the busy topic of users that left). */
int users__sync(struct gtenant *t);
/* Looks up ids of pending users with $batch; then subs__plan + resync. */
void users__resolve(struct gtenant *t);
struct guser *users__by_id(struct gtenant *t, const char *id);
void users__free(struct gtenant *t);

/* ---- subscriptions.c ----------------------------------------------------- */

enum gsub_state { SUB_IDLE = 0, SUB_LISTING, SUB_DELETING, SUB_CREATING, SUB_ACTIVE };

struct gsub {
    struct gtenant *t;
    int account;
    char **ids; /* planned user ids */
    size_t n_ids;
    char id[GSIDE_ID_MAX + 1]; /* Graph's id while active */
    char client_state[GSIDE_CLIENT_STATE_LEN + 1];
    int64_t expires_wall_ms; /* as Graph returned it */
    enum gsub_state state;
    bool listed; /* startup cleanup done for this account */
    bool replan; /* ids changed while busy: recreate afterwards */
    bool busy;   /* a request is in flight */
    int outstanding;
    loop_timer_id timer;
    struct backoff bo;
    char last_error[256];
    int creates;
};

/* Splits the resolved users over the accounts; (re)creates what changed. */
void subs__plan(struct gtenant *t);
/* Lifecycle event for subscription `sub_id` (clientState already checked). */
void subs__lifecycle(struct gtenant *t, const char *sub_id, const char *event);
void subs__stop(struct gtenant *t);
void subs__free(struct gtenant *t);
/* The resource of a presence subscription over ids: quoted, comma-separated.
 * malloc'd. Pure. */
char *subs__resource(char *const *ids, size_t n);
/* Splits n users over n_accounts as evenly as possible: first/count of
 * account a. Pure. */
void subs__split(size_t n, size_t n_accounts, size_t a, size_t *first, size_t *count);
struct cJSON *subs__status_json(struct gtenant *t);
/* Sets graph_subscriptions and graph_subscription_expiry_timestamp_seconds. */
void subs__metrics(struct gtenant *t);

/* registry for the workers (any thread) */
void subs__reg_set(struct gtenant *t, int account, const char *sub_id, const char *client_state);
/* 1 match, 0 mismatch, -1 unknown subscription. */
int subs__reg_check(struct gtenant *t, const char *sub_id, const char *client_state);

/* ---- resync.c --------------------------------------------------------------- */

/* Re-reads every resolved user's presence (coalesced while one runs). */
void resync__request(struct gtenant *t, const char *reason);
/* Reads the presence of some users (basic notifications); recv_mono is when
 * the webhook request arrived (for notification_latency_seconds). The ids
 * are gathered: at most RESYNC_READS_OUT reads are out at a time, and what
 * arrives meanwhile shares the next getPresencesByUserId (one unit of the
 * presence budget for up to 650 users); while the budget is tight a read
 * also waits GRAPH_READ_GATHER_MS for more ids, so a burst of notifications
 * does not spend the budget the mapper's writes need. */
void resync__read_ids(struct gtenant *t, char **ids, size_t n, int64_t recv_mono);
/* Observes notification_latency_seconds{tenant} for n items received at
 * recv_mono (the busy state is decided now). */
void resync__observe_latency(struct gtenant *t, int64_t recv_mono, size_t n);
/* Applies a presence on the loop thread; publishes the busy topic on change.
 * Returns 1 published/changed, 0 unchanged, -1 dropped (unknown user, stale). */
int resync__apply(struct gtenant *t, const struct presence_state *p, const char *source);
void resync__start_timer(struct gtenant *t);
void resync__stop(struct gtenant *t);

/* ---- identity.c: the tenant GUID and the validation-token keys ------------- */

#define IDENTITY_JWKS_GAP_MS     10000 /* at most one key fetch per gap */
#define IDENTITY_JWKS_MAX_AGE_MS (24LL * 3600 * 1000)

/* What a worker needs to check an item's tenant and its validation tokens. */
struct gident {
    char tenant_guid[OIDC_GUID_LEN + 1]; /* lower case; "" until known */
    char issuer[OIDC_URL_MAX];           /* issuer template of the OpenID configuration when it is
                                            not the public cloud's v2 one; "" otherwise */
};

/* Sets the GUID of a GUID tenant_id and the URLs; no network. */
int identity__init(struct gtenant *t, const char *login_url);
/* Reads the OpenID configuration, then the keys (retried with backoff). */
void identity__start(struct gtenant *t);
void identity__stop(struct gtenant *t);
void identity__free(struct gtenant *t);
/* Any thread: a copy of what is known now. */
void identity__snapshot(struct gtenant *t, struct gident *out);
/* Any thread, never blocks: the keys are missing, stale, or lack a kid a
 * token named. The loop fetches them, at most once per IDENTITY_JWKS_GAP_MS. */
void identity__want_keys(struct gtenant *t);
struct cJSON *identity__status_json(struct gtenant *t);

/* ---- webhook.c -------------------------------------------------------------- */

int webhook__routes(struct gside *side);
/* Frees a queued webhook job (the worker pool's drop function). */
void webhook__job_free(void *arg);
/* Counts one notification outcome (any thread). */
void webhook__count(const struct gtenant *t, const char *outcome, double n);

/* ---- graph_side.c ----------------------------------------------------------- */

struct greg {
    char sub_id[GSIDE_ID_MAX + 1];
    char client_state[GSIDE_CLIENT_STATE_LEN + 1];
};

struct gtenant {
    struct gside *side;
    size_t index;
    const char *name;
    struct tenant_config *cfg;
    struct graph_client_tenant *gc; /* tokens and calls (client.h) */
    struct gtoken *app;
    char *notify_url;
    char *lifecycle_url;
    char *jwks_url;
    size_t n_accounts; /* cfg->graph.n_accounts */
    struct guser *users;
    size_t n_users;
    struct guser **by_id; /* resolved users sorted by id */
    size_t n_by_id;
    bool resolving;
    bool resolve_again;
    int resolve_outstanding;
    loop_timer_id resolve_timer;
    struct backoff resolve_bo;
    bool resolved_once;
    unsigned resolved_count;
    struct gsub *subs; /* one per account */
    /* resync */
    bool resync_running;
    bool resync_pending;
    int resync_outstanding;
    loop_timer_id resync_timer;
    int64_t last_resync_wall_ms;
    struct resync_chunk *resync_waiting;
    /* reads for basic notifications: ids gathered while reads are out */
    char **read_ids;
    int64_t *read_recv; /* webhook arrival per id */
    size_t n_read, cap_read;
    int reads_out;
    loop_timer_id read_timer;
    bool read_gathered; /* the gathering moment of a tight budget has passed */
    const char *last_resync_reason;
    /* worker-shared */
    struct notify_key_store *keys; /* NULL: basic notifications */
    char *cert_id;
    struct jwks_cache *jwks;
    /* identity.c: ident is read by workers under ident_lock */
    pthread_mutex_t ident_lock;
    struct gident ident;
    atomic_bool keys_wanted;        /* a worker asked for keys; cleared after the fetch */
    atomic_int token_versions_seen; /* bit 1: v1 tokens, bit 2: v2 (webhook.c) */
    /* identity.c, loop only */
    char *oidc_url;
    const char *ident_source; /* "configured", "openid-configuration"; NULL: pending */
    char ident_error[160];
    bool oidc_ok;
    bool oidc_in_flight;
    loop_timer_id oidc_timer;
    struct backoff oidc_bo;
    bool jwks_in_flight;
    loop_timer_id jwks_timer;
    struct backoff jwks_bo;
    int64_t jwks_last_mono; /* start of the last key fetch */
    unsigned jwks_fetches;
    char jwks_error[160];
    pthread_mutex_t reg_lock;
    struct greg *reg; /* per account */
};

struct gside {
    const struct daemon_env *env;
    struct loop *loop;
    struct bus *bus;
    struct graph_client *gc;
    struct workqueue *wq;
    struct gtenant *tenants;
    size_t n_tenants;
    bool started;
    bool stopping;
    int64_t renew_override_ms;  /* PS_GRAPH_RENEW_MS (core/tunables.h), 0: none */
    int64_t resync_override_ms; /* PS_GRAPH_RESYNC_MS, 0: none */
};

/* Rebuilds the tenant's B/health "graph" section and readiness. */
void gside__status(struct gtenant *t);
/* Service account a's delegated token. */
struct gtoken *gside__account(struct gtenant *t, int a);
struct gtenant *gside__tenant(struct gside *side, const char *name);

#endif
