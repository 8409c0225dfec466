/* Component test: the talking writer (connector/voice/writer.c) as the
 * Voice component builds it from voice.talking_request, in process
 * (tests/lib/voice_env.h), against canned replies of Enreach's REST API over
 * real sockets. Single attempt (the mapper retries: component_mapper_calls),
 * one request per user in flight, the newest value wins, unknown users; the
 * opt-in availability mode that creates and deletes only its own entry
 * (docs/voice.md "Writing 'talking'"). Covers what test_voice_writer.sh and
 * test_voice_availability.sh checked end to end before they were removed
 * (docs/testing.md "What moved where"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned_http.h"
#include "log_capture.h"
#include "voice/writer.h"
#include "voice_env.h"

#define WAIT_MS 10000
#define XCS     "/api/users/u-alice/externalcallstate"
#define AVAIL   "/api/users/u-alice/availability"
#define TEMPLATE                                                                               \
    ",\"talking_request\":{\"method\":\"PUT\",\"path\":\"/users/{userId}/externalcallstate\"," \
    "\"body\":\"{\\\"InCall\\\":{talking},\\\"Source\\\":\\\"MSTeams\\\"}\"}"
#define AVAILABILITY                                                       \
    ",\"talking_request\":{\"mode\":\"availability\",\"event_type_id\":3," \
    "\"note\":\"In a Teams call\"}"
/* Voice knows bob by an address with '+'; nobody is configured, unknown */
#define USERS_JSON                                              \
    "[{\"Id\":\"u-alice\",\"UserName\":\"alice@contoso.com\"}," \
    "{\"Id\":\"u-bob\",\"UserName\":\"bob+x@contoso.com\"},"    \
    "{\"Id\":\"me-1\",\"UserName\":\"svc@contoso.com\"}]"
#define CONFIGURED "[\"alice@contoso.com\",\"bob+x@contoso.com\",\"nobody@contoso.com\"]"

struct res {
    bool talking;
    enum voice_write_status status;
    int http, attempts;
    int64_t retry_after_ms;
    char error[160];
};

struct results {
    size_t n;
    struct res r[8];
};

static void on_result(void *ctx, const struct voice_write_result *w)
{
    struct results *rs = ctx;
    if (rs->n == 8)
        return;
    struct res *r = &rs->r[rs->n++];
    r->talking = w->talking;
    r->status = w->status;
    r->http = w->http_status;
    r->attempts = w->attempts;
    r->retry_after_ms = w->retry_after_ms;
    snprintf(r->error, sizeof(r->error), "%s", w->error ? w->error : "");
}

struct want {
    struct results *rs;
    size_t n;
};

static bool have(void *ctx)
{
    struct want *w = ctx;
    return w->rs->n >= w->n;
}

static struct voice_env *env_new(const char *voice_more)
{
    struct voice_env *ve = voice_env__new(
        &(struct voice_env_options){.users = CONFIGURED, .voice_more = voice_more}, false);
    assert_non_null(ve);
    voice_env__users(ve, USERS_JSON);
    assert_int_equal(voice_env__start(ve), 0);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    return ve;
}

static void set(struct voice_env *ve, const char *email, bool talking, struct results *rs)
{
    assert_int_equal(voice_writer__set_talking(ve->services.voice_writer, "contoso", email, talking,
                                               on_result, rs),
                     0);
}

/* Waits (real time: the replies come over the sockets) for n results. */
static void wait_results(struct voice_env *ve, struct results *rs, size_t n)
{
    struct want w = {rs, n};
    assert_true(comp_env__wait(&ve->ce, have, &w, WAIT_MS));
    comp_env__settle(&ve->ce);
    assert_int_equal(rs->n, n);
}

/* One value for alice, its one result. */
static struct res write1(struct voice_env *ve, bool talking)
{
    struct results rs = {0};
    set(ve, "alice@contoso.com", talking, &rs);
    wait_results(ve, &rs, 1);
    return rs.r[0];
}

static void reply(struct voice_env *ve, const char *method, const char *path, int status,
                  const char *headers, const char *body, int delay_ms)
{
    canned_http__prepend(ve->http, &(struct canned_rule){.method = method,
                                                         .path = path,
                                                         .status = status,
                                                         .headers = headers,
                                                         .body = body,
                                                         .times = 1,
                                                         .delay_ms = delay_ms});
}

