/* fake-graph: the presence subscription `resource` (docs/graph.md "Subscriptions").
 *   /communications/presences?$filter=id in ('id1','id2')   (bulk, <= 650 ids)
 *   communications/presences/{id}                            (one user)
 * Unquoted ids give Graph's "Invalid filter clause". */
#ifndef FG_FILTER_H
#define FG_FILTER_H

#include <stddef.h>

#define FG_FILTER_MAX_IDS 650

enum fg_filter_result {
    FG_FILTER_OK = 0,
    FG_FILTER_BAD_RESOURCE,   /* not a presence resource at all */
    FG_FILTER_INVALID_CLAUSE, /* unquoted, malformed or empty id list */
    FG_FILTER_TOO_MANY,       /* more than FG_FILTER_MAX_IDS ids */
};

/* On FG_FILTER_OK, *ids is a malloc'd array of malloc'd strings (duplicates
 * removed, order kept) for fg_filter__free(). */
enum fg_filter_result fg_filter__parse(const char *resource, char ***ids, size_t *n);
void fg_filter__free(char **ids, size_t n);
const char *fg_filter__message(enum fg_filter_result r);

/* The `resource` of a notification item from a bulk subscription, as Graph
 * writes it (docs/graph.md, "What Graph sends"): the filter over ids,
 * URL-encoded, `communications/presences?$filter=id+in+(%27a%27%2c%27b%27)`.
 * malloc'd. */
char *fg_filter__encoded(char *const *ids, size_t n);

#endif
