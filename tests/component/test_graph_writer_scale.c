/* Component test: the Graph client and presence writer (connector/graph/
 * graph_client.c, graph_writer.c) under the mapper's load at scale, in
 * process against canned replies over real sockets, on the fake clock: 200
 * users' sets, then their clears, each retried as the mapper retries
 * (after a failure's Retry-After), while everyone's presence is read every
 * 2 s (as the resyncs and settle reads do). The tenant's presence budget is
 * shrunk to 200 per 10 s so that it must act (Graph's is 1,500 per 30 s:
 * docs/graph.md "The presence budget"). Counted on the server's side, as
 * Graph counts (each $batch item one, a getPresencesByUserId one), and dated
 * by the fake clock: no 10 s window holds more than 200; writes go in
 * $batch requests of at most 20; the reads of one turn are one request for
 * everyone; the first $batch, answered 503 as a whole, is retried; every
 * write ends done. What test_mapper_scale.sh checked of the budget and the
 * batching end to end before it was removed (docs/testing.md "What moved
 * where"). */
#include <cjson/cJSON.h>

#include "graph_fixture.h"

#define SINGLE    "/v1.0/users/"
#define N         200
#define LIMIT     200
#define WINDOW_MS 10000
#define STEP_MS   100 /* divides WINDOW_MS: dating a request by its step keeps its distances */
#define SENT_MAX  2048

struct user {
    char id[40], upn[40];
    bool done;        /* this phase's write ended OK */
    int64_t retry_at; /* when to submit again; 0: in flight */
    struct fx *f;
};

struct sent {
    int64_t at; /* the fake time of the step it went out in */
    int units;
};

struct fx {
    struct comp_env ce;
    struct canned_http *s;
    struct http_client *http;
    struct graph_client *gc;
    struct graph_writer *w;
    struct user u[N];
    enum graph_op phase;
    int reads_done, reads_pending, resyncs_done;
    char resync_body[N * 44 + 16];
    /* what the server received, dated */
    struct sent sent[SENT_MAX];
    size_t n_sent, batches_seen, singles_seen, reads_seen;
    long ops_sent, results; /* items and ids the server got; results back */
    int max_items, max_ids, first_batch_status;
};

static int setup(void **st)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    gfx__ground(&f->ce, &f->s, &f->http,
                &(struct gfx_ground){
                    .instance = "ps-s", .users = "[\"u000@x.com\"]", .roles = CONFIG_ROLE_MAPPER});
    f->gc = gfx__client(&f->ce, f->http, false, LIMIT, WINDOW_MS);
    assert_non_null(f->w = graph_writer__new(f->ce.loop, f->gc));
    for (int i = 0; i < N; i++) {
        snprintf(f->u[i].id, sizeof(f->u[i].id), "0f1e2d3c-aaaa-bbbb-cccc-%012d", i);
        snprintf(f->u[i].upn, sizeof(f->u[i].upn), "u%03d@x.com", i);
        f->u[i].f = f;
    }
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

/* The canned Graph: the app token; every $batch item answered 204 (the
 * answer names ids "0" to "19": an id a request did not use is skipped),
 * the first $batch 503 with Retry-After 1 as a whole; getPresencesByUserId
 * answered with everyone Available. */
static void replies(struct fx *f)
{
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_TOKEN, 200, NULL,
                                                 "{\"token_type\":\"Bearer\",\"expires_in\":"
                                                 "3599,\"access_token\":\"tok-app\"}",
                                                 0, 0});
    canned_http__add(f->s,
                     &(struct canned_rule){"POST", GF_BATCH, 503, "Retry-After: 1\r\n",
                                           "{\"error\":{\"code\":\"ServiceUnavailable\"}}", 1, 0});
    static char batch[2048];
    size_t n = (size_t)snprintf(batch, sizeof(batch), "{\"responses\":[");
    for (int k = 0; k < 20; k++)
        n += (size_t)snprintf(batch + n, sizeof(batch) - n, "%s{\"id\":\"%d\",\"status\":204}",
                              k ? "," : "", k);
    snprintf(batch + n, sizeof(batch) - n, "]}");
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_BATCH, 200, NULL, batch, 0, 0});
    static char read[N * 96 + 32];
    n = (size_t)snprintf(read, sizeof(read), "{\"value\":[");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(read + n, sizeof(read) - n,
                              "%s{\"id\":\"%s\",\"availability\":\"Available\","
                              "\"activity\":\"Available\"}",
                              i ? "," : "", f->u[i].id);
    snprintf(read + n, sizeof(read) - n, "]}");
    canned_http__add(f->s, &(struct canned_rule){"POST", GF_READ, 200, NULL, read, 0, 0});
    /* a single write (a turn with one op, or a budget with one unit left) */
    canned_http__add(f->s, &(struct canned_rule){"POST", SINGLE, 204, NULL, NULL, 0, 0});
}

