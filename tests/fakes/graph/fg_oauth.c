/* fake-graph: the Microsoft identity platform token endpoint
 * (docs/graph.md "Tokens"): password (ROPC), refresh_token, client_credentials.
 * Errors use Microsoft's shape {error, error_description "AADSTSnnn: ...",
 * error_codes, timestamp, trace_id, correlation_id, error_uri}. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "core/clock.h"
#include "core/log.h"
#include "fg_sim.h"

struct fg_aad_code {
    int code;
    int status;
    const char *error;
    const char *text;
};

/* suberror (and a claims challenge) Entra adds where user interaction could
 * fix the error; MSAL turns those into InteractionRequiredAuthError. The
 * mapping is inferred from MSAL's classification (docs/graph.md, "Sign-in
 * errors"). */
static const struct {
    int code;
    const char *suberror;
    bool claims;
} fg_aad_suberrors[] = {
    {50076, "basic_action", true}, /* MFA needed: the user can do it interactively */
    {50079, "basic_action", true}, /* MFA registration */
    {50055, "user_password_expired", false},
    {53003, "message_only", true},      /* blocked by Conditional Access */
    {53000, "additional_action", true}, /* device not compliant */
    {65001, "consent_required", false},
};

static const struct fg_aad_code fg_aad_codes[] = {
    {50076, 400, "invalid_grant",
     "Due to a configuration change made by your administrator, or because you moved to a new "
     "location, you must use multi-factor authentication to access '00000003-0000-0000-c000-"
     "000000000000'."},
    {50079, 400, "invalid_grant",
     "Due to a configuration change made by your administrator, or because you moved to a new "
     "location, you must enroll in multi-factor authentication."},
    {50126, 400, "invalid_grant",
     "Error validating credentials due to invalid username or password."},
    {50055, 400, "invalid_grant", "The password is expired."},
    {50173, 400, "invalid_grant",
     "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
     "user might have changed or reset their password."},
    {50133, 400, "invalid_grant",
     "Session is invalid due to expiration or recent password change."},
    {50034, 400, "invalid_grant", "The user account does not exist in the directory."},
    {50053, 400, "invalid_grant",
     "Your account is locked because you've tried to sign in too many times with an incorrect "
     "user ID or password."},
    {50057, 400, "invalid_grant", "The user account is disabled."},
    {53003, 400, "invalid_grant", "Access has been blocked by Conditional Access policies."},
    {53000, 400, "invalid_grant",
     "Device is not in required device state: compliant. Conditional Access policy requires a "
     "compliant device, and the device is not compliant."},
    {65001, 400, "invalid_grant",
     "The user or administrator has not consented to use the application."},
    {70008, 400, "invalid_grant",
     "The provided authorization code or refresh token has expired due to inactivity."},
    {700082, 400, "invalid_grant",
     "The refresh token has expired due to inactivity. The token was issued on a past date and "
     "was inactive for 90.00:00:00."},
    {70043, 400, "invalid_grant",
     "The refresh token has expired or is invalid due to sign-in frequency checks by "
     "conditional access."},
    {9002313, 400, "invalid_grant", "Invalid request. Request is malformed or invalid."},
    {70000, 400, "invalid_grant", "Provided grant is invalid or malformed."},
    {7000215, 401, "invalid_client",
     "Invalid client secret provided. Ensure the secret being sent in the request is the client "
     "secret value, not the client secret ID."},
    {7000222, 401, "invalid_client", "The provided client secret keys are expired."},
    {7000218, 401, "invalid_client",
     "The request body must contain the following parameter: 'client_assertion' or "
     "'client_secret'."},
    {700016, 400, "unauthorized_client",
     "Application was not found in the directory. This can happen if the application has not "
     "been installed by the administrator of the tenant."},
    {90002, 400, "invalid_request",
     "Tenant not found. Check to make sure you have the correct tenant ID and are signing into "
     "the correct cloud."},
    {900144, 400, "invalid_request", "The request body must contain the following parameter."},
    {900561, 400, "invalid_request", "The endpoint only accepts POST requests."},
    {70011, 400, "invalid_scope",
     "The provided value for the input parameter 'scope' is not valid."},
    {1002012, 400, "invalid_scope",
     "The provided value for scope is not valid. Client credential flows must have a scope value "
     "with /.default suffixed to the resource identifier (application ID URI)."},
    {70003, 400, "unsupported_grant_type", "The app requested an unsupported grant type."},
    {90055, 429, "temporarily_unavailable", "The tenant is being throttled."},
    {90033, 503, "temporarily_unavailable", "A transient error has occurred. Please try again."},
};

