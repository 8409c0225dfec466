/* Writing 'talking' into Enreach Voice (docs/voice.md "Writing 'talking'").
 *
 * The mapper calls voice_writer__set_talking() on the loop thread with the
 * desired value for a user; the writer sends it the way the tenant's
 * `talking_request` says:
 * - template: the configured method, path and body (`{userId}`, `{email}`,
 *   `{talking}` substituted), one request;
 * - availability (opt-in, a deviation from the product's behaviour): true
 *   creates an availability entry (`POST /users/{id}/availability` with our
 *   EventSource) and remembers its Id; false deletes the entry we created
 *   (`DELETE /users/{id}/availability/{Id}`), or, when this process never
 *   created one (a restart), reads `GET /users/{id}/availability/current`
 *   and deletes it only when its EventSource is ours. An entry the user made
 *   is never touched.
 * - off (no talking_request): the tenant is not enabled, set_talking refuses
 *   (voice_writer__enabled() says so up front).
 *
 * Single attempt: every accepted value is sent once and reported once; the
 * caller (the mapper's reconcile core) retries failures with its own
 * backoff, honouring retry_after_ms. At most one request per user is in
 * flight; a newer value for the same user replaces a queued older one,
 * whose callback then reports VOICE_WRITE_SUPERSEDED (newest value wins).
 * Until the tenant's user map is loaded a write waits, at most
 * map_wait_ms (default 10 s), then fails; an address Voice does not know
 * ends as VOICE_WRITE_UNKNOWN_USER.
 */
#ifndef PS_VOICE_WRITER_H
#define PS_VOICE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct talking_request;
struct voice_rest;
struct voice_writer;

enum voice_talking_mode {
    VOICE_TALKING_OFF = 0, /* no talking_request: Teams -> Voice is off */
    VOICE_TALKING_TEMPLATE,
    VOICE_TALKING_AVAILABILITY,
};

struct voice_talking_config {
    enum voice_talking_mode mode;
    const char *method, *path, *body; /* template */
    int event_type_id;                /* availability */
    const char *event_source, *note;  /* availability; note may be NULL */
};

/* The writer's view of a tenant's voice.talking_request (core/config.h);
 * the strings stay the config's. */
struct voice_talking_config voice_writer__talking_config(const struct talking_request *r);

enum voice_write_status {
    VOICE_WRITE_OK = 0,
    VOICE_WRITE_SUPERSEDED, /* a newer value for the same user replaced it */
    VOICE_WRITE_FAILED,     /* any other answer, a transport error, no user map */
    VOICE_WRITE_UNKNOWN_USER,
    VOICE_WRITE_STOPPED, /* the daemon stopped first */
};

struct voice_write_result {
    const char *tenant;
    const char *email;
    bool talking;
    enum voice_write_status status;
    int http_status;        /* last HTTP status, 0 for none / transport error */
    int attempts;           /* requests sent for this value (0 or more) */
    const char *error;      /* readable, NULL on success */
    int64_t retry_after_ms; /* from Retry-After, -1 absent */
};

/* Runs on the loop thread; res is valid during the call only. */
typedef void (*voice_write_fn)(void *ctx, const struct voice_write_result *res);
/* 1 with *user_id set when Voice knows email; 0 when it does not; -1 when
 * the user map is not loaded yet. */
typedef int (*voice_writer_lookup_fn)(void *ctx, const char *email, const char **user_id);

const char *voice_write_status__name(enum voice_write_status s);

struct voice_writer *voice_writer__new(struct loop *loop);
/* Registers a tenant: its REST client (API base and credentials), how to
 * write (copied), how to look up user ids, and an optional report for every
 * final result (for B/health). A tenant with mode OFF is registered but not
 * enabled. */
int voice_writer__add_tenant(struct voice_writer *w, const char *tenant, struct voice_rest *rest,
                             const struct voice_talking_config *cfg, voice_writer_lookup_fn lookup,
                             voice_write_fn report, void *ctx);
/* Whether writes for the tenant are configured (any thread after set-up:
 * fixed when the tenant is added). */
bool voice_writer__enabled(const struct voice_writer *w, const char *tenant);
/* How long a write waits for the user map (default 10 s); for tests. */
void voice_writer__set_map_wait(struct voice_writer *w, int64_t ms);
/* A tenant's writes go out only while role__writes(role, tenant)
 * (docs/ha.md); others end VOICE_WRITE_FAILED. NULL: always. */
struct role;
void voice_writer__set_role(struct voice_writer *w, const struct role *role);

/* Loop thread. Desired value for one user. Returns 0 (cb, when not NULL,
 * runs later, exactly once), or -1 for an unknown or not enabled tenant or
 * out of memory (cb is not called). */
int voice_writer__set_talking(struct voice_writer *w, const char *tenant, const char *email,
                              bool talking, voice_write_fn cb, void *ctx);
/* Writes queued, waiting or in flight. */
size_t voice_writer__pending(const struct voice_writer *w);
/* Users with a slot: a write under way, or an availability entry we made
 * (an idle slot is freed on the next loop turn). */
size_t voice_writer__slots(const struct voice_writer *w);

/* Loop thread. Queued and waiting writes end as VOICE_WRITE_STOPPED; those
 * in flight end so when their completion arrives. */
void voice_writer__stop(struct voice_writer *w);
/* After every in-flight completion has run (HTTP client freed). */
void voice_writer__free(struct voice_writer *w);

#endif
