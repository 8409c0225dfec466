/* The in-process bus of fake_bus.h. Loop thread only, like the real one. */
#include "fake_bus.h"

#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/mqtt_topic.h"

struct fb_sub {
    struct fb_sub *next;
    char *filter;
    bus_message_fn fn;
    void *ctx;
};

/* One message: in the retained store, or in the log of publishes. */
struct fb_msg {
    struct fb_msg *next;
    char *topic;
    char *payload;
};

struct bus {
    struct loop *loop;
    bool started, connected, stopping;
    struct fb_sub *subs;
    struct fb_msg *retained; /* topic -> payload, newest value */
    struct fb_msg *log, **log_tail;
    struct fb_msg *last_state; /* topic -> last state payload published */
    bus_connection_fn conn_fn;
    void *conn_ctx;
    char *state_topic, *online_payload, *will_payload;
};

/* A delivery to one subscription, run on a later loop turn. */
struct fb_delivery {
    struct bus *bus;
    struct fb_sub *sub;
    char *topic, *payload;
    bool retained;
};

static struct bus *fb_last;

static void fb__ignore(void *ctx, const char *topic, const char *payload, size_t len, bool retained)
{
    (void)ctx;
    (void)topic;
    (void)payload;
    (void)len;
    (void)retained;
}

static struct fb_msg *fb__find(struct fb_msg *list, const char *topic)
{
    for (; list; list = list->next)
        if (strcmp(list->topic, topic) == 0)
            return list;
    return NULL;
}

static struct fb_msg *fb__msg(const char *topic, const char *payload)
{
    struct fb_msg *m = calloc(1, sizeof(*m));
    if (m && (!(m->topic = strdup(topic)) || !(m->payload = strdup(payload)))) {
        free(m->topic);
        free(m);
        m = NULL;
    }
    return m;
}

/* Sets topic's value in a topic -> payload list (an empty payload removes
 * it when remove_empty). */
static void fb__store(struct fb_msg **list, const char *topic, const char *payload,
                      bool remove_empty)
{
    struct fb_msg **pp = list;
    while (*pp && strcmp((*pp)->topic, topic) != 0)
        pp = &(*pp)->next;
    if (*pp && remove_empty && !*payload) {
        struct fb_msg *m = *pp;
        *pp = m->next;
        free(m->topic);
        free(m->payload);
        free(m);
        return;
    }
    if (*pp) {
        char *copy = strdup(payload);
        if (copy) {
            free((*pp)->payload);
            (*pp)->payload = copy;
        }
        return;
    }
    if (remove_empty && !*payload)
        return;
    struct fb_msg *m = fb__msg(topic, payload);
    if (m) {
        m->next = *list;
        *list = m;
    }
}

static void fb__deliver_now(void *arg)
{
    struct fb_delivery *d = arg;
    if (!d->bus->stopping)
        d->sub->fn(d->sub->ctx, d->topic, d->payload, strlen(d->payload), d->retained);
    free(d->topic);
    free(d->payload);
    free(d);
}

static void fb__deliver(struct bus *bus, struct fb_sub *s, const char *topic, const char *payload,
                        bool retained)
{
    struct fb_delivery *d = calloc(1, sizeof(*d));
    if (!d)
        return;
    d->bus = bus;
    d->sub = s;
    d->topic = strdup(topic);
    d->payload = strdup(payload);
    d->retained = retained;
    if (!d->topic || !d->payload || loop__post(bus->loop, fb__deliver_now, d) < 0) {
        free(d->topic);
        free(d->payload);
        free(d);
    }
}

/* What the broker does with a message: store it when retained, hand it to
 * every matching subscription (live messages are not flagged retained). */
static void fb__route(struct bus *bus, const char *topic, const char *payload, bool retained)
{
    if (retained)
        fb__store(&bus->retained, topic, payload, true);
    for (struct fb_sub *s = bus->subs; s; s = s->next)
        if (mqtt_topic__matches(s->filter, topic))
            fb__deliver(bus, s, topic, payload, false);
}

static void fb__replay_retained(struct bus *bus, struct fb_sub *s)
{
    for (struct fb_msg *m = bus->retained; m; m = m->next)
        if (mqtt_topic__matches(s->filter, m->topic))
            fb__deliver(bus, s, m->topic, m->payload, true);
}

static void fb__log(struct bus *bus, const char *topic, const char *payload)
{
    struct fb_msg *m = fb__msg(topic, payload);
    if (!m)
        return;
    *bus->log_tail = m;
    bus->log_tail = &m->next;
}

struct bus *bus__new(struct loop *loop, const struct bus_options *opt)
{
    struct bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    bus->loop = loop;
    bus->log_tail = &bus->log;
    bus->state_topic = strdup(opt->state_topic);
    bus->online_payload = strdup(opt->online_payload);
    bus->will_payload = strdup(opt->will_payload);
    fb_last = bus;
    return bus;
}

