/* The Voice conformance corpus (every .json file of tests/conformance/voice/):
 * every Enreach form seen in public sources, each file naming its source and
 * evidence level, fed to the daemon's parsers (connector/voice/). A file
 * without a source URL or with an unknown evidence level fails; so does an
 * unknown form, so that no file is silently skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "voice/discovery.h"
#include "voice/events.h"
#include "voice/signalr.h"
#include "voice/talking.h"

static char corpus[512];

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* body as text, for the parsers that take bytes */
static char *text(const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    assert_non_null(s);
    return s;
}

static void form_discovery(const cJSON *body, const cJSON *expect)
{
    char *t = text(body), *api = NULL, err[160];
    assert_int_equal(discovery__parse_endpoint(t, strlen(t), &api, err, sizeof(err)), 0);
    assert_string_equal(api, str(expect, "api_url"));
    free(api);
    free(t);
}

static void form_me(const cJSON *body, const cJSON *expect)
{
    char *t = text(body), *id = NULL, err[160];
    assert_int_equal(discovery__parse_me(t, strlen(t), &id, err, sizeof(err)), 0);
    assert_string_equal(id, str(expect, "id"));
    free(id);
    free(t);
}

static void form_users(const cJSON *body, const cJSON *expect)
{
    char *t = text(body), err[160];
    struct voice_users vu;
    struct voice_mapping m;
    const cJSON *addrs = cJSON_GetObjectItem(expect, "addresses"), *it;
    const char *a[8];
    size_t na = 0;
    cJSON_ArrayForEach(it, addrs) a[na++] = it->valuestring;
    assert_int_equal(discovery__parse_users(t, strlen(t), &vu, err, sizeof(err)), 0);
    assert_int_equal(vu.skipped, cJSON_GetObjectItem(expect, "skipped")->valueint);
    assert_int_equal(discovery__map_users(&vu, a, na, &m), 0);
    const cJSON *matched = cJSON_GetObjectItem(expect, "matched");
    assert_int_equal(m.n_matched, (size_t)cJSON_GetArraySize(matched));
    for (size_t i = 0; i < m.n_matched; i++) {
        const cJSON *w = cJSON_GetArrayItem(matched, (int)i);
        assert_string_equal(m.matched[i].address, cJSON_GetArrayItem(w, 0)->valuestring);
        assert_string_equal(m.matched[i].user_id, cJSON_GetArrayItem(w, 1)->valuestring);
        assert_string_equal(m.matched[i].field, cJSON_GetArrayItem(w, 2)->valuestring);
    }
    assert_int_equal(m.n_missing,
                     (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(expect, "missing")));
    voice_mapping__free(&m);
    voice_users__free(&vu);
    free(t);
}

static void form_rte_token(const cJSON *body, const cJSON *expect)
{
    char *t = text(body), *tok = NULL, *ep = NULL, err[160];
    int64_t exp = 0;
    assert_int_equal(discovery__parse_rte_token(t, strlen(t), &tok, &ep, err, sizeof(err)), 0);
    assert_string_equal(ep, str(expect, "wss_endpoint"));
    assert_int_equal(signalr__jwt_exp(tok, &exp), 0);
    assert_int_equal(exp, (int64_t)cJSON_GetObjectItem(expect, "exp")->valuedouble);
    char *nu = signalr__negotiate_url(ep), *wu = signalr__ws_url(ep, "conn", tok);
    assert_string_equal(nu, str(expect, "negotiate_url")); /* no scheme: https */
    const char *prefix = str(expect, "ws_url_prefix");
    assert_int_equal(strncmp(wu, prefix, strlen(prefix)), 0); /* and wss */
    free(nu);
    free(wu);
    free(tok);
    free(ep);
    free(t);
}

