/* One logging function: `TIME LEVEL SUBSYSTEM MESSAGE` on stderr. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define LOG_LINE_MAX 4096

static _Atomic int log_level = PS_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* Grows as needed: every secret alive is masked, however many accounts
 * (two tokens each) a tenant has. Rotation replaces (log__redact_replace). */
static char **secrets;
static size_t n_secrets, cap_secrets;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log__set_level(enum ps_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum ps_log_level log__level(void)
{
    return (enum ps_log_level)atomic_load(&log_level);
}

bool log__enabled(enum ps_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

int log__parse_level(const char *name, enum ps_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (name && strcmp(name, level_names[i]) == 0) {
            *out = (enum ps_log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log__level_name(enum ps_log_level level)
{
    if ((int)level < 0 || (int)level > 3)
        return "?";
    return level_names[level];
}

/* Caller holds log_lock. Index of value, or n_secrets. */
static size_t log__find(const char *value)
{
    size_t i = 0;
    while (i < n_secrets && strcmp(secrets[i], value) != 0)
        i++;
    return i;
}

/* Caller holds log_lock. Appends a copy; false when out of memory. */
static bool log__append(const char *secret)
{
    if (n_secrets == cap_secrets) {
        size_t cap = cap_secrets ? cap_secrets * 2 : 16;
        char **grown = realloc(secrets, cap * sizeof(*grown));
        if (!grown)
            return false;
        secrets = grown;
        cap_secrets = cap;
    }
    char *copy = strdup(secret);
    if (!copy)
        return false;
    secrets[n_secrets++] = copy;
    return true;
}

void log__redact_replace(const char *previous, const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return;
    pthread_mutex_lock(&log_lock);
    size_t at = previous ? log__find(previous) : n_secrets;
    if (log__find(secret) < n_secrets) {
        /* already masked: only the predecessor goes */
        if (at < n_secrets) {
            free(secrets[at]);
            secrets[at] = secrets[--n_secrets];
        }
    }
    else if (at < n_secrets) {
        char *copy = strdup(secret);
        if (copy) {
            free(secrets[at]);
            secrets[at] = copy;
        }
    }
    else if (!log__append(secret)) {
        fputs("log: out of memory registering a secret\n", stderr);
    }
    pthread_mutex_unlock(&log_lock);
}

void log__redact(const char *secret)
{
    log__redact_replace(NULL, secret);
}

size_t log__redact_count(void)
{
    pthread_mutex_lock(&log_lock);
    size_t n = n_secrets;
    pthread_mutex_unlock(&log_lock);
    return n;
}

void log__redact_clear(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    free(secrets);
    secrets = NULL;
    n_secrets = cap_secrets = 0;
    pthread_mutex_unlock(&log_lock);
}

/* Replaces every registered secret in line by ***; caller holds log_lock. */
static void log__mask(char *line)
{
    for (size_t i = 0; i < n_secrets; i++) {
        size_t slen = strlen(secrets[i]);
        char *hit;
        while ((hit = strstr(line, secrets[i])) != NULL) {
            memcpy(hit, "***", 3);
            memmove(hit + 3, hit + slen, strlen(hit + slen) + 1);
        }
    }
}

/* Copies src into dst, writing control bytes as \xNN so that one call is
 * always one line, whatever a remote peer put in a value. */
static void log__escape(char *dst, size_t dlen, const char *src)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 5 < dlen; p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(dst + o, dlen - o, "\\x%02X", *p);
        else
            dst[o++] = (char)*p;
    }
    dst[o] = '\0';
}

void log__printf(enum ps_log_level level, const char *subsys, const char *fmt, ...)
{
    if (!log__enabled(level))
        return;

    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char clean[LOG_LINE_MAX];
    log__escape(clean, sizeof(clean), msg);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    log__mask(clean);
    fprintf(stderr, "%s.%03dZ %s %s %s\n", stamp, (int)(tv.tv_usec / 1000), log__level_name(level),
            subsys ? subsys : "main", clean);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
