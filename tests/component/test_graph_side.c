/* Component test: the whole Graph side (connector/graph/graph_side.c, the
 * composition root, with its webhook on a real HTTP server) in process, on
 * the Graph client, against canned Graph replies, the fake bus and the fake
 * clock (docs/graph.md "Webhook", "B/health and /readyz"):
 *  - the validation handshake on the notify URL; an unknown tenant is 404;
 *  - lifecycle events POSTed to the lifecycle URL with the subscription's
 *    clientState reach the subscription (reauthorize, missed, removed); a
 *    forged one (wrong clientState) is counted and changes nothing;
 *  - a basic notification is acked 202 and read: the user's busy topic with
 *    source "notification"; one for another tenant is dropped;
 *  - the B/health section has every module's part and the tenant is ready;
 *  - 700 users over two service accounts (what test_graph_accounts.sh
 *    checked at start against fake-graph): looked up 20 a $batch, 25 items
 *    throttled (429 + Retry-After) and looked up again after it, everyone
 *    resolved; two subscriptions, each created with its own account's
 *    token and at most 650 ids; everyone read with the app token, 650 ids a
 *    read at most, and published with their Graph ids;
 *  - two tenants in one process kept apart (what test_graph_tenants.sh
 *    checked against fake-graph): each signs in at its own tenant's token
 *    endpoint, looks its users up (an address of the other tenant is not
 *    found, listed in B/health) and has its own subscription and webhook
 *    path; one tenant's notification POSTed to the other's path changes
 *    nothing and is counted (wrong_tenant, unknown_subscription); the busy
 *    topics carry mqtt.topic_prefix;
 *  - graph.tenant_id a domain (what test_graph_domain_tenant.sh checked in
 *    process terms): sign-in at the domain's token endpoint; while the
 *    OpenID configuration cannot be read the GUID is pending in B/health
 *    and an item that is ours (clientState) is read instead
 *    (tenant_pending); once read, the GUID is the issuer's, items carrying
 *    it are taken as usual, and an item naming the tenant by its domain is
 *    not Graph's (wrong_tenant). */
#include <curl/curl.h>

#include "component.h"
#include "core/http_server.h"
#include "graph_fixture.h"
#include "log_capture.h"

#define TL "tenant=\"t\""

extern const struct daemon_component graph_component;

struct sfx {
    struct gfx g; /* first: the fixture's helpers take it */
    struct http_server *srv;
    struct daemon_services svc;
    void *state;
    char base[64];
};

/* The tenant's users and service_accounts (JSON arrays) of the next setup;
 * a@x.com, b@x.com and one account unless a test's own setup sets them. */
static char *sfx_users;
static const char *sfx_accounts;
/* Another tenants[] entry after "t" (with its leading comma; a format whose
 * two %s are the canned server's URL for login_url and api_url) and the
 * mqtt.topic_prefix, for the next setup; none unless a test's setup sets
 * them. */
static const char *sfx_more_tenants;
static const char *sfx_prefix;
static const char *sfx_tenant_id; /* graph.tenant_id of "t" (GF_TENANT_ID) */

