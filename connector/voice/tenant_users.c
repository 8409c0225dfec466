/* One Voice tenant's users (see tenant_impl.h): the map from configured
 * addresses to Voice ids, the voice/<id>/talking topics, and the calls
 * carried over from the previous run (docs/voice.md "Daemon restarts"). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/hmap.h"
#include "core/ids.h"
#include "core/log.h"
#include "voice/calls.h"
#include "voice/discovery.h"
#include "voice/talking.h"
#include "voice/tenant_impl.h"

static void tenant_users__lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* ---- users ---------------------------------------------------------------------- */

static int tenant_users__cmp(const void *a, const void *b)
{
    return strcmp(((const struct vuser *)a)->id, ((const struct vuser *)b)->id);
}

struct vuser *tenant_users__find(struct vtenant *t, const char *id)
{
    struct vuser key = {.id = (char *)id};
    return t->n_users ? bsearch(&key, t->users, t->n_users, sizeof(*t->users), tenant_users__cmp)
                      : NULL;
}

void tenant_users__free(struct vuser *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(u[i].address);
        free(u[i].id);
        free(u[i].topic);
    }
    free(u);
}

void tenant_users__index_free(struct vtenant *t)
{
    hmap__clear(&t->by_address);
    free(t->addrs);
    t->addrs = NULL;
}

/* Rebuilds by_address from users and former. On out of memory the index
 * stays empty and lookups fail (logged): writes are refused, not wrong. */
static void tenant_users__index(struct vtenant *t)
{
    tenant_users__index_free(t);
    size_t n = t->n_users + t->n_former / 2;
    t->addrs = calloc(n ? n : 1, sizeof(*t->addrs));
    for (size_t i = 0; t->addrs && i < n; i++) {
        struct vaddr *a = &t->addrs[i];
        a->former = i >= t->n_users;
        a->address = a->former ? t->former[2 * (i - t->n_users)] : t->users[i].address;
        a->id = a->former ? t->former[2 * (i - t->n_users) + 1] : t->users[i].id;
        if (hmap__insert(&t->by_address, &a->node, hmap__hash_ci(a->address)) < 0) {
            tenant_users__index_free(t);
            break;
        }
    }
    if (!t->addrs)
        LOG_ERROR("voice", "out of memory: the user map cannot be searched tenant=%s", t->name);
}

const char *tenant_users__by_address(const struct vtenant *t, const char *address, bool *current)
{
    const struct vaddr *found = NULL;
    uint64_t h = hmap__hash_ci(address);
    for (struct hmap_node *n = hmap__first(&t->by_address, h); n; n = hmap__next(n, h)) {
        const struct vaddr *a = HMAP_ENTRY(n, struct vaddr, node);
        if (strcasecmp(a->address, address) == 0 && (!found || found->former))
            found = a;
    }
    if (current)
        *current = found && !found->former;
    return found ? found->id : NULL;
}

#define VTENANT_FORMER_MAX 8192 /* address/id pairs kept for removed users */

/* The former list after the map changes from t->users to nu[0..n) (sorted
 * by id): the users that left, and earlier leavers that did not come back
 * (capped). Returns 0, or -1 when out of memory (the old list stays). */
static int tenant_users__keep_former(struct vtenant *t, const struct vuser *nu, size_t n)
{
    size_t cap = 2 * (t->n_users + t->n_former / 2);
    char **f = calloc(cap ? cap : 1, sizeof(*f));
    if (!f)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < t->n_users + t->n_former / 2 && k < 2 * VTENANT_FORMER_MAX; i++) {
        const char *addr = i < t->n_users ? t->users[i].address : t->former[2 * (i - t->n_users)];
        const char *id = i < t->n_users ? t->users[i].id : t->former[2 * (i - t->n_users) + 1];
        /* nu is sorted by id; the old users and the old former list are
         * disjoint (a user who came back left the list then). */
        struct vuser key = {.id = (char *)id};
        if (n && bsearch(&key, nu, n, sizeof(*nu), tenant_users__cmp))
            continue;
        f[k] = strdup(addr);
        f[k + 1] = strdup(id);
        if (!f[k] || !f[k + 1]) {
            free(f[k]);
            vtenant__strv_free(f, k);
            return -1;
        }
        k += 2;
    }
    vtenant__strv_free(t->former, t->n_former);
    t->former = f;
    t->n_former = k;
    return 0;
}

bool tenant_users__has_ci(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v[i], s) == 0)
            return true;
    return false;
}

