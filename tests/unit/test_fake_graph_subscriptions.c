/* fake-graph subscription rules: the presence $filter (quotes, 650 ids), the
 * one-subscription-per-user-per-app Conflict rule, and expiry of
 * subscriptions, app sessions and preferred presence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fg_filter.h"
#include "fg_store.h"

static void test_filter_quoted(void **state)
{
    (void)state;
    char **ids;
    size_t n;
    assert_int_equal(
        fg_filter__parse("/communications/presences?$filter=id in ('a1','b2')", &ids, &n),
        FG_FILTER_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "a1");
    assert_string_equal(ids[1], "b2");
    fg_filter__free(ids, n);
    /* no leading slash, spaces, a duplicate */
    assert_int_equal(
        fg_filter__parse("communications/presences?$filter=id in ( 'a' , 'a','c' )", &ids, &n),
        FG_FILTER_OK);
    assert_int_equal(n, 2);
    fg_filter__free(ids, n);
    /* percent-encoded */
    assert_int_equal(
        fg_filter__parse("/communications/presences?$filter=id%20in%20(%27x%27)", &ids, &n),
        FG_FILTER_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "x");
    fg_filter__free(ids, n);
    assert_int_equal(fg_filter__parse("communications/presences/u1", &ids, &n), FG_FILTER_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "u1");
    fg_filter__free(ids, n);
}

static void test_filter_invalid(void **state)
{
    (void)state;
    char **ids;
    size_t n;
    const char *invalid[] = {
        "/communications/presences?$filter=id in (a1,b2)",
        "/communications/presences?$filter=id in ('a1',b2)",
        "/communications/presences?$filter=id in ()",
        "/communications/presences?$filter=id in ('a1'",
        "/communications/presences?$filter=id in ('')",
        "/communications/presences?$filter=id eq 'a1'",
        "/communications/presences?$filter=id in ('a1') and x",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_int_equal(fg_filter__parse(invalid[i], &ids, &n), FG_FILTER_INVALID_CLAUSE);
        assert_null(ids);
    }
    assert_string_equal(fg_filter__message(FG_FILTER_INVALID_CLAUSE), "Invalid filter clause");
    assert_int_equal(fg_filter__parse("/users/x", &ids, &n), FG_FILTER_BAD_RESOURCE);
    assert_int_equal(fg_filter__parse(NULL, &ids, &n), FG_FILTER_BAD_RESOURCE);
}

static char *make_filter(size_t count)
{
    char *s = malloc(64 + count * 16);
    size_t len = (size_t)sprintf(s, "/communications/presences?$filter=id in (");
    for (size_t i = 0; i < count; i++) {
        len += (size_t)sprintf(s + len, "%s'id%zu'", i ? "," : "", i);
    }
    strcpy(s + len, ")");
    return s;
}

static void test_filter_650(void **state)
{
    (void)state;
    char **ids;
    size_t n;
    char *ok = make_filter(650), *over = make_filter(651);
    assert_int_equal(fg_filter__parse(ok, &ids, &n), FG_FILTER_OK);
    assert_int_equal(n, 650);
    fg_filter__free(ids, n);
    assert_int_equal(fg_filter__parse(over, &ids, &n), FG_FILTER_TOO_MANY);
    free(ok);
    free(over);
}

