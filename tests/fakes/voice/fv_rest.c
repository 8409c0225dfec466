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

const char *rest__host(const struct fake_voice *fv)
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
    /* the API over TLS when there is a TLS listener and the endpoints are
     * the real (scheme-less) kind */
    bool tls = fv->tls_srv && fv->sim.set.endpoint_scheme == SIM_SCHEME_NONE;
    snprintf(url, sizeof(url), "%s://%s:%d/api%s", tls ? "https" : "http", rest__host(fv),
             http_server__port(tls ? fv->tls_srv : fv->srv),
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

void rest__hub_endpoint(const struct fake_voice *fv, char *out, size_t len)
{
    if (fv->sim.set.endpoint_scheme == SIM_SCHEME_HTTP)
        snprintf(out, len, "http://%s:%d%s", rest__host(fv), http_server__port(fv->srv), HUB_PATH);
    else /* as Enreach answers: host/path, clients prefix https:// */
        snprintf(out, len, "%s:%d%s", rest__host(fv),
                 http_server__port(fv->tls_srv ? fv->tls_srv : fv->srv), HUB_PATH);
}

static cJSON *user_json(const struct sim *s, const struct sim_user *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Id", u->id);
    cJSON_AddStringToObject(o, "UserName", u->username);
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
    char ep[200];
    rest__hub_endpoint(fv, ep, sizeof(ep));
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

/* POST /users/{id}/availability {"EventTypeID","EventSource","Note","UserID"}
 * (public client code): creates an entry, answers it with its Id. */
static void rest__availability_add(struct fv_req *r, struct sim_user *u)
{
    cJSON *root = cJSON_Parse(r->body);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "EventTypeID");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(root, "EventSource");
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(root, "Note");
    if (!cJSON_IsObject(root) || !cJSON_IsNumber(type) || (src && !cJSON_IsString(src)) ||
        (note && !cJSON_IsString(note))) {
        cJSON_Delete(root);
        req__error(r, 400,
                   "body must be {\"EventTypeID\": n, \"EventSource\", \"Note\", "
                   "\"UserID\"}");
        return;
    }
    struct sim_avail *a =
        sim__avail_add(&r->fv->sim, u->id, type->valueint, src ? src->valuestring : "",
                       note ? note->valuestring : "", clock__wall_ms());
    cJSON_Delete(root);
    if (!a) {
        req__error(r, 500, "out of memory");
        return;
    }
    LOG_INFO("fake-voice", "availability created user=%s id=%s type=%d source=%s", u->email, a->id,
             a->event_type_id, a->source);
    req__answer(r, 200, sim__avail_json(a), NULL);
}

/* /users/{id}/availability[/current|/{availabilityId}] */
static void rest__availability(struct fv_req *r, char **seg, int n)
{
    struct sim_user *u = sim__user_by_id(&r->fv->sim, seg[1]);
    if (!u) {
        req__error(r, 404, "no such user");
        return;
    }
    if (n == 3 && !strcmp(r->method, "POST")) {
        rest__availability_add(r, u);
        return;
    }
    if (n == 4 && !strcmp(seg[3], "current") && !strcmp(r->method, "GET")) {
        const struct sim_avail *a = sim__avail_current(&r->fv->sim, u->id);
        if (!a)
            req__error(r, 404, "no availability");
        else
            req__answer(r, 200, sim__avail_json(a), NULL);
        return;
    }
    if (n == 4 && !strcmp(r->method, "DELETE")) {
        if (sim__avail_remove(&r->fv->sim, u->id, seg[3]) != 0) {
            req__error(r, 404, "no such availability");
            return;
        }
        LOG_INFO("fake-voice", "availability deleted user=%s id=%s", u->email, seg[3]);
        req__answer(r, 204, NULL, NULL);
        return;
    }
    req__error(r, 405, "method not allowed");
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
    if ((n == 3 || n == 4) && !strcmp(seg[0], "users") && !strcasecmp(seg[2], "availability")) {
        if (!strcmp(seg[1], "me"))
            seg[1] = fv->sim.account_id;
        rest__availability(r, seg, n);
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