static int setup(void **st)
{
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    metrics__reset();
    status__reset();
    health__reset();
    struct sfx *x = calloc(1, sizeof(*x));
    struct gfx *f = &x->g;
    assert_non_null(x);
    assert_non_null(f->s = canned_http__start());
    const char *url = canned_http__url(f->s);
    const char *users = sfx_users ? sfx_users : "[\"a@x.com\",\"b@x.com\"]";
    const char *accounts = sfx_accounts ? sfx_accounts
                                        : "[{\"username\":\"svc@x.com\","
                                          "\"password_env\":\"PS_CT_SECRET\"}]";
    char more[1024] = "";
    if (sfx_more_tenants)
        snprintf(more, sizeof(more), sfx_more_tenants, url, url);
    size_t len = strlen(users) + strlen(accounts) + 2400;
    char *cfg = malloc(len);
    assert_non_null(cfg);
    snprintf(cfg, len,
             "{\"instance\":\"ps-g\",\"http\":{\"public_url\":\"https://x.example/\"},"
             "\"mqtt\":{\"topic_prefix\":\"%s\"},\"tenants\":[{\"name\":\"t\",\"users\":%s,"
             "\"graph\":{\"tenant_id\":\"%s\",\"client_id\":\"" GF_CLIENT_ID "\","
             "\"client_secret_env\":\"PS_CT_SECRET\",\"login_url\":\"%s/\","
             "\"api_url\":\"%s/v1.0\",\"service_accounts\":%s},"
             "\"voice\":{\"username\":\"v@x.com\",\"secret_key_env\":\"PS_CT_SECRET\"}}%s]}",
             sfx_prefix ? sfx_prefix : "", users, sfx_tenant_id ? sfx_tenant_id : GF_TENANT_ID, url,
             url, accounts, more);
    free(sfx_users);
    sfx_users = NULL;
    sfx_accounts = NULL;
    sfx_prefix = NULL;
    sfx_more_tenants = NULL;
    sfx_tenant_id = NULL;
    assert_int_equal(comp_env__init(&f->ce, cfg, CONFIG_ROLE_GRAPH), 0);
    free(cfg);
    clock__fake_start(1000000, GF_WALL0);
    assert_non_null(f->http = http_client__new(f->ce.loop));
    struct graph_client_options o = {.loop = f->ce.loop,
                                     .http = f->http,
                                     .cfg = f->ce.cfg,
                                     .accounts = true,
                                     .budget = GRAPH_PRESENCE_LIMIT,
                                     .window_ms = GRAPH_PRESENCE_WINDOW_MS};
    assert_non_null(f->gc = graph_client__new(&o));
    struct http_server_options so = {.host = "127.0.0.1", .max_body_bytes = 1 << 20};
    assert_non_null(x->srv = http_server__new(&so));
    x->svc.graph_client = f->gc;
    f->ce.env.http = x->srv;
    f->ce.env.http_client = f->http;
    f->ce.env.services = &x->svc;
    gfx__rule(f, "POST", GF_TOKEN, 200, NULL,
              "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"tok-1\","
              "\"refresh_token\":\"r-1\"}",
              0);
    assert_int_equal(graph_component.init(&f->ce.env, &x->state), 0);
    assert_int_equal(http_server__start(x->srv), 0);
    snprintf(x->base, sizeof(x->base), "http://127.0.0.1:%d", http_server__port(x->srv));
    *st = x;
    return 0;
}

static int teardown(void **st)
{
    struct sfx *x = *st;
    struct gfx *f = &x->g;
    graph_component.stop(x->state); /* the daemon's order */
    graph_client__stop(f->gc);
    http_client__free(f->http);
    comp_env__settle(&f->ce);
    http_server__stop(x->srv);
    graph_component.free(x->state);
    graph_client__free(f->gc);
    http_server__free(x->srv);
    comp_env__free(&f->ce);
    canned_http__stop(f->s);
    clock__fake_stop();
    free(x);
    return 0;
}

/* Lookup, subscription sub-1 and reads (the first two empty, then `reads`) answered;
 * starts the side and waits until sub-1 is live and everyone was read. */
static void start_live(struct sfx *x, const char *reads)
{
    struct gfx *f = &x->g;
    gfx__rule(f, "POST", GF_BATCH, 200, NULL, GF_LOOKUP_OK, 0);
    gfx__rule(f, "POST", GF_SUBS "/sub-1/reauthorize", 204, NULL, NULL, 0);
    gfx__rule(f, "GET", GF_SUBS, 200, NULL, "{\"value\":[]}", 0);
    char *sub = gfx__sub_json("sub-1", 3LL * 3600 * 1000);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 1);
    free(sub);
    sub = gfx__sub_json("sub-2", 3LL * 3600 * 1000);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 1);
    free(sub);
    gfx__rule(f, "POST", GF_READ, 200, NULL, "{\"value\":[]}", 2);
    gfx__rule(f, "POST", GF_READ, 200, NULL, reads ? reads : "{\"value\":[]}", 0);
    assert_int_equal(graph_component.start(x->state), 0);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_created_total", TL, 1));
    assert_true(gfx__wait_requests(f, "POST", GF_READ, 2)); /* start, subscription created */
    comp_env__settle(&f->ce);
}

static size_t sink(char *p, size_t size, size_t n, void *ctx)
{
    strncat(ctx, p, 255 - strlen(ctx) < size * n ? 255 - strlen(ctx) : size * n);
    return size * n;
}

/* POSTs body to base+path from this thread; the answer's status and body. */
static long post(struct sfx *x, const char *path, const char *body, char out[256])
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", x->base, path);
    out[0] = '\0';
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* The clientState sub-n's create sent. */
static void client_state(struct gfx *f, size_t n, char out[80])
{
    char *body = gfx__body(f, "POST", GF_SUBS, n);
    const char *cs = strstr(body, "\"clientState\":\"");
    assert_non_null(cs);
    snprintf(out, 80, "%.64s", cs + strlen("\"clientState\":\""));
    free(body);
}

