/* The JSON configuration (docs/configuration.md).
 *
 * Each JSON object is described by a table of fields (key, type, offset into
 * its struct, default, range, extra check). One generic routine applies a
 * table: it rejects unknown and duplicate keys, type-checks, applies
 * defaults and range checks. Arrays and cross-field rules (users, service
 * accounts, capacity, certificate pairs) are handled by short functions
 * after it. Like mosquitto, anything unknown is an error rather than being
 * silently ignored: a misspelt key would otherwise fall back to a default.
 */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/hmap.h"
#include "core/ids.h"
#include "core/jsonconf.h"
#include "core/str.h"
#include "graph/notify_crypto.h"

#define CONFIG_MAX_BYTES (16 * 1024 * 1024)

/* ---- the tables ------------------------------------------------------- */

/* clang-format off */
#define STR(s, k, fl, d, chk) {#k, FT_STRING, offsetof(struct s, k), fl, d, 0, 0, 0, chk}
#define PATH(s, k)            {#k, FT_PATH, offsetof(struct s, k), 0, NULL, 0, 0, 0, NULL}
#define INT(s, k, d, lo, hi)  {#k, FT_INT, offsetof(struct s, k), 0, NULL, d, lo, hi, NULL}
#define SECRET(s, k, fl)      {#k, FT_SECRET, offsetof(struct s, k), fl, NULL, 0, 0, 0, NULL}
#define CUSTOM(k)             {k, FT_CUSTOM, 0, 0, NULL, 0, 0, 0, NULL}
/* clang-format on */

static const struct jsonconf_field top_fields[] = {
    CUSTOM("$schema"), /* lets editors find the JSON Schema */
    STR(config, instance, 0, "presence-sync", jsonconf__check_instance),
    CUSTOM("log_level"),
    CUSTOM("mqtt"),
    CUSTOM("http"),
    CUSTOM("tenants"),
    CUSTOM("mapper"),
    CUSTOM("homeassistant"),
    CUSTOM("roles"),
};

static const struct jsonconf_field mqtt_fields[] = {
    STR(mqtt_config, url, 0, "mqtt://127.0.0.1:1883", jsonconf__check_mqtt_url),
    STR(mqtt_config, username, 0, NULL, jsonconf__check_nonempty),
    SECRET(mqtt_config, password, 0),
    PATH(mqtt_config, ca_file),
    STR(mqtt_config, topic_prefix, 0, "", jsonconf__check_prefix),
    STR(mqtt_config, bridge_topic, 0, "presence-sync", jsonconf__check_bridge_topic),
    CUSTOM("protocol"),
    {"escape_dots", FT_BOOL, offsetof(struct mqtt_config, escape_dots), 0, NULL, 0, 0, 0, NULL},
};

static const struct jsonconf_field http_fields[] = {
    STR(http_config, listen, 0, "127.0.0.1:8080", NULL),
    STR(http_config, public_url, F_REQUIRED, NULL, jsonconf__check_http_url),
    PATH(http_config, tls_cert_file),
    PATH(http_config, tls_key_file),
    {"max_body_bytes", FT_SIZE, offsetof(struct http_config, max_body_bytes), 0, NULL, 4194304,
     1024, 1LL << 30, NULL},
};

static const struct jsonconf_field mapper_fields[] = {
    {"enabled", FT_BOOL, offsetof(struct mapper_config, enabled), 0, NULL, 1, 0, 0, NULL},
    INT(mapper_config, settle_seconds, 5, 0, 3600),
};

static const struct jsonconf_field hass_fields[] = {
    {"enabled", FT_BOOL, offsetof(struct hass_config, enabled), 0, NULL, 0, 0, 0, NULL},
    STR(hass_config, prefix, 0, "homeassistant", jsonconf__check_bridge_topic),
};

static const struct jsonconf_field tenant_fields[] = {
    STR(tenant_config, name, F_REQUIRED, NULL, jsonconf__check_tenant_name),
    CUSTOM("users"),
    CUSTOM("users_file"),
    CUSTOM("graph"),
    CUSTOM("voice"),
};

