/* The MQTT bus on Eclipse Paho MQTT C (async API).
 *
 * Threads: Paho calls us on its own threads. Those callbacks only copy what
 * they got and hand it to the loop with loop__post(); every piece of bus
 * state (subscriptions, the last-value cache, the send queue) is touched on
 * the loop thread only.
 *
 * Delivery of state topics: bus__publish_state() records the wanted value
 * in a per-topic last-value cache (LVC) and queues the entry. The queue is
 * drained into Paho ("handed over") as far as Paho's bounded buffer allows.
 * A hand-over that Paho reports lost (the connection dropped before the
 * PUBACK; Paho then fails it with MQTTASYNC_OPERATION_INCOMPLETE) re-queues
 * the entry, so a state is only ever given up by an explicit refusal of the
 * broker. That is what lets us keep deleteOldestMessages=0 and still lose no
 * state: when Paho's buffer is full, the new value simply waits in the LVC
 * (and is counted in mqtt_buffer_full_total).
 */
#include "core/bus.h"

#include <MQTTAsync.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/lvc.h"
#include "core/metrics.h"
#include "core/mqtt_topic.h"
#include "core/str.h"

#define BUS_QOS               1
#define BUS_KEEPALIVE_S       30
#define BUS_CONNECT_TIMEOUT_S 10
#define BUS_RETRY_MIN_S       1
/* Paho doubles the wait between reconnects up to this: with 60 s, a broker
 * back after a 10 s restart was reached only up to 16 s later (the whole of
 * the recovery time measured in docs/security.md section 7). One attempt
 * every 10 s costs a broker nothing. */
#define BUS_RETRY_MAX_S   10
#define BUS_STOP_WAIT_MS  2000
#define BUS_DISCONNECT_MS 1000
#define BUS_PUMP_RETRY_MS 100
#define BUS_WINDOW        10 /* <= the broker's receive maximum (mosquitto: 20) */

struct bus_sub {
    struct bus_sub *next;
    char *filter;
    bus_message_fn fn; /* NULL: unsubscribed, unlinked after the dispatch */
    void *ctx;
};

struct bus {
    struct loop *loop;
    MQTTAsync client;
    bool created;
    char *url, *username, *password, *ca_file, *client_id;
    char *state_topic, *online_payload, *will_payload;
    int protocol, max_buffered;
    int broker_port; /* from url; 0 when unknown */

    bool started, stopping, connected, ever_connected;
    bool warned_full; /* one warning per buffer-full episode */

    struct bus_sub *subs, **subs_tail;
    bool dispatching; /* bus__handle_msg walks subs: unlink nothing */
    bus_connection_fn conn_fn;
    void *conn_ctx;
    bus_connect_error_fn cerr_fn;
    void *cerr_ctx;

    struct lvc *lvc;
    /* LVC hand-overs not yet completed = handed - completions. Paho threads
     * count completions, so bus__stop() can follow them while it blocks the
     * loop. */
    unsigned handed;
    atomic_uint completions;
    loop_timer_id pump_timer;

    atomic_int stop_ack; /* 0 waiting, 1 delivered, -1 failed */
};

/* What a Paho completion callback hands to the loop. */
struct bus_done {
    struct bus *bus;
    struct lvc_entry *e; /* NULL for plain publishes */
    uint64_t gen;
    bool ok;
    bool lost; /* never acknowledged because the connection went away */
    int code;
    int reason;
    bus_ack_fn ack_fn; /* bus__publish_ack */
    void *ack_ctx;
};

/* A failed connect attempt, for bus__on_connect_error. */
struct bus_cerr {
    struct bus *bus;
    char reason[200];
};

struct bus_msg {
    struct bus *bus;
    char *topic;
    char *payload;
    size_t len;
    bool retained;
};

static bool bus__pump(struct bus *bus);

/* ---- Paho callbacks (Paho threads: copy and post, nothing else) ----------- */

static void bus__handle_done(void *arg);

static void bus__post_done(struct bus_done *d)
{
    if (d->e)
        atomic_fetch_add(&d->bus->completions, 1);
    if (loop__post(d->bus->loop, bus__handle_done, d) < 0)
        free(d);
}

static void bus__on_publish_ok(void *context, MQTTAsync_successData *resp)
{
    (void)resp;
    struct bus_done *d = context;
    d->ok = true;
    bus__post_done(d);
}

static void bus__on_publish_ok5(void *context, MQTTAsync_successData5 *resp)
{
    (void)resp;
    struct bus_done *d = context;
    d->ok = true;
    bus__post_done(d);
}

static bool bus__code_is_lost(int code)
{
    return code == MQTTASYNC_OPERATION_INCOMPLETE || code == MQTTASYNC_DISCONNECTED;
}

