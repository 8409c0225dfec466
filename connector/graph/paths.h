/* Graph URL paths for users, shared by the Graph side (lookups) and the
 * mapper (setPresence, clearPresence, presence reads). */
#ifndef PS_GRAPH_PATHS_H
#define PS_GRAPH_PATHS_H

/* "/users/{upn}" with the UPN escaped for a path segment ('@' kept as pchar;
 * '#', '/', '?', '%', spaces and non-ASCII percent-encoded), or the key form
 * "/users('{upn}')" for a UPN starting with '$' (graph-presence.md §8.1),
 * quotes doubled. malloc'd; NULL when out of memory. */
char *graph__user_path(const char *upn);

#endif