static const struct jsonconf_field graph_fields[] = {
    STR(graph_config, tenant_id, F_REQUIRED, NULL, jsonconf__check_tenant_id),
    STR(graph_config, client_id, F_REQUIRED, NULL, jsonconf__check_guid),
    SECRET(graph_config, client_secret, F_REQUIRED),
    STR(graph_config, login_url, 0, "https://login.microsoftonline.com", jsonconf__check_http_url),
    STR(graph_config, api_url, 0, "https://graph.microsoft.com/v1.0", jsonconf__check_http_url),
    CUSTOM("service_accounts"),
    PATH(graph_config, encryption_cert_file),
    PATH(graph_config, encryption_key_file),
    CUSTOM("busy_activities"),
    INT(graph_config, presence_session_minutes, 15, 5, 240),
    INT(graph_config, resync_minutes, 15, 1, INT_MAX),
};

static const struct jsonconf_field account_fields[] = {
    STR(service_account, username, F_REQUIRED, NULL, jsonconf__check_email),
    SECRET(service_account, password, F_REQUIRED),
};

static const struct jsonconf_field voice_fields[] = {
    STR(voice_config, discovery_url, 0, "https://discover.enreachvoice.com",
        jsonconf__check_http_url),
    STR(voice_config, api_url, 0, NULL, jsonconf__check_http_url),
    STR(voice_config, username, F_REQUIRED, NULL, jsonconf__check_nonempty),
    SECRET(voice_config, secret_key, F_REQUIRED),
    SECRET(voice_config, webhook_secret, 0),
    INT(voice_config, max_call_minutes, 480, 1, INT_MAX),
    PATH(voice_config, ca_file),
    CUSTOM("talking_request"), /* these three: core/config_voice.c */
    CUSTOM("events"),
    CUSTOM("capture"),
};

/* ---- cross-field rules -------------------------------------------------- */

static int config__pair_given(struct jsonconf *c, const char *path, const char *a_key,
                              const char *a, const char *b_key, const char *b)
{
    char p[256];

    if (!a == !b)
        return 0;
    jsonconf__path_key(p, sizeof(p), path, a ? b_key : a_key);
    return jsonconf__fail(c, p, "missing; %s and %s must be given together", a_key, b_key);
}

/* "host:port" or "[v6]:port" */
static int config__parse_listen(struct jsonconf *c, struct http_config *h)
{
    const char *s = h->listen, *host = s, *end, *port;
    char *stop;
    long n;

    if (s[0] == '[') {
        host = s + 1;
        end = strchr(host, ']');
        port = end && end[1] == ':' ? end + 2 : NULL;
    }
    else {
        end = strrchr(s, ':');
        port = end ? end + 1 : NULL;
        if (end && memchr(s, ':', (size_t)(end - s)))
            port = NULL; /* a bare IPv6 address needs brackets */
    }
    n = port && isdigit((unsigned char)port[0]) ? strtol(port, &stop, 10) : 0;
    if (!port || end == host || n < 1 || n > 65535 || *stop)
        return jsonconf__fail(c, "http.listen",
                              "must be \"host:port\" or \"[ipv6]:port\" with port 1-65535");
    h->listen_host = strndup(host, (size_t)(end - host));
    h->listen_port = (int)n;
    return h->listen_host ? 0 : jsonconf__fail(c, "http.listen", "out of memory");
}

static int config__parse_protocol(struct jsonconf *c, const cJSON *mqtt, struct mqtt_config *m)
{
    const cJSON *p = jsonconf__member(mqtt, "protocol");

    m->protocol = 5;
    if (!p)
        return 0;
    if (cJSON_IsString(p) && !strcmp(p->valuestring, "5"))
        return 0;
    if (cJSON_IsString(p) && !strcmp(p->valuestring, "3.1.1")) {
        m->protocol = 4;
        return 0;
    }
    return jsonconf__fail(c, "mqtt.protocol", "must be \"5\" or \"3.1.1\"");
}

static int config__parse_log_level(struct jsonconf *c, const cJSON *root, struct config *cfg)
{
    const cJSON *l = jsonconf__member(root, "log_level");

    cfg->log_level = PS_LOG_INFO;
    if (!l)
        return 0;
    if (!cJSON_IsString(l) || log__parse_level(l->valuestring, &cfg->log_level) < 0)
        return jsonconf__fail(c, "log_level",
                              "must be one of \"error\", \"warn\", \"info\", \"debug\"");
    return 0;
}

