/* The Voice side as a daemon component (connector/component.h): one struct
 * vtenant per configured tenant (REST start-up, RTE link, call tracking,
 * voice/<id>/talking), the optional webhook route POST /voice/events/<tenant>,
 * and the talking writer the mapper uses (env->services->voice_writer).
 *
 * The webhook handler runs on the libwebsockets thread: it only reads what
 * init fixed (tenant names and webhook secrets), checks the secret in
 * constant time, parses the body and posts the event to the loop. It never
 * blocks and answers 202 at once.
 *
 * Restart seeding: RTE has no "current calls" query, so at start the side
 * reads its own retained <prefix>voice/+/talking topics (what the previous
 * run published) and carries their calls over (tenant__seed). The window
 * closes SEED_AFTER_CONNECT_MS after MQTT first connected, however long
 * that takes (nothing could be published before anyway, and states
 * published without the carried-over calls would end calls that go on);
 * until then no state is published. Only retained messages inside the window count: the side's
 * own later publishes come back on the subscription (not retained) and
 * must never re-seed.
 */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/ids.h"
#include "core/http_client.h"
#include "core/http_server.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/status.h"
#include "component.h"
#include "role/role.h"
#include "voice/calls.h"
#include "voice/events.h"
#include "voice/tenant.h"
#include "voice/voice_side.h"
#include "voice/writer.h"

#define WEBHOOK_PREFIX    "/voice/events/"
#define WEBHOOK_TOKEN_MAX 4096

#define SEED_AFTER_CONNECT_MS 2000
#define SEED_WARN_MS          10000
#define SEED_TICK_MS          100

struct voice_side_tenant {
    struct vtenant *t;
    char *name;
    char *secret; /* webhook secret, NULL: webhooks off for this tenant */
    size_t secret_len;
};

struct voice_side {
    struct daemon_env env;
    struct http_client *http;
    struct voice_writer *writer;
    struct voice_side_tenant *tenants;
    size_t n_tenants;
    bool writer_only; /* mapper without the Voice role: see init */
    bool stopping;

    /* restart seeding (see the top of this file) */
    bool seeding;
    char *seed_prefix; /* <prefix>voice/ */
    int64_t seed_started_ms, seed_connected_ms;
    bool seed_warned;
    loop_timer_id seed_timer;
};

struct voice_side_hook {
    struct voice_side *s;
    struct voice_side_tenant *vt;
    struct voice_call_event ev;
    size_t len;
    char body[]; /* the raw body, for voice.capture */
};

/* ---- webhook (libwebsockets thread) ---------------------------------------- */

static int voice_side__answer(struct http_response *resp, int status, const char *key,
                              const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    if (o && key)
        cJSON_AddStringToObject(o, key, msg);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = o ? cJSON_PrintUnformatted(o) : NULL;
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    cJSON_Delete(o);
    return HTTP_DONE;
}

static void voice_side__webhook_run(void *arg)
{
    struct voice_side_hook *h = arg;
    if (!h->s->stopping)
        tenant__webhook_event(h->vt->t, &h->ev, h->body, h->len);
    free(h);
}

static void voice_side__count(const char *tenant, const char *result)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%.60s\",result=\"%s\"", tenant, result);
    metrics__inc("voice_webhook_requests_total", labels, 1);
}

static int voice_side__webhook(void *ctx, const struct http_request *req,
                               struct http_response *resp, struct http_pending *pending)
{
    (void)pending;
    struct voice_side *s = ctx;
    const char *name = req->path + strlen(WEBHOOK_PREFIX);
    struct voice_side_tenant *vt = NULL;
    for (size_t i = 0; i < s->n_tenants; i++)
        if (s->tenants[i].secret && strcmp(s->tenants[i].name, name) == 0)
            vt = &s->tenants[i];
    if (!vt)
        return voice_side__answer(resp, 404, "error", "no Voice webhook for this tenant");

