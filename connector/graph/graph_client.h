/* The process's one Graph client (docs/graph.md "The Graph client"), shared
 * by the Graph side and the presence writer:
 *  - per tenant the app token (client_credentials) and, when the Graph side
 *    runs, each service account's delegated token (tokens.h);
 *  - calls that carry a token; a 401 drops that token, fetches a new one and
 *    sends the request again at once (once), whatever backoff the caller is
 *    in;
 *  - one presence-request budget per tenant (ratelimit.h): every presence
 *    request of the process (getPresencesByUserId, presence GET/set/clear,
 *    each of them inside a $batch) waits for its units; a 429/503/504 to one
 *    of them, or to an item of a $batch, blocks the budget until its
 *    Retry-After (seconds or an HTTP date; 1 s when absent) has passed;
 *  - one metric family: graph_requests_total{tenant,kind,status},
 *    graph_presence_requests_total{tenant}, graph_throttled_total{tenant},
 *    graph_token_*_total;
 *  - the token state ("auth") for B/health: the Graph side puts it into its
 *    section; without the Graph side (a mapper-only process) the client
 *    publishes a "graph" section of its own.
 * The client sends each request once (plus the 401 retry): callers decide
 * about retries. Loop thread only. */
#ifndef PS_GRAPH_GRAPH_CLIENT_H
#define PS_GRAPH_GRAPH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct http_client;
struct config;
struct cJSON;
struct gtoken;
struct graph_client;
struct graph_client_tenant;

/* Graph's presence limit: 1,500 requests per 30 s per app per tenant. */
#define GRAPH_PRESENCE_LIMIT     1500
#define GRAPH_PRESENCE_WINDOW_MS 30000

struct graph_client_options {
    struct loop *loop;
    struct http_client *http;
    const struct config *cfg; /* tenants; the strings are borrowed */
    bool accounts;            /* delegated tokens for the service accounts */
    size_t budget;            /* presence requests per window and tenant */
    int64_t window_ms;
};

struct graph_client *graph_client__new(const struct graph_client_options *o);
/* Publishes the initial token state (a client without the Graph side). */
void graph_client__start(struct graph_client *gc);
/* Fails queued requests as aborted, stops the tokens. Requests in flight
 * complete as aborted when their answer (or the HTTP client's stop) comes. */
void graph_client__stop(struct graph_client *gc);
void graph_client__free(struct graph_client *gc);

/* The tenant named name, or NULL. */
struct graph_client_tenant *graph_client__tenant(struct graph_client *gc, const char *name);
const char *graph_client__name(const struct graph_client_tenant *t);
const char *graph_client__client_id(const struct graph_client_tenant *t);
/* The app token; account i's delegated token (NULL without accounts). */
struct gtoken *graph_client__app(struct graph_client_tenant *t);
struct gtoken *graph_client__account(struct graph_client_tenant *t, size_t i);

/* Token state changes of any tenant go to fn(ctx, tenant) instead of the
 * client's own B/health section (the Graph side includes the state in its
 * section: graph_client__auth_json). fn NULL: back to the client's own. */
void graph_client__on_status(struct graph_client *gc, void (*fn)(void *ctx, const char *tenant),
                             void *ctx);
/* {"app":{...},"accounts":[...],"state":"ok"|"error"}; *ok: no token failing. */
struct cJSON *graph_client__auth_json(const struct graph_client_tenant *t, bool *ok);

struct graph_request {
    const char *method;
    const char *path;     /* below the API root, e.g. "/$batch"; or NULL, then url */
    const char *url;      /* absolute */
    const char *body;     /* JSON, or NULL */
    struct gtoken *token; /* NULL: the app token */
    unsigned units;       /* presence requests Graph counts for it; 0: not metered */
    int64_t timeout_ms;   /* 0: the client's (30 s, graph_client__set_timeout) */
    bool fail_fast;       /* while the sign-in fails, fail at once (status 0, error set) */
};

struct graph_response {
    bool aborted; /* stopping: nothing else is set */
    int status;   /* HTTP status; 0: no answer (error says why) */
    const char *body;
    size_t body_len;
    int64_t retry_after_ms; /* Retry-After of the answer, -1 absent */
    const char *error;      /* transport or sign-in error, or NULL */
};

/* The timeout of requests that name none (default 30 s); tests shorten it
 * instead of waiting for a hung reply. */
void graph_client__set_timeout(struct graph_client *gc, int64_t ms);

/* res is valid during the call only. */
typedef void (*graph_response_fn)(void *ctx, const struct graph_response *res);

/* Sends req (copied). Returns 0: done runs later, exactly once; -1 (bad
 * request, stopping, out of memory): done is never called. */
int graph_client__send(struct graph_client_tenant *t, const struct graph_request *req,
                       graph_response_fn done, void *ctx);
/* A presence request answered 429/503/504 inside a $batch: metered requests
 * wait retry_after_ms (< 0: 1 s). */
void graph_client__throttled(struct graph_client_tenant *t, int64_t retry_after_ms);
/* Whether the tenant's presence budget is tight: less than half of it free
 * in the window, or requests waiting for it. Readers then gather ids for a
 * moment (GRAPH_READ_GATHER_MS) so that many users share one request. */
bool graph_client__budget_tight(struct graph_client_tenant *t);
#define GRAPH_READ_GATHER_MS 250

/* The kind label of a request path (below the API root): "batch",
 * "presences" (getPresencesByUserId), "presence", "subscriptions", "users",
 * "other". Pure. */
const char *graph_client__kind(const char *path);
/* The per-process budget for roles (CONFIG_ROLE_*): the whole 1,500 when the
 * Graph side and the mapper share the process; split 100/1,400 between a
 * graph process and a mapper process of a split deployment (one budget
 * cannot be shared across processes). Pure. */
size_t graph_client__budget_for(unsigned roles);

#endif
