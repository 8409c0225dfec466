/* Component test: presence subscriptions (connector/graph/subscriptions.c,
 * subscription.c) in process, on the Graph client, the user lookup and the
 * resync they drive (graph_fixture.h), against canned Graph replies and the
 * fake clock (docs/graph.md "Subscriptions"):
 *  - start-up: the account's old presence subscriptions are listed and
 *    deleted, one is created with the users' resource, a fresh clientState
 *    and the account's delegated token; a resync follows;
 *  - a failed create is retried with backoff, a 409 lists again first;
 *  - renewal at half of the time Graph granted, never lapsing, the expiry
 *    metric from Graph's answer; a throttled renewal waits its Retry-After;
 *  - a renewal answered 404 recreates at once; one that keeps failing past
 *    the expiry forgets it, lists and creates again;
 *  - lifecycle events: reauthorizationRequired -> POST .../reauthorize,
 *    subscriptionRemoved -> recreated, missed -> resync; an unknown id does
 *    nothing; the workers' clientState check tells ours from forgeries;
 *  - a changed user list replaces the subscription (Graph cannot change a
 *    resource);
 *  - several instances (docs/ha.md): a standby lists, creates, renews and
 *    deletes nothing, and accepts notifications by the derived clientState;
 *    taking over it lists, adopts ours (no create, no delete of it), deletes
 *    the others and resyncs; losing the role it stops renewing. */
#include "graph_fixture.h"

#define TL "tenant=\"t\""

/* Tokens, lookup and reads answered; the list is empty and the first create
 * answers sub-1, granted grant_ms. More specific rules go before (added by
 * the caller first). */
static void canned_graph(struct gfx *f, int64_t grant_ms)
{
    gfx__rule(f, "POST", GF_BATCH, 200, NULL, GF_LOOKUP_OK, 0);
    gfx__rule(f, "POST", GF_READ, 200, NULL, "{\"value\":[]}", 0);
    gfx__rule(f, "GET", GF_SUBS, 200, NULL, "{\"value\":[]}", 0);
    char *sub = gfx__sub_json("sub-1", grant_ms);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 1);
    free(sub);
}

/* Starts the lookup; waits until sub-1 is live. */
static void start_live(struct gfx *f)
{
    users__resolve(f->users);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_created_total", TL, 1));
    comp_env__settle(&f->ce);
}

/* The clientState the n-th create sent (64 hex characters). */
static void client_state_of(struct gfx *f, size_t n, char *out, size_t len)
{
    char *body = gfx__body(f, "POST", GF_SUBS, n);
    assert_non_null(body);
    const char *cs = strstr(body, "\"clientState\":\"");
    assert_non_null(cs);
    cs += strlen("\"clientState\":\"");
    size_t k = strcspn(cs, "\"");
    assert_int_equal(k, SUBSCRIPTIONS_CLIENT_STATE_LEN);
    snprintf(out, len, "%.*s", (int)k, cs);
    free(body);
}

