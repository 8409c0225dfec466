/* Model check of the mapper's reconcile core against a small simulated world:
 * a Graph presence aggregate (the user's Teams client session plus the
 * mapper's app session, Graph's aggregation rules), Graph notifications that
 * lag (FIFO, published on change), reads answered with the aggregate of
 * when they left (a change while one is out is not in its answer), the
 * Voice call and the Voice 'talking' flag, and writes that succeed, fail, or
 * time out after they landed.
 *
 * Every event sequence up to DEPTH (env PS_MODEL_DEPTH, default 8) is
 * explored depth-first; identical states are pruned. After every prefix the
 * world is driven to quiescence (all notifications delivered, all writes
 * succeed, timers run) and the contract is asserted:
 *  - once every real call has ended: Voice not 'talking', no mapper session;
 *  - while a Voice call lasts: the mapper's session is in Teams;
 *  - while a real Teams call lasts (and shows in Graph): Voice shows talking.
 * And at every step (safety): if the user never had a real Teams call, the
 * mapper has never written 'talking' true (no echo loop).
 * Random walks of length 40 add longer histories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapper/reconcile.h"

#define T0  1795000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)

#define QMAX 4 /* pending Teams notifications */

struct pres {
    const char *av;
    const char *act;
};

enum mode {
    MODE_CLEAN,     /* nothing left by an earlier run */
    MODE_LEFTOVERS, /* an earlier run died mid-call; no record of it */
    MODE_HIDDEN,    /* ... and the user set Away by hand, which hides its
                     * session; its B/sync record says it may hold one */
};

struct world {
    /* Real activity. */
    bool voice_call;
    bool preferred;       /* a user-preferred Away: outranks every session */
    bool allow_preferred; /* the user may reset it (hidden mode) */
    bool t_call, t_meeting, t_share, t_calendar;
    bool ever_real_teams; /* any real Teams call so far */
    /* Graph. */
    bool session;
    bool session_newer; /* updated after the client session (wins ties) */
    int64_t session_expires;
    struct pres last_pushed;
    struct pres q[QMAX];
    int64_t q_at[QMAX];
    int qn;
    /* Voice. */
    bool flag;
    bool voice_dirty;
    /* The mapper and time. */
    struct pres read_snap; /* what a read in flight saw when it left */
    int64_t now;
    struct reconcile_user u;
};

static struct reconcile_config cfg;
static unsigned long long n_states, n_pruned, n_quiesce;

/* ---- the simulated systems ---- */

static struct pres client_presence(const struct world *w)
{
    if (w->t_share)
        return (struct pres){"DoNotDisturb", "Presenting"};
    if (w->t_meeting)
        return (struct pres){"Busy", "InAConferenceCall"};
    if (w->t_call)
        return (struct pres){"Busy", "InACall"};
    if (w->t_calendar)
        return (struct pres){"Busy", "InAMeeting"};
    return (struct pres){"Available", "Available"};
}

static int rank(const char *av)
{
    if (!strcmp(av, "DoNotDisturb"))
        return 4;
    if (!strcmp(av, "Busy"))
        return 3;
    if (!strcmp(av, "Available"))
        return 2;
    return 1;
}

/* Graph's aggregation (docs/graph.md): highest availability wins,
 * ties go to the most recently updated session. */
static struct pres aggregate(const struct world *w)
{
    if (w->preferred)
        return (struct pres){"Away", "Away"};
    struct pres c = client_presence(w);
    if (!w->session)
        return c;
    struct pres s = {"Busy", "InACall"};
    int rc = rank(c.av), rs = rank(s.av);
    if (rs > rc || (rs == rc && w->session_newer))
        return s;
    return c;
}

static bool real_teams_call(const struct world *w)
{
    return w->t_call || w->t_meeting || w->t_share;
}

/* Graph notifies on change; the graph side publishes in order. A full queue
 * drops the oldest pending one (a lost intermediate event). */
