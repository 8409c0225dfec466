/* One Voice tenant's RTE WebSocket session (see tenant_impl.h): open,
 * SignalR handshake, records in and out, pings, the silence watchdog, and
 * the link loss that hands over to the reconnect chain (tenant.c).
 *
 * A live link is never closed because its token expires: Enreach checks
 * the token only when a connection is made and lets it stay open
 * indefinitely (docs/voice.md "Token"). A reconnect, for whatever reason,
 * always fetches a fresh token first.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "voice/calls.h"
#include "voice/rte.h"
#include "voice/tenant_impl.h"

void tenant_hub__send(struct vtenant *t, const char *data, size_t len)
{
    if (rte__send(t->rte, t->gen, data, len) != 0)
        LOG_DEBUG("voice", "RTE send dropped (link gone) tenant=%s", t->name);
}

static void tenant_hub__ping(void *arg)
{
    struct vtenant *t = arg;
    t->ping_timer = 0;
    if (t->stopping || !t->handshaken)
        return;
    size_t len = 0;
    const char *rec = signalr__ping_record(&len);
    tenant_hub__send(t, rec, len);
    t->ping_timer = loop__timer(t->loop, vtenant__opt_or(t->o.ping_ms, 15000), tenant_hub__ping, t);
}

static void tenant_hub__link_lost(struct vtenant *t, const char *reason)
{
    loop__timer_cancel(t->loop, t->ping_timer);
    loop__timer_cancel(t->loop, t->watchdog_timer);
    t->ping_timer = t->watchdog_timer = 0;
    t->handshaken = false;
    t->gen = 0;
    t->n_pending_subs = 0;
    tenant_events__reset(t);
    t->reconnects++;
    char labels[96];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__inc("voice_rte_reconnects_total", labels, 1);
    LOG_WARN("voice", "RTE link lost tenant=%s reason=\"%s\" talking=%zu (call state kept)",
             t->name, reason, calls__users_talking(t->calls));
    vtenant__fail(t, VL_WAITING, 0, "RTE: %s", reason);
}

void tenant_hub__drop(struct vtenant *t, const char *reason)
{
    unsigned gen = t->gen;
    t->gen = 0;
    if (gen)
        rte__close(t->rte, gen);
    tenant_hub__link_lost(t, reason);
}

static void tenant_hub__watchdog(void *arg)
{
    struct vtenant *t = arg;
    int64_t silence = vtenant__opt_or(t->o.silence_ms, 30000);
    t->watchdog_timer = 0;
    if (t->stopping || !t->gen)
        return;
    int64_t now = clock__mono_ms();
    char why[96];
    if (!t->handshaken && t->state == VL_CONNECTING && now - t->opened_ms > CONNECT_TIMEOUT_MS) {
        tenant_hub__drop(t, "WebSocket connect timed out");
        return;
    }
    if (t->last_rx_ms && now - t->last_rx_ms > silence) {
        snprintf(why, sizeof(why), "no message from the server for %" PRId64 " ms",
                 now - t->last_rx_ms);
        tenant_hub__drop(t, why);
        return;
    }
    t->watchdog_timer =
        loop__timer(t->loop, silence / 6 > 0 ? silence / 6 : 1000, tenant_hub__watchdog, t);
}

void tenant_hub__open(struct vtenant *t, const char *connection_token)
{
    char *url = signalr__ws_url(t->endpoint, connection_token, t->token);
    if (!url) {
        vtenant__fail(t, VL_WAITING, 0, "cannot build the WebSocket URL");
        return;
    }
    signalr_reader__reset(&t->rd);
    t->handshaken = false;
    t->last_rx_ms = 0;
    t->opened_ms = clock__mono_ms();
    t->gen = rte__open(t->rte, url, t->token);
    free(url);
    if (!t->gen) {
        vtenant__fail(t, VL_WAITING, 0, "bad WebSocket URL");
        return;
    }
    vtenant__set_state(t, VL_CONNECTING);
    loop__timer_cancel(t->loop, t->watchdog_timer);
    t->watchdog_timer = loop__timer(t->loop, 1000, tenant_hub__watchdog, t);
}

static void tenant_hub__on_open(void *ctx, unsigned gen)
{
    struct vtenant *t = ctx;
    if (t->stopping || gen != t->gen)
        return;
    size_t len = 0;
    const char *hs = signalr__handshake_record(&len);
    t->last_rx_ms = clock__mono_ms();
    tenant_hub__send(t, hs, len);
    vtenant__set_state(t, VL_HANDSHAKE);
}

static void tenant_hub__handshake(struct vtenant *t, const char *rec, size_t len)
{
    char err[200];
    if (signalr__parse_handshake(rec, len, err, sizeof(err)) != 0) {
        char why[240];
        snprintf(why, sizeof(why), "handshake refused: %s", err);
        tenant_hub__drop(t, why);
        return;
    }
    t->handshaken = true;
    t->status_logged = 0;
    loop__timer_cancel(t->loop, t->ping_timer);
    t->ping_timer = loop__timer(t->loop, vtenant__opt_or(t->o.ping_ms, 15000), tenant_hub__ping, t);
    tenant_events__ask(t);
}

static void tenant_hub__invocation(struct vtenant *t, const struct signalr_msg *m)
{
    const cJSON *arg = cJSON_GetArrayItem(m->arguments, 0);
    if (strcmp(m->target, "MessageReceived") == 0)
        tenant_events__message(t, arg);
    else if (strcmp(m->target, "SubscribeDetails") == 0)
        tenant_events__subscribe_details(t, arg);
    else if (strcmp(m->target, "AvailableSubscriptions") == 0)
        tenant_events__available_callback(t, arg);
    else
        LOG_DEBUG("voice", "RTE invocation ignored tenant=%s target=%s", t->name, m->target);
}

static void tenant_hub__record(struct vtenant *t, const char *rec, size_t len)
{
    char err[200];
    if (!t->handshaken) {
        tenant_hub__handshake(t, rec, len);
        return;
    }
    struct signalr_msg m;
    if (signalr__parse(rec, len, &m, err, sizeof(err)) != 0) {
        LOG_WARN("voice", "bad RTE record ignored tenant=%s error=\"%s\"", t->name, err);
        signalr_msg__free(&m);
        return;
    }
    switch (m.type) {
    case SIGNALR_INVOCATION:
        tenant_hub__invocation(t, &m);
        break;
    case SIGNALR_COMPLETION:
        if (!tenant_events__completion(t, &m))
            LOG_DEBUG("voice", "completion for an unknown invocation tenant=%s id=%s", t->name,
                      m.invocation_id);
        break;
    case SIGNALR_CLOSE: {
        char why[240];
        snprintf(why, sizeof(why), "server closed the hub%s%.180s%s", m.error ? ": " : "",
                 m.error ? m.error : "", m.allow_reconnect ? " (reconnect allowed)" : "");
        signalr_msg__free(&m);
        tenant_hub__drop(t, why);
        return;
    }
    default: /* pings refresh last_rx; the rest is not for us */
        break;
    }
    signalr_msg__free(&m);
}

static void tenant_hub__on_data(void *ctx, unsigned gen, const char *data, size_t len)
{
    struct vtenant *t = ctx;
    if (t->stopping || gen != t->gen)
        return;
    t->last_rx_ms = clock__mono_ms();
    if (signalr_reader__feed(&t->rd, (const uint8_t *)data, len) != 0) {
        tenant_hub__drop(t, "RTE record too large");
        return;
    }
    const char *rec;
    size_t rlen;
    int rc = 0;
    while (gen == t->gen && (rc = signalr_reader__next(&t->rd, &rec, &rlen)) == 1)
        tenant_hub__record(t, rec, rlen);
    if (gen == t->gen && rc < 0)
        tenant_hub__drop(t, "RTE record too large");
}

static void tenant_hub__on_closed(void *ctx, unsigned gen, const char *reason)
{
    struct vtenant *t = ctx;
    if (t->stopping || gen != t->gen)
        return;
    t->gen = 0;
    tenant_hub__link_lost(t, reason);
}

const struct rte_link_callbacks tenant_hub_callbacks = {
    .on_open = tenant_hub__on_open,
    .on_data = tenant_hub__on_data,
    .on_closed = tenant_hub__on_closed,
};
