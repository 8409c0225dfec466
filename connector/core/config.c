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
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "core/ids.h"
#include "core/str.h"

#define CONFIG_MAX_BYTES (16 * 1024 * 1024)

struct ctx {
    const char *base_dir;
    struct config_error *err;
};

typedef const char *(*check_fn)(const char *value);

enum field_type {
    FT_STRING, /* char *; NULL when absent and no default */
    FT_PATH,   /* char *, resolved against the config directory, must be readable */
    FT_INT,    /* int within [min, max] */
    FT_SIZE,   /* size_t within [min, max] */
    FT_BOOL,   /* bool */
    FT_SECRET, /* struct secret from KEY_file / KEY_env */
    FT_CUSTOM, /* allowed here, parsed by the caller */
};

#define F_REQUIRED 1u

struct field {
    const char *key;
    enum field_type type;
    size_t off;
    unsigned flags;
    const char *def; /* FT_STRING default */
    long long num;   /* FT_INT/FT_SIZE/FT_BOOL default */
    long long min, max;
    check_fn check; /* FT_STRING extra validation; returns an error or NULL */
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
{
    va_list ap;

    snprintf(c->err->path, sizeof(c->err->path), "%s", path);
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* JSON paths are short; a truncated one is still a useful error. */
static void path_key(char *out, size_t n, const char *path, const char *key)
{
    int r = path[0] ? snprintf(out, n, "%s.%s", path, key) : snprintf(out, n, "%s", key);

    if (r < 0)
        out[0] = '\0';
}

static void path_index(char *out, size_t n, const char *path, size_t i)
{
    if (snprintf(out, n, "%s[%zu]", path, i) < 0)
        out[0] = '\0';
}

/* Absent and null are the same: the contract's example writes nulls. */
static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *item = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

    return cJSON_IsNull(item) ? NULL : item;
}

/* ---- value checks --------------------------------------------------- */

static bool chars_ok(const char *s, const char *extra, bool upper)
{
    if (!s[0])
        return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || strchr(extra, ch) ||
              (upper && ch >= 'A' && ch <= 'Z')))
            return false;
    }
    return true;
}

static bool is_guid(const char *s)
{
    static const int groups[] = {8, 4, 4, 4, 12};

    for (size_t g = 0; g < N_ELEMS(groups); g++) {
        for (int i = 0; i < groups[g]; i++, s++) {
            if (!isxdigit((unsigned char)*s))
                return false;
        }
        if (*s != (g + 1 < N_ELEMS(groups) ? '-' : '\0'))
            return false;
        s++;
    }
    return true;
}

static const char *check_instance(const char *v)
{
    if (strlen(v) > 64 || !chars_ok(v, "._-", true))
        return "must be 1 to 64 characters of [A-Za-z0-9._-]";
    return NULL;
}

static const char *check_tenant_name(const char *v)
{
    if (strlen(v) > 64 || !chars_ok(v, "-", false))
        return "must be 1 to 64 characters of [a-z0-9-]";
    return NULL;
}

static const char *check_guid(const char *v)
{
    return is_guid(v) ? NULL : "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)";
}

static const char *check_tenant_id(const char *v)
{
    if (is_guid(v) || (strlen(v) <= 253 && chars_ok(v, ".-", true)))
        return NULL;
    return "must be a GUID or a domain name";
}

static const char *check_http_url(const char *v)
{
    if ((!strncmp(v, "http://", 7) && v[7]) || (!strncmp(v, "https://", 8) && v[8]))
        return NULL;
    return "must be an http:// or https:// URL";
}

static const char *check_mqtt_url(const char *v)
{
    const char *rest = NULL;

    if (!strncmp(v, "mqtt://", 7))
        rest = v + 7;
    else if (!strncmp(v, "mqtts://", 8))
        rest = v + 8;
    if (!rest)
        return "scheme must be mqtt:// or mqtts://";
    if (!rest[0] || rest[0] == ':' || rest[0] == '/')
        return "has no host";
    return NULL;
}

static const char *check_topic(const char *v, bool may_be_empty)
{
    if (!v[0])
        return may_be_empty ? NULL : "must not be empty";
    if (strpbrk(v, "+#"))
        return "must not contain the MQTT wildcards + or #";
    if (v[0] == '$')
        return "must not start with $ (reserved by the broker)";
    return NULL;
}

static const char *check_prefix(const char *v)
{
    return check_topic(v, true);
}

static const char *check_bridge_topic(const char *v)
{
    const char *e = check_topic(v, false);

    if (!e && (v[0] == '/' || v[strlen(v) - 1] == '/'))
        return "must not start or end with /";
    return e;
}

static const char *check_nonempty(const char *v)
{
    return v[0] ? NULL : "must not be empty";
}

/* Addresses become topic ids (ids.h), so they must encode. */
static const char *check_email(const char *v)
{
    const char *at = strchr(v, '@');
    const char *dom = at ? at + 1 : NULL;
    char id[IDS_MAX_ID];

    if (strlen(v) > IDS_MAX_ADDRESS)
        return "is longer than 320 bytes";
    if (!at || at == v || strchr(dom, '@') || !strchr(dom, '.') || dom[0] == '.' ||
        v[strlen(v) - 1] == '.')
        return "not an e-mail address";
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "not an e-mail address";
    }
    if (ids__encode(v, id, sizeof(id)) < 0)
        return "cannot be encoded as a topic id";
    return NULL;
}

/* ---- the generic table walker --------------------------------------- */

static bool key_matches(const struct field *f, const char *key)
{
    size_t n = strlen(f->key);

    if (!strcmp(f->key, key))
        return true;
    return f->type == FT_SECRET && !strncmp(f->key, key, n) &&
           (!strcmp(key + n, "_file") || !strcmp(key + n, "_env"));
}

