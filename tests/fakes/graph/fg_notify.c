/* fake-graph: change and lifecycle notification delivery (docs/graph.md
 * §3.2, §3.3, §4, §5): basic or rich items, optional batching per
 * notificationUrl, retries with backoff, one record per attempt. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/loop.h"
#include "fg_filter.h"
#include "fg_sim.h"

struct fg_outbox {
    struct fg_sim *sim;
    char *url;
    cJSON *items;
    cJSON *sub_ids;
    cJSON *audiences; /* [[client_id, tenant], ...] of rich items */
    loop_timer_id timer;
};

struct fg_job {
    struct fg_sim *sim;
    char *url;
    char *body;
    const char *kind; /* "change" | "lifecycle" */
    cJSON *sub_ids;
    int items;
    int attempt;
};

static void fg_job__free(struct fg_job *j)
{
    free(j->url);
    free(j->body);
    cJSON_Delete(j->sub_ids);
    free(j);
}

static void fg_notify__send(struct fg_job *j);

static void fg_notify__retry(void *arg)
{
    fg_notify__send(arg);
}

static void fg_notify__reply(void *ctx, const struct http_result *res)
{
    struct fg_job *j = ctx;
    struct fg_sim *sim = j->sim;
    bool ok = res->status >= 200 && res->status < 300 &&
              res->elapsed_ms <= (double)sim->settings.delivery_timeout_ms;
    char ts[40];
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "time", clock__iso8601_graph(fg_sim__now(), ts, sizeof(ts)));
    cJSON_AddStringToObject(d, "kind", j->kind);
    cJSON_AddStringToObject(d, "url", j->url);
    cJSON_AddItemToObject(d, "subscriptionIds", cJSON_Duplicate(j->sub_ids, true));
    cJSON_AddNumberToObject(d, "items", j->items);
    cJSON_AddNumberToObject(d, "attempt", j->attempt);
    cJSON_AddNumberToObject(d, "status", res->status);
    cJSON_AddNumberToObject(d, "ack_ms", res->elapsed_ms);
    cJSON_AddBoolToObject(d, "ok", ok);
    if (res->error) {
        cJSON_AddStringToObject(d, "error", res->error);
    }
    cJSON_AddStringToObject(d, "body", j->body);
    fg_sim__record_delivery(sim, d);
    if (ok) {
        fg_job__free(j);
        return;
    }
    if (j->attempt >= sim->settings.retry_max) {
        LOG_WARN("fake-graph", "delivery given up url=%s attempts=%d", j->url, j->attempt);
        fg_job__free(j);
        return;
    }
    int64_t delay = sim->settings.retry_base_ms;
    for (int i = 1; i < j->attempt && delay < 3600000; i++) {
        delay *= 2;
    }
    j->attempt++;
    loop__timer(sim->loop, delay, fg_notify__retry, j);
}

static void fg_notify__send(struct fg_job *j)
{
    struct http_call call = {
        .method = "POST",
        .url = j->url,
        .body = j->body,
        .body_len = strlen(j->body),
        .content_type = "application/json",
        .timeout_ms = j->sim->settings.delivery_timeout_ms,
    };
    if (http_client__send(j->sim->cli, &call, fg_notify__reply, j) != 0) {
        fg_job__free(j);
    }
}

static void fg_notify__post(struct fg_sim *sim, const char *url, const char *kind, cJSON *items,
                            cJSON *sub_ids, cJSON *audiences)
{
    cJSON *root = cJSON_CreateObject();
    int n = cJSON_GetArraySize(items);
    cJSON_AddItemToObject(root, "value", items);
    if (audiences && cJSON_GetArraySize(audiences) > 0) {
        cJSON *tokens = cJSON_AddArrayToObject(root, "validationTokens");
        const cJSON *a;
        int64_t now_s = fg_sim__now() / 1000;
        cJSON_ArrayForEach(a, audiences)
        {
            char *jwt = fg_signer__jwt(&sim->signer, cJSON_GetArrayItem(a, 0)->valuestring,
                                       cJSON_GetArrayItem(a, 1)->valuestring, now_s,
                                       sim->settings.token_version);
            if (jwt) {
                cJSON_AddItemToArray(tokens, cJSON_CreateString(jwt));
                free(jwt);
            }
        }
    }
    cJSON_Delete(audiences);
    struct fg_job *j = calloc(1, sizeof(*j));
    if (!j) {
        cJSON_Delete(root);
        cJSON_Delete(sub_ids);
        return;
    }
    j->sim = sim;
    j->url = strdup(url);
    j->body = cJSON_PrintUnformatted(root);
    j->kind = kind;
    j->sub_ids = sub_ids;
    j->items = n;
    j->attempt = 1;
    cJSON_Delete(root);
    if (!j->url || !j->body) {
        fg_job__free(j);
        return;
    }
    fg_notify__send(j);
}