static char *tenant_users__topic(const struct vtenant *t, const char *address)
{
    char id[IDS_MAX_ID];
    if (ids__encode(address, id, sizeof(id)) != 0)
        return NULL;
    size_t n = strlen(t->topic_prefix) + strlen(id) + 32;
    char *topic = malloc(n);
    if (topic)
        snprintf(topic, n, "%svoice/%s/talking", t->topic_prefix, id);
    return topic;
}

void tenant_users__publish(struct vtenant *t, struct vuser *u, const char *source)
{
    if (t->seeding)
        return; /* vtenant__seed_done() publishes it (u->announced is still false) */
    size_t n = calls__count(t->calls, u->id);
    int64_t since = n ? calls__since(t->calls, u->id) : u->idle_since_ms;
    char *payload = talking__payload(n > 0, n, since, source);
    if (!payload)
        return;
    if (bus__publish_state(t->bus, u->topic, payload) < 0)
        LOG_ERROR("voice", "cannot publish topic=%s", u->topic);
    else
        LOG_DEBUG("voice", "state topic=%s payload=%s", u->topic, payload);
    u->announced = true;
    free(payload);
}

/* Publishes the state of users never announced: their state is only known
 * once the link is live (before that a call may be running unseen). */
void tenant_users__announce(struct vtenant *t)
{
    for (size_t i = 0; i < t->n_users; i++)
        if (!t->users[i].announced)
            tenant_users__publish(t, &t->users[i], "resync");
}

/* Builds the user map from /users; returns the ids that are new (for a
 * Subscribe while live) in *fresh (malloc'd array of pointers into users). */
int tenant_users__apply(struct vtenant *t, const struct voice_users *vu, const char ***fresh,
                        size_t *n_fresh)
{
    struct voice_mapping m;
    *fresh = NULL;
    *n_fresh = 0;
    if (discovery__map_users(vu, (const char *const *)t->addresses, t->n_addresses, &m) != 0)
        return -1;
    struct vuser *nu = calloc(m.n_matched ? m.n_matched : 1, sizeof(*nu));
    char **missing = calloc(m.n_missing ? m.n_missing : 1, sizeof(*missing));
    const char **fr = calloc(m.n_matched ? m.n_matched : 1, sizeof(*fr));
    size_t n = 0, nf = 0, by_email = 0, raw = 0;
    int64_t now = clock__wall_ms();
    bool oom = !nu || !missing || !fr;
    for (size_t i = 0; !oom && i < m.n_matched; i++) {
        struct vuser *u = &nu[n];
        u->id = strdup(m.matched[i].user_id);
        u->address = strdup(m.matched[i].address);
        tenant_users__lower(u->id);
        u->topic = u->address ? tenant_users__topic(t, u->address) : NULL;
        if (!u->id || !u->address || !u->topic) {
            free(u->id);
            free(u->address);
            free(u->topic);
            if (!u->id || !u->address) {
                oom = true;
                break;
            }
            LOG_WARN("voice", "address cannot be a topic id tenant=%s user=%s", t->name,
                     m.matched[i].address);
            continue;
        }
        const struct vuser *old = tenant_users__find(t, u->id);
        u->idle_since_ms = old ? old->idle_since_ms : now;
        u->announced = old ? old->announced : false;
        bool email = strcmp(m.matched[i].field, "Email") == 0;
        by_email += email;
        /* which field matched: worth an info line when it is not the login */
        if (email && !old)
            LOG_INFO("voice", "user matched by Email tenant=%s user=%s id=%s", t->name, u->address,
                     u->id);
        else if (!old)
            LOG_DEBUG("voice", "user matched by UserName tenant=%s user=%s id=%s", t->name,
                      u->address, u->id);
        n++;
    }
    raw = n;
    if (!oom) {
        qsort(nu, n, sizeof(*nu), tenant_users__cmp);
        /* Two addresses of one Voice user: keep the first. */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (k && strcmp(nu[k - 1].id, nu[i].id) == 0) {
                LOG_WARN("voice",
                         "two configured addresses map to one Voice user tenant=%s "
                         "user=%s also=%s",
                         t->name, nu[k - 1].address, nu[i].address);
                free(nu[i].address);
                free(nu[i].id);
                free(nu[i].topic);
                continue;
            }
            nu[k++] = nu[i];
        }
        n = k;
        for (size_t i = 0; i < m.n_missing && !oom; i++) {
            if (!(missing[i] = strdup(m.missing[i])))
                oom = true;
            else if (!tenant_users__has_ci(t->missing, t->n_missing, missing[i]))
                LOG_WARN("voice", "user not found in Voice tenant=%s user=%s", t->name, missing[i]);
        }
    }
    if (oom) {
        tenant_users__free(nu, n);
        vtenant__strv_free(missing, m.n_missing);
        free(fr);
        voice_mapping__free(&m);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!tenant_users__find(t, nu[i].id))
            fr[nf++] = nu[i].id;
    if (tenant_users__keep_former(t, nu, n) != 0)
        LOG_WARN("voice", "out of memory: removed users' flags may stay set tenant=%s", t->name);
    tenant_users__free(t->users, t->n_users);
    vtenant__strv_free(t->missing, t->n_missing);
    t->users = nu;
    t->n_users = n;
    tenant_users__index(t);
    t->missing = missing;
    t->n_missing = m.n_missing;
    t->users_loaded = true;
    atomic_store(&t->users_ready, true);
    LOG_INFO("voice",
             "user map loaded tenant=%s configured=%zu matched=%zu by_username=%zu by_email=%zu "
             "missing=%zu voice_users=%zu",
             t->name, t->n_addresses, n, raw - by_email, by_email, m.n_missing, vu->n);
    voice_mapping__free(&m);
    *fresh = fr;
    *n_fresh = nf;
    return 0;
}

