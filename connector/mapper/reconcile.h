/* The mapper's pure core: per user, what each side reports, what the mapper
 * has written into each side, and the writes that would bring both systems
 * to the desired state. No I/O, no clock: every function takes `now` in
 * milliseconds (the daemon passes the monotonic clock, so a wall-clock jump
 * cannot stall a retry; `since` values are wall times, for display only),
 * so the unit tests and the model checker drive time.
 *
 * Level-triggered: reconcile__plan() derives the actions from the current
 * (inputs, written, in-flight, retry) state only, never from edges, so a
 * replayed or lost intermediate event cannot leave a stale write behind.
 * Per user and per side at most one write is in flight; a queued action is
 * simply recomputed, so a newer desire replaces it.
 *
 * Rules (docs/mapper.md has the long form):
 *  - Voice -> Teams: calls > 0 wants our session Busy/InACall (refreshed
 *    before it expires); no calls wants clearPresence (404 = done), then a
 *    read of the user's Teams presence settle_ms later.
 *  - Teams -> Voice: a *real* Teams call (activity in busy_activities) wants
 *    Voice 'talking' true; otherwise false, but only a flag the mapper set
 *    (or may have set in an earlier run) is ever written false.
 *  - Echo rule: `InACall` is the one activity the mapper writes. While the
 *    mapper may own a session (set, in flight, clearing, or within
 *    echo_grace_ms of the clear, or unknown at start) an InACall report is
 *    ambiguous: it keeps the previous belief and is never mirrored; when no
 *    session is held any more it triggers a read, whose answer (taken with
 *    no session of ours in Teams) is the truth. Every other busy activity
 *    is real, since the mapper never writes it.
 */
#ifndef PS_MAPPER_RECONCILE_H
#define PS_MAPPER_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"

#define RECONCILE_VALUE_MAX   64
#define RECONCILE_ERROR_MAX   160
#define RECONCILE_MAX_ACTIONS 2 /* at most one per side */
#define RECONCILE_NEVER       INT64_MAX

/* The activity the mapper sets (docs/mapper.md; graph/graph_writer.h sets it). */
#define RECONCILE_SET_AVAILABILITY "Busy"
#define RECONCILE_SET_ACTIVITY     "InACall"

struct reconcile_config {
    int64_t session_ms;    /* expirationDuration (presence_session_minutes) */
    int64_t settle_ms;     /* after clearPresence, before the read */
    int64_t echo_grace_ms; /* after a clear, InACall may still be our echo */
    int64_t startup_ms;    /* how long to wait for a side's first input */
    int64_t retry_base_ms; /* backoff for failed writes */
    int64_t retry_max_ms;
    const char *const *busy; /* busy_activities; NULL: the default (docs/mapper.md) */
    size_t n_busy;
    bool no_voice_writes; /* the tenant's Voice writer is off: no RECONCILE_VOICE_SET */
};

/* Defaults: session 15 min, settle 5 s, grace 60 s, startup 30 s,
 * retries 1 s .. 5 min. */
void reconcile__config_default(struct reconcile_config *cfg);

enum reconcile_action_kind {
    RECONCILE_GRAPH_SET_BUSY, /* setPresence Busy/InACall, session_ms */
    RECONCILE_GRAPH_CLEAR,    /* clearPresence (404 = done) */
    RECONCILE_GRAPH_READ,     /* GET presence, result via reconcile__teams_read() */
    RECONCILE_VOICE_SET,      /* write the 'talking' flag = value */
};

/* The system a write goes to (B/sync and the metrics call it the side). */
enum reconcile_target { RECONCILE_TEAMS = 0, RECONCILE_VOICE = 1 };

struct reconcile_action {
    enum reconcile_action_kind kind;
    bool value;         /* RECONCILE_VOICE_SET: the flag to write */
    int64_t not_before; /* on the clock of `now` (the daemon's monotonic ms); <= now: due */
    const char *why;    /* static: "voice call", "refresh", "settle read"... */
};