/* The body of the n-th request with method and path ("" past the end). */
static const char *body_of(struct voice_env *ve, const char *method, const char *path, size_t n)
{
    static char buf[512];
    char *req = canned_http__request(ve->http, method, path, n);
    const char *b = req ? strstr(req, "\r\n\r\n") : NULL;
    snprintf(buf, sizeof(buf), "%s", b ? b + 4 : "");
    free(req);
    return buf;
}

/* ---- the template --------------------------------------------------------- */

/* The configured template with the user's id: one PUT, its body rendered;
 * the same value again is harmless. The key never in the log. */
static void test_template(void **st)
{
    struct voice_env *ve = *st = env_new(TEMPLATE);
    reply(ve, "PUT", XCS, 204, NULL, NULL, 0);
    struct res r = write1(ve, true);
    assert_int_equal(r.status, VOICE_WRITE_OK);
    assert_int_equal(r.http, 204);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.retry_after_ms, -1);
    assert_int_equal(voice_env__requests(ve, "PUT", XCS), 1);
    assert_string_equal(body_of(ve, "PUT", XCS, 0), "{\"InCall\":true,\"Source\":\"MSTeams\"}");
    reply(ve, "PUT", XCS, 204, NULL, NULL, 0);
    assert_int_equal(write1(ve, true).status, VOICE_WRITE_OK);
    assert_int_equal(voice_env__requests(ve, "PUT", XCS), 2);
    assert_false(log_capture__has(VE_KEY));
}

/* Single attempt: a 429 reported once with its Retry-After (ms), 500 and
 * 503 without one, another 4xx with its status in the error; each one
 * request, never retried here; a later value goes through. */
static void test_single_attempt(void **st)
{
    struct voice_env *ve = *st = env_new(TEMPLATE);
    reply(ve, "PUT", XCS, 429, "Retry-After: 1\r\n", "{}", 0);
    struct res r = write1(ve, false);
    assert_int_equal(r.status, VOICE_WRITE_FAILED);
    assert_int_equal(r.http, 429);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.retry_after_ms, 1000);
    assert_int_equal(voice_env__requests(ve, "PUT", XCS), 1);
    static const int codes[] = {500, 503};
    for (size_t i = 0; i < 2; i++) {
        reply(ve, "PUT", XCS, codes[i], NULL, NULL, 0);
        r = write1(ve, false);
        assert_int_equal(r.status, VOICE_WRITE_FAILED);
        assert_int_equal(r.http, codes[i]);
        assert_int_equal(r.attempts, 1);
        assert_int_equal(r.retry_after_ms, -1);
        assert_int_equal(voice_env__requests(ve, "PUT", XCS), 2 + i);
    }
    reply(ve, "PUT", XCS, 400, NULL, "{\"Message\":\"bad\"}", 0);
    r = write1(ve, true);
    assert_int_equal(r.status, VOICE_WRITE_FAILED);
    assert_int_equal(r.http, 400);
    assert_int_equal(r.retry_after_ms, -1);
    if (strncmp(r.error, "HTTP 400", 8) != 0)
        fail_msg("error: %s", r.error);
    assert_int_equal(voice_env__requests(ve, "PUT", XCS), 4);
    reply(ve, "PUT", XCS, 204, NULL, NULL, 0);
    r = write1(ve, false);
    assert_int_equal(r.status, VOICE_WRITE_OK);
    assert_int_equal(voice_env__requests(ve, "PUT", XCS), 5);
}

/* One request per user in flight, the newest value wins: true is in flight
 * (300 ms) and fails, false given meanwhile is sent after it. Then three
 * values while one is in flight: the middle one is replaced unsent. */
