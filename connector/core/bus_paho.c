/* The bus's adapter to Eclipse Paho MQTT C (async API): the client, its
 * connect, reconnect, will and TLS options, and Paho's callbacks. The
 * delivery logic it serves is in core/bus.c; see core/bus_paho.h.
 */
#include "core/bus_paho.h"

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

#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/mqtt_topic.h"
#include "core/str.h"

#define BUS_QOS               1
#define BUS_KEEPALIVE_S       30
#define BUS_CONNECT_TIMEOUT_S 10
/* Reconnects are timed here, not by Paho (docs/mqtt.md "Reconnect and
 * backoff"): Paho 1.3 looks at its retry timer only every 3 s, so its
 * automatic reconnect reached a broker back after a restart up to 3 s plus
 * its interval later (docs/performance.md section 6). The wait doubles from
 * BUS_RETRY_BASE_MS with equal jitter and stops growing at
 * BUS_RETRY_ABSENT_MS while the broker is not there at all (a refused or
 * unanswered TCP connect: one SYN per attempt), so the gap after it comes
 * back is at most that; Paho adds ~1 s of its own before it sends CONNECT
 * on the new socket (its receive thread notices the finished TCP connect
 * only when its 1 s poll times out). BUS_RETRY_REFUSED_MS is the cap once
 * the broker answered and refused (CONNACK or TLS): that does not mend
 * itself in seconds. */
#define BUS_RETRY_BASE_MS    250
#define BUS_RETRY_ABSENT_MS  1000
#define BUS_RETRY_REFUSED_MS 10000
/* A failed attempt logs a warning when its reason changed, else once a minute. */
#define BUS_RETRY_LOG_MS  60000
#define BUS_DISCONNECT_MS 1000

struct bus_paho {
    struct loop *loop;
    MQTTAsync client;
    bool created;
    char *url, *username, *password, *ca_file, *client_id;
    char *will_topic, *will_payload;
    int protocol;
    int broker_port; /* from url; 0 when unknown */
    struct bus_paho_events ev;
    /* Completions of tracked sends, counted on Paho's threads, so
     * bus__stop() can follow them while it blocks the loop. */
    atomic_uint completions;
    atomic_int stop_ack; /* 0 waiting, 1 delivered, -1 failed */
    /* Reconnects (loop thread): the backoff, the pending attempt, and what
     * the last failure logged. */
    struct backoff retry;
    loop_timer_id retry_timer;
    bool stopped; /* bus_paho__disconnect() was called: no more attempts */
    char last_reason[200];
    int64_t last_warn_ms;
    atomic_bool tls_failed; /* the attempt under way failed its TLS handshake */
};

struct bus_paho_msg {
    struct bus_paho *p;
    char *topic;
    char *payload;
    size_t len;
    bool retained;
};

/* ---- Paho callbacks (Paho threads: copy and post, nothing else) ----------- */

static void bus_paho__handle_done(void *arg)
{
    struct bus_paho_done *d = arg;
    d->p->ev.done(d->p->ev.ctx, d);
}

static void bus_paho__post_done(struct bus_paho_done *d)
{
    if (d->tracked)
        atomic_fetch_add(&d->p->completions, 1);
    if (loop__post(d->p->loop, bus_paho__handle_done, d) < 0)
        free(d);
}

static void bus_paho__on_publish_ok(void *context, MQTTAsync_successData *resp)
{
    (void)resp;
    struct bus_paho_done *d = context;
    d->ok = true;
    bus_paho__post_done(d);
}

static void bus_paho__on_publish_ok5(void *context, MQTTAsync_successData5 *resp)
{
    (void)resp;
    struct bus_paho_done *d = context;
    d->ok = true;
    bus_paho__post_done(d);
}

static bool bus_paho__code_is_lost(int code)
{
    return code == MQTTASYNC_OPERATION_INCOMPLETE || code == MQTTASYNC_DISCONNECTED;
}

