/* Component test: what reaches the Voice side besides the REST chain, in
 * process (tests/lib/voice_env.h): webhooks through the daemon's own HTTP
 * server (core/http_server.c, real sockets) to the route of
 * connector/voice/voice_side.c, RTE records however the hub frames them
 * (fake_rte.h), and voice.capture writing both to its file. Covers what
 * test_voice_webhook.sh, test_voice_framing.sh and test_voice_capture.sh
 * checked end to end before they were removed (docs/testing.md "What moved
 * where"; docs/voice.md "Webhooks (optional second source)", "RTE
 * (real-time events)", "Learning a real tenant"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "canned_http.h"
#include "fake_rte.h"
#include "log_capture.h"
#include "voice_env.h"

#define WAIT_MS 10000

/* Live, the seed window closed: everyone announced not talking. */
static struct voice_env *live(const struct voice_env_options *o)
{
    struct voice_env *ve = voice_env__new(o, true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
    return ve;
}

static long hook(struct voice_env *ve, const char *token, const char *body, char out[512])
{
    return voice_env__webhook(ve, "POST", "contoso", token, body, out, 512);
}

/* A webhook event as Enreach sends it: EventType, UserId, CallId. */
static long hook_ev(struct voice_env *ve, const char *type, const char *user, const char *call)
{
    char body[512], out[512];
    snprintf(body, sizeof(body),
             "{\"Id\":\"e-%s\",\"EventType\":\"%s\",\"UserId\":\"%s\",\"CallId\":\"%s\","
             "\"Timestamp\":\"2026-11-26T10:00:00Z\",\"EntityType\":\"User\",\"EntityId\":\"%s\"}",
             call, type, user, call, user);
    long st = hook(ve, VE_HOOK, body, out);
    comp_env__settle(&ve->ce); /* the accepted event runs on the loop */
    return st;
}

static bool source_is(struct voice_env *ve, const char *address, const char *source)
{
    cJSON *o = cJSON_Parse(voice_env__talking(ve, address));
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "source");
    bool ok = cJSON_IsString(s) && strcmp(s->valuestring, source) == 0;
    cJSON_Delete(o);
    return ok;
}

/* ---- webhooks ------------------------------------------------------------- */

/* Before the user map is loaded an event cannot be matched to a user: 503
 * with Retry-After (the sender retries), not accepted and dropped. Once the
 * map is there the same event is accepted. */
static void test_hook_before_map(void **st)
{
    struct voice_env *ve = *st =
        voice_env__new(&(struct voice_env_options){.webhook = true}, false);
    assert_non_null(ve);
    /* /users/me answers late: the map cannot be loaded before it */
    canned_http__prepend(ve->http, &(struct canned_rule){.method = "GET",
                                                         .path = "/api/users/me",
                                                         .status = 200,
                                                         .body = "{\"Id\":\"" VE_ME "\"}",
                                                         .times = 1,
                                                         .delay_ms = 1500});
    assert_int_equal(voice_env__start(ve), 0);
    char out[512];
    assert_int_equal(hook(ve, VE_HOOK,
                          "{\"EventType\":\"UserCallInConnected\",\"UserId\":\"u-alice\","
                          "\"CallId\":\"c-0\"}",
                          out),
                     503);
    if (!strcasestr(ve->hook_headers, "\nRetry-After: 5\r\n"))
        fail_msg("no Retry-After: %s", ve->hook_headers);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    assert_int_equal(hook_ev(ve, "UserCallInConnected", "u-alice", "c-0"), 202);
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", true, 1));
}

/* A wrong, missing, longer or shorter X-Benemen-Token: 401, nothing
 * changes, logged (wrong or missing); the secret never in the log. */