    char tok[WEBHOOK_TOKEN_MAX];
    int n = http_request__header(req, "X-Benemen-Token", tok, sizeof(tok));
    /* The length is checked first (it is not secret); the bytes in constant
     * time, so the comparison leaks nothing about where they differ. */
    bool ok = n >= 0 && (size_t)n == vt->secret_len &&
              CRYPTO_memcmp(tok, vt->secret, vt->secret_len) == 0;
    OPENSSL_cleanse(tok, sizeof(tok));
    if (!ok) {
        LOG_WARN("voice", "webhook refused: %s X-Benemen-Token tenant=%s",
                 n < 0 ? "missing" : "wrong", vt->name);
        voice_side__count(vt->name, "unauthorized");
        return voice_side__answer(resp, 401, "error", "missing or wrong X-Benemen-Token");
    }
    if (!tenant__accepting_events(vt->t)) {
        /* Not lost: the sender retries a 5xx (an event that cannot be
         * matched to a user yet would have to be dropped). */
        voice_side__count(vt->name, "not_ready");
        resp->extra_headers = "Retry-After: 5\r\n";
        return voice_side__answer(resp, 503, "error", "Voice user map not loaded yet");
    }
    struct voice_side_hook *h = calloc(1, sizeof(*h) + req->body_len + 1);
    char err[200];
    if (!h)
        return voice_side__answer(resp, 500, "error", "out of memory");
    memcpy(h->body, req->body, req->body_len);
    h->len = req->body_len;
    if (events__parse_webhook(tenant__model(vt->t), req->body, req->body_len, &h->ev, err,
                              sizeof(err)) != 0) {
        free(h);
        LOG_WARN("voice", "webhook body refused tenant=%s error=\"%s\"", vt->name, err);
        voice_side__count(vt->name, "bad_request");
        return voice_side__answer(resp, 400, "error", err);
    }
    if (h->ev.kind == VOICE_CALL_OTHER) {
        free(h);
        voice_side__count(vt->name, "ignored");
        return voice_side__answer(resp, 202, "result", "ignored: not an event of the event model");
    }
    h->s = s;
    h->vt = vt;
    if (loop__post(s->env.loop, voice_side__webhook_run, h) != 0) {
        free(h);
        return voice_side__answer(resp, 503, "error", "shutting down");
    }
    voice_side__count(vt->name, "accepted");
    return voice_side__answer(resp, 202, "result", "accepted");
}

/* ---- restart seeding (loop thread) ---------------------------------------------- */

/* The call ids a payload names (call_ids: an array of strings; anything
 * else in it is skipped, an id that is empty or too long too), at most max:
 * pointers into the array. An older payload without them gives 0. */
static size_t voice_side__seed_ids(const cJSON *arr, const char **ids, size_t max)
{
    size_t n = 0;
    const cJSON *it;
    if (!cJSON_IsArray(arr))
        return 0;
    cJSON_ArrayForEach(it, arr)
    {
        if (n == max)
            break;
        if (cJSON_IsString(it) && it->valuestring[0] && strlen(it->valuestring) < VOICE_ID_MAX)
            ids[n++] = it->valuestring;
    }
    return n;
}

