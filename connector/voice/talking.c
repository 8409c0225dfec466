/* talking_request templates and the voice/<id>/talking payload. */
#include "voice/talking.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/str.h"

enum talking_where { TALKING_IN_PATH, TALKING_IN_BODY };

struct talking_values {
    const char *user_id;
    const char *email;
    bool talking;
};

/* Length of a placeholder name at s (after the '{'), counting only when a
 * '}' closes it: 0 when this '{' is not a placeholder. */
static size_t talking__placeholder(const char *s)
{
    if (!isalpha((unsigned char)s[0]) && s[0] != '_')
        return 0;
    size_t n = 1;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    return s[n] == '}' ? n : 0;
}

static bool talking__name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncmp(name, want, n) == 0;
}

static void talking__put_path_value(struct strbuf *b, const char *v)
{
    char *esc = curl_easy_escape(NULL, v, (int)strlen(v));
    if (!esc) {
        strbuf__fail(b);
        return;
    }
    strbuf__puts(b, esc);
    curl_free(esc);
}

/* The JSON string literal cJSON writes, without its quotes: quotes,
 * backslashes and control characters escaped; UTF-8 passes through. */
static void talking__put_json_value(struct strbuf *b, const char *v)
{
    cJSON *s = cJSON_CreateString(v);
    char *json = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    if (!json) {
        strbuf__fail(b);
        return;
    }
    size_t n = strlen(json);
    strbuf__put(b, json + 1, n >= 2 ? n - 2 : 0);
    cJSON_free(json);
}

/* Writes the value of a known placeholder; returns false for an unknown one. */
static bool talking__put_value(struct strbuf *b, const char *name, size_t n,
                               const struct talking_values *v, enum talking_where where)
{
    const char *val;
    if (talking__name_is(name, n, "talking")) {
        strbuf__puts(b, v->talking ? "true" : "false");
        return true;
    }
    if (talking__name_is(name, n, "userId"))
        val = v->user_id;
    else if (talking__name_is(name, n, "email"))
        val = v->email;
    else
        return false;
    if (where == TALKING_IN_PATH)
        talking__put_path_value(b, val);
    else
        talking__put_json_value(b, val);
    return true;
}

/* Substitutes tpl into a malloc'd string. *unknown counts placeholders left
 * as they are. NULL on out of memory. */
static char *talking__substitute(const char *tpl, const struct talking_values *v,
                                 enum talking_where where, int *unknown)
{
    struct strbuf b = {0};
    const char *p = tpl;
    while (*p && !b.oom) {
        const char *open = strchr(p, '{');
        if (!open) {
            strbuf__puts(&b, p);
            break;
        }
        strbuf__put(&b, p, (size_t)(open - p));
        size_t n = talking__placeholder(open + 1);
        if (n == 0) {
            strbuf__put(&b, "{", 1);
            p = open + 1;
            continue;
        }
        if (!talking__put_value(&b, open + 1, n, v, where)) {
            strbuf__put(&b, open, n + 2);
            (*unknown)++;
        }
        p = open + n + 2;
    }
    return strbuf__take(&b);
}

void talking_call__free(struct talking_call *r)
{
    free(r->method);
    free(r->path);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int talking__render(const struct talking_template *tpl, const char *user_id, const char *email,
                    bool talking, struct talking_call *out)
{
    memset(out, 0, sizeof(*out));
    if (!tpl || !tpl->method || !tpl->path || !user_id || !*user_id || !email || !*email)
        return -1;
    struct talking_values v = {user_id, email, talking};
    int unknown = 0;
    out->method = strdup(tpl->method);
    out->path = talking__substitute(tpl->path, &v, TALKING_IN_PATH, &unknown);
    if (tpl->body && *tpl->body)
        out->body = talking__substitute(tpl->body, &v, TALKING_IN_BODY, &unknown);
    if (!out->method || !out->path || (tpl->body && *tpl->body && !out->body)) {
        talking_call__free(out);
        return -1;
    }
    return 0;
}

static bool talking__method_ok(const char *m)
{
    static const char *const methods[] = {"PUT", "POST", "PATCH", "DELETE", "GET", NULL};
    for (int i = 0; m && methods[i]; i++)
        if (strcmp(m, methods[i]) == 0)
            return true;
    return false;
}

/* Bytes that cannot appear in a request target as written. */
static bool talking__path_chars_ok(const char *p)
{
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7F || c == '#')
            return false;
    }
    return true;
}

