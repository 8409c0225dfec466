/* The tenant's GUID and the validation-token keys; see identity.h. */
#include "graph/identity.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/backoff.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "graph/jwt.h"
#include "graph/graph_status.h"

#define IDENTITY_TIMEOUT_MS 15000

struct graph_identity {
    struct graph_identity_options o;
    char *login_url;
    /* any thread: ident under lock; keys_wanted atomic; jwks thread-safe */
    pthread_mutex_t lock;
    struct graph_ident ident;
    atomic_bool keys_wanted; /* a worker asked for keys; cleared after the fetch */
    struct jwks_cache *jwks;
    /* loop thread */
    char *oidc_url;
    char *jwks_url;
    const char *source; /* "configured", "openid-configuration"; NULL: pending */
    char error[160];
    bool oidc_ok;
    bool oidc_in_flight;
    loop_timer_id oidc_timer;
    struct backoff oidc_bo;
    bool jwks_in_flight;
    loop_timer_id jwks_timer;
    struct backoff jwks_bo;
    int64_t jwks_last_mono; /* start of the last key fetch */
    unsigned jwks_fetches;
    char jwks_error[160];
    bool stopping;
};

static void identity__fetch_keys(struct graph_identity *ident);

static void identity__keys_timer(void *arg)
{
    identity__fetch_keys(arg);
}

static void identity__set_guid(struct graph_identity *ident, const char *guid,
                               const char *issuer_tmpl)
{
    pthread_mutex_lock(&ident->lock);
    snprintf(ident->ident.tenant_guid, sizeof(ident->ident.tenant_guid), "%s", guid);
    if (issuer_tmpl)
        snprintf(ident->ident.issuer, sizeof(ident->ident.issuer), "%s", issuer_tmpl);
    pthread_mutex_unlock(&ident->lock);
}

void identity__snapshot(struct graph_identity *ident, struct graph_ident *out)
{
    pthread_mutex_lock(&ident->lock);
    *out = ident->ident;
    pthread_mutex_unlock(&ident->lock);
}

/* ---- validation-token keys ---------------------------------------------------------------- */

static void identity__keys_done(void *ctx, const struct http_result *res)
{
    struct graph_identity *ident = ctx;
    ident->jwks_in_flight = false;
    if (ident->stopping)
        return;
    char err[160] = "";
    if (res->status == 200) {
        struct jwks *set = jwt__jwks_parse(res->body, res->body_len, err, sizeof(err));
        if (set) {
            LOG_INFO("graph", "validation-token keys loaded tenant=%s keys=%zu url=%s",
                     ident->o.tenant, jwt__jwks_count(set), ident->jwks_url);
            jwt__cache_replace(ident->jwks, set, clock__wall_ms());
            ident->jwks_error[0] = '\0';
            backoff__reset(&ident->jwks_bo);
        }
    }
    else if (res->status) {
        snprintf(err, sizeof(err), "HTTP %d", res->status);
    }
    else {
        snprintf(err, sizeof(err), "%s", res->error ? res->error : "no answer");
    }
    if (err[0]) {
        LOG_WARN("graph", "validation-token keys not loaded tenant=%s url=%s error=\"%s\"",
                 ident->o.tenant, ident->jwks_url, err);
        snprintf(ident->jwks_error, sizeof(ident->jwks_error), "%s", err);
        if (!jwt__cache_fetched_ms(ident->jwks)) {
            /* no keys at all: try again without waiting for a rich item */
            int64_t d = backoff__next(&ident->jwks_bo);
            atomic_store(&ident->keys_wanted, true);
            ident->jwks_timer =
                loop__timer(ident->o.loop, d > IDENTITY_JWKS_GAP_MS ? d : IDENTITY_JWKS_GAP_MS,
                            identity__keys_timer, ident);
            graph_status__changed(ident->o.status);
            return;
        }
    }
    /* the next unknown kid may ask again (after the gap) */
    atomic_store(&ident->keys_wanted, false);
    graph_status__changed(ident->o.status);
}

static void identity__fetch_keys(struct graph_identity *ident)
{
    ident->jwks_timer = 0;
    if (ident->stopping || ident->jwks_in_flight)
        return;
    struct http_call call = {
        .method = "GET",
        .url = ident->jwks_url,
        .timeout_ms = IDENTITY_TIMEOUT_MS,
    };
    ident->jwks_last_mono = clock__mono_ms();
    ident->jwks_fetches++;
    ident->jwks_in_flight = true;
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", ident->o.tenant);
    metrics__inc("graph_jwks_fetches_total", labels, 1);
    if (http_client__send(ident->o.http, &call, identity__keys_done, ident) != 0)
        ident->jwks_in_flight = false;
}

