/* config.c and secret.c: defaults, every validation error with its JSON
 * path, users files, capacity, secrets from files and env, and the
 * certificate pair check. Files live in a mkdtemp directory. */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "core/log.h"
#include "graph/notify_crypto.h"

#define CLIENT_ID "11111111-2222-3333-4444-555555555555"

static char dir[64];

/* A valid config; each error case patches one or two values of it. */
static const char base_json[] =
    "{\"instance\":\"ps-test\","
    " \"http\":{\"public_url\":\"https://sync.example.com\"},"
    " \"tenants\":[{\"name\":\"contoso\",\"users\":[\"alice@contoso.com\",\"bob@contoso.com\"],"
    "  \"graph\":{\"tenant_id\":\"contoso.onmicrosoft.com\",\"client_id\":\"" CLIENT_ID "\","
    "   \"client_secret_env\":\"PS_T_CS\","
    "   \"service_accounts\":[{\"username\":\"svc1@contoso.com\",\"password_env\":\"PS_T_SA\"}]},"
    "  \"voice\":{\"username\":\"integration@contoso.com\",\"secret_key_env\":\"PS_T_VK\"}}]}";

#define TENANT2(name, user)                                                                     \
    "{\"name\":\"" name "\",\"users\":[\"" user "\"],"                                          \
    "\"graph\":{\"tenant_id\":\"fabrikam.com\",\"client_id\":\"" CLIENT_ID "\","                \
    "\"client_secret_env\":\"PS_T_CS\","                                                        \
    "\"service_accounts\":[{\"username\":\"svc@fabrikam.com\",\"password_env\":\"PS_T_SA\"}]}," \
    "\"voice\":{\"username\":\"i@fabrikam.com\",\"secret_key_env\":\"PS_T_VK\"}}"

/* ---- helpers ---------------------------------------------------------- */

static char *path_in(const char *name)
{
    static char buf[4][256];
    static int n;
    char *p = buf[n++ % 4];

    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    const char *p = path_in(name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(p, mode), 0);
}

/* Walks "a/0/b" through objects and arrays to the parent of the last step. */
static cJSON *walk(cJSON *root, char *path, char **last)
{
    char *save = NULL, *tok = strtok_r(path, "/", &save), *next;
    cJSON *cur = root;

    while (tok && (next = strtok_r(NULL, "/", &save))) {
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(tok))
                                 : cJSON_GetObjectItemCaseSensitive(cur, tok);
        assert_non_null(cur); /* patches only change existing objects */
        tok = next;
    }
    *last = tok;
    return cur;
}

