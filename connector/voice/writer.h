/* Writing 'talking' into Enreach Voice (CONTRACT §6, §7 "Writing 'talking'").
 *
 * The mapper calls voice_writer__set_talking() on the loop thread with the
 * desired value for a user; the writer renders the tenant's talking_request
 * template and sends it:
 * - at most one request per user in flight; a newer desired value replaces
 *   a queued (or waiting-to-retry) older one, whose callback then reports
 *   VOICE_WRITE_SUPERSEDED;
 * - retried with backoff (struct backoff, at least Retry-After) on 429, 408,
 *   5xx and transport errors (timeouts); never retried on other 4xx, which
 *   end as VOICE_WRITE_FAILED, are logged and reported to the tenant;
 * - the request is idempotent (same value twice is harmless), so a retry
 *   after a lost answer is safe.
 * Until the tenant's user map is loaded a write waits (retrying); an address
 * Voice does not know ends as VOICE_WRITE_UNKNOWN_USER.
 */
#ifndef PS_VOICE_WRITER_H
#define PS_VOICE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct voice_rest;
struct voice_writer;

enum voice_write_status {
    VOICE_WRITE_OK = 0,
    VOICE_WRITE_SUPERSEDED, /* a newer value for the same user replaced it */
    VOICE_WRITE_FAILED,     /* a non-retryable answer (4xx other than 408/429) */
    VOICE_WRITE_UNKNOWN_USER,
    VOICE_WRITE_STOPPED, /* the daemon stopped first */
};

struct voice_write_result {
    const char *tenant;
    const char *email;
    bool talking;
    enum voice_write_status status;
    int http_status;        /* last HTTP status, 0 for none / transport error */
    int attempts;           /* requests sent for this value */
    const char *error;      /* readable, NULL on success */
    int64_t retry_after_ms; /* Voice's Retry-After on a failure, -1 absent */
};

/* Runs on the loop thread; res is valid during the call only. */
typedef void (*voice_write_fn)(void *ctx, const struct voice_write_result *res);
/* 1 with *user_id set when Voice knows email; 0 when it does not; -1 when
 * the user map is not loaded yet. */
typedef int (*voice_writer_lookup_fn)(void *ctx, const char *email, const char **user_id);

const char *voice_write_status__name(enum voice_write_status s);

struct voice_writer *voice_writer__new(struct loop *loop);
/* Registers a tenant: its REST client (API base and credentials), its
 * talking_request template (copied), how to look up user ids, and an
 * optional report for every final result (for B/health). */
int voice_writer__add_tenant(struct voice_writer *w, const char *tenant, struct voice_rest *rest,
                             const char *method, const char *path, const char *body,
                             voice_writer_lookup_fn lookup, voice_write_fn report, void *ctx);
/* Retry timing (defaults 1 s .. 60 s); for tests. */
void voice_writer__set_backoff(struct voice_writer *w, int64_t base_ms, int64_t max_ms);

/* Loop thread. Desired value for one user. Returns 0 (cb, when not NULL,
 * runs later, exactly once), or -1 for an unknown tenant or out of memory
 * (cb is not called). */
int voice_writer__set_talking(struct voice_writer *w, const char *tenant, const char *email,
                              bool talking, voice_write_fn cb, void *ctx);
/* Writes queued, waiting or in flight. */
size_t voice_writer__pending(const struct voice_writer *w);

/* Loop thread. Queued and waiting writes end as VOICE_WRITE_STOPPED; those
 * in flight end so when their completion arrives. */
void voice_writer__stop(struct voice_writer *w);
/* After every in-flight completion has run (HTTP client freed). */
void voice_writer__free(struct voice_writer *w);

/* The running daemon's writer, for the mapper (loop thread); NULL when the
 * Voice side is not running. */
struct voice_writer *voice_writer__default(void);
void voice_writer__set_default(struct voice_writer *w);

#endif