/* Loop: a worker asked for keys. At most one fetch per gap. */
static void identity__keys_asked(void *arg)
{
    struct graph_identity *ident = arg;
    if (ident->stopping || ident->jwks_in_flight || ident->jwks_timer)
        return; /* the running fetch or the timer answers it */
    int64_t since = clock__mono_ms() - ident->jwks_last_mono;
    if (ident->jwks_last_mono && since < IDENTITY_JWKS_GAP_MS) {
        ident->jwks_timer =
            loop__timer(ident->o.loop, IDENTITY_JWKS_GAP_MS - since, identity__keys_timer, ident);
        return;
    }
    identity__fetch_keys(ident);
}

void identity__want_keys(struct graph_identity *ident)
{
    if (atomic_exchange(&ident->keys_wanted, true))
        return; /* already asked; the loop clears the flag when it has fetched */
    if (loop__post(ident->o.loop, identity__keys_asked, ident) != 0)
        atomic_store(&ident->keys_wanted, false);
}

/* ---- the OpenID configuration ------------------------------------------------------------- */

static void identity__read_config(void *arg);

static void identity__config_failed(struct graph_identity *ident, const char *why)
{
    snprintf(ident->error, sizeof(ident->error), "%s", why);
    int64_t d = backoff__next(&ident->oidc_bo);
    LOG_WARN("graph",
             "cannot read the tenant's OpenID configuration tenant=%s url=%s error=\"%s\" "
             "retry_in_ms=%lld",
             ident->o.tenant, ident->oidc_url, why, (long long)d);
    ident->oidc_timer = loop__timer(ident->o.loop, d, identity__read_config, ident);
    /* a GUID tenant need not wait for it to get the keys */
    if (ident->ident.tenant_guid[0] && !jwt__cache_fetched_ms(ident->jwks) &&
        !ident->jwks_in_flight && !ident->jwks_timer)
        identity__fetch_keys(ident);
    graph_status__changed(ident->o.status);
}

/* The document was read: the tenant GUID, and where the keys are. */
static void identity__config_ok(struct graph_identity *ident, const struct oidc_doc *doc)
{
    const char *cfg_id = ident->o.tenant_id;
    char *tmpl = oidc__issuer_template(doc->issuer);
    bool default_form = tmpl && !strcasecmp(tmpl, OIDC_ISSUER_V2);
    if (oidc__is_guid(cfg_id) && strcasecmp(cfg_id, doc->tenant_guid) != 0)
        LOG_WARN("graph",
                 "the OpenID configuration names another tenant tenant=%s configured=%s "
                 "issuer=%s: keeping the configured GUID",
                 ident->o.tenant, cfg_id, doc->issuer);
    identity__set_guid(ident, oidc__is_guid(cfg_id) ? cfg_id : doc->tenant_guid,
                       default_form ? NULL : tmpl);
    free(tmpl);
    if (!oidc__is_guid(cfg_id)) {
        ident->source = "openid-configuration";
        LOG_INFO("graph", "tenant id resolved tenant=%s domain=%s id=%s", ident->o.tenant, cfg_id,
                 doc->tenant_guid);
    }
    char *jwks = strdup(doc->jwks_uri);
    if (jwks) {
        free(ident->jwks_url);
        ident->jwks_url = jwks;
    }
    ident->oidc_ok = true;
    ident->error[0] = '\0';
    backoff__reset(&ident->oidc_bo);
    if (!ident->jwks_in_flight) {
        loop__timer_cancel(ident->o.loop, ident->jwks_timer);
        identity__fetch_keys(ident); /* the first keys, or the ones from jwks_uri */
    }
    graph_status__changed(ident->o.status);
}

static void identity__config_done(void *ctx, const struct http_result *res)
{
    struct graph_identity *ident = ctx;
    ident->oidc_in_flight = false;
    if (ident->stopping)
        return;
    char err[160];
    struct oidc_doc doc;
    if (res->status != 200) {
        if (res->status)
            snprintf(err, sizeof(err), "HTTP %d", res->status);
        else
            snprintf(err, sizeof(err), "%s", res->error ? res->error : "no answer");
        identity__config_failed(ident, err);
        return;
    }
    if (oidc__parse(res->body, res->body_len, &doc, err, sizeof(err)) != 0) {
        identity__config_failed(ident, err);
        return;
    }
    if (!doc.tenant_guid[0]) {
        identity__config_failed(ident, "the issuer holds no tenant GUID");
        return;
    }
    identity__config_ok(ident, &doc);
}

static void identity__read_config(void *arg)
{
    struct graph_identity *ident = arg;
    ident->oidc_timer = 0;
    if (ident->stopping || ident->oidc_in_flight)
        return;
    struct http_call call = {
        .method = "GET",
        .url = ident->oidc_url,
        .timeout_ms = IDENTITY_TIMEOUT_MS,
    };
    ident->oidc_in_flight = true;
    if (http_client__send(ident->o.http, &call, identity__config_done, ident) != 0)
        ident->oidc_in_flight = false;
}

