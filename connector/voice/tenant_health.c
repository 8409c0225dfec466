/* One Voice tenant's B/health section and /readyz entry (see
 * tenant_impl.h and docs/voice.md "B/health and readiness"). A tenant
 * without a talking writer stays ready (a deployment that runs one way on
 * purpose), with "talking writer not configured" as the reason. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/health.h"
#include "core/metrics.h"
#include "core/status.h"
#include "voice/calls.h"
#include "voice/rest.h"
#include "voice/tenant_impl.h"

static bool tenant_health__ready(const struct vtenant *t)
{
    return (t->state == VL_LIVE && !t->sub_failed_round && !t->events_short) ||
           t->state == VL_WRITER;
}

static bool tenant_health__writer_on(const struct vtenant *t)
{
    return t->o.talking.mode != VOICE_TALKING_OFF;
}

static cJSON *tenant_health__writer(const struct vtenant *t)
{
    static const char *const modes[] = {"off", "template", "availability"};
    cJSON *w = cJSON_CreateObject();
    if (!w)
        return NULL;
    cJSON_AddBoolToObject(w, "configured", tenant_health__writer_on(t));
    cJSON_AddStringToObject(w, "mode", modes[t->o.talking.mode]);
    if (!tenant_health__writer_on(t))
        cJSON_AddStringToObject(w, "note", "talking writer not configured");
    cJSON_AddNumberToObject(w, "failures", t->write_failures);
    if (t->last_write_failure)
        cJSON_AddItemToObject(w, "last_failure", cJSON_Duplicate(t->last_write_failure, true));
    return w;
}

static cJSON *tenant_health__users(const struct vtenant *t)
{
    cJSON *u = cJSON_CreateObject();
    if (!u)
        return NULL;
    size_t n_missing = voice_directory__n_missing(t->dir);
    cJSON_AddNumberToObject(u, "configured", (double)voice_directory__n_addresses(t->dir));
    cJSON_AddBoolToObject(u, "loaded", voice_directory__loaded(t->dir));
    cJSON_AddNumberToObject(u, "matched", (double)voice_directory__n_users(t->dir));
    cJSON_AddNumberToObject(u, "missing_count", (double)n_missing);
    cJSON *miss = cJSON_AddArrayToObject(u, "missing");
    for (size_t i = 0; i < n_missing && i < HEALTH_MAX_MISSING; i++)
        cJSON_AddItemToArray(miss, cJSON_CreateString(voice_directory__missing(t->dir, i)));
    return u;
}

/* The /readyz reason: why not ready, or a note while ready (a writer
 * deliberately off does not make the tenant unready: docs/voice.md). */
static const char *tenant_health__reason(const struct vtenant *t, char *why, size_t len)
{
    size_t n = 0;
    why[0] = '\0';
    if (tenant_health__ready(t))
        return tenant_health__writer_on(t) || t->o.writer_only ? NULL
                                                               : "talking writer not configured";
    if (t->state == VL_LIVE && t->events_short) {
        n = (size_t)snprintf(why, len,
                             "Voice hub offers none of the configured call events "
                             "(missing:");
        for (size_t i = 0; i < t->n_missing_events && n < len; i++)
            n += (size_t)snprintf(why + n, len - n, " %s", t->missing_events[i]);
        if (n < len)
            snprintf(why + n, len - n, ")");
    }
    else if (t->state == VL_LIVE)
        snprintf(why, len, "Voice subscribe failed: %s", t->last_subscribe_error);
    else
        snprintf(why, len, "Voice link %s%s%s", vlink_names[t->state], t->last_error[0] ? ": " : "",
                 t->last_error);
    if (!tenant_health__writer_on(t) && !t->o.writer_only && strlen(why) + 40 < len)
        strcat(why, "; talking writer not configured");
    return why;
}

void tenant_health__report(struct vtenant *t)
{
    char ts[32];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "link", vlink_names[t->state]);
    cJSON_AddBoolToObject(o, "ready", tenant_health__ready(t));
    if (voice_rest__api(t->rest))
        cJSON_AddStringToObject(o, "api_url", voice_rest__api(t->rest));
    if (t->state == VL_LIVE && t->live_since_ms)
        cJSON_AddStringToObject(o, "connected_since",
                                clock__iso8601(t->live_since_ms, ts, sizeof(ts)));
    if (t->token_exp_s)
        cJSON_AddStringToObject(o, "token_expires",
                                clock__iso8601(t->token_exp_s * 1000, ts, sizeof(ts)));
    cJSON_AddNumberToObject(o, "reconnects", t->reconnects);
    cJSON_AddItemToObject(o, "users", tenant_health__users(t));
    if (!t->o.writer_only)
        cJSON_AddItemToObject(o, "events", tenant_events__health(t));
    cJSON_AddNumberToObject(o, "talking", (double)calls__users_talking(t->calls));
    cJSON_AddNumberToObject(o, "subscribe_errors", t->subscribe_errors);
    if (t->last_subscribe_error[0])
        cJSON_AddStringToObject(o, "last_subscribe_error", t->last_subscribe_error);
    if (t->last_error[0]) {
        cJSON_AddStringToObject(o, "last_error", t->last_error);
        cJSON_AddStringToObject(o, "last_error_at",
                                clock__iso8601(t->last_error_ms, ts, sizeof(ts)));
    }
    cJSON_AddBoolToObject(o, "webhook", t->o.webhook_enabled);
    cJSON_AddItemToObject(o, "writer", tenant_health__writer(t));
    status__set(t->name, "voice", o);

    char why[512];
    health__set(t->health_name, tenant_health__ready(t),
                tenant_health__reason(t, why, sizeof(why)));
    char labels[96];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__set("voice_rte_connected", labels, t->state == VL_LIVE ? 1 : 0);
    metrics__set("voice_users_talking", labels, (double)calls__users_talking(t->calls));
    metrics__set("voice_users_matched", labels, (double)voice_directory__n_users(t->dir));
}
