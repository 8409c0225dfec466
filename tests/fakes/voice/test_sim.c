/* The state model: account and Basic auth, users, talking flag, calls,
 * faults, request log, settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rte_record.h"
#include "sim.h"
#include "voice_event.h"

static char *basic(const char *user_pass)
{
    static char out[512];
    unsigned char b64[400];
    EVP_EncodeBlock(b64, (const unsigned char *)user_pass, (int)strlen(user_pass));
    snprintf(out, sizeof(out), "Basic %s", b64);
    return out;
}

static void test_auth(void **state)
{
    (void)state;
    struct sim s;
    sim__init(&s);
    assert_false(sim__auth_ok(&s, basic("a@x.com:k")));
    assert_int_equal(sim__set_account(&s, "Int@X.com", "s3cr+t/=:&%"), 0);
    assert_true(sim__auth_ok(&s, basic("Int@X.com:s3cr+t/=:&%")));
    assert_true(sim__auth_ok(&s, basic("int@x.com:s3cr+t/=:&%"))); /* user case-insensitive */
    assert_false(sim__auth_ok(&s, basic("int@x.com:s3cr+t/=:&")));
    assert_false(sim__auth_ok(&s, basic("int@x.com:s3cr+t/=:&%%")));
    assert_false(sim__auth_ok(&s, basic("other@x.com:s3cr+t/=:&%")));
    assert_false(sim__auth_ok(&s, basic("int@x.com")));
    assert_false(sim__auth_ok(&s, "Bearer abc"));
    assert_false(sim__auth_ok(&s, "Basic !!!!"));
    assert_false(sim__auth_ok(&s, NULL));
    /* The account is a user of the organisation. */
    struct sim_user *u = sim__user_by_email(&s, "int@x.com");
    assert_non_null(u);
    assert_string_equal(u->id, s.account_id);
    assert_int_equal(sim__set_account(&s, "not-an-email", "k"), -1);
    assert_int_equal(sim__set_account(&s, "a@x.com", ""), -1);
    sim__free(&s);
}

static void test_users(void **state)
{
    (void)state;
    struct sim s;
    sim__init(&s);
    bool conflict;
    struct sim_user *a = sim__user_add(&s, "alice@x.com", NULL, &conflict);
    assert_non_null(a);
    assert_int_equal(strlen(a->id), 36);
    char aid[SIM_ID_LEN];
    strcpy(aid, a->id);
    assert_null(sim__user_add(&s, "ALICE@x.com", NULL, &conflict));
    assert_true(conflict);
    assert_non_null(sim__user_add(&s, "bob@x.com", "b-1", &conflict));
    assert_null(sim__user_add(&s, "carol@x.com", "B-1", &conflict));
    assert_true(conflict);
    assert_null(sim__user_add(&s, "no-at-sign", NULL, &conflict));
    assert_false(conflict);
    assert_null(sim__user_add(&s, "sp ace@x.com", NULL, &conflict));
    assert_non_null(sim__user_by_id(&s, "B-1"));
    assert_string_equal(sim__user_by_email(&s, "Alice@X.com")->id, aid);

    char *j = sim__users_api_json(&s);
    cJSON *arr = cJSON_Parse(j);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    cJSON *first = cJSON_GetArrayItem(arr, 0);
    assert_string_equal(cJSON_GetObjectItem(first, "Id")->valuestring, aid);
    assert_string_equal(cJSON_GetObjectItem(first, "UserName")->valuestring, "alice@x.com");
    cJSON_Delete(arr);
    free(j);
    sim__free(&s);
}

static void test_talking_flag(void **state)
{
    (void)state;
    struct sim s;
    sim__init(&s);
    struct sim_user *u = sim__user_add(&s, "a@x.com", NULL, NULL);
    assert_int_equal(sim__set_talking(&s, u, true, 1000), 1);
    assert_int_equal(sim__set_talking(&s, u, true, 2000), 0); /* idempotent */
    assert_true(u->talking);
    assert_int_equal(u->talking_since, 1000);
    assert_int_equal(u->talking_writes, 2);
    assert_int_equal(sim__user_calls(&s, u->id), 0); /* the flag is not a call */
    assert_int_equal(sim__set_talking(&s, u, false, 3000), 1);
    assert_false(u->talking);
    sim__free(&s);
}

static void test_calls(void **state)
{
    (void)state;
    struct sim s;
    sim__init(&s);
    struct sim_user *u = sim__user_add(&s, "a@x.com", NULL, NULL);
    struct sim_call *c1 = sim__call_start(&s, u, "desk", SIM_INBOUND, NULL, 1);
    assert_non_null(c1);
    char id1[SIM_ID_LEN];
    strcpy(id1, c1->call_id);
    struct sim_call *c2 = sim__call_start(&s, u, "mobile", SIM_OUTBOUND, "call-2", 2);
    assert_non_null(c2);
    assert_null(sim__call_start(&s, u, "x", SIM_INBOUND, "CALL-2", 3)); /* duplicate id */
    assert_int_equal(sim__user_calls(&s, u->id), 2);
    struct sim_call ended;
    assert_int_equal(sim__call_end(&s, "call-2", &ended), 0);
    assert_string_equal(ended.terminal, "mobile");
    assert_int_equal(ended.dir, SIM_OUTBOUND);
    assert_int_equal(sim__call_end(&s, "call-2", &ended), -1);
    assert_int_equal(sim__user_calls(&s, u->id), 1);
    char *j = sim__state_json(&s);
    assert_non_null(strstr(j, id1));
    assert_null(strstr(j, "call-2"));
    free(j);
    assert_int_equal(sim__call_end(&s, id1, NULL), 0);
    assert_int_equal(s.calls_ended, 2);
    sim__free(&s);
}

