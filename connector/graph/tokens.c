/* OAuth2 tokens for Graph (docs/graph.md "Sign-in"); see tokens.h.
 *
 * A delegated token per service account (ROPC, then refresh_token; when a
 * refresh fails, ROPC again at once since the stored password is the only way
 * back) for the subscriptions, and the app token (client_credentials) for
 * lookups and presence. A token is refreshed ahead of its expiry
 * (expires_in - 300 s) while the old one stays in use. Failures go to
 * B/health with the AADSTS code and a plain explanation and are retried with
 * backoff; whoever waits for the token simply waits (or, if it asked, is told
 * at once), so nothing downstream can spin. */
#include "graph/tokens.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/http_client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"

#define TOKENS_EARLY_S     300 /* refresh this long before expiry */
#define TOKENS_RETRY_BASE  2000
#define TOKENS_RETRY_MAX   (5 * 60 * 1000)
#define TOKENS_SCOPE_DELEG "https://graph.microsoft.com/Presence.Read.All offline_access"
#define TOKENS_SCOPE_APP   "https://graph.microsoft.com/.default"

static const struct {
    int code;
    const char *text;
} tokens_explanations[] = {
    {50076, "multi-factor authentication is required for this account; ROPC cannot do MFA: "
            "exclude the service account from MFA and Conditional Access"},
    {50079, "the account must register for multi-factor authentication; exclude it from MFA"},
    {50072, "the account must enroll in multi-factor authentication; exclude it from MFA"},
    {50074, "a strong-authentication challenge was not passed; exclude the account from MFA"},
    {50055, "the account's password has expired; set a new one and update the password file"},
    {50144, "the account's on-premises password has expired"},
    {50126, "wrong username or password; check the service account's password file"},
    {50034, "the account does not exist in this tenant"},
    {50053, "the account is locked (too many sign-in attempts) or the sign-in was blocked"},
    {50057, "the account is disabled"},
    {53003, "sign-in blocked by a Conditional Access policy"},
    {530035, "sign-in blocked by Security Defaults (legacy authentication)"},
    {50173, "the grant was revoked (password changed or sessions revoked); signing in again"},
    {50133, "the session is invalid after a password change; signing in again"},
    {50132, "the session is invalid after a password change; signing in again"},
    {70008, "the refresh token expired; signing in again"},
    {700082, "the refresh token expired after inactivity; signing in again"},
    {70043, "the refresh token is invalid because of a sign-in frequency policy"},
    {65001, "admin consent is missing: grant the app's Graph permissions (consent-url)"},
    {7000215, "the client secret is invalid; check client_secret_file (the secret value, not "
              "its id)"},
    {7000222, "the client secret has expired; create a new one"},
    {7000218, "the app is confidential and no client secret was sent"},
    {700025, "the app is a public client but a client secret was sent"},
    {700016, "the app (client_id) is not found in this tenant"},
    {90002, "the tenant is not found; check graph.tenant_id"},
    {90055, "the tenant is being throttled; retrying later"},
    {50196, "too many identical token requests; retrying later"},
};

const char *tokens__explain(int aadsts)
{
    for (size_t i = 0; i < sizeof(tokens_explanations) / sizeof(tokens_explanations[0]); i++) {
        if (tokens_explanations[i].code == aadsts)
            return tokens_explanations[i].text;
    }
    return NULL;
}

int tokens__parse_error(const char *body, char *err, size_t errlen)
{
    int code = 0;
    if (err && errlen)
        err[0] = '\0';
    cJSON *o = body ? json__parse_str(body) : NULL;
    if (!o)
        return 0;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (cJSON_IsString(e) && err)
        snprintf(err, errlen, "%s", e->valuestring);
    const cJSON *codes = cJSON_GetObjectItemCaseSensitive(o, "error_codes");
    const cJSON *first = cJSON_IsArray(codes) ? cJSON_GetArrayItem(codes, 0) : NULL;
    if (cJSON_IsNumber(first) && first->valuedouble > 0)
        code = (int)first->valuedouble;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "error_description");
    if (!code && cJSON_IsString(d)) {
        const char *p = strstr(d->valuestring, "AADSTS");
        if (p)
            code = atoi(p + 6);
    }
    cJSON_Delete(o);
    return code > 0 ? code : 0;
}

