/* fake-graph: the simulator's state (tenants, apps, users and their presence
 * sessions, tokens, subscriptions). Lives on the loop thread only. Pure: every
 * time-dependent call takes `now` (wall-clock ms), so unit tests need no
 * clock and no sockets. */
#ifndef FG_STORE_H
#define FG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "core/hmap.h"
#include "fg_presence.h"

#define FG_ID_LEN           64 /* GUIDs and client ids; tenant ids may be domains */
#define FG_MAX_SESSIONS     16
#define FG_SUB_MAX_MS       (60 * 60 * 1000LL)
#define FG_CLIENT_STATE_MAX 128

struct fg_vec {
    void **items;
    size_t n, cap;
};
int fg_vec__push(struct fg_vec *v, void *item);
void *fg_vec__remove_at(struct fg_vec *v, size_t i);

/* The Graph permissions an admin consented for the app (docs/graph.md,
 * "Permissions"): application roles (in app tokens' `roles`) and delegated
 * scopes (in user tokens' `scp`). New apps get what docs/operations.md asks
 * for (FG_DEFAULT_ROLES, FG_DEFAULT_SCOPES); /_sim/apps/{id}/consent
 * changes them. Space-separated names. */
#define FG_DEFAULT_ROLES  "Presence.ReadWrite.All User.Read.All"
#define FG_DEFAULT_SCOPES "Presence.Read.All User.Read"

struct fg_app {
    char client_id[FG_ID_LEN];
    char *secret;
    char *roles;  /* space-separated, "" when none */
    char *scopes; /* space-separated, "" when none */
};

/* Whether a space-separated permission list holds name (case-insensitive). */
bool fg_perm__has(const char *list, const char *name);
/* Sets an app's consented roles and/or scopes (NULL: unchanged). 0 or -1. */
int fg_store__consent(struct fg_app *a, const char *roles, const char *scopes);

struct fg_user {
    struct hmap_node by_id, by_upn; /* in fg_store's indexes */
    char id[FG_ID_LEN];
    char tenant[FG_ID_LEN];
    char *upn;
    char *display_name;
    char *password; /* NULL: ROPC fails with 50126 */
    int block_code; /* ROPC fails with this AADSTS code (50076, 50055...), 0: none */
    bool federated; /* its domain is federated (ADFS): userrealm says so, ROPC fails (50126) */
    struct fg_session sessions[FG_MAX_SESSIONS];
    size_t n_sessions;
    bool has_preferred;
    struct fg_presence preferred;
    int64_t preferred_expires_ms; /* 0: never */
    struct fg_presence shown;     /* last aggregate */
    char sequence[24];            /* of `shown` */
};

enum fg_token_kind { FG_TOKEN_DELEGATED, FG_TOKEN_APP };

struct fg_token {
    char *value; /* the access token: a signed JWT (fg_oauth.c), or opaque */
    enum fg_token_kind kind;
    char tenant[FG_ID_LEN];
    char client_id[FG_ID_LEN];
    char user_id[FG_ID_LEN]; /* delegated only */
    int64_t expires_ms;
    bool presence_write; /* delegated with Presence.ReadWrite: its user's own presence */
    char *perms;         /* roles (app) or scp (delegated) it carries, space-separated */
};

struct fg_refresh {
    char value[72];
    char tenant[FG_ID_LEN];
    char client_id[FG_ID_LEN];
    char user_id[FG_ID_LEN];
    bool revoked;
};

struct fg_sub {
    char id[FG_ID_LEN];
    char tenant[FG_ID_LEN];
    char client_id[FG_ID_LEN];
    char creator_id[FG_ID_LEN];
    char *resource;
    char *notification_url;
    char *lifecycle_url; /* may be NULL */
    char *client_state;  /* may be NULL */
    char **user_ids;
    size_t n_users;
    int64_t expires_ms;
    bool include_resource_data;
    char *cert_b64;
    char *cert_id;
    char thumbprint[48];
    EVP_PKEY *cert_key; /* public key of the encryption certificate */
    char *latest_tls;
    bool pending; /* validation handshake running: counts for Conflict */
    bool silent;  /* alive but delivers nothing (control API) */
    int64_t created_ms;
    int64_t reauthorized_ms;
};

