/* The mapper component in-process, on a real loop, driving two fake writers
 * through its ports (mapper.h): what it does with every kind of result.
 *  - A Voice write that fails every time (the Voice side's writer tries
 *    once and reports once) gives its slot back at each result: 70 users
 *    failing forever never starve the 5 others, whose writes complete, and
 *    the failing ones are retried by the reconcile core with backoff.
 *  - A Graph result's Retry-After becomes the user's retry time; a user
 *    Graph does not know (not_found) loses its object id, so the writer looks
 *    it up again; the error text reaches B/sync's last_error.
 * No network: the fakes answer on the loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/tunables.h"
#include "mapper/mapper.h"
#include "mapper/mapper_int.h"

#define N_FAILING 70
#define N_GOOD    5
#define ALICE_ID  "0f1e2d3c-aaaa-bbbb-cccc-000000000001"

/* ---- the fake writers ---- */

struct fake_op {
    bool voice;
    char email[64];
    bool talking;
    enum graph_op gop;
    char user_id[40];
    voice_write_fn vcb;
    graph_write_fn gcb;
    void *ctx;
};

struct fake {
    struct loop *loop;
    struct fake_op ops[512];
    size_t n;
    loop_timer_id timer;
    bool hold_graph; /* Graph ops wait for the test to answer them */
    bool hold_voice; /* Voice ops too */
    int voice_in_flight, voice_max_in_flight;
    int voice_ok[N_FAILING + N_GOOD], voice_failed[N_FAILING + N_GOOD];
};

static struct fake fk;

static int user_index(const char *email)
{
    int i = -1;
    sscanf(email, "u%d@", &i);
    return i;
}

static void fake_answer_voice(struct fake_op *op)
{
    int i = user_index(op->email);
    bool ok = i >= N_FAILING;
    struct voice_write_result r = {
        .tenant = "contoso",
        .email = op->email,
        .talking = op->talking,
        .status = ok ? VOICE_WRITE_OK : VOICE_WRITE_FAILED,
        .http_status = ok ? 204 : 503,
        .attempts = 1,
        .error = ok ? NULL : "Service Unavailable",
        .retry_after_ms = -1,
    };
    fk.voice_in_flight--;
    if (i >= 0 && i < N_FAILING + N_GOOD)
        (ok ? fk.voice_ok : fk.voice_failed)[i]++;
    op->vcb(op->ctx, &r);
}

static void fake_answer_graph(struct fake_op *op, enum graph_write_status st, int64_t ra,
                              const char *error)
{
    struct graph_write_result r = {
        .tenant = "contoso",
        .upn = op->email,
        .op = op->gop,
        .status = st,
        .http_status = st == GRAPH_WRITE_OK          ? 200
                       : st == GRAPH_WRITE_THROTTLED ? 429
                                                     : 404,
        .retry_after_ms = ra,
        .error = st == GRAPH_WRITE_OK ? NULL : error,
        .availability = "Available",
        .activity = "Available",
    };
    op->gcb(op->ctx, &r);
}

/* Answers what is queued (the writers' results come on a later turn). */
static void fake_flush(void *arg)
{
    (void)arg;
    fk.timer = 0;
    size_t keep = 0;
    struct fake_op now[512];
    size_t n = fk.n;
    memcpy(now, fk.ops, n * sizeof(now[0]));
    fk.n = 0;
    for (size_t k = 0; k < n; k++) {
        if (now[k].voice && fk.hold_voice)
            fk.ops[fk.n++] = now[k], keep++;
        else if (now[k].voice)
            fake_answer_voice(&now[k]);
        else if (fk.hold_graph)
            fk.ops[fk.n++] = now[k], keep++;
        else
            fake_answer_graph(&now[k], GRAPH_WRITE_OK, -1, NULL);
    }
    (void)keep;
}

static struct fake_op *fake_push(void)
{
    assert_true(fk.n < sizeof(fk.ops) / sizeof(fk.ops[0]));
    struct fake_op *op = &fk.ops[fk.n++];
    memset(op, 0, sizeof(*op));
    if (!fk.timer && !fk.hold_graph)
        fk.timer = loop__timer(fk.loop, 0, fake_flush, NULL);
    return op;
}

