/* Component test: Graph sign-in (connector/graph/tokens.c) and the Graph
 * client's 401 handling (graph_client.c) in process, against canned replies
 * of the identity platform and Graph over real sockets, on the fake clock
 * (docs/graph.md "Sign-in"); what test_graph_lifecycle.sh checked against
 * fake-graph for the tokens:
 *  - a service account signs in with its password (ROPC), then refreshes
 *    with its refresh_token ahead of the expiry;
 *  - a refresh refused (revoked: AADSTS50173) is logged and the account
 *    signs in with its password again at once;
 *  - a password refused (AADSTS50126): the token's B/health state is error
 *    with the code, retried with backoff, ok again once accepted, no
 *    restart;
 *  - Graph answering 401: the token is dropped, one new token, the request
 *    sent again with it;
 * and what test_graph_auth.sh checked for the tokens:
 *  - an account that needs MFA (AADSTS50076): B/health error with the code,
 *    invalid_grant and the plain explanation, logged, retried with backoff
 *    (2 to 6 attempts in 8 s, never a tight loop), signed in once allowed;
 *  - a wrong client secret (AADSTS7000215) for the app token: the same, with
 *    the secret's explanation; a secret with + / = & % sent form-encoded
 *    and never logged. */
#include <cjson/cJSON.h>

#include "graph/tokens.h"
#include "graph_fixture.h"

#define TOK(a, r, s)                                                              \
    "{\"token_type\":\"Bearer\",\"expires_in\":" s ",\"access_token\":\"" a "\"," \
    "\"refresh_token\":\"" r "\"}"
#define REFUSED(code, err)                                                      \
    "{\"error\":\"" err "\",\"error_description\":\"AADSTS" code ": refused\"," \
    "\"error_codes\":[" code "]}"

struct fx {
    struct comp_env ce;
    struct canned_http *s;
    struct http_client *http;
    char token_url[256];
    struct gtoken tok;
    bool tok_made;
    struct graph_client *gc;
};

static int setup(void **st)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    gfx__ground(&f->ce, &f->s, &f->http,
                &(struct gfx_ground){.instance = "ps-t",
                                     .users = "[\"a@x.com\"]",
                                     .roles = CONFIG_ROLE_GRAPH,
                                     .logs = true});
    snprintf(f->token_url, sizeof(f->token_url), "%s%s", canned_http__url(f->s), GF_TOKEN);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    if (f->tok_made)
        tokens__stop(&f->tok);
    if (f->gc)
        graph_client__stop(f->gc);
    gfx__unplug(&f->ce, f->http);
    if (f->tok_made)
        tokens__free(&f->tok);
    graph_client__free(f->gc);
    gfx__unground(&f->ce, f->s);
    free(f);
    return 0;
}

static void account_with(struct fx *f, const char *username, const char *secret)
{
    struct gtoken_config c = {.loop = f->ce.loop,
                              .http = f->http,
                              .tenant = "t",
                              .token_url = f->token_url,
                              .client_id = GF_CLIENT_ID,
                              .secret = secret,
                              .username = username,
                              .password = username ? "not-a-real-secret" : NULL};
    tokens__init(&f->tok, &c);
    f->tok_made = true;
}

static void account(struct fx *f)
{
    struct gtoken_config c = {.loop = f->ce.loop,
                              .http = f->http,
                              .tenant = "t",
                              .token_url = f->token_url,
                              .client_id = GF_CLIENT_ID,
                              .secret = "not-a-real-secret",
                              .username = "svc@x.com",
                              .password = "not-a-real-secret"};
    tokens__init(&f->tok, &c);
    f->tok_made = true;
}

struct got {
    int n;
    char bearer[64];
    char error[128];
};

static void on_token(void *ctx, const char *bearer, const char *error)
{
    struct got *g = ctx;
    g->n++;
    snprintf(g->bearer, sizeof(g->bearer), "%s", bearer ? bearer : "");
    snprintf(g->error, sizeof(g->error), "%s", error ? error : "");
}

static bool got_one(void *ctx)
{
    return ((struct got *)ctx)->n > 0;
}

struct count {
    struct fx *f;
    size_t n;
};

static bool tokens_asked(void *ctx)
{
    struct count *c = ctx;
    return canned_http__count(c->f->s, "POST", GF_TOKEN) >= c->n;
}

/* The token request n (0-based) contains want. */
static bool token_request_has(struct fx *f, size_t n, const char *want)
{
    char *req = canned_http__request(f->s, "POST", GF_TOKEN, n);
    bool has = req && strstr(req, want);
    if (!has)
        print_message("token request %zu: %s\n", n, req ? req : "(none)");
    free(req);
    return has;
}

/* Runs the fake clock by steps of 1 s until n token requests came, each
 * answered before the next step. */
static bool until_tokens(struct fx *f, size_t n, int max_s)
{
    struct count c = {f, n};
    for (int i = 0; i < max_s; i++) {
        if (comp_env__wait(&f->ce, tokens_asked, &c, 200))
            break;
        comp_env__advance(&f->ce, 1000);
    }
    return comp_env__wait(&f->ce, tokens_asked, &c, GF_WAIT_MS);
}

