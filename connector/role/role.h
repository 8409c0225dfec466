/* Which instance is active for each tenant (docs/ha.md), a daemon
 * component: one lease (core/lease.h) per tenant on the retained topic
 * B/lease/<tenant> (B/lease/<tenant>/<roles> for a process of a split
 * deployment), ticked on the loop thread, shown in B/health (section
 * "role"), in /readyz's components and in the log. */
#ifndef PS_ROLE_H
#define PS_ROLE_H

#include <stdbool.h>

struct role;
struct daemon_component;
extern const struct daemon_component role_component;

/* Loop thread. May this process write to Graph and Voice for tenant now?
 * True when no role component runs (r NULL): a process alone. */
bool role__writes(const struct role *r, const char *tenant);

#endif