static int check_keys(struct ctx *c, const struct field *fs, size_t nf, const cJSON *obj,
                      const char *path)
{
    char p[256];
    const cJSON *it, *prev;

    for (it = obj ? obj->child : NULL; it; it = it->next) {
        size_t i;
        path_key(p, sizeof(p), path, it->string);
        for (prev = obj->child; prev != it; prev = prev->next) {
            if (!strcmp(prev->string, it->string))
                return fail(c, p, "duplicate key");
        }
        for (i = 0; i < nf && !key_matches(&fs[i], it->string); i++)
            ;
        if (i == nf)
            return fail(c, p, "unknown key");
    }
    return 0;
}

static int set_string(struct ctx *c, const struct field *f, const cJSON *item, const char *p,
                      char **dst)
{
    const char *v, *e;

    if (item && !cJSON_IsString(item))
        return fail(c, p, "must be a string");
    v = item ? item->valuestring : f->def;
    if (!v)
        return (f->flags & F_REQUIRED) ? fail(c, p, "missing") : 0;
    if (item && f->check && (e = f->check(v)))
        return fail(c, p, "%s", e);
    *dst = f->type == FT_PATH ? str__path(c->base_dir, v) : strdup(v);
    if (!*dst)
        return fail(c, p, "out of memory");
    if (f->type == FT_PATH && access(*dst, R_OK) < 0)
        return fail(c, p, "cannot read %s: %s", *dst, strerror(errno));
    return 0;
}

static int get_number(struct ctx *c, const struct field *f, const cJSON *item, const char *p,
                      long long *out)
{
    double d;

    *out = f->num;
    if (!item)
        return 0;
    d = cJSON_IsNumber(item) ? item->valuedouble : -1e300;
    if (d < (double)f->min || d > (double)f->max || d != (double)(long long)d) {
        if (f->max >= INT_MAX)
            return fail(c, p, "must be an integer >= %lld", f->min);
        return fail(c, p, "must be an integer from %lld to %lld", f->min, f->max);
    }
    *out = (long long)d;
    return 0;
}

static int set_field(struct ctx *c, const struct field *f, const cJSON *obj, const char *path,
                     void *base)
{
    char p[256];
    const cJSON *item = member(obj, f->key);
    char *dst = (char *)base + f->off;
    long long n;

    path_key(p, sizeof(p), path, f->key);
    switch (f->type) {
    case FT_STRING:
    case FT_PATH:
        return set_string(c, f, item, p, (char **)dst);
    case FT_INT:
    case FT_SIZE:
        if (get_number(c, f, item, p, &n) < 0)
            return -1;
        if (f->type == FT_INT)
            *(int *)dst = (int)n;
        else
            *(size_t *)dst = (size_t)n;
        return 0;
    case FT_BOOL:
        if (item && !cJSON_IsBool(item))
            return fail(c, p, "must be true or false");
        *(bool *)dst = item ? cJSON_IsTrue(item) : f->num != 0;
        return 0;
    case FT_SECRET:
        if (secret__read(obj, f->key, path, c->base_dir, (struct secret *)dst, c->err) < 0)
            return -1;
        if ((f->flags & F_REQUIRED) && !((struct secret *)dst)->value)
            return fail(c, p, "missing; give %s_file or %s_env", f->key, f->key);
        return 0;
    case FT_CUSTOM:
        return 0;
    }
    return 0;
}

/* obj may be NULL (the whole object absent): then every default applies. */
static int parse_fields(struct ctx *c, const struct field *fs, size_t nf, const cJSON *obj,
                        const char *path, void *base)
{
    if (obj && !cJSON_IsObject(obj))
        return fail(c, path, "must be an object");
    if (check_keys(c, fs, nf, obj, path) < 0)
        return -1;
    for (size_t i = 0; i < nf; i++) {
        if (set_field(c, &fs[i], obj, path, base) < 0)
            return -1;
    }
    return 0;
}

static void free_fields(const struct field *fs, size_t nf, void *base)
{
    for (size_t i = 0; i < nf; i++) {
        char *dst = (char *)base + fs[i].off;
        if (fs[i].type == FT_STRING || fs[i].type == FT_PATH)
            free(*(char **)dst);
        else if (fs[i].type == FT_SECRET)
            secret__free((struct secret *)dst);
    }
}

/* ---- the tables ------------------------------------------------------- */

/* clang-format off */
#define STR(s, k, fl, d, chk) {#k, FT_STRING, offsetof(struct s, k), fl, d, 0, 0, 0, chk}
#define PATH(s, k)            {#k, FT_PATH, offsetof(struct s, k), 0, NULL, 0, 0, 0, NULL}
#define INT(s, k, d, lo, hi)  {#k, FT_INT, offsetof(struct s, k), 0, NULL, d, lo, hi, NULL}
#define SECRET(s, k, fl)      {#k, FT_SECRET, offsetof(struct s, k), fl, NULL, 0, 0, 0, NULL}
#define CUSTOM(k)             {k, FT_CUSTOM, 0, 0, NULL, 0, 0, 0, NULL}
/* clang-format on */

static const struct field top_fields[] = {
    CUSTOM("$schema"), /* lets editors find the JSON Schema */
    STR(config, instance, 0, "presence-sync", check_instance),
    CUSTOM("log_level"),
    CUSTOM("mqtt"),
    CUSTOM("http"),
    CUSTOM("tenants"),
    CUSTOM("mapper"),
    CUSTOM("homeassistant"),
    CUSTOM("roles"),
};