static void bus_paho__on_publish_fail(void *context, MQTTAsync_failureData *resp)
{
    struct bus_paho_done *d = context;
    d->code = resp ? resp->code : MQTTASYNC_FAILURE;
    d->lost = bus_paho__code_is_lost(d->code);
    bus_paho__post_done(d);
}

static void bus_paho__on_publish_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    struct bus_paho_done *d = context;
    d->code = resp ? resp->code : MQTTASYNC_FAILURE;
    d->reason = resp ? (int)resp->reasonCode : 0;
    d->lost = bus_paho__code_is_lost(d->code);
    bus_paho__post_done(d);
}

/* ---- reconnects (loop thread) ------------------------------------------ */

static int bus_paho__connect_once(struct bus_paho *p);
static void bus_paho__retry_later(struct bus_paho *p, bool answered);

static void bus_paho__retry_fire(void *arg)
{
    struct bus_paho *p = arg;
    p->retry_timer = 0;
    if (p->stopped || MQTTAsync_isConnected(p->client))
        return;
    if (bus_paho__connect_once(p) != MQTTASYNC_SUCCESS)
        bus_paho__retry_later(p, false);
}

/* Schedules the next attempt, unless one is pending. answered: the broker
 * was there and refused us (the long cap, see BUS_RETRY_REFUSED_MS). */
static void bus_paho__retry_later(struct bus_paho *p, bool answered)
{
    if (p->stopped || p->retry_timer)
        return;
    p->retry.max_ms = answered ? BUS_RETRY_REFUSED_MS : BUS_RETRY_ABSENT_MS;
    int64_t ms = backoff__next(&p->retry);
    p->retry_timer = loop__timer(p->loop, ms, bus_paho__retry_fire, p);
    LOG_DEBUG("mqtt", "reconnect in_ms=%lld", (long long)ms);
}

static void bus_paho__handle_up(void *arg)
{
    struct bus_paho *p = arg;
    backoff__reset(&p->retry);
    loop__timer_cancel(p->loop, p->retry_timer);
    p->retry_timer = 0;
    p->last_reason[0] = '\0'; /* the next failure is news again */
    p->ev.up(p->ev.ctx);
}

static void bus_paho__handle_down(void *arg)
{
    struct bus_paho *p = arg;
    p->ev.down(p->ev.ctx);
    bus_paho__retry_later(p, false);
}

static void bus_paho__handle_msg(void *arg)
{
    struct bus_paho_msg *msg = arg;
    msg->p->ev.message(msg->p->ev.ctx, msg->topic, msg->payload, msg->len, msg->retained);
    free(msg->topic);
    free(msg->payload);
    free(msg);
}

/* Paho never turns off Nagle's algorithm on its socket, and has no option
 * for it (eclipse/paho.mqtt.c#530). Our PUBLISHes and PUBACKs are small
 * writes: with Nagle each one waits while an earlier one is unacknowledged,
 * and the broker delays its ACK of a packet it has no answer for (40 ms on
 * Linux). That cost ~45 ms a hop on the Teams -> Voice path
 * (docs/performance.md section 3). Paho does not hand out its socket, so set
 * TCP_NODELAY on the process's TCP sockets whose peer is the broker's port;
 * any other socket that matches only sends sooner. Paho thread, on connect. */
static void bus_paho__nodelay(const struct bus_paho *p)
{
    DIR *dir = p->broker_port ? opendir("/proc/self/fd") : NULL;
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
        if (port == p->broker_port &&
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
            set++;
    }
    closedir(dir);
    LOG_DEBUG("mqtt", "TCP_NODELAY set sockets=%d port=%d", set, p->broker_port);
}

static void bus_paho__on_connected(void *context, char *cause)
{
    (void)cause;
    struct bus_paho *p = context;
    bus_paho__nodelay(p);
    loop__post(p->loop, bus_paho__handle_up, p);
}

static void bus_paho__on_connection_lost(void *context, char *cause)
{
    (void)cause; /* Paho passes NULL or a fixed text; the log line says enough */
    struct bus_paho *p = context;
    loop__post(p->loop, bus_paho__handle_down, p);
}

