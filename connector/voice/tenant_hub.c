/* One Voice tenant's side of its RTE session (see tenant_impl.h): opening
 * it once negotiate named the connection, the tenant's link states as the
 * session comes up, the hub's invocations and completions handed to the
 * event code (tenant_events.c), and a lost session handed to the reconnect
 * chain (tenant.c). The session itself is voice_session.c. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "voice/calls.h"
#include "voice/signalr.h"
#include "voice/tenant_impl.h"
#include "voice/voice_session.h"

void tenant_hub__open(struct vtenant *t, const char *connection_token)
{
    char err[96];
    if (voice_session__open(t->session, t->endpoint, connection_token, t->token, err,
                            sizeof(err)) != 0) {
        tenant__fail(t, VL_WAITING, 0, "%s", err);
        return;
    }
    tenant__set_state(t, VL_CONNECTING);
}

static void tenant_hub__on_opened(void *ctx)
{
    struct vtenant *t = ctx;
    if (!t->stopping)
        tenant__set_state(t, VL_HANDSHAKE);
}

static void tenant_hub__on_ready(void *ctx)
{
    struct vtenant *t = ctx;
    if (t->stopping)
        return;
    t->status_logged = 0;
    tenant_events__ask(t);
}

static void tenant_hub__on_message(void *ctx, const struct signalr_msg *m)
{
    struct vtenant *t = ctx;
    if (t->stopping)
        return;
    if (m->type == SIGNALR_COMPLETION) {
        if (!tenant_events__completion(t, m))
            LOG_DEBUG("voice", "completion for an unknown invocation tenant=%s id=%s", t->name,
                      m->invocation_id);
        return;
    }
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

static void tenant_hub__on_lost(void *ctx, const char *reason)
{
    struct vtenant *t = ctx;
    if (t->stopping)
        return;
    t->n_pending_subs = 0;
    tenant_events__reset(t);
    t->reconnects++;
    char labels[96];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__inc("voice_rte_reconnects_total", labels, 1);
    LOG_WARN("voice", "RTE link lost tenant=%s reason=\"%s\" talking=%zu (call state kept)",
             t->name, reason, calls__users_talking(t->calls));
    tenant__fail(t, VL_WAITING, 0, "RTE: %s", reason);
}

const struct voice_session_callbacks tenant_hub_callbacks = {
    .on_opened = tenant_hub__on_opened,
    .on_ready = tenant_hub__on_ready,
    .on_message = tenant_hub__on_message,
    .on_lost = tenant_hub__on_lost,
};