static void test_hook_token(void **st)
{
    struct voice_env *ve = *st = live(&(struct voice_env_options){.webhook = true});
    assert_true(voice_env__health_is("webhook", "true"));
    const char *ev = "{\"EventType\":\"UserCallInConnected\",\"UserId\":\"u-alice\","
                     "\"CallId\":\"c-1\"}";
    size_t n0 = voice_env__talking_count(ve, "alice@contoso.com");
    char out[512];
    assert_int_equal(hook(ve, "wrong", ev, out), 401);
    assert_int_equal(hook(ve, NULL, ev, out), 401);
    assert_int_equal(hook(ve, VE_HOOK "x", ev, out), 401);
    char shorter[] = VE_HOOK;
    shorter[sizeof(shorter) - 2] = '\0';
    assert_int_equal(hook(ve, shorter, ev, out), 401);
    comp_env__advance(&ve->ce, 1000);
    assert_int_equal(voice_env__talking_count(ve, "alice@contoso.com"), n0);
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
    assert_int_equal(log_capture__count("webhook refused: wrong X-Benemen-Token tenant=contoso"),
                     3);
    assert_int_equal(log_capture__count("webhook refused: missing X-Benemen-Token tenant=contoso"),
                     1);
    assert_false(log_capture__has(VE_HOOK));
}

/* Bodies that are not an event: 400 with a reason. An entity that is not
 * a user is not read as one. */
static void test_hook_bad_body(void **st)
{
    struct voice_env *ve = *st = live(&(struct voice_env_options){.webhook = true});
    char out[512];
    assert_int_equal(hook(ve, VE_HOOK, "not json", out), 400);
    assert_int_equal(hook(ve, VE_HOOK, "{\"EventType\":\"UserCallInConnected\"}", out), 400);
    cJSON *o = cJSON_Parse(out);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    assert_true(cJSON_IsString(e) && e->valuestring[0]);
    cJSON_Delete(o);
    assert_int_equal(hook(ve, VE_HOOK,
                          "{\"EventType\":\"UserCallInConnected\",\"EntityType\":\"Queue\","
                          "\"EntityId\":\"u-alice\",\"CallId\":\"c-q\"}",
                          out),
                     400);
    comp_env__settle(&ve->ce);
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
    assert_true(log_capture__has("webhook body refused tenant=contoso"));
}

/* Good events: 202, the state follows with source "webhook"; a duplicate
 * changes nothing; another event type is accepted and ignored; two calls
 * overlap; a user named in EntityId only, members in any case. */
static void test_hook_events(void **st)
{
    struct voice_env *ve = *st = live(&(struct voice_env_options){.webhook = true});
    const char *a = "alice@contoso.com";
    assert_int_equal(hook_ev(ve, "UserCallInConnected", "u-alice", "c-1"), 202);
    assert_true(voice_env__talking_is(ve, a, true, 1));
    assert_true(source_is(ve, a, "webhook"));
    size_t n = voice_env__talking_count(ve, a);
    assert_int_equal(hook_ev(ve, "UserCallInConnected", "u-alice", "c-1"), 202);
    char out[512];
    assert_int_equal(hook(ve, VE_HOOK,
                          "{\"EventType\":\"QueueCallInUserAllocated\",\"UserId\":\"u-alice\","
                          "\"CallId\":\"c-9\"}",
                          out),
                     202);
    assert_non_null(strstr(out, "ignored"));
    comp_env__settle(&ve->ce);
    assert_int_equal(voice_env__talking_count(ve, a), n);
    assert_int_equal(hook_ev(ve, "UserCallOutConnected", "u-alice", "c-2"), 202);
    assert_true(voice_env__talking_is(ve, a, true, 2));
    assert_int_equal(hook_ev(ve, "UserCallInDisconnected", "u-alice", "c-1"), 202);
    assert_true(voice_env__talking_is(ve, a, true, 1));
    assert_int_equal(hook_ev(ve, "UserCallOutDisconnected", "u-alice", "c-2"), 202);
    assert_true(voice_env__talking_is(ve, a, false, 0));
    /* EntityId only (EntityType User), then camelCase members */
    assert_int_equal(hook(ve, VE_HOOK,
                          "{\"EventType\":\"UserCallInConnected\",\"EntityType\":\"User\","
                          "\"EntityId\":\"u-alice\",\"CallId\":\"c-e\","
                          "\"Timestamp\":\"2026-11-26T10:00:00.123\"}",
                          out),
                     202);
    comp_env__settle(&ve->ce);
    assert_true(voice_env__talking_is(ve, a, true, 1));
    assert_int_equal(hook(ve, VE_HOOK,
                          "{\"eventType\":\"UserCallInDisconnected\",\"entityType\":\"User\","
                          "\"entityId\":\"u-alice\",\"callId\":\"c-e\"}",
                          out),
                     202);
    comp_env__settle(&ve->ce);
    assert_true(voice_env__talking_is(ve, a, false, 0));
    assert_true(voice_env__talking_is(ve, "bob@contoso.com", false, 0));
}

