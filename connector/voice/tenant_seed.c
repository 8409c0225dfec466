/* One Voice tenant's calls carried over from the previous run (see
 * tenant_impl.h and docs/voice.md "Daemon restarts"): the seeds the Voice
 * side reads from its retained voice/<id>/talking topics at start, turned
 * into calls once the user map says who is who, and the seed window that
 * holds back the users' states until they are known. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "voice/calls.h"
#include "voice/tenant_impl.h"

static void tenant_seed__free_ids(struct vseed *s)
{
    for (size_t i = 0; i < s->n_ids; i++)
        free(s->ids[i]);
    free(s->ids);
    s->ids = NULL;
    s->n_ids = 0;
}

void tenant_seed__free_all(struct vseed *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].address);
        tenant_seed__free_ids(&s[i]);
    }
    free(s);
}

/* Frees the seeds once the window is closed and all are applied. */
static void tenant_seed__tidy(struct vtenant *t)
{
    for (size_t i = 0; i < t->n_seeds; i++)
        if (!t->seeds[i].applied)
            return;
    if (t->seeding)
        return; /* still needed to refuse a second seed of the same user */
    tenant_seed__free_all(t->seeds, t->n_seeds);
    t->seeds = NULL;
    t->n_seeds = 0;
    free(t->seen);
    t->seen = NULL;
    t->n_seen = 0;
}

void tenant_seed__note(struct vtenant *t, const struct voice_call_event *ev)
{
    if (!t->seeding || (ev->kind != VOICE_CALL_CONNECTED && ev->kind != VOICE_CALL_DISCONNECTED))
        return;
    bool connected = ev->kind == VOICE_CALL_CONNECTED;
    for (size_t i = 0; i < t->n_seen; i++)
        if (t->seen[i].connected == connected && !strcmp(t->seen[i].call, ev->call_id) &&
            !strcmp(t->seen[i].user, ev->user_id))
            return; /* the same event from a second source (webhook and RTE) */
    struct vseen *ns = realloc(t->seen, (t->n_seen + 1) * sizeof(*ns));
    if (!ns)
        return;
    t->seen = ns;
    struct vseen *e = &t->seen[t->n_seen++];
    snprintf(e->user, sizeof(e->user), "%s", ev->user_id);
    snprintf(e->call, sizeof(e->call), "%s", ev->call_id);
    e->connected = connected;
}

static bool tenant_seed__named(const struct vseed *s, const char *call)
{
    for (size_t i = 0; i < s->n_ids; i++)
        if (strcasecmp(s->ids[i], call) == 0)
            return true;
    return false;
}

/* Whether a Disconnected of this call of the user was seen in the window. */
static bool tenant_seed__seen_end(const struct vtenant *t, const char *user_id, const char *call)
{
    for (size_t i = 0; i < t->n_seen; i++)
        if (!t->seen[i].connected && strcasecmp(t->seen[i].user, user_id) == 0 &&
            strcasecmp(t->seen[i].call, call) == 0)
            return true;
    return false;
}

/* Unnamed calls of the user that ended before its seed was applied:
 * Disconnecteds seen in the window whose Connected this process never saw
 * and whose call the seed does not name. Applied after them, the seed would
 * otherwise keep those calls until max_call_minutes. */
static size_t tenant_seed__ended_early(const struct vtenant *t, const struct vseed *s,
                                       const char *user_id)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_seen; i++) {
        const struct vseen *d = &t->seen[i];
        if (d->connected || strcasecmp(d->user, user_id) != 0 || tenant_seed__named(s, d->call))
            continue;
        bool known = false;
        for (size_t j = 0; j < t->n_seen && !known; j++)
            known = t->seen[j].connected && !strcmp(t->seen[j].call, d->call);
        n += !known;
    }
    return n;
}

/* Adds one user's seed to the call state: the calls it names, then the
 * unnamed ones; a call whose end was seen in the window is left out, and a
 * named call the tracker has already (this process saw its Connected, or
 * another instance counted in its payload a call this one saw too: docs/
 * ha.md) is not counted twice. Returns the calls carried over, or -1. */