static void test_faults(void **state)
{
    (void)state;
    struct sim s;
    sim__init(&s);
    struct sim_fault f = {
        .method = "GET", .path = "/api/users", .status = 429, .retry_after = 3, .remaining = 2};
    assert_int_equal(sim__fault_add(&s, &f), 0);
    struct sim_fault got;
    assert_int_equal(sim__fault_take(&s, "PUT", "/api/users/x/externalcallstate", &got), 0);
    assert_int_equal(sim__fault_take(&s, "GET", "/api/token/x/rte/", &got), 0);
    assert_int_equal(sim__fault_take(&s, "GET", "/api/users/me", &got), 1);
    assert_int_equal(got.status, 429);
    assert_int_equal(got.retry_after, 3);
    assert_int_equal(sim__fault_take(&s, "get", "/api/users", &got), 1);
    assert_int_equal(sim__fault_take(&s, "GET", "/api/users", &got), 0); /* used up */
    struct sim_fault any = {.method = "", .path = "/", .status = 500, .remaining = 1};
    sim__fault_add(&s, &any);
    assert_int_equal(sim__fault_take(&s, "PUT", "/api/x", &got), 1);
    assert_int_equal(got.status, 500);
    assert_int_equal(s.n_faults, 0);
    sim__free(&s);
}

static void test_requests(void **state)
{
    (void)state;
    struct sim s;
    sim__init(&s);
    sim__record(&s, "GET", "/api/users", "", "ignored", 200, 1000);
    sim__record(&s, "PUT", "/api/users/u/externalcallstate", "", "{\"InCall\":true}", 204, 2000);
    char *j = sim__requests_json(&s);
    cJSON *arr = cJSON_Parse(j);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "body")); /* reads: no body */
    cJSON *w = cJSON_GetArrayItem(arr, 1);
    assert_string_equal(cJSON_GetObjectItem(w, "body")->valuestring, "{\"InCall\":true}");
    assert_int_equal(cJSON_GetObjectItem(w, "status")->valueint, 204);
    cJSON_Delete(arr);
    free(j);
    /* The log is bounded: the oldest entries go. */
    for (int i = 0; i < 2100; i++)
        sim__record(&s, "GET", "/api/users/me", "", NULL, 200, 3000 + i);
    assert_int_equal(s.n_reqs, 2000);
    assert_int_equal(s.reqs[s.n_reqs - 1].wall_ms, 3000 + 2099);
    sim__free(&s);
}

static void test_settings(void **state)
{
    (void)state;
    struct sim_settings set;
    sim__settings_default(&set);
    char err[160];
    assert_int_equal(sim__settings_apply(&set,
                                         "{\"framing\":\"split\",\"token_lifetime_s\":5,"
                                         "\"reject_auth\":true,\"discovery_format\":\"object\","
                                         "\"event_type_format\":\"number\"}",
                                         err, sizeof(err)),
                     0);
    assert_int_equal(set.framing, RTE_FRAMING_SPLIT);
    assert_int_equal(set.token_lifetime_s, 5);
    assert_true(set.reject_auth);
    assert_true(set.discovery_object);
    assert_int_equal(set.event_format, VE_FMT_NUMBER);
    /* All or nothing: a bad key leaves earlier keys of the same body unapplied. */
    assert_int_equal(
        sim__settings_apply(&set, "{\"framing\":\"merge\",\"bogus\":1}", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bogus"));
    assert_int_equal(set.framing, RTE_FRAMING_SPLIT);
    assert_int_equal(sim__settings_apply(&set, "{\"framing\":\"zigzag\"}", err, sizeof(err)), -1);
    assert_int_equal(sim__settings_apply(&set, "{\"token_lifetime_s\":0}", err, sizeof(err)), -1);
    assert_int_equal(sim__settings_apply(&set, "{\"token_lifetime_s\":1.5}", err, sizeof(err)), -1);
    assert_int_equal(sim__settings_apply(&set, "{\"reject_auth\":\"yes\"}", err, sizeof(err)), -1);
    assert_int_equal(sim__settings_apply(&set, "[]", err, sizeof(err)), -1);
    char *j = sim__settings_json(&set);
    assert_non_null(strstr(j, "\"framing\":\"split\""));
    free(j);
}

static void test_reset_keeps_account(void **state)
{
    (void)state;
    struct sim s;
    sim__init(&s);
    sim__set_account(&s, "int@x.com", "key");
    struct sim_user *u = sim__user_add(&s, "a@x.com", NULL, NULL);
    sim__call_start(&s, u, "desk", SIM_INBOUND, NULL, 1);
    s.set.reject_auth = true;
    sim__reset(&s);
    assert_int_equal(s.n_users, 1);
    assert_int_equal(s.n_calls, 0);
    assert_false(s.set.reject_auth);
    assert_true(sim__auth_ok(&s, basic("int@x.com:key")));
    assert_non_null(sim__user_by_id(&s, s.account_id));
    sim__free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth),         cmocka_unit_test(test_users),
        cmocka_unit_test(test_talking_flag), cmocka_unit_test(test_calls),
        cmocka_unit_test(test_faults),       cmocka_unit_test(test_requests),
        cmocka_unit_test(test_settings),     cmocka_unit_test(test_reset_keeps_account),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