static int config__parse_mqtt(struct jsonconf *c, const cJSON *root, struct config *cfg)
{
    const cJSON *m = jsonconf__member(root, "mqtt");

    if (jsonconf__parse(c, mqtt_fields, N_ELEMS(mqtt_fields), m, "mqtt", &cfg->mqtt) < 0 ||
        config__parse_protocol(c, m, &cfg->mqtt) < 0)
        return -1;
    if (cfg->mqtt.password.value && !cfg->mqtt.username)
        return jsonconf__fail(c, "mqtt.username", "missing; a password needs a username");
    /* The broker that needs escape_dots would rewrite these too. */
    if (cfg->mqtt.escape_dots && strchr(cfg->mqtt.topic_prefix, '.'))
        return jsonconf__fail(c, "mqtt.topic_prefix",
                              "must not contain '.' when mqtt.escape_dots is true");
    if (cfg->mqtt.escape_dots && strchr(cfg->mqtt.bridge_topic, '.'))
        return jsonconf__fail(c, "mqtt.bridge_topic",
                              "must not contain '.' when mqtt.escape_dots is true");
    return 0;
}

int config__set_listen(struct config *cfg, const char *listen, struct config_error *err)
{
    struct jsonconf c = {NULL, err};
    struct http_config h = cfg->http;

    memset(err, 0, sizeof(*err));
    if (!(h.listen = strdup(listen)))
        return jsonconf__fail(&c, "http.listen", "out of memory");
    h.listen_host = NULL;
    if (config__parse_listen(&c, &h) < 0) {
        free(h.listen);
        return -1;
    }
    free(cfg->http.listen);
    free(cfg->http.listen_host);
    cfg->http = h;
    return 0;
}

static const char *const config__role_names[] = {"graph", "voice", "mapper"};

int config__parse_roles(const char *s, unsigned *roles)
{
    const char *p = s;

    do {
        size_t n = strcspn(p, ",");
        unsigned r = 0;
        if (n == 3 && !strncmp(p, "all", 3))
            r = CONFIG_ROLE_ALL;
        for (size_t i = 0; i < N_ELEMS(config__role_names); i++) {
            if (n == strlen(config__role_names[i]) && !strncmp(p, config__role_names[i], n))
                r = 1u << i;
        }
        if (!r)
            return -1;
        *roles |= r;
        p += n;
    } while (*p++ == ',');
    return 0;
}

