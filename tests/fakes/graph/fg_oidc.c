/* fake-graph: the identity platform's discovery documents, all pointing at
 * the simulator itself (never at a real Microsoft host):
 *   GET /{tenant}/v2.0/.well-known/openid-configuration  (and the v1 one)
 *   GET /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys (JWKS)
 *   GET /common/discovery/instance                        (MSAL's instance discovery)
 * {tenant} is a tenant id, one of its domains, or common / organizations /
 * consumers. A tenant's document names it by id (issuer, endpoints), also
 * when it was asked for by domain, as Entra does (docs/graph.md, "Tenant id
 * and signing keys"). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fg_sim.h"

static bool fg_oidc__multi(const char *tenant)
{
    return !strcasecmp(tenant, "common") || !strcasecmp(tenant, "organizations") ||
           !strcasecmp(tenant, "consumers");
}

static void fg_oidc__add_url(cJSON *o, const char *name, const char *base, const char *tid,
                             const char *tail)
{
    char url[512];
    snprintf(url, sizeof(url), "%s/%s%s", base, tid, tail);
    cJSON_AddStringToObject(o, name, url);
}

static void fg_oidc__add_list(cJSON *o, const char *name, const char *const *v, size_t n)
{
    cJSON_AddItemToObject(o, name, cJSON_CreateStringArray(v, (int)n));
}

/* The document Entra serves at {tenant}/v2.0/.well-known/openid-configuration
 * (v1: {tenant}/.well-known/openid-configuration), same members. */
static cJSON *fg_oidc__document(const char *base, const char *host, const char *tid, bool v2)
{
    static const char *const auth_methods[] = {"client_secret_post", "private_key_jwt",
                                               "client_secret_basic"};
    static const char *const modes[] = {"query", "fragment", "form_post"};
    static const char *const subjects[] = {"pairwise"};
    static const char *const algs[] = {"RS256"};
    static const char *const types[] = {"code", "id_token", "code id_token", "id_token token"};
    static const char *const scopes[] = {"openid", "profile", "email", "offline_access"};
    static const char *const claims[] = {"sub",
                                         "iss",
                                         "cloud_instance_name",
                                         "cloud_instance_host_name",
                                         "cloud_graph_host_name",
                                         "msgraph_host",
                                         "aud",
                                         "exp",
                                         "iat",
                                         "auth_time",
                                         "acr",
                                         "nonce",
                                         "preferred_username",
                                         "name",
                                         "tid",
                                         "ver",
                                         "at_hash",
                                         "c_hash",
                                         "email"};
    const char *o2 = v2 ? "/oauth2/v2.0" : "/oauth2";
    char tail[64];
    cJSON *o = cJSON_CreateObject();
    snprintf(tail, sizeof(tail), "%s/token", o2);
    fg_oidc__add_url(o, "token_endpoint", base, tid, tail);
    fg_oidc__add_list(o, "token_endpoint_auth_methods_supported", auth_methods, 3);
    fg_oidc__add_url(o, "jwks_uri", base, tid, v2 ? "/discovery/v2.0/keys" : "/discovery/keys");
    fg_oidc__add_list(o, "response_modes_supported", modes, 3);
    fg_oidc__add_list(o, "subject_types_supported", subjects, 1);
    fg_oidc__add_list(o, "id_token_signing_alg_values_supported", algs, 1);
    fg_oidc__add_list(o, "response_types_supported", types, 4);
    fg_oidc__add_list(o, "scopes_supported", scopes, 4);
    fg_oidc__add_url(o, "issuer", base, tid, v2 ? "/v2.0" : "/");
    cJSON_AddBoolToObject(o, "request_uri_parameter_supported", false);
    fg_oidc__add_url(o, "userinfo_endpoint", base, "oidc", "/userinfo");
    snprintf(tail, sizeof(tail), "%s/authorize", o2);
    fg_oidc__add_url(o, "authorization_endpoint", base, tid, tail);
    snprintf(tail, sizeof(tail), "%s/devicecode", o2);
    fg_oidc__add_url(o, "device_authorization_endpoint", base, tid, tail);
    cJSON_AddBoolToObject(o, "http_logout_supported", true);
    cJSON_AddBoolToObject(o, "frontchannel_logout_supported", true);
    snprintf(tail, sizeof(tail), "%s/logout", o2);
    fg_oidc__add_url(o, "end_session_endpoint", base, tid, tail);
    fg_oidc__add_list(o, "claims_supported", claims, sizeof(claims) / sizeof(claims[0]));
    fg_oidc__add_url(o, "kerberos_endpoint", base, tid, "/kerberos");
    cJSON_AddStringToObject(o, "tenant_region_scope", "EU");
    /* names, not URLs; the simulator's host stands in for Microsoft's */
    cJSON_AddStringToObject(o, "cloud_instance_name", host);
    cJSON_AddStringToObject(o, "cloud_graph_host_name", host);
    cJSON_AddStringToObject(o, "msgraph_host", host);
    return o;
}

static int fg_oidc__config(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                           const char *tenant, bool v2)
{
    const char *tid =
        fg_oidc__multi(tenant) ? "{tenantid}" : fg_store__tenant_id(&sim->store, tenant);
    if (!tid) {
        char detail[160];
        snprintf(detail, sizeof(detail), "Tenant '%.100s' not found.", tenant);
        fg_oauth__error_as(resp, 90002, detail, "invalid_tenant");
        return FG_DONE;
    }
    char base[300];
    fg_sim__base_url(r, base, sizeof(base));
    cJSON *doc = fg_oidc__document(base, r->host ? r->host : "127.0.0.1",
                                   fg_oidc__multi(tenant) ? tenant : tid, v2);
    if (fg_oidc__multi(tenant)) {
        /* the common documents leave the tenant open in the issuer */
        char iss[400];
        snprintf(iss, sizeof(iss), "%s/{tenantid}%s", base, v2 ? "/v2.0" : "/");
        cJSON_ReplaceItemInObject(doc, "issuer", cJSON_CreateString(iss));
    }
    fg_resp__json(resp, 200, doc);
    return FG_DONE;
}

