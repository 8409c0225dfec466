/* The tenant's identity on the loop thread (docs/graph.md, "Tenant id and
 * signing keys"): its GUID and the keys that sign Graph's validationTokens.
 *
 * At start the tenant's OpenID configuration is read
 * ({login_url}/{tenant_id}/v2.0/.well-known/openid-configuration): its
 * issuer holds the tenant GUID (also when graph.tenant_id is a domain; the
 * notification tenantId and the token issuers always carry the GUID), and
 * its jwks_uri is where the keys are. A failed read is retried with backoff;
 * meanwhile a GUID tenant fetches the keys from the common v2.0 location.
 *
 * The keys are fetched through the side's HTTP client, never on a worker:
 * a worker that meets a kid it does not know (or no keys yet, or keys older
 * than a day) calls identity__want_keys, which only sets a flag and posts to
 * the loop once; the loop fetches at most once per IDENTITY_JWKS_GAP_MS, so a
 * flood of forged tokens with made-up kids costs one fetch per gap. The
 * worker meanwhile treats the item as "keys pending" and reads the user's
 * presence instead (webhook.c). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/metrics.h"
#include "component.h"
#include "graph/gside.h"
#include "graph/jwt.h"

#define IDENTITY_TIMEOUT_MS 15000

static void identity__fetch_keys(struct gtenant *t);

static void identity__keys_timer(void *arg)
{
    identity__fetch_keys(arg);
}

static void identity__set_guid(struct gtenant *t, const char *guid, const char *issuer_tmpl)
{
    pthread_mutex_lock(&t->ident_lock);
    snprintf(t->ident.tenant_guid, sizeof(t->ident.tenant_guid), "%s", guid);
    if (issuer_tmpl)
        snprintf(t->ident.issuer, sizeof(t->ident.issuer), "%s", issuer_tmpl);
    pthread_mutex_unlock(&t->ident_lock);
}

void identity__snapshot(struct gtenant *t, struct gident *out)
{
    pthread_mutex_lock(&t->ident_lock);
    *out = t->ident;
    pthread_mutex_unlock(&t->ident_lock);
}

/* ---- validation-token keys ---------------------------------------------------------------- */

static void identity__keys_done(void *ctx, const struct http_result *res)
{
    struct gtenant *t = ctx;
    t->jwks_in_flight = false;
    if (t->side->stopping)
        return;
    char err[160] = "";
    if (res->status == 200) {
        struct jwks *set = jwks__parse(res->body, res->body_len, err, sizeof(err));
        if (set) {
            LOG_INFO("graph", "validation-token keys loaded tenant=%s keys=%zu url=%s", t->name,
                     jwks__count(set), t->jwks_url);
            jwks_cache__replace(t->jwks, set, clock__wall_ms());
            t->jwks_error[0] = '\0';
            backoff__reset(&t->jwks_bo);
        }
    }
    else if (res->status) {
        snprintf(err, sizeof(err), "HTTP %d", res->status);
    }
    else {
        snprintf(err, sizeof(err), "%s", res->error ? res->error : "no answer");
    }
    if (err[0]) {
        LOG_WARN("graph", "validation-token keys not loaded tenant=%s url=%s error=\"%s\"", t->name,
                 t->jwks_url, err);
        snprintf(t->jwks_error, sizeof(t->jwks_error), "%s", err);
        if (!jwks_cache__fetched_ms(t->jwks)) {
            /* no keys at all: try again without waiting for a rich item */
            int64_t d = backoff__next(&t->jwks_bo);
            atomic_store(&t->keys_wanted, true);
            t->jwks_timer =
                loop__timer(t->side->loop, d > IDENTITY_JWKS_GAP_MS ? d : IDENTITY_JWKS_GAP_MS,
                            identity__keys_timer, t);
            gside__status(t);
            return;
        }
    }
    /* the next unknown kid may ask again (after the gap) */
    atomic_store(&t->keys_wanted, false);
    gside__status(t);
}