static struct fg_sub *sub_new(const char *id, const char *tenant, const char *app,
                              const char *creator, int64_t expires)
{
    struct fg_sub *s = calloc(1, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
    snprintf(s->client_id, sizeof(s->client_id), "%s", app);
    snprintf(s->creator_id, sizeof(s->creator_id), "%s", creator);
    s->expires_ms = expires;
    s->user_ids = calloc(1, sizeof(char *));
    s->user_ids[0] = strdup("u1");
    s->n_users = 1;
    return s;
}

static void test_conflict_rule(void **state)
{
    (void)state;
    struct fg_store st;
    fg_store__init(&st);
    assert_null(fg_store__conflict(&st, "t", "app1", "svc1"));
    fg_store__add_sub(&st, sub_new("s1", "t", "app1", "svc1", 1000));
    assert_non_null(fg_store__conflict(&st, "t", "app1", "svc1"));
    assert_non_null(fg_store__conflict(&st, "T", "APP1", "SVC1"));
    assert_null(fg_store__conflict(&st, "t", "app1", "svc2")); /* other user */
    assert_null(fg_store__conflict(&st, "t", "app2", "svc1")); /* other app */
    assert_null(fg_store__conflict(&st, "t2", "app1", "svc1"));
    /* a subscription still in its validation handshake counts too */
    fg_store__add_sub(&st, sub_new("s2", "t", "app2", "svc1", 1000));
    ((struct fg_sub *)st.subs.items[1])->pending = true;
    assert_non_null(fg_store__conflict(&st, "t", "app2", "svc1"));
    fg_store__remove_sub(&st, "s1");
    assert_null(fg_store__conflict(&st, "t", "app1", "svc1"));
    assert_true(fg_sub__covers(st.subs.items[0], "U1"));
    assert_false(fg_sub__covers(st.subs.items[0], "u2"));
    fg_store__free(&st);
}

static void test_subscription_expiry(void **state)
{
    (void)state;
    struct fg_store st;
    fg_store__init(&st);
    fg_store__add_sub(&st, sub_new("s1", "t", "a", "c1", 1000));
    fg_store__add_sub(&st, sub_new("s2", "t", "a", "c2", 5000));
    size_t removed = 9;
    fg_store__sweep(&st, 999, NULL, &removed);
    assert_int_equal(removed, 0);
    assert_int_equal(st.subs.n, 2);
    fg_store__sweep(&st, 1000, NULL, &removed);
    assert_int_equal(removed, 1);
    assert_null(fg_store__sub(&st, "s1"));
    assert_non_null(fg_store__sub(&st, "s2"));
    /* once expired, the Conflict is gone: a new one can be made */
    assert_null(fg_store__conflict(&st, "t", "a", "c1"));
    fg_store__free(&st);
}

static void test_session_expiry(void **state)
{
    (void)state;
    struct fg_store st;
    fg_store__init(&st);
    fg_store__add_tenant(&st, "t");
    struct fg_user *u = fg_store__add_user(&st, "t", "u1", "a@x.com", NULL, 0);
    assert_non_null(u);
    assert_string_equal(u->shown.availability, "Offline");
    char seq0[24];
    strcpy(seq0, u->sequence);
    assert_int_equal(fg_user__set_session(u, "teams", "Available", "Available", false, 0, 0), 0);
    assert_int_equal(fg_user__set_session(u, "app", "Busy", "InACall", true, 2000, 0), 0);
    assert_true(fg_store__refresh_user(&st, u, 10));
    assert_string_equal(u->shown.activity, "InACall");
    assert_true(strcmp(u->sequence, seq0) > 0);
    char seq1[24];
    strcpy(seq1, u->sequence);
    assert_false(fg_store__refresh_user(&st, u, 1999)); /* unchanged: same sequence */
    assert_string_equal(u->sequence, seq1);
    struct fg_vec changed = {0};
    fg_store__sweep(&st, 2000, &changed, NULL);
    assert_int_equal(changed.n, 1);
    assert_string_equal(u->shown.availability, "Available");
    assert_true(strcmp(u->sequence, seq1) > 0);
    assert_int_equal(u->n_sessions, 1);
    free(changed.items);
    /* preferred presence expires too */
    u->has_preferred = true;
    strcpy(u->preferred.availability, "DoNotDisturb");
    strcpy(u->preferred.activity, "DoNotDisturb");
    u->preferred_expires_ms = 3000;
    assert_true(fg_store__refresh_user(&st, u, 2500));
    assert_string_equal(u->shown.availability, "DoNotDisturb");
    assert_true(fg_store__refresh_user(&st, u, 3000));
    assert_string_equal(u->shown.availability, "Available");
    /* last session gone -> Offline */
    assert_int_equal(fg_user__clear_session(u, "teams"), 0);
    assert_int_equal(fg_user__clear_session(u, "teams"), -1);
    assert_true(fg_store__refresh_user(&st, u, 3001));
    assert_string_equal(u->shown.availability, "Offline");
    fg_store__free(&st);
}

static void test_users_and_tokens(void **state)
{
    (void)state;
    struct fg_store st;
    fg_store__init(&st);
    assert_non_null(fg_store__add_user(&st, "t", "u1", "Alice@X.com", "pw", 0));
    assert_null(fg_store__add_user(&st, "t", "u1", "b@x.com", NULL, 0));     /* dup id */
    assert_null(fg_store__add_user(&st, "t", "u2", "alice@x.com", NULL, 0)); /* dup upn */
    assert_non_null(fg_store__user(&st, "t", "alice@x.COM"));
    assert_null(fg_store__user(&st, "other", "u1"));
    st.token_lifetime_ms = 1000;
    struct fg_token *t = fg_store__issue_token(&st, FG_TOKEN_APP, "t", "app", "", 5);
    assert_int_equal(t->expires_ms, 1005);
    assert_ptr_equal(fg_store__token(&st, t->value), t);
    struct fg_refresh *r = fg_store__issue_refresh(&st, "t", "app", "u1");
    assert_false(r->revoked);
    fg_store__revoke_user(&st, "u1");
    assert_true(r->revoked);
    fg_store__free(&st);
}

/* A tenant's verified domains stand for its id at the login endpoints. */
static void test_tenant_domains(void **state)
{
    (void)state;
    struct fg_store st;
    fg_store__init(&st);
    assert_int_equal(fg_store__add_tenant(&st, "0b6c6d2e-1f7a-4c39-9d0e-5b8a3c2d1e0f"), 0);
    assert_int_equal(fg_store__add_domain(&st, "0b6c6d2e-1f7a-4c39-9d0e-5b8a3c2d1e0f",
                                          "contoso.onmicrosoft.com"),
                     0);
    assert_int_equal(fg_store__add_domain(&st, "nosuch", "x.com"), -1);
    assert_int_equal(fg_store__add_domain(&st, "0b6c6d2e-1f7a-4c39-9d0e-5b8a3c2d1e0f",
                                          "CONTOSO.onmicrosoft.com"),
                     -1); /* taken */
    assert_string_equal(fg_store__tenant_id(&st, "Contoso.OnMicrosoft.com"),
                        "0b6c6d2e-1f7a-4c39-9d0e-5b8a3c2d1e0f");
    assert_string_equal(fg_store__tenant_id(&st, "0B6C6D2E-1F7A-4C39-9D0E-5B8A3C2D1E0F"),
                        "0b6c6d2e-1f7a-4c39-9d0e-5b8a3c2d1e0f");
    assert_null(fg_store__tenant_id(&st, "fabrikam.com"));
    assert_string_equal(fg_store__tenant_domain(&st, "0b6c6d2e-1f7a-4c39-9d0e-5b8a3c2d1e0f"),
                        "contoso.onmicrosoft.com");
    fg_store__free(&st);
}

/* The resource of a bulk subscription's item, as Graph encodes it; with
 * its '+' read as spaces it parses back to the same ids. */
static void test_filter_encoded(void **state)
{
    (void)state;
    char *ids[] = {"a-1", "b-2"};
    char *one = fg_filter__encoded(ids, 1);
    assert_string_equal(one, "communications/presences?$filter=id+in+(%27a-1%27)");
    char *two = fg_filter__encoded(ids, 2);
    assert_string_equal(two, "communications/presences?$filter=id+in+(%27a-1%27%2c%27b-2%27)");
    for (char *p = two; *p; p++) {
        if (*p == '+')
            *p = ' ';
    }
    char **back;
    size_t n;
    assert_int_equal(fg_filter__parse(two, &back, &n), FG_FILTER_OK);
    assert_int_equal(n, 2);
    assert_string_equal(back[1], "b-2");
    fg_filter__free(back, n);
    free(one);
    free(two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_quoted),       cmocka_unit_test(test_filter_invalid),
        cmocka_unit_test(test_filter_650),          cmocka_unit_test(test_conflict_rule),
        cmocka_unit_test(test_subscription_expiry), cmocka_unit_test(test_session_expiry),
        cmocka_unit_test(test_users_and_tokens),    cmocka_unit_test(test_tenant_domains),
        cmocka_unit_test(test_filter_encoded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