/* Routing: a tenant without a webhook 404, GET 405. */
static void test_hook_routes(void **st)
{
    struct voice_env *ve = *st = live(&(struct voice_env_options){.webhook = true});
    char out[512];
    assert_int_equal(voice_env__webhook(ve, "POST", "fabrikam", VE_HOOK, "{}", out, sizeof(out)),
                     404);
    assert_int_equal(voice_env__webhook(ve, "GET", "contoso", NULL, NULL, out, sizeof(out)), 405);
}

/* ---- RTE framing ---------------------------------------------------------- */

static void data(struct voice_env *ve, const char *s, size_t len)
{
    fake_rte__data(voice_env__link(), s, len);
    comp_env__settle(&ve->ce);
}

/* One MessageReceived record, 0x1E included, into buf. */
static size_t rec(char *buf, size_t len, const char *type, const char *user, const char *call)
{
    return (size_t)snprintf(buf, len,
                            "{\"type\":1,\"target\":\"MessageReceived\",\"arguments\":[{\"data\":"
                            "{\"eventType\":%s,\"userId\":\"%s\",\"callId\":\"%s\"}}]}\x1e",
                            type, user, call);
}

/* One record sent in two WebSocket messages, cut in the middle. */
static void split(struct voice_env *ve, const char *type, const char *user, const char *call)
{
    char r[512];
    size_t n = rec(r, sizeof(r), type, user, call);
    data(ve, r, n / 2);
    data(ve, r + n / 2, n - n / 2);
}

/* Records as the hub may frame them: the handshake answer ({} + 0x1E) in two
 * messages, every record split across two, two records in one message,
 * eventType as a name, a number or a number in a string, unknown event
 * types in between. The state is right throughout and the link never
 * drops; nothing is misread. */
