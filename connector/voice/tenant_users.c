/* One Voice tenant's users (see tenant_impl.h): their voice/<id>/talking
 * topics, and the calls carried over from the previous run (docs/voice.md
 * "Daemon restarts"). Who they are is the directory's (voice_directory.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/log.h"
#include "voice/calls.h"
#include "voice/talking.h"
#include "voice/tenant_impl.h"

/* ---- voice/<id>/talking ---------------------------------------------------------- */

void tenant_users__publish(struct vtenant *t, struct voice_dir_user *u, const char *source)
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
    struct voice_dir_user *u;
    for (size_t i = 0; (u = voice_directory__user(t->dir, i)); i++)
        if (!u->announced)
            tenant_users__publish(t, u, "resync");
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
