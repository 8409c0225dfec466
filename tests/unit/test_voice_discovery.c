/* Voice REST responses: discovery, users, mapping, RTE token
 * (connector/voice/discovery.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "voice/discovery.h"

static int endpoint(const char *body, char **api)
{
    char err[128] = "";
    int rc = discovery__parse_endpoint(body, body ? strlen(body) : 0, api, err, sizeof(err));
    if (rc < 0) {
        assert_true(err[0] != '\0');
        assert_null(*api);
    }
    return rc;
}

static void test_endpoint_shapes(void **state)
{
    (void)state;
    struct {
        const char *body, *want;
    } ok[] = {
        {"[{\"apiEndpoint\":\"https://api.example.com/\"}]", "https://api.example.com"},
        {"[{\"apiEndpoint\":\"https://api.example.com\"}]", "https://api.example.com"},
        {"[{\"apiEndpoint\":\"https://api.example.com//\"}]", "https://api.example.com"},
        {"{\"apiEndpoint\":\"https://api.example.com/\"}", "https://api.example.com"},
        {"{\"apiEndpoint\":\"http://127.0.0.1:8098/api/\"}", "http://127.0.0.1:8098/api"},
        {"[{\"apiEndpoint\":\"https://a.example/\",\"x\":1},{\"apiEndpoint\":\"https://b/\"}]",
         "https://a.example"},
        {" [ {\"apiEndpoint\" : \"https://api.example.com/\"} ] \n", "https://api.example.com"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *api = NULL;
        if (endpoint(ok[i].body, &api) != 0)
            fail_msg("rejected %s", ok[i].body);
        assert_string_equal(api, ok[i].want);
        free(api);
    }
}

static void test_endpoint_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[",
        "not json",
        "[]",
        "[1]",
        "[{}]",
        "{}",
        "[{\"apiEndpoint\":5}]",
        "[{\"apiEndpoint\":\"\"}]",
        "[{\"apiEndpoint\":\"api.example.com\"}]",
        "[{\"apiEndpoint\":\"ftp://api.example.com\"}]",
        "[{\"apiEndpoint\":\"https://\"}]",
        "[{\"apiEndpoint\":\"https:///x\"}]",
        "[{\"apiEndpoint\":\"https://a b/\"}]",
        "[{\"apiEndpoint\":\"https://a.example/\"}] trailing",
        "\"https://api.example.com\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *api = NULL;
        if (endpoint(bad[i], &api) != -1)
            fail_msg("accepted %s", bad[i]);
    }
    char *api = NULL;
    assert_int_equal(endpoint(NULL, &api), -1);
}

static void test_me(void **state)
{
    (void)state;
    char *id = NULL, err[128];
    static const char me[] = "{\"Id\":\"0a1b\",\"OrganizationID\":\"org\"}";
    assert_int_equal(discovery__parse_me(me, strlen(me), &id, err, sizeof(err)), 0);
    assert_string_equal(id, "0a1b");
    free(id);
    /* member names in any case (the serializer's casing is not documented) */
    static const char lower[] = "{\"id\":\"x\"}";
    assert_int_equal(discovery__parse_me(lower, strlen(lower), &id, err, sizeof(err)), 0);
    assert_string_equal(id, "x");
    free(id);
    id = NULL;
    const char *bad[] = {"", "[]", "{}", "{\"Id\":\"\"}", "{\"Id\":5}", "{\"Ident\":\"x\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(discovery__parse_me(bad[i], strlen(bad[i]), &id, err, sizeof(err)), -1);
        assert_null(id);
        assert_true(err[0] != '\0');
    }
}

