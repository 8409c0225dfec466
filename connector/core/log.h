/* One logging function for the whole daemon.
 *
 * Lines go to stderr as `TIME LEVEL SUBSYSTEM MESSAGE key=value...`, e.g.
 *   2026-11-26T10:00:00.123Z info mqtt connected url=mqtt://127.0.0.1:1883
 * Messages are single lines: control characters are written as \xNN so that
 * remote input cannot forge log lines. Every registered secret value is
 * replaced by *** before the line is written (a safety net; callers must
 * still never pass secrets).
 */
#ifndef PS_LOG_H
#define PS_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum ps_log_level {
    PS_LOG_ERROR = 0,
    PS_LOG_WARN = 1,
    PS_LOG_INFO = 2,
    PS_LOG_DEBUG = 3,
};

void log__set_level(enum ps_log_level level);
enum ps_log_level log__level(void);
bool log__enabled(enum ps_log_level level);

/* "error", "warn", "info", "debug" -> level; returns -1 when unknown. */
int log__parse_level(const char *name, enum ps_log_level *out);
const char *log__level_name(enum ps_log_level level);

/* Registers a secret value to be masked in every later log line. The string
 * is copied. Values shorter than 4 bytes are ignored (they would mask noise). */
void log__redact(const char *secret);
/* A rotated secret (a refreshed token) takes the place of the one it
 * succeeds (`previous`, NULL or unknown: added), so memory stays bounded by
 * the secrets alive at once and masking never stops, however often tokens
 * rotate. */
void log__redact_replace(const char *previous, const char *secret);
/* Secrets registered now (tests). */
size_t log__redact_count(void);
void log__redact_clear(void);

void log__printf(enum ps_log_level level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_ERROR(sub, ...) log__printf(PS_LOG_ERROR, sub, __VA_ARGS__)
#define LOG_WARN(sub, ...)  log__printf(PS_LOG_WARN, sub, __VA_ARGS__)
#define LOG_INFO(sub, ...)  log__printf(PS_LOG_INFO, sub, __VA_ARGS__)
#define LOG_DEBUG(sub, ...)                              \
    do {                                                 \
        if (log__enabled(PS_LOG_DEBUG))                  \
            log__printf(PS_LOG_DEBUG, sub, __VA_ARGS__); \
    } while (0)

#endif
