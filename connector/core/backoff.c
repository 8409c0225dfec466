/* Exponential backoff with "equal jitter", and Retry-After parsing.
 *
 * Equal jitter keeps half of the exponential delay fixed, so a failing peer
 * is never hammered, and randomises the other half, so many users or
 * tenants that failed together do not retry in lock-step. */
#include "core/backoff.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/rand.h>
#include <string.h>

#define BACKOFF_MAX_ATTEMPT 62          /* 2^62 still fits in int64_t */
#define RETRY_AFTER_CAP_S   (24 * 3600) /* one day */

void backoff__init(struct backoff *b, int64_t base_ms, int64_t max_ms)
{
    b->base_ms = base_ms > 0 ? base_ms : 1;
    b->max_ms = max_ms >= b->base_ms ? max_ms : b->base_ms;
    b->attempt = 0;
}

void backoff__reset(struct backoff *b)
{
    b->attempt = 0;
}

/* min(max, base * 2^attempt) without overflow: doubling stops at max. */
static int64_t backoff__cap(const struct backoff *b)
{
    int64_t max = b->max_ms > 0 ? b->max_ms : 1;
    int64_t cap = b->base_ms > 0 ? b->base_ms : 1;
    if (cap >= max)
        return max;
    for (int i = 0; i < b->attempt; i++) {
        if (cap > max / 2)
            return max;
        cap *= 2;
    }
    return cap;
}

int64_t backoff__next_with(struct backoff *b, uint32_t random)
{
    int64_t cap = backoff__cap(b);
    int64_t half = cap / 2;
    int64_t span = cap - half; /* the draw picks a point in [half, cap] */
    int64_t extra;
    if (span <= INT64_C(1) << 31) /* span * 2^32 still fits in int64_t */
        extra = (int64_t)(((uint64_t)span * random) / UINT32_MAX);
    else
        extra = (int64_t)((long double)span * random / UINT32_MAX);
    if (extra > span)
        extra = span;
    if (b->attempt < BACKOFF_MAX_ATTEMPT)
        b->attempt++;
    int64_t delay = half + extra;
    return delay > 0 ? delay : 1;
}

uint32_t backoff__random(void)
{
    uint32_t random;
    /* RAND_bytes only fails when the CSPRNG cannot seed; the midpoint is
     * still a valid delay, just without jitter. */
    if (RAND_bytes((unsigned char *)&random, sizeof(random)) != 1)
        random = UINT32_MAX / 2;
    return random;
}

int64_t backoff__next(struct backoff *b)
{
    return backoff__next_with(b, backoff__random());
}

/* Copies value without surrounding whitespace into buf; -1 when too long. */
static int retry_after__trim(const char *value, char *buf, size_t len)
{
    while (isspace((unsigned char)*value))
        value++;
    size_t n = strlen(value);
    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    if (n >= len)
        return -1;
    memcpy(buf, value, n);
    buf[n] = '\0';
    return 0;
}

static int64_t retry_after__seconds(const char *digits)
{
    int64_t s = 0;
    for (const char *p = digits; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        if (s < RETRY_AFTER_CAP_S) /* stop growing once capped: no overflow */
            s = s * 10 + (*p - '0');
    }
    return s < RETRY_AFTER_CAP_S ? s : RETRY_AFTER_CAP_S;
}

int64_t retry_after__parse_ms(const char *value, time_t now)
{
    char buf[128]; /* an HTTP-date is 29 bytes; longer is not a Retry-After */
    if (!value || retry_after__trim(value, buf, sizeof(buf)) < 0 || buf[0] == '\0')
        return -1;

    if (isdigit((unsigned char)buf[0])) {
        int64_t s = retry_after__seconds(buf);
        return s < 0 ? -1 : s * 1000;
    }

    /* An HTTP-date needs a letter (the day or month name); curl_getdate is
     * lenient, so this also keeps "-5" and "+5" out. */
    if (!isalpha((unsigned char)buf[0]))
        return -1;
    time_t when = curl_getdate(buf, NULL);
    if (when == (time_t)-1)
        return -1;
    if (when <= now)
        return 0;
    int64_t s = (int64_t)when - (int64_t)now;
    return (s < RETRY_AFTER_CAP_S ? s : RETRY_AFTER_CAP_S) * 1000;
}