/* A lifecycle POST for subscription id with clientState cs. */
static long lifecycle(struct sfx *x, const char *id, const char *cs, const char *event)
{
    char body[512], out[256];
    snprintf(body, sizeof(body),
             "{\"value\":[{\"subscriptionId\":\"%s\",\"subscriptionExpirationDateTime\":"
             "\"2030-01-01T00:00:00.0000000Z\",\"tenantId\":\"" GF_TENANT_ID "\","
             "\"clientState\":\"%s\",\"lifecycleEvent\":\"%s\"}]}",
             id, cs, event);
    return post(x, "/graph/lifecycle/t", body, out);
}

static void test_handshake_and_unknown_tenant(void **st)
{
    struct sfx *x = *st;
    char out[256];
    assert_int_equal(post(x, "/graph/notify/t?validationToken=a%2Bb%20c", "", out), 200);
    assert_string_equal(out, "a+b c");
    assert_int_equal(post(x, "/graph/lifecycle/t?validationToken=xyz", "", out), 200);
    assert_string_equal(out, "xyz");
    assert_int_equal(post(x, "/graph/notify/nope", "{\"value\":[]}", out), 404);
    assert_int_equal(metrics__get("graph_validations_total", NULL), 2);
}

static void test_lifecycle_over_the_webhook(void **st)
{
    struct sfx *x = *st;
    struct gfx *f = &x->g;
    start_live(x, NULL);
    char cs[80];
    client_state(f, 0, cs);
    /* forged: a wrong clientState is counted and does nothing */
    assert_int_equal(lifecycle(x, "sub-1", "guess", "subscriptionRemoved"), 202);
    assert_true(gfx__wait_metric(f, "notifications_total", TL ",outcome=\"bad_client_state\"", 1));
    assert_true(gfx__no_more(f, "POST", GF_SUBS));
    /* reauthorizationRequired -> POST .../reauthorize */
    assert_int_equal(lifecycle(x, "sub-1", cs, "reauthorizationRequired"), 202);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_reauthorized_total", TL, 1));
    /* missed -> everyone read again */
    size_t reads = canned_http__count(f->s, "POST", GF_READ);
    assert_int_equal(lifecycle(x, "sub-1", cs, "missed"), 202);
    assert_true(gfx__wait_requests(f, "POST", GF_READ, reads + 1));
    /* removed -> created again; the old clientState no longer counts */
    assert_int_equal(lifecycle(x, "sub-1", cs, "subscriptionRemoved"), 202);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_created_total", TL, 2));
    assert_true(gfx__wait_metric(f, "notifications_total", TL ",outcome=\"lifecycle\"", 3));
    assert_int_equal(lifecycle(x, "sub-1", cs, "missed"), 202);
    assert_true(
        gfx__wait_metric(f, "notifications_total", TL ",outcome=\"unknown_subscription\"", 1));
}

#define BASIC(sub, cs, tenant, id)                                                              \
    "{\"value\":[{\"subscriptionId\":\"" sub "\",\"clientState\":\"%s\",\"changeType\":"        \
    "\"updated\",\"tenantId\":\"" tenant "\",\"resource\":\"communications/presences/" id "\"," \
    "\"subscriptionExpirationDateTime\":\"2030-01-01T00:00:00.0000000Z\",\"resourceData\":{"    \
    "\"@odata.id\":\"users/" id "/presence\",\"@odata.type\":\"#microsoft.graph.presence\","    \
    "\"id\":\"" id "\"}}]}"

