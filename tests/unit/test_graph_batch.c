/* graph/graph_batch.c: the one $batch codec (requests numbered from 0, answers in
 * any order, per-item status and Retry-After as a string, a number or an
 * HTTP date), the user lookup items, and graph/graph_client.c's pure helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "graph/graph_batch.h"
#include "graph/graph_client.h"

#define NOW ((time_t)1795000000) /* 2026-11-18 */

static cJSON *parse(const char *s)
{
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    return o;
}

static void test_encode(void **state)
{
    (void)state;
    struct graph_batch_item items[] = {
        {.method = "GET", .url = "/users/a?$select=id"},
        {.method = "POST",
         .url = "/users/b/presence/clearPresence",
         .body = "{\"sessionId\":\"x\"}"},
    };
    char *s = graph_batch__encode(items, 2);
    assert_non_null(s);
    cJSON *o = parse(s);
    cJSON *reqs = cJSON_GetObjectItem(o, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), 2);
    cJSON *a = cJSON_GetArrayItem(reqs, 0), *b = cJSON_GetArrayItem(reqs, 1);
    assert_string_equal(cJSON_GetObjectItem(a, "id")->valuestring, "0");
    assert_string_equal(cJSON_GetObjectItem(a, "method")->valuestring, "GET");
    assert_string_equal(cJSON_GetObjectItem(a, "url")->valuestring, "/users/a?$select=id");
    assert_null(cJSON_GetObjectItem(a, "body"));
    assert_null(cJSON_GetObjectItem(a, "headers"));
    assert_string_equal(cJSON_GetObjectItem(b, "id")->valuestring, "1");
    /* a body is JSON, not a string, and comes with its Content-Type */
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(b, "body")));
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(b, "headers"), "Content-Type")->valuestring,
        "application/json");
    cJSON_Delete(o);
    free(s);
}

static void test_encode_refuses(void **state)
{
    (void)state;
    struct graph_batch_item items[GRAPH_BATCH_MAX + 1];
    for (size_t i = 0; i <= GRAPH_BATCH_MAX; i++)
        items[i] = (struct graph_batch_item){.method = "GET", .url = "/me"};
    assert_null(graph_batch__encode(items, 0));
    assert_null(graph_batch__encode(items, GRAPH_BATCH_MAX + 1));
    char *s = graph_batch__encode(items, GRAPH_BATCH_MAX);
    assert_non_null(s);
    free(s);
    items[3].url = NULL;
    assert_null(graph_batch__encode(items, 5));
    items[3].url = "/me";
    items[3].body = "{not json";
    assert_null(graph_batch__encode(items, 5));
}

