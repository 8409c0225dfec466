/* Who is the active instance for one tenant: a lease held on one retained
 * MQTT topic, with the broker as the arbiter (docs/ha.md).
 *
 * Pure logic: the caller feeds it the messages of the lease topic, ticks,
 * and connection events, with the time; it answers with at most one payload
 * to publish (retained, QoS 1) and the role. Nothing here does I/O, so every
 * race of the protocol is a unit test (tests/unit/test_lease.c).
 *
 * Safety rests on one property of the broker: every subscriber of a topic
 * receives that topic's messages in the same order. Two claims of the same
 * epoch are decided by which one the broker delivered first, and every
 * instance, the two claimers included, sees the same first one. */
#ifndef PS_CORE_LEASE_H
#define PS_CORE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lease_role {
    LEASE_STARTING, /* subscribed or not, still reading the retained lease */
    LEASE_STANDBY,  /* another instance holds the lease, or it may */
    LEASE_CLAIMING, /* our claim is published, its echo not seen yet */
    LEASE_ACTIVE,   /* we hold the lease: the only one that writes */
};

struct lease_cfg {
    int64_t lease_ms;  /* a holder not heard for this long may be replaced */
    int64_t renew_ms;  /* how often the holder republishes (< lease / 2) */
    int64_t grace_ms;  /* standbys wait lease + grace before claiming */
    int64_t fence_ms;  /* the holder stops writing when its own renewal has
                        * not come back for this long (< lease) */
    int64_t settle_ms; /* after subscribing, time for the retained lease to
                        * arrive before a claim */
};

/* A key that orders lease messages: a higher epoch is a newer lease; within
 * an epoch, seq counts the holder's renewals (0 = the claim). */
struct lease_key {
    uint64_t epoch;
    uint64_t seq;
};

struct lease {
    struct lease_cfg cfg;
    char node[128];     /* this process's unique node id */
    char instance[128]; /* the configured instance name, for display */
    enum lease_role role;
    bool subscribed;
    int64_t subscribed_ms;
    /* What the topic says, as far as we know. */
    bool known;           /* a lease message has been read */
    struct lease_key key; /* of the last accepted message */
    char holder[128];     /* its holder */
    char holder_instance[128];
    bool released;    /* its holder let go (clean shutdown) */
    int64_t heard_ms; /* when the holder was last heard (our clock) */
    /* Our own claim and renewals. */
    struct lease_key mine; /* what we last published while claiming/active */
    int64_t claim_ms;      /* when the claim was sent */
    int64_t echo_ms;       /* when our own last message came back */
    int64_t renew_at_ms;   /* next renewal */
    bool fenced;           /* active, but our renewals stopped coming back */
    bool leaving;          /* released: never claim again */
    uint64_t takeovers;    /* times we became active */
};

/* What an input asks the caller to do. payload is a NUL-terminated JSON
 * document to publish retained on the lease topic when publish is true;
 * changed tells that lease__writes() or the holder may have changed. */
struct lease_out {
    bool publish;
    char payload[512];
    bool changed;
};

/* Defaults: lease 8 s, renew 2 s, grace 1 s, fence 6 s, settle 1.5 s. */
void lease__cfg_default(struct lease_cfg *cfg);
/* false when cfg breaks an ordering the protocol needs (renew < fence <
 * lease, renew * 2 < lease); *why says which. */
bool lease__cfg_valid(const struct lease_cfg *cfg, const char **why);

void lease__init(struct lease *l, const struct lease_cfg *cfg, const char *node,
                 const char *instance, int64_t now_ms);

/* The subscription to the lease topic is in place (again). A reconnect
 * restarts the standbys' patience: the holder gets a whole lease to be
 * heard through the new connection before anyone claims. */
void lease__on_subscribed(struct lease *l, int64_t now_ms);
/* The broker connection is gone: an active holder stops writing at once
 * (it cannot know whether its renewals still reach anyone), a claim in
 * flight is given up. */
void lease__on_disconnected(struct lease *l, int64_t now_ms);
/* A message on the lease topic (retained or live). Malformed payloads are
 * ignored (return -1); 0 otherwise. */
int lease__on_message(struct lease *l, const char *payload, size_t len, int64_t now_ms,
                      struct lease_out *out);
/* Timers: claims, renewals, fencing. Returns the time of the next deadline. */
int64_t lease__tick(struct lease *l, int64_t now_ms, struct lease_out *out);
/* Clean shutdown: an active holder publishes a release so that a standby
 * takes over at once instead of after the lease. */
void lease__release(struct lease *l, int64_t now_ms, struct lease_out *out);

/* May this instance write to Graph and Voice for the tenant now? True only
 * while active and not fenced. */
bool lease__writes(const struct lease *l);
/* "starting", "standby", "claiming", "active" or "fenced". */
const char *lease__role_name(const struct lease *l);
/* The holder's node id as far as we know, or NULL. */
const char *lease__holder(const struct lease *l);

#endif
