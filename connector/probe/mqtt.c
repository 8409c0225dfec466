/* The probe's MQTT checks (docs/mqtt.md), on the daemon's own bus: the
 * connect with the configured credentials and TLS, a publish/subscribe
 * round trip and a retained message under <B>/probe/, and whether the ACL
 * lets the account write every topic the daemon writes.
 *
 * The ACL test changes nothing anyone sees as state: per-user topics are
 * tried with an id no user has (presence-sync-probe) and an empty payload;
 * the daemon's own topics (B/state, B/health) get their current retained
 * value again, not retained. With MQTT 5 a refused publish comes back with a
 * reason code (mosquitto 2: 0x87 not authorized); MQTT 3.1.1 has none, the
 * broker drops it silently, so the probe reads each topic back. The probe
 * has its own client id and no will: a running daemon is not disturbed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "probe/probe_int.h"
#include "probe/recorder.h"

#define MQ_CONNECT_MS  15000
#define MQ_ANSWER_MS   5000
#define MQ_RETAINED_MS 1500 /* for retained values to arrive after a subscribe */
#define MQ_PROBE_ID    "presence-sync-probe"
#define MQ_TOPIC_MAX   512
#define MQ_TOPICS      8

/* One topic of the ACL test. */
struct mq_topic {
    char topic[MQ_TOPIC_MAX];
    const char *why;  /* who writes it */
    bool singleton;   /* the daemon's own state: republish its value */
    char *retained;   /* its retained value, when seen */
    const char *sent; /* the payload the ACL test published */
    bool acked, ack_ok, echoed;
    struct bus_ack ack;
};

struct mq {
    struct probe *p;
    struct bus *bus;
    bool connected;
    bool settled; /* connected, or the broker refused the account: no use waiting */
    char cerr[256];
    char base[MQ_TOPIC_MAX]; /* <B>/probe/<instance>-<pid> */
    /* round trip and retained */
    char echo_payload[64];
    bool echoed, retained_seen, ack_done, ack_ok;
    struct bus_ack ack;
    struct mq_topic topics[MQ_TOPICS];
    size_t n_topics;
};

static void mq__on_connection(void *ctx, bool up)
{
    struct mq *m = ctx;
    m->connected = up;
    if (up)
        m->settled = true;
}

/* The broker refused the credentials: a reconnect gets the same answer. */
static bool mq__refused(const char *reason)
{
    return strcasestr(reason, "authori") || strcasestr(reason, "user name or password") ||
           strcasestr(reason, "bad user");
}

static void mq__on_connect_error(void *ctx, const char *reason)
{
    struct mq *m = ctx;
    /* OpenSSL's words come first and say most: keep them */
    if (strncmp(m->cerr, "TLS", 3) != 0 || strncmp(reason, "TLS", 3) == 0)
        snprintf(m->cerr, sizeof(m->cerr), "%s", reason);
    if (mq__refused(reason))
        m->settled = true;
}

static void mq__on_message(void *ctx, const char *topic, const char *payload, size_t len,
                           bool retained)
{
    struct mq *m = ctx;
    recorder__mqtt(m->p->rec, "message", topic, payload, len, retained, NULL);
    char echo[MQ_TOPIC_MAX + 8], ret[MQ_TOPIC_MAX + 16];
    snprintf(echo, sizeof(echo), "%s/echo", m->base);
    snprintf(ret, sizeof(ret), "%s/retained", m->base);
    if (strcmp(topic, echo) == 0 && strcmp(payload, m->echo_payload) == 0)
        m->echoed = true;
    if (strcmp(topic, ret) == 0 && retained && len)
        m->retained_seen = true;
    for (size_t i = 0; i < m->n_topics; i++) {
        struct mq_topic *t = &m->topics[i];
        if (strcmp(topic, t->topic) != 0)
            continue;
        if (retained && !t->retained)
            t->retained = strdup(payload);
        else if (!retained && t->sent && strcmp(payload, t->sent) == 0)
            t->echoed = true;
    }
}

static void mq__on_ack(void *ctx, const struct bus_ack *ack)
{
    struct mq *m = ctx;
    m->ack = *ack;
    m->ack_ok = ack->ok;
    m->ack_done = true;
}

