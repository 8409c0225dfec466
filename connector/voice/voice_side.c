/* The Voice side as a daemon component (connector/daemon.h): one struct
 * vtenant per configured tenant (REST start-up, RTE link, call tracking,
 * voice/<id>/talking), the optional webhook route POST /voice/events/<tenant>,
 * and the talking writer the mapper uses (voice_writer__default()).
 *
 * The webhook handler runs on the libwebsockets thread: it only reads what
 * init fixed (tenant names and webhook secrets), checks the secret in
 * constant time, parses the body and posts the event to the loop. It never
 * blocks and answers 202 at once.
 */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/http_client.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/status.h"
#include "daemon.h"
#include "voice/events.h"
#include "voice/tenant.h"
#include "voice/writer.h"

#define WEBHOOK_PREFIX    "/voice/events/"
#define WEBHOOK_TOKEN_MAX 4096

struct vside_tenant {
    struct vtenant *t;
    char *name;
    char *secret; /* webhook secret, NULL: webhooks off for this tenant */
    size_t secret_len;
};

struct voice_side {
    struct daemon_env env;
    struct http_client *http;
    struct voice_writer *writer;
    struct vside_tenant *tenants;
    size_t n_tenants;
    bool writer_only; /* mapper without the Voice role: see init */
    bool stopping;
};

struct vside_hook {
    struct voice_side *s;
    struct vside_tenant *vt;
    struct voice_call_event ev;
};

/* ---- webhook (libwebsockets thread) ---------------------------------------- */

static int vside__answer(struct http_response *resp, int status, const char *key, const char *msg)
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

static void vside__webhook_run(void *arg)
{
    struct vside_hook *h = arg;
    if (!h->s->stopping)
        vtenant__webhook_event(h->vt->t, &h->ev);
    free(h);
}

static void vside__count(const char *tenant, const char *result)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%.60s\",result=\"%s\"", tenant, result);
    metrics__inc("voice_webhook_requests_total", labels, 1);
}

static int vside__webhook(void *ctx, const struct http_request *req, struct http_response *resp,
                          struct http_pending *pending)
{
    (void)pending;
    struct voice_side *s = ctx;
    const char *name = req->path + strlen(WEBHOOK_PREFIX);
    struct vside_tenant *vt = NULL;
    for (size_t i = 0; i < s->n_tenants; i++)
        if (s->tenants[i].secret && strcmp(s->tenants[i].name, name) == 0)
            vt = &s->tenants[i];
    if (!vt)
        return vside__answer(resp, 404, "error", "no Voice webhook for this tenant");

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
        vside__count(vt->name, "unauthorized");
        return vside__answer(resp, 401, "error", "missing or wrong X-Benemen-Token");
    }
    if (!vtenant__accepting_events(vt->t)) {
        /* Not lost: the sender retries a 5xx (an event that cannot be
         * matched to a user yet would have to be dropped). */
        vside__count(vt->name, "not_ready");
        resp->extra_headers = "Retry-After: 5\r\n";
        return vside__answer(resp, 503, "error", "Voice user map not loaded yet");
    }
    struct vside_hook *h = calloc(1, sizeof(*h));
    char err[200];
    if (!h)
        return vside__answer(resp, 500, "error", "out of memory");
    if (events__parse_webhook(req->body, req->body_len, &h->ev, err, sizeof(err)) != 0) {
        free(h);
        LOG_WARN("voice", "webhook body refused tenant=%s error=\"%s\"", vt->name, err);
        vside__count(vt->name, "bad_request");
        return vside__answer(resp, 400, "error", err);
    }
    if (h->ev.kind == VOICE_CALL_OTHER) {
        free(h);
        vside__count(vt->name, "ignored");
        return vside__answer(resp, 202, "result", "ignored: not a call event");
    }
    h->s = s;
    h->vt = vt;
    if (loop__post(s->env.loop, vside__webhook_run, h) != 0) {
        free(h);
        return vside__answer(resp, 503, "error", "shutting down");
    }
    vside__count(vt->name, "accepted");
    return vside__answer(resp, 202, "result", "accepted");
}

/* ---- component hooks (loop thread) ---------------------------------------------- */

static const struct tenant_config *vside__cfg_tenant(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_tenants; i++)
        if (strcmp(cfg->tenants[i].name, name) == 0)
            return &cfg->tenants[i];
    return NULL;
}

static int vside__add_tenant(struct voice_side *s, const struct tenant_config *tc)
{
    const struct voice_config *v = &tc->voice;
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
        .talking_method = v->talking.method,
        .talking_path = v->talking.path,
        .talking_body = v->talking.body,
    };
    struct vside_tenant *vt = &s->tenants[s->n_tenants];
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
    vt->t = vtenant__new(s->env.loop, s->env.bus, s->http, s->writer, &o,
                         (const char *const *)tc->users, tc->n_users);
    if (!vt->name || (v->webhook_secret.value && !vt->secret) || !vt->t) {
        LOG_ERROR("voice", "cannot set up tenant=%s", tc->name);
        return -1;
    }
    s->n_tenants++;
    return 0;
}

static void vside__free_tenants(struct voice_side *s)
{
    for (size_t i = 0; i < s->n_tenants; i++) {
        vtenant__free(s->tenants[i].t);
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
    s->http = http_client__new(env->loop);
    s->writer = voice_writer__new(env->loop);
    s->tenants = calloc(cfg->n_tenants ? cfg->n_tenants : 1, sizeof(*s->tenants));
    if (!s->http || !s->writer || !s->tenants)
        goto fail;
    bool webhooks = false;
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        if (vside__add_tenant(s, &cfg->tenants[i]) != 0)
            goto fail;
        webhooks = webhooks || (s->tenants[i].secret && !s->writer_only);
    }
    if (webhooks && env->http &&
        http_server__route(env->http, "POST", WEBHOOK_PREFIX, true, vside__webhook, s) != 0) {
        LOG_ERROR("voice", "cannot add the webhook route path=%s", WEBHOOK_PREFIX);
        goto fail;
    }
    voice_writer__set_default(s->writer);
    *state = s;
    return 0;
fail:
    voice_side__free(s);
    return -1;
}

static int voice_side__start(void *state)
{
    struct voice_side *s = state;
    for (size_t i = 0; i < s->n_tenants; i++)
        vtenant__start(s->tenants[i].t);
    return 0;
}

static void voice_side__reload(void *state)
{
    struct voice_side *s = state;
    for (size_t i = 0; i < s->n_tenants; i++) {
        const struct tenant_config *tc = vside__cfg_tenant(s->env.cfg, s->tenants[i].name);
        if (tc)
            vtenant__reload(s->tenants[i].t, (const char *const *)tc->users, tc->n_users);
    }
}

static void voice_side__stop(void *state)
{
    struct voice_side *s = state;
    if (s->stopping)
        return;
    s->stopping = true;
    voice_writer__set_default(NULL);
    if (s->writer)
        voice_writer__stop(s->writer);
    for (size_t i = 0; i < s->n_tenants; i++)
        vtenant__stop(s->tenants[i].t);
    /* In-flight requests complete (with an error) on the loop's last turn;
     * the tenants and the writer see `stopping` and only clean up. */
    if (s->http) {
        http_client__free(s->http);
        s->http = NULL;
    }
}

static void voice_side__free(void *state)
{
    struct voice_side *s = state;
    if (!s)
        return;
    voice_side__stop(s);
    vside__free_tenants(s);
    voice_writer__free(s->writer);
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