/* ---- life cycle and status ------------------------------------------------------------------ */

struct jwks_cache *identity__jwks(struct graph_identity *ident)
{
    return ident->jwks;
}

static int identity__urls(struct graph_identity *ident)
{
    const char *login = ident->login_url;
    ident->oidc_url = oidc__config_url(login, ident->o.tenant_id);
    size_t n = strlen(login) + 32;
    ident->jwks_url = malloc(n);
    if (!ident->oidc_url || !ident->jwks_url)
        return -1;
    /* until the configuration names its jwks_uri (docs/graph.md) */
    snprintf(ident->jwks_url, n, "%s/common/discovery/v2.0/keys", login);
    return 0;
}

struct graph_identity *identity__new(const struct graph_identity_options *o)
{
    struct graph_identity *ident = calloc(1, sizeof(*ident));
    if (!ident)
        return NULL;
    ident->o = *o;
    pthread_mutex_init(&ident->lock, NULL);
    atomic_init(&ident->keys_wanted, false);
    backoff__init(&ident->oidc_bo, 2000, 5 * 60 * 1000);
    backoff__init(&ident->jwks_bo, 2000, 5 * 60 * 1000);
    ident->login_url = strdup(o->login_url);
    ident->jwks = jwt__cache_new();
    if (!ident->login_url || !ident->jwks || identity__urls(ident) != 0) {
        identity__free(ident);
        return NULL;
    }
    const char *tid = o->tenant_id;
    if (oidc__is_guid(tid)) {
        char lower[OIDC_GUID_LEN + 1];
        for (size_t i = 0; i <= OIDC_GUID_LEN; i++)
            lower[i] = (char)(tid[i] >= 'A' && tid[i] <= 'F' ? tid[i] + 32 : tid[i]);
        identity__set_guid(ident, lower, NULL);
        ident->source = "configured";
    }
    return ident;
}

void identity__start(struct graph_identity *ident)
{
    identity__read_config(ident);
}

void identity__stop(struct graph_identity *ident)
{
    ident->stopping = true;
    loop__timer_cancel(ident->o.loop, ident->oidc_timer);
    loop__timer_cancel(ident->o.loop, ident->jwks_timer);
    ident->oidc_timer = 0;
    ident->jwks_timer = 0;
}

void identity__free(struct graph_identity *ident)
{
    if (!ident)
        return;
    identity__stop(ident);
    jwt__cache_free(ident->jwks);
    free(ident->login_url);
    free(ident->oidc_url);
    free(ident->jwks_url);
    pthread_mutex_destroy(&ident->lock);
    free(ident);
}

static cJSON *identity__keys_json(struct graph_identity *ident)
{
    cJSON *k = cJSON_CreateObject();
    struct jwks *set = jwt__cache_get(ident->jwks);
    cJSON_AddNumberToObject(k, "keys", (double)jwt__jwks_count(set));
    jwt__jwks_release(set);
    char ts[32];
    int64_t at = jwt__cache_fetched_ms(ident->jwks);
    if (at)
        cJSON_AddStringToObject(k, "fetched", clock__iso8601(at, ts, sizeof(ts)));
    else
        cJSON_AddNullToObject(k, "fetched");
    cJSON_AddNumberToObject(k, "fetches", (double)ident->jwks_fetches);
    cJSON_AddStringToObject(k, "jwks_uri", ident->jwks_url);
    if (ident->jwks_error[0])
        cJSON_AddStringToObject(k, "error", ident->jwks_error);
    return k;
}

void identity__status(void *ctx, cJSON *section, struct graph_ready *r)
{
    (void)r;
    struct graph_identity *ident = ctx;
    cJSON *o = cJSON_AddObjectToObject(section, "tenant");
    struct graph_ident now;
    identity__snapshot(ident, &now);
    cJSON_AddStringToObject(o, "configured", ident->o.tenant_id);
    if (now.tenant_guid[0])
        cJSON_AddStringToObject(o, "id", now.tenant_guid);
    else
        cJSON_AddNullToObject(o, "id");
    cJSON_AddStringToObject(o, "source", ident->source ? ident->source : "pending");
    cJSON_AddStringToObject(o, "openid_configuration", ident->oidc_url);
    cJSON_AddStringToObject(o, "openid_configuration_state",
                            ident->oidc_ok    ? "ok"
                            : ident->error[0] ? "error"
                                              : "pending");
    if (ident->error[0])
        cJSON_AddStringToObject(o, "error", ident->error);
    cJSON_AddItemToObject(o, "validation_keys", identity__keys_json(ident));
}
