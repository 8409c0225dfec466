/* The table walker and value checks of the configuration; see
 * core/jsonconf.h.
 */
#include "core/jsonconf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ids.h"
#include "core/str.h"

int jsonconf__fail(struct jsonconf *c, const char *path, const char *fmt, ...)
{
    va_list ap;

    snprintf(c->err->path, sizeof(c->err->path), "%s", path);
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* JSON paths are short; a truncated one is still a useful error. */
void jsonconf__path_key(char *out, size_t n, const char *path, const char *key)
{
    int r = path[0] ? snprintf(out, n, "%s.%s", path, key) : snprintf(out, n, "%s", key);

    if (r < 0)
        out[0] = '\0';
}

void jsonconf__path_index(char *out, size_t n, const char *path, size_t i)
{
    if (snprintf(out, n, "%s[%zu]", path, i) < 0)
        out[0] = '\0';
}

/* Absent and null are the same: the contract's example writes nulls. */
const cJSON *jsonconf__member(const cJSON *obj, const char *key)
{
    const cJSON *item = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

    return cJSON_IsNull(item) ? NULL : item;
}

/* ---- value checks --------------------------------------------------- */

static bool jsonconf__chars_ok(const char *s, const char *extra, bool upper)
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

bool jsonconf__is_guid(const char *s)
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

const char *jsonconf__check_instance(const char *v)
{
    if (strlen(v) > 64 || !jsonconf__chars_ok(v, "._-", true))
        return "must be 1 to 64 characters of [A-Za-z0-9._-]";
    return NULL;
}

const char *jsonconf__check_tenant_name(const char *v)
{
    if (strlen(v) > 64 || !jsonconf__chars_ok(v, "-", false))
        return "must be 1 to 64 characters of [a-z0-9-]";
    return NULL;
}

const char *jsonconf__check_guid(const char *v)
{
    return jsonconf__is_guid(v) ? NULL : "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)";
}

const char *jsonconf__check_tenant_id(const char *v)
{
    if (jsonconf__is_guid(v) || (strlen(v) <= 253 && jsonconf__chars_ok(v, ".-", true)))
        return NULL;
    return "must be a GUID or a domain name";
}

const char *jsonconf__check_http_url(const char *v)
{
    if ((!strncmp(v, "http://", 7) && v[7]) || (!strncmp(v, "https://", 8) && v[8]))
        return NULL;
    return "must be an http:// or https:// URL";
}

const char *jsonconf__check_mqtt_url(const char *v)
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

static const char *jsonconf__check_topic(const char *v, bool may_be_empty)
{
    if (!v[0])
        return may_be_empty ? NULL : "must not be empty";
    if (strpbrk(v, "+#"))
        return "must not contain the MQTT wildcards + or #";
    if (v[0] == '$')
        return "must not start with $ (reserved by the broker)";
    return NULL;
}

const char *jsonconf__check_prefix(const char *v)
{
    return jsonconf__check_topic(v, true);
}

const char *jsonconf__check_bridge_topic(const char *v)
{
    const char *e = jsonconf__check_topic(v, false);

    if (!e && (v[0] == '/' || v[strlen(v) - 1] == '/'))
        return "must not start or end with /";
    return e;
}

const char *jsonconf__check_nonempty(const char *v)
{
    return v[0] ? NULL : "must not be empty";
}

/* Addresses become topic ids (ids.h), so they must encode. */
const char *jsonconf__check_email(const char *v)
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

static bool jsonconf__key_matches(const struct jsonconf_field *f, const char *key)
{
    size_t n = strlen(f->key);

    if (!strcmp(f->key, key))
        return true;
    return f->type == FT_SECRET && !strncmp(f->key, key, n) &&
           (!strcmp(key + n, "_file") || !strcmp(key + n, "_env"));
}

static int jsonconf__check_keys(struct jsonconf *c, const struct jsonconf_field *fs, size_t nf,
                                const cJSON *obj, const char *path)
{
    char p[256];
    const cJSON *it, *prev;

    for (it = obj ? obj->child : NULL; it; it = it->next) {
        size_t i;
        jsonconf__path_key(p, sizeof(p), path, it->string);
        for (prev = obj->child; prev != it; prev = prev->next) {
            if (!strcmp(prev->string, it->string))
                return jsonconf__fail(c, p, "duplicate key");
        }
        for (i = 0; i < nf && !jsonconf__key_matches(&fs[i], it->string); i++)
            ;
        if (i == nf)
            return jsonconf__fail(c, p, "unknown key");
    }
    return 0;
}

static int jsonconf__set_string(struct jsonconf *c, const struct jsonconf_field *f,
                                const cJSON *item, const char *p, char **dst)
{
    const char *v, *e;

    if (item && !cJSON_IsString(item))
        return jsonconf__fail(c, p, "must be a string");
    v = item ? item->valuestring : f->def;
    if (!v)
        return (f->flags & F_REQUIRED) ? jsonconf__fail(c, p, "missing") : 0;
    if (item && f->check && (e = f->check(v)))
        return jsonconf__fail(c, p, "%s", e);
    *dst = f->type == FT_PATH ? str__path(c->base_dir, v) : strdup(v);
    if (!*dst)
        return jsonconf__fail(c, p, "out of memory");
    if (f->type == FT_PATH && access(*dst, R_OK) < 0)
        return jsonconf__fail(c, p, "cannot read %s: %s", *dst, strerror(errno));
    return 0;
}

static int jsonconf__get_number(struct jsonconf *c, const struct jsonconf_field *f,
                                const cJSON *item, const char *p, long long *out)
{
    double d;

    *out = f->num;
    if (!item)
        return 0;
    d = cJSON_IsNumber(item) ? item->valuedouble : -1e300;
    if (d < (double)f->min || d > (double)f->max || d != (double)(long long)d) {
        if (f->max >= INT_MAX)
            return jsonconf__fail(c, p, "must be an integer >= %lld", f->min);
        return jsonconf__fail(c, p, "must be an integer from %lld to %lld", f->min, f->max);
    }
    *out = (long long)d;
    return 0;
}

static int jsonconf__set_field(struct jsonconf *c, const struct jsonconf_field *f, const cJSON *obj,
                               const char *path, void *base)
{
    char p[256];
    const cJSON *item = jsonconf__member(obj, f->key);
    char *dst = (char *)base + f->off;
    long long n;

    jsonconf__path_key(p, sizeof(p), path, f->key);
    switch (f->type) {
    case FT_STRING:
    case FT_PATH:
        return jsonconf__set_string(c, f, item, p, (char **)dst);
    case FT_INT:
    case FT_SIZE:
        if (jsonconf__get_number(c, f, item, p, &n) < 0)
            return -1;
        if (f->type == FT_INT)
            *(int *)dst = (int)n;
        else
            *(size_t *)dst = (size_t)n;
        return 0;
    case FT_BOOL:
        if (item && !cJSON_IsBool(item))
            return jsonconf__fail(c, p, "must be true or false");
        *(bool *)dst = item ? cJSON_IsTrue(item) : f->num != 0;
        return 0;
    case FT_SECRET:
        if (secret__read(obj, f->key, path, c->base_dir, (struct secret *)dst, c->err) < 0)
            return -1;
        if ((f->flags & F_REQUIRED) && !((struct secret *)dst)->value)
            return jsonconf__fail(c, p, "missing; give %s_file or %s_env", f->key, f->key);
        return 0;
    case FT_CUSTOM:
        return 0;
    }
    return 0;
}

int jsonconf__parse(struct jsonconf *c, const struct jsonconf_field *fs, size_t nf,
                    const cJSON *obj, const char *path, void *base)
{
    if (obj && !cJSON_IsObject(obj))
        return jsonconf__fail(c, path, "must be an object");
    if (jsonconf__check_keys(c, fs, nf, obj, path) < 0)
        return -1;
    for (size_t i = 0; i < nf; i++) {
        if (jsonconf__set_field(c, &fs[i], obj, path, base) < 0)
            return -1;
    }
    return 0;
}

void jsonconf__free(const struct jsonconf_field *fs, size_t nf, void *base)
{
    for (size_t i = 0; i < nf; i++) {
        char *dst = (char *)base + fs[i].off;
        if (fs[i].type == FT_STRING || fs[i].type == FT_PATH)
            free(*(char **)dst);
        else if (fs[i].type == FT_SECRET)
            secret__free((struct secret *)dst);
    }
}

/* Unknown or duplicate keys of obj (keys: NULL-terminated). */
int jsonconf__keys(struct jsonconf *c, const cJSON *obj, const char *path, const char *const *keys)
{
    char p[256];
    for (const cJSON *it = obj->child; it; it = it->next) {
        jsonconf__path_key(p, sizeof(p), path, it->string);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string))
                return jsonconf__fail(c, p, "duplicate key");
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], it->string))
            i++;
        if (!keys[i])
            return jsonconf__fail(c, p, "unknown key");
    }
    return 0;
}