const char *config__roles_name(unsigned roles, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    if ((roles & CONFIG_ROLE_ALL) == CONFIG_ROLE_ALL) {
        snprintf(buf, len, "all");
        return buf;
    }
    for (size_t i = 0; i < N_ELEMS(config__role_names); i++) {
        if (roles & (1u << i) && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", config__role_names[i]);
    }
    return buf;
}

/* "roles": ["graph", "voice"] (or "all"); absent: all. */
static int config__parse_config_roles(struct jsonconf *c, const cJSON *root, struct config *cfg)
{
    const cJSON *arr = jsonconf__member(root, "roles"), *it;
    char p[64];
    size_t i = 0;

    cfg->roles = CONFIG_ROLE_ALL;
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return jsonconf__fail(
            c, "roles", "must be a non-empty array of \"graph\", \"voice\", \"mapper\", \"all\"");
    cfg->roles = 0;
    cJSON_ArrayForEach(it, arr)
    {
        jsonconf__path_index(p, sizeof(p), "roles", i++);
        if (!cJSON_IsString(it) || strchr(it->valuestring, ',') ||
            config__parse_roles(it->valuestring, &cfg->roles) < 0)
            return jsonconf__fail(c, p, "must be \"graph\", \"voice\", \"mapper\" or \"all\"");
    }
    return 0;
}

static int config__parse_http(struct jsonconf *c, const cJSON *root, struct config *cfg)
{
    struct http_config *h = &cfg->http;

    if (jsonconf__parse(c, http_fields, N_ELEMS(http_fields), jsonconf__member(root, "http"),
                        "http", h) < 0 ||
        config__parse_listen(c, h) < 0)
        return -1;
    return config__pair_given(c, "http", "tls_cert_file", h->tls_cert_file, "tls_key_file",
                              h->tls_key_file);
}

/* A plain array of non-empty strings, copied. */
static int config__parse_strings(struct jsonconf *c, const cJSON *arr, const char *path,
                                 jsonconf_check_fn check, char ***out, size_t *n)
{
    char p[256];
    const cJSON *it;
    const char *e;
    size_t i = 0;

    if (!cJSON_IsArray(arr))
        return jsonconf__fail(c, path, "must be an array of strings");
    *out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
    if (!*out)
        return jsonconf__fail(c, path, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        jsonconf__path_index(p, sizeof(p), path, i);
        if (!cJSON_IsString(it))
            return jsonconf__fail(c, p, "must be a string");
        if ((e = check(it->valuestring)))
            return jsonconf__fail(c, p, "%s (\"%.100s\")", e, it->valuestring);
        if (!((*out)[i] = strdup(it->valuestring)))
            return jsonconf__fail(c, p, "out of memory");
        *n = ++i;
    }
    return 0;
}

static void config__free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int config__parse_busy(struct jsonconf *c, const cJSON *graph, const char *path,
                              struct graph_config *g)
{
    static const char *defs[] = {"InACall", "InAConferenceCall", "Presenting"};
    const cJSON *b = jsonconf__member(graph, "busy_activities");
    char p[256];

    jsonconf__path_key(p, sizeof(p), path, "busy_activities");
    if (b) {
        if (config__parse_strings(c, b, p, jsonconf__check_nonempty, &g->busy_activities,
                                  &g->n_busy_activities) < 0)
            return -1;
        return g->n_busy_activities ? 0 : jsonconf__fail(c, p, "must not be empty");
    }
    g->busy_activities = calloc(N_ELEMS(defs), sizeof(char *));
    for (size_t i = 0; g->busy_activities && i < N_ELEMS(defs); i++) {
        if (!(g->busy_activities[i] = strdup(defs[i])))
            return jsonconf__fail(c, p, "out of memory");
        g->n_busy_activities = i + 1;
    }
    return g->busy_activities ? 0 : jsonconf__fail(c, p, "out of memory");
}

static int config__parse_accounts(struct jsonconf *c, const cJSON *graph, const char *path,
                                  struct graph_config *g)
{
    const cJSON *arr = jsonconf__member(graph, "service_accounts"), *it;
    char p[256], q[256];

    jsonconf__path_key(p, sizeof(p), path, "service_accounts");
    if (!arr)
        return jsonconf__fail(c, p, "missing");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return jsonconf__fail(c, p,
                              "must be a non-empty array of {\"username\", \"password_file\"}");
    g->accounts = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*g->accounts));
    if (!g->accounts)
        return jsonconf__fail(c, p, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        struct service_account *a = &g->accounts[g->n_accounts];
        jsonconf__path_index(q, sizeof(q), p, g->n_accounts++);
        if (jsonconf__parse(c, account_fields, N_ELEMS(account_fields), it, q, a) < 0)
            return -1;
        for (size_t j = 0; j + 1 < g->n_accounts; j++) {
            if (!strcasecmp(g->accounts[j].username, a->username))
                return jsonconf__fail(c, q, "duplicate service account \"%s\" (same as %s[%zu])",
                                      a->username, p, j);
        }
    }
    return 0;
}

static int config__check_encryption(struct jsonconf *c, const char *path,
                                    const struct graph_config *g)
{
    char p[256], msg[sizeof(((struct config_error *)0)->msg)];
    bool key_at_fault;

    if (notify_crypto__check_files(g->encryption_cert_file, g->encryption_key_file, &key_at_fault,
                                   msg, sizeof(msg)) == 0)
        return 0;
    jsonconf__path_key(p, sizeof(p), path,
                       key_at_fault ? "encryption_key_file" : "encryption_cert_file");
    return jsonconf__fail(c, p, "%s", msg);
}

