/* Configured addresses -> Azure AD object ids (docs/graph.md), with JSON
 * batching (batch.h): 20 lookups a request, each item judged on its own
 * status.
 * An item throttled with 429 is retried after its own Retry-After; a user
 * Azure AD does not know (404) is left out of the subscriptions (one bad id
 * failed a whole presence subscription in the field, docs/graph.md), logged once and listed in
 * B/health. When a round is complete the subscriptions are planned and the
 * presence of everyone is read. */
#include "graph/gside.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/hmap.h"
#include "core/http_client.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "graph/batch.h"
#include "component.h"

#define USERS_RETRY_BASE 2000
#define USERS_RETRY_MAX  (5 * 60 * 1000)

static char *users__topic(const struct gtenant *t, const char *upn)
{
    char id[IDS_MAX_ID];
    if (ids__encode(upn, id, sizeof(id)) < 0)
        return NULL;
    const char *prefix = t->side->env->cfg->mqtt.topic_prefix;
    prefix = prefix ? prefix : "";
    size_t n = strlen(prefix) + strlen(id) + 16;
    char *topic = malloc(n);
    if (topic)
        snprintf(topic, n, "%steams/%s/busy", prefix, id);
    return topic;
}

static int users__cmp_id(const void *a, const void *b)
{
    const struct guser *x = *(struct guser *const *)a, *y = *(struct guser *const *)b;
    return strcasecmp(x->id, y->id);
}

static void users__index(struct gtenant *t)
{
    free(t->by_id);
    t->by_id = malloc((t->n_users ? t->n_users : 1) * sizeof(*t->by_id));
    t->n_by_id = 0;
    if (!t->by_id)
        return;
    for (size_t i = 0; i < t->n_users; i++) {
        if (t->users[i].rs == USER_OK)
            t->by_id[t->n_by_id++] = &t->users[i];
    }
    qsort(t->by_id, t->n_by_id, sizeof(*t->by_id), users__cmp_id);
}

struct guser *users__by_id(struct gtenant *t, const char *id)
{
    struct guser key, *kp = &key;
    snprintf(key.id, sizeof(key.id), "%s", id);
    struct guser **hit =
        t->by_id ? bsearch(&kp, t->by_id, t->n_by_id, sizeof(*t->by_id), users__cmp_id) : NULL;
    return hit ? *hit : NULL;
}

static void users__free_one(struct guser *u)
{
    free(u->upn);
    free(u->topic);
}

/* A configured address in a map by address (case-insensitive) that lives
 * for one users__sync: the quadratic scans it replaces took minutes at
 * 100,000 users (docs/scaling.md). */
struct users__key {
    struct hmap_node node;
    const char *upn;
    size_t i;
};

static struct users__key *users__find(const struct hmap *m, const char *upn)
{
    uint64_t h = hmap__hash_ci(upn);
    for (struct hmap_node *n = hmap__first(m, h); n; n = hmap__next(n, h)) {
        struct users__key *k = HMAP_ENTRY(n, struct users__key, node);
        if (strcasecmp(k->upn, upn) == 0)
            return k;
    }
    return NULL;
}

/* Adds upn (index i) to m, using the slot k; -1 when the table cannot grow. */
static int users__key_add(struct hmap *m, struct users__key *k, const char *upn, size_t i)
{
    k->upn = upn;
    k->i = i;
    return hmap__insert(m, &k->node, hmap__hash_ci(upn));
}

/* Moves the configured users into nu (n of them), keeping the state of those
 * already known (their index in old); -1 when out of memory. */
static int users__merge(struct gtenant *t, struct guser *nu, size_t *n, bool *kept)
{
    const struct tenant_config *c = t->cfg;
    struct hmap old = {0}, seen = {0};
    struct users__key *ok = calloc(t->n_users ? t->n_users : 1, sizeof(*ok));
    struct users__key *sk = calloc(c->n_users ? c->n_users : 1, sizeof(*sk));
    int rc = ok && sk ? 0 : -1;
    for (size_t j = 0; rc == 0 && j < t->n_users; j++)
        if (t->users[j].upn)
            rc = users__key_add(&old, &ok[j], t->users[j].upn, j);
    for (size_t i = 0; rc == 0 && i < c->n_users; i++) {
        if (users__find(&seen, c->users[i]))
            continue;
        struct guser *u = &nu[*n];
        const struct users__key *was = users__find(&old, c->users[i]);
        if (was && !kept[was->i]) {
            *u = t->users[was->i]; /* keeps id, state and strings */
            kept[was->i] = true;
        }
        if (!u->upn) {
            u->upn = strdup(c->users[i]);
            u->topic = users__topic(t, c->users[i]);
            if (!u->upn || !u->topic) {
                LOG_ERROR("graph", "cannot make a topic for a user tenant=%s user=%s", t->name,
                          c->users[i]);
                users__free_one(u);
                memset(u, 0, sizeof(*u));
                continue;
            }
        }
        rc = users__key_add(&seen, &sk[*n], u->upn, *n);
        (*n)++;
    }
    hmap__clear(&old);
    hmap__clear(&seen);
    free(ok);
    free(sk);
    return rc;
}

