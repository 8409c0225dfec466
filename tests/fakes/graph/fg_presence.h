/* fake-graph: presence rules (docs/graph.md "Graph facts the daemon
 * relies on").
 * Pure functions: no clock, no I/O, so the unit tests can pin every rule. */
#ifndef FG_PRESENCE_H
#define FG_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_STATE_LEN      32
#define FG_SESSION_ID_LEN 128

struct fg_presence {
    char availability[FG_STATE_LEN];
    char activity[FG_STATE_LEN];
};

/* One presence session: a Teams client (app=false) or an app's setPresence
 * session (app=true, id = the app's client id). */
struct fg_session {
    char id[FG_SESSION_ID_LEN];
    struct fg_presence p;
    bool app;
    int64_t expires_ms; /* wall clock; 0: never */
    int64_t updated_ms;
};

/* DoNotDisturb 4 > Busy 3 > Available 2 > Away 1; anything else 0. */
int fg_presence__rank(const char *availability);

/* Graph's aggregation: no session -> Offline/Offline; a user-preferred state
 * (preferred != NULL) beats every session; otherwise the highest-ranked
 * session wins (ties: the most recently updated) and its activity is shown. */
void fg_presence__aggregate(const struct fg_session *s, size_t n,
                            const struct fg_presence *preferred, struct fg_presence *out);

/* The five combinations setPresence accepts. */
bool fg_presence__valid_session_combo(const char *availability, const char *activity);
/* The six combinations setUserPreferredPresence accepts. */
bool fg_presence__valid_preferred_combo(const char *availability, const char *activity);

/* ISO 8601 duration (PnW, PnDTnHnMn.nS; no years/months) -> ms. 0 or -1. */
int fg_presence__parse_duration(const char *s, int64_t *ms);

/* setPresence's expirationDuration: NULL means the default PT5M; valid range
 * PT5M..PT4H. Returns 0, -1 for unparseable, -2 for out of range. */
int fg_presence__expiration(const char *s, int64_t *ms);

#define FG_EXPIRATION_MIN_MS (5 * 60 * 1000LL)
#define FG_EXPIRATION_MAX_MS (4 * 60 * 60 * 1000LL)

#endif
