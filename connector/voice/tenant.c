/* One tenant of the Voice side: see tenant.h.
 *
 * The link is a chain of steps, one outstanding at a time:
 *   discover -> me -> users -> token -> negotiate -> WebSocket -> handshake
 *   -> subscribe -> live
 * A failed step is retried after a backoff delay (discovery and /users/me
 * from themselves, the rest from `token`, so every reconnect uses a fresh
 * token and re-subscribes). `chain` numbers each attempt: completions of an
 * abandoned attempt are ignored, and so are RTE callbacks of an older
 * connection generation.
 *
 * After a link loss the call state is kept (see docs/voice.md): a
 * disconnect missed while down leaves a call that calls__expire() drops
 * after max_call_minutes; clearing instead would wrongly end every call that
 * is still going on, and the model has no REST "current calls" to ask.
 * Across a daemon restart the calls are carried over the same way: seeded
 * from the previous run's retained voice/<id>/talking (vtenant__seed), and
 * no state is published before that seed had its chance.
 */
#include "voice/tenant.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/backoff.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/status.h"
#include "voice/calls.h"
#include "voice/discovery.h"
#include "voice/rest.h"
#include "voice/rte.h"
#include "voice/signalr.h"
#include "voice/talking.h"
#include "voice/writer.h"

#define CONNECT_TIMEOUT_MS   20000
#define MAX_REDIRECTS        5
#define TOKEN_REFRESH_MIN_MS 5000
#define HEALTH_MAX_MISSING   100

enum vlink {
    VL_IDLE,
    VL_DISCOVERING,
    VL_AUTHENTICATING,
    VL_LOADING_USERS,
    VL_TOKEN,
    VL_NEGOTIATING,
    VL_CONNECTING,
    VL_HANDSHAKE,
    VL_SUBSCRIBING,
    VL_LIVE,
    VL_WAITING,     /* backoff before the next attempt */
    VL_AUTH_FAILED, /* waiting too, but the credentials were refused */
    VL_STOPPED,
    VL_WRITER, /* writer_only: REST session and user map ready, no link */
};

static const char *const vlink_names[] = {
    "idle",         "discovering", "authenticating", "loading_users", "token",
    "negotiating",  "connecting",  "handshake",      "subscribing",   "live",
    "reconnecting", "auth_failed", "stopped",        "writer_only",
};

struct vuser {
    char *address;
    char *id; /* lower-cased */
    char *topic;
    int64_t idle_since_ms; /* wall ms: when the user last stopped talking */
    bool announced;        /* state published at least once */
};

struct vseed {
    char *address;
    size_t calls;
    int64_t since_ms;
    bool applied; /* kept while the window is open: one seed per user */
};

struct vtenant {
    struct loop *loop;
    struct bus *bus;
    struct http_client *http;
    struct voice_writer *writer;
    struct vtenant_options o; /* strings below are our copies */
    char *name, *discovery_url, *api_url_cfg, *username, *topic_prefix, *health_name;
    char *t_method, *t_path, *t_body;
    struct voice_rest *rest;
    char *me_id;

    char **addresses;
    size_t n_addresses;
    struct vuser *users; /* sorted by id */
    size_t n_users;
    bool users_loaded;
    atomic_bool users_ready; /* users_loaded, for the webhook thread */
    char **missing;
    size_t n_missing;
    /* Users that left the map on a reload, for the writer: the mapper still
     * writes their flag false (it may have set it). address/id pairs. */
    char **former;
    size_t n_former;

    enum vlink state;
    unsigned chain;
    struct backoff bo;
    loop_timer_id retry_timer, ping_timer, watchdog_timer, token_timer, users_timer, expire_timer;
    loop_timer_id resub_timer; /* retry of a refused Subscribe on the live link */
    bool stopping;
    bool refreshing_users;

    /* the current session */
    char *token;
    char *endpoint;
    int64_t token_exp_s;
    int redirects;
    struct rte_link *rte;
    unsigned gen;
    struct signalr_reader rd;
    bool handshaken;
    int64_t last_rx_ms, opened_ms;
    uint64_t next_invocation;
    char (*pending_subs)[24];
    size_t n_pending_subs;
    bool sub_failed_round;

    /* reporting */
    char last_error[256];
    int64_t last_error_ms;
    int64_t live_since_ms;
    unsigned reconnects;
    unsigned subscribe_errors;
    char last_subscribe_error[256];
    unsigned write_failures;
    cJSON *last_write_failure;

    struct calls *calls;

    /* Carried-over calls: while `seeding`, states are not published;
     * seeds wait in `seeds` until the user map can turn them into calls. */
    bool seeding;
    struct vseed *seeds;
    size_t n_seeds;
};

static void vtenant__step_discover(struct vtenant *t);
static void vtenant__step_me(struct vtenant *t);
static void vtenant__step_users(struct vtenant *t, bool in_chain);
static void vtenant__step_token(struct vtenant *t);
static void vtenant__link_lost(struct vtenant *t, const char *reason);
static void vtenant__dropped(void *ctx, const char *user_id, const char *call_id,
                             int64_t started_ms, bool stopped_talking);

/* ---- small helpers -------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int64_t opt_or(int64_t v, int64_t dflt)
{
    return v > 0 ? v : dflt;
}

const char *vtenant__name(const struct vtenant *t)
{
    return t->name;
}

bool vtenant__accepting_events(struct vtenant *t)
{
    return atomic_load(&t->users_ready);
}

/* ---- B/health and readiness --------------------------------------------------- */

static bool vtenant__ready(const struct vtenant *t)
{
    return (t->state == VL_LIVE && !t->sub_failed_round) || t->state == VL_WRITER;
}

