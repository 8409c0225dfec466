/* Configured addresses -> Azure AD object ids; see users.h. */
#include "graph/users.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/backoff.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/hmap.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "graph/graph_batch.h"
#include "graph/graph_client.h"
#include "graph/graph_status.h"

#define USERS_RETRY_BASE 2000
#define USERS_RETRY_MAX  (5 * 60 * 1000)

struct graph_users {
    struct graph_users_options o;
    struct graph_user *users;
    size_t n_users;
    struct graph_user **by_id; /* resolved users sorted by id */
    size_t n_by_id;
    bool resolving;
    bool resolve_again;
    int outstanding; /* batches of the round in flight (+1 while sending) */
    loop_timer_id timer;
    struct backoff bo;
    bool resolved_once;
    bool stopping;
};

struct graph_users *users__new(const struct graph_users_options *o)
{
    struct graph_users *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->o = *o;
    backoff__init(&u->bo, USERS_RETRY_BASE, USERS_RETRY_MAX);
    return u;
}

static char *users__topic(const struct graph_users *u, const char *upn)
{
    char id[IDS_MAX_ID];
    if (ids__encode(upn, id, sizeof(id)) < 0)
        return NULL;
    const char *prefix = u->o.topic_prefix ? u->o.topic_prefix : "";
    size_t n = strlen(prefix) + strlen(id) + 16;
    char *topic = malloc(n);
    if (topic)
        snprintf(topic, n, "%steams/%s/busy", prefix, id);
    return topic;
}

static int users__cmp_id(const void *a, const void *b)
{
    const struct graph_user *x = *(struct graph_user *const *)a;
    const struct graph_user *y = *(struct graph_user *const *)b;
    return strcasecmp(x->id, y->id);
}

static void users__index(struct graph_users *u)
{
    free(u->by_id);
    u->by_id = malloc((u->n_users ? u->n_users : 1) * sizeof(*u->by_id));
    u->n_by_id = 0;
    if (!u->by_id)
        return;
    for (size_t i = 0; i < u->n_users; i++) {
        if (u->users[i].state == USERS_FOUND)
            u->by_id[u->n_by_id++] = &u->users[i];
    }
    qsort(u->by_id, u->n_by_id, sizeof(*u->by_id), users__cmp_id);
}

struct graph_user *users__by_id(const struct graph_users *u, const char *id)
{
    struct graph_user key = {.id = (char *)id}, *kp = &key;
    struct graph_user **hit =
        u->by_id ? bsearch(&kp, u->by_id, u->n_by_id, sizeof(*u->by_id), users__cmp_id) : NULL;
    return hit ? *hit : NULL;
}

size_t users__count(const struct graph_users *u)
{
    return u->n_users;
}

size_t users__resolved(const struct graph_users *u, struct graph_user *const **out)
{
    *out = u->by_id;
    return u->n_by_id;
}

static void users__free_one(struct graph_user *x)
{
    free(x->upn);
    free(x->topic);
    free(x->id);
    free(x->seen.availability);
    free(x->seen.activity);
    free(x->seen.seq);
}

/* A configured address in a map by address (case-insensitive) that lives
 * for one users__sync: the quadratic scans it replaces were 80 % of the CPU
 * to ready at 100,000 users (docs/scaling.md). */
struct users_key {
    struct hmap_node node;
    const char *upn;
    size_t i;
};

static struct users_key *users__find(const struct hmap *m, const char *upn)
{
    uint64_t h = hmap__hash_ci(upn);
    for (struct hmap_node *n = hmap__first(m, h); n; n = hmap__next(n, h)) {
        struct users_key *k = HMAP_ENTRY(n, struct users_key, node);
        if (strcasecmp(k->upn, upn) == 0)
            return k;
    }
    return NULL;
}

static int users__key_add(struct hmap *m, struct users_key *k, const char *upn, size_t i)
{
    k->upn = upn;
    k->i = i;
    return hmap__insert(m, &k->node, hmap__hash_ci(upn));
}

/* Moves the user of that address over from the old list (found in old), or
 * makes it. */