static void test_startup_cleans_up_then_creates(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "DELETE", GF_SUBS "/old-1", 204, NULL, NULL, 1);
    gfx__rule(f, "GET", GF_SUBS, 200, NULL,
              "{\"value\":[{\"id\":\"old-1\",\"resource\":\"/communications/presences?$filter=id "
              "in ('x')\"},{\"id\":\"mail-1\",\"resource\":\"/me/messages\"}]}",
              1);
    canned_graph(f, 55LL * 60 * 1000);
    start_live(f);
    /* list, then delete only the presence one, then create */
    assert_int_equal(canned_http__count(f->s, "GET", GF_SUBS), 1);
    assert_int_equal(canned_http__count(f->s, "DELETE", GF_SUBS "/old-1"), 1);
    assert_int_equal(canned_http__count(f->s, "DELETE", GF_SUBS "/mail-1"), 0);
    assert_int_equal(canned_http__count(f->s, "POST", GF_SUBS), 1);
    char *body = gfx__body(f, "POST", GF_SUBS, 0);
    assert_non_null(body);
    assert_non_null(strstr(body, "\"changeType\":\"updated\""));
    assert_non_null(strstr(body, "\"resource\":\"/communications/presences?$filter=id in ('" GF_ID_A
                                 "','" GF_ID_B "')\""));
    assert_non_null(strstr(body, "\"notificationUrl\":\"https://x.example/graph/notify/t\""));
    assert_non_null(
        strstr(body, "\"lifecycleNotificationUrl\":\"https://x.example/graph/lifecycle/t\""));
    char exp[40];
    clock__iso8601_graph(GF_WALL0 + 55LL * 60 * 1000, exp, sizeof(exp));
    char want[80];
    snprintf(want, sizeof(want), "\"expirationDateTime\":\"%s\"", exp);
    assert_non_null(strstr(body, want));              /* asks for 55 min */
    assert_null(strstr(body, "includeResourceData")); /* no certificate: basic */
    free(body);
    /* the account signed in with its password (ROPC) for its own token */
    int ropc = 0;
    for (size_t i = 0; i < canned_http__count(f->s, "POST", GF_TOKEN); i++) {
        char *req = canned_http__request(f->s, "POST", GF_TOKEN, i);
        ropc += strstr(req, "grant_type=password") && strstr(req, "username=svc%40x.com");
        free(req);
    }
    assert_int_equal(ropc, 1);
    /* notifications before this moment are lost: everyone is read */
    assert_int_equal(gfx__count_reason(f, "subscription created"), 1);
    assert_true(gfx__wait_requests(f, "POST", GF_READ, 1));
    /* the workers accept its clientState, and nothing else */
    char cs[80];
    client_state_of(f, 0, cs, sizeof(cs));
    assert_int_equal(subscriptions__check(f->subs, "sub-1", cs), 1);
    assert_int_equal(subscriptions__check(f->subs, "SUB-1", cs), 1);
    assert_int_equal(subscriptions__check(f->subs, "sub-1", "guess"), 0);
    assert_int_equal(subscriptions__check(f->subs, "old-1", cs), -1);
    /* B/health and readiness */
    char *s = status__json();
    assert_non_null(strstr(s, "\"state\":\"active\""));
    assert_non_null(strstr(s, "\"id\":\"sub-1\""));
    free(s);
    bool ready = false;
    free(health__json(&ready));
    assert_true(ready);
    assert_int_equal(metrics__get("graph_subscriptions", TL), 1);
    assert_int_equal(metrics__get("graph_subscription_expiry_timestamp_seconds",
                                  "tenant=\"t\",account=\"svc@x.com\""),
                     (GF_WALL0 + 55LL * 60 * 1000) / 1000);
}

/* Two 500s, then 201: retried with backoff, listed once; then a 409 makes
 * the next attempt list (and delete) first. */
static void test_create_retried(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "POST", GF_SUBS, 500, NULL, "{\"error\":{\"code\":\"InternalServerError\"}}", 2);
    canned_graph(f, 55LL * 60 * 1000);
    users__resolve(f->users);
    assert_true(gfx__wait_metric(f, "graph_subscription_failures_total", TL, 1));
    char *s = status__json();
    assert_non_null(strstr(s, "create: 500 InternalServerError"));
    free(s);
    bool ready = true;
    free(health__json(&ready));
    assert_false(ready);                           /* subscriptions not live */
    assert_true(gfx__no_more(f, "POST", GF_SUBS)); /* not again before the backoff */
    /* the backoff: at most 2 s, then 4 s */
    assert_true(gfx__until_metric(f, "graph_subscriptions_created_total", TL, 1, 7000));
    assert_int_equal(canned_http__count(f->s, "POST", GF_SUBS), 3);
    assert_int_equal(metrics__get("graph_subscription_failures_total", TL), 2);
    assert_int_equal(canned_http__count(f->s, "GET", GF_SUBS), 1);
}

static void test_conflict_lists_again(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "POST", GF_SUBS, 409, NULL, "{\"error\":{\"code\":\"Conflict\"}}", 1);
    canned_graph(f, 55LL * 60 * 1000);
    users__resolve(f->users);
    assert_true(gfx__wait_metric(f, "graph_subscription_failures_total", TL, 1));
    assert_true(gfx__until_metric(f, "graph_subscriptions_created_total", TL, 1, 3000));
    assert_int_equal(canned_http__count(f->s, "GET", GF_SUBS), 2);
}

