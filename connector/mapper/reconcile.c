/* The mapper's pure core; see reconcile.h and docs/mapper.md. */
#include "mapper/reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/clock.h"

static const char *const reconcile__default_busy[] = {"InACall", "InAConferenceCall", "Presenting"};

/* After a failed write this many Graph failures in a row stop a Voice 'false'
 * from waiting for the owed read (Graph may be down for long). */
#define RECONCILE_READ_HOLD_FAILURES 3

void reconcile__config_default(struct reconcile_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->session_ms = 15 * 60 * 1000LL;
    cfg->settle_ms = 5000;
    cfg->echo_grace_ms = 60 * 1000LL;
    cfg->startup_ms = 30 * 1000LL;
    cfg->retry_base_ms = 1000;
    cfg->retry_max_ms = 5 * 60 * 1000LL;
}

const char *reconcile__action_name(enum reconcile_action_kind kind)
{
    switch (kind) {
    case RECONCILE_GRAPH_SET_BUSY:
        return "graph_set_busy";
    case RECONCILE_GRAPH_CLEAR:
        return "graph_clear";
    case RECONCILE_GRAPH_READ:
        return "graph_read";
    case RECONCILE_VOICE_SET:
        return "voice_set";
    }
    return "?";
}

static int64_t reconcile__max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

bool reconcile__is_busy_activity(const struct reconcile_config *cfg, const char *activity)
{
    const char *const *list = cfg->busy ? cfg->busy : reconcile__default_busy;
    size_t n = cfg->busy ? cfg->n_busy
                         : sizeof(reconcile__default_busy) / sizeof(reconcile__default_busy[0]);
    if (!activity || !*activity)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(activity, list[i]) == 0)
            return true;
    }
    return false;
}

void reconcile__user_init(struct reconcile_user *u, const char *tenant, const char *address,
                          int64_t now)
{
    memset(u, 0, sizeof(*u));
    u->tenant = tenant;
    u->address = address;
    /* An earlier run may have left a session and a flag: clear them unless a
     * call needs them (docs/mapper.md, "Start-up"). */
    u->session = RECONCILE_SESSION_UNKNOWN;
    u->session_probe = true;
    u->flag = RECONCILE_FLAG_UNKNOWN;
    u->started = now;
    for (int i = 0; i < 2; i++)
        backoff__init(&u->target[i].backoff, 1000, 5 * 60 * 1000LL);
}

void reconcile__user_free(struct reconcile_user *u)
{
    reconcile_text__release(&u->teams.availability);
    reconcile_text__release(&u->teams.activity);
    reconcile_text__release(&u->teams.source);
    reconcile_text__release(&u->voice.source);
    free(u->last_error);
    u->last_error = NULL;
}

int reconcile__user_copy(struct reconcile_user *dst, const struct reconcile_user *src)
{
    *dst = *src;
    int rc = reconcile_text__own(&dst->teams.availability);
    rc |= reconcile_text__own(&dst->teams.activity);
    rc |= reconcile_text__own(&dst->teams.source);
    rc |= reconcile_text__own(&dst->voice.source);
    if (src->last_error && !(dst->last_error = strdup(src->last_error)))
        rc = -1;
    return rc;
}

void reconcile__restore(struct reconcile_user *u, enum reconcile_record rec)
{
    if (u->session != RECONCILE_SESSION_UNKNOWN || !u->session_probe ||
        u->target[RECONCILE_TEAMS].in_flight)
        return;
    if (rec == RECONCILE_RECORD_MAY_HOLD)
        u->session_probe = false; /* cleared without a read first */
    else if (rec == RECONCILE_RECORD_NONE) {
        u->session = RECONCILE_SESSION_NONE;
        u->session_probe = false;
        /* An InACall reported before the record was read was ambiguous then
         * (the session unknown) and kept no belief; with no session of ours
         * it is the user's own call (docs/mapper.md, "Start-up"). */
        if (u->teams.known && u->teams.busy && u->origin == RECONCILE_ORIGIN_ECHO) {
            u->teams_real = true;
            u->origin = RECONCILE_ORIGIN_USER;
        }
    }
}

static bool reconcile__graph_flight(const struct reconcile_user *u, enum reconcile_action_kind kind)
{
    return u->target[RECONCILE_TEAMS].in_flight && u->target[RECONCILE_TEAMS].flight.kind == kind;
}