static int users__take(struct graph_users *u, const struct hmap *old, struct graph_user *nu,
                       bool *kept, const char *upn)
{
    const struct users_key *was = users__find(old, upn);
    if (was && !kept[was->i]) {
        *nu = u->users[was->i]; /* keeps id, state, topic and what was seen */
        kept[was->i] = true;
        return 0;
    }
    nu->upn = strdup(upn);
    nu->topic = users__topic(u, upn);
    if (nu->upn && nu->topic)
        return 0;
    LOG_ERROR("graph", "cannot make a topic for a user tenant=%s user=%s", u->o.tenant, upn);
    users__free_one(nu);
    memset(nu, 0, sizeof(*nu));
    return -1;
}

/* The configured addresses, once each, into nu (*n of them), keeping the
 * state of those already known; -1 when out of memory. */
static int users__merge(struct graph_users *u, char *const *upns, size_t n_upns,
                        struct graph_user *nu, size_t *n, bool *kept)
{
    struct hmap old = {0}, seen = {0};
    struct users_key *ok = calloc(u->n_users ? u->n_users : 1, sizeof(*ok));
    struct users_key *sk = calloc(n_upns ? n_upns : 1, sizeof(*sk));
    int rc = ok && sk ? 0 : -1;
    for (size_t j = 0; rc == 0 && j < u->n_users; j++)
        rc = users__key_add(&old, &ok[j], u->users[j].upn, j);
    for (size_t i = 0; rc == 0 && i < n_upns; i++) {
        if (users__find(&seen, upns[i]) || users__take(u, &old, &nu[*n], kept, upns[i]) != 0)
            continue;
        rc = users__key_add(&seen, &sk[*n], nu[*n].upn, *n);
        (*n)++;
    }
    hmap__clear(&old);
    hmap__clear(&seen);
    free(ok);
    free(sk);
    return rc;
}

/* A failed sync changes nothing: what was made is freed, what was taken
 * over stays where it was. */
static void users__sync_undo(struct graph_users *u, struct graph_user *nu, size_t n,
                             const bool *kept)
{
    for (size_t i = 0; nu && i < n; i++) {
        bool taken = false;
        for (size_t j = 0; kept && j < u->n_users && !taken; j++)
            taken = kept[j] && u->users[j].upn == nu[i].upn;
        if (!taken)
            users__free_one(&nu[i]);
    }
}

int users__sync(struct graph_users *u, char *const *upns, size_t n_upns)
{
    struct graph_user *nu = calloc(n_upns ? n_upns : 1, sizeof(*nu));
    bool *kept = calloc(u->n_users ? u->n_users : 1, sizeof(*kept));
    size_t n = 0;
    if (!nu || !kept || users__merge(u, upns, n_upns, nu, &n, kept) != 0) {
        users__sync_undo(u, nu, n, kept);
        free(nu);
        free(kept);
        return -1;
    }
    for (size_t j = 0; j < u->n_users; j++) {
        if (kept[j])
            continue;
        /* no longer configured: nobody keeps its retained state true */
        if (u->users[j].topic)
            bus__clear_state(u->o.bus, u->users[j].topic);
        users__free_one(&u->users[j]);
    }
    free(kept);
    free(u->users);
    u->users = nu;
    u->n_users = n;
    users__index(u);
    graph_status__changed(u->o.status);
    return 0;
}

/* ---- $batch lookups ---------------------------------------------------------------- */

struct users_batch {
    struct graph_users *u;
    size_t idx[GRAPH_BATCH_MAX]; /* into u->users; checked by upn */
    char *upn[GRAPH_BATCH_MAX];
    size_t n;
};

static void users__round_done(struct graph_users *u);

static void users__batch_free(struct users_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->upn[i]);
    free(b);
}

static struct graph_user *users__batch_user(struct users_batch *b, size_t k)
{
    struct graph_users *u = b->u;
    size_t i = b->idx[k];
    /* the list may have been rebuilt (SIGHUP) while this batch ran */
    if (i < u->n_users && strcasecmp(u->users[i].upn, b->upn[k]) == 0)
        return &u->users[i];
    for (i = 0; i < u->n_users; i++) {
        if (strcasecmp(u->users[i].upn, b->upn[k]) == 0)
            return &u->users[i];
    }
    return NULL;
}

