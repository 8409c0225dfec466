/* Component test: the Voice tenant's events and calls (connector/voice/
 * voice_side.c, tenant*.c, calls.c, events.c) in process
 * (tests/lib/voice_env.h), on the fake clock: which events are subscribed
 * (AvailableSubscriptions in its answer forms), event model variants,
 * UserStatus as the repair path, calls carried over a restart from the
 * retained topics (seeding), and max_call_minutes. Covers what
 * test_voice_user_status.sh, test_voice_available.sh, test_voice_restart.sh
 * and test_voice_expiry.sh checked end to end before they were removed
 * (docs/testing.md "What moved where"), and a hub with another
 * vocabulary, in milliseconds instead of minutes (docs/voice.md "Event model", "UserStatus (the
 * repair path)", "Daemon restarts", "Policy on missed events"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "fake_bus.h"
#include "fake_rte.h"
#include "log_capture.h"
#include "voice_env.h"

#define ALICE "alice@contoso.com"
#define BOB   "bob@contoso.com"
#define CAROL "carol@contoso.com"
#define ONE   "[\"" ALICE "\"]"
#define THREE "[\"" ALICE "\",\"" BOB "\",\"" CAROL "\"]"

/* Started, the link up to the AvailableSubscriptions question. */
static struct voice_env *asking(const struct voice_env_options *o)
{
    struct voice_env *ve = voice_env__new(o, true);
    assert_non_null(ve);
    assert_true(voice_env__wait_open(ve, 0));
    voice_env__handshake(ve);
    assert_int_equal(voice_env__invocations("AvailableSubscriptions"), 1);
    return ve;
}

/* Started and live with the default events, the seed window closed. */
static struct voice_env *live(const struct voice_env_options *o)
{
    struct voice_env *ve = voice_env__new(o, true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 2100);
    return ve;
}

/* The link lost and brought up again, up to the question. */
static void reconnect_to_question(struct voice_env *ve)
{
    fake_rte__drop(voice_env__link());
    comp_env__settle(&ve->ce);
    assert_true(voice_env__until_link(ve, "connecting", 70000));
    assert_true(voice_env__wait_open(ve, 0));
    voice_env__handshake(ve);
}

static void call(struct voice_env *ve, const char *connected, const char *disconnected,
                 const char *id, const char *address)
{
    voice_env__event(ve, connected, id, "c-9");
    assert_true(voice_env__talking_is(ve, address, true, 1));
    voice_env__event(ve, disconnected, id, "c-9");
    assert_true(voice_env__talking_is(ve, address, false, 0));
}

/* ---- AvailableSubscriptions ------------------------------------------------- */

/* A hub offering the inbound call events in its own spelling, UserStatus and
 * one the model does not know: only the configured ones it offers are
 * subscribed, in its spelling; B/health lists offered, subscribed and
 * missing; ready; events in that spelling are followed. */
static void test_available_subset(void **st)
{
    struct voice_env *ve = *st = asking(&(struct voice_env_options){.users = ONE});
    voice_env__answer_available(ve,
                                "[\"usercallinconnected\",\"usercallindisconnected\","
                                "\"UserStatus\",\"UserAvailability\"]",
                                NULL);
    assert_true(log_capture__has("AvailableSubscriptions answer tenant=contoso via=completion"));
    assert_int_equal(voice_env__subscribed(), 3);
    voice_env__answer_subscribes(ve, NULL, NULL);
    comp_env__advance(&ve->ce, 2100);
    assert_true(voice_env__health_is("events.offered",
                                     "[\"usercallinconnected\",\"usercallindisconnected\","
                                     "\"UserStatus\",\"UserAvailability\"]"));
    assert_true(voice_env__health_is(
        "events.subscribed",
        "[\"usercallinconnected\",\"usercallindisconnected\",\"UserStatus\"]"));
    assert_true(voice_env__health_is("events.missing",
                                     "[\"UserCallOutConnected\",\"UserCallOutDisconnected\"]"));
    assert_true(voice_env__ready(NULL, 0));
    call(ve, "usercallinconnected", "usercallindisconnected", "u-alice", ALICE);
    assert_false(log_capture__has(VE_KEY));
}