static void test_users_and_mapping(void **state)
{
    (void)state;
    static const char body[] =
        "[{\"Id\":\"id-alice\",\"UserName\":\"Alice@Contoso.com\",\"FirstName\":\"A\"},"
        "{\"Id\":\"id-bob\",\"UserName\":\"bob@contoso.com\"},"
        "{\"Id\":\"id-noname\"},"
        "{\"UserName\":\"noid@contoso.com\"},"
        "5,"
        "{\"Id\":\"id-alice2\",\"UserName\":\"ALICE@contoso.com\"},"
        "{\"Id\":\"id-carol\",\"UserName\":\"carol@contoso.com\"}]";
    struct voice_users users;
    char err[128];
    assert_int_equal(discovery__parse_users(body, strlen(body), &users, err, sizeof(err)), 0);
    assert_int_equal(users.n, 4);
    assert_int_equal(users.skipped, 3);
    assert_string_equal(users.items[0].id, "id-alice");
    assert_string_equal(users.items[0].username, "Alice@Contoso.com");

    const char *addrs[] = {"alice@contoso.com", "dave@contoso.com", "CAROL@CONTOSO.COM",
                           "noid@contoso.com", "bob@contoso.com"};
    struct voice_mapping m;
    assert_int_equal(discovery__map_users(&users, addrs, 5, &m), 0);
    assert_int_equal(m.n_matched, 3);
    /* in the caller's order, pointing at the caller's strings */
    assert_ptr_equal(m.matched[0].address, addrs[0]);
    assert_string_equal(m.matched[0].user_id, "id-alice"); /* first of two wins */
    assert_ptr_equal(m.matched[1].address, addrs[2]);
    assert_string_equal(m.matched[1].user_id, "id-carol");
    assert_string_equal(m.matched[2].user_id, "id-bob");
    assert_int_equal(m.n_missing, 2);
    assert_ptr_equal(m.missing[0], addrs[1]);
    assert_ptr_equal(m.missing[1], addrs[3]);
    voice_mapping__free(&m);

    /* no addresses */
    assert_int_equal(discovery__map_users(&users, NULL, 0, &m), 0);
    assert_int_equal(m.n_matched + m.n_missing, 0);
    voice_mapping__free(&m);
    voice_users__free(&users);

    /* empty user list: everything is missing */
    assert_int_equal(discovery__parse_users("[]", 2, &users, err, sizeof(err)), 0);
    assert_int_equal(users.n, 0);
    assert_int_equal(discovery__map_users(&users, addrs, 2, &m), 0);
    assert_int_equal(m.n_missing, 2);
    voice_mapping__free(&m);
    voice_users__free(&users);

    const char *bad[] = {"", "{}", "[", "{\"value\":[]}", "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(discovery__parse_users(bad[i], strlen(bad[i]), &users, err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
        assert_int_equal(users.n, 0);
    }
}

/* 10,000 configured addresses against 10,000 Voice users. */
static void test_mapping_scale(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct voice_users users = {0};
    users.items = calloc(N, sizeof(*users.items));
    static char addr_buf[N][48];
    static const char *addrs[N];
    for (int i = 0; i < N; i++) {
        char name[48], id[24];
        snprintf(name, sizeof(name), "User%05d@Contoso.com", i);
        snprintf(id, sizeof(id), "id-%d", i);
        users.items[i].username = strdup(name);
        users.items[i].id = strdup(id);
        /* every tenth configured address is unknown to Voice */
        snprintf(addr_buf[i], sizeof(addr_buf[i]), "user%05d@contoso.com", i % 10 ? i : N + i);
        addrs[i] = addr_buf[i];
    }
    users.n = N;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct voice_mapping m;
    assert_int_equal(discovery__map_users(&users, addrs, N, &m), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(m.n_matched, N - N / 10);
    assert_int_equal(m.n_missing, N / 10);
    for (size_t i = 0; i < m.n_matched; i++) {
        int k = atoi(m.matched[i].address + 4);
        char want[24];
        snprintf(want, sizeof(want), "id-%d", k);
        assert_string_equal(m.matched[i].user_id, want);
    }
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    print_message("map 10000 addresses to 10000 users: %.1f ms\n", ms);
    assert_true(ms < 2000);
    voice_mapping__free(&m);
    voice_users__free(&users);
}

static void test_rte_token(void **state)
{
    (void)state;
    char *tok = NULL, *wss = NULL, err[128];
    static const char body[] = "{\"Token\":\"eyJ.a.b\",\"WSSEndpoint\":\"rte.example.com/hub\"}";
    assert_int_equal(discovery__parse_rte_token(body, strlen(body), &tok, &wss, err, sizeof(err)),
                     0);
    assert_string_equal(tok, "eyJ.a.b");
    assert_string_equal(wss, "rte.example.com/hub");
    free(tok);
    free(wss);
    const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"Token\":\"secret-token\"}",
        "{\"WSSEndpoint\":\"x\"}",
        "{\"Token\":\"\",\"WSSEndpoint\":\"x\"}",
        "{\"Token\":\"secret-token\",\"WSSEndpoint\":7}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(
            discovery__parse_rte_token(bad[i], strlen(bad[i]), &tok, &wss, err, sizeof(err)), -1);
        assert_null(tok);
        assert_null(wss);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "secret-token")); /* never echoes the token */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_shapes),
        cmocka_unit_test(test_endpoint_malformed),
        cmocka_unit_test(test_me),
        cmocka_unit_test(test_users_and_mapping),
        cmocka_unit_test(test_mapping_scale),
        cmocka_unit_test(test_rte_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