static void bus__on_publish_fail(void *context, MQTTAsync_failureData *resp)
{
    struct bus_done *d = context;
    d->code = resp ? resp->code : MQTTASYNC_FAILURE;
    d->lost = bus__code_is_lost(d->code);
    bus__post_done(d);
}

static void bus__on_publish_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    struct bus_done *d = context;
    d->code = resp ? resp->code : MQTTASYNC_FAILURE;
    d->reason = resp ? (int)resp->reasonCode : 0;
    d->lost = bus__code_is_lost(d->code);
    bus__post_done(d);
}

static void bus__handle_up(void *arg);
static void bus__handle_down(void *arg);
static void bus__handle_msg(void *arg);

/* Paho never turns off Nagle's algorithm on its socket, and has no option
 * for it (eclipse/paho.mqtt.c#530). Our PUBLISHes and PUBACKs are small
 * writes: with Nagle each one waits while an earlier one is unacknowledged,
 * and the broker delays its ACK of a packet it has no answer for (40 ms on
 * Linux). That cost ~45 ms a hop on the Teams -> Voice path
 * (docs/performance.md section 3). Paho does not hand out its socket, so set
 * TCP_NODELAY on the process's TCP sockets whose peer is the broker's port;
 * any other socket that matches only sends sooner. Paho thread, on connect. */
static void bus__nodelay(const struct bus *bus)
{
    DIR *dir = bus->broker_port ? opendir("/proc/self/fd") : NULL;
    if (!dir)
        return;
    int set = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        int fd = atoi(de->d_name);
        int proto = 0, one = 1;
        socklen_t plen = sizeof(proto);
        struct sockaddr_storage peer;
        socklen_t alen = sizeof(peer);
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == dirfd(dir) ||
            getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) != 0 || proto != IPPROTO_TCP ||
            getpeername(fd, (struct sockaddr *)&peer, &alen) != 0)
            continue;
        int port = peer.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&peer)->sin_port)
                   : peer.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&peer)->sin6_port)
                                                : 0;
        if (port == bus->broker_port &&
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
            set++;
    }
    closedir(dir);
    LOG_DEBUG("mqtt", "TCP_NODELAY set sockets=%d port=%d", set, bus->broker_port);
}

static void bus__on_connected(void *context, char *cause)
{
    (void)cause;
    struct bus *bus = context;
    bus__nodelay(bus);
    loop__post(bus->loop, bus__handle_up, bus);
}

static void bus__on_connection_lost(void *context, char *cause)
{
    (void)cause; /* Paho passes NULL or a fixed text; the log line says enough */
    struct bus *bus = context;
    loop__post(bus->loop, bus__handle_down, bus);
}

static int bus__on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct bus *bus = context;
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t pl = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    /* An embedded NUL cannot be a valid topic (MQTT §4.7.3): drop it. */
    struct bus_msg *msg = memchr(topic, '\0', tl) ? NULL : calloc(1, sizeof(*msg));
    if (msg) {
        msg->topic = malloc(tl + 1);
        msg->payload = malloc(pl + 1);
        if (msg->topic && msg->payload) {
            memcpy(msg->topic, topic, tl);
            msg->topic[tl] = '\0';
            if (pl)
                memcpy(msg->payload, m->payload, pl);
            msg->payload[pl] = '\0';
            msg->len = pl;
            msg->retained = m->retained != 0;
            msg->bus = bus;
            if (loop__post(bus->loop, bus__handle_msg, msg) == 0)
                msg = NULL;
        }
        if (msg) {
            free(msg->topic);
            free(msg->payload);
            free(msg);
        }
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1; /* handled (or dropped): Paho must not redeliver */
}

/* A readable reason for a refused or failed connect: CONNACK codes are > 0
 * (MQTT 3.1.1 return codes, MQTT 5 reason codes), client errors < 0. */
static const char *bus__connect_reason(int protocol, int code, const char *message)
{
    static const char *const v311[] = {
        "accepted",           "unacceptable protocol version", "identifier rejected",
        "server unavailable", "bad user name or password",     "not authorized"};
    if (code > 0 && protocol == MQTTVERSION_5)
        return MQTTReasonCode_toString((enum MQTTReasonCodes)code);
    if (code > 0 && code < (int)(sizeof(v311) / sizeof(v311[0])))
        return v311[code];
    return message ? message : MQTTAsync_strerror(code);
}

static void bus__handle_cerr(void *arg)
{
    struct bus_cerr *c = arg;
    if (!c->bus->stopping && c->bus->cerr_fn)
        c->bus->cerr_fn(c->bus->cerr_ctx, c->reason);
    free(c);
}

