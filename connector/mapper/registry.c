/* The mapper's users: one struct mapper_user per configured user, found by topic
 * id in a hash map over all tenants (core/hmap.h: an input, and a user of a
 * reloaded list, is one lookup, not a scan of 10,000 users); users that left
 * the config are retired, wound down and reaped. See mapper_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/hmap.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"
#include "mapper/mapper_int.h"

static void registry__user_free(struct mapper_user *u)
{
    if (!u)
        return;
    if (u->hashed)
        hmap__remove(&u->t->m->by_id, &u->hnode);
    reconcile__user_free(&u->state);
    free(u->address);
    free(u->id);
    free(u->sync_topic);
    free(u);
}

static struct mapper_user *registry__user_new(struct mapper_tenant *t, const char *addr,
                                              int64_t now)
{
    struct mapper_user *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->t = t;
    char id[IDS_MAX_ID];
    if (ids__encode(addr, id, sizeof(id)) != 0) {
        LOG_WARN(MAPPER_SUB, "user address cannot be a topic id tenant=%s", t->name);
        free(u);
        return NULL;
    }
    u->address = strdup(addr);
    u->id = strdup(id);
    reconcile__user_init(&u->state, t->name, u->address, now);
    u->sync_topic = u->id ? str__cat(t->m->sync_prefix, u->id, NULL) : NULL;
    /* topic ids are canonical (lower case): an exact hash */
    if (!u->address || !u->id || !u->sync_topic ||
        hmap__insert(&t->m->by_id, &u->hnode, hmap__hash(u->id)) != 0) {
        registry__user_free(u);
        return NULL;
    }
    u->hashed = true;
    return u;
}

/* The user with topic id `id`: of tenant t (retired or not) when t is
 * given, else the one of any tenant that is not retired. */
static struct mapper_user *registry__lookup(struct mapper *m, const struct mapper_tenant *t,
                                            const char *id)
{
    uint64_t h = hmap__hash(id);
    for (struct hmap_node *n = hmap__first(&m->by_id, h); n; n = hmap__next(n, h)) {
        struct mapper_user *u = HMAP_ENTRY(n, struct mapper_user, hnode);
        if (strcmp(u->id, id) == 0 && (t ? u->t == t : !u->state.retired))
            return u;
    }
    return NULL;
}

struct mapper_user *registry__find(struct mapper *m, const char *id)
{
    return registry__lookup(m, NULL, id);
}

void registry__touch(struct mapper_user *u)
{
    struct mapper *m = u->t->m;
    if (u->dirty)
        return;
    u->dirty = true;
    u->dnext = m->dirty_head;
    m->dirty_head = u;
}

/* t's user for a configured address, retired or not (addresses compare
 * as their topic ids: case-insensitively). */
static struct mapper_user *registry__find_any(struct mapper_tenant *t, const char *addr)
{
    char id[IDS_MAX_ID];
    return ids__encode(addr, id, sizeof(id)) == 0 ? registry__lookup(t->m, t, id) : NULL;
}

/* mapper_users{tenant}: the users the mapper follows (not retired). */
static void registry__count_users(const struct mapper_tenant *t)
{
    size_t n = 0;
    for (size_t k = 0; k < t->n_users; k++)
        n += !t->users[k]->state.retired;
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__set("mapper_users", labels, (double)n);
}

/* New users start as "may own a session and a flag" (reconcile.h); users
 * that left are retired (their writes are wound down, then they are
 * dropped). */
int registry__sync_users(struct mapper_tenant *t, const struct tenant_config *tc)
{
    int64_t now = clock__mono_ms();
    for (size_t k = 0; k < t->n_users; k++)
        t->users[k]->state.retired = true;
    for (size_t i = 0; tc && i < tc->n_users; i++) {
        struct mapper_user *u = registry__find_any(t, tc->users[i]);
        if (u) {
            u->state.retired = false;
            continue;
        }
        u = registry__user_new(t, tc->users[i], now);
        if (!u)
            continue;
        struct mapper_user **n = realloc(t->users, (t->n_users + 1) * sizeof(*n));
        if (!n) {
            registry__user_free(u);
            return -1;
        }
        t->users = n;
        t->users[t->n_users++] = u;
    }
    for (size_t k = 0; k < t->n_users; k++)
        registry__touch(t->users[k]);
    t->m->full_pass = true;
    registry__count_users(t);
    return 0;
}

/* Drops retired users with nothing left to do (not while one is on the
 * dirty list or waits for a Voice slot: those lists would point at freed
 * memory). */
void registry__reap(struct mapper_tenant *t, int64_t now)
{
    size_t o = 0;
    for (size_t k = 0; k < t->n_users; k++) {
        struct mapper_user *u = t->users[k];
        bool flight =
            u->dirty || u->vwait || u->state.target[0].in_flight || u->state.target[1].in_flight;
        bool busy = flight || reconcile__next_due(&u->state, &t->config, now) != RECONCILE_NEVER;
        /* A side that no longer knows the user (the Voice side drops it from
         * its map too) would fail forever: give up after a few tries. */
        bool hopeless = !flight && (u->state.target[0].failures >= MAPPER_RETIRE_TRIES ||
                                    u->state.target[1].failures >= MAPPER_RETIRE_TRIES);
        if (u->state.retired && (!busy || hopeless)) {
            if (busy)
                LOG_WARN(MAPPER_SUB,
                         "user removed before its writes were undone tenant=%s id=%s error=%s",
                         t->name, u->id, u->state.last_error ? u->state.last_error : "");
            LOG_INFO(MAPPER_SUB, "user removed tenant=%s id=%s", t->name, u->id);
            if (t->m->bus)
                bus__clear_state(t->m->bus, u->sync_topic);
            registry__user_free(u);
            continue;
        }
        t->users[o++] = u;
    }
    t->n_users = o;
    registry__count_users(t);
}

void registry__free_users(struct mapper_tenant *t)
{
    for (size_t k = 0; k < t->n_users; k++)
        registry__user_free(t->users[k]);
    free(t->users);
    t->users = NULL;
    t->n_users = 0;
}
