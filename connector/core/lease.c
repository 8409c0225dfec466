/* The per-tenant lease: see lease.h and docs/ha.md for the protocol. */
#include "core/lease.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/json.h"

#define LEASE_FIRST_RENEW_MS 500 /* a new holder overwrites a loser's claim soon */

void lease__cfg_default(struct lease_cfg *cfg)
{
    cfg->lease_ms = 8000;
    cfg->renew_ms = 2000;
    cfg->grace_ms = 1000;
    cfg->fence_ms = 6000;
    cfg->settle_ms = 1500;
}

bool lease__cfg_valid(const struct lease_cfg *cfg, const char **why)
{
    const char *w = NULL;
    if (cfg->renew_ms <= 0 || cfg->lease_ms <= 0 || cfg->fence_ms <= 0 || cfg->grace_ms < 0 ||
        cfg->settle_ms < 0)
        w = "every lease time must be positive";
    else if (cfg->renew_ms * 2 >= cfg->lease_ms)
        w = "renew must be under half the lease";
    else if (cfg->fence_ms <= cfg->renew_ms || cfg->fence_ms >= cfg->lease_ms)
        w = "fence must lie between renew and lease";
    if (why)
        *why = w;
    return w == NULL;
}

static void lease__copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

void lease__init(struct lease *l, const struct lease_cfg *cfg, const char *node,
                 const char *instance, int64_t now_ms)
{
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    lease__copy(l->node, sizeof l->node, node);
    lease__copy(l->instance, sizeof l->instance, instance);
    l->role = LEASE_STARTING;
    l->heard_ms = now_ms;
}

static int lease__key_cmp(struct lease_key a, struct lease_key b)
{
    if (a.epoch != b.epoch)
        return a.epoch < b.epoch ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

static void lease__set_role(struct lease *l, enum lease_role role, struct lease_out *out)
{
    if (l->role != role && out)
        out->changed = true;
    l->role = role;
    if (role != LEASE_ACTIVE)
        l->fenced = false;
}

/* Our next message: a claim (a new epoch, seq 0), a renewal or a release. */
static void lease__emit(struct lease *l, struct lease_key key, bool released, struct lease_out *out)
{
    l->mine = key;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "holder", l->node);
    cJSON_AddStringToObject(o, "instance", l->instance);
    cJSON_AddNumberToObject(o, "epoch", (double)key.epoch);
    cJSON_AddNumberToObject(o, "seq", (double)key.seq);
    cJSON_AddStringToObject(o, "state", released ? "released" : "held");
    out->publish = cJSON_PrintPreallocated(o, out->payload, (int)sizeof out->payload, false);
    cJSON_Delete(o);
}

static void lease__claim(struct lease *l, int64_t now_ms, struct lease_out *out)
{
    struct lease_key k = {.epoch = (l->known ? l->key.epoch : 0) + 1, .seq = 0};
    lease__emit(l, k, false, out);
    l->claim_ms = now_ms;
    lease__set_role(l, LEASE_CLAIMING, out);
}

static bool lease__expired(const struct lease *l, int64_t now_ms)
{
    return !l->known || l->released || now_ms - l->heard_ms >= l->cfg.lease_ms + l->cfg.grace_ms;
}

struct lease_msg {
    const char *holder, *instance;
    struct lease_key key;
    bool released;
};

static bool lease__whole(double v)
{
    return v >= 0 && v <= 9007199254740992.0 && v == (double)(uint64_t)v;
}

static int lease__parse(const cJSON *o, struct lease_msg *m)
{
    double epoch, seq;
    const char *state = json__str(o, "state");
    m->holder = json__str(o, "holder");
    m->instance = json__str(o, "instance");
    if (!m->holder || !*m->holder || strlen(m->holder) >= 128 || !state ||
        !json__num(o, "epoch", &epoch) || !json__num(o, "seq", &seq) || !lease__whole(epoch) ||
        !lease__whole(seq) || epoch < 1)
        return -1;
    if (strcmp(state, "held") && strcmp(state, "released"))
        return -1;
    m->key = (struct lease_key){(uint64_t)epoch, (uint64_t)seq};
    m->released = !strcmp(state, "released");
    return 0;
}

/* A message we accepted as the topic's newest: what it means for our role. */
static void lease__follow(struct lease *l, bool ours, int64_t now_ms, struct lease_out *out)
{
    if (ours && !l->released) {
        if (l->role != LEASE_ACTIVE) {
            l->takeovers++;
            l->renew_at_ms = now_ms + LEASE_FIRST_RENEW_MS;
            l->mine = l->key;
        }
        lease__set_role(l, LEASE_ACTIVE, out);
        l->echo_ms = now_ms;
        if (l->fenced && out)
            out->changed = true;
        l->fenced = false;
        return;
    }
    if (l->role == LEASE_ACTIVE || l->role == LEASE_CLAIMING)
        lease__set_role(l, LEASE_STANDBY, out);
}