/* ---- the mapper's side: submit, and retry what did not land ---------------- */

static void on_write(void *ctx, const struct graph_write_result *r)
{
    struct user *u = ctx;
    u->f->results++;
    if (r->status == GRAPH_WRITE_OK) {
        u->done = true;
        return;
    }
    int64_t wait = r->retry_after_ms > 0 ? r->retry_after_ms : 1000;
    u->retry_at = clock__mono_ms() + wait;
}

static void on_read(void *ctx, const struct graph_write_result *r)
{
    struct fx *f = ctx;
    f->results++;
    f->reads_pending--;
    if (r->status == GRAPH_WRITE_OK)
        f->reads_done++;
}

/* The Graph side's resync: everyone's presence in one getPresencesByUserId
 * through the same client and budget (graph/resync.c), every 2 s. */
static void on_resync(void *ctx, const struct graph_response *r)
{
    struct fx *f = ctx;
    f->results += N;
    if (r->status == 200)
        f->resyncs_done++;
}

static void resync(struct fx *f)
{
    if (!f->resync_body[0]) {
        size_t n = (size_t)snprintf(f->resync_body, sizeof(f->resync_body), "{\"ids\":[");
        for (int i = 0; i < N; i++)
            n += (size_t)snprintf(f->resync_body + n, sizeof(f->resync_body) - n, "%s\"%s\"",
                                  i ? "," : "", f->u[i].id);
        snprintf(f->resync_body + n, sizeof(f->resync_body) - n, "]}");
    }
    struct graph_request req = {.method = "POST",
                                .path = "/communications/getPresencesByUserId",
                                .body = f->resync_body,
                                .units = 1};
    assert_int_equal(graph_client__send(graph_client__tenant(f->gc, "t"), &req, on_resync, f), 0);
}

static void submit(struct fx *f, struct user *u)
{
    struct graph_write op = {
        .tenant = "t", .upn = u->upn, .user_id = u->id, .op = f->phase, .session_ms = 900000};
    u->retry_at = 0;
    assert_int_equal(graph_writer__submit(f->w, &op, on_write, u), 0);
}

static void read_everyone(struct fx *f)
{
    for (int i = 0; i < N; i++) {
        struct graph_write op = {
            .tenant = "t", .upn = f->u[i].upn, .user_id = f->u[i].id, .op = GRAPH_OP_READ};
        assert_int_equal(graph_writer__submit(f->w, &op, on_read, f), 0);
        f->reads_pending++;
    }
}

/* ---- what the server received ---------------------------------------------- */

static cJSON *body_of(struct fx *f, const char *path, size_t n)
{
    char *req = canned_http__request(f->s, "POST", path, n);
    const char *b = req ? strstr(req, "\r\n\r\n") : NULL;
    cJSON *o = b ? cJSON_Parse(b + 4) : NULL;
    free(req);
    return o;
}

static void record(struct fx *f, int units)
{
    assert_true(f->n_sent < SENT_MAX);
    f->sent[f->n_sent++] = (struct sent){clock__mono_ms(), units};
}

/* Dates the requests that arrived since the last look by the current step. */
static void collect(struct fx *f)
{
    for (; f->batches_seen < canned_http__count(f->s, "POST", GF_BATCH); f->batches_seen++) {
        cJSON *o = body_of(f, GF_BATCH, f->batches_seen);
        int items = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "requests"));
        cJSON_Delete(o);
        assert_true(items >= 1 && items <= 20);
        if (items > f->max_items)
            f->max_items = items;
        f->ops_sent += items;
        record(f, items);
    }
    for (; f->singles_seen < canned_http__count(f->s, "POST", SINGLE); f->singles_seen++) {
        f->ops_sent++;
        record(f, 1);
    }
    for (; f->reads_seen < canned_http__count(f->s, "POST", GF_READ); f->reads_seen++) {
        cJSON *o = body_of(f, GF_READ, f->reads_seen);
        int ids = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "ids"));
        cJSON_Delete(o);
        if (ids > f->max_ids)
            f->max_ids = ids;
        f->ops_sent += ids;
        record(f, 1);
    }
}

/* Every presence request the client took from the budget so far (it may
 * take more while replies come in: the same step) has reached the server,
 * which counts them as Graph does, and every answer has come back. */
static bool all_arrived(void *ctx)
{
    struct fx *f = ctx;
    collect(f);
    int got = 0;
    for (size_t i = 0; i < f->n_sent; i++)
        got += f->sent[i].units;
    return got == (int)metrics__get("graph_presence_requests_total", "tenant=\"t\"") &&
           f->results == f->ops_sent;
}