static int fake_voice_set(void *voice, const char *tenant, const char *email, bool talking,
                          voice_write_fn cb, void *ctx)
{
    (void)voice, (void)tenant;
    struct fake_op *op = fake_push();
    op->voice = true;
    snprintf(op->email, sizeof(op->email), "%s", email);
    op->talking = talking;
    op->vcb = cb;
    op->ctx = ctx;
    if (++fk.voice_in_flight > fk.voice_max_in_flight)
        fk.voice_max_in_flight = fk.voice_in_flight;
    if (!fk.timer)
        fk.timer = loop__timer(fk.loop, 0, fake_flush, NULL);
    return 0;
}

static int fake_graph_submit(void *graph, const struct graph_write *w, graph_write_fn cb, void *ctx)
{
    (void)graph;
    struct fake_op *op = fake_push();
    snprintf(op->email, sizeof(op->email), "%s", w->upn);
    snprintf(op->user_id, sizeof(op->user_id), "%s", w->user_id ? w->user_id : "");
    op->gop = w->op;
    op->gcb = cb;
    op->ctx = ctx;
    return 0;
}

/* ---- the mapper ---- */

struct rig {
    struct config *cfg;
    struct tunables tun;
    struct daemon_services services;
    struct daemon_env env;
    void *state;
};

static void rig_start(struct rig *r, const char *users_json)
{
    setenv("PS_T_CS", "secret", 1);
    setenv("PS_T_SA", "password", 1);
    setenv("PS_T_VK", "voicekey", 1);
    char json[16384];
    snprintf(
        json, sizeof(json),
        "{\"instance\":\"ps-test\",\"http\":{\"public_url\":\"https://sync.example.com\"},"
        "\"tenants\":[{\"name\":\"contoso\",\"users\":%s,"
        "\"graph\":{\"tenant_id\":\"contoso.onmicrosoft.com\",\"client_id\":"
        "\"11111111-2222-3333-4444-555555555555\",\"client_secret_env\":\"PS_T_CS\","
        "\"service_accounts\":[{\"username\":\"svc1@contoso.com\",\"password_env\":"
        "\"PS_T_SA\"}]},"
        "\"voice\":{\"username\":\"integration@contoso.com\",\"secret_key_env\":\"PS_T_VK\"}}],"
        "\"mapper\":{\"enabled\":true,\"settle_seconds\":1}}",
        users_json);
    struct config_error err;
    memset(r, 0, sizeof(*r));
    if (config__parse(json, "/tmp", &r->cfg, &err) != 0)
        fail_msg("config: %s: %s", err.path, err.msg);
    memset(&fk, 0, sizeof(fk));
    fk.loop = loop__new();
    r->tun = *tunables__defaults();
    r->tun.mapper_startup_ms = 0;
    r->env = (struct daemon_env){.cfg = r->cfg,
                                 .loop = fk.loop,
                                 .services = &r->services,
                                 .tun = &r->tun,
                                 .roles = CONFIG_ROLE_ALL};
    assert_int_equal(mapper_component.init(&r->env, &r->state), 0);
    struct mapper_ports ports = {.graph_submit = fake_graph_submit, .voice_set = fake_voice_set};
    mapper__set_ports(r->state, &ports);
    assert_int_equal(mapper_component.start(r->state), 0);
}

/* Stops the mapper; what the fakes still hold ends as stopped. */
static void rig_stop(struct rig *r)
{
    mapper_component.stop(r->state);
    for (size_t k = 0; k < fk.n; k++) {
        if (fk.ops[k].voice) {
            struct voice_write_result v = {.status = VOICE_WRITE_STOPPED, .retry_after_ms = -1};
            fk.ops[k].vcb(fk.ops[k].ctx, &v);
        }
        else {
            fake_answer_graph(&fk.ops[k], GRAPH_WRITE_STOPPED, -1, "stopped");
        }
    }
    fk.n = 0;
    loop__stop(fk.loop);
    loop__run(fk.loop); /* drains */
    mapper_component.free(r->state);
    loop__free(fk.loop);
    config__free(r->cfg);
}