static int config__parse_graph(struct jsonconf *c, const cJSON *tenant, const char *tpath,
                               struct graph_config *g)
{
    const cJSON *obj = jsonconf__member(tenant, "graph");
    char p[256];

    jsonconf__path_key(p, sizeof(p), tpath, "graph");
    if (!obj)
        return jsonconf__fail(c, p, "missing");
    if (jsonconf__parse(c, graph_fields, N_ELEMS(graph_fields), obj, p, g) < 0 ||
        config__parse_accounts(c, obj, p, g) < 0 || config__parse_busy(c, obj, p, g) < 0 ||
        config__pair_given(c, p, "encryption_cert_file", g->encryption_cert_file,
                           "encryption_key_file", g->encryption_key_file) < 0)
        return -1;
    return g->encryption_cert_file ? config__check_encryption(c, p, g) : 0;
}

static int config__parse_voice(struct jsonconf *c, const cJSON *tenant, const char *tpath,
                               struct voice_config *v)
{
    const cJSON *obj = jsonconf__member(tenant, "voice");
    char p[256];

    jsonconf__path_key(p, sizeof(p), tpath, "voice");
    if (!obj)
        return jsonconf__fail(c, p, "missing");
    if (jsonconf__parse(c, voice_fields, N_ELEMS(voice_fields), obj, p, v) < 0)
        return -1;
    return config_voice__parse(obj, p, c->base_dir, v, c->err);
}

static int config__check_capacity(struct jsonconf *c, const char *tpath,
                                  const struct tenant_config *t)
{
    char p[256];
    size_t need = config__accounts_needed(t->n_users);

    if (t->n_users <= (size_t)GRAPH_USERS_PER_ACCOUNT * t->graph.n_accounts)
        return 0;
    jsonconf__path_key(p, sizeof(p), tpath, "graph.service_accounts");
    return jsonconf__fail(c, p, "%zu users need %zu service account%s (%d each); %zu configured",
                          t->n_users, need, need == 1 ? "" : "s", GRAPH_USERS_PER_ACCOUNT,
                          t->graph.n_accounts);
}

/* ---- tenants ------------------------------------------------------------- */

static int config__parse_tenant(struct jsonconf *c, const cJSON *obj, const char *p,
                                struct tenant_config *t)
{
    if (!cJSON_IsObject(obj))
        return jsonconf__fail(c, p, "must be an object");
    if (jsonconf__parse(c, tenant_fields, N_ELEMS(tenant_fields), obj, p, t) < 0 ||
        config_users__parse(c, obj, p, t) < 0 || config__parse_graph(c, obj, p, &t->graph) < 0 ||
        config__parse_voice(c, obj, p, &t->voice) < 0)
        return -1;
    return config__check_capacity(c, p, t);
}

/* Topic ids carry no tenant, so one address in two tenants would share topics.
 * seen holds the users of the tenants before ti (case-insensitive); ti's are
 * added to it, in keys (one per user, freed by the caller). A map, not a scan
 * of every earlier tenant: 20 tenants x 5,000 users took 30 s (docs/scaling.md). */
struct config__seen {
    struct hmap_node node;
    const char *user;
    size_t tenant;
};

static int config__check_cross_tenant(struct jsonconf *c, const struct config *cfg, size_t ti,
                                      struct hmap *seen, struct config__seen **keys)
{
    const struct tenant_config *t = &cfg->tenants[ti];
    char p[256];
    *keys = calloc(t->n_users ? t->n_users : 1, sizeof(**keys));
    if (!*keys)
        return jsonconf__fail(c, "tenants", "out of memory");
    for (size_t i = 0; i < t->n_users; i++) {
        uint64_t h = hmap__hash_ci(t->users[i]);
        for (struct hmap_node *n = hmap__first(seen, h); n; n = hmap__next(n, h)) {
            const struct config__seen *k = HMAP_ENTRY(n, struct config__seen, node);
            if (k->tenant == ti || strcasecmp(k->user, t->users[i]))
                continue;
            snprintf(p, sizeof(p), "tenants[%zu].%s", ti, t->users_file ? "users_file" : "users");
            return jsonconf__fail(
                c, p, "\"%s\" is also a user of tenant \"%s\"; a user belongs to one tenant",
                t->users[i], cfg->tenants[k->tenant].name);
        }
        (*keys)[i] = (struct config__seen){.user = t->users[i], .tenant = ti};
        if (hmap__insert(seen, &(*keys)[i].node, h) < 0)
            return jsonconf__fail(c, "tenants", "out of memory");
    }
    return 0;
}