static int bus_paho__on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct bus_paho *p = context;
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t pl = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    /* An embedded NUL cannot be a valid topic (MQTT §4.7.3): drop it. */
    struct bus_paho_msg *msg = memchr(topic, '\0', tl) ? NULL : calloc(1, sizeof(*msg));
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
            msg->p = p;
            if (loop__post(p->loop, bus_paho__handle_msg, msg) == 0)
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
static const char *bus_paho__connect_reason(int protocol, int code, const char *message)
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

/* A failed connect attempt (attempt_done), or a TLS reason on the way to
 * one: logged, for events.connect_error, and the next attempt. */
struct bus_paho_cerr {
    struct bus_paho *p;
    bool attempt_done;
    bool answered; /* the broker answered: CONNACK refusal or TLS failure */
    int code;
    char reason[200];
};

/* Loop thread. A warning when the reason changed or a minute went by, so a
 * broker away for an hour does not log every attempt. */
static void bus_paho__log_failure(struct bus_paho *p, const struct bus_paho_cerr *c)
{
    int64_t now = clock__mono_ms();
    if (strcmp(c->reason, p->last_reason) != 0 || now - p->last_warn_ms >= BUS_RETRY_LOG_MS) {
        LOG_WARN("mqtt", "connect failed url=%s code=%d reason=\"%s\" retry=backoff", p->url,
                 c->code, c->reason);
        snprintf(p->last_reason, sizeof(p->last_reason), "%s", c->reason);
        p->last_warn_ms = now;
    }
    else {
        LOG_DEBUG("mqtt", "connect failed url=%s code=%d reason=\"%s\" retry=backoff", p->url,
                  c->code, c->reason);
    }
}

static void bus_paho__handle_cerr(void *arg)
{
    struct bus_paho_cerr *c = arg;
    struct bus_paho *p = c->p;
    if (c->attempt_done && !p->stopped) {
        bus_paho__log_failure(p, c);
        bus_paho__retry_later(p, c->answered);
    }
    if (p->ev.connect_error)
        p->ev.connect_error(p->ev.ctx, c->reason);
    free(c);
}

/* Paho thread: hands the failure to the loop. */
static void bus_paho__post_cerr(struct bus_paho *p, bool attempt_done, int code, const char *reason)
{
    if (!attempt_done && !p->ev.connect_error)
        return;
    struct bus_paho_cerr *c = calloc(1, sizeof(*c));
    if (!c) {
        LOG_ERROR("mqtt", "out of memory handling a failed connect");
        return;
    }
    c->p = p;
    c->attempt_done = attempt_done;
    c->code = code;
    c->answered = code > 0 || (attempt_done && atomic_exchange(&p->tls_failed, false));
    snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "connect failed");
    if (loop__post(p->loop, bus_paho__handle_cerr, c) < 0)
        free(c);
}

static void bus_paho__on_connect_fail(void *context, MQTTAsync_failureData *resp)
{
    struct bus_paho *p = context;
    int code = resp ? resp->code : MQTTASYNC_FAILURE;
    const char *why = bus_paho__connect_reason(p->protocol, code, resp ? resp->message : NULL);
    bus_paho__post_cerr(p, true, code, why);
}

static void bus_paho__on_connect_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    struct bus_paho *p = context;
    int code = resp ? resp->code : MQTTASYNC_FAILURE;
    if (code == MQTTASYNC_FAILURE && resp && resp->reasonCode)
        code = (int)resp->reasonCode;
    const char *why = bus_paho__connect_reason(p->protocol, code, resp ? resp->message : NULL);
    bus_paho__post_cerr(p, true, code, why);
}

/* OpenSSL's own words for a failed handshake (e.g. "certificate verify
 * failed"): "TCP/TLS connect failure" alone does not help an operator. */
static int bus_paho__on_tls_error(const char *str, size_t len, void *context)
{
    while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
        len--;
    LOG_WARN("mqtt", "tls error=\"%.*s\"", (int)len, str);
    char why[200];
    snprintf(why, sizeof(why), "TLS: %.*s", (int)(len < 190 ? len : 190), str);
    struct bus_paho *p = context;
    atomic_store(&p->tls_failed, true);
    bus_paho__post_cerr(p, false, 0, why);
    return 1; /* keep printing the OpenSSL error queue */
}

