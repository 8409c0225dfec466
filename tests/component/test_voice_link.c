/* Component test: the Voice tenant chain (connector/voice/voice_side.c,
 * tenant*.c, rest.c, writer.c) in process (tests/lib/voice_env.h): the REST
 * start-up (discovery, /users/me, /users, the RTE token, negotiate) against
 * canned replies over real sockets, the RTE session against the fake
 * transport (tests/lib/fake_rte.c) played as the hub, on the fake clock.
 * Covers what test_voice_auth.sh, test_voice_reconnect.sh and
 * test_voice_subscribe_entries.sh checked end to end before they were removed
 * (docs/testing.md "What moved where"), and the token, keep-alive
 * and refused-Subscribe cases, in milliseconds (docs/voice.md "Discovery,
 * authentication and users", "Link loss and missed events", "Token"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned_http.h"
#include "core/b64.h"
#include "fake_rte.h"
#include "log_capture.h"
#include "voice/writer.h"
#include "voice_env.h"

#define WAIT_MS 10000
/* A later RTE token: exp 2026-12-07T03:33:20Z */
#define TOKEN2                                                                  \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtZS0xIiwiZXhwIjoxNzk2NjE0" \
    "NDAwfQ.c2ln"

static bool health_link_is(void *ctx)
{
    char buf[32];
    return strcmp(voice_env__health_str("link", buf, sizeof(buf)), ctx) == 0;
}

/* Waits (REST over real sockets) until B/health's link is state. */
static bool wait_link(struct voice_env *ve, const char *state)
{
    return comp_env__wait(&ve->ce, health_link_is, (void *)state, WAIT_MS);
}

static bool advance_until_link(struct voice_env *ve, const char *state, int64_t ms)
{
    return voice_env__until_link(ve, state, ms);
}

/* Live, the seed window closed, alice in a call (c-1). */
static struct voice_env *live_with_call(const struct voice_env_options *o)
{
    struct voice_env *ve = voice_env__new(o, true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    voice_env__event(ve, "UserCallInConnected", "u-alice", "c-1");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 1));
    return ve;
}

/* After a loss: the fake clock on through the backoff until a new
 * connection is opened, then the hub brings it up again. */
static void relive(struct voice_env *ve)
{
    assert_true(advance_until_link(ve, "connecting", 70000));
    assert_true(voice_env__go_live(ve));
}

/* The hub is there but says nothing but pings, every 10 s, for ms. */
static void hub_pings_for(struct voice_env *ve, int64_t ms)
{
    for (int64_t t = 0; t < ms; t += 10000) {
        comp_env__advance(&ve->ce, 10000);
        fake_rte__record(voice_env__link(), "{\"type\":6}");
        comp_env__settle(&ve->ce);
    }
}

/* ---- the chain ------------------------------------------------------------ */

/* api_url given: /users/me, /users, the token, negotiate, WebSocket with the
 * connection token and the RTE token; handshake, AvailableSubscriptions,
 * one Subscribe of 2 users x 5 events; live and ready. The key goes as
 * Basic auth, encoded, and never into the log or B/health. */