char *tokens__form(const char *const *pairs, size_t n_pairs)
{
    size_t cap = 1, len = 0;
    char **esc = calloc(n_pairs ? n_pairs : 1, sizeof(*esc));
    if (!esc)
        return NULL;
    for (size_t i = 0; i < n_pairs; i++) {
        if (!pairs[2 * i + 1])
            continue;
        esc[i] = http__escape(pairs[2 * i + 1]);
        if (!esc[i])
            goto fail;
        cap += strlen(pairs[2 * i]) + strlen(esc[i]) + 2;
    }
    char *out = malloc(cap);
    if (!out)
        goto fail;
    out[0] = '\0';
    for (size_t i = 0; i < n_pairs; i++) {
        if (!esc[i])
            continue;
        len +=
            (size_t)snprintf(out + len, cap - len, "%s%s=%s", len ? "&" : "", pairs[2 * i], esc[i]);
    }
    for (size_t i = 0; i < n_pairs; i++) {
        if (esc[i]) /* may hold a password or secret */
            OPENSSL_cleanse(esc[i], strlen(esc[i]));
        free(esc[i]);
    }
    free(esc);
    return out;
fail:
    for (size_t i = 0; i < n_pairs; i++)
        free(esc[i]);
    free(esc);
    return NULL;
}

void tokens__init(struct gtoken *tok, const struct gtoken_config *c)
{
    memset(tok, 0, sizeof(*tok));
    tok->c = *c;
    tok->state = "pending";
    backoff__init(&tok->bo, TOKENS_RETRY_BASE, TOKENS_RETRY_MAX);
}

const char *tokens__who(const struct gtoken *tok)
{
    return tok->c.username ? tok->c.username : "app";
}

bool tokens__failing(const struct gtoken *tok)
{
    return strcmp(tok->state, "error") == 0;
}

static void tokens__state_changed(struct gtoken *tok)
{
    if (tok->c.on_state)
        tok->c.on_state(tok->c.state_ctx);
}

/* Labels of a token's metrics: tenant and account ("app" or the configured
 * service account's username; both bounded by the config). */
static void tokens__labels(const struct gtoken *tok, char *buf, size_t len)
{
    metrics__labels(buf, len, "tenant", tok->c.tenant, "account", tokens__who(tok), NULL);
}

/* code: the AADSTS code when the identity platform gave one, else the HTTP
 * status, else "unreachable" (a bounded set; the free-text error is not). */
static void tokens__count_failure(const struct gtoken *tok, int status, int aadsts)
{
    char labels[400], who[320];
    tokens__labels(tok, who, sizeof(who));
    if (aadsts)
        snprintf(labels, sizeof(labels), "%s,code=\"AADSTS%d\"", who, aadsts);
    else if (status)
        snprintf(labels, sizeof(labels), "%s,code=\"http_%d\"", who, status);
    else
        snprintf(labels, sizeof(labels), "%s,code=\"unreachable\"", who);
    metrics__inc("graph_token_failures_total", labels, 1);
}

static bool tokens__valid(const struct gtoken *tok)
{
    return tok->access && clock__mono_ms() < tok->expires_mono;
}

/* Hands the token to every waiter (bearer NULL: stopping). */
static void tokens__release(struct gtoken *tok, const char *bearer)
{
    struct gwaiter *w = tok->waiters;
    tok->waiters = NULL;
    while (w) {
        struct gwaiter *next = w->next;
        w->fn(w->ctx, bearer, NULL);
        free(w);
        w = next;
    }
}

/* The reason a fail-fast waiter is given (short: it ends up in B/sync). */
static void tokens__reason(const struct gtoken *tok, char *buf, size_t len)
{
    if (tok->aadsts)
        snprintf(buf, len, "sign-in failing: %s AADSTS%d", tok->error, tok->aadsts);
    else
        snprintf(buf, len, "sign-in failing: %s", tok->error);
}

/* After a failed sign-in: the waiters that asked to be told are told. */
static void tokens__fail_waiters(struct gtoken *tok)
{
    char why[128];
    tokens__reason(tok, why, sizeof(why));
    struct gwaiter **pp = &tok->waiters, *failed = NULL;
    while (*pp) {
        struct gwaiter *w = *pp;
        if (!w->fail_fast) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->next = failed;
        failed = w;
    }
    while (failed) {
        struct gwaiter *next = failed->next;
        failed->fn(failed->ctx, NULL, why);
        free(failed);
        failed = next;
    }
}

static void tokens__fetch(struct gtoken *tok);

static void tokens__on_timer(void *arg)
{
    struct gtoken *tok = arg;
    tok->timer = 0;
    tok->retry_pending = false;
    if (!tok->stopping)
        tokens__fetch(tok);
}