/* One item's answer; *retry_ms: the longest Retry-After (0: back off). */
static void users__apply_item(struct users_batch *b, size_t k, const struct graph_batch_answer *a,
                              int64_t *retry_ms)
{
    const char *tenant = b->u->o.tenant;
    struct graph_user *x = users__batch_user(b, k);
    if (!x || !a->status)
        return;
    char id[GRAPH_ID_MAX + 1];
    int found = graph_batch__lookup_result(a, id, sizeof(id));
    if (found == 1) {
        char *copy = strdup(id);
        if (!copy) {
            LOG_ERROR("graph", "out of memory for a user's id tenant=%s user=%s", tenant, x->upn);
            return;
        }
        free(x->id);
        x->id = copy;
        x->state = USERS_FOUND;
        LOG_DEBUG("graph", "user resolved tenant=%s user=%s id=%s", tenant, x->upn, x->id);
        return;
    }
    if (found == 0) {
        if (x->state != USERS_NOT_FOUND)
            LOG_WARN("graph",
                     "user not found in Azure AD, left out of the subscriptions "
                     "tenant=%s user=%s status=%d",
                     tenant, x->upn, a->status);
        x->state = USERS_NOT_FOUND;
        return;
    }
    int64_t ra = a->retry_after_ms;
    if (a->status == 429)
        LOG_INFO("graph", "user lookup throttled tenant=%s user=%s retry_after_ms=%lld", tenant,
                 x->upn, (long long)ra);
    else
        LOG_WARN("graph", "user lookup failed, will retry tenant=%s user=%s status=%d", tenant,
                 x->upn, a->status);
    if (ra > *retry_ms)
        *retry_ms = ra;
    if (ra < 0 && *retry_ms < 0)
        *retry_ms = 0; /* backoff */
}

static void users__batch_done(void *ctx, const struct graph_response *res)
{
    struct users_batch *b = ctx;
    struct graph_users *u = b->u;
    if (res->aborted || u->stopping) {
        users__batch_free(b);
        return;
    }
    int64_t retry_ms = -1;
    cJSON *o = res->status == 200 ? json__parse(res->body, res->body_len) : NULL;
    struct graph_batch_answer a[GRAPH_BATCH_MAX];
    if (graph_batch__decode(o, a, b->n, time(NULL)) < 0) {
        LOG_WARN("graph", "user lookup batch failed tenant=%s status=%d", u->o.tenant, res->status);
        retry_ms = res->retry_after_ms > 0 ? res->retry_after_ms : 0;
    }
    else {
        for (size_t k = 0; k < b->n; k++)
            users__apply_item(b, k, &a[k], &retry_ms);
    }
    cJSON_Delete(o);
    users__batch_free(b);
    if (retry_ms >= 0) {
        int64_t at = clock__mono_ms() + retry_ms;
        for (size_t i = 0; i < u->n_users; i++) {
            if (u->users[i].state == USERS_PENDING && u->users[i].retry_at_mono < at)
                u->users[i].retry_at_mono = at;
        }
    }
    if (--u->outstanding == 0)
        users__round_done(u);
}

static char *users__batch_body(const struct users_batch *b)
{
    struct graph_batch_item items[GRAPH_BATCH_MAX];
    char *urls[GRAPH_BATCH_MAX] = {NULL};
    bool ok = true;
    for (size_t k = 0; k < b->n; k++) {
        urls[k] = graph_batch__lookup_url(b->upn[k]);
        ok = ok && urls[k];
        items[k] = (struct graph_batch_item){.method = "GET", .url = urls[k] ? urls[k] : "/"};
    }
    char *s = ok ? graph_batch__encode(items, b->n) : NULL;
    for (size_t k = 0; k < b->n; k++)
        free(urls[k]);
    return s;
}

static void users__send(struct users_batch *b)
{
    struct graph_users *u = b->u;
    char *body = users__batch_body(b);
    /* lookups are not presence requests: no units of the budget */
    struct graph_request req = {.method = "POST", .path = "/$batch", .body = body};
    if (body && graph_client__send(u->o.client, &req, users__batch_done, b) == 0) {
        u->outstanding++;
        free(body);
        return;
    }
    free(body);
    /* not sent (stopping or out of memory): its users stay pending */
    users__batch_free(b);
}

static void users__on_timer(void *arg)
{
    struct graph_users *u = arg;
    u->timer = 0;
    users__resolve(u);
}