/* A session of ours is (or may be) in Teams, or one is being set. */
static bool reconcile__holds_session(const struct reconcile_user *u)
{
    return u->session != RECONCILE_SESSION_NONE ||
           reconcile__graph_flight(u, RECONCILE_GRAPH_SET_BUSY) ||
           reconcile__graph_flight(u, RECONCILE_GRAPH_CLEAR);
}

bool reconcile__may_own_session(const struct reconcile_user *u, const struct reconcile_config *cfg,
                                int64_t now)
{
    if (reconcile__holds_session(u))
        return true;
    /* Notifications lag (up to a minute): an echo may still arrive. */
    return u->cleared_at > 0 && now < u->cleared_at + cfg->echo_grace_ms;
}

/* The read is owed when no session of ours is in Teams; while one is (or a
 * clear is in flight) the clear's completion owes it anyway. */
static void reconcile__owe_read(struct reconcile_user *u, const struct reconcile_config *cfg,
                                int64_t now)
{
    if (reconcile__holds_session(u))
        return;
    if (!u->need_read) {
        u->need_read = true;
        u->read_after = reconcile__max(now, u->cleared_at + cfg->settle_ms);
    }
}

/* Updates the belief from one Teams observation (the echo rule). */
static void reconcile__classify(struct reconcile_user *u, const struct reconcile_config *cfg,
                                int64_t now)
{
    if (!u->teams.busy) {
        u->teams_real = false;
        u->origin = RECONCILE_ORIGIN_NONE;
    }
    else if (strcasecmp(reconcile_text__get(u->teams.activity), RECONCILE_SET_ACTIVITY) != 0) {
        /* The mapper never writes this activity: it is the user's. */
        u->teams_real = true;
        u->origin = RECONCILE_ORIGIN_USER;
    }
    else if (reconcile__may_own_session(u, cfg, now)) {
        /* Ambiguous: our own session and a real 1:1 call look the same. Keep
         * the belief; the read after our clear settles it. */
        u->origin = RECONCILE_ORIGIN_ECHO;
        reconcile__owe_read(u, cfg, now);
    }
    else {
        u->teams_real = true;
        u->origin = RECONCILE_ORIGIN_USER;
    }
}

static void reconcile__teams_store(struct reconcile_user *u, const struct reconcile_config *cfg,
                                   const char *availability, const char *activity, int64_t since,
                                   const char *source, int64_t now)
{
    u->teams.known = true;
    reconcile_text__set(&u->teams.availability, availability);
    reconcile_text__set(&u->teams.activity, activity);
    u->teams.busy = reconcile__is_busy_activity(cfg, activity);
    u->teams.since = since;
    u->teams.at = now;
    reconcile_text__set(&u->teams.source, source);
    u->teams.seq++;
}

void reconcile__teams_report(struct reconcile_user *u, const struct reconcile_config *cfg,
                             const char *availability, const char *activity, int64_t since,
                             const char *source, int64_t now)
{
    reconcile__teams_store(u, cfg, availability, activity, since, source, now);
    reconcile__classify(u, cfg, now);
}

void reconcile__voice_report(struct reconcile_user *u, bool talking, int calls, int64_t since,
                             const char *source, int64_t now)
{
    u->voice.known = true;
    u->voice.calls = calls < 0 ? 0 : calls;
    /* The count is the truth when given; the flag covers a payload without. */
    u->voice.talking = calls >= 0 ? calls > 0 : talking;
    u->voice.since = since;
    u->voice.at = now;
    reconcile_text__set(&u->voice.source, source);
}

static int64_t reconcile__refresh_at(const struct reconcile_user *u,
                                     const struct reconcile_config *cfg)
{
    /* Refresh well before expiry: after half the session, or 5 minutes
     * before its end, whichever is later. */
    int64_t lead = cfg->session_ms / 2;
    if (cfg->session_ms - 5 * 60 * 1000LL > lead)
        lead = cfg->session_ms - 5 * 60 * 1000LL;
    return u->session_at + lead;
}

