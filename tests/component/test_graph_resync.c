/* Component test: the user lookup and the presence reads (connector/graph/
 * users.c, resync.c) in process, on the Graph client, with the
 * subscriptions they drive (graph_fixture.h), against canned Graph replies,
 * the fake bus and the fake clock (docs/graph.md "Start-up, per tenant",
 * "Resync"):
 *  - seeding: after the lookup everyone's presence is read with one
 *    getPresencesByUserId and each user's busy topic published, retained;
 *  - a lookup item throttled (429) waits exactly its own Retry-After; a user
 *    Azure AD does not know (404) is left out of the subscriptions and
 *    listed in B/health;
 *  - a read answered 429 is retried after its Retry-After, not sooner; one
 *    that hangs past the client's timeout is retried;
 *  - the periodic resync brings a change that no notification announced;
 *  - a periodic resync of many users sends its reads (650 ids each) 600 ms
 *    apart, where a resync on request sends them at once;
 *  - out-of-order presences (sequenceNumber) are dropped;
 *  - basic notifications of one turn share one read;
 *  - a user who leaves the configuration has the busy topic cleared. */
#include "graph_fixture.h"

#include "graph/presence.h"
#include "log_capture.h"

#define TL "tenant=\"t\""
#define PRESENCES(a_avail, a_act, b_avail, b_act)                                                \
    "{\"value\":[{\"id\":\"" GF_ID_A "\",\"availability\":\"" a_avail "\",\"activity\":\"" a_act \
    "\"},{\"id\":\"" GF_ID_B "\",\"availability\":\"" b_avail "\",\"activity\":\"" b_act "\"}]}"

/* Lookups and the subscription answered; `times` reads (0: all) get
 * `reads`. */
static void canned_graph(struct gfx *f, const char *reads, int times)
{
    gfx__rule(f, "POST", GF_BATCH, 200, NULL, GF_LOOKUP_OK, 0);
    gfx__rule(f, "POST", GF_READ, 200, NULL, reads, times);
    gfx__rule(f, "GET", GF_SUBS, 200, NULL, "{\"value\":[]}", 0);
    char *sub = gfx__sub_json("sub-1", 3LL * 3600 * 1000);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 0);
    gfx__rule(f, "PATCH", GF_SUBS, 200, NULL, sub, 0);
    free(sub);
}

/* Start-up: one read of both ids (app token), topics published. */
static void test_seed_at_start(void **st)
{
    struct gfx *f = *st;
    canned_graph(f, PRESENCES("Busy", "InACall", "Available", "Available"), 0);
    users__resolve(f->users);
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":true"));
    assert_true(gfx__wait_busy(f, "b@x.com", "\"busy\":false"));
    const char *a = gfx__busy(f, "a@x.com");
    assert_non_null(strstr(a, "\"activity\":\"InACall\""));
    assert_non_null(strstr(a, "\"source\":\"resync\""));
    char *req = canned_http__request(f->s, "POST", GF_READ, 0);
    assert_non_null(strstr(req, "Authorization: Bearer tok-1\r\n"));
    assert_non_null(strstr(req, "{\"ids\":[\"" GF_ID_A "\",\"" GF_ID_B "\"]}"));
    free(req);
    /* one read for both users; the subscription's own resync starts as soon
     * as its create is answered (real time), so it may be done already */
    assert_in_range(metrics__get("graph_resyncs_total", NULL), 1, 2);
    assert_int_equal(metrics__get("graph_users_resolved", TL), 2);
    /* the subscription's own resync follows; nothing changed: no publish */
    assert_true(gfx__wait_metric(f, "graph_resyncs_total", NULL, 2));
    comp_env__settle(&f->ce);
    char *s = status__json();
    assert_null(strstr(s, "\"last_resync\":null"));
    free(s);
}

/* Item 1 (b) is throttled with Retry-After 7 (a number): b is looked up
 * again at exactly 7 s, and found missing (404): left out of the
 * subscription, listed in B/health. Nothing is planned before the round
 * that leaves nobody pending. */
