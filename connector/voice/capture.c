/* voice.capture: see capture.h. */
#include "voice/capture.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

struct capture_count {
    char key[96]; /* kind/name */
    int n;
};

struct capture {
    FILE *f;
    char *file;
    int count;
    struct capture_count *counts;
    size_t n_counts;
};

struct capture *capture__open(const char *file, int count)
{
    if (!file || !file[0] || count < 1)
        return NULL;
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    struct capture *c = fd >= 0 ? calloc(1, sizeof(*c)) : NULL;
    FILE *f = c ? fdopen(fd, "a") : NULL;
    if (!f) {
        LOG_ERROR("voice", "cannot open the capture file file=%s error=\"%s\"", file,
                  strerror(errno));
        if (fd >= 0)
            close(fd);
        free(c);
        return NULL;
    }
    c->f = f;
    c->count = count;
    c->file = strdup(file);
    c->counts = calloc(CAPTURE_MAX_NAMES, sizeof(*c->counts));
    if (!c->file || !c->counts) {
        capture__close(c);
        return NULL;
    }
    LOG_INFO("voice", "capturing Voice payloads file=%s count=%d", file, count);
    return c;
}

void capture__close(struct capture *c)
{
    if (!c)
        return;
    if (c->f)
        fclose(c->f);
    free(c->file);
    free(c->counts);
    free(c);
}

/* ---- redaction ---------------------------------------------------------------- */

static bool capture__secret_key(const char *key)
{
    static const char *const words[] = {"token",         "secret",    "password",
                                        "authorization", "signature", "apikey"};
    char low[128];
    size_t n = key ? strlen(key) : 0;
    if (n >= sizeof(low))
        n = sizeof(low) - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)key[i]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(low, words[i]))
            return true;
    return false;
}

static bool capture__b64url_run(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '=')
            return false;
    return true;
}

bool capture__is_secret_value(const char *s)
{
    if (!s)
        return false;
    if (strncasecmp(s, "Bearer ", 7) == 0 || strncasecmp(s, "Basic ", 6) == 0)
        return true;
    /* a JWT: three base64url parts, the first a JSON object ("eyJ") */
    const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    return strncmp(s, "eyJ", 3) == 0 && d1 && d2 && !strchr(d2 + 1, '.') &&
           capture__b64url_run(s, (size_t)(d1 - s)) &&
           capture__b64url_run(d1 + 1, (size_t)(d2 - d1 - 1)) &&
           (d2[1] == '\0' || capture__b64url_run(d2 + 1, strlen(d2 + 1)));
}

/* "[redacted]" under the same member name (NULL for an array element). */
static cJSON *capture__placeholder(const char *name)
{
    cJSON *r = cJSON_CreateString(CAPTURE_REDACTED);
    if (!r || !name)
        return r;
    size_t n = strlen(name) + 1;
    r->string = cJSON_malloc(n);
    if (!r->string) {
        cJSON_Delete(r);
        return NULL;
    }
    memcpy(r->string, name, n);
    return r;
}

/* Replaces secrets in v (a copy) in place. */
static void capture__scrub(cJSON *v, int depth)
{
    cJSON *it;
    if (depth > 64)
        return;
    cJSON_ArrayForEach(it, v)
    {
        bool by_key = cJSON_IsObject(v) && capture__secret_key(it->string);
        if ((by_key && !cJSON_IsNull(it)) ||
            (cJSON_IsString(it) && capture__is_secret_value(it->valuestring))) {
            cJSON *r = capture__placeholder(it->string);
            if (!r)
                return;
            cJSON_ReplaceItemViaPointer(v, it, r); /* frees it */
            it = r;
            continue;
        }
        if (cJSON_IsObject(it) || cJSON_IsArray(it))
            capture__scrub(it, depth + 1);
    }
}

cJSON *capture__redact(const cJSON *payload)
{
    cJSON *copy = payload ? cJSON_Duplicate(payload, true) : cJSON_CreateNull();
    if (!copy)
        return NULL;
    if (cJSON_IsString(copy) && capture__is_secret_value(copy->valuestring)) {
        cJSON_Delete(copy);
        return cJSON_CreateString(CAPTURE_REDACTED);
    }
    capture__scrub(copy, 0);
    return copy;
}

/* ---- recording --------------------------------------------------------------- */

/* The count slot of kind/name; NULL when the table is full. */
static struct capture_count *capture__slot(struct capture *c, const char *kind, const char *name,
                                           bool add)
{
    char key[96];
    snprintf(key, sizeof(key), "%s/%s", kind, name ? name : "");
    for (size_t i = 0; i < c->n_counts; i++)
        if (strcmp(c->counts[i].key, key) == 0)
            return &c->counts[i];
    if (!add || c->n_counts == CAPTURE_MAX_NAMES)
        return NULL;
    struct capture_count *s = &c->counts[c->n_counts++];
    snprintf(s->key, sizeof(s->key), "%s", key);
    return s;
}

bool capture__wants(const struct capture *c, const char *kind, const char *name)
{
    if (!c)
        return false;
    const struct capture_count *s = capture__slot((struct capture *)c, kind, name, false);
    return s ? s->n < c->count : c->n_counts < CAPTURE_MAX_NAMES;
}

bool capture__record(struct capture *c, const char *tenant, const char *kind, const char *name,
                     const cJSON *payload)
{
    if (!capture__wants(c, kind, name))
        return false;
    struct capture_count *s = capture__slot(c, kind, name, true);
    char ts[32];
    cJSON *line = cJSON_CreateObject();
    cJSON *red = capture__redact(payload);
    char *text = NULL;
    if (s && line && red &&
        cJSON_AddStringToObject(line, "at", clock__iso8601(clock__wall_ms(), ts, sizeof(ts))) &&
        cJSON_AddStringToObject(line, "tenant", tenant ? tenant : "") &&
        cJSON_AddStringToObject(line, "kind", kind) &&
        cJSON_AddStringToObject(line, "event", name ? name : "")) {
        cJSON_AddItemToObject(line, "payload", red);
        red = NULL;
        text = cJSON_PrintUnformatted(line);
    }
    cJSON_Delete(red);
    cJSON_Delete(line);
    bool ok = text && fprintf(c->f, "%s\n", text) > 0 && fflush(c->f) == 0;
    if (text && !ok)
        LOG_WARN("voice", "cannot write to the capture file file=%s error=\"%s\"", c->file,
                 strerror(errno));
    free(text);
    if (ok)
        s->n++;
    return ok;
}
