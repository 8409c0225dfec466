/* The start-up cleanup of one service account's presence subscriptions
 * (docs/graph.md "Subscriptions", docs/ha.md "Subscriptions"): the account's
 * list of this app's subscriptions is read once; a presence subscription
 * another instance with this configuration made (same notificationUrl,
 * users, delivery and derived clientState, not about to expire) is adopted
 * as it is, every other presence subscription is deleted; then the state
 * machine of subscription.c goes on (renew the adopted one, or create).
 *
 * Loop thread only. */
#ifndef PS_GRAPH_SUBSCRIPTION_ADOPT_H
#define PS_GRAPH_SUBSCRIPTION_ADOPT_H

#include "graph/subscription.h"

/* The answer to GET /subscriptions (subscription__ensure's listing step). */
void subscription_adopt__listed(struct subscription *sub, const struct graph_response *res);
/* DELETE /subscriptions/<id>; the last answer out creates or goes on with
 * the adopted one. sub->outstanding counts the deletions under way. */
void subscription_adopt__delete(struct subscription *sub, const char *id);

#endif
