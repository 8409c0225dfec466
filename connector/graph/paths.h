/* Graph URL paths for users: lookups by UPN (the Graph side, the directory)
 * and presence by object id (the writer; docs/graph.md "Presence writes"). */
#ifndef PS_GRAPH_PATHS_H
#define PS_GRAPH_PATHS_H

/* "/users/{upn}" with the UPN escaped for a path segment ('@' kept as pchar;
 * '#', '/', '?', '%', spaces and non-ASCII percent-encoded), or the key form
 * "/users('{upn}')" for a UPN starting with '$' (docs/graph.md),
 * quotes doubled. malloc'd; NULL when out of memory. */
char *paths__user_path(const char *upn);

#define GRAPH_OBJECT_ID_MAX 36 /* a GUID: 8-4-4-4-12 hex digits */

/* Whether s looks like an Azure AD object id (hex digits and dashes, 1..36
 * characters): safe in a path without escaping. */
int paths__is_object_id(const char *s);
/* "/users/{id}/presence{suffix}" for an object id (suffix "",
 * "/setPresence", "/clearPresence"). Presence routes take the object id
 * only, never the UPN. malloc'd; NULL for a bad id or out of memory. */
char *paths__presence_path(const char *id, const char *suffix);

#endif