int users__sync(struct gtenant *t)
{
    const struct tenant_config *c = t->cfg;
    struct guser *nu = calloc(c->n_users ? c->n_users : 1, sizeof(*nu));
    bool *kept = calloc(t->n_users ? t->n_users : 1, sizeof(*kept));
    size_t n = 0;
    if (!nu || !kept || users__merge(t, nu, &n, kept) != 0) {
        /* nothing changed: the users taken over go back to where they were */
        for (size_t i = 0; nu && i < n; i++) {
            bool taken = false;
            for (size_t j = 0; j < t->n_users && !taken; j++)
                taken = kept[j] && t->users[j].upn == nu[i].upn;
            if (!taken)
                users__free_one(&nu[i]);
        }
        free(nu);
        free(kept);
        return -1;
    }
    for (size_t j = 0; j < t->n_users; j++) {
        if (kept[j])
            continue;
        /* no longer configured: nobody keeps its retained state true */
        if (t->side->started && t->users[j].topic)
            bus__clear_state(t->side->bus, t->users[j].topic);
        users__free_one(&t->users[j]);
    }
    free(kept);
    free(t->users);
    t->users = nu;
    t->n_users = n;
    users__index(t);
    return 0;
}

void users__free(struct gtenant *t)
{
    for (size_t i = 0; i < t->n_users; i++)
        users__free_one(&t->users[i]);
    free(t->users);
    free(t->by_id);
    t->users = NULL;
    t->by_id = NULL;
    t->n_users = t->n_by_id = 0;
}

/* ---- $batch lookups --------------------------------------------------------- */

struct users_batch {
    struct gtenant *t;
    size_t idx[GSIDE_BATCH_MAX]; /* into t->users; generation-checked by upn */
    char *upn[GSIDE_BATCH_MAX];
    size_t n;
};

static void users__round_done(struct gtenant *t);

static void users__batch_free(struct users_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->upn[i]);
    free(b);
}

static struct guser *users__batch_user(struct users_batch *b, size_t k)
{
    struct gtenant *t = b->t;
    size_t i = b->idx[k];
    /* the list may have been rebuilt (SIGHUP) while this batch ran */
    if (i < t->n_users && strcasecmp(t->users[i].upn, b->upn[k]) == 0)
        return &t->users[i];
    for (i = 0; i < t->n_users; i++) {
        if (strcasecmp(t->users[i].upn, b->upn[k]) == 0)
            return &t->users[i];
    }
    return NULL;
}

static void users__apply_item(struct users_batch *b, size_t k, const struct graph_batch_answer *a,
                              int64_t *retry_ms)
{
    struct gtenant *t = b->t;
    struct guser *u = users__batch_user(b, k);
    if (!u || !a->status)
        return;
    char id[GSIDE_ID_MAX + 1];
    int found = graph_batch__lookup_result(a, id, sizeof(id));
    if (found == 1) {
        snprintf(u->id, sizeof(u->id), "%s", id);
        u->rs = USER_OK;
        LOG_DEBUG("graph", "user resolved tenant=%s user=%s id=%s", t->name, u->upn, u->id);
    }
    else if (found == 0) {
        if (u->rs != USER_NOT_FOUND)
            LOG_WARN("graph",
                     "user not found in Azure AD, left out of the subscriptions "
                     "tenant=%s user=%s status=%d",
                     t->name, u->upn, a->status);
        u->rs = USER_NOT_FOUND;
    }
    else {
        int64_t ra = a->retry_after_ms;
        if (a->status == 429)
            LOG_INFO("graph", "user lookup throttled tenant=%s user=%s retry_after_ms=%lld",
                     t->name, u->upn, (long long)ra);
        else
            LOG_WARN("graph", "user lookup failed, will retry tenant=%s user=%s status=%d", t->name,
                     u->upn, a->status);
        if (ra > *retry_ms)
            *retry_ms = ra;
        if (ra < 0 && *retry_ms < 0)
            *retry_ms = 0; /* backoff */
    }
}

