/* The probe's Graph checks (docs/graph.md, "What the probe checks"): the
 * tenant's GUID from its OpenID configuration, the app's sign-in and its
 * application permissions, each service account's sign-in and its
 * delegated ones, every configured user looked up, one presence read, and
 * what Graph answers for an id it does not know (open question 5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "core/json.h"
#include "core/config.h"
#include "core/http_client.h"
#include "graph/graph_client.h"
#include "graph/directory.h"
#include "graph/oidc.h"
#include "graph/tokens.h"
#include "probe/perms.h"
#include "probe/probe_int.h"

#define GRAPH_TOKEN_WAIT_MS  30000
#define GRAPH_CALL_WAIT_MS   30000
#define GRAPH_LOOKUP_WAIT_MS 60000
#define GRAPH_LIST_MAX       20 /* names listed in a line */

/* ---- fixes -------------------------------------------------------------------- */

static const struct {
    int code;
    const char *fix;
} graph_fixes[] = {
    {50076, "exclude the service account from MFA, Security Defaults and every Conditional Access "
            "policy that requires MFA (docs/operations.md section 3)"},
    {50079, "exclude the service account from MFA registration and Security Defaults "
            "(docs/operations.md section 3)"},
    {50072, "exclude the service account from MFA registration (docs/operations.md section 3)"},
    {50074, "exclude the service account from MFA (docs/operations.md section 3)"},
    {53003, "exclude the service account from the Conditional Access policy that blocks it; "
            "Entra's sign-in log names the policy"},
    {530035, "Security Defaults block the password sign-in: use Conditional Access instead and "
             "exclude the service account (docs/operations.md section 3)"},
    {50055, "set a new password that never expires (docs/operations.md section 3) and put it in "
            "the account's password_file"},
    {50144, "set a new password for the account on premises and in its password_file"},
    {50126, "check the account's username and the password in its password_file (one trailing "
            "newline is ignored)"},
    {50034, "the username must be a user of this tenant (its UPN)"},
    {50053, "unlock the account in Entra, or wait; look for password-spray lock-outs"},
    {50057, "enable the account in Entra"},
    {65001, "grant admin consent: a Global Administrator opens the link that `presence-sync "
            "consent-url` prints (docs/operations.md section 2)"},
    {7000215, "client_secret_file must hold the secret's Value (shown once at creation), not its "
              "Secret ID"},
    {7000222, "create a new client secret (App registrations, Certificates & secrets) and put its "
              "value in client_secret_file (docs/operations.md section 6)"},
    {7000218, "set graph.client_secret_file and keep \"Allow public client flows\" off"},
    {700025, "turn \"Allow public client flows\" off in the app registration"},
    {700016, "check graph.client_id (the Application (client) ID) and graph.tenant_id; an app "
             "from another tenant needs admin consent here first (docs/operations.md section 2)"},
    {90002, "graph.tenant_id must be the Directory (tenant) ID or a verified domain of the tenant"},
    {90055, "the tenant is throttled: wait a few minutes and run the probe again"},
    {50196, "too many sign-ins: wait a few minutes and run the probe again"},
};

const char *probe_graph__fix(int aadsts)
{
    for (size_t i = 0; i < sizeof(graph_fixes) / sizeof(graph_fixes[0]); i++) {
        if (graph_fixes[i].code == aadsts)
            return graph_fixes[i].fix;
    }
    if (aadsts == 50173 || aadsts == 50133 || aadsts == 50132 || aadsts == 70008 ||
        aadsts == 700082 || aadsts == 70043)
        return "put the account's current password in its password_file";
    return aadsts ? "look the code up in Entra's sign-in logs (Monitoring, Sign-in logs)"
                  : "let this host reach graph.login_url over HTTPS (DNS, proxy, firewall)";
}

/* ---- the tenant's GUID ------------------------------------------------------------ */