static void test_basic_notification_is_read(void **st)
{
    struct sfx *x = *st;
    struct gfx *f = &x->g;
    start_live(x, "{\"value\":[{\"id\":\"" GF_ID_A "\",\"availability\":\"Busy\","
                  "\"activity\":\"InACall\"}]}");
    char cs[80], body[1024], out[256];
    client_state(f, 0, cs);
    /* another tenant's item with our clientState: dropped */
    snprintf(body, sizeof(body),
             BASIC("sub-1", "%s", "99999999-2222-3333-4444-555555555555", GF_ID_A), cs);
    assert_int_equal(post(x, "/graph/notify/t", body, out), 202);
    assert_true(gfx__wait_metric(f, "notifications_total", TL ",outcome=\"wrong_tenant\"", 1));
    size_t reads = canned_http__count(f->s, "POST", GF_READ);
    snprintf(body, sizeof(body), BASIC("sub-1", "%s", GF_TENANT_ID, GF_ID_A), cs);
    assert_int_equal(post(x, "/graph/notify/t", body, out), 202);
    assert_true(gfx__wait_metric(f, "notifications_total", TL ",outcome=\"basic\"", 1));
    assert_true(gfx__wait_requests(f, "POST", GF_READ, reads + 1));
    char *req = canned_http__request(f->s, "POST", GF_READ, reads);
    assert_non_null(strstr(req, "{\"ids\":[\"" GF_ID_A "\"]}"));
    free(req);
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":true"));
    const char *a = gfx__busy(f, "a@x.com");
    assert_non_null(a);
    assert_non_null(strstr(a, "\"busy\":true"));
    assert_non_null(strstr(a, "\"source\":\"notification\""));
}

#define REFUSED(code)                                                                  \
    "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS" #code ": refused\"," \
    "\"error_codes\":[" #code "]}"

static bool account_failing(void *ctx)
{
    (void)ctx;
    char *s = status__json();
    bool yes = strstr(s, "\"aadsts\":50126") != NULL;
    free(s);
    return yes;
}

static bool side_ready(void *ctx)
{
    (void)ctx;
    bool ready = false;
    free(health__json(&ready));
    return ready;
}

/* The service account's sign-in refused while running (what
 * test_fault_graph.sh part 3 checked end to end: its refresh token revoked,
 * its password refused with AADSTS50126): B/health shows the account's error
 * with the code and the side is not ready; notifications still come and are
 * read with the app token; once the password is accepted again the side is
 * ready, without a restart. */
static void test_account_sign_in_refused(void **st)
{
    struct sfx *x = *st;
    struct gfx *f = &x->g;
    start_live(x, "{\"value\":[{\"id\":\"" GF_ID_A "\",\"availability\":\"Busy\","
                  "\"activity\":\"InACall\"}]}");
    canned_http__prepend_if(
        f->s, &(struct canned_rule){"POST", GF_TOKEN, 400, NULL, REFUSED(50173), 0, 0},
        "grant_type=refresh_token");
    canned_http__prepend_if(
        f->s, &(struct canned_rule){"POST", GF_TOKEN, 400, NULL, REFUSED(50126), 0, 0},
        "grant_type=password");
    /* the account's token comes up for its refresh (an hour's token) */
    assert_true(gfx__until(f, account_failing, NULL, 3600LL * 1000));
    char *s = status__json();
    assert_non_null(strstr(s, "\"state\":\"error\""));
    free(s);
    assert_false(side_ready(NULL));
    char *h = health__json(NULL);
    if (!strstr(h, "Graph sign-in failing") || !strstr(h, "graph/t"))
        fail_msg("no reason or component in %s", h);
    free(h);
    /* the live subscription still delivers; the app token reads */
    char cs[80], body[1024], out[256];
    client_state(f, 0, cs);
    snprintf(body, sizeof(body), BASIC("sub-1", "%s", GF_TENANT_ID, GF_ID_A), cs);
    assert_int_equal(post(x, "/graph/notify/t", body, out), 202);
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":true"));
    /* the password works again: ready, no restart */
    canned_http__prepend_if(f->s,
                            &(struct canned_rule){"POST", GF_TOKEN, 200, NULL,
                                                  "{\"token_type\":\"Bearer\",\"expires_in\":"
                                                  "3599,\"access_token\":\"tok-2\","
                                                  "\"refresh_token\":\"r-2\"}",
                                                  0, 0},
                            "grant_type=password");
    assert_true(gfx__until(f, side_ready, NULL, 40000)); /* docs/security.md: 40 s */
    s = status__json();
    assert_null(strstr(s, "\"aadsts\":50126"));
    free(s);
}

static void test_health_section(void **st)
{
    struct sfx *x = *st;
    struct gfx *f = &x->g;
    start_live(x, NULL);
    comp_env__settle(&f->ce);
    char *s = status__json();
    assert_non_null(s);
    const char *want[] = {"\"auth\":",
                          "\"users\":{\"configured\":2,\"resolved\":2",
                          "\"subscriptions\":[",
                          "\"last_resync\":\"",
                          "\"notifications\":\"basic\"",
                          "\"notifications_notice\":",
                          "\"tenant\":{\"configured\":\"" GF_TENANT_ID "\"",
                          "\"ready\":true"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(s, want[i]))
            fail_msg("B/health lacks %s: %s", want[i], s);
    }
    free(s);
    bool ready = false;
    free(health__json(&ready));
    assert_true(ready);
}

