/* fake-graph: the simulator process. All state (struct fg_store, records,
 * deliveries, settings) is owned by the loop thread. HTTP handlers run on
 * the libwebsockets thread: they copy the request, loop__post() it and
 * return HTTP_DEFER; the loop thread answers with http_server__complete().
 * The one exception is the fault table (fg_faults.c), which has its own lock
 * because a fault that carries a Retry-After header must be answered on the
 * service thread (only HTTP_DONE responses can carry extra headers). */
#ifndef FG_SIM_H
#define FG_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "fg_budget.h"
#include "fg_crypto.h"
#include "fg_store.h"

struct loop;
struct http_server;
struct http_client;
struct http_pending;
struct fg_faults;

/* How a change notification item names its user (docs/graph.md, "What
 * Graph sends"). */
enum fg_resource_form {
    FG_RESOURCE_ONE_ID = 0, /* default: `communications/presences?$filter=id+in+(%27{id}%27)` */
    FG_RESOURCE_ALL_IDS,    /* the subscription's whole filter, also in resourceData.@odata.id */
    FG_RESOURCE_PATH,       /* `communications/presences/{id}` (single-user subscriptions) */
};

struct fg_settings {
    int64_t batch_window_ms;       /* 0: one notification item per POST */
    int64_t retry_base_ms;         /* first retry delay; doubles each time */
    int retry_max;                 /* delivery attempts in all */
    int64_t validation_timeout_ms; /* Graph: 10 s */
    int64_t delivery_timeout_ms;   /* Graph: 3 s */
    int64_t grant_expiry_ms;       /* >0: grant at most this much on create/renew (Graph may) */
    enum fg_resource_form resource_form;
    int token_version; /* validationTokens: 1 (sts.windows.net, appid) or 2 (v2.0, azp) */
    bool batch_retry_after_number; /* a $batch item's Retry-After as 10, not "10" */
};

struct fg_sim {
    struct loop *loop;
    struct http_server *srv;
    struct http_client *cli;
    struct fg_store store;
    struct fg_signer signer;
    struct fg_signer prev_signer; /* after a rotation, still in the JWKS (key == NULL: none) */
    struct fg_faults *faults;
    struct fg_budget *budget; /* the presence limit (fg_budget.h) */
    struct fg_settings settings;
    struct fg_vec records; /* cJSON * of handled requests */
    uint64_t next_record;
    struct fg_vec deliveries; /* cJSON * of outbound POSTs */
    uint64_t next_delivery;
    struct fg_vec outboxes; /* struct fg_outbox * (fg_notify.c) */
};

/* A fault picked for a request (copied out of the table). */
struct fg_fault_hit {
    bool hit;
    int status;      /* 0: only a delay */
    int retry_after; /* seconds, -1: none */
    int64_t delay_ms;
    int aadsts;
};

/* One request handed to the loop thread. */
struct fg_req {
    struct fg_sim *sim;
    struct http_pending *pending; /* NULL for $batch items */
    char method[16];
    char *path;
    char *query;
    char *body;
    size_t body_len;
    char *authorization;
    char *content_type;
    char *host;
    char *client_request_id; /* the caller's, echoed (NULL: none sent) */
    char *forwarded_proto;   /* X-Forwarded-Proto: the scheme the caller sees */
    int64_t start_ms;        /* monotonic */
    struct fg_fault_hit fault;
    bool batch_item;
    /* filled by the auth check of Graph handlers */
    struct fg_token *token;
    /* summary for the request record */
    char who[160];
};

struct fg_resp {
    int status;
    const char *content_type;
    char *body; /* malloc'd */
    size_t body_len;
    int retry_after; /* Retry-After (a header, or in a $batch item's headers); -1 none */
    const char *client_request_id; /* the caller's: in error bodies, as Graph and Entra do */
};

enum { FG_DONE = 0, FG_ASYNC = 1 };

/* fg_sim.c */
int fg_sim__init(struct fg_sim *sim, struct loop *loop, struct http_client *cli);
void fg_sim__free(struct fg_sim *sim);
int fg_sim__routes(struct fg_sim *sim, struct http_server *srv);
/* Completes an FG_ASYNC request (loop thread); takes resp->body. */
void fg_sim__finish(struct fg_req *r, struct fg_resp *resp);
void fg_sim__start_sweep(struct fg_sim *sim);
void fg_resp__json(struct fg_resp *resp, int status, cJSON *body); /* takes body */
void fg_resp__empty(struct fg_resp *resp, int status);
/* An empty body without a Content-Type (setPresence, clearPresence). */
void fg_resp__no_content_type(struct fg_resp *resp, int status);
/* Graph's error envelope {"error":{code,message,innerError{date,request-id,...}}} */
void fg_resp__graph_error(struct fg_resp *resp, int status, const char *code, const char *message);
void fg_sim__record_delivery(struct fg_sim *sim, cJSON *d); /* takes d */
cJSON *fg_sim__parse_json(const struct fg_req *r);          /* NULL on empty/invalid */
int64_t fg_sim__now(void);                                  /* wall ms */
/* Both ids reset /_sim/reset. */
void fg_sim__reset(struct fg_sim *sim);