static void test_lookup_throttled_then_missing(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "POST", GF_BATCH, 200, NULL,
              "{\"responses\":[{\"id\":\"0\",\"status\":200,\"body\":{\"id\":\"" GF_ID_A "\"}},"
              "{\"id\":\"1\",\"status\":429,\"headers\":{\"Retry-After\":7},"
              "\"body\":{\"error\":{\"code\":\"TooManyRequests\"}}}]}",
              1);
    gfx__rule(f, "POST", GF_BATCH, 200, NULL,
              "{\"responses\":[{\"id\":\"0\",\"status\":404,\"body\":{\"error\":{\"code\":"
              "\"Request_ResourceNotFound\"}}}]}",
              1);
    canned_graph(f, PRESENCES("Busy", "InACall", "Available", "Available"), 0);
    users__resolve(f->users);
    assert_true(gfx__wait_requests(f, "POST", GF_BATCH, 1));
    assert_true(gfx__no_more(f, "POST", GF_BATCH));
    assert_int_equal(f->rounds, 0);
    assert_int_equal(canned_http__count(f->s, "POST", GF_SUBS), 0);
    comp_env__advance(&f->ce, 6999);
    assert_true(gfx__no_more(f, "POST", GF_BATCH));
    comp_env__advance(&f->ce, 1);
    assert_true(gfx__wait_requests(f, "POST", GF_BATCH, 2));
    char *body = gfx__body(f, "POST", GF_BATCH, 1);
    assert_non_null(strstr(body, "/users/b@x.com?"));
    assert_null(strstr(body, "/users/a@x.com"));
    free(body);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_created_total", TL, 1));
    assert_int_equal(f->rounds, 1);
    body = gfx__body(f, "POST", GF_SUBS, 0);
    assert_non_null(strstr(body, "$filter=id in ('" GF_ID_A "')\""));
    free(body);
    comp_env__settle(&f->ce);
    char *s = status__json();
    assert_non_null(strstr(s, "\"not_found\":[\"b@x.com\"]"));
    free(s);
    assert_int_equal(metrics__get("graph_users_resolved", TL), 1);
    assert_null(gfx__busy(f, "b@x.com"));
}

/* The start-up read answered 429 with Retry-After 5: read again at 5 s,
 * not sooner, then the topics are published. The subscription made
 * meanwhile asks for a resync of its own, which waits for the running one:
 * one more read after the retry, never one before it. */
static void test_read_throttled(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "POST", GF_READ, 429, "Retry-After: 5\r\n",
              "{\"error\":{\"code\":\"TooManyRequests\"}}", 1);
    canned_graph(f, PRESENCES("Busy", "InACall", "Away", "Away"), 0);
    users__resolve(f->users);
    assert_true(gfx__wait_metric(f, "graph_presence_read_failures_total", NULL, 1));
    assert_null(gfx__busy(f, "a@x.com"));
    comp_env__advance(&f->ce, 4999);
    assert_true(gfx__no_more(f, "POST", GF_READ));
    comp_env__advance(&f->ce, 1);
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":true"));
    assert_true(gfx__wait_busy(f, "b@x.com", "\"availability\":\"Away\""));
    assert_true(gfx__quiet(f));
    assert_int_equal(canned_http__count(f->s, "POST", GF_READ), 3);
    assert_int_equal(metrics__get("graph_presence_read_failures_total", NULL), 1);
}

/* The start-up read hangs past the client's timeout
 * (test_fault_graph_timeout.sh; 30 s in the daemon, 300 ms here): the
 * failure is logged with status 0 and retried after a backoff, and the
 * retry's answer is published (source resync). */
static void test_read_timeout(void **st)
{
    struct gfx *f = *st;
    assert_int_equal(log_capture__start(), 0);
    graph_client__set_timeout(f->gc, 300);
    canned_http__add(
        f->s, &(struct canned_rule){"POST", GF_READ, 200, NULL,
                                    PRESENCES("Available", "Available", "Available", "Available"),
                                    1, 1500});
    canned_graph(f, PRESENCES("Busy", "InACall", "Available", "Available"), 0);
    users__resolve(f->users);
    assert_true(gfx__wait_metric(f, "graph_presence_read_failures_total", NULL, 1));
    bool logged = log_capture__has("presence read failed tenant=t status=0 ids=2 retry=yes");
    log_capture__stop();
    assert_true(logged);
    assert_null(gfx__busy(f, "a@x.com"));
    struct gfx_busy b = {f, "a@x.com", "\"busy\":true"};
    assert_true(gfx__until(f, gfx__busy_matches, &b, 60000));
    assert_non_null(strstr(gfx__busy(f, "a@x.com"), "\"source\":\"resync\""));
    assert_true(canned_http__count(f->s, "POST", GF_READ) >= 2);
}

