/* Component test: a mapper-only process (`--role mapper`, docs/operations.md)
 * in process: the Graph client component (graph/client_component.c: one
 * client and the presence writer) and the mapper, as the daemon wires them
 * for that role, against canned replies of the identity platform and Graph
 * over real sockets, on the fake bus and the fake clock. Nothing publishes
 * teams/<id>/busy, so nothing names the users' object ids: the writer looks
 * them up itself ($batch, cached), writes presence by object id only, and
 * looks a user up again when a presence route answers 404 for the id. A
 * failing app sign-in shows in the process's own health section with its
 * AADSTS explanation, says why the writes failed, is counted with its code,
 * and recovers without a restart (docs/graph.md "Sign-in"). What
 * test_mapper_only.sh checked end to end before it was removed
 * (docs/testing.md "What moved where"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned_http.h"
#include "comp_env.h"
#include "component.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/metrics.h"
#include "core/status.h"
#include "fake_bus.h"
#include "log_capture.h"
#include "mapper/mapper.h"

extern const struct daemon_component graph_client_component;

#define TENANT_ID "11111111-2222-3333-4444-555555555555"
#define CLIENT_ID "66666666-7777-8888-9999-000000000000"
#define BOB_ID    "0f1e2d3c-aaaa-bbbb-cccc-0000000000b0"
#define BOB       "bob@contoso.com"
#define TOKEN     "/" TENANT_ID "/oauth2/v2.0/token"
#define BATCH     "/v1.0/$batch"
#define READ      "/v1.0/communications/getPresencesByUserId"
#define SET       "/v1.0/users/" BOB_ID "/presence/setPresence"
#define CLEAR     "/v1.0/users/" BOB_ID "/presence/clearPresence"
#define WAIT_MS   10000
#define APP_TOKEN "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"tok-app\"}"
/* the identity platform's answer to a wrong client secret */
#define BAD_SECRET                                                                  \
    "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid " \
    "client secret provided.\",\"error_codes\":[7000215]}"
#define LOOKUP_OK                                                                   \
    "{\"responses\":[{\"id\":\"0\",\"status\":200,\"body\":{\"id\":\"" BOB_ID "\"," \
    "\"userPrincipalName\":\"" BOB "\"}}]}"

struct fx {
    struct comp_env ce;
    struct canned_http *s;
    struct http_client *http;
    struct daemon_services svc;
    void *client;
    void *mapper;
    char cfg[2048];
};

static void rule(struct fx *f, const char *method, const char *path, int status, const char *body,
                 int times)
{
    canned_http__add(f->s, &(struct canned_rule){method, path, status, NULL, body, times, 0});
}

/* The replies of a working tenant: the app token, bob's lookup, his
 * presence (Available) for the mapper's reads, sets and clears. */
static void replies(struct fx *f)
{
    rule(f, "POST", TOKEN, 200, APP_TOKEN, 0);
    rule(f, "POST", BATCH, 200, LOOKUP_OK, 0);
    rule(f, "POST", READ, 200,
         "{\"value\":[{\"id\":\"" BOB_ID "\",\"availability\":\"Available\","
         "\"activity\":\"Available\"}]}",
         0);
    rule(f, "POST", SET, 200, NULL, 0);
    rule(f, "POST", CLEAR, 200, NULL, 0);
}

static int setup(void **st)
{
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    metrics__reset();
    assert_int_equal(log_capture__start(), 0);
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    *st = f;
    assert_non_null(f->s = canned_http__start());
    const char *url = canned_http__url(f->s);
    snprintf(f->cfg, sizeof(f->cfg),
             "{\"instance\":\"ps-mo\",\"mqtt\":{\"bridge_topic\":\"ps\"},"
             "\"http\":{\"public_url\":\"https://x.example\"},"
             "\"tenants\":[{\"name\":\"contoso\",\"users\":[\"" BOB "\"],"
             "\"graph\":{\"tenant_id\":\"" TENANT_ID "\",\"client_id\":\"" CLIENT_ID "\","
             "\"client_secret_env\":\"PS_CT_SECRET\",\"login_url\":\"%s\","
             "\"api_url\":\"%s/v1.0\",\"presence_session_minutes\":15,"
             "\"service_accounts\":[{\"username\":\"svc@contoso.com\","
             "\"password_env\":\"PS_CT_SECRET\"}]},"
             "\"voice\":{\"username\":\"v@contoso.com\",\"secret_key_env\":\"PS_CT_SECRET\"}}],"
             "\"mapper\":{\"enabled\":true,\"settle_seconds\":1}}",
             url, url);
    clock__fake_start(1000000, 1796600000000LL);
    assert_int_equal(comp_env__init(&f->ce, f->cfg, CONFIG_ROLE_MAPPER), 0);
    f->ce.tun.mapper_startup_ms = 2000;
    assert_non_null(f->http = http_client__new(f->ce.loop));
    f->ce.env.http_client = f->http;
    f->ce.env.services = &f->svc;
    return 0;
}

