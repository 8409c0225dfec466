/* OAuth2 tokens for Graph (docs/graph.md "Sign-in"): the app token
 * (client_credentials) or one service account's delegated token (ROPC, then
 * refresh_token). Built from {token_url, client_id, secret} and, for an
 * account, {username, password}; the Graph client (graph_client.h) keeps one per
 * tenant and account. Loop thread only. */
#ifndef PS_GRAPH_TOKENS_H
#define PS_GRAPH_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/loop.h"

struct http_client;
struct cJSON;

/* bearer: the token. bearer NULL and error NULL: stopping. bearer NULL and
 * error set: the sign-in is failing (only for waiters that asked to be told,
 * see tokens__get). */
typedef void (*gtoken_fn)(void *ctx, const char *bearer, const char *error);

struct gwaiter {
    gtoken_fn fn;
    void *ctx;
    bool fail_fast;
    struct gwaiter *next;
};

/* What a token is made from; every string is borrowed and must outlive it
 * (the running config). */
struct gtoken_config {
    struct loop *loop;
    struct http_client *http;
    const char *tenant;    /* for logs and metric labels */
    const char *token_url; /* {login}/{tenant_id}/oauth2/v2.0/token */
    const char *client_id;
    const char *secret;
    const char *username; /* NULL: the app token (client_credentials) */
    const char *password;
    /* Called when the state shown in B/health changed (ok <-> error). */
    void (*on_state)(void *ctx);
    void *state_ctx;
};

struct gtoken {
    struct gtoken_config c;
    bool stopping;
    char *access;
    char *refresh;
    int64_t expires_mono;
    bool in_flight;
    bool with_refresh;   /* the request in flight is a refresh_token grant */
    loop_timer_id timer; /* proactive refresh, or retry after a failure */
    bool retry_pending;
    struct backoff bo;
    struct gwaiter *waiters;
    /* for B/health */
    const char *state; /* "pending", "ok", "error" */
    int aadsts;
    char error[64];
    const char *explanation;
    int64_t error_wall_ms;
    int failures;
};

void tokens__init(struct gtoken *tok, const struct gtoken_config *c);
/* Calls fn(ctx, bearer, NULL) now when a valid token is held, else when one
 * is. fail_fast: while the sign-in is failing (a retry is scheduled), fn is
 * called at once with the reason instead of waiting for the retry. */
void tokens__get(struct gtoken *tok, gtoken_fn fn, void *ctx, bool fail_fast);
/* The token held, when still valid; else NULL. */
const char *tokens__current(const struct gtoken *tok);
/* Graph said 401 for `used` (NULL: whatever is held): drop it if current. */
void tokens__invalidate(struct gtoken *tok, const char *used);
/* Releases waiters with NULL and cancels timers (stop). */
void tokens__stop(struct gtoken *tok);
void tokens__free(struct gtoken *tok);
/* "app" or the account's username. */
const char *tokens__who(const struct gtoken *tok);
bool tokens__failing(const struct gtoken *tok);
/* The plain explanation of an AADSTS code, or NULL. Pure. */
const char *tokens__explain(int aadsts);
/* AADSTS code of an identity-platform error body (error_codes[0], else
 * "AADSTSnnn" in error_description); 0 when none. Copies `error` into err. */
int tokens__parse_error(const char *body, char *err, size_t errlen);
/* application/x-www-form-urlencoded body from name/value pairs (NULL value:
 * skipped); every value percent-encoded. malloc'd. */
char *tokens__form(const char *const *pairs, size_t n_pairs);
struct cJSON *tokens__status_json(const struct gtoken *tok);

#endif