static void test_one_in_flight(void **st)
{
    struct voice_env *ve = *st = env_new(TEMPLATE);
    struct results rs = {0};
    /* prepended: the last one answers first */
    reply(ve, "PUT", XCS, 204, NULL, NULL, 0);
    reply(ve, "PUT", XCS, 500, NULL, NULL, 300);
    set(ve, "alice@contoso.com", true, &rs);
    set(ve, "alice@contoso.com", false, &rs);
    wait_results(ve, &rs, 2);
    assert_true(rs.r[0].talking && rs.r[0].status == VOICE_WRITE_FAILED && rs.r[0].http == 500);
    assert_true(!rs.r[1].talking && rs.r[1].status == VOICE_WRITE_OK && rs.r[1].attempts == 1);
    assert_int_equal(voice_env__requests(ve, "PUT", XCS), 2);
    assert_string_equal(body_of(ve, "PUT", XCS, 1), "{\"InCall\":false,\"Source\":\"MSTeams\"}");

    memset(&rs, 0, sizeof(rs));
    reply(ve, "PUT", XCS, 204, NULL, NULL, 0);
    reply(ve, "PUT", XCS, 204, NULL, NULL, 300);
    set(ve, "alice@contoso.com", true, &rs);
    set(ve, "alice@contoso.com", false, &rs);
    set(ve, "alice@contoso.com", true, &rs);
    wait_results(ve, &rs, 3);
    size_t ok = 0, superseded = 0;
    for (size_t i = 0; i < 3; i++) {
        ok += rs.r[i].status == VOICE_WRITE_OK;
        if (rs.r[i].status == VOICE_WRITE_SUPERSEDED) {
            superseded++;
            assert_false(rs.r[i].talking);
        }
    }
    assert_int_equal(ok, 2);
    assert_int_equal(superseded, 1);
    assert_int_equal(voice_env__requests(ve, "PUT", XCS), 4);
    assert_string_equal(body_of(ve, "PUT", XCS, 3), "{\"InCall\":true,\"Source\":\"MSTeams\"}");
}

/* Two users at once are independent; an address with '+' works; one Voice
 * does not know ends unknown_user without a request. */
static void test_users(void **st)
{
    struct voice_env *ve = *st = env_new(TEMPLATE);
    struct results rs = {0};
    reply(ve, "PUT", XCS, 204, NULL, NULL, 0);
    reply(ve, "PUT", "/api/users/u-bob/externalcallstate", 204, NULL, NULL, 0);
    set(ve, "bob+x@contoso.com", true, &rs);
    set(ve, "alice@contoso.com", false, &rs);
    set(ve, "nobody@contoso.com", true, &rs);
    wait_results(ve, &rs, 3);
    size_t ok = 0, unknown = 0;
    for (size_t i = 0; i < 3; i++) {
        ok += rs.r[i].status == VOICE_WRITE_OK;
        unknown += rs.r[i].status == VOICE_WRITE_UNKNOWN_USER && rs.r[i].attempts == 0;
    }
    assert_int_equal(ok, 2);
    assert_int_equal(unknown, 1);
    assert_int_equal(voice_env__requests(ve, "PUT", "/api/users/u-bob/externalcallstate"), 1);
    assert_int_equal(voice_env__requests(ve, "PUT", XCS), 1);
    assert_int_equal(voice_env__requests(ve, "PUT", "/api/users/nobody"), 0);
}

/* {email} in the path is percent-encoded there. */
static void test_email_in_path(void **st)
{
    struct voice_env *ve = *st =
        env_new(",\"talking_request\":{\"path\":\"/users/{userId}/externalcallstate?who={email}\","
                "\"body\":\"{\\\"InCall\\\":{talking}}\"}");
    const char *path = "/api/users/u-bob/externalcallstate?who=bob%2Bx%40contoso.com";
    reply(ve, "PUT", path, 204, NULL, NULL, 0);
    struct results rs = {0};
    set(ve, "bob+x@contoso.com", false, &rs);
    wait_results(ve, &rs, 1);
    assert_int_equal(rs.r[0].status, VOICE_WRITE_OK);
    assert_int_equal(voice_env__requests(ve, "PUT", path), 1);
}

/* ---- availability --------------------------------------------------------- */

#define OURS  "{\"Id\":\"a-ours\",\"EventSource\":\"presence-sync\",\"EventTypeID\":3}"
#define USERS "{\"Id\":\"a-user\",\"EventSource\":\"Voice app\",\"EventTypeID\":2}"

/* true, and true again: one POST with our EventSource and EventTypeID (the
 * second value sends nothing); then false deletes exactly that entry, by
 * the Id the POST answered, without reading the current one. */
