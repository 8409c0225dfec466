/* User directory of one tenant for the presence writer (docs/graph.md
 * "Presence writes"): configured address (UPN) -> Azure AD object id.
 * Presence routes take the object id only. Ids come from the caller (the
 * Graph side names them in teams/<id>/busy) or are looked up here, 20 per
 * $batch through the Graph client (user lookups are not presence requests:
 * they do not spend the presence budget), and cached until forgotten (a
 * presence route answered 404 for the id). Loop thread only. */
#ifndef PS_GRAPH_DIRECTORY_H
#define PS_GRAPH_DIRECTORY_H

#include <stdint.h>

struct loop;
struct graph_client_tenant;
struct directory;

enum directory_status {
    DIRECTORY_FOUND = 0,
    DIRECTORY_NOT_FOUND, /* Azure AD does not know the address */
    DIRECTORY_FAILED,    /* no answer, throttled, or an error: try again later */
    DIRECTORY_STOPPED,
};

/* id: the object id when FOUND, else NULL; valid during the call. */
typedef void (*directory_fn)(void *ctx, enum directory_status st, const char *id,
                             int64_t retry_after_ms, const char *error);

struct directory *directory__new(struct loop *loop, struct graph_client_tenant *ct);
/* Returns 1 with *id (valid until the entry is forgotten) when cached;
 * 0 when a lookup was started (fn runs later, exactly once); -1 when out of
 * memory or stopped (fn is not called). Addresses compare case-insensitively. */
int directory__resolve(struct directory *d, const char *upn, const char **id, directory_fn fn,
                       void *ctx);
/* Drops the cached id of upn: the next resolve looks it up again. */
void directory__forget(struct directory *d, const char *upn);
/* Waiting lookups end as DIRECTORY_STOPPED. */
void directory__stop(struct directory *d);
void directory__free(struct directory *d);

#endif