/* Paho thread: the reason goes to the loop for bus__on_connect_error. */
static void bus__post_cerr(struct bus *bus, const char *reason)
{
    struct bus_cerr *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->bus = bus;
    snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "connect failed");
    if (loop__post(bus->loop, bus__handle_cerr, c) < 0)
        free(c);
}

static void bus__on_connect_fail(void *context, MQTTAsync_failureData *resp)
{
    struct bus *bus = context;
    int code = resp ? resp->code : MQTTASYNC_FAILURE;
    const char *why = bus__connect_reason(bus->protocol, code, resp ? resp->message : NULL);
    LOG_WARN("mqtt", "connect failed url=%s code=%d reason=\"%s\" retry=backoff", bus->url, code,
             why);
    bus__post_cerr(bus, why);
}

static void bus__on_connect_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    struct bus *bus = context;
    int code = resp ? resp->code : MQTTASYNC_FAILURE;
    if (code == MQTTASYNC_FAILURE && resp && resp->reasonCode)
        code = (int)resp->reasonCode;
    const char *why = bus__connect_reason(bus->protocol, code, resp ? resp->message : NULL);
    LOG_WARN("mqtt", "connect failed url=%s code=%d reason=\"%s\" retry=backoff", bus->url, code,
             why);
    bus__post_cerr(bus, why);
}

/* OpenSSL's own words for a failed handshake (e.g. "certificate verify
 * failed"): "TCP/TLS connect failure" alone does not help an operator. */
static int bus__on_tls_error(const char *str, size_t len, void *context)
{
    (void)context;
    while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
        len--;
    LOG_WARN("mqtt", "tls error=\"%.*s\"", (int)len, str);
    char why[200];
    snprintf(why, sizeof(why), "TLS: %.*s", (int)(len < 190 ? len : 190), str);
    bus__post_cerr(context, why);
    return 1; /* keep printing the OpenSSL error queue */
}

static void bus__on_sub_fail(void *context, MQTTAsync_failureData *resp)
{
    (void)context;
    LOG_ERROR("mqtt", "subscribe failed code=%d", resp ? resp->code : -1);
}

static void bus__on_sub_ok5(void *context, MQTTAsync_successData5 *resp)
{
    (void)context;
    /* MQTT 5 reports a refused subscription (e.g. ACL) as a SUBACK reason. */
    if (resp && resp->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR)
        LOG_ERROR("mqtt", "subscribe refused reason_code=%d", (int)resp->reasonCode);
}

static void bus__on_sub_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    (void)context;
    LOG_ERROR("mqtt", "subscribe failed code=%d reason_code=%d", resp ? resp->code : -1,
              resp ? (int)resp->reasonCode : -1);
}

static void bus__on_stop_ok(void *context, MQTTAsync_successData *resp)
{
    (void)resp;
    atomic_store(&((struct bus *)context)->stop_ack, 1);
}

static void bus__on_stop_ok5(void *context, MQTTAsync_successData5 *resp)
{
    (void)resp;
    atomic_store(&((struct bus *)context)->stop_ack, 1);
}

static void bus__on_stop_fail(void *context, MQTTAsync_failureData *resp)
{
    (void)resp;
    atomic_store(&((struct bus *)context)->stop_ack, -1);
}

static void bus__on_stop_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    (void)resp;
    atomic_store(&((struct bus *)context)->stop_ack, -1);
}

/* ---- sending --------------------------------------------------------------- */

/* Hands one message to Paho. done (may be NULL) receives the completion. */
static int bus__send(struct bus *bus, const char *topic, const void *payload, size_t len,
                     bool retained, struct bus_done *done)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = BUS_QOS;
    msg.retained = retained ? 1 : 0;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = done;
    if (bus->protocol == MQTTVERSION_5) {
        ro.onSuccess5 = bus__on_publish_ok5;
        ro.onFailure5 = bus__on_publish_fail5;
    }
    else {
        ro.onSuccess = bus__on_publish_ok;
        ro.onFailure = bus__on_publish_fail;
    }
    int rc = MQTTAsync_sendMessage(bus->client, topic, &msg, &ro);
    if (rc == MQTTASYNC_SUCCESS)
        metrics__inc("mqtt_publishes_total", NULL, 1);
    return rc;
}

/* Paho refuses for now but will have room later. */
static bool bus__rc_is_full(int rc)
{
    return rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_NO_MORE_MSGIDS;
}

static void bus__pump_tick(void *arg)
{
    struct bus *bus = arg;
    bus->pump_timer = 0;
    bus__pump(bus);
}

/* Hands queued LVC entries to Paho, keeping at most BUS_WINDOW of them
 * unacknowledged. Paho's send thread only wakes up when a command is added
 * (not when a PUBACK frees an MQTT 5 receive-maximum slot): with a long
 * queue inside Paho it would send one window per second. A short window
 * refilled on every completion keeps it moving. Returns true when Paho
 * refused a hand-over because its buffer was full. */