/* Entra's time format in errors: "2016-01-09 02:02:12Z". */
static void fg_oauth__timestamp(char *buf, size_t len)
{
    time_t now = (time_t)(fg_sim__now() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void fg_oauth__suberror(cJSON *o, int aadsts)
{
    for (size_t i = 0; i < sizeof(fg_aad_suberrors) / sizeof(fg_aad_suberrors[0]); i++) {
        if (fg_aad_suberrors[i].code != aadsts) {
            continue;
        }
        cJSON_AddStringToObject(o, "suberror", fg_aad_suberrors[i].suberror);
        if (fg_aad_suberrors[i].claims) {
            char pol[37], claims[160];
            fg_store__guid(pol);
            snprintf(claims, sizeof(claims),
                     "{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"%s\"]}}}",
                     pol);
            cJSON_AddStringToObject(o, "claims", claims);
        }
    }
}

void fg_oauth__error(struct fg_resp *resp, int aadsts, const char *detail)
{
    fg_oauth__error_as(resp, aadsts, detail, NULL);
}

void fg_oauth__error_as(struct fg_resp *resp, int aadsts, const char *detail, const char *error)
{
    const struct fg_aad_code *c = NULL;
    for (size_t i = 0; i < sizeof(fg_aad_codes) / sizeof(fg_aad_codes[0]); i++) {
        if (fg_aad_codes[i].code == aadsts) {
            c = &fg_aad_codes[i];
        }
    }
    static const struct fg_aad_code unknown = {0, 400, "invalid_grant", "Sign-in failed."};
    if (!c) {
        c = &unknown;
    }
    char ts[32], trace[37], corr[37], desc[1024], uri[96];
    fg_oauth__timestamp(ts, sizeof(ts));
    fg_store__guid(trace);
    fg_store__guid(corr);
    /* Entra uses the caller's client-request-id as the correlation id */
    if (resp->client_request_id && strlen(resp->client_request_id) < sizeof(corr)) {
        snprintf(corr, sizeof(corr), "%s", resp->client_request_id);
    }
    snprintf(desc, sizeof(desc),
             "AADSTS%d: %s%s%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts,
             c->text, detail ? " " : "", detail ? detail : "", trace, corr, ts);
    snprintf(uri, sizeof(uri), "https://login.microsoftonline.com/error?code=%d", aadsts);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", error ? error : c->error);
    cJSON_AddStringToObject(o, "error_description", desc);
    cJSON *codes = cJSON_AddArrayToObject(o, "error_codes");
    cJSON_AddItemToArray(codes, cJSON_CreateNumber(aadsts));
    cJSON_AddStringToObject(o, "timestamp", ts);
    cJSON_AddStringToObject(o, "trace_id", trace);
    cJSON_AddStringToObject(o, "correlation_id", corr);
    cJSON_AddStringToObject(o, "error_uri", uri);
    fg_oauth__suberror(o, aadsts);
    fg_resp__json(resp, c->status, o);
}

/* application/x-www-form-urlencoded, values decoded ('+' is a space). */
struct fg_form {
    char *names[32];
    char *values[32];
    size_t n;
};

static char *fg_oauth__decode(const char *s, size_t len)
{
    char *tmp = strndup(s, len);
    if (!tmp) {
        return NULL;
    }
    for (char *p = tmp; *p; p++) {
        if (*p == '+') {
            *p = ' ';
        }
    }
    int out_len = 0;
    char *dec = curl_easy_unescape(NULL, tmp, 0, &out_len);
    free(tmp);
    if (!dec) {
        return NULL;
    }
    char *copy = strdup(dec); /* an encoded NUL ends the value */
    curl_free(dec);
    return copy;
}

static int fg_oauth__parse_form(const char *body, struct fg_form *f)
{
    memset(f, 0, sizeof(*f));
    const char *p = body;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len && f->n < 32) {
            size_t nlen = eq ? (size_t)(eq - p) : len;
            f->names[f->n] = fg_oauth__decode(p, nlen);
            f->values[f->n] = eq ? fg_oauth__decode(eq + 1, len - nlen - 1) : strdup("");
            if (!f->names[f->n] || !f->values[f->n]) {
                return -1;
            }
            f->n++;
        }
        p += len + (amp ? 1 : 0);
    }
    return 0;
}