static void identity__fetch_keys(struct gtenant *t)
{
    t->jwks_timer = 0;
    if (t->side->stopping || t->jwks_in_flight)
        return;
    struct http_call call = {
        .method = "GET",
        .url = t->jwks_url,
        .timeout_ms = IDENTITY_TIMEOUT_MS,
    };
    t->jwks_last_mono = clock__mono_ms();
    t->jwks_fetches++;
    t->jwks_in_flight = true;
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__inc("graph_jwks_fetches_total", labels, 1);
    if (http_client__send(t->side->env->http_client, &call, identity__keys_done, t) != 0)
        t->jwks_in_flight = false;
}

/* Loop: a worker asked for keys. At most one fetch per gap. */
static void identity__keys_asked(void *arg)
{
    struct gtenant *t = arg;
    if (t->side->stopping || t->jwks_in_flight || t->jwks_timer)
        return; /* the running fetch or the timer answers it */
    int64_t since = clock__mono_ms() - t->jwks_last_mono;
    if (t->jwks_last_mono && since < IDENTITY_JWKS_GAP_MS) {
        t->jwks_timer =
            loop__timer(t->side->loop, IDENTITY_JWKS_GAP_MS - since, identity__keys_timer, t);
        return;
    }
    identity__fetch_keys(t);
}

void identity__want_keys(struct gtenant *t)
{
    if (atomic_exchange(&t->keys_wanted, true))
        return; /* already asked; the loop clears the flag when it has fetched */
    if (loop__post(t->side->loop, identity__keys_asked, t) != 0)
        atomic_store(&t->keys_wanted, false);
}

/* ---- the OpenID configuration ------------------------------------------------------------- */

static void identity__read_config(void *arg);

static void identity__config_failed(struct gtenant *t, const char *why)
{
    snprintf(t->ident_error, sizeof(t->ident_error), "%s", why);
    int64_t d = backoff__next(&t->oidc_bo);
    LOG_WARN("graph",
             "cannot read the tenant's OpenID configuration tenant=%s url=%s error=\"%s\" "
             "retry_in_ms=%lld",
             t->name, t->oidc_url, why, (long long)d);
    t->oidc_timer = loop__timer(t->side->loop, d, identity__read_config, t);
    /* a GUID tenant need not wait for it to get the keys */
    if (t->ident.tenant_guid[0] && !jwks_cache__fetched_ms(t->jwks) && !t->jwks_in_flight &&
        !t->jwks_timer)
        identity__fetch_keys(t);
    gside__status(t);
}

/* The document was read: the tenant GUID, and where the keys are. */
static void identity__config_ok(struct gtenant *t, const struct oidc_doc *doc)
{
    const char *cfg_id = t->cfg->graph.tenant_id;
    char *tmpl = oidc__issuer_template(doc->issuer);
    bool default_form = tmpl && !strcasecmp(tmpl, OIDC_ISSUER_V2);
    if (oidc__is_guid(cfg_id) && strcasecmp(cfg_id, doc->tenant_guid) != 0)
        LOG_WARN("graph",
                 "the OpenID configuration names another tenant tenant=%s configured=%s "
                 "issuer=%s: keeping the configured GUID",
                 t->name, cfg_id, doc->issuer);
    identity__set_guid(t, oidc__is_guid(cfg_id) ? cfg_id : doc->tenant_guid,
                       default_form ? NULL : tmpl);
    free(tmpl);
    if (!oidc__is_guid(cfg_id)) {
        t->ident_source = "openid-configuration";
        LOG_INFO("graph", "tenant id resolved tenant=%s domain=%s id=%s", t->name, cfg_id,
                 doc->tenant_guid);
    }
    char *jwks = strdup(doc->jwks_uri);
    if (jwks) {
        free(t->jwks_url);
        t->jwks_url = jwks;
    }
    t->oidc_ok = true;
    t->ident_error[0] = '\0';
    backoff__reset(&t->oidc_bo);
    if (!t->jwks_in_flight) {
        loop__timer_cancel(t->side->loop, t->jwks_timer);
        identity__fetch_keys(t); /* the first keys, or the ones from jwks_uri */
    }
    gside__status(t);
}