static void bus_paho__on_sub_fail(void *context, MQTTAsync_failureData *resp)
{
    (void)context;
    LOG_ERROR("mqtt", "subscribe failed code=%d", resp ? resp->code : -1);
}

static void bus_paho__on_sub_ok5(void *context, MQTTAsync_successData5 *resp)
{
    (void)context;
    /* MQTT 5 reports a refused subscription (e.g. ACL) as a SUBACK reason. */
    if (resp && resp->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR)
        LOG_ERROR("mqtt", "subscribe refused reason_code=%d", (int)resp->reasonCode);
}

static void bus_paho__on_sub_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    (void)context;
    LOG_ERROR("mqtt", "subscribe failed code=%d reason_code=%d", resp ? resp->code : -1,
              resp ? (int)resp->reasonCode : -1);
}

static void bus_paho__on_stop_ok(void *context, MQTTAsync_successData *resp)
{
    (void)resp;
    atomic_store(&((struct bus_paho *)context)->stop_ack, 1);
}

static void bus_paho__on_stop_ok5(void *context, MQTTAsync_successData5 *resp)
{
    (void)resp;
    atomic_store(&((struct bus_paho *)context)->stop_ack, 1);
}

static void bus_paho__on_stop_fail(void *context, MQTTAsync_failureData *resp)
{
    (void)resp;
    atomic_store(&((struct bus_paho *)context)->stop_ack, -1);
}

static void bus_paho__on_stop_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    (void)resp;
    atomic_store(&((struct bus_paho *)context)->stop_ack, -1);
}

/* ---- sending --------------------------------------------------------------- */

/* Hands one message to Paho. done (may be NULL) receives the completion. */
int bus_paho__send(struct bus_paho *p, const char *topic, const void *payload, size_t len,
                   bool retained, struct bus_paho_done *done)
{
    if (done)
        done->p = p;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = BUS_QOS;
    msg.retained = retained ? 1 : 0;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = done;
    if (p->protocol == MQTTVERSION_5) {
        ro.onSuccess5 = bus_paho__on_publish_ok5;
        ro.onFailure5 = bus_paho__on_publish_fail5;
    }
    else {
        ro.onSuccess = bus_paho__on_publish_ok;
        ro.onFailure = bus_paho__on_publish_fail;
    }
    int rc = MQTTAsync_sendMessage(p->client, topic, &msg, &ro);
    if (rc == MQTTASYNC_SUCCESS)
        metrics__inc("mqtt_publishes_total", NULL, 1);
    return rc;
}

/* Paho refuses for now but will have room later. */
bool bus_paho__rc_is_full(int rc)
{
    return rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_NO_MORE_MSGIDS;
}

const char *bus_paho__strerror(int rc)
{
    return MQTTAsync_strerror(rc);
}

unsigned bus_paho__completions(struct bus_paho *p)
{
    return atomic_load(&p->completions);
}

void bus_paho__subscribe(struct bus_paho *p, const char *filter)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = p;
    if (p->protocol == MQTTVERSION_5) {
        ro.onSuccess5 = bus_paho__on_sub_ok5;
        ro.onFailure5 = bus_paho__on_sub_fail5;
    }
    else {
        ro.onFailure = bus_paho__on_sub_fail;
    }
    int rc = MQTTAsync_subscribe(p->client, filter, BUS_QOS, &ro);
    if (rc != MQTTASYNC_SUCCESS) /* e.g. lost again meanwhile: the next connect retries */
        LOG_DEBUG("mqtt", "subscribe deferred filter=%s code=%d", filter, rc);
    else
        LOG_DEBUG("mqtt", "subscribe filter=%s", filter);
}

static bool bus_paho__is_tls(const char *url)
{
    return strncmp(url, "mqtts://", 8) == 0 || strncmp(url, "ssl://", 6) == 0;
}

