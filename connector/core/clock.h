/* Time helpers: monotonic and wall clocks, ISO 8601 in and out. */
#ifndef PS_CLOCK_H
#define PS_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC: for timers and durations. */
int64_t clock__mono_ms(void);
/* Microseconds on CLOCK_MONOTONIC: for durations under a millisecond. */
int64_t clock__mono_us(void);
/* Milliseconds since the epoch on CLOCK_REALTIME: for timestamps. */
int64_t clock__wall_ms(void);

/* Tests: from clock__fake_start() on, the clocks above stand still and
 * move only with clock__fake_advance() (component tests run hours of
 * timers in milliseconds: tests/lib/README.md); clock__fake_stop() goes
 * back to the real clocks. Any thread may read the clocks meanwhile. */
void clock__fake_start(int64_t mono_ms, int64_t wall_ms);
void clock__fake_advance(int64_t ms);
void clock__fake_stop(void);

/* Writes `2026-11-26T10:00:00Z` (UTC, second precision); buf >= 21 bytes. */
char *clock__iso8601(int64_t wall_ms, char *buf, size_t len);
/* Writes `2026-11-26T10:00:00.1234567Z` as Graph likes it; buf >= 29 bytes. */
char *clock__iso8601_graph(int64_t wall_ms, char *buf, size_t len);

/* Parses ISO 8601 UTC (`Z` or `+00:00`, any number of fraction digits, an
 * offset such as `+02:00` is applied). Returns 0 and sets *wall_ms, or -1. */
int clock__parse_iso8601(const char *s, int64_t *wall_ms);

#endif
