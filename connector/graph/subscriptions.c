/* Presence subscriptions of one tenant, one per service account; see
 * subscriptions.h. The per-account state machine is subscription.c. */
#include "graph/subscriptions.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "graph/notify_crypto.h"
#include "graph/graph_status.h"
#include "graph/subscription.h"

/* What the webhook's workers check, per account; under reg_lock. */
struct subscriptions_reg {
    char sub_id[GRAPH_ID_MAX + 1];
    char client_state[SUBSCRIPTIONS_CLIENT_STATE_LEN + 1];
};

struct graph_subscriptions {
    struct subscription_env env;
    void (*want_resync)(void *ctx, const char *reason);
    void (*forward_lifecycle)(void *ctx, const char *sub_id, const char *event);
    void (*publish_fingerprints)(void *ctx, const char *payload);
    cJSON *known; /* the retained fingerprints: {"<id>":"<fingerprint>"} */
    void *ctx;
    struct subscription *subs; /* one per account */
    size_t n;
    pthread_mutex_t reg_lock;
    struct subscriptions_reg *reg; /* per account */
    atomic_bool standby;           /* for the workers: env.writes is false */
};

int subscriptions__client_state(const char *key, const char *tenant, const char *account,
                                const char *notify_url, char *out)
{
    out[0] = '\0';
    if (!key || !*key || !tenant || !account || !notify_url)
        return -1;
    /* the account compares case-insensitively everywhere */
    char *msg = malloc(strlen(tenant) + strlen(account) + strlen(notify_url) + 64);
    if (!msg)
        return -1;
    int n = sprintf(msg, "presence-sync clientState\n%s\n", tenant);
    for (const char *p = account; *p; p++)
        msg[n++] = (char)tolower((unsigned char)*p);
    n += sprintf(msg + n, "\n%s", notify_url);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    bool ok = HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, (size_t)n, mac,
                   &len) != NULL &&
              len * 2 == SUBSCRIPTIONS_CLIENT_STATE_LEN;
    free(msg);
    if (!ok)
        return -1;
    for (unsigned int i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

int subscriptions__fingerprint(const char *client_state, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    out[0] = '\0';
    if (!client_state || !*client_state ||
        EVP_Digest(client_state, strlen(client_state), md, &len, EVP_sha256(), NULL) != 1)
        return -1;
    for (unsigned int i = 0; i < SUBSCRIPTIONS_FINGERPRINT_LEN / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

void subscriptions__split(size_t n, size_t n_accounts, size_t a, size_t *first, size_t *count)
{
    if (n_accounts == 0 || a >= n_accounts) {
        *first = *count = 0;
        return;
    }
    size_t base = n / n_accounts, extra = n % n_accounts;
    *first = a * base + (a < extra ? a : extra);
    *count = base + (a < extra ? 1 : 0);
}

/* ---- the registry for the workers ------------------------------------------------------ */

/* The active instance's fingerprints, retained (docs/ha.md). Loop thread:
 * the registry is written only here. */
static void subscriptions__publish(struct graph_subscriptions *s)
{
    if (!s->publish_fingerprints || !s->env.writes)
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "tenant", s->env.tenant);
    cJSON *map = cJSON_AddObjectToObject(j, "subscriptions");
    for (size_t a = 0; a < s->n; a++) {
        char fp[SUBSCRIPTIONS_FINGERPRINT_LEN + 1];
        if (s->reg[a].sub_id[0] && subscriptions__fingerprint(s->reg[a].client_state, fp) == 0)
            cJSON_AddStringToObject(map, s->reg[a].sub_id, fp);
    }
    char *payload = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (payload)
        s->publish_fingerprints(s->ctx, payload);
    free(payload);
}

static void subscriptions__on_live(void *ctx, size_t account, const char *id,
                                   const char *client_state)
{
    struct graph_subscriptions *s = ctx;
    struct subscriptions_reg *g = &s->reg[account];
    pthread_mutex_lock(&s->reg_lock);
    snprintf(g->sub_id, sizeof(g->sub_id), "%s", id);
    snprintf(g->client_state, sizeof(g->client_state), "%s", client_state);
    pthread_mutex_unlock(&s->reg_lock);
    subscriptions__publish(s);
}

int subscriptions__known(struct graph_subscriptions *s, const char *payload, size_t len)
{
    /* What the holder published is read while this instance does not
     * write: an active one's own echo (with several accounts, published
     * while others are still being listed) must not hide the fingerprints
     * the previous holder left for them. */
    if (s->env.writes)
        return 0;
    if (len == 0) { /* cleared */
        cJSON_Delete(s->known);
        s->known = NULL;
        return 0;
    }
    cJSON *j = json__parse(payload, len);
    const char *tenant = json__str(j, "tenant");
    bool ours = tenant && strcmp(tenant, s->env.tenant) == 0;
    cJSON *map = cJSON_DetachItemFromObjectCaseSensitive(j, "subscriptions");
    cJSON_Delete(j);
    if (!ours || !cJSON_IsObject(map)) {
        cJSON_Delete(map);
        return -1;
    }
    cJSON_Delete(s->known);
    s->known = map;
    return 0;
}

/* A listed subscription otherwise ours is adopted only when the active
 * instance that held it published the fingerprint of the clientState this
 * one derives: after a client secret rotation Graph would keep sending the
 * old one, which this instance refuses (docs/ha.md). */
static bool subscriptions__adoptable(void *ctx, const char *id, const char *client_state)
{
    struct graph_subscriptions *s = ctx;
    if (!s->publish_fingerprints)
        return true;
    char fp[SUBSCRIPTIONS_FINGERPRINT_LEN + 1];
    const char *known = json__str(s->known, id);
    bool ok = known && subscriptions__fingerprint(client_state, fp) == 0 && !strcmp(known, fp);
    if (!ok)
        LOG_INFO("graph", "subscription not adopted, replacing it tenant=%s id=%s reason=\"%s\"",
                 s->env.tenant, id,
                 known ? "its clientState differs from ours (client secret rotated?)"
                       : "no fingerprint of its clientState known");
    return ok;
}

int subscriptions__check(struct graph_subscriptions *s, const char *sub_id,
                         const char *client_state)
{
    int rc = -1;
    pthread_mutex_lock(&s->reg_lock);
    for (size_t i = 0; i < s->n && rc < 0; i++) {
        if (s->reg[i].sub_id[0] && strcasecmp(s->reg[i].sub_id, sub_id) == 0)
            rc = notify_crypto__client_state_equal(client_state, s->reg[i].client_state) ? 1 : 0;
    }
    pthread_mutex_unlock(&s->reg_lock);
    /* A standby does not know the ids the active instance created; their
     * clientState, derived from the shared configuration, authenticates
     * them (docs/ha.md "Reads everywhere"). derived_state is set at
     * creation and never changed. */
    for (size_t i = 0; rc < 0 && atomic_load(&s->standby) && i < s->n; i++)
        if (s->subs[i].derived_state[0] &&
            notify_crypto__client_state_equal(client_state, s->subs[i].derived_state))
            rc = 1;
    return rc;
}

static void subscriptions__want_resync(void *ctx, const char *reason)
{
    struct graph_subscriptions *s = ctx;
    if (s->want_resync)
        s->want_resync(s->ctx, reason);
}

/* ---- plan and lifecycle ------------------------------------------------------------------ */

static int subscriptions__cmp_str(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

void subscriptions__plan(struct graph_subscriptions *s, char *const *ids, size_t n)
{
    char **all = malloc((n ? n : 1) * sizeof(*all));
    if (!all)
        return;
    memcpy(all, ids, n * sizeof(*all));
    qsort(all, n, sizeof(*all), subscriptions__cmp_str);
    for (size_t a = 0; a < s->n; a++) {
        size_t first, count;
        subscriptions__split(n, s->n, a, &first, &count);
        subscription__plan(&s->subs[a], all + first, count);
    }
    free(all);
    graph_status__changed(s->env.status);
}

void subscriptions__set_writes(struct graph_subscriptions *s, bool writes)
{
    if (s->env.writes == writes)
        return;
    s->env.writes = writes;
    atomic_store(&s->standby, !writes);
    LOG_INFO("graph", "subscriptions %s tenant=%s accounts=%zu",
             writes ? "taken over (listing, adopting ours)" : "left to the active instance",
             s->env.tenant, s->n);
    bool holds = false;
    for (size_t a = 0; a < s->n; a++) {
        subscription__role(&s->subs[a]);
        holds = holds || s->subs[a].state == SUBSCRIPTION_ACTIVE;
    }
    /* the end of a fence (a broker restart, which may have lost the retained
     * fingerprints): what this instance still holds, published again */
    if (writes && holds)
        subscriptions__publish(s);
    graph_status__changed(s->env.status);
}

static struct subscription *subscriptions__held(struct graph_subscriptions *s, const char *sub_id)
{
    for (size_t a = 0; a < s->n; a++) {
        struct subscription *sub = &s->subs[a];
        if (sub->state == SUBSCRIPTION_ACTIVE && strcasecmp(sub->id, sub_id) == 0)
            return sub;
    }
    return NULL;
}

void subscriptions__lifecycle(struct graph_subscriptions *s, const char *sub_id, const char *event)
{
    if (!s->env.writes && s->forward_lifecycle) {
        /* the active instance holds the subscription (docs/ha.md) */
        LOG_INFO("graph",
                 "lifecycle event forwarded to the active instance tenant=%s id=%s event=%s",
                 s->env.tenant, sub_id, event);
        s->forward_lifecycle(s->ctx, sub_id, event);
        if (strcasecmp(event, "missed") == 0 && s->want_resync)
            s->want_resync(s->ctx, "missed");
        return;
    }
    struct subscription *sub = subscriptions__held(s, sub_id);
    if (sub) {
        subscription__lifecycle(sub, event);
        return;
    }
    LOG_INFO("graph", "lifecycle event for an unknown subscription tenant=%s id=%s event=%s",
             s->env.tenant, sub_id, event);
}

void subscriptions__lifecycle_forwarded(struct graph_subscriptions *s, const char *sub_id,
                                        const char *event)
{
    struct subscription *sub = s->env.writes ? subscriptions__held(s, sub_id) : NULL;
    if (!sub) {
        LOG_DEBUG("graph", "forwarded lifecycle event ignored tenant=%s id=%s event=%s reason=%s",
                  s->env.tenant, sub_id, event, s->env.writes ? "not held" : "standby");
        return;
    }
    LOG_INFO("graph", "forwarded lifecycle event tenant=%s id=%s event=%s", s->env.tenant, sub_id,
             event);
    subscription__lifecycle(sub, event);
}

/* ---- status and life cycle -------------------------------------------------------------- */

void subscriptions__status(void *ctx, cJSON *section, struct graph_ready *r)
{
    struct graph_subscriptions *s = ctx;
    cJSON *arr = cJSON_AddArrayToObject(section, "subscriptions");
    char labels[400];
    size_t live = 0;
    for (size_t a = 0; a < s->n; a++) {
        const struct subscription *sub = &s->subs[a];
        bool active = sub->state == SUBSCRIPTION_ACTIVE && sub->expires_wall_ms > 0;
        live += active;
        metrics__labels(labels, sizeof(labels), "tenant", s->env.tenant, "account", sub->username,
                        NULL);
        metrics__set("graph_subscription_expiry_timestamp_seconds", labels,
                     active ? (double)(sub->expires_wall_ms / 1000) : 0);
        cJSON_AddItemToArray(arr, subscription__json(sub));
        /* a standby holds none: the active instance does (docs/ha.md) */
        if (s->env.writes && sub->n_ids && sub->state != SUBSCRIPTION_ACTIVE)
            graph_status__not_ready(r, "subscriptions not live");
    }
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", s->env.tenant);
    metrics__set("graph_subscriptions", labels, (double)live);
}

struct graph_subscriptions *subscriptions__new(const struct graph_subscriptions_options *o)
{
    struct graph_subscriptions *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->env = (struct subscription_env){
        .loop = o->loop,
        .client = o->client,
        .tenant = o->tenant,
        .notify_url = o->notify_url,
        .lifecycle_url = o->lifecycle_url,
        .keys = o->keys,
        .cert_id = o->cert_id,
        .renew_ms = o->renew_ms,
        .status = o->status,
        .on_live = subscriptions__on_live,
        .want_resync = subscriptions__want_resync,
        .adoptable = subscriptions__adoptable,
        .ctx = s,
        .writes = !o->standby,
        .role = o->role,
    };
    atomic_init(&s->standby, o->standby);
    s->want_resync = o->want_resync;
    s->forward_lifecycle = o->forward_lifecycle;
    s->publish_fingerprints = o->publish_fingerprints;
    s->ctx = o->ctx;
    pthread_mutex_init(&s->reg_lock, NULL);
    size_t n = o->graph->n_accounts;
    s->subs = calloc(n ? n : 1, sizeof(*s->subs));
    s->reg = calloc(n ? n : 1, sizeof(*s->reg));
    if (!s->subs || !s->reg) {
        subscriptions__free(s);
        return NULL;
    }
    for (s->n = 0; s->n < n; s->n++) {
        struct subscription *sub = &s->subs[s->n];
        subscription__init(sub, &s->env, s->n, o->graph->accounts[s->n].username);
        subscriptions__client_state(o->state_key, o->tenant, sub->username, o->notify_url,
                                    sub->derived_state);
    }
    return s;
}

void subscriptions__stop(struct graph_subscriptions *s)
{
    s->env.stopping = true;
    for (size_t a = 0; a < s->n; a++)
        subscription__stop(&s->subs[a]);
}

void subscriptions__free(struct graph_subscriptions *s)
{
    if (!s)
        return;
    s->env.stopping = true;
    for (size_t a = 0; a < s->n; a++)
        subscription__free(&s->subs[a]);
    free(s->subs);
    free(s->reg);
    cJSON_Delete(s->known);
    pthread_mutex_destroy(&s->reg_lock);
    free(s);
}