static int done_count(struct fx *f)
{
    int n = 0;
    for (int i = 0; i < N; i++)
        n += f->u[i].done;
    return n;
}

/* One phase: everyone's op, retried until done; everyone read every 2 s. */
static void run_phase(struct fx *f, enum graph_op op, int max_s)
{
    f->phase = op;
    for (int i = 0; i < N; i++) {
        f->u[i].done = false;
        submit(f, &f->u[i]);
    }
    int64_t start = clock__mono_ms(), next_read = start, next_resync = start;
    while (done_count(f) < N) {
        int64_t now = clock__mono_ms();
        if (now - start >= (int64_t)max_s * 1000)
            fail_msg("after %d s: %d of %d done, %zu batches, %zu single, %zu reads", max_s,
                     done_count(f), N, f->batches_seen, f->singles_seen, f->reads_seen);
        if (now >= next_resync) {
            resync(f);
            next_resync = now + 2000;
        }
        if (now >= next_read && f->reads_pending == 0) { /* one read per user at a time */
            read_everyone(f);
            next_read = now + 2000;
        }
        for (int i = 0; i < N; i++) {
            if (!f->u[i].done && f->u[i].retry_at && now >= f->u[i].retry_at)
                submit(f, &f->u[i]);
        }
        comp_env__settle(&f->ce);
        /* the requests of this step reach the server before time moves on */
        if (!comp_env__wait(&f->ce, all_arrived, f, 5000))
            fail_msg("the client took %.0f units, Graph received a different count, or "
                     "answers are missing (%ld of %ld)",
                     metrics__get("graph_presence_requests_total", "tenant=\"t\""), f->results,
                     f->ops_sent);
        comp_env__advance(&f->ce, STEP_MS);
    }
}

/* The most units in any window of WINDOW_MS (requests dated by their step:
 * their distances stay whole windows, as STEP_MS divides WINDOW_MS). */
static int fullest_window(const struct fx *f)
{
    int worst = 0;
    for (size_t i = 0; i < f->n_sent; i++) {
        int sum = 0;
        for (size_t k = 0; k < f->n_sent; k++) {
            if (f->sent[k].at >= f->sent[i].at && f->sent[k].at < f->sent[i].at + WINDOW_MS)
                sum += f->sent[k].units;
        }
        if (sum > worst)
            worst = sum;
    }
    return worst;
}

static bool one_read(void *ctx)
{
    struct fx *f = ctx;
    collect(f);
    return f->reads_done == 1;
}

static void test_scale(void **st)
{
    struct fx *f = *st;
    replies(f);
    /* signed in first (the token comes in real time, over the socket) */
    struct graph_write op = {
        .tenant = "t", .upn = f->u[0].upn, .user_id = f->u[0].id, .op = GRAPH_OP_READ};
    assert_int_equal(graph_writer__submit(f->w, &op, on_read, f), 0);
    f->reads_pending++;
    assert_true(comp_env__wait(&f->ce, one_read, f, 5000));
    run_phase(f, GRAPH_OP_SET_BUSY, 120);
    run_phase(f, GRAPH_OP_CLEAR, 120);
    /* every write landed once; the 503'd batch's 20 went again */
    int write_items = 0, writes;
    for (size_t i = 0; i < f->n_sent; i++)
        write_items += f->sent[i].units;
    write_items -= (int)f->reads_seen;
    writes = 2 * N + 20;
    assert_int_equal(write_items, writes);
    assert_true(f->singles_seen < f->batches_seen); /* batched */
    assert_true(f->batches_seen >= (size_t)(2 * N / 20));
    assert_int_equal(f->max_items, 20);
    int worst = fullest_window(f);
    print_message("presence requests: %zu batches (%zu single), %zu reads (%d resyncs, %d "
                  "mapper reads done), fullest %d ms window: %d of %d, %lld ms in all\n",
                  f->batches_seen, f->singles_seen, f->reads_seen, f->resyncs_done, f->reads_done,
                  WINDOW_MS, worst, LIMIT, (long long)(clock__mono_ms() - 1000000));
    assert_true(worst <= LIMIT);
    /* the resyncs went on alongside; the mapper's reads of one turn are one
     * request for everyone */
    assert_true(f->resyncs_done >= 5);
    assert_int_equal(f->max_ids, N);
    assert_true(f->reads_done >= N);
    assert_true(worst >= LIMIT - 20); /* it had to act */
    assert_true(metrics__get("graph_throttled_total", "tenant=\"t\"") >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scale, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