static void graph_changed(struct world *w)
{
    if (w->session && w->now >= w->session_expires)
        w->session = false;
    struct pres p = aggregate(w);
    if (!strcmp(p.av, w->last_pushed.av) && !strcmp(p.act, w->last_pushed.act))
        return;
    w->last_pushed = p;
    if (w->qn == QMAX) {
        memmove(&w->q[0], &w->q[1], sizeof(w->q[0]) * (QMAX - 1));
        memmove(&w->q_at[0], &w->q_at[1], sizeof(w->q_at[0]) * (QMAX - 1));
        w->qn--;
    }
    w->q[w->qn] = p;
    w->q_at[w->qn] = w->now;
    w->qn++;
}

/* ---- the driver (what mapper.c does) ---- */

static void drive(struct world *w)
{
    struct reconcile_action a[RECONCILE_MAX_ACTIONS];
    size_t n = reconcile__plan(&w->u, &cfg, w->now, a);
    for (size_t i = 0; i < n; i++) {
        if (a[i].not_before > w->now)
            continue;
        reconcile__begin(&w->u, &a[i], w->now);
        /* Graph answers a read with the aggregate when the request arrives,
         * so anything that happens while it is out is not in the answer. */
        if (a[i].kind == RECONCILE_GRAPH_READ)
            w->read_snap = aggregate(w);
    }
}

/* No echo loop: without any real Teams call the flag is never true. */
static bool safety_ok(const struct world *w)
{
    return w->ever_real_teams || !w->flag;
}

static const char *trace_buf = "";

static bool checking = true;

static void assert_safety(const struct world *w)
{
    if (checking && !safety_ok(w))
        fail_msg("echo loop: Voice flag true without a real Teams call: %s", trace_buf);
}

enum ev {
    EV_VOICE,
    EV_CALL,
    EV_MEETING,
    EV_SHARE,
    EV_CALENDAR,
    EV_DELIVER_TEAMS,
    EV_DELIVER_VOICE,
    EV_G_OK,
    EV_G_FAIL,
    EV_G_LANDED_FAIL, /* timeout after Graph applied it */
    EV_V_OK,
    EV_V_FAIL,
    EV_V_LANDED_FAIL,
    EV_TICK,
    EV_PREFERRED, /* the user resets the Away set by hand */
    EV_COUNT
};

static const char *ev_name[EV_COUNT] = {"voice",         "call",          "meeting",       "share",
                                        "calendar",      "deliver_teams", "deliver_voice", "g_ok",
                                        "g_fail",        "g_landed_fail", "v_ok",          "v_fail",
                                        "v_landed_fail", "tick",          "preferred"};

static int64_t tick_target(const struct world *w)
{
    int64_t due = reconcile__next_due(&w->u, &cfg, w->now);
    if (due == RECONCILE_NEVER || due >= RECONCILE_NEVER - 1 || due <= w->now)
        return 0;
    /* Notifications arrive within a minute: time does not run past the
     * oldest pending one by more than that. */
    if (w->qn > 0 && due > w->q_at[0] + 50 * SEC)
        return 0;
    return due;
}

static bool enabled(const struct world *w, enum ev e)
{
    const struct reconcile_target_state *g = &w->u.target[RECONCILE_TEAMS];
    const struct reconcile_target_state *v = &w->u.target[RECONCILE_VOICE];
    switch (e) {
    case EV_DELIVER_TEAMS:
        return w->qn > 0;
    case EV_DELIVER_VOICE:
        return w->voice_dirty;
    case EV_G_OK:
    case EV_G_FAIL:
        return g->in_flight;
    case EV_G_LANDED_FAIL:
        return g->in_flight && g->flight.kind != RECONCILE_GRAPH_READ;
    case EV_V_OK:
    case EV_V_FAIL:
    case EV_V_LANDED_FAIL:
        return v->in_flight;
    case EV_TICK:
        return tick_target(w) != 0;
    case EV_PREFERRED:
        return w->allow_preferred && w->preferred;
    default:
        return true;
    }
}

