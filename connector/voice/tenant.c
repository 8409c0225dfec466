/* One tenant of the Voice side: see tenant.h and tenant_impl.h.
 *
 * The link is a chain of steps, one outstanding at a time:
 *   discover -> me -> users -> token -> negotiate -> WebSocket -> handshake
 *   -> AvailableSubscriptions -> subscribe -> live
 * A failed step is retried after a backoff delay (discovery and /users/me
 * from themselves, the rest from `token`, so every reconnect uses a fresh
 * token and re-subscribes). `chain` numbers each attempt: completions of an
 * abandoned attempt are ignored, and so are RTE callbacks of an older
 * connection generation. A live link is never dropped because its token
 * expires (tenant_hub.c).
 *
 * After a link loss the call state is kept (see docs/voice.md): a
 * disconnect missed while down leaves a call that calls__expire() drops
 * after max_call_minutes (or that UserStatus ends, with a status rule);
 * clearing instead would wrongly end every call that is still going on,
 * and the model has no REST "current calls" to ask. Across a daemon
 * restart the calls are carried over the same way: seeded from the
 * previous run's retained voice/<id>/talking (tenant__seed), and no state
 * is published before that seed had its chance.
 */
#include "voice/tenant.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/status.h"
#include "core/str.h"
#include "voice/calls.h"
#include "voice/capture.h"
#include "voice/discovery.h"
#include "voice/rest.h"
#include "voice/tenant_impl.h"

const char *const vlink_names[] = {
    "idle",         "discovering", "authenticating", "loading_users", "token",
    "negotiating",  "connecting",  "handshake",      "subscribing",   "live",
    "reconnecting", "auth_failed", "stopped",        "writer_only",
};

static void tenant__step_discover(struct vtenant *t);
static void tenant__step_me(struct vtenant *t);
static void tenant__step_users(struct vtenant *t, bool in_chain);
static void tenant__step_token(struct vtenant *t);

/* ---- small helpers -------------------------------------------------------- */

int64_t tenant__opt_or(int64_t v, int64_t dflt)
{
    return v > 0 ? v : dflt;
}

void tenant__strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

const char *tenant__name(const struct vtenant *t)
{
    return t->name;
}

bool tenant__accepting_events(struct vtenant *t)
{
    return atomic_load(&t->users_ready);
}

const struct events_model *tenant__model(const struct vtenant *t)
{
    return t->model;
}

/* Counts one event of the tenant (voice_token_refreshes_total, ...). */
static void tenant__count(const struct vtenant *t, const char *metric, double by)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__inc(metric, labels, by);
}

void tenant__set_state(struct vtenant *t, enum vlink s)
{
    if (t->state == s)
        return;
    t->state = s;
    tenant_health__report(t);
}

void tenant__error(struct vtenant *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->last_error, sizeof(t->last_error), fmt, ap);
    va_end(ap);
    t->last_error_ms = clock__wall_ms();
}

/* ---- step plumbing ------------------------------------------------------------- */

struct tenant_req {
    struct vtenant *t;
    unsigned chain;
    bool in_chain; /* part of the link chain (else a user map refresh) */
};

static struct tenant_req *tenant__req_new(struct vtenant *t, bool in_chain)
{
    struct tenant_req *r = malloc(sizeof(*r));
    if (r) {
        r->t = t;
        r->chain = t->chain;
        r->in_chain = in_chain;
    }
    return r;
}

/* Takes r; returns the tenant when the completion still matters. */
static struct vtenant *tenant__req_take(struct tenant_req *r)
{
    struct vtenant *t = r->t;
    bool stale = t->stopping || (r->in_chain && r->chain != t->chain);
    free(r);
    return stale ? NULL : t;
}

