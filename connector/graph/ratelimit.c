/* Sliding-window rate limiter; see ratelimit.h. */
#include "graph/ratelimit.h"

#include <stdlib.h>
#include <string.h>

int ratelimit__init(struct ratelimit *rl, size_t limit, int64_t window_ms)
{
    memset(rl, 0, sizeof(*rl));
    if (limit == 0 || window_ms <= 0)
        return -1;
    rl->ring = calloc(limit, sizeof(*rl->ring));
    if (!rl->ring)
        return -1;
    rl->limit = limit;
    rl->window_ms = window_ms;
    return 0;
}

void ratelimit__free(struct ratelimit *rl)
{
    free(rl->ring);
    memset(rl, 0, sizeof(*rl));
}

/* Forgets sends that left the window. */
static void ratelimit__expire(struct ratelimit *rl, int64_t now)
{
    while (rl->count > 0 && rl->ring[rl->head] <= now - rl->window_ms) {
        rl->head = (rl->head + 1) % rl->limit;
        rl->count--;
    }
}

size_t ratelimit__available(struct ratelimit *rl, int64_t now)
{
    if (now < rl->blocked_until)
        return 0;
    ratelimit__expire(rl, now);
    return rl->limit - rl->count;
}

size_t ratelimit__take(struct ratelimit *rl, size_t n, int64_t now)
{
    size_t avail = ratelimit__available(rl, now);
    if (n > avail)
        n = avail;
    for (size_t i = 0; i < n; i++) {
        rl->ring[(rl->head + rl->count) % rl->limit] = now;
        rl->count++;
    }
    return n;
}

int64_t ratelimit__when(struct ratelimit *rl, size_t n, int64_t now)
{
    if (n > rl->limit)
        n = rl->limit;
    int64_t at = now > rl->blocked_until ? now : rl->blocked_until;
    ratelimit__expire(rl, now);
    size_t free_now = rl->limit - rl->count;
    if (n <= free_now)
        return at;
    /* The (n - free_now)-th oldest send must leave the window first. */
    size_t k = n - free_now - 1;
    int64_t t = rl->ring[(rl->head + k) % rl->limit] + rl->window_ms;
    return t > at ? t : at;
}

void ratelimit__block(struct ratelimit *rl, int64_t until)
{
    if (until > rl->blocked_until)
        rl->blocked_until = until;
}
