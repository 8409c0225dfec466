/* The bus's adapter to Eclipse Paho MQTT C (async API); internal to
 * core/bus.c, which keeps the delivery logic (subscriptions, the last-value
 * cache and its send queue) and sees no Paho type.
 *
 * The adapter owns the MQTTAsync client: its create, connect, reconnect,
 * will and TLS options, and the callbacks Paho calls on its own threads.
 * Those callbacks only copy what they got and hand it to the loop with
 * loop__post(); every event below reaches the bus on the loop thread.
 */
#ifndef PS_BUS_PAHO_H
#define PS_BUS_PAHO_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct bus_paho;

/* The completion of one publish. The caller allocates it (with this struct
 * as its first member, so the adapter can free it when the loop is gone),
 * the adapter fills the result on a Paho thread and hands it back with
 * events.done on the loop thread; the receiver frees it. */
struct bus_paho_done {
    struct bus_paho *p; /* set by bus_paho__send() */
    bool tracked;       /* counted in bus_paho__completions() */
    bool ok;
    bool lost; /* never acknowledged because the connection went away */
    int code;
    int reason;
};

struct bus_paho_events {
    void (*up)(void *ctx);   /* connected (every reconnect too) */
    void (*down)(void *ctx); /* connection lost */
    /* payload is NUL-terminated (len excludes it) */
    void (*message)(void *ctx, const char *topic, const char *payload, size_t len, bool retained);
    void (*done)(void *ctx, struct bus_paho_done *d);
    /* a connect attempt failed (optional): the broker's or TLS's reason */
    void (*connect_error)(void *ctx, const char *reason);
    void *ctx;
};

struct bus_paho_options {
    const char *url, *username, *password, *ca_file, *client_id;
    bool mqtt5;
    const char *will_topic, *will_payload; /* NULL: no will */
    int max_buffered;
};

/* NULL (logged) when Paho refuses the options. */
struct bus_paho *bus_paho__new(struct loop *loop, const struct bus_paho_options *opt,
                               const struct bus_paho_events *ev);
void bus_paho__free(struct bus_paho *p);

/* Starts connecting; retries forever with backoff (BUS_RETRY_* in
 * bus_paho.c), timed on the loop. 0 or -1 (logged). */
int bus_paho__connect(struct bus_paho *p);
bool bus_paho__is_connected(struct bus_paho *p);

/* Hands one QoS 1 message to Paho. done (may be NULL) receives the
 * completion. Returns 0, or Paho's error code (bus_paho__strerror()). */
int bus_paho__send(struct bus_paho *p, const char *topic, const void *payload, size_t len,
                   bool retained, struct bus_paho_done *done);
/* Paho refuses for now but will have room later. */
bool bus_paho__rc_is_full(int rc);
const char *bus_paho__strerror(int rc);
/* Completions of tracked sends so far; any thread. */
unsigned bus_paho__completions(struct bus_paho *p);

void bus_paho__subscribe(struct bus_paho *p, const char *filter);
void bus_paho__unsubscribe(struct bus_paho *p, const char *filter);

/* Blocking, for bus__stop(): publishes the will payload on the will topic
 * and waits (bounded) for the broker's PUBACK; true when acknowledged. */
bool bus_paho__publish_offline(struct bus_paho *p, int wait_ms);
/* Blocking: disconnects cleanly and waits (bounded) for it. Without the
 * offline state acknowledged, MQTT 5 asks the broker to send the will. */
void bus_paho__disconnect(struct bus_paho *p, bool offline_sent);

void bus_paho__sleep_ms(long ms);

#endif