static void vtenant__report(struct vtenant *t)
{
    char ts[32];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "link", vlink_names[t->state]);
    cJSON_AddBoolToObject(o, "ready", vtenant__ready(t));
    if (voice_rest__api(t->rest))
        cJSON_AddStringToObject(o, "api_url", voice_rest__api(t->rest));
    if (t->state == VL_LIVE && t->live_since_ms)
        cJSON_AddStringToObject(o, "connected_since",
                                clock__iso8601(t->live_since_ms, ts, sizeof(ts)));
    if (t->token_exp_s)
        cJSON_AddStringToObject(o, "token_expires",
                                clock__iso8601(t->token_exp_s * 1000, ts, sizeof(ts)));
    cJSON_AddNumberToObject(o, "reconnects", t->reconnects);
    cJSON *u = cJSON_AddObjectToObject(o, "users");
    cJSON_AddNumberToObject(u, "configured", (double)t->n_addresses);
    cJSON_AddBoolToObject(u, "loaded", t->users_loaded);
    cJSON_AddNumberToObject(u, "matched", (double)t->n_users);
    cJSON_AddNumberToObject(u, "missing_count", (double)t->n_missing);
    cJSON *miss = cJSON_AddArrayToObject(u, "missing");
    for (size_t i = 0; i < t->n_missing && i < HEALTH_MAX_MISSING; i++)
        cJSON_AddItemToArray(miss, cJSON_CreateString(t->missing[i]));
    cJSON_AddNumberToObject(o, "talking", (double)calls__users_talking(t->calls));
    cJSON_AddNumberToObject(o, "subscribe_errors", t->subscribe_errors);
    if (t->last_subscribe_error[0])
        cJSON_AddStringToObject(o, "last_subscribe_error", t->last_subscribe_error);
    if (t->last_error[0]) {
        cJSON_AddStringToObject(o, "last_error", t->last_error);
        cJSON_AddStringToObject(o, "last_error_at",
                                clock__iso8601(t->last_error_ms, ts, sizeof(ts)));
    }
    cJSON_AddBoolToObject(o, "webhook", t->o.webhook_enabled);
    cJSON *w = cJSON_AddObjectToObject(o, "writer");
    cJSON_AddNumberToObject(w, "failures", t->write_failures);
    if (t->last_write_failure)
        cJSON_AddItemToObject(w, "last_failure", cJSON_Duplicate(t->last_write_failure, true));
    status__set(t->name, "voice", o);

    const char *reason = NULL;
    char why[320];
    if (!vtenant__ready(t)) {
        if (t->state == VL_LIVE)
            snprintf(why, sizeof(why), "Voice subscribe failed: %s", t->last_subscribe_error);
        else
            snprintf(why, sizeof(why), "Voice link %s%s%s", vlink_names[t->state],
                     t->last_error[0] ? ": " : "", t->last_error);
        reason = why;
    }
    health__set(t->health_name, vtenant__ready(t), reason);
    char labels[96];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__set("voice_rte_connected", labels, t->state == VL_LIVE ? 1 : 0);
    metrics__set("voice_users_talking", labels, (double)calls__users_talking(t->calls));
    metrics__set("voice_users_matched", labels, (double)t->n_users);
}

/* Counts one event of the tenant (voice_token_refreshes_total, ...). */
static void vtenant__count(const struct vtenant *t, const char *metric, double by)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__inc(metric, labels, by);
}

static void vtenant__set_state(struct vtenant *t, enum vlink s)
{
    if (t->state == s)
        return;
    t->state = s;
    vtenant__report(t);
}

static void vtenant__error(struct vtenant *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void vtenant__error(struct vtenant *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->last_error, sizeof(t->last_error), fmt, ap);
    va_end(ap);
    t->last_error_ms = clock__wall_ms();
}

/* ---- users ---------------------------------------------------------------------- */

static int vuser__cmp(const void *a, const void *b)
{
    return strcmp(((const struct vuser *)a)->id, ((const struct vuser *)b)->id);
}

static struct vuser *vtenant__user(struct vtenant *t, const char *id)
{
    struct vuser key = {.id = (char *)id};
    return t->n_users ? bsearch(&key, t->users, t->n_users, sizeof(*t->users), vuser__cmp) : NULL;
}

static void vusers__free(struct vuser *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(u[i].address);
        free(u[i].id);
        free(u[i].topic);
    }
    free(u);
}

static void strv__free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

#define VTENANT_FORMER_MAX 8192 /* address/id pairs kept for removed users */

/* The former list after the map changes from t->users to nu[0..n) (sorted
 * by id): the users that left, and earlier leavers that did not come back
 * (capped). Returns 0, or -1 when out of memory (the old list stays). */
static int vtenant__keep_former(struct vtenant *t, const struct vuser *nu, size_t n)
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
        if (n && bsearch(&key, nu, n, sizeof(*nu), vuser__cmp))
            continue;
        f[k] = strdup(addr);
        f[k + 1] = strdup(id);
        if (!f[k] || !f[k + 1]) {
            free(f[k]);
            strv__free(f, k);
            return -1;
        }
        k += 2;
    }
    strv__free(t->former, t->n_former);
    t->former = f;
    t->n_former = k;
    return 0;
}

static bool strv__has_ci(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v[i], s) == 0)
            return true;
    return false;
}

static char *vtenant__topic(const struct vtenant *t, const char *address)
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

static void vtenant__publish(struct vtenant *t, struct vuser *u, const char *source)
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
static void vtenant__announce(struct vtenant *t)
{
    for (size_t i = 0; i < t->n_users; i++)
        if (!t->users[i].announced)
            vtenant__publish(t, &t->users[i], "resync");
}

/* Builds the user map from /users; returns the ids that are new (for a
 * Subscribe while live) in *fresh (malloc'd array of pointers into users). */
static int vtenant__apply_users(struct vtenant *t, const struct voice_users *vu,
                                const char ***fresh, size_t *n_fresh)
{
    struct voice_mapping m;
    *fresh = NULL;
    *n_fresh = 0;
    if (discovery__map_users(vu, (const char *const *)t->addresses, t->n_addresses, &m) != 0)
        return -1;
    struct vuser *nu = calloc(m.n_matched ? m.n_matched : 1, sizeof(*nu));
    char **missing = calloc(m.n_missing ? m.n_missing : 1, sizeof(*missing));
    const char **fr = calloc(m.n_matched ? m.n_matched : 1, sizeof(*fr));
    size_t n = 0, nf = 0;
    int64_t now = clock__wall_ms();
    bool oom = !nu || !missing || !fr;
    for (size_t i = 0; !oom && i < m.n_matched; i++) {
        struct vuser *u = &nu[n];
        u->id = strdup(m.matched[i].user_id);
        u->address = strdup(m.matched[i].address);
        lower(u->id);
        u->topic = u->address ? vtenant__topic(t, u->address) : NULL;
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
        const struct vuser *old = vtenant__user(t, u->id);
        u->idle_since_ms = old ? old->idle_since_ms : now;
        u->announced = old ? old->announced : false;
        n++;
    }
    if (!oom) {
        qsort(nu, n, sizeof(*nu), vuser__cmp);
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
            else if (!strv__has_ci(t->missing, t->n_missing, missing[i]))
                LOG_WARN("voice", "user not found in Voice tenant=%s user=%s", t->name, missing[i]);
        }
    }
    if (oom) {
        vusers__free(nu, n);
        strv__free(missing, m.n_missing);
        free(fr);
        voice_mapping__free(&m);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!vtenant__user(t, nu[i].id))
            fr[nf++] = nu[i].id;
    if (vtenant__keep_former(t, nu, n) != 0)
        LOG_WARN("voice", "out of memory: removed users' flags may stay set tenant=%s", t->name);
    vusers__free(t->users, t->n_users);
    strv__free(t->missing, t->n_missing);
    t->users = nu;
    t->n_users = n;
    t->missing = missing;
    t->n_missing = m.n_missing;
    t->users_loaded = true;
    atomic_store(&t->users_ready, true);
    LOG_INFO("voice",
             "user map loaded tenant=%s configured=%zu matched=%zu missing=%zu "
             "voice_users=%zu",
             t->name, t->n_addresses, n, m.n_missing, vu->n);
    voice_mapping__free(&m);
    *fresh = fr;
    *n_fresh = nf;
    return 0;
}