#define ACC_USERS     700
#define ACC_THROTTLED 25
#define ACC_BATCHES   40 /* 35 full ones, then the throttled items again */
#define ACC_ID        "0f1e2d3c-aaaa-bbbb-cccc-%012d"

static int setup_accounts(void **st)
{
    size_t len = ACC_USERS * 16 + 4, o = 1;
    char *u = malloc(len);
    assert_non_null(u);
    u[0] = '[';
    for (int i = 0; i < ACC_USERS; i++)
        o += (size_t)snprintf(u + o, len - o, "%s\"u%03d@x.com\"", i ? "," : "", i);
    snprintf(u + o, len - o, "]");
    sfx_users = u;
    sfx_accounts = "[{\"username\":\"svc1@x.com\",\"password_env\":\"PS_CT_SECRET\"},"
                   "{\"username\":\"svc2@x.com\",\"password_env\":\"PS_CT_SECRET\"}]";
    return setup(st);
}

/* The answer to the b-th $batch of lookups: 20 users found (ids unique over
 * all batches), or throttled (429, Retry-After 1 s) for the first
 * `throttled` items. */
static char *lookup_answer(int b, int throttled)
{
    char *out = malloc(20 * 160 + 32);
    size_t o = (size_t)sprintf(out, "{\"responses\":[");
    for (int i = 0; i < 20; i++) {
        if (i < throttled)
            o += (size_t)sprintf(out + o,
                                 "%s{\"id\":\"%d\",\"status\":429,\"headers\":{\"Retry-After\":"
                                 "\"1\"},\"body\":{\"error\":{\"code\":\"TooManyRequests\"}}}",
                                 i ? "," : "", i);
        else
            o += (size_t)sprintf(
                out + o, "%s{\"id\":\"%d\",\"status\":200,\"body\":{\"id\":\"" ACC_ID "\"}}",
                i ? "," : "", i, b * 20 + i);
    }
    sprintf(out + o, "]}");
    return out;
}

/* Every presence a read may ask for: all Available. */
static char *all_presences(void)
{
    size_t len = ACC_BATCHES * 20 * 110 + 32, o;
    char *out = malloc(len);
    o = (size_t)snprintf(out, len, "{\"value\":[");
    for (int i = 0; i < ACC_BATCHES * 20; i++)
        o += (size_t)snprintf(out + o, len - o,
                              "%s{\"id\":\"" ACC_ID "\",\"availability\":\"Available\","
                              "\"activity\":\"Available\"}",
                              i ? "," : "", i);
    snprintf(out + o, len - o, "]}");
    return out;
}

