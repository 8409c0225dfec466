/* The control API (/_sim/...): users, calls, settings, faults, webhook,
 * connection drops, request log, reset. */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "fv_internal.h"

static cJSON *body_object(struct fv_req *r)
{
    cJSON *root = cJSON_Parse(r->body);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        req__error(r, 400, "body must be a JSON object");
        return NULL;
    }
    return root;
}

static const char *str_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static struct sim_user *user_from(struct fake_voice *fv, const cJSON *o)
{
    const char *email = str_field(o, "email");
    const char *id = str_field(o, "user_id");
    return email ? sim__user_by_email(&fv->sim, email) : sim__user_by_id(&fv->sim, id);
}

static void ctl__ok(struct fv_req *r, int status, cJSON *o)
{
    req__answer(r, status, print_free(o), NULL);
}

static void ctl__users_add(struct fv_req *r, cJSON *b)
{
    bool conflict = false;
    struct sim_user *u =
        sim__user_add(&r->fv->sim, str_field(b, "email"), str_field(b, "id"), &conflict);
    if (!u) {
        req__error(r, conflict ? 409 : 400,
                   conflict ? "e-mail or id already exists" : "need a valid 'email'");
        return;
    }
    /* a login that differs from the e-mail address (UserName vs Email) */
    const char *login = str_field(b, "username");
    if (login && login[0])
        snprintf(u->username, sizeof(u->username), "%s", login);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", u->id);
    cJSON_AddStringToObject(o, "email", u->email);
    cJSON_AddStringToObject(o, "username", u->username);
    ctl__ok(r, 201, o);
}

static void ctl__call_start(struct fv_req *r, cJSON *b)
{
    struct fake_voice *fv = r->fv;
    struct sim_user *u = user_from(fv, b);
    const char *dir_s = str_field(b, "direction");
    int dir = !dir_s || !strcmp(dir_s, "inbound") ? SIM_INBOUND
              : !strcmp(dir_s, "outbound")        ? SIM_OUTBOUND
                                                  : -1;
    if (!u) {
        req__error(r, 404, "no such user (give 'email' or 'user_id')");
        return;
    }
    if (dir < 0) {
        req__error(r, 400, "direction must be inbound or outbound");
        return;
    }
    struct sim_call *c = sim__call_start(&fv->sim, u, str_field(b, "terminal"), dir,
                                         str_field(b, "call_id"), clock__wall_ms());
    if (!c) {
        req__error(r, 409, "call_id already in use or invalid");
        return;
    }
    struct sim_call copy = *c;
    events__emit(fv, dir == SIM_OUTBOUND ? VE_CALL_OUT_CONNECTED : VE_CALL_IN_CONNECTED,
                 copy.user_id, copy.call_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "call_id", copy.call_id);
    cJSON_AddStringToObject(o, "user_id", copy.user_id);
    cJSON_AddStringToObject(o, "terminal", copy.terminal);
    ctl__ok(r, 201, o);
}

static void call__end(struct fake_voice *fv, const char *call_id, cJSON *ended)
{
    struct sim_call c;
    if (sim__call_end(&fv->sim, call_id, &c) != 0)
        return;
    events__emit(fv, c.dir == SIM_OUTBOUND ? VE_CALL_OUT_DISCONNECTED : VE_CALL_IN_DISCONNECTED,
                 c.user_id, c.call_id);
    cJSON_AddItemToArray(ended, cJSON_CreateString(c.call_id));
}

/* Ends one call by call_id, or every call of a user (optionally only on
 * one terminal). */
static void ctl__call_end(struct fv_req *r, cJSON *b)
{
    struct fake_voice *fv = r->fv;
    const char *call_id = str_field(b, "call_id");
    const char *terminal = str_field(b, "terminal");
    cJSON *ended = cJSON_CreateArray();
    if (call_id) {
        call__end(fv, call_id, ended);
    }
    else {
        struct sim_user *u = user_from(fv, b);
        if (!u) {
            cJSON_Delete(ended);
            req__error(r, 404, "give 'call_id', or a known 'email'/'user_id'");
            return;
        }
        char uid[SIM_ID_LEN];
        snprintf(uid, sizeof(uid), "%s", u->id);
        for (size_t i = fv->sim.n_calls; i > 0; i--) {
            struct sim_call *c = &fv->sim.calls[i - 1];
            if (strcasecmp(c->user_id, uid) != 0 || (terminal && strcmp(c->terminal, terminal)))
                continue;
            char cid[SIM_ID_LEN];
            snprintf(cid, sizeof(cid), "%s", c->call_id);
            call__end(fv, cid, ended);
        }
    }
    if (cJSON_GetArraySize(ended) == 0) {
        cJSON_Delete(ended);
        req__error(r, 404, "no matching call");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "ended", ended);
    ctl__ok(r, 200, o);
}