static struct mapper_user *user_of(struct rig *r, const char *addr)
{
    struct mapper *m = r->state;
    for (size_t k = 0; k < m->tenants[0].n_users; k++) {
        if (strcmp(m->tenants[0].users[k]->address, addr) == 0)
            return m->tenants[0].users[k];
    }
    fail_msg("no user %s", addr);
    return NULL;
}

/* A script on the loop (which runs once): each step's action runs when its
 * condition holds; the loop stops after the last step or at the deadline. */
struct step {
    bool (*ready)(void);
    void (*act)(void);
};

static struct {
    const struct step *steps;
    size_t n, cur;
    int64_t deadline;
} script;

static void script_tick(void *arg)
{
    (void)arg;
    while (script.cur < script.n && script.steps[script.cur].ready()) {
        if (script.steps[script.cur].act)
            script.steps[script.cur].act();
        script.cur++;
    }
    if (script.cur == script.n || clock__mono_ms() > script.deadline) {
        loop__stop(fk.loop);
        return;
    }
    loop__timer(fk.loop, 20, script_tick, NULL);
}

/* Returns the number of steps done. */
static size_t run_script(const struct step *steps, size_t n, int64_t ms)
{
    script.steps = steps;
    script.n = n;
    script.cur = 0;
    script.deadline = clock__mono_ms() + ms;
    loop__timer(fk.loop, 1, script_tick, NULL);
    loop__run(fk.loop);
    return script.cur;
}

/* ---- Voice: failing writes give their slots back ---- */

static bool good_written_and_failing_retried(void)
{
    for (int i = 0; i < N_FAILING + N_GOOD; i++) {
        if (i >= N_FAILING && fk.voice_ok[i] < 1)
            return false;
        if (i < N_FAILING && fk.voice_failed[i] < 2)
            return false;
    }
    return true;
}

static void test_voice_failures_do_not_hold_slots(void **state)
{
    (void)state;
    char users[8192] = "[";
    for (int i = 0; i < N_FAILING + N_GOOD; i++)
        snprintf(users + strlen(users), sizeof(users) - strlen(users), "%s\"u%02d@contoso.com\"",
                 i ? "," : "", i);
    strcat(users, "]");
    struct rig r;
    rig_start(&r, users);
    /* at start every flag is 'unknown' and is written false: 75 writes, 64
     * at a time; 70 of them fail every time */
    const struct step steps[] = {{good_written_and_failing_retried, NULL}};
    assert_int_equal(run_script(steps, 1, 15000), 1);
    assert_true(fk.voice_max_in_flight <= MAPPER_VOICE_MAX_IN_FLIGHT);
    struct mapper_user *bad = user_of(&r, "u00@contoso.com");
    assert_true(bad->state.target[RECONCILE_VOICE].failures >= 2);
    assert_non_null(
        strstr(bad->state.last_error, "voice_set: failed: HTTP 503 Service Unavailable"));
    struct mapper_user *good = user_of(&r, "u72@contoso.com");
    assert_int_equal(good->state.flag, RECONCILE_FLAG_FALSE);
    assert_int_equal(good->state.target[RECONCILE_VOICE].failures, 0);
    rig_stop(&r);
}

/* ---- Voice: a waiting user never misses its wake-up ---- */

/* The held Voice write of user `email`, or -1. */
static long voice_op_of(const char *email)
{
    for (size_t k = 0; k < fk.n; k++) {
        if (fk.ops[k].voice && strcmp(fk.ops[k].email, email) == 0)
            return (long)k;
    }
    return -1;
}

static void answer_voice_of(const char *email)
{
    long k = voice_op_of(email);
    assert_true(k >= 0);
    struct fake_op op = fk.ops[k];
    memmove(&fk.ops[k], &fk.ops[k + 1], (fk.n - (size_t)k - 1) * sizeof(fk.ops[0]));
    fk.n--;
    fake_answer_voice(&op);
}

static struct rig w_rig;
static char w_first[64], w_second[64]; /* in line for a slot, in order */

/* Every slot taken, two users waiting. */
static bool all_slots_taken(void)
{
    struct mapper *m = w_rig.state;
    return m->voice_in_flight == MAPPER_VOICE_MAX_IN_FLIGHT && m->vwait_head &&
           m->vwait_head->vnext && !m->vwait_head->vnext->vnext;
}

