/* The Voice side in process, for component tests: voice_env.h. */
#include "voice_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "canned_http.h"
#include "log_capture.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/http_server.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/status.h"
#include "fake_bus.h"
#include "fake_rte.h"
#include "voice/voice_side.h"

#define VE_WAIT_MS 10000 /* real time for REST replies over the sockets */
/* The RTE token of the canned API: exp 2026-12-07T00:33:20Z, an hour after
 * the fake wall clock's start. */
#define VE_JWT                                                                  \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtZS0xIiwiZXhwIjoxNzk2NjAz" \
    "NjAwfQ.c2ln"
#define VE_USERS                                                                      \
    "[{\"Id\":\"u-alice\",\"UserName\":\"alice@contoso.com\"},"                       \
    "{\"Id\":\"u-bob\",\"UserName\":\"bob@contoso.com\"},"                            \
    "{\"Id\":\"u-carol\",\"UserName\":\"carol@contoso.com\"},"                        \
    "{\"Id\":\"u-dave\",\"UserName\":\"dave.login\",\"Email\":\"dave@contoso.com\"}," \
    "{\"Id\":\"" VE_ME "\",\"UserName\":\"svc@contoso.com\"}]"

static void ve__rule(struct voice_env *ve, const char *method, const char *path, int status,
                     const char *body)
{
    canned_http__add(ve->http, &(struct canned_rule){
                                   .method = method, .path = path, .status = status, .body = body});
}

#define VE_ME_BODY "{\"Id\":\"" VE_ME "\"}"

/* The API's default answers. */
static void ve__rules(struct voice_env *ve)
{
    char body[512];
    const char *url = canned_http__url(ve->http);
    snprintf(body, sizeof(body), "[{\"apiEndpoint\":\"%s\"}]", ve->api);
    ve__rule(ve, "GET", "/discovery/api/user?user=", 200, body);
    /* before /api/users, which is a prefix of it */
    ve__rule(ve, "GET", "/api/users/me", 200, VE_ME_BODY);
    ve__rule(ve, "GET", "/api/users", 200, VE_USERS);
    snprintf(body, sizeof(body), "{\"Token\":\"%s\",\"WSSEndpoint\":\"%s/hub\"}", VE_JWT, url);
    ve__rule(ve, "GET", "/api/token/" VE_ME "/rte/", 200, body);
    ve__rule(ve, "POST", "/hub/negotiate", 200,
             "{\"negotiateVersion\":1,\"connectionId\":\"c-1\",\"connectionToken\":\"ct-1\","
             "\"availableTransports\":[{\"transport\":\"WebSockets\",\"transferFormats\":"
             "[\"Text\"]}]}");
}

/* The daemon's config for options o and the configured users (a JSON
 * array; NULL: alice and bob), into cfg. */
static void ve__config(const struct voice_env *ve, const char *users, char *cfg, size_t len)
{
    const struct voice_env_options *o = &ve->opt;
    char where[160];
    if (o->discovery)
        snprintf(where, sizeof(where), "\"discovery_url\":\"%s/discovery\"",
                 canned_http__url(ve->http));
    else
        snprintf(where, sizeof(where), "\"api_url\":\"%s\"", ve->api);
    snprintf(cfg, len,
             "{\"instance\":\"ps-v\",\"mqtt\":{\"bridge_topic\":\"psv\"},"
             "\"http\":{\"public_url\":\"https://x.example\"},\"mapper\":{\"enabled\":%s},"
             "\"tenants\":[{\"name\":\"contoso\",\"users\":%s,"
             "\"graph\":{\"tenant_id\":\"11111111-2222-3333-4444-555555555555\","
             "\"client_id\":\"66666666-7777-8888-9999-000000000000\","
             "\"client_secret_env\":\"PS_CT_SECRET\",\"login_url\":\"http://127.0.0.1:1\","
             "\"api_url\":\"http://127.0.0.1:1/v1.0\",\"service_accounts\":[{\"username\":"
             "\"svc@contoso.com\",\"password_env\":\"PS_CT_SECRET\"}]},"
             "\"voice\":{%s,\"username\":\"svc@contoso.com\","
             "\"secret_key_env\":\"PS_CT_VOICE_KEY\"%s%s}}]}",
             o->mapper ? "true" : "false",
             users ? users : "[\"alice@contoso.com\",\"bob@contoso.com\"]", where,
             o->webhook ? ",\"webhook_secret_env\":\"PS_CT_HOOK\"" : "",
             o->voice_more ? o->voice_more : "");
}