static void graph_apply(struct world *w)
{
    const struct reconcile_target_state *g = &w->u.target[RECONCILE_TEAMS];
    if (g->flight.kind == RECONCILE_GRAPH_SET_BUSY) {
        w->session = true;
        w->session_newer = true;
        w->session_expires = w->now + cfg.session_ms;
    }
    else if (g->flight.kind == RECONCILE_GRAPH_CLEAR) {
        w->session = false; /* 404 when none: done too */
    }
    graph_changed(w);
}

static void step(struct world *w, enum ev e)
{
    struct reconcile_result ok = {.ok = true, .retry_after_ms = -1};
    struct reconcile_result bad = {
        .ok = false, .retry_after_ms = -1, .random = 0, .error = "HTTP 500"};
    int64_t target = e == EV_TICK ? tick_target(w) : 0;
    switch (e) {
    case EV_VOICE:
        w->voice_call = !w->voice_call;
        w->voice_dirty = true;
        break;
    case EV_CALL:
    case EV_MEETING:
    case EV_SHARE:
    case EV_CALENDAR:
        if (e == EV_CALL)
            w->t_call = !w->t_call;
        else if (e == EV_MEETING)
            w->t_meeting = !w->t_meeting;
        else if (e == EV_SHARE)
            w->t_share = !w->t_share;
        else
            w->t_calendar = !w->t_calendar;
        if (real_teams_call(w))
            w->ever_real_teams = true;
        w->session_newer = false;
        graph_changed(w);
        break;
    case EV_DELIVER_TEAMS: {
        struct pres p = w->q[0];
        memmove(&w->q[0], &w->q[1], sizeof(w->q[0]) * (QMAX - 1));
        memmove(&w->q_at[0], &w->q_at[1], sizeof(w->q_at[0]) * (QMAX - 1));
        w->qn--;
        reconcile__teams_report(&w->u, &cfg, p.av, p.act, w->now, "notification", w->now);
        break;
    }
    case EV_DELIVER_VOICE:
        w->voice_dirty = false;
        reconcile__voice_report(&w->u, w->voice_call, w->voice_call ? 1 : 0, w->now, "rte", w->now);
        break;
    case EV_G_OK:
        if (w->u.target[RECONCILE_TEAMS].flight.kind == RECONCILE_GRAPH_READ) {
            reconcile__teams_read(&w->u, &cfg, w->read_snap.av, w->read_snap.act, w->now);
        }
        else {
            graph_apply(w);
            reconcile__done(&w->u, &cfg, RECONCILE_TEAMS, &ok, w->now);
        }
        break;
    case EV_G_FAIL:
        reconcile__done(&w->u, &cfg, RECONCILE_TEAMS, &bad, w->now);
        break;
    case EV_G_LANDED_FAIL:
        graph_apply(w);
        reconcile__done(&w->u, &cfg, RECONCILE_TEAMS, &bad, w->now);
        break;
    case EV_V_OK:
        w->flag = w->u.target[RECONCILE_VOICE].flight.value;
        reconcile__done(&w->u, &cfg, RECONCILE_VOICE, &ok, w->now);
        break;
    case EV_V_FAIL:
        reconcile__done(&w->u, &cfg, RECONCILE_VOICE, &bad, w->now);
        break;
    case EV_V_LANDED_FAIL:
        w->flag = w->u.target[RECONCILE_VOICE].flight.value;
        reconcile__done(&w->u, &cfg, RECONCILE_VOICE, &bad, w->now);
        break;
    case EV_TICK:
        if (target > w->now)
            w->now = target;
        graph_changed(w); /* a session may have expired */
        break;
    case EV_PREFERRED:
        w->preferred = false;
        graph_changed(w);
        break;
    default:
        break;
    }
    drive(w);
    assert_safety(w);
}

/* ---- quiescence and the contract ---- */

