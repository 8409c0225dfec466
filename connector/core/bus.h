/* The MQTT bus on Eclipse Paho MQTT C (async API).
 *
 * - QoS 1 everywhere; MQTT 5 or 3.1.1; a client id unique per process.
 * - Will: B/state = {"state":"offline",...} retained; {"state":"online",...}
 *   published on every (re)connect.
 * - bus__publish_state(): retained, sent only when the payload differs from
 *   the last one sent on that topic (a per-topic last-value cache).
 * - Messages on subscribed topics are delivered on the loop thread.
 * - Reconnects with backoff and re-subscribes; publishes made while the
 *   broker is away are buffered (bounded) and sent after it returns.
 */
#ifndef PS_BUS_H
#define PS_BUS_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct bus;

struct bus_options {
    const char *url;       /* mqtt://host:port or mqtts://host:port */
    const char *username;  /* may be NULL */
    const char *password;  /* may be NULL */
    const char *ca_file;   /* for mqtts://; NULL: system store */
    const char *client_id; /* unique per process (docs/mqtt.md) */
    int protocol;          /* 5 or 4 */
    /* B/state. NULL: no will and no online/offline state (a client that is
     * not the daemon: `presence-sync probe`); then the payloads are unused. */
    const char *state_topic;
    const char *online_payload; /* published retained on every connect */
    const char *will_payload;   /* retained will on state_topic */
    int max_buffered;           /* publishes kept while disconnected */
};

/* Called on the loop thread. payload is NUL-terminated (len excludes it). */
typedef void (*bus_message_fn)(void *ctx, const char *topic, const char *payload, size_t len,
                               bool retained);
/* Called on the loop thread on every connect (true) and loss (false). */
typedef void (*bus_connection_fn)(void *ctx, bool connected);

struct bus *bus__new(struct loop *loop, const struct bus_options *opt);
/* Starts connecting (returns at once); retries forever with backoff. */
int bus__start(struct bus *bus);
bool bus__connected(const struct bus *bus);
void bus__on_connection(struct bus *bus, bus_connection_fn fn, void *ctx);

/* Loop thread. Subscribes now and after every reconnect. Filter may hold
 * wildcards; every matching subscription gets them. */
int bus__subscribe(struct bus *bus, const char *filter, bus_message_fn fn, void *ctx);

/* Loop thread. Removes the subscription bus__subscribe(filter, fn, ctx)
 * made; the broker is told when no other subscription uses the filter. Safe
 * inside a message callback. Returns 0, or -1 when there is none. */
int bus__unsubscribe(struct bus *bus, const char *filter, bus_message_fn fn, void *ctx);

/* Loop thread. Retained, QoS 1, only when different from the last payload
 * sent on the topic. Returns 1 when sent, buffered or deferred, 0 when
 * unchanged, -1 on error (invalid topic, out of memory).
 * The per-topic last-value cache is the source of truth for state topics:
 * at most a small window of them is handed to Paho unacknowledged, the rest
 * wait in the cache (newest value wins); when Paho's offline buffer is full
 * the value waits too and is counted in mqtt_buffer_full_total; a publish
 * the broker never acknowledged (connection lost while in flight) is sent
 * again after the reconnect. See docs/mqtt.md. */
int bus__publish_state(struct bus *bus, const char *topic, const char *payload);
/* Loop thread. Removes a retained topic (empty retained message). */
int bus__clear_state(struct bus *bus, const char *topic);
/* Loop thread. Plain publish, QoS 1. Not cached: when Paho's buffer is full
 * the message is rejected (-1) and counted in mqtt_buffer_full_total. */
int bus__publish(struct bus *bus, const char *topic, const void *payload, size_t len,
                 bool retained);

/* The broker's answer to one bus__publish_ack(): ok, or refused with the
 * client's code and (MQTT 5) the PUBACK reason code (0x87: not
 * authorized), or lost (the connection went away first). MQTT 3.1.1 has no
 * reason codes: a broker that refuses a publish acknowledges and drops it. */
struct bus_ack {
    bool ok;
    bool lost;
    int code;
    int reason_code;
};
typedef void (*bus_ack_fn)(void *ctx, const struct bus_ack *ack);

/* Loop thread. A plain publish, QoS 1, whose outcome goes to fn on the loop
 * thread (exactly once, also when the publish cannot be handed over).
 * Returns 0, or -1 for a bad argument (fn not called). */
int bus__publish_ack(struct bus *bus, const char *topic, const void *payload, size_t len,
                     bool retained, bus_ack_fn fn, void *ctx);

/* Called on the loop thread when a connect attempt fails, with a readable
 * reason ("bad user name or password", "Not authorized", a TLS error...). */
typedef void (*bus_connect_error_fn)(void *ctx, const char *reason);
void bus__on_connect_error(struct bus *bus, bus_connect_error_fn fn, void *ctx);

/* Loop thread. Hands queued states over, publishes `offline`, waits (2 s
 * in all) for it to be acknowledged, disconnects cleanly. */
void bus__stop(struct bus *bus);
/* After loop__run() has returned (callbacks post to the loop). */
void bus__free(struct bus *bus);

#endif