static size_t occurrences(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void test_two_accounts_700_users(void **st)
{
    struct sfx *x = *st;
    struct gfx *f = &x->g;
    assert_int_equal(log_capture__start(), 0);
    const char *tok = "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"%s\"}";
    char body[128];
    snprintf(body, sizeof(body), tok, "tok-s1");
    canned_http__prepend_if(f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL, body, 0, 0},
                            "username=svc1%40x.com");
    snprintf(body, sizeof(body), tok, "tok-s2");
    canned_http__prepend_if(f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL, body, 0, 0},
                            "username=svc2%40x.com");
    for (int b = 0; b < ACC_BATCHES; b++) {
        char *answer = lookup_answer(b, b == 0 ? 20 : b == 1 ? ACC_THROTTLED - 20 : 0);
        gfx__rule(f, "POST", GF_BATCH, 200, NULL, answer, 1);
        free(answer);
    }
    gfx__rule(f, "GET", GF_SUBS, 200, NULL, "{\"value\":[]}", 0);
    char *sub = gfx__sub_json("sub-1", 3LL * 3600 * 1000);
    canned_http__prepend_if(f->s, &(struct canned_rule){"POST", GF_SUBS, 201, NULL, sub, 0, 0},
                            "Bearer tok-s1\r\n");
    free(sub);
    sub = gfx__sub_json("sub-2", 3LL * 3600 * 1000);
    canned_http__prepend_if(f->s, &(struct canned_rule){"POST", GF_SUBS, 201, NULL, sub, 0, 0},
                            "Bearer tok-s2\r\n");
    free(sub);
    char *reads = all_presences();
    gfx__rule(f, "POST", GF_READ, 200, NULL, reads, 0);
    free(reads);
    assert_int_equal(graph_component.start(x->state), 0);
    /* the throttled items wait for their Retry-After (fake time) */
    assert_true(gfx__until_metric(f, "graph_users_resolved", TL, ACC_USERS, 60000));
    assert_true(gfx__until_metric(f, "graph_subscriptions_created_total", TL, 2, 60000));
    assert_true(gfx__quiet(f));
    assert_true(log_capture__has("user lookup throttled tenant=t"));
    size_t n = canned_http__count(f->s, "POST", GF_BATCH);
    assert_int_equal(n, 37); /* 35, then the 25 throttled in 20 + 5 */
    for (size_t i = 0; i < n; i++) {
        char *req = gfx__body(f, "POST", GF_BATCH, i);
        assert_true(occurrences(req, "\"url\"") <= 20);
        free(req);
    }
    /* one subscription per account, with its token, at most 650 ids each */
    assert_int_equal(canned_http__count(f->s, "POST", GF_SUBS), 2);
    size_t ids = 0, s1 = 0, s2 = 0;
    for (size_t i = 0; i < 2; i++) {
        char *req = canned_http__request(f->s, "POST", GF_SUBS, i);
        size_t k = occurrences(req, "'") / 2;
        print_message("subscription %zu: %zu ids\n", i, k);
        assert_true(k <= 650);
        ids += k;
        s1 += strstr(req, "Authorization: Bearer tok-s1\r\n") != NULL;
        s2 += strstr(req, "Authorization: Bearer tok-s2\r\n") != NULL;
        free(req);
    }
    assert_int_equal(ids, ACC_USERS);
    assert_int_equal(s1, 1);
    assert_int_equal(s2, 1);
    /* everyone read with the app token, 650 ids a read at most */
    size_t nr = canned_http__count(f->s, "POST", GF_READ);
    assert_true(nr >= 2);
    for (size_t i = 0; i < nr; i++) {
        char *req = canned_http__request(f->s, "POST", GF_READ, i);
        assert_true(occurrences(req, "\"0f1e2d3c-") <= 650);
        assert_non_null(strstr(req, "Authorization: Bearer tok-1\r\n"));
        free(req);
    }
    /* and published, each with its Graph id */
    for (int i = 0; i < ACC_USERS; i++) {
        char upn[32];
        snprintf(upn, sizeof(upn), "u%03d@x.com", i);
        const char *p = gfx__busy(f, upn);
        if (!p || !strstr(p, "\"busy\":false") ||
            !strstr(p, "\"user_id\":\"0f1e2d3c-aaaa-bbbb-cccc-"))
            fail_msg("%s: %s", upn, p ? p : "(no topic)");
    }
    log_capture__stop();
}

#define GF2_TENANT_ID "22222222-3333-4444-5555-666666666666"
#define GF2_TOKEN     "/" GF2_TENANT_ID "/oauth2/v2.0/token"
#define GF_ID_C       "0f1e2d3c-aaaa-bbbb-cccc-00000000000c"
#define TF            "tenant=\"f\""

static int setup_tenants(void **st)
{
    sfx_prefix = "site1/";
    sfx_more_tenants =
        ",{\"name\":\"f\",\"users\":[\"c@y.com\",\"erin@x.com\"],"
        "\"graph\":{\"tenant_id\":\"" GF2_TENANT_ID "\",\"client_id\":\"" GF_CLIENT_ID "\","
        "\"client_secret_env\":\"PS_CT_SECRET\",\"login_url\":\"%s/\",\"api_url\":\"%s/v1.0\","
        "\"service_accounts\":[{\"username\":\"svc@y.com\",\"password_env\":\"PS_CT_SECRET\"}]},"
        "\"voice\":{\"username\":\"v@y.com\",\"secret_key_env\":\"PS_CT_SECRET\"}}";
    return setup(st);
}

/* The n-th request method path that carries has (malloc'd), or NULL. */
static char *request_with(struct gfx *f, const char *method, const char *path, const char *has)
{
    size_t n = canned_http__count(f->s, method, path);
    for (size_t i = 0; i < n; i++) {
        char *req = canned_http__request(f->s, method, path, i);
        if (req && strstr(req, has))
            return req;
        free(req);
    }
    return NULL;
}