static void graph__tenant(struct probe *p, struct probe_tenant *t, char guid[OIDC_GUID_LEN + 1])
{
    const struct graph_config *g = &t->tc->graph;
    char *url = oidc__config_url(g->login_url, g->tenant_id);
    struct http_call call = {.method = "GET", .url = url, .timeout_ms = 15000};
    struct probe_answer a = {0};
    char why[600], err[200] = "";
    struct oidc_doc doc;
    guid[0] = '\0';
    if (!url)
        return;
    probe__http(p, &call, GRAPH_CALL_WAIT_MS, &a);
    if (a.status != 200) {
        bool unknown = a.body && strstr(a.body, "90002");
        probe__reason(&a, why, sizeof(why));
        probe_report__check(p->report, "graph.tenant", "tenant", PROBE_FAIL,
                            probe_graph__fix(unknown ? 90002 : 0),
                            "the tenant's OpenID configuration at %s could not be read: %s%s", url,
                            why, unknown && !strstr(why, "AADSTS90002") ? " (AADSTS90002)" : "");
    }
    else if (oidc__parse(a.body, a.body_len, &doc, err, sizeof(err)) != 0 || !doc.tenant_guid[0]) {
        probe_report__check(p->report, "graph.tenant", "tenant", PROBE_FAIL,
                            "check graph.login_url: it must be the identity platform "
                            "(https://login.microsoftonline.com)",
                            "the tenant's OpenID configuration is not usable: %s",
                            err[0] ? err : "no tenant GUID in its issuer");
    }
    else {
        snprintf(guid, OIDC_GUID_LEN + 1, "%s", doc.tenant_guid);
        bool same = strcasecmp(g->tenant_id, guid) == 0;
        if (same)
            probe_report__check(p->report, "graph.tenant", "tenant", PROBE_OK, NULL,
                                "%s is known to the identity platform", g->tenant_id);
        else
            probe_report__check(p->report, "graph.tenant", "tenant", PROBE_OK, NULL,
                                "%s is tenant %s (from its OpenID configuration; the daemon uses "
                                "this GUID to check notifications)",
                                g->tenant_id, guid);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "configured", g->tenant_id);
        cJSON_AddStringToObject(d, "guid", guid);
        cJSON_AddStringToObject(d, "jwks_uri", doc.jwks_uri);
        probe_report__details(p->report, d);
    }
    probe_answer__free(&a);
    free(url);
}

/* ---- tokens --------------------------------------------------------------------- */

struct token_wait {
    bool done, abandoned, ok;
};

static void graph__token_cb(void *ctx, const char *bearer, const char *error)
{
    (void)error; /* the token itself keeps the AADSTS code and explanation */
    struct token_wait *w = ctx;
    if (w->abandoned) {
        free(w);
        return;
    }
    w->ok = bearer != NULL;
    w->done = true;
}

/* Gets the token (fail fast: the first refusal ends the wait). */
static bool graph__get_token(struct probe *p, struct gtoken *tok)
{
    struct token_wait *w = calloc(1, sizeof(*w));
    if (!w)
        return false;
    tokens__get(tok, graph__token_cb, w, true);
    if (!probe__wait(p, &w->done, GRAPH_TOKEN_WAIT_MS)) {
        w->abandoned = true;
        return false;
    }
    bool ok = w->ok;
    free(w);
    return ok;
}

/* MSAL's user realm discovery (docs/graph.md, "Sign-in errors"): whether
 * user's domain is federated (ADFS); its name in domain then. */
static bool graph__federated(struct probe *p, const struct tenant_config *tc, const char *user,
                             char *domain, size_t len)
{
    char *who = http__escape(user);
    size_t n = strlen(tc->graph.login_url);
    while (n && tc->graph.login_url[n - 1] == '/')
        n--;
    char url[1024];
    snprintf(url, sizeof(url), "%.*s/common/userrealm/%s?api-version=1.0", (int)n,
             tc->graph.login_url, who ? who : "");
    free(who);
    struct http_call call = {.method = "GET", .url = url, .timeout_ms = 15000};
    struct probe_answer a;
    bool federated = false;
    if (probe__http(p, &call, GRAPH_CALL_WAIT_MS, &a) && a.status == 200) {
        cJSON *o = json__parse_str(a.body);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "account_type");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "domain_name");
        federated = cJSON_IsString(type) && strcasecmp(type->valuestring, "Federated") == 0;
        snprintf(domain, len, "%s", cJSON_IsString(d) ? d->valuestring : "");
        cJSON_Delete(o);
    }
    probe_answer__free(&a);
    return federated;
}