/* One write ends, and in the same turn the second in line has news. */
static void act_release_one_and_touch_second(void)
{
    struct mapper *m = w_rig.state;
    snprintf(w_first, sizeof(w_first), "%s", m->vwait_head->address);
    snprintf(w_second, sizeof(w_second), "%s", m->vwait_head->vnext->address);
    answer_voice_of(fk.ops[0].email);
    char topic[128];
    snprintf(topic, sizeof(topic), "teams/%s/busy", w_second);
    const char *teams = "{\"busy\":false,\"availability\":\"Available\",\"activity\":"
                        "\"Available\"}";
    inputs__on_teams(m, topic, teams, strlen(teams), true);
}

static bool first_in_line_writes(void)
{
    return voice_op_of(w_first) >= 0;
}

/* The second waits its turn; the first in line got the slot. Its write
 * ends: the slot it frees goes to the second. */
static void act_release_first(void)
{
    assert_true(voice_op_of(w_second) < 0);
    answer_voice_of(w_first);
}

static bool second_in_line_writes(void)
{
    return voice_op_of(w_second) >= 0;
}

static void test_voice_wakeups_are_not_lost(void **state)
{
    (void)state;
    char users[4096] = "[";
    for (int i = 0; i < MAPPER_VOICE_MAX_IN_FLIGHT + 2; i++) /* users whose writes succeed */
        snprintf(users + strlen(users), sizeof(users) - strlen(users), "%s\"u%02d@contoso.com\"",
                 i ? "," : "", i + N_FAILING);
    strcat(users, "]");
    rig_start(&w_rig, users);
    fk.hold_voice = true;
    const struct step steps[] = {
        {all_slots_taken, act_release_one_and_touch_second},
        {first_in_line_writes, act_release_first},
        {second_in_line_writes, NULL},
    };
    assert_int_equal(run_script(steps, 3, 5000), 3);
    rig_stop(&w_rig);
}

/* ---- Graph: Retry-After and not_found reach the core ---- */

static bool graph_op_waiting(void)
{
    for (size_t k = 0; k < fk.n; k++) {
        if (!fk.ops[k].voice && fk.ops[k].gop == GRAPH_OP_SET_BUSY)
            return true;
    }
    return false;
}

static struct fake_op take_set_busy(void)
{
    for (size_t k = 0; k < fk.n; k++) {
        if (!fk.ops[k].voice && fk.ops[k].gop == GRAPH_OP_SET_BUSY) {
            struct fake_op op = fk.ops[k];
            memmove(&fk.ops[k], &fk.ops[k + 1], (fk.n - k - 1) * sizeof(fk.ops[0]));
            fk.n--;
            return op;
        }
    }
    fail_msg("no setPresence waiting");
    return fk.ops[0];
}

static struct rig g_rig;
static int64_t g_t0;

static struct mapper_user *alice(void)
{
    return user_of(&g_rig, "alice@contoso.com");
}

/* 1: the Graph side named the object id, the writer gets it; Graph says 429
 * with a Retry-After of 3 s. */
static void act_throttle(void)
{
    struct fake_op op = take_set_busy();
    assert_string_equal(op.user_id, ALICE_ID);
    g_t0 = clock__mono_ms();
    fake_answer_graph(&op, GRAPH_WRITE_THROTTLED, 3000, "HTTP 429 TooManyRequests");
    struct mapper_user *u = alice();
    int64_t at = u->state.target[RECONCILE_TEAMS].retry_at;
    assert_true(at >= g_t0 + 3000 && at <= clock__mono_ms() + 3000);
    assert_string_equal(u->state.last_error, "graph_set_busy: HTTP 429 TooManyRequests");
    assert_string_equal(u->guid, ALICE_ID);
}

