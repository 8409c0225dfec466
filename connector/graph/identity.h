/* The identity of one tenant (docs/graph.md "Tenant id and signing keys"):
 * its GUID and the keys that sign Graph's validationTokens.
 *
 * At start the tenant's OpenID configuration is read
 * ({login_url}/{tenant_id}/v2.0/.well-known/openid-configuration): its
 * issuer holds the tenant GUID (also when graph.tenant_id is a domain; the
 * notification tenantId and the token issuers always carry the GUID), and
 * its jwks_uri is where the keys are. A failed read is retried with backoff;
 * meanwhile a GUID tenant fetches the keys from the common v2.0 location.
 *
 * The keys are fetched on the loop thread through the process's HTTP
 * client, never on a worker: a worker that meets a kid it does not know (or
 * no keys yet, or keys older than a day) calls identity__want_keys, which
 * only sets a flag and posts to the loop once; the loop fetches at most once
 * per IDENTITY_JWKS_GAP_MS, so a flood of forged tokens with made-up kids
 * costs one fetch per gap.
 *
 * Threads: identity__snapshot, identity__want_keys and identity__jwks are
 * for any thread (the webhook's decryption workers): the GUID and issuer are
 * guarded by a mutex, the want flag is atomic, the key cache (jwt.h) is
 * thread-safe. Everything else is the loop thread's. */
#ifndef PS_GRAPH_IDENTITY_H
#define PS_GRAPH_IDENTITY_H

#include "graph/oidc.h"

struct cJSON;
struct loop;
struct http_client;
struct jwks_cache;
struct graph_ready;
struct graph_status;
struct graph_identity;

#define IDENTITY_JWKS_GAP_MS     10000 /* at most one key fetch per gap */
#define IDENTITY_JWKS_MAX_AGE_MS (24LL * 3600 * 1000)

/* What a worker needs to check an item's tenant and its validation tokens. */
struct graph_ident {
    char tenant_guid[OIDC_GUID_LEN + 1]; /* lower case; "" until known */
    char issuer[OIDC_URL_MAX];           /* issuer template of the OpenID configuration when it is
                                            not the public cloud's v2 one; "" otherwise */
};

struct graph_identity_options {
    struct loop *loop;
    struct http_client *http;
    const char *tenant;    /* name, borrowed */
    const char *tenant_id; /* graph.tenant_id: a GUID or a domain; borrowed */
    const char *login_url; /* without a trailing '/' (copied) */
    struct graph_status *status;
};

/* Sets the GUID of a GUID tenant_id and the URLs; no network. */
struct graph_identity *identity__new(const struct graph_identity_options *o);
/* Reads the OpenID configuration, then the keys (retried with backoff). */
void identity__start(struct graph_identity *id);
/* Any thread: a copy of what is known now. */
void identity__snapshot(struct graph_identity *id, struct graph_ident *out);
/* Any thread, never blocks: the keys are missing, stale, or lack a kid a
 * token named. The loop fetches them, at most once per IDENTITY_JWKS_GAP_MS. */
void identity__want_keys(struct graph_identity *id);
/* Any thread: the validation-token keys (jwt.h). */
struct jwks_cache *identity__jwks(struct graph_identity *id);

/* The B/health part (graph_status.h): "tenant" {configured, id, source, ...,
 * validation_keys}. Never makes the tenant unready. */
void identity__status(void *ctx, struct cJSON *section, struct graph_ready *r);

/* Cancels the timers; no fetch after; answers in flight are dropped. */
void identity__stop(struct graph_identity *id);
void identity__free(struct graph_identity *id);

#endif