struct fg_store {
    struct fg_vec tenants; /* char * */
    struct fg_vec domains; /* char *: "domain\0tenant" */
    struct fg_vec apps;    /* struct fg_app * */
    struct fg_vec users;   /* struct fg_user * */
    struct hmap user_ids;  /* the users by id and by UPN (case-insensitive): */
    struct hmap user_upns; /* lookups stay O(1) at 100,000 users */
    struct fg_vec tokens;  /* struct fg_token * */
    struct fg_vec refresh; /* struct fg_refresh * */
    struct fg_vec subs;    /* struct fg_sub * */
    uint64_t sequence;
    int64_t token_lifetime_ms;
};

void fg_store__init(struct fg_store *s);
void fg_store__clear(struct fg_store *s); /* users, tokens, subscriptions; keeps tenants, apps */
void fg_store__free(struct fg_store *s);

int fg_store__add_tenant(struct fg_store *s, const char *id);
bool fg_store__has_tenant(const struct fg_store *s, const char *id);
/* A verified domain of a tenant (contoso.onmicrosoft.com): the login
 * endpoints take it in place of the tenant id. */
int fg_store__add_domain(struct fg_store *s, const char *tenant, const char *domain);
/* The tenant's id for its id or one of its domains (case-insensitive), or
 * NULL. The pointer lives as long as the tenant. */
const char *fg_store__tenant_id(const struct fg_store *s, const char *id_or_domain);
/* The tenant's first domain, or NULL. */
const char *fg_store__tenant_domain(const struct fg_store *s, const char *tenant);
int fg_store__add_app(struct fg_store *s, const char *client_id, const char *secret);
struct fg_app *fg_store__app(struct fg_store *s, const char *client_id);

/* id may be NULL (a fresh GUID is made). Fails on a duplicate id or upn. */
struct fg_user *fg_store__add_user(struct fg_store *s, const char *tenant, const char *id,
                                   const char *upn, const char *password, int64_t now);
/* by id or (case-insensitive) userPrincipalName; tenant NULL = any */
struct fg_user *fg_store__user(struct fg_store *s, const char *tenant, const char *id_or_upn);

/* Sessions. set replaces a session with the same id. */
int fg_user__set_session(struct fg_user *u, const char *id, const char *av, const char *act,
                         bool app, int64_t expires_ms, int64_t now);
int fg_user__clear_session(struct fg_user *u, const char *id); /* -1 when absent */
struct fg_session *fg_user__session(struct fg_user *u, const char *id);

/* Drops expired sessions/preferred state, then recomputes the aggregate.
 * Returns true when the aggregate changed (sequence number advanced). */
bool fg_store__refresh_user(struct fg_store *s, struct fg_user *u, int64_t now);

/* Tokens. */
struct fg_token *fg_store__issue_token(struct fg_store *s, enum fg_token_kind kind,
                                       const char *tenant, const char *client_id,
                                       const char *user_id, int64_t now);
struct fg_token *fg_store__token(struct fg_store *s, const char *value);
/* Replaces a token's value (takes jwt) and records the permissions it
 * carries (copied). 0 or -1. */
int fg_token__set(struct fg_token *t, char *jwt, const char *perms);
struct fg_refresh *fg_store__issue_refresh(struct fg_store *s, const char *tenant,
                                           const char *client_id, const char *user_id);
struct fg_refresh *fg_store__refresh_token(struct fg_store *s, const char *value);
void fg_store__revoke_user(struct fg_store *s, const char *user_id);

/* Subscriptions. */
struct fg_sub *fg_store__sub(struct fg_store *s, const char *id);
/* The rule "one presence subscription per delegated user per app":
 * a live or pending subscription of the same app + creator, or NULL. */
struct fg_sub *fg_store__conflict(struct fg_store *s, const char *tenant, const char *client_id,
                                  const char *creator_id);
/* Takes ownership of sub. */
int fg_store__add_sub(struct fg_store *s, struct fg_sub *sub);
void fg_store__remove_sub(struct fg_store *s, const char *id);
void fg_sub__free(struct fg_sub *sub);
bool fg_sub__covers(const struct fg_sub *sub, const char *user_id);

/* Expiry sweep: removes expired subscriptions (removed_subs counts them) and
 * refreshes every user; changed users are appended to changed (struct fg_user *). */
void fg_store__sweep(struct fg_store *s, int64_t now, struct fg_vec *changed, size_t *removed_subs);

/* Random lower-case GUID (v4) into out[37]. */
void fg_store__guid(char out[37]);

#endif
