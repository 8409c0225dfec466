/* One Voice tenant's voice/<id>/talking topics (see tenant_impl.h): a
 * user's state published from the call state, and the announce of every
 * user once the link is live. Who the users are is the directory's
 * (voice_directory.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/log.h"
#include "role/role.h"
#include "voice/calls.h"
#include "voice/talking.h"
#include "voice/tenant_impl.h"

/* ---- voice/<id>/talking ---------------------------------------------------------- */

void tenant_talking__publish(struct vtenant *t, struct voice_dir_user *u, const char *source)
{
    if (t->seeding || t->standby || !role__writes(t->role, t->name))
        return; /* tenant_seed__done() or the takeover publishes it (not announced) */
    size_t n = calls__count(t->calls, u->id);
    int64_t since = n ? calls__since(t->calls, u->id) : u->idle_since_ms;
    const char *ids[CALLS_MAX_PER_USER];
    size_t n_ids = calls__ids(t->calls, u->id, ids, CALLS_MAX_PER_USER);
    char *payload = talking__payload(n > 0, n, since, source, ids, n_ids);
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
void tenant_talking__announce(struct vtenant *t)
{
    struct voice_dir_user *u;
    for (size_t i = 0; (u = voice_directory__user(t->dir, i)); i++)
        if (!u->announced)
            tenant_talking__publish(t, u, "resync");
}

/* ---- the role ---------------------------------------------------------------------- */

void tenant__set_role(struct vtenant *t, const struct role *role)
{
    t->role = role;
}

void tenant__set_writes(struct vtenant *t, bool writes)
{
    if (t->standby == !writes)
        return;
    t->standby = !writes;
    struct voice_dir_user *u;
    if (!writes) { /* published again, from our own call state, at a takeover */
        for (size_t i = 0; (u = voice_directory__user(t->dir, i)); i++)
            u->announced = false;
        return;
    }
    LOG_INFO("voice", "publishing the call state tenant=%s link=%s talking=%zu", t->name,
             vlink_names[t->state], calls__users_talking(t->calls));
    if (t->state == VL_LIVE)
        tenant_talking__announce(t);
}
