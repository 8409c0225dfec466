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

#define LOG_LINE_MAX    4096
#define LOG_MAX_SECRETS 64

static _Atomic int log_level = PS_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[LOG_MAX_SECRETS];
static size_t n_secrets;

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

void log__redact(const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++) {
        if (strcmp(secrets[i], secret) == 0) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
    }
    if (n_secrets < LOG_MAX_SECRETS) {
        char *copy = strdup(secret);
        if (copy)
            secrets[n_secrets++] = copy;
    }
    pthread_mutex_unlock(&log_lock);
}

void log__redact_clear(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    n_secrets = 0;
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