/* A hub offering none of the call events: live but not ready, the reason
 * and the log name the missing events; asked again with backoff, and ready
 * once it offers them. */
static void test_available_none(void **st)
{
    struct voice_env *ve = *st = asking(&(struct voice_env_options){.users = ONE});
    voice_env__answer_available(ve, "[\"UserAvailability\",\"QueueStatus\"]", NULL);
    char why[512];
    assert_false(voice_env__ready(why, sizeof(why)));
    assert_non_null(strstr(why, "offers none of the configured call events (missing: "
                                "UserCallInConnected UserCallOutConnected UserCallInDisconnected "
                                "UserCallOutDisconnected UserStatus)"));
    assert_true(log_capture__has("the hub offers none of the configured call events"));
    assert_true(voice_env__health_is("link", "\"live\""));
    assert_true(voice_env__health_is("events.subscribed", "[]"));
    assert_int_equal(voice_env__invocations("Subscribe"), 0);
    for (int i = 0; i < 70 && voice_env__invocations("AvailableSubscriptions") < 2; i++)
        comp_env__advance(&ve->ce, 1000);
    assert_int_equal(voice_env__invocations("AvailableSubscriptions"), 2);
    voice_env__answer_available(ve, VE_EVENTS, NULL);
    assert_int_equal(voice_env__subscribed(), 5);
    voice_env__answer_subscribes(ve, NULL, NULL);
    assert_true(voice_env__ready(why, sizeof(why)));
    assert_int_equal(log_capture__count("AvailableSubscriptions answer tenant=contoso"), 2);
}

/* The other answers: an error (a hub without the method), the list only as
 * a callback after a completion without result, and no list at all (10 s):
 * every configured name is tried when none is given. */
static void test_available_forms(void **st)
{
    struct voice_env *ve = *st = asking(&(struct voice_env_options){.users = ONE});
    voice_env__answer_available(ve, NULL, "Unknown hub method 'AvailableSubscriptions'");
    assert_true(log_capture__has("AvailableSubscriptions refused: subscribing every configured "
                                 "event"));
    assert_int_equal(voice_env__subscribed(), 5);
    voice_env__answer_subscribes(ve, NULL, NULL);
    assert_true(voice_env__health_is("link", "\"live\""));
    assert_true(voice_env__health_is("events.offered", "null"));
    char err[256];
    assert_non_null(
        strstr(voice_env__health_str("events.available_error", err, sizeof(err)), "Unknown hub"));
    /* the callback */
    reconnect_to_question(ve);
    voice_env__answer_available(ve, NULL, NULL);
    assert_int_equal(voice_env__invocations("Subscribe"), 0);
    fake_rte__record(voice_env__link(), "{\"type\":1,\"target\":\"AvailableSubscriptions\","
                                        "\"arguments\":[[\"UserCallInConnected\","
                                        "\"UserCallInDisconnected\"]]}");
    comp_env__settle(&ve->ce);
    assert_true(log_capture__has("AvailableSubscriptions answer tenant=contoso via=callback"));
    assert_int_equal(voice_env__subscribed(), 2);
    voice_env__answer_subscribes(ve, NULL, NULL);
    comp_env__advance(&ve->ce, 2100);
    call(ve, "UserCallInConnected", "UserCallInDisconnected", "u-alice", ALICE);
    /* silence */
    size_t lives = log_capture__count("RTE link live tenant=contoso");
    reconnect_to_question(ve);
    voice_env__answer_available(ve, NULL, NULL);
    comp_env__advance(&ve->ce, 9900);
    assert_int_equal(voice_env__invocations("Subscribe"), 0);
    comp_env__advance(&ve->ce, 200);
    assert_true(log_capture__has("no answer to AvailableSubscriptions within 10000 ms"));
    assert_int_equal(voice_env__subscribed(), 5);
    voice_env__answer_subscribes(ve, NULL, NULL);
    assert_int_equal(log_capture__count("RTE link live tenant=contoso"), lives + 1);
    assert_true(voice_env__health_is("events.offered", "null"));
    assert_non_null(
        strstr(voice_env__health_str("events.available_error", err, sizeof(err)), "no answer"));
    assert_false(log_capture__has(VE_KEY));
}