static void test_chain_to_live(void **st)
{
    struct voice_env *ve = *st = voice_env__new(NULL, true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    assert_int_equal(voice_env__requests(ve, "GET", "/api/users/me"), 1);
    assert_int_equal(voice_env__requests(ve, "GET", "/api/token/" VE_ME "/rte/"), 1);
    assert_int_equal(voice_env__requests(ve, "POST", "/hub/negotiate?negotiateVersion=1"), 1);
    const char *url = fake_rte__url(voice_env__link());
    assert_non_null(strstr(url, "/hub?id=ct-1&access_token=eyJ"));
    assert_string_equal(strncmp(url, "ws://", 5) == 0 ? "ws" : url, "ws");
    assert_non_null(fake_rte__bearer(voice_env__link()));
    assert_int_equal(voice_env__invocations("AvailableSubscriptions"), 1);
    assert_int_equal(voice_env__invocations("Subscribe"), 1);
    assert_int_equal(voice_env__subscribed(), 10);
    char why[256];
    assert_true(voice_env__ready(why, sizeof(why)));
    assert_true(voice_env__health_is("users.matched", "2"));
    assert_true(voice_env__health_is("token_expires", "\"2026-12-07T00:33:20Z\""));
    /* Basic base64("svc@contoso.com:" VE_KEY) */
    char *req = canned_http__request(ve->http, "GET", "/api/users/me", 0);
    char basic[128];
    char *enc = b64__encode((const unsigned char *)"svc@contoso.com:" VE_KEY,
                            strlen("svc@contoso.com:" VE_KEY));
    assert_non_null(enc);
    snprintf(basic, sizeof(basic), "Authorization: Basic %s\r\n", enc);
    assert_non_null(strstr(req, basic));
    free(req);
    free(enc);
    assert_true(log_capture__has("RTE link live tenant=contoso users=2 events=5"));
    assert_false(log_capture__has(VE_KEY));
    cJSON *h = voice_env__health();
    char *text = cJSON_PrintUnformatted(h);
    assert_null(strstr(text, VE_KEY));
    free(text);
    cJSON_Delete(h);
    /* states are held back while the seed window is open (2 s after MQTT
     * connected), then both users are announced not talking */
    assert_null(voice_env__talking(ve, "alice@contoso.com"));
    comp_env__advance(&ve->ce, 2100);
    assert_true(log_capture__has("seed window closed tenant=contoso"));
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
    assert_true(voice_env__talking_is(ve, "bob@contoso.com", false, 0));
}

/* discovery_url instead of api_url: GET <discovery>/api/user?user=<name>,
 * then the same chain on the apiEndpoint it names (B/health api_url). */
static void test_discovery(void **st)
{
    struct voice_env *ve = *st =
        voice_env__new(&(struct voice_env_options){.discovery = true}, true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    assert_int_equal(voice_env__requests(ve, "GET", "/discovery/api/user?user=svc%40contoso.com"),
                     1);
    char buf[128];
    assert_string_equal(voice_env__health_str("api_url", buf, sizeof(buf)), ve->api);
    assert_true(log_capture__has("discovered tenant=contoso api="));
}

/* Wrong credentials (test_voice_auth.sh): /users/me answers 401. B/health
 * link auth_failed with the 401 and "credentials refused", /readyz not ready
 * naming auth_failed, one log line; retried with backoff (1 s, 2 s, 4 s:
 * 2 to 6 tries in 4 s, never a tight loop); the key never in the log or
 * B/health. The same key becoming valid brings the link up. */
static void test_auth_refused(void **st)
{
    struct voice_env *ve = *st = voice_env__new(NULL, false);
    assert_non_null(ve);
    /* refused three times, then the key is valid (fixed on Voice's side) */
    voice_env__fault(ve, "GET", "/api/users/me", 401, "{\"Message\":\"Unauthorized\"}", 3);
    assert_int_equal(voice_env__start(ve), 0);
    assert_true(wait_link(ve, "auth_failed"));
    char err[256], why[256];
    voice_env__health_str("last_error", err, sizeof(err));
    assert_non_null(strstr(err, "401"));
    assert_non_null(strstr(err, "credentials refused"));
    assert_true(voice_env__health_is("ready", "false"));
    assert_false(voice_env__ready(why, sizeof(why)));
    assert_non_null(strstr(why, "auth_failed"));
    assert_int_equal(log_capture__count("link step failed tenant=contoso step=authenticating "
                                        "error=\"GET /users/me: HTTP 401"),
                     1);
    /* backoff: a few tries in 4 s, not hundreds */
    advance_until_link(ve, "connecting", 4000);
    assert_in_range(voice_env__requests(ve, "GET", "/api/users/me"), 2, 4);
    /* the next try gets through: up without a restart */
    assert_true(advance_until_link(ve, "connecting", 60000));
    assert_int_equal(voice_env__requests(ve, "GET", "/api/users/me"), 4);
    assert_true(voice_env__go_live(ve));
    assert_true(voice_env__ready(why, sizeof(why)));
    assert_false(log_capture__has(VE_KEY));
    cJSON *h = voice_env__health();
    char *text = cJSON_PrintUnformatted(h);
    assert_null(strstr(text, VE_KEY));
    free(text);
    cJSON_Delete(h);
}

/* Link loss (test_voice_reconnect.sh): the WebSocket dropped mid-call, a hub
 * Close record, failing token requests while down. Reconnects with backoff,
 * a fresh token each time and a new Subscribe; the call state is kept across
 * the loss; B/health and /readyz show the state while down. */
static void test_reconnect(void **st)
{
    struct voice_env *ve = *st = live_with_call(NULL);
    const char *tok = "/api/token/" VE_ME "/rte/";
    assert_int_equal(voice_env__requests(ve, "GET", tok), 1);
    /* 1. dropped in the middle of a call */
    unsigned gen = fake_rte__gen(voice_env__link());
    fake_rte__drop(voice_env__link());
    comp_env__settle(&ve->ce);
    assert_int_equal(log_capture__count("RTE link lost tenant=contoso reason=\"closed by the "
                                        "server\" talking=1 (call state kept)"),
                     1);
    relive(ve);
    assert_int_not_equal(fake_rte__gen(voice_env__link()), gen);
    assert_int_equal(voice_env__subscribed(), 10);
    assert_int_equal(voice_env__requests(ve, "GET", tok), 2);
    assert_true(voice_env__health_is("reconnects", "1"));
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 1));
    voice_env__event(ve, "UserCallOutConnected", "u-alice", "c-2");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 2));
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-1");
    voice_env__event(ve, "UserCallOutDisconnected", "u-alice", "c-2");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
    /* 2. a Close record with an error */
    voice_env__event(ve, "UserCallInConnected", "u-bob", "c-3");
    fake_rte__record(voice_env__link(), "{\"type\":7,\"error\":\"Server is shutting down\","
                                        "\"allowReconnect\":true}");
    comp_env__settle(&ve->ce);
    assert_true(log_capture__has("server closed the hub: Server is shutting down (reconnect "
                                 "allowed)"));
    relive(ve);
    voice_env__event(ve, "UserCallInDisconnected", "u-bob", "c-3");
    assert_true(voice_env__talking_is(ve, "bob@contoso.com", false, 0));
    /* 3. down a while: the token request fails 3 times (503) */
    voice_env__fault(ve, "GET", tok, 503, NULL, 3);
    fake_rte__drop(voice_env__link());
    comp_env__settle(&ve->ce);
    char why[256], err[256];
    assert_true(voice_env__health_is("ready", "false"));
    assert_false(voice_env__ready(why, sizeof(why)));
    for (int i = 0; i < 60 && !strstr(voice_env__health_str("last_error", err, sizeof(err)), "503");
         i++)
        advance_until_link(ve, "live", 1000);
    assert_non_null(strstr(err, "503"));
    assert_false(voice_env__ready(why, sizeof(why)));
    relive(ve);
    assert_true(voice_env__ready(why, sizeof(why)));
    assert_int_equal(voice_env__requests(ve, "GET", tok), 3 + 3 + 1); /* 3 refused */
    voice_env__event(ve, "UserCallInConnected", "u-alice", "c-4");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 1));
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-4");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
}

