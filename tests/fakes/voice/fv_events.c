/* Call events: to the hub's subscribers and to the optional webhook. */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_client.h"
#include "core/log.h"
#include "fv_internal.h"

static void webhook__done(void *ctx, const struct http_result *res)
{
    struct fake_voice *fv = ctx;
    if (res->status >= 200 && res->status < 300) {
        fv->sim.webhook_sent++;
    }
    else {
        fv->sim.webhook_failed++;
        LOG_WARN("fake-voice", "webhook failed status=%d error=%s", res->status,
                 res->error ? res->error : "-");
    }
}

static void webhook__send(struct fake_voice *fv, const char *name, const char *user_id,
                          const char *call_id, int64_t now)
{
    if (!fv->sim.webhook_url)
        return;
    char *body =
        voice_event__webhook_body(name, user_id, call_id, now, fv->sim.set.webhook_without_user_id);
    size_t tlen = strlen(fv->sim.webhook_secret ? fv->sim.webhook_secret : "") + 32;
    char *tok_hdr = malloc(tlen);
    char ev_hdr[96];
    if (!body || !tok_hdr) {
        free(body);
        free(tok_hdr);
        return;
    }
    snprintf(tok_hdr, tlen, "X-Benemen-Token: %s",
             fv->sim.webhook_secret ? fv->sim.webhook_secret : "");
    snprintf(ev_hdr, sizeof(ev_hdr), "X-Benemen-Event: %s", name);
    const char *headers[] = {tok_hdr, ev_hdr, NULL};
    struct http_call call = {.method = "POST",
                             .url = fv->sim.webhook_url,
                             .headers = headers,
                             .body = body,
                             .body_len = strlen(body),
                             .content_type = "application/json",
                             .timeout_ms = 5000};
    if (http_client__send(fv->http, &call, webhook__done, fv) != 0)
        fv->sim.webhook_failed++;
    OPENSSL_cleanse(tok_hdr, tlen);
    free(tok_hdr);
    free(body);
}

/* Sends one call event to the hub's subscribers and to the webhook, then
 * the user's UserStatus (setting user_status). A Disconnected can be lost
 * on purpose (setting drop_disconnected): the call ends, nobody hears it. */
void events__emit(struct fake_voice *fv, int kind, const char *user_id, const char *call_id)
{
    struct sim_settings *set = &fv->sim.set;
    const char *name = set->vocab.names[kind];
    int64_t now = clock__wall_ms();
    bool disc = kind == VE_CALL_IN_DISCONNECTED || kind == VE_CALL_OUT_DISCONNECTED;
    if (disc && set->drop_disconnected > 0) {
        set->drop_disconnected--;
        LOG_INFO("fake-voice", "event %s dropped (setting drop_disconnected) user=%s call=%s", name,
                 user_id, call_id);
    }
    else {
        hub__broadcast(fv, kind, user_id, call_id, now);
        webhook__send(fv, name, user_id, call_id, now);
        LOG_INFO("fake-voice", "event %s user=%s call=%s", name, user_id, call_id);
    }
    if (set->user_status)
        hub__broadcast_status(fv, user_id, (int)sim__user_calls(&fv->sim, user_id), now);
}
