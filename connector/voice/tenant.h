/* One tenant of the Voice side, on the loop thread: the REST start-up
 * (discovery, /users/me, the user map), the RTE session (token, negotiate,
 * WebSocket, SignalR handshake, Subscribe, pings, watchdog, token refresh,
 * reconnect with backoff), call tracking and the voice/<id>/talking topics,
 * and the tenant's Voice section of B/health and readiness.
 *
 * Free of config.h: the component copies what it needs into struct
 * vtenant_options, so a tenant can be tested without a whole config.
 */
#ifndef PS_VOICE_TENANT_H
#define PS_VOICE_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "voice/events.h"
#include "voice/writer.h"

struct loop;
struct bus;
struct http_client;
struct voice_writer;

struct vtenant_options {
    const char *name;
    const char *discovery_url;
    const char *api_url; /* NULL: discovery */
    const char *username;
    const char *secret_key;
    bool webhook_enabled;
    /* Follow no calls: only the REST session, the user map and the writer,
     * for a process that runs the mapper but not the Voice side. */
    bool writer_only;
    int max_call_minutes;
    const char *topic_prefix;
    /* How 'talking' is written (strings copied by the writer; mode OFF:
     * the Teams -> Voice writer is off). */
    struct voice_talking_config talking;
    /* The event model, taken over by tenant__new (freed with the tenant,
     * also when tenant__new fails); NULL: events__model_default(). */
    struct events_model *events;
    const char *ca_file;      /* NULL: the system CA store */
    const char *capture_file; /* NULL: no capture */
    int capture_count;
    /* Timings; 0 = the defaults (ping 15 s, silence 30 s, user map 1 h,
     * expiry check 60 s, reconnect backoff 1 s .. 60 s). */
    int64_t ping_ms, silence_ms, users_refresh_ms, expire_check_ms, backoff_base_ms, backoff_max_ms;
};

struct vtenant;

/* Copies opt; addresses are copied too. */
struct vtenant *tenant__new(struct loop *loop, struct bus *bus, struct http_client *http,
                            struct voice_writer *writer, const struct vtenant_options *opt,
                            const char *const *addresses, size_t n_addresses);
void tenant__start(struct vtenant *t);
/* New configured addresses (SIGHUP): refetches the user map, subscribes new
 * users. */
void tenant__reload(struct vtenant *t, const char *const *addresses, size_t n_addresses);
/* Any thread: the tenant's event model (fixed for its life), to parse
 * webhook bodies with. */
const struct events_model *tenant__model(const struct vtenant *t);
/* A webhook event (already authenticated and parsed), with its raw body
 * for voice.capture (may be NULL). */
void tenant__webhook_event(struct vtenant *t, const struct voice_call_event *ev, const char *body,
                           size_t len);
/* Call state carried over from the previous run (a retained
 * voice/<id>/talking with `calls` > 0, read at start; see docs/voice.md):
 * when address is one of the tenant's configured users, keeps `calls`
 * carried-over calls started at since_ms for it (ids: the
 * ids of n_ids of them, as the payload named them) (applied once the user map
 * is loaded) and returns true; false when the address is not the tenant's,
 * the seed window is closed, or the user was seeded already. */
bool tenant_seed__add(struct vtenant *t, const char *address, size_t calls, int64_t since_ms,
                      const char *const *ids, size_t n_ids);
/* Ends the seed window: later seeds are ignored, and the users' states,
 * held back until now so that a carried-over call is not announced as
 * 'not talking', are published (once the link is live). */
void tenant_seed__done(struct vtenant *t);
/* Stops timers and the RTE thread; in-flight HTTP completions that still
 * arrive are ignored. */
/* Whether this process publishes the tenant's voice/<id>/talking (role/role.h,
 * docs/ha.md): a standby keeps its link (read only) and the call state; when
 * it starts writing it publishes every user's current state. */
void tenant__set_writes(struct vtenant *t, bool writes);
/* The role to check again at each publish (a fence may be a tick ahead of
 * tenant__set_writes). */
struct role;
void tenant__set_role(struct vtenant *t, const struct role *role);
void tenant__stop(struct vtenant *t);
void tenant__free(struct vtenant *t);

const char *tenant__name(const struct vtenant *t);
/* Any thread: whether the user map is loaded, so that an event can be
 * matched to a user (the webhook answers 503 before that). */
bool tenant__accepting_events(struct vtenant *t);

#endif
