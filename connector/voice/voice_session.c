/* One Voice tenant's RTE session (voice_session.h). */
#include "voice/voice_session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/str.h"
#include "voice/rte.h"
#include "voice/signalr.h"

#define SESSION_CONNECT_TIMEOUT_MS 20000
#define SESSION_PING_MS            15000
#define SESSION_SILENCE_MS         30000

struct voice_session {
    struct loop *loop;
    char *name;
    struct voice_session_callbacks cb;
    void *ctx;
    int64_t ping_ms, silence_ms;
    struct rte_link *rte;
    bool stopped;

    /* the current connection */
    unsigned gen; /* 0: none */
    bool ws_open; /* the WebSocket upgrade succeeded */
    bool ready;   /* the handshake was answered */
    struct signalr_reader rd;
    int64_t last_rx_ms, opened_ms;
    loop_timer_id ping_timer, watchdog_timer;
    uint64_t next_invocation;
};

static const struct rte_link_callbacks voice_session_rte;

struct voice_session *voice_session__new(struct loop *loop, const char *name,
                                         const struct voice_session_callbacks *cb, void *ctx,
                                         int64_t ping_ms, int64_t silence_ms)
{
    struct voice_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->loop = loop;
    s->name = str__dup(name);
    s->cb = *cb;
    s->ctx = ctx;
    s->ping_ms = ping_ms > 0 ? ping_ms : SESSION_PING_MS;
    s->silence_ms = silence_ms > 0 ? silence_ms : SESSION_SILENCE_MS;
    s->next_invocation = 1;
    signalr_reader__init(&s->rd, SIGNALR_MAX_RECORD_DEFAULT);
    s->rte = rte__new(loop, &voice_session_rte, s);
    if (!s->name || !s->rte) {
        voice_session__free(s);
        return NULL;
    }
    return s;
}

int voice_session__set_ca_file(struct voice_session *s, const char *ca_file)
{
    return rte__set_ca_file(s->rte, ca_file);
}

bool voice_session__connected(const struct voice_session *s)
{
    return s->gen != 0;
}

bool voice_session__ready(const struct voice_session *s)
{
    return s->gen != 0 && s->ready;
}

uint64_t *voice_session__ids(struct voice_session *s)
{
    return &s->next_invocation;
}

void voice_session__send(struct voice_session *s, const char *data, size_t len)
{
    if (rte__send(s->rte, s->gen, data, len) != 0)
        LOG_DEBUG("voice", "RTE send dropped (link gone) tenant=%s", s->name);
}

/* The connection is gone: back to idle, then the owner hears of it. */
static void voice_session__lost(struct voice_session *s, const char *reason)
{
    loop__timer_cancel(s->loop, s->ping_timer);
    loop__timer_cancel(s->loop, s->watchdog_timer);
    s->ping_timer = s->watchdog_timer = 0;
    s->gen = 0;
    s->ws_open = s->ready = false;
    s->cb.on_lost(s->ctx, reason);
}

void voice_session__drop(struct voice_session *s, const char *reason)
{
    unsigned gen = s->gen;
    s->gen = 0;
    if (gen)
        rte__close(s->rte, gen);
    voice_session__lost(s, reason);
}

static void voice_session__ping(void *arg)
{
    struct voice_session *s = arg;
    s->ping_timer = 0;
    if (s->stopped || !s->ready)
        return;
    size_t len = 0;
    const char *rec = signalr__ping_record(&len);
    voice_session__send(s, rec, len);
    s->ping_timer = loop__timer(s->loop, s->ping_ms, voice_session__ping, s);
}

static void voice_session__watchdog(void *arg)
{
    struct voice_session *s = arg;
    s->watchdog_timer = 0;
    if (s->stopped || !s->gen)
        return;
    int64_t now = clock__mono_ms();
    char why[96];
    if (!s->ws_open && now - s->opened_ms > SESSION_CONNECT_TIMEOUT_MS) {
        voice_session__drop(s, "WebSocket connect timed out");
        return;
    }
    if (s->last_rx_ms && now - s->last_rx_ms > s->silence_ms) {
        snprintf(why, sizeof(why), "no message from the server for %" PRId64 " ms",
                 now - s->last_rx_ms);
        voice_session__drop(s, why);
        return;
    }
    int64_t every = s->silence_ms / 6 > 0 ? s->silence_ms / 6 : 1000;
    s->watchdog_timer = loop__timer(s->loop, every, voice_session__watchdog, s);
}