static bool bus__pump(struct bus *bus)
{
    bool full = false;
    if (bus->stopping || !bus->started)
        return false;
    struct lvc_entry *e;
    while (bus->handed - atomic_load(&bus->completions) < BUS_WINDOW && (e = lvc__next(bus->lvc))) {
        const char *topic = lvc_entry__topic(e), *payload = lvc_entry__payload(e);
        struct bus_done *d = calloc(1, sizeof(*d));
        if (!d)
            break;
        d->bus = bus;
        d->e = e;
        int rc = bus__send(bus, topic, payload, strlen(payload), true, d);
        if (bus__rc_is_full(rc)) {
            free(d);
            full = true;
            break;
        }
        if (rc != MQTTASYNC_SUCCESS) {
            free(d);
            LOG_ERROR("mqtt", "publish rejected topic=%s code=%d error=%s", topic, rc,
                      MQTTAsync_strerror(rc));
            metrics__inc("mqtt_publish_failures_total", NULL, 1);
            lvc__drop(bus->lvc, e);
            continue;
        }
        LOG_DEBUG("mqtt", "publish state topic=%s bytes=%zu", topic, strlen(payload));
        bus->handed++;
        /* Paho completes on its own thread, but the completion is handled on
         * the loop, after this: gen is set before anyone reads it. */
        d->gen = lvc__handed(bus->lvc, e);
    }
    metrics__set("mqtt_deferred_states", NULL, (double)lvc__queued(bus->lvc));
    if (!lvc__queued(bus->lvc) && bus->warned_full) {
        LOG_INFO("mqtt", "client buffer has room again; deferred states handed over");
        bus->warned_full = false;
    }
    /* Completions pump again; the timer covers a buffer filled by plain
     * publishes, whose completions do not pump. */
    if (full && !bus->pump_timer)
        bus->pump_timer = loop__timer(bus->loop, BUS_PUMP_RETRY_MS, bus__pump_tick, bus);
    return full;
}

/* ---- loop-thread handlers ------------------------------------------------- */

static void bus__handle_done(void *arg)
{
    struct bus_done *d = arg;
    struct bus *bus = d->bus;
    struct lvc_entry *e = d->e;
    if (lvc__current(e, d->gen)) {
        if (d->ok) {
            lvc__acked(bus->lvc, e, d->gen);
        }
        else if (d->lost) {
            /* Not acknowledged before the connection dropped: send again; Paho
             * buffers it until the reconnect. */
            LOG_DEBUG("mqtt", "publish lost, queued again topic=%s", lvc_entry__topic(e));
            lvc__lost(bus->lvc, e, d->gen);
        }
        else {
            LOG_ERROR("mqtt", "publish refused topic=%s code=%d reason_code=%d",
                      lvc_entry__topic(e), d->code, d->reason);
            metrics__inc("mqtt_publish_failures_total", NULL, 1);
        }
    }
    else if (!e && !d->ok) {
        LOG_WARN("mqtt", "publish failed code=%d reason_code=%d", d->code, d->reason);
        metrics__inc("mqtt_publish_failures_total", NULL, 1);
    }
    if (d->ack_fn) {
        struct bus_ack ack = {d->ok, d->lost, d->code, d->reason};
        d->ack_fn(d->ack_ctx, &ack);
    }
    free(d);
    if (lvc__queued(bus->lvc))
        bus__pump(bus);
}

static void bus__subscribe_one(struct bus *bus, const struct bus_sub *s)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = bus;
    if (bus->protocol == MQTTVERSION_5) {
        ro.onSuccess5 = bus__on_sub_ok5;
        ro.onFailure5 = bus__on_sub_fail5;
    }
    else {
        ro.onFailure = bus__on_sub_fail;
    }
    int rc = MQTTAsync_subscribe(bus->client, s->filter, BUS_QOS, &ro);
    if (rc != MQTTASYNC_SUCCESS) /* e.g. lost again meanwhile: the next connect retries */
        LOG_DEBUG("mqtt", "subscribe deferred filter=%s code=%d", s->filter, rc);
    else
        LOG_DEBUG("mqtt", "subscribe filter=%s", s->filter);
}