static size_t reconcile__plan_graph(const struct reconcile_user *u,
                                    const struct reconcile_config *cfg, struct reconcile_action *a)
{
    const struct reconcile_target_state *s = &u->target[RECONCILE_TEAMS];
    if (s->in_flight)
        return 0;
    int64_t nb = s->retry_at;
    /* An unknown Voice input counts as "no call" once start-up is over. */
    if (!u->voice.known)
        nb = reconcile__max(nb, u->started + cfg->startup_ms);
    bool want_busy = !u->retired && u->voice.known && u->voice.talking;
    if (want_busy) {
        a->kind = RECONCILE_GRAPH_SET_BUSY;
        if (u->session == RECONCILE_SESSION_BUSY) {
            a->not_before = reconcile__max(s->retry_at, reconcile__refresh_at(u, cfg));
            a->why = "refresh";
        }
        else {
            a->not_before = s->retry_at;
            a->why = "voice call";
        }
        return 1;
    }
    if (u->session == RECONCILE_SESSION_UNKNOWN && u->session_probe && !u->retired) {
        /* A read changes nothing, so it need not wait for the Voice input;
         * it waits for the Teams one, which names the user's object id that
         * lets 650 users share one read (or for the end of start-up). */
        a->kind = RECONCILE_GRAPH_READ;
        a->not_before = u->teams.known ? s->retry_at
                                       : reconcile__max(s->retry_at, u->started + cfg->startup_ms);
        a->why = "start-up read";
        return 1;
    }
    if (u->session != RECONCILE_SESSION_NONE) {
        a->kind = RECONCILE_GRAPH_CLEAR;
        a->not_before = nb;
        a->why = u->session == RECONCILE_SESSION_UNKNOWN ? "start-up" : "voice call ended";
        return 1;
    }
    if (u->need_read && !u->retired) {
        a->kind = RECONCILE_GRAPH_READ;
        a->not_before = reconcile__max(nb, u->read_after);
        a->why = "settle read";
        return 1;
    }
    return 0;
}

static size_t reconcile__plan_voice(const struct reconcile_user *u,
                                    const struct reconcile_config *cfg, struct reconcile_action *a)
{
    const struct reconcile_target_state *s = &u->target[RECONCILE_VOICE];
    if (s->in_flight || cfg->no_voice_writes)
        return 0;
    bool want = !u->retired && u->teams_real;
    if (want) {
        if (u->flag == RECONCILE_FLAG_TRUE)
            return 0;
        a->kind = RECONCILE_VOICE_SET;
        a->value = true;
        a->not_before = s->retry_at;
        a->why = "teams call";
        return 1;
    }
    /* Only a flag the mapper set (or may have set earlier) is cleared. */
    if (u->flag != RECONCILE_FLAG_TRUE && u->flag != RECONCILE_FLAG_UNKNOWN)
        return 0;
    int64_t nb = s->retry_at;
    if (!u->teams.known && !u->retired)
        nb = reconcile__max(nb, u->started + cfg->startup_ms);
    /* While the truth about Teams is being read, wait for it rather than
     * flap the flag off and on again (unless Graph keeps failing). */
    if (u->need_read && !u->retired &&
        u->target[RECONCILE_TEAMS].failures < RECONCILE_READ_HOLD_FAILURES) {
        const struct reconcile_target_state *g = &u->target[RECONCILE_TEAMS];
        int64_t until = reconcile__max(u->read_after, g->retry_at);
        /* The read itself ends the wait; this is a fallback wake-up. */
        nb = reconcile__max(nb,
                            reconcile__max(until, u->started + cfg->startup_ms) + cfg->settle_ms);
        if (g->in_flight || u->session != RECONCILE_SESSION_NONE)
            nb = RECONCILE_NEVER - 1; /* woken by the graph side's completion */
    }
    a->kind = RECONCILE_VOICE_SET;
    a->value = false;
    a->not_before = nb;
    a->why = u->flag == RECONCILE_FLAG_UNKNOWN ? "start-up" : "teams call ended";
    return 1;
}

size_t reconcile__plan(const struct reconcile_user *u, const struct reconcile_config *cfg,
                       int64_t now, struct reconcile_action *out)
{
    (void)now;
    size_t n = 0;
    memset(out, 0, sizeof(*out) * RECONCILE_MAX_ACTIONS);
    n += reconcile__plan_graph(u, cfg, &out[n]);
    n += reconcile__plan_voice(u, cfg, &out[n]);
    return n;
}

int64_t reconcile__next_due(const struct reconcile_user *u, const struct reconcile_config *cfg,
                            int64_t now)
{
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = reconcile__plan(u, cfg, now, a);
    int64_t due = RECONCILE_NEVER;
    for (size_t i = 0; i < n; i++) {
        if (a[i].not_before < due)
            due = a[i].not_before;
    }
    return due;
}

static enum reconcile_target reconcile__target_of(enum reconcile_action_kind kind)
{
    return kind == RECONCILE_VOICE_SET ? RECONCILE_VOICE : RECONCILE_TEAMS;
}

