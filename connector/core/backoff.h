/* Exponential backoff with jitter, and Retry-After parsing. */
#ifndef PS_BACKOFF_H
#define PS_BACKOFF_H

#include <stdint.h>
#include <time.h>

struct backoff {
    int64_t base_ms; /* first delay's upper bound */
    int64_t max_ms;  /* cap */
    int attempt;     /* failures so far */
};

void backoff__init(struct backoff *b, int64_t base_ms, int64_t max_ms);
void backoff__reset(struct backoff *b);
/* Delay before the next try: "equal jitter" in [cap/2, cap] where
 * cap = min(max, base * 2^attempt); then attempt++. Never 0, so a failing
 * peer is never retried in a tight loop. */
int64_t backoff__next(struct backoff *b);
/* Same, with the random draw given (0..UINT32_MAX): pure, for tests. */
int64_t backoff__next_with(struct backoff *b, uint32_t random);
/* The draw backoff__next() uses: uniform over 0..UINT32_MAX, from the
 * OpenSSL CSPRNG (seeded per process; never the same sequence twice). */
uint32_t backoff__random(void);

/* Parses a Retry-After value: delta-seconds or an HTTP-date (relative to
 * now). Returns milliseconds >= 0, or -1 when absent or invalid. Values are
 * capped at one day. */
int64_t retry_after__parse_ms(const char *value, time_t now);

#endif