static void tokens__schedule(struct gtoken *tok, int64_t delay_ms, bool retry)
{
    struct loop *loop = tok->c.loop;
    loop__timer_cancel(loop, tok->timer);
    tok->retry_pending = retry;
    tok->timer = loop__timer(loop, delay_ms, tokens__on_timer, tok);
}

static int tokens__accept(struct gtoken *tok, const char *body)
{
    cJSON *o = json__parse_str(body);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "access_token");
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(o, "refresh_token");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
    if (!cJSON_IsString(at) || !at->valuestring[0]) {
        cJSON_Delete(o);
        return -1;
    }
    /* expires_in is an int in v2, a string in some v1 answers */
    double secs = cJSON_IsNumber(ex)   ? ex->valuedouble
                  : cJSON_IsString(ex) ? atof(ex->valuestring)
                                       : 3599;
    if (secs < 10)
        secs = 10;
    log__redact_replace(tok->access, at->valuestring);
    free(tok->access);
    tok->access = strdup(at->valuestring);
    if (cJSON_IsString(rt) && rt->valuestring[0]) {
        log__redact_replace(tok->refresh, rt->valuestring);
        free(tok->refresh);
        tok->refresh = strdup(rt->valuestring); /* rotation: keep only the newest */
    }
    int64_t now = clock__mono_ms();
    tok->expires_mono = now + (int64_t)(secs * 1000);
    /* refresh early; a short-lived token at half its life */
    int64_t ahead =
        secs > 2 * TOKENS_EARLY_S ? (int64_t)(secs - TOKENS_EARLY_S) * 1000 : (int64_t)(secs * 500);
    cJSON_Delete(o);
    tokens__schedule(tok, ahead, false);
    return tok->access ? 0 : -1;
}

static void tokens__failed(struct gtoken *tok, const struct http_result *res)
{
    char err[64];
    int code = res->status ? tokens__parse_error(res->body, err, sizeof(err)) : 0;
    if (!res->status)
        snprintf(err, sizeof(err), "unreachable");
    else if (!err[0])
        snprintf(err, sizeof(err), "http_%d", res->status);
    bool was_refresh = tok->with_refresh;
    tok->failures++;
    if (was_refresh) {
        /* the refresh token is gone (revoked, expired): sign in again now */
        LOG_WARN("graph",
                 "token refresh failed, signing in again tenant=%s account=%s "
                 "error=%s aadsts=%d",
                 tok->c.tenant, tokens__who(tok), err, code);
        tokens__count_failure(tok, res->status, code);
        free(tok->refresh);
        tok->refresh = NULL;
        tokens__fetch(tok);
        return;
    }
    const char *why = tokens__explain(code);
    if (!why)
        why = res->status ? "the identity platform refused the sign-in"
                          : "the identity platform could not be reached";
    int64_t delay = backoff__next(&tok->bo);
    if (res->retry_after_ms > delay)
        delay = res->retry_after_ms;
    bool changed = strcmp(tok->state, "error") != 0 || tok->aadsts != code;
    tok->state = "error";
    tok->aadsts = code;
    snprintf(tok->error, sizeof(tok->error), "%s", err);
    tok->explanation = why;
    if (changed)
        tok->error_wall_ms = clock__wall_ms(); /* since when it fails */
    if (changed || tok->failures % 20 == 1)
        LOG_ERROR("graph",
                  "sign-in failed tenant=%s account=%s status=%d error=%s aadsts=%d "
                  "reason=\"%s\" retry_ms=%lld",
                  tok->c.tenant, tokens__who(tok), res->status, err, code, why, (long long)delay);
    tokens__count_failure(tok, res->status, code);
    tokens__schedule(tok, delay, true);
    tokens__fail_waiters(tok);
    if (changed)
        tokens__state_changed(tok);
}

static void tokens__done(void *ctx, const struct http_result *res)
{
    struct gtoken *tok = ctx;
    tok->in_flight = false;
    if (tok->stopping)
        return;
    if (res->status == 200 && tokens__accept(tok, res->body) == 0) {
        bool was_error = strcmp(tok->state, "ok") != 0;
        tok->state = "ok";
        tok->aadsts = 0;
        tok->error[0] = '\0';
        tok->explanation = NULL;
        tok->failures = 0;
        backoff__reset(&tok->bo);
        char labels[320];
        tokens__labels(tok, labels, sizeof(labels));
        metrics__inc("graph_token_refreshes_total", labels, 1);
        if (was_error)
            LOG_INFO("graph", "signed in tenant=%s account=%s", tok->c.tenant, tokens__who(tok));
        if (was_error)
            tokens__state_changed(tok);
        tokens__release(tok, tok->access);
        return;
    }
    tokens__failed(tok, res);
}