static void fg_notify__add_audience(cJSON *auds, const char *client_id, const char *tenant)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, auds)
    {
        if (!strcmp(cJSON_GetArrayItem(a, 0)->valuestring, client_id) &&
            !strcmp(cJSON_GetArrayItem(a, 1)->valuestring, tenant)) {
            return;
        }
    }
    const char *pair[] = {client_id, tenant};
    cJSON_AddItemToArray(auds, cJSON_CreateStringArray(pair, 2));
}

/* resource and resourceData of an item in the form the settings ask for:
 * the bulk filter forms are what Graph sends for a bulk subscription (the
 * one-id form is Microsoft's published post), the path form what the docs
 * show for a single-user one (docs/graph.md, "What Graph sends"). */
static void fg_notify__resource(struct fg_sim *sim, cJSON *it, const struct fg_sub *s,
                                const struct fg_user *u)
{
    char odata[128], path[128];
    snprintf(odata, sizeof(odata), "users/%s/presence", u->id);
    snprintf(path, sizeof(path), "communications/presences/%s", u->id);
    enum fg_resource_form form = sim->settings.resource_form;
    char *one = (char *)u->id;
    char *filter = NULL;
    if (form == FG_RESOURCE_ALL_IDS) {
        filter = fg_filter__encoded(s->user_ids, s->n_users);
    }
    else if (form == FG_RESOURCE_ONE_ID) {
        filter = fg_filter__encoded(&one, 1);
    }
    cJSON_AddStringToObject(it, "resource", filter ? filter : path);
    cJSON *rd = cJSON_AddObjectToObject(it, "resourceData");
    cJSON_AddStringToObject(rd, "@odata.type",
                            filter ? "#Microsoft.Graph.presence" : "#microsoft.graph.presence");
    cJSON_AddStringToObject(rd, "@odata.id",
                            form == FG_RESOURCE_ALL_IDS && filter ? filter : odata);
    cJSON_AddStringToObject(rd, "id", u->id);
    free(filter);
}

static cJSON *fg_notify__item(struct fg_sim *sim, const struct fg_sub *s, const struct fg_user *u)
{
    char exp[40], odata[128];
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "subscriptionId", s->id);
    cJSON_AddStringToObject(it, "subscriptionExpirationDateTime",
                            clock__iso8601_graph(s->expires_ms, exp, sizeof(exp)));
    cJSON_AddStringToObject(it, "changeType", "updated");
    fg_notify__resource(sim, it, s, u);
    snprintf(odata, sizeof(odata), "users/%s/presence", u->id);
    if (s->client_state) {
        cJSON_AddStringToObject(it, "clientState", s->client_state);
    }
    else {
        cJSON_AddNullToObject(it, "clientState");
    }
    cJSON_AddStringToObject(it, "tenantId", s->tenant);
    bool rich = s->include_resource_data && s->cert_key;
    if (rich || sim->settings.resource_form == FG_RESOURCE_PATH) {
        /* the docs' examples carry it; the 2024 basic form does not */
        cJSON_AddStringToObject(it, "organizationId", s->tenant);
    }
    if (rich) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "@odata.type", "#Microsoft.Graph.presence");
        cJSON_AddStringToObject(p, "@odata.id", odata);
        cJSON_AddStringToObject(p, "id", u->id);
        cJSON_AddStringToObject(p, "availability", u->shown.availability);
        cJSON_AddStringToObject(p, "activity", u->shown.activity);
        cJSON_AddStringToObject(p, "sequenceNumber", u->sequence);
        char *plain = cJSON_PrintUnformatted(p);
        cJSON_Delete(p);
        cJSON *enc =
            plain ? fg_crypto__encrypt(s->cert_key, s->cert_id, s->thumbprint, plain, strlen(plain))
                  : NULL;
        free(plain);
        if (!enc) {
            cJSON_Delete(it);
            return NULL;
        }
        cJSON_AddItemToObject(it, "encryptedContent", enc);
    }
    return it;
}

static void fg_notify__flush(void *arg)
{
    struct fg_outbox *ob = arg;
    struct fg_sim *sim = ob->sim;
    for (size_t i = 0; i < sim->outboxes.n; i++) {
        if (sim->outboxes.items[i] == ob) {
            fg_vec__remove_at(&sim->outboxes, i);
            break;
        }
    }
    fg_notify__post(sim, ob->url, "change", ob->items, ob->sub_ids, ob->audiences);
    free(ob->url);
    free(ob);
}

static struct fg_outbox *fg_notify__outbox(struct fg_sim *sim, const char *url)
{
    for (size_t i = 0; i < sim->outboxes.n; i++) {
        struct fg_outbox *ob = sim->outboxes.items[i];
        if (strcmp(ob->url, url) == 0) {
            return ob;
        }
    }
    struct fg_outbox *ob = calloc(1, sizeof(*ob));
    if (!ob) {
        return NULL;
    }
    ob->sim = sim;
    ob->url = strdup(url);
    ob->items = cJSON_CreateArray();
    ob->sub_ids = cJSON_CreateArray();
    ob->audiences = cJSON_CreateArray();
    if (!ob->url || fg_vec__push(&sim->outboxes, ob) != 0) {
        free(ob->url);
        cJSON_Delete(ob->items);
        cJSON_Delete(ob->sub_ids);
        cJSON_Delete(ob->audiences);
        free(ob);
        return NULL;
    }
    ob->timer = loop__timer(sim->loop, sim->settings.batch_window_ms, fg_notify__flush, ob);
    return ob;
}