/* Pending users: a timer for the soonest Retry-After, else a backoff. */
static void users__schedule(struct graph_users *u, size_t pending, int64_t next)
{
    if (!pending) {
        backoff__reset(&u->bo);
        return;
    }
    int64_t bo = backoff__next(&u->bo);
    int64_t delay = next > 0 ? next : bo;
    LOG_INFO("graph", "user lookups pending tenant=%s pending=%zu retry_ms=%lld", u->o.tenant,
             pending, (long long)delay);
    loop__timer_cancel(u->o.loop, u->timer);
    u->timer = loop__timer(u->o.loop, delay, users__on_timer, u);
}

static void users__round_done(struct graph_users *u)
{
    u->resolving = false;
    users__index(u);
    int64_t now = clock__mono_ms(), next = -1;
    size_t ok = 0, missing = 0, pending = 0;
    for (size_t i = 0; i < u->n_users; i++) {
        const struct graph_user *x = &u->users[i];
        ok += x->state == USERS_FOUND;
        missing += x->state == USERS_NOT_FOUND;
        if (x->state == USERS_PENDING) {
            pending++;
            int64_t d = x->retry_at_mono > now ? x->retry_at_mono - now : 0;
            if (next < 0 || d < next)
                next = d;
        }
    }
    users__schedule(u, pending, next);
    graph_status__changed(u->o.status);
    if (u->resolve_again) {
        u->resolve_again = false;
        users__resolve(u);
        return;
    }
    if (pending && !u->resolved_once)
        return; /* plan once everybody is known, or after the first full round */
    bool first = !u->resolved_once;
    u->resolved_once = true;
    LOG_INFO("graph", "users resolved tenant=%s resolved=%zu not_found=%zu pending=%zu",
             u->o.tenant, ok, missing, pending);
    if (u->o.on_resolved)
        u->o.on_resolved(u->o.ctx, first);
}

void users__resolve(struct graph_users *u)
{
    if (u->stopping)
        return;
    if (u->resolving) {
        u->resolve_again = true;
        return;
    }
    u->resolving = true;
    u->outstanding = 1; /* held while sending */
    int64_t now = clock__mono_ms();
    struct users_batch *b = NULL;
    for (size_t i = 0; i <= u->n_users; i++) {
        struct graph_user *x = i < u->n_users ? &u->users[i] : NULL;
        bool take = x && x->state == USERS_PENDING && x->retry_at_mono <= now;
        if (take && !b && (b = calloc(1, sizeof(*b))) != NULL)
            b->u = u;
        if (take && b) {
            b->idx[b->n] = i;
            b->upn[b->n] = strdup(x->upn);
            b->n += b->upn[b->n] != NULL;
        }
        if (b && (b->n == GRAPH_BATCH_MAX || i == u->n_users)) {
            users__send(b);
            b = NULL;
        }
    }
    if (--u->outstanding == 0)
        users__round_done(u);
}

void users__status(void *ctx, cJSON *section, struct graph_ready *r)
{
    struct graph_users *u = ctx;
    cJSON *users = cJSON_AddObjectToObject(section, "users");
    cJSON *missing = cJSON_CreateArray();
    size_t ok = 0;
    for (size_t i = 0; i < u->n_users; i++) {
        ok += u->users[i].state == USERS_FOUND;
        if (u->users[i].state == USERS_NOT_FOUND)
            cJSON_AddItemToArray(missing, cJSON_CreateString(u->users[i].upn));
    }
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", u->o.tenant);
    metrics__set("graph_users_resolved", labels, (double)ok);
    cJSON_AddNumberToObject(users, "configured", (double)u->n_users);
    cJSON_AddNumberToObject(users, "resolved", (double)ok);
    cJSON_AddItemToObject(users, "not_found", missing);
    if (!u->resolved_once)
        graph_status__not_ready(r, "looking up users");
}

void users__stop(struct graph_users *u)
{
    u->stopping = true;
    loop__timer_cancel(u->o.loop, u->timer);
    u->timer = 0;
}

void users__free(struct graph_users *u)
{
    if (!u)
        return;
    users__stop(u);
    for (size_t i = 0; i < u->n_users; i++)
        users__free_one(&u->users[i]);
    free(u->users);
    free(u->by_id);
    free(u);
}