/* The daemon's order for the role: the client first, then the mapper. */
static void start(struct fx *f)
{
    assert_int_equal(graph_client_component.init(&f->ce.env, &f->client), 0);
    assert_non_null(f->svc.graph_writer);
    assert_int_equal(mapper_component.init(&f->ce.env, &f->mapper), 0);
    assert_non_null(f->mapper);
    assert_int_equal(graph_client_component.start(f->client), 0);
    assert_int_equal(mapper_component.start(f->mapper), 0);
    comp_env__settle(&f->ce);
}

static int teardown(void **st)
{
    struct fx *f = *st;
    if (f) {
        if (f->mapper)
            mapper_component.stop(f->mapper);
        if (f->client)
            graph_client_component.stop(f->client);
        http_client__free(f->http); /* completions still out run on the loop */
        comp_env__settle(&f->ce);
        if (f->mapper)
            mapper_component.free(f->mapper);
        if (f->client)
            graph_client_component.free(f->client);
        comp_env__free(&f->ce);
        canned_http__stop(f->s);
        free(f);
    }
    clock__fake_stop();
    status__reset();
    health__reset();
    metrics__reset();
    log_capture__stop();
    return 0;
}

/* The Voice side's retained voice/<bob>/talking. */
static void voice(struct fx *f, bool talking)
{
    char p[256], since[40];
    clock__iso8601(clock__wall_ms(), since, sizeof(since));
    snprintf(p, sizeof(p),
             "{\"talking\":%s,\"calls\":%d,\"since\":\"%s\",\"source\":\"rte\","
             "\"user\":\"" BOB "\",\"tenant\":\"contoso\"}",
             talking ? "true" : "false", talking ? 1 : 0, since);
    fake_bus__inject(f->ce.bus, "voice/" BOB "/talking", p, true);
    comp_env__settle(&f->ce);
}

struct until {
    struct fx *f;
    const char *method, *path;
    size_t n;
};

static bool requests_reach(void *ctx)
{
    struct until *u = ctx;
    return canned_http__count(u->f->s, u->method, u->path) >= u->n;
}

/* Moves the fake clock on a second at a time (the mapper's timers), waiting
 * for the replies in real time, until n requests of method and path came;
 * at most max_s fake seconds. */
static bool run_until(struct fx *f, const char *method, const char *path, size_t n, int max_s)
{
    struct until u = {f, method, path, n};
    for (int i = 0; i <= max_s; i++) {
        if (comp_env__wait(&f->ce, requests_reach, &u, 200))
            return true;
        comp_env__advance(&f->ce, 1000);
    }
    return false;
}

/* The health section's graph.auth.app member at key as text ("" absent). */
static const char *app_auth(const char *key, char *buf, size_t len)
{
    char *s = status__json();
    cJSON *doc = cJSON_Parse(s);
    free(s);
    cJSON *app = cJSON_GetObjectItemCaseSensitive(doc, "tenants");
    const char *path[] = {"contoso", "graph", "auth", "app", key};
    for (size_t i = 0; i < 5; i++)
        app = cJSON_GetObjectItemCaseSensitive(app, path[i]);
    if (cJSON_IsString(app))
        snprintf(buf, len, "%s", app->valuestring);
    else if (cJSON_IsNumber(app))
        snprintf(buf, len, "%d", app->valueint);
    else
        buf[0] = '\0';
    cJSON_Delete(doc);
    return buf;
}

static size_t presence_by_upn(struct fx *f)
{
    return canned_http__count(f->s, NULL, "/v1.0/users/" BOB "/presence");
}

/* Voice -> Teams with ids the writer looked up itself: one lookup in a
 * $batch (GET /users/{upn}?$select=id...), cached for the next writes;
 * presence by object id only. */