int bus__start(struct bus *bus)
{
    bus->started = true;
    fake_bus__set_connected(bus, true);
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
    if (!mqtt_topic__filter_valid(filter))
        return -1;
    struct fb_sub *s = calloc(1, sizeof(*s));
    if (!s || !(s->filter = strdup(filter))) {
        free(s);
        return -1;
    }
    s->fn = fn;
    s->ctx = ctx;
    struct fb_sub **pp = &bus->subs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    if (bus->connected)
        fb__replay_retained(bus, s);
    return 0;
}

int bus__unsubscribe(struct bus *bus, const char *filter, bus_message_fn fn, void *ctx)
{
    for (struct fb_sub **pp = &bus->subs; *pp; pp = &(*pp)->next) {
        struct fb_sub *s = *pp;
        if (s->fn == fn && s->ctx == ctx && strcmp(s->filter, filter) == 0) {
            /* deliveries already posted for it still run: keep it, inert */
            s->fn = fb__ignore;
            return 0;
        }
    }
    return -1;
}

int bus__publish_state(struct bus *bus, const char *topic, const char *payload)
{
    if (!mqtt_topic__valid(topic) || !payload)
        return -1;
    struct fb_msg *last = fb__find(bus->last_state, topic);
    if (last && strcmp(last->payload, payload) == 0)
        return 0;
    fb__store(&bus->last_state, topic, payload, false);
    fb__log(bus, topic, payload);
    fb__route(bus, topic, payload, true);
    return 1;
}

int bus__clear_state(struct bus *bus, const char *topic)
{
    return bus__publish_state(bus, topic, "") < 0 ? -1 : 0;
}

int bus__publish(struct bus *bus, const char *topic, const void *payload, size_t len, bool retained)
{
    if (!mqtt_topic__valid(topic))
        return -1;
    char *text = malloc(len + 1);
    if (!text)
        return -1;
    if (len)
        memcpy(text, payload, len);
    text[len] = '\0';
    fb__log(bus, topic, text);
    fb__route(bus, topic, text, retained);
    free(text);
    return 0;
}

void bus__stop(struct bus *bus)
{
    if (!bus || bus->stopping)
        return;
    bus__publish_state(bus, bus->state_topic, bus->will_payload);
    bus->stopping = true;
    bus->connected = false;
}

static void fb__free_list(struct fb_msg *m)
{
    while (m) {
        struct fb_msg *next = m->next;
        free(m->topic);
        free(m->payload);
        free(m);
        m = next;
    }
}

void bus__free(struct bus *bus)
{
    if (!bus)
        return;
    for (struct fb_sub *s = bus->subs; s;) {
        struct fb_sub *next = s->next;
        free(s->filter);
        free(s);
        s = next;
    }
    fb__free_list(bus->retained);
    fb__free_list(bus->log);
    fb__free_list(bus->last_state);
    free(bus->state_topic);
    free(bus->online_payload);
    free(bus->will_payload);
    if (fb_last == bus)
        fb_last = NULL;
    free(bus);
}

struct bus *fake_bus__last(void)
{
    return fb_last;
}

void fake_bus__inject(struct bus *bus, const char *topic, const char *payload, bool retained)
{
    fb__route(bus, topic, payload, retained);
}

const char *fake_bus__retained(const struct bus *bus, const char *topic)
{
    struct fb_msg *m = fb__find(bus->retained, topic);
    return m ? m->payload : NULL;
}

size_t fake_bus__published(const struct bus *bus, const char *filter)
{
    size_t n = 0;
    for (struct fb_msg *m = bus->log; m; m = m->next)
        n += mqtt_topic__matches(filter, m->topic);
    return n;
}

const char *fake_bus__nth(const struct bus *bus, const char *topic, size_t n)
{
    for (struct fb_msg *m = bus->log; m; m = m->next)
        if (strcmp(m->topic, topic) == 0 && n-- == 0)
            return m->payload;
    return NULL;
}

void fake_bus__set_connected(struct bus *bus, bool connected)
{
    if (bus->connected == connected)
        return;
    bus->connected = connected;
    if (connected) {
        /* the online state is said again on every connect (the will may
         * have replaced it) */
        fb__store(&bus->last_state, bus->state_topic, bus->online_payload, false);
        fb__log(bus, bus->state_topic, bus->online_payload);
        fb__route(bus, bus->state_topic, bus->online_payload, true);
        for (struct fb_sub *s = bus->subs; s; s = s->next)
            fb__replay_retained(bus, s);
    }
    if (bus->conn_fn)
        bus->conn_fn(bus->conn_ctx, connected);
}