/* What the mapper has written into Teams. UNKNOWN: an earlier run may have
 * left a session (start-up). */
enum reconcile_session {
    RECONCILE_SESSION_NONE,
    RECONCILE_SESSION_BUSY,
    RECONCILE_SESSION_UNKNOWN
};
/* What the mapper has written into Voice's 'talking' flag. */
enum reconcile_flag {
    RECONCILE_FLAG_NONE,
    RECONCILE_FLAG_TRUE,
    RECONCILE_FLAG_FALSE,
    RECONCILE_FLAG_UNKNOWN
};

/* Where the belief about the Teams call came from. */
enum reconcile_origin { RECONCILE_ORIGIN_NONE, RECONCILE_ORIGIN_USER, RECONCILE_ORIGIN_ECHO };

/* The texts of the inputs (availability, activity, source) are kept by
 * reconcile_text__set(): a constant of a closed vocabulary, or a heap copy
 * the user owns (reconcile__user_free); NULL until the first report. Read
 * them through reconcile_text__get(), which gives "" for NULL. */
struct reconcile_teams_input {
    bool known;
    bool busy; /* activity in busy_activities */
    const char *availability;
    const char *activity;
    int64_t since;      /* as reported */
    int64_t at;         /* when the mapper observed it */
    const char *source; /* notification | resync | read */
    uint64_t seq;       /* observation counter of this user */
};

struct reconcile_voice_input {
    bool known;
    bool talking; /* calls > 0 */
    int calls;
    int64_t since;
    int64_t at;
    const char *source;
};

struct reconcile_target_state {
    bool in_flight;
    struct reconcile_action flight; /* the action in flight */
    int64_t flight_started;
    int64_t retry_at; /* after a failure: not before this; 0 none */
    struct backoff backoff;
    int failures; /* consecutive */
};

struct reconcile_user {
    /* Borrowed (reconcile__user_init): they must outlive the user. Not copies: at
     * 10,000 users the copies were 4 MB. */
    const char *tenant;
    const char *address;

    struct reconcile_teams_input teams;
    struct reconcile_voice_input voice;

    /* The belief: is the user in a real (not our own) Teams call? */
    bool teams_real;
    enum reconcile_origin origin; /* of the last busy report: user or our echo */

    /* Written state. */
    enum reconcile_session session;
    bool session_probe;      /* start-up: read whether a leftover can exist before clearing */
    int64_t session_at;      /* set: when the last set started; clear: when done */
    int64_t session_expires; /* session end as asked (session_at + session_ms) */
    int64_t cleared_at;      /* last successful clear; 0 never */
    bool need_read;          /* a read is owed (after a clear, or an ambiguous report) */
    int64_t read_after;      /* not before */
    int reads_since_clear;   /* an InACall read right after a clear is confirmed once */
    uint64_t read_seq;       /* teams.seq when the read in flight began */
    enum reconcile_flag flag;
    int64_t flag_at;

    struct reconcile_target_state target[2]; /* by enum reconcile_target */

    int64_t started;  /* reconcile__user_init time: for startup_ms */
    bool retired;     /* removed from the config: wind our writes down */
    char *last_error; /* heap, at most RECONCILE_ERROR_MAX bytes; NULL none */
    int64_t last_error_at;
};

/* At start every user may own a session and a flag from an earlier run:
 * session and flag UNKNOWN, so they are cleared unless a call needs them.
 * What the earlier run recorded (reconcile__restore) settles the session; without
 * a record the Teams side is read first (session_probe): a read costs a 650th of
 * a request in getPresencesByUserId, a clear one whole request of Graph's
 * budget, and a leftover Busy session shows in the aggregate as Busy or
 * DoNotDisturb unless a user-preferred state hides it. */
void reconcile__user_init(struct reconcile_user *u, const char *tenant, const char *address,
                          int64_t now);
/* tenant and address are kept as pointers, not copied. */

