/* What a SIGHUP reload says it cannot apply (core/config_diff.c,
 * config__warn_restart_only): a change of the users alone warns of nothing;
 * keys only a restart applies are each named once, the unchanged ones not
 * (docs/cli.md "Signals", docs/operations.md). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/log.h"

#define CFG_HEAD                                                                             \
    "{\"instance\":\"ps-test\",\"http\":{\"public_url\":\"https://sync.example.com\"},"      \
    "\"tenants\":[{\"name\":\"contoso\",\"users\":%s,"                                       \
    "\"graph\":{\"tenant_id\":\"contoso.onmicrosoft.com\","                                  \
    "\"client_id\":\"11111111-2222-3333-4444-555555555555\",\"client_secret_env\":\"PS_D\"," \
    "\"service_accounts\":[{\"username\":\"svc@contoso.com\",\"password_env\":\"PS_D\"}]},"  \
    "\"voice\":{\"username\":\"i@contoso.com\",\"secret_key_env\":\"PS_D\"%s}}]}"

#define USERS2 "[\"alice@contoso.com\",\"ghost@contoso.com\"]"
#define USERS3 "[\"alice@contoso.com\",\"bob@contoso.com\",\"ghost@contoso.com\"]"

static struct config *parse(const char *users, const char *voice_more)
{
    char json[2048];
    struct config *cfg = NULL;
    struct config_error err;
    snprintf(json, sizeof(json), CFG_HEAD, users, voice_more);
    if (config__parse(json, "/tmp", &cfg, &err) != 0)
        fail_msg("config: %s: %s", err.path, err.msg);
    return cfg;
}

/* What config__warn_restart_only(cur, neu) logs. */
static char *warnings(const struct config *cur, const struct config *neu)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    dup2(fileno(f), 2);
    config__warn_restart_only(cur, neu);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(f);
    assert_true(n >= 0);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    rewind(f);
    len = fread(buf, 1, (size_t)n, f);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static size_t count(const char *text, const char *s)
{
    size_t n = 0;
    for (const char *p = strstr(text, s); p; p = strstr(p + 1, s))
        n++;
    return n;
}

/* A user added: the users are what a reload applies; nothing is said. */
static void test_users_only(void **state)
{
    (void)state;
    struct config *a = parse(USERS2, ""), *b = parse(USERS3, "");
    char *w = warnings(a, b);
    assert_int_equal(count(w, "takes effect after a restart"), 0);
    free(w);
    config__free(a);
    config__free(b);
}

/* voice.max_call_minutes, voice.capture and voice.events changed with the
 * users: each named once, by its tenant, nothing else. */
static void test_voice_restart_keys(void **state)
{
    (void)state;
    struct config *a = parse(USERS3, ""),
                  *b = parse(USERS3, ",\"max_call_minutes\":30,"
                                     "\"capture\":{\"file\":\"/tmp/cap.jsonl\",\"count\":5},"
                                     "\"events\":{\"call_connected\":[\"UserCallInConnected\","
                                     "\"UserCallOutConnected\",\"QueueCallInUserConnected\"]}");
    char *w = warnings(a, b);
    static const char *const keys[] = {"voice.max_call_minutes", "voice.capture", "voice.events"};
    for (size_t i = 0; i < 3; i++) {
        char line[160];
        snprintf(line, sizeof(line),
                 "changed; takes effect after a restart key=tenants[contoso].%s\n", keys[i]);
        if (count(w, line) != 1)
            fail_msg("no warning for %s in:\n%s", keys[i], w);
    }
    assert_int_equal(count(w, "takes effect after a restart"), 3);
    free(w);
    /* and back: the same three */
    w = warnings(b, a);
    assert_int_equal(count(w, "takes effect after a restart"), 3);
    free(w);
    config__free(a);
    config__free(b);
}

int main(void)
{
    setenv("PS_D", "unit-secret-value", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_only),
        cmocka_unit_test(test_voice_restart_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
