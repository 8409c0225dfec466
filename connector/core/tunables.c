/* Tuning and test knobs; see tunables.h and docs/configuration.md. */
#include "core/tunables.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

/* Upper bounds keep a typo (an extra zero or two) from silencing a timer for
 * days; Graph's own presence budget (1,500 per 30 s, docs/graph.md) bounds
 * the rate knobs, which may only shrink it. */
#define TUN_DAY_MS  (24LL * 3600 * 1000)
#define TUN_HOUR_MS (3600LL * 1000)

struct tunable {
    const char *name;
    size_t offset;
    int64_t min, max, dflt;
};

#define TUN(name, field, min, max, dflt)                       \
    {                                                          \
        name, offsetof(struct tunables, field), min, max, dflt \
    }

static const struct tunable tunables_table[] = {
    TUN("PS_GRAPH_RENEW_MS", graph_renew_ms, 1000, TUN_DAY_MS, 0),
    TUN("PS_GRAPH_RESYNC_MS", graph_resync_ms, 1000, TUN_DAY_MS, 0),
    TUN("PS_GRAPH_RATE_LIMIT", graph_rate_limit, 1, 1500, 0),
    TUN("PS_GRAPH_RATE_WINDOW_MS", graph_rate_window_ms, 100, TUN_HOUR_MS, 0),
    TUN("PS_GRAPH_HTTP_TIMEOUT_MS", graph_http_timeout_ms, 100, 10 * 60 * 1000LL, 15000),
    TUN("PS_MAPPER_STARTUP_MS", mapper_startup_ms, 0, TUN_HOUR_MS, 30000),
    TUN("PS_MAPPER_ECHO_GRACE_MS", mapper_echo_grace_ms, 0, TUN_HOUR_MS, 60000),
    TUN("PS_HTTP_MAX_BUFFERED_BYTES", http_max_buffered, 65536, 1LL << 36, 256LL << 20),
};
#define TUN_N (sizeof(tunables_table) / sizeof(tunables_table[0]))

static int64_t *tunables__field(struct tunables *t, const struct tunable *k)
{
    return (int64_t *)(void *)((char *)t + k->offset);
}

static void tunables__fill_defaults(struct tunables *t)
{
    for (size_t i = 0; i < TUN_N; i++)
        *tunables__field(t, &tunables_table[i]) = tunables_table[i].dflt;
}

const struct tunables *tunables__defaults(void)
{
    static struct tunables d;
    static bool done;
    if (!done) {
        tunables__fill_defaults(&d);
        done = true;
    }
    return &d;
}

/* A whole decimal number, nothing else (no sign, spaces or units). */
static bool tunables__number(const char *s, int64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = (int64_t)v;
    return true;
}

int tunables__parse(struct tunables *t, tunables_get_fn get, void *ctx, char *err, size_t len)
{
    tunables__fill_defaults(t);
    for (size_t i = 0; i < TUN_N; i++) {
        const struct tunable *k = &tunables_table[i];
        const char *s = get(k->name, ctx);
        int64_t v;
        if (!s || !*s)
            continue;
        if (!tunables__number(s, &v) || v < k->min || v > k->max) {
            snprintf(err, len, "%s='%.32s': a whole number from %lld to %lld is needed", k->name, s,
                     (long long)k->min, (long long)k->max);
            return -1;
        }
        *tunables__field(t, k) = v;
        LOG_WARN("tunables", "test/tuning knob set: %s=%lld", k->name, (long long)v);
    }
    return 0;
}

static const char *tunables__getenv(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

int tunables__load(struct tunables *t, char *err, size_t len)
{
    return tunables__parse(t, tunables__getenv, NULL, err, len);
}

const char *tunables__name(size_t i)
{
    return i < TUN_N ? tunables_table[i].name : NULL;
}