int voice_env__init(struct voice_env *ve, const struct voice_env_options *o)
{
    static const struct voice_env_options none;
    char cfg[4096];
    memset(ve, 0, sizeof(*ve));
    ve->opt = o ? *o : none;
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    setenv("PS_CT_VOICE_KEY", VE_KEY, 1);
    setenv("PS_CT_HOOK", VE_HOOK, 1);
    if (!(ve->http = canned_http__start()))
        return -1;
    snprintf(ve->api, sizeof(ve->api), "%s/api", canned_http__url(ve->http));
    ve__rules(ve);
    ve__config(ve, ve->opt.users, cfg, sizeof(cfg));
    unsigned roles = CONFIG_ROLE_VOICE | (ve->opt.mapper ? CONFIG_ROLE_MAPPER : 0);
    if (comp_env__init(&ve->ce, cfg, roles) != 0)
        return -1;
    clock__fake_start(1000000, 1796600000000);
    if (!(ve->client = http_client__new(ve->ce.loop)))
        return -1;
    ve->ce.env.http_client = ve->client;
    ve->ce.env.services = &ve->services;
    if (!ve->opt.webhook)
        return voice_component.init(&ve->ce.env, &ve->voice);
    struct http_server_options so = {.host = "127.0.0.1", .max_body_bytes = 1 << 16};
    if (!(ve->server = http_server__new(&so)))
        return -1;
    ve->ce.env.http = ve->server;
    if (voice_component.init(&ve->ce.env, &ve->voice) != 0)
        return -1;
    return http_server__start(ve->server);
}

struct voice_env *voice_env__new(const struct voice_env_options *o, bool start)
{
    struct voice_env *ve = calloc(1, sizeof(*ve));
    if (!ve || log_capture__start() != 0) {
        free(ve);
        return NULL;
    }
    if (voice_env__init(ve, o) != 0 || (start && voice_env__start(ve) != 0)) {
        voice_env__free(ve);
        free(ve);
        return NULL;
    }
    return ve;
}

int voice_env__reload(struct voice_env *ve, const char *users)
{
    char cfg[4096];
    struct config *neu;
    struct config_error err;
    memset(&err, 0, sizeof(err));
    ve__config(ve, users, cfg, sizeof(cfg));
    if (config__parse(cfg, ".", &neu, &err) != 0) {
        fprintf(stderr, "voice_env: reload config: %s: %s\n", err.path, err.msg);
        return -1;
    }
    /* as the daemon's SIGHUP: the running config stays (the component
     * keeps it), the tenant's user list is swapped in */
    struct tenant_config *cur = &ve->ce.cfg->tenants[0], *n = &neu->tenants[0];
    char **u = cur->users;
    size_t nu = cur->n_users;
    cur->users = n->users;
    cur->n_users = n->n_users;
    n->users = u;
    n->n_users = nu;
    config__free(neu);
    voice_component.reload(ve->voice);
    comp_env__settle(&ve->ce);
    return 0;
}

int voice_env__start(struct voice_env *ve)
{
    int rc = voice_component.start(ve->voice);
    comp_env__settle(&ve->ce);
    return rc;
}

void voice_env__free(struct voice_env *ve)
{
    if (ve->voice)
        voice_component.stop(ve->voice);
    http_client__free(ve->client); /* completions still out run on the loop */
    if (ve->ce.loop)
        comp_env__settle(&ve->ce);
    if (ve->server)
        http_server__stop(ve->server); /* no webhook hands work over after this */
    if (ve->voice)
        voice_component.free(ve->voice);
    if (ve->server)
        http_server__free(ve->server);
    comp_env__free(&ve->ce);
    canned_http__stop(ve->http);
    clock__fake_stop();
    status__reset();
    health__reset();
    metrics__reset();
    memset(ve, 0, sizeof(*ve));
}

/* ---- the REST side -------------------------------------------------------- */