static void users__batch_done(struct gcall *c, const struct http_result *res)
{
    struct users_batch *b = c->ctx;
    struct gtenant *t = b->t;
    int64_t retry_ms = -1;
    if (!res) {
        users__batch_free(b);
        return;
    }
    cJSON *o = res->status == 200 ? json__parse(res->body, res->body_len) : NULL;
    struct graph_batch_answer a[GSIDE_BATCH_MAX];
    if (graph_batch__decode(o, a, b->n, time(NULL)) < 0) {
        LOG_WARN("graph", "user lookup batch failed tenant=%s status=%d", t->name, res->status);
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
        for (size_t i = 0; i < t->n_users; i++) {
            if (t->users[i].rs == USER_PENDING && t->users[i].retry_at_mono < at)
                t->users[i].retry_at_mono = at;
        }
    }
    if (--t->resolve_outstanding == 0)
        users__round_done(t);
}

static char *users__batch_body(struct users_batch *b)
{
    struct graph_batch_item items[GSIDE_BATCH_MAX];
    char *urls[GSIDE_BATCH_MAX] = {NULL};
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

static char *users__url(const struct gtenant *t, const char *path)
{
    size_t n = strlen(t->cfg->graph.api_url) + strlen(path) + 1;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s%s", t->cfg->graph.api_url, path);
    return u;
}

static void users__on_timer(void *arg)
{
    struct gtenant *t = arg;
    t->resolve_timer = 0;
    users__resolve(t);
}

static void users__round_done(struct gtenant *t)
{
    t->resolving = false;
    users__index(t);
    int64_t now = clock__mono_ms(), next = -1;
    size_t ok = 0, missing = 0, pending = 0;
    for (size_t i = 0; i < t->n_users; i++) {
        const struct guser *u = &t->users[i];
        ok += u->rs == USER_OK;
        missing += u->rs == USER_NOT_FOUND;
        if (u->rs == USER_PENDING) {
            pending++;
            int64_t d = u->retry_at_mono > now ? u->retry_at_mono - now : 0;
            if (next < 0 || d < next)
                next = d;
        }
    }
    if (pending) {
        /* throttled items wait their Retry-After; other failures back off */
        int64_t bo = backoff__next(&t->resolve_bo);
        int64_t delay = next > 0 ? next : bo;
        LOG_INFO("graph", "user lookups pending tenant=%s pending=%zu retry_ms=%lld", t->name,
                 pending, (long long)delay);
        loop__timer_cancel(t->side->loop, t->resolve_timer);
        t->resolve_timer = loop__timer(t->side->loop, delay, users__on_timer, t);
    }
    else {
        backoff__reset(&t->resolve_bo);
    }
    if (t->resolve_again) {
        t->resolve_again = false;
        users__resolve(t);
        return;
    }
    if (pending && !t->resolved_once)
        return; /* plan once everybody is known, or after the first full round */
    t->resolved_once = true;
    LOG_INFO("graph", "users resolved tenant=%s resolved=%zu not_found=%zu pending=%zu", t->name,
             ok, missing, pending);
    gside__status(t);
    subs__plan(t);
    resync__request(t, t->resolved_count++ ? "users looked up" : "start");
}

void users__resolve(struct gtenant *t)
{
    if (t->side->stopping)
        return;
    if (t->resolving) {
        t->resolve_again = true;
        return;
    }
    t->resolving = true;
    t->resolve_outstanding = 1; /* held while sending */
    int64_t now = clock__mono_ms();
    struct users_batch *b = NULL;
    for (size_t i = 0; i <= t->n_users; i++) {
        bool take =
            i < t->n_users && t->users[i].rs == USER_PENDING && t->users[i].retry_at_mono <= now;
        if (take && !b) {
            b = calloc(1, sizeof(*b));
            if (!b)
                break;
            b->t = t;
        }
        if (take) {
            b->idx[b->n] = i;
            b->upn[b->n] = strdup(t->users[i].upn);
            b->n++;
        }
        if (b && (b->n == GSIDE_BATCH_MAX || i == t->n_users)) {
            char *body = users__batch_body(b);
            t->resolve_outstanding++;
            gcall__start(t, t->app, "POST", users__url(t, "/$batch"), body, users__batch_done, b,
                         0);
            b = NULL;
        }
    }
    if (--t->resolve_outstanding == 0)
        users__round_done(t);
}
