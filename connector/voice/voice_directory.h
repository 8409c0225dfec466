/* One Voice tenant's user directory: the configured addresses, the map from
 * them to Voice ids built from GET /users (by UserName, else by Email), the
 * addresses Voice does not know, and the users that left the map on a
 * reload (the mapper may still write their flag false). Lookups by Voice id
 * (events) and by address, case-insensitively (writes), are one search
 * each. Pure: no loop, bus or network; the tenant (tenant.c) owns one and
 * uses it on the loop thread. */
#ifndef PS_VOICE_VOICE_DIRECTORY_H
#define PS_VOICE_VOICE_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct voice_users;

/* A user of the map. address and id (lower-cased) are fixed; the rest is the
 * tenant's publishing state, carried over when the map is rebuilt. */
struct voice_dir_user {
    char *address;
    char *id;
    char *topic;           /* <topic_prefix>voice/<topic id>/talking */
    int64_t idle_since_ms; /* wall ms: when the user last stopped talking */
    bool announced;        /* state published at least once */
};

struct voice_directory;

/* name is the tenant's (for the log); topic_prefix may be NULL. NULL when
 * out of memory. */
struct voice_directory *voice_directory__new(const char *name, const char *topic_prefix);
void voice_directory__free(struct voice_directory *d);

/* The configured addresses (copied; a reload replaces them; the map changes
 * only with the next voice_directory__apply). 0 or -1. */
int voice_directory__set_addresses(struct voice_directory *d, const char *const *addresses,
                                   size_t n);
size_t voice_directory__n_addresses(const struct voice_directory *d);
/* Whether address is configured (any case). */
bool voice_directory__configured(const struct voice_directory *d, const char *address);

/* Rebuilds the map from Voice's users: logs new matches, two addresses of
 * one Voice user (the first kept) and addresses Voice does not know (once
 * each); users that left go to the former list. *fresh gets the ids that
 * were not in the map before (malloc'd; the strings belong to the map).
 * 0, or -1 when out of memory (the old map stays). */
int voice_directory__apply(struct voice_directory *d, const struct voice_users *vu,
                           const char ***fresh, size_t *n_fresh);
/* Whether a map was built. */
bool voice_directory__loaded(const struct voice_directory *d);

size_t voice_directory__n_users(const struct voice_directory *d);
/* The i-th user, in id order. */
struct voice_dir_user *voice_directory__user(struct voice_directory *d, size_t i);
/* The user with that Voice id (lower case), or NULL. */
struct voice_dir_user *voice_directory__find(struct voice_directory *d, const char *id);
/* The Voice id of an address: the map's (*current true), else one that left
 * it on a reload, else NULL. current may be NULL. */
const char *voice_directory__by_address(const struct voice_directory *d, const char *address,
                                        bool *current);

/* Configured addresses that Voice does not know. */
size_t voice_directory__n_missing(const struct voice_directory *d);
const char *voice_directory__missing(const struct voice_directory *d, size_t i);

#endif