int lease__on_message(struct lease *l, const char *payload, size_t len, int64_t now_ms,
                      struct lease_out *out)
{
    cJSON *o = json__parse(payload, len);
    struct lease_msg m;
    int rc = o ? lease__parse(o, &m) : -1;
    if (rc == 0) {
        int cmp = l->known ? lease__key_cmp(m.key, l->key) : 1;
        bool same_holder = l->known && !strcmp(m.holder, l->holder);
        if (cmp > 0) {
            bool holder_changed = !same_holder;
            l->known = true;
            l->key = m.key;
            l->released = m.released;
            lease__copy(l->holder, sizeof l->holder, m.holder);
            lease__copy(l->holder_instance, sizeof l->holder_instance, m.instance);
            l->heard_ms = now_ms;
            if (holder_changed && out)
                out->changed = true;
            lease__follow(l, !strcmp(m.holder, l->node), now_ms, out);
        }
        else if (cmp == 0 && same_holder) {
            l->heard_ms = now_ms; /* a duplicate or the retained copy */
        }
        /* Older, or the same key from another holder: the losing claim of a
         * race, which the broker delivered second to everyone. */
    }
    cJSON_Delete(o);
    return rc;
}

void lease__on_subscribed(struct lease *l, int64_t now_ms)
{
    if (!l->subscribed && l->role == LEASE_STARTING)
        l->subscribed_ms = now_ms;
    l->subscribed = true;
    if (l->role == LEASE_ACTIVE)
        l->renew_at_ms = now_ms;
    else if (l->heard_ms < now_ms)
        l->heard_ms = now_ms;
}

void lease__on_disconnected(struct lease *l, int64_t now_ms)
{
    (void)now_ms;
    l->subscribed = false;
    if (l->role == LEASE_CLAIMING)
        l->role = LEASE_STANDBY;
    if (l->role == LEASE_ACTIVE)
        l->fenced = true;
}

static int64_t lease__min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t lease__tick_active(struct lease *l, int64_t now_ms, struct lease_out *out)
{
    if (!l->fenced && now_ms - l->echo_ms >= l->cfg.fence_ms) {
        l->fenced = true;
        out->changed = true;
    }
    if (l->subscribed && now_ms >= l->renew_at_ms) {
        lease__emit(l, (struct lease_key){l->mine.epoch, l->mine.seq + 1}, false, out);
        l->renew_at_ms = now_ms + l->cfg.renew_ms;
    }
    int64_t next = l->renew_at_ms;
    if (!l->fenced)
        next = lease__min(next, l->echo_ms + l->cfg.fence_ms);
    return next;
}

int64_t lease__tick(struct lease *l, int64_t now_ms, struct lease_out *out)
{
    struct lease_out scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    if (l->leaving)
        return now_ms + l->cfg.lease_ms;
    int64_t patience = l->heard_ms + l->cfg.lease_ms + l->cfg.grace_ms;
    switch (l->role) {
    case LEASE_STARTING:
        if (!l->subscribed)
            return now_ms + l->cfg.settle_ms;
        if (now_ms - l->subscribed_ms < l->cfg.settle_ms)
            return l->subscribed_ms + l->cfg.settle_ms;
        if (!lease__expired(l, now_ms)) {
            lease__set_role(l, LEASE_STANDBY, out);
            return patience;
        }
        lease__claim(l, now_ms, out);
        return now_ms + l->cfg.lease_ms;
    case LEASE_STANDBY:
        if (!l->subscribed)
            return now_ms + l->cfg.renew_ms;
        if (!lease__expired(l, now_ms))
            return patience;
        lease__claim(l, now_ms, out);
        return now_ms + l->cfg.lease_ms;
    case LEASE_CLAIMING:
        if (now_ms - l->claim_ms < l->cfg.lease_ms)
            return l->claim_ms + l->cfg.lease_ms;
        lease__set_role(l, LEASE_STANDBY, out); /* the claim was lost */
        return now_ms;
    case LEASE_ACTIVE:
        return lease__tick_active(l, now_ms, out);
    }
    return now_ms + l->cfg.renew_ms;
}

void lease__release(struct lease *l, int64_t now_ms, struct lease_out *out)
{
    (void)now_ms;
    memset(out, 0, sizeof *out);
    l->leaving = true;
    if (l->role != LEASE_ACTIVE)
        return;
    lease__emit(l, (struct lease_key){l->mine.epoch, l->mine.seq + 1}, true, out);
    lease__set_role(l, LEASE_STANDBY, out);
}

bool lease__writes(const struct lease *l)
{
    return l->role == LEASE_ACTIVE && !l->fenced;
}

const char *lease__role_name(const struct lease *l)
{
    switch (l->role) {
    case LEASE_STARTING:
        return "starting";
    case LEASE_STANDBY:
        return "standby";
    case LEASE_CLAIMING:
        return "claiming";
    case LEASE_ACTIVE:
        return l->fenced ? "fenced" : "active";
    }
    return "starting";
}

const char *lease__holder(const struct lease *l)
{
    return l->known && !l->released ? l->holder : NULL;
}