/* One retained <prefix>voice/<id>/talking of the previous run. */
static void voice_side__on_retained(void *ctx, const char *topic, const char *payload, size_t len,
                                    bool retained)
{
    struct voice_side *s = ctx;
    char id[IDS_MAX_ID], addr[IDS_MAX_ADDRESS + 1];
    size_t pl = strlen(s->seed_prefix);
    if (!s->seeding || s->stopping || !retained || len == 0 ||
        strncmp(topic, s->seed_prefix, pl) != 0)
        return;
    const char *idp = topic + pl, *slash = strchr(idp, '/');
    if (!slash || (size_t)(slash - idp) >= sizeof(id))
        return;
    memcpy(id, idp, (size_t)(slash - idp));
    id[slash - idp] = '\0';
    if (ids__decode(id, addr, sizeof(addr)) != 0) {
        LOG_DEBUG("voice", "retained talking topic with a bad id ignored topic=%s", topic);
        return;
    }
    cJSON *o = json__parse(payload, len);
    const cJSON *talking = cJSON_GetObjectItemCaseSensitive(o, "talking");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(o, "calls");
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(o, "since");
    int64_t now = clock__wall_ms(), since_ms = now;
    double n = cJSON_IsNumber(calls) ? calls->valuedouble : 1;
    if (!cJSON_IsTrue(talking) || !(n >= 1)) { /* NaN too */
        cJSON_Delete(o);
        return; /* not talking (or not ours to read): nothing to carry over */
    }
    /* Without a usable `since` the call is counted from now (a missed end
     * then lasts max_call_minutes from the restart); never from the future. */
    if (!cJSON_IsString(since) || clock__parse_iso8601(since->valuestring, &since_ms) != 0 ||
        since_ms > now)
        since_ms = now;
    size_t nc = n > CALLS_MAX_PER_USER ? CALLS_MAX_PER_USER : (size_t)n;
    const char *ids[CALLS_MAX_PER_USER];
    size_t n_ids = voice_side__seed_ids(cJSON_GetObjectItemCaseSensitive(o, "call_ids"), ids, nc);
    for (size_t i = 0; i < s->n_tenants; i++)
        if (tenant_seed__add(s->tenants[i].t, addr, nc, since_ms, ids, n_ids))
            break;
    cJSON_Delete(o);
}

static void voice_side__seed_done(struct voice_side *s)
{
    s->seeding = false;
    loop__timer_cancel(s->env.loop, s->seed_timer);
    s->seed_timer = 0;
    for (size_t i = 0; i < s->n_tenants; i++)
        tenant_seed__done(s->tenants[i].t);
}

/* Polled: the bus tells only one listener (the daemon) about connects. */
static void voice_side__seed_tick(void *arg)
{
    struct voice_side *s = arg;
    s->seed_timer = 0;
    if (s->stopping)
        return;
    int64_t now = clock__mono_ms();
    if (!s->seed_connected_ms && bus__connected(s->env.bus))
        s->seed_connected_ms = now;
    if (s->seed_connected_ms && now - s->seed_connected_ms >= SEED_AFTER_CONNECT_MS) {
        voice_side__seed_done(s);
        return;
    }
    if (!s->seed_connected_ms && !s->seed_warned && now - s->seed_started_ms >= SEED_WARN_MS) {
        LOG_WARN("voice",
                 "MQTT not connected: Voice states held until the previous run's are "
                 "read waited_ms=%d",
                 SEED_WARN_MS);
        s->seed_warned = true;
    }
    s->seed_timer = loop__timer(s->env.loop, SEED_TICK_MS, voice_side__seed_tick, s);
}

static void voice_side__seed_start(struct voice_side *s)
{
    const char *prefix = s->env.cfg->mqtt.topic_prefix ? s->env.cfg->mqtt.topic_prefix : "";
    size_t n = strlen(prefix) + sizeof("voice/+/talking");
    char *filter = malloc(n);
    s->seed_prefix = malloc(n);
    if (filter)
        snprintf(filter, n, "%svoice/+/talking", prefix);
    if (s->seed_prefix)
        snprintf(s->seed_prefix, n, "%svoice/", prefix);
    s->seeding = true;
    s->seed_started_ms = clock__mono_ms();
    if (!filter || !s->seed_prefix ||
        bus__subscribe(s->env.bus, filter, voice_side__on_retained, s) != 0) {
        LOG_ERROR("voice", "cannot read the retained talking topics: calls running across the "
                           "restart are not carried over");
        free(filter);
        voice_side__seed_done(s);
        return;
    }
    free(filter);
    s->seed_timer = loop__timer(s->env.loop, SEED_TICK_MS, voice_side__seed_tick, s);
}

/* ---- component hooks (loop thread) ---------------------------------------------- */