static void bus__handle_up(void *arg)
{
    struct bus *bus = arg;
    if (bus->stopping)
        return;
    if (bus->ever_connected)
        metrics__inc("mqtt_reconnects_total", NULL, 1);
    bus->ever_connected = true;
    bus->connected = true;
    metrics__set("mqtt_connected", NULL, 1);
    LOG_INFO("mqtt", "connected url=%s client_id=%s", bus->url, bus->client_id);
    /* The broker may have published our will meanwhile: say online again,
     * first, even though the cached value is unchanged. */
    if (bus->state_topic && lvc__want_first(bus->lvc, bus->state_topic, bus->online_payload) < 0)
        LOG_ERROR("mqtt", "out of memory queueing the online state");
    for (struct bus_sub *s = bus->subs; s; s = s->next) {
        if (s->fn)
            bus__subscribe_one(bus, s);
    }
    bus__pump(bus);
    if (bus->conn_fn)
        bus->conn_fn(bus->conn_ctx, true);
}

static void bus__handle_down(void *arg)
{
    struct bus *bus = arg;
    if (bus->stopping)
        return;
    bool was = bus->connected;
    bus->connected = false;
    metrics__set("mqtt_connected", NULL, 0);
    LOG_WARN("mqtt", "connection lost url=%s retry=backoff", bus->url);
    if (was && bus->conn_fn)
        bus->conn_fn(bus->conn_ctx, false);
}

/* Frees the subscriptions bus__unsubscribe() marked (outside a dispatch). */
static void bus__unlink_dead(struct bus *bus)
{
    struct bus_sub **pp = &bus->subs;
    bus->subs_tail = &bus->subs;
    while (*pp) {
        struct bus_sub *s = *pp;
        if (s->fn) {
            pp = &s->next;
            bus->subs_tail = pp;
            continue;
        }
        *pp = s->next;
        free(s->filter);
        free(s);
    }
}

static void bus__handle_msg(void *arg)
{
    struct bus_msg *msg = arg;
    struct bus *bus = msg->bus;
    metrics__inc("mqtt_messages_received_total", NULL, 1);
    /* Every matching subscription gets the message: two components may
     * follow the same topics (the Voice side's restart seeding and the
     * mapper both read voice/+/talking). */
    bool matched = false;
    bus->dispatching = true;
    for (struct bus_sub *s = bus->subs; s && !bus->stopping; s = s->next) {
        if (!s->fn || !mqtt_topic__matches(s->filter, msg->topic))
            continue;
        matched = true;
        s->fn(s->ctx, msg->topic, msg->payload, msg->len, msg->retained);
    }
    bus->dispatching = false;
    bus__unlink_dead(bus);
    if (!matched && !bus->stopping)
        LOG_DEBUG("mqtt", "message without subscription topic=%s", msg->topic);
    free(msg->topic);
    free(msg->payload);
    free(msg);
}

/* ---- public API --------------------------------------------------------- */

static bool bus__is_tls(const char *url)
{
    return strncmp(url, "mqtts://", 8) == 0 || strncmp(url, "ssl://", 6) == 0;
}

static void bus__describe_metrics(void)
{
    metrics__describe("mqtt_connected", METRIC_GAUGE, "1 while connected to the MQTT broker");
    metrics__describe("mqtt_publishes_total", METRIC_COUNTER, "Messages handed to the MQTT client");
    metrics__describe("mqtt_reconnects_total", METRIC_COUNTER, "MQTT connects after the first one");
    metrics__describe("mqtt_buffer_full_total", METRIC_COUNTER,
                      "Publishes the MQTT client buffer had no room for (states are deferred, "
                      "plain messages rejected)");
    metrics__describe("mqtt_publish_failures_total", METRIC_COUNTER,
                      "Publishes refused by the client library or the broker");
    metrics__describe("mqtt_messages_received_total", METRIC_COUNTER,
                      "Messages received on subscribed topics");
    metrics__describe("mqtt_deferred_states", METRIC_GAUGE,
                      "State topics waiting in the send queue (flow control or a full buffer)");
    /* Counters exist from the start at 0, so rate() sees the first increment. */
    metrics__inc("mqtt_publishes_total", NULL, 0);
    metrics__inc("mqtt_reconnects_total", NULL, 0);
    metrics__inc("mqtt_buffer_full_total", NULL, 0);
    metrics__inc("mqtt_publish_failures_total", NULL, 0);
    metrics__inc("mqtt_messages_received_total", NULL, 0);
    metrics__set("mqtt_deferred_states", NULL, 0);
}

