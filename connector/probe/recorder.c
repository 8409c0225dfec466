/* The probe's capture; see recorder.h. */
#include "probe/recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/clock.h"
#include "core/http_client.h"
#include "voice/capture.h"

#define RECORDER_MAX_SECRETS 64
#define RECORDER_DEPTH_MAX   32

enum { REC_HTTP, REC_INBOUND, REC_SIGNALR, REC_MQTT, REC_FILES };
static const char *const recorder_files[REC_FILES] = {"http.jsonl", "inbound.jsonl",
                                                      "signalr.jsonl", "mqtt.jsonl"};

struct recorder {
    char *dir;
    FILE *f[REC_FILES];
    unsigned long seq;
    char *secrets[RECORDER_MAX_SECRETS];
    size_t n_secrets;
};

/* ---- pure redaction ---------------------------------------------------------- */

/* Member and form names that hold credentials (any case, as a substring). */
static bool recorder__secret_name(const char *name)
{
    static const char *const parts[] = {"token",      "secret",    "password",
                                        "passwd",     "apikey",    "clientstate",
                                        "credential", "assertion", "authorization"};
    for (size_t i = 0; name && i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (strcasestr(name, parts[i]))
            return true;
    }
    return false;
}

/* Names that say "token" but hold none: Graph's validation handshake is an
 * echo, not a credential, and a replay needs it as it was. */
static bool recorder__public_name(const char *name)
{
    return name &&
           (strcasecmp(name, "validationToken") == 0 || strcasecmp(name, "token_type") == 0);
}

static bool recorder__is_url(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0 ||
           strncasecmp(s, "ws://", 5) == 0 || strncasecmp(s, "wss://", 6) == 0;
}

static bool recorder__is_jwt(const char *s)
{
    return s && strncmp(s, "eyJ", 3) == 0 && capture__is_secret_value(s);
}

char *recorder__redact_token(const char *token)
{
    if (recorder__is_jwt(token)) {
        const char *d2 = strchr(strchr(token, '.') + 1, '.');
        size_t keep = (size_t)(d2 - token) + 1;
        char *out = malloc(keep + sizeof(RECORDER_REDACTED));
        if (out) {
            memcpy(out, token, keep);
            memcpy(out + keep, RECORDER_REDACTED, sizeof(RECORDER_REDACTED));
        }
        return out;
    }
    return strdup(RECORDER_REDACTED);
}

/* A credential string: "Bearer x" keeps its scheme, a JWT its claims. */
static char *recorder__redact_value(const char *s)
{
    if (strncasecmp(s, "Bearer ", 7) == 0) {
        char *t = recorder__redact_token(s + 7);
        size_t n = t ? strlen(t) + 8 : 0;
        char *out = t ? malloc(n) : NULL;
        if (out)
            snprintf(out, n, "Bearer %s", t);
        free(t);
        return out;
    }
    if (strncasecmp(s, "Basic ", 6) == 0)
        return strdup("Basic " RECORDER_REDACTED);
    return recorder__redact_token(s);
}

static void recorder__scrub(cJSON *v, int depth)
{
    if (depth > RECORDER_DEPTH_MAX)
        return;
    cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (cJSON_IsString(it) && recorder__is_url(it->valuestring)) {
            /* token_endpoint and the like: addresses, with credentials in
             * the query removed */
            char *red = recorder__redact_url(it->valuestring);
            if (red)
                cJSON_SetValuestring(it, red);
            free(red);
        }
        else if (cJSON_IsString(it) && !recorder__public_name(it->string) &&
                 (recorder__secret_name(it->string) || capture__is_secret_value(it->valuestring))) {
            char *red = recorder__redact_value(it->valuestring);
            if (red) {
                cJSON_SetValuestring(it, red);
                free(red);
            }
        }
        else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            bool named = recorder__secret_name(it->string);
            if (named && cJSON_IsObject(it)) /* e.g. "authorization": {...} */
                cJSON_DeleteItemFromObjectCaseSensitive(it, "value");
            recorder__scrub(it, depth + 1);
        }
    }
}

void recorder__redact_json(cJSON *v)
{
    if (cJSON_IsString(v) && capture__is_secret_value(v->valuestring)) {
        char *red = recorder__redact_value(v->valuestring);
        if (red)
            cJSON_SetValuestring(v, red);
        free(red);
        return;
    }
    recorder__scrub(v, 0);
}