/* federated: the account's federated domain, or NULL. */
static void graph__token_failed(struct probe *p, const char *id, const char *name,
                                const struct gtoken *tok, const struct tenant_config *tc,
                                const char *federated)
{
    const char *expl = tok->explanation ? tok->explanation : "no answer within 30 s";
    if (tok->aadsts && federated) {
        probe_report__check(p->report, id, name, PROBE_FAIL,
                            "ROPC needs an account whose password Entra checks itself: a "
                            "cloud-only service account (name@<tenant>.onmicrosoft.com), or "
                            "password hash sync with a Home Realm Discovery policy that allows "
                            "cloud password validation for the app (docs/operations.md section 3)",
                            "refused: AADSTS%d (%s): %s; the account's domain %s is federated "
                            "(its passwords are checked by ADFS or another identity provider)",
                            tok->aadsts, tok->error, expl, federated);
    }
    else if (tok->aadsts) {
        char fix[512];
        const char *f = probe_graph__fix(tok->aadsts);
        if (tok->aadsts == 65001)
            snprintf(fix, sizeof(fix),
                     "%s, e.g. presence-sync consent-url --tenant %s --client-id %s", f,
                     tc->graph.tenant_id, tc->graph.client_id);
        else
            snprintf(fix, sizeof(fix), "%s", f);
        probe_report__check(p->report, id, name, PROBE_FAIL, fix, "refused: AADSTS%d (%s): %s",
                            tok->aadsts, tok->error, expl);
    }
    else {
        probe_report__check(p->report, id, name, PROBE_FAIL, probe_graph__fix(0),
                            "the sign-in failed: %s: %s", tok->error[0] ? tok->error : "no answer",
                            expl);
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "aadsts", tok->aadsts);
    cJSON_AddStringToObject(d, "error", tok->error);
    probe_report__details(p->report, d);
}

/* The permissions line of a token: decoded, compared with the needs. */
static void graph__perms(struct probe *p, const char *id, const char *name, const char *token,
                         bool app, const char *guid, const struct tenant_config *tc)
{
    struct probe_claims c;
    char list[1024], fix[1024];
    if (probe_perms__decode(token, &c) != 0) {
        probe_report__check(p->report, id, name, PROBE_WARN,
                            "nothing to do now; a missing permission shows as HTTP 403 below",
                            "the token cannot be read (Microsoft does not promise that its tokens "
                            "are JWTs), so its permissions are unknown");
        return;
    }
    struct probe_need miss[4];
    size_t n = probe_perms__missing(&c, app, miss, 4);
    probe_perms__list(&c, list, sizeof(list));
    if (guid && guid[0] && c.tid[0] && strcasecmp(c.tid, guid) != 0) {
        probe_report__check(p->report, id, name, PROBE_FAIL, "check graph.tenant_id",
                            "the token is for tenant %s, not %s", c.tid, guid);
    }
    else if (n == 0) {
        probe_report__check(p->report, id, name, PROBE_OK, NULL,
                            "%s %s (read from the token without verifying it: it is our own, "
                            "just issued to us)",
                            app ? "application permissions (roles):" : "delegated (scp):", list);
    }
    else {
        size_t k = (size_t)snprintf(fix, sizeof(fix), "add the %s permission%s ",
                                    app ? "application" : "delegated", n > 1 ? "s" : "");
        for (size_t i = 0; i < n && k < sizeof(fix); i++)
            k += (size_t)snprintf(fix + k, sizeof(fix) - k, "%s%s", i ? ", " : "", miss[i].add);
        snprintf(fix + k, k < sizeof(fix) ? sizeof(fix) - k : 0,
                 " (App registrations, API permissions, Microsoft Graph) and grant admin "
                 "consent: presence-sync consent-url --tenant %s --client-id %s",
                 tc->graph.tenant_id, tc->graph.client_id);
        probe_report__check(p->report, id, name, PROBE_FAIL, fix,
                            "missing %s: %s; the token has %s", miss[0].add, miss[0].what, list);
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, app ? "roles" : "scp", list);
    cJSON_AddStringToObject(d, "tid", c.tid);
    probe_report__details(p->report, d);
    probe_perms__free(&c);
}

