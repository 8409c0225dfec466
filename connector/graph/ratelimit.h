/* A sliding-window rate limiter: at most `limit` requests in any `window_ms`
 * (Graph presence: 1,500 requests per 30 s per app per tenant, every $batch
 * item counting as one request; docs/graph.md "The presence budget").
 *
 * Exact, not approximate: it keeps the send time of each of the last `limit`
 * requests in a ring, so a burst can never exceed the limit in any window,
 * however the window is aligned. A 429's Retry-After blocks everything until
 * it has passed. Pure: the caller passes `now` (monotonic ms).
 */
#ifndef PS_GRAPH_RATELIMIT_H
#define PS_GRAPH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit {
    int64_t *ring; /* send times, oldest at head */
    size_t limit;
    size_t head;
    size_t count;
    int64_t window_ms;
    int64_t blocked_until; /* from Retry-After; 0 none */
};

/* Returns 0, or -1 for a zero limit/window or out of memory. */
int ratelimit__init(struct ratelimit *rl, size_t limit, int64_t window_ms);
void ratelimit__free(struct ratelimit *rl);

/* How many requests may be sent at `now` (0..limit). */
size_t ratelimit__available(struct ratelimit *rl, int64_t now);
/* Records n sends at now; n must be <= ratelimit__available(). Returns the
 * number recorded. */
size_t ratelimit__take(struct ratelimit *rl, size_t n, int64_t now);
/* The earliest time at which n (<= limit) requests may be sent. */
int64_t ratelimit__when(struct ratelimit *rl, size_t n, int64_t now);
/* Graph said 429 / Retry-After: send nothing before until. */
void ratelimit__block(struct ratelimit *rl, int64_t until);

#endif