/* Reads answered 503 three times in a row (test_fault_graph.sh part 2):
 * each retried after a backoff, never at once; the fourth is published. */
static void test_read_5xx(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "POST", GF_READ, 503, NULL, "{\"error\":{\"code\":\"ServiceUnavailable\"}}", 3);
    canned_graph(f, PRESENCES("Busy", "InACall", "Away", "Away"), 0);
    users__resolve(f->users);
    assert_true(gfx__wait_metric(f, "graph_presence_read_failures_total", NULL, 1));
    assert_true(gfx__no_more(f, "POST", GF_READ));
    struct gfx_busy b = {f, "a@x.com", "\"busy\":true"};
    assert_true(gfx__until(f, gfx__busy_matches, &b, 60000));
    assert_int_equal(metrics__get("graph_presence_read_failures_total", NULL), 3);
    assert_non_null(strstr(gfx__busy(f, "a@x.com"), "\"source\":\"resync\""));
}

/* Nothing announces a change (a silent subscription): the read every
 * resync_minutes (15) brings it. */
static void test_periodic_resync(void **st)
{
    struct gfx *f = *st;
    canned_graph(f, PRESENCES("Available", "Available", "Available", "Available"), 2);
    gfx__rule(f, "POST", GF_READ, 200, NULL,
              PRESENCES("Busy", "InAConferenceCall", "Available", "Available"), 0);
    resync__start(f->resync);
    users__resolve(f->users);
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":false"));
    assert_true(gfx__wait_requests(f, "POST", GF_READ, 2)); /* start, subscription created */
    size_t reads = canned_http__count(f->s, "POST", GF_READ);
    comp_env__advance(&f->ce, 15LL * 60 * 1000 - 1);
    assert_true(gfx__no_more(f, "POST", GF_READ));
    comp_env__advance(&f->ce, 1);
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":true"));
    assert_int_equal(canned_http__count(f->s, "POST", GF_READ), reads + 1);
    assert_non_null(strstr(gfx__busy(f, "a@x.com"), "\"source\":\"resync\""));
}

/* SPREAD_USERS users: four reads of 650 ids (the last one 10). */
#define SPREAD_USERS   1960
#define SPREAD_CHUNKS  4
#define SPREAD_BATCHES (SPREAD_USERS / 20)

/* One $batch answer of 20 found users, ids unique over all batches. */
static char *spread_lookup_answer(int batch)
{
    char *out = malloc(20 * 96 + 32);
    size_t o = (size_t)sprintf(out, "{\"responses\":[");
    for (int i = 0; i < 20; i++)
        o += (size_t)sprintf(out + o,
                             "%s{\"id\":\"%d\",\"status\":200,\"body\":{\"id\":"
                             "\"0f1e2d3c-aaaa-bbbb-cccc-%012d\"}}",
                             i ? "," : "", i, batch * 20 + i);
    sprintf(out + o, "]}");
    return out;
}

/* docs/scaling.md: a periodic resync sends its chunks 600 ms apart, so no
 * 30 s window holds more than 50 of its reads; a resync asked for (start,
 * a subscription made) sends them at once. Counted on the fake clock. */