/* 2: the retry comes no sooner; Graph does not know that id. */
static void act_not_found(void)
{
    assert_true(clock__mono_ms() >= g_t0 + 3000);
    struct fake_op op = take_set_busy();
    assert_string_equal(op.user_id, ALICE_ID);
    fake_answer_graph(&op, GRAPH_WRITE_NOT_FOUND, -1, "HTTP 404 Request_ResourceNotFound");
    struct mapper_user *u = alice();
    assert_string_equal(u->guid, ""); /* the writer looks the user up next time */
    assert_int_equal(u->state.target[RECONCILE_TEAMS].failures, 2);
}

/* 3: the next try goes without an id, and succeeds. */
static void act_ok(void)
{
    struct fake_op op = take_set_busy();
    assert_string_equal(op.user_id, "");
    fake_answer_graph(&op, GRAPH_WRITE_OK, -1, NULL);
    assert_int_equal(alice()->state.session, RECONCILE_SESSION_BUSY);
}

static void test_graph_results(void **state)
{
    (void)state;
    rig_start(&g_rig, "[\"alice@contoso.com\"]");
    fk.hold_graph = true;
    struct mapper *m = g_rig.state;
    const char *teams = "{\"busy\":false,\"availability\":\"Available\",\"activity\":"
                        "\"Available\",\"user_id\":\"" ALICE_ID "\"}";
    const char *voice = "{\"talking\":true,\"calls\":1}";
    inputs__on_teams(m, "teams/alice@contoso.com/busy", teams, strlen(teams), true);
    inputs__on_voice(m, "voice/alice@contoso.com/talking", voice, strlen(voice), true);
    const struct step steps[] = {
        {graph_op_waiting, act_throttle},
        {graph_op_waiting, act_not_found},
        {graph_op_waiting, act_ok},
    };
    assert_int_equal(run_script(steps, 3, 20000), 3);
    rig_stop(&g_rig);
}

/* ---- the previous run's record ---- */

static void test_record_of_previous_run(void **state)
{
    (void)state;
    const char *busy = "{\"user\":\"a@x\",\"tenant\":\"contoso\",\"written\":{\"teams\":"
                       "{\"session\":\"busy\"},\"voice\":{\"talking\":\"none\"}},\"pending\":[]}";
    const char *none = "{\"tenant\":\"contoso\",\"written\":{\"teams\":{\"session\":\"none\"}},"
                       "\"pending\":[]}";
    const char *unknown =
        "{\"tenant\":\"contoso\",\"written\":{\"teams\":{\"session\":\"unknown\"}}}";
    const char *setting = "{\"tenant\":\"contoso\",\"written\":{\"teams\":{\"session\":\"none\"}},"
                          "\"pending\":[{\"action\":\"graph_set_busy\",\"in_flight\":true}]}";
    const char *planned = "{\"tenant\":\"contoso\",\"written\":{\"teams\":{\"session\":\"none\"}},"
                          "\"pending\":[{\"action\":\"graph_set_busy\",\"not_before\":null}]}";
    assert_int_equal(inputs__record(busy, strlen(busy), "contoso"), RECONCILE_RECORD_MAY_HOLD);
    assert_int_equal(inputs__record(unknown, strlen(unknown), "contoso"),
                     RECONCILE_RECORD_MAY_HOLD);
    assert_int_equal(inputs__record(setting, strlen(setting), "contoso"),
                     RECONCILE_RECORD_MAY_HOLD);
    assert_int_equal(inputs__record(none, strlen(none), "contoso"), RECONCILE_RECORD_NONE);
    assert_int_equal(inputs__record(planned, strlen(planned), "contoso"), RECONCILE_RECORD_NONE);
    /* another tenant's record, or not a record: nothing known */
    assert_int_equal(inputs__record(busy, strlen(busy), "fabrikam"), RECONCILE_RECORD_ABSENT);
    assert_int_equal(inputs__record("{}", 2, "contoso"), RECONCILE_RECORD_ABSENT);
    assert_int_equal(inputs__record("not json", 8, "contoso"), RECONCILE_RECORD_ABSENT);
}

int main(void)
{
    log__set_level(getenv("PS_TEST_DEBUG") ? PS_LOG_DEBUG : PS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_of_previous_run),
        cmocka_unit_test(test_voice_failures_do_not_hold_slots),
        cmocka_unit_test(test_voice_wakeups_are_not_lost),
        cmocka_unit_test(test_graph_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