/* Token expiry: the hub checks the token only at
 * connect, so a live link outlives it: no reconnect, no new token. A hub
 * that does close at expiry gets a reconnect with a fresh token and a new
 * Subscribe; the call running across it stays tracked. */
static void test_token_outlived(void **st)
{
    struct voice_env *ve = *st =
        live_with_call(&(struct voice_env_options){.users = "[\"alice@contoso.com\"]"});
    const char *tok = "/api/token/" VE_ME "/rte/";
    unsigned gen = fake_rte__gen(voice_env__link());
    assert_true(voice_env__health_is("token_expires", "\"2026-12-07T00:33:20Z\""));
    hub_pings_for(ve, 2 * 3600 * 1000); /* two hours: past exp */
    assert_int_equal(fake_rte__gen(voice_env__link()), gen);
    assert_int_equal(fake_rte__opens(voice_env__link()), 1);
    assert_false(log_capture__has("RTE link lost"));
    assert_int_equal(voice_env__requests(ve, "GET", tok), 1);
    assert_true(voice_env__health_is("link", "\"live\""));
    voice_env__event(ve, "UserCallOutConnected", "u-alice", "c-2");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 2));
    /* a hub that closes on expiry */
    fake_rte__record(voice_env__link(), "{\"type\":7,\"error\":\"Connection closed with an "
                                        "error. token expired\",\"allowReconnect\":true}");
    comp_env__settle(&ve->ce);
    assert_true(log_capture__has("RTE link lost tenant=contoso reason=\"server closed the hub: "
                                 "Connection closed with an error. token expired"));
    /* the token endpoint hands out a later one now: the new connection
     * carries it */
    char body[512];
    snprintf(body, sizeof(body), "{\"Token\":\"" TOKEN2 "\",\"WSSEndpoint\":\"%s/hub\"}",
             canned_http__url(ve->http));
    voice_env__fault(ve, "GET", tok, 200, body, 0);
    relive(ve);
    assert_int_not_equal(fake_rte__gen(voice_env__link()), gen);
    assert_string_equal(fake_rte__bearer(voice_env__link()), TOKEN2);
    assert_non_null(strstr(fake_rte__url(voice_env__link()), "access_token=" TOKEN2));
    assert_true(voice_env__health_is("token_expires", "\"2026-12-07T03:33:20Z\""));
    assert_int_equal(voice_env__requests(ve, "GET", tok), 2);
    assert_int_equal(voice_env__subscribed(), 5);
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 2));
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-1");
    voice_env__event(ve, "UserCallOutDisconnected", "u-alice", "c-2");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
}