struct bus *bus__new(struct loop *loop, const struct bus_options *opt)
{
    if (!loop || !opt || !opt->url || !opt->client_id || !*opt->client_id ||
        (opt->state_topic &&
         (!mqtt_topic__valid(opt->state_topic) || !opt->online_payload || !opt->will_payload))) {
        LOG_ERROR("mqtt", "invalid bus options");
        return NULL;
    }
    struct bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    bus->loop = loop;
    bus->protocol = opt->protocol == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    bus->max_buffered = opt->max_buffered > 0 ? opt->max_buffered : 1000;
    bus->subs_tail = &bus->subs;
    bus->url = str__dup(opt->url);
    bus->broker_port = mqtt_topic__url_port(opt->url);
    bus->username = str__dup(opt->username);
    bus->password = str__dup(opt->password);
    bus->ca_file = str__dup(opt->ca_file);
    bus->client_id = str__dup(opt->client_id);
    bool state = opt->state_topic != NULL;
    bus->state_topic = state ? str__dup(opt->state_topic) : NULL;
    bus->online_payload = state ? str__dup(opt->online_payload) : NULL;
    bus->will_payload = state ? str__dup(opt->will_payload) : NULL;
    bus->lvc = lvc__new();
    if (!bus->lvc || !bus->url || !bus->client_id ||
        (state && (!bus->state_topic || !bus->online_payload || !bus->will_payload)) ||
        (opt->username && !bus->username) || (opt->password && !bus->password) ||
        (opt->ca_file && !bus->ca_file)) {
        bus__free(bus);
        return NULL;
    }
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.MQTTVersion = bus->protocol;
    co.sendWhileDisconnected = 1;
    co.allowDisconnectedSendAtAnyTime = 1; /* states published before the first connect */
    co.maxBufferedMessages = bus->max_buffered;
    co.deleteOldestMessages = 0; /* refuse the newest; the LVC keeps states */
    co.restoreMessages = 0;
    co.persistQoS0 = 0;
    int rc = MQTTAsync_createWithOptions(&bus->client, bus->url, bus->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt", "cannot create client url=%s code=%d error=%s", bus->url, rc,
                  MQTTAsync_strerror(rc));
        bus__free(bus);
        return NULL;
    }
    bus->created = true;
    if (MQTTAsync_setCallbacks(bus->client, bus, bus__on_connection_lost, bus__on_message, NULL) !=
            MQTTASYNC_SUCCESS ||
        MQTTAsync_setConnected(bus->client, bus, bus__on_connected) != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt", "cannot set client callbacks");
        bus__free(bus);
        return NULL;
    }
    bus__describe_metrics();
    metrics__set("mqtt_connected", NULL, 0);
    return bus;
}

int bus__start(struct bus *bus)
{
    if (!bus || bus->started)
        return -1;
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
    if (bus->protocol == MQTTVERSION_5) {
        co = co5; /* cleanstart=1, no session expiry: the session ends with the link */
        co.onFailure5 = bus__on_connect_fail5;
    }
    else {
        co.cleansession = 1;
        co.onFailure = bus__on_connect_fail;
    }
    /* A clean session on purpose: subscriptions are made again on every
     * connect, retained state topics re-deliver what we missed, and our own
     * unacknowledged publishes are re-sent from the LVC. */
    co.MQTTVersion = bus->protocol;
    co.context = bus;
    co.keepAliveInterval = BUS_KEEPALIVE_S;
    co.connectTimeout = BUS_CONNECT_TIMEOUT_S;
    co.automaticReconnect = 1; /* also retries a failed first connect (Paho >= 1.3.9) */
    co.minRetryInterval = BUS_RETRY_MIN_S;
    co.maxRetryInterval = BUS_RETRY_MAX_S;
    co.username = bus->username;
    co.password = bus->password;

    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    will.topicName = bus->state_topic;
    will.message = bus->will_payload;
    will.retained = 1;
    will.qos = BUS_QOS;
    co.will = bus->state_topic ? &will : NULL;

    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (bus__is_tls(bus->url)) {
        ssl.trustStore = bus->ca_file; /* NULL: OpenSSL's default store */
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1; /* check the host name too */
        ssl.ssl_error_cb = bus__on_tls_error;
        ssl.ssl_error_context = bus;
        co.ssl = &ssl;
    }
    bus->started = true;
    LOG_DEBUG("mqtt", "options username=%s password=%s tls=%s ca_file=%s keepalive=%d",
              bus->username ? bus->username : "-", bus->password ? "set" : "none",
              co.ssl ? "on" : "off", bus->ca_file ? bus->ca_file : "-", BUS_KEEPALIVE_S);
    LOG_INFO("mqtt", "connecting url=%s client_id=%s protocol=%s", bus->url, bus->client_id,
             bus->protocol == MQTTVERSION_5 ? "5" : "3.1.1");
    int rc = MQTTAsync_connect(bus->client, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt", "connect refused by client url=%s code=%d error=%s", bus->url, rc,
                  MQTTAsync_strerror(rc));
        bus->started = false;
        return -1;
    }
    bus__pump(bus); /* states published before start */
    return 0;
}

bool bus__connected(const struct bus *bus)
{
    return bus && bus->connected;
}

