/* Presence subscriptions of one tenant (docs/graph.md "Subscriptions"): one
 * per service account (Graph allows one per user and app), at most 650
 * users each, made with that account's delegated token.
 *
 * Per account: when this process starts writing for the tenant (its role,
 * docs/ha.md) the account's existing subscriptions of this app are listed;
 * one with our notificationUrl and users is adopted, the others deleted;
 * then, when none was adopted, one is created. GET does not return
 * clientState, so the clientState is derived from the client secret, the
 * tenant, the account and the notificationUrl (subscriptions__client_state):
 * every instance with one configuration makes the same, and can check the
 * notifications of a subscription another one created. Without a client
 * secret it is random and nothing is adopted. It is renewed at half of the
 * time left of the expirationDateTime Graph granted, recreated when Graph
 * says 404 or removes it, reauthorized on `reauthorizationRequired`. Graph
 * never reports the presence changes a subscription missed, so after every
 * (re)creation and on `missed` the module asks for a resync through
 * want_resync (the composition root passes it on to resync.c).
 *
 * Threads: everything runs on the loop thread except subscriptions__check,
 * which the webhook's decryption workers call: it reads the registry of live
 * subscription ids and clientStates, which the loop writes under a mutex. */
#ifndef PS_GRAPH_SUBSCRIPTIONS_H
#define PS_GRAPH_SUBSCRIPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct loop;
struct graph_client_tenant;
struct graph_config;
struct graph_ready;
struct graph_status;
struct graph_subscriptions;
struct notify_key_store;
struct role;

#define SUBSCRIPTIONS_CLIENT_STATE_LEN 64 /* hex of 32 random bytes; Graph allows 128 */
#define SUBSCRIPTIONS_LIFETIME_MS      (55LL * 60 * 1000) /* asked for; Graph allows 60 min */

struct graph_subscriptions_options {
    struct loop *loop;
    struct graph_client_tenant *client;
    const char *tenant;               /* borrowed */
    const struct graph_config *graph; /* the service accounts; borrowed */
    const char *notify_url;           /* borrowed */
    const char *lifecycle_url;        /* borrowed */
    struct notify_key_store *keys;    /* NULL: basic notifications */
    const char *cert_id;              /* the certificate's id in keys */
    int64_t renew_ms;                 /* > 0: renew at least this often */
    struct graph_status *status;
    void (*want_resync)(void *ctx, const char *reason);
    void *ctx;
    const char *state_key;   /* the client secret (NULL: random clientStates) */
    bool standby;            /* starts not writing (role/role.h); false: a process alone */
    const struct role *role; /* NULL: a process alone */
    /* A standby hands the lifecycle events it verified to the active
     * instance (docs/ha.md "Lifecycle events"); NULL: a process alone. */
    void (*forward_lifecycle)(void *ctx, const char *sub_id, const char *event);
    /* The active instance publishes the fingerprints of the clientStates of
     * the subscriptions it holds (payload: see subscriptions__known), and an
     * instance that takes over adopts only a subscription whose fingerprint
     * matches (docs/ha.md "Client secret rotation"); NULL: a process alone,
     * which adopts without it. */
    void (*publish_fingerprints)(void *ctx, const char *payload);
};

struct graph_subscriptions *subscriptions__new(const struct graph_subscriptions_options *o);
/* Splits ids (the resolved users) over the accounts; (re)creates what
 * changed. The ids are copied. */
void subscriptions__plan(struct graph_subscriptions *s, char *const *ids, size_t n);
/* A lifecycle event for subscription sub_id (its clientState was checked).
 * A standby forwards it to the active instance (and answers `missed` with
 * its own resync too). */
void subscriptions__lifecycle(struct graph_subscriptions *s, const char *sub_id, const char *event);
/* A lifecycle event another instance forwarded (its tenant checked): acted
 * on as one received here when this instance writes; otherwise, or for a
 * subscription this instance does not hold (a duplicate), ignored. */
void subscriptions__lifecycle_forwarded(struct graph_subscriptions *s, const char *sub_id,
                                        const char *event);
/* Any thread: 1 the clientState is the subscription's, 0 it is not, -1 no
 * live subscription has that id. Constant time in the clientState. */
int subscriptions__check(struct graph_subscriptions *s, const char *sub_id,
                         const char *client_state);

/* The B/health part (graph_status.h): "subscriptions" [{account, state, users,
 * id, expires, error}]; not ready while an account with users has no live
 * subscription. Sets graph_subscriptions and
 * graph_subscription_expiry_timestamp_seconds. */
void subscriptions__status(void *ctx, struct cJSON *section, struct graph_ready *r);

/* This process started (writes) or stopped writing for the tenant: a
 * takeover lists and adopts, a loss stops renewing (nothing is deleted). */
void subscriptions__set_writes(struct graph_subscriptions *s, bool writes);

/* Cancels the timers; answers in flight are dropped. */
void subscriptions__stop(struct graph_subscriptions *s);
void subscriptions__free(struct graph_subscriptions *s);

/* The retained fingerprints another (or this) instance published for the
 * tenant: {"tenant":..,"subscriptions":{"<id>":"<fingerprint>",..}}. A
 * payload of another tenant or a malformed one is refused (-1); empty: none
 * known. Ignored (0) while this instance writes: it is their publisher. */
int subscriptions__known(struct graph_subscriptions *s, const char *payload, size_t len);

/* ---- pure (unit-tested; the resource is subscription__resource) ---- */

/* out (SUBSCRIPTIONS_CLIENT_STATE_LEN + 1 bytes): the hex HMAC-SHA256 of
 * tenant, account and notify_url under key. 0, or -1 (out ""). */
int subscriptions__client_state(const char *key, const char *tenant, const char *account,
                                const char *notify_url, char *out);

/* Splits n users over n_accounts as evenly as possible: first/count of
 * account a. */
/* The fingerprint of a clientState published instead of it: the first 16
 * hex digits of its SHA-256. out: SUBSCRIPTIONS_FINGERPRINT_LEN + 1. */
#define SUBSCRIPTIONS_FINGERPRINT_LEN 16
int subscriptions__fingerprint(const char *client_state, char *out);
void subscriptions__split(size_t n, size_t n_accounts, size_t a, size_t *first, size_t *count);

#endif