static void ctl__faults_add(struct fv_req *r, cJSON *b)
{
    struct sim_fault f = {.retry_after = -1, .remaining = 1};
    const cJSON *v;
    snprintf(f.method, sizeof(f.method), "%s",
             str_field(b, "method") ? str_field(b, "method") : "");
    const char *path = str_field(b, "path");
    if (!path || path[0] != '/' || strlen(path) >= sizeof(f.path)) {
        req__error(r, 400, "'path' must be a path prefix starting with /");
        return;
    }
    snprintf(f.path, sizeof(f.path), "%s", path);
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "status")))
        f.status = cJSON_IsNumber(v) ? v->valueint : -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "retry_after")))
        f.retry_after = cJSON_IsNumber(v) ? v->valueint : -2;
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "delay_ms")))
        f.delay_ms = cJSON_IsNumber(v) ? v->valueint : -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "count")))
        f.remaining = cJSON_IsNumber(v) ? v->valueint : -1;
    if ((f.status && (f.status < 100 || f.status > 599)) || f.retry_after < -1 || f.delay_ms < 0 ||
        f.delay_ms > 600000 || f.remaining < 1 || (!f.status && !f.delay_ms)) {
        req__error(r, 400,
                   "need status (100-599) and/or delay_ms (0-600000); count >= 1; "
                   "retry_after >= 0");
        return;
    }
    if (sim__fault_add(&r->fv->sim, &f) != 0) {
        req__error(r, 500, "out of memory");
        return;
    }
    ctl__ok(r, 201, cJSON_CreateObject());
}

static void ctl__webhook(struct fv_req *r, cJSON *b)
{
    struct sim *s = &r->fv->sim;
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(b, "url");
    const char *secret = str_field(b, "secret");
    if (!cJSON_IsNull(url) &&
        (!cJSON_IsString(url) || (strncmp(url->valuestring, "http://", 7) != 0 &&
                                  strncmp(url->valuestring, "https://", 8) != 0))) {
        req__error(r, 400, "'url' must be an http(s) URL or null");
        return;
    }
    free(s->webhook_url);
    free(s->webhook_secret);
    s->webhook_url = cJSON_IsString(url) ? strdup(url->valuestring) : NULL;
    s->webhook_secret = secret ? strdup(secret) : NULL;
    ctl__ok(r, 200, cJSON_CreateObject());
}

/* An availability entry the user makes in the Voice app (the daemon must
 * never delete it): {"email"or"user_id", "event_type_id"?=3, "source"?, "note"?}. */
static void ctl__availability(struct fv_req *r, cJSON *b)
{
    struct sim_user *u = user_from(r->fv, b);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "event_type_id");
    if (!u || (type && !cJSON_IsNumber(type))) {
        req__error(r, u ? 400 : 404, u ? "event_type_id must be a number" : "no such user");
        return;
    }
    const char *src = str_field(b, "source");
    struct sim_avail *a =
        sim__avail_add(&r->fv->sim, u->id, type ? type->valueint : 3, src ? src : "Voice app",
                       str_field(b, "note"), clock__wall_ms());
    if (!a) {
        req__error(r, 500, "out of memory");
        return;
    }
    char *js = sim__avail_json(a);
    req__answer(r, 201, js, NULL);
}

/* {"status": 401|404|409|..., "count"?=1}: the next upgrades are refused. */
static void ctl__hub_refuse(struct fv_req *r, cJSON *b)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(b, "status");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "count");
    if (!cJSON_IsNumber(st) || st->valueint < 400 || st->valueint > 599 ||
        (n && (!cJSON_IsNumber(n) || n->valueint < 0))) {
        req__error(r, 400, "need status (400-599) and count >= 0");
        return;
    }
    atomic_store(&r->fv->refuse_status, st->valueint);
    atomic_store(&r->fv->refuse_count, n ? n->valueint : 1);
    ctl__ok(r, 200, cJSON_CreateObject());
}

