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
 * True when no role component runs (r NULL): a process alone. Checked at
 * each write (the watchers below may hear of a fence up to a tick late). */
bool role__writes(const struct role *r, const char *tenant);

/* Called on the loop thread when role__writes(r, tenant) changes: writes
 * true when this process became the one that writes for the tenant
 * (takeover, or the end of a fence), false when it stopped. */
typedef void (*role_change_fn)(void *ctx, const char *tenant, bool writes);
/* Loop thread, from a component's init (the role component comes first).
 * r NULL: nothing to watch (a process alone writes from the start), 0. */
int role__watch(struct role *r, role_change_fn fn, void *ctx);
/* The holder's instance name and node id for tenant, as far as known
 * (NULL when no lease was read); the role name ("active", "standby"...). */
const char *role__name(const struct role *r, const char *tenant);
const char *role__holder(const struct role *r, const char *tenant);

#endif