static void tenant__retry_fire(void *arg)
{
    struct vtenant *t = arg;
    t->retry_timer = 0;
    if (t->stopping)
        return;
    if (!voice_rest__api(t->rest))
        tenant__step_discover(t);
    else if (!t->me_id)
        tenant__step_me(t);
    else if (!voice_directory__loaded(t->dir))
        tenant__step_users(t, true);
    else
        tenant__step_token(t);
}

/* A step failed: log, report, and try again after a backoff delay. */
void tenant__fail(struct vtenant *t, enum vlink state, int64_t at_least_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->last_error, sizeof(t->last_error), fmt, ap);
    va_end(ap);
    t->last_error_ms = clock__wall_ms();
    t->chain++;
    int64_t delay = backoff__next(&t->bo);
    if (at_least_ms > delay)
        delay = at_least_ms;
    LOG_WARN("voice", "link step failed tenant=%s step=%s error=\"%s\" retry_ms=%" PRId64, t->name,
             vlink_names[t->state], t->last_error, delay);
    loop__timer_cancel(t->loop, t->retry_timer);
    t->retry_timer = loop__timer(t->loop, delay, tenant__retry_fire, t);
    t->state = state;
    tenant_health__report(t);
}

/* ---- discovery, /users/me, /users ------------------------------------------------ */

