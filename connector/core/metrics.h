/* Prometheus metrics registry (thread-safe). Names get the presence_sync_
 * prefix when rendered. Labels are given pre-formatted, e.g.
 * `tenant="contoso",status="200"`, or NULL/"" for none. */
#ifndef PS_METRICS_H
#define PS_METRICS_H

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

#endif