static void form_negotiate(const cJSON *body, const cJSON *expect)
{
    char *t = text(body), err[160];
    struct signalr_negotiate n = {0};
    int rc = signalr__parse_negotiate(t, strlen(t), &n, err, sizeof(err));
    const char *want = str(expect, "result");
    if (!strcmp(want, "connect")) {
        assert_int_equal(rc, SIGNALR_NEG_CONNECT);
        assert_string_equal(n.connection_token, str(expect, "connection_token"));
    }
    else if (!strcmp(want, "redirect")) {
        assert_int_equal(rc, SIGNALR_NEG_REDIRECT);
        assert_string_equal(n.url, str(expect, "url"));
        assert_string_equal(n.access_token, str(expect, "access_token"));
    }
    else {
        assert_int_equal(rc, SIGNALR_NEG_ERROR);
        assert_string_equal(n.error, str(expect, "error"));
    }
    signalr_negotiate__free(&n);
    free(t);
}

static void form_handshake(const cJSON *body, const cJSON *expect)
{
    const cJSON *it, *oks = cJSON_GetObjectItem(expect, "ok");
    int i = 0;
    char err[160];
    cJSON_ArrayForEach(it, body)
    {
        char *t = text(it);
        int rc = signalr__parse_handshake(t, strlen(t), err, sizeof(err));
        assert_int_equal(rc == 0, cJSON_IsTrue(cJSON_GetArrayItem(oks, i++)));
        free(t);
    }
}

static void form_signalr(const cJSON *body, const cJSON *expect)
{
    const cJSON *it, *types = cJSON_GetObjectItem(expect, "types");
    int i = 0;
    char err[160];
    cJSON_ArrayForEach(it, body)
    {
        char *t = text(it);
        struct signalr_msg m;
        assert_int_equal(signalr__parse(t, strlen(t), &m, err, sizeof(err)), 0);
        assert_int_equal(m.type, cJSON_GetArrayItem(types, i++)->valueint);
        signalr_msg__free(&m);
        free(t);
    }
}

/* The daemon's own records have the public client's shape. */
static void form_client_invocations(const cJSON *body, const cJSON *expect)
{
    (void)expect;
    uint64_t next = 0;
    struct signalr_record rec;
    assert_int_equal(signalr__build_invocation("AvailableSubscriptions", &next, &rec), 0);
    char *want = text(cJSON_GetArrayItem(body, 0));
    rec.data[rec.len - 1] = '\0'; /* drop 0x1E */
    assert_string_equal(rec.data, want);
    free(want);
    free(rec.data);
    const cJSON *sub = cJSON_GetArrayItem(body, 1);
    const cJSON *entry =
        cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(sub, "arguments"), 0), 0);
    const char *user = str(entry, "EntityId"), *event = str(entry, "EventName");
    struct signalr_records recs;
    assert_int_equal(signalr__build_subscribe(&user, 1, &event, 1, 0, &next, &recs), 0);
    recs.items[0].data[recs.items[0].len - 1] = '\0';
    want = text(sub);
    assert_string_equal(recs.items[0].data, want);
    free(want);
    signalr_records__free(&recs);
}

static void form_message_received(const cJSON *body, const cJSON *expect)
{
    const cJSON *it;
    const cJSON *kinds = cJSON_GetObjectItem(expect, "kinds"),
                *errors = cJSON_GetObjectItem(expect, "errors");
    const cJSON *users = cJSON_GetObjectItem(expect, "users"),
                *calls = cJSON_GetObjectItem(expect, "calls");
    int i = 0;
    cJSON_ArrayForEach(it, body)
    {
        struct voice_call_event ev;
        char err[200] = "";
        int rc = events__parse_rte(NULL, it, &ev, err, sizeof(err));
        if (errors) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, cJSON_GetArrayItem(errors, i)->valuestring));
        }
        else {
            assert_int_equal(rc, 0);
            assert_string_equal(events__kind_name(ev.kind),
                                cJSON_GetArrayItem(kinds, i)->valuestring);
            if (users)
                assert_string_equal(ev.user_id, cJSON_GetArrayItem(users, i)->valuestring);
            if (calls)
                assert_string_equal(ev.call_id, cJSON_GetArrayItem(calls, i)->valuestring);
        }
        i++;
    }
}

