/* Component test: the Graph client and presence writer (connector/graph/
 * graph_client.c, graph_writer.c, tokens.c, graph_batch.c) in process, against canned HTTP
 * replies over real sockets (tests/lib/canned_http.c) for the token
 * endpoint and Graph, on the real loop and the fake clock. Throttling in its
 * three forms: a $batch item's Retry-After as a number, a string and an
 * HTTP date, and a whole single request's Retry-After header; each ends the
 * operation THROTTLED with its wait, and the tenant's presence budget holds
 * the next presence request for exactly that long (docs/graph.md "The
 * presence budget"). Users by object id only. And what
 * test_mapper_token_401.sh checked: a clear throttled twice (429 +
 * Retry-After 2 s), then, retried past the wait with the token expired
 * meanwhile, answered 401: the client fetches a new token and sends the
 * clear again at once (no fake time passes, no backoff inherited from the
 * 429s), and the write ends OK, once: the 401 is never a failure the
 * mapper sees (docs/graph.md "The Graph client"). */
#include "graph_fixture.h"

#define ID1    "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
#define ID2    "0f1e2d3c-aaaa-bbbb-cccc-000000000002"
#define CLEAR1 "/v1.0/users/" ID1 "/presence/clearPresence"

struct fx {
    struct comp_env ce;
    struct canned_http *s;
    struct http_client *http;
    struct graph_client *gc;
    struct graph_client_tenant *t;
    struct graph_writer *w;
};

/* One operation's result. */
struct res {
    int n;
    enum graph_write_status status;
    int http_status;
    int64_t retry_after_ms;
};

static int setup(void **st)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    gfx__ground(&f->ce, &f->s, &f->http,
                &(struct gfx_ground){.instance = "ps-w",
                                     .users = "[\"a@x.com\",\"b@x.com\"]",
                                     .roles = CONFIG_ROLE_MAPPER});
    f->gc = gfx__client(&f->ce, f->http, false, GRAPH_PRESENCE_LIMIT, GRAPH_PRESENCE_WINDOW_MS);
    assert_non_null(f->t = graph_client__tenant(f->gc, "t"));
    assert_non_null(f->w = graph_writer__new(f->ce.loop, f->gc));
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL,
                                                 "{\"token_type\":\"Bearer\",\"expires_in\":3599,"
                                                 "\"access_token\":\"tok-app-1\"}",
                                                 0, 0});
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    gfx__end_writer(&f->ce, f->s, f->http, f->gc, f->w);
    free(f);
    return 0;
}

static void on_result(void *ctx, const struct graph_write_result *r)
{
    struct res *x = ctx;
    x->n++;
    x->status = r->status;
    x->http_status = r->http_status;
    x->retry_after_ms = r->retry_after_ms;
}

static bool answered(void *ctx)
{
    return ((struct res *)ctx)->n > 0;
}

static bool answered2(void *ctx)
{
    return ((struct res *)ctx)->n > 1;
}

static void clear(struct fx *f, const char *upn, const char *id, struct res *r)
{
    struct graph_write op = {.tenant = "t", .upn = upn, .user_id = id, .op = GRAPH_OP_CLEAR};
    assert_int_equal(graph_writer__submit(f->w, &op, on_result, r), 0);
}

/* The next presence request (a clear of user 1) waits for the budget's hold
 * of hold_ms from now, not a millisecond less, then goes out. */
static void assert_hold(struct fx *f, int64_t hold_ms)
{
    canned_http__add(f->s, &(struct canned_rule){"POST", CLEAR1, 204, NULL, NULL, 0, 0});
    size_t before = canned_http__count(f->s, "POST", CLEAR1);
    struct res r = {0};
    clear(f, "a@x.com", ID1, &r);
    comp_env__settle(&f->ce);
    assert_true(graph_client__budget_tight(f->t)); /* queued for the budget */
    comp_env__advance(&f->ce, hold_ms - 1);
    assert_false(comp_env__wait(&f->ce, answered, &r, 300));
    assert_true(graph_client__budget_tight(f->t)); /* still queued, not sent */
    assert_int_equal(canned_http__count(f->s, "POST", CLEAR1), before);
    comp_env__advance(&f->ce, 1);
    assert_true(comp_env__wait(&f->ce, answered, &r, GF_WAIT_MS));
    assert_int_equal(r.status, GRAPH_WRITE_OK);
    assert_int_equal(canned_http__count(f->s, "POST", CLEAR1), before + 1);
    assert_false(graph_client__budget_tight(f->t));
}

/* Two clears in one loop turn; the $batch answers item 0 with 204 and item 1
 * with 429 and retry_after (a JSON value). Returns item 1's retry_after_ms. */