static void test_availability_own_entry(void **st)
{
    struct voice_env *ve = *st = env_new(AVAILABILITY);
    reply(ve, "POST", AVAIL, 200, NULL, OURS, 0);
    assert_int_equal(write1(ve, true).status, VOICE_WRITE_OK);
    assert_int_equal(write1(ve, true).status, VOICE_WRITE_OK);
    assert_int_equal(voice_env__requests(ve, "POST", AVAIL), 1);
    cJSON *b = cJSON_Parse(body_of(ve, "POST", AVAIL, 0));
    assert_non_null(b);
    assert_int_equal(cJSON_GetObjectItem(b, "EventTypeID")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItem(b, "EventSource")->valuestring, "presence-sync");
    assert_non_null(cJSON_GetObjectItem(b, "UserID"));
    cJSON_Delete(b);
    reply(ve, "DELETE", AVAIL "/a-ours", 204, NULL, NULL, 0);
    assert_int_equal(write1(ve, false).status, VOICE_WRITE_OK);
    assert_int_equal(voice_env__requests(ve, "DELETE", AVAIL "/a-ours"), 1);
    assert_int_equal(voice_env__requests(ve, "DELETE", "/"), 1);
    assert_int_equal(voice_env__requests(ve, "GET", AVAIL "/current"), 0);
}

/* A process that did not create the entry (a restart): false reads the
 * current entry and deletes it only when its EventSource is ours; the
 * user's own entry is never deleted. */
static void test_availability_after_restart(void **st)
{
    struct voice_env *ve = *st = env_new(AVAILABILITY);
    reply(ve, "GET", AVAIL "/current", 200, NULL, OURS, 0);
    reply(ve, "DELETE", AVAIL "/a-ours", 204, NULL, NULL, 0);
    assert_int_equal(write1(ve, false).status, VOICE_WRITE_OK);
    assert_int_equal(voice_env__requests(ve, "GET", AVAIL "/current"), 1);
    assert_int_equal(voice_env__requests(ve, "DELETE", AVAIL "/a-ours"), 1);
    assert_true(log_capture__has("availability entry of an earlier run found tenant=contoso "
                                 "user=alice@contoso.com id=a-ours"));
    /* now the current entry is the user's */
    reply(ve, "GET", AVAIL "/current", 200, NULL, USERS, 0);
    assert_int_equal(write1(ve, false).status, VOICE_WRITE_OK);
    assert_int_equal(voice_env__requests(ve, "GET", AVAIL "/current"), 2);
    assert_int_equal(voice_env__requests(ve, "DELETE", "/"), 1);
    assert_int_equal(voice_env__requests(ve, "POST", "/api/users/"), 0);
    assert_false(log_capture__has(VE_KEY));
}

/* ---- off ------------------------------------------------------------------ */

/* No talking_request in a process that runs the mapper: logged once, B/health
 * says so (configured false, mode off, the note), and /readyz carries it as
 * the reason of a ready tenant, so a deliberately one-way deployment is
 * ready; the writer refuses the tenant's writes up front. */
static void test_off(void **st)
{
    struct voice_env *ve = *st = voice_env__new(&(struct voice_env_options){.mapper = true}, true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    assert_int_equal(log_capture__count("talking writer not configured tenant=contoso"), 1);
    assert_true(voice_env__health_is("writer.configured", "false"));
    assert_true(voice_env__health_is("writer.mode", "\"off\""));
    assert_true(voice_env__health_is("writer.note", "\"talking writer not configured\""));
    char why[256];
    assert_true(voice_env__ready(why, sizeof(why)));
    assert_string_equal(why, "talking writer not configured");
    assert_false(voice_writer__enabled(ve->services.voice_writer, "contoso"));
    struct results rs = {0};
    assert_int_equal(voice_writer__set_talking(ve->services.voice_writer, "contoso",
                                               "alice@contoso.com", true, on_result, &rs),
                     -1);
    comp_env__settle(&ve->ce);
    assert_int_equal(rs.n, 0);
    assert_int_equal(voice_env__requests(ve, "PUT", "/"), 0);
    assert_int_equal(voice_env__requests(ve, "POST", "/api/users/"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_template, voice_env__teardown),
        cmocka_unit_test_teardown(test_single_attempt, voice_env__teardown),
        cmocka_unit_test_teardown(test_one_in_flight, voice_env__teardown),
        cmocka_unit_test_teardown(test_users, voice_env__teardown),
        cmocka_unit_test_teardown(test_email_in_path, voice_env__teardown),
        cmocka_unit_test_teardown(test_availability_own_entry, voice_env__teardown),
        cmocka_unit_test_teardown(test_availability_after_restart, voice_env__teardown),
        cmocka_unit_test_teardown(test_off, voice_env__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