static int tenant_seed__apply_one(struct vtenant *t, const struct vseed *s,
                                  const struct voice_dir_user *u)
{
    size_t unnamed = s->calls > s->n_ids ? s->calls - s->n_ids : 0;
    size_t ended = tenant_seed__ended_early(t, s, u->id), ended_named = 0;
    for (size_t i = 0; i < s->n_ids; i++)
        ended_named += tenant_seed__seen_end(t, u->id, s->ids[i]);
    if (ended + ended_named > 0)
        LOG_INFO("voice",
                 "carried-over calls ended before the seed was read tenant=%s user=%s "
                 "calls=%zu ended=%zu",
                 t->name, u->address, s->calls, ended + ended_named);
    unnamed -= ended < unnamed ? ended : unnamed;
    int carried = (int)unnamed;
    for (size_t i = 0; i < s->n_ids; i++) {
        if (tenant_seed__seen_end(t, u->id, s->ids[i]))
            continue;
        if (calls__seed_call(t->calls, u->id, s->ids[i], s->since_ms) < 0)
            return -1;
        carried++;
    }
    if (unnamed > 0 && calls__seed(t->calls, u->id, unnamed, s->since_ms) < 0)
        return -1;
    return carried;
}

/* Turns the seeds into calls once the user map says who is who; a seed of
 * an address Voice does not know is dropped (no events can end it). */
void tenant_seed__apply(struct vtenant *t)
{
    char ts[32];
    bool any = false;
    for (size_t i = 0; i < t->n_seeds; i++) {
        struct vseed *s = &t->seeds[i];
        const struct voice_dir_user *u = NULL;
        if (s->applied)
            continue;
        s->applied = any = true;
        bool current;
        const char *id = voice_directory__by_address(t->dir, s->address, &current);
        if (id && current)
            u = voice_directory__find(t->dir, id);
        if (!u) {
            LOG_WARN("voice",
                     "carried-over call state dropped: user not in Voice tenant=%s user=%s",
                     t->name, s->address);
            continue;
        }
        int carried = tenant_seed__apply_one(t, s, u);
        if (carried < 0) {
            LOG_WARN("voice", "carried-over call state refused tenant=%s user=%s calls=%zu",
                     t->name, u->address, s->calls);
            continue;
        }
        if (carried > 0)
            LOG_INFO("voice",
                     "call state carried over from the previous run tenant=%s user=%s calls=%d "
                     "since=%s",
                     t->name, u->address, carried, clock__iso8601(s->since_ms, ts, sizeof(ts)));
    }
    /* A call carried over from long ago (the daemon was down for hours) is
     * dropped now, not at the next expiry check. */
    if (any) {
        calls__expire(t->calls, clock__wall_ms(), t->o.max_call_minutes, tenant__dropped, t);
        tenant_health__report(t);
    }
    tenant_seed__tidy(t);
}

/* Copies the named ids into s (at most s->calls of them). */
static bool tenant_seed__copy_ids(struct vseed *s, const char *const *ids, size_t n_ids)
{
    if (n_ids > s->calls)
        n_ids = s->calls;
    if (n_ids == 0)
        return true;
    s->ids = calloc(n_ids, sizeof(*s->ids));
    if (!s->ids)
        return false;
    for (size_t i = 0; i < n_ids; i++) {
        s->ids[i] = strdup(ids[i]);
        if (!s->ids[i])
            return false;
        s->n_ids++;
    }
    return true;
}

bool tenant_seed__add(struct vtenant *t, const char *address, size_t calls, int64_t since_ms,
                      const char *const *ids, size_t n_ids)
{
    if (!t->seeding || calls == 0 || !voice_directory__configured(t->dir, address))
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
    struct vseed *seed = &t->seeds[t->n_seeds++];
    *seed = (struct vseed){a, calls, since_ms, NULL, 0, false};
    if (!tenant_seed__copy_ids(seed, ids, n_ids))
        tenant_seed__free_ids(seed); /* out of memory: the calls stay, unnamed */
    if (voice_directory__loaded(t->dir))
        tenant_seed__apply(t);
    return true;
}

void tenant_seed__done(struct vtenant *t)
{
    if (!t->seeding)
        return;
    t->seeding = false;
    size_t pending = 0;
    for (size_t i = 0; i < t->n_seeds; i++)
        pending += !t->seeds[i].applied;
    LOG_INFO("voice", "seed window closed tenant=%s talking=%zu pending_seeds=%zu", t->name,
             calls__users_talking(t->calls), pending);
    tenant_seed__tidy(t);
    if (t->state == VL_LIVE)
        tenant_talking__announce(t);
}
