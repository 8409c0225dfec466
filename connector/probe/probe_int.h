/* What the probe's parts share (probe.c runs them in order: Graph,
 * webhook, Voice, write test per tenant, then MQTT). Each part runs the
 * loop itself while it waits (probe__wait), so it reads top to bottom; the
 * loop thread is the main thread throughout. */
#ifndef PS_PROBE_INT_H
#define PS_PROBE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe/probe.h"
#include "probe/report.h"

struct config;
struct tenant_config;
struct loop;
struct http_client;
struct graph_client;
struct graph_client_tenant;
struct recorder;
struct voice_rest;

struct probe {
    const struct config *cfg;
    const struct probe_options *opt;
    struct loop *loop;
    struct http_client *http;
    struct graph_client *gc;
    struct probe_report *report;
    struct recorder *rec; /* NULL without --capture */
    bool interrupted;     /* SIGINT/SIGTERM: skip what is left, clean up */
    struct probe_deferred *deferred;
};

/* Frees ptr with fn at the end, after the last completions ran (for state
 * that an abandoned request may still complete into). Newest first. */
void probe__defer(struct probe *p, void (*fn)(void *), void *ptr);

/* What one tenant's checks learnt, for the parts after them. */
struct probe_tenant {
    const struct tenant_config *tc;
    struct graph_client_tenant *ct;
    bool app_ok;      /* the app token works */
    bool *account_ok; /* per service account: its token works */
    char **ids;       /* per configured user: the object id, NULL when not found */
    size_t n_found;
    /* Voice: the REST session when sign-in worked, and the user map */
    struct voice_rest *rest;
    char **voice_ids; /* per configured user: the Voice user id, NULL when missing */
    size_t n_voice;
};

/* One answer, copied for the part that asked (probe__graph, probe__http,
 * probe__voice). error: why there is no answer (status 0). */
struct probe_answer {
    int status;
    char *body; /* NUL-terminated, "" when empty; NULL without an answer */
    size_t body_len;
    char *error;
    int64_t retry_after_ms;
    double elapsed_ms;
};
void probe_answer__free(struct probe_answer *a);

struct graph_request;
struct http_call;
/* Send one request and wait for its answer (at most timeout_ms). They
 * return true when an answer (any status) came; otherwise out->error says
 * why. A late answer is dropped safely. */
bool probe__graph(struct probe *p, struct graph_client_tenant *ct, const struct graph_request *req,
                  int64_t timeout_ms, struct probe_answer *out);
bool probe__http(struct probe *p, const struct http_call *call, int64_t timeout_ms,
                 struct probe_answer *out);
bool probe__voice(struct probe *p, struct voice_rest *rest, const char *method, const char *path,
                  int64_t timeout_ms, struct probe_answer *out);
/* The same for any other asynchronous HTTP call: hand probe_pending__http
 * and a probe_pending__new() as its callback and context, then wait (or,
 * when the call could not be sent, probe_pending__not_sent). */
struct probe_pending;
struct http_result;
struct probe_pending *probe_pending__new(void);
void probe_pending__http(void *ctx, const struct http_result *res);
bool probe_pending__wait(struct probe *p, struct probe_pending *w, int64_t timeout_ms,
                         struct probe_answer *out);
bool probe_pending__not_sent(struct probe_pending *w, struct probe_answer *out);

/* A readable reason for a failed answer: "HTTP 403 Forbidden: message"
 * (Graph's or the identity platform's error) or the transport error. */
const char *probe__reason(const struct probe_answer *a, char *buf, size_t len);

/* Runs the loop until *done, timeout_ms has passed or the probe was
 * interrupted (cleanup: true ignores the interrupt). Returns *done. */
bool probe__wait(struct probe *p, const bool *done, int64_t timeout_ms);
bool probe__wait_cleanup(struct probe *p, const bool *done, int64_t timeout_ms);
/* Sleeps for ms while the loop runs (listening). */
void probe__run_for(struct probe *p, int64_t ms);

/* The parts. */
void probe_graph__run(struct probe *p, struct probe_tenant *t);
void probe_webhook__run(struct probe *p, struct probe_tenant *t);
void probe_voice__run(struct probe *p, struct probe_tenant *t);
/* The RTE hub (voice_hub.c), after the REST sign-in: me is /users/me's id. */
void probe_hub__run(struct probe *p, struct probe_tenant *t, const char *me);
void probe_write__run(struct probe *p, struct probe_tenant *t);
void probe_mqtt__run(struct probe *p);

/* The fix for an AADSTS code, for people (probe/graph.c). */
const char *probe_graph__fix(int aadsts);

#endif