/* Keep-alive: the daemon pings every 15 s, so a
 * hub's 20 s client timeout never closes it; a hub silent for 30 s is taken
 * for dead: reconnect, re-subscribed, calls flow. */
static void test_keepalive(void **st)
{
    struct voice_env *ve = *st =
        live_with_call(&(struct voice_env_options){.users = "[\"alice@contoso.com\"]"});
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-1");
    unsigned gen = fake_rte__gen(voice_env__link());
    /* the hub says nothing from now on: pings every 15 s, inside the hub's
     * 20 s client timeout, and not more often */
    size_t pings = voice_env__pings();
    int since = 2; /* the handshake was 2.1 s ago */
    for (int i = 0; i < 24; i++, since++) {
        comp_env__advance(&ve->ce, 1000);
        if (voice_env__pings() != pings) {
            assert_int_equal(voice_env__pings(), pings + 1);
            assert_in_range(since, 14, 20);
            pings = voice_env__pings();
            since = 0;
        }
    }
    assert_true(pings >= 1);
    assert_int_equal(fake_rte__gen(voice_env__link()), gen); /* 24 s: the same connection */
    assert_false(log_capture__has("RTE link lost"));
    comp_env__advance(&ve->ce, 12000);
    assert_int_equal(log_capture__count("RTE link lost tenant=contoso reason=\"no message from "
                                        "the server for"),
                     1);
    relive(ve);
    assert_int_not_equal(fake_rte__gen(voice_env__link()), gen);
    assert_int_equal(fake_rte__opens(voice_env__link()), 2);
    assert_int_equal(voice_env__subscribed(), 5);
    voice_env__event(ve, "UserCallInConnected", "u-alice", "c-5");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 1));
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-5");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
}

