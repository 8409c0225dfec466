/* Secrets (docs/configuration.md "Secrets"): every secret NAME is given as NAME_file (a path,
 * one trailing newline ignored) or NAME_env (an environment variable), never
 * inline, so that it does not end up in backups of the config, in argv or in
 * a log line. Each value read is registered with log__redact(). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "core/config.h"
#include "core/str.h"

#define SECRET_MAX_BYTES 65536

static int secret__fail(struct config_error *err, const char *path, const char *key,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int secret__fail(struct config_error *err, const char *path, const char *key,
                        const char *fmt, ...)
{
    va_list ap;

    if (path[0])
        snprintf(err->path, sizeof(err->path), "%s.%s", path, key);
    else
        snprintf(err->path, sizeof(err->path), "%s", key);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* A JSON member that is absent or null counts as not given. */
static const cJSON *secret__member(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsNull(item) ? NULL : item;
}

/* Reads at most SECRET_MAX_BYTES; fills *len. */
static char *secret__slurp(int fd, size_t *len)
{
    char *buf = malloc(SECRET_MAX_BYTES + 1);
    size_t n = 0;
    ssize_t r;

    if (!buf)
        return NULL;
    while (n <= SECRET_MAX_BYTES && (r = read(fd, buf + n, SECRET_MAX_BYTES + 1 - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return NULL;
        }
        n += (size_t)r;
    }
    buf[n < SECRET_MAX_BYTES ? n : SECRET_MAX_BYTES] = '\0';
    *len = n;
    return buf;
}

/* One trailing newline (LF or CRLF) is what editors and `echo` add. */
static void secret__strip_newline(char *v, size_t *len)
{
    if (*len > 0 && v[*len - 1] == '\n') {
        v[--*len] = '\0';
        if (*len > 0 && v[*len - 1] == '\r')
            v[--*len] = '\0';
    }
}

static void secret__warn_mode(const char *file, const struct stat *st)
{
    if (st->st_mode & 077)
        LOG_WARN("config",
                 "secret file is readable by group or others; chmod 600 it file=%s mode=%04o", file,
                 (unsigned)(st->st_mode & 07777));
}

static int secret__from_file(const char *jpath, const char *key, const char *file,
                             struct secret *out, struct config_error *err)
{
    struct stat st;
    size_t len = 0;
    char *v;
    int fd = open(file, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return secret__fail(err, jpath, key, "cannot read %s: %s", file, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return secret__fail(err, jpath, key, "%s is not a regular file", file);
    }
    secret__warn_mode(file, &st);
    v = secret__slurp(fd, &len);
    close(fd);
    if (!v)
        return secret__fail(err, jpath, key, "cannot read %s: %s", file, strerror(errno));
    if (len > SECRET_MAX_BYTES) {
        free(v);
        return secret__fail(err, jpath, key, "%s is larger than %d bytes", file, SECRET_MAX_BYTES);
    }
    secret__strip_newline(v, &len);
    /* An exact copy: one secret file per service account, and each read
     * buffer is SECRET_MAX_BYTES (154 accounts held 10 MB,
     * docs/performance.md section 7). */
    char *exact = malloc(len + 1);
    if (exact)
        memcpy(exact, v, len + 1);
    OPENSSL_cleanse(v, len);
    free(v);
    if (!exact)
        return secret__fail(err, jpath, key, "cannot read %s: out of memory", file);
    out->value = exact;
    out->len = len;
    return 0;
}

static bool secret__env_name_ok(const char *s)
{
    if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (; *s; s++) {
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    }
    return true;
}

static int secret__from_env(const char *jpath, const char *key, const char *name,
                            struct secret *out, struct config_error *err)
{
    const char *v;

    if (!secret__env_name_ok(name))
        return secret__fail(err, jpath, key, "\"%s\" is not an environment variable name", name);
    v = getenv(name);
    if (!v)
        return secret__fail(err, jpath, key, "environment variable %s is not set", name);
    out->value = strdup(v);
    out->len = strlen(v);
    return out->value ? 0 : secret__fail(err, jpath, key, "out of memory");
}

/* Checks the value: non-empty, no NUL byte (it could not be sent anyway). */
static int secret__check(const char *jpath, const char *key, struct secret *out,
                         struct config_error *err)
{
    if (out->len == 0) {
        secret__free(out);
        return secret__fail(err, jpath, key, "secret is empty");
    }
    if (strlen(out->value) != out->len) {
        secret__free(out);
        return secret__fail(err, jpath, key, "secret contains a NUL byte");
    }
    log__redact(out->value);
    return 0;
}

static int secret__load(const cJSON *obj, const char *name, const char *jpath, const char *base_dir,
                        bool is_file, struct secret *out, struct config_error *err)
{
    char key[128];
    const cJSON *item;
    char *file;
    int rc;

    snprintf(key, sizeof(key), "%s_%s", name, is_file ? "file" : "env");
    item = secret__member(obj, key);
    if (!cJSON_IsString(item) || !item->valuestring[0])
        return secret__fail(err, jpath, key, "must be a non-empty string");
    if (!is_file) {
        rc = secret__from_env(jpath, key, item->valuestring, out, err);
        if (rc == 0 && asprintf(&out->source, "env %s", item->valuestring) < 0)
            out->source = NULL;
        return rc < 0 ? rc : secret__check(jpath, key, out, err);
    }
    file = str__path(base_dir, item->valuestring);
    if (!file)
        return secret__fail(err, jpath, key, "out of memory");
    rc = secret__from_file(jpath, key, file, out, err);
    if (rc == 0 && asprintf(&out->source, "file %s", file) < 0)
        out->source = NULL;
    free(file);
    return rc < 0 ? rc : secret__check(jpath, key, out, err);
}

int secret__read(const cJSON *obj, const char *name, const char *json_path, const char *base_dir,
                 struct secret *out, struct config_error *err)
{
    char key[128];
    const cJSON *f, *e;

    memset(out, 0, sizeof(*out));
    if (secret__member(obj, name))
        return secret__fail(err, json_path, name,
                            "secrets are not accepted inline; use %s_file or %s_env", name, name);
    snprintf(key, sizeof(key), "%s_file", name);
    f = secret__member(obj, key);
    snprintf(key, sizeof(key), "%s_env", name);
    e = secret__member(obj, key);
    if (f && e)
        return secret__fail(err, json_path, key, "give either %s_file or %s_env, not both", name,
                            name);
    if (!f && !e)
        return 0;
    return secret__load(obj, name, json_path, base_dir, f != NULL, out, err);
}

void secret__free(struct secret *s)
{
    if (!s)
        return;
    if (s->value) {
        /* Do not leave the value behind in freed heap memory. */
        OPENSSL_cleanse(s->value, s->len);
        free(s->value);
    }
    free(s->source);
    memset(s, 0, sizeof(*s));
}
