/* Discovery and the Voice REST API (/api/...). */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"
#include "fv_internal.h"

static const char *listen_host(const struct fake_voice *fv)
{
    /* In containers the daemon reaches us by service name (--advertise-host). */
    if (fv->advertise[0])
        return fv->advertise;
    /* A wildcard listener is still reached over loopback by the tests. */
    if (!strcmp(fv->host, "0.0.0.0") || !strcmp(fv->host, "::"))
        return "127.0.0.1";
    return fv->host;
}

static void rest__discovery(struct fv_req *r)
{
    if (!r->user_q[0]) {
        req__error(r, 400, "query parameter 'user' is required");
        return;
    }
    struct fake_voice *fv = r->fv;
    char url[160];
    snprintf(url, sizeof(url), "http://%s:%d/api%s", listen_host(fv), http_server__port(fv->srv),
             fv->sim.set.discovery_slash ? "/" : "");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiEndpoint", url);
    if (fv->sim.set.discovery_object) {
        req__answer(r, 200, print_free(o), NULL);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, o);
    req__answer(r, 200, print_free(arr), NULL);
}

static cJSON *user_json(const struct sim *s, const struct sim_user *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Id", u->id);
    cJSON_AddStringToObject(o, "UserName", u->email);
    cJSON_AddStringToObject(o, "Email", u->email);
    cJSON_AddStringToObject(o, "OrganizationID", s->org_id);
    return o;
}

static void rest__token(struct fv_req *r, const char *user_id)
{
    struct fake_voice *fv = r->fv;
    struct sim_user *u = sim__user_by_id(&fv->sim, user_id);
    if (!u) {
        req__error(r, 404, "no such user");
        return;
    }
    if (strcasecmp(u->id, fv->sim.account_id) != 0) {
        req__error(r, 403, "a token can only be issued for the authenticated user");
        return;
    }
    int64_t now = clock__wall_ms() / 1000;
    char *tok =
        fv_jwt__sign(fv->key, sizeof(fv->key), u->id, now, now + fv->sim.set.token_lifetime_s);
    if (!tok) {
        req__error(r, 500, "token signing failed");
        return;
    }
    char ep[160];
    snprintf(ep, sizeof(ep), "http://%s:%d%s", listen_host(fv), http_server__port(fv->srv),
             HUB_PATH);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Token", tok);
    cJSON_AddStringToObject(o, "WSSEndpoint", ep);
    free(tok);
    req__answer(r, 200, print_free(o), NULL);
}

static void rest__external_call_state(struct fv_req *r, const char *user_id)
{
    struct fake_voice *fv = r->fv;
    struct sim_user *u = sim__user_by_id(&fv->sim, user_id);
    if (!u) {
        req__error(r, 404, "no such user");
        return;
    }
    cJSON *root = cJSON_Parse(r->body);
    const cJSON *in_call = cJSON_GetObjectItemCaseSensitive(root, "InCall");
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(root, "Source");
    if (!cJSON_IsObject(root) || !cJSON_IsBool(in_call) || (source && !cJSON_IsString(source))) {
        cJSON_Delete(root);
        req__error(r, 400, "body must be {\"InCall\": true|false, \"Source\": \"...\"}");
        return;
    }
    bool talking = cJSON_IsTrue(in_call);
    cJSON_Delete(root);
    int changed = sim__set_talking(&fv->sim, u, talking, clock__wall_ms());
    LOG_INFO("fake-voice", "external call state user=%s talking=%s changed=%d", u->email,
             talking ? "true" : "false", changed);
    req__answer(r, 204, NULL, NULL);
}

/* Splits "a/b/c/" into at most max segments; returns the count, or -1 for
 * more segments than max. Empty segments (double or trailing '/') drop. */
static int path_split(char *p, char **seg, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(p, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return -1;
        seg[n++] = t;
    }
    return n;
}

void rest__dispatch(struct fv_req *r)
{
    struct fake_voice *fv = r->fv;
    if (r->kind == RK_NEGOTIATE) {
        hub__negotiate(r);
        return;
    }
    const char *p = r->path + strlen("/api");
    if (!strcmp(p, "/user") || !strcmp(p, "/user/")) {
        if (strcmp(r->method, "GET") != 0) {
            req__error(r, 405, "method not allowed");
            return;
        }
        rest__discovery(r);
        return;
    }
    if (fv->sim.set.reject_auth || !sim__auth_ok(&fv->sim, r->auth)) {
        req__answer(r, 401, json_error("Authorization has been denied for this request."),
                    "WWW-Authenticate: Basic realm=\"fake-voice\"\r\n");
        return;
    }
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", p);
    char *seg[6];
    int n = path_split(buf, seg, 6);
    bool get = !strcmp(r->method, "GET");
    if (n == 1 && !strcmp(seg[0], "users")) {
        if (!get)
            goto not_allowed;
        req__answer(r, 200, sim__users_api_json(&fv->sim), NULL);
        return;
    }
    if (n == 2 && !strcmp(seg[0], "users")) {
        if (!get)
            goto not_allowed;
        const char *id = !strcmp(seg[1], "me") ? fv->sim.account_id : seg[1];
        struct sim_user *u = sim__user_by_id(&fv->sim, id);
        if (!u) {
            req__error(r, 404, "no such user");
            return;
        }
        req__answer(r, 200, print_free(user_json(&fv->sim, u)), NULL);
        return;
    }
    if (n == 3 && !strcmp(seg[0], "users") && !strcasecmp(seg[2], "externalcallstate")) {
        if (strcmp(r->method, "PUT") != 0)
            goto not_allowed;
        rest__external_call_state(r, seg[1]);
        return;
    }
    if (n == 3 && !strcmp(seg[0], "token") && !strcmp(seg[2], "rte")) {
        if (!get)
            goto not_allowed;
        rest__token(r, seg[1]);
        return;
    }
    req__error(r, 404, "not found");
    return;
not_allowed:
    req__error(r, 405, "method not allowed");
}