static void test_decode_any_order(void **state)
{
    (void)state;
    cJSON *o = parse("{\"responses\":["
                     "{\"id\":\"2\",\"status\":204},"
                     "{\"id\":\"0\",\"status\":200,\"body\":{\"id\":\"x\"}},"
                     "{\"id\":\"0\",\"status\":500},"  /* duplicate: the first wins */
                     "{\"id\":\"7\",\"status\":200},"  /* not asked for */
                     "{\"id\":\"-1\",\"status\":200}," /* not an index */
                     "{\"id\":\"x\",\"status\":200},"
                     "{\"id\":1,\"status\":200},"       /* ids are strings */
                     "{\"id\":\"3\",\"status\":99}]}"); /* not a status */
    struct graph_batch_answer a[4];
    assert_int_equal(graph_batch__decode(o, a, 4, NOW), 2);
    assert_int_equal(a[0].status, 200);
    assert_string_equal(cJSON_GetObjectItem(a[0].body, "id")->valuestring, "x");
    assert_int_equal(a[1].status, 0); /* missing */
    assert_int_equal(a[2].status, 204);
    assert_null(a[2].body);
    assert_int_equal(a[3].status, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(a[i].retry_after_ms, -1);
    cJSON_Delete(o);
    cJSON *bad = parse("{\"error\":{\"code\":\"BadRequest\"}}");
    assert_int_equal(graph_batch__decode(bad, a, 4, NOW), -1);
    assert_int_equal(graph_batch__decode(NULL, a, 4, NOW), -1);
    assert_string_equal(graph_batch__error_code(bad), "BadRequest");
    assert_null(graph_batch__error_code(NULL));
    cJSON_Delete(bad);
}

/* The forms of Retry-After in an item's headers. */
static void test_item_retry_after(void **state)
{
    (void)state;
    cJSON *o = parse("{\"responses\":["
                     "{\"id\":\"0\",\"status\":429,\"headers\":{\"Retry-After\":\"7\"}},"
                     "{\"id\":\"1\",\"status\":429,\"headers\":{\"Retry-After\":12}},"
                     "{\"id\":\"2\",\"status\":503,\"headers\":{\"retry-after\":\"2\"}},"
                     "{\"id\":\"3\",\"status\":429,"
                     " \"headers\":{\"Retry-After\":\"Wed, 18 Nov 2026 11:07:00 GMT\"}},"
                     "{\"id\":\"4\",\"status\":429,\"headers\":{\"Retry-After\":-3}},"
                     "{\"id\":\"5\",\"status\":429,\"headers\":{\"Retry-After\":\"soon\"}},"
                     "{\"id\":\"6\",\"status\":429,\"headers\":{\"Retry-After\":1.5}},"
                     "{\"id\":\"7\",\"status\":429,\"headers\":{\"Retry-After\":1e12}}]}");
    struct graph_batch_answer a[8];
    assert_int_equal(graph_batch__decode(o, a, 8, NOW), 8);
    assert_int_equal(a[0].retry_after_ms, 7000);
    assert_int_equal(a[1].retry_after_ms, 12000); /* a number: once ignored */
    assert_int_equal(a[2].retry_after_ms, 2000);  /* header names ignore case */
    /* NOW is 11:06:40 GMT: the date is 20 s ahead */
    assert_int_equal(a[3].retry_after_ms, 20000);
    assert_int_equal(a[4].retry_after_ms, -1);
    assert_int_equal(a[5].retry_after_ms, -1);
    assert_int_equal(a[6].retry_after_ms, 1500);
    assert_int_equal(a[7].retry_after_ms, 24LL * 3600 * 1000); /* capped at a day */
    cJSON_Delete(o);
}

static void test_lookup(void **state)
{
    (void)state;
    char *url = graph_batch__lookup_url("a#b@contoso.com");
    assert_string_equal(url, "/users/a%23b@contoso.com?$select=id,userPrincipalName");
    free(url);
    url = graph_batch__lookup_url("$x@contoso.com");
    assert_string_equal(url, "/users('$x@contoso.com')?$select=id,userPrincipalName");
    free(url);

    cJSON *o = parse("{\"responses\":["
                     "{\"id\":\"0\",\"status\":200,\"body\":{\"id\":\"0f1e2d3c-aaaa-bbbb-cccc-"
                     "000000000001\",\"userPrincipalName\":\"a@x\"}},"
                     "{\"id\":\"1\",\"status\":404,\"body\":{\"error\":{\"code\":"
                     "\"Request_ResourceNotFound\"}}},"
                     "{\"id\":\"2\",\"status\":400},"
                     "{\"id\":\"3\",\"status\":429,\"headers\":{\"Retry-After\":5}},"
                     "{\"id\":\"4\",\"status\":200,\"body\":{}}]}");
    struct graph_batch_answer a[5];
    assert_int_equal(graph_batch__decode(o, a, 5, NOW), 5);
    char id[40];
    assert_int_equal(graph_batch__lookup_result(&a[0], id, sizeof(id)), 1);
    assert_string_equal(id, "0f1e2d3c-aaaa-bbbb-cccc-000000000001");
    assert_int_equal(graph_batch__lookup_result(&a[1], id, sizeof(id)), 0);
    assert_int_equal(graph_batch__lookup_result(&a[2], id, sizeof(id)), 0);
    assert_int_equal(graph_batch__lookup_result(&a[3], id, sizeof(id)), -1);
    assert_int_equal(a[3].retry_after_ms, 5000);
    assert_int_equal(graph_batch__lookup_result(&a[4], id, sizeof(id)), -1);
    /* an id longer than the buffer is not cut short */
    char small[8];
    assert_int_equal(graph_batch__lookup_result(&a[0], small, sizeof(small)), -1);
    cJSON_Delete(o);
}

static void test_client_kind(void **state)
{
    (void)state;
    assert_string_equal(graph_client__kind("/$batch"), "batch");
    assert_string_equal(graph_client__kind("/communications/getPresencesByUserId"), "presences");
    assert_string_equal(graph_client__kind("/users/abc/presence/setPresence"), "presence");
    assert_string_equal(graph_client__kind("/users/abc/presence"), "presence");
    assert_string_equal(graph_client__kind("/communications/presences/abc"), "presence");
    assert_string_equal(graph_client__kind("/users/abc?$select=id"), "users");
    assert_string_equal(graph_client__kind("/subscriptions/1"), "subscriptions");
    assert_string_equal(graph_client__kind("/me"), "other");
    assert_string_equal(graph_client__kind(NULL), "other");
}

/* One process: all of Graph's 1,500 per 30 s; a split deployment shares it. */
static void test_client_budget_share(void **state)
{
    (void)state;
    assert_int_equal(graph_client__budget_for(CONFIG_ROLE_ALL), GRAPH_PRESENCE_LIMIT);
    assert_int_equal(graph_client__budget_for(CONFIG_ROLE_GRAPH | CONFIG_ROLE_MAPPER),
                     GRAPH_PRESENCE_LIMIT);
    size_t g = graph_client__budget_for(CONFIG_ROLE_GRAPH);
    size_t m = graph_client__budget_for(CONFIG_ROLE_MAPPER | CONFIG_ROLE_VOICE);
    assert_true(g > 0 && m > g);
    assert_int_equal(g + m, GRAPH_PRESENCE_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_decode_any_order),
        cmocka_unit_test(test_item_retry_after),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_client_kind),
        cmocka_unit_test(test_client_budget_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
