/* Tuning and test knobs: the PS_* environment variables that shorten the
 * daemon's periods and limits for tests (docs/configuration.md, "Tuning and
 * test knobs"). They are read, validated and logged once at start, here and
 * nowhere else; components get them through struct daemon_env (component.h)
 * and never call getenv themselves.
 *
 * A knob that is not set keeps the daemon's own value. A knob that is set
 * must be a whole decimal number within its range; anything else stops the
 * start with an error that names the variable (exit code 2). */
#ifndef PS_TUNABLES_H
#define PS_TUNABLES_H

#include <stddef.h>
#include <stdint.h>

struct tunables {
    /* 0: not set (the daemon's own rule applies) */
    int64_t graph_renew_ms;       /* PS_GRAPH_RENEW_MS: renew subscriptions at least this often */
    int64_t graph_resync_ms;      /* PS_GRAPH_RESYNC_MS: the resync period */
    int64_t graph_rate_limit;     /* PS_GRAPH_RATE_LIMIT: presence budget, requests */
    int64_t graph_rate_window_ms; /* PS_GRAPH_RATE_WINDOW_MS: its window */
    /* always a value: the default when not set */
    int64_t graph_http_timeout_ms; /* PS_GRAPH_HTTP_TIMEOUT_MS: the presence writer's timeout */
    int64_t mapper_startup_ms;     /* PS_MAPPER_STARTUP_MS: wait for a side's first input */
    int64_t mapper_echo_grace_ms;  /* PS_MAPPER_ECHO_GRACE_MS: InACall after a clear is ours */
    int64_t http_max_buffered;     /* PS_HTTP_MAX_BUFFERED_BYTES: request bodies held at once */
};

/* Where a knob's text comes from: getenv in the daemon, a table in tests.
 * Returns NULL for a knob that is not set. */
typedef const char *(*tunables_get_fn)(const char *name, void *ctx);

/* The values with nothing set. */
const struct tunables *tunables__defaults(void);

/* Fills t from get(): 0, or -1 with a message naming the variable in err.
 * Logs each knob that is set at warn level. */
int tunables__parse(struct tunables *t, tunables_get_fn get, void *ctx, char *err, size_t len);
/* tunables__parse from the process environment. */
int tunables__load(struct tunables *t, char *err, size_t len);

/* The knobs, for documentation checks: the i-th name, or NULL past the end. */
const char *tunables__name(size_t i);

#endif
