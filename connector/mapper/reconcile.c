/* The mapper's pure core; see reconcile.h and docs/mapper.md. */
#include "mapper/reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/clock.h"

static const char *const rc__default_busy[] = {"InACall", "InAConferenceCall", "Presenting"};

/* After a failed write this many Graph failures in a row stop a Voice 'false'
 * from waiting for the owed read (Graph may be down for long). */
#define RC_READ_HOLD_FAILURES 3

void rc__config_default(struct rc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->session_ms = 15 * 60 * 1000LL;
    cfg->settle_ms = 5000;
    cfg->echo_grace_ms = 60 * 1000LL;
    cfg->startup_ms = 30 * 1000LL;
    cfg->retry_base_ms = 1000;
    cfg->retry_max_ms = 5 * 60 * 1000LL;
}

const char *rc__action_name(enum rc_action_kind kind)
{
    switch (kind) {
    case RC_GRAPH_SET_BUSY:
        return "graph_set_busy";
    case RC_GRAPH_CLEAR:
        return "graph_clear";
    case RC_GRAPH_READ:
        return "graph_read";
    case RC_VOICE_SET:
        return "voice_set";
    }
    return "?";
}

static void rc__copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static int64_t rc__max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

bool rc__is_busy_activity(const struct rc_config *cfg, const char *activity)
{
    const char *const *list = cfg->busy ? cfg->busy : rc__default_busy;
    size_t n = cfg->busy ? cfg->n_busy : sizeof(rc__default_busy) / sizeof(rc__default_busy[0]);
    if (!activity || !*activity)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(activity, list[i]) == 0)
            return true;
    }
    return false;
}

void rc__user_init(struct rc_user *u, const char *tenant, const char *address, int64_t now)
{
    memset(u, 0, sizeof(*u));
    u->tenant = tenant;
    u->address = address;
    /* An earlier run may have left a session and a flag: clear them unless a
     * call needs them (docs/mapper.md, "Start-up"). */
    u->gw = RC_GW_UNKNOWN;
    u->gw_probe = true;
    u->vw = RC_VW_UNKNOWN;
    u->started = now;
    for (int i = 0; i < 2; i++)
        backoff__init(&u->side[i].backoff, 1000, 5 * 60 * 1000LL);
}

void rc__restore(struct rc_user *u, enum rc_record rec)
{
    if (u->gw != RC_GW_UNKNOWN || !u->gw_probe || u->side[RC_SIDE_GRAPH].in_flight)
        return;
    if (rec == RC_RECORD_MAY_HOLD)
        u->gw_probe = false; /* cleared without a read first */
    else if (rec == RC_RECORD_NONE) {
        u->gw = RC_GW_NONE;
        u->gw_probe = false;
    }
}

static bool rc__graph_flight(const struct rc_user *u, enum rc_action_kind kind)
{
    return u->side[RC_SIDE_GRAPH].in_flight && u->side[RC_SIDE_GRAPH].flight.kind == kind;
}

/* A session of ours is (or may be) in Teams, or one is being set. */
static bool rc__holds_session(const struct rc_user *u)
{
    return u->gw != RC_GW_NONE || rc__graph_flight(u, RC_GRAPH_SET_BUSY) ||
           rc__graph_flight(u, RC_GRAPH_CLEAR);
}

bool rc__may_own_session(const struct rc_user *u, const struct rc_config *cfg, int64_t now)
{
    if (rc__holds_session(u))
        return true;
    /* Notifications lag (up to a minute): an echo may still arrive. */
    return u->cleared_at > 0 && now < u->cleared_at + cfg->echo_grace_ms;
}

/* The read is owed when no session of ours is in Teams; while one is (or a
 * clear is in flight) the clear's completion owes it anyway. */
static void rc__owe_read(struct rc_user *u, const struct rc_config *cfg, int64_t now)
{
    if (rc__holds_session(u))
        return;
    if (!u->need_read) {
        u->need_read = true;
        u->read_after = rc__max(now, u->cleared_at + cfg->settle_ms);
    }
}