static void test_framing(void **st)
{
    struct voice_env *ve = *st = voice_env__new(NULL, true);
    assert_non_null(ve);
    assert_true(voice_env__wait_open(ve, 0));
    fake_rte__accept(voice_env__link());
    comp_env__settle(&ve->ce);
    data(ve, "{", 1);
    data(ve, "}\x1e", 2);
    voice_env__answer_available(ve, VE_EVENTS, NULL);
    voice_env__answer_subscribes(ve, NULL, NULL);
    assert_true(voice_env__health_is("link", "\"live\""));
    comp_env__advance(&ve->ce, 2100);
    const char *a = "alice@contoso.com", *b = "bob@contoso.com";
    /* split */
    split(ve, "\"UserCallInConnected\"", "u-alice", "c-1");
    assert_true(voice_env__talking_is(ve, a, true, 1));
    split(ve, "\"UserCallOutConnected\"", "u-alice", "c-2");
    assert_true(voice_env__talking_is(ve, a, true, 2));
    split(ve, "\"UserCallInDisconnected\"", "u-alice", "c-1");
    split(ve, "\"UserCallOutDisconnected\"", "u-alice", "c-2");
    assert_true(voice_env__talking_is(ve, a, false, 0));
    /* merged: two records in one message, then a whole call in one */
    char m[1024];
    size_t n = rec(m, sizeof(m), "\"UserCallInConnected\"", "u-bob", "c-3");
    n += rec(m + n, sizeof(m) - n, "\"UserCallInConnected\"", "u-alice", "c-4");
    data(ve, m, n);
    assert_true(voice_env__talking_is(ve, b, true, 1));
    assert_true(voice_env__talking_is(ve, a, true, 1));
    n = rec(m, sizeof(m), "\"UserCallInDisconnected\"", "u-bob", "c-3");
    n += rec(m + n, sizeof(m) - n, "\"UserCallInDisconnected\"", "u-alice", "c-4");
    data(ve, m, n);
    assert_true(voice_env__talking_is(ve, b, false, 0));
    assert_true(voice_env__talking_is(ve, a, false, 0));
    /* numbers (11 in, 14 out connected; 12, 15 disconnected), a number as
     * text, unknown types between, merged and split at once */
    size_t before = voice_env__talking_count(ve, b);
    n = rec(m, sizeof(m), "\"SomethingNew\"", "u-bob", "c-x");
    n += rec(m + n, sizeof(m) - n, "11", "u-bob", "c-5");
    n += rec(m + n, sizeof(m) - n, "140", "u-bob", "c-y");
    n += rec(m + n, sizeof(m) - n, "\"14\"", "u-bob", "c-6");
    data(ve, m, n - 7);
    data(ve, m + n - 7, 7);
    assert_true(voice_env__talking_is(ve, b, true, 2));
    assert_int_equal(voice_env__talking_count(ve, b), before + 2);
    split(ve, "12", "u-bob", "c-5");
    split(ve, "\"UserCallOutDisconnected\"", "u-bob", "c-6");
    assert_true(voice_env__talking_is(ve, b, false, 0));
    assert_true(voice_env__health_is("link", "\"live\""));
    assert_true(voice_env__health_is("reconnects", "0"));
    assert_int_equal(fake_rte__opens(voice_env__link()), 1);
    assert_false(log_capture__has("bad RTE"));
}

/* ---- voice.capture -------------------------------------------------------- */

struct cap_fx {
    struct voice_env ve; /* first: voice_env__teardown frees it */
    char dir[64], file[96];
};

static int cap_teardown(void **st)
{
    struct cap_fx *x = *st;
    if (x) {
        unlink(x->file);
        rmdir(x->dir);
    }
    return voice_env__teardown(st);
}

/* How many lines of the capture have kind and (NULL: any) event; the first
 * such line parsed into *first when first is not NULL. */
static int cap_count(const char *file, const char *kind, const char *event, cJSON **first)
{
    FILE *f = fopen(file, "r");
    char line[8192];
    int n = 0;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o); /* every line is JSON */
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "event");
        bool hit = cJSON_IsString(k) && strcmp(k->valuestring, kind) == 0 &&
                   (!event || (cJSON_IsString(e) && strcmp(e->valuestring, event) == 0));
        if (hit && n++ == 0 && first)
            *first = o;
        else
            cJSON_Delete(o);
    }
    fclose(f);
    return n;
}

static void assert_file_lacks(const char *file, const char *s)
{
    FILE *f = fopen(file, "r");
    char line[8192];
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (strstr(line, s))
            fail_msg("%s found in the capture: %s", s, line);
    fclose(f);
}

/* voice.capture count 2: of three calls the first two payloads per event
 * name are kept, as the hub sent them; the AvailableSubscriptions answer
 * and webhook bodies too; credentials in a body redacted; file mode 0600. */
