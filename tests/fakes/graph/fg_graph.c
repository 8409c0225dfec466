/* fake-graph: Graph v1.0 users, presence and $batch (docs/graph.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "fg_sim.h"

#define FG_BATCH_MAX     20
#define FG_PRESENCES_MAX 650

int fg_graph__auth(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp)
{
    if (!r->authorization || strncasecmp(r->authorization, "Bearer ", 7) != 0 ||
        !r->authorization[7]) {
        fg_resp__graph_error(resp, 401, "InvalidAuthenticationToken", "Access token is empty.");
        return -1;
    }
    struct fg_token *t = fg_store__token(&sim->store, r->authorization + 7);
    if (!t) {
        fg_resp__graph_error(resp, 401, "InvalidAuthenticationToken",
                             "Access token validation failure. Invalid audience.");
        return -1;
    }
    if (t->expires_ms <= fg_sim__now()) {
        fg_resp__graph_error(resp, 401, "InvalidAuthenticationToken",
                             "Lifetime validation failed, the token is expired.");
        return -1;
    }
    r->token = t;
    if (t->kind == FG_TOKEN_APP) {
        snprintf(r->who, sizeof(r->who), "app client=%s", t->client_id);
    }
    else {
        struct fg_user *u = fg_store__user(&sim->store, t->tenant, t->user_id);
        snprintf(r->who, sizeof(r->who), "delegated user=%s client=%s", u ? u->upn : t->user_id,
                 t->client_id);
    }
    return 0;
}

/* One query argument, URL-decoded (malloc'd), or NULL. */
static char *fg_graph__query_arg(const char *query, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        int dlen = 0;
        char *key = curl_easy_unescape(NULL, p, (int)len, &dlen);
        char *eq = key ? strchr(key, '=') : NULL;
        if (eq && (size_t)(eq - key) == nlen && strncmp(key, name, nlen) == 0) {
            char *v = strdup(eq + 1);
            curl_free(key);
            return v;
        }
        curl_free(key);
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

cJSON *fg_graph__presence_json(const struct fg_user *u, bool context)
{
    cJSON *o = cJSON_CreateObject();
    if (context) {
        char ctx[160];
        snprintf(ctx, sizeof(ctx),
                 "https://graph.microsoft.com/v1.0/$metadata#users('%s')/presence/$entity", u->id);
        cJSON_AddStringToObject(o, "@odata.context", ctx);
    }
    cJSON_AddStringToObject(o, "id", u->id);
    cJSON_AddStringToObject(o, "availability", u->shown.availability);
    cJSON_AddStringToObject(o, "activity", u->shown.activity);
    cJSON_AddStringToObject(o, "sequenceNumber", u->sequence);
    cJSON_AddNullToObject(o, "statusMessage");
    cJSON *oof = cJSON_AddObjectToObject(o, "outOfOfficeSettings");
    cJSON_AddNullToObject(oof, "message");
    cJSON_AddBoolToObject(oof, "isOutOfOffice", false);
    return o;
}

void fg_graph__user_touched(struct fg_sim *sim, struct fg_user *u)
{
    if (fg_store__refresh_user(&sim->store, u, fg_sim__now())) {
        LOG_INFO("fake-graph", "presence changed user=%s availability=%s activity=%s", u->upn,
                 u->shown.availability, u->shown.activity);
        fg_notify__user_changed(sim, u);
    }
}

static int fg_graph__user_not_found(struct fg_resp *resp, const char *who)
{
    char msg[1024];
    snprintf(msg, sizeof(msg),
             "Resource '%s' does not exist or one of its queried reference-"
             "property objects are not present.",
             who);
    fg_resp__graph_error(resp, 404, "Request_ResourceNotFound", msg);
    return FG_DONE;
}

static int fg_graph__get_user(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                              const char *key)
{
    static const char *const fields[] = {"id", "userPrincipalName", "displayName", "mail"};
    struct fg_user *u = fg_store__user(&sim->store, r->token->tenant, key);
    if (!u) {
        return fg_graph__user_not_found(resp, key);
    }
    const char *values[] = {u->id, u->upn, u->display_name, u->upn};
    char *select = fg_graph__query_arg(r->query, "$select");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "@odata.context",
                            "https://graph.microsoft.com/v1.0/$metadata#users/$entity");
    char *save = NULL;
    char *tok = select ? strtok_r(select, ",", &save) : NULL;
    if (!select) {
        for (size_t i = 0; i < 4; i++) {
            cJSON_AddStringToObject(o, fields[i], values[i]);
        }
    }
    for (; tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') {
            tok++;
        }
        size_t i = 0;
        while (i < 4 && strcasecmp(tok, fields[i]) != 0) {
            i++;
        }
        if (i == 4) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "Could not find a property named '%s' on type 'microsoft.graph.user'.", tok);
            cJSON_Delete(o);
            free(select);
            fg_resp__graph_error(resp, 400, "Request_BadRequest", msg);
            return FG_DONE;
        }
        if (!cJSON_GetObjectItemCaseSensitive(o, fields[i])) {
            cJSON_AddStringToObject(o, fields[i], values[i]);
        }
    }
    free(select);
    fg_resp__json(resp, 200, o);
    return FG_DONE;
}