/* Updates the belief from one Teams observation (the echo rule). */
static void rc__classify(struct rc_user *u, const struct rc_config *cfg, int64_t now)
{
    if (!u->teams.busy) {
        u->teams_real = false;
        u->origin = RC_ORIGIN_NONE;
    }
    else if (strcasecmp(u->teams.activity, RC_SET_ACTIVITY) != 0) {
        /* The mapper never writes this activity: it is the user's. */
        u->teams_real = true;
        u->origin = RC_ORIGIN_USER;
    }
    else if (rc__may_own_session(u, cfg, now)) {
        /* Ambiguous: our own session and a real 1:1 call look the same. Keep
         * the belief; the read after our clear settles it. */
        u->origin = RC_ORIGIN_ECHO;
        rc__owe_read(u, cfg, now);
    }
    else {
        u->teams_real = true;
        u->origin = RC_ORIGIN_USER;
    }
}

static void rc__teams_store(struct rc_user *u, const struct rc_config *cfg,
                            const char *availability, const char *activity, int64_t since,
                            const char *source, int64_t now)
{
    u->teams.known = true;
    rc__copy(u->teams.availability, sizeof(u->teams.availability), availability);
    rc__copy(u->teams.activity, sizeof(u->teams.activity), activity);
    u->teams.busy = rc__is_busy_activity(cfg, activity);
    u->teams.since = since;
    u->teams.at = now;
    rc__copy(u->teams.source, sizeof(u->teams.source), source);
    u->teams.seq++;
}

void rc__teams_report(struct rc_user *u, const struct rc_config *cfg, const char *availability,
                      const char *activity, int64_t since, const char *source, int64_t now)
{
    rc__teams_store(u, cfg, availability, activity, since, source, now);
    rc__classify(u, cfg, now);
}

void rc__voice_report(struct rc_user *u, bool talking, int calls, int64_t since, const char *source,
                      int64_t now)
{
    u->voice.known = true;
    u->voice.calls = calls < 0 ? 0 : calls;
    /* The count is the truth when given; the flag covers a payload without. */
    u->voice.talking = calls >= 0 ? calls > 0 : talking;
    u->voice.since = since;
    u->voice.at = now;
    rc__copy(u->voice.source, sizeof(u->voice.source), source);
}

static int64_t rc__refresh_at(const struct rc_user *u, const struct rc_config *cfg)
{
    /* Refresh well before expiry: after half the session, or 5 minutes
     * before its end, whichever is later. */
    int64_t lead = cfg->session_ms / 2;
    if (cfg->session_ms - 5 * 60 * 1000LL > lead)
        lead = cfg->session_ms - 5 * 60 * 1000LL;
    return u->gw_at + lead;
}

static size_t rc__plan_graph(const struct rc_user *u, const struct rc_config *cfg,
                             struct rc_action *a)
{
    const struct rc_side_state *s = &u->side[RC_SIDE_GRAPH];
    if (s->in_flight)
        return 0;
    int64_t nb = s->retry_at;
    /* An unknown Voice input counts as "no call" once start-up is over. */
    if (!u->voice.known)
        nb = rc__max(nb, u->started + cfg->startup_ms);
    bool want_busy = !u->retired && u->voice.known && u->voice.talking;
    if (want_busy) {
        a->kind = RC_GRAPH_SET_BUSY;
        if (u->gw == RC_GW_BUSY) {
            a->not_before = rc__max(s->retry_at, rc__refresh_at(u, cfg));
            a->why = "refresh";
        }
        else {
            a->not_before = s->retry_at;
            a->why = "voice call";
        }
        return 1;
    }
    if (u->gw == RC_GW_UNKNOWN && u->gw_probe && !u->retired) {
        /* A read changes nothing, so it need not wait for the Voice input;
         * it waits for the Teams one, which names the user's object id that
         * lets 650 users share one read (or for the end of start-up). */
        a->kind = RC_GRAPH_READ;
        a->not_before =
            u->teams.known ? s->retry_at : rc__max(s->retry_at, u->started + cfg->startup_ms);
        a->why = "start-up read";
        return 1;
    }
    if (u->gw != RC_GW_NONE) {
        a->kind = RC_GRAPH_CLEAR;
        a->not_before = nb;
        a->why = u->gw == RC_GW_UNKNOWN ? "start-up" : "voice call ended";
        return 1;
    }
    if (u->need_read && !u->retired) {
        a->kind = RC_GRAPH_READ;
        a->not_before = rc__max(nb, u->read_after);
        a->why = "settle read";
        return 1;
    }
    return 0;
}

