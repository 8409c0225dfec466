/* The B/health document: one retained JSON object, per tenant and section.
 *
 *   {"instance":"ps-1","tenants":{"contoso":{"graph":{...},"voice":{...}}},"updated":"..."}
 *
 * Sides call status__set() (any thread) with their own section of a tenant;
 * once attached to a bus, the document is republished on the loop thread,
 * at most once per loop turn and only when it changed (bus__publish_state).
 */
#ifndef PS_STATUS_H
#define PS_STATUS_H

#include <stdbool.h>

struct cJSON;
struct loop;
struct bus;

/* Loop thread. topic is B/health. Publishes the current document. */
void status__attach(struct loop *loop, struct bus *bus, const char *topic, const char *instance);
/* Loop thread. Stops publishing (before the bus is freed). */
void status__detach(void);
/* Any thread. muted: nothing is published (a standby, docs/ha.md: B/health
 * is the active instance's); unmuting publishes the current document. */
void status__mute(bool muted);
/* Any thread. Replaces tenant.section with value (taken over; NULL removes). */
void status__set(const char *tenant, const char *section, struct cJSON *value);
/* Any thread. malloc'd copy of the document, for tests and /readyz. */
char *status__json(void);
void status__reset(void);

#endif