void reconcile__begin(struct reconcile_user *u, const struct reconcile_action *a, int64_t now)
{
    struct reconcile_target_state *s = &u->target[reconcile__target_of(a->kind)];
    if (a->kind == RECONCILE_GRAPH_READ)
        u->read_seq = u->teams.seq;
    s->in_flight = true;
    s->flight = *a;
    s->flight_started = now;
}

static void reconcile__graph_ok(struct reconcile_user *u, const struct reconcile_config *cfg,
                                const struct reconcile_target_state *s, int64_t now)
{
    if (s->flight.kind != RECONCILE_GRAPH_READ)
        u->session_probe = false; /* what we wrote is known now */
    switch (s->flight.kind) {
    case RECONCILE_GRAPH_SET_BUSY:
        u->session = RECONCILE_SESSION_BUSY;
        /* Counted from when the request left: the session cannot outlive it. */
        u->session_at = s->flight_started;
        u->session_expires = s->flight_started + cfg->session_ms;
        u->need_read = false;
        break;
    case RECONCILE_GRAPH_CLEAR:
        u->session = RECONCILE_SESSION_NONE;
        u->session_at = now;
        u->cleared_at = now;
        u->need_read = true;
        u->read_after = now + cfg->settle_ms;
        u->reads_since_clear = 0;
        break;
    case RECONCILE_GRAPH_READ:
        u->need_read = false;
        break;
    default:
        break;
    }
}

static void reconcile__graph_failed(struct reconcile_user *u,
                                    const struct reconcile_target_state *s)
{
    /* A write that failed may still have landed (a timeout after Graph
     * applied it): a failed set may have made a session, a failed clear may
     * have removed ours. A failed refresh leaves the session we had. */
    if (s->flight.kind == RECONCILE_GRAPH_CLEAR ||
        (s->flight.kind == RECONCILE_GRAPH_SET_BUSY && u->session != RECONCILE_SESSION_BUSY))
        u->session = RECONCILE_SESSION_UNKNOWN;
}

static void reconcile__voice_ok(struct reconcile_user *u, const struct reconcile_target_state *s,
                                int64_t now)
{
    u->flag = s->flight.value ? RECONCILE_FLAG_TRUE : RECONCILE_FLAG_FALSE;
    u->flag_at = now;
}

static void reconcile__voice_failed(struct reconcile_user *u,
                                    const struct reconcile_target_state *s)
{
    /* It may have landed: the flag is now either value. */
    (void)s;
    u->flag = RECONCILE_FLAG_UNKNOWN;
}

/* The last failure's text, on the heap (failures are rare; a fixed array
 * cost 161 bytes a user). Out of memory: no text rather than a stale one. */
static void reconcile__set_error(struct reconcile_user *u, enum reconcile_action_kind kind,
                                 const char *error, int64_t now)
{
    char buf[RECONCILE_ERROR_MAX + 1];
    snprintf(buf, sizeof(buf), "%s: %s", reconcile__action_name(kind), error ? error : "failed");
    u->last_error_at = now;
    if (u->last_error && strcmp(u->last_error, buf) == 0)
        return;
    free(u->last_error);
    u->last_error = strdup(buf);
}

void reconcile__done(struct reconcile_user *u, const struct reconcile_config *cfg,
                     enum reconcile_target target, const struct reconcile_result *res, int64_t now)
{
    struct reconcile_target_state *s = &u->target[target];
    if (!s->in_flight)
        return;
    s->in_flight = false;
    if (res->ok) {
        s->failures = 0;
        s->retry_at = 0;
        backoff__reset(&s->backoff);
        if (target == RECONCILE_TEAMS)
            reconcile__graph_ok(u, cfg, s, now);
        else
            reconcile__voice_ok(u, s, now);
        return;
    }
    s->failures++;
    s->backoff.base_ms = cfg->retry_base_ms;
    s->backoff.max_ms = cfg->retry_max_ms;
    int64_t delay = backoff__next_with(&s->backoff, res->random);
    if (res->retry_after_ms >= 0)
        delay = res->retry_after_ms > 0 ? res->retry_after_ms : 1;
    s->retry_at = now + delay;
    reconcile__set_error(u, s->flight.kind, res->error, now);
    if (target == RECONCILE_TEAMS)
        reconcile__graph_failed(u, s);
    else
        reconcile__voice_failed(u, s);
}