static void test_two_tenants_kept_apart(void **st)
{
    struct sfx *x = *st;
    struct gfx *f = &x->g;
    /* tenant f: its own token endpoint and token; its lookups, subscription
     * and reads answered for that token */
    gfx__rule(f, "POST", GF2_TOKEN, 200, NULL,
              "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"tok-f\","
              "\"refresh_token\":\"r-f\"}",
              0);
    canned_http__prepend_if(
        f->s,
        &(struct canned_rule){"POST", GF_BATCH, 200, NULL,
                              "{\"responses\":[{\"id\":\"0\",\"status\":200,\"body\":{\"id\":"
                              "\"" GF_ID_C "\"}},{\"id\":\"1\",\"status\":404,\"body\":{\"error\":"
                              "{\"code\":\"Request_ResourceNotFound\"}}}]}",
                              0, 0},
        "Bearer tok-f\r\n");
    char *sub = gfx__sub_json("sub-f", 3LL * 3600 * 1000);
    canned_http__prepend_if(f->s, &(struct canned_rule){"POST", GF_SUBS, 201, NULL, sub, 0, 0},
                            "Bearer tok-f\r\n");
    free(sub);
    canned_http__prepend_if(f->s,
                            &(struct canned_rule){"POST", GF_READ, 200, NULL,
                                                  "{\"value\":[{\"id\":\"" GF_ID_C "\","
                                                  "\"availability\":\"DoNotDisturb\","
                                                  "\"activity\":\"Presenting\"}]}",
                                                  0, 0},
                            "Bearer tok-f\r\n");
    start_live(x, "{\"value\":[{\"id\":\"" GF_ID_A "\",\"availability\":\"Busy\","
                  "\"activity\":\"InACall\"}]}");
    assert_true(gfx__wait_metric(f, "graph_subscriptions_created_total", TF, 1));
    assert_true(gfx__wait_busy(f, "c@y.com", "\"activity\":\"Presenting\""));
    assert_true(gfx__quiet(f));
    /* sign-in at each tenant's own endpoint: f's account never at t's */
    assert_true(canned_http__count(f->s, "POST", GF2_TOKEN) >= 2); /* app and account */
    char *req = request_with(f, "POST", GF_TOKEN, "svc%40y.com");
    assert_null(req);
    /* each tenant's subscription points at its own webhook path */
    req = request_with(f, "POST", GF_SUBS, "Bearer tok-f\r\n");
    assert_non_null(req);
    assert_non_null(strstr(req, "\"notificationUrl\":\"https://x.example/graph/notify/f\""));
    assert_non_null(strstr(req, GF_ID_C));
    assert_null(strstr(req, GF_ID_A));
    free(req);
    req = request_with(f, "POST", GF_SUBS, "Bearer tok-1\r\n");
    assert_non_null(req);
    assert_non_null(strstr(req, "\"notificationUrl\":\"https://x.example/graph/notify/t\""));
    assert_null(strstr(req, GF_ID_C));
    free(req);
    /* erin is not in f's directory: listed for f only */
    char *h = status__json();
    assert_non_null(strstr(h, "\"not_found\":[\"erin@x.com\"]"));
    assert_int_equal(occurrences(h, "\"not_found\":[]"), 1);
    free(h);
    /* the topics carry the prefix */
    assert_non_null(fake_bus__retained(f->ce.bus, "site1/teams/c@y.com/busy"));
    assert_null(fake_bus__retained(f->ce.bus, "teams/c@y.com/busy"));
    assert_null(gfx__busy(f, "a@x.com")); /* t's reads so far were empty */
    /* t's notification to f's path: another tenant; with f's tenantId: not
     * f's subscription. Neither changes anything. */
    char cs[80], body[1024], out[256];
    client_state(f, 0, cs);
    size_t reads = canned_http__count(f->s, "POST", GF_READ);
    snprintf(body, sizeof(body), BASIC("sub-1", "%s", GF_TENANT_ID, GF_ID_A), cs);
    assert_int_equal(post(x, "/graph/notify/f", body, out), 202);
    assert_true(gfx__wait_metric(f, "notifications_total", TF ",outcome=\"wrong_tenant\"", 1));
    snprintf(body, sizeof(body), BASIC("sub-1", "%s", GF2_TENANT_ID, GF_ID_A), cs);
    assert_int_equal(post(x, "/graph/notify/f", body, out), 202);
    assert_true(
        gfx__wait_metric(f, "notifications_total", TF ",outcome=\"unknown_subscription\"", 1));
    assert_true(gfx__quiet(f));
    assert_int_equal(canned_http__count(f->s, "POST", GF_READ), reads);
    assert_int_equal(metrics__get("notifications_total", TL ",outcome=\"basic\""), 0);
    assert_int_equal(metrics__get("notifications_total", TF ",outcome=\"basic\""), 0);
    assert_null(gfx__busy(f, "a@x.com"));
    assert_non_null(strstr(gfx__busy(f, "c@y.com"), "\"activity\":\"Presenting\""));
}

