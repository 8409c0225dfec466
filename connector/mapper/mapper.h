/* The mapper component (CONTRACT §1, §6): subscribes to `P teams/+/busy` and
 * `P voice/+/talking`, runs the reconcile core (reconcile.h) per user on the
 * loop thread, and executes its actions:
 *  - Graph setPresence / clearPresence / GET presence with an application
 *    token (client_credentials, fetched here: apptoken in mapper.c), through
 *    a per-tenant sliding-window limiter (ratelimit.h) and $batch (20 items)
 *    when several users are due at once, honouring Retry-After;
 *  - Voice 'talking' through the Voice side's writer (voice/writer.h).
 * Publishes `B/sync/<id>` (retained, on change). See docs/mapper.md.
 */
#ifndef PS_MAPPER_MAPPER_H
#define PS_MAPPER_MAPPER_H

#include "daemon.h"

/* The presence requests per 30 s the mapper allows itself per tenant. Graph
 * allows 1,500 per app per tenant; the rest is left for the Graph side's
 * resync reads (getPresencesByUserId, one request per 650 users). */
#define MAPPER_RATE_LIMIT          1400
#define MAPPER_RATE_WINDOW_MS      30000
#define MAPPER_BATCH_MAX           20
#define MAPPER_MAX_IN_FLIGHT       4   /* HTTP requests per tenant */
#define MAPPER_READ_MAX            650 /* ids per getPresencesByUserId (Graph's maximum) */
#define MAPPER_GUID_MAX            36  /* a Graph object id (a GUID) */
#define MAPPER_RETIRE_TRIES        3   /* failed writes before a removed user is dropped */
#define MAPPER_VOICE_MAX_IN_FLIGHT 64  /* Voice writes in flight, all tenants */

extern const struct daemon_component mapper_component;

#endif
