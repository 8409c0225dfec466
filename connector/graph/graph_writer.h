/* Teams presence writes for the mapper (docs/graph.md "Presence writes"):
 * set our Busy/InACall session, clear it, or read a user's presence.
 *
 * - Users are addressed by Azure AD object id only (presence routes do not
 *   take a UPN): the caller's id when it has one, else the directory's
 *   (directory.h: looked up, cached, forgotten when a presence route answers
 *   404 for it).
 * - What one loop turn asks for is coalesced: reads into
 *   getPresencesByUserId (up to 650 users, one presence request), writes into
 *   $batch (up to 20, each item one presence request) or a single request;
 *   at most GRAPH_WRITER_MAX_IN_FLIGHT requests per tenant, each waiting for
 *   the Graph client's presence budget.
 * - Single attempt: every submitted operation ends in exactly one result;
 *   retries are the caller's (the mapper's reconcile core). clearPresence
 *   answered 404 (no session of ours left) is OK.
 * Loop thread only. */
#ifndef PS_GRAPH_GRAPH_WRITER_H
#define PS_GRAPH_GRAPH_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct graph_client;
struct graph_writer;

#define GRAPH_WRITER_MAX_IN_FLIGHT 4   /* requests per tenant */
#define GRAPH_WRITER_READ_MAX      650 /* ids per getPresencesByUserId (Graph's maximum) */
/* The session GRAPH_OP_SET_BUSY sets (the mapper's echo rule knows it). */
#define GRAPH_BUSY_AVAILABILITY "Busy"
#define GRAPH_BUSY_ACTIVITY     "InACall"

enum graph_op {
    GRAPH_OP_SET_BUSY, /* setPresence Busy/InACall, sessionId = the app's client id */
    GRAPH_OP_CLEAR,    /* clearPresence of our session */
    GRAPH_OP_READ,     /* the user's presence (availability, activity) */
};

enum graph_write_status {
    GRAPH_WRITE_OK = 0,
    GRAPH_WRITE_FAILED,    /* refused or no answer: try again later */
    GRAPH_WRITE_THROTTLED, /* 429/503/504: try again after retry_after_ms */
    GRAPH_WRITE_NOT_FOUND, /* Graph does not know the user (or the id went stale) */
    GRAPH_WRITE_STOPPED,   /* the daemon stopped first */
};

struct graph_write {
    const char *tenant;
    const char *upn;     /* the configured address */
    const char *user_id; /* its object id when known, else NULL (looked up) */
    enum graph_op op;
    int64_t session_ms; /* SET_BUSY: expirationDuration (whole minutes are sent as PTnM) */
};

struct graph_write_result {
    const char *tenant;
    const char *upn;
    enum graph_op op;
    enum graph_write_status status;
    int http_status;          /* 0: none (no answer, not sent) */
    int64_t retry_after_ms;   /* -1 absent */
    const char *error;        /* short and readable, NULL on success */
    const char *availability; /* READ answered: the user's presence */
    const char *activity;
};

/* res is valid during the call only. */
typedef void (*graph_write_fn)(void *ctx, const struct graph_write_result *res);

const char *graph_writer__status_name(enum graph_write_status s);
const char *graph_writer__op_name(enum graph_op op);

struct graph_writer *graph_writer__new(struct loop *loop, struct graph_client *gc);
/* Per-request timeout (default 15 s; a $batch gets 5 s more). */
void graph_writer__set_timeout(struct graph_writer *w, int64_t ms);
/* Writes (not reads) of a tenant go out only while role__writes(role,
 * tenant) (docs/ha.md); others end GRAPH_WRITE_FAILED. NULL: always. */
struct role;
void graph_writer__set_role(struct graph_writer *w, const struct role *role);

/* Loop thread. Returns 0 (cb runs later, exactly once), or -1 for an unknown
 * tenant, a bad argument, a stopped writer or out of memory (cb not called). */
int graph_writer__submit(struct graph_writer *w, const struct graph_write *op, graph_write_fn cb,
                         void *ctx);

/* Operations waiting (for an id, for a request) end as GRAPH_WRITE_STOPPED;
 * those in flight end so when their answer (or abort) arrives. */
void graph_writer__stop(struct graph_writer *w);
void graph_writer__free(struct graph_writer *w);

/* ---- the pure parts (unit-tested) ---- */

/* The request body of setPresence/clearPresence (malloc'd). */
char *graph_writer__body(enum graph_op op, const char *client_id, int64_t session_ms);

/* One user's part of a request. */
struct graph_writer_item {
    enum graph_op op;
    const char *id; /* object id */
    int64_t session_ms;
};

/* The request for n items, all reads (1..GRAPH_WRITER_READ_MAX: one
 * getPresencesByUserId) or all writes (1: a single request, 2..20: a
 * $batch). Fills *path (static) and *body (malloc'd) and returns the
 * presence units Graph counts, or 0 on a bad argument / out of memory. */
unsigned graph_writer__encode(const struct graph_writer_item *items, size_t n,
                              const char *client_id, const char **path, char **body);

/* The outcome of one item from its HTTP status (0: no answer). per_user:
 * the status is the item's own (a $batch item, a single request), not the
 * whole request's (then a 404 is no proof that the user is unknown). */
enum graph_write_status graph_writer__status(enum graph_op op, int http_status, bool per_user);

#endif