/* Publishes and waits for the broker's answer. */
static bool mq__publish(struct mq *m, const char *topic, const char *payload, bool retained)
{
    m->ack_done = false;
    if (bus__publish_ack(m->bus, topic, payload, strlen(payload), retained, mq__on_ack, m) != 0)
        return false;
    bool answered = probe__wait(m->p, &m->ack_done, MQ_ANSWER_MS);
    char result[64];
    if (!answered || m->ack.ok || m->ack.lost)
        snprintf(result, sizeof(result), "%s", !answered ? "no answer" : m->ack.ok ? "ok" : "lost");
    else
        snprintf(result, sizeof(result), "refused code=%d reason_code=%d", m->ack.code,
                 m->ack.reason_code);
    recorder__mqtt(m->p->rec, "publish", topic, payload, strlen(payload), retained, result);
    return answered && m->ack_ok;
}

static const char *mq__ack_reason(const struct bus_ack *ack, char *buf, size_t len)
{
    if (ack->lost)
        snprintf(buf, len, "the connection was lost first");
    else if (ack->reason_code == 0x87)
        snprintf(buf, len, "not authorized (MQTT 5 reason code 0x87)");
    else if (ack->reason_code)
        snprintf(buf, len, "MQTT 5 reason code 0x%02x", ack->reason_code);
    else
        snprintf(buf, len, "client error %d", ack->code);
    return buf;
}

/* ---- connect ------------------------------------------------------------------------- */

static const char *mq__connect_fix(const char *why)
{
    if (strcasestr(why, "user name or password") || strcasestr(why, "bad user"))
        return "check mqtt.username and the password in mqtt.password_file (mosquitto_passwd on "
               "the broker)";
    if (strcasestr(why, "authori"))
        return "check mqtt.username and the password in mqtt.password_file (mosquitto answers a "
               "wrong password with \"not authorized\"; mosquitto_passwd on the broker); when "
               "they are right, the broker's authentication plugin refuses the account "
               "(broker-config/README.md)";
    if (strncmp(why, "TLS", 3) == 0)
        return "mqtt.ca_file must hold the CA that signed the broker's certificate, and the "
               "certificate must name the host of mqtt.url";
    return "check mqtt.url (host, port, mqtt:// or mqtts://) and that the broker runs and the "
           "firewall lets this host in";
}

static bool mq__connect(struct mq *m)
{
    struct probe *p = m->p;
    const struct mqtt_config *c = &p->cfg->mqtt;
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "%s-probe-%ld", p->cfg->instance, (long)getpid());
    struct bus_options o = {
        .url = c->url,
        .username = c->username,
        .password = c->password.value,
        .ca_file = c->ca_file,
        .client_id = client_id,
        .protocol = c->protocol,
        .max_buffered = 100,
    };
    m->bus = bus__new(p->loop, &o);
    if (!m->bus)
        return false;
    bus__on_connection(m->bus, mq__on_connection, m);
    bus__on_connect_error(m->bus, mq__on_connect_error, m);
    if (bus__start(m->bus) != 0 || !probe__wait(p, &m->settled, MQ_CONNECT_MS) || !m->connected) {
        const char *why = m->cerr[0] ? m->cerr : "no connection within 15 s";
        probe_report__check(p->report, "mqtt.connect", "connect", PROBE_FAIL, mq__connect_fix(why),
                            "%s as %s: %s", c->url, c->username ? c->username : "(no user)", why);
        return false;
    }
    probe_report__check(p->report, "mqtt.connect", "connect", PROBE_OK, NULL,
                        "%s as %s, MQTT %s, %s", c->url, c->username ? c->username : "(no user)",
                        c->protocol == 5 ? "5" : "3.1.1",
                        strncmp(c->url, "mqtts", 5) == 0 ? "TLS verified" : "no TLS");
    return true;
}

/* ---- round trip, retained -------------------------------------------------------------- */