static size_t rc__plan_voice(const struct rc_user *u, const struct rc_config *cfg,
                             struct rc_action *a)
{
    const struct rc_side_state *s = &u->side[RC_SIDE_VOICE];
    if (s->in_flight || cfg->no_voice_writes)
        return 0;
    bool want = !u->retired && u->teams_real;
    if (want) {
        if (u->vw == RC_VW_TRUE)
            return 0;
        a->kind = RC_VOICE_SET;
        a->value = true;
        a->not_before = s->retry_at;
        a->why = "teams call";
        return 1;
    }
    /* Only a flag the mapper set (or may have set earlier) is cleared. */
    if (u->vw != RC_VW_TRUE && u->vw != RC_VW_UNKNOWN)
        return 0;
    int64_t nb = s->retry_at;
    if (!u->teams.known && !u->retired)
        nb = rc__max(nb, u->started + cfg->startup_ms);
    /* While the truth about Teams is being read, wait for it rather than
     * flap the flag off and on again (unless Graph keeps failing). */
    if (u->need_read && !u->retired && u->side[RC_SIDE_GRAPH].failures < RC_READ_HOLD_FAILURES) {
        const struct rc_side_state *g = &u->side[RC_SIDE_GRAPH];
        int64_t until = rc__max(u->read_after, g->retry_at);
        /* The read itself ends the wait; this is a fallback wake-up. */
        nb = rc__max(nb, rc__max(until, u->started + cfg->startup_ms) + cfg->settle_ms);
        if (g->in_flight || u->gw != RC_GW_NONE)
            nb = RC_NEVER - 1; /* woken by the graph side's completion */
    }
    a->kind = RC_VOICE_SET;
    a->value = false;
    a->not_before = nb;
    a->why = u->vw == RC_VW_UNKNOWN ? "start-up" : "teams call ended";
    return 1;
}

size_t rc__plan(const struct rc_user *u, const struct rc_config *cfg, int64_t now,
                struct rc_action *out)
{
    (void)now;
    size_t n = 0;
    memset(out, 0, sizeof(*out) * RC_MAX_ACTIONS);
    n += rc__plan_graph(u, cfg, &out[n]);
    n += rc__plan_voice(u, cfg, &out[n]);
    return n;
}

int64_t rc__next_due(const struct rc_user *u, const struct rc_config *cfg, int64_t now)
{
    struct rc_action a[RC_MAX_ACTIONS];
    size_t n = rc__plan(u, cfg, now, a);
    int64_t due = RC_NEVER;
    for (size_t i = 0; i < n; i++) {
        if (a[i].not_before < due)
            due = a[i].not_before;
    }
    return due;
}

static enum rc_side rc__side_of(enum rc_action_kind kind)
{
    return kind == RC_VOICE_SET ? RC_SIDE_VOICE : RC_SIDE_GRAPH;
}

void rc__begin(struct rc_user *u, const struct rc_action *a, int64_t now)
{
    struct rc_side_state *s = &u->side[rc__side_of(a->kind)];
    if (a->kind == RC_GRAPH_READ)
        u->read_seq = u->teams.seq;
    s->in_flight = true;
    s->flight = *a;
    s->flight_started = now;
}