static void fg_oauth__free_form(struct fg_form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->names[i]);
        free(f->values[i]);
    }
}

static const char *fg_form__get(const struct fg_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->names[i], name) == 0) {
            return f->values[i];
        }
    }
    return NULL;
}

static bool fg_oauth__scope_has(const char *scope, const char *want)
{
    char *copy = strdup(scope ? scope : "");
    bool found = false;
    char *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t && !found; t = strtok_r(NULL, " ", &save)) {
        const char *last = strrchr(t, '/');
        const char *name = last ? last + 1 : t;
        found = strcasecmp(name, want) == 0;
    }
    free(copy);
    return found;
}

/* HTTP Basic client auth: base64(client_id:secret), each part form-encoded
 * per RFC 6749 §2.3.1; the raw form is accepted too. */
static int fg_oauth__basic(const char *auth, char **id, char **secret, char **secret_raw)
{
    if (!auth || strncasecmp(auth, "Basic ", 6) != 0) {
        return -1;
    }
    size_t len = 0;
    unsigned char *dec = fg_crypto__unb64(auth + 6, &len);
    if (!dec) {
        return -1;
    }
    char *txt = strndup((char *)dec, len);
    free(dec);
    char *colon = txt ? strchr(txt, ':') : NULL;
    if (!colon) {
        free(txt);
        return -1;
    }
    *colon = '\0';
    *id = fg_oauth__decode(txt, strlen(txt));
    *secret = fg_oauth__decode(colon + 1, strlen(colon + 1));
    *secret_raw = strdup(colon + 1);
    free(txt);
    return 0;
}

/* id_token (when `openid` was asked for) as the v2.0 endpoint writes it for
 * ROPC and refresh grants (docs/graph.md, "Sign-in"): signed by the key of
 * the JWKS, issuer = the tenant's issuer on this simulator. */
static char *fg_oauth__id_token(struct fg_sim *sim, const struct fg_req *r, const struct fg_user *u,
                                const char *client_id)
{
    char base[300], iss[400], sub_in[160];
    fg_sim__base_url(r, base, sizeof(base));
    snprintf(iss, sizeof(iss), "%s/%s/v2.0", base, u->tenant);
    /* sub is pairwise: the same user looks different to each app */
    snprintf(sub_in, sizeof(sub_in), "%s/%s", u->id, client_id);
    unsigned char h[32];
    unsigned int hl = 0;
    EVP_Digest(sub_in, strlen(sub_in), h, &hl, EVP_sha256(), NULL);
    char *sub = fg_crypto__b64url(h, 32);
    int64_t now = fg_sim__now() / 1000;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "aud", client_id);
    cJSON_AddStringToObject(p, "iss", iss);
    cJSON_AddNumberToObject(p, "iat", (double)now);
    cJSON_AddNumberToObject(p, "nbf", (double)now);
    cJSON_AddNumberToObject(p, "exp", (double)(now + 3600));
    cJSON_AddStringToObject(p, "name", u->display_name ? u->display_name : u->upn);
    cJSON_AddStringToObject(p, "oid", u->id);
    cJSON_AddStringToObject(p, "preferred_username", u->upn);
    cJSON_AddStringToObject(p, "sub", sub ? sub : "");
    cJSON_AddStringToObject(p, "tid", u->tenant);
    cJSON_AddStringToObject(p, "ver", "2.0");
    free(sub);
    return fg_signer__token(&sim->signer, p);
}

