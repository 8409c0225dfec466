/* Presence reads and the per-user busy state of one tenant (docs/graph.md
 * "Resync" and "Presence, busy and teams/<id>/busy").
 *
 * Graph never reports a missed presence notification, so everyone's
 * presence is read again with getPresencesByUserId (650 ids a request, app
 * token, one unit of the presence budget) when asked (start, after every
 * subscription (re)creation, on `missed`) and every resync_minutes. The same
 * reader resolves basic notifications, which carry ids only. resync__apply
 * is the one place that changes a user's busy state: it drops out-of-order
 * updates by sequenceNumber and publishes <prefix>teams/<id>/busy when
 * availability, activity or busy changed.
 *
 * A failed read is retried with backoff (RESYNC_MAX_TRIES in all) after at
 * least the answer's Retry-After.
 *
 * Loop thread only. */
#ifndef PS_GRAPH_RESYNC_H
#define PS_GRAPH_RESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus;
struct cJSON;
struct loop;
struct graph_client_tenant;
struct graph_config;
struct graph_ready;
struct graph_status;
struct graph_users;
struct graph_resync;
struct presence_state;

#define RESYNC_CHUNK     650 /* ids per getPresencesByUserId (Graph's maximum) */
#define RESYNC_MAX_TRIES 6   /* attempts per read */
#define RESYNC_READS_OUT 2   /* basic-notification reads out at a time */

struct graph_resync_options {
    struct loop *loop;
    struct bus *bus;
    struct graph_client_tenant *client;
    struct graph_users *users;
    const char *tenant;               /* borrowed */
    const struct graph_config *graph; /* busy_activities, resync_minutes; borrowed */
    int64_t period_ms;                /* > 0: instead of resync_minutes */
    struct graph_status *status;
};

struct graph_resync *resync__new(const struct graph_resync_options *o);
/* Starts the periodic resync timer. */
void resync__start(struct graph_resync *r);
/* Re-reads every resolved user's presence (coalesced while one runs). */
void resync__request(struct graph_resync *r, const char *reason);
/* Another instance is active for the tenant (docs/ha.md): full resyncs
 * (start, periodic, after a subscription or a missed event) are left to it,
 * because a standby's read can be older than the notification the active
 * instance published meanwhile and would overwrite it; the reads a basic
 * notification this instance received asks for still run. Becoming active
 * again runs one ("takeover"). */
void resync__set_standby(struct graph_resync *r, bool standby);
/* Reads the presence of some users (basic notifications); recv_mono is when
 * the webhook request arrived (for notification_latency_seconds). The ids
 * are gathered: at most RESYNC_READS_OUT reads are out at a time, and what
 * arrives meanwhile shares the next getPresencesByUserId (one unit of the
 * presence budget for up to 650 users); while the budget is tight a read
 * also waits GRAPH_READ_GATHER_MS for more ids, so a burst of notifications
 * does not spend the budget the mapper's writes need. */
void resync__read_ids(struct graph_resync *r, char *const *ids, size_t n, int64_t recv_mono);
/* Observes notification_latency_seconds{tenant} for n items received at
 * recv_mono (the busy state is decided now). */
void resync__observe_latency(struct graph_resync *r, int64_t recv_mono, size_t n);
/* Applies a presence; publishes the busy topic on change. Returns 1
 * changed, 0 unchanged, -1 dropped (unknown user, out of order). */
int resync__apply(struct graph_resync *r, const struct presence_state *p, const char *source);

/* The B/health part (graph_status.h): "last_resync". */
void resync__status(void *ctx, struct cJSON *section, struct graph_ready *ready);

/* Cancels timers and gathered reads; answers in flight are dropped. */
void resync__stop(struct graph_resync *r);
void resync__free(struct graph_resync *r);

#endif