/* Frees what the user owns (its texts); the struct itself is the caller's. */
void reconcile__user_free(struct reconcile_user *u);
/* dst becomes a copy of src that owns its own texts (dst is overwritten, not
 * freed first). -1: out of memory (dst then owns what it could copy). */
int reconcile__user_copy(struct reconcile_user *dst, const struct reconcile_user *src);

/* The input texts (reconcile_text.c): *slot becomes v (NULL: ""), the old
 * value released; release frees an owned copy and sets NULL; own makes *slot
 * a copy of its own (after a struct copy); get reads a slot ("" for NULL). */
void reconcile_text__set(const char **slot, const char *v);
void reconcile_text__release(const char **slot);
int reconcile_text__own(const char **slot);
const char *reconcile_text__get(const char *slot);

/* What the previous run's retained B/sync/<id> says about our session. */
enum reconcile_record {
    RECONCILE_RECORD_ABSENT,   /* no record: read first, clear where Busy/DND shows */
    RECONCILE_RECORD_NONE,     /* it held no session: nothing to clear */
    RECONCILE_RECORD_MAY_HOLD, /* it held one (or was setting or clearing one): clear it,
                                * whatever the aggregate shows (a user-preferred Away,
                                * Available, BeRightBack or Offline hides it) */
};
/* Applies the record to a user still in its start-up state (else nothing). */
void reconcile__restore(struct reconcile_user *u, enum reconcile_record rec);

/* A Teams report (topic or resync). busy is recomputed from activity with
 * cfg->busy; the caller's flag is only used when activity is empty. */
void reconcile__teams_report(struct reconcile_user *u, const struct reconcile_config *cfg,
                             const char *availability, const char *activity, int64_t since,
                             const char *source, int64_t now);
/* A Voice report. */
void reconcile__voice_report(struct reconcile_user *u, bool talking, int calls, int64_t since,
                             const char *source, int64_t now);

/* Pure: the actions that would converge this user, each with a not-before
 * time. Actions of a side that has a write in flight are not listed.
 * Returns the count (<= RECONCILE_MAX_ACTIONS). */
size_t reconcile__plan(const struct reconcile_user *u, const struct reconcile_config *cfg,
                       int64_t now, struct reconcile_action *out);
/* The earliest not_before over reconcile__plan(), or RECONCILE_NEVER. */
int64_t reconcile__next_due(const struct reconcile_user *u, const struct reconcile_config *cfg,
                            int64_t now);

/* Marks an action as in flight (the caller is about to send it). */
void reconcile__begin(struct reconcile_user *u, const struct reconcile_action *a, int64_t now);

/* Outcome of an action. ok: done (clearPresence 404 counts as ok).
 * On failure retry_after_ms (>= 0) overrides the backoff; random is the
 * jitter draw (0..UINT32_MAX). error: short text for B/sync. */
struct reconcile_result {
    bool ok;
    int64_t retry_after_ms; /* -1 absent */
    uint32_t random;
    const char *error;
};
void reconcile__done(struct reconcile_user *u, const struct reconcile_config *cfg,
                     enum reconcile_target target, const struct reconcile_result *res, int64_t now);
/* The result of RECONCILE_GRAPH_READ: done + the presence it read. */
void reconcile__teams_read(struct reconcile_user *u, const struct reconcile_config *cfg,
                           const char *availability, const char *activity, int64_t now);

/* Whether the mapper may currently own a Teams session for u (echo window). */
bool reconcile__may_own_session(const struct reconcile_user *u, const struct reconcile_config *cfg,
                                int64_t now);
bool reconcile__is_busy_activity(const struct reconcile_config *cfg, const char *activity);

/* The B/sync/<id> payload (malloc'd JSON; free()). wall_offset turns the
 * core's times into wall-clock ms (0 when the caller drives the core with
 * wall time); the `since` fields are taken as wall times. */
char *reconcile__sync_json(const struct reconcile_user *u, const struct reconcile_config *cfg,
                           int64_t now, int64_t wall_offset);

const char *reconcile__action_name(enum reconcile_action_kind kind);

#endif
