/* The probe's pure parts (connector/probe/): the report (text lines, the
 * JSON document, the exit code), the permissions read from a token, the fix
 * each AADSTS code of a refused sign-in gets, and the capture's redaction
 * (tokens, forms, URLs, JSON bodies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/json.h"
#include "probe/perms.h"
#include "probe/probe_int.h"
#include "probe/recorder.h"
#include "probe/report.h"

/* A JWT with this payload and a signature "sig". malloc'd. */
static char *make_jwt(const char *payload)
{
    char *h = b64__encode_url((const unsigned char *)"{\"alg\":\"RS256\",\"typ\":\"JWT\"}", 27);
    char *p = b64__encode_url((const unsigned char *)payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 16;
    char *out = malloc(n);
    snprintf(out, n, "%s.%s.c2lnbmF0dXJl", h, p);
    free(h);
    free(p);
    return out;
}

/* ---- report ---- */

static void test_report_text(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct probe_report *r = probe_report__new(f, false, "/etc/ps.json");
    probe_report__group(r, "graph", "contoso");
    probe_report__check(r, "graph.tenant", "tenant", PROBE_OK, "never shown", "%s is known", "t");
    probe_report__check(r, "graph.users", "users", PROBE_FAIL, "use sign-in names",
                        "1 of 2 users are not in Azure AD: %s", "carol@contoso.com");
    probe_report__group(r, "mqtt", NULL);
    probe_report__check(r, "mqtt.acl", "write x", PROBE_WARN, "look.", "ends with a dot.");
    assert_int_equal(probe_report__count(r, PROBE_OK), 1);
    assert_int_equal(probe_report__count(r, PROBE_WARN), 1);
    assert_int_equal(probe_report__count(r, PROBE_FAIL), 1);
    assert_int_equal(probe_report__finish(r), 1);
    probe_report__free(r);
    fclose(f);
    assert_non_null(strstr(buf, "\nGraph, tenant contoso\n  ok    tenant: t is known\n"));
    assert_null(strstr(buf, "never shown"));
    assert_non_null(strstr(buf, "  FAIL  users: 1 of 2 users are not in Azure AD: "
                                "carol@contoso.com. Fix: use sign-in names\n"));
    assert_non_null(strstr(buf, "\nMQTT\n  warn  write x: ends with a dot. Fix: look.\n"));
    assert_non_null(strstr(buf, "Summary: 1 ok, 1 warn, 1 FAIL"));
    free(buf);
}

static void test_report_json(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct probe_report *r = probe_report__new(f, true, "c.json");
    probe_report__group(r, "voice", "contoso");
    probe_report__check(r, "voice.auth", "sign-in", PROBE_WARN, "a fix", "a reason");
    probe_report__details(r, cJSON_CreateString("d"));
    probe_report__event(r, "event X", NULL);
    assert_int_equal(probe_report__finish(r), 0);
    probe_report__free(r);
    fclose(f);
    assert_null(strstr(buf, "  warn  ")); /* no text lines in JSON mode */
    cJSON *doc = json__parse_str(buf);
    assert_non_null(doc);
    assert_string_equal(json__str(doc, "result"), "warn");
    double code = -1;
    assert_true(json__num(doc, "exit_code", &code));
    assert_true(code == 0);
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "groups"), 0);
    assert_string_equal(json__str(g, "system"), "voice");
    assert_string_equal(json__str(g, "tenant"), "contoso");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "checks"), 0);
    assert_string_equal(json__str(c, "status"), "warn");
    assert_string_equal(json__str(c, "fix"), "a fix");
    assert_string_equal(json__str(c, "details"), "d");
    const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "events"), 0);
    assert_string_equal(json__str(ev, "line"), "event X");
    cJSON_Delete(doc);
    free(buf);
}

/* ---- permissions ---- */

static void test_perms_app(void **state)
{
    (void)state;
    char *jwt = make_jwt("{\"tid\":\"t-1\",\"idtyp\":\"app\",\"roles\":[\"User.Read.All\"]}");
    struct probe_claims c;
    assert_int_equal(probe_perms__decode(jwt, &c), 0);
    assert_string_equal(c.tid, "t-1");
    assert_true(probe_perms__has(&c, "user.read.all"));
    struct probe_need miss[4];
    assert_int_equal(probe_perms__missing(&c, true, miss, 4), 1);
    assert_string_equal(miss[0].add, "Presence.ReadWrite.All");
    char list[128];
    assert_string_equal(probe_perms__list(&c, list, sizeof(list)), "User.Read.All");
    probe_perms__free(&c);
    free(jwt);
}

static void test_perms_delegated(void **state)
{
    (void)state;
    char *jwt = make_jwt("{\"tid\":\"t-1\",\"scp\":\"User.Read Presence.Read.All\"}");
    struct probe_claims c;
    struct probe_need miss[4];
    assert_int_equal(probe_perms__decode(jwt, &c), 0);
    assert_int_equal(probe_perms__missing(&c, false, miss, 4), 0);
    probe_perms__free(&c);
    free(jwt);
    jwt = make_jwt("{\"tid\":\"t-1\",\"scp\":\"User.Read\"}");
    assert_int_equal(probe_perms__decode(jwt, &c), 0);
    assert_int_equal(probe_perms__missing(&c, false, miss, 4), 1);
    assert_string_equal(miss[0].add, "Presence.Read.All");
    probe_perms__free(&c);
    free(jwt);
    /* not a JWT (Microsoft does not promise one): unknown, not "none" */
    assert_int_equal(probe_perms__decode("opaque-token", &c), -1);
    assert_int_equal(probe_perms__decode("eyJ.bm90IGpzb24.x", &c), -1);
}