static void sim_api__post(struct fv_req *r, const char *p)
{
    struct fake_voice *fv = r->fv;
    if (!strcmp(p, "reset")) {
        sim__reset(&fv->sim);
        hub__close_all(fv, NULL, false, false);
        negotiation__clear(fv);
        atomic_store(&fv->refuse_count, 0);
        ctl__ok(r, 200, cJSON_CreateObject());
        return;
    }
    if (!strcmp(p, "ws/drop")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "dropped", hub__close_all(fv, NULL, false, false));
        ctl__ok(r, 200, o);
        return;
    }
    cJSON *b = body_object(r);
    if (!b)
        return;
    if (!strcmp(p, "users")) {
        ctl__users_add(r, b);
    }
    else if (!strcmp(p, "calls/start")) {
        ctl__call_start(r, b);
    }
    else if (!strcmp(p, "calls/end")) {
        ctl__call_end(r, b);
    }
    else if (!strcmp(p, "faults")) {
        ctl__faults_add(r, b);
    }
    else if (!strcmp(p, "webhook")) {
        ctl__webhook(r, b);
    }
    else if (!strcmp(p, "availability")) {
        ctl__availability(r, b);
    }
    else if (!strcmp(p, "hub/refuse")) {
        ctl__hub_refuse(r, b);
    }
    else if (!strcmp(p, "account")) {
        if (sim__set_account(&fv->sim, str_field(b, "username") ? str_field(b, "username") : "",
                             str_field(b, "secret_key")) != 0) {
            req__error(r, 400, "need a valid 'username' (e-mail) and a non-empty 'secret_key'");
        }
        else {
            log__redact(fv->sim.account_secret);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", fv->sim.account_id);
            ctl__ok(r, 200, o);
        }
    }
    else if (!strcmp(p, "settings")) {
        char err[160];
        char *body = r->body;
        if (sim__settings_apply(&fv->sim.set, body, err, sizeof(err)) != 0)
            req__error(r, 400, err);
        else
            req__answer(r, 200, sim__settings_json(&fv->sim.set), NULL);
    }
    else if (!strcmp(p, "hub/close")) {
        const cJSON *allow = cJSON_GetObjectItemCaseSensitive(b, "allow_reconnect");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(
            o, "closed", hub__close_all(fv, str_field(b, "error"), !cJSON_IsFalse(allow), true));
        ctl__ok(r, 200, o);
    }
    else {
        req__error(r, 404, "unknown control endpoint");
    }
    cJSON_Delete(b);
}

void sim_api__dispatch(struct fv_req *r)
{
    struct fake_voice *fv = r->fv;
    const char *p = r->path + strlen("/_sim/");
    if (!strcmp(r->method, "POST")) {
        sim_api__post(r, p);
        return;
    }
    if (!strcmp(r->method, "GET")) {
        if (!strcmp(p, "state"))
            req__answer(r, 200, sim__state_json(&fv->sim), NULL);
        else if (!strcmp(p, "requests"))
            req__answer(r, 200, sim__requests_json(&fv->sim), NULL);
        else if (!strcmp(p, "settings"))
            req__answer(r, 200, sim__settings_json(&fv->sim.set), NULL);
        else if (!strcmp(p, "hub"))
            req__answer(r, 200, print_free(hub__json(fv)), NULL);
        else
            req__error(r, 404, "unknown control endpoint");
        return;
    }
    if (!strcmp(r->method, "DELETE")) {
        if (!strcmp(p, "requests")) {
            for (size_t i = 0; i < fv->sim.n_reqs; i++) {
                free(fv->sim.reqs[i].path);
                free(fv->sim.reqs[i].query);
                free(fv->sim.reqs[i].body);
            }
            fv->sim.n_reqs = 0;
            ctl__ok(r, 200, cJSON_CreateObject());
        }
        else if (!strcmp(p, "faults")) {
            free(fv->sim.faults);
            fv->sim.faults = NULL;
            fv->sim.n_faults = 0;
            ctl__ok(r, 200, cJSON_CreateObject());
        }
        else {
            req__error(r, 404, "unknown control endpoint");
        }
        return;
    }
    req__error(r, 405, "method not allowed");
}