static const struct field mqtt_fields[] = {
    STR(mqtt_config, url, 0, "mqtt://127.0.0.1:1883", check_mqtt_url),
    STR(mqtt_config, username, 0, NULL, check_nonempty),
    SECRET(mqtt_config, password, 0),
    PATH(mqtt_config, ca_file),
    STR(mqtt_config, topic_prefix, 0, "", check_prefix),
    STR(mqtt_config, bridge_topic, 0, "presence-sync", check_bridge_topic),
    CUSTOM("protocol"),
    {"escape_dots", FT_BOOL, offsetof(struct mqtt_config, escape_dots), 0, NULL, 0, 0, 0, NULL},
};

static const struct field http_fields[] = {
    STR(http_config, listen, 0, "127.0.0.1:8080", NULL),
    STR(http_config, public_url, F_REQUIRED, NULL, check_http_url),
    PATH(http_config, tls_cert_file),
    PATH(http_config, tls_key_file),
    {"max_body_bytes", FT_SIZE, offsetof(struct http_config, max_body_bytes), 0, NULL, 4194304,
     1024, 1LL << 30, NULL},
};

static const struct field mapper_fields[] = {
    {"enabled", FT_BOOL, offsetof(struct mapper_config, enabled), 0, NULL, 1, 0, 0, NULL},
    INT(mapper_config, settle_seconds, 5, 0, 3600),
};

static const struct field hass_fields[] = {
    {"enabled", FT_BOOL, offsetof(struct hass_config, enabled), 0, NULL, 0, 0, 0, NULL},
    STR(hass_config, prefix, 0, "homeassistant", check_bridge_topic),
};

static const struct field tenant_fields[] = {
    STR(tenant_config, name, F_REQUIRED, NULL, check_tenant_name),
    CUSTOM("users"),
    CUSTOM("users_file"),
    CUSTOM("graph"),
    CUSTOM("voice"),
};

static const struct field graph_fields[] = {
    STR(graph_config, tenant_id, F_REQUIRED, NULL, check_tenant_id),
    STR(graph_config, client_id, F_REQUIRED, NULL, check_guid),
    SECRET(graph_config, client_secret, F_REQUIRED),
    STR(graph_config, login_url, 0, "https://login.microsoftonline.com", check_http_url),
    STR(graph_config, api_url, 0, "https://graph.microsoft.com/v1.0", check_http_url),
    CUSTOM("service_accounts"),
    PATH(graph_config, encryption_cert_file),
    PATH(graph_config, encryption_key_file),
    CUSTOM("busy_activities"),
    INT(graph_config, presence_session_minutes, 15, 5, 240),
    INT(graph_config, resync_minutes, 15, 1, INT_MAX),
};

static const struct field account_fields[] = {
    STR(service_account, username, F_REQUIRED, NULL, check_email),
    SECRET(service_account, password, F_REQUIRED),
};

static const struct field voice_fields[] = {
    STR(voice_config, discovery_url, 0, "https://discover.enreachvoice.com", check_http_url),
    STR(voice_config, api_url, 0, NULL, check_http_url),
    STR(voice_config, username, F_REQUIRED, NULL, check_nonempty),
    SECRET(voice_config, secret_key, F_REQUIRED),
    SECRET(voice_config, webhook_secret, 0),
    INT(voice_config, max_call_minutes, 480, 1, INT_MAX),
    PATH(voice_config, ca_file),
    CUSTOM("talking_request"), /* these three: core/config_voice.c */
    CUSTOM("events"),
    CUSTOM("capture"),
};

/* ---- cross-field rules -------------------------------------------------- */

static int pair_given(struct ctx *c, const char *path, const char *a_key, const char *a,
                      const char *b_key, const char *b)
{
    char p[256];

    if (!a == !b)
        return 0;
    path_key(p, sizeof(p), path, a ? b_key : a_key);
    return fail(c, p, "missing; %s and %s must be given together", a_key, b_key);
}

/* "host:port" or "[v6]:port" */
static int parse_listen(struct ctx *c, struct http_config *h)
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
        return fail(c, "http.listen", "must be \"host:port\" or \"[ipv6]:port\" with port 1-65535");
    h->listen_host = strndup(host, (size_t)(end - host));
    h->listen_port = (int)n;
    return h->listen_host ? 0 : fail(c, "http.listen", "out of memory");
}

static int parse_protocol(struct ctx *c, const cJSON *mqtt, struct mqtt_config *m)
{
    const cJSON *p = member(mqtt, "protocol");

    m->protocol = 5;
    if (!p)
        return 0;
    if (cJSON_IsString(p) && !strcmp(p->valuestring, "5"))
        return 0;
    if (cJSON_IsString(p) && !strcmp(p->valuestring, "3.1.1")) {
        m->protocol = 4;
        return 0;
    }
    return fail(c, "mqtt.protocol", "must be \"5\" or \"3.1.1\"");
}

static int parse_log_level(struct ctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *l = member(root, "log_level");

    cfg->log_level = PS_LOG_INFO;
    if (!l)
        return 0;
    if (!cJSON_IsString(l) || log__parse_level(l->valuestring, &cfg->log_level) < 0)
        return fail(c, "log_level", "must be one of \"error\", \"warn\", \"info\", \"debug\"");
    return 0;
}

static int parse_mqtt(struct ctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *m = member(root, "mqtt");

    if (parse_fields(c, mqtt_fields, N_ELEMS(mqtt_fields), m, "mqtt", &cfg->mqtt) < 0 ||
        parse_protocol(c, m, &cfg->mqtt) < 0)
        return -1;
    if (cfg->mqtt.password.value && !cfg->mqtt.username)
        return fail(c, "mqtt.username", "missing; a password needs a username");
    /* The broker that needs escape_dots would rewrite these too. */
    if (cfg->mqtt.escape_dots && strchr(cfg->mqtt.topic_prefix, '.'))
        return fail(c, "mqtt.topic_prefix", "must not contain '.' when mqtt.escape_dots is true");
    if (cfg->mqtt.escape_dots && strchr(cfg->mqtt.bridge_topic, '.'))
        return fail(c, "mqtt.bridge_topic", "must not contain '.' when mqtt.escape_dots is true");
    return 0;
}

