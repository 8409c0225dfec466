/* Readiness of the daemon's components (thread-safe), for GET /readyz.
 * A component is e.g. "mqtt", "graph/contoso", "voice/contoso". Ready when
 * every registered component is ready. */
#ifndef PS_HEALTH_H
#define PS_HEALTH_H

#include <stdbool.h>

/* reason may be NULL when ready; it is copied. */
void health__set(const char *component, bool ready, const char *reason);
void health__remove(const char *component);
/* Returns malloc'd JSON {"ready":bool,"components":{name:{"ready":..,"reason":..}}}. */
char *health__json(bool *ready);
void health__reset(void);

#endif