static void tenant__on_discover(void *ctx, const struct http_result *res)
{
    struct vtenant *t = tenant__req_take(ctx);
    char err[200], why[96];
    char *api = NULL;
    if (!t)
        return;
    if (res->status != 200) {
        tenant__fail(t, VL_WAITING, res->retry_after_ms, "discovery: %s",
                     voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    if (discovery__parse_endpoint(res->body, res->body_len, &api, err, sizeof(err)) != 0) {
        tenant__fail(t, VL_WAITING, 0, "discovery: %s", err);
        return;
    }
    voice_rest__set_api(t->rest, api);
    LOG_INFO("voice", "discovered tenant=%s api=%s", t->name, api);
    free(api);
    tenant__step_me(t);
}

static void tenant__step_discover(struct vtenant *t)
{
    tenant__set_state(t, VL_DISCOVERING);
    struct tenant_req *r = tenant__req_new(t, true);
    if (!r ||
        voice_rest__discover(t->rest, t->discovery_url, t->username, tenant__on_discover, r) != 0) {
        free(r);
        tenant__fail(t, VL_WAITING, 0, "discovery: cannot send the request");
    }
}

static void tenant__on_me(void *ctx, const struct http_result *res)
{
    struct vtenant *t = tenant__req_take(ctx);
    char err[200], why[96];
    if (!t)
        return;
    if (res->status == 401 || res->status == 403) {
        /* Not retried fast: the key will not fix itself, but a rotated key
         * or a re-enabled account should be picked up eventually. */
        tenant__fail(t, VL_AUTH_FAILED, 0,
                     "GET /users/me: %s: credentials refused (check voice.username and "
                     "voice.secret_key)",
                     voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    if (res->status != 200) {
        tenant__fail(t, VL_WAITING, res->retry_after_ms, "GET /users/me: %s",
                     voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    free(t->me_id);
    t->me_id = NULL;
    if (discovery__parse_me(res->body, res->body_len, &t->me_id, err, sizeof(err)) != 0) {
        tenant__fail(t, VL_WAITING, 0, "GET /users/me: %s", err);
        return;
    }
    LOG_INFO("voice", "authenticated tenant=%s user=%s id=%s", t->name, t->username, t->me_id);
    tenant__step_users(t, true);
}

static void tenant__step_me(struct vtenant *t)
{
    tenant__set_state(t, VL_AUTHENTICATING);
    struct tenant_req *r = tenant__req_new(t, true);
    if (!r || voice_rest__call(t->rest, "GET", "/users/me", NULL, tenant__on_me, r) != 0) {
        free(r);
        tenant__fail(t, VL_WAITING, 0, "GET /users/me: cannot send the request");
    }
}

static void tenant__on_users(void *ctx, const struct http_result *res)
{
    struct tenant_req *r = ctx;
    bool in_chain = r->in_chain;
    struct vtenant *t = tenant__req_take(r);
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
        voice_directory__apply(t->dir, &vu, &fresh, &n_fresh) != 0) {
        if (res->status != 200)
            voice_rest__reason(res, err, sizeof(err));
        voice_users__free(&vu);
        if (in_chain) {
            tenant__fail(t, VL_WAITING, res->retry_after_ms, "GET /users: %s", err);
        }
        else {
            LOG_WARN("voice", "user map refresh failed, keeping the old one tenant=%s error=\"%s\"",
                     t->name, err);
            tenant__error(t, "GET /users: %s", err);
            tenant_health__report(t);
        }
        return;
    }
    voice_users__free(&vu);
    atomic_store(&t->users_ready, true);
    tenant_seed__apply(t);
    if (in_chain && t->o.writer_only) {
        free(fresh);
        backoff__reset(&t->bo);
        LOG_INFO("voice", "writer ready (no RTE link in this process) tenant=%s users=%zu", t->name,
                 voice_directory__n_users(t->dir));
        tenant__set_state(t, VL_WRITER);
        return;
    }
    if (in_chain) {
        free(fresh);
        tenant_health__report(t);
        tenant__step_token(t);
        return;
    }
    if (n_fresh && t->session && voice_session__ready(t->session))
        tenant_events__subscribe(t, fresh, n_fresh);
    free(fresh);
    if (t->state == VL_LIVE)
        tenant_talking__announce(t);
    tenant_health__report(t);
}

static void tenant__step_users(struct vtenant *t, bool in_chain)
{
    if (in_chain)
        tenant__set_state(t, VL_LOADING_USERS);
    else if (t->refreshing_users)
        return;
    struct tenant_req *r = tenant__req_new(t, in_chain);
    if (!r || voice_rest__call(t->rest, "GET", "/users", NULL, tenant__on_users, r) != 0) {
        free(r);
        if (in_chain)
            tenant__fail(t, VL_WAITING, 0, "GET /users: cannot send the request");
        return;
    }
    if (!in_chain)
        t->refreshing_users = true;
}

static void tenant__users_timer(void *arg)
{
    struct vtenant *t = arg;
    t->users_timer = loop__timer(t->loop, tenant__opt_or(t->o.users_refresh_ms, 3600000),
                                 tenant__users_timer, t);
    if (t->me_id && voice_directory__loaded(t->dir))
        tenant__step_users(t, false);
}

/* ---- token and negotiate -------------------------------------------------------------- */

static void tenant__step_negotiate(struct vtenant *t);

static void tenant__on_token(void *ctx, const struct http_result *res)
{
    struct vtenant *t = tenant__req_take(ctx);
    char err[200], why[96];
    if (!t)
        return;
    if (res->status != 200) {
        tenant__count(t, "voice_token_failures_total", 1);
        tenant__fail(t, res->status == 401 || res->status == 403 ? VL_AUTH_FAILED : VL_WAITING,
                     res->retry_after_ms, "GET /token/{me}/rte/: %s",
                     voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    char *token = NULL, *ep = NULL;
    if (discovery__parse_rte_token(res->body, res->body_len, &token, &ep, err, sizeof(err)) != 0) {
        tenant__count(t, "voice_token_failures_total", 1);
        tenant__fail(t, VL_WAITING, 0, "GET /token/{me}/rte/: %s", err);
        return;
    }
    tenant__count(t, "voice_token_refreshes_total", 1);
    free(t->token);
    free(t->endpoint);
    t->token = token;
    t->endpoint = ep;
    t->redirects = 0;
    /* exp is shown in B/health only: the token is checked when a connection
     * is made, and a live link stays open past it (docs/voice.md "Token"). */
    int64_t exp = 0;
    t->token_exp_s = signalr__jwt_exp(token, &exp) == 0 ? exp : 0;
    LOG_DEBUG("voice", "RTE token tenant=%s endpoint=%s exp=%" PRId64, t->name, ep, t->token_exp_s);
    tenant__step_negotiate(t);
}

static void tenant__step_token(struct vtenant *t)
{
    tenant__set_state(t, VL_TOKEN);
    char path[256];
    char *me = http__escape(t->me_id);
    snprintf(path, sizeof(path), "/token/%s/rte/", me ? me : "");
    free(me);
    struct tenant_req *r = tenant__req_new(t, true);
    if (!r || voice_rest__call(t->rest, "GET", path, NULL, tenant__on_token, r) != 0) {
        free(r);
        tenant__fail(t, VL_WAITING, 0, "GET /token/{me}/rte/: cannot send the request");
    }
}

static void tenant__on_negotiate(void *ctx, const struct http_result *res)
{
    struct vtenant *t = tenant__req_take(ctx);
    char err[200], why[96];
    if (!t)
        return;
    if (res->status != 200) {
        tenant__fail(t, VL_WAITING, res->retry_after_ms, "negotiate: %s",
                     voice_rest__reason(res, why, sizeof(why)));
        return;
    }
    struct signalr_negotiate n = {0};
    int rc = signalr__parse_negotiate(res->body, res->body_len, &n, err, sizeof(err));
    if (rc == SIGNALR_NEG_CONNECT) {
        tenant_hub__open(t, n.connection_token);
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
        tenant__step_negotiate(t);
    }
    else if (rc == SIGNALR_NEG_REDIRECT) {
        tenant__fail(t, VL_WAITING, 0, "negotiate: more than %d redirects", MAX_REDIRECTS);
    }
    else if (rc == SIGNALR_NEG_ERROR) {
        tenant__fail(t, VL_WAITING, 0, "negotiate: server error: %.150s", n.error ? n.error : "?");
    }
    else {
        tenant__fail(t, VL_WAITING, 0, "negotiate: %s", err);
    }
    signalr_negotiate__free(&n);
}

static void tenant__step_negotiate(struct vtenant *t)
{
    tenant__set_state(t, VL_NEGOTIATING);
    char *url = signalr__negotiate_url(t->endpoint);
    struct tenant_req *r = url ? tenant__req_new(t, true) : NULL;
    if (!r || voice_rest__post_bearer(t->rest, url, t->token, tenant__on_negotiate, r) != 0) {
        free(r);
        tenant__fail(t, VL_WAITING, 0, "negotiate: bad endpoint or cannot send the request");
    }
    free(url);
}

/* ---- call expiry -------------------------------------------------------------------------- */

void tenant__dropped(void *ctx, const char *user_id, const char *call_id, int64_t started_ms,
                     bool stopped_talking)
{
    struct vtenant *t = ctx;
    struct voice_dir_user *u = voice_directory__find(t->dir, user_id);
    char ts[32];
    LOG_WARN("voice",
             "call dropped after max_call_minutes tenant=%s user=%s call=%s started=%s "
             "max_call_minutes=%d",
             t->name, u ? u->address : user_id, call_id[0] ? call_id : "(carried-over)",
             clock__iso8601(started_ms, ts, sizeof(ts)), t->o.max_call_minutes);
    if (u && stopped_talking) {
        u->idle_since_ms = clock__wall_ms();
        tenant_talking__publish(t, u, "resync");
    }
}

/* Every minute, or a quarter of max_call_minutes when that is shorter, so
 * a call is dropped at most 25% late. */
static int64_t tenant__expire_every(const struct vtenant *t)
{
    int64_t every = t->o.max_call_minutes > 0 ? (int64_t)t->o.max_call_minutes * 60000 / 4 : 60000;
    return tenant__opt_or(t->o.expire_check_ms, every < 60000 ? every : 60000);
}

static void tenant__expire(void *arg)
{
    struct vtenant *t = arg;
    t->expire_timer = loop__timer(t->loop, tenant__expire_every(t), tenant__expire, t);
    if (calls__expire(t->calls, clock__wall_ms(), t->o.max_call_minutes, tenant__dropped, t))
        tenant_health__report(t);
}

/* ---- writer hooks ---------------------------------------------------------------------------- */

static int tenant__lookup(void *ctx, const char *email, const char **user_id)
{
    struct vtenant *t = ctx;
    if (!voice_directory__loaded(t->dir))
        return -1;
    const char *id = voice_directory__by_address(t->dir, email, NULL);
    if (!id)
        return 0;
    *user_id = id;
    return 1;
}

static void tenant__write_report(void *ctx, const struct voice_write_result *r)
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
        tenant_health__report(t);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* After tenant__new: only our copies stay in t->o (the caller's strings
 * may go), and the tenant's counters exist from the start. */
static void tenant__forget_caller(struct vtenant *t)
{
    t->o.name = t->name;
    t->o.discovery_url = t->o.api_url = t->o.username = t->o.secret_key = NULL;
    t->o.topic_prefix = t->o.ca_file = t->o.capture_file = NULL;
    t->o.talking.method = t->o.talking.path = t->o.talking.body = NULL;
    t->o.talking.event_source = t->o.talking.note = NULL;
    t->o.events = NULL;
    metrics__describe("voice_users_matched", METRIC_GAUGE,
                      "Configured users found in Voice's user list (users mapped, Voice side)");
    metrics__describe("voice_token_refreshes_total", METRIC_COUNTER, "RTE tokens fetched");
    metrics__describe("voice_token_failures_total", METRIC_COUNTER,
                      "Failed or unusable RTE token requests");
    tenant__count(t, "voice_token_refreshes_total", 0);
    tenant__count(t, "voice_token_failures_total", 0);
}

struct vtenant *tenant__new(struct loop *loop, struct bus *bus, struct http_client *http,
                            struct voice_writer *writer, const struct vtenant_options *opt,
                            const char *const *addresses, size_t n_addresses)
{
    struct vtenant *t = calloc(1, sizeof(*t));
    if (!t) {
        events__model_free(opt->events);
        return NULL;
    }
    t->loop = loop;
    t->bus = bus;
    t->http = http;
    t->writer = writer;
    t->o = *opt;
    t->name = strdup(opt->name);
    t->discovery_url =
        str__dup(opt->discovery_url ? opt->discovery_url : "https://discover.enreachvoice.com");
    t->api_url_cfg = str__dup(opt->api_url);
    t->username = strdup(opt->username ? opt->username : "");
    t->dir = voice_directory__new(opt->name, opt->topic_prefix);
    t->model = opt->events ? opt->events : events__model_default();
    t->capture = opt->capture_file ? capture__open(opt->capture_file, opt->capture_count) : NULL;
    size_t hn = strlen(opt->name) + 16;
    t->health_name = malloc(hn);
    if (t->health_name)
        snprintf(t->health_name, hn, "%s/%s", opt->writer_only ? "voice-writer" : "voice",
                 opt->name);
    t->rest = voice_rest__new(http, opt->username, opt->secret_key);
    t->calls = calls__new();
    t->session = opt->writer_only ? NULL
                                  : voice_session__new(loop, opt->name, &tenant_hub_callbacks, t,
                                                       opt->ping_ms, opt->silence_ms);
    backoff__init(&t->bo, tenant__opt_or(opt->backoff_base_ms, 1000),
                  tenant__opt_or(opt->backoff_max_ms, 60000));
    t->seeding = !opt->writer_only;
    if (!t->name || !t->discovery_url || (opt->api_url && !t->api_url_cfg) || !t->username ||
        !t->dir || !t->health_name || !t->rest || !t->calls || !t->model ||
        (!t->session && !opt->writer_only) ||
        voice_directory__set_addresses(t->dir, addresses, n_addresses) != 0 ||
        (t->api_url_cfg && voice_rest__set_api(t->rest, t->api_url_cfg) != 0) ||
        voice_rest__set_ca_file(t->rest, opt->ca_file) != 0 ||
        (t->session && voice_session__set_ca_file(t->session, opt->ca_file) != 0) ||
        (writer && voice_writer__add_tenant(writer, t->name, t->rest, &opt->talking, tenant__lookup,
                                            tenant__write_report, t) != 0)) {
        tenant__stop(t);
        tenant__free(t);
        return NULL;
    }
    tenant__forget_caller(t);
    health__set(t->health_name, false, "Voice link starting");
    tenant_health__report(t);
    return t;
}

void tenant__start(struct vtenant *t)
{
    LOG_INFO("voice", "starting tenant=%s users=%zu api=%s", t->name,
             voice_directory__n_addresses(t->dir), t->api_url_cfg ? t->api_url_cfg : "(discovery)");
    t->users_timer = loop__timer(t->loop, tenant__opt_or(t->o.users_refresh_ms, 3600000),
                                 tenant__users_timer, t);
    t->expire_timer = loop__timer(t->loop, tenant__expire_every(t), tenant__expire, t);
    if (voice_rest__api(t->rest))
        tenant__step_me(t);
    else
        tenant__step_discover(t);
}

void tenant__reload(struct vtenant *t, const char *const *addresses, size_t n_addresses)
{
    if (voice_directory__set_addresses(t->dir, addresses, n_addresses) != 0) {
        LOG_ERROR("voice", "out of memory on reload tenant=%s", t->name);
        return;
    }
    LOG_INFO("voice", "reloading user map tenant=%s users=%zu", t->name, n_addresses);
    if (t->me_id && voice_directory__loaded(t->dir))
        tenant__step_users(t, false);
    /* Otherwise the link chain is still on its way and loads them itself. */
}

void tenant__webhook_event(struct vtenant *t, const struct voice_call_event *ev, const char *body,
                           size_t len)
{
    if (t->stopping)
        return;
    if (!voice_directory__loaded(t->dir)) {
        LOG_WARN("voice",
                 "webhook event before the user map is loaded, ignored tenant=%s "
                 "event=%s",
                 t->name, ev->name);
        return;
    }
    if (capture__wants(t->capture, "webhook", ev->name)) {
        cJSON *raw = body ? json__parse(body, len) : NULL;
        capture__record(t->capture, t->name, "webhook", ev->name, raw);
        cJSON_Delete(raw);
    }
    tenant_events__apply(t, ev, "webhook");
}

void tenant__stop(struct vtenant *t)
{
    if (!t || t->stopping)
        return;
    t->stopping = true;
    loop_timer_id *timers[] = {&t->retry_timer, &t->users_timer, &t->expire_timer, &t->resub_timer,
                               &t->avail_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        loop__timer_cancel(t->loop, *timers[i]);
        *timers[i] = 0;
    }
    voice_session__stop(t->session);
    t->state = VL_STOPPED;
    if (t->health_name)
        health__remove(t->health_name);
}

void tenant__free(struct vtenant *t)
{
    if (!t)
        return;
    voice_session__free(t->session);
    calls__free(t->calls);
    tenant_seed__free_all(t->seeds, t->n_seeds);
    free(t->seen);
    voice_rest__free(t->rest);
    voice_directory__free(t->dir);
    cJSON_Delete(t->last_write_failure);
    free(t->pending_subs);
    free(t->token);
    free(t->endpoint);
    free(t->me_id);
    free(t->name);
    free(t->discovery_url);
    free(t->api_url_cfg);
    free(t->username);
    free(t->health_name);
    tenant__strv_free(t->offered, t->n_offered);
    tenant__strv_free(t->used, t->n_used);
    tenant__strv_free(t->missing_events, t->n_missing_events);
    events__model_free(t->model);
    capture__close(t->capture);
    free(t);
}