/* The start-up read of a user without a record (reconcile__restore): our leftover
 * session (Busy) is part of the aggregate, which shows it or something that
 * outranks it (DoNotDisturb), unless a user-preferred state hides it; only
 * the record catches that case. Any other availability is taken as no
 * session, and the clear is not sent. */
static void reconcile__probe_result(struct reconcile_user *u, const char *availability)
{
    if (u->session != RECONCILE_SESSION_UNKNOWN || !u->session_probe)
        return;
    u->session_probe = false;
    if (strcasecmp(availability, RECONCILE_SET_AVAILABILITY) != 0 &&
        strcasecmp(availability, "DoNotDisturb") != 0)
        u->session = RECONCILE_SESSION_NONE;
}

void reconcile__teams_read(struct reconcile_user *u, const struct reconcile_config *cfg,
                           const char *availability, const char *activity, int64_t now)
{
    /* A report that came in while the read was out may be newer than what
     * the read saw, or older (notifications lag): neither can be trusted
     * alone, so the report's belief stays and the user is read again. */
    bool raced = u->target[RECONCILE_TEAMS].in_flight && u->teams.seq != u->read_seq;
    struct reconcile_result ok = {.ok = true, .retry_after_ms = -1};
    reconcile__done(u, cfg, RECONCILE_TEAMS, &ok, now);
    reconcile__probe_result(u, availability);
    if (raced) {
        u->need_read = true;
        u->read_after = now;
        return;
    }
    reconcile__teams_store(u, cfg, availability, activity, 0, "read", now);
    if (reconcile__holds_session(u)) {
        /* Cannot happen while the read was the side's only write, but a
         * session of ours makes any InACall ambiguous. */
        reconcile__classify(u, cfg, now);
        return;
    }
    u->reads_since_clear++;
    if (u->teams.busy &&
        strcasecmp(reconcile_text__get(u->teams.activity), RECONCILE_SET_ACTIVITY) == 0 &&
        u->reads_since_clear == 1 && u->cleared_at > 0 &&
        now < u->cleared_at + cfg->echo_grace_ms) {
        /* Right after our clear, Graph may still aggregate our session:
         * confirm an InACall once more, a settle later, before mirroring. */
        u->origin = RECONCILE_ORIGIN_ECHO;
        u->need_read = true;
        u->read_after = now + cfg->settle_ms;
        return;
    }
    /* No session of ours: what Graph says is the user's own truth. */
    u->teams_real = u->teams.busy;
    u->origin = u->teams.busy ? RECONCILE_ORIGIN_USER : RECONCILE_ORIGIN_NONE;
}

/* ---- B/sync/<id> ---- */

/* t is on the core's clock; offset turns it into wall time (0 for the
 * `since` fields, which are wall times already). 0 or never: null. */
static void reconcile__json_time(cJSON *o, const char *key, int64_t t, int64_t offset)
{
    char buf[40];
    if (t > 0 && t < RECONCILE_NEVER - 1)
        cJSON_AddStringToObject(o, key, clock__iso8601(t + offset, buf, sizeof(buf)));
    else
        cJSON_AddNullToObject(o, key);
}

static const char *reconcile__session_name(enum reconcile_session s)
{
    return s == RECONCILE_SESSION_BUSY      ? "busy"
           : s == RECONCILE_SESSION_UNKNOWN ? "unknown"
                                            : "none";
}

static const char *reconcile__flag_name(enum reconcile_flag f)
{
    switch (f) {
    case RECONCILE_FLAG_TRUE:
        return "true";
    case RECONCILE_FLAG_FALSE:
        return "false";
    case RECONCILE_FLAG_UNKNOWN:
        return "unknown";
    default:
        return "none";
    }
}

static const char *reconcile__origin_name(enum reconcile_origin o)
{
    return o == RECONCILE_ORIGIN_USER ? "user" : o == RECONCILE_ORIGIN_ECHO ? "echo" : "none";
}

static cJSON *reconcile__json_inputs_teams(const struct reconcile_user *u)
{
    cJSON *t = cJSON_CreateObject();
    if (!u->teams.known) {
        cJSON_AddBoolToObject(t, "known", false);
        return t;
    }
    cJSON_AddBoolToObject(t, "known", true);
    cJSON_AddBoolToObject(t, "busy", u->teams.busy);
    cJSON_AddStringToObject(t, "availability", reconcile_text__get(u->teams.availability));
    cJSON_AddStringToObject(t, "activity", reconcile_text__get(u->teams.activity));
    reconcile__json_time(t, "since", u->teams.since, 0);
    cJSON_AddStringToObject(t, "source", reconcile_text__get(u->teams.source));
    cJSON_AddStringToObject(t, "origin", reconcile__origin_name(u->origin));
    cJSON_AddBoolToObject(t, "real_call", u->teams_real);
    return t;
}

