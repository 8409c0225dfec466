/* fake-graph: Graph's presence limit, 1,500 requests per 30 s per app per
 * tenant (learn.microsoft.com/graph/throttling-limits, "Cloud communication
 * service limits": documented). Every presence request counts once:
 * GET presence, setPresence, clearPresence, the preferred-presence pair and
 * getPresencesByUserId (whatever its number of ids); a $batch counts its
 * presence items one by one (the batch itself is not one). Over the limit a
 * request is refused with 429 and a Retry-After (when the oldest counted one
 * leaves the window) and is not counted. The simulator also remembers the
 * most requests any window held, for the tests. Pure: `now` is given. */
#ifndef FG_BUDGET_H
#define FG_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct fg_budget;

struct fg_budget *fg_budget__new(void);
void fg_budget__free(struct fg_budget *b);
/* limit 0: count, never refuse. */
void fg_budget__configure(struct fg_budget *b, size_t limit, int64_t window_ms);
/* Counts one presence request of (tenant, app) at now. Returns 0, or the
 * seconds to wait (>= 1) when it is refused. */
int fg_budget__take(struct fg_budget *b, const char *tenant, const char *client_id, int64_t now);
/* {"limit","window_ms","apps":[{"tenant","client_id","total","refused","max_in_window"}]} */
cJSON *fg_budget__json(const struct fg_budget *b);
/* Forgets the counts (keeps limit and window). */
void fg_budget__reset(struct fg_budget *b);

#endif
