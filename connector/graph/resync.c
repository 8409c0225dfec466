/* Presence reads and the per-user busy state (graph-presence.md §5, §6.4).
 *
 * Graph never reports a missed presence notification, so everyone's presence
 * is read again with getPresencesByUserId (650 ids a request, app token) at
 * start, after every subscription (re)creation, on `missed` and every
 * resync_minutes. The same reader resolves basic notifications (ids only).
 * resync__apply is the one place that changes a user's state: it drops
 * out-of-order updates by sequenceNumber and publishes
 * <prefix>teams/<id>/busy when availability, activity or busy changed. */
#include "graph/gside.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/metrics.h"

#define RESYNC_RETRY_BASE 2000
#define RESYNC_RETRY_MAX  (2 * 60 * 1000)
#define RESYNC_MAX_TRIES  6

int resync__apply(struct gtenant *t, const struct presence_state *p, const char *source)
{
    struct guser *u = users__by_id(t, p->id);
    const struct graph_config *g = &t->cfg->graph;
    if (!u)
        return -1;
    if (u->have && !presence__seq_accept(u->seq, p->sequence)) {
        LOG_DEBUG("graph", "out-of-order presence dropped tenant=%s user=%s have=%s got=%s",
                  t->name, u->upn, u->seq, p->sequence);
        metrics__inc("graph_presence_stale_total", NULL, 1);
        return -1;
    }
    if (p->sequence[0])
        snprintf(u->seq, sizeof(u->seq), "%s", p->sequence);
    bool busy = presence__is_busy(p->activity, (const char *const *)g->busy_activities,
                                  g->n_busy_activities);
    if (u->have && u->busy == busy && strcmp(u->availability, p->availability) == 0 &&
        strcmp(u->activity, p->activity) == 0)
        return 0;
    if (!u->have || u->busy != busy)
        u->since_wall_ms = clock__wall_ms();
    u->have = true;
    u->busy = busy;
    snprintf(u->availability, sizeof(u->availability), "%s", p->availability);
    snprintf(u->activity, sizeof(u->activity), "%s", p->activity);
    char *payload =
        presence__busy_payload(busy, u->availability, u->activity, u->since_wall_ms, source, u->id);
    if (payload) {
        bus__publish_state(t->side->bus, u->topic, payload);
        LOG_INFO("graph",
                 "presence tenant=%s user=%s busy=%s availability=%s activity=%s "
                 "source=%s",
                 t->name, u->upn, busy ? "true" : "false", u->availability, u->activity, source);
    }
    free(payload);
    return 1;
}

/* ---- getPresencesByUserId ------------------------------------------------------------ */

struct resync_chunk {
    struct gtenant *t;
    char **ids;
    size_t n;
    bool full; /* part of a full resync */
    int tries;
    int64_t recv_mono; /* webhook arrival (basic notifications), else 0 */
    struct backoff bo;
    loop_timer_id timer;
    struct resync_chunk *next; /* in t->resync_waiting while its retry timer runs */
};

static void resync__chunk_send(struct resync_chunk *k);
static void resync__run(struct gtenant *t);

static void resync__chunk_free(struct resync_chunk *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->ids[i]);
    free(k->ids);
    free(k);
}

static void resync__chunk_finished(struct resync_chunk *k)
{
    struct gtenant *t = k->t;
    bool full = k->full;
    resync__chunk_free(k);
    if (!full || --t->resync_outstanding > 0)
        return;
    t->resync_running = false;
    t->last_resync_wall_ms = clock__wall_ms();
    gside__status(t);
    if (t->resync_pending) {
        t->resync_pending = false;
        resync__run(t);
    }
}

static void resync__chunk_timer(void *arg)
{
    struct resync_chunk *k = arg;
    struct resync_chunk **pp = &k->t->resync_waiting;
    while (*pp && *pp != k)
        pp = &(*pp)->next;
    if (*pp)
        *pp = k->next;
    k->timer = 0;
    resync__chunk_send(k);
}

static void resync__chunk_done(struct gcall *c, const struct http_result *res)
{
    struct resync_chunk *k = c->ctx;
    struct gtenant *t = k->t;
    if (!res) {
        resync__chunk_free(k);
        return;
    }
    cJSON *o = res->status == 200 ? cJSON_Parse(res->body) : NULL;
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (!cJSON_IsArray(value)) {
        cJSON_Delete(o);
        bool retry = ++k->tries < RESYNC_MAX_TRIES &&
                     (res->status == 0 || res->status == 429 || res->status >= 500 ||
                      res->status == 401 || res->status == 200);
        LOG_WARN("graph", "presence read failed tenant=%s status=%d ids=%zu retry=%s", t->name,
                 res->status, k->n, retry ? "yes" : "no");
        metrics__inc("graph_presence_read_failures_total", NULL, 1);
        if (retry && !t->side->stopping) {
            int64_t d = backoff__next(&k->bo);
            if (res->retry_after_ms > d)
                d = res->retry_after_ms;
            k->timer = loop__timer(t->side->loop, d, resync__chunk_timer, k);
            k->next = t->resync_waiting;
            t->resync_waiting = k;
            return;
        }
        resync__chunk_finished(k);
        return;
    }
    const char *source = k->full ? "resync" : "notification";
    const cJSON *it;
    size_t changed = 0;
    cJSON_ArrayForEach(it, value)
    {
        struct presence_state p;
        const char *why = NULL;
        if (presence__parse(it, &p, &why) != 0) {
            LOG_DEBUG("graph", "presence item skipped tenant=%s reason=%s", t->name, why);
            continue;
        }
        if (resync__apply(t, &p, source) > 0)
            changed++;
    }
    cJSON_Delete(o);
    resync__observe_latency(t, k->recv_mono, k->n);
    if (k->full)
        LOG_INFO("graph", "resync chunk read tenant=%s ids=%zu changed=%zu", t->name, k->n,
                 changed);
    resync__chunk_finished(k);
}