static cJSON *reconcile__json_inputs_voice(const struct reconcile_user *u)
{
    cJSON *v = cJSON_CreateObject();
    cJSON_AddBoolToObject(v, "known", u->voice.known);
    if (!u->voice.known)
        return v;
    cJSON_AddBoolToObject(v, "talking", u->voice.talking);
    cJSON_AddNumberToObject(v, "calls", u->voice.calls);
    reconcile__json_time(v, "since", u->voice.since, 0);
    cJSON_AddStringToObject(v, "source", reconcile_text__get(u->voice.source));
    return v;
}

static cJSON *reconcile__json_written(const struct reconcile_user *u, int64_t off)
{
    cJSON *w = cJSON_CreateObject();
    cJSON *t = cJSON_AddObjectToObject(w, "teams");
    cJSON_AddStringToObject(t, "session", reconcile__session_name(u->session));
    if (u->session == RECONCILE_SESSION_BUSY) {
        cJSON_AddStringToObject(t, "availability", RECONCILE_SET_AVAILABILITY);
        cJSON_AddStringToObject(t, "activity", RECONCILE_SET_ACTIVITY);
        reconcile__json_time(t, "at", u->session_at, off);
        reconcile__json_time(t, "expires", u->session_expires, off);
    }
    else {
        reconcile__json_time(t, "at", u->session_at, off);
    }
    cJSON *v = cJSON_AddObjectToObject(w, "voice");
    cJSON_AddStringToObject(v, "talking", reconcile__flag_name(u->flag));
    reconcile__json_time(v, "at", u->flag_at, off);
    return w;
}

static cJSON *reconcile__json_pending(const struct reconcile_user *u,
                                      const struct reconcile_config *cfg, int64_t now, int64_t off)
{
    cJSON *arr = cJSON_CreateArray();
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = reconcile__plan(u, cfg, now, a);
    for (size_t i = 0; i < n; i++) {
        /* Refreshes are routine, not pending work. */
        if (a[i].kind == RECONCILE_GRAPH_SET_BUSY && u->session == RECONCILE_SESSION_BUSY &&
            a[i].not_before > now)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "action", reconcile__action_name(a[i].kind));
        if (a[i].kind == RECONCILE_VOICE_SET)
            cJSON_AddBoolToObject(o, "value", a[i].value);
        cJSON_AddStringToObject(o, "why", a[i].why);
        reconcile__json_time(o, "not_before", a[i].not_before > now ? a[i].not_before : 0, off);
        int target = reconcile__target_of(a[i].kind);
        cJSON_AddNumberToObject(o, "failures", u->target[target].failures);
        cJSON_AddItemToArray(arr, o);
    }
    for (int target = 0; target < 2; target++) {
        const struct reconcile_target_state *s = &u->target[target];
        if (!s->in_flight)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "action", reconcile__action_name(s->flight.kind));
        if (s->flight.kind == RECONCILE_VOICE_SET)
            cJSON_AddBoolToObject(o, "value", s->flight.value);
        cJSON_AddStringToObject(o, "why", s->flight.why ? s->flight.why : "");
        cJSON_AddBoolToObject(o, "in_flight", true);
        cJSON_AddNumberToObject(o, "failures", s->failures);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

char *reconcile__sync_json(const struct reconcile_user *u, const struct reconcile_config *cfg,
                           int64_t now, int64_t off)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "user", u->address);
    cJSON_AddStringToObject(root, "tenant", u->tenant);
    cJSON *in = cJSON_AddObjectToObject(root, "inputs");
    cJSON_AddItemToObject(in, "teams", reconcile__json_inputs_teams(u));
    cJSON_AddItemToObject(in, "voice", reconcile__json_inputs_voice(u));
    cJSON_AddItemToObject(root, "written", reconcile__json_written(u, off));
    cJSON_AddItemToObject(root, "pending", reconcile__json_pending(u, cfg, now, off));
    if (u->last_error) {
        cJSON *e = cJSON_AddObjectToObject(root, "last_error");
        cJSON_AddStringToObject(e, "error", u->last_error);
        reconcile__json_time(e, "at", u->last_error_at, off);
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