static const char *fg_graph__string(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Presence writes: an app token (Presence.ReadWrite.All), or a delegated
 * token with Presence.ReadWrite on the signed-in user's own presence
 * (learn.microsoft.com/graph/api/presence-setpresence, "Permissions":
 * documented). */
static int fg_graph__may_write(struct fg_req *r, struct fg_resp *resp, const struct fg_user *u)
{
    const struct fg_token *t = r->token;
    if (t->kind == FG_TOKEN_APP)
        return 0;
    if (t->presence_write && strcasecmp(t->user_id, u->id) == 0)
        return 0;
    fg_resp__graph_error(resp, 403, "Forbidden",
                         t->presence_write
                             ? "A delegated token may only write the signed-in user's presence."
                             : "Insufficient privileges: Presence.ReadWrite is required.");
    return -1;
}

/* Presence routes address users by object id only; the UPN form answers
 * 404 (docs/graph.md, "Presence writes": reported, msgraph-sdk-dotnet#1942,
 * microsoft-graph-explorer-v4#2945). */
static bool fg_graph__by_id(const struct fg_user *u, const char *key)
{
    return u && strcasecmp(u->id, key) == 0;
}

/* Counts a presence request against the app's limit (fg_budget.h); fills a
 * 429 and returns -1 when over it. */
static int fg_graph__budget(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp)
{
    int wait = fg_budget__take(sim->budget, r->token->tenant, r->token->client_id, fg_sim__now());
    if (!wait)
        return 0;
    fg_resp__graph_error(resp, 429, "TooManyRequests",
                         "Too many requests: the application's presence limit is reached.");
    resp->retry_after = wait;
    return -1;
}

static int fg_graph__set_presence(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                                  struct fg_user *u)
{
    cJSON *b = fg_sim__parse_json(r);
    const char *sid = fg_graph__string(b, "sessionId");
    const char *av = fg_graph__string(b, "availability");
    const char *act = fg_graph__string(b, "activity");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(b, "expirationDuration");
    int64_t ms = 0;
    int rc = 0;
    if (!b) {
        fg_resp__graph_error(resp, 400, "BadRequest", "Empty or invalid JSON payload.");
    }
    else if (!sid || strcasecmp(sid, r->token->client_id) != 0) {
        fg_resp__graph_error(resp, 400, "InvalidArgument",
                             "The provided [SessionId] must be the application id of the caller.");
    }
    else if (!fg_presence__valid_session_combo(av, act)) {
        fg_resp__graph_error(resp, 400, "InvalidArgument",
                             "The provided [Availability] and [Activity] combination is not "
                             "supported.");
    }
    else if (dur && !cJSON_IsNull(dur) && !cJSON_IsString(dur)) {
        fg_resp__graph_error(resp, 400, "InvalidArgument",
                             "The provided [ExpirationDuration] is not a valid duration.");
    }
    else if ((rc = fg_presence__expiration(cJSON_IsString(dur) ? dur->valuestring : NULL, &ms)) ==
             -1) {
        fg_resp__graph_error(resp, 400, "InvalidArgument",
                             "The provided [ExpirationDuration] is not a valid duration.");
    }
    else if (rc == -2) {
        fg_resp__graph_error(resp, 400, "InvalidArgument",
                             "The provided [ExpirationDuration] is out of range");
    }
    else {
        int64_t now = fg_sim__now();
        if (fg_user__set_session(u, r->token->client_id, av, act, true, now + ms, now) != 0) {
            fg_resp__graph_error(resp, 400, "InvalidArgument", "Too many sessions.");
        }
        else {
            fg_resp__no_content_type(resp, 200);
            fg_graph__user_touched(sim, u);
        }
    }
    cJSON_Delete(b);
    return FG_DONE;
}

static int fg_graph__clear_presence(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                                    struct fg_user *u)
{
    cJSON *b = fg_sim__parse_json(r);
    const char *sid = fg_graph__string(b, "sessionId");
    if (!sid || strcasecmp(sid, r->token->client_id) != 0) {
        fg_resp__graph_error(resp, 400, "InvalidArgument",
                             "The provided [SessionId] must be the application id of the caller.");
    }
    else if (fg_user__clear_session(u, r->token->client_id) != 0) {
        fg_resp__graph_error(resp, 404, "NotFound", "The presence session was not found.");
    }
    else {
        fg_resp__no_content_type(resp, 200);
        fg_graph__user_touched(sim, u);
    }
    cJSON_Delete(b);
    return FG_DONE;
}

static int fg_graph__set_preferred(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                                   struct fg_user *u)
{
    cJSON *b = fg_sim__parse_json(r);
    const char *av = fg_graph__string(b, "availability");
    const char *act = fg_graph__string(b, "activity");
    const char *dur = fg_graph__string(b, "expirationDuration");
    int64_t ms = 0;
    if (!fg_presence__valid_preferred_combo(av, act)) {
        fg_resp__graph_error(resp, 400, "InvalidArgument",
                             "The provided [Availability] and [Activity] combination is not "
                             "supported.");
    }
    else if (dur && fg_presence__parse_duration(dur, &ms) != 0) {
        fg_resp__graph_error(resp, 400, "InvalidArgument",
                             "The provided [ExpirationDuration] is not a valid duration.");
    }
    else {
        if (!dur) {
            bool short_lived = !strcmp(av, "Busy") || !strcmp(av, "DoNotDisturb");
            ms = (short_lived ? 1 : 7) * 86400000LL;
        }
        u->has_preferred = true;
        snprintf(u->preferred.availability, sizeof(u->preferred.availability), "%s", av);
        snprintf(u->preferred.activity, sizeof(u->preferred.activity), "%s", act);
        u->preferred_expires_ms = fg_sim__now() + ms;
        fg_resp__empty(resp, 200);
        fg_graph__user_touched(sim, u);
    }
    cJSON_Delete(b);
    return FG_DONE;
}

/* /users/{key}[/rest]: also /users('{key}'). Copies the key; *rest points
 * into path ("" when none). */
static int fg_graph__split_user(const char *p, char *key, size_t len, const char **rest)
{
    const char *start, *end;
    if (strncmp(p, "/users('", 8) == 0) {
        start = p + 8;
        end = strstr(start, "')");
        if (!end) {
            return -1;
        }
        *rest = end + 2;
    }
    else if (strncmp(p, "/users/", 7) == 0) {
        start = p + 7;
        end = strchr(start, '/');
        if (!end) {
            end = start + strlen(start);
        }
        *rest = end;
    }
    else {
        return -1;
    }
    if (end == start || (size_t)(end - start) >= len) {
        return -1;
    }
    memcpy(key, start, (size_t)(end - start));
    key[end - start] = '\0';
    return 0;
}

static int fg_graph__users(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                           const char *p)
{
    char key[512];
    const char *rest;
    if (fg_graph__split_user(p, key, sizeof(key), &rest) != 0) {
        fg_resp__graph_error(resp, 400, "BadRequest", "Invalid request path.");
        return FG_DONE;
    }
    bool get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;
    if (!*rest && get) {
        if (fg_access__require(r, resp, FG_NEED_USERS) != 0)
            return FG_DONE;
        return fg_graph__get_user(sim, r, resp, key);
    }
    struct fg_user *u = fg_store__user(&sim->store, r->token->tenant, key);
    if (strncmp(rest, "/presence", 9) == 0 && !fg_graph__by_id(u, key)) {
        return fg_graph__user_not_found(resp, key);
    }
    if (strcmp(rest, "/presence") == 0 && get) {
        if (fg_access__require(r, resp, FG_NEED_PRESENCE_READ) == 0 &&
            fg_graph__budget(sim, r, resp) == 0) {
            fg_resp__json(resp, 200, fg_graph__presence_json(u, true));
        }
        return FG_DONE;
    }
    static const char *const writes[] = {"/presence/setPresence", "/presence/clearPresence",
                                         "/presence/setUserPreferredPresence",
                                         "/presence/clearUserPreferredPresence"};
    size_t w = 0;
    while (w < 4 && strcmp(rest, writes[w]) != 0) {
        w++;
    }
    if (w == 4 || !post) {
        fg_resp__graph_error(resp, w == 4 ? 400 : 405, w == 4 ? "BadRequest" : "MethodNotAllowed",
                             w == 4 ? "Resource not found for the segment in the request path."
                                    : "Method not allowed.");
        return FG_DONE;
    }
    if (fg_access__require(r, resp, FG_NEED_PRESENCE_WRITE) != 0 ||
        fg_graph__may_write(r, resp, u) != 0 || fg_graph__budget(sim, r, resp) != 0) {
        return FG_DONE;
    }
    switch (w) {
    case 0:
        return fg_graph__set_presence(sim, r, resp, u);
    case 1:
        return fg_graph__clear_presence(sim, r, resp, u);
    case 2:
        return fg_graph__set_preferred(sim, r, resp, u);
    default:
        u->has_preferred = false;
        fg_resp__no_content_type(resp, 200);
        fg_graph__user_touched(sim, u);
        return FG_DONE;
    }
}

static int fg_graph__presences_by_id(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp)
{
    cJSON *b = fg_sim__parse_json(r);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(b, "ids");
    int n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : -1;
    if (fg_access__require(r, resp, FG_NEED_PRESENCE_READ) != 0 ||
        fg_graph__budget(sim, r, resp) != 0) {
        /* refused: 403 or 429 filled in */
    }
    else if (n <= 0) {
        fg_resp__graph_error(resp, 400, "BadRequest", "The 'ids' array is missing or empty.");
    }
    else if (n > FG_PRESENCES_MAX) {
        fg_resp__graph_error(resp, 400, "BadRequest",
                             "The number of ids exceeds the limit of 650.");
    }
    else {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "@odata.context",
                                "https://graph.microsoft.com/v1.0/$metadata#Collection(presence)");
        cJSON *value = cJSON_AddArrayToObject(out, "value");
        const cJSON *id;
        cJSON_ArrayForEach(id, ids)
        {
            if (!cJSON_IsString(id)) {
                continue;
            }
            struct fg_user *u = fg_store__user(&sim->store, r->token->tenant, id->valuestring);
            if (u && strcasecmp(u->id, id->valuestring) == 0) {
                cJSON_AddItemToArray(value, fg_graph__presence_json(u, false));
            }
            else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", id->valuestring);
                cJSON_AddStringToObject(o, "availability", "PresenceUnknown");
                cJSON_AddStringToObject(o, "activity", "PresenceUnknown");
                cJSON_AddItemToArray(value, o);
            }
        }
        fg_resp__json(resp, 200, out);
    }
    cJSON_Delete(b);
    return FG_DONE;
}