static void test_periodic_resync_spread(void **st)
{
    struct gfx *f = *st;
    for (int b = 0; b < SPREAD_BATCHES; b++) {
        char *answer = spread_lookup_answer(b);
        gfx__rule(f, "POST", GF_BATCH, 200, NULL, answer, 1);
        free(answer);
    }
    gfx__rule(f, "POST", GF_READ, 200, NULL, "{\"value\":[]}", 0);
    gfx__rule(f, "GET", GF_SUBS, 200, NULL, "{\"value\":[]}", 0);
    char *sub = gfx__sub_json("sub-1", 3LL * 3600 * 1000);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 0);
    gfx__rule(f, "PATCH", GF_SUBS, 200, NULL, sub, 0);
    free(sub);
    char **upns = calloc(SPREAD_USERS, sizeof(*upns));
    assert_non_null(upns);
    for (int i = 0; i < SPREAD_USERS; i++) {
        upns[i] = malloc(32);
        snprintf(upns[i], 32, "u%d@x.com", i);
    }
    assert_int_equal(users__sync(f->users, upns, SPREAD_USERS), 0);
    resync__start(f->resync);
    users__resolve(f->users);
    assert_true(gfx__wait_metric(f, "graph_users_resolved", TL, SPREAD_USERS));
    /* the start-up resync (and the subscription's): every chunk at once */
    assert_true(gfx__wait_requests(f, "POST", GF_READ, SPREAD_CHUNKS));
    assert_true(gfx__quiet(f));
    size_t reads = canned_http__count(f->s, "POST", GF_READ);
    assert_int_equal(reads % SPREAD_CHUNKS, 0);
    comp_env__advance(&f->ce, 15LL * 60 * 1000 - 1);
    assert_true(gfx__no_more(f, "POST", GF_READ));
    /* the periodic one: chunk k at k x 600 ms, not one sooner */
    for (int k = 0; k < SPREAD_CHUNKS; k++) {
        comp_env__advance(&f->ce, 1);
        assert_true(gfx__wait_requests(f, "POST", GF_READ, reads + (size_t)k + 1));
        assert_true(gfx__no_more(f, "POST", GF_READ));
        assert_int_equal(canned_http__count(f->s, "POST", GF_READ), reads + (size_t)k + 1);
        if (k + 1 < SPREAD_CHUNKS) {
            comp_env__advance(&f->ce, 599);
            assert_true(gfx__no_more(f, "POST", GF_READ));
        }
    }
    char *body = gfx__body(f, "POST", GF_READ, reads + SPREAD_CHUNKS - 1);
    assert_non_null(strstr(body, "cccc-000000001959"));
    free(body);
    for (int i = 0; i < SPREAD_USERS; i++)
        free(upns[i]);
    free(upns);
}

/* Presences carry sequenceNumbers: an older one than the last applied is
 * dropped; notifications change the topic with source "notification". */
static void test_out_of_order_dropped(void **st)
{
    struct gfx *f = *st;
    canned_graph(f, PRESENCES("Available", "Available", "Available", "Available"), 0);
    users__resolve(f->users);
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":false"));
    struct presence_state p = {.id = GF_ID_A, .availability = "Busy", .activity = "InACall"};
    snprintf(p.sequence, sizeof(p.sequence), "%s", "0000000000000002");
    assert_int_equal(resync__apply(f->resync, &p, "notification"), 1);
    struct presence_state old = {.id = GF_ID_A, .availability = "Available"};
    snprintf(old.activity, sizeof(old.activity), "%s", "Available");
    snprintf(old.sequence, sizeof(old.sequence), "%s", "0000000000000001");
    assert_int_equal(resync__apply(f->resync, &old, "notification"), -1);
    assert_int_equal(resync__apply(f->resync, &p, "notification"), 0); /* the same again */
    struct presence_state nobody = {.id = "ffffffff-0000-0000-0000-000000000000"};
    assert_int_equal(resync__apply(f->resync, &nobody, "notification"), -1);
    comp_env__settle(&f->ce);
    const char *a = gfx__busy(f, "a@x.com");
    assert_non_null(strstr(a, "\"busy\":true"));
    assert_non_null(strstr(a, "\"source\":\"notification\""));
    assert_int_equal(metrics__get("graph_presence_stale_total", NULL), 1);
}

/* Basic notifications carry ids only: the ids of one loop turn share one
 * getPresencesByUserId. */