void fg_notify__user_changed(struct fg_sim *sim, const struct fg_user *u)
{
    int64_t now = fg_sim__now();
    for (size_t i = 0; i < sim->store.subs.n; i++) {
        struct fg_sub *s = sim->store.subs.items[i];
        if (s->pending || s->silent || s->expires_ms <= now || !fg_sub__covers(s, u->id) ||
            strcasecmp(s->tenant, u->tenant) != 0) {
            continue;
        }
        cJSON *it = fg_notify__item(sim, s, u);
        if (!it) {
            LOG_ERROR("fake-graph", "could not build notification subscription=%s", s->id);
            continue;
        }
        if (sim->settings.batch_window_ms <= 0) {
            cJSON *items = cJSON_CreateArray(), *ids = cJSON_CreateArray();
            cJSON *auds = cJSON_CreateArray();
            cJSON_AddItemToArray(items, it);
            cJSON_AddItemToArray(ids, cJSON_CreateString(s->id));
            if (s->include_resource_data) {
                fg_notify__add_audience(auds, s->client_id, s->tenant);
            }
            fg_notify__post(sim, s->notification_url, "change", items, ids, auds);
            continue;
        }
        struct fg_outbox *ob = fg_notify__outbox(sim, s->notification_url);
        if (!ob) {
            cJSON_Delete(it);
            continue;
        }
        cJSON_AddItemToArray(ob->items, it);
        cJSON_AddItemToArray(ob->sub_ids, cJSON_CreateString(s->id));
        if (s->include_resource_data) {
            fg_notify__add_audience(ob->audiences, s->client_id, s->tenant);
        }
    }
}

int fg_notify__deliver(struct fg_sim *sim, const struct fg_sub *s, const cJSON *body,
                       const cJSON *presence, bool lifecycle)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(body, "value");
    const char *url = lifecycle ? s->lifecycle_url : s->notification_url;
    if (!cJSON_IsArray(value) || !url) {
        return -1;
    }
    cJSON *items = cJSON_Duplicate(value, true);
    cJSON *ids = cJSON_CreateArray(), *auds = cJSON_CreateArray();
    cJSON_AddItemToArray(ids, cJSON_CreateString(s->id));
    char *plain = presence ? cJSON_PrintUnformatted(presence) : NULL;
    cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (!cJSON_GetObjectItemCaseSensitive(it, "encryptedContent")) {
            continue;
        }
        /* the corpus item's placeholders become real encrypted content */
        cJSON *enc = plain && s->cert_key ? fg_crypto__encrypt(s->cert_key, s->cert_id,
                                                               s->thumbprint, plain, strlen(plain))
                                          : NULL;
        if (!enc) {
            free(plain);
            cJSON_Delete(items);
            cJSON_Delete(ids);
            cJSON_Delete(auds);
            return -1;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(it, "encryptedContent", enc);
    }
    free(plain);
    if (cJSON_GetObjectItemCaseSensitive(body, "validationTokens")) {
        fg_notify__add_audience(auds, s->client_id, s->tenant);
    }
    fg_notify__post(sim, url, lifecycle ? "lifecycle" : "change", items, ids, auds);
    return 0;
}

int fg_notify__lifecycle(struct fg_sim *sim, struct fg_sub *s, const char *event)
{
    if (!s->lifecycle_url) {
        return -1;
    }
    char exp[40];
    cJSON *items = cJSON_CreateArray(), *ids = cJSON_CreateArray();
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "subscriptionId", s->id);
    cJSON_AddStringToObject(it, "subscriptionExpirationDateTime",
                            clock__iso8601_graph(s->expires_ms, exp, sizeof(exp)));
    cJSON_AddStringToObject(it, "tenantId", s->tenant);
    cJSON_AddStringToObject(it, "organizationId", s->tenant);
    if (s->client_state) {
        cJSON_AddStringToObject(it, "clientState", s->client_state);
    }
    else {
        cJSON_AddNullToObject(it, "clientState");
    }
    cJSON_AddStringToObject(it, "lifecycleEvent", event);
    cJSON_AddItemToArray(items, it);
    cJSON_AddItemToArray(ids, cJSON_CreateString(s->id));
    fg_notify__post(sim, s->lifecycle_url, "lifecycle", items, ids, NULL);
    return 0;
}

void fg_notify__clear(struct fg_sim *sim)
{
    for (size_t i = 0; i < sim->outboxes.n; i++) {
        struct fg_outbox *ob = sim->outboxes.items[i];
        if (sim->loop) {
            loop__timer_cancel(sim->loop, ob->timer);
        }
        free(ob->url);
        cJSON_Delete(ob->items);
        cJSON_Delete(ob->sub_ids);
        cJSON_Delete(ob->audiences);
        free(ob);
    }
    sim->outboxes.n = 0;
}