static void mq__round_trip(struct mq *m)
{
    struct probe *p = m->p;
    char topic[MQ_TOPIC_MAX + 8], why[128];
    snprintf(topic, sizeof(topic), "%s/echo", m->base);
    snprintf(m->echo_payload, sizeof(m->echo_payload), "probe %lld", (long long)clock__wall_ms());
    bus__subscribe(m->bus, topic, mq__on_message, m);
    int64_t start = clock__mono_ms();
    bool sent = false;
    /* the subscription has no acknowledgement here: publish until it comes */
    while (!m->echoed && !p->interrupted && clock__mono_ms() - start < MQ_ANSWER_MS) {
        sent = mq__publish(m, topic, m->echo_payload, false);
        if (!sent && m->ack_done)
            break;
        probe__wait(p, &m->echoed, 500);
    }
    if (m->echoed)
        probe_report__check(p->report, "mqtt.round_trip", "publish and subscribe", PROBE_OK, NULL,
                            "%s came back in %lld ms", topic,
                            (long long)(clock__mono_ms() - start));
    else
        probe_report__check(p->report, "mqtt.round_trip", "publish and subscribe", PROBE_FAIL,
                            "let the account read and write its bridge topic and below "
                            "(broker-config/acl: topic readwrite <bridge_topic>/#)",
                            "%s did not come back within 5 s%s%s", topic,
                            sent || !m->ack_done ? "" : ": the publish was refused, ",
                            sent || !m->ack_done ? "" : mq__ack_reason(&m->ack, why, sizeof(why)));
}

static void mq__retained(struct mq *m)
{
    struct probe *p = m->p;
    char topic[MQ_TOPIC_MAX + 16], why[128];
    snprintf(topic, sizeof(topic), "%s/retained", m->base);
    bool stored = mq__publish(m, topic, "retained by presence-sync probe", true);
    if (stored) {
        bus__subscribe(m->bus, topic, mq__on_message, m); /* a new filter: the retained value */
        probe__wait(p, &m->retained_seen, MQ_ANSWER_MS);
        mq__publish(m, topic, "", true); /* and gone again */
    }
    if (m->retained_seen)
        probe_report__check(p->report, "mqtt.retained", "retained message", PROBE_OK, NULL,
                            "stored, read back by a new subscription and removed");
    else
        probe_report__check(p->report, "mqtt.retained", "retained message", PROBE_FAIL,
                            "the daemon's state topics are retained: allow retained messages "
                            "(mosquitto: retain_available true) and keep them (persistence)",
                            "%s",
                            stored ? "the broker did not give it to a new subscription"
                                   : mq__ack_reason(&m->ack, why, sizeof(why)));
}

/* ---- ACL ------------------------------------------------------------------------------- */

static void mq__add(struct mq *m, const char *why, bool singleton, const char *fmt, const char *a,
                    const char *b)
{
    if (m->n_topics >= MQ_TOPICS)
        return;
    struct mq_topic *t = &m->topics[m->n_topics++];
    snprintf(t->topic, sizeof(t->topic), fmt, a, b);
    t->why = why;
    t->singleton = singleton;
}

/* The topics the daemon writes with this config (docs/topics.md). */
static void mq__topics(struct mq *m)
{
    const struct config *cfg = m->p->cfg;
    const char *P = cfg->mqtt.topic_prefix ? cfg->mqtt.topic_prefix : "";
    const char *B = cfg->mqtt.bridge_topic;
    char roles[64] = "";
    bool all = (cfg->roles & CONFIG_ROLE_ALL) == CONFIG_ROLE_ALL;
    if (!all) {
        config__roles_name(cfg->roles, roles, sizeof(roles));
        for (char *c = roles; *c; c++)
            *c = *c == ',' ? '-' : *c;
    }
    if (cfg->roles & CONFIG_ROLE_GRAPH)
        mq__add(m, "the Graph side", false, "%steams/%s/busy", P, MQ_PROBE_ID);
    if (cfg->roles & CONFIG_ROLE_VOICE)
        mq__add(m, "the Voice side", false, "%svoice/%s/talking", P, MQ_PROBE_ID);
    if ((cfg->roles & CONFIG_ROLE_MAPPER) && cfg->mapper.enabled)
        mq__add(m, "the mapper", false, "%s/sync/%s", B, MQ_PROBE_ID);
    if (cfg->homeassistant.enabled)
        mq__add(m, "Home Assistant discovery", false, "%s/binary_sensor/%s/probe/config",
                cfg->homeassistant.prefix, MQ_PROBE_ID);
    char leaf[96];
    snprintf(leaf, sizeof(leaf), all ? "state" : "state/%s", roles);
    mq__add(m, "availability and the MQTT will", true, "%s/%s", B, leaf);
    snprintf(leaf, sizeof(leaf), all ? "health" : "health/%s", roles);
    mq__add(m, "health", true, "%s/%s", B, leaf);
}