/* Sets (value != NULL, a JSON text) or deletes a value in root. */
static void patch(cJSON *root, const char *path, const char *value)
{
    char buf[256], *last;
    cJSON *parent, *v = value ? cJSON_Parse(value) : NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    parent = walk(root, buf, &last);
    assert_non_null(parent);
    assert_true(!value || v);
    if (cJSON_IsArray(parent)) {
        int i = atoi(last);
        if (!v)
            cJSON_DeleteItemFromArray(parent, i);
        else if (i >= cJSON_GetArraySize(parent))
            cJSON_AddItemToArray(parent, v);
        else
            cJSON_ReplaceItemInArray(parent, i, v);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
    if (v)
        cJSON_AddItemToObject(parent, last, v);
}

static char *patched(const char *const *patches)
{
    cJSON *root = cJSON_Parse(base_json);
    char *text;

    assert_non_null(root);
    for (; patches && patches[0]; patches += 2)
        patch(root, patches[0], patches[1]);
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static struct config *parse_ok(const char *json)
{
    struct config *cfg = NULL;
    struct config_error err;
    int rc = config__parse(json, dir, &cfg, &err);

    if (rc != 0)
        print_message("unexpected error: %s: %s\n", err.path, err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(cfg);
    return cfg;
}

static void expect_error(const char *json, const char *path, const char *msg)
{
    struct config *cfg = NULL;
    struct config_error err;
    int rc = config__parse(json, dir, &cfg, &err);

    if (rc == 0 || strcmp(err.path, path) || !strstr(err.msg, msg))
        print_message("want %s: ...%s...\n got %s: %s (rc %d)\n", path, msg, err.path, err.msg, rc);
    assert_int_equal(rc, -1);
    assert_null(cfg);
    assert_string_equal(err.path, path);
    assert_non_null(strstr(err.msg, msg));
}

/* Captures what is written to stderr (the log) between begin and end. */
static int saved_stderr = -1;

static void capture_begin(void)
{
    int fd = open(path_in("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *capture_end(void)
{
    static char buf[8192];
    FILE *f;
    size_t n;

    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    f = fopen(path_in("stderr.txt"), "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- setup ---------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/ps-config-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    setenv("PS_T_CS", "client-secret-value-1", 1);
    setenv("PS_T_SA", "service-account-pass-1", 1);
    setenv("PS_T_VK", "voice-secret-key-1", 1);
    setenv("PS_T_EMPTY", "", 1);
    unsetenv("PS_T_UNSET");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- defaults ---------------------------------------------------------- */

static void test_defaults(void **state)
{
    struct config *cfg = parse_ok(base_json);
    const struct tenant_config *t = &cfg->tenants[0];

    (void)state;
    assert_string_equal(cfg->instance, "ps-test");
    assert_int_equal(cfg->log_level, PS_LOG_INFO);
    assert_string_equal(cfg->mqtt.url, "mqtt://127.0.0.1:1883");
    assert_null(cfg->mqtt.username);
    assert_null(cfg->mqtt.password.value);
    assert_string_equal(cfg->mqtt.topic_prefix, "");
    assert_string_equal(cfg->mqtt.bridge_topic, "presence-sync");
    assert_int_equal(cfg->mqtt.protocol, 5);
    assert_string_equal(cfg->http.listen, "127.0.0.1:8080");
    assert_string_equal(cfg->http.listen_host, "127.0.0.1");
    assert_int_equal(cfg->http.listen_port, 8080);
    assert_int_equal(cfg->http.max_body_bytes, 4194304);
    assert_true(cfg->mapper.enabled);
    assert_int_equal(cfg->mapper.settle_seconds, 5);
    assert_false(cfg->mqtt.escape_dots);
    assert_false(cfg->homeassistant.enabled);
    assert_string_equal(cfg->homeassistant.prefix, "homeassistant");
    assert_int_equal(cfg->roles, CONFIG_ROLE_ALL);
    assert_int_equal(cfg->n_tenants, 1);
    assert_string_equal(t->name, "contoso");
    assert_int_equal(t->n_users, 2);
    assert_string_equal(t->users[1], "bob@contoso.com");
    assert_null(t->users_file);
    assert_string_equal(t->graph.login_url, "https://login.microsoftonline.com");
    assert_string_equal(t->graph.api_url, "https://graph.microsoft.com/v1.0");
    assert_string_equal(t->graph.client_secret.value, "client-secret-value-1");
    assert_string_equal(t->graph.client_secret.source, "env PS_T_CS");
    assert_int_equal(t->graph.n_accounts, 1);
    assert_string_equal(t->graph.accounts[0].password.value, "service-account-pass-1");
    assert_null(t->graph.encryption_cert_file);
    assert_int_equal(t->graph.n_busy_activities, 3);
    assert_string_equal(t->graph.busy_activities[0], "InACall");
    assert_string_equal(t->graph.busy_activities[1], "InAConferenceCall");
    assert_string_equal(t->graph.busy_activities[2], "Presenting");
    assert_int_equal(t->graph.presence_session_minutes, 15);
    assert_int_equal(t->graph.resync_minutes, 15);
    assert_string_equal(t->voice.discovery_url, "https://discover.enreachvoice.com");
    assert_null(t->voice.api_url);
    assert_string_equal(t->voice.secret_key.value, "voice-secret-key-1");
    assert_null(t->voice.webhook_secret.value);
    assert_int_equal(t->voice.max_call_minutes, 480);
    /* no guessed write endpoint: without talking_request the writer is off */
    assert_int_equal(t->voice.talking.mode, TALKING_OFF);
    assert_null(t->voice.talking.method);
    assert_null(t->voice.talking.path);
    assert_non_null(config_voice__warning(&t->voice));
    assert_null(t->voice.ca_file);
    assert_null(t->voice.capture.file);
    /* the event model the project started with */
    const struct voice_events_config *e = &t->voice.events;
    assert_int_equal(e->connected.n, 2);
    assert_string_equal(e->connected.items[0].name, "UserCallInConnected");
    assert_int_equal(e->connected.items[0].number, 11);
    assert_string_equal(e->connected.items[1].name, "UserCallOutConnected");
    assert_int_equal(e->disconnected.n, 2);
    assert_int_equal(e->disconnected.items[1].number, 15);
    assert_int_equal(e->user_status.n, 1);
    assert_string_equal(e->user_status.items[0].name, "UserStatus");
    assert_int_equal(e->user_status.items[0].number, 141);
    assert_int_equal(e->n_user_id_fields, 2);
    assert_string_equal(e->user_id_fields[0], "userId");
    assert_string_equal(e->user_id_fields[1], "entityId");
    assert_int_equal(e->n_call_id_fields, 1);
    assert_null(e->status_field);
    assert_int_equal(config__total_users(cfg), 2);
    config__free(cfg);
}

/* talking_request in both modes, a whole event model, capture */
static void test_voice_settings(void **state)
{
    /* clang-format off */
    static const char *const p1[] = {
        "tenants/0/voice/talking_request",
        "{\"path\":\"/users/{userId}/x\",\"body\":\"{\\\"t\\\":{talking}}\"}",
        "tenants/0/voice/events",
        "{\"call_connected\":[\"UserCallInConnected\",{\"name\":\"QueueCallInUserConnected\","
        "\"number\":103}],\"user_id_fields\":[\"data.user.id\",\"entityId\"],"
        "\"status\":{\"field\":\"status\",\"talking\":[\"Talking\",3],\"free\":[\"Available\"]}}",
        "tenants/0/voice/capture", "{\"file\":\"capture.jsonl\",\"count\":5}",
        NULL};
    static const char *const p2[] = {
        "tenants/0/voice/talking_request",
        "{\"mode\":\"availability\",\"event_type_id\":3,\"note\":\"In a Teams call\"}",
        NULL};
    /* clang-format on */
    char *json = patched(p1);
    struct config *cfg = parse_ok(json);
    const struct voice_config *v = &cfg->tenants[0].voice;

    (void)state;
    assert_int_equal(v->talking.mode, TALKING_TEMPLATE);
    assert_string_equal(v->talking.method, "PUT");
    assert_string_equal(v->talking.path, "/users/{userId}/x");
    assert_string_equal(v->talking.body, "{\"t\":{talking}}");
    assert_null(config_voice__warning(v));
    assert_int_equal(v->events.connected.n, 2);
    assert_int_equal(v->events.connected.items[0].number, -1);
    assert_int_equal(v->events.connected.items[1].number, 103);
    assert_int_equal(v->events.disconnected.n, 2); /* the default stays */
    assert_string_equal(v->events.user_id_fields[0], "data.user.id");
    assert_string_equal(v->events.status_field, "status");
    assert_int_equal(v->events.n_status_talking, 2);
    assert_string_equal(v->events.status_talking[1], "3");
    assert_string_equal(v->events.status_free[0], "Available");
    assert_non_null(strstr(v->capture.file, "/capture.jsonl")); /* relative to the config */
    assert_int_equal(v->capture.count, 5);
    config__free(cfg);
    free(json);

    json = patched(p2);
    cfg = parse_ok(json);
    v = &cfg->tenants[0].voice;
    assert_int_equal(v->talking.mode, TALKING_AVAILABILITY);
    assert_int_equal(v->talking.event_type_id, 3);
    assert_string_equal(v->talking.event_source, "presence-sync");
    assert_string_equal(v->talking.note, "In a Teams call");
    assert_non_null(strstr(config_voice__warning(v), "availability"));
    config__free(cfg);
    free(json);
}

static void test_values_override_defaults(void **state)
{
    /* clang-format off */
    static const char *const p[] = {
        "log_level", "\"debug\"",
        "mqtt", "{\"url\":\"mqtts://broker:8883\",\"protocol\":\"3.1.1\",\"topic_prefix\":\"home/\"}",
        "http/listen", "\"[::1]:8443\"",
        "http/max_body_bytes", "1024",
        "mapper", "{\"enabled\":false,\"settle_seconds\":0}",
        "mqtt/escape_dots", "true",
        "homeassistant", "{\"enabled\":true,\"prefix\":\"ha/disc\"}",
        "roles", "[\"voice\",\"mapper\"]",
        "tenants/0/graph/busy_activities", "[\"InACall\"]",
        "tenants/0/graph/presence_session_minutes", "240",
        "tenants/0/voice/api_url", "\"http://127.0.0.1:9000/api\"",
        NULL};
    /* clang-format on */
    char *json = patched(p);
    struct config *cfg = parse_ok(json);

    (void)state;
    assert_int_equal(cfg->log_level, PS_LOG_DEBUG);
    assert_string_equal(cfg->mqtt.url, "mqtts://broker:8883");
    assert_int_equal(cfg->mqtt.protocol, 4);
    assert_string_equal(cfg->mqtt.topic_prefix, "home/");
    assert_string_equal(cfg->http.listen_host, "::1");
    assert_int_equal(cfg->http.listen_port, 8443);
    assert_int_equal(cfg->http.max_body_bytes, 1024);
    assert_false(cfg->mapper.enabled);
    assert_int_equal(cfg->mapper.settle_seconds, 0);
    assert_true(cfg->mqtt.escape_dots);
    assert_true(cfg->homeassistant.enabled);
    assert_string_equal(cfg->homeassistant.prefix, "ha/disc");
    assert_int_equal(cfg->roles, CONFIG_ROLE_VOICE | CONFIG_ROLE_MAPPER);
    assert_int_equal(cfg->tenants[0].graph.n_busy_activities, 1);
    assert_int_equal(cfg->tenants[0].graph.presence_session_minutes, 240);
    assert_string_equal(cfg->tenants[0].voice.api_url, "http://127.0.0.1:9000/api");
    config__free(cfg);
    free(json);
}

/* ---- validation errors, table-driven ---------------------------------------- */

struct error_case {
    const char *patches[7]; /* path, JSON value (NULL deletes), ..., NULL */
    const char *path;
    const char *msg;
};

static const struct error_case error_cases[] = {
    {{"tenants/0/graph/client_id", NULL}, "tenants[0].graph.client_id", "missing"},
    {{"tenants/0/graph/client_id", "\"not-a-guid\""},
     "tenants[0].graph.client_id",
     "must be a GUID"},
    {{"tenants/0/graph/tenant_id", "\"contoso com\""},
     "tenants[0].graph.tenant_id",
     "must be a GUID or a domain name"},
    {{"mqtt", "{\"protocol\":\"4\"}"}, "mqtt.protocol", "must be \"5\" or \"3.1.1\""},
    {{"mqtt", "{\"protocol\":5}"}, "mqtt.protocol", "must be \"5\" or \"3.1.1\""},
    {{"tenants/1", TENANT2("contoso", "carol@fabrikam.com")},
     "tenants[1].name",
     "duplicate \"contoso\" (same as tenants[0].name)"},
    {{"tenants/0/name", "\"Contoso\""}, "tenants[0].name", "[a-z0-9-]"},
    {{"tenants/0/name", "\"con_toso\""}, "tenants[0].name", "[a-z0-9-]"},
    {{"tenants/0/graph/client_secret", "\"x\""},
     "tenants[0].graph.client_secret",
     "use client_secret_file or client_secret_env"},
    {{"tenants/0/graph/service_accounts/0/password", "\"hunter22\""},
     "tenants[0].graph.service_accounts[0].password",
     "use password_file or password_env"},
    {{"tenants/0/voice/secret_key_env", "\"PS_T_UNSET\""},
     "tenants[0].voice.secret_key_env",
     "environment variable PS_T_UNSET is not set"},
    {{"tenants/0/voice/secret_key_env", "\"PS_T_EMPTY\""},
     "tenants[0].voice.secret_key_env",
     "secret is empty"},
    {{"tenants/0/voice/secret_key_env", "\"1BAD\""},
     "tenants[0].voice.secret_key_env",
     "not an environment variable name"},
    {{"tenants/0/voice/secret_key_file", "\"missing-secret.txt\""},
     "tenants[0].voice.secret_key_env",
     "give either secret_key_file or secret_key_env"},
    {{"tenants/0/voice/secret_key_env", NULL, "tenants/0/voice/secret_key_file",
      "\"no-such-file.txt\""},
     "tenants[0].voice.secret_key_file",
     "no-such-file.txt: No such file or directory"},
    {{"tenants/0/voice/secret_key_env", NULL},
     "tenants[0].voice.secret_key",
     "missing; give secret_key_file or secret_key_env"},
    {{"tenants/0/voice/webhook_secret_env", "\"PS_T_UNSET\""},
     "tenants[0].voice.webhook_secret_env",
     "environment variable PS_T_UNSET is not set"},
    {{"mqtt", "{\"password_env\":\"PS_T_CS\"}"}, "mqtt.username", "a password needs a username"},
    {{"tenants/0/users", "[\"a@x.com\",\"b@x.com\",\"A@X.COM\"]"},
     "tenants[0].users[2]",
     "duplicate \"A@X.COM\" (same as tenants[0].users[0])"},
    {{"tenants/0/users", "[\"a@x.com\",\"b@x.com\",\"B@x.com\",\"a@x.com\"]"},
     "tenants[0].users[2]",
     "duplicate \"B@x.com\" (same as tenants[0].users[1])"},
    {{"tenants/0/users", "[\"a@x.com\",\"b@x.com\",\"c@x.com\",\"bob\"]"},
     "tenants[0].users[3]",
     "not an e-mail address"},
    {{"tenants/0/users", "[\"a b@x.com\"]"}, "tenants[0].users[0]", "not an e-mail address"},
    {{"tenants/0/users", "[\"a@b@x.com\"]"}, "tenants[0].users[0]", "not an e-mail address"},
    {{"tenants/0/users", "[\"a@localhost\"]"}, "tenants[0].users[0]", "not an e-mail address"},
    {{"tenants/0/users", "[\"a@x.com\", 3]"}, "tenants[0].users[1]", "must be a string"},
    {{"tenants/0/users", "[]"}, "tenants[0].users", "no users listed"},
    {{"tenants/0/users", NULL}, "tenants[0].users", "missing; give users or users_file"},
    {{"tenants/0/users_file", "\"users.txt\""},
     "tenants[0].users_file",
     "give either users or users_file, not both"},
    {{"tenants/1", TENANT2("fabrikam", "Bob@Contoso.com")},
     "tenants[1].users",
     "\"Bob@Contoso.com\" is also a user of tenant \"contoso\""},
    {{"http/listen", "\"localhost\""}, "http.listen", "must be \"host:port\""},
    {{"http/listen", "\"localhost:70000\""}, "http.listen", "port 1-65535"},
    {{"http/listen", "\"localhost:80x\""}, "http.listen", "must be \"host:port\""},
    {{"http/listen", "\":8080\""}, "http.listen", "must be \"host:port\""},
    {{"http/listen", "\"::1:8080\""}, "http.listen", "[ipv6]:port"},
    {{"http/listen", "\"[::1]8080\""}, "http.listen", "[ipv6]:port"},
    {{"mqtt", "{\"url\":\"http://127.0.0.1:1883\"}"},
     "mqtt.url",
     "scheme must be mqtt:// or mqtts://"},
    {{"mqtt", "{\"url\":\"tcp://127.0.0.1:1883\"}"},
     "mqtt.url",
     "scheme must be mqtt:// or mqtts://"},
    {{"mqtt", "{\"url\":\"mqtt://\"}"}, "mqtt.url", "has no host"},
    {{"mqtt", "{\"bridge_topic\":\"ps/#\"}"}, "mqtt.bridge_topic", "wildcards"},
    {{"mqtt", "{\"topic_prefix\":\"$SYS/\"}"}, "mqtt.topic_prefix", "must not start with $"},
    {{"mqtt", "{\"urll\":\"mqtt://x\"}"}, "mqtt.urll", "unknown key"},
    {{"colour", "\"blue\""}, "colour", "unknown key"},
    {{"tenants/0/graph/client_secret_fiel", "\"x\""},
     "tenants[0].graph.client_secret_fiel",
     "unknown key"},
    {{"log_level", "\"verbose\""}, "log_level", "must be one of"},
    {{"instance", "\"ps 1\""}, "instance", "[A-Za-z0-9._-]"},
    {{"http", "{}"}, "http.public_url", "missing"},
    {{"http/public_url", "\"ftp://x\""}, "http.public_url", "http:// or https://"},
    {{"http/max_body_bytes", "1023"}, "http.max_body_bytes", "from 1024 to"},
    {{"http/tls_key_file", "\"users-ok.txt\""},
     "http.tls_cert_file",
     "tls_cert_file and tls_key_file must be given together"},
    {{"http/tls_cert_file", "\"no-such-cert.pem\""}, "http.tls_cert_file", "cannot read"},
    {{"tenants/0/graph/presence_session_minutes", "4"},
     "tenants[0].graph.presence_session_minutes",
     "from 5 to 240"},
    {{"tenants/0/graph/presence_session_minutes", "241"},
     "tenants[0].graph.presence_session_minutes",
     "from 5 to 240"},
    {{"tenants/0/graph/presence_session_minutes", "15.5"},
     "tenants[0].graph.presence_session_minutes",
     "must be an integer"},
    {{"tenants/0/graph/resync_minutes", "0"},
     "tenants[0].graph.resync_minutes",
     "must be an integer >= 1"},
    {{"tenants/0/graph/resync_minutes", "\"15\""},
     "tenants[0].graph.resync_minutes",
     "must be an integer >= 1"},
    {{"tenants/0/voice/max_call_minutes", "0"},
     "tenants[0].voice.max_call_minutes",
     "must be an integer >= 1"},
    {{"mapper", "{\"settle_seconds\":-1}"}, "mapper.settle_seconds", "must be an integer"},
    {{"mapper", "{\"enabled\":\"yes\"}"}, "mapper.enabled", "must be true or false"},
    {{"mqtt", "{\"escape_dots\":1}"}, "mqtt.escape_dots", "must be true or false"},
    {{"mqtt", "{\"escape_dots\":true,\"bridge_topic\":\"ps.1\"}"},
     "mqtt.bridge_topic",
     "must not contain '.' when mqtt.escape_dots"},
    {{"mqtt", "{\"escape_dots\":true,\"topic_prefix\":\"a.b/\"}"},
     "mqtt.topic_prefix",
     "must not contain '.' when mqtt.escape_dots"},
    {{"mqtt", "{\"escape_dots\":true}", "homeassistant", "{\"prefix\":\"h.a\"}"},
     "homeassistant.prefix",
     "must not contain '.'"},
    {{"homeassistant", "{\"enabled\":\"on\"}"}, "homeassistant.enabled", "must be true or false"},
    {{"homeassistant", "{\"prefix\":\"ha/#\"}"}, "homeassistant.prefix", "wildcards"},
    {{"homeassistant", "{\"prefix\":\"\"}"}, "homeassistant.prefix", "must not be empty"},
    {{"homeassistant", "{\"prefx\":\"ha\"}"}, "homeassistant.prefx", "unknown key"},
    {{"roles", "[]"}, "roles", "non-empty array"},
    {{"roles", "\"graph\""}, "roles", "non-empty array"},
    {{"roles", "[\"graph\",\"voices\"]"}, "roles[1]", "must be \"graph\""},
    {{"roles", "[\"graph,voice\"]"}, "roles[0]", "must be \"graph\""},
    {{"tenants/0/graph/service_accounts", NULL}, "tenants[0].graph.service_accounts", "missing"},
    {{"tenants/0/graph/service_accounts", "[]"},
     "tenants[0].graph.service_accounts",
     "non-empty array"},
    {{"tenants/0/graph/service_accounts/1",
      "{\"username\":\"SVC1@contoso.com\",\"password_env\":\"PS_T_SA\"}"},
     "tenants[0].graph.service_accounts[1]",
     "duplicate service account"},
    {{"tenants/0/graph/service_accounts/0/username", "\"svc\""},
     "tenants[0].graph.service_accounts[0].username",
     "not an e-mail address"},
    {{"tenants/0/graph/busy_activities", "[]"},
     "tenants[0].graph.busy_activities",
     "must not be empty"},
    {{"tenants/0/graph/busy_activities", "[\"InACall\",\"\"]"},
     "tenants[0].graph.busy_activities[1]",
     "must not be empty"},
    {{"tenants/0/graph/encryption_cert_file", "\"users-ok.txt\""},
     "tenants[0].graph.encryption_key_file",
     "encryption_cert_file and encryption_key_file must be given together"},
    {{"tenants/0/graph", NULL}, "tenants[0].graph", "missing"},
    {{"tenants/0/voice", NULL}, "tenants[0].voice", "missing"},
    {{"tenants/0/voice/username", NULL}, "tenants[0].voice.username", "missing"},
    {{"tenants/0/voice/api_url", "\"discover.example.com\""},
     "tenants[0].voice.api_url",
     "http:// or https://"},
    {{"tenants/0/voice/talking_request", "{\"method\":\"GET\"}"},
     "tenants[0].voice.talking_request.method",
     "must be \"PUT\", \"POST\" or \"PATCH\""},
    {{"tenants/0/voice/talking_request", "{\"path\":\"users\"}"},
     "tenants[0].voice.talking_request.path",
     "must start with /"},
    {{"tenants/0/voice/talking_request", "[]"},
     "tenants[0].voice.talking_request",
     "must be an object"},
    {{"tenants/0/voice/talking_request", "{\"method\":\"PUT\"}"},
     "tenants[0].voice.talking_request.path",
     "missing; there is no default"},
    {{"tenants/0/voice/talking_request", "{\"path\":\"/x\",\"event_type_id\":3}"},
     "tenants[0].voice.talking_request.event_type_id",
     "unknown key"},
    {{"tenants/0/voice/talking_request", "{\"mode\":\"availability\"}"},
     "tenants[0].voice.talking_request.event_type_id",
     "missing"},
    {{"tenants/0/voice/talking_request", "{\"mode\":\"availability\",\"event_type_id\":-1}"},
     "tenants[0].voice.talking_request.event_type_id",
     "must be an integer >= 0"},
    {{"tenants/0/voice/talking_request",
      "{\"mode\":\"availability\",\"event_type_id\":3,\"path\":\"/x\"}"},
     "tenants[0].voice.talking_request.path",
     "unknown key"},
    {{"tenants/0/voice/talking_request", "{\"mode\":\"dnd\"}"},
     "tenants[0].voice.talking_request.mode",
     "must be \"template\" or \"availability\""},
    {{"tenants/0/voice/events", "[]"}, "tenants[0].voice.events", "must be an object"},
    {{"tenants/0/voice/events", "{\"call_started\":[]}"},
     "tenants[0].voice.events.call_started",
     "unknown key"},
    {{"tenants/0/voice/events", "{\"call_connected\":[\"Bad Name\"]}"},
     "tenants[0].voice.events.call_connected[0]",
     "must be an event name"},
    {{"tenants/0/voice/events", "{\"call_connected\":[{\"name\":\"A\",\"number\":\"7\"}]}"},
     "tenants[0].voice.events.call_connected[0].number",
     "must be an integer >= 0"},
    {{"tenants/0/voice/events", "{\"call_connected\":[{\"name\":\"A\",\"id\":7}]}"},
     "tenants[0].voice.events.call_connected[0].id",
     "unknown key"},
    {{"tenants/0/voice/events", "{\"call_connected\":[{\"name\":\"UserCallInDisconnected\"}]}"},
     "tenants[0].voice.events",
     "event \"UserCallInDisconnected\" is listed twice"},
    {{"tenants/0/voice/events", "{\"call_connected\":[{\"name\":\"A\",\"number\":12}]}"},
     "tenants[0].voice.events",
     "number 12 is given to"},
    {{"tenants/0/voice/events", "{\"call_connected\":[]}"},
     "tenants[0].voice.events",
     "needs call_connected and call_disconnected events"},
    {{"tenants/0/voice/events", "{\"user_id_fields\":[]}"},
     "tenants[0].voice.events",
     "user_id_fields must not be empty"},
    {{"tenants/0/voice/events", "{\"user_id_fields\":[\"data..id\"]}"},
     "tenants[0].voice.events.user_id_fields[0]",
     "must be a field path"},
    {{"tenants/0/voice/events", "{\"status\":{\"field\":\"status\"}}"},
     "tenants[0].voice.events.status",
     "needs \"talking\" or \"free\" values"},
    {{"tenants/0/voice/events", "{\"status\":{\"talking\":[\"Talking\"]}}"},
     "tenants[0].voice.events.status.field",
     "missing"},
    {{"tenants/0/voice/capture", "{\"count\":5}"}, "tenants[0].voice.capture.file", "missing"},
    {{"tenants/0/voice/capture", "{\"file\":\"c.jsonl\",\"count\":0}"},
     "tenants[0].voice.capture.count",
     "from 1 to 10000"},
    {{"tenants/0/voice/ca_file", "\"no-such-ca.pem\""}, "tenants[0].voice.ca_file", "cannot read"},
    {{"tenants", "[]"}, "tenants", "must be a non-empty array"},
    {{"tenants", NULL}, "tenants", "missing"},
    {{"tenants/0", "\"contoso\""}, "tenants[0]", "must be an object"},
};

static void test_errors(void **state)
{
    (void)state;
    write_file("users-ok.txt", "x@y.com\n", 0600);
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        char *json = patched(error_cases[i].patches);
        expect_error(json, error_cases[i].path, error_cases[i].msg);
        free(json);
    }
}

static void test_json_syntax(void **state)
{
    struct config *cfg;
    struct config_error err;

    (void)state;
    assert_int_equal(config__parse("{\n  \"instance\": \"x\",\n  oops\n}", dir, &cfg, &err), -1);
    assert_string_equal(err.path, "");
    assert_non_null(strstr(err.msg, "invalid JSON at line 3, column"));
    expect_error("[1]", "", "top level must be a JSON object");
    expect_error("{\"instance\":\"a\",\"instance\":\"b\"}", "instance", "duplicate key");
}

/* ---- users --------------------------------------------------------------------- */

static void test_users_file(void **state)
{
    static const char *const p[] = {"tenants/0/users", NULL, "tenants/0/users_file",
                                    "\"users.txt\"", NULL};
    char *json = patched(p);
    struct config *cfg;

    (void)state;
    write_file(
        "users.txt",
        "# contoso users\n\nalice@contoso.com\n  bob@contoso.com  \r\n   # indented comment\n"
        "\t\nCarol@Contoso.com", /* no newline at the end */
        0644);
    cfg = parse_ok(json);
    assert_int_equal(cfg->tenants[0].n_users, 3);
    assert_string_equal(cfg->tenants[0].users[0], "alice@contoso.com");
    assert_string_equal(cfg->tenants[0].users[1], "bob@contoso.com");
    assert_string_equal(cfg->tenants[0].users[2], "Carol@Contoso.com");
    assert_string_equal(cfg->tenants[0].users_file, path_in("users.txt"));
    config__free(cfg);

    write_file("users.txt", "# x\nalice@contoso.com\nbob@contoso.com\n\n# y\nALICE@contoso.com\n",
               0644);
    expect_error(json, "tenants[0].users_file",
                 "users.txt:6: duplicate \"ALICE@contoso.com\" "
                 "(same as line 2)");
    write_file("users.txt", "alice@contoso.com\nnot-an-address\n", 0644);
    expect_error(json, "tenants[0].users_file", "users.txt:2: not an e-mail address");
    write_file("users.txt", "# only comments\n\n", 0644);
    expect_error(json, "tenants[0].users_file", "no users listed");
    unlink(path_in("users.txt"));
    expect_error(json, "tenants[0].users_file", "users.txt: No such file or directory");
    free(json);
}

static void test_address_limits(void **state)
{
    char addr[400], json[1024];
    struct config *cfg;

    (void)state;
    /* 320 bytes is the ids.h limit; 321 is too long. */
    memset(addr, 'a', sizeof(addr));
    memcpy(addr + 320 - 8, "@x.co.uk", 9);
    assert_int_equal(strlen(addr), 320);
    snprintf(json, sizeof(json),
             "{\"http\":{\"public_url\":\"https://s.example.com\"},\"tenants\":[{\"name\":\"t\","
             "\"users\":[\"%s\"],\"graph\":{\"tenant_id\":\"t.com\",\"client_id\":\"" CLIENT_ID
             "\",\"client_secret_env\":\"PS_T_CS\",\"service_accounts\":[{\"username\":\"s@t.com\","
             "\"password_env\":\"PS_T_SA\"}]},\"voice\":{\"username\":\"v@t.com\","
             "\"secret_key_env\":\"PS_T_VK\"}}]}",
             addr);
    cfg = parse_ok(json);
    config__free(cfg);
    memset(addr, 'a', sizeof(addr));
    memcpy(addr + 321 - 8, "@x.co.uk", 9);
    snprintf(json, sizeof(json),
             "{\"http\":{\"public_url\":\"https://s.example.com\"},\"tenants\":[{\"name\":\"t\","
             "\"users\":[\"%s\"],\"graph\":{\"tenant_id\":\"t.com\",\"client_id\":\"" CLIENT_ID
             "\",\"client_secret_env\":\"PS_T_CS\",\"service_accounts\":[{\"username\":\"s@t.com\","
             "\"password_env\":\"PS_T_SA\"}]},\"voice\":{\"username\":\"v@t.com\","
             "\"secret_key_env\":\"PS_T_VK\"}}]}",
             addr);
    expect_error(json, "tenants[0].users[0]", "longer than 320 bytes");
}

/* n users and k service accounts in tenant 0 */
static char *capacity_json(size_t n, size_t k)
{
    cJSON *root = cJSON_Parse(base_json), *t, *users, *accounts;
    char addr[64];
    char *text;

    t = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "tenants"), 0);
    users = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        snprintf(addr, sizeof(addr), "user%zu@contoso.com", i);
        cJSON_AddItemToArray(users, cJSON_CreateString(addr));
    }
    cJSON_ReplaceItemInObject(t, "users", users);
    accounts = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "graph"), "service_accounts");
    for (size_t i = 1; i < k; i++) {
        cJSON *a = cJSON_CreateObject();
        snprintf(addr, sizeof(addr), "svc-%zu@contoso.com", i);
        cJSON_AddStringToObject(a, "username", addr);
        cJSON_AddStringToObject(a, "password_env", "PS_T_SA");
        cJSON_AddItemToArray(accounts, a);
    }
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static void test_capacity(void **state)
{
    char *json;
    struct config *cfg;

    (void)state;
    json = capacity_json(650, 1);
    cfg = parse_ok(json);
    assert_int_equal(cfg->tenants[0].n_users, 650);
    config__free(cfg);
    free(json);

    json = capacity_json(651, 1);
    expect_error(json, "tenants[0].graph.service_accounts",
                 "651 users need 2 service accounts (650 each); 1 configured");
    free(json);

    json = capacity_json(1300, 2);
    cfg = parse_ok(json);
    assert_int_equal(cfg->tenants[0].n_users, 1300);
    assert_int_equal(cfg->tenants[0].graph.n_accounts, 2);
    config__free(cfg);
    free(json);

    json = capacity_json(1300, 1);
    expect_error(json, "tenants[0].graph.service_accounts",
                 "1300 users need 2 service accounts (650 each); 1 configured");
    free(json);

    json = capacity_json(1301, 2);
    expect_error(json, "tenants[0].graph.service_accounts",
                 "1301 users need 3 service accounts (650 each); 2 configured");
    free(json);

    assert_int_equal(config__accounts_needed(0), 0);
    assert_int_equal(config__accounts_needed(1), 1);
    assert_int_equal(config__accounts_needed(650), 1);
    assert_int_equal(config__accounts_needed(651), 2);
}

/* ---- secrets ------------------------------------------------------------------ */

static char *with_key_file(const char *file)
{
    char v[300];
    const char *p[] = {"tenants/0/voice/secret_key_env", NULL, "tenants/0/voice/secret_key_file", v,
                       NULL};

    snprintf(v, sizeof(v), "\"%s\"", file);
    return patched(p);
}

/* Loads with voice.secret_key_file = key.txt holding text; returns the value. */
static void expect_key(const char *text, const char *want)
{
    char *json = with_key_file("key.txt");
    struct config *cfg;
    char src[300];

    write_file("key.txt", text, 0600);
    cfg = parse_ok(json);
    assert_string_equal(cfg->tenants[0].voice.secret_key.value, want);
    assert_int_equal(cfg->tenants[0].voice.secret_key.len, strlen(want));
    snprintf(src, sizeof(src), "file %s", path_in("key.txt"));
    assert_string_equal(cfg->tenants[0].voice.secret_key.source, src);
    config__free(cfg);
    free(json);
}

static void test_secret_file_newline(void **state)
{
    (void)state;
    expect_key("s3cret+/=&%value\n", "s3cret+/=&%value");
    expect_key("s3cret+/=&%value", "s3cret+/=&%value");
    expect_key("two-newlines\n\n", "two-newlines\n");
    expect_key("crlf-ending\r\n", "crlf-ending");
    expect_key(" spaces kept \n", " spaces kept ");
}

static void test_secret_file_errors(void **state)
{
    char *json = with_key_file("key.txt");
    char *abs;

    (void)state;
    write_file("key.txt", "\n", 0600);
    expect_error(json, "tenants[0].voice.secret_key_file", "secret is empty");
    write_file("key.txt", "", 0600);
    expect_error(json, "tenants[0].voice.secret_key_file", "secret is empty");
    free(json);
    json = with_key_file(".");
    expect_error(json, "tenants[0].voice.secret_key_file", "is not a regular file");
    free(json);
    /* absolute paths are used as they are */
    abs = strdup(path_in("key.txt"));
    write_file("key.txt", "abs-path-secret\n", 0600);
    json = with_key_file(abs);
    config__free(parse_ok(json));
    free(json);
    free(abs);
}

static void test_secret_env(void **state)
{
    static const char *const p[] = {
        "mqtt", "{\"username\":\"bridge\",\"password_env\":\"PS_T_MQTT\"}", NULL};
    char *json = patched(p);
    struct config *cfg;

    (void)state;
    setenv("PS_T_MQTT", "mqtt pass\nwith newline\n", 1);
    cfg = parse_ok(json);
    /* env values are taken verbatim: no newline stripping */
    assert_string_equal(cfg->mqtt.password.value, "mqtt pass\nwith newline\n");
    assert_string_equal(cfg->mqtt.password.source, "env PS_T_MQTT");
    assert_string_equal(cfg->mqtt.username, "bridge");
    config__free(cfg);
    free(json);
}

static void test_secret_mode_warning(void **state)
{
    char *json = with_key_file("key.txt");
    struct config *cfg;
    const char *log;

    (void)state;
    write_file("key.txt", "mode-test-secret-value\n", 0644);
    capture_begin();
    cfg = parse_ok(json);
    log = capture_end();
    assert_non_null(strstr(log, "readable by group or others"));
    assert_non_null(strstr(log, path_in("key.txt")));
    assert_null(strstr(log, "mode-test-secret-value"));
    config__free(cfg);

    write_file("key.txt", "mode-test-secret-value\n", 0600);
    capture_begin();
    cfg = parse_ok(json);
    log = capture_end();
    assert_null(strstr(log, "readable by group or others"));
    config__free(cfg);
    free(json);
}

/* Every secret read is registered with log__redact(). */
static void test_secret_redacted(void **state)
{
    char *json = with_key_file("key.txt");
    struct config *cfg;
    const char *log;

    (void)state;
    write_file("key.txt", "redact-me-please-42\n", 0600);
    cfg = parse_ok(json);
    capture_begin();
    LOG_WARN("test", "oops value=%s other=%s", cfg->tenants[0].voice.secret_key.value,
             cfg->tenants[0].graph.client_secret.value);
    log = capture_end();
    assert_null(strstr(log, "redact-me-please-42"));
    assert_null(strstr(log, "client-secret-value-1"));
    assert_non_null(strstr(log, "oops value="));
    config__free(cfg);
    free(json);
}

/* ---- encryption certificate --------------------------------------------------- */

static void write_pem(const char *name, EVP_PKEY *cert_key, EVP_PKEY *key)
{
    FILE *f = fopen(path_in(name), "w");

    assert_non_null(f);
    if (cert_key) {
        X509 *x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, cert_key);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"ps-test", -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        assert_true(X509_sign(x, cert_key, EVP_sha256()) > 0);
        assert_int_equal(PEM_write_X509(f, x), 1);
        X509_free(x);
    }
    if (key)
        assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    chmod(path_in(name), 0600);
}

static char *with_encryption(void)
{
    static const char *const p[] = {"tenants/0/graph/encryption_cert_file", "\"cert.pem\"",
                                    "tenants/0/graph/encryption_key_file", "\"key.pem\"", NULL};
    return patched(p);
}

/* The files of a parsed configuration are the Graph side's check: the
 * configuration parses, and notify_crypto__check_config names the file. */
static void expect_crypto_error(const char *json, const char *path, const char *msg)
{
    struct config *cfg = parse_ok(json);
    struct config_error err;

    memset(&err, 0, sizeof(err));
    assert_int_equal(notify_crypto__check_config(cfg, &err), -1);
    if (strcmp(err.path, path) || !strstr(err.msg, msg))
        print_message("want %s: ...%s...\n got %s: %s\n", path, msg, err.path, err.msg);
    assert_string_equal(err.path, path);
    assert_non_null(strstr(err.msg, msg));
    config__free(cfg);
}

static void test_encryption_pair(void **state)
{
    EVP_PKEY *k1 = EVP_RSA_gen(2048), *k2 = EVP_RSA_gen(2048), *small = EVP_RSA_gen(1024);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    char *json = with_encryption();
    struct config *cfg;
    struct config_error err;

    (void)state;
    assert_non_null(k1);
    assert_non_null(k2);
    assert_non_null(small);
    assert_non_null(ec);
    write_pem("cert.pem", k1, NULL);
    write_pem("key.pem", NULL, k1);
    cfg = parse_ok(json);
    assert_int_equal(notify_crypto__check_config(cfg, &err), 0);
    assert_string_equal(cfg->tenants[0].graph.encryption_cert_file, path_in("cert.pem"));
    assert_string_equal(cfg->tenants[0].graph.encryption_key_file, path_in("key.pem"));
    config__free(cfg);

    write_pem("key.pem", NULL, k2);
    expect_crypto_error(json, "tenants[0].graph.encryption_key_file",
                        "does not match the certificate");
    write_pem("cert.pem", small, NULL);
    write_pem("key.pem", NULL, small);
    expect_crypto_error(json, "tenants[0].graph.encryption_key_file", "RSA key has 1024 bits");
    write_pem("cert.pem", ec, NULL);
    write_pem("key.pem", NULL, ec);
    expect_crypto_error(json, "tenants[0].graph.encryption_key_file", "is not an RSA key");
    write_file("cert.pem", "not a certificate\n", 0644);
    write_pem("key.pem", NULL, k1);
    expect_crypto_error(json, "tenants[0].graph.encryption_cert_file",
                        "is not a PEM X.509 certificate");
    write_pem("cert.pem", k1, NULL);
    write_file("key.pem", "garbage\n", 0600);
    expect_crypto_error(json, "tenants[0].graph.encryption_key_file", "is not an unencrypted PEM");
    unlink(path_in("key.pem"));
    /* an unreadable file is the configuration's own error */
    expect_error(json, "tenants[0].graph.encryption_key_file", "cannot read");
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
    free(json);
}

/* ---- load from a file, summary --------------------------------------------------- */

static void test_load_and_summary(void **state)
{
    static const char *const p[] = {"tenants/0/users",
                                    NULL,
                                    "tenants/0/users_file",
                                    "\"u.txt\"",
                                    "tenants/0/graph/client_secret_env",
                                    NULL,
                                    NULL};
    char *json = patched(p), *out = NULL, *abs;
    cJSON *root = cJSON_Parse(json);
    struct config *cfg;
    struct config_error err;
    size_t len = 0;
    FILE *mem;

    (void)state;
    /* relative to the config's directory, not to the working directory */
    cJSON_AddStringToObject(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "tenants"), 0), "graph"),
        "client_secret_file", "cs.txt");
    free(json);
    json = cJSON_Print(root);
    cJSON_Delete(root);
    write_file("config.json", json, 0600);
    write_file("u.txt", "alice@contoso.com\nbob@contoso.com\ncarol@contoso.com\n", 0644);
    write_file("cs.txt", "summary-secret-xyz\n", 0600);
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(config__load(path_in("config.json"), &cfg, &err), 0);
    abs = realpath(path_in("config.json"), NULL);
    assert_string_equal(cfg->path, abs);
    free(abs);
    assert_string_equal(cfg->tenants[0].graph.client_secret.value, "summary-secret-xyz");
    mem = open_memstream(&out, &len);
    config_summary__print(cfg, mem);
    fclose(mem);
    assert_non_null(strstr(out, "tenant contoso: 3 users"));
    assert_non_null(strstr(out, "capacity 650 users"));
    assert_non_null(strstr(out, "svc1@contoso.com"));
    assert_non_null(strstr(out, "secrets: 3 read"));
    assert_null(strstr(out, "summary-secret-xyz"));
    assert_null(strstr(out, "service-account-pass-1"));
    assert_null(strstr(out, "voice-secret-key-1"));
    free(out);
    config__free(cfg);
    free(json);

    assert_int_equal(config__load(path_in("nope.json"), &cfg, &err), -1);
    assert_null(cfg);
    assert_string_equal(err.path, "");
    assert_string_equal(err.msg, "cannot read: No such file or directory");
}