/* ---- carried-over calls (daemon restart) ---------------------------------------- */

void tenant_users__seeds_free(struct vseed *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].address);
    free(s);
}

/* Frees the seeds once the window is closed and all are applied. */
static void tenant_users__seeds_tidy(struct vtenant *t)
{
    for (size_t i = 0; i < t->n_seeds; i++)
        if (!t->seeds[i].applied)
            return;
    if (t->seeding)
        return; /* still needed to refuse a second seed of the same user */
    tenant_users__seeds_free(t->seeds, t->n_seeds);
    t->seeds = NULL;
    t->n_seeds = 0;
}

/* Turns the seeds into calls once the user map says who is who; a seed of
 * an address Voice does not know is dropped (no events can end it). */
void tenant_users__apply_seeds(struct vtenant *t)
{
    char ts[32];
    bool any = false;
    for (size_t i = 0; i < t->n_seeds; i++) {
        struct vseed *s = &t->seeds[i];
        const struct vuser *u = NULL;
        if (s->applied)
            continue;
        s->applied = any = true;
        bool current;
        const char *id = tenant_users__by_address(t, s->address, &current);
        if (id && current)
            u = tenant_users__find(t, id);
        if (!u) {
            LOG_WARN("voice",
                     "carried-over call state dropped: user not in Voice tenant=%s user=%s",
                     t->name, s->address);
            continue;
        }
        if (calls__seed(t->calls, u->id, s->calls, s->since_ms) < 0) {
            LOG_WARN("voice", "carried-over call state refused tenant=%s user=%s calls=%zu",
                     t->name, u->address, s->calls);
            continue;
        }
        LOG_INFO("voice",
                 "call state carried over from the previous run tenant=%s user=%s calls=%zu "
                 "since=%s",
                 t->name, u->address, s->calls, clock__iso8601(s->since_ms, ts, sizeof(ts)));
    }
    /* A call carried over from long ago (the daemon was down for hours) is
     * dropped now, not at the next expiry check. */
    if (any) {
        calls__expire(t->calls, clock__wall_ms(), t->o.max_call_minutes, vtenant__dropped, t);
        vtenant__report(t);
    }
    tenant_users__seeds_tidy(t);
}

bool vtenant__seed(struct vtenant *t, const char *address, size_t calls, int64_t since_ms)
{
    if (!t->seeding || calls == 0 || !tenant_users__has_ci(t->addresses, t->n_addresses, address))
        return false;
    for (size_t i = 0; i < t->n_seeds; i++)
        if (strcasecmp(t->seeds[i].address, address) == 0)
            return false; /* a retained message delivered twice (a second
                           * SUBSCRIBE to the same filter resends it) */
    struct vseed *ns = realloc(t->seeds, (t->n_seeds + 1) * sizeof(*ns));
    if (!ns)
        return false;
    t->seeds = ns;
    char *a = strdup(address);
    if (!a)
        return false;
    t->seeds[t->n_seeds++] = (struct vseed){a, calls, since_ms, false};
    if (t->users_loaded)
        tenant_users__apply_seeds(t);
    return true;
}

void vtenant__seed_done(struct vtenant *t)
{
    if (!t->seeding)
        return;
    t->seeding = false;
    size_t pending = 0;
    for (size_t i = 0; i < t->n_seeds; i++)
        pending += !t->seeds[i].applied;
    LOG_INFO("voice", "seed window closed tenant=%s talking=%zu pending_seeds=%zu", t->name,
             calls__users_talking(t->calls), pending);
    tenant_users__seeds_tidy(t);
    if (t->state == VL_LIVE)
        tenant_users__announce(t);
}