void voice_env__users(struct voice_env *ve, const char *json)
{
    canned_http__prepend(
        ve->http,
        &(struct canned_rule){.method = "GET", .path = "/api/users", .status = 200, .body = json});
    /* /api/users is a prefix of /api/users/me: that one first again */
    canned_http__prepend(
        ve->http, &(struct canned_rule){
                      .method = "GET", .path = "/api/users/me", .status = 200, .body = VE_ME_BODY});
}

void voice_env__fault(struct voice_env *ve, const char *method, const char *path, int status,
                      const char *body, int times)
{
    canned_http__prepend(
        ve->http,
        &(struct canned_rule){
            .method = method, .path = path, .status = status, .body = body, .times = times});
}

size_t voice_env__requests(struct voice_env *ve, const char *method, const char *path)
{
    return canned_http__count(ve->http, method, path);
}

/* ---- the webhook ---------------------------------------------------------- */

struct ve_buf {
    char *p;
    size_t len, used;
};

static size_t ve__sink(char *data, size_t size, size_t n, void *ctx)
{
    struct ve_buf *b = ctx;
    size_t k = size * n;
    size_t room = b->used + 1 < b->len ? b->len - b->used - 1 : 0;
    size_t c = k < room ? k : room;
    memcpy(b->p + b->used, data, c);
    b->used += c;
    b->p[b->used] = '\0';
    return k;
}

long voice_env__webhook(struct voice_env *ve, const char *method, const char *tenant,
                        const char *token, const char *body, char *out, size_t len)
{
    char url[160], tok[256];
    long status = 0;
    struct ve_buf ob = {out, len, 0}, hb = {ve->hook_headers, sizeof(ve->hook_headers), 0};
    out[0] = ve->hook_headers[0] = '\0';
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/voice/events/%s", http_server__port(ve->server),
             tenant);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        snprintf(tok, sizeof(tok), "X-Benemen-Token: %s", token);
        h = curl_slist_append(h, tok);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ve__sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ob);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ve__sink);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* ---- the hub's side ------------------------------------------------------- */

struct rte_link *voice_env__link(void)
{
    return fake_rte__last();
}

struct ve_open {
    unsigned not_gen;
};

static bool ve__opened(void *ctx)
{
    unsigned gen = fake_rte__gen(fake_rte__last());
    return gen && gen != ((struct ve_open *)ctx)->not_gen;
}

bool voice_env__wait_open(struct voice_env *ve, unsigned not_gen)
{
    struct ve_open w = {not_gen};
    return comp_env__wait(&ve->ce, ve__opened, &w, VE_WAIT_MS);
}

/* Sends one record (json and the separator) from the hub. */
static void ve__send(struct voice_env *ve, const char *json)
{
    fake_rte__record(fake_rte__last(), json);
    comp_env__settle(&ve->ce);
}

void voice_env__handshake(struct voice_env *ve)
{
    struct rte_link *l = fake_rte__last();
    fake_rte__accept(l);
    comp_env__settle(&ve->ce);
    const char *hs = fake_rte__sent(l, 0);
    if (!hs || strcmp(hs, "{\"protocol\":\"json\",\"version\":1}\x1e") != 0) {
        fprintf(stderr, "voice_env: unexpected handshake: %s\n", hs ? hs : "(none)");
        return;
    }
    ve__send(ve, "{}");
}

/* The n-th sent record of the current connection as JSON (NULL: none). */
static cJSON *ve__sent_json(size_t n)
{
    const char *s = fake_rte__sent(fake_rte__last(), n);
    size_t len = s ? strlen(s) : 0;
    if (len && s[len - 1] == 0x1E)
        len--;
    return s ? cJSON_ParseWithLength(s, len) : NULL;
}

/* Calls fn on each invocation of target sent on this connection, in order,
 * until it returns false. */
static void ve__each(const char *target, bool (*fn)(const cJSON *rec, void *ctx), void *ctx)
{
    size_t n = fake_rte__sent_count(fake_rte__last());
    for (size_t i = 0; i < n; i++) {
        cJSON *rec = ve__sent_json(i);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "target");
        bool go = true;
        if (cJSON_IsString(t) && strcmp(t->valuestring, target) == 0)
            go = fn(rec, ctx);
        cJSON_Delete(rec);
        if (!go)
            return;
    }
}

struct ve_find {
    size_t want, seen;
    char *id;
    size_t len;
    bool found;
    size_t entries;
};