static int64_t batch_throttled(struct fx *f, const char *retry_after)
{
    char answer[512];
    snprintf(answer, sizeof(answer),
             "{\"responses\":[{\"id\":\"0\",\"status\":204},{\"id\":\"1\",\"status\":429,"
             "\"headers\":{\"Retry-After\":%s},\"body\":{\"error\":{\"code\":"
             "\"TooManyRequests\"}}}]}",
             retry_after);
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_BATCH, 200, NULL, answer, 1, 0});
    struct res r[2] = {{0}, {0}};
    double throttled = metrics__get("graph_throttled_total", "tenant=\"t\"");
    clear(f, "a@x.com", ID1, &r[0]);
    clear(f, "b@x.com", ID2, &r[1]);
    assert_true(comp_env__wait(&f->ce, answered, &r[1], GF_WAIT_MS));
    /* the throttled item counted once, for its tenant */
    assert_true(metrics__get("graph_throttled_total", "tenant=\"t\"") == throttled + 1);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[1].n, 1);
    assert_int_equal(canned_http__count(f->s, "POST", GF_TOKEN), 1);
    assert_int_equal(canned_http__count(f->s, "POST", GF_BATCH), 1);
    assert_int_equal(canned_http__count(f->s, "POST", "/v1.0/users/"), 0);
    assert_int_equal(r[0].status, GRAPH_WRITE_OK);
    assert_int_equal(r[0].http_status, 204);
    assert_int_equal(r[1].status, GRAPH_WRITE_THROTTLED);
    assert_int_equal(r[1].http_status, 429);
    return r[1].retry_after_ms;
}

/* The $batch as sent: the two clears by object id, numbered "0" and "1"
 * (graph/graph_batch.h), with the app token. */
static void assert_batch_request(struct fx *f)
{
    char *req = canned_http__request(f->s, "POST", GF_BATCH, 0);
    assert_non_null(req);
    assert_non_null(strstr(req, "Authorization: Bearer tok-app-1\r\n"));
    const char *body = strstr(req, "\r\n\r\n");
    assert_non_null(body);
    const char *i0 = strstr(body, "\"id\":\"0\"");
    const char *i1 = strstr(body, "\"id\":\"1\"");
    const char *u1 = strstr(body, "/users/" ID1 "/presence/clearPresence");
    const char *u2 = strstr(body, "/users/" ID2 "/presence/clearPresence");
    assert_true(i0 && i1 && u1 && u2);
    assert_true(i0 < u1 && u1 < i1 && i1 < u2); /* item 0 is user 1 */
    assert_null(strstr(body, "@x.com"));        /* never a UPN */
    assert_non_null(strstr(body, "\"sessionId\":\"" GF_CLIENT_ID "\""));
    free(req);
    req = canned_http__request(f->s, "POST", GF_TOKEN, 0);
    assert_non_null(req);
    assert_non_null(strstr(req, "grant_type=client_credentials"));
    free(req);
}

static void test_batch_retry_after_number(void **st)
{
    struct fx *f = *st;
    assert_int_equal(batch_throttled(f, "3"), 3000);
    assert_batch_request(f);
    assert_hold(f, 3000);
}

static void test_batch_retry_after_string(void **st)
{
    struct fx *f = *st;
    assert_int_equal(batch_throttled(f, "\"3\""), 3000);
    assert_hold(f, 3000);
}

/* An HTTP date 5 s ahead of the real wall clock (Graph's dates are real
 * time; the writer reads them against time()): 4 to 5 s, whole seconds. */
static void test_batch_retry_after_date(void **st)
{
    struct fx *f = *st;
    time_t at = time(NULL) + 5;
    struct tm tm;
    char date[64];
    strftime(date, sizeof(date), "\"%a, %d %b %Y %H:%M:%S GMT\"", gmtime_r(&at, &tm));
    int64_t ra = batch_throttled(f, date);
    assert_in_range(ra, 4000, 5000);
    assert_int_equal(ra % 1000, 0);
    assert_hold(f, ra);
}

/* A single clear answered 429 as a whole, Retry-After in the HTTP header. */
static void test_single_retry_after_header(void **st)
{
    struct fx *f = *st;
    canned_http__add(f->s,
                     &(struct canned_rule){"POST", CLEAR1, 429, "Retry-After: 2\r\n",
                                           "{\"error\":{\"code\":\"TooManyRequests\"}}", 1, 0});
    struct res r = {0};
    clear(f, "a@x.com", ID1, &r);
    assert_true(comp_env__wait(&f->ce, answered, &r, GF_WAIT_MS));
    assert_int_equal(r.status, GRAPH_WRITE_THROTTLED);
    assert_int_equal(r.http_status, 429);
    assert_int_equal(r.retry_after_ms, 2000);
    assert_int_equal(canned_http__count(f->s, "POST", CLEAR1), 1);
    assert_int_equal(canned_http__count(f->s, "POST", GF_BATCH), 0);
    char *req = canned_http__request(f->s, "POST", CLEAR1, 0);
    assert_non_null(req);
    assert_non_null(strstr(req, "\r\n\r\n{\"sessionId\":\"" GF_CLIENT_ID "\"}"));
    free(req);
    assert_hold(f, 2000);
}