/* Drives w until nothing is in flight, pending or due soon. */
static void quiesce(struct world *wp)
{
    struct world w = *wp;
    for (int iter = 0;; iter++) {
        if (iter > 200)
            fail_msg("no quiescence after 200 steps: %s", trace_buf);
        if (w.qn > 0)
            step(&w, EV_DELIVER_TEAMS);
        else if (w.voice_dirty)
            step(&w, EV_DELIVER_VOICE);
        else if (w.u.target[RECONCILE_TEAMS].in_flight)
            step(&w, EV_G_OK);
        else if (w.u.target[RECONCILE_VOICE].in_flight)
            step(&w, EV_V_OK);
        else {
            int64_t due = reconcile__next_due(&w.u, &cfg, w.now);
            /* Quiet: nothing due except routine refreshes far ahead. */
            if (due == RECONCILE_NEVER || due > w.now + 6 * MIN)
                break;
            w.now = due > w.now ? due : w.now;
            graph_changed(&w);
            drive(&w);
            assert_safety(&w);
        }
    }
    *wp = w;
}

/* The core's user owns its texts (its last error): a world is copied with
 * them, and freed. */
static void world_copy(struct world *dst, const struct world *src)
{
    *dst = *src;
    assert_int_equal(reconcile__user_copy(&dst->u, &src->u), 0);
}

static void world_free(struct world *w)
{
    reconcile__user_free(&w->u);
}

static void quiesce_and_check(const struct world *start)
{
    static struct world w;
    world_copy(&w, start);
    n_quiesce++;
    quiesce(&w);
    if (getenv("PS_MODEL_DEBUG")) {
        char *js = reconcile__sync_json(&w.u, &cfg, w.now, 0);
        fprintf(stderr, "# %s\n# now=+%lld session=%d flag=%d voice=%d %s\n", trace_buf,
                (long long)(w.now - T0), w.session, w.flag, w.voice_call, js);
        free(js);
    }
    if (w.u.target[RECONCILE_VOICE].in_flight || w.u.target[RECONCILE_TEAMS].in_flight)
        fail_msg("write in flight at quiescence: %s", trace_buf);
    bool teams_real = real_teams_call(&w);
    if (!w.voice_call && w.session)
        fail_msg("mapper session left in Teams without a Voice call: %s", trace_buf);
    if (w.voice_call && !w.session)
        fail_msg("Voice call not shown in Teams: %s", trace_buf);
    if (!w.voice_call && !teams_real && w.flag)
        fail_msg("Voice left 'talking' after every call ended: %s", trace_buf);
    /* A real Teams call shows in Voice (the flag, or Voice's own call). A
     * 1:1 InACall hidden under our session is only known once the Voice
     * call ends; then the read finds it. */
    /* (A user-preferred Away hides a real call from Graph too: nothing to
     * mirror then.) */
    if (teams_real && !w.preferred && !w.voice_call && !w.flag)
        fail_msg("real Teams call not shown in Voice: %s", trace_buf);
    if (teams_real && !w.preferred && !w.t_call && !w.flag) {
        /* InAConferenceCall / Presenting are never ambiguous... unless our
         * more recent session hides them in the aggregate. */
        struct pres p = aggregate(&w);
        if (strcmp(p.act, "InACall") != 0)
            fail_msg("real Teams meeting/share not mirrored: %s", trace_buf);
    }
    reconcile__user_free(&w.u);
}