static void test_capture(void **st)
{
    struct cap_fx *x = calloc(1, sizeof(*x));
    *st = x;
    assert_non_null(x);
    const char *tmp = getenv("TMPDIR");
    snprintf(x->dir, sizeof(x->dir), "%s/ps-cap.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->file, sizeof(x->file), "%s/capture.jsonl", x->dir);
    char more[192];
    snprintf(more, sizeof(more), ",\"capture\":{\"file\":\"%s\",\"count\":2}", x->file);
    struct voice_env *ve = &x->ve;
    assert_int_equal(log_capture__start(), 0);
    assert_int_equal(
        voice_env__init(ve, &(struct voice_env_options){.webhook = true, .voice_more = more}), 0);
    assert_int_equal(voice_env__start(ve), 0);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    for (int i = 0; i < 3; i++) {
        char call[8];
        snprintf(call, sizeof(call), "c-%d", i);
        voice_env__event(ve, "UserCallInConnected", "u-alice", call);
        voice_env__message(ve, "{\"data\":{\"eventType\":\"UserStatus\",\"userId\":\"u-alice\","
                               "\"status\":\"Busy\"}}");
        voice_env__event(ve, "UserCallInDisconnected", "u-alice", call);
    }
    assert_true(voice_env__talking_is(ve, "alice@contoso.com", false, 0));
    const char *jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    char body[512], out[512];
    snprintf(body, sizeof(body),
             "{\"EventType\":\"UserCallInConnected\",\"UserId\":\"nobody\",\"CallId\":\"c1\","
             "\"AccessToken\":\"plain-secret-1\",\"Extra\":{\"note\":\"Bearer plain-secret-2\","
             "\"raw\":\"%s\"}}",
             jwt);
    assert_int_equal(hook(ve, VE_HOOK, body, out), 202);
    comp_env__settle(&ve->ce);

    struct stat sb;
    assert_int_equal(stat(x->file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    cJSON *first = NULL;
    assert_int_equal(cap_count(x->file, "message_received", "UserCallInConnected", &first), 2);
    assert_int_equal(cap_count(x->file, "message_received", "UserCallInDisconnected", NULL), 2);
    assert_int_equal(cap_count(x->file, "message_received", "UserStatus", NULL), 2);
    assert_true(cap_count(x->file, "available_subscriptions", NULL, NULL) >= 1);
    /* a line is the raw argument: the data object as the hub sent it */
    char *s = cJSON_PrintUnformatted(first);
    assert_non_null(strstr(s, "\"tenant\":\"contoso\""));
    assert_non_null(strstr(s, "\"payload\":{\"data\":{\"eventType\":\"UserCallInConnected\","
                              "\"userId\":\"u-alice\",\"callId\":\"c-0\""));
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(first, "at");
    assert_true(cJSON_IsString(at) && at->valuestring[strlen(at->valuestring) - 1] == 'Z');
    free(s);
    cJSON_Delete(first);
    first = NULL;
    assert_int_equal(cap_count(x->file, "webhook", NULL, &first), 1);
    s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(first, "payload"));
    assert_non_null(strstr(s, "\"UserId\":\"nobody\""));
    assert_non_null(strstr(s, "\"AccessToken\":\"[redacted]\""));
    assert_non_null(strstr(s, "\"note\":\"[redacted]\",\"raw\":\"[redacted]\""));
    free(s);
    cJSON_Delete(first);
    assert_file_lacks(x->file, "plain-secret");
    assert_file_lacks(x->file, jwt);
    assert_file_lacks(x->file, VE_KEY);
    assert_file_lacks(x->file, VE_HOOK);
    assert_false(log_capture__has("plain-secret-1"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_hook_before_map, voice_env__teardown),
        cmocka_unit_test_teardown(test_hook_token, voice_env__teardown),
        cmocka_unit_test_teardown(test_hook_bad_body, voice_env__teardown),
        cmocka_unit_test_teardown(test_hook_events, voice_env__teardown),
        cmocka_unit_test_teardown(test_hook_routes, voice_env__teardown),
        cmocka_unit_test_teardown(test_framing, voice_env__teardown),
        cmocka_unit_test_teardown(test_capture, cap_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