int config__set_listen(struct config *cfg, const char *listen, struct config_error *err)
{
    struct ctx c = {NULL, err};
    struct http_config h = cfg->http;

    memset(err, 0, sizeof(*err));
    if (!(h.listen = strdup(listen)))
        return fail(&c, "http.listen", "out of memory");
    h.listen_host = NULL;
    if (parse_listen(&c, &h) < 0) {
        free(h.listen);
        return -1;
    }
    free(cfg->http.listen);
    free(cfg->http.listen_host);
    cfg->http = h;
    return 0;
}

static const char *const role_names[] = {"graph", "voice", "mapper"};

int config__parse_roles(const char *s, unsigned *roles)
{
    const char *p = s;

    do {
        size_t n = strcspn(p, ",");
        unsigned r = 0;
        if (n == 3 && !strncmp(p, "all", 3))
            r = CONFIG_ROLE_ALL;
        for (size_t i = 0; i < N_ELEMS(role_names); i++) {
            if (n == strlen(role_names[i]) && !strncmp(p, role_names[i], n))
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
    for (size_t i = 0; i < N_ELEMS(role_names); i++) {
        if (roles & (1u << i) && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", role_names[i]);
    }
    return buf;
}

/* "roles": ["graph", "voice"] (or "all"); absent: all. */
static int parse_config_roles(struct ctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *arr = member(root, "roles"), *it;
    char p[64];
    size_t i = 0;

    cfg->roles = CONFIG_ROLE_ALL;
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return fail(c, "roles",
                    "must be a non-empty array of \"graph\", \"voice\", \"mapper\", \"all\"");
    cfg->roles = 0;
    cJSON_ArrayForEach(it, arr)
    {
        path_index(p, sizeof(p), "roles", i++);
        if (!cJSON_IsString(it) || strchr(it->valuestring, ',') ||
            config__parse_roles(it->valuestring, &cfg->roles) < 0)
            return fail(c, p, "must be \"graph\", \"voice\", \"mapper\" or \"all\"");
    }
    return 0;
}

static int parse_http(struct ctx *c, const cJSON *root, struct config *cfg)
{
    struct http_config *h = &cfg->http;

    if (parse_fields(c, http_fields, N_ELEMS(http_fields), member(root, "http"), "http", h) < 0 ||
        parse_listen(c, h) < 0)
        return -1;
    return pair_given(c, "http", "tls_cert_file", h->tls_cert_file, "tls_key_file",
                      h->tls_key_file);
}

/* A plain array of non-empty strings, copied. */
static int parse_strings(struct ctx *c, const cJSON *arr, const char *path, check_fn check,
                         char ***out, size_t *n)
{
    char p[256];
    const cJSON *it;
    const char *e;
    size_t i = 0;

    if (!cJSON_IsArray(arr))
        return fail(c, path, "must be an array of strings");
    *out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
    if (!*out)
        return fail(c, path, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        path_index(p, sizeof(p), path, i);
        if (!cJSON_IsString(it))
            return fail(c, p, "must be a string");
        if ((e = check(it->valuestring)))
            return fail(c, p, "%s (\"%.100s\")", e, it->valuestring);
        if (!((*out)[i] = strdup(it->valuestring)))
            return fail(c, p, "out of memory");
        *n = ++i;
    }
    return 0;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int parse_busy(struct ctx *c, const cJSON *graph, const char *path, struct graph_config *g)
{
    static const char *defs[] = {"InACall", "InAConferenceCall", "Presenting"};
    const cJSON *b = member(graph, "busy_activities");
    char p[256];

    path_key(p, sizeof(p), path, "busy_activities");
    if (b) {
        if (parse_strings(c, b, p, check_nonempty, &g->busy_activities, &g->n_busy_activities) < 0)
            return -1;
        return g->n_busy_activities ? 0 : fail(c, p, "must not be empty");
    }
    g->busy_activities = calloc(N_ELEMS(defs), sizeof(char *));
    for (size_t i = 0; g->busy_activities && i < N_ELEMS(defs); i++) {
        if (!(g->busy_activities[i] = strdup(defs[i])))
            return fail(c, p, "out of memory");
        g->n_busy_activities = i + 1;
    }
    return g->busy_activities ? 0 : fail(c, p, "out of memory");
}

static int parse_accounts(struct ctx *c, const cJSON *graph, const char *path,
                          struct graph_config *g)
{
    const cJSON *arr = member(graph, "service_accounts"), *it;
    char p[256], q[256];

    path_key(p, sizeof(p), path, "service_accounts");
    if (!arr)
        return fail(c, p, "missing");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return fail(c, p, "must be a non-empty array of {\"username\", \"password_file\"}");
    g->accounts = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*g->accounts));
    if (!g->accounts)
        return fail(c, p, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        struct service_account *a = &g->accounts[g->n_accounts];
        path_index(q, sizeof(q), p, g->n_accounts++);
        if (parse_fields(c, account_fields, N_ELEMS(account_fields), it, q, a) < 0)
            return -1;
        for (size_t j = 0; j + 1 < g->n_accounts; j++) {
            if (!strcasecmp(g->accounts[j].username, a->username))
                return fail(c, q, "duplicate service account \"%s\" (same as %s[%zu])", a->username,
                            p, j);
        }
    }
    return 0;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0; /* never prompt on a terminal */
}

static int check_rsa_key(struct ctx *c, const char *kp, const char *file, EVP_PKEY *k)
{
    int bits;

    if (!k)
        return fail(c, kp, "%s is not an unencrypted PEM private key", file);
    if (!EVP_PKEY_is_a(k, "RSA"))
        return fail(c, kp, "%s is not an RSA key", file);
    bits = EVP_PKEY_get_bits(k);
    if (bits < 2048 || bits > 4096)
        return fail(c, kp, "%s: RSA key has %d bits; 2048 to 4096 are accepted", file, bits);
    return 0;
}

/* Graph encrypts resource data to this certificate; a wrong pair would only
 * show up at the first notification, so check it now. */
static X509 *load_cert(const char *file)
{
    FILE *f = fopen(file, "r");
    X509 *x = NULL;

    if (f) {
        x = PEM_read_X509(f, NULL, no_passphrase, NULL);
        fclose(f);
    }
    return x;
}

static EVP_PKEY *load_key(const char *file)
{
    FILE *f = fopen(file, "r");
    EVP_PKEY *k = NULL;
    struct stat st;

    if (f) {
        if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
            LOG_WARN("config", "private key file is readable by group or others file=%s", file);
        k = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
        fclose(f);
    }
    return k;
}

static int check_encryption(struct ctx *c, const char *path, const struct graph_config *g)
{
    char cp[256], kp[256];
    X509 *x = load_cert(g->encryption_cert_file);
    EVP_PKEY *k = load_key(g->encryption_key_file);
    int rc = -1;

    path_key(cp, sizeof(cp), path, "encryption_cert_file");
    path_key(kp, sizeof(kp), path, "encryption_key_file");
    if (!x)
        fail(c, cp, "%s is not a PEM X.509 certificate", g->encryption_cert_file);
    else if (check_rsa_key(c, kp, g->encryption_key_file, k) == 0) {
        if (X509_check_private_key(x, k) != 1)
            fail(c, kp, "does not match the certificate in encryption_cert_file");
        else
            rc = 0;
        if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
            LOG_WARN("config", "encryption certificate has expired file=%s",
                     g->encryption_cert_file);
    }
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

static int parse_graph(struct ctx *c, const cJSON *tenant, const char *tpath,
                       struct graph_config *g)
{
    const cJSON *obj = member(tenant, "graph");
    char p[256];

    path_key(p, sizeof(p), tpath, "graph");
    if (!obj)
        return fail(c, p, "missing");
    if (parse_fields(c, graph_fields, N_ELEMS(graph_fields), obj, p, g) < 0 ||
        parse_accounts(c, obj, p, g) < 0 || parse_busy(c, obj, p, g) < 0 ||
        pair_given(c, p, "encryption_cert_file", g->encryption_cert_file, "encryption_key_file",
                   g->encryption_key_file) < 0)
        return -1;
    return g->encryption_cert_file ? check_encryption(c, p, g) : 0;
}

static int parse_voice(struct ctx *c, const cJSON *tenant, const char *tpath,
                       struct voice_config *v)
{
    const cJSON *obj = member(tenant, "voice");
    char p[256];

    path_key(p, sizeof(p), tpath, "voice");
    if (!obj)
        return fail(c, p, "missing");
    if (parse_fields(c, voice_fields, N_ELEMS(voice_fields), obj, p, v) < 0)
        return -1;
    return config_voice__parse(obj, p, c->base_dir, v, c->err);
}

/* ---- users ---------------------------------------------------------------- */

/* Where each address came from, for error messages. */
struct user_src {
    const char *tpath; /* tenants[i] */
    const char *file;  /* NULL: inline "users" array */
    int *lines;        /* line numbers in file */
};

static void user_pos(const struct user_src *s, size_t i, char *out, size_t n)
{
    if (s->file)
        snprintf(out, n, "line %d", s->lines[i]);
    else
        snprintf(out, n, "%s.users[%zu]", s->tpath, i);
}

static int user_fail(struct ctx *c, const struct user_src *s, size_t i, const char *msg)
{
    char p[256];

    if (!s->file) {
        user_pos(s, i, p, sizeof(p));
        return fail(c, p, "%s", msg);
    }
    path_key(p, sizeof(p), s->tpath, "users_file");
    return fail(c, p, "%s:%d: %s", s->file, s->lines[i], msg);
}

static void trim(char *s)
{
    size_t n = strlen(s), start = 0;

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (isspace((unsigned char)s[start]))
        start++;
    memmove(s, s + start, n - start + 1);
}

static int push_user(struct tenant_config *t, int **lines, size_t *cap, const char *addr, int ln)
{
    if (t->n_users == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        char **u = realloc(t->users, ncap * sizeof(char *));
        int *l = u ? realloc(*lines, ncap * sizeof(int)) : NULL;
        if (u)
            t->users = u;
        if (!l)
            return -1;
        *lines = l;
        *cap = ncap;
    }
    if (!(t->users[t->n_users] = strdup(addr)))
        return -1;
    (*lines)[t->n_users++] = ln;
    return 0;
}

/* One address a line; blank lines and lines starting with # are skipped. */
static int read_users_file(struct ctx *c, const char *p, struct tenant_config *t, int **lines)
{
    FILE *f = fopen(t->users_file, "r");
    char *line = NULL;
    size_t len = 0, cap = 0;
    int ln = 0, rc = 0;

    if (!f)
        return fail(c, p, "cannot read %s: %s", t->users_file, strerror(errno));
    while (rc == 0 && getline(&line, &len, f) >= 0) {
        ln++;
        trim(line);
        if (line[0] && line[0] != '#' && push_user(t, lines, &cap, line, ln) < 0)
            rc = fail(c, p, "out of memory");
    }
    if (rc == 0 && ferror(f))
        rc = fail(c, p, "cannot read %s: %s", t->users_file, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

static int cmp_user(const void *a, const void *b, void *users)
{
    char **u = users;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int r = strcasecmp(u[ia], u[ib]);

    return r ? r : (ia > ib) - (ia < ib);
}

/* Reports the earliest second occurrence of any address, naming both. */
static int check_duplicates(struct ctx *c, const struct user_src *s, struct tenant_config *t)
{
    size_t *idx = malloc((t->n_users + 1) * sizeof(size_t));
    size_t first = 0, second = SIZE_MAX;
    char what[256], msg[512];

    if (!idx)
        return fail(c, s->tpath, "out of memory");
    for (size_t i = 0; i < t->n_users; i++)
        idx[i] = i;
    qsort_r(idx, t->n_users, sizeof(size_t), cmp_user, t->users);
    for (size_t i = 1; i < t->n_users; i++) {
        bool group_start = i < 2 || strcasecmp(t->users[idx[i - 2]], t->users[idx[i - 1]]);
        if (group_start && !strcasecmp(t->users[idx[i - 1]], t->users[idx[i]]) && idx[i] < second) {
            first = idx[i - 1];
            second = idx[i];
        }
    }
    free(idx);
    if (second == SIZE_MAX)
        return 0;
    user_pos(s, first, what, sizeof(what));
    snprintf(msg, sizeof(msg), "duplicate \"%.100s\" (same as %s)", t->users[second], what);
    return user_fail(c, s, second, msg);
}

static int load_users(struct ctx *c, const cJSON *tobj, const char *tpath, struct tenant_config *t,
                      int **lines)
{
    const cJSON *u = member(tobj, "users"), *uf = member(tobj, "users_file");
    char p[256];
    size_t cap = 0, i = 0;
    const cJSON *it;

    path_key(p, sizeof(p), tpath, uf ? "users_file" : "users");
    if (u && uf)
        return fail(c, p, "give either users or users_file, not both");
    if (!u && !uf)
        return fail(c, p, "missing; give users or users_file");
    if (uf) {
        if (!cJSON_IsString(uf) || !uf->valuestring[0])
            return fail(c, p, "must be a non-empty string");
        if (!(t->users_file = str__path(c->base_dir, uf->valuestring)))
            return fail(c, p, "out of memory");
        return read_users_file(c, p, t, lines);
    }
    if (!cJSON_IsArray(u))
        return fail(c, p, "must be an array of e-mail addresses");
    cJSON_ArrayForEach(it, u)
    {
        char q[256];
        path_index(q, sizeof(q), p, i++);
        if (!cJSON_IsString(it))
            return fail(c, q, "must be a string");
        if (push_user(t, lines, &cap, it->valuestring, 0) < 0)
            return fail(c, q, "out of memory");
    }
    return 0;
}

static int check_capacity(struct ctx *c, const char *tpath, const struct tenant_config *t)
{
    char p[256];
    size_t need = config__accounts_needed(t->n_users);

    if (t->n_users <= (size_t)GRAPH_USERS_PER_ACCOUNT * t->graph.n_accounts)
        return 0;
    path_key(p, sizeof(p), tpath, "graph.service_accounts");
    return fail(c, p, "%zu users need %zu service account%s (%d each); %zu configured", t->n_users,
                need, need == 1 ? "" : "s", GRAPH_USERS_PER_ACCOUNT, t->graph.n_accounts);
}

static int parse_users(struct ctx *c, const cJSON *tobj, const char *tpath, struct tenant_config *t)
{
    int *lines = NULL;
    struct user_src s = {tpath, NULL, NULL};
    const char *e;
    char msg[256];
    int rc = load_users(c, tobj, tpath, t, &lines);

    s.file = t->users_file;
    s.lines = lines;
    for (size_t i = 0; rc == 0 && i < t->n_users; i++) {
        if ((e = check_email(t->users[i]))) {
            snprintf(msg, sizeof(msg), "%s (\"%.100s\")", e, t->users[i]);
            rc = user_fail(c, &s, i, msg);
        }
    }
    if (rc == 0 && t->n_users == 0) {
        char p[256];
        path_key(p, sizeof(p), tpath, t->users_file ? "users_file" : "users");
        rc = fail(c, p, "no users listed");
    }
    if (rc == 0)
        rc = check_duplicates(c, &s, t);
    free(lines);
    return rc;
}

/* ---- tenants ------------------------------------------------------------- */

static int parse_tenant(struct ctx *c, const cJSON *obj, const char *p, struct tenant_config *t)
{
    if (!cJSON_IsObject(obj))
        return fail(c, p, "must be an object");
    if (parse_fields(c, tenant_fields, N_ELEMS(tenant_fields), obj, p, t) < 0 ||
        parse_users(c, obj, p, t) < 0 || parse_graph(c, obj, p, &t->graph) < 0 ||
        parse_voice(c, obj, p, &t->voice) < 0)
        return -1;
    return check_capacity(c, p, t);
}

/* Topic ids carry no tenant, so one address in two tenants would share topics. */
static int check_cross_tenant(struct ctx *c, const struct config *cfg, size_t ti)
{
    const struct tenant_config *t = &cfg->tenants[ti];
    char p[256];

    for (size_t a = 0; a < ti; a++) {
        const struct tenant_config *o = &cfg->tenants[a];
        for (size_t i = 0; i < t->n_users; i++) {
            for (size_t j = 0; j < o->n_users; j++) {
                if (strcasecmp(t->users[i], o->users[j]))
                    continue;
                snprintf(p, sizeof(p), "tenants[%zu].%s", ti,
                         t->users_file ? "users_file" : "users");
                return fail(c, p,
                            "\"%s\" is also a user of tenant \"%s\"; a user belongs to one tenant",
                            t->users[i], o->name);
            }
        }
    }
    return 0;
}

static int parse_tenants(struct ctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *arr = member(root, "tenants"), *it;
    char p[256];

    if (!arr)
        return fail(c, "tenants", "missing");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return fail(c, "tenants", "must be a non-empty array");
    cfg->tenants = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*cfg->tenants));
    if (!cfg->tenants)
        return fail(c, "tenants", "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        size_t i = cfg->n_tenants++;
        path_index(p, sizeof(p), "tenants", i);
        if (parse_tenant(c, it, p, &cfg->tenants[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(cfg->tenants[j].name, cfg->tenants[i].name)) {
                char q[256];
                path_key(q, sizeof(q), p, "name");
                return fail(c, q, "duplicate \"%s\" (same as tenants[%zu].name)",
                            cfg->tenants[i].name, j);
            }
        }
        if (check_cross_tenant(c, cfg, i) < 0)
            return -1;
    }
    return 0;
}

/* ---- entry points -------------------------------------------------------- */

static int parse_root(struct ctx *c, const cJSON *root, struct config *cfg)
{
    if (!cJSON_IsObject(root))
        return fail(c, "", "the top level must be a JSON object");
    if (parse_fields(c, top_fields, N_ELEMS(top_fields), root, "", cfg) < 0 ||
        parse_log_level(c, root, cfg) < 0 || parse_mqtt(c, root, cfg) < 0 ||
        parse_http(c, root, cfg) < 0)
        return -1;
    if (parse_fields(c, mapper_fields, N_ELEMS(mapper_fields), member(root, "mapper"), "mapper",
                     &cfg->mapper) < 0 ||
        parse_fields(c, hass_fields, N_ELEMS(hass_fields), member(root, "homeassistant"),
                     "homeassistant", &cfg->homeassistant) < 0 ||
        parse_config_roles(c, root, cfg) < 0)
        return -1;
    if (cfg->mqtt.escape_dots && strchr(cfg->homeassistant.prefix, '.'))
        return fail(c, "homeassistant.prefix",
                    "must not contain '.' when mqtt.escape_dots is true");
    return parse_tenants(c, root, cfg);
}

static void json_error_at(struct ctx *c, const char *json, const char *at)
{
    int line = 1, col = 1;

    for (const char *p = json; at && p < at && *p; p++) {
        col = *p == '\n' ? 1 : col + 1;
        line += *p == '\n';
    }
    fail(c, "", "invalid JSON at line %d, column %d", line, col);
}

int config__parse(const char *json, const char *base_dir, struct config **out,
                  struct config_error *err)
{
    struct ctx c = {base_dir, err};
    const char *end = NULL;
    cJSON *root;
    struct config *cfg;

    memset(err, 0, sizeof(*err));
    *out = NULL;
    /* strict like core/json.c (nothing after the value), and with the
     * position of an error for the message */
    root = cJSON_ParseWithOpts(json, &end, true);
    if (!root) {
        json_error_at(&c, json, end ? end : cJSON_GetErrorPtr());
        return -1;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg || parse_root(&c, root, cfg) < 0) {
        if (!cfg)
            fail(&c, "", "out of memory");
        cJSON_Delete(root);
        config__free(cfg);
        return -1;
    }
    cJSON_Delete(root);
    *out = cfg;
    return 0;
}

static char *read_file(const char *path, struct config_error *err)
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
    if (!(json = read_file(path, err)))
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

static void free_tenant(struct tenant_config *t)
{
    for (size_t i = 0; i < t->graph.n_accounts; i++)
        free_fields(account_fields, N_ELEMS(account_fields), &t->graph.accounts[i]);
    free(t->graph.accounts);
    free_strings(t->graph.busy_activities, t->graph.n_busy_activities);
    free_fields(graph_fields, N_ELEMS(graph_fields), &t->graph);
    config_voice__free(&t->voice);
    free_fields(voice_fields, N_ELEMS(voice_fields), &t->voice);
    free_strings(t->users, t->n_users);
    free(t->users_file);
    free_fields(tenant_fields, N_ELEMS(tenant_fields), t);
}

void config__free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_tenants; i++)
        free_tenant(&cfg->tenants[i]);
    free(cfg->tenants);
    free_fields(mqtt_fields, N_ELEMS(mqtt_fields), &cfg->mqtt);
    free_fields(http_fields, N_ELEMS(http_fields), &cfg->http);
    free_fields(hass_fields, N_ELEMS(hass_fields), &cfg->homeassistant);
    free(cfg->http.listen_host);
    free_fields(top_fields, N_ELEMS(top_fields), cfg);
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

/* ---- check-config summary ---------------------------------------------- */

/* Counts the secrets read; at debug level also logs where each came from
 * (the source, never the value). */
static size_t note_secret(const char *what, size_t i, const char *name, const struct secret *s)
{
    if (!s->value)
        return 0;
    LOG_DEBUG("config", "secret read key=%s[%zu].%s source=%s", what, i, name,
              s->source ? s->source : "?");
    return 1;
}

static size_t count_secrets(const struct config *cfg)
{
    size_t n = note_secret("mqtt", 0, "password", &cfg->mqtt.password);

    for (size_t i = 0; i < cfg->n_tenants; i++) {
        const struct tenant_config *t = &cfg->tenants[i];
        n += note_secret("tenants", i, "graph.client_secret", &t->graph.client_secret);
        n += note_secret("tenants", i, "voice.secret_key", &t->voice.secret_key);
        n += note_secret("tenants", i, "voice.webhook_secret", &t->voice.webhook_secret);
        for (size_t j = 0; j < t->graph.n_accounts; j++)
            n += note_secret("tenants", i, "graph.service_accounts[].password",
                             &t->graph.accounts[j].password);
    }
    return n;
}

/* How the tenant's GUID is known: notifications and token issuers always
 * carry the GUID (docs/graph.md, "Tenant id and signing keys"). check-config
 * reads nothing from the network, so a domain says where it will be read. */
static void print_tenant_id(const struct graph_config *g, FILE *out)
{
    size_t n = strlen(g->login_url);
    while (n && g->login_url[n - 1] == '/')
        n--;
    if (is_guid(g->tenant_id))
        fprintf(out, "  tenant:   id %s (a GUID, as configured)\n", g->tenant_id);
    else
        fprintf(out,
                "  tenant:   %s is a domain: its GUID is resolved at start from the issuer of "
                "%.*s/%s/v2.0/.well-known/openid-configuration (shown in B/health)\n",
                g->tenant_id, (int)n, g->login_url, g->tenant_id);
}

static void print_tenant(const struct tenant_config *t, FILE *out)
{
    const struct graph_config *g = &t->graph;
    const struct voice_config *v = &t->voice;

    fprintf(out, "tenant %s: %zu users%s%s\n", t->name, t->n_users, t->users_file ? " from " : "",
            t->users_file ? t->users_file : "");
    fprintf(out, "  graph:    tenant %s, client %s, api %s\n", g->tenant_id, g->client_id,
            g->api_url);
    print_tenant_id(g, out);
    fprintf(out, "  accounts: %zu (", g->n_accounts);
    for (size_t i = 0; i < g->n_accounts; i++)
        fprintf(out, "%s%s", i ? ", " : "", g->accounts[i].username);
    fprintf(out, "), capacity %zu users (%d per account)\n",
            g->n_accounts * GRAPH_USERS_PER_ACCOUNT, GRAPH_USERS_PER_ACCOUNT);
    fprintf(out, "  notify:   encryption %s, session %d min, resync every %d min\n",
            g->encryption_cert_file ? "on" : "off", g->presence_session_minutes, g->resync_minutes);
    if (!g->encryption_cert_file)
        fprintf(out, "  warning:  %s\n", CONFIG_BASIC_NOTICE);
    if (v->api_url)
        fprintf(out, "  voice:    api %s (no discovery), user %s\n", v->api_url, v->username);
    else
        fprintf(out, "  voice:    discovery %s, user %s\n", v->discovery_url, v->username);
    fprintf(out, "  webhook:  %s\n", v->webhook_secret.value ? "on" : "off");
    if (v->talking.mode == TALKING_TEMPLATE)
        fprintf(out, "  talking:  %s %s\n", v->talking.method, v->talking.path);
    else if (v->talking.mode == TALKING_AVAILABILITY)
        fprintf(out, "  talking:  availability, EventTypeID %d, EventSource \"%s\"\n",
                v->talking.event_type_id, v->talking.event_source);
    else
        fprintf(out, "  talking:  off\n");
    fprintf(out, "  events:   %zu connected, %zu disconnected, %zu user status%s%s\n",
            v->events.connected.n, v->events.disconnected.n, v->events.user_status.n,
            v->events.status_field ? ", rule on " : "",
            v->events.status_field ? v->events.status_field : "");
    if (v->capture.file)
        fprintf(out, "  capture:  %s, %d per event\n", v->capture.file, v->capture.count);
    const char *w = config_voice__warning(v);
    if (w)
        fprintf(out, "  warning:  voice.%s\n", w);
}

/* A setup clearly meant for tests: the webhook on a loopback address, or
 * every tenant's Graph reached over plain http (a simulator). */
static bool is_test_setup(const struct config *cfg)
{
    const char *u = cfg->http.public_url;
    const char *host = strstr(u, "://");
    host = host ? host + 3 : u;
    if (!strncmp(host, "127.", 4) || !strncasecmp(host, "localhost", 9) ||
        !strncmp(host, "[::1]", 5))
        return true;
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        if (strncmp(cfg->tenants[i].graph.api_url, "http://", 7) != 0)
            return false;
    }
    return cfg->n_tenants > 0;
}

void config__print_summary(const struct config *cfg, FILE *out)
{
    const struct mqtt_config *m = &cfg->mqtt;
    const struct http_config *h = &cfg->http;

    fprintf(out, "config %s: OK\n", cfg->path ? cfg->path : "(inline)");
    fprintf(out, "instance: %s, log_level %s\n", cfg->instance, log__level_name(cfg->log_level));
    fprintf(out, "mqtt:     %s, protocol %s, user %s%s, prefix \"%s\", bridge topic %s\n", m->url,
            m->protocol == 4 ? "3.1.1" : "5", m->username ? m->username : "(none)",
            m->password.value ? " with password" : "", m->topic_prefix, m->bridge_topic);
    fprintf(out, "http:     listen %s, public_url %s, tls %s, max body %zu bytes\n", h->listen,
            h->public_url, h->tls_cert_file ? "on" : "off", h->max_body_bytes);
    if (!strncmp(h->public_url, "http://", 7) && (cfg->roles & CONFIG_ROLE_GRAPH) &&
        !is_test_setup(cfg))
        fprintf(out, "warning:  http.public_url is http://: Graph accepts only https:// "
                     "notification URLs, so no subscription can be created (docs/graph.md)\n");
    fprintf(out, "mapper:   %s, settle %d s\n", cfg->mapper.enabled ? "enabled" : "disabled",
            cfg->mapper.settle_seconds);
    char roles[64];
    fprintf(out, "roles:    %s; mqtt escape_dots %s; homeassistant %s%s\n",
            config__roles_name(cfg->roles, roles, sizeof(roles)), m->escape_dots ? "on" : "off",
            cfg->homeassistant.enabled ? "on, prefix " : "off",
            cfg->homeassistant.enabled ? cfg->homeassistant.prefix : "");
    for (size_t i = 0; i < cfg->n_tenants; i++)
        print_tenant(&cfg->tenants[i], out);
    fprintf(out, "users: %zu in %zu tenant%s; secrets: %zu read\n", config__total_users(cfg),
            cfg->n_tenants, cfg->n_tenants == 1 ? "" : "s", count_secrets(cfg));
}