static void world_init_with(struct world *w, enum mode mode, bool record)
{
    bool leftovers = mode != MODE_CLEAN;
    memset(w, 0, sizeof(*w));
    w->now = T0;
    w->last_pushed = (struct pres){"Available", "Available"};
    reconcile__user_init(&w->u, "contoso", "alice@contoso.com", w->now);
    if (mode == MODE_HIDDEN) {
        w->preferred = true;
        w->allow_preferred = true;
        if (record) /* the dead run's retained B/sync said "busy" */
            reconcile__restore(&w->u, RECONCILE_RECORD_MAY_HOLD);
    }
    if (!leftovers) {
        w->u.session = RECONCILE_SESSION_NONE;
        w->u.flag = RECONCILE_FLAG_NONE;
    }
    else {
        /* An earlier run died mid-call: its session and flag are still
         * there, and the retained topics show the old state. */
        w->session = true;
        w->session_newer = false;
        w->session_expires = w->now + 10 * MIN;
        w->flag = true;
        w->ever_real_teams = true; /* the flag was set for a real call */
        w->last_pushed = (struct pres){"Busy", "InACall"};
    }
    if (mode == MODE_HIDDEN)
        w->last_pushed = (struct pres){"Away", "Away"};
    /* Retained topics arrive first (start-up). */
    struct pres p = aggregate(w);
    reconcile__teams_report(&w->u, &cfg, p.av, p.act, w->now, "notification", w->now);
    reconcile__voice_report(&w->u, false, 0, w->now, "rte", w->now);
    drive(w);
}

static void world_init(struct world *w, enum mode mode)
{
    world_init_with(w, mode, true);
}

/* ---- exhaustive DFS with pruning ---- */

#define HBITS 22
static uint64_t *seen;

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t n_seen;

static bool visit(const struct world *w, int depth)
{
    /* Informational fields (observation times and counters) do not change
     * what happens next: leave them out so that permutations merge. */
    static struct world norm;
    norm = *w;
    norm.u.teams.seq = 0;
    norm.u.teams.at = norm.u.teams.since = 0;
    norm.u.voice.at = norm.u.voice.since = 0;
    norm.u.last_error_at = 0;
    norm.u.last_error = NULL; /* a pointer of w's: not freed here */
    for (int i = 0; i < QMAX; i++)
        norm.q_at[i] = i < norm.qn ? norm.q_at[i] : 0;
    uint64_t h = fnv(&norm, sizeof(norm), 1469598103934665603ULL);
    h = fnv(&depth, sizeof(depth), h);
    if (h == 0)
        h = 1;
    size_t mask = ((size_t)1 << HBITS) - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (seen[i] == h)
            return false;
        if (seen[i] == 0) {
            /* Keep the table at most 3/4 full: beyond, explore unpruned. */
            if (n_seen >= (mask / 4) * 3)
                return true;
            seen[i] = h;
            n_seen++;
            return true;
        }
    }
}

static enum ev trace[64];
static char trace_text[1024];

static void trace_fmt(int len)
{
    size_t off = 0;
    trace_text[0] = '\0';
    for (int i = 0; i < len && off < sizeof(trace_text) - 20; i++)
        off += (size_t)snprintf(trace_text + off, sizeof(trace_text) - off, "%s%s", i ? "," : "",
                                ev_name[trace[i]]);
    trace_buf = trace_text;
}

static void dfs(const struct world *w, int depth, int max)
{
    n_states++;
    trace_fmt(depth);
    quiesce_and_check(w);
    if (depth == max)
        return;
    for (int e = 0; e < EV_COUNT; e++) {
        if (!enabled(w, (enum ev)e))
            continue;
        struct world next;
        world_copy(&next, w);
        trace[depth] = (enum ev)e;
        trace_fmt(depth + 1);
        step(&next, (enum ev)e);
        if (!visit(&next, depth + 1))
            n_pruned++;
        else
            dfs(&next, depth + 1, max);
        world_free(&next);
    }
}

static int model_depth(int dflt)
{
    const char *s = getenv("PS_MODEL_DEPTH");
    int d = s ? atoi(s) : dflt;
    return d > 0 && d < 60 ? d : dflt;
}

