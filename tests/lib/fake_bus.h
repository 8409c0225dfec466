/* An in-process stand-in for the MQTT bus (connector/core/bus.h), for
 * component tests: link tests/lib/fake_bus.c instead of core/bus.c (it
 * defines every bus__ function, so the linker never pulls bus.o; the
 * mosquitto unit tests' *_stubs.c approach).
 *
 * It behaves like a broker seen through bus.h: state topics are published
 * on change only and retained; every publish reaches every matching
 * subscription of the process (as the broker echoes it), on a later loop
 * turn; a new subscription first receives the matching retained values; a
 * reconnect delivers them again. The test side injects messages "from other
 * clients", reads the retained store and counts what was published.
 */
#ifndef PS_TESTS_FAKE_BUS_H
#define PS_TESTS_FAKE_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/bus.h"

/* The bus most recently made by bus__new() (tests build one daemon env). */
struct bus *fake_bus__last(void);

/* A message from another client: retained ones are stored (an empty payload
 * clears), then delivered to matching subscriptions on a later loop turn. */
void fake_bus__inject(struct bus *bus, const char *topic, const char *payload, bool retained);
/* The retained payload of topic, or NULL. */
const char *fake_bus__retained(const struct bus *bus, const char *topic);
/* Messages this process published on topics matching filter (state topics
 * count only when they changed). */
size_t fake_bus__published(const struct bus *bus, const char *filter);
/* The payload of the n-th (0-based) message published on topic, or NULL. */
const char *fake_bus__nth(const struct bus *bus, const char *topic, size_t n);
/* Connection loss and return: the connection callback runs, and on the
 * return every subscription receives the matching retained values again. */
void fake_bus__set_connected(struct bus *bus, bool connected);

#endif