/* ---- event model variants --------------------------------------------------- */

#define VOCABULARY                                                                             \
    ",\"events\":{\"call_connected\":[{\"name\":\"QueueCallInUserConnected\",\"number\":103}," \
    "{\"name\":\"CallOutAnswered\",\"number\":214}],\"call_disconnected\":[{\"name\":"         \
    "\"CallHangup\",\"number\":212},{\"name\":\"CallOutHangup\",\"number\":215}],"             \
    "\"user_status\":[{\"name\":\"AgentState\",\"number\":341}],\"user_id_fields\":"           \
    "[\"entityId\"],\"call_id_fields\":[\"callGuid\"],\"status\":{\"field\":\"status\","       \
    "\"talking\":[\"Talking\"],\"free\":[\"Available\"]}}"
#define HUB_NAMES                                                                         \
    "[\"QueueCallInUserConnected\",\"CallHangup\",\"CallOutAnswered\",\"CallOutHangup\"," \
    "\"AgentState\"]"

/* A hub with its own vocabulary (numbers on the wire, the user in entityId,
 * the call in callGuid): with the default model nothing of it is offered,
 * not ready, no call tracked. */
static void test_vocabulary_default_model(void **st)
{
    struct voice_env *ve = *st = asking(&(struct voice_env_options){.users = ONE});
    voice_env__answer_available(ve, HUB_NAMES, NULL);
    comp_env__advance(&ve->ce, 2100);
    assert_true(voice_env__health_is("link", "\"live\""));
    assert_false(voice_env__ready(NULL, 0));
    assert_true(voice_env__health_is("events.subscribed", "[]"));
    cJSON *h = voice_env__health();
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "events"), "missing")), 5);
    cJSON_Delete(h);
    voice_env__message(ve, "{\"data\":{\"eventType\":103,\"entityId\":\"u-alice\","
                           "\"entityType\":\"User\",\"callGuid\":\"g-1\"}}");
    assert_true(voice_env__talking_is(ve, ALICE, false, 0));
}

/* The same hub with voice.events describing it: subscribed in its names,
 * calls followed by number (a queue event starts one), UserStatus by its
 * rule. */
static void test_vocabulary_configured(void **st)
{
    struct voice_env *ve = *st =
        asking(&(struct voice_env_options){.users = ONE, .voice_more = VOCABULARY});
    voice_env__answer_available(ve, HUB_NAMES, NULL);
    voice_env__answer_subscribes(ve, NULL, NULL);
    assert_true(log_capture__has("RTE link live tenant=contoso"));
    comp_env__advance(&ve->ce, 2100);
    assert_true(voice_env__ready(NULL, 0));
    assert_true(voice_env__health_is("events.subscribed",
                                     "[\"QueueCallInUserConnected\",\"CallOutAnswered\","
                                     "\"CallHangup\",\"CallOutHangup\",\"AgentState\"]"));
    assert_true(voice_env__health_is("events.missing", "[]"));
    assert_true(voice_env__health_is("events.status_rule", "true"));
    assert_int_equal(voice_env__subscribed(), 5);
    const char *fmt = "{\"data\":{\"eventType\":%d,\"entityId\":\"u-alice\",\"entityType\":"
                      "\"User\",\"callGuid\":\"%s\"}}";
    char m[256];
    snprintf(m, sizeof(m), fmt, 103, "g-1");
    voice_env__message(ve, m);
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    assert_true(log_capture__has("call event tenant=contoso user=" ALICE " event=#103 call=g-1"));
    snprintf(m, sizeof(m), fmt, 214, "g-2");
    voice_env__message(ve, m);
    assert_true(voice_env__talking_is(ve, ALICE, true, 2));
    snprintf(m, sizeof(m), fmt, 212, "g-1");
    voice_env__message(ve, m);
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    snprintf(m, sizeof(m), fmt, 215, "g-2");
    voice_env__message(ve, m);
    assert_true(voice_env__talking_is(ve, ALICE, false, 0));
    voice_env__message(ve, "{\"data\":{\"eventType\":341,\"entityId\":\"u-alice\","
                           "\"entityType\":\"User\",\"status\":\"Talking\"}}");
    assert_true(log_capture__has("UserStatus payload tenant=contoso payload="));
    assert_true(log_capture__has("\"eventType\":341"));
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
}