/* Parses tenants[i] (i = cfg->n_tenants) and checks it against the tenants
 * before it. */
static int config__parse_tenant_at(struct jsonconf *c, const cJSON *it, struct config *cfg,
                                   struct hmap *seen, struct config__seen **keys)
{
    char p[256];
    size_t i = cfg->n_tenants++;
    jsonconf__path_index(p, sizeof(p), "tenants", i);
    if (config__parse_tenant(c, it, p, &cfg->tenants[i]) < 0)
        return -1;
    for (size_t j = 0; j < i; j++) {
        if (!strcmp(cfg->tenants[j].name, cfg->tenants[i].name)) {
            char q[256];
            jsonconf__path_key(q, sizeof(q), p, "name");
            return jsonconf__fail(c, q, "duplicate \"%s\" (same as tenants[%zu].name)",
                                  cfg->tenants[i].name, j);
        }
    }
    return config__check_cross_tenant(c, cfg, i, seen, keys);
}

static int config__parse_tenants(struct jsonconf *c, const cJSON *root, struct config *cfg)
{
    const cJSON *arr = jsonconf__member(root, "tenants"), *it;

    if (!arr)
        return jsonconf__fail(c, "tenants", "missing");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return jsonconf__fail(c, "tenants", "must be a non-empty array");
    cfg->tenants = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*cfg->tenants));
    if (!cfg->tenants)
        return jsonconf__fail(c, "tenants", "out of memory");
    size_t n_arr = (size_t)cJSON_GetArraySize(arr);
    struct config__seen **keys = calloc(n_arr, sizeof(*keys));
    if (!keys)
        return jsonconf__fail(c, "tenants", "out of memory");
    struct hmap seen = {0};
    int rc = 0;
    cJSON_ArrayForEach(it, arr)
    {
        if (config__parse_tenant_at(c, it, cfg, &seen, &keys[cfg->n_tenants]) < 0) {
            rc = -1;
            break;
        }
    }
    hmap__clear(&seen);
    for (size_t i = 0; i < n_arr; i++)
        free(keys[i]);
    free(keys);
    return rc;
}
/* ---- entry points -------------------------------------------------------- */

static int config__parse_root(struct jsonconf *c, const cJSON *root, struct config *cfg)
{
    if (!cJSON_IsObject(root))
        return jsonconf__fail(c, "", "the top level must be a JSON object");
    if (jsonconf__parse(c, top_fields, N_ELEMS(top_fields), root, "", cfg) < 0 ||
        config__parse_log_level(c, root, cfg) < 0 || config__parse_mqtt(c, root, cfg) < 0 ||
        config__parse_http(c, root, cfg) < 0)
        return -1;
    if (jsonconf__parse(c, mapper_fields, N_ELEMS(mapper_fields), jsonconf__member(root, "mapper"),
                        "mapper", &cfg->mapper) < 0 ||
        jsonconf__parse(c, hass_fields, N_ELEMS(hass_fields),
                        jsonconf__member(root, "homeassistant"), "homeassistant",
                        &cfg->homeassistant) < 0 ||
        config__parse_config_roles(c, root, cfg) < 0)
        return -1;
    if (cfg->mqtt.escape_dots && strchr(cfg->homeassistant.prefix, '.'))
        return jsonconf__fail(c, "homeassistant.prefix",
                              "must not contain '.' when mqtt.escape_dots is true");
    return config__parse_tenants(c, root, cfg);
}

static void config__json_error_at(struct jsonconf *c, const char *json, const char *at)
{
    int line = 1, col = 1;

    for (const char *p = json; at && p < at && *p; p++) {
        col = *p == '\n' ? 1 : col + 1;
        line += *p == '\n';
    }
    jsonconf__fail(c, "", "invalid JSON at line %d, column %d", line, col);
}