static bool ve__find(const cJSON *rec, void *ctx)
{
    struct ve_find *f = ctx;
    if (f->seen++ != f->want)
        return true;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "invocationId");
    if (cJSON_IsString(id)) {
        snprintf(f->id, f->len, "%s", id->valuestring);
        f->found = true;
    }
    return false;
}

bool voice_env__invocation(const char *target, size_t n, char *id, size_t len)
{
    struct ve_find f = {.want = n, .id = id, .len = len};
    ve__each(target, ve__find, &f);
    return f.found;
}

static bool ve__count(const cJSON *rec, void *ctx)
{
    struct ve_find *f = ctx;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(rec, "arguments");
    f->seen++;
    f->entries += (size_t)cJSON_GetArraySize(cJSON_GetArrayItem(args, 0));
    return true;
}

size_t voice_env__invocations(const char *target)
{
    struct ve_find f = {0};
    ve__each(target, ve__count, &f);
    return f.seen;
}

size_t voice_env__subscribed(void)
{
    struct ve_find f = {0};
    ve__each("Subscribe", ve__count, &f);
    return f.entries;
}

size_t voice_env__pings(void)
{
    struct rte_link *l = fake_rte__last();
    size_t n = 0;
    for (size_t i = 0; i < fake_rte__sent_count(l); i++)
        n += strcmp(fake_rte__sent(l, i), "{\"type\":6}\x1e") == 0;
    return n;
}

void voice_env__complete(struct voice_env *ve, const char *id, const char *result,
                         const char *error)
{
    char rec[4096];
    if (error)
        snprintf(rec, sizeof(rec), "{\"type\":3,\"invocationId\":\"%s\",\"error\":\"%s\"}", id,
                 error);
    else if (result)
        snprintf(rec, sizeof(rec), "{\"type\":3,\"invocationId\":\"%s\",\"result\":%s}", id,
                 result);
    else
        snprintf(rec, sizeof(rec), "{\"type\":3,\"invocationId\":\"%s\"}", id);
    ve__send(ve, rec);
}

void voice_env__answer_available(struct voice_env *ve, const char *result, const char *error)
{
    char id[32];
    size_t n = voice_env__invocations("AvailableSubscriptions");
    if (n && voice_env__invocation("AvailableSubscriptions", n - 1, id, sizeof(id)))
        voice_env__complete(ve, id, result, error);
}

size_t voice_env__answer_subscribes(struct voice_env *ve, const char *result, const char *error)
{
    unsigned gen = fake_rte__gen(fake_rte__last());
    if (gen != ve->sub_gen) {
        ve->sub_gen = gen;
        ve->sub_done = 0;
    }
    size_t n = voice_env__invocations("Subscribe"), done = 0;
    char id[32];
    for (; ve->sub_done < n; ve->sub_done++, done++)
        if (voice_env__invocation("Subscribe", ve->sub_done, id, sizeof(id)))
            voice_env__complete(ve, id, result, error);
    return done;
}

static bool ve__link_is(const char *state)
{
    char buf[32];
    return strcmp(voice_env__health_str("link", buf, sizeof(buf)), state) == 0;
}

static bool ve__link_moved(void *ctx)
{
    return !ve__link_is(ctx);
}

/* The link states in which a REST request is out (tenant.c's chain). */
static bool ve__rest_step(const char *state)
{
    static const char *const steps[] = {"discovering", "authenticating", "loading_users", "token",
                                        "negotiating"};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (strcmp(state, steps[i]) == 0)
            return true;
    return false;
}

bool voice_env__until_link(struct voice_env *ve, const char *state, int64_t ms)
{
    int64_t end = clock__mono_ms() + ms;
    char cur[32];
    comp_env__settle(&ve->ce);
    while (!ve__link_is(state)) {
        voice_env__health_str("link", cur, sizeof(cur));
        if (ve__rest_step(cur)) {
            if (!comp_env__wait(&ve->ce, ve__link_moved, cur, VE_WAIT_MS))
                return false;
            continue;
        }
        int64_t now = clock__mono_ms(), due = loop__next_due(ve->ce.loop);
        if (now >= end)
            return false;
        int64_t step = (due < end ? due : end) - now;
        comp_env__advance(&ve->ce, step > 0 ? step : 1);
    }
    return true;
}

