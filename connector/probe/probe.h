/* `presence-sync probe`: first contact with a real tenant in one command
 * (docs/operations.md, "First deployment").
 *
 * It tries every outside dependency the daemon needs, with the daemon's own
 * modules: Graph (sign-in, permissions, tenant, users, a presence read),
 * the webhook from Graph's side (a 5-minute subscription whose validation
 * request must reach http.public_url), Voice (discovery, REST sign-in, user
 * matching, the RTE hub down to Subscribe, optionally events), a write test
 * on one user, and MQTT (login, round trip, retained message, ACL). Read
 * only unless write_test is given. */
#ifndef PS_PROBE_H
#define PS_PROBE_H

#include <stdbool.h>
#include <stddef.h>

struct config;

struct probe_options {
    bool json;              /* one JSON document instead of lines */
    const char *tenant;     /* only this tenant (name); NULL: all */
    int listen_seconds;     /* stay subscribed to Voice events this long; 0: no */
    const char *write_test; /* a configured user to write; NULL: read only */
    const char *capture;    /* directory for the capture; NULL: none */
};

/* A reason why the options do not fit the config (an unknown tenant, a
 * write-test address that is not a configured user), or NULL. */
const char *probe__check_options(const struct config *cfg, const struct probe_options *o, char *buf,
                                 size_t len);

/* Runs the probe and prints the report on stdout. Returns the exit code:
 * 0 nothing failed, 1 something did (or the probe could not run). */
int probe__run(const struct config *cfg, const struct probe_options *o);

#endif
