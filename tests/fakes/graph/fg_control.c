/* fake-graph: the control API under /_sim/ (JSON in, JSON out). It drives
 * the simulated world: tenants, apps, users and their Teams activity,
 * subscription mishaps, faults, settings, and reads back what happened.
 * Documented in tests/fakes/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "fg_sim.h"

/* Teams-client activities: each is a session of its own. */
static const struct {
    const char *kind;
    const char *availability;
    const char *activity;
} fg_activities[] = {
    {"call", "Busy", "InACall"},
    {"groupcall", "Busy", "InAConferenceCall"},
    {"meeting", "Busy", "InAConferenceCall"}, /* a joined online meeting */
    {"screenshare", "DoNotDisturb", "Presenting"},
    {"calendar", "Busy", "InAMeeting"}, /* a calendar entry, not audio */
};

static int fg_control__bad(struct fg_resp *resp, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    fg_resp__json(resp, status, o);
    return FG_DONE;
}

static int fg_control__ok(struct fg_resp *resp, cJSON *o)
{
    fg_resp__json(resp, 200, o ? o : cJSON_CreateObject());
    return FG_DONE;
}

static const char *fg_control__str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double fg_control__num(const cJSON *o, const char *name, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static cJSON *fg_control__user_json(const struct fg_user *u)
{
    char ts[40];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", u->id);
    cJSON_AddStringToObject(o, "upn", u->upn);
    cJSON_AddStringToObject(o, "tenant", u->tenant);
    cJSON_AddNumberToObject(o, "block_code", u->block_code);
    cJSON_AddBoolToObject(o, "federated", u->federated);
    cJSON_AddStringToObject(o, "availability", u->shown.availability);
    cJSON_AddStringToObject(o, "activity", u->shown.activity);
    cJSON_AddStringToObject(o, "sequenceNumber", u->sequence);
    cJSON *arr = cJSON_AddArrayToObject(o, "sessions");
    for (size_t i = 0; i < u->n_sessions; i++) {
        const struct fg_session *s = &u->sessions[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "id", s->id);
        cJSON_AddStringToObject(j, "type", s->app ? "app" : "teams");
        cJSON_AddStringToObject(j, "availability", s->p.availability);
        cJSON_AddStringToObject(j, "activity", s->p.activity);
        if (s->expires_ms) {
            cJSON_AddStringToObject(j, "expires", clock__iso8601_graph(s->expires_ms, ts, 40));
        }
        else {
            cJSON_AddNullToObject(j, "expires");
        }
        cJSON_AddItemToArray(arr, j);
    }
    if (u->has_preferred) {
        cJSON *p = cJSON_AddObjectToObject(o, "preferred");
        cJSON_AddStringToObject(p, "availability", u->preferred.availability);
        cJSON_AddStringToObject(p, "activity", u->preferred.activity);
    }
    else {
        cJSON_AddNullToObject(o, "preferred");
    }
    return o;
}

/* {"upn", "id"?, "tenant"?, "password"?, "display_name"?, "teams"?:
 *  "Available"|"Away"|... (a Teams client session "teams-desktop")} */
static cJSON *fg_control__create_user(struct fg_sim *sim, const cJSON *spec, const char **err)
{
    const char *upn = fg_control__str(spec, "upn");
    const char *tenant = fg_control__str(spec, "tenant");
    const char *teams = fg_control__str(spec, "teams");
    if (!tenant && sim->store.tenants.n) {
        tenant = sim->store.tenants.items[0];
    }
    if (!upn || !tenant) {
        *err = "upn is required (and a tenant: none is configured)";
        return NULL;
    }
    tenant = fg_store__tenant_id(&sim->store, tenant); /* an id or a domain */
    if (!tenant) {
        *err = "unknown tenant";
        return NULL;
    }
    int64_t now = fg_sim__now();
    struct fg_user *u = fg_store__add_user(&sim->store, tenant, fg_control__str(spec, "id"), upn,
                                           fg_control__str(spec, "password"), now);
    if (!u) {
        *err = "cannot create user (duplicate id or upn, or bad id)";
        return NULL;
    }
    const char *dn = fg_control__str(spec, "display_name");
    if (dn) {
        char *copy = strdup(dn);
        if (copy) {
            free(u->display_name);
            u->display_name = copy;
        }
    }
    if (teams) {
        const char *act = fg_control__str(spec, "teams_activity");
        fg_user__set_session(u, "teams-desktop", teams, act ? act : teams, false, 0, now);
        fg_graph__user_touched(sim, u);
    }
    return fg_control__user_json(u);
}

static int fg_control__users_post(struct fg_sim *sim, struct fg_resp *resp, const cJSON *b)
{
    const char *err = NULL;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(b, "users");
    if (cJSON_IsArray(list)) {
        cJSON *out = cJSON_CreateArray();
        const cJSON *spec;
        cJSON_ArrayForEach(spec, list)
        {
            cJSON *u = fg_control__create_user(sim, spec, &err);
            if (!u) {
                cJSON_Delete(out);
                return fg_control__bad(resp, 400, err);
            }
            cJSON_AddItemToArray(out, u);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "users", out);
        fg_resp__json(resp, 201, o);
        return FG_DONE;
    }
    cJSON *u = fg_control__create_user(sim, b, &err);
    if (!u) {
        return fg_control__bad(resp, 400, err);
    }
    fg_resp__json(resp, 201, u);
    return FG_DONE;
}

static int fg_control__activity(struct fg_sim *sim, struct fg_resp *resp, struct fg_user *u,
                                const char *verb, const char *kind)
{
    size_t i = 0, n = sizeof(fg_activities) / sizeof(fg_activities[0]);
    while (i < n && strcmp(kind, fg_activities[i].kind) != 0) {
        i++;
    }
    if (i == n) {
        return fg_control__bad(resp, 404,
                               "unknown activity: call, groupcall, meeting, screenshare, calendar");
    }
    char sid[64];
    snprintf(sid, sizeof(sid), "teams-%s", kind);
    if (strcmp(verb, "start") == 0) {
        fg_user__set_session(u, sid, fg_activities[i].availability, fg_activities[i].activity,
                             false, 0, fg_sim__now());
    }
    else if (fg_user__clear_session(u, sid) != 0) {
        return fg_control__bad(resp, 404, "that activity is not running");
    }
    fg_graph__user_touched(sim, u);
    return fg_control__ok(resp, fg_control__user_json(u));
}

/* /users/{key}/... */
static int fg_control__user(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                            const char *p, const cJSON *b)
{
    char key[512];
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || len >= sizeof(key)) {
        return fg_control__bad(resp, 404, "no such user");
    }
    memcpy(key, p, len);
    key[len] = '\0';
    struct fg_user *u = fg_store__user(&sim->store, NULL, key);
    if (!u) {
        return fg_control__bad(resp, 404, "no such user");
    }
    const char *rest = slash ? slash : "";
    const char *m = r->method;
    int64_t now = fg_sim__now();
    if (!*rest && strcmp(m, "GET") == 0) {
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    if (strncmp(rest, "/start/", 7) == 0 || strncmp(rest, "/end/", 5) == 0) {
        bool start = rest[1] == 's';
        return fg_control__activity(sim, resp, u, start ? "start" : "end", rest + (start ? 7 : 5));
    }
    if (strcmp(rest, "/sessions") == 0 && strcmp(m, "POST") == 0) {
        const char *id = fg_control__str(b, "id");
        const char *av = fg_control__str(b, "availability");
        const char *act = fg_control__str(b, "activity");
        double ttl = fg_control__num(b, "expires_in_s", 0);
        bool app = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "app"));
        if (!id || !av ||
            fg_user__set_session(u, id, av, act ? act : av, app,
                                 ttl > 0 ? now + (int64_t)(ttl * 1000) : 0, now) != 0) {
            return fg_control__bad(resp, 400, "need id and availability (activity optional)");
        }
        fg_graph__user_touched(sim, u);
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    if (strncmp(rest, "/sessions/", 10) == 0 && strcmp(m, "DELETE") == 0) {
        if (fg_user__clear_session(u, rest + 10) != 0) {
            return fg_control__bad(resp, 404, "no such session");
        }
        fg_graph__user_touched(sim, u);
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    if (strcmp(rest, "/preferred") == 0 && strcmp(m, "POST") == 0) {
        const char *av = fg_control__str(b, "availability");
        const char *act = fg_control__str(b, "activity");
        double ttl = fg_control__num(b, "expires_in_s", 0);
        if (!av || strlen(av) >= FG_STATE_LEN || (act && strlen(act) >= FG_STATE_LEN)) {
            return fg_control__bad(resp, 400, "need availability (activity optional)");
        }
        u->has_preferred = true;
        snprintf(u->preferred.availability, FG_STATE_LEN, "%s", av);
        snprintf(u->preferred.activity, FG_STATE_LEN, "%s", act ? act : av);
        u->preferred_expires_ms = ttl > 0 ? now + (int64_t)(ttl * 1000) : 0;
        fg_graph__user_touched(sim, u);
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    if (strcmp(rest, "/preferred") == 0 && strcmp(m, "DELETE") == 0) {
        u->has_preferred = false;
        fg_graph__user_touched(sim, u);
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    if (strcmp(rest, "/block") == 0 && strcmp(m, "POST") == 0) {
        u->block_code = (int)fg_control__num(b, "code", 0);
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    if (strcmp(rest, "/federated") == 0 && strcmp(m, "POST") == 0) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(b, "federated");
        u->federated = cJSON_IsTrue(f);
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    if (strcmp(rest, "/password") == 0 && strcmp(m, "POST") == 0) {
        const char *pw = fg_control__str(b, "password");
        char *copy = pw ? strdup(pw) : NULL;
        if (!copy) {
            return fg_control__bad(resp, 400, "need password");
        }
        free(u->password);
        u->password = copy;
        /* like Entra: a password change revokes the user's refresh tokens */
        fg_store__revoke_user(&sim->store, u->id);
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    if (strcmp(rest, "/revoke") == 0 && strcmp(m, "POST") == 0) {
        fg_store__revoke_user(&sim->store, u->id);
        return fg_control__ok(resp, fg_control__user_json(u));
    }
    return fg_control__bad(resp, 404, "unknown user control");
}

static cJSON *fg_control__sub_json(const struct fg_sub *s)
{
    cJSON *o = fg_subs__json(s, true);
    cJSON_DeleteItemFromObject(o, "@odata.context");
    cJSON_AddStringToObject(o, "tenant", s->tenant);
    cJSON_AddBoolToObject(o, "pending", s->pending);
    cJSON_AddBoolToObject(o, "silent", s->silent);
    cJSON_AddNumberToObject(o, "users", (double)s->n_users);
    cJSON_AddStringToObject(o, "encryptionCertificateThumbprint", s->thumbprint);
    cJSON_AddNumberToObject(o, "reauthorized_ms", (double)s->reauthorized_ms);
    return o;
}

static int fg_control__subscription(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                                    const char *p, const cJSON *b)
{
    char id[FG_ID_LEN];
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || len >= sizeof(id)) {
        return fg_control__bad(resp, 404, "no such subscription");
    }
    memcpy(id, p, len);
    id[len] = '\0';
    struct fg_sub *s = fg_store__sub(&sim->store, id);
    if (!s) {
        return fg_control__bad(resp, 404, "no such subscription");
    }
    const char *rest = slash ? slash : "";
    if (!*rest && strcmp(r->method, "GET") == 0) {
        return fg_control__ok(resp, fg_control__sub_json(s));
    }
    if (strcmp(rest, "/expire") == 0) {
        /* gone at once, as if its expirationDateTime had passed */
        s->expires_ms = fg_sim__now();
        fg_store__remove_sub(&sim->store, id);
        return fg_control__ok(resp, NULL);
    }
    if (strcmp(rest, "/silence") == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "silent");
        s->silent = v ? cJSON_IsTrue(v) : true;
        return fg_control__ok(resp, fg_control__sub_json(s));
    }
    if (strcmp(rest, "/deliver") == 0) {
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(b, "to");
        bool life = cJSON_IsString(to) && strcmp(to->valuestring, "lifecycle") == 0;
        if (fg_notify__deliver(sim, s, cJSON_GetObjectItemCaseSensitive(b, "notification"),
                               cJSON_GetObjectItemCaseSensitive(b, "presence"), life) != 0) {
            return fg_control__bad(resp, 400,
                                   "need notification.value (and presence for encrypted items of "
                                   "a rich subscription)");
        }
        return fg_control__ok(resp, NULL);
    }
    if (strcmp(rest, "/lifecycle") == 0) {
        const char *ev = fg_control__str(b, "event");
        if (fg_notify__lifecycle(sim, s, ev ? ev : "reauthorizationRequired") != 0) {
            return fg_control__bad(resp, 409, "the subscription has no lifecycleNotificationUrl");
        }
        return fg_control__ok(resp, NULL);
    }
    return fg_control__bad(resp, 404, "unknown subscription control");
}

/* {"id", "domains"?: ["contoso.onmicrosoft.com", ...]} */
static int fg_control__tenant(struct fg_sim *sim, struct fg_resp *resp, const cJSON *b)
{
    const char *id = fg_control__str(b, "id");
    if (fg_store__add_tenant(&sim->store, id) != 0) {
        return fg_control__bad(resp, 400, "need id (at most 63 characters)");
    }
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(b, "domains"))
    {
        if (!cJSON_IsString(d) || fg_store__add_domain(&sim->store, id, d->valuestring) != 0) {
            return fg_control__bad(resp, 400, "domains: strings, each new");
        }
    }
    return fg_control__ok(resp, NULL);
}

/* resource_form names, in enum fg_resource_form order */
static const char *const fg_forms[] = {"one_id", "all_ids", "path"};

static int fg_control__settings(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                                const cJSON *b)
{
    struct fg_settings *st = &sim->settings;
    if (strcmp(r->method, "POST") == 0) {
        double v;
        if ((v = fg_control__num(b, "token_lifetime_s", -1)) >= 0) {
            sim->store.token_lifetime_ms = (int64_t)(v * 1000);
        }
        if ((v = fg_control__num(b, "batch_window_ms", -1)) >= 0) {
            st->batch_window_ms = (int64_t)v;
        }
        if ((v = fg_control__num(b, "retry_base_ms", -1)) >= 0) {
            st->retry_base_ms = (int64_t)v;
        }
        if ((v = fg_control__num(b, "retry_max", -1)) >= 1) {
            st->retry_max = (int)v;
        }
        if ((v = fg_control__num(b, "validation_timeout_ms", -1)) >= 1) {
            st->validation_timeout_ms = (int64_t)v;
        }
        if ((v = fg_control__num(b, "delivery_timeout_ms", -1)) >= 1) {
            st->delivery_timeout_ms = (int64_t)v;
        }
        if ((v = fg_control__num(b, "grant_expiry_s", -1)) >= 0) {
            st->grant_expiry_ms = (int64_t)(v * 1000);
        }
        if ((v = fg_control__num(b, "validation_token_version", -1)) >= 1 && v <= 2) {
            st->token_version = (int)v;
        }
        const char *form = fg_control__str(b, "resource_form");
        for (size_t i = 0; form && i < sizeof(fg_forms) / sizeof(fg_forms[0]); i++) {
            if (strcmp(form, fg_forms[i]) == 0) {
                st->resource_form = (enum fg_resource_form)i;
            }
        }
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(b, "batch_retry_after_number");
        if (cJSON_IsBool(num)) {
            st->batch_retry_after_number = cJSON_IsTrue(num);
        }
        double limit = fg_control__num(b, "presence_limit", -1);
        double window = fg_control__num(b, "presence_window_ms", -1);
        if (limit >= 0 || window >= 1) {
            cJSON *cur = fg_budget__json(sim->budget);
            fg_budget__configure(
                sim->budget,
                limit >= 0 ? (size_t)limit : (size_t)fg_control__num(cur, "limit", 1500),
                window >= 1 ? (int64_t)window : (int64_t)fg_control__num(cur, "window_ms", 30000));
            cJSON_Delete(cur);
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "token_lifetime_s", (double)sim->store.token_lifetime_ms / 1000);
    cJSON_AddNumberToObject(o, "batch_window_ms", (double)st->batch_window_ms);
    cJSON_AddNumberToObject(o, "retry_base_ms", (double)st->retry_base_ms);
    cJSON_AddNumberToObject(o, "retry_max", st->retry_max);
    cJSON_AddNumberToObject(o, "validation_timeout_ms", (double)st->validation_timeout_ms);
    cJSON_AddNumberToObject(o, "delivery_timeout_ms", (double)st->delivery_timeout_ms);
    cJSON_AddNumberToObject(o, "grant_expiry_s", (double)st->grant_expiry_ms / 1000);
    cJSON_AddNumberToObject(o, "validation_token_version", st->token_version);
    cJSON_AddStringToObject(o, "resource_form", fg_forms[st->resource_form]);
    cJSON_AddBoolToObject(o, "batch_retry_after_number", st->batch_retry_after_number);
    cJSON *budget = fg_budget__json(sim->budget);
    cJSON_AddNumberToObject(o, "presence_limit", fg_control__num(budget, "limit", 0));
    cJSON_AddNumberToObject(o, "presence_window_ms", fg_control__num(budget, "window_ms", 0));
    cJSON_Delete(budget);
    return fg_control__ok(resp, o);
}

/* GET ?since=N: entries with seq > N. */
static int fg_control__list(struct fg_req *r, struct fg_resp *resp, struct fg_vec *v)
{
    if (strcmp(r->method, "DELETE") == 0) {
        for (size_t i = 0; i < v->n; i++) {
            cJSON_Delete(v->items[i]);
        }
        v->n = 0;
        return fg_control__ok(resp, NULL);
    }
    double since = 0;
    const char *q = strstr(r->query, "since=");
    if (q) {
        since = strtod(q + 6, NULL);
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < v->n; i++) {
        if (fg_control__num(v->items[i], "seq", 0) > since) {
            cJSON_AddItemToArray(arr, cJSON_Duplicate(v->items[i], true));
        }
    }
    fg_resp__json(resp, 200, arr);
    return FG_DONE;
}

static bool fg_control__suffix(const char *p, const char *suffix)
{
    size_t n = strlen(p), k = strlen(suffix);
    return n > k && strcmp(p + n - k, suffix) == 0;
}

/* A permission list from JSON: an array of names (or one string) joined by
 * spaces into buf; NULL when absent. */
static const char *fg_control__perms(const cJSON *b, const char *name, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, name);
    if (cJSON_IsString(v))
        return snprintf(buf, len, "%s", v->valuestring) < (int)len ? buf : NULL;
    if (!cJSON_IsArray(v))
        return NULL;
    size_t n = 0;
    buf[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (cJSON_IsString(e) && n < len)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", e->valuestring);
    }
    return n < len ? buf : NULL;
}

/* The admin consent of an app: application roles and delegated scopes
 * (docs/graph.md, "Permissions"); members left out keep their value. */
static int fg_control__consent(struct fg_sim *sim, struct fg_resp *resp, const char *client_id,
                               const cJSON *b)
{
    struct fg_app *a = fg_store__app(&sim->store, client_id);
    char roles[1024], scopes[1024];
    if (!a)
        return fg_control__bad(resp, 404, "no such app");
    if (fg_store__consent(a, fg_control__perms(b, "roles", roles, sizeof(roles)),
                          fg_control__perms(b, "scopes", scopes, sizeof(scopes))) != 0)
        return fg_control__bad(resp, 500, "out of memory");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "client_id", a->client_id);
    cJSON_AddStringToObject(o, "roles", a->roles);
    cJSON_AddStringToObject(o, "scopes", a->scopes);
    return fg_control__ok(resp, o);
}

int fg_control__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp, const char *p)
{
    cJSON *b = fg_sim__parse_json(r);
    if (r->body_len && !b) {
        return fg_control__bad(resp, 400, "body is not valid JSON");
    }
    const char *m = r->method, *err = NULL;
    int rc;
    bool post = strcmp(m, "POST") == 0, get = strcmp(m, "GET") == 0;
    if (strcmp(p, "/tenants") == 0 && post) {
        rc = fg_control__tenant(sim, resp, b);
    }
    else if (strcmp(p, "/apps") == 0 && post) {
        rc = fg_store__add_app(&sim->store, fg_control__str(b, "client_id"),
                               fg_control__str(b, "client_secret")) == 0
                 ? fg_control__consent(sim, resp, fg_control__str(b, "client_id"), b)
                 : fg_control__bad(resp, 400, "need client_id and client_secret");
    }
    else if (strncmp(p, "/apps/", 6) == 0 && post && fg_control__suffix(p, "/consent")) {
        char id[FG_ID_LEN];
        snprintf(id, sizeof(id), "%.*s", (int)(strlen(p) - 6 - 8), p + 6);
        rc = fg_control__consent(sim, resp, id, b);
    }
    else if (strcmp(p, "/users") == 0 && post) {
        rc = fg_control__users_post(sim, resp, b);
    }
    else if (strcmp(p, "/users") == 0 && get) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < sim->store.users.n; i++) {
            cJSON_AddItemToArray(arr, fg_control__user_json(sim->store.users.items[i]));
        }
        rc = fg_control__ok(resp, arr);
    }
    else if (strncmp(p, "/users/", 7) == 0) {
        rc = fg_control__user(sim, r, resp, p + 7, b);
    }
    else if (strcmp(p, "/subscriptions") == 0 && get) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < sim->store.subs.n; i++) {
            cJSON_AddItemToArray(arr, fg_control__sub_json(sim->store.subs.items[i]));
        }
        rc = fg_control__ok(resp, arr);
    }
    else if (strncmp(p, "/subscriptions/", 15) == 0) {
        rc = fg_control__subscription(sim, r, resp, p + 15, b);
    }
    else if (strcmp(p, "/faults") == 0 && post) {
        rc = fg_faults__add(sim->faults, b, &err) == 0 ? fg_control__ok(resp, NULL)
                                                       : fg_control__bad(resp, 400, err);
    }
    else if (strcmp(p, "/faults") == 0 && get) {
        rc = fg_control__ok(resp, fg_faults__json(sim->faults));
    }
    else if (strcmp(p, "/faults") == 0 && strcmp(m, "DELETE") == 0) {
        fg_faults__clear(sim->faults);
        rc = fg_control__ok(resp, NULL);
    }
    else if (strcmp(p, "/settings") == 0 && (get || post)) {
        rc = fg_control__settings(sim, r, resp, b);
    }
    else if (strcmp(p, "/keys/rotate") == 0 && post) {
        /* a new signing key for validationTokens (new kid); the old one stays
         * in the JWKS unless {"drop_old":true} */
        struct fg_signer next;
        if (fg_signer__init(&next) != 0) {
            rc = fg_control__bad(resp, 500, "cannot make a key");
        }
        else {
            const cJSON *drop = cJSON_GetObjectItem(b, "drop_old");
            fg_signer__free(&sim->prev_signer);
            sim->prev_signer = sim->signer;
            sim->signer = next;
            if (cJSON_IsTrue(drop))
                fg_signer__free(&sim->prev_signer);
            LOG_INFO("fake-graph", "signing key rotated kid=%s", sim->signer.kid);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "kid", sim->signer.kid);
            rc = fg_control__ok(resp, o);
        }
    }
    else if (strcmp(p, "/tokens/expire") == 0 && post) {
        int64_t now = fg_sim__now();
        for (size_t i = 0; i < sim->store.tokens.n; i++) {
            ((struct fg_token *)sim->store.tokens.items[i])->expires_ms = now;
        }
        rc = fg_control__ok(resp, NULL);
    }
    else if (strcmp(p, "/presence_budget") == 0 && get) {
        rc = fg_control__ok(resp, fg_budget__json(sim->budget));
    }
    else if (strcmp(p, "/presence_budget") == 0 && strcmp(m, "DELETE") == 0) {
        fg_budget__reset(sim->budget);
        rc = fg_control__ok(resp, NULL);
    }
    else if (strcmp(p, "/requests") == 0) {
        rc = fg_control__list(r, resp, &sim->records);
    }
    else if (strcmp(p, "/deliveries") == 0) {
        rc = fg_control__list(r, resp, &sim->deliveries);
    }
    else if (strcmp(p, "/reset") == 0 && post) {
        fg_sim__reset(sim);
        LOG_INFO("fake-graph", "reset");
        rc = fg_control__ok(resp, NULL);
    }
    else {
        rc = fg_control__bad(resp, 404, "unknown control path");
    }
    cJSON_Delete(b);
    return rc;
}