/* Up to the point where the hub answers Subscribe. */
static struct voice_env *subscribing(const struct voice_env_options *o)
{
    struct voice_env *ve = voice_env__new(o, true);
    assert_non_null(ve);
    assert_true(voice_env__wait_open(ve, 0));
    voice_env__handshake(ve);
    voice_env__answer_available(ve, VE_EVENTS, NULL);
    return ve;
}

/* Subscribe refused: logged, in B/health
 * and /readyz; retried with backoff on the same link; ready once accepted. */
static void test_subscribe_refused(void **st)
{
    struct voice_env *ve = *st =
        subscribing(&(struct voice_env_options){.users = "[\"alice@contoso.com\"]"});
    assert_int_equal(voice_env__answer_subscribes(ve, NULL, "Subscription refused"), 1);
    char why[256], err[256];
    assert_true(voice_env__health_is("subscribe_errors", "1"));
    assert_non_null(
        strstr(voice_env__health_str("last_subscribe_error", err, sizeof(err)), "refused"));
    assert_int_equal(log_capture__count("error voice Subscribe refused tenant=contoso"), 1);
    assert_false(voice_env__ready(why, sizeof(why)));
    assert_non_null(strstr(why, "subscribe failed"));
    /* the retry, on the same connection */
    unsigned gen = fake_rte__gen(voice_env__link());
    for (int i = 0; i < 70 && voice_env__invocations("Subscribe") < 2; i++)
        comp_env__advance(&ve->ce, 1000);
    assert_int_equal(voice_env__invocations("Subscribe"), 2);
    assert_int_equal(fake_rte__gen(voice_env__link()), gen);
    assert_int_equal(voice_env__subscribed(), 10); /* 2 x alice's 5 */
    assert_int_equal(voice_env__answer_subscribes(ve, NULL, NULL), 1);
    assert_true(voice_env__ready(why, sizeof(why)));
    comp_env__advance(&ve->ce, 2100);
    voice_env__event(ve, "UserCallInConnected", "u-alice", "c-1");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 1));
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-1");
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
}

/* The entries of a 3 x 5 Subscribe the hub keeps 6 of, as a result list. */
static char *entries_result(size_t keep)
{
    static const char *users[] = {"u-alice", "u-bob", "u-carol"};
    static const char *events[] = {"UserCallInConnected", "UserCallOutConnected",
                                   "UserCallInDisconnected", "UserCallOutDisconnected",
                                   "UserStatus"};
    char *buf = malloc(4096);
    size_t n = 0, k = 0;
    assert_non_null(buf);
    n += (size_t)snprintf(buf + n, 4096 - n, "[");
    for (size_t u = 0; u < 3; u++)
        for (size_t e = 0; e < 5; e++, k++)
            n += (size_t)snprintf(buf + n, 4096 - n,
                                  "%s{\"EntityId\":\"%s\",\"EventName\":\"%s\","
                                  "\"Success\":%s}",
                                  k ? "," : "", users[u], events[e], k < keep ? "true" : "false");
    snprintf(buf + n, 4096 - n, "]");
    return buf;
}

/* Subscribe entries refused (test_voice_subscribe_entries.sh): in a
 * SubscribeDetails callback or in the completion's result; logged, in
 * B/health, not ready; retried; ready once every entry is kept. */