static void form_webhook(const cJSON *body, const cJSON *expect)
{
    char *t = text(body), err[200];
    struct voice_call_event ev;
    assert_int_equal(events__parse_webhook(NULL, t, strlen(t), &ev, err, sizeof(err)), 0);
    assert_string_equal(events__kind_name(ev.kind), str(expect, "kind"));
    assert_string_equal(ev.user_id, str(expect, "user"));
    assert_string_equal(ev.call_id, str(expect, "call"));
    assert_true(ev.timestamp_ms > 0); /* UTC with or without a Z */
    free(t);
}

static void form_availability(const cJSON *body, const cJSON *expect)
{
    const cJSON *req = cJSON_GetObjectItem(body, "request");
    char *ours = talking__availability_body(str(req, "UserID"),
                                            cJSON_GetObjectItem(req, "EventTypeID")->valueint,
                                            str(req, "EventSource"), str(req, "Note"));
    cJSON *mine = cJSON_Parse(ours);
    assert_true(cJSON_Compare(mine, req, true)); /* the sample's members, no others */
    cJSON_Delete(mine);
    free(ours);
    char *t = text(cJSON_GetObjectItem(body, "response")), id[96], src[128];
    assert_int_equal(talking__parse_availability(t, strlen(t), id, sizeof(id), src, sizeof(src)),
                     0);
    assert_string_equal(id, str(expect, "id"));
    assert_string_equal(src, str(expect, "source"));
    free(t);
}

static const struct {
    const char *form;
    void (*fn)(const cJSON *body, const cJSON *expect);
} forms[] = {
    {"discovery", form_discovery},
    {"me", form_me},
    {"users", form_users},
    {"rte_token", form_rte_token},
    {"negotiate", form_negotiate},
    {"handshake", form_handshake},
    {"signalr", form_signalr},
    {"client_invocations", form_client_invocations},
    {"message_received", form_message_received},
    {"webhook", form_webhook},
    {"availability", form_availability},
};

static void check_provenance(const cJSON *doc, const char *name)
{
    static const char *const levels[] = {"documented", "seen in public client code", "inferred",
                                         "ours"};
    const cJSON *src = cJSON_GetObjectItem(doc, "source"), *it;
    if (!cJSON_IsArray(src) || cJSON_GetArraySize(src) == 0)
        fail_msg("%s: no source", name);
    cJSON_ArrayForEach(it, src)
    {
        if (!cJSON_IsString(it) || strncmp(it->valuestring, "https://", 8) != 0)
            fail_msg("%s: a source is not an https URL", name);
    }
    const char *ev = str(doc, "evidence");
    size_t i = 0;
    while (i < 4 && strcmp(ev, levels[i]))
        i++;
    if (i == 4)
        fail_msg("%s: unknown evidence level \"%s\"", name, ev);
    assert_true(strlen(str(doc, "note")) > 20);
}

static void test_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(corpus);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", corpus, e->d_name);
        char *s = read_all(path);
        cJSON *doc = cJSON_Parse(s);
        if (!doc)
            fail_msg("%s: not JSON", e->d_name);
        check_provenance(doc, e->d_name);
        const char *form = str(doc, "form");
        size_t i = 0;
        while (i < sizeof(forms) / sizeof(forms[0]) && strcmp(form, forms[i].form))
            i++;
        if (i == sizeof(forms) / sizeof(forms[0]))
            fail_msg("%s: unknown form %s", e->d_name, form);
        print_message("%s (%s, %s)\n", e->d_name, form, str(doc, "evidence"));
        forms[i].fn(cJSON_GetObjectItem(doc, "body"), cJSON_GetObjectItem(doc, "expect"));
        cJSON_Delete(doc);
        free(s);
        files++;
    }
    closedir(d);
    assert_true(files >= 18);
}

int main(void)
{
    /* PS_TEST_DATA is tests/unit/data (it need not exist) */
    static const char tail[] = "/tests/unit/data";
    const char *data = getenv("PS_TEST_DATA");
    size_t n = data ? strlen(data) : 0, t = sizeof(tail) - 1;
    if (n > t && !strcmp(data + n - t, tail))
        snprintf(corpus, sizeof(corpus), "%.*s/tests/conformance/voice", (int)(n - t), data);
    else
        snprintf(corpus, sizeof(corpus), "tests/conformance/voice");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