static void graph__app(struct probe *p, struct probe_tenant *t, const char *guid)
{
    struct gtoken *tok = graph_client__app(t->ct);
    t->app_ok = graph__get_token(p, tok);
    if (!t->app_ok) {
        graph__token_failed(p, "graph.app_token", "sign-in of the app", tok, t->tc, NULL);
        return;
    }
    probe_report__check(p->report, "graph.app_token", "sign-in of the app", PROBE_OK, NULL,
                        "client %s signed in with its client secret (client credentials)",
                        t->tc->graph.client_id);
    graph__perms(p, "graph.app_permissions", "permissions of the app", tokens__current(tok), true,
                 guid, t->tc);
}

static void graph__accounts(struct probe *p, struct probe_tenant *t, const char *guid)
{
    for (size_t i = 0; i < t->tc->graph.n_accounts && !p->interrupted; i++) {
        struct gtoken *tok = graph_client__account(t->ct, i);
        const char *who = t->tc->graph.accounts[i].username;
        char name[320];
        snprintf(name, sizeof(name), "sign-in of %s", who);
        t->account_ok[i] = graph__get_token(p, tok);
        char domain[256] = "";
        if (!t->account_ok[i]) {
            bool fed = tok->aadsts && graph__federated(p, t->tc, who, domain, sizeof(domain));
            graph__token_failed(p, "graph.account_token", name, tok, t->tc, fed ? domain : NULL);
            continue;
        }
        probe_report__check(p->report, "graph.account_token", name, PROBE_OK, NULL,
                            "signed in with its password (ROPC)");
        snprintf(name, sizeof(name), "permissions of %s", who);
        graph__perms(p, "graph.account_permissions", name, tokens__current(tok), false, guid,
                     t->tc);
    }
}

/* ---- users ---------------------------------------------------------------------------- */

struct lookup {
    struct lookup_set *set;
    size_t i;
};

struct lookup_set {
    bool done;
    size_t n, left;
    enum directory_status *st;
    char **ids;
    char error[128];
    struct lookup *items;
};

static void lookup_set__free(void *arg)
{
    struct lookup_set *s = arg;
    for (size_t i = 0; s->ids && i < s->n; i++)
        free(s->ids[i]);
    free(s->ids);
    free(s->st);
    free(s->items);
    free(s);
}

static void graph__lookup_cb(void *ctx, enum directory_status st, const char *id,
                             int64_t retry_after_ms, const char *error)
{
    (void)retry_after_ms;
    struct lookup *l = ctx;
    struct lookup_set *s = l->set;
    s->st[l->i] = st;
    if (st == DIRECTORY_FOUND && id)
        s->ids[l->i] = strdup(id);
    if (st == DIRECTORY_FAILED && error && !s->error[0])
        snprintf(s->error, sizeof(s->error), "%s", error);
    if (--s->left == 0)
        s->done = true;
}

/* Names of the users with status st, comma-separated, at most GRAPH_LIST_MAX. */
static void graph__names(const struct tenant_config *tc, const enum directory_status *st,
                         enum directory_status want, char *buf, size_t len)
{
    size_t n = 0, k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < tc->n_users && n < len; i++) {
        if (st[i] != want)
            continue;
        if (k++ < GRAPH_LIST_MAX)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", tc->users[i]);
    }
    if (k > GRAPH_LIST_MAX && n < len)
        snprintf(buf + n, len - n, " and %zu more", k - GRAPH_LIST_MAX);
}