static bool holds_a3(void *ctx)
{
    const char *cur = tokens__current(&((struct fx *)ctx)->tok);
    return cur && strcmp(cur, "a-3") == 0;
}

static bool holds_a1(void *ctx)
{
    const char *cur = tokens__current(&((struct fx *)ctx)->tok);
    return cur && strcmp(cur, "a-1") == 0;
}

static const char *state_of(struct fx *f, char *buf, size_t len)
{
    cJSON *o = tokens__status_json(&f->tok);
    char *js = cJSON_PrintUnformatted(o);
    snprintf(buf, len, "%s", js);
    free(js);
    cJSON_Delete(o);
    return buf;
}

static void test_refresh_then_password_again(void **st)
{
    struct fx *f = *st;
    canned_http__add(
        f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL, TOK("a-1", "r-1", "8"), 1, 0});
    canned_http__add(
        f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL, TOK("a-2", "r-2", "8"), 1, 0});
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_TOKEN, 400, NULL,
                                                 REFUSED("50173", "invalid_grant"), 1, 0});
    canned_http__add(
        f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL, TOK("a-3", "r-3", "3599"), 0, 0});
    account(f);
    struct got g = {0};
    tokens__get(&f->tok, on_token, &g, false);
    assert_true(comp_env__wait(&f->ce, got_one, &g, GF_WAIT_MS));
    assert_string_equal(g.bearer, "a-1");
    assert_true(token_request_has(f, 0, "grant_type=password"));
    assert_true(token_request_has(f, 0, "username=svc%40x.com"));
    /* an 8 s token is refreshed at half its life, with the refresh token */
    comp_env__advance(&f->ce, 3999);
    assert_int_equal(canned_http__count(f->s, "POST", GF_TOKEN), 1);
    assert_true(until_tokens(f, 2, 3));
    assert_true(token_request_has(f, 1, "grant_type=refresh_token"));
    assert_true(token_request_has(f, 1, "refresh_token=r-1"));
    /* revoked: the refresh is refused, the password is used at once */
    assert_true(until_tokens(f, 4, 10));
    assert_true(token_request_has(f, 2, "refresh_token=r-2"));
    assert_true(token_request_has(f, 3, "grant_type=password"));
    assert_true(log_capture__has("token refresh failed, signing in again tenant=t "
                                 "account=svc@x.com error=invalid_grant aadsts=50173"));
    assert_true(comp_env__wait(&f->ce, holds_a3, f, GF_WAIT_MS));
    char buf[512];
    assert_non_null(strstr(state_of(f, buf, sizeof(buf)), "\"state\":\"ok\""));
}

static void test_password_refused_then_restored(void **st)
{
    struct fx *f = *st;
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_TOKEN, 400, NULL,
                                                 REFUSED("50126", "invalid_grant"), 3, 0});
    canned_http__add(
        f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL, TOK("a-1", "r-1", "3599"), 0, 0});
    account(f);
    struct got g = {0};
    tokens__get(&f->tok, on_token, &g, true);
    assert_true(comp_env__wait(&f->ce, got_one, &g, GF_WAIT_MS));
    assert_string_equal(g.bearer, "");
    assert_true(g.error[0]);
    assert_true(tokens__failing(&f->tok));
    char buf[512];
    state_of(f, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\"state\":\"error\""));
    assert_non_null(strstr(buf, "\"aadsts\":50126"));
    assert_true(log_capture__has("sign-in failed tenant=t account=svc@x.com status=400 "
                                 "error=invalid_grant aadsts=50126"));
    assert_false(log_capture__has("not-a-real-secret"));
    comp_env__settle(&f->ce);
    assert_int_equal(canned_http__count(f->s, "POST", GF_TOKEN), 1); /* not at once */
    /* retried with backoff, never in a tight loop; accepted: ok again */
    assert_true(until_tokens(f, 4, 30));
    assert_true(comp_env__wait(&f->ce, holds_a1, f, GF_WAIT_MS));
    assert_false(tokens__failing(&f->tok));
    assert_non_null(strstr(state_of(f, buf, sizeof(buf)), "\"state\":\"ok\""));
    assert_true(log_capture__has("signed in tenant=t account=svc@x.com"));
}

struct reply {
    int n, status;
};

static void on_reply(void *ctx, const struct graph_response *res)
{
    struct reply *r = ctx;
    r->n++;
    r->status = res->status;
}

static bool replied(void *ctx)
{
    return ((struct reply *)ctx)->n > 0;
}