/* Graph grants 6 s (less than asked): renewed at half of what is left, 3 s,
 * by PATCH with the account's token, again and again; never recreated. */
static void test_renews_by_granted_expiry(void **st)
{
    struct gfx *f = *st;
    canned_graph(f, 6000);
    start_live(f);
    for (int i = 1; i <= 3; i++) {
        /* each renewal is granted 6 s from its own moment, 3 s from now */
        char *sub = gfx__sub_json("sub-1", 6000 + 3000);
        gfx__rule(f, "PATCH", GF_SUBS "/sub-1", 200, NULL, sub, 1);
        free(sub);
        int64_t granted = clock__wall_ms() + 9000;
        comp_env__advance(&f->ce, 2999);
        assert_true(gfx__no_more(f, "PATCH", GF_SUBS));
        comp_env__advance(&f->ce, 1);
        assert_true(gfx__wait_metric(f, "graph_subscriptions_renewed_total", TL, i));
        comp_env__settle(&f->ce);
        /* what the daemon believes is what Graph granted */
        assert_int_equal(metrics__get("graph_subscription_expiry_timestamp_seconds",
                                      "tenant=\"t\",account=\"svc@x.com\""),
                         granted / 1000);
    }
    char *body = gfx__body(f, "PATCH", GF_SUBS "/sub-1", 0);
    assert_non_null(strstr(body, "\"expirationDateTime\":\""));
    free(body);
    assert_int_equal(metrics__get("graph_subscriptions_created_total", TL), 1);
    assert_int_equal(canned_http__count(f->s, "POST", GF_SUBS), 1);
}

/* A renewal answered 429 with Retry-After 20: the next renewal waits 20 s,
 * longer than the backoff's 2 s, and then succeeds. */
static void test_renew_throttled(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "PATCH", GF_SUBS "/sub-1", 429, "Retry-After: 20\r\n",
              "{\"error\":{\"code\":\"TooManyRequests\"}}", 1);
    canned_graph(f, 55LL * 60 * 1000);
    char *sub = gfx__sub_json("sub-1", 3LL * 3600 * 1000);
    gfx__rule(f, "PATCH", GF_SUBS "/sub-1", 200, NULL, sub, 0);
    free(sub);
    start_live(f);
    comp_env__advance(&f->ce, 55LL * 60 * 1000 / 2);
    assert_true(gfx__wait_metric(f, "graph_subscription_failures_total", TL, 1));
    comp_env__settle(&f->ce);
    comp_env__advance(&f->ce, 19999);
    assert_true(gfx__no_more(f, "PATCH", GF_SUBS));
    assert_int_equal(canned_http__count(f->s, "PATCH", GF_SUBS), 1);
    comp_env__advance(&f->ce, 1);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_renewed_total", TL, 1));
    assert_int_equal(canned_http__count(f->s, "PATCH", GF_SUBS), 2);
    assert_int_equal(metrics__get("graph_subscriptions_created_total", TL), 1);
}

/* A renewal Graph never answers (test_fault_graph_timeout.sh): the client
 * gives up at its timeout (30 s in the daemon, 300 ms here), the failure
 * shows in B/health with no status, and the next try renews; never
 * recreated. */
static void test_renew_timeout(void **st)
{
    struct gfx *f = *st;
    graph_client__set_timeout(f->gc, 300);
    char *sub = gfx__sub_json("sub-1", 3LL * 3600 * 1000);
    canned_http__add(f->s,
                     &(struct canned_rule){"PATCH", GF_SUBS "/sub-1", 200, NULL, sub, 1, 1500});
    canned_graph(f, 55LL * 60 * 1000);
    gfx__rule(f, "PATCH", GF_SUBS "/sub-1", 200, NULL, sub, 0);
    free(sub);
    start_live(f);
    comp_env__advance(&f->ce, 55LL * 60 * 1000 / 2);
    assert_true(gfx__wait_metric(f, "graph_subscription_failures_total", TL, 1));
    char *s = status__json();
    assert_non_null(strstr(s, "renew: 0"));
    free(s);
    assert_int_equal(metrics__get("graph_subscriptions_renewed_total", TL), 0);
    assert_true(gfx__until_metric(f, "graph_subscriptions_renewed_total", TL, 1, 60000));
    assert_int_equal(canned_http__count(f->s, "PATCH", GF_SUBS), 2);
    assert_int_equal(metrics__get("graph_subscriptions_created_total", TL), 1);
}