static void mq__acl_line(struct mq *m, struct mq_topic *t)
{
    struct probe *p = m->p;
    char name[MQ_TOPIC_MAX + 16], why[128], fix[900];
    snprintf(name, sizeof(name), "write %s", t->topic);
    bool v5 = p->cfg->mqtt.protocol == 5;
    bool ok = t->ack_ok && (v5 || t->echoed);
    snprintf(fix, sizeof(fix), "let the account write %s in the broker's ACL (broker-config/acl)%s",
             t->topic,
             t->singleton && strstr(t->why, "will")
                 ? "; without it the broker refuses the daemon's connection (its will)"
                 : "");
    if (ok)
        probe_report__check(p->report, "mqtt.acl", name, PROBE_OK, NULL, "allowed (%s)%s", t->why,
                            v5 ? "" : ", read back");
    else if (!t->ack_ok)
        probe_report__check(p->report, "mqtt.acl", name, PROBE_FAIL, fix, "refused (%s): %s",
                            t->why,
                            t->acked ? mq__ack_reason(&t->ack, why, sizeof(why)) : "no answer");
    else
        probe_report__check(p->report, "mqtt.acl", name, PROBE_FAIL, fix,
                            "not delivered (%s): with MQTT 3.1.1 the broker drops a refused "
                            "publish silently; it did not come back within 5 s",
                            t->why);
}

static bool mq__all_echoed(const struct mq *m)
{
    for (size_t i = 0; i < m->n_topics; i++) {
        if (m->topics[i].ack_ok && !m->topics[i].echoed)
            return false;
    }
    return true;
}

static void mq__acl(struct mq *m)
{
    struct probe *p = m->p;
    bool never = false;
    mq__topics(m);
    for (size_t i = 0; i < m->n_topics; i++)
        bus__subscribe(m->bus, m->topics[i].topic, mq__on_message, m);
    probe__wait(p, &never, MQ_RETAINED_MS); /* the current retained values come */
    for (size_t i = 0; i < m->n_topics && !p->interrupted; i++) {
        struct mq_topic *t = &m->topics[i];
        t->sent = t->singleton && t->retained ? t->retained : "";
        t->ack_ok = mq__publish(m, t->topic, t->sent, false);
        t->acked = m->ack_done;
        t->ack = m->ack;
    }
    int64_t end = clock__mono_ms() + MQ_ANSWER_MS;
    while (p->cfg->mqtt.protocol != 5 && !mq__all_echoed(m) && clock__mono_ms() < end &&
           !p->interrupted)
        probe__wait(p, &never, 100);
    for (size_t i = 0; i < m->n_topics && !p->interrupted; i++)
        mq__acl_line(m, &m->topics[i]);
}

static void mq__bus_free(void *bus)
{
    bus__free(bus);
}

void probe_mqtt__run(struct probe *p)
{
    probe_report__group(p->report, "mqtt", NULL);
    struct mq *m = calloc(1, sizeof(*m));
    if (!m)
        return;
    m->p = p;
    snprintf(m->base, sizeof(m->base), "%s/probe/%s-%ld", p->cfg->mqtt.bridge_topic,
             p->cfg->instance, (long)getpid());
    if (mq__connect(m)) {
        mq__round_trip(m);
        if (!p->interrupted)
            mq__retained(m);
        if (!p->interrupted)
            mq__acl(m);
    }
    if (m->bus) {
        bus__stop(m->bus);
        /* Paho may still post to the loop: both are freed once the loop is
         * closed, the bus first (deferred frees run newest first) */
        probe__defer(p, free, m);
        probe__defer(p, mq__bus_free, m->bus);
    }
    for (size_t i = 0; i < m->n_topics; i++)
        free(m->topics[i].retained);
    m->n_topics = 0;
    if (!m->bus)
        free(m);
}
