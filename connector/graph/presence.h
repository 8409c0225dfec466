/* Teams presence evaluation (docs/graph.md "Presence, busy
 * and teams/<id>/busy"; docs/topics.md).
 *
 * Design: pure functions over strings, no state. The caller keeps the last
 * presence per user; these helpers say whether an update is busy, whether it
 * is newer than what we have (sequenceNumber), and build the retained
 * `teams/<id>/busy` payload. Activity names are compared case-insensitively
 * because Graph has shipped both PascalCase and camelCase values; unknown
 * activities are kept verbatim and are simply not busy unless configured.
 * `InAMeeting` is a calendar entry, not a call, so it is not in the default
 * busy list.
 */
#ifndef PS_GRAPH_PRESENCE_H
#define PS_GRAPH_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define PRESENCE_ID_MAX    128
#define PRESENCE_VALUE_MAX 64
#define PRESENCE_SEQ_MAX   128

/* The default graph.busy_activities (docs/configuration.md). */
extern const char *const presence__default_busy[];
extern const size_t presence__default_busy_count;

struct presence_state {
    char id[PRESENCE_ID_MAX + 1];
    char availability[PRESENCE_VALUE_MAX + 1];
    char activity[PRESENCE_VALUE_MAX + 1];
    char sequence[PRESENCE_SEQ_MAX + 1]; /* "" when absent */
};

/* True when activity is in busy (case-insensitive). busy == NULL uses the
 * default list. NULL or empty activity is never busy. */
bool presence__is_busy(const char *activity, const char *const *busy, size_t n_busy);

/* Whether an update with sequence `incoming` may replace the state with
 * sequence `current`: true when either is absent/empty (nothing to compare)
 * or incoming >= current lexicographically (Graph: "lexicographically
 * sortable"). An equal stamp is a re-delivery of the same version: accepted,
 * and harmless since topics are published on change only. */
bool presence__seq_accept(const char *current, const char *incoming);

/* Parses a presence object (decrypted notification content, or one element
 * of getPresencesByUserId's value[]). id, availability and activity are
 * required non-empty strings within the caps; sequenceNumber is optional.
 * Unknown fields are ignored. Returns 0, or -1 with *reason set to a static
 * string such as "availability: missing". */
int presence__parse(const cJSON *obj, struct presence_state *out, const char **reason);
/* Same from JSON text (e.g. a decrypted plaintext). */
int presence__parse_text(const char *json, size_t len, struct presence_state *out,
                         const char **reason);

/* The teams/<id>/busy payload (docs/topics.md): {"busy":..,"availability":..,"activity":..,
 * "since":"<ISO 8601 UTC>","source":..}, plus "user_id" (Graph's object id)
 * when user_id is not NULL or empty: the mapper reads many users' presence
 * in one getPresencesByUserId with it. source must be "notification" or
 * "resync". Returns a malloc'd string (free()) or NULL on bad arguments. */
char *presence__busy_payload(bool busy, const char *availability, const char *activity,
                             int64_t since_wall_ms, const char *source, const char *user_id);

#endif