/* ---- carried-over calls (daemon restart) ---------------------------------------- */

static void vseeds__free(struct vseed *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].address);
    free(s);
}

/* Frees the seeds once the window is closed and all are applied. */
static void vtenant__seeds_tidy(struct vtenant *t)
{
    for (size_t i = 0; i < t->n_seeds; i++)
        if (!t->seeds[i].applied)
            return;
    if (t->seeding)
        return; /* still needed to refuse a second seed of the same user */
    vseeds__free(t->seeds, t->n_seeds);
    t->seeds = NULL;
    t->n_seeds = 0;
}

/* Turns the seeds into calls once the user map says who is who; a seed of
 * an address Voice does not know is dropped (no events can end it). */
static void vtenant__apply_seeds(struct vtenant *t)
{
    char ts[32];
    bool any = false;
    for (size_t i = 0; i < t->n_seeds; i++) {
        struct vseed *s = &t->seeds[i];
        const struct vuser *u = NULL;
        if (s->applied)
            continue;
        s->applied = any = true;
        for (size_t k = 0; k < t->n_users && !u; k++)
            if (strcasecmp(t->users[k].address, s->address) == 0)
                u = &t->users[k];
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
    vtenant__seeds_tidy(t);
}

bool vtenant__seed(struct vtenant *t, const char *address, size_t calls, int64_t since_ms)
{
    if (!t->seeding || calls == 0 || !strv__has_ci(t->addresses, t->n_addresses, address))
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
        vtenant__apply_seeds(t);
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
    vtenant__seeds_tidy(t);
    if (t->state == VL_LIVE)
        vtenant__announce(t);
}

/* ---- step plumbing ------------------------------------------------------------- */

struct vreq {
    struct vtenant *t;
    unsigned chain;
    bool in_chain; /* part of the link chain (else a user map refresh) */
};

static struct vreq *vreq__new(struct vtenant *t, bool in_chain)
{
    struct vreq *r = malloc(sizeof(*r));
    if (r) {
        r->t = t;
        r->chain = t->chain;
        r->in_chain = in_chain;
    }
    return r;
}

/* Takes r; returns the tenant when the completion still matters. */
static struct vtenant *vreq__take(struct vreq *r)
{
    struct vtenant *t = r->t;
    bool stale = t->stopping || (r->in_chain && r->chain != t->chain);
    free(r);
    return stale ? NULL : t;
}

static void vtenant__retry_fire(void *arg)
{
    struct vtenant *t = arg;
    t->retry_timer = 0;
    if (t->stopping)
        return;
    if (!voice_rest__api(t->rest))
        vtenant__step_discover(t);
    else if (!t->me_id)
        vtenant__step_me(t);
    else if (!t->users_loaded)
        vtenant__step_users(t, true);
    else
        vtenant__step_token(t);
}

/* A step failed: log, report, and try again after a backoff delay. */
static void vtenant__fail(struct vtenant *t, enum vlink state, int64_t at_least_ms, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
static void vtenant__fail(struct vtenant *t, enum vlink state, int64_t at_least_ms, const char *fmt,
                          ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->last_error, sizeof(t->last_error), fmt, ap);
    va_end(ap);
    t->last_error_ms = clock__wall_ms();
    t->chain++;
    /* The retry fetches a fresh token anyway. */
    loop__timer_cancel(t->loop, t->token_timer);
    t->token_timer = 0;
    int64_t delay = backoff__next(&t->bo);
    if (at_least_ms > delay)
        delay = at_least_ms;
    LOG_WARN("voice", "link step failed tenant=%s step=%s error=\"%s\" retry_ms=%" PRId64, t->name,
             vlink_names[t->state], t->last_error, delay);
    loop__timer_cancel(t->loop, t->retry_timer);
    t->retry_timer = loop__timer(t->loop, delay, vtenant__retry_fire, t);
    t->state = state;
    vtenant__report(t);
}

/* ---- discovery, /users/me, /users ------------------------------------------------ */

static void vtenant__on_discover(void *ctx, const struct http_result *res)
{
    struct vtenant *t = vreq__take(ctx);
    char err[200], why[96];
    char *api = NULL;
    if (!t)
        return;
    if (res->status != 200) {
        vtenant__fail(t, VL_WAITING, res->retry_after_ms, "discovery: %s",
                      voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    if (discovery__parse_endpoint(res->body, res->body_len, &api, err, sizeof(err)) != 0) {
        vtenant__fail(t, VL_WAITING, 0, "discovery: %s", err);
        return;
    }
    voice_rest__set_api(t->rest, api);
    LOG_INFO("voice", "discovered tenant=%s api=%s", t->name, api);
    free(api);
    vtenant__step_me(t);
}

static void vtenant__step_discover(struct vtenant *t)
{
    vtenant__set_state(t, VL_DISCOVERING);
    struct vreq *r = vreq__new(t, true);
    if (!r || voice_rest__discover(t->rest, t->discovery_url, t->username, vtenant__on_discover,
                                   r) != 0) {
        free(r);
        vtenant__fail(t, VL_WAITING, 0, "discovery: cannot send the request");
    }
}

static void vtenant__on_me(void *ctx, const struct http_result *res)
{
    struct vtenant *t = vreq__take(ctx);
    char err[200], why[96];
    if (!t)
        return;
    if (res->status == 401 || res->status == 403) {
        /* Not retried fast: the key will not fix itself, but a rotated key
         * or a re-enabled account should be picked up eventually. */
        vtenant__fail(t, VL_AUTH_FAILED, 0,
                      "GET /users/me: %s: credentials refused (check voice.username and "
                      "voice.secret_key)",
                      voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    if (res->status != 200) {
        vtenant__fail(t, VL_WAITING, res->retry_after_ms, "GET /users/me: %s",
                      voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    free(t->me_id);
    t->me_id = NULL;
    if (discovery__parse_me(res->body, res->body_len, &t->me_id, err, sizeof(err)) != 0) {
        vtenant__fail(t, VL_WAITING, 0, "GET /users/me: %s", err);
        return;
    }
    LOG_INFO("voice", "authenticated tenant=%s user=%s id=%s", t->name, t->username, t->me_id);
    vtenant__step_users(t, true);
}

static void vtenant__step_me(struct vtenant *t)
{
    vtenant__set_state(t, VL_AUTHENTICATING);
    struct vreq *r = vreq__new(t, true);
    if (!r || voice_rest__call(t->rest, "GET", "/users/me", NULL, vtenant__on_me, r) != 0) {
        free(r);
        vtenant__fail(t, VL_WAITING, 0, "GET /users/me: cannot send the request");
    }
}

static void vtenant__subscribe(struct vtenant *t, const char *const *ids, size_t n);

static void vtenant__on_users(void *ctx, const struct http_result *res)
{
    struct vreq *r = ctx;
    bool in_chain = r->in_chain;
    struct vtenant *t = vreq__take(r);
    char err[200] = "out of memory";
    if (!t)
        return;
    if (!in_chain)
        t->refreshing_users = false;
    struct voice_users vu = {0};
    const char **fresh = NULL;
    size_t n_fresh = 0;
    if (res->status != 200 ||
        discovery__parse_users(res->body, res->body_len, &vu, err, sizeof(err)) != 0 ||
        vtenant__apply_users(t, &vu, &fresh, &n_fresh) != 0) {
        if (res->status != 200)
            voice_rest__reason(res, err, sizeof(err));
        voice_users__free(&vu);
        if (in_chain) {
            vtenant__fail(t, VL_WAITING, res->retry_after_ms, "GET /users: %s", err);
        }
        else {
            LOG_WARN("voice", "user map refresh failed, keeping the old one tenant=%s error=\"%s\"",
                     t->name, err);
            vtenant__error(t, "GET /users: %s", err);
            vtenant__report(t);
        }
        return;
    }
    voice_users__free(&vu);
    vtenant__apply_seeds(t);
    if (in_chain && t->o.writer_only) {
        free(fresh);
        backoff__reset(&t->bo);
        LOG_INFO("voice", "writer ready (no RTE link in this process) tenant=%s users=%zu", t->name,
                 t->n_users);
        vtenant__set_state(t, VL_WRITER);
        return;
    }
    if (in_chain) {
        free(fresh);
        vtenant__report(t);
        vtenant__step_token(t);
        return;
    }
    if (n_fresh && t->handshaken)
        vtenant__subscribe(t, fresh, n_fresh);
    free(fresh);
    if (t->state == VL_LIVE)
        vtenant__announce(t);
    vtenant__report(t);
}

static void vtenant__step_users(struct vtenant *t, bool in_chain)
{
    if (in_chain)
        vtenant__set_state(t, VL_LOADING_USERS);
    else if (t->refreshing_users)
        return;
    struct vreq *r = vreq__new(t, in_chain);
    if (!r || voice_rest__call(t->rest, "GET", "/users", NULL, vtenant__on_users, r) != 0) {
        free(r);
        if (in_chain)
            vtenant__fail(t, VL_WAITING, 0, "GET /users: cannot send the request");
        return;
    }
    if (!in_chain)
        t->refreshing_users = true;
}

static void vtenant__users_timer(void *arg)
{
    struct vtenant *t = arg;
    t->users_timer =
        loop__timer(t->loop, opt_or(t->o.users_refresh_ms, 3600000), vtenant__users_timer, t);
    if (t->me_id && t->users_loaded)
        vtenant__step_users(t, false);
}

/* ---- token and negotiate -------------------------------------------------------------- */

static void vtenant__token_refresh(void *arg)
{
    struct vtenant *t = arg;
    t->token_timer = 0;
    if (t->stopping)
        return;
    LOG_INFO("voice", "RTE token near expiry, reconnecting with a fresh one tenant=%s", t->name);
    /* Forget the connection first so its close is not counted as a loss. */
    unsigned gen = t->gen;
    t->gen = 0;
    if (t->rte && gen)
        rte_link__close(t->rte, gen);
    loop__timer_cancel(t->loop, t->ping_timer);
    loop__timer_cancel(t->loop, t->watchdog_timer);
    loop__timer_cancel(t->loop, t->retry_timer);
    t->ping_timer = t->watchdog_timer = t->retry_timer = 0;
    t->handshaken = false;
    t->chain++;
    vtenant__step_token(t);
}

static void vtenant__step_negotiate(struct vtenant *t);

static void vtenant__on_token(void *ctx, const struct http_result *res)
{
    struct vtenant *t = vreq__take(ctx);
    char err[200], why[96];
    if (!t)
        return;
    if (res->status != 200) {
        vtenant__count(t, "voice_token_failures_total", 1);
        vtenant__fail(t, res->status == 401 || res->status == 403 ? VL_AUTH_FAILED : VL_WAITING,
                      res->retry_after_ms, "GET /token/{me}/rte/: %s",
                      voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    char *token = NULL, *ep = NULL;
    if (discovery__parse_rte_token(res->body, res->body_len, &token, &ep, err, sizeof(err)) != 0) {
        vtenant__count(t, "voice_token_failures_total", 1);
        vtenant__fail(t, VL_WAITING, 0, "GET /token/{me}/rte/: %s", err);
        return;
    }
    vtenant__count(t, "voice_token_refreshes_total", 1);
    free(t->token);
    free(t->endpoint);
    t->token = token;
    t->endpoint = ep;
    t->redirects = 0;
    int64_t exp = 0;
    loop__timer_cancel(t->loop, t->token_timer);
    t->token_timer = 0;
    t->token_exp_s = 0;
    if (signalr__jwt_exp(token, &exp) == 0) {
        t->token_exp_s = exp;
        int64_t delay = signalr__refresh_delay_ms(exp, clock__wall_ms());
        if (delay < TOKEN_REFRESH_MIN_MS)
            delay = TOKEN_REFRESH_MIN_MS;
        t->token_timer = loop__timer(t->loop, delay, vtenant__token_refresh, t);
        LOG_DEBUG("voice", "RTE token tenant=%s refresh_in_ms=%" PRId64, t->name, delay);
    }
    else {
        LOG_WARN("voice", "RTE token has no readable exp; refreshed on reconnect only tenant=%s",
                 t->name);
    }
    vtenant__step_negotiate(t);
}

static void vtenant__step_token(struct vtenant *t)
{
    vtenant__set_state(t, VL_TOKEN);
    char path[256];
    char *me = http__escape(t->me_id);
    snprintf(path, sizeof(path), "/token/%s/rte/", me ? me : "");
    free(me);
    struct vreq *r = vreq__new(t, true);
    if (!r || voice_rest__call(t->rest, "GET", path, NULL, vtenant__on_token, r) != 0) {
        free(r);
        vtenant__fail(t, VL_WAITING, 0, "GET /token/{me}/rte/: cannot send the request");
    }
}

static void vtenant__open_ws(struct vtenant *t, const char *connection_token);

static void vtenant__on_negotiate(void *ctx, const struct http_result *res)
{
    struct vtenant *t = vreq__take(ctx);
    char err[200], why[96];
    if (!t)
        return;
    if (res->status != 200) {
        vtenant__fail(t, VL_WAITING, res->retry_after_ms, "negotiate: %s",
                      voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    struct signalr_negotiate n = {0};
    int rc = signalr__parse_negotiate(res->body, res->body_len, &n, err, sizeof(err));
    if (rc == SIGNALR_NEG_CONNECT) {
        vtenant__open_ws(t, n.connection_token);
    }
    else if (rc == SIGNALR_NEG_REDIRECT && t->redirects < MAX_REDIRECTS) {
        t->redirects++;
        free(t->endpoint);
        t->endpoint = n.url;
        n.url = NULL;
        if (n.access_token) {
            free(t->token);
            t->token = n.access_token;
            n.access_token = NULL;
        }
        vtenant__step_negotiate(t);
    }
    else if (rc == SIGNALR_NEG_REDIRECT) {
        vtenant__fail(t, VL_WAITING, 0, "negotiate: more than %d redirects", MAX_REDIRECTS);
    }
    else if (rc == SIGNALR_NEG_ERROR) {
        vtenant__fail(t, VL_WAITING, 0, "negotiate: server error: %.150s", n.error ? n.error : "?");
    }
    else {
        vtenant__fail(t, VL_WAITING, 0, "negotiate: %s", err);
    }
    signalr_negotiate__free(&n);
}

static void vtenant__step_negotiate(struct vtenant *t)
{
    vtenant__set_state(t, VL_NEGOTIATING);
    char *url = signalr__negotiate_url(t->endpoint);
    struct vreq *r = url ? vreq__new(t, true) : NULL;
    if (!r || voice_rest__post_bearer(t->rest, url, t->token, vtenant__on_negotiate, r) != 0) {
        free(r);
        vtenant__fail(t, VL_WAITING, 0, "negotiate: bad endpoint or cannot send the request");
    }
    free(url);
}

/* ---- WebSocket session ------------------------------------------------------------------ */

static void vtenant__send(struct vtenant *t, const char *data, size_t len)
{
    if (rte_link__send(t->rte, t->gen, data, len) != 0)
        LOG_DEBUG("voice", "RTE send dropped (link gone) tenant=%s", t->name);
}

static void vtenant__ping(void *arg)
{
    struct vtenant *t = arg;
    t->ping_timer = 0;
    if (t->stopping || !t->handshaken)
        return;
    size_t len = 0;
    const char *rec = signalr__ping_record(&len);
    vtenant__send(t, rec, len);
    t->ping_timer = loop__timer(t->loop, opt_or(t->o.ping_ms, 15000), vtenant__ping, t);
}

/* Closes the connection as lost (a reconnect follows). */
static void vtenant__drop(struct vtenant *t, const char *reason)
{
    unsigned gen = t->gen;
    t->gen = 0;
    if (gen)
        rte_link__close(t->rte, gen);
    vtenant__link_lost(t, reason);
}

static void vtenant__watchdog(void *arg)
{
    struct vtenant *t = arg;
    int64_t silence = opt_or(t->o.silence_ms, 30000);
    t->watchdog_timer = 0;
    if (t->stopping || !t->gen)
        return;
    int64_t now = clock__mono_ms();
    char why[96];
    if (!t->handshaken && t->state == VL_CONNECTING && now - t->opened_ms > CONNECT_TIMEOUT_MS) {
        vtenant__drop(t, "WebSocket connect timed out");
        return;
    }
    if (t->last_rx_ms && now - t->last_rx_ms > silence) {
        snprintf(why, sizeof(why), "no message from the server for %" PRId64 " ms",
                 now - t->last_rx_ms);
        vtenant__drop(t, why);
        return;
    }
    t->watchdog_timer =
        loop__timer(t->loop, silence / 6 > 0 ? silence / 6 : 1000, vtenant__watchdog, t);
}

static void vtenant__open_ws(struct vtenant *t, const char *connection_token)
{
    char *url = signalr__ws_url(t->endpoint, connection_token, t->token);
    if (!url) {
        vtenant__fail(t, VL_WAITING, 0, "cannot build the WebSocket URL");
        return;
    }
    signalr_reader__reset(&t->rd);
    t->handshaken = false;
    t->last_rx_ms = 0;
    t->opened_ms = clock__mono_ms();
    t->gen = rte_link__open(t->rte, url, t->token);
    free(url);
    if (!t->gen) {
        vtenant__fail(t, VL_WAITING, 0, "bad WebSocket URL");
        return;
    }
    vtenant__set_state(t, VL_CONNECTING);
    loop__timer_cancel(t->loop, t->watchdog_timer);
    t->watchdog_timer = loop__timer(t->loop, 1000, vtenant__watchdog, t);
}

static void vtenant__on_open(void *ctx, unsigned gen)
{
    struct vtenant *t = ctx;
    if (t->stopping || gen != t->gen)
        return;
    size_t len = 0;
    const char *hs = signalr__handshake_record(&len);
    t->last_rx_ms = clock__mono_ms();
    vtenant__send(t, hs, len);
    vtenant__set_state(t, VL_HANDSHAKE);
}

static void vtenant__go_live(struct vtenant *t)
{
    if (t->state == VL_LIVE)
        return;
    if (!t->sub_failed_round)
        backoff__reset(&t->bo);
    t->live_since_ms = clock__wall_ms();
    LOG_INFO("voice", "RTE link live tenant=%s users=%zu", t->name, t->n_users);
    t->state = VL_LIVE;
    vtenant__announce(t);
    vtenant__report(t);
}

static void vtenant__subscribe(struct vtenant *t, const char *const *ids, size_t n)
{
    struct signalr_records recs = {0};
    if (signalr__build_subscribe(ids, n, 0, &t->next_invocation, &recs) != 0) {
        vtenant__drop(t, "cannot build Subscribe");
        return;
    }
    void *np =
        realloc(t->pending_subs, (t->n_pending_subs + recs.n + 1) * sizeof(*t->pending_subs));
    if (!np) {
        signalr_records__free(&recs);
        vtenant__drop(t, "out of memory");
        return;
    }
    t->pending_subs = np;
    for (size_t i = 0; i < recs.n; i++) {
        memcpy(t->pending_subs[t->n_pending_subs++], recs.items[i].invocation_id,
               sizeof(t->pending_subs[0]));
        vtenant__send(t, recs.items[i].data, recs.items[i].len);
    }
    LOG_INFO("voice", "subscribing tenant=%s users=%zu invocations=%zu", t->name, n, recs.n);
    signalr_records__free(&recs);
}

static void vtenant__subscribe_all(struct vtenant *t)
{
    t->n_pending_subs = 0;
    t->sub_failed_round = false;
    const char **ids = malloc((t->n_users ? t->n_users : 1) * sizeof(*ids));
    if (!ids) {
        vtenant__drop(t, "out of memory");
        return;
    }
    for (size_t i = 0; i < t->n_users; i++)
        ids[i] = t->users[i].id;
    vtenant__set_state(t, VL_SUBSCRIBING);
    if (t->n_users)
        vtenant__subscribe(t, ids, t->n_users);
    free(ids);
    if (t->gen && t->n_pending_subs == 0)
        vtenant__go_live(t);
}

/* A refused Subscribe is retried on the same live link, with backoff: the
 * refusal may be a passing hub problem or a permission fixed meanwhile. A
 * lost link makes this moot (the reconnect subscribes everything anew). */
static void vtenant__resubscribe(void *arg)
{
    struct vtenant *t = arg;
    t->resub_timer = 0;
    if (t->stopping || t->state != VL_LIVE || !t->gen || !t->sub_failed_round)
        return;
    LOG_INFO("voice", "retrying the refused Subscribe tenant=%s users=%zu", t->name, t->n_users);
    vtenant__subscribe_all(t);
}

static void vtenant__schedule_resubscribe(struct vtenant *t)
{
    int64_t delay = backoff__next(&t->bo);
    loop__timer_cancel(t->loop, t->resub_timer);
    t->resub_timer = loop__timer(t->loop, delay, vtenant__resubscribe, t);
    LOG_INFO("voice", "Subscribe will be retried tenant=%s retry_ms=%" PRId64, t->name, delay);
}

/* A Subscribe's result may list every entry with its Success (as
 * SubscribeDetails does, enreach-voice.md §2). Counts the refused ones and describes the first in
 * err; a result of another shape counts as accepted. */
static size_t vtenant__refused_entries(const cJSON *result, char *err, size_t errlen)
{
    size_t n = 0;
    const cJSON *e = NULL;
    if (!cJSON_IsArray(result))
        return 0;
    cJSON_ArrayForEach(e, result)
    {
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(e, "Success");
        if (!cJSON_IsFalse(ok))
            continue;
        if (n++ == 0) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "EntityId");
            const cJSON *ev = cJSON_GetObjectItemCaseSensitive(e, "EventName");
            snprintf(err, errlen, "entries refused by the hub (first: %.64s %.64s)",
                     cJSON_IsString(id) ? id->valuestring : "?",
                     cJSON_IsString(ev) ? ev->valuestring : "?");
        }
    }
    return n;
}

/* The hub may also report a Subscribe's entries with a SubscribeDetails
 * callback (enreach-voice.md §2): refused entries count as a refusal. */
static void vtenant__subscribe_details(struct vtenant *t, const cJSON *details)
{
    size_t refused =
        vtenant__refused_entries(details, t->last_subscribe_error, sizeof(t->last_subscribe_error));
    if (refused == 0 || (t->state != VL_LIVE && t->state != VL_SUBSCRIBING))
        return;
    t->subscribe_errors++;
    LOG_ERROR("voice", "SubscribeDetails: entries refused tenant=%s refused=%zu error=\"%s\"",
              t->name, refused, t->last_subscribe_error);
    bool first = !t->sub_failed_round;
    t->sub_failed_round = true;
    /* While subscribing, the round's last completion schedules the retry. */
    if (first && t->state == VL_LIVE && t->n_pending_subs == 0) {
        vtenant__report(t);
        vtenant__schedule_resubscribe(t);
    }
}

static void vtenant__completion(struct vtenant *t, const struct signalr_msg *m)
{
    size_t i;
    for (i = 0; i < t->n_pending_subs; i++)
        if (strcmp(t->pending_subs[i], m->invocation_id) == 0)
            break;
    if (i == t->n_pending_subs) {
        LOG_DEBUG("voice", "completion for an unknown invocation tenant=%s id=%s", t->name,
                  m->invocation_id);
        return;
    }
    memmove(&t->pending_subs[i], &t->pending_subs[i + 1],
            (t->n_pending_subs - i - 1) * sizeof(t->pending_subs[0]));
    t->n_pending_subs--;
    size_t refused = 0;
    if (m->error) {
        t->subscribe_errors++;
        t->sub_failed_round = true;
        snprintf(t->last_subscribe_error, sizeof(t->last_subscribe_error), "%.200s", m->error);
        LOG_ERROR("voice", "Subscribe refused tenant=%s invocation=%s error=\"%s\"", t->name,
                  m->invocation_id, t->last_subscribe_error);
    }
    else if ((refused = vtenant__refused_entries(m->result, t->last_subscribe_error,
                                                 sizeof(t->last_subscribe_error))) > 0) {
        /* Accepted as a call, but some entries not: their users get no
         * events. Same answer as a refusal: not ready, retried. */
        t->subscribe_errors++;
        t->sub_failed_round = true;
        LOG_ERROR("voice",
                  "Subscribe entries refused tenant=%s invocation=%s refused=%zu error=\"%s\"",
                  t->name, m->invocation_id, refused, t->last_subscribe_error);
    }
    else {
        LOG_DEBUG("voice", "Subscribe confirmed tenant=%s invocation=%s", t->name,
                  m->invocation_id);
    }
    if (t->n_pending_subs == 0) {
        if (t->state == VL_SUBSCRIBING)
            vtenant__go_live(t);
        else
            vtenant__report(t);
        if (t->sub_failed_round)
            vtenant__schedule_resubscribe(t);
    }
}

static void vtenant__event(struct vtenant *t, const struct voice_call_event *ev, const char *source)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",source=\"%s\",kind=\"%s\"", t->name, source,
             events__kind_name(ev->kind));
    metrics__inc("voice_events_total", labels, 1);
    if (ev->kind == VOICE_CALL_OTHER) {
        LOG_DEBUG("voice", "event ignored tenant=%s source=%s event=%s", t->name, source, ev->name);
        return;
    }
    struct vuser *u = vtenant__user(t, ev->user_id);
    if (!u) {
        LOG_DEBUG("voice", "event for a user not configured tenant=%s voice_id=%s", t->name,
                  ev->user_id);
        return;
    }
    size_t before = calls__count(t->calls, u->id);
    size_t carried = calls__carried(t->calls, u->id);
    int64_t now = clock__wall_ms();
    if (calls__event(t->calls, ev, now) < 0) {
        LOG_WARN("voice", "call event refused tenant=%s user=%s event=%s call=%s", t->name,
                 u->address, ev->name, ev->call_id);
        return;
    }
    size_t after = calls__count(t->calls, u->id);
    LOG_INFO("voice", "call event tenant=%s user=%s event=%s call=%s source=%s calls=%zu%s",
             t->name, u->address, ev->name, ev->call_id, source, after,
             calls__carried(t->calls, u->id) < carried ? " (ends a carried-over call)" : "");
    if (after == before)
        return;
    if (after == 0)
        u->idle_since_ms = now;
    vtenant__publish(t, u, source);
    if ((before == 0) != (after == 0))
        vtenant__report(t);
}

static void vtenant__record(struct vtenant *t, const char *rec, size_t len)
{
    char err[200];
    if (!t->handshaken) {
        if (signalr__parse_handshake(rec, len, err, sizeof(err)) != 0) {
            char why[240];
            snprintf(why, sizeof(why), "handshake refused: %s", err);
            vtenant__drop(t, why);
            return;
        }
        t->handshaken = true;
        loop__timer_cancel(t->loop, t->ping_timer);
        t->ping_timer = loop__timer(t->loop, opt_or(t->o.ping_ms, 15000), vtenant__ping, t);
        vtenant__subscribe_all(t);
        return;
    }
    struct signalr_msg m;
    if (signalr__parse(rec, len, &m, err, sizeof(err)) != 0) {
        LOG_WARN("voice", "bad RTE record ignored tenant=%s error=\"%s\"", t->name, err);
        signalr_msg__free(&m);
        return;
    }
    switch (m.type) {
    case SIGNALR_INVOCATION:
        if (strcmp(m.target, "MessageReceived") == 0) {
            struct voice_call_event ev;
            const cJSON *arg = cJSON_GetArrayItem(m.arguments, 0);
            if (events__parse_rte(arg, &ev, err, sizeof(err)) != 0)
                LOG_WARN("voice", "bad RTE event ignored tenant=%s error=\"%s\"", t->name, err);
            else
                vtenant__event(t, &ev, "rte");
        }
        else if (strcmp(m.target, "SubscribeDetails") == 0) {
            vtenant__subscribe_details(t, cJSON_GetArrayItem(m.arguments, 0));
        }
        else {
            LOG_DEBUG("voice", "RTE invocation ignored tenant=%s target=%s", t->name, m.target);
        }
        break;
    case SIGNALR_COMPLETION:
        vtenant__completion(t, &m);
        break;
    case SIGNALR_CLOSE: {
        char why[240];
        snprintf(why, sizeof(why), "server closed the hub%s%.180s%s", m.error ? ": " : "",
                 m.error ? m.error : "", m.allow_reconnect ? " (reconnect allowed)" : "");
        signalr_msg__free(&m);
        vtenant__drop(t, why);
        return;
    }
    default: /* pings refresh last_rx; the rest is not for us */
        break;
    }
    signalr_msg__free(&m);
}

static void vtenant__on_data(void *ctx, unsigned gen, const char *data, size_t len)
{
    struct vtenant *t = ctx;
    if (t->stopping || gen != t->gen)
        return;
    t->last_rx_ms = clock__mono_ms();
    if (signalr_reader__feed(&t->rd, (const uint8_t *)data, len) != 0) {
        vtenant__drop(t, "RTE record too large");
        return;
    }
    const char *rec;
    size_t rlen;
    int rc = 0;
    while (gen == t->gen && (rc = signalr_reader__next(&t->rd, &rec, &rlen)) == 1)
        vtenant__record(t, rec, rlen);
    if (gen == t->gen && rc < 0)
        vtenant__drop(t, "RTE record too large");
}

static void vtenant__link_lost(struct vtenant *t, const char *reason)
{
    loop__timer_cancel(t->loop, t->ping_timer);
    loop__timer_cancel(t->loop, t->watchdog_timer);
    loop__timer_cancel(t->loop, t->token_timer);
    t->ping_timer = t->watchdog_timer = t->token_timer = 0;
    t->handshaken = false;
    t->gen = 0;
    t->n_pending_subs = 0;
    t->reconnects++;
    char labels[96];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__inc("voice_rte_reconnects_total", labels, 1);
    LOG_WARN("voice", "RTE link lost tenant=%s reason=\"%s\" talking=%zu (call state kept)",
             t->name, reason, calls__users_talking(t->calls));
    vtenant__fail(t, VL_WAITING, 0, "RTE: %s", reason);
}

static void vtenant__on_closed(void *ctx, unsigned gen, const char *reason)
{
    struct vtenant *t = ctx;
    if (t->stopping || gen != t->gen)
        return;
    t->gen = 0;
    vtenant__link_lost(t, reason);
}

static const struct rte_link_callbacks vtenant_rte_cb = {
    .on_open = vtenant__on_open,
    .on_data = vtenant__on_data,
    .on_closed = vtenant__on_closed,
};

/* ---- call expiry -------------------------------------------------------------------------- */

static void vtenant__dropped(void *ctx, const char *user_id, const char *call_id,
                             int64_t started_ms, bool stopped_talking)
{
    struct vtenant *t = ctx;
    struct vuser *u = vtenant__user(t, user_id);
    char ts[32];
    LOG_WARN("voice",
             "call dropped after max_call_minutes tenant=%s user=%s call=%s started=%s "
             "max_call_minutes=%d",
             t->name, u ? u->address : user_id, call_id[0] ? call_id : "(carried-over)",
             clock__iso8601(started_ms, ts, sizeof(ts)), t->o.max_call_minutes);
    if (u && stopped_talking) {
        u->idle_since_ms = clock__wall_ms();
        vtenant__publish(t, u, "resync");
    }
}

/* Every minute, or a quarter of max_call_minutes when that is shorter, so
 * a call is dropped at most 25% late. */
static int64_t vtenant__expire_every(const struct vtenant *t)
{
    int64_t every = t->o.max_call_minutes > 0 ? (int64_t)t->o.max_call_minutes * 60000 / 4 : 60000;
    return opt_or(t->o.expire_check_ms, every < 60000 ? every : 60000);
}

static void vtenant__expire(void *arg)
{
    struct vtenant *t = arg;
    t->expire_timer = loop__timer(t->loop, vtenant__expire_every(t), vtenant__expire, t);
    if (calls__expire(t->calls, clock__wall_ms(), t->o.max_call_minutes, vtenant__dropped, t))
        vtenant__report(t);
}

/* ---- writer hooks ---------------------------------------------------------------------------- */

static int vtenant__lookup(void *ctx, const char *email, const char **user_id)
{
    struct vtenant *t = ctx;
    if (!t->users_loaded)
        return -1;
    for (size_t i = 0; i < t->n_users; i++) {
        if (strcasecmp(t->users[i].address, email) == 0) {
            *user_id = t->users[i].id;
            return 1;
        }
    }
    for (size_t i = 0; i + 1 < t->n_former; i += 2) {
        if (strcasecmp(t->former[i], email) == 0) {
            *user_id = t->former[i + 1];
            return 1;
        }
    }
    return 0;
}

static void vtenant__write_report(void *ctx, const struct voice_write_result *r)
{
    struct vtenant *t = ctx;
    if (r->status != VOICE_WRITE_FAILED && r->status != VOICE_WRITE_UNKNOWN_USER)
        return;
    char ts[32];
    t->write_failures++;
    cJSON_Delete(t->last_write_failure);
    cJSON *o = t->last_write_failure = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", r->email);
    cJSON_AddBoolToObject(o, "talking", r->talking);
    cJSON_AddStringToObject(o, "result", voice_write_status__name(r->status));
    cJSON_AddNumberToObject(o, "status", r->http_status);
    if (r->error)
        cJSON_AddStringToObject(o, "error", r->error);
    cJSON_AddStringToObject(o, "at", clock__iso8601(clock__wall_ms(), ts, sizeof(ts)));
    if (!t->stopping)
        vtenant__report(t);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int vtenant__set_addresses(struct vtenant *t, const char *const *addresses, size_t n)
{
    char **a = calloc(n ? n : 1, sizeof(*a));
    if (!a)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(a[i] = strdup(addresses[i]))) {
            strv__free(a, i);
            return -1;
        }
    }
    strv__free(t->addresses, t->n_addresses);
    t->addresses = a;
    t->n_addresses = n;
    return 0;
}

struct vtenant *vtenant__new(struct loop *loop, struct bus *bus, struct http_client *http,
                             struct voice_writer *writer, const struct vtenant_options *opt,
                             const char *const *addresses, size_t n_addresses)
{
    struct vtenant *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->loop = loop;
    t->bus = bus;
    t->http = http;
    t->writer = writer;
    t->o = *opt;
    t->name = strdup(opt->name);
    t->discovery_url =
        dup_or_null(opt->discovery_url ? opt->discovery_url : "https://discover.enreachvoice.com");
    t->api_url_cfg = dup_or_null(opt->api_url);
    t->username = strdup(opt->username ? opt->username : "");
    t->topic_prefix = strdup(opt->topic_prefix ? opt->topic_prefix : "");
    t->t_method = dup_or_null(opt->talking_method);
    t->t_path = dup_or_null(opt->talking_path);
    t->t_body = dup_or_null(opt->talking_body);
    size_t hn = strlen(opt->name) + 16;
    t->health_name = malloc(hn);
    if (t->health_name)
        snprintf(t->health_name, hn, "%s/%s", opt->writer_only ? "voice-writer" : "voice",
                 opt->name);
    t->rest = voice_rest__new(http, opt->username, opt->secret_key);
    t->calls = calls__new();
    t->rte = opt->writer_only ? NULL : rte_link__new(loop, &vtenant_rte_cb, t);
    signalr_reader__init(&t->rd, SIGNALR_MAX_RECORD_DEFAULT);
    backoff__init(&t->bo, opt_or(opt->backoff_base_ms, 1000), opt_or(opt->backoff_max_ms, 60000));
    t->next_invocation = 1;
    t->seeding = !opt->writer_only;
    if (!t->name || !t->discovery_url || (opt->api_url && !t->api_url_cfg) || !t->username ||
        !t->topic_prefix || !t->health_name || !t->rest || !t->calls ||
        (!t->rte && !opt->writer_only) || vtenant__set_addresses(t, addresses, n_addresses) != 0 ||
        (t->api_url_cfg && voice_rest__set_api(t->rest, t->api_url_cfg) != 0) ||
        (writer &&
         voice_writer__add_tenant(writer, t->name, t->rest, t->t_method, t->t_path, t->t_body,
                                  vtenant__lookup, vtenant__write_report, t) != 0)) {
        vtenant__stop(t);
        vtenant__free(t);
        return NULL;
    }
    t->o.name = t->name;
    metrics__describe("voice_users_matched", METRIC_GAUGE,
                      "Configured users found in Voice's user list (users mapped, Voice side)");
    metrics__describe("voice_token_refreshes_total", METRIC_COUNTER, "RTE tokens fetched");
    metrics__describe("voice_token_failures_total", METRIC_COUNTER,
                      "Failed or unusable RTE token requests");
    vtenant__count(t, "voice_token_refreshes_total", 0);
    vtenant__count(t, "voice_token_failures_total", 0);
    health__set(t->health_name, false, "Voice link starting");
    vtenant__report(t);
    return t;
}

void vtenant__start(struct vtenant *t)
{
    LOG_INFO("voice", "starting tenant=%s users=%zu api=%s", t->name, t->n_addresses,
             t->api_url_cfg ? t->api_url_cfg : "(discovery)");
    t->users_timer =
        loop__timer(t->loop, opt_or(t->o.users_refresh_ms, 3600000), vtenant__users_timer, t);
    t->expire_timer = loop__timer(t->loop, vtenant__expire_every(t), vtenant__expire, t);
    if (voice_rest__api(t->rest))
        vtenant__step_me(t);
    else
        vtenant__step_discover(t);
}

void vtenant__reload(struct vtenant *t, const char *const *addresses, size_t n_addresses)
{
    if (vtenant__set_addresses(t, addresses, n_addresses) != 0) {
        LOG_ERROR("voice", "out of memory on reload tenant=%s", t->name);
        return;
    }
    LOG_INFO("voice", "reloading user map tenant=%s users=%zu", t->name, n_addresses);
    if (t->me_id && t->users_loaded)
        vtenant__step_users(t, false);
    /* Otherwise the link chain is still on its way and loads them itself. */
}

void vtenant__webhook_event(struct vtenant *t, const struct voice_call_event *ev)
{
    if (t->stopping)
        return;
    if (!t->users_loaded) {
        LOG_WARN("voice",
                 "webhook event before the user map is loaded, ignored tenant=%s "
                 "event=%s",
                 t->name, ev->name);
        return;
    }
    vtenant__event(t, ev, "webhook");
}

void vtenant__stop(struct vtenant *t)
{
    if (!t || t->stopping)
        return;
    t->stopping = true;
    loop_timer_id *timers[] = {&t->retry_timer, &t->ping_timer,  &t->watchdog_timer,
                               &t->token_timer, &t->users_timer, &t->expire_timer,
                               &t->resub_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        loop__timer_cancel(t->loop, *timers[i]);
        *timers[i] = 0;
    }
    if (t->rte)
        rte_link__stop(t->rte);
    t->state = VL_STOPPED;
    if (t->health_name)
        health__remove(t->health_name);
}

void vtenant__free(struct vtenant *t)
{
    if (!t)
        return;
    rte_link__free(t->rte);
    signalr_reader__free(&t->rd);
    calls__free(t->calls);
    vseeds__free(t->seeds, t->n_seeds);
    voice_rest__free(t->rest);
    vusers__free(t->users, t->n_users);
    strv__free(t->missing, t->n_missing);
    strv__free(t->former, t->n_former);
    strv__free(t->addresses, t->n_addresses);
    cJSON_Delete(t->last_write_failure);
    free(t->pending_subs);
    free(t->token);
    free(t->endpoint);
    free(t->me_id);
    free(t->name);
    free(t->discovery_url);
    free(t->api_url_cfg);
    free(t->username);
    free(t->topic_prefix);
    free(t->health_name);
    free(t->t_method);
    free(t->t_path);
    free(t->t_body);
    free(t);
}