static void rc__graph_ok(struct rc_user *u, const struct rc_config *cfg,
                         const struct rc_side_state *s, int64_t now)
{
    if (s->flight.kind != RC_GRAPH_READ)
        u->gw_probe = false; /* what we wrote is known now */
    switch (s->flight.kind) {
    case RC_GRAPH_SET_BUSY:
        u->gw = RC_GW_BUSY;
        /* Counted from when the request left: the session cannot outlive it. */
        u->gw_at = s->flight_started;
        u->gw_expires = s->flight_started + cfg->session_ms;
        u->need_read = false;
        break;
    case RC_GRAPH_CLEAR:
        u->gw = RC_GW_NONE;
        u->gw_at = now;
        u->cleared_at = now;
        u->need_read = true;
        u->read_after = now + cfg->settle_ms;
        u->reads_since_clear = 0;
        break;
    case RC_GRAPH_READ:
        u->need_read = false;
        break;
    default:
        break;
    }
}

static void rc__graph_failed(struct rc_user *u, const struct rc_side_state *s)
{
    /* A write that failed may still have landed (a timeout after Graph
     * applied it): a failed set may have made a session, a failed clear may
     * have removed ours. A failed refresh leaves the session we had. */
    if (s->flight.kind == RC_GRAPH_CLEAR ||
        (s->flight.kind == RC_GRAPH_SET_BUSY && u->gw != RC_GW_BUSY))
        u->gw = RC_GW_UNKNOWN;
}

static void rc__voice_ok(struct rc_user *u, const struct rc_side_state *s, int64_t now)
{
    u->vw = s->flight.value ? RC_VW_TRUE : RC_VW_FALSE;
    u->vw_at = now;
}

static void rc__voice_failed(struct rc_user *u, const struct rc_side_state *s)
{
    /* It may have landed: the flag is now either value. */
    (void)s;
    u->vw = RC_VW_UNKNOWN;
}

void rc__done(struct rc_user *u, const struct rc_config *cfg, enum rc_side side,
              const struct rc_result *res, int64_t now)
{
    struct rc_side_state *s = &u->side[side];
    if (!s->in_flight)
        return;
    s->in_flight = false;
    if (res->ok) {
        s->failures = 0;
        s->retry_at = 0;
        backoff__reset(&s->backoff);
        if (side == RC_SIDE_GRAPH)
            rc__graph_ok(u, cfg, s, now);
        else
            rc__voice_ok(u, s, now);
        return;
    }
    s->failures++;
    s->backoff.base_ms = cfg->retry_base_ms;
    s->backoff.max_ms = cfg->retry_max_ms;
    int64_t delay = backoff__next_with(&s->backoff, res->random);
    if (res->retry_after_ms >= 0)
        delay = res->retry_after_ms > 0 ? res->retry_after_ms : 1;
    s->retry_at = now + delay;
    snprintf(u->last_error, sizeof(u->last_error), "%s: %s", rc__action_name(s->flight.kind),
             res->error ? res->error : "failed");
    u->last_error_at = now;
    if (side == RC_SIDE_GRAPH)
        rc__graph_failed(u, s);
    else
        rc__voice_failed(u, s);
}

/* The start-up read of a user without a record (rc__restore): our leftover
 * session (Busy) is part of the aggregate, which shows it or something that
 * outranks it (DoNotDisturb), unless a user-preferred state hides it; only
 * the record catches that case. Any other availability is taken as no
 * session, and the clear is not sent. */
static void rc__probe_result(struct rc_user *u, const char *availability)
{
    if (u->gw != RC_GW_UNKNOWN || !u->gw_probe)
        return;
    u->gw_probe = false;
    if (strcasecmp(availability, RC_SET_AVAILABILITY) != 0 &&
        strcasecmp(availability, "DoNotDisturb") != 0)
        u->gw = RC_GW_NONE;
}