static void resync__chunk_send(struct resync_chunk *k)
{
    struct gtenant *t = k->t;
    if (t->side->stopping) {
        resync__chunk_free(k);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; i < k->n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(k->ids[i]));
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *api = t->cfg->graph.api_url;
    size_t n = strlen(api) + 64;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "%s/communications/getPresencesByUserId", api);
    /* one presence request of the tenant's budget, however many ids */
    gcall__start_metered(t, t->app, "POST", url, body, 1, resync__chunk_done, k, 0);
}

static struct resync_chunk *resync__chunk_new(struct gtenant *t, size_t cap, bool full)
{
    struct resync_chunk *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->ids = calloc(cap ? cap : 1, sizeof(*k->ids));
    if (!k->ids) {
        free(k);
        return NULL;
    }
    k->t = t;
    k->full = full;
    backoff__init(&k->bo, RESYNC_RETRY_BASE, RESYNC_RETRY_MAX);
    return k;
}

static void resync__run(struct gtenant *t)
{
    size_t total = t->n_by_id;
    if (total == 0 || t->side->stopping)
        return;
    t->resync_running = true;
    t->resync_outstanding = 1;
    LOG_INFO("graph", "resync tenant=%s users=%zu reason=%s", t->name, total,
             t->last_resync_reason ? t->last_resync_reason : "-");
    metrics__inc("graph_resyncs_total", NULL, 1);
    for (size_t off = 0; off < total; off += GSIDE_PRESENCE_CHUNK) {
        size_t n = total - off < GSIDE_PRESENCE_CHUNK ? total - off : GSIDE_PRESENCE_CHUNK;
        struct resync_chunk *k = resync__chunk_new(t, n, true);
        if (!k)
            break;
        for (size_t i = 0; i < n; i++) {
            k->ids[i] = strdup(t->by_id[off + i]->id);
            if (k->ids[i])
                k->n++;
        }
        t->resync_outstanding++;
        resync__chunk_send(k);
    }
    if (--t->resync_outstanding == 0) {
        t->resync_running = false;
        t->last_resync_wall_ms = clock__wall_ms();
        gside__status(t);
    }
}

void resync__request(struct gtenant *t, const char *reason)
{
    t->last_resync_reason = reason;
    if (t->resync_running) {
        t->resync_pending = true;
        return;
    }
    resync__run(t);
}

void resync__observe_latency(struct gtenant *t, int64_t recv_mono, size_t n)
{
    if (!recv_mono)
        return;
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    double s = (double)(clock__mono_ms() - recv_mono) / 1000.0;
    for (size_t i = 0; i < n; i++)
        metrics__observe("notification_latency_seconds", labels, s);
}

void resync__read_ids(struct gtenant *t, char **ids, size_t n, int64_t recv_mono)
{
    for (size_t off = 0; off < n; off += GSIDE_PRESENCE_CHUNK) {
        size_t m = n - off < GSIDE_PRESENCE_CHUNK ? n - off : GSIDE_PRESENCE_CHUNK;
        struct resync_chunk *k = resync__chunk_new(t, m, false);
        if (!k)
            return;
        k->recv_mono = recv_mono;
        for (size_t i = 0; i < m; i++) {
            k->ids[i] = strdup(ids[off + i]);
            if (k->ids[i])
                k->n++;
        }
        resync__chunk_send(k);
    }
}

static void resync__tick(void *arg)
{
    struct gtenant *t = arg;
    t->resync_timer = 0;
    if (t->side->stopping)
        return;
    resync__request(t, "periodic");
    resync__start_timer(t);
}

void resync__start_timer(struct gtenant *t)
{
    int64_t ms = (int64_t)t->cfg->graph.resync_minutes * 60000;
    if (t->side->resync_override_ms > 0)
        ms = t->side->resync_override_ms;
    loop__timer_cancel(t->side->loop, t->resync_timer);
    t->resync_timer = loop__timer(t->side->loop, ms, resync__tick, t);
}

void resync__stop(struct gtenant *t)
{
    loop__timer_cancel(t->side->loop, t->resync_timer);
    t->resync_timer = 0;
    while (t->resync_waiting) {
        struct resync_chunk *k = t->resync_waiting;
        t->resync_waiting = k->next;
        loop__timer_cancel(t->side->loop, k->timer);
        resync__chunk_free(k);
    }
}