static void test_subscribe_entries(void **st)
{
    struct voice_env *ve = *st = subscribing(&(struct voice_env_options){
        .users = "[\"alice@contoso.com\",\"bob@contoso.com\",\"carol@contoso.com\"]"});
    assert_int_equal(voice_env__subscribed(), 15);
    char *part = entries_result(6), *all = entries_result(15), rec[4200], why[256], err[256];
    snprintf(rec, sizeof(rec), "{\"type\":1,\"target\":\"SubscribeDetails\",\"arguments\":[%s]}",
             part);
    fake_rte__record(voice_env__link(), rec);
    comp_env__settle(&ve->ce);
    voice_env__answer_subscribes(ve, NULL, NULL);
    assert_int_equal(log_capture__count(
                         "error voice SubscribeDetails: entries refused tenant=contoso refused=9"),
                     1);
    assert_true(voice_env__health_is("subscribe_errors", "1"));
    assert_non_null(
        strstr(voice_env__health_str("last_subscribe_error", err, sizeof(err)), "entries refused"));
    assert_false(voice_env__ready(why, sizeof(why)));
    /* the retry: refused again, now in the completion's result */
    for (int i = 0; i < 70 && voice_env__invocations("Subscribe") < 2; i++)
        comp_env__advance(&ve->ce, 1000);
    assert_int_equal(voice_env__answer_subscribes(ve, part, NULL), 1);
    assert_int_equal(log_capture__count("error voice Subscribe entries refused tenant=contoso "
                                        "invocation=",
                                        "refused=9"),
                     1);
    assert_false(voice_env__ready(why, sizeof(why)));
    /* every entry kept: ready, everyone's calls arrive */
    for (int i = 0; i < 70 && voice_env__invocations("Subscribe") < 3; i++)
        comp_env__advance(&ve->ce, 1000);
    assert_int_equal(voice_env__subscribed(), 45);
    assert_int_equal(voice_env__answer_subscribes(ve, all, NULL), 1);
    assert_true(voice_env__ready(why, sizeof(why)));
    comp_env__advance(&ve->ce, 2100);
    const char *who[] = {"alice", "bob", "carol"};
    for (int i = 0; i < 3; i++) {
        char id[16], addr[64];
        snprintf(id, sizeof(id), "u-%s", who[i]);
        snprintf(addr, sizeof(addr), "%s@contoso.com", who[i]);
        voice_env__event(ve, "UserCallInConnected", id, "c-1");
        assert_true(voice_env__talking_is(ve, addr, true, 1));
        voice_env__event(ve, "UserCallInDisconnected", id, "c-1");
        assert_true(voice_env__talking_is(ve, addr, false, 0));
    }
    free(part);
    free(all);
}

static bool map_of_three(void *ctx)
{
    (void)ctx;
    return log_capture__count("user map loaded tenant=contoso configured=3 matched=2") == 1;
}

/* SIGHUP with a user added (test_voice_reload.sh, its Voice part): the map
 * is reloaded without dropping the link; the new user is subscribed on the
 * live connection, announced and tracked; a user Voice does not know stays
 * listed in B/health and is logged once. Discovery answers an array whose
 * apiEndpoint has no trailing slash. */