static void identity__config_done(void *ctx, const struct http_result *res)
{
    struct gtenant *t = ctx;
    t->oidc_in_flight = false;
    if (t->side->stopping)
        return;
    char err[160];
    struct oidc_doc doc;
    if (res->status != 200) {
        if (res->status)
            snprintf(err, sizeof(err), "HTTP %d", res->status);
        else
            snprintf(err, sizeof(err), "%s", res->error ? res->error : "no answer");
        identity__config_failed(t, err);
        return;
    }
    if (oidc__parse(res->body, res->body_len, &doc, err, sizeof(err)) != 0) {
        identity__config_failed(t, err);
        return;
    }
    if (!doc.tenant_guid[0]) {
        identity__config_failed(t, "the issuer holds no tenant GUID");
        return;
    }
    identity__config_ok(t, &doc);
}

static void identity__read_config(void *arg)
{
    struct gtenant *t = arg;
    t->oidc_timer = 0;
    if (t->side->stopping || t->oidc_in_flight)
        return;
    struct http_call call = {
        .method = "GET",
        .url = t->oidc_url,
        .timeout_ms = IDENTITY_TIMEOUT_MS,
    };
    t->oidc_in_flight = true;
    if (http_client__send(t->side->env->http_client, &call, identity__config_done, t) != 0)
        t->oidc_in_flight = false;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int identity__init(struct gtenant *t, const char *login_url)
{
    const char *tid = t->cfg->graph.tenant_id;
    atomic_init(&t->keys_wanted, false);
    backoff__init(&t->oidc_bo, 2000, 5 * 60 * 1000);
    backoff__init(&t->jwks_bo, 2000, 5 * 60 * 1000);
    t->oidc_url = oidc__config_url(login_url, tid);
    size_t n = strlen(login_url) + 32;
    t->jwks_url = malloc(n);
    if (!t->oidc_url || !t->jwks_url)
        return -1;
    /* until the configuration names its jwks_uri (docs/graph.md) */
    snprintf(t->jwks_url, n, "%s/common/discovery/v2.0/keys", login_url);
    if (oidc__is_guid(tid)) {
        char lower[OIDC_GUID_LEN + 1];
        for (size_t i = 0; i <= OIDC_GUID_LEN; i++)
            lower[i] = (char)(tid[i] >= 'A' && tid[i] <= 'F' ? tid[i] + 32 : tid[i]);
        identity__set_guid(t, lower, NULL);
        t->ident_source = "configured";
    }
    return 0;
}

void identity__start(struct gtenant *t)
{
    identity__read_config(t);
}

void identity__stop(struct gtenant *t)
{
    loop__timer_cancel(t->side->loop, t->oidc_timer);
    loop__timer_cancel(t->side->loop, t->jwks_timer);
    t->oidc_timer = 0;
    t->jwks_timer = 0;
}

void identity__free(struct gtenant *t)
{
    free(t->oidc_url);
    t->oidc_url = NULL;
}

cJSON *identity__status_json(struct gtenant *t)
{
    cJSON *o = cJSON_CreateObject();
    struct gident id;
    identity__snapshot(t, &id);
    cJSON_AddStringToObject(o, "configured", t->cfg->graph.tenant_id);
    if (id.tenant_guid[0])
        cJSON_AddStringToObject(o, "id", id.tenant_guid);
    else
        cJSON_AddNullToObject(o, "id");
    cJSON_AddStringToObject(o, "source", t->ident_source ? t->ident_source : "pending");
    cJSON_AddStringToObject(o, "openid_configuration", t->oidc_url);
    cJSON_AddStringToObject(o, "openid_configuration_state",
                            t->oidc_ok          ? "ok"
                            : t->ident_error[0] ? "error"
                                                : "pending");
    if (t->ident_error[0])
        cJSON_AddStringToObject(o, "error", t->ident_error);
    cJSON *k = cJSON_AddObjectToObject(o, "validation_keys");
    struct jwks *set = jwks_cache__get(t->jwks);
    cJSON_AddNumberToObject(k, "keys", (double)jwks__count(set));
    jwks__release(set);
    char ts[32];
    int64_t at = jwks_cache__fetched_ms(t->jwks);
    if (at)
        cJSON_AddStringToObject(k, "fetched", clock__iso8601(at, ts, sizeof(ts)));
    else
        cJSON_AddNullToObject(k, "fetched");
    cJSON_AddNumberToObject(k, "fetches", (double)t->jwks_fetches);
    cJSON_AddStringToObject(k, "jwks_uri", t->jwks_url);
    if (t->jwks_error[0])
        cJSON_AddStringToObject(k, "error", t->jwks_error);
    return o;
}
