/* Prometheus metrics registry (thread-safe). Names get the presence_sync_
 * prefix when rendered. Labels are given pre-formatted, e.g.
 * `tenant="contoso",status="200"`, or NULL/"" for none; a value that does
 * not come from a fixed set (an account name, an instance) goes through
 * metrics__labels(), which escapes it. */
#ifndef PS_METRICS_H
#define PS_METRICS_H

#include <stddef.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Declares a metric's type and help text; idempotent. Undeclared metrics are
 * rendered as untyped gauges/counters by first use. */
void metrics__describe(const char *name, enum metric_type type, const char *help);
void metrics__inc(const char *name, const char *labels, double by);
void metrics__set(const char *name, const char *labels, double value);
/* Histogram of seconds with fixed buckets (1 ms .. 10 s). */
void metrics__observe(const char *name, const char *labels, double seconds);
/* Returns malloc'd Prometheus text exposition. */
char *metrics__render(void);
/* Value of a counter or gauge (0 if unknown); for tests and health. */
double metrics__get(const char *name, const char *labels);
void metrics__reset(void);

/* Formats labels from name/value pairs ending in NULL, e.g.
 * metrics__labels(buf, sizeof(buf), "tenant", t, "account", a, NULL) ->
 * `tenant="t",account="a"`, with `\`, `"` and newline in values escaped as
 * the text format requires. A pair that does not fit is left out whole.
 * Returns buf. */
const char *metrics__labels(char *buf, size_t len, const char *name, ...) __attribute__((sentinel));

#endif