#define DOMAIN       "contoso.onmicrosoft.com"
#define DOMAIN_OIDC  "/" DOMAIN "/v2.0/.well-known/openid-configuration"
#define DOMAIN_TOKEN "/" DOMAIN "/oauth2/v2.0/token"

static int setup_domain(void **st)
{
    sfx_tenant_id = DOMAIN;
    return setup(st);
}

static bool tenant_resolved(void *ctx)
{
    (void)ctx;
    char *h = status__json();
    bool yes = strstr(h, "\"id\":\"" GF_TENANT_ID "\",\"source\":\"openid-configuration\"");
    free(h);
    return yes;
}

static void test_domain_tenant(void **st)
{
    struct sfx *x = *st;
    struct gfx *f = &x->g;
    gfx__rule(f, "POST", DOMAIN_TOKEN, 200, NULL,
              "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"tok-1\","
              "\"refresh_token\":\"r-1\"}",
              0);
    gfx__rule(f, "GET", DOMAIN_OIDC, 503, NULL, "{}", 0);
    start_live(x, "{\"value\":[{\"id\":\"" GF_ID_A "\",\"availability\":\"Busy\","
                  "\"activity\":\"InACall\"}]}");
    assert_int_equal(canned_http__count(f->s, "POST", GF_TOKEN), 0);
    assert_true(canned_http__count(f->s, "POST", DOMAIN_TOKEN) >= 2); /* app and account */
    char *h = status__json();
    if (!strstr(h, "\"tenant\":{\"configured\":\"" DOMAIN "\",\"id\":null,\"source\":\"pending\""))
        fail_msg("GUID not pending: %s", h);
    free(h);
    /* ours (clientState), the tenant not known yet: read instead */
    char cs[80], body[1024], out[256];
    client_state(f, 0, cs);
    snprintf(body, sizeof(body), BASIC("sub-1", "%s", GF_TENANT_ID, GF_ID_A), cs);
    assert_int_equal(post(x, "/graph/notify/t", body, out), 202);
    assert_true(gfx__wait_metric(f, "notifications_total", TL ",outcome=\"tenant_pending\"", 1));
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":true"));
    /* the document comes: the GUID from its issuer */
    char doc[512];
    snprintf(doc, sizeof(doc),
             "{\"issuer\":\"https://login.microsoftonline.com/" GF_TENANT_ID "/v2.0\","
             "\"jwks_uri\":\"%s/" GF_TENANT_ID "/discovery/v2.0/keys\"}",
             canned_http__url(f->s));
    canned_http__prepend(f->s, &(struct canned_rule){"GET", DOMAIN_OIDC, 200, NULL, doc, 0, 0});
    assert_true(gfx__until(f, tenant_resolved, NULL, 5LL * 60 * 1000));
    /* items with the GUID as usual; the domain as tenantId is not Graph's */
    assert_int_equal(post(x, "/graph/notify/t", body, out), 202);
    assert_true(gfx__wait_metric(f, "notifications_total", TL ",outcome=\"basic\"", 1));
    snprintf(body, sizeof(body), BASIC("sub-1", "%s", DOMAIN, GF_ID_A), cs);
    assert_int_equal(post(x, "/graph/notify/t", body, out), 202);
    assert_true(gfx__wait_metric(f, "notifications_total", TL ",outcome=\"wrong_tenant\"", 1));
    assert_int_equal(metrics__get("notifications_total", TL ",outcome=\"tenant_pending\""), 1);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_and_unknown_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_over_the_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_notification_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_sign_in_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_accounts_700_users, setup_accounts, teardown),
        cmocka_unit_test_setup_teardown(test_two_tenants_kept_apart, setup_tenants, teardown),
        cmocka_unit_test_setup_teardown(test_domain_tenant, setup_domain, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