static void run_exhaustive(enum mode mode)
{
    bool leftovers = mode != MODE_CLEAN;
    reconcile__config_default(&cfg);
    seen = calloc((size_t)1 << HBITS, sizeof(*seen));
    assert_non_null(seen);
    n_states = n_pruned = n_quiesce = 0;
    n_seen = 0;
    static struct world w;
    world_init(&w, mode);
#ifdef __SANITIZE_ADDRESS__
    int depth = model_depth(leftovers ? 7 : 8); /* ~4x slower: stay well inside the timeout */
#else
    int depth = model_depth(leftovers ? 7 : 9);
#endif
    dfs(&w, 0, depth);
    printf("# model depth=%d mode=%d states=%llu pruned=%llu\n", depth, (int)mode, n_states,
           n_pruned);
    assert_true(n_states > 1000);
    world_free(&w);
    free(seen);
}

static void test_exhaustive_clean_start(void **state)
{
    (void)state;
    run_exhaustive(MODE_CLEAN);
}

static void test_exhaustive_leftovers(void **state)
{
    (void)state;
    run_exhaustive(MODE_LEFTOVERS);
}

static void test_exhaustive_hidden_leftovers(void **state)
{
    (void)state;
    run_exhaustive(MODE_HIDDEN);
}

/* Longer random histories (deterministic xorshift). */
static void test_random_walks(void **state)
{
    (void)state;
    reconcile__config_default(&cfg);
    uint64_t x = 88172645463325252ULL;
    int walks = 20000, len = 40;
    for (int k = 0; k < walks; k++) {
        static struct world w;
        world_init(&w, k % 4 == 0 ? MODE_LEFTOVERS : k % 4 == 1 ? MODE_HIDDEN : MODE_CLEAN);
        for (int i = 0; i < len; i++) {
            enum ev choice[EV_COUNT];
            int n = 0;
            for (int e = 0; e < EV_COUNT; e++) {
                if (enabled(&w, (enum ev)e))
                    choice[n++] = (enum ev)e;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            trace[i] = choice[x % (uint64_t)n];
            step(&w, trace[i]);
            trace_fmt(i + 1);
            if (i % 8 == 7)
                quiesce_and_check(&w);
        }
        quiesce_and_check(&w);
        world_free(&w);
    }
}

/* The checker must be able to fail: a core that mirrors every InACall (no
 * echo rule) is caught. This replays the loop by hand on the real core with
 * the echo classified as real, which the safety check rejects. */
static void test_checker_catches_echo_loop(void **state)
{
    (void)state;
    reconcile__config_default(&cfg);
    static struct world w;
    world_init(&w, MODE_CLEAN);
    step(&w, EV_VOICE);
    step(&w, EV_DELIVER_VOICE);
    step(&w, EV_G_OK); /* our session is set: the echo is queued */
    assert_int_equal(w.qn, 1);
    assert_string_equal(w.q[0].act, "InACall");
    /* Sabotage: forget that we own the session, as a naive mapper would. */
    w.u.session = RECONCILE_SESSION_NONE;
    w.u.cleared_at = 0;
    step(&w, EV_DELIVER_TEAMS);
    assert_true(w.u.teams_real);
    assert_true(w.u.target[RECONCILE_VOICE].in_flight);
    checking = false;
    step(&w, EV_V_OK);
    checking = true;
    assert_true(w.flag);
    assert_false(safety_ok(&w));
    world_free(&w);
}

/* Without the previous run's record, its session hidden under a
 * user-preferred Away is "proved" gone by the start-up read and outlives
 * every call (until it expires); the checker sees that. */
static void test_checker_catches_hidden_session(void **state)
{
    (void)state;
    reconcile__config_default(&cfg);
    static struct world w;
    world_init_with(&w, MODE_HIDDEN, false);
    quiesce(&w);
    assert_true(w.session);
    assert_false(w.voice_call);
    world_free(&w);
    world_init_with(&w, MODE_HIDDEN, true);
    quiesce(&w);
    assert_false(w.session);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_catches_echo_loop),
        cmocka_unit_test(test_checker_catches_hidden_session),
        cmocka_unit_test(test_exhaustive_clean_start),
        cmocka_unit_test(test_exhaustive_leftovers),
        cmocka_unit_test(test_exhaustive_hidden_leftovers),
        cmocka_unit_test(test_random_walks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