void bus_paho__unsubscribe(struct bus_paho *p, const char *filter)
{
    int rc = MQTTAsync_unsubscribe(p->client, filter, NULL);
    if (rc != MQTTASYNC_SUCCESS) /* a reconnect forgets it anyway (clean session) */
        LOG_DEBUG("mqtt", "unsubscribe deferred filter=%s code=%d", filter, rc);
}

void bus_paho__sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Publishes the offline state and waits (bounded) for the broker's PUBACK. */
bool bus_paho__publish_offline(struct bus_paho *p, int wait_ms)
{
    if (!p->will_topic)
        return false;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = p->will_payload;
    msg.payloadlen = (int)strlen(p->will_payload);
    msg.qos = BUS_QOS;
    msg.retained = 1;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = p;
    if (p->protocol == MQTTVERSION_5) {
        ro.onSuccess5 = bus_paho__on_stop_ok5;
        ro.onFailure5 = bus_paho__on_stop_fail5;
    }
    else {
        ro.onSuccess = bus_paho__on_stop_ok;
        ro.onFailure = bus_paho__on_stop_fail;
    }
    atomic_store(&p->stop_ack, 0);
    if (MQTTAsync_sendMessage(p->client, p->will_topic, &msg, &ro) != MQTTASYNC_SUCCESS)
        return false;
    for (int waited = 0; waited < wait_ms && atomic_load(&p->stop_ack) == 0; waited += 10)
        bus_paho__sleep_ms(10);
    return atomic_load(&p->stop_ack) == 1;
}

/* ---- lifecycle --------------------------------------------------------- */

static int bus_paho__create(struct bus_paho *p, int max_buffered)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.MQTTVersion = p->protocol;
    co.sendWhileDisconnected = 1;
    co.allowDisconnectedSendAtAnyTime = 1; /* states published before the first connect */
    co.maxBufferedMessages = max_buffered;
    co.deleteOldestMessages = 0; /* refuse the newest; the LVC keeps states */
    co.restoreMessages = 0;
    co.persistQoS0 = 0;
    int rc = MQTTAsync_createWithOptions(&p->client, p->url, p->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt", "cannot create client url=%s code=%d error=%s", p->url, rc,
                  MQTTAsync_strerror(rc));
        return -1;
    }
    p->created = true;
    if (MQTTAsync_setCallbacks(p->client, p, bus_paho__on_connection_lost, bus_paho__on_message,
                               NULL) != MQTTASYNC_SUCCESS ||
        MQTTAsync_setConnected(p->client, p, bus_paho__on_connected) != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt", "cannot set client callbacks");
        return -1;
    }
    return 0;
}

struct bus_paho *bus_paho__new(struct loop *loop, const struct bus_paho_options *opt,
                               const struct bus_paho_events *ev)
{
    struct bus_paho *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->loop = loop;
    p->ev = *ev;
    backoff__init(&p->retry, BUS_RETRY_BASE_MS, BUS_RETRY_ABSENT_MS);
    p->protocol = opt->mqtt5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    p->url = str__dup(opt->url);
    p->broker_port = mqtt_topic__url_port(opt->url);
    p->username = str__dup(opt->username);
    p->password = str__dup(opt->password);
    p->ca_file = str__dup(opt->ca_file);
    p->client_id = str__dup(opt->client_id);
    p->will_topic = str__dup(opt->will_topic);
    p->will_payload = str__dup(opt->will_payload);
    bool will = opt->will_topic != NULL;
    if (!p->url || !p->client_id || (will && (!p->will_topic || !p->will_payload)) ||
        (opt->username && !p->username) || (opt->password && !p->password) ||
        (opt->ca_file && !p->ca_file) || bus_paho__create(p, opt->max_buffered) < 0) {
        bus_paho__free(p);
        return NULL;
    }
    return p;
}

/* One connect attempt; the next is scheduled by the failure (see
 * bus_paho__retry_later). Returns Paho's code. */