static void test_reload(void **st)
{
    struct voice_env *ve = *st = voice_env__new(
        &(struct voice_env_options){.users = "[\"alice@contoso.com\",\"ghost@contoso.com\"]",
                                    .discovery = true},
        true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    assert_int_equal(voice_env__subscribed(), 5);
    char line[160];
    snprintf(line, sizeof(line), "discovered tenant=contoso api=%s\n", ve->api);
    assert_true(log_capture__has(line));
    unsigned gen = fake_rte__gen(voice_env__link());
    voice_env__users(ve, "[{\"Id\":\"u-alice\",\"UserName\":\"alice@contoso.com\"},"
                         "{\"Id\":\"U-Bob\",\"UserName\":\"Bob@Contoso.com\"}]");
    assert_int_equal(voice_env__reload(ve, "[\"alice@contoso.com\",\"bob@contoso.com\","
                                           "\"ghost@contoso.com\"]"),
                     0);
    assert_true(comp_env__wait(&ve->ce, map_of_three, NULL, WAIT_MS));
    /* bob's 5 on the same connection */
    assert_int_equal(voice_env__invocations("Subscribe"), 2);
    assert_int_equal(voice_env__subscribed(), 10);
    assert_int_equal(voice_env__answer_subscribes(ve, NULL, NULL), 1);
    assert_int_equal(fake_rte__gen(voice_env__link()), gen);
    assert_true(voice_env__talking_is(ve, "bob@contoso.com", false, 0));
    voice_env__event(ve, "UserCallInConnected", "U-Bob", "c-1");
    assert_true(voice_env__talking_is(ve, "bob@contoso.com", true, 1));
    voice_env__event(ve, "UserCallInDisconnected", "u-bob", "c-1");
    assert_true(voice_env__talking_is(ve, "bob@contoso.com", false, 0));
    assert_true(voice_env__health_is("users.matched", "2"));
    assert_true(voice_env__health_is("users.missing", "[\"ghost@contoso.com\"]"));
    assert_int_equal(log_capture__count("user not found in Voice tenant=contoso "
                                        "user=ghost@contoso.com"),
                     1);
}

static bool map_of_one(void *ctx)
{
    (void)ctx;
    return log_capture__count("user map loaded tenant=contoso configured=1 matched=1") == 1;
}

/* status + 1 of a write's one report; 0 while none came */
static void write_done(void *ctx, const struct voice_write_result *r)
{
    *(int *)ctx = (int)r->status + 1;
}

static bool write_reported(void *ctx)
{
    return *(int *)ctx != 0;
}

/* SIGHUP with a user removed (test_mapper_reload.sh, its Voice part): the
 * mapper still writes the flag of a user that left the map false
 * (component_mapper_reload); the writer finds the id among those that left
 * and the write goes to it. An address Voice never had ends unknown_user. */
static void test_reload_writes_former(void **st)
{
    struct voice_env *ve = *st = voice_env__new(
        &(struct voice_env_options){
            .voice_more = ",\"talking_request\":{\"path\":\"/users/{userId}/talking\","
                          "\"body\":\"{\\\"talking\\\":{talking}}\"}"},
        true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    assert_int_equal(voice_env__reload(ve, "[\"alice@contoso.com\"]"), 0);
    assert_true(comp_env__wait(&ve->ce, map_of_one, NULL, WAIT_MS));
    voice_env__fault(ve, NULL, "/api/users/u-bob/talking", 200, "{}", 0);
    int res = 0;
    assert_int_equal(voice_writer__set_talking(ve->services.voice_writer, "contoso",
                                               "bob@contoso.com", false, write_done, &res),
                     0);
    assert_true(comp_env__wait(&ve->ce, write_reported, &res, WAIT_MS));
    assert_int_equal(res - 1, VOICE_WRITE_OK);
    assert_int_equal(voice_env__requests(ve, NULL, "/api/users/u-bob/talking"), 1);
    res = 0;
    assert_int_equal(voice_writer__set_talking(ve->services.voice_writer, "contoso",
                                               "ghost@contoso.com", false, write_done, &res),
                     0);
    assert_true(comp_env__wait(&ve->ce, write_reported, &res, WAIT_MS));
    assert_int_equal(res - 1, VOICE_WRITE_UNKNOWN_USER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_chain_to_live, voice_env__teardown),
        cmocka_unit_test_teardown(test_discovery, voice_env__teardown),
        cmocka_unit_test_teardown(test_auth_refused, voice_env__teardown),
        cmocka_unit_test_teardown(test_reconnect, voice_env__teardown),
        cmocka_unit_test_teardown(test_token_outlived, voice_env__teardown),
        cmocka_unit_test_teardown(test_keepalive, voice_env__teardown),
        cmocka_unit_test_teardown(test_subscribe_refused, voice_env__teardown),
        cmocka_unit_test_teardown(test_subscribe_entries, voice_env__teardown),
        cmocka_unit_test_teardown(test_reload, voice_env__teardown),
        cmocka_unit_test_teardown(test_reload_writes_former, voice_env__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