static int fg_graph__dispatch(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                              const char *p)
{
    if (fg_graph__auth(sim, r, resp) != 0) {
        return FG_DONE;
    }
    if (strncmp(p, "/users/", 7) == 0 || strncmp(p, "/users('", 8) == 0) {
        return fg_graph__users(sim, r, resp, p);
    }
    if (strncmp(p, "/communications/presences/", 26) == 0 && strcmp(r->method, "GET") == 0) {
        struct fg_user *u = fg_store__user(&sim->store, r->token->tenant, p + 26);
        if (!fg_graph__by_id(u, p + 26)) {
            return fg_graph__user_not_found(resp, p + 26);
        }
        if (fg_access__require(r, resp, FG_NEED_PRESENCE_READ) == 0 &&
            fg_graph__budget(sim, r, resp) == 0) {
            fg_resp__json(resp, 200, fg_graph__presence_json(u, true));
        }
        return FG_DONE;
    }
    if (strcmp(p, "/communications/getPresencesByUserId") == 0 && !strcmp(r->method, "POST")) {
        return fg_graph__presences_by_id(sim, r, resp);
    }
    fg_resp__graph_error(resp, 400, "BadRequest",
                         "Resource not found for the segment in the request path.");
    return FG_DONE;
}

/* One $batch item: a synthetic request run through the same handlers. */
static cJSON *fg_graph__batch_item(struct fg_sim *sim, struct fg_req *parent, const cJSON *item)
{
    const char *id = fg_graph__string(item, "id");
    const char *method = fg_graph__string(item, "method");
    const char *url = fg_graph__string(item, "url");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(item, "body");
    struct fg_req *r = calloc(1, sizeof(*r));
    struct fg_resp resp = {.retry_after = -1, .client_request_id = parent->client_request_id};
    const char *q = strchr(url, '?');
    size_t plen = q ? (size_t)(q - url) : strlen(url);
    r->sim = sim;
    r->batch_item = true;
    r->start_ms = parent->start_ms;
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = malloc(plen + 7);
    snprintf(r->path, plen + 7, "/v1.0%s%.*s", url[0] == '/' ? "" : "/", (int)plen, url);
    r->query = strdup(q ? q + 1 : "");
    r->body = body ? cJSON_PrintUnformatted(body) : strdup("");
    r->body_len = strlen(r->body);
    r->authorization = parent->authorization ? strdup(parent->authorization) : NULL;
    r->fault = fg_faults__take(sim->faults, r->method, r->path);
    if (r->fault.hit && r->fault.status) {
        fg_faults__respond(&r->fault, r->path, &resp);
    }
    else if (strncmp(r->path, "/v1.0/subscriptions", 19) == 0 ||
             strncmp(r->path, "/v1.0/$batch", 12) == 0) {
        fg_resp__graph_error(&resp, 400, "BadRequest",
                             "This simulator does not run this request inside $batch.");
    }
    else {
        fg_graph__dispatch(sim, r, &resp, r->path + 5);
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddNumberToObject(out, "status", resp.status);
    cJSON *headers = cJSON_AddObjectToObject(out, "headers");
    if (resp.retry_after >= 0 && sim->settings.batch_retry_after_number) {
        cJSON_AddNumberToObject(headers, "Retry-After", resp.retry_after);
    }
    else if (resp.retry_after >= 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", resp.retry_after);
        cJSON_AddStringToObject(headers, "Retry-After", ra);
    }
    if (resp.body && resp.body_len) {
        cJSON_AddStringToObject(headers, "Content-Type", "application/json");
        cJSON_AddItemToObject(out, "body", cJSON_ParseWithLength(resp.body, resp.body_len));
    }
    fg_sim__finish(r, &resp); /* records the item, frees r */
    return out;
}

static int fg_graph__batch(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp)
{
    if (fg_graph__auth(sim, r, resp) != 0) {
        return FG_DONE;
    }
    cJSON *b = fg_sim__parse_json(r);
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(b, "requests");
    int n = cJSON_IsArray(reqs) ? cJSON_GetArraySize(reqs) : -1;
    const char *err = NULL;
    char msg[256];
    if (n < 1) {
        err = "Invalid batch payload format.";
    }
    else if (n > FG_BATCH_MAX) {
        err = "The number of requests in the batch exceeds the limit of 20.";
    }
    for (int i = 0; !err && i < n; i++) {
        const cJSON *it = cJSON_GetArrayItem(reqs, i);
        const char *id = fg_graph__string(it, "id"), *url = fg_graph__string(it, "url");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(it, "body");
        const cJSON *headers = cJSON_GetObjectItemCaseSensitive(it, "headers");
        if (!id || !*id || !fg_graph__string(it, "method") || !url) {
            err = "Each request needs id, method and url.";
        }
        else if (strstr(url, "://")) {
            err = "The url of a batch request must be relative.";
        }
        else if (body && !cJSON_GetObjectItemCaseSensitive(headers, "Content-Type") &&
                 !cJSON_GetObjectItemCaseSensitive(headers, "content-type")) {
            err = "Content-Type header must be specified for a request with a body.";
        }
        for (int j = 0; !err && j < i; j++) {
            const char *other = fg_graph__string(cJSON_GetArrayItem(reqs, j), "id");
            if (other && strcmp(other, id) == 0) {
                snprintf(msg, sizeof(msg), "Request Id '%s' is duplicated.", id);
                err = msg;
            }
        }
    }
    if (err) {
        cJSON_Delete(b);
        fg_resp__graph_error(resp, 400, "BadRequest", err);
        return FG_DONE;
    }
    cJSON *items[FG_BATCH_MAX];
    for (int i = 0; i < n; i++) {
        items[i] = fg_graph__batch_item(sim, r, cJSON_GetArrayItem(reqs, i));
    }
    /* Graph answers in any order: shuffle so that clients cannot rely on it */
    unsigned char rnd[FG_BATCH_MAX];
    RAND_bytes(rnd, sizeof(rnd));
    for (int i = n - 1; i > 0; i--) {
        int j = rnd[i] % (i + 1);
        cJSON *t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "responses");
    for (int i = 0; i < n; i++) {
        cJSON_AddItemToArray(arr, items[i]);
    }
    cJSON_Delete(b);
    fg_resp__json(resp, 200, out);
    return FG_DONE;
}

int fg_graph__route(struct fg_sim *sim, struct fg_req *r, struct fg_resp *resp,
                    const char *sub_path)
{
    if (strcmp(sub_path, "/$batch") == 0) {
        if (strcmp(r->method, "POST") != 0) {
            fg_resp__graph_error(resp, 405, "MethodNotAllowed", "Method not allowed.");
            return FG_DONE;
        }
        return fg_graph__batch(sim, r, resp);
    }
    return fg_graph__dispatch(sim, r, resp, sub_path);
}