static int bus_paho__connect_once(struct bus_paho *p)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
    if (p->protocol == MQTTVERSION_5) {
        co = co5; /* cleanstart=1, no session expiry: the session ends with the link */
        co.onFailure5 = bus_paho__on_connect_fail5;
    }
    else {
        co.cleansession = 1;
        co.onFailure = bus_paho__on_connect_fail;
    }
    /* A clean session on purpose: subscriptions are made again on every
     * connect, retained state topics re-deliver what we missed, and our own
     * unacknowledged publishes are re-sent from the LVC. */
    co.MQTTVersion = p->protocol;
    co.context = p;
    co.keepAliveInterval = BUS_KEEPALIVE_S;
    co.connectTimeout = BUS_CONNECT_TIMEOUT_S;
    co.automaticReconnect = 0; /* timed by the bus (BUS_RETRY_*) */
    co.username = p->username;
    co.password = p->password;

    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    will.topicName = p->will_topic;
    will.message = p->will_payload;
    will.retained = 1;
    will.qos = BUS_QOS;
    co.will = p->will_topic ? &will : NULL;

    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (bus_paho__is_tls(p->url)) {
        ssl.trustStore = p->ca_file; /* NULL: OpenSSL's default store */
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1; /* check the host name too */
        ssl.ssl_error_cb = bus_paho__on_tls_error;
        ssl.ssl_error_context = p;
        co.ssl = &ssl;
    }
    atomic_store(&p->tls_failed, false);
    int rc = MQTTAsync_connect(p->client, &co);
    if (rc != MQTTASYNC_SUCCESS)
        LOG_DEBUG("mqtt", "connect not started url=%s code=%d error=%s", p->url, rc,
                  MQTTAsync_strerror(rc));
    return rc;
}

int bus_paho__connect(struct bus_paho *p)
{
    LOG_DEBUG("mqtt", "options username=%s password=%s tls=%s ca_file=%s keepalive=%d",
              p->username ? p->username : "-", p->password ? "set" : "none",
              bus_paho__is_tls(p->url) ? "on" : "off", p->ca_file ? p->ca_file : "-",
              BUS_KEEPALIVE_S);
    LOG_INFO("mqtt", "connecting url=%s client_id=%s protocol=%s", p->url, p->client_id,
             p->protocol == MQTTVERSION_5 ? "5" : "3.1.1");
    int rc = bus_paho__connect_once(p);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt", "connect refused by client url=%s code=%d error=%s", p->url, rc,
                  MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

bool bus_paho__is_connected(struct bus_paho *p)
{
    return MQTTAsync_isConnected(p->client);
}

void bus_paho__disconnect(struct bus_paho *p, bool offline_sent)
{
    p->stopped = true;
    loop__timer_cancel(p->loop, p->retry_timer);
    p->retry_timer = 0;
    MQTTAsync_disconnectOptions dopt = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnectOptions dopt5 = MQTTAsync_disconnectOptions_initializer5;
    if (p->protocol == MQTTVERSION_5)
        dopt = dopt5;
    dopt.timeout = BUS_DISCONNECT_MS;
    /* A clean DISCONNECT suppresses the will. If our own offline publish did
     * not make it, MQTT 5 can still ask the broker to send the will. */
    if (!offline_sent && p->protocol == MQTTVERSION_5)
        dopt.reasonCode = MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE;
    if (MQTTAsync_disconnect(p->client, &dopt) == MQTTASYNC_SUCCESS) {
        for (int waited = 0; waited < BUS_DISCONNECT_MS + 200 && MQTTAsync_isConnected(p->client);
             waited += 10)
            bus_paho__sleep_ms(10);
    }
}

void bus_paho__free(struct bus_paho *p)
{
    if (!p)
        return;
    p->stopped = true;
    loop__timer_cancel(p->loop, p->retry_timer);
    /* Destroy fails what is still queued; those callbacks find the loop
     * closed and free their own context. */
    if (p->created)
        MQTTAsync_destroy(&p->client);
    free(p->url);
    free(p->username);
    if (p->password) /* a secret: do not leave it in freed memory */
        explicit_bzero(p->password, strlen(p->password));
    free(p->password);
    free(p->ca_file);
    free(p->client_id);
    free(p->will_topic);
    free(p->will_payload);
    free(p);
}
