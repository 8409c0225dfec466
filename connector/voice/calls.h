/* Call tracker: which Voice users are talking (docs/voice.md "Event
 * model").
 *
 * Design: a user is talking while at least one of their callIds is connected
 * and not yet disconnected, on any terminal. The tracker keeps, per user, the
 * set of connected callIds with the time each was first seen, in a hash map
 * keyed by lower-cased user id (10,000 users is the design size). Users with
 * no calls are removed, so memory follows live calls, not configured users.
 * Events are idempotent: a repeated Connected changes nothing, a Disconnected
 * for an unknown callId is harmless. A disconnect can be missed while the
 * link is down, so calls__expire() drops calls older than max_call_minutes
 * and reports each one for the caller to log. All times are the caller's
 * clock (one base for events and expiry). Single-threaded: the loop thread
 * owns the tracker.
 *
 * Carried-over calls: after a daemon restart the tracker is seeded from the
 * retained voice/<id>/talking topic of the previous run (calls__seed): N
 * calls whose callIds are unknown, started at the retained `since`. A
 * Disconnected with a callId the tracker does not know consumes one of them;
 * they count, set `since` and expire like any other call. In callbacks
 * their call_id is "" (a real callId is never empty).
 */
#ifndef PS_VOICE_CALLS_H
#define PS_VOICE_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "voice/events.h"

/* Connected calls kept per user; one more is refused (a flood of connects
 * without disconnects is a broken source, not a busy user). */
#define CALLS_MAX_PER_USER 64

struct calls;

struct calls *calls__new(void);
void calls__free(struct calls *t);

/* Applies one event at now_ms. Returns 1 when the user's talking state
 * changed (0 -> 1 call or 1 -> 0), 0 when not (other events, duplicates,
 * unknown disconnects without a carried-over call, a second concurrent
 * call), -1 for a call event
 * without ids, more than CALLS_MAX_PER_USER calls, or out of memory. */
int calls__event(struct calls *t, const struct voice_call_event *ev, int64_t now_ms);

/* Adds n carried-over calls (no callId known) for the user, first seen at
 * started_ms, up to CALLS_MAX_PER_USER calls in all. Returns 1 when the
 * user's talking state changed (0 -> some calls), 0 when not (n == 0, or the
 * user already had calls), -1 for a bad id, n above the cap (nothing added)
 * or out of memory. */
int calls__seed(struct calls *t, const char *user_id, size_t n, int64_t started_ms);
/* A carried-over call whose callId the previous run named (the payload's
 * call_ids), first seen at started_ms: added like a Connected, and nothing
 * when the user already has it (this process saw its Connected itself, or
 * another instance published it while this one was starting: docs/ha.md).
 * Returns as calls__seed. */
int calls__seed_call(struct calls *t, const char *user_id, const char *call_id, int64_t started_ms);
/* Carried-over calls a user still has. */
size_t calls__carried(const struct calls *t, const char *user_id);

/* Reported for each call dropped by calls__expire(), calls__clear_all() or
 * calls__status(). stopped_talking is true on the user's last call. */
typedef void (*calls_drop_cb)(void *ctx, const char *user_id, const char *call_id,
                              int64_t started_ms, bool stopped_talking);

/* The call id that stands for a call known only from a UserStatus saying
 * talking (docs/voice.md "UserStatus"); a real callId never has brackets. */
#define CALLS_STATUS_ID "(user-status)"

/* The user's status from an authoritative source (UserStatus with a rule).
 * talking: a user with no call gets one CALLS_STATUS_ID call, first seen at
 * now_ms (a later Connected takes its place); free: every call of the user
 * ends (each reported to cb, which may be NULL), whatever its Disconnected
 * did or did not say. Returns 1 when the talking state changed, 0 when not,
 * -1 for a bad id or out of memory. */
int calls__status(struct calls *t, const char *user_id, bool talking, int64_t now_ms,
                  calls_drop_cb cb, void *ctx);

/* Up to max of the user's callIds into ids (pointers into the tracker, valid
 * until its next change); calls without one (carried over
 * unnamed, or the one a UserStatus stands for) are left out. */
size_t calls__ids(const struct calls *t, const char *user_id, const char **ids, size_t max);
/* Connected calls of a user (case-insensitive id); 0 when unknown. */
size_t calls__count(const struct calls *t, const char *user_id);
/* When the user's oldest live call was first seen; 0 when not talking. */
int64_t calls__since(const struct calls *t, const char *user_id);
/* Users currently talking. */
size_t calls__users_talking(const struct calls *t);

/* Drops calls first seen more than max_call_minutes before now_ms
 * (max_call_minutes <= 0: nothing expires). Returns how many were dropped. */
size_t calls__expire(struct calls *t, int64_t now_ms, int max_call_minutes, calls_drop_cb cb,
                     void *ctx);
/* Drops every call (the caller's resync policy after a link loss decides
 * when). cb may be NULL. Returns how many were dropped. */
size_t calls__clear_all(struct calls *t, calls_drop_cb cb, void *ctx);

#endif
