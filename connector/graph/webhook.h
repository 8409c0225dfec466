/* The Graph webhook (docs/graph.md "Webhook" and "What Graph sends"):
 * POST /graph/notify/<tenant> and POST /graph/lifecycle/<tenant>, for every
 * tenant added.
 *
 * On the libwebsockets thread only what cannot wait: the validation
 * handshake is answered there (200, text/plain, the URL-decoded token), and
 * a notification body is copied onto the worker queue and answered 202 at
 * once, before anything is checked, so Graph never sees a slow endpoint (and
 * a forger learns nothing). A full queue is answered 503 with Retry-After so
 * that Graph delivers again later. An unknown tenant is answered 404 at
 * once: it names no subscription of ours.
 *
 * On a decryption worker: parse, then per item find its user, check the
 * tenant (always the GUID, identity.h), the clientState of the subscription
 * it names (subscriptions.h, constant time), for rich items the
 * validationTokens (against the keys identity.h holds; a worker never waits
 * for them) and decrypt. Every failed check drops the item and counts it in
 * notifications_total{outcome}; an item that is ours but cannot be verified
 * yet is read instead, so nothing is lost.
 *
 * On the loop thread: what passed is applied (resync__apply), ids are read
 * (resync__read_ids), lifecycle events go to subscriptions__lifecycle.
 *
 * Threads: webhook__add_tenant and webhook__routes before the HTTP server
 * starts; afterwards the tenants are read-only for the libwebsockets thread
 * and the workers. webhook__stop joins the workers (nothing is posted to the
 * loop after it); POSTs that still arrive before the HTTP server stops are
 * answered 503, so Graph delivers them again. */
#ifndef PS_GRAPH_WEBHOOK_H
#define PS_GRAPH_WEBHOOK_H

#include <stddef.h>

struct loop;
struct http_server;
struct notify_key_store;
struct graph_identity;
struct graph_resync;
struct graph_subscriptions;
struct graph_users;
struct graph_webhook;

#define WEBHOOK_QUEUE_MAX 10000 /* notification POSTs waiting for a worker */

/* What the webhook needs of one tenant; every pointer is borrowed and
 * outlives the webhook. */
struct webhook_tenant {
    const char *name;
    const char *client_id;         /* the audience of validationTokens */
    struct notify_key_store *keys; /* NULL: basic notifications */
    struct graph_identity *identity;
    struct graph_subscriptions *subs;
    struct graph_users *users;
    struct graph_resync *resync;
};

/* workers 0: one per core. NULL when out of memory. */
struct graph_webhook *webhook__new(struct loop *loop, size_t workers);
/* Before webhook__routes. 0 or -1. */
int webhook__add_tenant(struct graph_webhook *w, const struct webhook_tenant *t);
/* Adds both routes; their body limit is the larger of max_body_bytes and
 * what 1000 items of a 650-user subscription may take. 0 or -1. */
int webhook__routes(struct graph_webhook *w, struct http_server *srv, size_t max_body_bytes);
size_t webhook__workers(const struct graph_webhook *w);
/* Loop thread: joins the workers; nothing is queued or applied afterwards. */
void webhook__stop(struct graph_webhook *w);
void webhook__free(struct graph_webhook *w);

#endif