char *recorder__redact_form(const char *body, size_t len)
{
    size_t pairs = 1;
    for (size_t i = 0; i < len; i++)
        pairs += body[i] == '&';
    char *out = malloc(len + pairs * sizeof(RECORDER_REDACTED) + 1);
    size_t n = 0;
    for (const char *p = body, *end = body + len; out && p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t plen = amp ? (size_t)(amp - p) : (size_t)(end - p);
        const char *eq = memchr(p, '=', plen);
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - p) : plen), p);
        if (n)
            out[n++] = '&';
        if (eq && recorder__secret_name(name) && !recorder__public_name(name)) {
            n += (size_t)sprintf(out + n, "%s=%s", name, RECORDER_REDACTED);
        }
        else {
            memcpy(out + n, p, plen);
            n += plen;
        }
        p += plen + (amp ? 1 : 0);
    }
    if (out)
        out[n] = '\0';
    return out;
}

char *recorder__redact_url(const char *url)
{
    const char *q = strchr(url, '?');
    if (!q)
        return strdup(url);
    char *form = recorder__redact_form(q + 1, strlen(q + 1));
    size_t n = (size_t)(q - url) + 1 + (form ? strlen(form) : 0) + 1;
    char *out = form ? malloc(n) : NULL;
    if (out)
        snprintf(out, n, "%.*s?%s", (int)(q - url), url, form);
    free(form);
    return out;
}

char *recorder__redact_body(const char *body, size_t len, const char *content_type)
{
    if (!body)
        return NULL;
    if (content_type && strcasestr(content_type, "x-www-form-urlencoded"))
        return recorder__redact_form(body, len);
    cJSON *j = len ? json__parse(body, len) : NULL;
    if (j) {
        recorder__redact_json(j);
        char *out = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        return out;
    }
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, body, len);
        out[len] = '\0';
    }
    return out;
}

/* ---- files ------------------------------------------------------------------- */

struct recorder *recorder__open(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    struct recorder *r = calloc(1, sizeof(*r));
    if (!r || !(r->dir = strdup(dir))) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < REC_FILES; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, recorder_files[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || !(r->f[i] = fdopen(fd, "w"))) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            recorder__close(r);
            return NULL;
        }
    }
    return r;
}

void recorder__close(struct recorder *r)
{
    if (!r)
        return;
    for (int i = 0; i < REC_FILES; i++) {
        if (r->f[i])
            fclose(r->f[i]);
    }
    for (size_t i = 0; i < r->n_secrets; i++) {
        explicit_bzero(r->secrets[i], strlen(r->secrets[i]));
        free(r->secrets[i]);
    }
    free(r->dir);
    free(r);
}

static void recorder__add_secret(struct recorder *r, const char *value)
{
    for (size_t i = 0; i < r->n_secrets; i++) {
        if (strcmp(r->secrets[i], value) == 0)
            return;
    }
    if (r->n_secrets < RECORDER_MAX_SECRETS && (r->secrets[r->n_secrets] = strdup(value)))
        r->n_secrets++;
}

void recorder__secret(struct recorder *r, const char *value)
{
    if (!r || !value || strlen(value) < 4)
        return;
    recorder__add_secret(r, value);
    /* also as it looks inside a JSON string */
    cJSON *s = cJSON_CreateString(value);
    char *txt = s ? cJSON_PrintUnformatted(s) : NULL;
    if (txt && strlen(txt) > 2) {
        txt[strlen(txt) - 1] = '\0';
        if (strcmp(txt + 1, value) != 0)
            recorder__add_secret(r, txt + 1);
    }
    free(txt);
    cJSON_Delete(s);
}

/* Replaces every registered secret in line (in place; the result is never
 * longer: a secret is at least 4 bytes and "***" is 3). */
static void recorder__mask(const struct recorder *r, char *line)
{
    for (size_t i = 0; i < r->n_secrets; i++) {
        size_t n = strlen(r->secrets[i]);
        char *p;
        while ((p = strstr(line, r->secrets[i]))) {
            memcpy(p, "***", 3);
            memmove(p + 3, p + n, strlen(p + n) + 1);
        }
    }
}

/* Writes o (takes it) as one line of file i, with seq and at. */
static void recorder__write(struct recorder *r, int i, cJSON *o)
{
    char ts[40];
    cJSON_AddNumberToObject(o, "seq", (double)++r->seq);
    cJSON_AddStringToObject(o, "at", clock__iso8601_graph(clock__wall_ms(), ts, sizeof(ts)));
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line)
        return;
    recorder__mask(r, line);
    fprintf(r->f[i], "%s\n", line);
    fflush(r->f[i]);
    free(line);
}

static void recorder__add_text(cJSON *o, const char *name, char *text)
{
    if (text)
        cJSON_AddStringToObject(o, name, text);
    else
        cJSON_AddNullToObject(o, name);
    free(text);
}