/* The base URL the caller reached us by: X-Forwarded-Proto (https when a
 * TLS-terminating front says so, else http) + the Host header. */
void fg_sim__base_url(const struct fg_req *r, char *buf, size_t len);

/* fg_oidc.c: /{tenant}/v2.0/.well-known/openid-configuration, the JWKS,
 * instance discovery. */
int fg_oidc__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp);
/* GET /common/userrealm/{username}: MSAL's user realm discovery. */
int fg_oidc__realm(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                   const char *username);

/* fg_oauth.c: POST /{tenant}/oauth2/v2.0/token */
int fg_oauth__token(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp, const char *tenant);
/* Microsoft identity error body; status from the code (400/401). */
void fg_oauth__error(struct fg_resp *resp, int aadsts, const char *detail);
/* Same with another `error` (e.g. invalid_tenant from the discovery documents). */
void fg_oauth__error_as(struct fg_resp *resp, int aadsts, const char *detail, const char *error);

/* fg_access.c: access tokens (signed JWTs with `roles` or `scp`) and the
 * permission checks of Graph calls (docs/graph.md, "Permissions"). */
enum fg_need { FG_NEED_USERS, FG_NEED_PRESENCE_READ, FG_NEED_PRESENCE_WRITE };
/* Signs t (its kind, tenant, client, expiry) with the app's consented
 * permissions; u: the signed-in user of a delegated token. 0 or -1. */
int fg_access__sign(struct fg_sim *sim, struct fg_token *t, const struct fg_app *app,
                    const struct fg_user *u);
/* The first Graph scope of a requested `scope` the app has no consent for
 * (copied to buf), or NULL. OpenID scopes are not permissions. */
const char *fg_access__missing_scope(const struct fg_app *app, const char *requested, char *buf,
                                     size_t len);
/* The token answer's `scope`: the consented scopes as resource URIs. */
char *fg_access__scope_answer(const struct fg_app *app);
/* 0, or a 403 in resp and -1 when r's app token lacks the permission. */
int fg_access__require(struct fg_req *r, struct fg_resp *resp, enum fg_need need);

/* fg_graph.c: everything under /v1.0 except subscriptions. */
int fg_graph__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                    const char *sub_path);
/* Bearer check. Returns 0 and sets r->token, or fills a 401 and returns -1. */
int fg_graph__auth(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp);
/* Presence JSON of a user (Graph's shape, with sequenceNumber). */
cJSON *fg_graph__presence_json(const struct fg_user *u, bool context);
/* After any session change: recompute and notify on change. */
void fg_graph__user_touched(struct fg_sim *sim, struct fg_user *u);

/* fg_subs.c: /v1.0/subscriptions... */
int fg_subs__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                   const char *sub_path);
cJSON *fg_subs__json(const struct fg_sub *s, bool with_client_state);

/* fg_notify.c */
void fg_notify__user_changed(struct fg_sim *sim, const struct fg_user *u);
int fg_notify__lifecycle(struct fg_sim *sim, struct fg_sub *s, const char *event);
/* POSTs a given body (e.g. from the conformance corpus) to the
 * subscription's notification (or lifecycle) URL: every item that has an
 * encryptedContent gets presence encrypted with the subscription's
 * certificate, and validationTokens, when present, become real ones. */
int fg_notify__deliver(struct fg_sim *sim, const struct fg_sub *s, const cJSON *body,
                       const cJSON *presence, bool lifecycle);
void fg_notify__clear(struct fg_sim *sim);

/* fg_control.c: /_sim/... */
int fg_control__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                      const char *sub_path);

/* fg_faults.c: thread-safe fault table. */
struct fg_faults *fg_faults__new(void);
void fg_faults__free(struct fg_faults *f);
/* Adds a fault from its JSON description; returns 0 or -1 with *err. */
int fg_faults__add(struct fg_faults *f, const cJSON *spec, const char **err);
/* Takes one use of the first fault matching method + path prefix. */
struct fg_fault_hit fg_faults__take(struct fg_faults *f, const char *method, const char *path);
cJSON *fg_faults__json(struct fg_faults *f);
void fg_faults__clear(struct fg_faults *f);
/* "Retry-After: N\r\n", a static string for http_response.extra_headers. */
const char *fg_faults__retry_header(struct fg_faults *f, int seconds);
/* Fills resp with the fault's error (identity-platform shape for token
 * endpoint paths, Graph's envelope otherwise). */
void fg_faults__respond(const struct fg_fault_hit *hit, const char *path, struct fg_resp *resp);

#endif