/* During a rollover Microsoft publishes the old key and the new one. */
static int fg_oidc__keys(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp, bool v2)
{
    char base[300], iss[400];
    fg_sim__base_url(r, base, sizeof(base));
    snprintf(iss, sizeof(iss), "%s/{tenantid}/v2.0", base);
    cJSON *jwks = fg_signer__jwks(&sim->signer, v2 ? iss : NULL);
    if (sim->prev_signer.key) {
        cJSON *old = fg_signer__jwks(&sim->prev_signer, v2 ? iss : NULL);
        cJSON *k = cJSON_DetachItemFromArray(cJSON_GetObjectItem(old, "keys"), 0);
        if (k) {
            cJSON_AddItemToArray(cJSON_GetObjectItem(jwks, "keys"), k);
        }
        cJSON_Delete(old);
    }
    fg_resp__json(resp, 200, jwks);
    return FG_DONE;
}

/* MSAL's instance discovery: where the tenant's document is, and the
 * aliases of this authority host. */
static int fg_oidc__instance(struct fg_req *r, struct fg_resp *resp)
{
    char base[300], url[400];
    fg_sim__base_url(r, base, sizeof(base));
    const char *host = r->host ? r->host : "127.0.0.1";
    snprintf(url, sizeof(url), "%s/common/v2.0/.well-known/openid-configuration", base);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tenant_discovery_endpoint", url);
    cJSON_AddStringToObject(o, "api-version", "1.1");
    cJSON *md = cJSON_AddArrayToObject(o, "metadata");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "preferred_network", host);
    cJSON_AddStringToObject(m, "preferred_cache", host);
    cJSON_AddItemToObject(m, "aliases", cJSON_CreateStringArray(&host, 1));
    cJSON_AddItemToArray(md, m);
    fg_resp__json(resp, 200, o);
    return FG_DONE;
}

static bool fg_oidc__ends(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

int fg_oidc__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp)
{
    const char *p = r->path;
    if (strcmp(r->method, "GET") != 0) {
        fg_resp__graph_error(resp, 405, "MethodNotAllowed", "Method not allowed.");
        return FG_DONE;
    }
    if (fg_oidc__ends(p, "/discovery/v2.0/keys") || fg_oidc__ends(p, "/discovery/keys")) {
        return fg_oidc__keys(sim, r, resp, fg_oidc__ends(p, "/v2.0/keys"));
    }
    if (strcmp(p, "/common/discovery/instance") == 0) {
        return fg_oidc__instance(r, resp);
    }
    /* /{tenant}[/v2.0]/.well-known/openid-configuration */
    const char *slash = strchr(p + 1, '/');
    char tenant[FG_ID_LEN * 4];
    if (slash && (size_t)(slash - p - 1) < sizeof(tenant) && slash > p + 1) {
        memcpy(tenant, p + 1, (size_t)(slash - p - 1));
        tenant[slash - p - 1] = '\0';
        if (strcmp(slash, "/v2.0/.well-known/openid-configuration") == 0) {
            return fg_oidc__config(sim, r, resp, tenant, true);
        }
        if (strcmp(slash, "/.well-known/openid-configuration") == 0) {
            return fg_oidc__config(sim, r, resp, tenant, false);
        }
    }
    fg_resp__graph_error(resp, 404, "NotFound", "No such discovery document.");
    return FG_DONE;
}

/* MSAL's user realm discovery (v1.0 answer, docs/graph.md "Sign-in
 * errors"): "Managed" for a domain with cloud accounts, "Federated" with its
 * WS-Trust endpoints when its users are marked federated
 * (/_sim/users/{u}/federated), "Unknown" for a domain no user has. */
int fg_oidc__realm(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp, const char *username)
{
    if (strcmp(r->method, "GET") != 0) {
        fg_resp__graph_error(resp, 405, "MethodNotAllowed", "Method not allowed.");
        return FG_DONE;
    }
    const char *at = strrchr(username, '@');
    const char *domain = at ? at + 1 : username;
    const char *type = "Unknown";
    for (size_t i = 0; i < sim->store.users.n; i++) {
        const struct fg_user *u = sim->store.users.items[i];
        const char *uat = strrchr(u->upn, '@');
        if (uat && strcasecmp(uat + 1, domain) == 0)
            type = u->federated ? "Federated" : "Managed";
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ver", "1.0");
    cJSON_AddStringToObject(o, "account_type", type);
    cJSON_AddStringToObject(o, "domain_name", domain);
    if (strcmp(type, "Federated") == 0) {
        char url[300];
        cJSON_AddStringToObject(o, "federation_protocol", "WSTrust");
        snprintf(url, sizeof(url), "https://sts.%s/adfs/services/trust/mex", domain);
        cJSON_AddStringToObject(o, "federation_metadata_url", url);
        snprintf(url, sizeof(url), "https://sts.%s/adfs/services/trust/2005/usernamemixed", domain);
        cJSON_AddStringToObject(o, "federation_active_auth_url", url);
    }
    cJSON_AddStringToObject(o, "cloud_instance_name", "microsoftonline.com");
    cJSON_AddStringToObject(o, "cloud_audience_urn", "urn:federation:MicrosoftOnline");
    fg_resp__json(resp, 200, o);
    return FG_DONE;
}