static void graph__users_report(struct probe *p, struct probe_tenant *t, struct lookup_set *s)
{
    const struct tenant_config *tc = t->tc;
    size_t found = 0, missing = 0, failed = 0;
    for (size_t i = 0; i < tc->n_users; i++) {
        found += s->st[i] == DIRECTORY_FOUND;
        missing += s->st[i] == DIRECTORY_NOT_FOUND;
        failed += s->st[i] != DIRECTORY_FOUND && s->st[i] != DIRECTORY_NOT_FOUND;
        t->ids[i] = s->ids[i];
        s->ids[i] = NULL;
    }
    t->n_found = found;
    char names[2048];
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "configured", (double)tc->n_users);
    cJSON_AddNumberToObject(d, "found", (double)found);
    if (failed) {
        bool denied = strstr(s->error, "HTTP 403") != NULL;
        probe_report__check(
            p->report, "graph.users", "users", PROBE_FAIL,
            denied ? "give the app the application permission User.Read.All and grant admin "
                     "consent (docs/operations.md section 1)"
                   : "run the probe again; if it stays, check the network to graph.api_url",
            "%zu of %zu lookups failed (%s)%s", failed, tc->n_users,
            s->error[0] ? s->error : "no answer", denied ? ": the app may not read users" : "");
    }
    else if (missing) {
        graph__names(tc, s->st, DIRECTORY_NOT_FOUND, names, sizeof(names));
        probe_report__check(p->report, "graph.users", "users", PROBE_FAIL,
                            "use each user's sign-in name (UPN) in users/users_file, or remove "
                            "users who left; the daemon skips the missing ones",
                            "%zu of %zu users are not in Azure AD: %s", missing, tc->n_users,
                            names);
        cJSON_AddStringToObject(d, "not_found", names);
    }
    else {
        probe_report__check(p->report, "graph.users", "users", PROBE_OK, NULL,
                            "all %zu users found in Azure AD (looked up 20 per $batch)",
                            tc->n_users);
    }
    probe_report__details(p->report, d);
}

static void graph__directory_free(void *dir)
{
    directory__free(dir);
}

static void graph__users(struct probe *p, struct probe_tenant *t)
{
    size_t n = t->tc->n_users;
    struct lookup_set *s = calloc(1, sizeof(*s));
    struct directory *dir = s ? directory__new(p->loop, t->ct) : NULL;
    if (s) {
        s->st = calloc(n + 1, sizeof(*s->st));
        s->ids = calloc(n + 1, sizeof(char *));
        s->items = calloc(n + 1, sizeof(*s->items));
    }
    if (!dir || !s->st || !s->ids || !s->items) {
        directory__free(dir);
        if (s)
            lookup_set__free(s);
        return;
    }
    s->n = s->left = n;
    for (size_t i = 0; i < n; i++) {
        s->st[i] = DIRECTORY_FAILED;
        s->items[i] = (struct lookup){s, i};
        const char *id = NULL;
        int rc = directory__resolve(dir, t->tc->users[i], &id, graph__lookup_cb, &s->items[i]);
        if (rc != 0) /* cached (a duplicate address) or refused: settled now */
            graph__lookup_cb(&s->items[i], rc == 1 ? DIRECTORY_FOUND : DIRECTORY_FAILED, id, -1,
                             "cannot look up");
    }
    s->done = s->left == 0;
    bool all = probe__wait(p, &s->done, GRAPH_LOOKUP_WAIT_MS);
    directory__stop(dir); /* waiting lookups end as stopped */
    if (!p->interrupted)
        graph__users_report(p, t, s);
    if (all) {
        directory__free(dir);
        lookup_set__free(s);
        return;
    }
    /* a $batch still out completes into both: free them at the end */
    probe__defer(p, lookup_set__free, s);
    probe__defer(p, graph__directory_free, dir);
}

/* ---- presence ---------------------------------------------------------------------------- */

/* {"ids":[...]} of the found users, at most 650 (one request). */
static char *graph__ids_body(const struct probe_tenant *t, const char *extra)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(o, "ids");
    size_t n = 0;
    for (size_t i = 0; !extra && i < t->tc->n_users && n < 650; i++) {
        if (t->ids[i] && ++n)
            cJSON_AddItemToArray(ids, cJSON_CreateString(t->ids[i]));
    }
    if (extra)
        cJSON_AddItemToArray(ids, cJSON_CreateString(extra));
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return body;
}

