/* graph/graph_writer.c, the pure parts: request bodies, how a turn's operations
 * become one request (reads: one getPresencesByUserId of up to 650, one
 * presence unit; writes: a single request or a $batch of up to 20, a unit
 * each), presence routes by object id only, and what an answer means for
 * one operation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "graph/paths.h"
#include "graph/graph_writer.h"

#define CID "11111111-2222-3333-4444-555555555555"
#define U1  "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
#define U2  "0f1e2d3c-aaaa-bbbb-cccc-000000000002"

static void test_bodies(void **state)
{
    (void)state;
    char *b = graph_writer__body(GRAPH_OP_SET_BUSY, CID, 15 * 60 * 1000);
    assert_string_equal(b, "{\"sessionId\":\"" CID "\",\"availability\":\"Busy\","
                           "\"activity\":\"InACall\",\"expirationDuration\":\"PT15M\"}");
    free(b);
    b = graph_writer__body(GRAPH_OP_SET_BUSY, CID, 90 * 1000);
    assert_non_null(strstr(b, "\"PT90S\""));
    free(b);
    b = graph_writer__body(GRAPH_OP_CLEAR, CID, 0);
    assert_string_equal(b, "{\"sessionId\":\"" CID "\"}");
    free(b);
    assert_null(graph_writer__body(GRAPH_OP_READ, CID, 0));
}

static void test_single_write(void **state)
{
    (void)state;
    struct graph_writer_item it = {.op = GRAPH_OP_SET_BUSY, .id = U1, .session_ms = 300000};
    const char *path;
    char *body;
    assert_int_equal(graph_writer__encode(&it, 1, CID, &path, &body), 1);
    assert_string_equal(path, "/users/" U1 "/presence/setPresence");
    assert_non_null(strstr(body, "\"PT5M\""));
    free(body);
    it.op = GRAPH_OP_CLEAR;
    assert_int_equal(graph_writer__encode(&it, 1, CID, &path, &body), 1);
    assert_string_equal(path, "/users/" U1 "/presence/clearPresence");
    free(body);
}

static void test_batch_of_writes(void **state)
{
    (void)state;
    struct graph_writer_item it[3] = {
        {.op = GRAPH_OP_SET_BUSY, .id = U1, .session_ms = 900000},
        {.op = GRAPH_OP_CLEAR, .id = U2},
        {.op = GRAPH_OP_CLEAR, .id = U1},
    };
    const char *path;
    char *body;
    assert_int_equal(graph_writer__encode(it, 3, CID, &path, &body), 3); /* an item, a unit */
    assert_string_equal(path, "/$batch");
    cJSON *o = cJSON_Parse(body);
    cJSON *r = cJSON_GetObjectItem(o, "requests");
    assert_int_equal(cJSON_GetArraySize(r), 3);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 1), "url")->valuestring,
                        "/users/" U2 "/presence/clearPresence");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "id")->valuestring, "0");
    cJSON_Delete(o);
    free(body);

    struct graph_writer_item many[21];
    for (int i = 0; i < 21; i++)
        many[i] = (struct graph_writer_item){.op = GRAPH_OP_CLEAR, .id = U1};
    assert_int_equal(graph_writer__encode(many, 20, CID, &path, &body), 20);
    free(body);
    assert_int_equal(graph_writer__encode(many, 21, CID, &path, &body), 0);
    assert_null(body);
}

static void test_reads(void **state)
{
    (void)state;
    static struct graph_writer_item it[GRAPH_WRITER_READ_MAX + 1];
    static char ids[GRAPH_WRITER_READ_MAX + 1][40];
    for (int i = 0; i <= GRAPH_WRITER_READ_MAX; i++) {
        snprintf(ids[i], sizeof(ids[i]), "0f1e2d3c-aaaa-bbbb-cccc-%012d", i);
        it[i] = (struct graph_writer_item){.op = GRAPH_OP_READ, .id = ids[i]};
    }
    const char *path;
    char *body;
    /* 650 users are one presence request */
    assert_int_equal(graph_writer__encode(it, GRAPH_WRITER_READ_MAX, CID, &path, &body), 1);
    assert_string_equal(path, "/communications/getPresencesByUserId");
    cJSON *o = cJSON_Parse(body);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "ids")), GRAPH_WRITER_READ_MAX);
    cJSON_Delete(o);
    free(body);
    assert_int_equal(graph_writer__encode(it, GRAPH_WRITER_READ_MAX + 1, CID, &path, &body), 0);
}

/* Never a UPN on a presence route; never reads and writes in one request. */
static void test_refuses(void **state)
{
    (void)state;
    const char *path;
    char *body;
    struct graph_writer_item upn = {.op = GRAPH_OP_SET_BUSY, .id = "alice@contoso.com"};
    assert_int_equal(graph_writer__encode(&upn, 1, CID, &path, &body), 0);
    struct graph_writer_item mixed[2] = {{.op = GRAPH_OP_READ, .id = U1},
                                         {.op = GRAPH_OP_CLEAR, .id = U2}};
    assert_int_equal(graph_writer__encode(mixed, 2, CID, &path, &body), 0);
    assert_int_equal(graph_writer__encode(mixed, 0, CID, &path, &body), 0);
    assert_null(paths__presence_path("a/b", ""));
    assert_null(paths__presence_path("", ""));
    assert_false(paths__is_object_id("0f1e2d3c-aaaa-bbbb-cccc-0000000000011")); /* 37 */
    assert_true(paths__is_object_id(U1));
}

static void test_status(void **state)
{
    (void)state;
    assert_int_equal(graph_writer__status(GRAPH_OP_SET_BUSY, 200, true), GRAPH_WRITE_OK);
    assert_int_equal(graph_writer__status(GRAPH_OP_CLEAR, 204, true), GRAPH_WRITE_OK);
    /* clearPresence 404: no session of ours left, done */
    assert_int_equal(graph_writer__status(GRAPH_OP_CLEAR, 404, true), GRAPH_WRITE_OK);
    assert_int_equal(graph_writer__status(GRAPH_OP_SET_BUSY, 404, true), GRAPH_WRITE_NOT_FOUND);
    /* a whole request's 404 says nothing about one user */
    assert_int_equal(graph_writer__status(GRAPH_OP_READ, 404, false), GRAPH_WRITE_FAILED);
    assert_int_equal(graph_writer__status(GRAPH_OP_CLEAR, 404, false), GRAPH_WRITE_FAILED);
    assert_int_equal(graph_writer__status(GRAPH_OP_SET_BUSY, 429, true), GRAPH_WRITE_THROTTLED);
    assert_int_equal(graph_writer__status(GRAPH_OP_READ, 503, false), GRAPH_WRITE_THROTTLED);
    assert_int_equal(graph_writer__status(GRAPH_OP_CLEAR, 504, true), GRAPH_WRITE_THROTTLED);
    assert_int_equal(graph_writer__status(GRAPH_OP_CLEAR, 500, true), GRAPH_WRITE_FAILED);
    assert_int_equal(graph_writer__status(GRAPH_OP_CLEAR, 403, true), GRAPH_WRITE_FAILED);
    assert_int_equal(graph_writer__status(GRAPH_OP_CLEAR, 0, true), GRAPH_WRITE_FAILED);
    assert_string_equal(graph_writer__status_name(GRAPH_WRITE_NOT_FOUND), "not_found");
    assert_string_equal(graph_writer__op_name(GRAPH_OP_SET_BUSY), "set_busy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies),          cmocka_unit_test(test_single_write),
        cmocka_unit_test(test_batch_of_writes), cmocka_unit_test(test_reads),
        cmocka_unit_test(test_refuses),         cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
