/* Component test: the mapper (connector/mapper/) behind the role component
 * (connector/role/role.c), on the fake bus and the fake clock, with writers
 * that record what they are asked (docs/ha.md "Writes and the mapper").
 *  - Another instance holds the lease: this one is a standby; its mapper
 *    follows the inputs but asks for no write and publishes no B/sync.
 *  - The holder releases: this one takes over and runs the start-up
 *    reconcile: the previous holder's retained B/sync/<id> is read back
 *    again (the holder wrote alice's after this instance started), so the
 *    Teams session it says alice may hold is cleared (bob's record says
 *    none: nothing to clear), and the records are published again.
 *  - A fence and the lease back start the users afresh too: a write that
 *    failed before leaves no last error behind, and its text is freed (a
 *    leak that LeakSanitizer reports in a -DPS_SANITIZE=ON build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comp_env.h"
#include "component.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/loop.h"
#include "fake_bus.h"
#include "graph/graph_writer.h"
#include "mapper/mapper.h"
#include "role/role.h"
#include "voice/writer.h"

#define CFG                                                                                      \
    "{\"instance\":\"ps-c\",\"mqtt\":{\"bridge_topic\":\"b\"},"                                  \
    "\"http\":{\"public_url\":\"https://x.example\"},"                                           \
    "\"tenants\":[{\"name\":\"t\",\"users\":[\"alice@x.com\",\"bob@x.com\"],"                    \
    "\"graph\":{\"tenant_id\":"                                                                  \
    "\"11111111-2222-3333-4444-555555555555\",\"client_id\":\"66666666-7777-8888-9999-"          \
    "000000000000\",\"client_secret_env\":\"PS_CT_SECRET\",\"service_accounts\":[{\"username\":" \
    "\"svc@x.com\",\"password_env\":\"PS_CT_SECRET\"}]},\"voice\":{\"username\":\"v@x.com\","    \
    "\"secret_key_env\":\"PS_CT_SECRET\"}}],\"mapper\":{\"enabled\":true,\"settle_seconds\":1}}"

#define LEASE(seq, state)                                                                   \
    "{\"holder\":\"ps-other-0badcafe\",\"instance\":\"ps-other\",\"epoch\":3,\"seq\":" #seq \
    ",\"state\":\"" state "\"}"

/* What the writers were asked, answered OK on a later turn. */
static struct {
    struct loop *loop;
    int graph_set[2], graph_clear[2], voice[2];
    bool graph_fails; /* Graph writes answer 500 */
} w;

static int who(const char *email)
{
    return strncmp(email, "alice@", 6) == 0 ? 0 : 1;
}

struct gjob {
    struct graph_write_result r;
    char upn[64];
    graph_write_fn cb;
    void *ctx;
};

static void graph_answer(void *arg)
{
    struct gjob *j = arg;
    j->r.upn = j->upn;
    j->cb(j->ctx, &j->r);
    free(j);
}

static int graph_submit(void *graph, const struct graph_write *op, graph_write_fn cb, void *ctx)
{
    (void)graph;
    struct gjob *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    snprintf(j->upn, sizeof(j->upn), "%s", op->upn);
    j->r = (struct graph_write_result){.tenant = "t",
                                       .op = op->op,
                                       .status = GRAPH_WRITE_OK,
                                       .http_status = 200,
                                       .retry_after_ms = -1,
                                       .availability = "Available",
                                       .activity = "Available"};
    j->cb = cb;
    j->ctx = ctx;
    if (w.graph_fails) {
        j->r.status = GRAPH_WRITE_FAILED;
        j->r.http_status = 500;
        j->r.error = "HTTP 500";
    }
    if (op->op == GRAPH_OP_SET_BUSY)
        w.graph_set[who(op->upn)]++;
    else if (op->op == GRAPH_OP_CLEAR)
        w.graph_clear[who(op->upn)]++;
    loop__timer(w.loop, 1, graph_answer, j);
    return 0;
}