/* A renewal answered 404: Graph forgot it; created again at once, without
 * listing, and followed by a resync. */
static void test_renew_404_recreates(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "PATCH", GF_SUBS "/sub-1", 404, NULL, "{\"error\":{\"code\":\"NotFound\"}}", 1);
    canned_graph(f, 6000);
    char *sub = gfx__sub_json("sub-2", 55LL * 60 * 1000);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 1);
    free(sub);
    start_live(f);
    comp_env__advance(&f->ce, 3000);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_created_total", TL, 2));
    assert_int_equal(canned_http__count(f->s, "GET", GF_SUBS), 1);
    assert_int_equal(gfx__count_reason(f, "subscription created"), 2);
    char cs[80];
    client_state_of(f, 1, cs, sizeof(cs));
    assert_int_equal(subscriptions__check(f->subs, "sub-2", cs), 1);
    assert_int_equal(subscriptions__check(f->subs, "sub-1", cs), -1);
}

/* Renewals keep failing (500) until the expiry has passed: it is forgotten,
 * the account's subscriptions are listed again and a new one is made. */
static void test_expired_recreated(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "PATCH", GF_SUBS "/sub-1", 500, NULL, NULL, 0);
    canned_graph(f, 6000);
    char *sub = gfx__sub_json("sub-2", 55LL * 60 * 1000);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 1);
    free(sub);
    start_live(f);
    char cs[80];
    client_state_of(f, 0, cs, sizeof(cs));
    assert_true(gfx__until_metric(f, "graph_subscriptions_created_total", TL, 2, 20000));
    assert_true(canned_http__count(f->s, "PATCH", GF_SUBS "/sub-1") >= 2);
    assert_int_equal(canned_http__count(f->s, "GET", GF_SUBS), 2); /* listed again */
    assert_int_equal(subscriptions__check(f->subs, "sub-1", cs), -1);
    assert_true(clock__wall_ms() >= GF_WALL0 + 6000);
}

static void test_lifecycle_reauthorize(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "POST", GF_SUBS "/sub-1/reauthorize", 204, NULL, NULL, 1);
    canned_graph(f, 55LL * 60 * 1000);
    start_live(f);
    size_t tokens = canned_http__count(f->s, "POST", GF_TOKEN);
    subscriptions__lifecycle(f->subs, "sub-1", "reauthorizationRequired");
    assert_true(gfx__wait_metric(f, "graph_subscriptions_reauthorized_total", TL, 1));
    /* the token has most of its hour left: no new one */
    assert_int_equal(canned_http__count(f->s, "POST", GF_TOKEN), tokens);
    char *req = canned_http__request(f->s, "POST", GF_SUBS "/sub-1/reauthorize", 0);
    assert_non_null(strstr(req, "Authorization: Bearer tok-1\r\n"));
    free(req);
    /* within 10 min of its expiry (52 min later; renewed meanwhile) the
     * token is renewed first */
    char *sub = gfx__sub_json("sub-1", 3LL * 3600 * 1000);
    gfx__rule(f, "PATCH", GF_SUBS "/sub-1", 200, NULL, sub, 0);
    free(sub);
    comp_env__advance(&f->ce, 52LL * 60 * 1000);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_renewed_total", TL, 1));
    comp_env__settle(&f->ce);
    gfx__rule(f, "POST", GF_SUBS "/sub-1/reauthorize", 204, NULL, NULL, 1);
    tokens = canned_http__count(f->s, "POST", GF_TOKEN);
    subscriptions__lifecycle(f->subs, "sub-1", "reauthorizationRequired");
    assert_true(gfx__wait_metric(f, "graph_subscriptions_reauthorized_total", TL, 2));
    assert_true(canned_http__count(f->s, "POST", GF_TOKEN) > tokens);
}