static void test_roles_cli_syntax(void **state)
{
    unsigned r = 0;
    char buf[64];

    (void)state;
    assert_int_equal(config__parse_roles("graph", &r), 0);
    assert_int_equal(r, CONFIG_ROLE_GRAPH);
    assert_int_equal(config__parse_roles("voice,mapper", &r), 0);
    assert_int_equal(r, CONFIG_ROLE_ALL);
    assert_string_equal(config__roles_name(r, buf, sizeof(buf)), "all");
    r = 0;
    assert_int_equal(config__parse_roles("all", &r), 0);
    assert_int_equal(r, CONFIG_ROLE_ALL);
    r = 0;
    assert_int_equal(config__parse_roles("mapper,graph", &r), 0);
    assert_string_equal(config__roles_name(r, buf, sizeof(buf)), "graph,mapper");
    assert_int_equal(config__parse_roles("", &r), -1);
    assert_int_equal(config__parse_roles("graph,", &r), -1);
    assert_int_equal(config__parse_roles(",graph", &r), -1);
    assert_int_equal(config__parse_roles("grap", &r), -1);
    assert_int_equal(config__parse_roles("graphs", &r), -1);
    assert_int_equal(config__parse_roles("Graph", &r), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_override_defaults),
        cmocka_unit_test(test_voice_settings),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_json_syntax),
        cmocka_unit_test(test_users_file),
        cmocka_unit_test(test_address_limits),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_secret_file_newline),
        cmocka_unit_test(test_secret_file_errors),
        cmocka_unit_test(test_secret_env),
        cmocka_unit_test(test_secret_mode_warning),
        cmocka_unit_test(test_secret_redacted),
        cmocka_unit_test(test_encryption_pair),
        cmocka_unit_test(test_load_and_summary),
        cmocka_unit_test(test_roles_cli_syntax),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