static const struct tenant_config *voice_side__cfg_tenant(const struct config *cfg,
                                                          const char *name)
{
    for (size_t i = 0; i < cfg->n_tenants; i++)
        if (strcmp(cfg->tenants[i].name, name) == 0)
            return &cfg->tenants[i];
    return NULL;
}

static int voice_side__add_tenant(struct voice_side *s, const struct tenant_config *tc)
{
    const struct voice_config *v = &tc->voice;
    struct events_model *model = events__model_from_config(&v->events);
    if (!model) {
        LOG_ERROR("voice", "cannot build the event model tenant=%s", tc->name);
        return -1;
    }
    /* where the writer is used: a process that runs the mapper */
    if (v->talking.mode == TALKING_OFF && (s->env.roles & CONFIG_ROLE_MAPPER) &&
        s->env.cfg->mapper.enabled)
        LOG_WARN("voice",
                 "talking writer not configured tenant=%s: Teams calls are not written to Voice "
                 "(set voice.talking_request; docs/voice.md)",
                 tc->name);
    struct vtenant_options o = {
        .name = tc->name,
        .discovery_url = v->discovery_url,
        .api_url = v->api_url,
        .username = v->username,
        .secret_key = v->secret_key.value,
        .webhook_enabled = v->webhook_secret.value != NULL && !s->writer_only,
        .writer_only = s->writer_only,
        .max_call_minutes = v->max_call_minutes,
        .topic_prefix = s->env.cfg->mqtt.topic_prefix,
        .talking = voice_writer__talking_config(&v->talking),
        .events = model,
        .ca_file = v->ca_file,
        .capture_file = s->writer_only ? NULL : v->capture.file,
        .capture_count = v->capture.count,
    };
    struct voice_side_tenant *vt = &s->tenants[s->n_tenants];
    if (v->secret_key.value)
        log__redact(v->secret_key.value);
    vt->name = strdup(tc->name);
    if (v->webhook_secret.value) {
        log__redact(v->webhook_secret.value);
        vt->secret = malloc(v->webhook_secret.len + 1);
        if (vt->secret) {
            memcpy(vt->secret, v->webhook_secret.value, v->webhook_secret.len);
            vt->secret[v->webhook_secret.len] = '\0';
            vt->secret_len = v->webhook_secret.len;
        }
    }
    vt->t = tenant__new(s->env.loop, s->env.bus, s->http, s->writer, &o,
                        (const char *const *)tc->users, tc->n_users);
    const struct role *role = s->env.services ? s->env.services->role : NULL;
    if (vt->t) {
        tenant__set_role(vt->t, role);
        tenant__set_writes(vt->t, role__writes(role, tc->name));
    }
    if (!vt->name || (v->webhook_secret.value && !vt->secret) || !vt->t) {
        LOG_ERROR("voice", "cannot set up tenant=%s", tc->name);
        return -1;
    }
    s->n_tenants++;
    return 0;
}

static void voice_side__free_tenants(struct voice_side *s)
{
    for (size_t i = 0; i < s->n_tenants; i++) {
        tenant__free(s->tenants[i].t);
        free(s->tenants[i].name);
        if (s->tenants[i].secret)
            OPENSSL_cleanse(s->tenants[i].secret, s->tenants[i].secret_len);
        free(s->tenants[i].secret);
    }
    free(s->tenants);
    s->tenants = NULL;
    s->n_tenants = 0;
}

static void voice_side__free(void *state);

/* The role changed (role/role.h): voice/<id>/talking follows it. */
static void voice_side__on_role(void *ctx, const char *tenant, bool writes)
{
    struct voice_side *s = ctx;
    for (size_t i = 0; i < s->n_tenants && !s->stopping; i++)
        if (!strcmp(s->tenants[i].name, tenant))
            tenant__set_writes(s->tenants[i].t, writes);
}

