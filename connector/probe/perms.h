/* Which Graph permissions the probe's tokens carry, against what the
 * daemon needs (docs/graph.md, "What the probe checks").
 *
 * The tokens are read, not verified: they are our own, just issued to us by
 * the identity platform over TLS, and only the claims are of interest.
 * Microsoft warns that tokens for its APIs may one day not be JWTs at all;
 * then the probe says it cannot tell and the calls show it instead. App
 * tokens carry application permissions in `roles` (an array, absent when
 * none), user tokens delegated ones in `scp` (space-separated)
 * (learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
 * Pure. */
#ifndef PS_PROBE_PERMS_H
#define PS_PROBE_PERMS_H

#include <stdbool.h>
#include <stddef.h>

struct probe_claims {
    char tid[64];   /* "" when absent */
    char aud[128];  /* "" when absent */
    char idtyp[16]; /* "app", "user" or "" */
    char upn[256];  /* "" when absent */
    char *scp;      /* NULL when absent */
    char **roles;   /* NULL when absent */
    size_t n_roles;
};

/* Reads the payload of a compact JWT. Returns 0, or -1 when token is not a
 * JWT with a JSON object payload (*out is then empty). */
int probe_perms__decode(const char *token, struct probe_claims *out);
void probe_perms__free(struct probe_claims *c);

/* Whether name is in roles or scp (case-insensitive). */
bool probe_perms__has(const struct probe_claims *c, const char *name);

/* One permission the daemon needs and is missing. */
struct probe_need {
    const char *add;  /* the permission to add, e.g. "Presence.ReadWrite.All" */
    const char *what; /* what fails without it, for people */
};

/* The needs an app token (app true) or a service account's token misses;
 * at most max into out. Returns their number. */
size_t probe_perms__missing(const struct probe_claims *c, bool app, struct probe_need *out,
                            size_t max);

/* roles or scp as one space-separated line, "(none)" when empty, into buf. */
const char *probe_perms__list(const struct probe_claims *c, char *buf, size_t len);

#endif