void rc__teams_read(struct rc_user *u, const struct rc_config *cfg, const char *availability,
                    const char *activity, int64_t now)
{
    /* A report that came in while the read was out may be newer than what
     * the read saw, or older (notifications lag): neither can be trusted
     * alone, so the report's belief stays and the user is read again. */
    bool raced = u->side[RC_SIDE_GRAPH].in_flight && u->teams.seq != u->read_seq;
    struct rc_result ok = {.ok = true, .retry_after_ms = -1};
    rc__done(u, cfg, RC_SIDE_GRAPH, &ok, now);
    rc__probe_result(u, availability);
    if (raced) {
        u->need_read = true;
        u->read_after = now;
        return;
    }
    rc__teams_store(u, cfg, availability, activity, 0, "read", now);
    if (rc__holds_session(u)) {
        /* Cannot happen while the read was the side's only write, but a
         * session of ours makes any InACall ambiguous. */
        rc__classify(u, cfg, now);
        return;
    }
    u->reads_since_clear++;
    if (u->teams.busy && strcasecmp(u->teams.activity, RC_SET_ACTIVITY) == 0 &&
        u->reads_since_clear == 1 && u->cleared_at > 0 &&
        now < u->cleared_at + cfg->echo_grace_ms) {
        /* Right after our clear, Graph may still aggregate our session:
         * confirm an InACall once more, a settle later, before mirroring. */
        u->origin = RC_ORIGIN_ECHO;
        u->need_read = true;
        u->read_after = now + cfg->settle_ms;
        return;
    }
    /* No session of ours: what Graph says is the user's own truth. */
    u->teams_real = u->teams.busy;
    u->origin = u->teams.busy ? RC_ORIGIN_USER : RC_ORIGIN_NONE;
}

/* ---- B/sync/<id> ---- */

/* t is on the core's clock; offset turns it into wall time (0 for the
 * `since` fields, which are wall times already). 0 or never: null. */
static void rc__json_time(cJSON *o, const char *key, int64_t t, int64_t offset)
{
    char buf[40];
    if (t > 0 && t < RC_NEVER - 1)
        cJSON_AddStringToObject(o, key, clock__iso8601(t + offset, buf, sizeof(buf)));
    else
        cJSON_AddNullToObject(o, key);
}

static const char *rc__gw_name(enum rc_graph_written gw)
{
    return gw == RC_GW_BUSY ? "busy" : gw == RC_GW_UNKNOWN ? "unknown" : "none";
}

static const char *rc__vw_name(enum rc_voice_written vw)
{
    switch (vw) {
    case RC_VW_TRUE:
        return "true";
    case RC_VW_FALSE:
        return "false";
    case RC_VW_UNKNOWN:
        return "unknown";
    default:
        return "none";
    }
}

static const char *rc__origin_name(enum rc_origin o)
{
    return o == RC_ORIGIN_USER ? "user" : o == RC_ORIGIN_ECHO ? "echo" : "none";
}

static cJSON *rc__json_inputs_teams(const struct rc_user *u)
{
    cJSON *t = cJSON_CreateObject();
    if (!u->teams.known) {
        cJSON_AddBoolToObject(t, "known", false);
        return t;
    }
    cJSON_AddBoolToObject(t, "known", true);
    cJSON_AddBoolToObject(t, "busy", u->teams.busy);
    cJSON_AddStringToObject(t, "availability", u->teams.availability);
    cJSON_AddStringToObject(t, "activity", u->teams.activity);
    rc__json_time(t, "since", u->teams.since, 0);
    cJSON_AddStringToObject(t, "source", u->teams.source);
    cJSON_AddStringToObject(t, "origin", rc__origin_name(u->origin));
    cJSON_AddBoolToObject(t, "real_call", u->teams_real);
    return t;
}