/* Header lines with credentials replaced; content type found on the way. */
static cJSON *recorder__headers(struct recorder *r, const char *const *h, const char **ctype)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; h && h[i]; i++) {
        const char *colon = strchr(h[i], ':');
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(colon ? (size_t)(colon - h[i]) : 0), h[i]);
        const char *value = colon ? colon + 1 + strspn(colon + 1, " ") : "";
        if (ctype && strcasecmp(name, "Content-Type") == 0)
            *ctype = value;
        bool secret = recorder__secret_name(name) || strcasecmp(name, "Cookie") == 0 ||
                      strcasecmp(name, "Set-Cookie") == 0 ||
                      strcasecmp(name, "X-Benemen-Token") == 0;
        if (!secret) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(h[i]));
            continue;
        }
        if (strncasecmp(value, "Bearer ", 7) == 0)
            recorder__secret(r, value + 7);
        char *red = recorder__redact_value(value);
        char line[8192];
        snprintf(line, sizeof(line), "%s: %s", name, red ? red : RECORDER_REDACTED);
        free(red);
        cJSON_AddItemToArray(arr, cJSON_CreateString(line));
    }
    return arr;
}

void recorder__http(void *ctx, const struct http_exchange *x)
{
    struct recorder *r = ctx;
    const struct http_result *res = x->result;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "http");
    cJSON_AddStringToObject(o, "method", x->method);
    recorder__add_text(o, "url", recorder__redact_url(x->url));
    cJSON *req = cJSON_AddObjectToObject(o, "request");
    const char *ctype = NULL;
    cJSON_AddItemToObject(req, "headers", recorder__headers(r, x->request_headers, &ctype));
    if (x->basic_user)
        cJSON_AddStringToObject(req, "basic_user", x->basic_user);
    recorder__add_text(req, "body",
                       recorder__redact_body(x->request_body, x->request_body_len, ctype));
    cJSON *resp = cJSON_AddObjectToObject(o, "response");
    cJSON_AddNumberToObject(resp, "status", res->status);
    ctype = NULL;
    cJSON_AddItemToObject(resp, "headers", recorder__headers(r, x->response_headers, &ctype));
    recorder__add_text(resp, "body",
                       res->status ? recorder__redact_body(res->body, res->body_len, ctype) : NULL);
    cJSON_AddNumberToObject(resp, "retry_after_ms", (double)res->retry_after_ms);
    if (res->error)
        cJSON_AddStringToObject(resp, "error", res->error);
    cJSON_AddNumberToObject(resp, "elapsed_ms", res->elapsed_ms);
    recorder__write(r, REC_HTTP, o);
}

void recorder__inbound(struct recorder *r, const char *method, const char *path, const char *query,
                       const char *body, size_t len, int status, const char *answer)
{
    if (!r)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "inbound");
    cJSON_AddStringToObject(o, "method", method);
    cJSON_AddStringToObject(o, "path", path);
    recorder__add_text(o, "query", query ? recorder__redact_form(query, strlen(query)) : NULL);
    recorder__add_text(o, "body", len ? recorder__redact_body(body, len, NULL) : NULL);
    cJSON *resp = cJSON_AddObjectToObject(o, "response");
    cJSON_AddNumberToObject(resp, "status", status);
    cJSON_AddStringToObject(resp, "body", answer ? answer : "");
    recorder__write(r, REC_INBOUND, o);
}

void recorder__signalr(struct recorder *r, const char *tenant, const char *dir, const char *rec,
                       size_t len)
{
    if (!r)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "signalr");
    cJSON_AddStringToObject(o, "tenant", tenant);
    cJSON_AddStringToObject(o, "dir", dir);
    if (strcmp(dir, "open") == 0)
        recorder__add_text(o, "url", recorder__redact_url(rec));
    else if (strcmp(dir, "closed") == 0)
        cJSON_AddStringToObject(o, "reason", rec ? rec : "");
    else
        recorder__add_text(o, "record", recorder__redact_body(rec, len, NULL));
    recorder__write(r, REC_SIGNALR, o);
}

void recorder__mqtt(struct recorder *r, const char *dir, const char *topic, const char *payload,
                    size_t len, bool retained, const char *result)
{
    if (!r)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "mqtt");
    cJSON_AddStringToObject(o, "dir", dir);
    cJSON_AddStringToObject(o, "topic", topic);
    recorder__add_text(o, "payload", recorder__redact_body(payload ? payload : "", len, NULL));
    cJSON_AddBoolToObject(o, "retained", retained);
    if (result)
        cJSON_AddStringToObject(o, "result", result);
    recorder__write(r, REC_MQTT, o);
}

void recorder__report(struct recorder *r, const cJSON *doc)
{
    if (!r || !doc)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/report.json", r->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    char *txt = f ? cJSON_Print(doc) : NULL;
    if (txt) {
        recorder__mask(r, txt);
        fprintf(f, "%s\n", txt);
    }
    free(txt);
    if (f)
        fclose(f);
    else if (fd >= 0)
        close(fd);
}
