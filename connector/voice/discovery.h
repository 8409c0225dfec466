/* Parsing the Voice REST answers needed before RTE can start (docs/voice.md
 * "Discovery, authentication and users").
 *
 * Design: pure functions from a response body to owned C data, each with a
 * readable reason on failure, so the caller can log the status, the reason
 * and move on to its retry policy.
 * - discovery: `GET {discovery_url}/api/user?user=` -> a JSON array (a bare
 *   object is accepted too); the first element's apiEndpoint, trailing
 *   slashes stripped so paths can always be joined with '/'.
 * - `GET {api}/users/me` -> Id; `GET {api}/users` -> [{Id, UserName, Email}]
 *   (member names in any case).
 * - mapping configured addresses to Voice user ids by UserName or Email,
 *   case-insensitively (UserName first: it is the login; Enreach's own
 *   product matches the Azure UPN to the user's e-mail address); the
 *   addresses Voice does not know are returned for the caller to log.
 *   Sorted indexes keep 10,000 x 10,000 fast.
 * - `GET {api}/token/{meId}/rte/` -> {Token, WSSEndpoint}.
 */
#ifndef PS_VOICE_DISCOVERY_H
#define PS_VOICE_DISCOVERY_H

#include <stddef.h>

/* apiEndpoint -> *api_url (malloc'd, no trailing slash). Returns 0, or -1
 * with a reason: not JSON, an empty array, no string apiEndpoint, or not an
 * http(s) URL. */
int discovery__parse_endpoint(const char *body, size_t len, char **api_url, char *err,
                              size_t errlen);

/* `/users/me` -> *me_id (malloc'd). Returns 0 or -1 with a reason. */
int discovery__parse_me(const char *body, size_t len, char **me_id, char *err, size_t errlen);

struct voice_user {
    char *id;
    char *username; /* NULL when absent */
    char *email;    /* NULL when absent */
};

struct voice_users {
    struct voice_user *items;
    size_t n;
    size_t skipped; /* elements without a string Id, or with neither UserName nor Email */
};

/* `/users` -> *out. Returns 0 or -1 (not a JSON array). */
int discovery__parse_users(const char *body, size_t len, struct voice_users *out, char *err,
                           size_t errlen);
void voice_users__free(struct voice_users *u);

struct voice_match {
    const char *address; /* points at the caller's configured address */
    char *user_id;
    const char *field; /* static: "UserName" or "Email", the field that matched */
};

struct voice_mapping {
    struct voice_match *matched;
    size_t n_matched;
    const char **missing; /* the caller's addresses that Voice does not know */
    size_t n_missing;
};

/* Maps addresses to users by UserName, else by Email, case-insensitively.
 * When Voice has two users whose names differ only in case, the first one
 * wins. Returns 0, or -1 on out of memory (*out is then empty). */
int discovery__map_users(const struct voice_users *users, const char *const *addresses,
                         size_t n_addresses, struct voice_mapping *out);
void voice_mapping__free(struct voice_mapping *m);

/* `/token/{meId}/rte/` -> *token and *wss_endpoint (malloc'd). Returns 0 or
 * -1 with a reason (never the token itself). */
int discovery__parse_rte_token(const char *body, size_t len, char **token, char **wss_endpoint,
                               char *err, size_t errlen);

#endif
