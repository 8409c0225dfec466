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
 *
 * Everything that speaks to Paho (the client, its options and callbacks) is
 * in the adapter, core/bus_paho.c.
 */
#include "core/bus.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus_paho.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/lvc.h"
#include "core/metrics.h"
#include "core/mqtt_topic.h"
#include "core/str.h"

#define BUS_STOP_WAIT_MS  2000
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
    struct bus_paho *paho;
    char *url, *client_id;
    char *state_topic, *online_payload;
    int max_buffered;

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
    loop_timer_id pump_timer;
};

/* What a Paho completion callback hands to the loop. */
struct bus_done {
    struct bus_paho_done r; /* first: the adapter frees it as such */
    struct lvc_entry *e;    /* NULL for plain publishes */
    uint64_t gen;
    bus_ack_fn ack_fn; /* bus__publish_ack */
    void *ack_ctx;
    struct bus *bus; /* for a bus__publish_ack that Paho did not take */
};

static bool bus__pump(struct bus *bus);

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
    while (bus->handed - bus_paho__completions(bus->paho) < BUS_WINDOW &&
           (e = lvc__next(bus->lvc))) {
        const char *topic = lvc_entry__topic(e), *payload = lvc_entry__payload(e);
        struct bus_done *d = calloc(1, sizeof(*d));
        if (!d)
            break;
        d->e = e;
        d->r.tracked = true;
        int rc = bus_paho__send(bus->paho, topic, payload, strlen(payload), true, &d->r);
        if (bus_paho__rc_is_full(rc)) {
            free(d);
            full = true;
            break;
        }
        if (rc != 0) {
            free(d);
            LOG_ERROR("mqtt", "publish rejected topic=%s code=%d error=%s", topic, rc,
                      bus_paho__strerror(rc));
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

static void bus__handle_done(void *ctx, struct bus_paho_done *r)
{
    struct bus_done *d = (struct bus_done *)r;
    struct bus *bus = ctx;
    struct lvc_entry *e = d->e;
    if (lvc__current(e, d->gen)) {
        if (r->ok) {
            lvc__acked(bus->lvc, e, d->gen);
        }
        else if (r->lost) {
            /* Not acknowledged before the connection dropped: send again; Paho
             * buffers it until the reconnect. */
            LOG_DEBUG("mqtt", "publish lost, queued again topic=%s", lvc_entry__topic(e));
            lvc__lost(bus->lvc, e, d->gen);
        }
        else {
            LOG_ERROR("mqtt", "publish refused topic=%s code=%d reason_code=%d",
                      lvc_entry__topic(e), r->code, r->reason);
            metrics__inc("mqtt_publish_failures_total", NULL, 1);
        }
    }
    else if (!e && !r->ok) {
        LOG_WARN("mqtt", "publish failed code=%d reason_code=%d", r->code, r->reason);
        metrics__inc("mqtt_publish_failures_total", NULL, 1);
    }
    if (d->ack_fn) {
        struct bus_ack ack = {r->ok, r->lost, r->code, r->reason};
        d->ack_fn(d->ack_ctx, &ack);
    }
    free(d);
    if (lvc__queued(bus->lvc))
        bus__pump(bus);
}

/* A bus__publish_ack that Paho did not take: answered on the next turn. */
static void bus__post_refused(void *arg)
{
    struct bus_done *d = arg;
    bus__handle_done(d->bus, &d->r);
}

static void bus__handle_up(void *ctx)
{
    struct bus *bus = ctx;
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
            bus_paho__subscribe(bus->paho, s->filter);
    }
    bus__pump(bus);
    if (bus->conn_fn)
        bus->conn_fn(bus->conn_ctx, true);
}

static void bus__handle_down(void *ctx)
{
    struct bus *bus = ctx;
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

static void bus__handle_msg(void *ctx, const char *topic, const char *payload, size_t len,
                            bool retained)
{
    struct bus *bus = ctx;
    metrics__inc("mqtt_messages_received_total", NULL, 1);
    /* Every matching subscription gets the message: two components may
     * follow the same topics (the Voice side's restart seeding and the
     * mapper both read voice/+/talking). */
    bool matched = false;
    bus->dispatching = true;
    for (struct bus_sub *s = bus->subs; s && !bus->stopping; s = s->next) {
        if (!s->fn || !mqtt_topic__matches(s->filter, topic))
            continue;
        matched = true;
        s->fn(s->ctx, topic, payload, len, retained);
    }
    bus->dispatching = false;
    bus__unlink_dead(bus);
    if (!matched && !bus->stopping)
        LOG_DEBUG("mqtt", "message without subscription topic=%s", topic);
}

/* ---- public API --------------------------------------------------------- */
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

static void bus__handle_connect_error(void *ctx, const char *reason)
{
    struct bus *bus = ctx;
    if (!bus->stopping && bus->cerr_fn)
        bus->cerr_fn(bus->cerr_ctx, reason);
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
    bus->max_buffered = opt->max_buffered > 0 ? opt->max_buffered : 1000;
    bus->subs_tail = &bus->subs;
    bus->url = str__dup(opt->url);
    bus->client_id = str__dup(opt->client_id);
    bus->state_topic = str__dup(opt->state_topic);
    bus->online_payload = str__dup(opt->online_payload);
    bus->lvc = lvc__new();
    if (!bus->lvc || !bus->url || !bus->client_id ||
        (opt->state_topic && (!bus->state_topic || !bus->online_payload))) {
        bus__free(bus);
        return NULL;
    }
    const struct bus_paho_options po = {
        .url = opt->url,
        .username = opt->username,
        .password = opt->password,
        .ca_file = opt->ca_file,
        .client_id = opt->client_id,
        .mqtt5 = opt->protocol == 5,
        .will_topic = opt->state_topic,
        .will_payload = opt->will_payload,
        .max_buffered = bus->max_buffered,
    };
    const struct bus_paho_events ev = {
        .up = bus__handle_up,
        .down = bus__handle_down,
        .message = bus__handle_msg,
        .done = bus__handle_done,
        .connect_error = bus__handle_connect_error,
        .ctx = bus,
    };
    if (!(bus->paho = bus_paho__new(loop, &po, &ev))) {
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
    bus->started = true;
    if (bus_paho__connect(bus->paho) < 0) {
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
        bus_paho__subscribe(bus->paho, s->filter);
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
        bus_paho__unsubscribe(bus->paho, filter);
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
    int rc = bus_paho__send(bus->paho, topic, payload ? payload : "", len, retained, &d->r);
    if (rc == 0) {
        LOG_DEBUG("mqtt", "publish topic=%s bytes=%zu retained=%d", topic, len, retained ? 1 : 0);
        return 0;
    }
    free(d);
    if (bus_paho__rc_is_full(rc)) {
        metrics__inc("mqtt_buffer_full_total", NULL, 1);
        LOG_WARN("mqtt", "client buffer full, publish rejected topic=%s max_buffered=%d", topic,
                 bus->max_buffered);
    }
    else {
        metrics__inc("mqtt_publish_failures_total", NULL, 1);
        LOG_ERROR("mqtt", "publish rejected topic=%s code=%d error=%s", topic, rc,
                  bus_paho__strerror(rc));
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
    d->ack_fn = fn;
    d->ack_ctx = ctx;
    d->bus = bus;
    int rc = bus_paho__send(bus->paho, topic, payload ? payload : "", len, retained, &d->r);
    if (rc != 0) {
        /* not handed over: the answer comes on the loop all the same */
        d->r.code = rc;
        if (loop__post(bus->loop, bus__post_refused, d) < 0)
            free(d);
    }
    return 0;
}

void bus__on_connect_error(struct bus *bus, bus_connect_error_fn fn, void *ctx)
{
    bus->cerr_fn = fn;
    bus->cerr_ctx = ctx;
}

void bus__stop(struct bus *bus)
{
    if (!bus || !bus->started || bus->stopping)
        return;
    bool offline_sent = !bus->state_topic; /* without a state topic there is none */
    if (bus_paho__is_connected(bus->paho)) {
        /* States still queued go out ahead of `offline`, through the same
         * window, within the same time budget. */
        int waited = 0;
        for (bus__pump(bus); lvc__queued(bus->lvc) && waited < BUS_STOP_WAIT_MS; waited += 5) {
            bus_paho__sleep_ms(5);
            bus__pump(bus);
        }
        if (bus->state_topic)
            offline_sent = bus_paho__publish_offline(bus->paho, BUS_STOP_WAIT_MS - waited);
        if (!offline_sent)
            LOG_WARN("mqtt", "offline state not acknowledged within %d ms", BUS_STOP_WAIT_MS);
    }
    bus->stopping = true;
    loop__timer_cancel(bus->loop, bus->pump_timer);
    bus->pump_timer = 0;
    bus_paho__disconnect(bus->paho, offline_sent);
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
    bus_paho__free(bus->paho);
    struct bus_sub *s = bus->subs;
    while (s) {
        struct bus_sub *next = s->next;
        free(s->filter);
        free(s);
        s = next;
    }
    lvc__free(bus->lvc);
    free(bus->url);
    free(bus->client_id);
    free(bus->state_topic);
    free(bus->online_payload);
    free(bus);
}
