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

void tenant_seed__free_all(struct vseed *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].address);
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

/* Calls of the user that ended before its seed was applied: Disconnecteds
 * seen in the window whose Connected this process never saw. Applied after
 * them, the seed would otherwise keep those calls until max_call_minutes. */
static size_t tenant_seed__ended_early(const struct vtenant *t, const char *user_id)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_seen; i++) {
        const struct vseen *d = &t->seen[i];
        if (d->connected || strcasecmp(d->user, user_id) != 0)
            continue;
        bool known = false;
        for (size_t j = 0; j < t->n_seen && !known; j++)
            known = t->seen[j].connected && !strcmp(t->seen[j].call, d->call);
        n += !known;
    }
    return n;
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
        size_t ended = tenant_seed__ended_early(t, u->id);
        if (ended > 0) {
            LOG_INFO("voice",
                     "carried-over calls ended before the seed was read tenant=%s user=%s "
                     "calls=%zu ended=%zu",
                     t->name, u->address, s->calls, ended);
            if (ended >= s->calls)
                continue;
            s->calls -= ended;
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
        calls__expire(t->calls, clock__wall_ms(), t->o.max_call_minutes, tenant__dropped, t);
        tenant_health__report(t);
    }
    tenant_seed__tidy(t);
}

bool tenant_seed__add(struct vtenant *t, const char *address, size_t calls, int64_t since_ms)
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
    t->seeds[t->n_seeds++] = (struct vseed){a, calls, since_ms, false};
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