int config__parse(const char *json, const char *base_dir, struct config **out,
                  struct config_error *err)
{
    struct jsonconf c = {base_dir, err};
    const char *end = NULL;
    cJSON *root;
    struct config *cfg;

    memset(err, 0, sizeof(*err));
    *out = NULL;
    /* strict like core/json.c (nothing after the value), and with the
     * position of an error for the message */
    root = cJSON_ParseWithOpts(json, &end, true);
    if (!root) {
        config__json_error_at(&c, json, end ? end : cJSON_GetErrorPtr());
        return -1;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg || config__parse_root(&c, root, cfg) < 0) {
        if (!cfg)
            jsonconf__fail(&c, "", "out of memory");
        cJSON_Delete(root);
        config__free(cfg);
        return -1;
    }
    cJSON_Delete(root);
    *out = cfg;
    return 0;
}

static char *config__read_file(const char *path, struct config_error *err)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0;

    if (!f) {
        snprintf(err->msg, sizeof(err->msg), "cannot read: %s", strerror(errno));
        return NULL;
    }
    buf = malloc(CONFIG_MAX_BYTES + 1);
    if (buf)
        n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
    if (!buf || ferror(f) || n > CONFIG_MAX_BYTES) {
        snprintf(err->msg, sizeof(err->msg), "cannot read: %s",
                 n > CONFIG_MAX_BYTES ? "larger than 16 MiB" : strerror(errno));
        free(buf);
        buf = NULL;
    }
    else {
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

int config__load(const char *path, struct config **out, struct config_error *err)
{
    char *json, *copy, *dir;
    char abs[PATH_MAX];
    int rc;

    memset(err, 0, sizeof(*err));
    *out = NULL;
    if (!(json = config__read_file(path, err)))
        return -1;
    /* Relative paths in the file are relative to its own directory. */
    copy = strdup(path);
    dir = copy ? dirname(copy) : NULL;
    if (dir && realpath(dir, abs))
        dir = abs;
    rc = dir ? config__parse(json, dir, out, err) : -1;
    if (!dir)
        snprintf(err->msg, sizeof(err->msg), "out of memory");
    /* Absolute, so that a SIGHUP reload finds it whatever the cwd is then. */
    if (rc == 0 && !((*out)->path = realpath(path, NULL)) && !((*out)->path = strdup(path))) {
        config__free(*out);
        *out = NULL;
        rc = -1;
    }
    free(copy);
    free(json);
    return rc;
}

static void config__free_tenant(struct tenant_config *t)
{
    for (size_t i = 0; i < t->graph.n_accounts; i++)
        jsonconf__free(account_fields, N_ELEMS(account_fields), &t->graph.accounts[i]);
    free(t->graph.accounts);
    config__free_strings(t->graph.busy_activities, t->graph.n_busy_activities);
    jsonconf__free(graph_fields, N_ELEMS(graph_fields), &t->graph);
    config_voice__free(&t->voice);
    jsonconf__free(voice_fields, N_ELEMS(voice_fields), &t->voice);
    config__free_strings(t->users, t->n_users);
    free(t->users_file);
    jsonconf__free(tenant_fields, N_ELEMS(tenant_fields), t);
}

void config__free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_tenants; i++)
        config__free_tenant(&cfg->tenants[i]);
    free(cfg->tenants);
    jsonconf__free(mqtt_fields, N_ELEMS(mqtt_fields), &cfg->mqtt);
    jsonconf__free(http_fields, N_ELEMS(http_fields), &cfg->http);
    jsonconf__free(hass_fields, N_ELEMS(hass_fields), &cfg->homeassistant);
    free(cfg->http.listen_host);
    jsonconf__free(top_fields, N_ELEMS(top_fields), cfg);
    free(cfg->path);
    free(cfg);
}

size_t config__total_users(const struct config *cfg)
{
    size_t n = 0;

    for (size_t i = 0; i < cfg->n_tenants; i++)
        n += cfg->tenants[i].n_users;
    return n;
}

size_t config__accounts_needed(size_t n_users)
{
    return (n_users + GRAPH_USERS_PER_ACCOUNT - 1) / GRAPH_USERS_PER_ACCOUNT;
}