/* ---- redaction ---- */

static void test_redact_token(void **state)
{
    (void)state;
    char *jwt = make_jwt("{\"roles\":[\"A\"]}");
    char *red = recorder__redact_token(jwt);
    size_t keep = (size_t)(strrchr(jwt, '.') - jwt) + 1;
    assert_memory_equal(red, jwt, keep); /* header and claims stay */
    assert_string_equal(red + keep, RECORDER_REDACTED);
    assert_null(strstr(red, "c2lnbmF0dXJl"));
    free(red);
    red = recorder__redact_token("opaque-refresh-token");
    assert_string_equal(red, RECORDER_REDACTED);
    free(red);
    free(jwt);
}

static void test_redact_form_and_url(void **state)
{
    (void)state;
    const char *form = "grant_type=password&username=svc%40contoso.com&password=p%2Bw%26x"
                       "&client_secret=s3cr3t&scope=Presence.Read.All&refresh_token=rt";
    char *red = recorder__redact_form(form, strlen(form));
    assert_string_equal(red, "grant_type=password&username=svc%40contoso.com&password=[redacted]"
                             "&client_secret=[redacted]&scope=Presence.Read.All"
                             "&refresh_token=[redacted]");
    free(red);
    red = recorder__redact_url("wss://hub.example/rte/hub?id=1&access_token=eyJa.eyJb.c");
    assert_string_equal(red, "wss://hub.example/rte/hub?id=1&access_token=[redacted]");
    free(red);
    /* Graph's validation handshake is no secret: a replay needs it */
    red = recorder__redact_url("https://x/graph/notify/t?validationToken=abc");
    assert_string_equal(red, "https://x/graph/notify/t?validationToken=abc");
    free(red);
}

static void test_redact_json_body(void **state)
{
    (void)state;
    char *jwt = make_jwt("{\"tid\":\"t\"}");
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"token_type\":\"Bearer\",\"access_token\":\"%s\",\"refresh_token\":\"rt-1\","
             "\"Token\":\"opaque\",\"sub\":{\"clientState\":\"cs-1\",\"id\":\"s1\"},"
             "\"note\":\"Bearer abcdefgh\",\"token_endpoint\":\"https://l/t/oauth2/v2.0/token\"}",
             jwt);
    char *red = recorder__redact_body(body, strlen(body), "application/json");
    cJSON *o = json__parse_str(red);
    assert_non_null(o);
    assert_string_equal(json__str(o, "token_type"), "Bearer");
    const char *at = json__str(o, "access_token");
    assert_non_null(strstr(at, "." RECORDER_REDACTED));
    assert_string_equal(json__str(o, "refresh_token"), RECORDER_REDACTED);
    assert_string_equal(json__str(o, "Token"), RECORDER_REDACTED);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(o, "sub");
    assert_string_equal(json__str(sub, "clientState"), RECORDER_REDACTED);
    assert_string_equal(json__str(sub, "id"), "s1");
    assert_string_equal(json__str(o, "note"), "Bearer " RECORDER_REDACTED);
    assert_string_equal(json__str(o, "token_endpoint"), "https://l/t/oauth2/v2.0/token");
    cJSON_Delete(o);
    free(red);
    /* a form body by its content type; anything else as it is */
    red = recorder__redact_body("password=x", 10, "application/x-www-form-urlencoded");
    assert_string_equal(red, "password=" RECORDER_REDACTED);
    free(red);
    red = recorder__redact_body("plain text", 10, "text/plain");
    assert_string_equal(red, "plain text");
    free(red);
    assert_null(recorder__redact_body(NULL, 0, NULL));
    free(jwt);
}

/* ---- the fix of a refused sign-in ---- */

static void assert_fix(int aadsts, const char *start)
{
    const char *fix = probe_graph__fix(aadsts);
    if (strncmp(fix, start, strlen(start)) != 0)
        fail_msg("AADSTS%d: \"%s\", want it to start with \"%s\"", aadsts, fix, start);
}

/* Each code the probe's end-to-end test makes fake-graph answer, and the
 * codes only a real tenant gives, each with its own fix; it_probe proves
 * the line around it for 50076, 50126, 7000215, 65001 and 90002. */
static void test_graph_fixes(void **state)
{
    (void)state;
    assert_fix(50076, "exclude the service account from MFA, Security Defaults");
    assert_fix(50055, "set a new password that never expires");
    assert_fix(50053, "unlock the account in Entra");
    assert_fix(50126, "check the account's username and the password");
    assert_fix(7000215, "client_secret_file must hold the secret's Value");
    assert_fix(65001, "grant admin consent");
    assert_fix(90002, "graph.tenant_id must be the Directory (tenant) ID");
    assert_fix(50173, "put the account's current password in its password_file");
    assert_fix(12345, "look the code up in Entra's sign-in logs");
    assert_fix(0, "let this host reach graph.login_url");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_text),      cmocka_unit_test(test_report_json),
        cmocka_unit_test(test_perms_app),        cmocka_unit_test(test_perms_delegated),
        cmocka_unit_test(test_redact_token),     cmocka_unit_test(test_redact_form_and_url),
        cmocka_unit_test(test_redact_json_body), cmocka_unit_test(test_graph_fixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