void bus__on_connection(struct bus *bus, bus_connection_fn fn, void *ctx)
{
    bus->conn_fn = fn;
    bus->conn_ctx = ctx;
}

int bus__subscribe(struct bus *bus, const char *filter, bus_message_fn fn, void *ctx)
{
    if (!bus || !fn || !mqtt_topic__filter_valid(filter)) {
        LOG_ERROR("mqtt", "invalid subscription filter=%s", filter ? filter : "(null)");
        return -1;
    }
    struct bus_sub *s = calloc(1, sizeof(*s));
    if (!s || !(s->filter = strdup(filter))) {
        free(s);
        return -1;
    }
    s->fn = fn;
    s->ctx = ctx;
    *bus->subs_tail = s;
    bus->subs_tail = &s->next;
    if (bus->connected)
        bus__subscribe_one(bus, s);
    return 0;
}

/* Whether another live subscription uses the same filter (the broker knows
 * a filter once, whoever asked for it). */
static bool bus__filter_in_use(const struct bus *bus, const char *filter)
{
    for (const struct bus_sub *s = bus->subs; s; s = s->next) {
        if (s->fn && strcmp(s->filter, filter) == 0)
            return true;
    }
    return false;
}

int bus__unsubscribe(struct bus *bus, const char *filter, bus_message_fn fn, void *ctx)
{
    struct bus_sub *hit = NULL;
    for (struct bus_sub *s = bus ? bus->subs : NULL; s && !hit; s = s->next) {
        if (s->fn == fn && s->ctx == ctx && strcmp(s->filter, filter) == 0)
            hit = s;
    }
    if (!hit)
        return -1;
    hit->fn = NULL;
    if (bus->connected && !bus->stopping && !bus__filter_in_use(bus, filter)) {
        int rc = MQTTAsync_unsubscribe(bus->client, filter, NULL);
        if (rc != MQTTASYNC_SUCCESS) /* a reconnect forgets it anyway (clean session) */
            LOG_DEBUG("mqtt", "unsubscribe deferred filter=%s code=%d", filter, rc);
    }
    if (!bus->dispatching)
        bus__unlink_dead(bus);
    return 0;
}

int bus__publish_state(struct bus *bus, const char *topic, const char *payload)
{
    if (!bus || !payload || !mqtt_topic__valid(topic)) {
        LOG_ERROR("mqtt", "invalid state topic=%s", topic ? topic : "(null)");
        return -1;
    }
    int rc = lvc__want(bus->lvc, topic, payload);
    if (rc <= 0)
        return rc;
    if (bus__pump(bus) && lvc__queued(bus->lvc)) {
        /* Paho's buffer is full: the value waits in the LVC (newest wins). */
        metrics__inc("mqtt_buffer_full_total", NULL, 1);
        if (!bus->warned_full)
            LOG_WARN("mqtt", "client buffer full max_buffered=%d; deferring states",
                     bus->max_buffered);
        bus->warned_full = true;
    }
    return 1;
}

int bus__clear_state(struct bus *bus, const char *topic)
{
    /* An empty retained message deletes the retained value (MQTT §3.3.1.3). */
    return bus__publish_state(bus, topic, "") < 0 ? -1 : 0;
}

int bus__publish(struct bus *bus, const char *topic, const void *payload, size_t len, bool retained)
{
    if (!bus || !mqtt_topic__valid(topic) || (len && !payload) || len > INT32_MAX) {
        LOG_ERROR("mqtt", "invalid publish topic=%s", topic ? topic : "(null)");
        return -1;
    }
    struct bus_done *d = calloc(1, sizeof(*d));
    if (!d)
        return -1;
    d->bus = bus;
    int rc = bus__send(bus, topic, payload ? payload : "", len, retained, d);
    if (rc == MQTTASYNC_SUCCESS) {
        LOG_DEBUG("mqtt", "publish topic=%s bytes=%zu retained=%d", topic, len, retained ? 1 : 0);
        return 0;
    }
    free(d);
    if (bus__rc_is_full(rc)) {
        metrics__inc("mqtt_buffer_full_total", NULL, 1);
        LOG_WARN("mqtt", "client buffer full, publish rejected topic=%s max_buffered=%d", topic,
                 bus->max_buffered);
    }
    else {
        metrics__inc("mqtt_publish_failures_total", NULL, 1);
        LOG_ERROR("mqtt", "publish rejected topic=%s code=%d error=%s", topic, rc,
                  MQTTAsync_strerror(rc));
    }
    return -1;
}