struct vjob {
    struct voice_write_result r;
    char email[64];
    voice_write_fn cb;
    void *ctx;
};

static void voice_answer(void *arg)
{
    struct vjob *j = arg;
    j->r.email = j->email;
    j->cb(j->ctx, &j->r);
    free(j);
}

static int voice_set(void *voice, const char *tenant, const char *email, bool talking,
                     voice_write_fn cb, void *ctx)
{
    (void)voice, (void)tenant;
    struct vjob *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    snprintf(j->email, sizeof(j->email), "%s", email);
    j->r = (struct voice_write_result){.tenant = "t",
                                       .talking = talking,
                                       .status = VOICE_WRITE_OK,
                                       .http_status = 204,
                                       .attempts = 1,
                                       .retry_after_ms = -1};
    j->cb = cb;
    j->ctx = ctx;
    w.voice[who(email)]++;
    loop__timer(w.loop, 1, voice_answer, j);
    return 0;
}

struct env {
    struct comp_env ce;
    struct daemon_services services;
    void *role, *mapper;
};

static void inputs(struct bus *bus)
{
    const char *idle = "{\"busy\":false,\"availability\":\"Available\",\"activity\":\"Available\"}";
    fake_bus__inject(bus, "teams/alice@x.com/busy", idle, true);
    fake_bus__inject(bus, "teams/bob@x.com/busy", idle, true);
    fake_bus__inject(bus, "voice/alice@x.com/talking", "{\"talking\":false}", true);
    fake_bus__inject(bus, "voice/bob@x.com/talking", "{\"talking\":false}", true);
    /* the holder's records at this instance's start: no session held */
    fake_bus__inject(bus, "b/sync/alice@x.com",
                     "{\"tenant\":\"t\",\"written\":{\"teams\":{\"session\":\"none\"}}}", true);
    fake_bus__inject(bus, "b/sync/bob@x.com",
                     "{\"tenant\":\"t\",\"written\":{\"teams\":{\"session\":\"none\"}}}", true);
}

/* The process of this instance ("ps-c-00000001", every role) on the fake
 * clock, the writers' counts cleared; Graph refuses every write when
 * graph_fails. Nothing started: the test puts the broker's retained
 * records in first. */
static void env_open(struct env *e, bool graph_fails)
{
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    clock__fake_start(1000000, 1796000000000LL);
    memset(&w, 0, sizeof(w));
    w.graph_fails = graph_fails;
    memset(e, 0, sizeof(*e));
    assert_int_equal(comp_env__init(&e->ce, CFG, CONFIG_ROLE_ALL), 0);
    w.loop = e->ce.loop;
    e->ce.tun.mapper_startup_ms = 0;
    e->ce.env.services = &e->services;
    e->ce.env.node = "ps-c-00000001";
}

/* The records put in delivered, then the role and the mapper (on the
 * counting writers) made and started. */
static void env_start(struct env *e)
{
    comp_env__settle(&e->ce);
    assert_int_equal(role_component.init(&e->ce.env, &e->role), 0);
    assert_int_equal(mapper_component.init(&e->ce.env, &e->mapper), 0);
    struct mapper_ports ports = {.graph_submit = graph_submit, .voice_set = voice_set};
    mapper__set_ports(e->mapper, &ports);
    assert_int_equal(role_component.start(e->role), 0);
    assert_int_equal(mapper_component.start(e->mapper), 0);
}

/* Stopped and freed in the daemon's order; the fake clock stopped. */
static void env_close(struct env *e)
{
    mapper_component.stop(e->mapper);
    role_component.stop(e->role);
    comp_env__settle(&e->ce);
    mapper_component.free(e->mapper);
    role_component.free(e->role);
    comp_env__free(&e->ce);
    clock__fake_stop();
}