static void tokens__fetch(struct gtoken *tok)
{
    const struct gtoken_config *c = &tok->c;
    if (tok->in_flight || tok->stopping)
        return;
    char *form;
    tok->with_refresh = false;
    if (!c->username) {
        const char *p[] = {"client_id",  c->client_id,         "client_secret", c->secret,
                           "grant_type", "client_credentials", "scope",         TOKENS_SCOPE_APP};
        form = tokens__form(p, 4);
    }
    else if (tok->refresh) {
        tok->with_refresh = true;
        const char *p[] = {"client_id",  c->client_id,      "client_secret", c->secret,
                           "grant_type", "refresh_token",   "refresh_token", tok->refresh,
                           "scope",      TOKENS_SCOPE_DELEG};
        form = tokens__form(p, 5);
    }
    else {
        const char *p[] = {"client_id",  c->client_id, "client_secret", c->secret,
                           "grant_type", "password",   "username",      c->username,
                           "password",   c->password,  "scope",         TOKENS_SCOPE_DELEG};
        form = tokens__form(p, 6);
    }
    if (!form) {
        tokens__schedule(tok, backoff__next(&tok->bo), true);
        return;
    }
    struct http_call call = {
        .method = "POST",
        .url = c->token_url,
        .body = form,
        .body_len = strlen(form),
        .content_type = "application/x-www-form-urlencoded",
        .timeout_ms = 15000,
    };
    tok->in_flight = true;
    if (http_client__send(c->http, &call, tokens__done, tok) != 0) {
        tok->in_flight = false;
        tokens__schedule(tok, backoff__next(&tok->bo), true);
    }
    /* the form holds the password: wipe before freeing */
    OPENSSL_cleanse(form, strlen(form));
    free(form);
}

void tokens__get(struct gtoken *tok, gtoken_fn fn, void *ctx, bool fail_fast)
{
    if (tok->stopping) {
        fn(ctx, NULL, NULL);
        return;
    }
    if (tokens__valid(tok)) {
        fn(ctx, tok->access, NULL);
        return;
    }
    if (fail_fast && tok->retry_pending && tokens__failing(tok)) {
        char why[128];
        tokens__reason(tok, why, sizeof(why));
        fn(ctx, NULL, why);
        return;
    }
    struct gwaiter *w = malloc(sizeof(*w));
    if (!w) {
        fn(ctx, NULL, "out of memory");
        return;
    }
    w->fn = fn;
    w->ctx = ctx;
    w->fail_fast = fail_fast;
    w->next = tok->waiters;
    tok->waiters = w;
    /* while a retry is scheduled, wait for it: no tight loops */
    if (!tok->in_flight && !tok->retry_pending)
        tokens__fetch(tok);
}

const char *tokens__current(const struct gtoken *tok)
{
    return tokens__valid(tok) ? tok->access : NULL;
}

void tokens__invalidate(struct gtoken *tok, const char *used)
{
    if (tok->access && (!used || strcmp(used, tok->access) == 0)) {
        free(tok->access);
        tok->access = NULL;
        tok->expires_mono = 0;
    }
}

void tokens__stop(struct gtoken *tok)
{
    if (!tok->c.loop) /* never initialised */
        return;
    tok->stopping = true;
    loop__timer_cancel(tok->c.loop, tok->timer);
    tok->timer = 0;
    tokens__release(tok, NULL);
}

void tokens__free(struct gtoken *tok)
{
    free(tok->access);
    if (tok->refresh)
        OPENSSL_cleanse(tok->refresh, strlen(tok->refresh));
    free(tok->refresh);
    tok->access = tok->refresh = NULL;
}

cJSON *tokens__status_json(const struct gtoken *tok)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (tok->c.username)
        cJSON_AddStringToObject(o, "account", tokens__who(tok));
    cJSON_AddStringToObject(o, "state", tok->state);
    if (strcmp(tok->state, "error") == 0) {
        char ts[32];
        if (tok->aadsts)
            cJSON_AddNumberToObject(o, "aadsts", tok->aadsts);
        else
            cJSON_AddNullToObject(o, "aadsts");
        cJSON_AddStringToObject(o, "error", tok->error);
        cJSON_AddStringToObject(o, "explanation", tok->explanation ? tok->explanation : "");
        cJSON_AddStringToObject(o, "since", clock__iso8601(tok->error_wall_ms, ts, sizeof(ts)));
    }
    return o;
}