static int voice_side__init(const struct daemon_env *env, void **state)
{
    struct voice_side *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->env = *env;
    /* A process running the mapper but not the Voice side needs only the
     * writer (and the user map behind it): no RTE link, no voice/ topics. */
    s->writer_only = !(env->roles & CONFIG_ROLE_VOICE);
    const struct config *cfg = env->cfg;
    metrics__describe("voice_rte_connected", METRIC_GAUGE, "1 while the RTE link is live");
    metrics__describe("voice_rte_reconnects_total", METRIC_COUNTER, "RTE link losses");
    metrics__describe("voice_events_total", METRIC_COUNTER, "Voice events received");
    metrics__describe("voice_users_talking", METRIC_GAUGE, "Users with a connected call");
    metrics__describe("voice_webhook_requests_total", METRIC_COUNTER,
                      "Voice webhook requests by result");
    s->http = env->http_client; /* the process's; the daemon frees it */
    s->writer = voice_writer__new(env->loop);
    s->tenants = calloc(cfg->n_tenants ? cfg->n_tenants : 1, sizeof(*s->tenants));
    if (!s->http || !s->writer || !s->tenants)
        goto fail;
    bool webhooks = false;
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        if (voice_side__add_tenant(s, &cfg->tenants[i]) != 0)
            goto fail;
        webhooks = webhooks || (s->tenants[i].secret && !s->writer_only);
    }
    if (webhooks && env->http &&
        http_server__route(env->http, "POST", WEBHOOK_PREFIX, true, voice_side__webhook, s) != 0) {
        LOG_ERROR("voice", "cannot add the webhook route path=%s", WEBHOOK_PREFIX);
        goto fail;
    }
    if (role__watch(env->services ? env->services->role : NULL, voice_side__on_role, s) < 0)
        goto fail;
    voice_writer__set_role(s->writer, env->services ? env->services->role : NULL);
    if (env->services)
        env->services->voice_writer = s->writer;
    *state = s;
    return 0;
fail:
    voice_side__free(s);
    return -1;
}

static int voice_side__start(void *state)
{
    struct voice_side *s = state;
    /* In start, not init: the seed window is timed from MQTT's connect,
     * which begins between the two (component.h). The bus hands every
     * message to every matching subscription, so the mapper's own
     * voice/+/talking subscription gets the same retained values. */
    if (!s->writer_only && s->env.bus)
        voice_side__seed_start(s);
    for (size_t i = 0; i < s->n_tenants; i++) {
        if (!s->seeding)
            tenant_seed__done(s->tenants[i].t);
        tenant__start(s->tenants[i].t);
    }
    return 0;
}

static void voice_side__reload(void *state)
{
    struct voice_side *s = state;
    for (size_t i = 0; i < s->n_tenants; i++) {
        const struct tenant_config *tc = voice_side__cfg_tenant(s->env.cfg, s->tenants[i].name);
        if (tc)
            tenant__reload(s->tenants[i].t, (const char *const *)tc->users, tc->n_users);
    }
}

static void voice_side__stop(void *state)
{
    struct voice_side *s = state;
    if (s->stopping)
        return;
    s->stopping = true;
    loop__timer_cancel(s->env.loop, s->seed_timer);
    s->seed_timer = 0;
    if (s->env.services && s->env.services->voice_writer == s->writer)
        s->env.services->voice_writer = NULL;
    if (s->writer)
        voice_writer__stop(s->writer);
    for (size_t i = 0; i < s->n_tenants; i++)
        tenant__stop(s->tenants[i].t);
    /* In-flight requests complete (with an error) when the daemon frees the
     * HTTP client after every component stopped; the tenants and the writer
     * see `stopping` and only clean up. */
    s->http = NULL;
}

static void voice_side__free(void *state)
{
    struct voice_side *s = state;
    if (!s)
        return;
    voice_side__stop(s);
    voice_side__free_tenants(s);
    voice_writer__free(s->writer);
    free(s->seed_prefix);
    free(s);
}

const struct daemon_component voice_component = {
    .name = "voice",
    .init = voice_side__init,
    .start = voice_side__start,
    .reload = voice_side__reload,
    .stop = voice_side__stop,
    .free = voice_side__free,
};