/* ---- UserStatus ------------------------------------------------------------- */

#define STATUS_RULE                                                            \
    ",\"events\":{\"status\":{\"field\":\"status\",\"talking\":[\"Talking\"]," \
    "\"free\":[\"Available\",\"Offline\"]}}"

static void user_status(struct voice_env *ve, const char *id, const char *status)
{
    char m[256];
    snprintf(m, sizeof(m),
             "{\"data\":{\"eventType\":\"UserStatus\",\"userId\":\"%s\",\"status\":\"%s\"}}", id,
             status);
    voice_env__message(ve, m);
}

/* With a rule UserStatus is authoritative (test_voice_user_status.sh): a
 * call whose Disconnected was lost ends at once when it says free; its
 * payloads are logged; ordinary calls are untouched while it says Talking. */
static void test_user_status_rule(void **st)
{
    struct voice_env *ve = *st = live(&(struct voice_env_options){.voice_more = STATUS_RULE});
    assert_true(voice_env__health_is("events.status_rule", "true"));
    char subscribed[512];
    cJSON *h = voice_env__health();
    char *names =
        cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "events"), "subscribed"));
    snprintf(subscribed, sizeof(subscribed), "%s", names ? names : "");
    free(names);
    cJSON_Delete(h);
    assert_non_null(strstr(subscribed, "\"UserStatus\""));
    voice_env__event(ve, "UserCallInConnected", "u-alice", "c-1");
    user_status(ve, "u-alice", "Talking");
    assert_true(log_capture__has("UserStatus payload tenant=contoso payload="));
    assert_true(log_capture__has("\"status\":\"Talking\""));
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    /* the Disconnected is lost; Available ends the call */
    user_status(ve, "u-alice", "Available");
    assert_true(voice_env__talking_is(ve, ALICE, false, 0));
    assert_int_equal(log_capture__count("calls ended by UserStatus tenant=contoso user=" ALICE
                                        " value=\"Available\" calls=1"),
                     1);
    assert_false(log_capture__has("call dropped after max_call_minutes"));
    assert_non_null(strstr(voice_env__talking(ve, ALICE), "\"source\":\"rte\""));
    /* bob's two calls: Talking changes nothing, the ends count down */
    voice_env__event(ve, "UserCallInConnected", "u-bob", "c-2");
    user_status(ve, "u-bob", "Talking");
    voice_env__event(ve, "UserCallOutConnected", "u-bob", "c-3");
    assert_true(voice_env__talking_is(ve, BOB, true, 2));
    voice_env__event(ve, "UserCallInDisconnected", "u-bob", "c-2");
    assert_true(voice_env__talking_is(ve, BOB, true, 1));
    voice_env__event(ve, "UserCallOutDisconnected", "u-bob", "c-3");
    assert_true(voice_env__talking_is(ve, BOB, false, 0));
}

/* Without a rule UserStatus is only logged: the lost Disconnected keeps the
 * call. */
static void test_user_status_no_rule(void **st)
{
    struct voice_env *ve = *st = live(NULL);
    assert_true(voice_env__health_is("events.status_rule", "false"));
    voice_env__event(ve, "UserCallInConnected", "u-alice", "c-1");
    user_status(ve, "u-alice", "Available");
    comp_env__advance(&ve->ce, 2000);
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
}

/* ---- seeding and expiry ----------------------------------------------------- */

/* 23:33:15Z: 5 s before the fake wall clock's start. */
#define SINCE "2026-12-06T23:33:15Z"

/* Every publish on the address's topic so far says talking. */
static bool never_false(struct voice_env *ve, const char *address)
{
    char topic[128];
    snprintf(topic, sizeof(topic), "voice/%s/talking", address);
    for (size_t i = 0; fake_bus__nth(ve->ce.bus, topic, i); i++)
        if (!strstr(fake_bus__nth(ve->ce.bus, topic, i), "\"talking\":true"))
            return false;
    return true;
}