/* client_info (asked for with client_info=1): base64url {"uid","utid"},
 * which MSAL makes the account's home id from. */
static char *fg_oauth__client_info(const struct fg_user *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "uid", u->id);
    cJSON_AddStringToObject(o, "utid", u->tenant);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = txt ? fg_crypto__b64url((const unsigned char *)txt, strlen(txt)) : NULL;
    free(txt);
    return out;
}

struct fg_grant {
    struct fg_req *r;
    const struct fg_form *f;
    const struct fg_user *u; /* NULL: an app token */
    const char *client_id;
    const struct fg_app *app;
};

static void fg_oauth__success(struct fg_sim *sim, struct fg_resp *resp, struct fg_token *t,
                              struct fg_refresh *rt, const char *scope, const struct fg_grant *g)
{
    if (fg_access__sign(sim, t, g->app, g->u) != 0) {
        fg_resp__graph_error(resp, 500, "InternalServerError", "cannot sign the token");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    int64_t secs = sim->store.token_lifetime_ms / 1000;
    bool openid = g->u && fg_oauth__scope_has(fg_form__get(g->f, "scope"), "openid");
    const char *ci = fg_form__get(g->f, "client_info");
    char out_scope[512];
    snprintf(out_scope, sizeof(out_scope), "%s%s", scope, openid ? " profile openid email" : "");
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    cJSON_AddStringToObject(o, "scope", out_scope);
    cJSON_AddNumberToObject(o, "expires_in", (double)secs);
    cJSON_AddNumberToObject(o, "ext_expires_in", (double)secs);
    cJSON_AddStringToObject(o, "access_token", t->value);
    if (rt) {
        cJSON_AddStringToObject(o, "refresh_token", rt->value);
    }
    char *idt = openid ? fg_oauth__id_token(sim, g->r, g->u, g->client_id) : NULL;
    if (idt) {
        cJSON_AddStringToObject(o, "id_token", idt);
    }
    char *info = g->u && ci && strcmp(ci, "1") == 0 ? fg_oauth__client_info(g->u) : NULL;
    if (info) {
        cJSON_AddStringToObject(o, "client_info", info);
    }
    free(idt);
    free(info);
    fg_resp__json(resp, 200, o);
}

/* A user grant whose requested Graph scopes lack consent fails with 65001,
 * as Entra answers ROPC (it cannot show a consent prompt). Returns -1 then. */
static int fg_oauth__consented(struct fg_resp *resp, const struct fg_app *app, const char *scope)
{
    char missing[128], detail[320];
    if (!fg_access__missing_scope(app, scope, missing, sizeof(missing)))
        return 0;
    snprintf(detail, sizeof(detail),
             "The user or administrator has not consented to use the application with ID '%s' "
             "for the permission '%s'.",
             app->client_id, missing);
    fg_oauth__error(resp, 65001, detail);
    return -1;
}

/* The user token's answer: scope = the consented delegated permissions. */
static void fg_oauth__user_success(struct fg_sim *sim, struct fg_resp *resp, struct fg_token *t,
                                   struct fg_refresh *rt, const struct fg_grant *g)
{
    char *scope = fg_access__scope_answer(g->app);
    fg_oauth__success(sim, resp, t, rt, scope ? scope : "", g);
    free(scope);
}

static int fg_oauth__password(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                              const struct fg_form *f, const char *tenant, const struct fg_app *app)
{
    const char *client_id = app->client_id;
    const char *username = fg_form__get(f, "username");
    const char *password = fg_form__get(f, "password");
    const char *scope = fg_form__get(f, "scope");
    if (!username || !password) {
        fg_oauth__error(resp, 900144, username ? "'password'" : "'username'");
        return FG_DONE;
    }
    if (!fg_oauth__scope_has(scope, "Presence.Read.All")) {
        fg_oauth__error(resp, 70011, "The scope must include Presence.Read.All.");
        return FG_DONE;
    }
    struct fg_user *u = fg_store__user(&sim->store, tenant, username);
    snprintf(r->who, sizeof(r->who), "password user=%s client=%s", username, client_id);
    if (!u || strcasecmp(u->upn, username) != 0) {
        fg_oauth__error(resp, 50034, NULL);
        return FG_DONE;
    }
    /* a federated account: Entra cannot check the password itself (the
     * sign-in log says "Invalid username or password or Invalid on-premise
     * username or password"; docs/graph.md, "Sign-in errors") */
    if (!u->password || strcmp(u->password, password) != 0 || u->federated) {
        fg_oauth__error(resp, 50126, NULL);
        return FG_DONE;
    }
    if (u->block_code) {
        fg_oauth__error(resp, u->block_code, NULL);
        return FG_DONE;
    }
    if (fg_oauth__consented(resp, app, scope) != 0)
        return FG_DONE;
    struct fg_token *t = fg_store__issue_token(&sim->store, FG_TOKEN_DELEGATED, u->tenant,
                                               client_id, u->id, fg_sim__now());
    if (t)
        t->presence_write = fg_oauth__scope_has(scope, "Presence.ReadWrite");
    struct fg_refresh *rt = NULL;
    if (fg_oauth__scope_has(scope, "offline_access")) {
        rt = fg_store__issue_refresh(&sim->store, u->tenant, client_id, u->id);
    }
    if (!t) {
        fg_resp__graph_error(resp, 500, "InternalServerError", "out of memory");
        return FG_DONE;
    }
    struct fg_grant g = {r, f, u, client_id, app};
    fg_oauth__user_success(sim, resp, t, rt, &g);
    return FG_DONE;
}

static int fg_oauth__refresh(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                             const struct fg_form *f, const char *tenant, const struct fg_app *app)
{
    const char *client_id = app->client_id;
    const char *value = fg_form__get(f, "refresh_token");
    if (!value) {
        fg_oauth__error(resp, 900144, "'refresh_token'");
        return FG_DONE;
    }
    struct fg_refresh *old = fg_store__refresh_token(&sim->store, value);
    if (!old || strcasecmp(old->tenant, tenant) != 0) {
        fg_oauth__error(resp, 9002313, NULL);
        return FG_DONE;
    }
    if (strcasecmp(old->client_id, client_id) != 0) {
        fg_oauth__error(resp, 70000, "The refresh token was issued to a different client.");
        return FG_DONE;
    }
    if (old->revoked) {
        fg_oauth__error(resp, 50173, NULL);
        return FG_DONE;
    }
    struct fg_user *u = fg_store__user(&sim->store, old->tenant, old->user_id);
    if (!u) {
        fg_oauth__error(resp, 50034, NULL);
        return FG_DONE;
    }
    snprintf(r->who, sizeof(r->who), "refresh_token user=%s client=%s", u->upn, client_id);
    /* an expired password does not stop refresh tokens; MFA, CA, etc. do */
    if (u->block_code && u->block_code != 50055 && u->block_code != 50126) {
        fg_oauth__error(resp, u->block_code, NULL);
        return FG_DONE;
    }
    if (fg_oauth__consented(resp, app, fg_form__get(f, "scope")) != 0)
        return FG_DONE;
    char user_id[FG_ID_LEN], rt_tenant[FG_ID_LEN];
    snprintf(user_id, sizeof(user_id), "%s", old->user_id);
    snprintf(rt_tenant, sizeof(rt_tenant), "%s", old->tenant);
    /* rotation: a new refresh token; the old stays usable until revoked */
    struct fg_refresh *rt = fg_store__issue_refresh(&sim->store, rt_tenant, client_id, user_id);
    struct fg_token *t = fg_store__issue_token(&sim->store, FG_TOKEN_DELEGATED, rt_tenant,
                                               client_id, user_id, fg_sim__now());
    if (t)
        t->presence_write = fg_oauth__scope_has(fg_form__get(f, "scope"), "Presence.ReadWrite");
    if (!t || !rt) {
        fg_resp__graph_error(resp, 500, "InternalServerError", "out of memory");
        return FG_DONE;
    }
    struct fg_grant g = {r, f, u, client_id, app};
    fg_oauth__user_success(sim, resp, t, rt, &g);
    return FG_DONE;
}

static int fg_oauth__client_credentials(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                                        const struct fg_form *f, const char *tenant,
                                        const struct fg_app *app)
{
    const char *client_id = app->client_id;
    const char *scope = fg_form__get(f, "scope");
    snprintf(r->who, sizeof(r->who), "client_credentials client=%s", client_id);
    if (!scope || strcmp(scope, "https://graph.microsoft.com/.default") != 0) {
        fg_oauth__error(resp, 1002012, NULL);
        return FG_DONE;
    }
    struct fg_token *t =
        fg_store__issue_token(&sim->store, FG_TOKEN_APP, tenant, client_id, "", fg_sim__now());
    if (!t) {
        fg_resp__graph_error(resp, 500, "InternalServerError", "out of memory");
        return FG_DONE;
    }
    struct fg_grant g = {r, f, NULL, client_id, app};
    fg_oauth__success(sim, resp, t, NULL, "https://graph.microsoft.com/.default", &g);
    return FG_DONE;
}

int fg_oauth__token(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                    const char *tenant_in)
{
    struct fg_form f;
    char *b_id = NULL, *b_secret = NULL, *b_raw = NULL;
    int rc = FG_DONE;
    /* the tenant's id or one of its domains; tokens belong to the id */
    const char *tenant = fg_store__tenant_id(&sim->store, tenant_in);
    if (!tenant) {
        fg_oauth__error(resp, 90002, NULL);
        return FG_DONE;
    }
    if (!r->content_type ||
        strncasecmp(r->content_type, "application/x-www-form-urlencoded", 33) != 0) {
        fg_oauth__error(resp, 900144, "'grant_type' (send application/x-www-form-urlencoded)");
        return FG_DONE;
    }
    if (fg_oauth__parse_form(r->body, &f) != 0) {
        fg_oauth__free_form(&f);
        fg_oauth__error(resp, 900144, NULL);
        return FG_DONE;
    }
    bool basic = fg_oauth__basic(r->authorization, &b_id, &b_secret, &b_raw) == 0;
    const char *grant = fg_form__get(&f, "grant_type");
    const char *client_id = basic ? b_id : fg_form__get(&f, "client_id");
    const char *secret = basic ? b_secret : fg_form__get(&f, "client_secret");
    struct fg_app *app = fg_store__app(&sim->store, client_id);
    if (!grant) {
        fg_oauth__error(resp, 900144, "'grant_type'");
    }
    else if (!client_id) {
        fg_oauth__error(resp, 900144, "'client_id'");
    }
    else if (!app) {
        fg_oauth__error(resp, 700016, NULL);
    }
    else if (!secret) {
        fg_oauth__error(resp, 7000218, NULL);
    }
    else if (strcmp(secret, app->secret) != 0 && !(b_raw && strcmp(b_raw, app->secret) == 0)) {
        snprintf(r->who, sizeof(r->who), "%s client=%s bad_secret", grant, client_id);
        fg_oauth__error(resp, 7000215, NULL);
    }
    else if (strcmp(grant, "password") == 0) {
        rc = fg_oauth__password(sim, r, resp, &f, tenant, app);
    }
    else if (strcmp(grant, "refresh_token") == 0) {
        rc = fg_oauth__refresh(sim, r, resp, &f, tenant, app);
    }
    else if (strcmp(grant, "client_credentials") == 0) {
        rc = fg_oauth__client_credentials(sim, r, resp, &f, tenant, app);
    }
    else {
        fg_oauth__error(resp, 70003, NULL);
    }
    if (r->who[0] == '\0' && grant) {
        snprintf(r->who, sizeof(r->who), "%s client=%s", grant, client_id ? client_id : "-");
    }
    if (basic) {
        size_t n = strlen(r->who);
        snprintf(r->who + n, sizeof(r->who) - n, " client_auth=basic");
    }
    LOG_INFO("fake-graph", "token request grant=%s status=%d", grant ? grant : "-", resp->status);
    fg_oauth__free_form(&f);
    free(b_id);
    free(b_secret);
    free(b_raw);
    return rc;
}