static void test_lifecycle_removed_and_missed(void **st)
{
    struct gfx *f = *st;
    canned_graph(f, 55LL * 60 * 1000);
    char *sub = gfx__sub_json("sub-2", 55LL * 60 * 1000);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 1);
    free(sub);
    start_live(f);
    assert_true(gfx__wait_requests(f, "POST", GF_READ, 2)); /* start, subscription created */
    /* an unknown subscription: nothing happens */
    subscriptions__lifecycle(f->subs, "sub-9", "subscriptionRemoved");
    assert_true(gfx__no_more(f, "POST", GF_SUBS));
    assert_true(gfx__no_more(f, "POST", GF_READ));
    /* missed: everyone is read again */
    subscriptions__lifecycle(f->subs, "sub-1", "missed");
    assert_int_equal(gfx__count_reason(f, "missed"), 1);
    assert_true(gfx__wait_requests(f, "POST", GF_READ, 3));
    /* removed: created again without listing, then a resync */
    subscriptions__lifecycle(f->subs, "SUB-1", "subscriptionRemoved");
    assert_true(gfx__wait_metric(f, "graph_subscriptions_created_total", TL, 2));
    assert_int_equal(canned_http__count(f->s, "GET", GF_SUBS), 1);
    assert_int_equal(gfx__count_reason(f, "subscription created"), 2);
}

/* a@x.com leaves: Graph cannot change a resource, so sub-1 is deleted and
 * one over the remaining user created. */
static void test_users_change_replaces(void **st)
{
    struct gfx *f = *st;
    gfx__rule(f, "DELETE", GF_SUBS "/sub-1", 204, NULL, NULL, 1);
    canned_graph(f, 55LL * 60 * 1000);
    char *sub = gfx__sub_json("sub-2", 55LL * 60 * 1000);
    gfx__rule(f, "POST", GF_SUBS, 201, NULL, sub, 1);
    free(sub);
    start_live(f);
    char *only_b[] = {"b@x.com"};
    assert_int_equal(users__sync(f->users, only_b, 1), 0);
    users__resolve(f->users); /* b is known: no lookup, the plan at once */
    assert_true(gfx__wait_metric(f, "graph_subscriptions_created_total", TL, 2));
    assert_int_equal(canned_http__count(f->s, "DELETE", GF_SUBS "/sub-1"), 1);
    assert_int_equal(canned_http__count(f->s, "POST", GF_BATCH), 1);
    char *body = gfx__body(f, "POST", GF_SUBS, 1);
    assert_non_null(strstr(body, "$filter=id in ('" GF_ID_B "')\""));
    free(body);
}

#define NOTIFY_T "https://x.example/graph/notify/t"