/* The first element of an answer's value: availability/activity. */
static void graph__first_presence(const char *body, char *buf, size_t len)
{
    cJSON *o = json__parse_str(body);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "value"), 0);
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(first, "availability");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(first, "activity");
    snprintf(buf, len, "%s/%s", cJSON_IsString(av) ? av->valuestring : "?",
             cJSON_IsString(act) ? act->valuestring : "?");
    cJSON_Delete(o);
}

static void graph__read(struct probe *p, struct probe_tenant *t)
{
    char *body = graph__ids_body(t, NULL);
    struct graph_request req = {
        .method = "POST", .path = "/communications/getPresencesByUserId", .body = body, .units = 1};
    struct probe_answer a;
    char why[600], first[160];
    probe__graph(p, t->ct, &req, GRAPH_CALL_WAIT_MS, &a);
    free(body);
    if (a.status == 200) {
        size_t k = 0;
        while (k < t->tc->n_users && !t->ids[k])
            k++;
        graph__first_presence(a.body, first, sizeof(first));
        probe_report__check(p->report, "graph.presence_read", "presence read", PROBE_OK, NULL,
                            "getPresencesByUserId answered for %zu users (%s: %s)",
                            t->n_found < 650 ? t->n_found : 650,
                            k < t->tc->n_users ? t->tc->users[k] : "?", first);
    }
    else {
        bool denied = a.status == 403;
        probe_report__check(p->report, "graph.presence_read", "presence read", PROBE_FAIL,
                            denied ? "give the app the application permission Presence.Read.All "
                                     "(or Presence.ReadWrite.All) and grant admin consent"
                                   : "run the probe again; if it stays, see docs/operations.md "
                                     "section 8",
                            "getPresencesByUserId failed: %s", probe__reason(&a, why, sizeof(why)));
    }
    probe_answer__free(&a);
}

/* Open question 5 of docs/graph.md: what Graph answers for an id that is
 * not a user (a user deleted since the config was written). */
static void graph__unknown_id(struct probe *p, struct probe_tenant *t)
{
    unsigned char r[16];
    char guid[37], first[160], why[600];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return;
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(guid, sizeof(guid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
    char *body = graph__ids_body(t, guid);
    struct graph_request req = {
        .method = "POST", .path = "/communications/getPresencesByUserId", .body = body, .units = 1};
    struct probe_answer a;
    probe__graph(p, t->ct, &req, GRAPH_CALL_WAIT_MS, &a);
    free(body);
    if (a.status == 200) {
        graph__first_presence(a.body, first, sizeof(first));
        probe_report__check(p->report, "graph.unknown_id", "an id Graph does not know", PROBE_OK,
                            NULL,
                            "getPresencesByUserId answers %s for it (docs/graph.md open question "
                            "5; the daemon reads such a user as not busy)",
                            first);
    }
    else {
        probe_report__check(p->report, "graph.unknown_id", "an id Graph does not know", PROBE_WARN,
                            "remove users who left from the config: a resync that names one may "
                            "fail for the others read with it",
                            "getPresencesByUserId refuses it: %s (docs/graph.md open question 5)",
                            probe__reason(&a, why, sizeof(why)));
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "open_question", 5);
    cJSON_AddNumberToObject(d, "status", a.status);
    probe_report__details(p->report, d);
    probe_answer__free(&a);
}

void probe_graph__run(struct probe *p, struct probe_tenant *t)
{
    char guid[OIDC_GUID_LEN + 1];
    probe_report__group(p->report, "graph", t->tc->name);
    graph__tenant(p, t, guid);
    if (!p->interrupted)
        graph__app(p, t, guid);
    if (!p->interrupted)
        graph__accounts(p, t, guid);
    if (p->interrupted)
        return;
    if (!t->app_ok) {
        probe_report__check(p->report, "graph.users", "users", PROBE_WARN,
                            "fix the app's sign-in above, then run the probe again",
                            "not checked: user lookups need the app's sign-in");
        return;
    }
    graph__users(p, t);
    if (!p->interrupted && t->n_found)
        graph__read(p, t);
    if (!p->interrupted && t->n_found)
        graph__unknown_id(p, t);
}