bool voice_env__go_live(struct voice_env *ve)
{
    if (!voice_env__wait_open(ve, 0))
        return false;
    voice_env__handshake(ve);
    voice_env__answer_available(ve, VE_EVENTS, NULL);
    voice_env__answer_subscribes(ve, NULL, NULL);
    return voice_env__health_is("link", "\"live\"");
}

void voice_env__event(struct voice_env *ve, const char *event_type, const char *user_id,
                      const char *call_id)
{
    char arg[512];
    snprintf(arg, sizeof(arg),
             "{\"data\":{\"eventType\":\"%s\",\"userId\":\"%s\",\"callId\":\"%s\","
             "\"timestamp\":\"2026-12-06T23:33:20Z\"}}",
             event_type, user_id, call_id);
    voice_env__message(ve, arg);
}

void voice_env__message(struct voice_env *ve, const char *arg)
{
    char rec[4096];
    snprintf(rec, sizeof(rec), "{\"type\":1,\"target\":\"MessageReceived\",\"arguments\":[%s]}",
             arg);
    ve__send(ve, rec);
}

/* ---- what the daemon shows ------------------------------------------------ */

static void ve__topic(const char *address, char *topic, size_t len)
{
    char id[256];
    if (ids__encode(address, id, sizeof(id)) != 0)
        id[0] = '\0';
    snprintf(topic, len, "voice/%s/talking", id);
}

const char *voice_env__talking(struct voice_env *ve, const char *address)
{
    char topic[300];
    ve__topic(address, topic, sizeof(topic));
    return fake_bus__retained(ve->ce.bus, topic);
}

bool voice_env__talking_is(struct voice_env *ve, const char *address, bool talking, int calls)
{
    cJSON *o = cJSON_Parse(voice_env__talking(ve, address));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "talking");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "calls");
    bool ok = cJSON_IsBool(t) && cJSON_IsTrue(t) == talking &&
              (calls < 0 || (cJSON_IsNumber(c) && c->valueint == calls));
    if (!ok)
        fprintf(stderr, "voice_env: %s talking is %s\n", address,
                voice_env__talking(ve, address) ? voice_env__talking(ve, address) : "(none)");
    cJSON_Delete(o);
    return ok;
}

size_t voice_env__talking_count(struct voice_env *ve, const char *address)
{
    char topic[300];
    ve__topic(address, topic, sizeof(topic));
    return fake_bus__published(ve->ce.bus, topic);
}

cJSON *voice_env__health(void)
{
    char *s = status__json();
    cJSON *doc = cJSON_Parse(s);
    free(s);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "tenants");
    t = cJSON_GetObjectItemCaseSensitive(t, "contoso");
    cJSON *v = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t, "voice"), true);
    cJSON_Delete(doc);
    return v;
}

/* The member at a dotted path of o. */
static const cJSON *ve__at(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = cJSON_GetObjectItemCaseSensitive(o, k);
    return o;
}

bool voice_env__health_is(const char *path, const char *expect)
{
    cJSON *h = voice_env__health();
    char *got = cJSON_PrintUnformatted(ve__at(h, path));
    bool ok = got && strcmp(got, expect) == 0;
    if (!ok) {
        char *all = cJSON_PrintUnformatted(h);
        fprintf(stderr, "voice_env: B/health %s is %s, not %s: %s\n", path, got ? got : "(none)",
                expect, all ? all : "(none)");
        free(all);
    }
    free(got);
    cJSON_Delete(h);
    return ok;
}

const char *voice_env__health_str(const char *path, char *buf, size_t len)
{
    cJSON *h = voice_env__health();
    const cJSON *v = ve__at(h, path);
    snprintf(buf, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(h);
    return buf;
}

bool voice_env__ready(char *reason, size_t len)
{
    bool all;
    char *s = health__json(&all);
    cJSON *doc = cJSON_Parse(s);
    free(s);
    const cJSON *c = ve__at(doc, "components");
    c = cJSON_GetObjectItemCaseSensitive(c, "voice/contoso");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "reason");
    if (reason)
        snprintf(reason, len, "%s", cJSON_IsString(r) ? r->valuestring : "");
    bool ready = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ready"));
    cJSON_Delete(doc);
    return ready;
}

int voice_env__teardown(void **st)
{
    struct voice_env *ve = *st;
    if (ve)
        voice_env__free(ve);
    free(ve);
    log_capture__stop();
    return 0;
}