/* A whole $batch answered 503 with a Retry-After header (test_mapper_faults.sh
 * did it end to end): every item ends THROTTLED with that wait; the next
 * presence request is held as long. */
static void test_whole_batch_503(void **st)
{
    struct fx *f = *st;
    canned_http__add(f->s,
                     &(struct canned_rule){"POST", GF_BATCH, 503, "Retry-After: 1\r\n",
                                           "{\"error\":{\"code\":\"serviceNotAvailable\"}}", 1, 0});
    struct res r[2] = {{0}, {0}};
    double throttled = metrics__get("graph_throttled_total", "tenant=\"t\"");
    clear(f, "a@x.com", ID1, &r[0]);
    clear(f, "b@x.com", ID2, &r[1]);
    assert_true(comp_env__wait(&f->ce, answered, &r[1], GF_WAIT_MS));
    /* the throttled item counted once, for its tenant */
    assert_true(metrics__get("graph_throttled_total", "tenant=\"t\"") == throttled + 1);
    assert_true(comp_env__wait(&f->ce, answered, &r[0], GF_WAIT_MS));
    assert_int_equal(canned_http__count(f->s, "POST", GF_BATCH), 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].status, GRAPH_WRITE_THROTTLED);
        assert_int_equal(r[i].http_status, 503);
        assert_int_equal(r[i].retry_after_ms, 1000);
    }
    assert_hold(f, 1000);
}

/* Graph does not answer within the writer's timeout (it may still apply
 * the write): the operation ends FAILED, no HTTP status, once. */
static void test_timeout(void **st)
{
    struct fx *f = *st;
    graph_writer__set_timeout(f->w, 200);
    canned_http__add(f->s, &(struct canned_rule){"POST", CLEAR1, 204, NULL, NULL, 1, 1200});
    struct res r = {0};
    clear(f, "a@x.com", ID1, &r);
    assert_true(comp_env__wait(&f->ce, answered, &r, GF_WAIT_MS));
    assert_int_equal(r.status, GRAPH_WRITE_FAILED);
    assert_int_equal(r.http_status, 0);
    assert_false(comp_env__wait(&f->ce, answered2, &r, 500));
    assert_int_equal(r.n, 1);
}

static void test_401_after_429_not_a_failure(void **st)
{
    struct fx *f = *st;
    canned_http__add(f->s,
                     &(struct canned_rule){"POST", CLEAR1, 429, "Retry-After: 2\r\n",
                                           "{\"error\":{\"code\":\"TooManyRequests\"}}", 2, 0});
    for (int i = 0; i < 2; i++) { /* the mapper's two tries, each after the wait */
        struct res r = {0};
        clear(f, "a@x.com", ID1, &r);
        comp_env__settle(&f->ce);
        assert_true(comp_env__wait(&f->ce, answered, &r, GF_WAIT_MS));
        assert_int_equal(r.status, GRAPH_WRITE_THROTTLED);
        assert_int_equal(r.retry_after_ms, 2000);
        comp_env__advance(&f->ce, 2000);
    }
    /* the token expired meanwhile: Graph says 401, the next token differs */
    canned_http__prepend(f->s, &(struct canned_rule){"POST", CLEAR1, 401, NULL,
                                                     "{\"error\":{\"code\":"
                                                     "\"InvalidAuthenticationToken\"}}",
                                                     1, 0});
    canned_http__prepend(f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL,
                                                     "{\"token_type\":\"Bearer\",\"expires_in\":"
                                                     "3599,\"access_token\":\"tok-app-2\"}",
                                                     0, 0});
    canned_http__add(f->s, &(struct canned_rule){"POST", CLEAR1, 204, NULL, NULL, 0, 0});
    struct res r = {0};
    clear(f, "a@x.com", ID1, &r);
    assert_true(comp_env__wait(&f->ce, answered, &r, GF_WAIT_MS)); /* the fake clock stands */
    assert_int_equal(r.status, GRAPH_WRITE_OK);
    assert_int_equal(r.http_status, 204);
    assert_false(comp_env__wait(&f->ce, answered2, &r, 300));
    assert_int_equal(canned_http__count(f->s, "POST", CLEAR1), 4); /* 429, 429, 401, 204 */
    assert_int_equal(canned_http__count(f->s, "POST", GF_TOKEN), 2);
    char *c401 = canned_http__request(f->s, "POST", CLEAR1, 2);
    char *c204 = canned_http__request(f->s, "POST", CLEAR1, 3);
    assert_non_null(strstr(c401, "Authorization: Bearer tok-app-1\r\n"));
    assert_non_null(strstr(c204, "Authorization: Bearer tok-app-2\r\n"));
    free(c401);
    free(c204);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_retry_after_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_retry_after_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_retry_after_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_retry_after_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_batch_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_401_after_429_not_a_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