/* The derived clientState: one per configuration, tenant, account and URL. */
static void test_client_state_derived(void **st)
{
    (void)st;
    char a[80], b[80];
    assert_int_equal(subscriptions__client_state("k", "t", "svc@x.com", NOTIFY_T, a), 0);
    assert_int_equal(strlen(a), SUBSCRIPTIONS_CLIENT_STATE_LEN);
    assert_int_equal(subscriptions__client_state("k", "t", "SVC@x.com", NOTIFY_T, b), 0);
    assert_string_equal(a, b); /* the account compares case-insensitively */
    assert_int_equal(subscriptions__client_state("k2", "t", "svc@x.com", NOTIFY_T, b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(subscriptions__client_state("k", "u", "svc@x.com", NOTIFY_T, b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(subscriptions__client_state("k", "t", "svc2@x.com", NOTIFY_T, b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(subscriptions__client_state("k", "t", "svc@x.com", NOTIFY_T "x", b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(subscriptions__client_state("", "t", "svc@x.com", NOTIFY_T, b), -1);
    assert_string_equal(b, "");
}

static int setup_standby(void **st)
{
    gfx_standby = true;
    gfx_state_key = "not-a-real-secret";
    return gfx__setup(st);
}

/* A standby leaves Graph alone; the takeover adopts the subscription the
 * previous holder made; a lost role stops the renewals. */
static void test_standby_then_adopts(void **st)
{
    struct gfx *f = *st;
    char exp[40], list[700], cs[80];
    clock__iso8601_graph(clock__wall_ms() + 30LL * 60 * 1000, exp, sizeof(exp));
    snprintf(list, sizeof(list),
             "{\"value\":[{\"id\":\"old-1\",\"resource\":\"/communications/presences?$filter=id "
             "in ('x')\",\"notificationUrl\":\"https://old.example/n\",\"expirationDateTime\":"
             "\"%s\"},{\"id\":\"ours-1\",\"resource\":\"/communications/presences?$filter=id in "
             "('" GF_ID_A "','" GF_ID_B "')\",\"notificationUrl\":\"" NOTIFY_T "\","
             "\"expirationDateTime\":\"%s\"}]}",
             exp, exp);
    gfx__rule(f, "DELETE", GF_SUBS "/old-1", 204, NULL, NULL, 1);
    gfx__rule(f, "GET", GF_SUBS, 200, NULL, list, 1);
    gfx__rule(f, "PATCH", GF_SUBS "/ours-1", 200, NULL, NULL, 0);
    canned_graph(f, 55LL * 60 * 1000);
    users__resolve(f->users);
    assert_true(gfx__wait_requests(f, "POST", GF_READ, 1)); /* reads everywhere */
    comp_env__advance(&f->ce, 10LL * 60 * 1000);            /* ours still has 20 min */
    comp_env__settle(&f->ce);
    assert_int_equal(canned_http__count(f->s, "GET", GF_SUBS), 0);
    assert_int_equal(canned_http__count(f->s, "POST", GF_SUBS), 0);
    assert_int_equal(canned_http__count(f->s, "DELETE", GF_SUBS "/old-1"), 0);
    /* the standby knows no id, but the derived clientState is the proof */
    assert_int_equal(
        subscriptions__client_state("not-a-real-secret", "t", "svc@x.com", NOTIFY_T, cs), 0);
    assert_int_equal(subscriptions__check(f->subs, "ours-1", cs), 1);
    assert_int_equal(subscriptions__check(f->subs, "ours-1", "guess"), -1);
    char *s = status__json();
    assert_non_null(strstr(s, "\"state\":\"standby\""));
    free(s);
    /* the takeover */
    subscriptions__set_writes(f->subs, true);
    assert_true(gfx__wait_metric(f, "graph_subscriptions_adopted_total", TL, 1));
    assert_true(gfx__wait_requests(f, "DELETE", GF_SUBS "/old-1", 1));
    comp_env__settle(&f->ce);
    assert_int_equal(canned_http__count(f->s, "GET", GF_SUBS), 1);
    assert_int_equal(canned_http__count(f->s, "POST", GF_SUBS), 0);
    assert_int_equal(canned_http__count(f->s, "DELETE", GF_SUBS "/ours-1"), 0);
    assert_int_equal(gfx__count_reason(f, "subscription adopted"), 1);
    assert_int_equal(subscriptions__check(f->subs, "ours-1", cs), 1);
    assert_int_equal(subscriptions__check(f->subs, "other", cs), -1); /* active: ids count */
    /* the role lost: no renewal however long */
    subscriptions__set_writes(f->subs, false);
    comp_env__advance(&f->ce, 2LL * 60 * 60 * 1000);
    comp_env__settle(&f->ce);
    assert_int_equal(canned_http__count(f->s, "PATCH", GF_SUBS "/ours-1"), 0);
    assert_int_equal(canned_http__count(f->s, "POST", GF_SUBS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_startup_cleans_up_then_creates, gfx__setup,
                                        gfx__teardown),
        cmocka_unit_test_setup_teardown(test_create_retried, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_conflict_lists_again, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_renews_by_granted_expiry, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_renew_throttled, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_renew_timeout, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_renew_404_recreates, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_expired_recreated, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_reauthorize, gfx__setup, gfx__teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_removed_and_missed, gfx__setup,
                                        gfx__teardown),
        cmocka_unit_test_setup_teardown(test_users_change_replaces, gfx__setup, gfx__teardown),
        cmocka_unit_test(test_client_state_derived),
        cmocka_unit_test_setup_teardown(test_standby_then_adopts, setup_standby, gfx__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