const char *talking__validate_template(const struct talking_template *tpl)
{
    if (!tpl)
        return "talking_request: missing";
    if (!talking__method_ok(tpl->method))
        return "talking_request.method: must be one of PUT, POST, PATCH, DELETE, GET";
    if (!tpl->path || tpl->path[0] != '/')
        return "talking_request.path: must start with /";
    if (!talking__path_chars_ok(tpl->path))
        return "talking_request.path: spaces, control, non-ASCII or # characters";
    /* Sample values with characters that need escaping in both places. The
     * user id starts with 'x' (not hex, not a JSON escape letter), so a
     * placeholder after a backslash cannot pass by luck. */
    struct talking_values v = {"x0a1b-\"x\\y/+#", "a+b\"c@example.com", true};
    int unknown = 0;
    char *path = talking__substitute(tpl->path, &v, TALKING_IN_PATH, &unknown);
    free(path);
    if (!path)
        return "talking_request: out of memory";
    if (unknown)
        return "talking_request.path: unknown placeholder (use {userId}, {email}, {talking})";
    if (!tpl->body || !*tpl->body)
        return NULL;
    for (int t = 0; t < 2; t++) {
        v.talking = t;
        char *body = talking__substitute(tpl->body, &v, TALKING_IN_BODY, &unknown);
        if (!body)
            return "talking_request: out of memory";
        /* the whole body must be one JSON value (core/json.h) */
        cJSON *json = json__parse_str(body);
        free(body);
        cJSON_Delete(json);
        if (unknown)
            return "talking_request.body: unknown placeholder (use {userId}, {email}, {talking})";
        if (!json)
            return "talking_request.body: not JSON once placeholders are filled in (put "
                   "{userId} and {email} inside quotes, {talking} outside)";
    }
    return NULL;
}

char *talking__payload(bool talking, size_t calls, int64_t since_wall_ms, const char *source,
                       const char *const *call_ids, size_t n_ids)
{
    if (!source || (strcmp(source, "rte") && strcmp(source, "webhook") && strcmp(source, "resync")))
        return NULL;
    char since[32];
    if (!clock__iso8601(since_wall_ms, since, sizeof(since)))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (o && cJSON_AddBoolToObject(o, "talking", talking) &&
        cJSON_AddNumberToObject(o, "calls", (double)calls) &&
        cJSON_AddStringToObject(o, "since", since) &&
        cJSON_AddStringToObject(o, "source", source) &&
        (n_ids == 0 ||
         cJSON_AddItemToObject(o, "call_ids", cJSON_CreateStringArray(call_ids, (int)n_ids))))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *talking__availability_body(const char *user_id, int event_type_id, const char *source,
                                 const char *note)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (o && cJSON_AddNumberToObject(o, "EventTypeID", event_type_id) &&
        cJSON_AddStringToObject(o, "EventSource", source ? source : "") &&
        (!note || cJSON_AddStringToObject(o, "Note", note)) &&
        cJSON_AddStringToObject(o, "UserID", user_id ? user_id : ""))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int talking__parse_availability(const char *body, size_t len, char *id, size_t idlen, char *source,
                                size_t srclen)
{
    id[0] = '\0';
    source[0] = '\0';
    cJSON *root = body && len ? json__parse(body, len) : NULL;
    const cJSON *e = cJSON_IsArray(root) ? cJSON_GetArrayItem(root, 0) : root;
    const cJSON *v = cJSON_IsObject(e) ? cJSON_GetObjectItem(e, "Id") : NULL;
    const cJSON *src = cJSON_IsObject(e) ? cJSON_GetObjectItem(e, "EventSource") : NULL;
    if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) < idlen &&
        !strpbrk(v->valuestring, "\t\r\n"))
        snprintf(id, idlen, "%s", v->valuestring);
    else if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15)
        snprintf(id, idlen, "%.0f", v->valuedouble);
    if (cJSON_IsString(src))
        snprintf(source, srclen, "%s", src->valuestring);
    cJSON_Delete(root);
    return id[0] ? 0 : -1;
}