int bus__publish_ack(struct bus *bus, const char *topic, const void *payload, size_t len,
                     bool retained, bus_ack_fn fn, void *ctx)
{
    if (!bus || !fn || !mqtt_topic__valid(topic) || (len && !payload) || len > INT32_MAX)
        return -1;
    struct bus_done *d = calloc(1, sizeof(*d));
    if (!d)
        return -1;
    d->bus = bus;
    d->ack_fn = fn;
    d->ack_ctx = ctx;
    int rc = bus__send(bus, topic, payload ? payload : "", len, retained, d);
    if (rc != MQTTASYNC_SUCCESS) {
        /* not handed over: the answer comes on the next turn all the same */
        d->code = rc;
        if (loop__post(bus->loop, bus__handle_done, d) < 0)
            free(d);
    }
    return 0;
}

void bus__on_connect_error(struct bus *bus, bus_connect_error_fn fn, void *ctx)
{
    bus->cerr_fn = fn;
    bus->cerr_ctx = ctx;
}

static void bus__sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Publishes the offline state and waits (bounded) for the broker's PUBACK. */
static bool bus__publish_offline(struct bus *bus, int wait_ms)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = bus->will_payload;
    msg.payloadlen = (int)strlen(bus->will_payload);
    msg.qos = BUS_QOS;
    msg.retained = 1;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = bus;
    if (bus->protocol == MQTTVERSION_5) {
        ro.onSuccess5 = bus__on_stop_ok5;
        ro.onFailure5 = bus__on_stop_fail5;
    }
    else {
        ro.onSuccess = bus__on_stop_ok;
        ro.onFailure = bus__on_stop_fail;
    }
    atomic_store(&bus->stop_ack, 0);
    if (MQTTAsync_sendMessage(bus->client, bus->state_topic, &msg, &ro) != MQTTASYNC_SUCCESS)
        return false;
    for (int waited = 0; waited < wait_ms && atomic_load(&bus->stop_ack) == 0; waited += 10)
        bus__sleep_ms(10);
    return atomic_load(&bus->stop_ack) == 1;
}

void bus__stop(struct bus *bus)
{
    if (!bus || !bus->started || bus->stopping)
        return;
    bool offline_sent = !bus->state_topic; /* without a state topic there is none */
    if (MQTTAsync_isConnected(bus->client)) {
        /* States still queued go out ahead of `offline`, through the same
         * window, within the same time budget. */
        int waited = 0;
        for (bus__pump(bus); lvc__queued(bus->lvc) && waited < BUS_STOP_WAIT_MS; waited += 5) {
            bus__sleep_ms(5);
            bus__pump(bus);
        }
        if (bus->state_topic)
            offline_sent = bus__publish_offline(bus, BUS_STOP_WAIT_MS - waited);
        if (!offline_sent)
            LOG_WARN("mqtt", "offline state not acknowledged within %d ms", BUS_STOP_WAIT_MS);
    }
    bus->stopping = true;
    loop__timer_cancel(bus->loop, bus->pump_timer);
    bus->pump_timer = 0;
    MQTTAsync_disconnectOptions dopt = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnectOptions dopt5 = MQTTAsync_disconnectOptions_initializer5;
    if (bus->protocol == MQTTVERSION_5)
        dopt = dopt5;
    dopt.timeout = BUS_DISCONNECT_MS;
    /* A clean DISCONNECT suppresses the will. If our own offline publish did
     * not make it, MQTT 5 can still ask the broker to send the will. */
    if (!offline_sent && bus->protocol == MQTTVERSION_5)
        dopt.reasonCode = MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE;
    if (MQTTAsync_disconnect(bus->client, &dopt) == MQTTASYNC_SUCCESS) {
        for (int waited = 0; waited < BUS_DISCONNECT_MS + 200 && MQTTAsync_isConnected(bus->client);
             waited += 10)
            bus__sleep_ms(10);
    }
    bus->connected = false;
    metrics__set("mqtt_connected", NULL, 0);
    LOG_INFO("mqtt", "disconnected url=%s offline_published=%s", bus->url,
             offline_sent ? "yes" : "no");
}

void bus__free(struct bus *bus)
{
    if (!bus)
        return;
    if (bus->pump_timer)
        loop__timer_cancel(bus->loop, bus->pump_timer);
    /* Destroy fails what is still queued; those callbacks find the loop
     * closed and free their own context. */
    if (bus->created)
        MQTTAsync_destroy(&bus->client);
    struct bus_sub *s = bus->subs;
    while (s) {
        struct bus_sub *next = s->next;
        free(s->filter);
        free(s);
        s = next;
    }
    lvc__free(bus->lvc);
    free(bus->url);
    free(bus->username);
    if (bus->password) /* a secret: do not leave it in freed memory */
        explicit_bzero(bus->password, strlen(bus->password));
    free(bus->password);
    free(bus->ca_file);
    free(bus->client_id);
    free(bus->state_topic);
    free(bus->online_payload);
    free(bus->will_payload);
    free(bus);
}