static void test_401_new_token_once(void **st)
{
    struct fx *f = *st;
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL,
                                                 TOK("tok-1", "r-1", "3599"), 1, 0});
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL,
                                                 TOK("tok-2", "r-2", "3599"), 0, 0});
    canned_http__add(
        f->s, &(struct canned_rule){"GET", "/v1.0/subscriptions", 401, NULL,
                                    "{\"error\":{\"code\":\"InvalidAuthenticationToken\"}}", 1, 0});
    canned_http__add(f->s, &(struct canned_rule){"GET", "/v1.0/subscriptions", 200, NULL,
                                                 "{\"value\":[]}", 0, 0});
    f->gc = gfx__client(&f->ce, f->http, false, GRAPH_PRESENCE_LIMIT, GRAPH_PRESENCE_WINDOW_MS);
    struct graph_client_tenant *t = graph_client__tenant(f->gc, "t");
    struct reply r = {0};
    struct graph_request req = {.method = "GET", .path = "/subscriptions"};
    assert_int_equal(graph_client__send(t, &req, on_reply, &r), 0);
    assert_true(comp_env__wait(&f->ce, replied, &r, GF_WAIT_MS));
    assert_int_equal(r.n, 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(canned_http__count(f->s, "POST", GF_TOKEN), 2);
    assert_int_equal(canned_http__count(f->s, "GET", "/v1.0/subscriptions"), 2);
    char *a = canned_http__request(f->s, "GET", "/v1.0/subscriptions", 0);
    char *b = canned_http__request(f->s, "GET", "/v1.0/subscriptions", 1);
    assert_non_null(strstr(a, "Authorization: Bearer tok-1\r\n"));
    assert_non_null(strstr(b, "Authorization: Bearer tok-2\r\n"));
    free(a);
    free(b);
}

static bool all_answered(void *ctx)
{
    return http_client__unanswered(((struct fx *)ctx)->http) == 0;
}

/* Runs the fake clock for ms by steps of 100 ms, each request answered
 * before the next step; the token requests seen in that time. */
static size_t attempts_over(struct fx *f, int64_t ms)
{
    size_t before = canned_http__count(f->s, "POST", GF_TOKEN);
    for (int64_t t = 0; t < ms; t += 100) {
        comp_env__advance(&f->ce, 100);
        assert_true(comp_env__wait(&f->ce, all_answered, f, GF_WAIT_MS));
        comp_env__settle(&f->ce);
    }
    return canned_http__count(f->s, "POST", GF_TOKEN) - before;
}

static void test_mfa_required_explained(void **st)
{
    struct fx *f = *st;
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_TOKEN, 400, NULL,
                                                 REFUSED("50076", "invalid_grant"), 0, 0});
    account(f);
    struct got g = {0};
    tokens__get(&f->tok, on_token, &g, true);
    assert_true(comp_env__wait(&f->ce, got_one, &g, GF_WAIT_MS));
    assert_string_equal(g.bearer, "");
    char buf[1024];
    state_of(f, buf, sizeof(buf));
    print_message("%s\n", buf);
    assert_non_null(strstr(buf, "\"state\":\"error\""));
    assert_non_null(strstr(buf, "\"aadsts\":50076"));
    assert_non_null(strstr(buf, "\"error\":\"invalid_grant\""));
    assert_non_null(strstr(buf, "multi-factor"));
    assert_true(log_capture__has("sign-in failed tenant=t account=svc@x.com status=400 "
                                 "error=invalid_grant aadsts=50076"));
    /* backoff, never a tight loop: 1 to 5 more attempts in 8 s */
    size_t n = attempts_over(f, 8000);
    print_message("ROPC attempts in 8 s after the first: %zu\n", n);
    assert_true(n >= 1 && n <= 5);
    /* MFA lifted for the account: signed in on the next retry, no restart */
    canned_http__prepend(
        f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL, TOK("a-1", "r-1", "3599"), 0, 0});
    assert_true(until_tokens(f, canned_http__count(f->s, "POST", GF_TOKEN) + 1, 60));
    assert_true(comp_env__wait(&f->ce, holds_a1, f, GF_WAIT_MS));
    assert_non_null(strstr(state_of(f, buf, sizeof(buf)), "\"state\":\"ok\""));
    assert_true(log_capture__has("signed in tenant=t account=svc@x.com"));
}

static void test_bad_client_secret_explained(void **st)
{
    struct fx *f = *st;
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_TOKEN, 401, NULL,
                                                 REFUSED("7000215", "invalid_client"), 0, 0});
    account_with(f, NULL, "not+the/secret=&%");
    struct got g = {0};
    tokens__get(&f->tok, on_token, &g, true);
    assert_true(comp_env__wait(&f->ce, got_one, &g, GF_WAIT_MS));
    assert_string_equal(g.bearer, "");
    assert_string_equal(tokens__who(&f->tok), "app");
    assert_true(token_request_has(f, 0, "grant_type=client_credentials"));
    assert_true(token_request_has(f, 0, "client_secret=not%2Bthe%2Fsecret%3D%26%25"));
    char buf[1024];
    state_of(f, buf, sizeof(buf));
    print_message("%s\n", buf);
    assert_non_null(strstr(buf, "\"state\":\"error\""));
    assert_non_null(strstr(buf, "\"aadsts\":7000215"));
    assert_non_null(strstr(buf, "client secret"));
    size_t n = attempts_over(f, 8000);
    print_message("client_credentials attempts in 8 s after the first: %zu\n", n);
    assert_true(n >= 1 && n <= 5);
    assert_false(log_capture__has("not+the/secret"));
    assert_false(log_capture__has("not%2Bthe"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refresh_then_password_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_refused_then_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_401_new_token_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mfa_required_explained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_client_secret_explained, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