/* A restart (test_voice_restart.sh): calls carried over from the retained
 * topics of the previous run. alice's ends on a Disconnected with the old
 * callId, never going false before; bob's end was missed: he stays talking
 * until max_call_minutes after the call began, then is dropped (source
 * resync); carol is as usual; the process's own publishes never re-seed. */
static void test_seeding(void **st)
{
    struct voice_env *ve = *st = voice_env__new(
        &(struct voice_env_options){.users = THREE, .voice_more = ",\"max_call_minutes\":1"},
        false);
    assert_non_null(ve);
    const char *prev = "{\"talking\":true,\"calls\":1,\"since\":\"" SINCE "\",\"source\":\"rte\"}";
    fake_bus__inject(ve->ce.bus, "voice/" ALICE "/talking", prev, true);
    fake_bus__inject(ve->ce.bus, "voice/" BOB "/talking", prev, true);
    fake_bus__inject(ve->ce.bus, "voice/" CAROL "/talking",
                     "{\"talking\":false,\"calls\":0,\"source\":\"rte\"}", true);
    int64_t t0 = clock__mono_ms();
    assert_int_equal(voice_env__start(ve), 0);
    assert_true(voice_env__go_live(ve));
    assert_int_equal(log_capture__count("call state carried over from the previous run "
                                        "tenant=contoso user=" ALICE " calls=1"),
                     1);
    assert_int_equal(log_capture__count("call state carried over", "user=" BOB " calls=1"), 1);
    comp_env__advance(&ve->ce, 2100);
    assert_true(log_capture__has("seed window closed tenant=contoso"));
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    assert_true(voice_env__talking_is(ve, BOB, true, 1));
    assert_true(voice_env__talking_is(ve, CAROL, false, 0));
    assert_non_null(strstr(voice_env__talking(ve, ALICE), "\"since\":\"" SINCE "\""));
    assert_non_null(strstr(voice_env__talking(ve, BOB), "\"since\":\"" SINCE "\""));
    call(ve, "UserCallInConnected", "UserCallInDisconnected", "u-carol", CAROL);
    assert_true(never_false(ve, ALICE));
    /* alice's call ends: the Disconnected carries the old callId */
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-old");
    assert_true(voice_env__talking_is(ve, ALICE, false, 0));
    assert_true(log_capture__has("user=" ALICE " event=UserCallInDisconnected call=c-old "
                                 "source=rte calls=0 (ends a carried-over call)"));
    /* bob: not dropped early, dropped within a check period after 60 s */
    int64_t since_mono = t0 - 5000;
    comp_env__advance(&ve->ce, since_mono + 59000 - clock__mono_ms());
    assert_true(voice_env__talking_is(ve, BOB, true, 1));
    assert_false(log_capture__has("call dropped after max_call_minutes"));
    comp_env__advance(&ve->ce, 16000);
    assert_int_equal(log_capture__count("call dropped after max_call_minutes tenant=contoso "
                                        "user=" BOB " call=(carried-over)"),
                     1);
    assert_true(voice_env__talking_is(ve, BOB, false, 0));
    assert_non_null(strstr(voice_env__talking(ve, BOB), "\"source\":\"resync\""));
    assert_int_equal(log_capture__count("call state carried over"), 2);
}

/* A restart where the RTE link is live before the retained topics arrive
 * (the broker was restarting, here a reconnection in the window): Disconnecteds of calls this
 * process never saw come before the seed. They end carried-over calls when the seed is read: alice
 * had two calls, one ended early (its Disconnected delivered twice, by two sources): one is carried
 * over; bob's only call ended early: none; carol's call that started and ended in the window is not
 * one of hers. (Before, the seed kept every call until max_call_minutes: found by it_fault_random,
 * seed 2 with one instance.) */