static void test_basic_reads_share_a_request(void **st)
{
    struct gfx *f = *st;
    canned_graph(f, PRESENCES("Available", "Available", "Available", "Available"), 1);
    gfx__rule(f, "POST", GF_READ, 200, NULL, PRESENCES("Away", "Away", "Available", "Available"),
              1);
    users__resolve(f->users);
    /* the resync after the subscription's creation has been applied */
    assert_true(gfx__wait_busy(f, "a@x.com", "\"availability\":\"Away\""));
    gfx__rule(f, "POST", GF_READ, 200, NULL, PRESENCES("Away", "Away", "Busy", "Presenting"), 0);
    size_t reads = canned_http__count(f->s, "POST", GF_READ);
    char *a[] = {GF_ID_A}, *b[] = {GF_ID_B};
    resync__read_ids(f->resync, a, 1, clock__mono_ms());
    resync__read_ids(f->resync, b, 1, clock__mono_ms());
    assert_true(gfx__wait_busy(f, "b@x.com", "\"busy\":true"));
    assert_true(gfx__no_more(f, "POST", GF_READ));
    assert_int_equal(canned_http__count(f->s, "POST", GF_READ), reads + 1);
    char *req = canned_http__request(f->s, "POST", GF_READ, reads);
    assert_non_null(strstr(req, "{\"ids\":[\"" GF_ID_A "\",\"" GF_ID_B "\"]}"));
    free(req);
    assert_non_null(strstr(gfx__busy(f, "b@x.com"), "\"source\":\"notification\""));
}

/* A standby (docs/ha.md) leaves full resyncs to the active instance: its
 * read can be older than a notification the active instance published
 * meanwhile, and overwrote it (found by it_fault_random: a standby's
 * start-up read put InACall back over the active's InAConferenceCall). The
 * reads a basic notification asks for still run; becoming active runs one
 * full resync. */
static void test_standby_leaves_resyncs(void **st)
{
    struct gfx *f = *st;
    canned_graph(f, PRESENCES("Busy", "InACall", "Away", "Away"), 0);
    resync__set_standby(f->resync, true);
    resync__start(f->resync);
    users__resolve(f->users);
    assert_true(gfx__wait_metric(f, "graph_users_resolved", TL, 2));
    comp_env__advance(&f->ce, 15LL * 60 * 1000); /* the periodic one too */
    assert_true(gfx__no_more(f, "POST", GF_READ));
    assert_int_equal(canned_http__count(f->s, "POST", GF_READ), 0);
    assert_null(gfx__busy(f, "a@x.com"));
    char *b[] = {GF_ID_B};
    resync__read_ids(f->resync, b, 1, clock__mono_ms());
    assert_true(gfx__wait_busy(f, "b@x.com", "\"availability\":\"Away\""));
    assert_non_null(strstr(gfx__busy(f, "b@x.com"), "\"source\":\"notification\""));
    assert_int_equal(metrics__get("graph_resyncs_total", NULL), 0);
    resync__set_standby(f->resync, false);
    assert_true(gfx__wait_busy(f, "a@x.com", "\"busy\":true"));
    assert_int_equal(metrics__get("graph_resyncs_total", NULL), 1);
}

/* A reload without b: b's retained busy topic is cleared (nobody would keep
 * it true); a keeps its state, no lookup is needed. */
static void test_user_leaves(void **st)
{
    struct gfx *f = *st;
    canned_graph(f, PRESENCES("Busy", "InACall", "Busy", "InACall"), 0);
    users__resolve(f->users);
    assert_true(gfx__wait_busy(f, "b@x.com", "\"busy\":true"));
    char *only_a[] = {"a@x.com"};
    assert_int_equal(users__sync(f->users, only_a, 1), 0);
    comp_env__settle(&f->ce);
    const char *b = gfx__busy(f, "b@x.com");
    assert_true(!b || !b[0]);
    assert_non_null(strstr(gfx__busy(f, "a@x.com"), "\"busy\":true"));
    assert_non_null(users__by_id(f->users, GF_ID_A));
    assert_null(users__by_id(f->users, GF_ID_B));
    assert_int_equal(users__count(f->users), 1);
    assert_int_equal(canned_http__count(f->s, "POST", GF_BATCH), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_at_start, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_lookup_throttled_then_missing, gfx__setup,
                                        gfx__teardown),
        cmocka_unit_test_setup_teardown(test_read_throttled, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_read_timeout, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_read_5xx, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_periodic_resync, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_periodic_resync_spread, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_dropped, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_basic_reads_share_a_request, gfx__setup,
                                        gfx__teardown),
        cmocka_unit_test_setup_teardown(test_user_leaves, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_standby_leaves_resyncs, gfx__setup, gfx__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