static cJSON *rc__json_inputs_voice(const struct rc_user *u)
{
    cJSON *v = cJSON_CreateObject();
    cJSON_AddBoolToObject(v, "known", u->voice.known);
    if (!u->voice.known)
        return v;
    cJSON_AddBoolToObject(v, "talking", u->voice.talking);
    cJSON_AddNumberToObject(v, "calls", u->voice.calls);
    rc__json_time(v, "since", u->voice.since, 0);
    cJSON_AddStringToObject(v, "source", u->voice.source);
    return v;
}

static cJSON *rc__json_written(const struct rc_user *u, int64_t off)
{
    cJSON *w = cJSON_CreateObject();
    cJSON *t = cJSON_AddObjectToObject(w, "teams");
    cJSON_AddStringToObject(t, "session", rc__gw_name(u->gw));
    if (u->gw == RC_GW_BUSY) {
        cJSON_AddStringToObject(t, "availability", RC_SET_AVAILABILITY);
        cJSON_AddStringToObject(t, "activity", RC_SET_ACTIVITY);
        rc__json_time(t, "at", u->gw_at, off);
        rc__json_time(t, "expires", u->gw_expires, off);
    }
    else {
        rc__json_time(t, "at", u->gw_at, off);
    }
    cJSON *v = cJSON_AddObjectToObject(w, "voice");
    cJSON_AddStringToObject(v, "talking", rc__vw_name(u->vw));
    rc__json_time(v, "at", u->vw_at, off);
    return w;
}

static cJSON *rc__json_pending(const struct rc_user *u, const struct rc_config *cfg, int64_t now,
                               int64_t off)
{
    cJSON *arr = cJSON_CreateArray();
    struct rc_action a[RC_MAX_ACTIONS];
    size_t n = rc__plan(u, cfg, now, a);
    for (size_t i = 0; i < n; i++) {
        /* Refreshes are routine, not pending work. */
        if (a[i].kind == RC_GRAPH_SET_BUSY && u->gw == RC_GW_BUSY && a[i].not_before > now)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "action", rc__action_name(a[i].kind));
        if (a[i].kind == RC_VOICE_SET)
            cJSON_AddBoolToObject(o, "value", a[i].value);
        cJSON_AddStringToObject(o, "why", a[i].why);
        rc__json_time(o, "not_before", a[i].not_before > now ? a[i].not_before : 0, off);
        int side = rc__side_of(a[i].kind);
        cJSON_AddNumberToObject(o, "failures", u->side[side].failures);
        cJSON_AddItemToArray(arr, o);
    }
    for (int side = 0; side < 2; side++) {
        const struct rc_side_state *s = &u->side[side];
        if (!s->in_flight)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "action", rc__action_name(s->flight.kind));
        if (s->flight.kind == RC_VOICE_SET)
            cJSON_AddBoolToObject(o, "value", s->flight.value);
        cJSON_AddStringToObject(o, "why", s->flight.why ? s->flight.why : "");
        cJSON_AddBoolToObject(o, "in_flight", true);
        cJSON_AddNumberToObject(o, "failures", s->failures);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

char *rc__sync_json(const struct rc_user *u, const struct rc_config *cfg, int64_t now, int64_t off)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "user", u->address);
    cJSON_AddStringToObject(root, "tenant", u->tenant);
    cJSON *in = cJSON_AddObjectToObject(root, "inputs");
    cJSON_AddItemToObject(in, "teams", rc__json_inputs_teams(u));
    cJSON_AddItemToObject(in, "voice", rc__json_inputs_voice(u));
    cJSON_AddItemToObject(root, "written", rc__json_written(u, off));
    cJSON_AddItemToObject(root, "pending", rc__json_pending(u, cfg, now, off));
    if (u->last_error[0]) {
        cJSON *e = cJSON_AddObjectToObject(root, "last_error");
        cJSON_AddStringToObject(e, "error", u->last_error);
        rc__json_time(e, "at", u->last_error_at, off);
    }
    else {
        cJSON_AddNullToObject(root, "last_error");
    }
    if (u->retired)
        cJSON_AddBoolToObject(root, "retired", true);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}