static void test_seed_after_disconnect(void **st)
{
    struct voice_env *ve = *st = voice_env__new(&(struct voice_env_options){.users = THREE}, true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-a1");
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-a1");
    voice_env__event(ve, "UserCallOutDisconnected", "u-bob", "c-b1");
    voice_env__event(ve, "UserCallInConnected", "u-carol", "c-c2");
    voice_env__event(ve, "UserCallInDisconnected", "u-carol", "c-c2");
    const char *two = "{\"talking\":true,\"calls\":2,\"since\":\"" SINCE "\",\"source\":\"rte\"}";
    const char *one = "{\"talking\":true,\"calls\":1,\"since\":\"" SINCE "\",\"source\":\"rte\"}";
    fake_bus__inject(ve->ce.bus, "voice/" ALICE "/talking", two, true);
    fake_bus__inject(ve->ce.bus, "voice/" BOB "/talking", one, true);
    fake_bus__inject(ve->ce.bus, "voice/" CAROL "/talking", one, true);
    comp_env__settle(&ve->ce);
    /* the retained values come with the (re)connection, as after a broker
     * restart; a live publish is never a seed */
    fake_bus__set_connected(ve->ce.bus, false);
    fake_bus__set_connected(ve->ce.bus, true);
    comp_env__settle(&ve->ce);
    comp_env__advance(&ve->ce, 2100);
    assert_true(log_capture__has("seed window closed tenant=contoso"));
    assert_true(log_capture__has("carried-over calls ended before the seed was read "
                                 "tenant=contoso user=" ALICE " calls=2 ended=1"));
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    assert_true(voice_env__talking_is(ve, BOB, false, 0));
    assert_true(voice_env__talking_is(ve, CAROL, true, 1));
    /* alice's other call ends later with its own callId */
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-a2");
    assert_true(voice_env__talking_is(ve, ALICE, false, 0));
}

/* The payload names its calls (call_ids), so a seed and the calls this
 * process saw itself are not counted twice. Two instances (docs/ha.md): the
 * active one publishes alice's two calls, c-1 and c-2, while this one is
 * starting and has already seen c-2's Connected on its own link: alice has 2
 * calls, not 3 (found by it_fault_random, seed 5, two instances). Bob's
 * payload names c-9, whose Disconnected came in the window: not carried.
 * Then every call ends with its own id and both are idle. */
static void test_seed_names_calls(void **st)
{
    struct voice_env *ve = *st = voice_env__new(&(struct voice_env_options){.users = THREE}, true);
    assert_non_null(ve);
    assert_true(voice_env__go_live(ve));
    voice_env__event(ve, "UserCallInConnected", "u-alice", "c-2");
    voice_env__event(ve, "UserCallInDisconnected", "u-bob", "c-9");
    fake_bus__inject(ve->ce.bus, "voice/" ALICE "/talking",
                     "{\"talking\":true,\"calls\":2,\"since\":\"" SINCE
                     "\",\"source\":\"rte\",\"call_ids\":[\"c-1\",\"C-2\"]}",
                     true);
    fake_bus__inject(ve->ce.bus, "voice/" BOB "/talking",
                     "{\"talking\":true,\"calls\":1,\"since\":\"" SINCE
                     "\",\"source\":\"rte\",\"call_ids\":[\"c-9\"]}",
                     true);
    comp_env__settle(&ve->ce);
    fake_bus__set_connected(ve->ce.bus, false);
    fake_bus__set_connected(ve->ce.bus, true);
    comp_env__settle(&ve->ce);
    comp_env__advance(&ve->ce, 2100);
    assert_true(log_capture__has("seed window closed tenant=contoso"));
    assert_true(voice_env__talking_is(ve, ALICE, true, 2));
    assert_non_null(strstr(voice_env__talking(ve, ALICE), "\"call_ids\":["));
    assert_true(voice_env__talking_is(ve, BOB, false, 0));
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-1");
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    voice_env__event(ve, "UserCallInDisconnected", "u-alice", "c-2");
    assert_true(voice_env__talking_is(ve, ALICE, false, 0));
}

/* A start while the broker is away for longer than 10 s: the seed window
 * stays open until MQTT connects (states published without the carried-over
 * calls would end alice's call that goes on: found by it_fault_random with a
 * broker restart at a start), then closes 2 s later with her call kept. */
static void test_seed_waits_for_broker(void **st)
{
    struct voice_env *ve = *st = voice_env__new(&(struct voice_env_options){.users = THREE}, false);
    assert_non_null(ve);
    const char *prev = "{\"talking\":true,\"calls\":1,\"since\":\"" SINCE "\",\"source\":\"rte\"}";
    fake_bus__inject(ve->ce.bus, "voice/" ALICE "/talking", prev, true);
    fake_bus__set_connected(ve->ce.bus, false);
    assert_int_equal(voice_env__start(ve), 0);
    assert_true(voice_env__go_live(ve));
    comp_env__advance(&ve->ce, 15000);
    assert_int_equal(log_capture__count("MQTT not connected: Voice states held"), 1);
    assert_false(log_capture__has("seed window closed"));
    assert_int_equal(fake_bus__published(ve->ce.bus, "voice/+/talking"), 0);
    fake_bus__set_connected(ve->ce.bus, true);
    comp_env__settle(&ve->ce);
    comp_env__advance(&ve->ce, 2100);
    assert_true(log_capture__has("seed window closed tenant=contoso"));
    /* alice's first publish carries her call over (the retained value alone
     * would read the same) */
    const char *first = fake_bus__nth(ve->ce.bus, "voice/" ALICE "/talking", 0);
    assert_non_null(first);
    assert_non_null(strstr(first, "\"talking\":true,\"calls\":1"));
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    assert_true(voice_env__talking_is(ve, BOB, false, 0));
}

/* A Disconnected missed while the link was down: the
 * call is kept across the loss, and dropped max_call_minutes after it began
 * (source resync); other users' calls go on meanwhile. */
static void test_expiry(void **st)
{
    struct voice_env *ve = *st =
        live(&(struct voice_env_options){.voice_more = ",\"max_call_minutes\":1"});
    voice_env__event(ve, "UserCallInConnected", "u-alice", "c-1");
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    int64_t started = clock__mono_ms();
    voice_env__fault(ve, "GET", "/api/token/", 503, NULL, 2);
    fake_rte__drop(voice_env__link());
    comp_env__settle(&ve->ce);
    assert_true(log_capture__has("RTE link lost tenant=contoso"));
    assert_true(voice_env__until_link(ve, "connecting", 70000));
    assert_true(voice_env__go_live(ve));
    assert_true(voice_env__talking_is(ve, ALICE, true, 1));
    call(ve, "UserCallInConnected", "UserCallInDisconnected", "u-bob", BOB);
    comp_env__advance(&ve->ce, started + 59000 - clock__mono_ms());
    assert_false(log_capture__has("call dropped after max_call_minutes"));
    comp_env__advance(&ve->ce, 16000);
    assert_int_equal(log_capture__count("call dropped after max_call_minutes tenant=contoso "
                                        "user=" ALICE " call=c-1"),
                     1);
    assert_true(voice_env__talking_is(ve, ALICE, false, 0));
    assert_non_null(strstr(voice_env__talking(ve, ALICE), "\"source\":\"resync\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_available_subset, voice_env__teardown),
        cmocka_unit_test_teardown(test_available_none, voice_env__teardown),
        cmocka_unit_test_teardown(test_available_forms, voice_env__teardown),
        cmocka_unit_test_teardown(test_vocabulary_default_model, voice_env__teardown),
        cmocka_unit_test_teardown(test_vocabulary_configured, voice_env__teardown),
        cmocka_unit_test_teardown(test_user_status_rule, voice_env__teardown),
        cmocka_unit_test_teardown(test_user_status_no_rule, voice_env__teardown),
        cmocka_unit_test_teardown(test_seeding, voice_env__teardown),
        cmocka_unit_test_teardown(test_seed_after_disconnect, voice_env__teardown),
        cmocka_unit_test_teardown(test_seed_waits_for_broker, voice_env__teardown),
        cmocka_unit_test_teardown(test_seed_names_calls, voice_env__teardown),
        cmocka_unit_test_teardown(test_expiry, voice_env__teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