int voice_session__open(struct voice_session *s, const char *endpoint, const char *connection_token,
                        const char *access_token, char *err, size_t errlen)
{
    char *url = signalr__ws_url(endpoint, connection_token, access_token);
    if (!url) {
        str__printf(err, errlen, "cannot build the WebSocket URL");
        return -1;
    }
    signalr_reader__reset(&s->rd);
    s->ws_open = s->ready = false;
    s->last_rx_ms = 0;
    s->opened_ms = clock__mono_ms();
    s->gen = rte__open(s->rte, url, access_token);
    free(url);
    if (!s->gen) {
        str__printf(err, errlen, "bad WebSocket URL");
        return -1;
    }
    loop__timer_cancel(s->loop, s->watchdog_timer);
    s->watchdog_timer = loop__timer(s->loop, 1000, voice_session__watchdog, s);
    return 0;
}

/* ---- the transport's callbacks ---------------------------------------------- */

static void voice_session__on_open(void *ctx, unsigned gen)
{
    struct voice_session *s = ctx;
    if (s->stopped || gen != s->gen)
        return;
    size_t len = 0;
    const char *hs = signalr__handshake_record(&len);
    s->ws_open = true;
    s->last_rx_ms = clock__mono_ms();
    voice_session__send(s, hs, len);
    s->cb.on_opened(s->ctx);
}

static void voice_session__handshake(struct voice_session *s, const char *rec, size_t len)
{
    char err[200];
    if (signalr__parse_handshake(rec, len, err, sizeof(err)) != 0) {
        char why[240];
        snprintf(why, sizeof(why), "handshake refused: %s", err);
        voice_session__drop(s, why);
        return;
    }
    s->ready = true;
    loop__timer_cancel(s->loop, s->ping_timer);
    s->ping_timer = loop__timer(s->loop, s->ping_ms, voice_session__ping, s);
    s->cb.on_ready(s->ctx);
}

static void voice_session__record(struct voice_session *s, const char *rec, size_t len)
{
    char err[200];
    if (!s->ready) {
        voice_session__handshake(s, rec, len);
        return;
    }
    struct signalr_msg m;
    if (signalr__parse(rec, len, &m, err, sizeof(err)) != 0) {
        LOG_WARN("voice", "bad RTE record ignored tenant=%s error=\"%s\"", s->name, err);
        signalr_msg__free(&m);
        return;
    }
    if (m.type == SIGNALR_INVOCATION || m.type == SIGNALR_COMPLETION) {
        s->cb.on_message(s->ctx, &m);
    }
    else if (m.type == SIGNALR_CLOSE) {
        char why[240];
        snprintf(why, sizeof(why), "server closed the hub%s%.180s%s", m.error ? ": " : "",
                 m.error ? m.error : "", m.allow_reconnect ? " (reconnect allowed)" : "");
        signalr_msg__free(&m);
        voice_session__drop(s, why);
        return;
    }
    /* pings refresh last_rx; the rest is not for us */
    signalr_msg__free(&m);
}

static void voice_session__on_data(void *ctx, unsigned gen, const char *data, size_t len)
{
    struct voice_session *s = ctx;
    if (s->stopped || gen != s->gen)
        return;
    s->last_rx_ms = clock__mono_ms();
    if (signalr_reader__feed(&s->rd, (const uint8_t *)data, len) != 0) {
        voice_session__drop(s, "RTE record too large");
        return;
    }
    const char *rec;
    size_t rlen;
    int rc = 0;
    /* a record may end the connection (gen changes): stop there */
    while (gen == s->gen && (rc = signalr_reader__next(&s->rd, &rec, &rlen)) == 1)
        voice_session__record(s, rec, rlen);
    if (gen == s->gen && rc < 0)
        voice_session__drop(s, "RTE record too large");
}

static void voice_session__on_closed(void *ctx, unsigned gen, const char *reason)
{
    struct voice_session *s = ctx;
    if (s->stopped || gen != s->gen)
        return;
    voice_session__lost(s, reason);
}

static const struct rte_link_callbacks voice_session_rte = {
    .on_open = voice_session__on_open,
    .on_data = voice_session__on_data,
    .on_closed = voice_session__on_closed,
};

void voice_session__stop(struct voice_session *s)
{
    if (!s || s->stopped)
        return;
    s->stopped = true;
    loop__timer_cancel(s->loop, s->ping_timer);
    loop__timer_cancel(s->loop, s->watchdog_timer);
    s->ping_timer = s->watchdog_timer = 0;
    s->gen = 0;
    rte__stop(s->rte);
}

void voice_session__free(struct voice_session *s)
{
    if (!s)
        return;
    voice_session__stop(s);
    rte__free(s->rte);
    signalr_reader__free(&s->rd);
    free(s->name);
    free(s);
}
