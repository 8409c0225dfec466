/* Presence reads and the per-user busy state (docs/graph.md
 * "Resync").
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
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "graph/client.h"

#define RESYNC_RETRY_BASE 2000
#define RESYNC_RETRY_MAX  (2 * 60 * 1000)
#define RESYNC_MAX_TRIES  6
#define RESYNC_READS_OUT  2 /* basic-notification reads out at a time, per tenant */
/* A periodic resync sends its chunks this far apart: at most 50 of them
 * (3 % of the 1,500 per 30 s) in any 30 s window, 154 chunks of a
 * 100,000-user tenant over 92 s of the 15 min period (docs/scaling.md). The
 * resyncs that follow a start or a (re)subscription are not spread. */
#define RESYNC_SPACING_MS 600

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
    int64_t *recv_mono; /* per id: webhook arrival (basic notifications); NULL for a resync */
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
    free(k->recv_mono);
    free(k);
}

static void resync__reads_flush(void *arg);

static void resync__chunk_finished(struct resync_chunk *k)
{
    struct gtenant *t = k->t;
    bool full = k->full;
    resync__chunk_free(k);
    if (!full) {
        t->reads_out--;
        if (t->n_read && !t->read_timer && !t->side->stopping)
            t->read_timer = loop__timer(t->side->loop, 0, resync__reads_flush, t);
        return;
    }
    if (--t->resync_outstanding > 0)
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
    cJSON *o = res->status == 200 ? json__parse_str(res->body) : NULL;
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
    for (size_t i = 0; k->recv_mono && i < k->n; i++)
        resync__observe_latency(t, k->recv_mono[i], 1);
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
    bool spread = t->last_resync_reason && strcmp(t->last_resync_reason, "periodic") == 0;
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
        int64_t delay = spread ? (int64_t)(off / GSIDE_PRESENCE_CHUNK) * RESYNC_SPACING_MS : 0;
        if (delay > 0) {
            k->timer = loop__timer(t->side->loop, delay, resync__chunk_timer, k);
            k->next = t->resync_waiting;
            t->resync_waiting = k;
        }
        else {
            resync__chunk_send(k);
        }
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

/* Sends up to 650 gathered ids while fewer than RESYNC_READS_OUT reads are
 * out; the rest waits for one to finish. */
static void resync__reads_flush(void *arg)
{
    struct gtenant *t = arg;
    t->read_timer = 0;
    if (!t->read_gathered && t->n_read && t->n_read < GSIDE_PRESENCE_CHUNK &&
        t->reads_out < RESYNC_READS_OUT && graph_client__budget_tight(t->gc)) {
        /* a tight budget: a moment for more ids to share this read */
        t->read_gathered = true;
        t->read_timer = loop__timer(t->side->loop, GRAPH_READ_GATHER_MS, resync__reads_flush, t);
        return;
    }
    t->read_gathered = false;
    while (t->n_read && t->reads_out < RESYNC_READS_OUT && !t->side->stopping) {
        size_t m = t->n_read < GSIDE_PRESENCE_CHUNK ? t->n_read : GSIDE_PRESENCE_CHUNK;
        struct resync_chunk *k = resync__chunk_new(t, m, false);
        int64_t *recv = k ? malloc(m * sizeof(*recv)) : NULL;
        if (!recv) {
            free(k ? k->ids : NULL);
            free(k);
            return;
        }
        memcpy(k->ids, t->read_ids, m * sizeof(*k->ids));
        memcpy(recv, t->read_recv, m * sizeof(*recv));
        k->recv_mono = recv;
        k->n = m;
        t->n_read -= m;
        memmove(t->read_ids, t->read_ids + m, t->n_read * sizeof(*t->read_ids));
        memmove(t->read_recv, t->read_recv + m, t->n_read * sizeof(*t->read_recv));
        t->reads_out++;
        resync__chunk_send(k);
    }
}

static int resync__reads_grow(struct gtenant *t, size_t need)
{
    if (need <= t->cap_read)
        return 0;
    size_t cap = t->cap_read ? t->cap_read : 64;
    while (cap < need)
        cap *= 2;
    char **ids = realloc(t->read_ids, cap * sizeof(*ids));
    if (ids)
        t->read_ids = ids;
    int64_t *recv = realloc(t->read_recv, cap * sizeof(*recv));
    if (recv)
        t->read_recv = recv;
    if (!ids || !recv)
        return -1;
    t->cap_read = cap;
    return 0;
}

void resync__read_ids(struct gtenant *t, char **ids, size_t n, int64_t recv_mono)
{
    if (t->side->stopping || resync__reads_grow(t, t->n_read + n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char *id = strdup(ids[i]);
        if (!id)
            break;
        t->read_ids[t->n_read] = id;
        t->read_recv[t->n_read++] = recv_mono;
    }
    /* this turn's ids go together; later ones join while reads are out */
    if (!t->read_timer)
        t->read_timer = loop__timer(t->side->loop, 0, resync__reads_flush, t);
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
    loop__timer_cancel(t->side->loop, t->read_timer);
    t->read_timer = 0;
    for (size_t i = 0; i < t->n_read; i++)
        free(t->read_ids[i]);
    free(t->read_ids);
    free(t->read_recv);
    t->read_ids = NULL;
    t->read_recv = NULL;
    t->n_read = t->cap_read = 0;
    while (t->resync_waiting) {
        struct resync_chunk *k = t->resync_waiting;
        t->resync_waiting = k->next;
        loop__timer_cancel(t->side->loop, k->timer);
        resync__chunk_free(k);
    }
}
