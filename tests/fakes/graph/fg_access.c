/* fake-graph: the access tokens Entra issues for Graph and the permissions
 * they carry (docs/graph.md, "Permissions").
 *
 * A token is a signed v1.0 JWT for `aud` https://graph.microsoft.com, as
 * Graph receives them: an app token (client credentials) lists the app's
 * consented application permissions in `roles` (no `roles` claim when there
 * are none), a user token (ROPC, refresh) the consented delegated ones in
 * `scp`, space-separated (learn.microsoft.com/entra/identity-platform/
 * access-token-claims-reference: documented). Graph refuses a call whose
 * permission the token lacks with 403; the exact bodies are *assumed*. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "fg_sim.h"

#define FG_GRAPH_AUDIENCE "https://graph.microsoft.com"
#define FG_GRAPH_RESOURCE "https://graph.microsoft.com/"

/* Scopes a sign-in may ask for that are not Graph permissions. */
static bool fg_access__oidc_scope(const char *name)
{
    static const char *const oidc[] = {"openid", "profile", "email", "offline_access", ".default"};
    for (size_t i = 0; i < sizeof(oidc) / sizeof(oidc[0]); i++) {
        if (strcasecmp(name, oidc[i]) == 0)
            return true;
    }
    return false;
}

const char *fg_access__missing_scope(const struct fg_app *app, const char *requested, char *buf,
                                     size_t len)
{
    for (const char *p = requested; p && *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n) {
            snprintf(buf, len, "%.*s", (int)n, p);
            const char *slash = strrchr(buf, '/');
            const char *name = slash ? slash + 1 : buf;
            if (!fg_access__oidc_scope(name) && !fg_perm__has(app->scopes, name)) {
                memmove(buf, name, strlen(name) + 1);
                return buf;
            }
        }
        p += n;
    }
    return NULL;
}

char *fg_access__scope_answer(const struct fg_app *app)
{
    size_t cap = strlen(app->scopes) * 2 + 64, n = 0;
    char *out = calloc(1, cap);
    for (const char *p = app->scopes; out && *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len)
            n += (size_t)snprintf(out + n, cap - n, "%s%s%.*s", n ? " " : "", FG_GRAPH_RESOURCE,
                                  (int)len, p);
        p += len;
    }
    return out;
}

static void fg_access__random(cJSON *o, const char *name)
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return;
    char *v = fg_crypto__b64url(r, sizeof(r));
    if (v)
        cJSON_AddStringToObject(o, name, v);
    free(v);
}

static void fg_access__add_perms(cJSON *p, const struct fg_token *t, const char *perms)
{
    if (t->kind == FG_TOKEN_DELEGATED) {
        cJSON_AddStringToObject(p, "scp", perms);
        return;
    }
    if (!perms[0]) /* "present only if a value exists to fill it" */
        return;
    cJSON *roles = cJSON_AddArrayToObject(p, "roles");
    for (const char *q = perms; *q;) {
        while (*q == ' ')
            q++;
        size_t len = strcspn(q, " ");
        if (len) {
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)len, q);
            cJSON_AddItemToArray(roles, cJSON_CreateString(name));
        }
        q += len;
    }
}

int fg_access__sign(struct fg_sim *sim, struct fg_token *t, const struct fg_app *app,
                    const struct fg_user *u)
{
    const char *perms = t->kind == FG_TOKEN_APP ? app->roles : app->scopes;
    int64_t now = fg_sim__now() / 1000;
    char iss[160], oid[37];
    snprintf(iss, sizeof(iss), "https://sts.windows.net/%s/", t->tenant);
    fg_store__guid(oid);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "aud", FG_GRAPH_AUDIENCE);
    cJSON_AddStringToObject(p, "iss", iss);
    cJSON_AddNumberToObject(p, "iat", (double)now);
    cJSON_AddNumberToObject(p, "nbf", (double)now);
    cJSON_AddNumberToObject(p, "exp", (double)(t->expires_ms / 1000));
    fg_access__random(p, "aio");
    cJSON_AddStringToObject(p, "appid", t->client_id);
    cJSON_AddStringToObject(p, "appidacr", "1");
    cJSON_AddStringToObject(p, "idtyp", t->kind == FG_TOKEN_APP ? "app" : "user");
    if (u) {
        cJSON_AddStringToObject(p, "name", u->display_name ? u->display_name : u->upn);
        cJSON_AddStringToObject(p, "unique_name", u->upn);
        cJSON_AddStringToObject(p, "upn", u->upn);
    }
    cJSON_AddStringToObject(p, "oid", u ? u->id : oid);
    fg_access__add_perms(p, t, perms);
    cJSON_AddStringToObject(p, "sub", u ? u->id : oid);
    cJSON_AddStringToObject(p, "tid", t->tenant);
    fg_access__random(p, "uti");
    cJSON_AddStringToObject(p, "ver", "1.0");
    char *jwt = fg_signer__token(&sim->signer, p);
    return fg_token__set(t, jwt, perms);
}

/* What each kind of call needs, any one of the names (Graph's permission
 * tables: users "Get user", presence-get / getPresencesByUserId,
 * presence-setpresence; documented). */
static const char *const fg_need_users[] = {"User.Read.All",           "User.ReadWrite.All",
                                            "User.ReadBasic.All",      "Directory.Read.All",
                                            "Directory.ReadWrite.All", NULL};
static const char *const fg_need_read[] = {"Presence.Read.All", "Presence.ReadWrite.All", NULL};
static const char *const fg_need_write[] = {"Presence.ReadWrite.All", NULL};

static bool fg_access__any(const struct fg_token *t, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        if (fg_perm__has(t->perms, names[i]))
            return true;
    }
    return false;
}

int fg_access__require(struct fg_req *r, struct fg_resp *resp, enum fg_need need)
{
    const struct fg_token *t = r->token;
    /* delegated tokens: the sign-in already asked for Presence.Read.All;
     * writes are checked per user (fg_graph.c) */
    if (!t || t->kind != FG_TOKEN_APP || !t->perms)
        return 0;
    const char *const *names = need == FG_NEED_USERS           ? fg_need_users
                               : need == FG_NEED_PRESENCE_READ ? fg_need_read
                                                               : fg_need_write;
    if (fg_access__any(t, names))
        return 0;
    if (need == FG_NEED_USERS) {
        fg_resp__graph_error(resp, 403, "Authorization_RequestDenied",
                             "Insufficient privileges to complete the operation.");
    }
    else {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "Insufficient privileges: the application needs the %s application permission.",
                 names[0]);
        fg_resp__graph_error(resp, 403, "Forbidden", msg);
    }
    return -1;
}