static void test_lookup_and_write(void **st)
{
    struct fx *f = *st;
    replies(f);
    /* the test knobs may shrink the presence budget (never raise the rate) */
    f->ce.tun.graph_rate_limit = 200;
    f->ce.tun.graph_rate_window_ms = 10000;
    start(f);
    assert_true(log_capture__has("graph client ready tenants=1 presence_budget=200/10000ms"));
    voice(f, false);
    assert_true(run_until(f, "POST", READ, 1, 10)); /* the start-up read */
    voice(f, true);
    assert_true(run_until(f, "POST", SET, 1, 10));
    char *req = canned_http__request(f->s, "POST", BATCH, 0);
    assert_non_null(req);
    assert_non_null(strstr(req, "/users/" BOB "?$select=id"));
    assert_non_null(strstr(req, "\"method\":\"GET\""));
    free(req);
    size_t lookups = canned_http__count(f->s, "POST", BATCH);
    voice(f, false);
    assert_true(run_until(f, "POST", CLEAR, 1, 10));
    voice(f, true);
    assert_true(run_until(f, "POST", SET, 2, 10));
    assert_int_equal(canned_http__count(f->s, "POST", BATCH), lookups); /* cached */
    assert_int_equal(presence_by_upn(f), 0);
}

/* The id goes stale: setPresence answers 404 for it. The writer forgets it,
 * the mapper's next try looks bob up again and writes. */
static void test_stale_id_looked_up_again(void **st)
{
    struct fx *f = *st;
    /* a knob that would raise the rate is not taken: the mapper process's
     * share of Graph's 1,500 per 30 s stays */
    f->ce.tun.graph_rate_limit = 2000;
    f->ce.tun.graph_rate_window_ms = 10000;
    canned_http__add(f->s, &(struct canned_rule){"POST", SET, 404, NULL,
                                                 "{\"error\":{\"code\":"
                                                 "\"Request_ResourceNotFound\"}}",
                                                 1, 0});
    replies(f);
    start(f);
    assert_true(log_capture__has("graph client ready tenants=1 presence_budget=1400/30000ms"));
    voice(f, false);
    assert_true(run_until(f, "POST", READ, 1, 10));
    size_t lookups = canned_http__count(f->s, "POST", BATCH);
    assert_int_equal(lookups, 1);
    voice(f, true);
    assert_true(run_until(f, "POST", SET, 2, 30));
    assert_int_equal(canned_http__count(f->s, "POST", BATCH), lookups + 1);
    assert_int_equal(presence_by_upn(f), 0);
}

static bool auth_is(void *ctx)
{
    char buf[32];
    return strcmp(app_auth("state", buf, sizeof(buf)), ctx) == 0;
}

static bool wait_auth(struct fx *f, const char *state, int max_s)
{
    for (int i = 0; i <= max_s; i++) {
        if (comp_env__wait(&f->ce, auth_is, (void *)state, 200))
            return true;
        comp_env__advance(&f->ce, 1000);
    }
    return false;
}

/* The first two app-token requests are refused (a wrong client secret,
 * AADSTS7000215): the process's health section says error with the code and
 * its explanation, a write that needed the token says why it failed, and
 * both failures are counted with the code; then the sign-in recovers, ok
 * again, and the write lands, without a restart. */
static void test_sign_in_failing(void **st)
{
    struct fx *f = *st;
    rule(f, "POST", TOKEN, 401, BAD_SECRET, 2);
    replies(f);
    start(f);
    voice(f, false);
    assert_true(wait_auth(f, "error", 10));
    char buf[160];
    assert_string_equal(app_auth("aadsts", buf, sizeof(buf)), "7000215");
    if (!strstr(app_auth("explanation", buf, sizeof(buf)), "client secret is invalid"))
        fail_msg("explanation: %s", buf);
    assert_true(wait_auth(f, "ok", 30));
    assert_true(log_capture__has("sign-in failing: invalid_client AADSTS7000215"));
    assert_true(metrics__get("graph_token_failures_total",
                             "tenant=\"contoso\",account=\"app\",code=\"AADSTS7000215\"") == 2);
    voice(f, true);
    assert_true(run_until(f, "POST", SET, 1, 30));
    assert_false(log_capture__has("not-a-real-secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lookup_and_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_id_looked_up_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_in_failing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