static void standby_writes_nothing_then_takes_over(void **st)
{
    (void)st;
    struct env e;
    env_open(&e, false);
    struct bus *bus = e.ce.bus;
    fake_bus__inject(bus, "b/lease/t", LEASE(5, "held"), true);
    inputs(bus);
    env_start(&e);

    /* a standby (the holder renews), long past the seed window and settle */
    for (int i = 0; i < 3; i++) {
        comp_env__advance(&e.ce, 2000);
        fake_bus__inject(bus, "b/lease/t",
                         i == 0   ? LEASE(6, "held")
                         : i == 1 ? LEASE(7, "held")
                                  : LEASE(8, "held"),
                         true);
    }
    comp_env__advance(&e.ce, 1000);
    assert_string_equal(role__name(e.services.role, "t"), "standby");
    assert_false(role__writes(e.services.role, "t"));
    for (int u = 0; u < 2; u++) {
        assert_int_equal(w.graph_set[u] + w.graph_clear[u] + w.voice[u], 0);
    }
    assert_int_equal(fake_bus__published(bus, "b/sync/#"), 0);

    /* meanwhile the holder set alice busy (a call it saw), then lets go:
     * this one claims, takes over and must read that record again */
    fake_bus__inject(bus, "b/sync/alice@x.com",
                     "{\"tenant\":\"t\",\"written\":{\"teams\":{\"session\":\"busy\"}}}", true);
    comp_env__settle(&e.ce);
    assert_int_equal(fake_bus__published(bus, "b/sync/#"), 0);
    /* the holder lets go: this one claims and takes over */
    fake_bus__inject(bus, "b/lease/t", LEASE(9, "released"), true);
    comp_env__advance(&e.ce, 6000);
    assert_string_equal(role__name(e.services.role, "t"), "active");
    assert_true(role__writes(e.services.role, "t"));
    /* alice's session, as the previous holder's record says, is cleared;
     * bob's record says none: nothing to clear; nobody is set busy */
    assert_int_equal(w.graph_clear[0], 1);
    assert_int_equal(w.graph_clear[1], 0);
    assert_int_equal(w.graph_set[0] + w.graph_set[1], 0);
    assert_true(fake_bus__published(bus, "b/sync/#") >= 2);
    assert_non_null(strstr(fake_bus__retained(bus, "b/sync/alice@x.com"), "\"session\":\"none\""));

    env_close(&e);
}

/* The holder (this instance, after a released lease) clears alice's
 * session, which Graph refuses: her B/sync shows the error. The broker goes
 * away (fenced) and comes back (active again): the users start afresh, the
 * error is gone from B/sync, and the clear is written again. */
static void fence_and_back_forgets_the_last_error(void **st)
{
    (void)st;
    struct env e;
    env_open(&e, true);
    struct bus *bus = e.ce.bus;
    fake_bus__inject(bus, "b/lease/t", LEASE(9, "released"), true);
    inputs(bus);
    fake_bus__inject(bus, "b/sync/alice@x.com",
                     "{\"tenant\":\"t\",\"written\":{\"teams\":{\"session\":\"busy\"}}}", true);
    env_start(&e);
    comp_env__advance(&e.ce, 8000);
    assert_string_equal(role__name(e.services.role, "t"), "active");
    assert_true(w.graph_clear[0] >= 1);
    assert_non_null(strstr(fake_bus__retained(bus, "b/sync/alice@x.com"), "HTTP 500"));

    /* fenced, then active again with Graph answering */
    fake_bus__set_connected(bus, false);
    comp_env__advance(&e.ce, 1000);
    assert_false(role__writes(e.services.role, "t"));
    w.graph_fails = false;
    int clears = w.graph_clear[0];
    fake_bus__set_connected(bus, true);
    comp_env__advance(&e.ce, 15000);
    assert_string_equal(role__name(e.services.role, "t"), "active");
    assert_true(w.graph_clear[0] > clears);
    const char *rec = fake_bus__retained(bus, "b/sync/alice@x.com");
    assert_non_null(rec);
    assert_null(strstr(rec, "HTTP 500"));
    assert_non_null(strstr(rec, "\"session\":\"none\""));

    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standby_writes_nothing_then_takes_over),
        cmocka_unit_test(fence_and_back_forgets_the_last_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
